//! Task-aligned target assignment (TOOD / Ultralytics' `TaskAlignedAssigner`):
//! for every ground-truth box, the `topk` anchors inside it with the highest
//! alignment `score^alpha · CIoU^beta` become positives; an anchor claimed by
//! several boxes goes to the one it overlaps most; soft class targets are the
//! alignment normalised per box to that box's best IoU.
//!
//! As in Ultralytics 8.4 (the small-target rule it added with its 8.4.0 release), a
//! box side shorter than the smallest stride is widened to the next stride, about
//! the box centre, when choosing which anchors lie "inside" the box: a 2-px-high
//! scratch between two rows of stride-8 anchor centres would otherwise have no
//! candidate anchor at all and never be learnt. Overlaps and targets still use the
//! box itself.
//!
//! Plain Rust on detached predictions: assignment takes no gradient.

/// Assigner hyper-parameters (Ultralytics' defaults: 10, 0.5, 6.0; strides 8 and 16
/// for the small-box rule).
#[derive(Debug, Clone, Copy)]
pub struct AssignerConfig {
    pub topk: usize,
    pub alpha: f32,
    pub beta: f32,
    /// A box side shorter than this (px; the smallest stride) is widened for the
    /// candidate test…
    pub small_side: f32,
    /// …to this length (px; the second stride), about the box centre.
    pub widened_side: f32,
}

impl Default for AssignerConfig {
    fn default() -> Self {
        AssignerConfig {
            topk: 10,
            alpha: 0.5,
            beta: 6.0,
            small_side: 8.0,
            widened_side: 16.0,
        }
    }
}

/// A ground-truth box in input pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GtBox {
    pub class: usize,
    pub xyxy: [f32; 4],
}

/// Targets of one image: per anchor, the assigned box (pixels), the soft class
/// score for the assigned class, and whether it is a positive.
#[derive(Debug, Clone, Default)]
pub struct Assignment {
    /// Index into the image's gt list, per anchor (meaningful where `fg`).
    pub gt_index: Vec<usize>,
    /// Soft target score for the assigned class (0 where not foreground).
    pub score: Vec<f32>,
    pub fg: Vec<bool>,
}

const EPS_IN: f32 = 1e-9;
const EPS_NORM: f32 = 1e-9;

/// Complete IoU of two xyxy boxes, as Ultralytics' `bbox_iou(..., CIoU=True)` (eps 1e-7).
pub fn ciou(a: [f32; 4], b: [f32; 4]) -> f32 {
    const EPS: f32 = 1e-7;
    let (w1, h1) = (a[2] - a[0], a[3] - a[1] + EPS);
    let (w2, h2) = (b[2] - b[0], b[3] - b[1] + EPS);
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = w1 * h1 + w2 * h2 - inter + EPS;
    let iou = inter / union;
    let cw = a[2].max(b[2]) - a[0].min(b[0]);
    let ch = a[3].max(b[3]) - a[1].min(b[1]);
    let c2 = cw * cw + ch * ch + EPS;
    let dx = b[0] + b[2] - a[0] - a[2];
    let dy = b[1] + b[3] - a[1] - a[3];
    let rho2 = (dx * dx + dy * dy) / 4.0;
    let dv = (w2 / h2).atan() - (w1 / h1).atan();
    let v = 4.0 / (std::f32::consts::PI * std::f32::consts::PI) * dv * dv;
    let alpha = v / (v - iou + (1.0 + EPS));
    iou - (rho2 / c2 + v * alpha)
}

/// The region whose anchor centres are candidates for `xyxy`: the box, with each side
/// shorter than `cfg.small_side` widened to `cfg.widened_side` about its centre.
fn candidate_region(cfg: &AssignerConfig, xyxy: [f32; 4]) -> [f32; 4] {
    let widen = |lo: f32, hi: f32| {
        if hi - lo < cfg.small_side {
            let c = 0.5 * (lo + hi);
            (c - 0.5 * cfg.widened_side, c + 0.5 * cfg.widened_side)
        } else {
            (lo, hi)
        }
    };
    let (x1, x2) = widen(xyxy[0], xyxy[2]);
    let (y1, y2) = widen(xyxy[1], xyxy[3]);
    [x1, y1, x2, y2]
}

