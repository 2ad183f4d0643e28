//! Where the agent's frames come from, chosen by `--source URI`:
//!
//! - `synthetic://?fps=30&defect_rate=0.2&seed=1[&count=N][&width=640&height=480][&gain=1.0]` —
//!   parts from the synthetic generator, no camera needed (`gain` scales the
//!   lighting: 1.6 is 60 % brighter, 0.5 half as bright);
//! - `dir://PATH[?fps=10&loop=1]` — the images of a folder in name order;
//! - `file://PATH` and `rtsp://…` (or `http(s)://…`) — decoded by an ffmpeg subprocess;
//! - `v4l2:///dev/videoN[?width=640&height=480&fps=30&format=auto|mjpeg|yuyv]` — a
//!   V4L2 camera (see [`crate::v4l2`]; the device code needs the `v4l2` cargo feature).
//!
//! A source paces itself to its `fps` (sleeping, never spinning) and ends with
//! `Ok(None)` (a finite file or folder, or `count` reached). A network stream that
//! cannot be opened or breaks off is reopened with backoff (1 s doubling to 30 s,
//! sleeping in short steps so a stop is seen at once) instead of ending.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use detective_vision::synth::{SynthConfig, generate};
use detective_vision::{DecodeLimits, Frame};

use crate::frame_source::{Backoff, bad};
use crate::{EdgeError, VideoReader};

use crate::frame_source::FrameSource;

fn query(uri: &str) -> (&str, HashMap<String, String>) {
    let (base, q) = uri.split_once('?').unwrap_or((uri, ""));
    let params = q
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    (base, params)
}

fn num<T: std::str::FromStr>(
    uri: &str,
    params: &HashMap<String, String>,
    key: &str,
    default: T,
) -> Result<T, EdgeError> {
    match params.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| bad(uri, format!("{key}={v} is not a valid number"))),
    }
}

/// Sleeps until the next frame is due at `fps` (0: as fast as possible).
struct Pacer {
    period: Option<Duration>,
    next: Instant,
}

impl Pacer {
    fn new(fps: f64) -> Pacer {
        Pacer {
            period: (fps > 0.0).then(|| Duration::from_secs_f64(1.0 / fps)),
            next: Instant::now(),
        }
    }

    fn wait(&mut self) {
        if let Some(p) = self.period {
            let now = Instant::now();
            if self.next > now {
                std::thread::sleep(self.next - now);
            }
            // Never try to catch up more than one period after a stall.
            self.next = self.next.max(now) + p;
        }
    }
}

/// Parts from the synthetic generator.
pub struct SyntheticSource {
    config: SynthConfig,
    seed: u64,
    index: u64,
    count: Option<u64>,
    pacer: Pacer,
    fps: f64,
    /// Lighting gain applied to every pixel (1: as generated).
    gain: f32,
}

impl FrameSource for SyntheticSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, EdgeError> {
        if self.count.is_some_and(|c| self.index >= c) {
            return Ok(None);
        }
        self.pacer.wait();
        let mut s = generate(&self.config, self.seed, self.index)?;
        self.index += 1;
        if self.gain != 1.0 {
            let g = self.gain;
            for v in s.image.as_rgb_mut() {
                *v = (*v as f32 * g).round().clamp(0.0, 255.0) as u8;
            }
        }
        Ok(Some(s.image))
    }

    fn describe(&self) -> String {
        format!(
            "synthetic {}×{} at {} fps (defect rate {}, seed {}, lighting gain {})",
            self.config.width, self.config.height, self.fps, self.config.defect_rate, self.seed, self.gain
        )
    }
}

/// The images of a folder, in name order.
pub struct DirSource {
    files: Vec<PathBuf>,
    pos: usize,
    looping: bool,
    limits: DecodeLimits,
    pacer: Pacer,
    dir: String,
}

impl FrameSource for DirSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, EdgeError> {
        loop {
            if self.pos >= self.files.len() {
                if !self.looping {
                    return Ok(None);
                }
                self.pos = 0;
            }
            let path = &self.files[self.pos];
            self.pos += 1;
            self.pacer.wait();
            match detective_vision::decode_file(path, &self.limits) {
                Ok(f) => return Ok(Some(f)),
                // One unreadable file does not stop the line.
                Err(e) => tracing::warn!("{}: skipped: {e}", path.display()),
            }
        }
    }

    fn describe(&self) -> String {
        format!("{} images from {}", self.files.len(), self.dir)
    }
}

/// A video file or stream through ffmpeg.
pub struct VideoSource {
    reader: VideoReader,
    uri: String,
}

