//! Object-detection evaluation: an accumulator of per-image predictions and
//! ground truth that reports
//!
//! * [`DetectionEvaluator::finish`]: precision, recall, mAP50, mAP50-95 the way
//!   Ultralytics 8.4 (`DetectionValidator` + `ap_per_class`) computes and
//!   prints them, so `detective val` on an Ultralytics model reproduces
//!   Ultralytics' numbers;
//! * [`DetectionEvaluator::finish_coco`]: AP, AP50, AP75, AR exactly as
//!   pycocotools' `COCOeval` (iouType `bbox`, area range `all`);
//! * [`DetectionEvaluator::confusion_matrix`]: Ultralytics' detection confusion
//!   matrix with a background row and column.
//!
//! Pure Rust, no tensors. Boxes are `[x1, y1, x2, y2]` in pixels.
//!
//! Ultralytics semantics reproduced (8.4.190, the version the project's
//! reference numbers come from):
//! * IoU in f32 as `box_iou` (`inter / (area_gt + area_pred - inter + 1e-7)`),
//!   thresholds `torch.linspace(0.5, 0.95, 10)` in f32;
//! * per image, predictions are visited in descending confidence (NMS order;
//!   this evaluator sorts them, stably) and each one claims, per threshold, its
//!   best still-unclaimed ground truth of the same class (`match_predictions`,
//!   non-scipy path);
//! * `ap_per_class`: global sort by confidence, cumulative TP/FP per class with
//!   ground truth, `compute_ap` with sentinels `(0, 1)`, `(r_last, 0)`,
//!   `(1, 0)`, the right-to-left precision envelope, 101-point `interp` and the
//!   trapezoid rule; P and R per class at the confidence (1000-point grid)
//!   where the class-mean F1 curve, smoothed by a box filter of fraction 0.1,
//!   peaks. Classes without ground truth are left out of every mean;
//! * fitness is `0.1·mAP50 + 0.9·mAP50-95` (Ultralytics 8.0–8.3's weighting; 8.4 uses
//!   mAP50-95 alone) — what picks `best` during training.
//!
//! Known, documented differences: ties in confidence are broken by image and
//! then detection order (numpy's default argsort is not stable), and the box
//! filter sums sequentially where numpy calls BLAS `ddot`; both can only move
//! results when values tie to the last bit.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::numeric::{argmax, interp, linspace, mean, searchsorted_left, trapezoid};

/// Number of IoU thresholds (0.50:0.95:0.05) used by both methods.
pub const NUM_IOU_THRESHOLDS: usize = 10;
/// Number of recall points of the precision curves (0:0.01:1), both methods.
pub const NUM_RECALL_POINTS: usize = 101;
/// Number of points of Ultralytics' confidence and PR curves.
pub const CURVE_POINTS: usize = 1000;
/// pycocotools' default (and largest) number of detections per image and class.
pub const COCO_DEFAULT_MAX_DETS: usize = 100;

/// A ground-truth box: class index and `[x1, y1, x2, y2]` in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GtBox {
    pub class: usize,
    pub bbox: [f32; 4],
}

/// A predicted box: class index, `[x1, y1, x2, y2]` in pixels and confidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PredBox {
    pub class: usize,
    pub bbox: [f32; 4],
    pub confidence: f32,
}

/// One evaluated image: predictions in descending confidence (stable) and
/// Ultralytics' per-threshold correctness of each.
#[derive(Debug, Clone)]
struct ImageRecord {
    preds: Vec<PredBox>,
    /// The predictions as pycocotools sees them when they differ from `preds`
    /// (clipped to the image, as Ultralytics' JSON export writes them).
    coco_preds: Option<Vec<PredBox>>,
    gts: Vec<GtBox>,
    correct: Vec<[bool; NUM_IOU_THRESHOLDS]>,
}

/// Accumulates predictions and ground truth image by image; the results are
/// computed on demand by [`finish`](Self::finish),
/// [`finish_coco`](Self::finish_coco) and
/// [`confusion_matrix`](Self::confusion_matrix), which can all be called on
/// the same evaluator.
///
/// Class indices at or above `num_classes` are not an error: the evaluator
/// grows its class count to cover them (they appear as `class{N}` when no
/// name is given).
#[derive(Debug, Clone, Default)]
pub struct DetectionEvaluator {
    num_classes: usize,
    images: Vec<ImageRecord>,
}

/// Ultralytics-style results (what `yolo val` prints), see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectionMetrics {
    /// Images evaluated (Ultralytics' "all" row).
    pub images: usize,
    /// Ground-truth boxes over all classes.
    pub instances: usize,
    /// Mean over classes with ground truth of the precision at the max-F1 confidence.
    pub precision: f64,
    /// Mean over classes with ground truth of the recall at the max-F1 confidence.
    pub recall: f64,
    pub map50: f64,
    pub map75: f64,
    pub map50_95: f64,
    /// `0.1·mAP50 + 0.9·mAP50-95`, the score that picks the best epoch.
    pub fitness: f64,
    /// The confidence (on the 1000-point grid) where the smoothed mean F1 peaks.
    pub confidence_at_max_f1: f64,
    /// One row per class that has ground truth, ascending class index.
    pub per_class: Vec<ClassMetrics>,
    pub pr_curve: PrCurve,
}

/// Ultralytics-style per-class row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    pub class: usize,
    pub name: String,
    /// Images whose ground truth contains this class.
    pub images: usize,
    /// Ground-truth boxes of this class.
    pub instances: usize,
    pub precision: f64,
    pub recall: f64,
    pub map50: f64,
    pub map75: f64,
    pub map50_95: f64,
    /// AP at each IoU threshold 0.50, 0.55, ..., 0.95.
    pub ap: Vec<f64>,
}

/// Curves for plotting, as Ultralytics draws them (`PR_curve.png`,
/// `F1_curve.png`, `P_curve.png`, `R_curve.png`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrCurve {
    /// 1000 points on [0, 1]: the recall axis of [`ClassCurve::precision`]
    /// and the confidence axis of the `*_at_conf` curves.
    pub x: Vec<f64>,
    /// One entry per class that has ground truth, like [`DetectionMetrics::per_class`].
    pub classes: Vec<ClassCurve>,
}

