//! The one in-memory image type: 8-bit RGB, row-major, interleaved.
//!
//! Every decoder output (greyscale, RGBA, 16-bit …) is converted into a [`Frame`];
//! what the file held originally is kept in [`SourceInfo`].

use serde::{Deserialize, Serialize};

use crate::VisionError;

/// What the decoded file contained before conversion to RGB8.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// "jpeg", "png", "bmp", "tiff", "webp", or "raw" for frames built in memory.
    pub format: String,
    /// Channels in the file: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
    pub channels: u8,
    /// Bits per channel in the file (8 or 16, 32 for float TIFF).
    pub bits_per_channel: u8,
}

impl SourceInfo {
    pub fn raw() -> Self {
        SourceInfo {
            format: "raw".into(),
            channels: 3,
            bits_per_channel: 8,
        }
    }
}

/// An 8-bit RGB image.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    width: u32,
    height: u32,
    data: Vec<u8>,
    pub source: SourceInfo,
}

impl Frame {
    /// A frame from RGB8 bytes; the length must be `width * height * 3`.
    pub fn from_rgb(width: u32, height: u32, data: Vec<u8>) -> Result<Self, VisionError> {
        if width == 0 || height == 0 {
            return Err(VisionError::ZeroSize);
        }
        let expected = width as usize * height as usize * 3;
        if data.len() != expected {
            return Err(VisionError::InvalidArgument(format!(
                "RGB buffer of {} bytes for {width}×{height} (expected {expected})",
                data.len()
            )));
        }
        Ok(Frame {
            width,
            height,
            data,
            source: SourceInfo::raw(),
        })
    }

    /// A frame filled with one colour.
    pub fn filled(width: u32, height: u32, rgb: [u8; 3]) -> Result<Self, VisionError> {
        let n = width as usize * height as usize;
        let mut data = Vec::with_capacity(n * 3);
        for _ in 0..n {
            data.extend_from_slice(&rgb);
        }
        Frame::from_rgb(width, height, data)
    }

    /// A frame from greyscale bytes, replicated to three channels.
    pub fn from_gray(width: u32, height: u32, gray: &[u8]) -> Result<Self, VisionError> {
        if gray.len() != width as usize * height as usize {
            return Err(VisionError::InvalidArgument(format!(
                "grey buffer of {} bytes for {width}×{height}",
                gray.len()
            )));
        }
        let mut data = Vec::with_capacity(gray.len() * 3);
        for &g in gray {
            data.extend_from_slice(&[g, g, g]);
        }
        let mut f = Frame::from_rgb(width, height, data)?;
        f.source.channels = 1;
        Ok(f)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Interleaved RGB bytes, `width * height * 3` long.
    pub fn as_rgb(&self) -> &[u8] {
        &self.data
    }

    pub fn as_rgb_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    pub fn into_rgb(self) -> Vec<u8> {
        self.data
    }

    /// The pixel at `(x, y)`; panics when out of bounds (callers iterate in range).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    pub fn put_pixel(&mut self, x: u32, y: u32, rgb: [u8; 3]) {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.data[i..i + 3].copy_from_slice(&rgb);
    }

    /// Luma (BT.601) of every pixel, as used by the quality features.
    pub fn to_luma(&self) -> Vec<u8> {
        self.data
            .chunks_exact(3)
            .map(|p| luma(p[0], p[1], p[2]).round().clamp(0.0, 255.0) as u8)
            .collect()
    }

    /// Swaps the R and B channels in place (RGB ↔ BGR).
    pub fn swap_rb(&mut self) {
        for p in self.data.chunks_exact_mut(3) {
            p.swap(0, 2);
        }
    }
}

/// BT.601 luma of one RGB pixel, in 0..=255.
pub fn luma(r: u8, g: u8, b: u8) -> f32 {
    0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32
}

/// A single-channel 8-bit image (masks, heatmaps before colouring).
#[derive(Debug, Clone, PartialEq)]
pub struct GrayFrame {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl GrayFrame {
    pub fn new(width: u32, height: u32) -> Self {
        GrayFrame {
            width,
            height,
            data: vec![0; width as usize * height as usize],
        }
    }

    pub fn get(&self, x: u32, y: u32) -> u8 {
        self.data[y as usize * self.width as usize + x as usize]
    }

    pub fn set(&mut self, x: u32, y: u32, v: u8) {
        self.data[y as usize * self.width as usize + x as usize] = v;
    }

    /// A decoded mask image as a binary mask: 255 where the brightest channel
    /// of a pixel is ≥ 128 (a defect), else 0 — how every mask file is read.
    pub fn binary_mask_of(frame: &Frame) -> GrayFrame {
        GrayFrame {
            width: frame.width(),
            height: frame.height(),
            data: frame
                .as_rgb()
                .chunks_exact(3)
                .map(|px| if px[0].max(px[1]).max(px[2]) >= 128 { 255 } else { 0 })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_buffer_of_wrong_length_is_refused() {
        assert!(Frame::from_rgb(2, 2, vec![0; 11]).is_err());
        assert!(Frame::from_rgb(0, 2, vec![]).is_err());
    }

    #[test]
    fn grey_is_replicated_to_three_channels() {
        let f = Frame::from_gray(2, 1, &[10, 200]).unwrap();
        assert_eq!(f.as_rgb(), &[10, 10, 10, 200, 200, 200]);
        assert_eq!(f.source.channels, 1);
    }

    #[test]
    fn a_mask_pixel_is_a_defect_when_its_brightest_channel_is_at_least_128() {
        let f = Frame::from_rgb(3, 1, vec![0, 127, 0, 128, 0, 0, 255, 255, 255]).unwrap();
        assert_eq!(GrayFrame::binary_mask_of(&f).data, vec![0, 255, 255]);
    }

    #[test]
    fn swap_rb_turns_rgb_into_bgr() {
        let mut f = Frame::from_rgb(1, 1, vec![1, 2, 3]).unwrap();
        f.swap_rb();
        assert_eq!(f.as_rgb(), &[3, 2, 1]);
    }
}
