//! YOLO label lines: `class cx cy w h`, normalised to 0..1.
//!
//! Polygon lines (`class x1 y1 x2 y2 x3 y3 …`, Ultralytics' segment format) are
//! accepted and reduced to their bounding box. Values are kept as `f64` and written
//! with 6 decimals, the precision Ultralytics and Roboflow use.

use std::path::Path;

use crate::DataError;

/// How far a box edge may stick out of the image (rounding of exported labels).
pub const BOX_TOLERANCE: f64 = 1e-3;

/// One box of a YOLO label file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YoloLabel {
    pub class: u32,
    pub cx: f64,
    pub cy: f64,
    pub w: f64,
    pub h: f64,
}

/// A problem with one line of a label file.
#[derive(Debug, Clone, PartialEq)]
pub struct LineIssue {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

impl YoloLabel {
    /// Parses one non-empty line; the error is the reason, for `file:line: reason`.
    pub fn parse(line: &str) -> Result<YoloLabel, String> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let n = fields.len();
        if n != 5 && (n < 7 || n.is_multiple_of(2)) {
            return Err(format!(
                "wrong field count: {n} (expected 5: class cx cy w h, or a polygon: class x1 y1 x2 y2 x3 y3 …)"
            ));
        }
        let class_f: f64 = fields[0]
            .parse()
            .map_err(|_| format!("class {:?} is not a number", fields[0]))?;
        if class_f < 0.0 || class_f.fract() != 0.0 || class_f > u32::MAX as f64 {
            return Err(format!("class {:?} is not a non-negative integer", fields[0]));
        }
        let mut vals = Vec::with_capacity(n - 1);
        for f in &fields[1..] {
            let v: f64 = f.parse().map_err(|_| format!("value {f:?} is not a number"))?;
            if !v.is_finite() {
                return Err(format!("value {f:?} is not finite"));
            }
            vals.push(v);
        }
        if vals.iter().any(|v| !(0.0..=1.0).contains(v)) {
            return Err("coordinates outside 0..1 (labels must be normalised to the image size)".into());
        }
        let label = if n == 5 {
            YoloLabel {
                class: class_f as u32,
                cx: vals[0],
                cy: vals[1],
                w: vals[2],
                h: vals[3],
            }
        } else {
            let xs = vals.iter().step_by(2);
            let ys = vals.iter().skip(1).step_by(2);
            let (x1, x2) = xs.fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            let (y1, y2) = ys.fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            YoloLabel {
                class: class_f as u32,
                cx: (x1 + x2) / 2.0,
                cy: (y1 + y2) / 2.0,
                w: x2 - x1,
                h: y2 - y1,
            }
        };
        if label.w <= 0.0 || label.h <= 0.0 {
            return Err(format!("zero-size box (w {}, h {})", label.w, label.h));
        }
        if label.cx - label.w / 2.0 < -BOX_TOLERANCE
            || label.cx + label.w / 2.0 > 1.0 + BOX_TOLERANCE
            || label.cy - label.h / 2.0 < -BOX_TOLERANCE
            || label.cy + label.h / 2.0 > 1.0 + BOX_TOLERANCE
        {
            return Err("box extends outside the image (cx ± w/2 or cy ± h/2 outside 0..1)".into());
        }
        Ok(label)
    }

    /// The line as written to a label file.
    pub fn to_line(&self) -> String {
        format!(
            "{} {:.6} {:.6} {:.6} {:.6}",
            self.class, self.cx, self.cy, self.w, self.h
        )
    }

    /// Pixel box `[x1, y1, x2, y2]` in an image of the given size.
    pub fn to_xyxy(&self, img_w: u32, img_h: u32) -> [f64; 4] {
        let (iw, ih) = (img_w as f64, img_h as f64);
        [
            (self.cx - self.w / 2.0) * iw,
            (self.cy - self.h / 2.0) * ih,
            (self.cx + self.w / 2.0) * iw,
            (self.cy + self.h / 2.0) * ih,
        ]
    }

