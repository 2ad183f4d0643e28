//! The YOLOv8 detection network (Ultralytics' `yolov8.yaml`): C2f backbone with
//! SPPF, PAN-FPN neck, and a decoupled anchor-free head with DFL (reg_max 16)
//! at strides 8, 16 and 32, for any number of classes.
//!
//! `forward_raw` gives what the loss needs (`[B, 4·reg_max + nc, A]` logits);
//! `forward` gives what Ultralytics' ONNX export gives (`[B, 4 + nc, A]`: boxes
//! as centre x, centre y, width, height in input pixels, then class
//! probabilities), so one post-processing serves both.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::interpolate::{Interpolate2d, Interpolate2dConfig, InterpolateMode};
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::blocks::{C2f, ConvBnSilu, Sppf};

/// Distribution bins per box side (Ultralytics' `reg_max`).
pub const REG_MAX: usize = 16;
/// Strides of the three detection levels.
pub const STRIDES: [usize; 3] = [8, 16, 32];

/// Model scale, as in Ultralytics' yaml (`n`: depth 0.33 width 0.25; `s`: 0.33 / 0.50),
/// plus our `t` (0.33 / 0.125: 1.2 M parameters against `n`'s 3.2 M with 80 classes)
/// for small tasks such as the bundled synthetic-defect model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    T,
    N,
    S,
}

impl Scale {
    pub fn parse(text: &str) -> Option<Scale> {
        match text {
            "t" => Some(Scale::T),
            "n" | "yolov8n" => Some(Scale::N),
            "s" | "yolov8s" => Some(Scale::S),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scale::T => "t",
            Scale::N => "n",
            Scale::S => "s",
        }
    }

    fn multipliers(self) -> (f64, f64) {
        match self {
            Scale::T => (0.33, 0.125),
            Scale::N => (0.33, 0.25),
            Scale::S => (0.33, 0.50),
        }
    }

    /// Channels of a layer with `base` channels at width 1.0 (max 1024), rounded up to 8.
    pub fn width(self, base: usize) -> usize {
        let (_, w) = self.multipliers();
        let c = (base.min(1024) as f64 * w / 8.0).ceil() as usize * 8;
        c.max(8)
    }

    /// Repeats of a block with `base` repeats at depth 1.0.
    pub fn depth(self, base: usize) -> usize {
        let (d, _) = self.multipliers();
        ((base as f64 * d).round() as usize).max(1)
    }
}

/// What defines a detector's shape: scale and number of classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct YoloConfig {
    pub scale: Scale,
    pub num_classes: usize,
}

/// One head branch: two 3×3 `Conv`s and a 1×1 prediction convolution with bias.
#[derive(Module, Debug)]
pub struct HeadBranch {
    pub a: ConvBnSilu,
    pub b: ConvBnSilu,
    pub pred: Conv2d,
}

impl HeadBranch {
    fn new(c_in: usize, hidden: usize, c_out: usize, device: &Device) -> Self {
        HeadBranch {
            a: ConvBnSilu::new(c_in, hidden, 3, 1, device),
            b: ConvBnSilu::new(hidden, hidden, 3, 1, device),
            pred: Conv2dConfig::new([hidden, c_out], [1, 1]).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.pred.forward(self.b.forward(self.a.forward(x)))
    }

    /// Sets the prediction bias to a constant (Ultralytics' `bias_init`).
    fn with_bias(mut self, value: f32) -> Self {
        self.pred = crate::nn::init::conv_with_bias(self.pred, value);
        self
    }
}

/// YOLOv8 detector.
#[derive(Module, Debug)]
pub struct YoloV8 {
    // backbone
    pub b0: ConvBnSilu,
    pub b1: ConvBnSilu,
    pub b2: C2f,
    pub b3: ConvBnSilu,
    pub b4: C2f,
    pub b5: ConvBnSilu,
    pub b6: C2f,
    pub b7: ConvBnSilu,
    pub b8: C2f,
    pub b9: Sppf,
    // neck
    pub up: Interpolate2d,
    pub n12: C2f,
    pub n15: C2f,
    pub n16: ConvBnSilu,
    pub n18: C2f,
    pub n19: ConvBnSilu,
    pub n21: C2f,
    // head, one branch per level
    pub box_branches: Vec<HeadBranch>,
    pub cls_branches: Vec<HeadBranch>,
    pub num_classes: usize,
}

impl YoloV8 {
    /// A freshly initialised network (PyTorch's default initialisation, Ultralytics' head bias).
    pub fn new(config: &YoloConfig, device: &Device) -> Self {
        let s = config.scale;
        let nc = config.num_classes.max(1);
        let (c64, c128, c256, c512, c1024) = (s.width(64), s.width(128), s.width(256), s.width(512), s.width(1024));
        let (d3, d6) = (s.depth(3), s.depth(6));
        let ch = [c256, c512, c1024];
        let box_hidden = 16.max(ch[0] / 4).max(REG_MAX * 4);
        let cls_hidden = ch[0].max(nc.min(100));
        let box_branches = ch
            .iter()
            .map(|&c| HeadBranch::new(c, box_hidden, 4 * REG_MAX, device).with_bias(1.0))
            .collect();
        let cls_branches = ch
            .iter()
            .zip(STRIDES)
            .map(|(&c, stride)| {
                // Prior: 5 objects per 640² image spread over the classes.
                let prior = (5.0 / nc as f64 / (640.0 / stride as f64).powi(2)).ln() as f32;
                HeadBranch::new(c, cls_hidden, nc, device).with_bias(prior)
            })
            .collect();
        YoloV8 {
            b0: ConvBnSilu::new(3, c64, 3, 2, device),
            b1: ConvBnSilu::new(c64, c128, 3, 2, device),
            b2: C2f::new(c128, c128, d3, true, device),
            b3: ConvBnSilu::new(c128, c256, 3, 2, device),
            b4: C2f::new(c256, c256, d6, true, device),
            b5: ConvBnSilu::new(c256, c512, 3, 2, device),
            b6: C2f::new(c512, c512, d6, true, device),
            b7: ConvBnSilu::new(c512, c1024, 3, 2, device),
            b8: C2f::new(c1024, c1024, d3, true, device),
            b9: Sppf::new(c1024, c1024, 5, device),
            up: Interpolate2dConfig::new()
                .with_scale_factor(Some([2.0, 2.0]))
                .with_mode(InterpolateMode::Nearest)
                .init(),
            n12: C2f::new(c1024 + c512, c512, d3, false, device),
            n15: C2f::new(c512 + c256, c256, d3, false, device),
            n16: ConvBnSilu::new(c256, c256, 3, 2, device),
            n18: C2f::new(c256 + c512, c512, d3, false, device),
            n19: ConvBnSilu::new(c512, c512, 3, 2, device),
            n21: C2f::new(c512 + c1024, c1024, d3, false, device),
            box_branches,
            cls_branches,
            num_classes: nc,
        }
    }

