//! The edge side of Defect Detective: the agent next to a camera.
//!
//! [`source`] reads frames (synthetic parts, image folders, video files and
//! streams through an `ffmpeg` subprocess, see [`video`], V4L2 cameras, see
//! [`v4l2`]; [`frame_source`] is what they all are); [`agent`] runs the
//! pipeline (newest frame wins → detect → features → spool); [`spool`] keeps
//! every result on disk until the cloud has it; [`uploader`] sends the spool to
//! `POST /api/log` with backoff, through [`cloud_http`]'s client (HTTPS with a
//! private CA).

pub mod agent;
pub mod cloud_http;
pub mod error;
pub mod frame_source;
pub mod model;
pub mod model_pull;
pub mod mqtt;
pub mod preview;
pub mod source;
pub mod spool;
pub mod uploader;
pub mod v4l2;
#[cfg(feature = "v4l2")]
pub mod v4l2_device;
pub mod video;

pub use error::EdgeError;
pub use video::{VideoInfo, VideoReader, VideoWriter, is_video_source};