impl FrameSource for VideoSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, EdgeError> {
        self.reader.next().transpose()
    }

    fn describe(&self) -> String {
        let i = self.reader.info();
        format!("{} ({}×{})", self.uri, i.width, i.height)
    }
}

/// A network stream (RTSP, HTTP) that is reopened when it fails or ends.
pub struct StreamSource {
    uri: String,
    limits: DecodeLimits,
    reader: Option<VideoReader>,
    backoff: Backoff,
}

impl FrameSource for StreamSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, EdgeError> {
        loop {
            if self.backoff.stopped() {
                return Ok(None);
            }
            let what = format!("stream {}", self.uri);
            if self.reader.is_none() {
                match VideoReader::open(&self.uri, &self.limits) {
                    Ok(r) => {
                        if self.backoff.failures() > 0 {
                            tracing::info!("stream {} is back", self.uri);
                        }
                        self.reader = Some(r);
                    }
                    Err(e) => {
                        tracing::warn!("{what}: {e}");
                        if !self.backoff.wait(&what) {
                            return Ok(None);
                        }
                        continue;
                    }
                }
            }
            match self.reader.as_mut().and_then(|r| r.next()) {
                Some(Ok(f)) => {
                    self.backoff.succeeded();
                    return Ok(Some(f));
                }
                Some(Err(e)) => tracing::warn!("stream {} broke off: {e}", self.uri),
                None => tracing::warn!("stream {} ended", self.uri),
            }
            self.reader = None;
            if !self.backoff.wait(&what) {
                return Ok(None);
            }
        }
    }

    fn describe(&self) -> String {
        format!("stream {} (reconnecting)", self.uri)
    }
}

/// Opens `uri` (see the module doc); `stop` ends a stream's reconnect waits.
pub fn open_source(uri: &str, limits: &DecodeLimits, stop: Arc<AtomicBool>) -> Result<Box<dyn FrameSource>, EdgeError> {
    if let Some(rest) = uri.strip_prefix("synthetic://") {
        let (_, p) = query(rest);
        let fps: f64 = num(uri, &p, "fps", 30.0)?;
        let defect_rate: f32 = num(uri, &p, "defect_rate", 0.2)?;
        let config = SynthConfig {
            width: num(uri, &p, "width", 640)?,
            height: num(uri, &p, "height", 480)?,
            defect_rate,
            ..SynthConfig::default()
        };
        config.validate()?;
        if !(fps.is_finite() && (0.0..=1000.0).contains(&fps)) {
            return Err(bad(uri, "fps must be within 0..1000 (0: as fast as possible)"));
        }
        let count = p.get("count").map(|_| num(uri, &p, "count", 0u64)).transpose()?;
        let gain: f32 = num(uri, &p, "gain", 1.0)?;
        if !(gain.is_finite() && (0.1..=4.0).contains(&gain)) {
            return Err(bad(uri, "gain must be within 0.1..4"));
        }
        return Ok(Box::new(SyntheticSource {
            config,
            seed: num(uri, &p, "seed", 1)?,
            index: 0,
            count,
            pacer: Pacer::new(fps),
            fps,
            gain,
        }));
    }
    if let Some(rest) = uri.strip_prefix("dir://") {
        let (path, p) = query(rest);
        let fps: f64 = num(uri, &p, "fps", 10.0)?;
        let looping = matches!(p.get("loop").map(String::as_str), Some("1" | "true"));
        let rd = std::fs::read_dir(path).map_err(|e| bad(uri, format!("cannot read the folder: {e}")))?;
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|e| {
                    matches!(
                        e.to_string_lossy().to_ascii_lowercase().as_str(),
                        "jpg" | "jpeg" | "png" | "bmp" | "tif" | "tiff" | "webp"
                    )
                })
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(bad(uri, "the folder has no images"));
        }
        return Ok(Box::new(DirSource {
            files,
            pos: 0,
            looping,
            limits: *limits,
            pacer: Pacer::new(fps),
            dir: path.to_string(),
        }));
    }
    if uri.starts_with("rtsp://") || uri.starts_with("http://") || uri.starts_with("https://") {
        return Ok(Box::new(StreamSource {
            uri: uri.to_string(),
            limits: *limits,
            reader: None,
            backoff: Backoff::new(stop),
        }));
    }
    if let Some(video) = uri.strip_prefix("file://") {
        let reader = VideoReader::open(video, limits)?;
        return Ok(Box::new(VideoSource {
            reader,
            uri: uri.to_string(),
        }));
    }
    if uri.starts_with("v4l2://") {
        return open_v4l2(uri, limits, stop);
    }
    Err(bad(
        uri,
        "unknown source: expected synthetic://…, dir://PATH, file://PATH, rtsp://… or v4l2:///dev/videoN",
    ))
}

