//! Video files and network streams through an `ffmpeg` subprocess.
//!
//! As mature camera software does it: `ffprobe` reads the stream's size and rate,
//! then `ffmpeg` decodes and writes raw RGB24 frames to a pipe that we read one
//! frame (`width · height · 3` bytes) at a time. Nothing is buffered beyond the
//! pipe, so a slow consumer slows ffmpeg down instead of filling memory.
//! [`VideoWriter`] is the reverse: raw frames into ffmpeg's stdin, encoded to a file.
//!
//! The tools are found on `PATH`, or at `DETECTIVE_FFMPEG` / `DETECTIVE_FFPROBE`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use detective_vision::{DecodeLimits, Frame};

use crate::EdgeError;

/// Environment variable naming the `ffmpeg` binary.
pub const FFMPEG_ENV: &str = "DETECTIVE_FFMPEG";
/// Environment variable naming the `ffprobe` binary.
pub const FFPROBE_ENV: &str = "DETECTIVE_FFPROBE";

/// File extensions treated as video.
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "avi", "mkv", "webm", "mpg", "mpeg", "ts", "wmv", "flv",
];

/// URL schemes handed to ffmpeg as network streams.
const STREAM_SCHEMES: &[&str] = &[
    "rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "srt://",
];

/// How much of ffmpeg's stderr is kept for error messages.
const STDERR_KEEP: usize = 4000;

/// Whether `source` names a video: a stream URL, a `file://` URI, or a path with a
/// video extension.
pub fn is_video_source(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    if STREAM_SCHEMES.iter().any(|s| lower.starts_with(s)) {
        return true;
    }
    let path = lower.strip_prefix("file://").unwrap_or(&lower);
    Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e))
}

fn is_stream(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    STREAM_SCHEMES.iter().any(|s| lower.starts_with(s))
}

fn tool_path(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn spawn(tool: &'static str, env: &'static str, cmd: &mut Command) -> Result<Child, EdgeError> {
    // Own process group: a Ctrl-C in the terminal reaches us, not ffmpeg, so that we
    // stop reading and still finish an output video cleanly.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(cmd, 0);
    cmd.spawn().map_err(|e| EdgeError::ToolMissing {
        tool,
        env,
        reason: e.to_string(),
    })
}

/// The input as ffmpeg wants it: a stream URL unchanged, a local file (with or
/// without `file://`) checked to exist.
fn input_of(source: &str) -> Result<String, EdgeError> {
    if source.trim().is_empty() {
        return Err(EdgeError::InvalidArgument("empty video source".into()));
    }
    if is_stream(source) {
        return Ok(source.to_string());
    }
    let path = source.strip_prefix("file://").unwrap_or(source);
    let p = Path::new(path);
    if !p.exists() {
        return Err(EdgeError::Source {
            source_name: source.to_string(),
            reason: "no such file".into(),
        });
    }
    if !p.is_file() {
        return Err(EdgeError::Source {
            source_name: source.to_string(),
            reason: "not a regular file".into(),
        });
    }
    // A leading '-' would read as an option; "file:" keeps names with ':' literal.
    Ok(format!("file:{path}"))
}

/// Size and rate of a video's first video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    /// Average frames per second, when the container says.
    pub fps: Option<f64>,
    /// Number of frames, when the container says.
    pub frames: Option<u64>,
}

/// `"30000/1001"` → 29.97; `"0/0"` → None.
fn parse_rate(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    let (n, d): (f64, f64) = (n.trim().parse().ok()?, d.trim().parse().ok()?);
    (n > 0.0 && d > 0.0).then_some(n / d)
}

/// Reads `ffprobe`'s `key=value` lines into a [`VideoInfo`].
fn parse_probe(text: &str) -> Option<VideoInfo> {
    let mut width = None;
    let mut height = None;
    let mut fps = None;
    let mut r_fps = None;
    let mut frames = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        match k.trim() {
            "width" => width = v.trim().parse().ok(),
            "height" => height = v.trim().parse().ok(),
            "avg_frame_rate" => fps = parse_rate(v),
            "r_frame_rate" => r_fps = parse_rate(v),
            "nb_frames" => frames = v.trim().parse().ok(),
            _ => {}
        }
    }
    Some(VideoInfo {
        width: width.filter(|w| *w > 0)?,
        height: height.filter(|h| *h > 0)?,
        fps: fps.or(r_fps),
        frames,
    })
}

