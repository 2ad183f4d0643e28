//! The edge side of Defect Detective: where frames come from.
//!
//! Today: video files and network streams decoded by an `ffmpeg` subprocess that
//! writes raw RGB frames to a pipe ([`video`]), and the matching encoder for
//! annotated output videos. The camera pipeline and the store-and-forward uploader
//! of the edge agent build on these.

pub mod agent;
pub mod error;
pub mod source;
pub mod spool;
pub mod uploader;
pub mod video;

pub use error::EdgeError;
pub use video::{VideoInfo, VideoReader, VideoWriter, is_video_source};
