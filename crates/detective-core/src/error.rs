//! Errors raised by the pure rules of the core crate.

use thiserror::Error;

/// A value that breaks one of the core rules.
#[derive(Debug, Error, PartialEq)]
pub enum CoreError {
    /// A threshold band whose bounds are not `0 <= low < high <= 1`.
    #[error("invalid uncertainty band: low {low} and high {high} must satisfy 0 <= low < high <= 1")]
    InvalidBand { low: f32, high: f32 },
    /// A box with a non-finite coordinate or x2 < x1 / y2 < y1.
    #[error("invalid box [{x1}, {y1}, {x2}, {y2}]: coordinates must be finite with x1 <= x2 and y1 <= y2")]
    InvalidBox { x1: f32, y1: f32, x2: f32, y2: f32 },
    /// A name used as a path segment (project, camera, dataset) that is unsafe or malformed.
    #[error("invalid {what} {name:?}: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: String,
    },
}
