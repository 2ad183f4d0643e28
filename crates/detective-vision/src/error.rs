//! Typed errors of the vision crate; each names its cause so users can act on it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum VisionError {
    #[error("empty input: 0 bytes")]
    Empty,
    #[error("file is {size} bytes, over the limit of {limit} bytes")]
    TooManyBytes { size: u64, limit: u64 },
    #[error("image is {width}×{height} = {pixels} pixels, over the limit of {limit} pixels")]
    TooManyPixels {
        width: u32,
        height: u32,
        pixels: u64,
        limit: u64,
    },
    #[error("unrecognised image format (supported: JPEG, PNG, BMP, TIFF, WebP)")]
    UnknownFormat,
    #[error("unsupported image format {0}")]
    UnsupportedFormat(String),
    #[error("corrupt or truncated {format} data: {reason}")]
    Corrupt { format: String, reason: String },
    #[error("image has zero width or height")]
    ZeroSize,
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("could not encode image: {0}")]
    Encode(String),
    #[error("I/O error on {path}: {source}")]
    Io { path: String, source: std::io::Error },
}
