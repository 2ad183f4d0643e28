//! Times the two ways to turn a frame into a model input: letterbox into a padded
//! frame then convert to CHW floats (two passes, two intermediate buffers), and the
//! fused [`letterbox_chw_into`] the inference path uses.
//!
//! `cargo run --release -p detective-vision --example letterbox_bench`

use std::time::Instant;

use detective_vision::Frame;
use detective_vision::preprocess::{Letterbox, LetterboxShape, Normalize, letterbox_chw_into, to_chw};

fn median_ms(mut f: impl FnMut(), runs: usize) -> f64 {
    for _ in 0..5 {
        f();
    }
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let norm = Normalize::default();
    for (w, h, size) in [
        (200, 200, 320),
        (200, 200, 640),
        (640, 480, 320),
        (640, 480, 640),
        (1280, 720, 640),
        (1920, 1080, 640),
    ] {
        let data: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        let frame = Frame::from_rgb(w, h, data)?;
        let lb = Letterbox::plan(w, h, LetterboxShape::Square(size))?;
        let two_pass = median_ms(
            || {
                let input = to_chw(&lb.apply(&frame).expect("planned for this frame"), &norm);
                std::hint::black_box(input);
            },
            200,
        );
        let fused = median_ms(
            || {
                let mut input = Vec::new();
                letterbox_chw_into(&lb, &frame, &norm, &mut input).expect("planned for this frame");
                std::hint::black_box(input);
            },
            200,
        );
        println!("{w}×{h} → {size}: letterbox then CHW {two_pass:.2} ms, fused {fused:.2} ms");
    }
    Ok(())
}
