//! A V4L2 camera as a frame source, through the `v4l` crate (cargo feature `v4l2`).
//!
//! Opening queries the capabilities (video capture with streaming I/O), lists the
//! formats and frame sizes, lets [`negotiate`] choose, sets format and frame rate,
//! and streams through four memory-mapped buffers. A camera that stops delivering
//! (unplugged, driver error, 5 s without a frame) is reopened with the agent's
//! reconnect backoff; a camera that is missing when the agent starts is an error.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use detective_vision::{DecodeLimits, Frame};
use v4l::buffer::Type;
use v4l::capability::Flags;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::video::capture::Parameters;
use v4l::{Device, Format, FourCC};

use crate::EdgeError;
use crate::frame_source::{Backoff, FrameSource};
use crate::v4l2::{FormatOffer, Negotiated, SizeOffer, V4l2Request, buffer_to_frame, negotiate};

/// How long a read waits for a frame before the camera counts as gone.
const FRAME_TIMEOUT: Duration = Duration::from_secs(5);

/// An open, streaming camera.
struct Camera {
    stream: Stream<'static>,
    negotiated: Negotiated,
    bytes_per_line: u32,
    // Kept open for as long as the stream runs.
    _device: Device,
}

fn failed(req: &V4l2Request, what: &str, e: std::io::Error) -> EdgeError {
    EdgeError::Source {
        source_name: req.device.display().to_string(),
        reason: format!("{what}: {e}"),
    }
}

/// The formats and sizes the device offers.
fn offers(dev: &Device, req: &V4l2Request) -> Result<Vec<FormatOffer>, EdgeError> {
    let formats = dev.enum_formats().map_err(|e| failed(req, "listing formats", e))?;
    let mut out = Vec::with_capacity(formats.len());
    for f in formats {
        // A driver that cannot enumerate sizes still takes S_FMT: offer the request itself.
        let sizes = match dev.enum_framesizes(f.fourcc) {
            Ok(sizes) if !sizes.is_empty() => sizes
                .into_iter()
                .map(|s| match s.size {
                    FrameSizeEnum::Discrete(d) => SizeOffer::Discrete {
                        width: d.width,
                        height: d.height,
                    },
                    FrameSizeEnum::Stepwise(s) => SizeOffer::Stepwise {
                        min_width: s.min_width,
                        max_width: s.max_width,
                        step_width: s.step_width,
                        min_height: s.min_height,
                        max_height: s.max_height,
                        step_height: s.step_height,
                    },
                })
                .collect(),
            _ => vec![SizeOffer::Discrete {
                width: req.width,
                height: req.height,
            }],
        };
        out.push(FormatOffer {
            fourcc: f.fourcc.repr,
            sizes,
        });
    }
    Ok(out)
}

impl Camera {
    fn open(req: &V4l2Request) -> Result<Self, EdgeError> {
        let name = req.device.display().to_string();
        let dev = Device::with_path(&req.device).map_err(|e| failed(req, "cannot open the camera", e))?;
        let caps = dev.query_caps().map_err(|e| failed(req, "not a V4L2 device", e))?;
        if !caps.capabilities.contains(Flags::VIDEO_CAPTURE) || !caps.capabilities.contains(Flags::STREAMING) {
            return Err(EdgeError::Source {
                source_name: name,
                reason: format!(
                    "{} ({}) is not a streaming video-capture device",
                    caps.card, caps.driver
                ),
            });
        }
        let negotiated = negotiate(&offers(&dev, req)?, req).map_err(|reason| EdgeError::Source {
            source_name: name.clone(),
            reason,
        })?;
        let wanted = Format::new(
            negotiated.width,
            negotiated.height,
            FourCC::new(&negotiated.format.fourcc()),
        );
        let set = dev
            .set_format(&wanted)
            .map_err(|e| failed(req, "setting the format", e))?;
        // The driver has the last word; decode what it actually delivers.
        let negotiated = Negotiated {
            format: crate::v4l2::PixelFormat::from_fourcc(set.fourcc.repr).ok_or_else(|| EdgeError::Source {
                source_name: name.clone(),
                reason: format!("the driver switched to {} which we cannot decode", set.fourcc),
            })?,
            width: set.width,
            height: set.height,
        };
        let params = dev
            .set_params(&Parameters::with_fps(req.fps))
            .map_err(|e| failed(req, "setting the frame rate", e))?;
        tracing::info!(
            "camera {name}: {} ({}), {}×{} {}, {}",
            caps.card,
            caps.driver,
            negotiated.width,
            negotiated.height,
            set.fourcc,
            params.interval
        );
        let mut stream =
            Stream::with_buffers(&dev, Type::VideoCapture, 4).map_err(|e| failed(req, "mapping buffers", e))?;
        stream.set_timeout(FRAME_TIMEOUT);
        Ok(Camera {
            stream,
            negotiated,
            bytes_per_line: set.stride,
            _device: dev,
        })
    }