    /// The three feature maps the head reads (P3/8, P4/16, P5/32).
    fn features(&self, x: Tensor<4>) -> [Tensor<4>; 3] {
        let x = self.b1.forward(self.b0.forward(x));
        let x = self.b2.forward(x);
        let p3 = self.b4.forward(self.b3.forward(x));
        let p4 = self.b6.forward(self.b5.forward(p3.clone()));
        let p5 = self.b9.forward(self.b8.forward(self.b7.forward(p4.clone())));
        let h12 = self.n12.forward(Tensor::cat(vec![self.up.forward(p5.clone()), p4], 1));
        let h15 = self.n15.forward(Tensor::cat(vec![self.up.forward(h12.clone()), p3], 1));
        let h18 = self
            .n18
            .forward(Tensor::cat(vec![self.n16.forward(h15.clone()), h12], 1));
        let h21 = self
            .n21
            .forward(Tensor::cat(vec![self.n19.forward(h18.clone()), p5], 1));
        [h15, h18, h21]
    }

    /// Raw head outputs, levels concatenated: `[B, 4·reg_max + nc, A]`, anchors in
    /// level order then row-major (`A = Σ (H/s)·(W/s)`). Box logits come first.
    pub fn forward_raw(&self, x: Tensor<4>) -> Tensor<3> {
        let feats = self.features(x);
        let mut levels = Vec::with_capacity(3);
        for (i, f) in feats.into_iter().enumerate() {
            let b = self.box_branches[i].forward(f.clone());
            let c = self.cls_branches[i].forward(f);
            let [n, _, h, w] = b.dims();
            let y = Tensor::cat(vec![b, c], 1);
            levels.push(y.reshape([n, 4 * REG_MAX + self.num_classes, h * w]));
        }
        Tensor::cat(levels, 2)
    }

    /// Decoded predictions as Ultralytics exports them: `[B, 4 + nc, A]`
    /// with xywh in input pixels and sigmoid class scores.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<3> {
        let [_, _, h, w] = x.dims();
        let raw = self.forward_raw(x);
        decode_raw(raw, self.num_classes, h, w)
    }
}

/// Anchor centres (grid cell centres, in grid units) and strides for an input of
/// `h × w`: `(points [A, 2], strides [A])` as plain vectors.
pub fn anchors(h: usize, w: usize) -> (Vec<[f32; 2]>, Vec<f32>) {
    let mut points = Vec::new();
    let mut strides = Vec::new();
    for s in STRIDES {
        let (gh, gw) = (h.div_ceil(s), w.div_ceil(s));
        for y in 0..gh {
            for x in 0..gw {
                points.push([x as f32 + 0.5, y as f32 + 0.5]);
                strides.push(s as f32);
            }
        }
    }
    (points, strides)
}

/// DFL expectation: `[B, 4·reg_max, A]` logits → `[B, 4, A]` distances (grid units).
pub fn dfl_distances(box_logits: Tensor<3>) -> Tensor<3> {
    let [n, _, a] = box_logits.dims();
    let device = box_logits.device();
    let probs = softmax(box_logits.reshape([n, 4, REG_MAX, a]), 2);
    let bins = Tensor::<1, Int>::arange(0..REG_MAX as i64, &device)
        .float()
        .reshape([1, 1, REG_MAX, 1]);
    (probs * bins).sum_dim(2).reshape([n, 4, a])
}

