//! Builders of test images, shared by the decode tests.

#![allow(dead_code)]

use std::io::Cursor;

use image::{DynamicImage, ImageFormat};

/// A small encoded image of the given colour type and format.
pub fn encoded(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode test image");
    out.into_inner()
}

pub fn rgb_gradient(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 5) as u8, 100])
    }))
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid few-hundred-byte PNG whose header declares `w × h` (a decompression bomb
/// when large): a real 1×1 PNG with its IHDR rewritten and its CRC fixed.
pub fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut png = encoded(rgb_gradient(1, 1), ImageFormat::Png);
    // signature (8) + length (4) + "IHDR" (4) → width at 16, height at 20, CRC at 29.
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}
