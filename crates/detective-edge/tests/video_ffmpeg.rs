//! Video files through the real ffmpeg (installed by `scripts/setup-test-deps.sh`):
//! encode frames, decode them back, and the errors a user meets.

use detective_edge::video::probe;
use detective_edge::{EdgeError, VideoReader, VideoWriter, is_video_source};
use detective_vision::{DecodeLimits, Frame};

/// A frame whose every pixel depends on its position and on `i`.
fn pattern(w: u32, h: u32, i: u32) -> Frame {
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&[(x * 4 + i * 30) as u8, (y * 4) as u8, (i * 40) as u8]);
        }
    }
    Frame::from_rgb(w, h, data).unwrap()
}

fn write(path: &std::path::Path, frames: &[Frame], fps: f64) {
    let f0 = &frames[0];
    let mut w = VideoWriter::create(path, f0.width(), f0.height(), fps).unwrap();
    for f in frames {
        w.write(f).unwrap();
    }
    assert_eq!(w.finish().unwrap(), frames.len() as u64);
}

#[test]
fn lossless_video_round_trips_every_frame_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mkv");
    let frames: Vec<Frame> = (0..6).map(|i| pattern(40, 24, i)).collect();
    write(&path, &frames, 10.0);

    let src = path.to_str().unwrap();
    assert!(is_video_source(src));
    let info = probe(src).unwrap();
    assert_eq!((info.width, info.height), (40, 24));
    assert_eq!(info.fps, Some(10.0));

    let got: Vec<Frame> = VideoReader::open(src, &DecodeLimits::default())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got.len(), 6);
    for (i, (a, b)) in got.iter().zip(&frames).enumerate() {
        assert_eq!(a.as_rgb(), b.as_rgb(), "frame {i} differs");
    }

    // The same file as a file:// URI.
    let uri = format!("file://{src}");
    assert_eq!(VideoReader::open(&uri, &DecodeLimits::default()).unwrap().count(), 6);
}

#[test]
fn h264_video_keeps_frame_count_and_colours_and_pads_odd_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    // Flat colours survive lossy coding within a few levels.
    let colours = [
        [200u8, 30, 30],
        [30, 200, 30],
        [30, 30, 200],
        [128, 128, 128],
        [250, 250, 250],
    ];
    let frames: Vec<Frame> = colours.iter().map(|c| Frame::filled(63, 47, *c).unwrap()).collect();
    write(&path, &frames, 25.0);

    let mut reader = VideoReader::open(path.to_str().unwrap(), &DecodeLimits::default()).unwrap();
    assert_eq!((reader.info().width, reader.info().height), (64, 48), "padded to even");
    let got: Vec<Frame> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(got.len(), colours.len());
    assert_eq!(reader.frames_read(), colours.len() as u64);
    for (f, c) in got.iter().zip(&colours) {
        let centre = f.pixel(30, 20);
        for k in 0..3 {
            assert!(
                (centre[k] as i32 - c[k] as i32).abs() <= 8,
                "colour {c:?} decoded as {centre:?}"
            );
        }
    }
}

#[test]
fn a_file_that_is_not_a_video_gives_ffmpegs_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.mp4");
    std::fs::write(&path, b"this is not a video at all").unwrap();
    let err = VideoReader::open(path.to_str().unwrap(), &DecodeLimits::default())
        .err()
        .unwrap();
    assert!(matches!(err, EdgeError::Tool { tool: "ffprobe", .. }), "{err}");
    assert!(err.to_string().contains("broken.mp4"), "{err}");
}

#[test]
fn frames_larger_than_the_limit_are_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.mkv");
    write(&path, &[pattern(40, 24, 0)], 5.0);
    let limits = DecodeLimits {
        max_pixels: 500,
        ..DecodeLimits::default()
    };
    let err = VideoReader::open(path.to_str().unwrap(), &limits).err().unwrap();
    assert!(
        matches!(
            err,
            EdgeError::TooLarge {
                width: 40,
                height: 24,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn writer_refuses_frames_of_another_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = VideoWriter::create(&dir.path().join("x.mkv"), 8, 8, 5.0).unwrap();
    assert!(matches!(
        w.write(&Frame::filled(9, 8, [0, 0, 0]).unwrap()),
        Err(EdgeError::InvalidArgument(_))
    ));
    w.write(&Frame::filled(8, 8, [0, 0, 0]).unwrap()).unwrap();
    assert_eq!(w.finish().unwrap(), 1);
    assert!(VideoWriter::create(&dir.path().join("y.mkv"), 8, 8, 0.0).is_err());
}

#[test]
fn dropping_a_reader_early_stops_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.mkv");
    let frames: Vec<Frame> = (0..40).map(|i| pattern(64, 64, i)).collect();
    write(&path, &frames, 30.0);
    let mut r = VideoReader::open(path.to_str().unwrap(), &DecodeLimits::default()).unwrap();
    assert!(r.next().unwrap().is_ok());
    drop(r); // must not hang on a full pipe
}