/// Turns raw head outputs into Ultralytics' export layout.
pub fn decode_raw(raw: Tensor<3>, nc: usize, h: usize, w: usize) -> Tensor<3> {
    let [n, _, a] = raw.dims();
    let device = raw.device();
    let box_logits = raw.clone().narrow(1, 0, 4 * REG_MAX);
    let cls_logits = raw.narrow(1, 4 * REG_MAX, nc);
    let dist = dfl_distances(box_logits);
    let (points, strides) = anchors(h, w);
    debug_assert_eq!(points.len(), a);
    let px: Vec<f32> = points.iter().map(|p| p[0]).collect();
    let py: Vec<f32> = points.iter().map(|p| p[1]).collect();
    let ax = Tensor::<1>::from_data(TensorData::new(px, [a]), &device).reshape([1, 1, a]);
    let ay = Tensor::<1>::from_data(TensorData::new(py, [a]), &device).reshape([1, 1, a]);
    let st = Tensor::<1>::from_data(TensorData::new(strides, [a]), &device).reshape([1, 1, a]);
    let l = dist.clone().narrow(1, 0, 1);
    let t = dist.clone().narrow(1, 1, 1);
    let r = dist.clone().narrow(1, 2, 1);
    let b = dist.narrow(1, 3, 1);
    let x1 = ax.clone() - l;
    let y1 = ay.clone() - t;
    let x2 = ax + r;
    let y2 = ay + b;
    let cx = (x1.clone() + x2.clone()) * st.clone() / 2.0;
    let cy = (y1.clone() + y2.clone()) * st.clone() / 2.0;
    let bw = (x2 - x1) * st.clone();
    let bh = (y2 - y1) * st;
    let _ = n;
    Tensor::cat(vec![cx, cy, bw, bh, sigmoid(cls_logits)], 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::params::{ParamKind, param_infos};
    use burn::optim::GradientsParams;

    fn trainable(model: &YoloV8) -> usize {
        param_infos(model)
            .iter()
            .filter(|i| i.kind != ParamKind::Buffer)
            .map(|i| i.len())
            .sum()
    }

    #[test]
    fn parameter_counts_match_ultralytics_yolov8n_and_s_on_coco() {
        let _serial = crate::burn_test_lock();
        // Ultralytics' model summaries for yolov8n.yaml / yolov8s.yaml with 80 classes
        // count 16 more: the DFL's fixed 1×1 convolution (weights 0..15), which we
        // compute as an expectation instead of storing.
        let device = Device::flex();
        let n = YoloV8::new(
            &YoloConfig {
                scale: Scale::N,
                num_classes: 80,
            },
            &device,
        );
        assert_eq!(trainable(&n) + 16, 3_157_200);
        let s = YoloV8::new(
            &YoloConfig {
                scale: Scale::S,
                num_classes: 80,
            },
            &device,
        );
        assert_eq!(trainable(&s) + 16, 11_166_560);
        // Our `t`: same graph at half of n's width; the head keeps it above a quarter.
        let t = YoloV8::new(
            &YoloConfig {
                scale: Scale::T,
                num_classes: 80,
            },
            &device,
        );
        let (tn, nn) = (trainable(&t), trainable(&n));
        assert!(tn * 2 < nn && tn * 4 > nn, "t has {tn} parameters, n {nn}");
    }

    #[test]
    fn forward_gives_ultralytics_export_layout() {
        let _serial = crate::burn_test_lock();
        let device = Device::flex();
        let model = YoloV8::new(
            &YoloConfig {
                scale: Scale::N,
                num_classes: 3,
            },
            &device,
        );
        let y = model.forward(Tensor::<4>::zeros([2, 3, 64, 96], &device));
        // anchors: 8×12 + 4×6 + 2×3
        assert_eq!(y.dims(), [2, 4 + 3, 96 + 24 + 6]);
        let v = y.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        let a = 126;
        // class scores are probabilities, boxes have positive size
        for k in 0..a {
            assert!(v[2 * a + k] > 0.0 && v[3 * a + k] > 0.0);
            for c in 0..3 {
                let p = v[(4 + c) * a + k];
                assert!((0.0..=1.0).contains(&p));
            }
        }
    }

    #[test]
    fn every_trainable_tensor_receives_a_gradient() {
        let _serial = crate::burn_test_lock();
        let device = Device::flex().autodiff();
        let model = YoloV8::new(
            &YoloConfig {
                scale: Scale::N,
                num_classes: 2,
            },
            &device,
        );
        let raw = model.forward_raw(Tensor::<4>::ones([1, 3, 64, 64], &device));
        let grads = raw.sum().backward();
        let mut gp = GradientsParams::from_grads(grads, &model);
        let g = crate::train::optimizer::take_grads(&model, &mut gp);
        for (info, grad) in param_infos(&model).iter().zip(&g) {
            if info.kind != ParamKind::Buffer {
                assert!(grad.is_some(), "{} has no gradient", info.path);
            }
        }
    }
}
