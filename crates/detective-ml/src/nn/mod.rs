//! Building blocks of our networks that are not one task's: our own CPU kernels
//! for convolution ([`fast_conv`], used by the detector and the segmenter) and
//! batch norm + activation ([`bn_act`]), initialisation helpers ([`init`]), the
//! statistics of convolution outputs ([`conv_probe`]), and reading a loss value. They sit below `detect` and `segment` so that neither network
//! imports the other's files.

pub mod bn_act;
pub mod conv_probe;
pub mod fast_conv;
pub mod init;

use burn::tensor::Tensor;

/// The value of a one-element tensor (NaN if it cannot be read).
pub(crate) fn scalar(t: &Tensor<1>) -> f32 {
    t.clone()
        .detach()
        .into_data()
        .try_into_vec::<f32>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f32::NAN)
}