#[cfg(feature = "v4l2")]
fn open_v4l2(uri: &str, limits: &DecodeLimits, stop: Arc<AtomicBool>) -> Result<Box<dyn FrameSource>, EdgeError> {
    Ok(Box::new(crate::v4l2_device::V4l2Source::open(uri, limits, stop)?))
}

#[cfg(not(feature = "v4l2"))]
fn open_v4l2(uri: &str, _: &DecodeLimits, _: Arc<AtomicBool>) -> Result<Box<dyn FrameSource>, EdgeError> {
    Err(without_v4l2(uri))
}

/// What a build without the `v4l2` feature answers a camera URI: the URI is still
/// checked, then refused with the way out. (Compiled in every build, so the one
/// test run checks it.)
#[cfg_attr(feature = "v4l2", allow(dead_code))]
fn without_v4l2(uri: &str) -> EdgeError {
    match crate::v4l2::V4l2Request::parse(uri) {
        Err(e) => e,
        Ok(_) => bad(
            uri,
            "this build has no V4L2 camera support: rebuild with `cargo build --release --features v4l2` \
             (needs Debian's libclang-dev)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    fn no_stop() -> Arc<AtomicBool> {
        Arc::new(AtomicBool::new(false))
    }

    #[test]
    fn an_unreachable_stream_keeps_retrying_until_stopped() {
        let stop = no_stop();
        let mut s = open_source("rtsp://127.0.0.1:9/none", &DecodeLimits::default(), stop.clone()).unwrap();
        let stopper = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(1500));
                stop.store(true, Ordering::SeqCst);
            })
        };
        // Ends only because of the stop, without an error.
        assert!(s.next_frame().unwrap().is_none());
        stopper.join().unwrap();
        assert!(stop.load(Ordering::SeqCst));
    }

    #[test]
    fn synthetic_source_ends_after_count_frames_of_the_asked_size() {
        let mut s = open_source(
            "synthetic://?fps=0&count=3&width=96&height=64&seed=2",
            &DecodeLimits::default(),
            no_stop(),
        )
        .unwrap();
        let mut n = 0;
        while let Some(f) = s.next_frame().unwrap() {
            assert_eq!((f.width(), f.height()), (96, 64));
            n += 1;
        }
        assert_eq!(n, 3);
    }

    #[test]
    fn bad_uris_are_refused_with_the_reason() {
        for uri in [
            "synthetic://?fps=abc",
            "synthetic://?fps=5000",
            "synthetic://?gain=9",
            "dir:///no/such/folder",
            "ftp://x",
            "synthetic://?width=5",
            "v4l2:///etc/passwd",
            "v4l2:///dev/video0?format=h264",
        ] {
            assert!(open_source(uri, &DecodeLimits::default(), no_stop()).is_err(), "{uri}");
        }
    }

    #[test]
    fn a_camera_without_the_v4l2_feature_names_the_way_out() {
        let err = without_v4l2("v4l2:///dev/video0").to_string();
        assert!(err.contains("--features v4l2"), "{err}");
        // a bad camera URI is refused for what is wrong with it, as with the feature
        let err = without_v4l2("v4l2:///etc/passwd").to_string();
        assert!(!err.contains("--features v4l2"), "{err}");
        #[cfg(not(feature = "v4l2"))]
        {
            let err = open_source("v4l2:///dev/video0", &DecodeLimits::default(), no_stop())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("--features v4l2"), "{err}");
        }
    }

    #[cfg(feature = "v4l2")]
    #[test]
    fn a_missing_camera_is_an_error_from_open_source() {
        let err = open_source("v4l2:///dev/video-missing-7", &DecodeLimits::default(), no_stop())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("/dev/video-missing-7"), "{err}");
    }

    #[test]
    fn pacing_holds_the_frame_rate() {
        let mut s = open_source(
            "synthetic://?fps=50&count=6&width=64&height=64",
            &DecodeLimits::default(),
            no_stop(),
        )
        .unwrap();
        let t = Instant::now();
        while s.next_frame().unwrap().is_some() {}
        // 6 frames at 50 fps: the first at once, then 5 periods of 20 ms.
        assert!(t.elapsed() >= Duration::from_millis(95), "{:?}", t.elapsed());
    }
}
