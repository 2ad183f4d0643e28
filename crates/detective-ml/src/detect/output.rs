//! Decoding the output of a YOLOv8-style detector exported to ONNX: a tensor
//! `[1, 4 + nc, N]` whose rows are `cx, cy, w, h` (input pixels) and one score per
//! class (already sigmoid-activated). Our exports use the same layout, so one
//! post-processing serves both.

use detective_core::BBox;

use crate::MlError;
use crate::detect::nms::Candidate;

/// Ultralytics' cap on boxes entering NMS.
pub const MAX_NMS: usize = 30_000;

/// Candidates whose best class score is above `conf` (strictly, as Ultralytics),
/// the best `MAX_NMS` of them, boxes in the model's input pixels.
pub fn decode(output: &[f32], shape: &[i64], conf: f32) -> Result<Vec<Candidate>, MlError> {
    decode_with(output, shape, conf, false)
}

/// Every (anchor, class) pair scoring above `conf` is a candidate: Ultralytics'
/// `multi_label=True`, which its validator uses when computing mAP.
pub fn decode_multi_label(output: &[f32], shape: &[i64], conf: f32) -> Result<Vec<Candidate>, MlError> {
    decode_with(output, shape, conf, true)
}

fn decode_with(output: &[f32], shape: &[i64], conf: f32, multi_label: bool) -> Result<Vec<Candidate>, MlError> {
    let [batch, rows, n] = shape else {
        return Err(MlError::Inference(format!(
            "expected an output of rank 3 [1, 4+nc, N], got {shape:?}"
        )));
    };
    let (rows, n) = (*rows as usize, *n as usize);
    if *batch != 1 || rows < 5 || output.len() != rows * n {
        return Err(MlError::Inference(format!(
            "unexpected output shape {shape:?} for {} values",
            output.len()
        )));
    }
    let nc = rows - 4;
    let at = |r: usize, i: usize| output[r * n + i];
    let bbox = |i: usize| {
        let (cx, cy, w, h) = (at(0, i), at(1, i), at(2, i), at(3, i));
        BBox {
            x1: cx - w / 2.0,
            y1: cy - h / 2.0,
            x2: cx + w / 2.0,
            y2: cy + h / 2.0,
        }
    };
    let mut cands = Vec::new();
    for i in 0..n {
        if multi_label {
            for c in 0..nc {
                let s = at(4 + c, i);
                if s > conf {
                    cands.push(Candidate {
                        bbox: bbox(i),
                        score: s,
                        class: c as u32,
                    });
                }
            }
            continue;
        }
        let (mut best, mut class) = (f32::MIN, 0);
        for c in 0..nc {
            let s = at(4 + c, i);
            if s > best {
                best = s;
                class = c;
            }
        }
        if best > conf {
            cands.push(Candidate {
                bbox: bbox(i),
                score: best,
                class: class as u32,
            });
        }
    }
    if cands.len() > MAX_NMS {
        cands.sort_by(|a, b| b.score.total_cmp(&a.score));
        cands.truncate(MAX_NMS);
    }
    Ok(cands)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_decoded_channel_major_with_the_best_class() {
        // nc = 2, N = 3 anchors
        #[rustfmt::skip]
        let out = [
            10.0, 20.0, 30.0,   // cx
            10.0, 20.0, 30.0,   // cy
            4.0, 4.0, 4.0,      // w
            2.0, 2.0, 2.0,      // h
            0.9, 0.1, 0.3,      // class 0
            0.2, 0.6, 0.25,     // class 1
        ];
        let c = decode(&out, &[1, 6, 3], 0.25).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].class, c[0].score), (0, 0.9));
        assert_eq!(
            c[0].bbox,
            BBox {
                x1: 8.0,
                y1: 9.0,
                x2: 12.0,
                y2: 11.0
            }
        );
        assert_eq!((c[1].class, c[1].score), (1, 0.6));
        assert_eq!((c[2].class, c[2].score), (0, 0.3));
        assert_eq!(
            decode(&out, &[1, 6, 3], 0.3).unwrap().len(),
            2,
            "score equal to conf is dropped"
        );
    }

    #[test]
    fn multi_label_keeps_every_class_above_the_threshold() {
        // one anchor, two classes both above conf
        let out = [10.0, 10.0, 4.0, 2.0, 0.9, 0.5];
        let c = decode_multi_label(&out, &[1, 6, 1], 0.3).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].class, c[1].class), (0, 1));
        assert_eq!(decode(&out, &[1, 6, 1], 0.3).unwrap().len(), 1);
    }

    #[test]
    fn wrong_shapes_are_refused() {
        assert!(decode(&[0.0; 10], &[1, 5, 3], 0.25).is_err());
        assert!(decode(&[0.0; 15], &[2, 5, 3], 0.25).is_err());
        assert!(decode(&[0.0; 15], &[5, 3], 0.25).is_err());
    }
}
