//! Non-maximum suppression as Ultralytics applies it: class-aware (boxes of
//! different classes never suppress each other; within a class, a box is
//! dropped when its IoU with a higher-scoring kept box is above the threshold),
//! or class-agnostic (`agnostic_nms`: any higher-scoring kept box suppresses),
//! which leaves one box per defect where a model hesitates between classes.

use detective_core::BBox;

/// A candidate box before suppression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub bbox: BBox,
    pub score: f32,
    pub class: u32,
}

/// Indices of the kept candidates, best first, at most `max_det`.
pub fn nms_class_aware(cands: &[Candidate], iou_threshold: f32, max_det: usize) -> Vec<usize> {
    nms(cands, iou_threshold, max_det, false)
}

/// Indices of the kept candidates, best first, at most `max_det`; with
/// `agnostic`, boxes of any class suppress each other.
pub fn nms(cands: &[Candidate], iou_threshold: f32, max_det: usize, agnostic: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cands.len()).collect();
    // stable sort: equal scores keep their input order, like torchvision
    order.sort_by(|&a, &b| cands[b].score.total_cmp(&cands[a].score));
    let mut keep: Vec<usize> = Vec::new();
    for &i in &order {
        if keep.len() >= max_det {
            break;
        }
        let c = &cands[i];
        let suppressed = keep
            .iter()
            .any(|&k| (agnostic || cands[k].class == c.class) && cands[k].bbox.iou(&c.bbox) > iou_threshold);
        if !suppressed {
            keep.push(i);
        }
    }
    keep
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A candidate from `[x1, y1, x2, y2]` (shared with the tile merge's tests).
    pub(crate) fn cand(b: [f32; 4], score: f32, class: u32) -> Candidate {
        Candidate {
            bbox: BBox::from(b),
            score,
            class,
        }
    }

    #[test]
    fn overlapping_boxes_of_one_class_keep_only_the_best() {
        let c = [
            cand([0.0, 0.0, 10.0, 10.0], 0.8, 0),
            cand([1.0, 0.0, 11.0, 10.0], 0.9, 0),
            cand([50.0, 50.0, 60.0, 60.0], 0.3, 0),
        ];
        assert_eq!(nms_class_aware(&c, 0.5, 300), vec![1, 2]);
    }

    #[test]
    fn overlapping_boxes_of_different_classes_both_survive() {
        let c = [
            cand([0.0, 0.0, 10.0, 10.0], 0.8, 0),
            cand([0.0, 0.0, 10.0, 10.0], 0.7, 1),
        ];
        assert_eq!(nms_class_aware(&c, 0.5, 300), vec![0, 1]);
    }

    #[test]
    fn agnostic_nms_leaves_one_box_where_classes_stack() {
        let c = [
            cand([0.0, 0.0, 10.0, 10.0], 0.56, 2),
            cand([0.0, 0.0, 10.0, 9.0], 0.32, 0),
            cand([30.0, 0.0, 40.0, 10.0], 0.3, 1),
        ];
        assert_eq!(
            nms(&c, 0.7, 300, true),
            vec![0, 2],
            "the stack keeps its best; a box apart stays"
        );
        assert_eq!(nms(&c, 0.7, 300, false), vec![0, 1, 2]);
    }

    #[test]
    fn iou_exactly_at_threshold_is_kept_and_max_det_caps() {
        // IoU of these two is exactly 0.5
        let c = [
            cand([0.0, 0.0, 10.0, 10.0], 0.9, 0),
            cand([0.0, 0.0, 10.0, 20.0], 0.8, 0),
            cand([30.0, 0.0, 40.0, 10.0], 0.7, 0),
        ];
        assert_eq!(nms_class_aware(&c, 0.5, 300), vec![0, 1, 2]);
        assert_eq!(nms_class_aware(&c, 0.5, 2), vec![0, 1]);
    }
}
