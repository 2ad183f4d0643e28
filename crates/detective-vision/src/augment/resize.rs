//! The first step of every training sample: the decoded image resized so its long
//! side is `imgsz`, aspect ratio kept — what Ultralytics' `load_image` does (sides
//! rounded up and capped at `imgsz`, OpenCV `INTER_LINEAR`, also when shrinking).

use crate::preprocess::resize_like_opencv;
use crate::{Frame, VisionError};

/// Size of a `w × h` image after [`load_resized`].
pub fn resized_size(w: u32, h: u32, imgsz: u32) -> (u32, u32) {
    let r = imgsz as f64 / w.max(h) as f64;
    if r == 1.0 {
        return (w, h);
    }
    // the same f64 arithmetic as Python: ceil(w0 * r), capped at imgsz
    let side = |v: u32| ((v as f64 * r).ceil() as u32).clamp(1, imgsz);
    (side(w), side(h))
}

/// Resizes so the long side is `imgsz` (up or down), aspect ratio kept, with the
/// OpenCV-exact bilinear resize. A frame already at that size is returned as is.
/// Boxes normalised to the image map to pixels with the returned frame's size.
pub fn load_resized(frame: Frame, imgsz: u32) -> Result<Frame, VisionError> {
    if imgsz == 0 {
        return Err(VisionError::InvalidArgument("imgsz must be positive".into()));
    }
    let (w, h) = resized_size(frame.width(), frame.height(), imgsz);
    if (w, h) == (frame.width(), frame.height()) {
        return Ok(frame);
    }
    let mut out = resize_like_opencv(&frame, w, h)?;
    out.source = frame.source;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_side_becomes_imgsz_and_short_side_rounds_up() {
        assert_eq!(resized_size(200, 200, 320), (320, 320));
        assert_eq!(resized_size(640, 480, 320), (320, 240));
        // sides are rounded up, as Python's math.ceil (333 · 320 / 517 = 206.1 → 207)
        assert_eq!(resized_size(333, 517, 320), (207, 320));
        assert_eq!(resized_size(703, 301, 320), (320, 138));
        assert_eq!(resized_size(200, 150, 320), (320, 240));
        assert_eq!(resized_size(1000, 3, 320), (320, 1));
        assert_eq!(resized_size(320, 100, 320), (320, 100));
    }

    #[test]
    fn frame_is_resized_and_source_kept() {
        let mut f = Frame::filled(200, 100, [10, 20, 30]).unwrap();
        f.source.format = "jpeg".into();
        let r = load_resized(f, 320).unwrap();
        assert_eq!((r.width(), r.height()), (320, 160));
        assert_eq!(r.source.format, "jpeg");
        assert!(r.as_rgb().chunks_exact(3).all(|p| p == [10, 20, 30]));
        let same = load_resized(Frame::filled(320, 7, [1, 2, 3]).unwrap(), 320).unwrap();
        assert_eq!((same.width(), same.height()), (320, 7));
        assert!(load_resized(Frame::filled(2, 2, [0; 3]).unwrap(), 0).is_err());
    }
}