/// Probes `source` (a path, `file://` URI or stream URL) with `ffprobe`.
pub fn probe(source: &str) -> Result<VideoInfo, EdgeError> {
    let input = input_of(source)?;
    let mut cmd = Command::new(tool_path(FFPROBE_ENV, "ffprobe"));
    cmd.args(["-v", "error"]);
    if source.to_ascii_lowercase().starts_with("rtsp") {
        cmd.args(["-rtsp_transport", "tcp"]);
    }
    cmd.args([
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames",
        "-of",
        "default=noprint_wrappers=1",
    ])
    .arg(&input)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let out = spawn("ffprobe", FFPROBE_ENV, &mut cmd)?
        .wait_with_output()
        .map_err(|e| EdgeError::Io {
            what: "ffprobe".into(),
            source: e,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        return Err(EdgeError::Tool {
            tool: "ffprobe",
            source_name: source.to_string(),
            message: if stderr.is_empty() {
                format!("exit status {}", out.status)
            } else {
                stderr
            },
        });
    }
    parse_probe(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| EdgeError::Source {
        source_name: source.to_string(),
        reason: "no video stream".into(),
    })
}

/// Collects the tail of a child's stderr on a thread, so the pipe never fills.
#[derive(Clone, Default)]
struct StderrTail(Arc<Mutex<String>>);

impl StderrTail {
    fn watch(&self, mut stderr: impl Read + Send + 'static) {
        let tail = self.0.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut t) = tail.lock() {
                    t.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if t.len() > STDERR_KEEP {
                        let mut cut = t.len() - STDERR_KEEP;
                        while !t.is_char_boundary(cut) {
                            cut += 1;
                        }
                        t.drain(..cut);
                    }
                }
            }
        });
    }

    fn text(&self) -> String {
        self.0.lock().map(|t| t.trim().to_string()).unwrap_or_default()
    }
}

/// Decoded frames of a video file or stream, in order.
///
/// Iterating yields `Ok(frame)` per frame, then `None` at the end of the video; an
/// ffmpeg failure (corrupt file, dropped stream) is reported once as `Err` with
/// ffmpeg's own message. Dropping the reader stops ffmpeg.
pub struct VideoReader {
    source: String,
    info: VideoInfo,
    child: Child,
    stdout: ChildStdout,
    stderr: StderrTail,
    frame_bytes: usize,
    index: u64,
    done: bool,
}

impl VideoReader {
    /// Starts decoding `source`; fails early (before any frame) when the source
    /// does not exist, is not a video, or its frames exceed `limits.max_pixels`.
    pub fn open(source: &str, limits: &DecodeLimits) -> Result<Self, EdgeError> {
        let info = probe(source)?;
        let pixels = info.width as u64 * info.height as u64;
        if pixels > limits.max_pixels {
            return Err(EdgeError::TooLarge {
                source_name: source.to_string(),
                width: info.width,
                height: info.height,
                max_pixels: limits.max_pixels,
            });
        }
        let input = input_of(source)?;
        let mut cmd = Command::new(tool_path(FFMPEG_ENV, "ffmpeg"));
        cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-noautorotate"]);
        if source.to_ascii_lowercase().starts_with("rtsp") {
            cmd.args(["-rtsp_transport", "tcp"]);
        }
        cmd.arg("-i")
            .arg(&input)
            .args([
                "-map",
                "0:v:0",
                "-fps_mode",
                "passthrough",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "pipe:1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn("ffmpeg", FFMPEG_ENV, &mut cmd)?;
        let stderr = StderrTail::default();
        if let Some(e) = child.stderr.take() {
            stderr.watch(e);
        }
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(EdgeError::InvalidArgument(
                "ffmpeg started without a stdout pipe".into(),
            ));
        };
        Ok(VideoReader {
            source: source.to_string(),
            frame_bytes: pixels as usize * 3,
            info,
            child,
            stdout,
            stderr,
            index: 0,
            done: false,
        })
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// Frames read so far.
    pub fn frames_read(&self) -> u64 {
        self.index
    }

    /// Reads one frame's bytes; `Ok(None)` at a clean end of stream.
    fn read_frame(&mut self) -> Result<Option<Vec<u8>>, EdgeError> {
        let mut buf = vec![0u8; self.frame_bytes];
        let mut filled = 0;
        while filled < buf.len() {
            match self.stdout.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(EdgeError::Io {
                        what: format!("ffmpeg output of {}", self.source),
                        source: e,
                    });
                }
            }
        }
        if filled == buf.len() {
            return Ok(Some(buf));
        }
        // End of output: ffmpeg's exit status says whether it was the end of the video.
        let status = self.child.wait().map_err(|e| EdgeError::Io {
            what: "ffmpeg".into(),
            source: e,
        })?;
        // Let the stderr thread catch the last lines.
        std::thread::sleep(std::time::Duration::from_millis(20));
        if !status.success() {
            let msg = self.stderr.text();
            return Err(EdgeError::Tool {
                tool: "ffmpeg",
                source_name: self.source.clone(),
                message: if msg.is_empty() {
                    format!("exit status {status}")
                } else {
                    msg
                },
            });
        }
        if filled > 0 {
            return Err(EdgeError::Tool {
                tool: "ffmpeg",
                source_name: self.source.clone(),
                message: format!("truncated frame ({filled} of {} bytes)", self.frame_bytes),
            });
        }
        Ok(None)
    }
}

