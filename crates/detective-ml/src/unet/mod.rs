//! The segmenter: UNetTiny in Burn, its loss (BCE + soft Dice) and the decoding of
//! its logits into probability maps.

pub mod loss;
pub mod model;

pub use loss::{DiceScope, SegLossItems, segmentation_loss};
pub use model::{UNET_CHANNELS, UNET_DIVISOR, UNetConfig, UNetTiny};
