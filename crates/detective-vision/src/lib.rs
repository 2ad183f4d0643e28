//! Pixels in and out: decoding with hard limits, the preprocessing every model uses,
//! image-quality features for drift, overlays for people, and the synthetic
//! metal-surface defect generator.

pub mod augment;
pub mod colormap;
pub mod decode;
pub mod encode;
pub mod error;
pub mod features;
pub mod font;
pub mod frame;
pub mod overlay;
pub mod polygon;
pub mod preprocess;
pub mod regions;
pub mod synth;
pub mod tiles;

pub use decode::{DecodeLimits, decode_file, decode_image};
pub use error::VisionError;
pub use frame::{Frame, GrayFrame, SourceInfo};