impl Iterator for VideoReader {
    type Item = Result<Frame, EdgeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read_frame() {
            Ok(Some(bytes)) => {
                self.index += 1;
                Some(Frame::from_rgb(self.info.width, self.info.height, bytes).map_err(EdgeError::from))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Drop for VideoReader {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Encodes RGB frames into a video file with ffmpeg: H.264 (`yuv420p`, playable
/// everywhere) for every extension but `.mkv`, which gets lossless FFV1.
pub struct VideoWriter {
    path: PathBuf,
    width: u32,
    height: u32,
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: StderrTail,
    frames: u64,
}

impl VideoWriter {
    /// Starts ffmpeg writing `path` (overwritten) for `width`×`height` frames at `fps`.
    pub fn create(path: &Path, width: u32, height: u32, fps: f64) -> Result<Self, EdgeError> {
        if width == 0 || height == 0 {
            return Err(EdgeError::InvalidArgument("video size must be positive".into()));
        }
        if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
            return Err(EdgeError::InvalidArgument(format!(
                "frame rate {fps} outside (0, 1000]"
            )));
        }
        let lossless = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("mkv"));
        let mut cmd = Command::new(tool_path(FFMPEG_ENV, "ffmpeg"));
        cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24"])
            .args(["-s", &format!("{width}x{height}"), "-r", &format!("{fps}")])
            .args(["-i", "pipe:0"]);
        if lossless {
            cmd.args(["-c:v", "ffv1"]);
        } else {
            // yuv420p needs even sizes: pad by one pixel when odd.
            cmd.args([
                "-vf",
                "pad=ceil(iw/2)*2:ceil(ih/2)*2",
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                "-crf",
                "20",
            ]);
        }
        cmd.arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = spawn("ffmpeg", FFMPEG_ENV, &mut cmd)?;
        let stderr = StderrTail::default();
        if let Some(e) = child.stderr.take() {
            stderr.watch(e);
        }
        let stdin = child.stdin.take();
        Ok(VideoWriter {
            path: path.to_path_buf(),
            width,
            height,
            child,
            stdin,
            stderr,
            frames: 0,
        })
    }

    fn failure(&mut self) -> EdgeError {
        let _ = self.child.wait();
        std::thread::sleep(std::time::Duration::from_millis(20));
        EdgeError::Tool {
            tool: "ffmpeg",
            source_name: self.path.display().to_string(),
            message: self.stderr.text(),
        }
    }

    /// Appends one frame; it must have the size given to [`VideoWriter::create`].
    pub fn write(&mut self, frame: &Frame) -> Result<(), EdgeError> {
        if frame.width() != self.width || frame.height() != self.height {
            return Err(EdgeError::InvalidArgument(format!(
                "frame {}×{} in a {}×{} video",
                frame.width(),
                frame.height(),
                self.width,
                self.height
            )));
        }
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(EdgeError::InvalidArgument("video already finished".into()));
        };
        if stdin.write_all(frame.as_rgb()).is_err() {
            self.stdin = None;
            return Err(self.failure());
        }
        self.frames += 1;
        Ok(())
    }

    /// Closes the input and waits for ffmpeg to finish the file; returns the
    /// number of frames written.
    pub fn finish(mut self) -> Result<u64, EdgeError> {
        self.stdin = None;
        let status = self.child.wait().map_err(|e| EdgeError::Io {
            what: "ffmpeg".into(),
            source: e,
        })?;
        if !status.success() {
            return Err(self.failure());
        }
        Ok(self.frames)
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        // Closing stdin lets ffmpeg finish the file even when `finish` was not called.
        self.stdin = None;
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_video_sources() {
        for s in [
            "clip.mp4",
            "dir/CLIP.MKV",
            "file:///data/line1.avi",
            "rtsp://cam.local/stream",
            "http://x/y",
        ] {
            assert!(is_video_source(s), "{s}");
        }
        for s in ["part.jpg", "folder", "parts/*.png", "mp4"] {
            assert!(!is_video_source(s), "{s}");
        }
    }

    #[test]
    fn parses_ffprobe_output() {
        let info = parse_probe("width=640\nheight=480\nr_frame_rate=30/1\navg_frame_rate=30000/1001\nnb_frames=N/A\n")
            .unwrap();
        assert_eq!((info.width, info.height, info.frames), (640, 480, None));
        assert!((info.fps.unwrap() - 29.97).abs() < 0.01);
        let info = parse_probe("width=64\nheight=48\navg_frame_rate=0/0\nr_frame_rate=10/1\nnb_frames=12").unwrap();
        assert_eq!((info.fps, info.frames), (Some(10.0), Some(12)));
        assert!(parse_probe("height=48\n").is_none());
        assert!(parse_probe("width=0\nheight=48\n").is_none());
    }

    #[test]
    fn missing_files_are_reported_before_ffmpeg_runs() {
        let err = VideoReader::open("/no/such/clip.mp4", &DecodeLimits::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("no such file"), "{err}");
        assert!(matches!(input_of(""), Err(EdgeError::InvalidArgument(_))));
        assert_eq!(input_of("rtsp://h/s").unwrap(), "rtsp://h/s");
    }
}
