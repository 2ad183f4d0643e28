//! Encoding frames and masks to JPEG and PNG bytes.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};

use crate::{Frame, GrayFrame, VisionError};

/// JPEG at `quality` (1..=100).
pub fn encode_jpeg(frame: &Frame, quality: u8) -> Result<Vec<u8>, VisionError> {
    if !(1..=100).contains(&quality) {
        return Err(VisionError::InvalidArgument(format!(
            "JPEG quality {quality} not in 1..=100"
        )));
    }
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(frame.as_rgb(), frame.width(), frame.height(), ExtendedColorType::Rgb8)
        .map_err(|e| VisionError::Encode(e.to_string()))?;
    Ok(out)
}

/// Lossless PNG of an RGB frame.
pub fn encode_png(frame: &Frame) -> Result<Vec<u8>, VisionError> {
    png_bytes(frame.as_rgb(), frame.width(), frame.height(), ExtendedColorType::Rgb8)
}

/// Lossless 8-bit greyscale PNG (masks are written this way, 0/255).
pub fn encode_gray_png(gray: &GrayFrame) -> Result<Vec<u8>, VisionError> {
    png_bytes(&gray.data, gray.width, gray.height, ExtendedColorType::L8)
}

fn png_bytes(data: &[u8], w: u32, h: u32, color: ExtendedColorType) -> Result<Vec<u8>, VisionError> {
    let mut out = Cursor::new(Vec::new());
    PngEncoder::new(&mut out)
        .write_image(data, w, h, color)
        .map_err(|e| VisionError::Encode(e.to_string()))?;
    Ok(out.into_inner())
}

/// Decodes an 8-bit single-channel PNG mask (any PNG is converted to luma).
pub fn decode_gray(bytes: &[u8], limits: &crate::DecodeLimits) -> Result<GrayFrame, VisionError> {
    let (_, w, h) = crate::decode::probe(bytes, limits)?;
    let img = image::load_from_memory(bytes).map_err(|e| VisionError::Corrupt {
        format: "image".into(),
        reason: e.to_string(),
    })?;
    let luma = img.into_luma8();
    debug_assert_eq!(luma.dimensions(), (w, h));
    Ok(GrayFrame {
        width: luma.width(),
        height: luma.height(),
        data: luma.into_raw(),
    })
}
