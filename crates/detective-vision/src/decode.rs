//! Decoding JPEG, PNG, BMP, TIFF and WebP into a [`Frame`], refusing oversize or
//! malformed input before anything large is allocated.
//!
//! Order of checks: byte length → format sniffed from the bytes (never from a file
//! name) → dimensions read from the header only → pixel limit → decode with an
//! allocation cap → truncation checks. A decompression bomb (a tiny PNG that
//! declares 50 000 × 50 000) is refused at the header step.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};

use crate::{Frame, SourceInfo, VisionError};

/// Limits applied to every decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeLimits {
    /// Largest encoded input accepted, in bytes (default 50 MiB).
    pub max_bytes: u64,
    /// Largest image accepted, in pixels (default 40 MP).
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_bytes: 50 * 1024 * 1024,
            max_pixels: 40_000_000,
        }
    }
}

/// The formats we accept, named as in error messages and [`SourceInfo::format`].
pub fn format_name(format: ImageFormat) -> Option<&'static str> {
    match format {
        ImageFormat::Jpeg => Some("jpeg"),
        ImageFormat::Png => Some("png"),
        ImageFormat::Bmp => Some("bmp"),
        ImageFormat::Tiff => Some("tiff"),
        ImageFormat::WebP => Some("webp"),
        _ => None,
    }
}

/// Sniffs the format from the leading bytes; `None` when it is not an image we accept.
pub fn sniff_format(bytes: &[u8]) -> Option<&'static str> {
    image::guess_format(bytes).ok().and_then(format_name)
}

/// Reads only the header: `(format, width, height)`, after the byte and pixel checks.
pub fn probe(bytes: &[u8], limits: &DecodeLimits) -> Result<(&'static str, u32, u32), VisionError> {
    if bytes.is_empty() {
        return Err(VisionError::Empty);
    }
    if bytes.len() as u64 > limits.max_bytes {
        return Err(VisionError::TooManyBytes {
            size: bytes.len() as u64,
            limit: limits.max_bytes,
        });
    }
    let format = image::guess_format(bytes).map_err(|_| VisionError::UnknownFormat)?;
    let name = format_name(format).ok_or_else(|| VisionError::UnsupportedFormat(format!("{format:?}")))?;
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let (width, height) = reader.into_dimensions().map_err(|e| map_error(name, e))?;
    if width == 0 || height == 0 {
        return Err(VisionError::ZeroSize);
    }
    let pixels = width as u64 * height as u64;
    if pixels > limits.max_pixels {
        return Err(VisionError::TooManyPixels {
            width,
            height,
            pixels,
            limit: limits.max_pixels,
        });
    }
    Ok((name, width, height))
}

/// Decodes an encoded image held in memory.
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<Frame, VisionError> {
    let (name, width, height) = probe(bytes, limits)?;
    if name == "jpeg" && !jpeg_has_end_marker(bytes) {
        return Err(VisionError::Corrupt {
            format: name.into(),
            reason: "missing end-of-image marker (truncated file)".into(),
        });
    }
    if name == "jpeg" {
        return decode_jpeg_libjpeg(bytes, width, height);
    }
    let format = image::guess_format(bytes).map_err(|_| VisionError::UnknownFormat)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut caps = Limits::default();
    caps.max_image_width = Some(width);
    caps.max_image_height = Some(height);
    // Decoded size at 16-bit RGBA plus the RGB8 copy, with headroom for decoder buffers.
    caps.max_alloc = Some(width as u64 * height as u64 * 8 * 2 + 16 * 1024 * 1024);
    reader.limits(caps);
    let image = reader.decode().map_err(|e| map_error(name, e))?;
    to_frame(image, name)
}

/// Reads and decodes a file, checking its size before reading it.
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<Frame, VisionError> {
    let io_err = |source| VisionError::Io {
        path: path.display().to_string(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io_err)?.len();
    if size > limits.max_bytes {
        return Err(VisionError::TooManyBytes {
            size,
            limit: limits.max_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(io_err)?;
    decode_image(&bytes, limits)
}

/// Converts any decoded colour type to RGB8, remembering what the file held.
fn to_frame(image: DynamicImage, format: &str) -> Result<Frame, VisionError> {
    let color = image.color();
    let channels = color.channel_count();
    let bits = (color.bytes_per_pixel() / channels.max(1)) * 8;
    let rgb = image.into_rgb8();
    let (w, h) = rgb.dimensions();
    let mut frame = Frame::from_rgb(w, h, rgb.into_raw())?;
    frame.source = SourceInfo {
        format: format.into(),
        channels,
        bits_per_channel: bits,
    };
    Ok(frame)
}

/// JPEG through libjpeg-turbo's decoder (vendored in `mozjpeg`; its integer IDCT is
/// the one OpenCV's `imread` uses), so frames are bit-identical to what Ultralytics
/// and OpenCV users feed their models. Dimensions were checked against the limits
/// before this is called; libjpeg errors unwind and are caught here.
fn decode_jpeg_libjpeg(bytes: &[u8], width: u32, height: u32) -> Result<Frame, VisionError> {
    let corrupt = |reason: String| VisionError::Corrupt {
        format: "jpeg".into(),
        reason,
    };
    let result = std::panic::catch_unwind(|| -> std::io::Result<(Vec<u8>, u8, usize, usize)> {
        let d = mozjpeg::Decompress::new_mem(bytes)?;
        let channels = d.color_space() as u8;
        let mut started = d.rgb()?;
        let (w, h) = (started.width(), started.height());
        let pixels: Vec<[u8; 3]> = started.read_scanlines()?;
        started.finish()?;
        Ok((pixels.into_iter().flatten().collect(), channels, w, h))
    });
    let (data, color_space, w, h) = match result {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(corrupt(e.to_string())),
        Err(_) => return Err(corrupt("libjpeg refused the data".into())),
    };
    if (w as u32, h as u32) != (width, height) {
        return Err(corrupt(format!(
            "header said {width}×{height}, decoder produced {w}×{h}"
        )));
    }
    let mut frame = Frame::from_rgb(width, height, data)?;
    // JCS_GRAYSCALE = 1; everything else decodes from three or four components
    let channels = if color_space == 1 { 1 } else { 3 };
    frame.source = SourceInfo {
        format: "jpeg".into(),
        channels,
        bits_per_channel: 8,
    };
    Ok(frame)
}

/// A JPEG ends with FF D9; cameras sometimes append padding, so look at the tail.
fn jpeg_has_end_marker(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

fn map_error(format: &str, e: ImageError) -> VisionError {
    match e {
        ImageError::Limits(l) => VisionError::Corrupt {
            format: format.into(),
            reason: format!("decoder allocation limit exceeded: {l}"),
        },
        ImageError::Unsupported(u) => VisionError::UnsupportedFormat(u.to_string()),
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => VisionError::Corrupt {
            format: format.into(),
            reason: "unexpected end of data (truncated file)".into(),
        },
        other => VisionError::Corrupt {
            format: format.into(),
            reason: other.to_string(),
        },
    }
}
