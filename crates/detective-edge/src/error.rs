//! Errors of the edge crate.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EdgeError {
    /// `ffmpeg` / `ffprobe` could not be started.
    #[error("{tool} is not available ({reason}); install it (Debian: apt-get install ffmpeg) or set {env} to its path")]
    ToolMissing {
        tool: &'static str,
        env: &'static str,
        reason: String,
    },
    /// The input does not exist or cannot be read.
    #[error("video source {source_name}: {reason}")]
    Source { source_name: String, reason: String },
    /// ffmpeg/ffprobe ran but reported an error.
    #[error("{tool} failed on {source_name}: {message}")]
    Tool {
        tool: &'static str,
        source_name: String,
        message: String,
    },
    #[error("video {source_name}: {width}×{height} is larger than the limit of {max_pixels} pixels")]
    TooLarge {
        source_name: String,
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("i/o error on {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Vision(#[from] detective_vision::VisionError),
    /// The cloud could not be reached or gave an unusable answer.
    #[error("cloud: {0}")]
    Cloud(String),
    /// The local spool database failed.
    #[error("spool: {0}")]
    Spool(String),
}