/// Assigns the anchors of one image.
///
/// - `scores`: `[A, nc]` predicted class probabilities (after sigmoid), row-major.
/// - `boxes`: `[A]` predicted boxes, xyxy input pixels.
/// - `points`: `[A]` anchor centres in input pixels.
pub fn assign(
    cfg: &AssignerConfig,
    scores: &[f32],
    num_classes: usize,
    boxes: &[[f32; 4]],
    points: &[[f32; 2]],
    gts: &[GtBox],
) -> Assignment {
    let a_count = points.len();
    let mut out = Assignment {
        gt_index: vec![0; a_count],
        score: vec![0.0; a_count],
        fg: vec![false; a_count],
    };
    if gts.is_empty() {
        return out;
    }
    // Per gt: candidate anchors inside it with their overlap and alignment.
    struct Cand {
        anchor: usize,
        overlap: f32,
        align: f32,
    }
    let mut positives: Vec<Vec<Cand>> = Vec::with_capacity(gts.len());
    for gt in gts {
        let [x1, y1, x2, y2] = candidate_region(cfg, gt.xyxy);
        let mut cands: Vec<Cand> = Vec::new();
        for (a, p) in points.iter().enumerate() {
            let d = (p[0] - x1).min(p[1] - y1).min(x2 - p[0]).min(y2 - p[1]);
            if d <= EPS_IN {
                continue;
            }
            let overlap = ciou(gt.xyxy, boxes[a]).max(0.0);
            let s = scores[a * num_classes + gt.class.min(num_classes - 1)];
            let align = s.powf(cfg.alpha) * overlap.powf(cfg.beta);
            cands.push(Cand {
                anchor: a,
                overlap,
                align,
            });
        }
        // Top-k by alignment (stable: ties keep anchor order).
        cands.sort_by(|p, q| q.align.total_cmp(&p.align).then(p.anchor.cmp(&q.anchor)));
        cands.truncate(cfg.topk);
        positives.push(cands);
    }
    // Resolve anchors claimed by several gts: keep the gt with the highest overlap.
    let mut best: Vec<Option<(usize, f32)>> = vec![None; a_count];
    for (g, cands) in positives.iter().enumerate() {
        for c in cands {
            match best[c.anchor] {
                Some((_, o)) if o >= c.overlap => {}
                _ => best[c.anchor] = Some((g, c.overlap)),
            }
        }
    }
    // Normalisation per gt over the anchors it finally keeps.
    let mut max_align = vec![0f32; gts.len()];
    let mut max_overlap = vec![0f32; gts.len()];
    for (g, cands) in positives.iter().enumerate() {
        for c in cands {
            if matches!(best[c.anchor], Some((bg, _)) if bg == g) {
                max_align[g] = max_align[g].max(c.align);
                max_overlap[g] = max_overlap[g].max(c.overlap);
            }
        }
    }
    for (g, cands) in positives.iter().enumerate() {
        for c in cands {
            if matches!(best[c.anchor], Some((bg, _)) if bg == g) {
                out.fg[c.anchor] = true;
                out.gt_index[c.anchor] = g;
                out.score[c.anchor] = c.align * max_overlap[g] / (max_align[g] + EPS_NORM);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(n: usize, stride: f32) -> Vec<[f32; 2]> {
        let mut v = Vec::new();
        for y in 0..n {
            for x in 0..n {
                v.push([(x as f32 + 0.5) * stride, (y as f32 + 0.5) * stride]);
            }
        }
        v
    }

    #[test]
    fn ciou_of_identical_boxes_is_one_and_of_far_boxes_negative() {
        let _serial = crate::burn_test_lock();
        let a = [10.0, 10.0, 50.0, 30.0];
        assert!((ciou(a, a) - 1.0).abs() < 1e-5);
        assert!(ciou(a, [100.0, 100.0, 120.0, 140.0]) < 0.0);
    }

    #[test]
    fn only_anchors_inside_the_box_become_positive_and_at_most_topk() {
        let _serial = crate::burn_test_lock();
        let points = grid(10, 8.0);
        let gt = GtBox {
            class: 1,
            xyxy: [8.0, 8.0, 48.0, 40.0],
        };
        let boxes: Vec<[f32; 4]> = points.iter().map(|_| gt.xyxy).collect();
        let scores = vec![0.5; points.len() * 2];
        let cfg = AssignerConfig::default();
        let a = assign(&cfg, &scores, 2, &boxes, &points, &[gt]);
        let n_fg = a.fg.iter().filter(|&&f| f).count();
        assert_eq!(n_fg, 10);
        for (i, p) in points.iter().enumerate() {
            if a.fg[i] {
                assert!(p[0] > 8.0 && p[0] < 48.0 && p[1] > 8.0 && p[1] < 40.0);
                // perfect boxes, equal scores: every positive normalises to IoU 1
                assert!((a.score[i] - 1.0).abs() < 1e-4, "{}", a.score[i]);
            }
        }
    }

    #[test]
    fn thin_box_between_anchor_rows_gets_candidates_from_the_widened_region() {
        let _serial = crate::burn_test_lock();
        let points = grid(10, 8.0); // anchor centres at 4, 12, 20, …
        // 2 px high, between the rows at y = 12 and y = 20: no centre strictly inside
        let gt = GtBox {
            class: 0,
            xyxy: [6.0, 14.0, 50.0, 16.0],
        };
        let boxes: Vec<[f32; 4]> = points.iter().map(|_| gt.xyxy).collect();
        let scores = vec![0.5; points.len()];
        let a = assign(&AssignerConfig::default(), &scores, 1, &boxes, &points, &[gt]);
        let fg: Vec<[f32; 2]> = (0..points.len()).filter(|&i| a.fg[i]).map(|i| points[i]).collect();
        assert_eq!(fg.len(), 10, "{fg:?}");
        // widened to 16 px about y = 15: rows 12 and 20 qualify; x stays within the box
        assert!(
            fg.iter()
                .all(|p| (p[1] == 12.0 || p[1] == 20.0) && p[0] > 6.0 && p[0] < 50.0)
        );
        // without the rule (as before Ultralytics 8.4) the box would have no positive at all
        let strict = AssignerConfig {
            small_side: 0.0,
            ..AssignerConfig::default()
        };
        let b = assign(&strict, &scores, 1, &boxes, &points, &[gt]);
        assert!(b.fg.iter().all(|f| !f));
    }

    #[test]
    fn anchor_claimed_by_two_boxes_goes_to_the_one_it_overlaps_most() {
        let _serial = crate::burn_test_lock();
        let points = vec![[20.0, 20.0]];
        let boxes = vec![[10.0, 10.0, 30.0, 30.0]];
        let scores = vec![0.5, 0.5];
        let gts = [
            GtBox {
                class: 0,
                xyxy: [0.0, 0.0, 60.0, 60.0],
            },
            GtBox {
                class: 1,
                xyxy: [11.0, 11.0, 31.0, 29.0],
            },
        ];
        let a = assign(&AssignerConfig::default(), &scores, 2, &boxes, &points, &gts);
        assert!(a.fg[0]);
        assert_eq!(a.gt_index[0], 1);
    }

    #[test]
    fn image_without_boxes_has_no_positives() {
        let _serial = crate::burn_test_lock();
        let points = grid(4, 8.0);
        let boxes = vec![[0.0, 0.0, 8.0, 8.0]; points.len()];
        let a = assign(&AssignerConfig::default(), &[0.9; 16], 1, &boxes, &points, &[]);
        assert!(a.fg.iter().all(|f| !f));
    }
}
