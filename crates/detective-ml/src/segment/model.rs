//! UNetTiny: a compact U-Net that gives one defect logit per pixel (or one per
//! class).
//!
//! - encoder: four levels of 16, 32, 64 and 128 channels, each two 3×3
//!   convolutions + batch norm + ReLU; a 2×2 max-pool between levels;
//! - decoder, mirrored: at each level a 2×2 stride-2 transposed convolution
//!   (written as a 1×1 convolution to `4·c` channels followed by a depth-to-space
//!   shuffle, which is the same operator and runs on our fast convolution),
//!   concatenation with the encoder's skip, two 3×3 convolutions + BN + ReLU;
//! - head: a 1×1 convolution to `classes` logits per pixel.
//!
//! With [`UNetConfig::standardize`] the input is first standardised per image and
//! channel (zero mean, unit variance over its pixels: ONNX
//! `InstanceNormalization` without scale or shift), so that a part lit brighter or
//! darker than the training parts looks the same to the network.
//!
//! Inputs must have sides divisible by [`UNET_DIVISOR`] (16): the three pools need
//! 8, and 16 keeps the sizes compatible with the detector's strides so that a
//! frame letterboxed for one model fits the other.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

use crate::nn::bn_act::batch_norm_relu;
use crate::nn::fast_conv::conv2d_fast;

/// Channels of the four levels, shallowest first.
pub const UNET_CHANNELS: [usize; 4] = [16, 32, 64, 128];
/// Input sides must be multiples of this.
pub const UNET_DIVISOR: usize = 16;
/// Batch-norm epsilon and momentum (PyTorch's defaults).
const BN_EPS: f64 = 1e-5;
const BN_MOMENTUM: f64 = 0.1;

/// Shape of a UNetTiny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UNetConfig {
    /// Input channels (3: RGB).
    pub in_channels: usize,
    /// Output logits per pixel: 1 (defect or not) or one per class.
    pub classes: usize,
    /// Standardise each input image per channel before the first convolution.
    pub standardize: bool,
}

impl Default for UNetConfig {
    fn default() -> Self {
        UNetConfig {
            in_channels: 3,
            classes: 1,
            standardize: false,
        }
    }
}

/// Added to the variance of a standardised input (in 0..1 units: a flat image
/// becomes zeros instead of dividing by zero).
pub const STANDARDIZE_EPS: f64 = 1e-4;

/// `x` `[N, C, H, W]` with each image's channel at zero mean and unit variance
/// (the biased variance, as ONNX `InstanceNormalization` computes it).
pub fn standardize(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let flat = x.reshape([n, c, h * w]);
    let mean = flat.clone().mean_dim(2);
    let centred = flat - mean;
    let var = centred.clone().powi_scalar(2).mean_dim(2);
    (centred / (var + STANDARDIZE_EPS).sqrt()).reshape([n, c, h, w])
}