    fn read(&mut self, limits: &DecodeLimits) -> Result<Frame, EdgeError> {
        let (buf, meta) = self.stream.next().map_err(|e| EdgeError::Source {
            source_name: "camera".into(),
            reason: format!("reading a frame: {e}"),
        })?;
        let used = (meta.bytesused as usize).min(buf.len());
        let used = if used == 0 { buf.len() } else { used };
        buffer_to_frame(&self.negotiated, self.bytes_per_line, &buf[..used], limits)
    }
}

/// A V4L2 camera, reopened with backoff when it stops delivering.
pub struct V4l2Source {
    req: V4l2Request,
    uri: String,
    limits: DecodeLimits,
    camera: Option<Camera>,
    backoff: Backoff,
}

impl V4l2Source {
    /// Opens the camera now, so a missing device or an unusable format is reported at start.
    pub fn open(uri: &str, limits: &DecodeLimits, stop: Arc<AtomicBool>) -> Result<Self, EdgeError> {
        let req = V4l2Request::parse(uri)?;
        let camera = Camera::open(&req)?;
        Ok(V4l2Source {
            req,
            uri: uri.to_string(),
            limits: *limits,
            camera: Some(camera),
            backoff: Backoff::new(stop),
        })
    }
}

impl FrameSource for V4l2Source {
    fn next_frame(&mut self) -> Result<Option<Frame>, EdgeError> {
        loop {
            if self.backoff.stopped() {
                return Ok(None);
            }
            let what = format!("camera {}", self.uri);
            let Some(camera) = self.camera.as_mut() else {
                match Camera::open(&self.req) {
                    Ok(c) => {
                        tracing::info!("camera {} is back", self.uri);
                        self.camera = Some(c);
                    }
                    Err(e) => {
                        tracing::warn!("{what}: {e}");
                        if !self.backoff.wait(&what) {
                            return Ok(None);
                        }
                    }
                }
                continue;
            };
            match camera.read(&self.limits) {
                Ok(frame) => {
                    self.backoff.succeeded();
                    return Ok(Some(frame));
                }
                // A corrupt MJPEG frame happens on a flaky cable: skip it, keep streaming.
                Err(EdgeError::Vision(e)) => tracing::warn!("{what}: skipped a frame: {e}"),
                Err(e) => {
                    tracing::warn!("{what}: {e}");
                    self.camera = None;
                    if !self.backoff.wait(&what) {
                        return Ok(None);
                    }
                }
            }
        }
    }

    fn describe(&self) -> String {
        match &self.camera {
            Some(c) => format!(
                "camera {} ({}×{} {:?})",
                self.req.device.display(),
                c.negotiated.width,
                c.negotiated.height,
                c.negotiated.format
            ),
            None => format!("camera {} (reconnecting)", self.req.device.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_camera_is_a_clear_error_at_start() {
        let stop = Arc::new(AtomicBool::new(false));
        let err = V4l2Source::open("v4l2:///dev/video-missing-42", &DecodeLimits::default(), stop)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("/dev/video-missing-42") && err.contains("cannot open the camera"),
            "{err}"
        );
    }

    #[test]
    fn a_node_that_is_not_a_camera_is_refused() {
        let stop = Arc::new(AtomicBool::new(false));
        let err = V4l2Source::open("v4l2:///dev/null", &DecodeLimits::default(), stop)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("/dev/null") && err.contains("not a V4L2 device"), "{err}");
    }
}
