//! V4L2 cameras (`v4l2:///dev/video0?width=640&height=480&fps=30&format=auto|mjpeg|yuyv`):
//! the parts that need no device — parsing the URI, choosing a pixel format and a
//! frame size among what the camera offers, and turning its buffers into frames.
//!
//! The device itself (ioctls through the `v4l` crate) is in `v4l2_device`, compiled
//! with the `v4l2` cargo feature; these parts are always compiled and unit-tested.
//!
//! Negotiation: among the formats we can decode (MJPEG and YUYV 4:2:2), pick the frame
//! size that is the requested one, or else the smallest one that covers it (the agent
//! scales down to 640×480 anyway), or else the largest one there is. With
//! `format=auto` a size match counts first and MJPEG wins a tie (a USB 2 camera sends
//! far fewer bytes per frame in MJPEG, so it keeps its frame rate at larger sizes).

use std::path::PathBuf;

use detective_vision::{DecodeLimits, Frame, decode_image};

use crate::EdgeError;
use crate::frame_source::bad;

/// The pixel formats the agent decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Motion JPEG: one JPEG per buffer.
    Mjpeg,
    /// Packed YUV 4:2:2, `Y0 U Y1 V` per two pixels.
    Yuyv,
}

impl PixelFormat {
    /// The V4L2 four-character code.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Mjpeg => *b"MJPG",
            PixelFormat::Yuyv => *b"YUYV",
        }
    }

    /// The format of a four-character code, if we decode it.
    pub fn from_fourcc(code: [u8; 4]) -> Option<Self> {
        match &code {
            b"MJPG" | b"JPEG" => Some(PixelFormat::Mjpeg),
            b"YUYV" | b"YUY2" => Some(PixelFormat::Yuyv),
            _ => None,
        }
    }
}

/// What `format=` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    Auto,
    Only(PixelFormat),
}

/// A parsed `v4l2://` URI.
#[derive(Debug, Clone, PartialEq)]
pub struct V4l2Request {
    /// The device node, e.g. `/dev/video0`.
    pub device: PathBuf,
    pub width: u32,
    pub height: u32,
    /// Frames per second asked of the driver (it may give another rate).
    pub fps: u32,
    pub format: FormatChoice,
}

/// Largest frame side accepted in a request.
const MAX_SIDE: u32 = 8192;

impl V4l2Request {
    /// Parses `v4l2:///dev/videoN[?width=&height=&fps=&format=]` (defaults 640×480, 30 fps, auto).
    pub fn parse(uri: &str) -> Result<Self, EdgeError> {
        let rest = uri
            .strip_prefix("v4l2://")
            .ok_or_else(|| bad(uri, "a V4L2 source starts with v4l2://, e.g. v4l2:///dev/video0"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if !path.starts_with("/dev/") || path.len() <= "/dev/".len() || path.contains("..") {
            return Err(bad(
                uri,
                "the device must be a node under /dev, e.g. v4l2:///dev/video0",
            ));
        }
        let mut req = V4l2Request {
            device: PathBuf::from(path),
            width: 640,
            height: 480,
            fps: 30,
            format: FormatChoice::Auto,
        };
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
            let number = |lo: u32, hi: u32| -> Result<u32, EdgeError> {
                value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (lo..=hi).contains(n))
                    .ok_or_else(|| bad(uri, format!("{key}={value}: expected a whole number in {lo}..={hi}")))
            };
            match key {
                "width" => req.width = number(16, MAX_SIDE)?,
                "height" => req.height = number(16, MAX_SIDE)?,
                "fps" => req.fps = number(1, 240)?,
                "format" => {
                    req.format = match value.to_ascii_lowercase().as_str() {
                        "auto" => FormatChoice::Auto,
                        "mjpeg" | "mjpg" => FormatChoice::Only(PixelFormat::Mjpeg),
                        "yuyv" | "yuy2" => FormatChoice::Only(PixelFormat::Yuyv),
                        _ => return Err(bad(uri, format!("format={value}: expected auto, mjpeg or yuyv"))),
                    }
                }
                _ => {
                    return Err(bad(
                        uri,
                        format!("unknown parameter {key:?} (known: width, height, fps, format)"),
                    ));
                }
            }
        }
        Ok(req)
    }
}

/// The frame sizes a camera offers for one format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeOffer {
    Discrete {
        width: u32,
        height: u32,
    },
    /// Any size in the ranges, on the steps (a continuous range has step 1).
    Stepwise {
        min_width: u32,
        max_width: u32,
        step_width: u32,
        min_height: u32,
        max_height: u32,
        step_height: u32,
    },
}