/// 3×3 convolution (no bias), batch norm, ReLU.
#[derive(Module, Debug)]
pub struct ConvBnRelu {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

impl ConvBnRelu {
    fn new(c_in: usize, c_out: usize, device: &Device) -> Self {
        ConvBnRelu {
            conv: Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(c_out)
                .with_epsilon(BN_EPS)
                .with_momentum(BN_MOMENTUM)
                .init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = conv2d_fast(x, self.conv.weight.val(), None, [1, 1], [1, 1]);
        batch_norm_relu(&self.bn, y)
    }
}

/// Two [`ConvBnRelu`].
#[derive(Module, Debug)]
pub struct DoubleConv {
    pub a: ConvBnRelu,
    pub b: ConvBnRelu,
}

impl DoubleConv {
    fn new(c_in: usize, c_out: usize, device: &Device) -> Self {
        DoubleConv {
            a: ConvBnRelu::new(c_in, c_out, device),
            b: ConvBnRelu::new(c_out, c_out, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.b.forward(self.a.forward(x))
    }
}

/// 2×2 stride-2 transposed convolution from `c_in` to `c_out` channels, as a 1×1
/// convolution to `4·c_out` channels (index `c·4 + dy·2 + dx`) and a depth-to-space
/// shuffle (ONNX `DepthToSpace`, mode CRD).
#[derive(Module, Debug)]
pub struct UpConv {
    pub conv: Conv2d,
}

impl UpConv {
    fn new(c_in: usize, c_out: usize, device: &Device) -> Self {
        UpConv {
            conv: Conv2dConfig::new([c_in, 4 * c_out], [1, 1]).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = conv2d_fast(
            x,
            self.conv.weight.val(),
            self.conv.bias.as_ref().map(|b| b.val()),
            [1, 1],
            [0, 0],
        );
        depth_to_space(y, 2)
    }
}

/// `[N, C·r², H, W]` → `[N, C, H·r, W·r]`, channel `c·r² + i·r + j` going to
/// offset `(i, j)` (ONNX `DepthToSpace` mode CRD, PyTorch `pixel_shuffle`).
pub fn depth_to_space(x: Tensor<4>, r: usize) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let co = c / (r * r);
    x.reshape([n, co, r, r, h, w])
        .permute([0, 1, 4, 2, 5, 3])
        .reshape([n, co, h * r, w * r])
}

/// The network. Call [`forward`](Self::forward) with `[N, 3, H, W]` in 0..1;
/// it returns `[N, classes, H, W]` logits.
#[derive(Module, Debug)]
pub struct UNetTiny {
    pub enc: Vec<DoubleConv>,
    pub up: Vec<UpConv>,
    pub dec: Vec<DoubleConv>,
    pub head: Conv2d,
    pub pool: MaxPool2d,
    /// See [`UNetConfig::standardize`] (not stored in the weights: the checkpoint's
    /// metadata says it).
    pub standardize: bool,
}

/// Initial defect probability of every pixel (through the head's bias).
pub const HEAD_PRIOR: f32 = 0.01;

impl UNetTiny {
    pub fn new(cfg: &UNetConfig, device: &Device) -> Self {
        let ch = UNET_CHANNELS;
        let mut enc = Vec::with_capacity(ch.len());
        let mut c_prev = cfg.in_channels;
        for &c in &ch {
            enc.push(DoubleConv::new(c_prev, c, device));
            c_prev = c;
        }
        // decoder levels from the deepest skip up: 64, 32, 16
        let mut up = Vec::new();
        let mut dec = Vec::new();
        for i in (0..ch.len() - 1).rev() {
            up.push(UpConv::new(ch[i + 1], ch[i], device));
            dec.push(DoubleConv::new(2 * ch[i], ch[i], device));
        }
        let head = Conv2dConfig::new([ch[0], cfg.classes.max(1)], [1, 1]).init(device);
        // Defects cover a few percent of the pixels at most: starting every pixel at
        // that prior (RetinaNet's trick, as the detector's class bias) instead of 0.5
        // spares the first epochs of only pushing the background down, during which
        // the Dice term has nothing to work with.
        let head = crate::nn::init::conv_with_bias(head, (HEAD_PRIOR / (1.0 - HEAD_PRIOR)).ln());
        UNetTiny {
            enc,
            up,
            dec,
            head,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            standardize: cfg.standardize,
        }
    }

    /// Output logits per pixel.
    pub fn classes(&self) -> usize {
        self.head.weight.dims()[0]
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut skips = Vec::with_capacity(self.enc.len());
        let mut y = if self.standardize { standardize(x) } else { x };
        for (i, level) in self.enc.iter().enumerate() {
            if i > 0 {
                y = self.pool.forward(y);
            }
            y = level.forward(y);
            skips.push(y.clone());
        }
        skips.pop();
        for (up, dec) in self.up.iter().zip(&self.dec) {
            let Some(skip) = skips.pop() else { break };
            y = dec.forward(Tensor::cat(vec![skip, up.forward(y)], 1));
        }
        conv2d_fast(
            y,
            self.head.weight.val(),
            self.head.bias.as_ref().map(|b| b.val()),
            [1, 1],
            [0, 0],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn device() -> Device {
        Device::default()
    }

    #[test]
    fn output_has_one_logit_map_per_class_at_input_resolution() {
        let _serial = crate::burn_test_lock();
        let d = device();
        for classes in [1, 3] {
            let m = UNetTiny::new(
                &UNetConfig {
                    classes,
                    ..UNetConfig::default()
                },
                &d,
            );
            let x = Tensor::<4>::random([2, 3, 48, 32], Distribution::Uniform(0.0, 1.0), &d);
            assert_eq!(m.forward(x).dims(), [2, classes, 48, 32]);
        }
    }

    #[test]
    fn a_standardised_input_does_not_see_a_brighter_or_stronger_light() {
        let _serial = crate::burn_test_lock();
        let d = device();
        let x = Tensor::<4>::random([2, 3, 16, 16], Distribution::Uniform(0.0, 0.5), &d);
        let y: Vec<f32> = standardize(x.clone()).into_data().try_to_vec::<f32>().unwrap();
        // zero mean and unit variance per image and channel
        for plane in y.chunks(256) {
            let mean = plane.iter().sum::<f32>() / 256.0;
            let var = plane.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 256.0;
            assert!(mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-2, "{mean} {var}");
        }
        let m = UNetTiny::new(
            &UNetConfig {
                standardize: true,
                ..UNetConfig::default()
            },
            &d,
        )
        .valid();
        let a: Vec<f32> = m.forward(x.clone()).into_data().try_to_vec::<f32>().unwrap();
        let lit: Vec<f32> = m.forward(x * 1.6 + 0.2).into_data().try_to_vec::<f32>().unwrap();
        let worst = a.iter().zip(&lit).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-2, "logits moved by {worst}");
        let flat = Tensor::<4>::ones([1, 3, 8, 8], &d) * 0.3;
        let z: Vec<f32> = standardize(flat).into_data().try_to_vec::<f32>().unwrap();
        assert!(z.iter().all(|v| v.abs() < 1e-3), "a flat image becomes zeros");
    }

    #[test]
    fn parameter_count_is_tiny() {
        let _serial = crate::burn_test_lock();
        let m = UNetTiny::new(&UNetConfig::default(), &device());
        let n = m.num_params();
        assert!((400_000..600_000).contains(&n), "{n}");
    }

    #[test]
    fn depth_to_space_matches_pixel_shuffle_order() {
        let _serial = crate::burn_test_lock();
        let d = device();
        // one output channel, r = 2: input channel k = i*2 + j lands at (i, j)
        let x = Tensor::<4>::from_data(
            TensorData::new((0..4).map(|v| v as f32).collect::<Vec<_>>(), [1, 4, 1, 1]),
            &d,
        );
        let y: Vec<f32> = depth_to_space(x, 2).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, vec![0.0, 1.0, 2.0, 3.0]);
        // two channels, 1×2 spatial
        let v: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(v, [1, 8, 1, 2]), &d);
        let y: Vec<f32> = depth_to_space(x, 2).into_data().try_to_vec::<f32>().unwrap();
        // channel 0 at (0,0) of pixel 0 = input[c0, x0] = 0, (0,1) = input[c1, x0] = 2, ...
        assert_eq!(&y[..8], &[0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]);
    }
}