/// The curves of one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassCurve {
    pub class: usize,
    pub name: String,
    /// AP at IoU 0.5 (shown in the PR legend).
    pub ap50: f64,
    /// Precision envelope at each recall of [`PrCurve::x`], IoU 0.5 (zeros for a class without predictions).
    pub precision: Vec<f64>,
    /// Precision at each confidence of [`PrCurve::x`], IoU 0.5.
    pub precision_at_conf: Vec<f64>,
    /// Recall at each confidence of [`PrCurve::x`], IoU 0.5.
    pub recall_at_conf: Vec<f64>,
    /// F1 at each confidence of [`PrCurve::x`], IoU 0.5.
    pub f1_at_conf: Vec<f64>,
}

impl PrCurve {
    /// Mean over classes of the precision-recall curves (Ultralytics' thick
    /// "all classes" line); empty when there is no class.
    pub fn mean_precision(&self) -> Vec<f64> {
        if self.classes.is_empty() {
            return Vec::new();
        }
        let n = self.classes.len() as f64;
        (0..self.x.len())
            .map(|i| {
                let mut sum = 0.0;
                for c in &self.classes {
                    sum += c.precision.get(i).copied().unwrap_or(0.0);
                }
                sum / n
            })
            .collect()
    }
}

/// pycocotools-style results, see [`DetectionEvaluator::finish_coco`].
/// `None` where pycocotools prints -1 (no class has ground truth).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CocoMetrics {
    pub max_dets: usize,
    /// AP @ IoU 0.50:0.95 (pycocotools `stats[0]`).
    pub ap: Option<f64>,
    /// AP @ IoU 0.50 (`stats[1]`).
    pub ap50: Option<f64>,
    /// AP @ IoU 0.75 (`stats[2]`).
    pub ap75: Option<f64>,
    /// AR @ IoU 0.50:0.95 with `max_dets` detections (`stats[8]` for 100).
    pub ar: Option<f64>,
    /// One entry per class with ground truth, ascending class index.
    pub per_class: Vec<CocoClassMetrics>,
}

/// pycocotools' numbers for one category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CocoClassMetrics {
    pub class: usize,
    pub ap: f64,
    pub ap50: f64,
    pub ap75: f64,
    pub ar: f64,
    /// `eval["precision"][t, :, k]`: precision at 101 recall points per IoU threshold.
    pub precision: Vec<Vec<f64>>,
    /// `eval["recall"][t, k]`: final recall per IoU threshold.
    pub recall: Vec<f64>,
}

/// Ultralytics' detection confusion matrix: `matrix[predicted][true]`, with
/// index `num_classes` standing for background (a missed object in the
/// background row, a false detection in the background column).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfusionMatrix {
    pub num_classes: usize,
    /// Detections with confidence strictly above this were counted.
    pub conf: f32,
    /// A detection matches a ground truth when their IoU is strictly above this.
    pub iou: f32,
    pub matrix: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// Side of the square matrix: classes plus background.
    pub fn size(&self) -> usize {
        self.num_classes + 1
    }

    /// Count at (`predicted`, `actual`); 0 outside the matrix.
    pub fn get(&self, predicted: usize, actual: usize) -> u64 {
        self.matrix
            .get(predicted)
            .and_then(|row| row.get(actual))
            .copied()
            .unwrap_or(0)
    }

    /// Column-normalised matrix as Ultralytics plots it: each count divided
    /// by its column sum (+1e-9).
    pub fn normalized(&self) -> Vec<Vec<f64>> {
        let n = self.size();
        let col_sums: Vec<f64> = (0..n)
            .map(|j| (0..n).map(|i| self.get(i, j) as f64).sum::<f64>())
            .collect();
        (0..n)
            .map(|i| (0..n).map(|j| self.get(i, j) as f64 / (col_sums[j] + 1e-9)).collect())
            .collect()
    }

    /// True positives (diagonal) and false positives (row sum minus
    /// diagonal) per class, background excluded, as Ultralytics' `tp_fp`.
    pub fn tp_fp(&self) -> (Vec<u64>, Vec<u64>) {
        let tp: Vec<u64> = (0..self.num_classes).map(|i| self.get(i, i)).collect();
        let fp = (0..self.num_classes)
            .map(|i| {
                let row: u64 = (0..self.size()).map(|j| self.get(i, j)).sum();
                row - tp[i]
            })
            .collect();
        (tp, fp)
    }
}

/// IoU thresholds of Ultralytics: `torch.linspace(0.5, 0.95, 10)` in f32
/// (torch's scalar kernel: from the start for the first half, from the end
/// for the second).
fn ultralytics_iou_thresholds() -> [f32; NUM_IOU_THRESHOLDS] {
    let (start, end) = (0.5f32, 0.95f32);
    let steps = NUM_IOU_THRESHOLDS;
    let step = (end - start) / (steps - 1) as f32;
    let halfway = steps / 2;
    let mut t = [0.0f32; NUM_IOU_THRESHOLDS];
    for (i, v) in t.iter_mut().enumerate() {
        *v = if i < halfway {
            start + step * i as f32
        } else {
            end - step * (steps - i - 1) as f32
        };
    }
    t
}

/// Ultralytics' `box_iou` for one pair, in f32.
fn iou_f32(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    inter / (area_a + area_b - inter + 1e-7)
}

