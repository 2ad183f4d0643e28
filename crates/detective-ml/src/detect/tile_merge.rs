//! Boxes of a tiled frame made one set, SAHI's way: the windows' candidates and
//! those of one pass over the whole frame (which sees defects larger than a
//! window) go through class-aware NMS together; then a box that a seam cut in
//! two, or that one window saw whole and its neighbour only in part, is merged
//! into the best box of its class from another source that covers most of it
//! (intersection over the smaller box ≥ [`MERGE_IOS`]): greedy non-maximum
//! merging, the union of the boxes with the best score.

use detective_core::BBox;

use super::nms::{Candidate, nms};

/// Intersection over the smaller box above which boxes of one class from two
/// sources (windows, or a window and the whole-frame pass) are one defect
/// (SAHI's default match threshold).
pub const MERGE_IOS: f32 = 0.5;

/// Where a candidate was seen: the index of its window, or the whole frame.
pub const WHOLE_FRAME: u32 = u32::MAX;

/// Candidates of a frame with the source of each.
#[derive(Debug, Clone, Default)]
pub struct SourcedCandidates {
    pub cands: Vec<Candidate>,
    /// One per candidate: its window's index, or [`WHOLE_FRAME`].
    pub source: Vec<u32>,
    /// Seen through windows (else the whole frame alone, and nothing to merge).
    pub tiled: bool,
}

fn intersection_over_smaller(a: &BBox, b: &BBox) -> f32 {
    let smaller = a.area().min(b.area());
    if smaller <= 0.0 {
        0.0
    } else {
        a.intersection_area(b) / smaller
    }
}

/// The kept boxes, best first, at most `max_det`: NMS at `iou` (across classes
/// when `agnostic`), then (tiled) the merge across sources.
pub fn final_boxes(sc: &SourcedCandidates, iou: f32, max_det: usize, agnostic: bool) -> Vec<Candidate> {
    if !sc.tiled {
        return nms(&sc.cands, iou, max_det, agnostic)
            .into_iter()
            .map(|i| sc.cands[i])
            .collect();
    }
    // Merge among every NMS survivor (best first), then cut to max_det. A merge
    // grows a box, which may then cover another: repeat until nothing merges.
    let mut merged: Vec<(Candidate, Vec<u32>)> = nms(&sc.cands, iou, usize::MAX, agnostic)
        .into_iter()
        .map(|i| (sc.cands[i], vec![sc.source.get(i).copied().unwrap_or(WHOLE_FRAME)]))
        .collect();
    let mut changed = true;
    while changed {
        changed = false;
        let mut i = 0;
        while i < merged.len() {
            let mut j = i + 1;
            while j < merged.len() {
                let (a, b) = (&merged[i], &merged[j]);
                let one = a.0.class == b.0.class
                    && !a.1.iter().any(|s| b.1.contains(s))
                    && intersection_over_smaller(&a.0.bbox, &b.0.bbox) >= MERGE_IOS;
                if one {
                    let (c, sources) = merged.remove(j);
                    let m = &mut merged[i];
                    m.0.bbox = m.0.bbox.enclosing(&c.bbox);
                    m.1.extend(sources);
                    changed = true;
                } else {
                    j += 1;
                }
            }
            i += 1;
        }
    }
    merged.truncate(max_det);
    merged.into_iter().map(|(c, _)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::nms::tests::cand;

    #[test]
    fn halves_of_a_defect_cut_by_a_seam_become_one_box() {
        // a scratch from x 90 to 130 cut by the seam at 100..110 of two windows
        let sc = SourcedCandidates {
            cands: vec![
                cand([90.0, 10.0, 110.0, 14.0], 0.8, 0),
                cand([100.0, 10.0, 130.0, 14.0], 0.7, 0),
            ],
            source: vec![0, 1],
            tiled: true,
        };
        let out = final_boxes(&sc, 0.7, 300, false);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bbox, BBox::from([90.0, 10.0, 130.0, 14.0]));
        assert_eq!(out[0].score, 0.8);
    }

    #[test]
    fn neighbours_in_one_window_and_other_classes_stay_apart() {
        let sc = SourcedCandidates {
            cands: vec![
                cand([0.0, 0.0, 10.0, 10.0], 0.9, 0),
                cand([5.0, 0.0, 15.0, 10.0], 0.8, 0), // same window: the model separated them
                cand([0.0, 0.0, 10.0, 10.0], 0.7, 1), // another class
                cand([50.0, 50.0, 60.0, 60.0], 0.6, 0), // elsewhere
            ],
            source: vec![0, 0, 1, 1],
            tiled: true,
        };
        assert_eq!(final_boxes(&sc, 0.7, 300, false).len(), 4);
        // untiled: plain NMS, nothing merged
        let whole = SourcedCandidates { tiled: false, ..sc };
        assert_eq!(final_boxes(&whole, 0.7, 300, false).len(), 4);
        assert_eq!(final_boxes(&whole, 0.7, 2, false).len(), 2);
    }

    #[test]
    fn a_whole_frame_box_absorbs_the_windows_parts_of_a_large_defect() {
        let sc = SourcedCandidates {
            cands: vec![
                cand([10.0, 10.0, 300.0, 60.0], 0.6, 2),  // whole-frame pass
                cand([10.0, 10.0, 160.0, 60.0], 0.9, 2),  // window 0's part
                cand([150.0, 10.0, 300.0, 60.0], 0.8, 2), // window 1's part
            ],
            source: vec![WHOLE_FRAME, 0, 1],
            tiled: true,
        };
        let out = final_boxes(&sc, 0.7, 300, false);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].bbox, BBox::from([10.0, 10.0, 300.0, 60.0]));
    }
}
