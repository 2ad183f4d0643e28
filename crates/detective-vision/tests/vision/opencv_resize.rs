//! The letterbox resize is bit-exact with OpenCV's `INTER_LINEAR`, which Ultralytics
//! uses: the expected pixels were produced by `scripts/fixtures/opencv_resize.py`.

use detective_vision::Frame;
use detective_vision::preprocess::resize_like_opencv;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

#[derive(Deserialize)]
struct Fixture {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
    cases: Vec<Case>,
}

#[test]
fn resize_matches_opencv_inter_linear_exactly_up_and_down() {
    let text = include_str!("../fixtures/opencv_resize.json");
    let fx: Fixture = serde_json::from_str(text).unwrap();
    let src = Frame::from_rgb(fx.width, fx.height, fx.pixels).unwrap();
    for c in fx.cases {
        let out = resize_like_opencv(&src, c.width, c.height).unwrap();
        let diff = out.as_rgb().iter().zip(&c.pixels).filter(|(a, b)| a != b).count();
        assert_eq!(diff, 0, "{}×{}: {diff} values differ from OpenCV", c.width, c.height);
    }
}