/// pycocotools' `bbIou` for one detection and one (non-crowd) ground truth,
/// on `[x, y, w, h]` boxes in f64.
fn iou_coco(d: &[f64; 4], g: &[f64; 4]) -> f64 {
    let w = (d[2] + d[0]).min(g[2] + g[0]) - d[0].max(g[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (d[3] + d[1]).min(g[3] + g[1]) - d[1].max(g[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let inter = w * h;
    let union = d[2] * d[3] + g[2] * g[3] - inter;
    inter / union
}

fn xywh(b: &[f32; 4]) -> [f64; 4] {
    let (x1, y1, x2, y2) = (b[0] as f64, b[1] as f64, b[2] as f64, b[3] as f64);
    [x1, y1, x2 - x1, y2 - y1]
}

/// Sort key for "descending confidence": NaN counts as the lowest value and
/// -0 as +0, so the order is total and equal values keep their order.
fn desc_key(v: f64) -> f64 {
    if v.is_nan() { f64::NEG_INFINITY } else { v + 0.0 }
}

fn cmp_desc(a: f64, b: f64) -> Ordering {
    desc_key(b).total_cmp(&desc_key(a))
}

/// Ultralytics' `match_predictions` (non-scipy) for one image. `preds` must
/// be in descending confidence order.
fn match_ultralytics(preds: &[PredBox], gts: &[GtBox]) -> Vec<[bool; NUM_IOU_THRESHOLDS]> {
    let mut correct = vec![[false; NUM_IOU_THRESHOLDS]; preds.len()];
    if preds.is_empty() || gts.is_empty() {
        return correct;
    }
    let thresholds = ultralytics_iou_thresholds();
    let min_threshold = thresholds.iter().copied().fold(f32::INFINITY, f32::min);
    // matched[g][t]: ground truth g already claimed at threshold t.
    let mut matched = vec![[false; NUM_IOU_THRESHOLDS]; gts.len()];
    for (j, p) in preds.iter().enumerate() {
        // IoU with every ground truth, zero for another class.
        let column: Vec<f32> = gts
            .iter()
            .map(|g| {
                if g.class == p.class {
                    iou_f32(&g.bbox, &p.bbox)
                } else {
                    0.0
                }
            })
            .collect();
        if !column.iter().any(|&v| v >= min_threshold) {
            continue;
        }
        for (t, &threshold) in thresholds.iter().enumerate() {
            // Best unclaimed target (first maximum, as np.argmax).
            let mut best = 0usize;
            let mut best_iou = f32::NAN;
            for (g, &v) in column.iter().enumerate() {
                let available = if matched[g][t] { 0.0 } else { v };
                if g == 0 || available > best_iou || (best_iou.is_nan() && !available.is_nan()) {
                    best = g;
                    best_iou = available;
                }
            }
            let ok = best_iou >= threshold;
            correct[j][t] = ok;
            if ok {
                matched[best][t] = true;
            }
        }
    }
    correct
}

/// Output of Ultralytics' `compute_ap`: AP and the (recall, envelope) curve.
fn compute_ap(recall: &[f64], precision: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
    let last_recall = recall.last().copied().unwrap_or(1.0);
    let mut mrec = Vec::with_capacity(recall.len() + 3);
    mrec.push(0.0);
    mrec.extend_from_slice(recall);
    mrec.push(last_recall);
    mrec.push(1.0);
    let mut mpre = Vec::with_capacity(precision.len() + 3);
    mpre.push(1.0);
    mpre.extend_from_slice(precision);
    mpre.push(0.0);
    mpre.push(0.0);
    // Precision envelope: running maximum from the right.
    for i in (0..mpre.len().saturating_sub(1)).rev() {
        if mpre[i + 1] > mpre[i] {
            mpre[i] = mpre[i + 1];
        }
    }
    let x = linspace(0.0, 1.0, NUM_RECALL_POINTS);
    let y: Vec<f64> = x
        .iter()
        .map(|&xi| interp(xi, &mrec, &mpre, mpre[0], mpre[mpre.len() - 1]))
        .collect();
    (trapezoid(&y, &x), mpre, mrec)
}

/// Ultralytics' `smooth`: box filter of fraction `f`, edges padded with the
/// end values.
fn smooth(y: &[f64], f: f64) -> Vec<f64> {
    if y.is_empty() {
        return Vec::new();
    }
    let nf = ((y.len() as f64 * f * 2.0).round_ties_even() as usize) / 2 + 1;
    let pad = nf / 2;
    let first = y[0];
    let last = y[y.len() - 1];
    let mut padded = Vec::with_capacity(y.len() + 2 * pad);
    padded.extend(std::iter::repeat_n(first, pad));
    padded.extend_from_slice(y);
    padded.extend(std::iter::repeat_n(last, pad));
    let k = 1.0 / nf as f64;
    padded
        .windows(nf)
        .map(|w| {
            let mut s = 0.0;
            for &v in w {
                s += v * k;
            }
            s
        })
        .collect()
}

fn class_name(names: &[String], class: usize) -> String {
    names.get(class).cloned().unwrap_or_else(|| format!("class{class}"))
}

impl DetectionEvaluator {
    /// An empty evaluator for `num_classes` classes.
    pub fn new(num_classes: usize) -> Self {
        Self {
            num_classes,
            images: Vec::new(),
        }
    }

    /// Classes covered: `num_classes` given to [`new`](Self::new), or more if
    /// a larger class index was seen.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Images added so far.
    pub fn num_images(&self) -> usize {
        self.images.len()
    }

    /// Adds one image: its predictions (any order; they are evaluated in
    /// descending confidence, ties in the given order, which is NMS order for
    /// NMS output) and its ground truth.
    pub fn add_image(&mut self, preds: &[PredBox], gts: &[GtBox]) {
        let mut preds = preds.to_vec();
        preds.sort_by(|a, b| cmp_desc(a.confidence as f64, b.confidence as f64));
        let max_class = preds.iter().map(|p| p.class).chain(gts.iter().map(|g| g.class)).max();
        if let Some(c) = max_class {
            self.num_classes = self.num_classes.max(c + 1);
        }
        let correct = match_ultralytics(&preds, gts);
        self.images.push(ImageRecord {
            preds,
            coco_preds: None,
            gts: gts.to_vec(),
            correct,
        });
    }

    /// [`add_image`](Self::add_image) for predictions that are not clipped to the
    /// image, as Ultralytics 8.4 validates them (its IoU is taken in the letterboxed
    /// input space on the raw NMS output); the COCO figures see them clipped to
    /// `width`×`height`, as Ultralytics' JSON export and so pycocotools do.
    pub fn add_image_unclipped(&mut self, preds: &[PredBox], gts: &[GtBox], width: f32, height: f32) {
        self.add_image(preds, gts);
        if let Some(im) = self.images.last_mut() {
            let clipped = im
                .preds
                .iter()
                .map(|p| PredBox {
                    bbox: [
                        p.bbox[0].clamp(0.0, width),
                        p.bbox[1].clamp(0.0, height),
                        p.bbox[2].clamp(0.0, width),
                        p.bbox[3].clamp(0.0, height),
                    ],
                    ..*p
                })
                .collect();
            im.coco_preds = Some(clipped);
        }
    }

    /// Ultralytics' metrics (see the module docs). `names[c]` names class
    /// `c`; missing names become `class{c}`.
    pub fn finish(&self, names: &[String]) -> DetectionMetrics {
        let nc_total = self.num_classes;
        // Stats concatenated in image order, then sorted by confidence.
        let mut stats: Vec<(f32, usize, [bool; NUM_IOU_THRESHOLDS])> = Vec::new();
        let mut instances = vec![0usize; nc_total];
        let mut images_with = vec![0usize; nc_total];
        for im in &self.images {
            for (p, c) in im.preds.iter().zip(&im.correct) {
                stats.push((p.confidence, p.class, *c));
            }
            let mut present = vec![false; nc_total];
            for g in &im.gts {
                instances[g.class] += 1;
                present[g.class] = true;
            }
            for (c, &here) in present.iter().enumerate() {
                if here {
                    images_with[c] += 1;
                }
            }
        }
        stats.sort_by(|a, b| cmp_desc(a.0 as f64, b.0 as f64));

        let x = linspace(0.0, 1.0, CURVE_POINTS);
        let neg_x: Vec<f64> = x.iter().map(|v| -v).collect();
        let classes: Vec<usize> = (0..nc_total).filter(|&c| instances[c] > 0).collect();
        let mut ap = vec![[0.0f64; NUM_IOU_THRESHOLDS]; classes.len()];
        let mut p_curve = vec![vec![0.0f64; CURVE_POINTS]; classes.len()];
        let mut r_curve = vec![vec![0.0f64; CURVE_POINTS]; classes.len()];
        let mut prec_values = vec![vec![0.0f64; CURVE_POINTS]; classes.len()];

        for (ci, &c) in classes.iter().enumerate() {
            let n_l = instances[c] as f64;
            let rows: Vec<&(f32, usize, [bool; NUM_IOU_THRESHOLDS])> = stats.iter().filter(|s| s.1 == c).collect();
            if rows.is_empty() {
                continue;
            }
            let neg_conf: Vec<f64> = rows.iter().map(|s| -(s.0 as f64)).collect();
            let mut recall: Vec<Vec<f64>> = (0..NUM_IOU_THRESHOLDS)
                .map(|_| Vec::with_capacity(rows.len()))
                .collect();
            let mut precision: Vec<Vec<f64>> = (0..NUM_IOU_THRESHOLDS)
                .map(|_| Vec::with_capacity(rows.len()))
                .collect();
            for t in 0..NUM_IOU_THRESHOLDS {
                let (mut tpc, mut fpc) = (0.0f64, 0.0f64);
                for s in &rows {
                    if s.2[t] {
                        tpc += 1.0;
                    } else {
                        fpc += 1.0;
                    }
                    recall[t].push(tpc / (n_l + 1e-16));
                    precision[t].push(tpc / (tpc + fpc));
                }
            }
            let r_last = recall[0][rows.len() - 1];
            let p_last = precision[0][rows.len() - 1];
            for (k, &q) in neg_x.iter().enumerate() {
                r_curve[ci][k] = interp(q, &neg_conf, &recall[0], 0.0, r_last);
                p_curve[ci][k] = interp(q, &neg_conf, &precision[0], 1.0, p_last);
            }
            for t in 0..NUM_IOU_THRESHOLDS {
                let (a, mpre, mrec) = compute_ap(&recall[t], &precision[t]);
                ap[ci][t] = a;
                if t == 0 {
                    let right = mpre.last().copied().unwrap_or(0.0);
                    prec_values[ci] = x.iter().map(|&v| interp(v, &mrec, &mpre, mpre[0], right)).collect();
                }
            }
        }

        let f1_curve: Vec<Vec<f64>> = p_curve
            .iter()
            .zip(&r_curve)
            .map(|(p, r)| p.iter().zip(r).map(|(&p, &r)| 2.0 * p * r / (p + r + 1e-16)).collect())
            .collect();
        let best = if classes.is_empty() {
            0
        } else {
            let n = classes.len() as f64;
            let mean_f1: Vec<f64> = (0..CURVE_POINTS)
                .map(|k| {
                    let mut s = 0.0;
                    for row in &f1_curve {
                        s += row[k];
                    }
                    s / n
                })
                .collect();
            argmax(&smooth(&mean_f1, 0.1))
        };

        let p_at: Vec<f64> = p_curve.iter().map(|row| row[best]).collect();
        let r_at: Vec<f64> = r_curve.iter().map(|row| row[best]).collect();
        let ap50: Vec<f64> = ap.iter().map(|a| a[0]).collect();
        let ap75: Vec<f64> = ap.iter().map(|a| a[5]).collect();
        let flat: Vec<f64> = ap.iter().flat_map(|a| a.iter().copied()).collect();
        let map50_95 = mean(&flat);

        let per_class = classes
            .iter()
            .enumerate()
            .map(|(ci, &c)| ClassMetrics {
                class: c,
                name: class_name(names, c),
                images: images_with[c],
                instances: instances[c],
                precision: p_at[ci],
                recall: r_at[ci],
                map50: ap[ci][0],
                map75: ap[ci][5],
                map50_95: mean(&ap[ci]),
                ap: ap[ci].to_vec(),
            })
            .collect();
        let curves = classes
            .iter()
            .enumerate()
            .map(|(ci, &c)| ClassCurve {
                class: c,
                name: class_name(names, c),
                ap50: ap[ci][0],
                precision: prec_values[ci].clone(),
                precision_at_conf: p_curve[ci].clone(),
                recall_at_conf: r_curve[ci].clone(),
                f1_at_conf: f1_curve[ci].clone(),
            })
            .collect();

        DetectionMetrics {
            images: self.images.len(),
            instances: instances.iter().sum(),
            precision: mean(&p_at),
            recall: mean(&r_at),
            map50: mean(&ap50),
            map75: mean(&ap75),
            map50_95,
            fitness: 0.1 * mean(&ap50) + 0.9 * map50_95,
            confidence_at_max_f1: x[best],
            per_class,
            pr_curve: PrCurve { x, classes: curves },
        }
    }

    /// pycocotools' COCOeval (bbox, area `all`) with its default of 100
    /// detections per image and class.
    pub fn finish_coco(&self) -> CocoMetrics {
        self.finish_coco_with_max_dets(COCO_DEFAULT_MAX_DETS)
    }

    /// pycocotools' COCOeval (bbox, area `all`) keeping at most `max_dets`
    /// highest-scoring detections per image and class (pycocotools'
    /// `params.maxDets[-1]`). Every box counts as non-crowd with an area
    /// inside the `all` range, so nothing is ignored. IoU is computed on
    /// `[x, y, w, h]` in f64 without a +1, as pycocotools' `bbIou`.
    pub fn finish_coco_with_max_dets(&self, max_dets: usize) -> CocoMetrics {
        let iou_thrs = linspace(0.5, 0.95, NUM_IOU_THRESHOLDS);
        let rec_thrs = linspace(0.0, 1.0, NUM_RECALL_POINTS);
        let mut per_class = Vec::new();
        for class in 0..self.num_classes {
            // (score, matched per threshold) of every kept detection, image order.
            let mut dets: Vec<(f64, [bool; NUM_IOU_THRESHOLDS])> = Vec::new();
            let mut npig = 0usize;
            for im in &self.images {
                let gts: Vec<[f64; 4]> = im
                    .gts
                    .iter()
                    .filter(|g| g.class == class)
                    .map(|g| xywh(&g.bbox))
                    .collect();
                // Predictions are stored in stable descending-score order,
                // which is pycocotools' mergesort on -score.
                let dts: Vec<&PredBox> = im
                    .coco_preds
                    .as_ref()
                    .unwrap_or(&im.preds)
                    .iter()
                    .filter(|p| p.class == class)
                    .take(max_dets)
                    .collect();
                if gts.is_empty() && dts.is_empty() {
                    continue;
                }
                npig += gts.len();
                let dt_boxes: Vec<[f64; 4]> = dts.iter().map(|p| xywh(&p.bbox)).collect();
                let ious: Vec<Vec<f64>> = dt_boxes
                    .iter()
                    .map(|d| gts.iter().map(|g| iou_coco(d, g)).collect())
                    .collect();
                let mut matched = vec![[false; NUM_IOU_THRESHOLDS]; dts.len()];
                if !gts.is_empty() {
                    for (t, &thr) in iou_thrs.iter().enumerate() {
                        let mut gt_taken = vec![false; gts.len()];
                        for (d, row) in ious.iter().enumerate() {
                            let mut best = thr.min(1.0 - 1e-10);
                            let mut m = None;
                            for (g, &v) in row.iter().enumerate() {
                                if gt_taken[g] || v < best {
                                    continue;
                                }
                                best = v;
                                m = Some(g);
                            }
                            if let Some(g) = m {
                                gt_taken[g] = true;
                                matched[d][t] = true;
                            }
                        }
                    }
                }
                dets.extend(dts.iter().zip(matched).map(|(p, m)| (p.confidence as f64, m)));
            }
            if npig == 0 {
                continue; // pycocotools leaves the category at -1
            }
            dets.sort_by(|a, b| cmp_desc(a.0, b.0));
            let nd = dets.len();
            let mut precision = vec![vec![0.0f64; NUM_RECALL_POINTS]; NUM_IOU_THRESHOLDS];
            let mut recall = vec![0.0f64; NUM_IOU_THRESHOLDS];
            for t in 0..NUM_IOU_THRESHOLDS {
                let (mut tp, mut fp) = (0.0f64, 0.0f64);
                let mut rc = Vec::with_capacity(nd);
                let mut pr = Vec::with_capacity(nd);
                for d in &dets {
                    if d.1[t] {
                        tp += 1.0;
                    } else {
                        fp += 1.0;
                    }
                    rc.push(tp / npig as f64);
                    pr.push(tp / (fp + tp + f64::EPSILON));
                }
                recall[t] = rc.last().copied().unwrap_or(0.0);
                for i in (1..nd).rev() {
                    if pr[i] > pr[i - 1] {
                        pr[i - 1] = pr[i];
                    }
                }
                for (r, &thr) in rec_thrs.iter().enumerate() {
                    let i = searchsorted_left(&rc, thr);
                    if i >= nd {
                        break;
                    }
                    precision[t][r] = pr[i];
                }
            }
            let flat: Vec<f64> = precision.iter().flat_map(|row| row.iter().copied()).collect();
            per_class.push(CocoClassMetrics {
                class,
                ap: mean(&flat),
                ap50: mean(&precision[0]),
                ap75: mean(&precision[5]),
                ar: mean(&recall),
                precision,
                recall,
            });
        }
        if per_class.is_empty() {
            return CocoMetrics {
                max_dets,
                ap: None,
                ap50: None,
                ap75: None,
                ar: None,
                per_class,
            };
        }
        // pycocotools averages the flattened [T][R][K] (or [T][K]) array.
        let gather = |t_range: std::ops::Range<usize>| -> f64 {
            let mut v = Vec::new();
            for t in t_range {
                for r in 0..NUM_RECALL_POINTS {
                    for c in &per_class {
                        v.push(c.precision[t][r]);
                    }
                }
            }
            mean(&v)
        };
        let mut rec = Vec::new();
        for t in 0..NUM_IOU_THRESHOLDS {
            for c in &per_class {
                rec.push(c.recall[t]);
            }
        }
        CocoMetrics {
            max_dets,
            ap: Some(gather(0..NUM_IOU_THRESHOLDS)),
            ap50: Some(gather(0..1)),
            ap75: Some(gather(5..6)),
            ar: Some(mean(&rec)),
            per_class,
        }
    }

    /// Ultralytics' confusion matrix over all images: detections with
    /// confidence `> conf` are matched class-agnostically, greedily in
    /// descending confidence, each to its best unclaimed ground truth with
    /// IoU `> iou`. Ultralytics' validator passes its `conf` argument
    /// (0.001 by default for `val`) and IoU 0.45.
    pub fn confusion_matrix(&self, conf: f32, iou: f32) -> ConfusionMatrix {
        let nc = self.num_classes;
        let mut m = vec![vec![0u64; nc + 1]; nc + 1];
        for im in &self.images {
            if im.gts.is_empty() {
                for p in im.preds.iter().filter(|p| p.confidence > conf) {
                    m[p.class][nc] += 1;
                }
                continue;
            }
            if im.preds.is_empty() {
                for g in &im.gts {
                    m[nc][g.class] += 1;
                }
                continue;
            }
            // Kept detections, already in stable descending confidence.
            let dets: Vec<&PredBox> = im.preds.iter().filter(|p| p.confidence > conf).collect();
            let mut ious: Vec<Vec<f32>> = im
                .gts
                .iter()
                .map(|g| dets.iter().map(|d| iou_f32(&g.bbox, &d.bbox)).collect())
                .collect();
            let mut gt_match: Vec<Option<usize>> = vec![None; im.gts.len()];
            let mut det_matched = vec![false; dets.len()];
            for di in 0..dets.len() {
                if !ious.iter().any(|row| row[di] > iou) {
                    continue;
                }
                let mut best = 0usize;
                for g in 1..ious.len() {
                    if ious[g][di] > ious[best][di] {
                        best = g;
                    }
                }
                if ious[best][di] > iou {
                    gt_match[best] = Some(di);
                    det_matched[di] = true;
                    ious[best].iter_mut().for_each(|v| *v = 0.0);
                }
            }
            for (g, gt) in im.gts.iter().enumerate() {
                match gt_match[g] {
                    Some(di) => m[dets[di].class][gt.class] += 1,
                    None => m[nc][gt.class] += 1,
                }
            }
            for (di, d) in dets.iter().enumerate() {
                if !det_matched[di] {
                    m[d.class][nc] += 1;
                }
            }
        }
        ConfusionMatrix {
            num_classes: nc,
            conf,
            iou,
            matrix: m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gt(class: usize, bbox: [f32; 4]) -> GtBox {
        GtBox { class, bbox }
    }

    fn pred(class: usize, bbox: [f32; 4], confidence: f32) -> PredBox {
        PredBox {
            class,
            bbox,
            confidence,
        }
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    /// AP that Ultralytics' compute_ap gives for a PR curve that is 1 up to
    /// recall `r` and then drops to 0 (trapezoid over the 101-point grid).
    fn step_ap(r: f64) -> f64 {
        let x = linspace(0.0, 1.0, NUM_RECALL_POINTS);
        let y: Vec<f64> = x.iter().map(|&v| if v < r { 1.0 } else { 0.0 }).collect();
        trapezoid(&y, &x)
    }

    #[test]
    fn iou_thresholds_are_half_to_095_in_f32() {
        let t = ultralytics_iou_thresholds();
        assert_eq!(t[0], 0.5);
        assert_eq!(t[9], 0.95f32);
        for (i, v) in t.iter().enumerate() {
            assert!((*v as f64 - (0.5 + 0.05 * i as f64)).abs() < 1e-6);
        }
    }

    #[test]
    fn single_perfect_detection_gives_ap_0995_at_every_threshold() {
        let mut ev = DetectionEvaluator::new(1);
        ev.add_image(
            &[pred(0, [10.0, 10.0, 50.0, 50.0], 0.9)],
            &[gt(0, [10.0, 10.0, 50.0, 50.0])],
        );
        let m = ev.finish(&names(1));
        // Envelope is 1 on [0, 1) and 0 at recall 1: 99 full trapezoids + one half.
        assert!((m.map50 - 0.995).abs() < 1e-12, "{}", m.map50);
        assert!((m.map50_95 - 0.995).abs() < 1e-12);
        assert_eq!(m.per_class.len(), 1);
        assert!(m.per_class[0].ap.iter().all(|a| (a - 0.995).abs() < 1e-12));
        assert_eq!(m.precision, 1.0);
        assert_eq!(m.recall, 1.0);
        assert!((m.fitness - (0.1 * m.map50 + 0.9 * m.map50_95)).abs() < 1e-12);
        assert_eq!(m.images, 1);
        assert_eq!(m.instances, 1);
    }

    #[test]
    fn false_positive_ranked_above_true_positive_halves_the_precision() {
        let mut ev = DetectionEvaluator::new(1);
        ev.add_image(
            &[
                pred(0, [100.0, 100.0, 140.0, 140.0], 0.9),
                pred(0, [10.0, 10.0, 50.0, 50.0], 0.8),
            ],
            &[gt(0, [10.0, 10.0, 50.0, 50.0])],
        );
        let m = ev.finish(&names(1));
        // recall [0, 1], precision [0, 0.5] -> envelope 0.5 on [0, 1), 0 at 1.
        let x = linspace(0.0, 1.0, NUM_RECALL_POINTS);
        let y: Vec<f64> = x.iter().map(|&v| if v < 1.0 { 0.5 } else { 0.0 }).collect();
        let expected = trapezoid(&y, &x);
        assert!((expected - 0.4975).abs() < 1e-12);
        assert!((m.map50 - expected).abs() < 1e-12, "{}", m.map50);
        // Swapping the ranks gives the perfect curve back.
        let mut swapped = DetectionEvaluator::new(1);
        swapped.add_image(
            &[
                pred(0, [100.0, 100.0, 140.0, 140.0], 0.8),
                pred(0, [10.0, 10.0, 50.0, 50.0], 0.9),
            ],
            &[gt(0, [10.0, 10.0, 50.0, 50.0])],
        );
        assert!((swapped.finish(&names(1)).map50 - 0.995).abs() < 1e-12);
    }

    #[test]
    fn class_without_ground_truth_is_left_out_of_the_means() {
        let mut ev = DetectionEvaluator::new(3);
        ev.add_image(
            &[
                pred(0, [10.0, 10.0, 50.0, 50.0], 0.9),
                pred(2, [200.0, 200.0, 240.0, 240.0], 0.95), // class 2 has no ground truth
            ],
            &[gt(0, [10.0, 10.0, 50.0, 50.0])],
        );
        let m = ev.finish(&names(3));
        assert_eq!(m.per_class.iter().map(|c| c.class).collect::<Vec<_>>(), vec![0]);
        assert!((m.map50 - 0.995).abs() < 1e-12);
        assert_eq!(m.pr_curve.classes.len(), 1);
        let coco = ev.finish_coco();
        assert_eq!(coco.per_class.len(), 1);
        // pycocotools' precision is tp / (tp + fp + eps), a hair under 1.
        assert!((coco.ap50.unwrap_or(-1.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn class_with_ground_truth_but_no_prediction_counts_as_zero() {
        let mut ev = DetectionEvaluator::new(2);
        ev.add_image(
            &[pred(0, [10.0, 10.0, 50.0, 50.0], 0.9)],
            &[gt(0, [10.0, 10.0, 50.0, 50.0]), gt(1, [60.0, 60.0, 90.0, 90.0])],
        );
        let m = ev.finish(&names(2));
        assert_eq!(m.per_class.len(), 2);
        assert_eq!(m.per_class[1].map50, 0.0);
        assert!((m.map50 - 0.995 / 2.0).abs() < 1e-12);
    }

    #[test]
    fn no_predictions_give_zero_everywhere() {
        let mut ev = DetectionEvaluator::new(2);
        ev.add_image(&[], &[gt(0, [10.0, 10.0, 50.0, 50.0]), gt(1, [60.0, 60.0, 90.0, 90.0])]);
        ev.add_image(&[], &[]);
        let m = ev.finish(&names(2));
        assert_eq!((m.precision, m.recall, m.map50, m.map50_95), (0.0, 0.0, 0.0, 0.0));
        assert_eq!(m.images, 2);
        assert_eq!(m.instances, 2);
        assert_eq!(m.per_class.iter().map(|c| c.instances).collect::<Vec<_>>(), vec![1, 1]);
        let coco = ev.finish_coco();
        assert_eq!(coco.ap, Some(0.0));
        assert_eq!(coco.ar, Some(0.0));
    }

    #[test]
    fn empty_evaluator_reports_zero_and_coco_reports_none() {
        let ev = DetectionEvaluator::new(2);
        let m = ev.finish(&[]);
        assert_eq!((m.map50, m.map50_95, m.precision), (0.0, 0.0, 0.0));
        assert!(m.per_class.is_empty());
        assert_eq!(ev.finish_coco().ap, None);
    }

    #[test]
    fn iou_between_thresholds_is_correct_only_at_the_lower_ones() {
        // gt 100x100, prediction shifted 20 px: IoU = 80*100 / (2*10000 - 8000) = 2/3.
        let mut ev = DetectionEvaluator::new(1);
        ev.add_image(
            &[pred(0, [20.0, 0.0, 120.0, 100.0], 0.9)],
            &[gt(0, [0.0, 0.0, 100.0, 100.0])],
        );
        let m = ev.finish(&names(1));
        let ap = &m.per_class[0].ap;
        // thresholds 0.50, 0.55, 0.60, 0.65 pass; 0.70.. fail.
        for (t, a) in ap.iter().enumerate() {
            let expected = if t < 4 { 0.995 } else { 0.0 };
            assert!((a - expected).abs() < 1e-12, "t{t}: {a}");
        }
        assert!((m.map50_95 - 0.4 * 0.995).abs() < 1e-12);
    }

    #[test]
    fn duplicate_detection_is_a_false_positive_after_the_first_claims_the_object() {
        let mut ev = DetectionEvaluator::new(1);
        // Two boxes on one object: the higher confidence one (less accurate)
        // claims it, the better-aligned lower one becomes a false positive.
        ev.add_image(
            &[
                pred(0, [0.0, 0.0, 100.0, 100.0], 0.6),
                pred(0, [10.0, 0.0, 110.0, 100.0], 0.9),
            ],
            &[gt(0, [0.0, 0.0, 100.0, 100.0])],
        );
        let m = ev.finish(&names(1));
        // Order: TP (0.9, IoU 0.818) then FP. At t <= 0.80: AP 0.995; above: the
        // 0.9 box fails, the perfect 0.6 box claims it at rank 2 -> precision 1/2.
        let ap = &m.per_class[0].ap;
        let half = {
            let x = linspace(0.0, 1.0, NUM_RECALL_POINTS);
            let y: Vec<f64> = x.iter().map(|&v| if v < 1.0 { 0.5 } else { 0.0 }).collect();
            trapezoid(&y, &x)
        };
        for (t, a) in ap.iter().enumerate() {
            let expected = if t <= 6 { 0.995 } else { half };
            assert!((a - expected).abs() < 1e-12, "t{t}: {a}");
        }
    }

    #[test]
    fn wrong_class_never_matches() {
        let mut ev = DetectionEvaluator::new(2);
        ev.add_image(
            &[pred(1, [0.0, 0.0, 10.0, 10.0], 0.9)],
            &[gt(0, [0.0, 0.0, 10.0, 10.0])],
        );
        let m = ev.finish(&names(2));
        assert_eq!(m.map50, 0.0);
        let cm = ev.confusion_matrix(0.25, 0.45);
        assert_eq!(cm.get(1, 0), 1); // predicted 1, true 0
        assert_eq!(cm.get(2, 0), 0);
        assert_eq!(cm.get(1, 2), 0);
    }

    #[test]
    fn partial_recall_ap_is_the_step_area() {
        // Two objects, only one found: recall 0.5 with precision 1.
        let mut ev = DetectionEvaluator::new(1);
        ev.add_image(
            &[pred(0, [0.0, 0.0, 10.0, 10.0], 0.9)],
            &[gt(0, [0.0, 0.0, 10.0, 10.0]), gt(0, [50.0, 50.0, 60.0, 60.0])],
        );
        let m = ev.finish(&names(1));
        // Ultralytics 8.4 sentinels: precision drops to 0 right after r = 0.5
        // (and is 0 at exactly 0.5, numpy's interp picks the last repeated point).
        assert!((m.map50 - step_ap(0.5)).abs() < 1e-12, "{}", m.map50);
        assert!((m.map50 - 0.495).abs() < 1e-12);
    }

    #[test]
    fn precision_and_recall_come_from_the_max_f1_confidence() {
        // One class, 2 objects: TP at 0.9, FP at 0.6, TP at 0.3.
        let mut ev = DetectionEvaluator::new(1);
        ev.add_image(
            &[
                pred(0, [0.0, 0.0, 10.0, 10.0], 0.9),
                pred(0, [200.0, 200.0, 210.0, 210.0], 0.6),
                pred(0, [50.0, 50.0, 60.0, 60.0], 0.3),
            ],
            &[gt(0, [0.0, 0.0, 10.0, 10.0]), gt(0, [50.0, 50.0, 60.0, 60.0])],
        );
        let m = ev.finish(&names(1));
        // Below 0.3 the curve is (P 2/3, R 1) -> F1 0.8, above 0.9 it is 0, in
        // between F1 rises from 2/3 (P 1/2..1, R 1/2). The smoothed maximum is
        // at the low-confidence plateau, so P = 2/3 and R = 1 exactly.
        assert!(m.confidence_at_max_f1 < 0.3, "{}", m.confidence_at_max_f1);
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12, "{}", m.precision);
        assert!((m.recall - 1.0).abs() < 1e-12);
    }

    #[test]
    fn smooth_is_a_box_filter_with_edge_padding() {
        let y: Vec<f64> = (0..1000).map(|i| if i < 500 { 0.0 } else { 1.0 }).collect();
        let s = smooth(&y, 0.1); // 101-wide
        assert_eq!(s.len(), 1000);
        assert_eq!(s[0], 0.0);
        assert!((s[999] - 1.0).abs() < 1e-12);
        assert!((s[500] - 51.0 / 101.0).abs() < 1e-12);
    }

    #[test]
    fn prediction_order_does_not_matter() {
        let preds = [
            pred(0, [0.0, 0.0, 10.0, 10.0], 0.4),
            pred(0, [1.0, 0.0, 11.0, 10.0], 0.8),
            pred(1, [20.0, 20.0, 40.0, 40.0], 0.6),
        ];
        let gts = [gt(0, [0.0, 0.0, 10.0, 10.0]), gt(1, [21.0, 20.0, 40.0, 40.0])];
        let mut a = DetectionEvaluator::new(2);
        a.add_image(&preds, &gts);
        let mut reversed = preds;
        reversed.reverse();
        let mut b = DetectionEvaluator::new(2);
        b.add_image(&reversed, &gts);
        assert_eq!(a.finish(&names(2)), b.finish(&names(2)));
        assert_eq!(a.finish_coco(), b.finish_coco());
    }

    #[test]
    fn out_of_range_classes_grow_the_class_count() {
        let mut ev = DetectionEvaluator::new(1);
        ev.add_image(
            &[pred(3, [0.0, 0.0, 10.0, 10.0], 0.9)],
            &[gt(3, [0.0, 0.0, 10.0, 10.0])],
        );
        assert_eq!(ev.num_classes(), 4);
        let m = ev.finish(&names(1));
        assert_eq!(m.per_class[0].name, "class3");
        assert_eq!(ev.confusion_matrix(0.25, 0.45).size(), 5);
    }

    #[test]
    fn confusion_matrix_counts_matches_misses_and_background() {
        let mut ev = DetectionEvaluator::new(2);
        ev.add_image(
            &[
                pred(0, [0.0, 0.0, 10.0, 10.0], 0.9),       // matches gt 0 (class 0)
                pred(0, [0.0, 0.0, 10.0, 10.5], 0.8),       // duplicate: background FP
                pred(1, [100.0, 100.0, 120.0, 120.0], 0.7), // nothing there: FP
                pred(1, [50.0, 50.0, 60.0, 60.0], 0.1),     // below conf: ignored
            ],
            &[gt(0, [0.0, 0.0, 10.0, 10.0]), gt(1, [50.0, 50.0, 60.0, 60.0])],
        );
        ev.add_image(&[pred(1, [0.0, 0.0, 5.0, 5.0], 0.5)], &[]); // FP on empty image
        ev.add_image(&[], &[gt(1, [0.0, 0.0, 5.0, 5.0])]); // missed
        let cm = ev.confusion_matrix(0.25, 0.45);
        assert_eq!(cm.size(), 3);
        assert_eq!(cm.matrix, vec![vec![1, 0, 1], vec![0, 0, 2], vec![0, 2, 0]]);
        assert_eq!(cm.tp_fp(), (vec![1, 0], vec![1, 2]));
        let norm = cm.normalized();
        assert!((norm[2][1] - 1.0).abs() < 1e-6);
        assert!((norm[0][2] - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn confusion_matrix_greedy_by_confidence_takes_best_iou_ground_truth() {
        let mut ev = DetectionEvaluator::new(2);
        // Two objects side by side; the confident detection overlaps both above
        // 0.45 (A 0.54, B 0.67) and takes B, its best; the second then takes A
        // (had the first taken A, the second would overlap B by only 0.43).
        ev.add_image(
            &[
                pred(1, [3.0, 0.0, 13.0, 10.0], 0.9),
                pred(0, [1.0, 0.0, 11.0, 10.0], 0.5),
            ],
            &[gt(0, [0.0, 0.0, 10.0, 10.0]), gt(1, [5.0, 0.0, 15.0, 10.0])],
        );
        let cm = ev.confusion_matrix(0.25, 0.45);
        assert_eq!(cm.get(1, 1), 1);
        assert_eq!(cm.get(0, 0), 1);
        assert_eq!(cm.get(2, 0) + cm.get(2, 1) + cm.get(0, 2) + cm.get(1, 2), 0);
    }

    #[test]
    fn coco_max_dets_keeps_the_highest_scores_per_image_and_class() {
        let mut ev = DetectionEvaluator::new(1);
        // The object is only found by the lowest-scoring detection.
        let mut preds: Vec<PredBox> = (0..5)
            .map(|i| pred(0, [100.0 + 20.0 * i as f32, 0.0, 110.0 + 20.0 * i as f32, 10.0], 0.9))
            .collect();
        preds.push(pred(0, [0.0, 0.0, 10.0, 10.0], 0.1));
        ev.add_image(&preds, &[gt(0, [0.0, 0.0, 10.0, 10.0])]);
        assert_eq!(ev.finish_coco_with_max_dets(5).ap, Some(0.0));
        let all = ev.finish_coco_with_max_dets(100);
        // Found at rank 6: precision 1/6 at every recall point.
        assert!((all.ap.unwrap_or(-1.0) - 1.0 / 6.0).abs() < 1e-12);
        assert_eq!(all.ar, Some(1.0));
    }

    #[test]
    fn iou_ties_go_to_the_last_ground_truth_in_coco_and_the_first_in_ultralytics() {
        // A = [0,0,10,10], B = [2,0,12,10]; D1 = [1,0,11,10] has IoU 90/110 with
        // both; D2 = A exactly (IoU 1 with A, 80/120 with B).
        let gts = [gt(0, [0.0, 0.0, 10.0, 10.0]), gt(0, [2.0, 0.0, 12.0, 10.0])];
        let preds = [
            pred(0, [1.0, 0.0, 11.0, 10.0], 0.9),
            pred(0, [0.0, 0.0, 10.0, 10.0], 0.8),
        ];
        let mut ev = DetectionEvaluator::new(1);
        ev.add_image(&preds, &gts);
        // pycocotools (`if iou < best: continue`): D1 takes B, D2 takes A, so
        // at IoU 0.70 both objects are found.
        let coco = ev.finish_coco();
        assert_eq!(coco.per_class[0].recall[4], 1.0);
        // Ultralytics (np.argmax, first maximum): D1 takes A; D2 overlaps B by
        // only 0.67, so at 0.70 it is a false positive.
        let m = ev.finish(&names(1));
        assert!((m.per_class[0].ap[3] - 0.995).abs() < 1e-12); // 0.65: D2 takes B
        assert!((m.per_class[0].ap[4] - step_ap(0.5)).abs() < 1e-12); // 0.70
    }
}