/// One format a camera offers, as four-character code and sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatOffer {
    pub fourcc: [u8; 4],
    pub sizes: Vec<SizeOffer>,
}

/// What negotiation settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
}

/// The size nearest to `want` within `lo..=hi` on `step` from `lo`.
fn fit(want: u32, lo: u32, hi: u32, step: u32) -> u32 {
    if hi <= lo {
        return lo;
    }
    let step = step.max(1);
    let clamped = want.clamp(lo, hi);
    // Round up to a step so the size still covers the request, unless that passes `hi`.
    let up = lo + (clamped - lo).div_ceil(step) * step;
    if up <= hi { up } else { lo + (hi - lo) / step * step }
}

/// Candidate sizes of one offer (a stepwise range yields its best fit and its maximum).
fn candidates(offer: &SizeOffer, want: (u32, u32)) -> Vec<(u32, u32)> {
    match *offer {
        SizeOffer::Discrete { width, height } => vec![(width, height)],
        SizeOffer::Stepwise {
            min_width,
            max_width,
            step_width,
            min_height,
            max_height,
            step_height,
        } => vec![
            (
                fit(want.0, min_width, max_width, step_width),
                fit(want.1, min_height, max_height, step_height),
            ),
            (max_width, max_height),
        ],
    }
}

/// Rank of a size for a request: lower is better. Exact, then the smallest covering
/// size, then the largest smaller one.
fn rank(size: (u32, u32), want: (u32, u32)) -> (u8, u64) {
    let area = size.0 as u64 * size.1 as u64;
    if size == want {
        (0, 0)
    } else if size.0 >= want.0 && size.1 >= want.1 {
        (1, area)
    } else {
        (2, u64::MAX - area)
    }
}

/// Chooses format and size among a camera's offers (see the module doc).
pub fn negotiate(offers: &[FormatOffer], req: &V4l2Request) -> Result<Negotiated, String> {
    let want = (req.width, req.height);
    let mut best: Option<((u8, u64, u8), Negotiated)> = None;
    for offer in offers {
        let Some(format) = PixelFormat::from_fourcc(offer.fourcc) else {
            continue;
        };
        if let FormatChoice::Only(only) = req.format
            && only != format
        {
            continue;
        }
        let preference = u8::from(format != PixelFormat::Mjpeg);
        for size in offer.sizes.iter().flat_map(|s| candidates(s, want)) {
            if size.0 == 0 || size.1 == 0 || size.0 > MAX_SIDE || size.1 > MAX_SIDE {
                continue;
            }
            let (class, area) = rank(size, want);
            let key = (class, area, preference);
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((
                    key,
                    Negotiated {
                        format,
                        width: size.0,
                        height: size.1,
                    },
                ));
            }
        }
    }
    best.map(|(_, n)| n).ok_or_else(|| {
        let offered: Vec<String> = offers
            .iter()
            .map(|o| String::from_utf8_lossy(&o.fourcc).into_owned())
            .collect();
        let wanted = match req.format {
            FormatChoice::Auto => "MJPG or YUYV".to_string(),
            FormatChoice::Only(f) => String::from_utf8_lossy(&f.fourcc()).into_owned(),
        };
        format!(
            "the camera offers no {wanted} frames we can use (it offers: {})",
            if offered.is_empty() {
                "nothing".to_string()
            } else {
                offered.join(", ")
            }
        )
    })
}

/// Converts a YUYV 4:2:2 buffer (`bytes_per_line` ≥ 2·width) to RGB (BT.601, limited range).
pub fn yuyv_to_frame(data: &[u8], width: u32, height: u32, bytes_per_line: u32) -> Result<Frame, EdgeError> {
    let (w, h) = (width as usize, height as usize);
    let stride = (bytes_per_line as usize).max(w * 2);
    if w == 0 || h == 0 || w % 2 != 0 {
        return Err(EdgeError::InvalidArgument(format!(
            "YUYV frame {width}×{height}: the width must be even and nonzero"
        )));
    }
    let needed = stride * (h - 1) + w * 2;
    if data.len() < needed {
        return Err(EdgeError::InvalidArgument(format!(
            "YUYV frame {width}×{height}: {} bytes, expected at least {needed} (short buffer)",
            data.len()
        )));
    }
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in data.chunks(stride).take(h) {
        for px in row[..w * 2].chunks_exact(4) {
            let (u, v) = (px[1] as i32 - 128, px[3] as i32 - 128);
            for y in [px[0], px[2]] {
                let c = (y as i32 - 16).max(0) * 298;
                let r = (c + 409 * v + 128) >> 8;
                let g = (c - 100 * u - 208 * v + 128) >> 8;
                let b = (c + 516 * u + 128) >> 8;
                rgb.extend_from_slice(&[r.clamp(0, 255) as u8, g.clamp(0, 255) as u8, b.clamp(0, 255) as u8]);
            }
        }
    }
    Ok(Frame::from_rgb(width, height, rgb)?)
}

