//! Decoding every supported format and colour depth, and refusing bad input with
//! the right typed error.

use crate::common::{encoded, png_declaring, rgb_gradient};
use detective_vision::{DecodeLimits, VisionError, decode_file, decode_image};
use image::{DynamicImage, ImageFormat};

#[test]
fn every_supported_format_decodes_to_the_same_rgb_pixels() {
    let src = rgb_gradient(31, 17);
    for (fmt, name) in [
        (ImageFormat::Png, "png"),
        (ImageFormat::Bmp, "bmp"),
        (ImageFormat::Tiff, "tiff"),
        (ImageFormat::WebP, "webp"),
    ] {
        let frame = decode_image(&encoded(src.clone(), fmt), &DecodeLimits::default()).unwrap();
        assert_eq!((frame.width(), frame.height()), (31, 17), "{name}");
        assert_eq!(frame.source.format, name);
        assert_eq!(frame.as_rgb(), src.to_rgb8().as_raw().as_slice(), "{name} is lossless");
    }
    let jpeg = decode_image(&encoded(src.clone(), ImageFormat::Jpeg), &DecodeLimits::default()).unwrap();
    assert_eq!(jpeg.source.format, "jpeg");
    let err: f64 = jpeg
        .as_rgb()
        .iter()
        .zip(src.to_rgb8().as_raw())
        .map(|(&a, &b)| (a as f64 - b as f64).abs())
        .sum::<f64>()
        / jpeg.as_rgb().len() as f64;
    assert!(err < 6.0, "JPEG mean abs error {err}");
}

#[test]
fn grey_rgba_and_sixteen_bit_images_become_rgb8_with_source_recorded() {
    let grey = DynamicImage::ImageLuma8(image::GrayImage::from_fn(4, 4, |x, _| image::Luma([x as u8 * 60])));
    let f = decode_image(&encoded(grey, ImageFormat::Png), &DecodeLimits::default()).unwrap();
    assert_eq!((f.source.channels, f.source.bits_per_channel), (1, 8));
    assert_eq!(f.pixel(2, 0), [120, 120, 120]);

    let rgba = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(3, 2, image::Rgba([10, 20, 30, 128])));
    let f = decode_image(&encoded(rgba, ImageFormat::Png), &DecodeLimits::default()).unwrap();
    assert_eq!((f.source.channels, f.source.bits_per_channel), (4, 8));
    assert_eq!(f.pixel(0, 0), [10, 20, 30]);

    let g16 = DynamicImage::ImageLuma16(image::ImageBuffer::from_pixel(2, 2, image::Luma([65535u16])));
    let f = decode_image(&encoded(g16, ImageFormat::Png), &DecodeLimits::default()).unwrap();
    assert_eq!((f.source.channels, f.source.bits_per_channel), (1, 16));
    assert_eq!(f.pixel(1, 1), [255, 255, 255]);

    let rgb16 = DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(2, 2, image::Rgb([0u16, 32896, 65535])));
    let f = decode_image(&encoded(rgb16, ImageFormat::Tiff), &DecodeLimits::default()).unwrap();
    assert_eq!((f.source.channels, f.source.bits_per_channel), (3, 16));
    assert_eq!(f.pixel(0, 0), [0, 128, 255]);
}

#[test]
fn empty_input_is_refused_as_empty() {
    assert!(matches!(
        decode_image(&[], &DecodeLimits::default()),
        Err(VisionError::Empty)
    ));
}

#[test]
fn html_sent_as_jpeg_is_refused_as_unknown_format() {
    let html = b"<!DOCTYPE html><html><body>not an image</body></html>";
    assert!(matches!(
        decode_image(html, &DecodeLimits::default()),
        Err(VisionError::UnknownFormat)
    ));
}

#[test]
fn truncated_png_and_jpeg_are_refused_as_corrupt() {
    let src = rgb_gradient(64, 64);
    for fmt in [ImageFormat::Png, ImageFormat::Jpeg] {
        let bytes = encoded(src.clone(), fmt);
        let cut = &bytes[..bytes.len() / 2];
        match decode_image(cut, &DecodeLimits::default()) {
            Err(VisionError::Corrupt { reason, .. }) => assert!(!reason.is_empty()),
            other => panic!("{fmt:?} truncated: {other:?}"),
        }
    }
}

#[test]
fn garbage_after_a_valid_header_is_refused_as_corrupt() {
    let mut bytes = encoded(rgb_gradient(64, 64), ImageFormat::Png);
    for b in bytes.iter_mut().skip(60) {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    assert!(matches!(
        decode_image(&bytes, &DecodeLimits::default()),
        Err(VisionError::Corrupt { .. })
    ));
}

#[test]
fn byte_limit_is_enforced_before_decoding() {
    let bytes = encoded(rgb_gradient(64, 64), ImageFormat::Png);
    let limits = DecodeLimits {
        max_bytes: 100,
        ..DecodeLimits::default()
    };
    match decode_image(&bytes, &limits) {
        Err(VisionError::TooManyBytes { size, limit }) => assert_eq!((size, limit), (bytes.len() as u64, 100)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_hundred_megapixel_image_is_refused_by_the_default_pixel_limit() {
    match decode_image(&png_declaring(10_000, 10_000), &DecodeLimits::default()) {
        Err(VisionError::TooManyPixels {
            width,
            height,
            pixels,
            limit,
        }) => {
            assert_eq!(
                (width, height, pixels, limit),
                (10_000, 10_000, 100_000_000, 40_000_000)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn error_messages_name_the_cause() {
    let e = decode_image(&png_declaring(50_000, 50_000), &DecodeLimits::default()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("50000×50000") && msg.contains("limit"), "{msg}");
}

#[test]
fn file_over_the_byte_limit_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.png");
    std::fs::write(&p, encoded(rgb_gradient(64, 64), ImageFormat::Png)).unwrap();
    let limits = DecodeLimits {
        max_bytes: 10,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        decode_file(&p, &limits),
        Err(VisionError::TooManyBytes { .. })
    ));
    assert!(matches!(
        decode_file(&dir.path().join("missing.png"), &limits),
        Err(VisionError::Io { .. })
    ));
}
