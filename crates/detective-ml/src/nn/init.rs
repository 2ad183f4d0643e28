//! Initialisation helpers shared by the networks.

use burn::nn::conv::Conv2d;
use burn::tensor::{Tensor, TensorData};

/// `conv` with every bias set to `value` (a prior on what the layer predicts, as
/// Ultralytics' `bias_init` and RetinaNet do); unchanged when it has no bias.
pub fn conv_with_bias(mut conv: Conv2d, value: f32) -> Conv2d {
    if let Some(bias) = conv.bias.take() {
        let n = bias.dims()[0];
        let device = bias.device();
        let t = Tensor::<1>::from_data(TensorData::new(vec![value; n], [n]), &device);
        conv.bias = Some(bias.map(|old| if old.is_require_grad() { t.require_grad() } else { t }));
    }
    conv
}