/// Turns one captured buffer into a frame. `used` is the byte count the driver filled.
pub fn buffer_to_frame(
    neg: &Negotiated,
    bytes_per_line: u32,
    data: &[u8],
    limits: &DecodeLimits,
) -> Result<Frame, EdgeError> {
    match neg.format {
        PixelFormat::Yuyv => yuyv_to_frame(data, neg.width, neg.height, bytes_per_line),
        PixelFormat::Mjpeg => Ok(decode_image(data, limits)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str) -> V4l2Request {
        V4l2Request::parse(uri).unwrap()
    }

    fn discrete(fourcc: &[u8; 4], sizes: &[(u32, u32)]) -> FormatOffer {
        FormatOffer {
            fourcc: *fourcc,
            sizes: sizes
                .iter()
                .map(|&(width, height)| SizeOffer::Discrete { width, height })
                .collect(),
        }
    }

    #[test]
    fn parse_uses_defaults_for_a_bare_device() {
        let r = req("v4l2:///dev/video0");
        assert_eq!(r.device, PathBuf::from("/dev/video0"));
        assert_eq!((r.width, r.height, r.fps), (640, 480, 30));
        assert_eq!(r.format, FormatChoice::Auto);
    }

    #[test]
    fn parse_reads_size_rate_and_format() {
        let r = req("v4l2:///dev/video2?width=1280&height=720&fps=15&format=YUYV");
        assert_eq!((r.width, r.height, r.fps), (1280, 720, 15));
        assert_eq!(r.format, FormatChoice::Only(PixelFormat::Yuyv));
        assert_eq!(
            req("v4l2:///dev/v4l/by-id/usb-cam?format=mjpeg").format,
            FormatChoice::Only(PixelFormat::Mjpeg)
        );
    }

    #[test]
    fn parse_rejects_bad_uris_with_the_reason() {
        for (uri, needle) in [
            ("v4l2://video0", "under /dev"),
            ("v4l2:///dev/", "under /dev"),
            ("v4l2:///etc/passwd", "under /dev"),
            ("v4l2:///dev/../etc/passwd", "under /dev"),
            ("v4l2:///dev/video0?width=0", "width=0"),
            ("v4l2:///dev/video0?width=99999", "width=99999"),
            ("v4l2:///dev/video0?fps=abc", "fps=abc"),
            ("v4l2:///dev/video0?fps=0", "fps=0"),
            ("v4l2:///dev/video0?format=h264", "format=h264"),
            ("v4l2:///dev/video0?exposure=3", "unknown parameter"),
            ("file:///dev/video0", "v4l2://"),
        ] {
            let err = V4l2Request::parse(uri).unwrap_err().to_string();
            assert!(err.contains(needle), "{uri}: {err}");
        }
    }

    #[test]
    fn negotiate_takes_the_exact_size_and_prefers_mjpeg_on_a_tie() {
        let offers = [
            discrete(b"YUYV", &[(640, 480), (1280, 720)]),
            discrete(b"MJPG", &[(640, 480), (1920, 1080)]),
        ];
        let n = negotiate(&offers, &req("v4l2:///dev/video0")).unwrap();
        assert_eq!(
            n,
            Negotiated {
                format: PixelFormat::Mjpeg,
                width: 640,
                height: 480
            }
        );
    }

    #[test]
    fn negotiate_prefers_an_exact_yuyv_size_over_a_larger_mjpeg_one() {
        let offers = [discrete(b"MJPG", &[(1920, 1080)]), discrete(b"YUYV", &[(640, 480)])];
        let n = negotiate(&offers, &req("v4l2:///dev/video0")).unwrap();
        assert_eq!(
            n,
            Negotiated {
                format: PixelFormat::Yuyv,
                width: 640,
                height: 480
            }
        );
    }

    #[test]
    fn negotiate_picks_the_smallest_covering_size_else_the_largest() {
        let offers = [discrete(b"MJPG", &[(320, 240), (800, 600), (1920, 1080), (1280, 720)])];
        let n = negotiate(&offers, &req("v4l2:///dev/video0")).unwrap();
        assert_eq!((n.width, n.height), (800, 600));
        let small = [discrete(b"MJPG", &[(160, 120), (352, 288), (320, 240)])];
        let n = negotiate(&small, &req("v4l2:///dev/video0")).unwrap();
        assert_eq!((n.width, n.height), (352, 288));
    }

    #[test]
    fn negotiate_honours_an_explicit_format() {
        let offers = [discrete(b"MJPG", &[(640, 480)]), discrete(b"YUYV", &[(320, 240)])];
        let n = negotiate(&offers, &req("v4l2:///dev/video0?format=yuyv")).unwrap();
        assert_eq!(
            n,
            Negotiated {
                format: PixelFormat::Yuyv,
                width: 320,
                height: 240
            }
        );
    }

    #[test]
    fn negotiate_fits_a_stepwise_range_to_the_request() {
        let offers = [FormatOffer {
            fourcc: *b"YUYV",
            sizes: vec![SizeOffer::Stepwise {
                min_width: 48,
                max_width: 1920,
                step_width: 16,
                min_height: 32,
                max_height: 1080,
                step_height: 8,
            }],
        }];
        let n = negotiate(&offers, &req("v4l2:///dev/video0?width=650&height=481")).unwrap();
        // 650 rounds up to 48 + 38·16 = 656 and 481 up to 32 + 57·8 = 488: covers the request.
        assert_eq!((n.width, n.height), (656, 488));
        let n = negotiate(&offers, &req("v4l2:///dev/video0?width=4000&height=3000")).unwrap();
        assert_eq!((n.width, n.height), (1920, 1080));
    }

    #[test]
    fn negotiate_explains_when_nothing_fits() {
        let offers = [discrete(b"H264", &[(640, 480)]), discrete(b"GREY", &[(640, 480)])];
        let err = negotiate(&offers, &req("v4l2:///dev/video0")).unwrap_err();
        assert!(err.contains("H264, GREY"), "{err}");
        let err = negotiate(
            &[discrete(b"YUYV", &[(640, 480)])],
            &req("v4l2:///dev/video0?format=mjpeg"),
        )
        .unwrap_err();
        assert!(err.contains("no MJPG frames"), "{err}");
        assert!(
            negotiate(&[], &req("v4l2:///dev/video0"))
                .unwrap_err()
                .contains("nothing")
        );
    }

    #[test]
    fn yuyv_converts_known_colours() {
        // Two pixels per group: black/white (U=V=128), then pure-ish red (Y=81, U=90, V=240).
        let data = [16, 128, 235, 128, 81, 90, 81, 240];
        let f = yuyv_to_frame(&data, 4, 1, 8).unwrap();
        let px = f.as_rgb();
        assert_eq!(&px[0..3], &[0, 0, 0]);
        assert_eq!(&px[3..6], &[255, 255, 255]);
        let red = &px[6..9];
        assert!(red[0] >= 250 && red[1] <= 5 && red[2] <= 5, "{red:?}");
    }

    #[test]
    fn yuyv_skips_row_padding_and_rejects_short_buffers() {
        // 2×2 with 8 bytes per line: 4 bytes of pixels and 4 of padding per row.
        let data = [16, 128, 16, 128, 9, 9, 9, 9, 235, 128, 235, 128];
        let f = yuyv_to_frame(&data, 2, 2, 8).unwrap();
        assert_eq!(f.as_rgb(), &[0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255]);
        let err = yuyv_to_frame(&data[..10], 2, 2, 8).unwrap_err().to_string();
        assert!(err.contains("short buffer"), "{err}");
        assert!(yuyv_to_frame(&data, 3, 1, 8).is_err(), "odd width");
    }

    #[test]
    fn mjpeg_buffers_decode_through_the_image_limits() {
        let frame = Frame::filled(32, 24, [200, 30, 30]).unwrap();
        let jpeg = detective_vision::encode::encode_jpeg(&frame, 90).unwrap();
        let neg = Negotiated {
            format: PixelFormat::Mjpeg,
            width: 32,
            height: 24,
        };
        let f = buffer_to_frame(&neg, 0, &jpeg, &DecodeLimits::default()).unwrap();
        assert_eq!((f.width(), f.height()), (32, 24));
        assert!(buffer_to_frame(&neg, 0, &jpeg[..jpeg.len() / 2], &DecodeLimits::default()).is_err());
    }
}