    /// From a pixel box `[x1, y1, x2, y2]` in an image of the given size.
    pub fn from_xyxy(class: u32, b: [f64; 4], img_w: u32, img_h: u32) -> YoloLabel {
        let (iw, ih) = (img_w as f64, img_h as f64);
        YoloLabel {
            class,
            cx: (b[0] + b[2]) / 2.0 / iw,
            cy: (b[1] + b[3]) / 2.0 / ih,
            w: (b[2] - b[0]) / iw,
            h: (b[3] - b[1]) / ih,
        }
    }
}

/// Parses label text: the good labels and the issues of the bad lines.
pub fn parse_labels(text: &str) -> (Vec<YoloLabel>, Vec<LineIssue>) {
    let mut labels = Vec::new();
    let mut issues = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match YoloLabel::parse(line) {
            Ok(l) => labels.push(l),
            Err(reason) => issues.push(LineIssue { line: i + 1, reason }),
        }
    }
    (labels, issues)
}

/// Reads a label file; a missing file is a background image (no labels).
pub fn read_label_file(path: &Path) -> Result<(Vec<YoloLabel>, Vec<LineIssue>), DataError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse_labels(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Vec::new(), Vec::new())),
        Err(e) => Err(DataError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// The text of a label file for these labels (empty for a background image).
pub fn format_labels(labels: &[YoloLabel]) -> String {
    labels.iter().map(|l| l.to_line() + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_line_parses_and_formats_back() {
        let l = YoloLabel::parse("3 0.5 0.25 0.2 0.1").unwrap();
        assert_eq!(
            l,
            YoloLabel {
                class: 3,
                cx: 0.5,
                cy: 0.25,
                w: 0.2,
                h: 0.1
            }
        );
        assert_eq!(l.to_line(), "3 0.500000 0.250000 0.200000 0.100000");
    }

    #[test]
    fn each_malformed_line_gets_its_reason() {
        let cases = [
            ("0 0.5 0.5 0.2", "wrong field count"),
            ("0 0.5 0.5 0.2 0.2 0.1", "wrong field count"),
            ("a 0.5 0.5 0.2 0.2", "not a number"),
            ("-1 0.5 0.5 0.2 0.2", "non-negative integer"),
            ("1.5 0.5 0.5 0.2 0.2", "non-negative integer"),
            ("0 0.5 x 0.2 0.2", "not a number"),
            ("0 1.5 0.5 0.2 0.2", "outside 0..1"),
            ("0 0.5 0.5 0 0.2", "zero-size"),
            ("0 0.95 0.5 0.2 0.2", "extends outside"),
        ];
        for (line, reason) in cases {
            let err = YoloLabel::parse(line).unwrap_err();
            assert!(err.contains(reason), "{line:?}: {err}");
        }
    }

    #[test]
    fn polygon_lines_become_their_bounding_box() {
        let l = YoloLabel::parse("2 0.1 0.2 0.5 0.2 0.3 0.6").unwrap();
        assert_eq!(l.class, 2);
        assert!((l.cx - 0.3).abs() < 1e-12 && (l.cy - 0.4).abs() < 1e-12);
        assert!((l.w - 0.4).abs() < 1e-12 && (l.h - 0.4).abs() < 1e-12);
    }

    #[test]
    fn issues_carry_one_based_line_numbers_and_blank_lines_are_skipped() {
        let (labels, issues) = parse_labels("0 0.5 0.5 0.1 0.1\n\n0 0.5\n1 0.2 0.2 0.1 0.1\n");
        assert_eq!(labels.len(), 2);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].line, 3);
    }

    #[test]
    fn pixel_round_trip_is_lossless_at_six_decimals() {
        let l = YoloLabel::parse("4 0.485000 0.487500 0.960000 0.965000").unwrap();
        let back = YoloLabel::from_xyxy(4, l.to_xyxy(200, 200), 200, 200);
        assert_eq!(back.to_line(), l.to_line());
    }
}
