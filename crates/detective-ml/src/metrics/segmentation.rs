//! Segmentation metrics: Dice and IoU of predicted defect pixels against the
//! ground-truth mask, at a threshold and swept over thresholds.
//!
//! Two averages, both reported:
//! - **per image** (mean over images): every image weighs the same, and a defect-free
//!   image counts: predicting nothing on it scores 1, any false alarm scores 0;
//! - **over all pixels** (pooled true/false positives of the whole split): big
//!   defects weigh more.
//!
//! Thresholds: the one asked for (a pixel is a defect when `p ≥ threshold`),
//! counted exactly, plus a sweep over 0.01…0.99 (from 1000-bin histograms of the
//! probabilities, exact for thresholds that are multiples of 0.001) that gives the
//! best threshold of the split by [`SegScores::fitness`].
//!
//! **Fitness.** On real sets most images are clean, and the per-image Dice gives 1
//! to every clean image on which nothing is predicted, so a model that finds
//! nothing can score well by it. The fitness that picks the best epoch and the
//! best threshold is the harmonic mean of two parts that predicting nothing (or
//! everything) cannot both win: the Dice over the defect pixels of the defective
//! images, and the share of clean images without a false alarm.

use super::pro::RegionScores;

/// Histogram bins of the probability sweep.
const BINS: usize = 1000;
/// Histogram bins of the pixel-level AUROC (pixels in one bin count as ties).
const ROC_BINS: usize = 100_000;
/// Thresholds of the sweep: 0.01, 0.02, … 0.99.
const SWEEP: usize = 99;

/// Pixel counts of one image at one threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PixelCounts {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
}

impl PixelCounts {
    /// `2·tp / (2·tp + fp + fn)`; 1 when the image has no defect and none is predicted.
    pub fn dice(&self) -> f64 {
        let d = 2 * self.tp + self.fp + self.fn_;
        if d == 0 { 1.0 } else { 2.0 * self.tp as f64 / d as f64 }
    }

    /// `tp / (tp + fp + fn)`; 1 when both are empty.
    pub fn iou(&self) -> f64 {
        let d = self.tp + self.fp + self.fn_;
        if d == 0 { 1.0 } else { self.tp as f64 / d as f64 }
    }

    fn add(&mut self, o: &PixelCounts) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
    }
}

/// Dice and IoU at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SegScores {
    pub threshold: f32,
    /// Means over images.
    pub dice: f64,
    pub iou: f64,
    /// Over all pixels of the split.
    pub dice_pixels: f64,
    pub iou_pixels: f64,
    /// Over the pixels of the images that have a defect (0 without any).
    pub dice_defects: f64,
    /// The share of clean images on which no pixel is predicted (1 without any).
    pub clean_ok: f64,
    /// The harmonic mean of `dice_defects` and `clean_ok`: what the best epoch and
    /// threshold are chosen by.
    pub fitness: f64,
}

/// What [`SegEvaluator::finish`] reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SegMetrics {
    pub images: usize,
    /// Images with at least one defect pixel in the ground truth.
    pub images_with_defects: usize,
    /// At the requested threshold.
    pub at: SegScores,
    /// At the threshold of the sweep with the best fitness (ties: the best Dice
    /// over pixels).
    pub best: SegScores,
    /// Clean images (no ground-truth defect) with at least one predicted defect
    /// pixel at the requested threshold.
    pub false_alarms: usize,
    /// Image level: the area under the ROC curve of "defective or not" scored by
    /// the highest pixel probability of each image (None without both kinds).
    pub auroc: Option<f64>,
    /// Pixel level: the area under the ROC curve of "defect pixel or not" scored
    /// by each pixel's probability, over all pixels of the split (None without
    /// both kinds).
    pub pixel_auroc: Option<f64>,
    /// Region level: the normalised area under the PRO curve up to 30 % false
    /// positives ([`super::pro`]), when the images' regions were added with
    /// [`SegEvaluator::add_regions`] (None otherwise, or without both kinds).
    pub pro: Option<f64>,
    /// Image level at the requested threshold: an image is flagged when its
    /// highest probability reaches it.
    pub flagged: ImageCounts,
    /// The highest probability of each clean image, to calibrate a threshold on.
    #[serde(skip)]
    pub clean_peaks: Vec<f32>,
    /// A model with one output per class (`--classes`): the scores of each class's
    /// map against that class's pixels, at the requested threshold. Empty for a
    /// single defect map.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_class: Vec<ClassSegScores>,
}

impl SegMetrics {
    /// The mean of the image and pixel AUROC (those the split allows; None
    /// without either): what an anomaly model's epochs and versions are ranked by.
    pub fn mean_auroc(&self) -> Option<f64> {
        match (self.auroc, self.pixel_auroc) {
            (Some(i), Some(p)) => Some((i + p) / 2.0),
            (a, b) => a.or(b),
        }
    }
}

/// Images flagged (highest probability at or above a threshold) against the
/// truth (a defect pixel in the mask).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ImageCounts {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Flagged clean images over all clean images.
    pub false_alarm_rate: f64,
}

impl ImageCounts {
    fn of(peaks: &[f32], defective: &[bool], threshold: f32) -> Self {
        let mut c = ImageCounts::default();
        for (&p, &d) in peaks.iter().zip(defective) {
            match (p >= threshold, d) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, true) => c.fn_ += 1,
                (false, false) => c.tn += 1,
            }
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        c.precision = ratio(c.tp, c.tp + c.fp);
        c.recall = ratio(c.tp, c.tp + c.fn_);
        c.f1 = harmonic_mean(c.precision, c.recall);
        c.false_alarm_rate = ratio(c.fp, c.fp + c.tn);
        c
    }
}

/// The area under the ROC curve from histograms of the positives' and the
/// negatives' scores over the same bins (a pair in one bin counts half).
fn auroc_of_histograms(pos: &[u64], neg: &[u64]) -> Option<f64> {
    let (tp, tn): (u64, u64) = (pos.iter().sum(), neg.iter().sum());
    if tp == 0 || tn == 0 {
        return None;
    }
    // for each positive: the negatives below it, plus half of those in its bin
    let (mut below, mut wins) = (0u64, 0f64);
    for (&p, &n) in pos.iter().zip(neg) {
        wins += p as f64 * (below as f64 + n as f64 / 2.0);
        below += n;
    }
    Some(wins / (tp as f64 * tn as f64))
}

/// The threshold at which at most `rate` of the `clean` scores reach it: just
/// above the clean score ranked `⌊rate · n⌋` from the top (None without clean
/// scores). Below 1, so a map can still reach it.
pub fn threshold_for_false_alarms(clean: &[f32], rate: f32) -> Option<f32> {
    if clean.is_empty() {
        return None;
    }
    let mut sorted = clean.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let k = ((rate.clamp(0.0, 1.0) * sorted.len() as f32).floor() as usize).min(sorted.len() - 1);
    Some((sorted[k] + 1e-6).clamp(1e-6, 0.999_999))
}

/// The scores of one class of a per-class segmenter. An image without pixels of
/// the class is a clean part for it (predicting none scores 1, any scores 0).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClassSegScores {
    pub class: usize,
    pub name: String,
    /// Images with pixels of this class in the ground truth.
    pub images_with_defects: usize,
    pub dice: f64,
    pub iou: f64,
    pub dice_pixels: f64,
    pub iou_pixels: f64,
}

impl ClassSegScores {
    /// The scores of class `class` from its own evaluator's report.
    pub fn from_metrics(class: usize, name: &str, m: &SegMetrics) -> Self {
        ClassSegScores {
            class,
            name: name.to_string(),
            images_with_defects: m.images_with_defects,
            dice: m.at.dice,
            iou: m.at.iou,
            dice_pixels: m.at.dice_pixels,
            iou_pixels: m.at.iou_pixels,
        }
    }
}

/// The probability that a random positive scores above a random negative (ties
/// count half): the area under the ROC curve. None without both kinds.
fn auroc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let mut ranked: Vec<(f32, bool)> = scores.iter().copied().zip(positive.iter().copied()).collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pos = ranked.iter().filter(|r| r.1).count();
    let neg = ranked.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    // Mann–Whitney: the sum of the positives' ranks (ties share their mean rank)
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < ranked.len() {
        let j = (i..ranked.len())
            .find(|&j| ranked[j].0 != ranked[i].0)
            .unwrap_or(ranked.len());
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mean_rank * ranked[i..j].iter().filter(|r| r.1).count() as f64;
        i = j;
    }
    Some((rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos * neg) as f64)
}

/// `2ab / (a + b)`, 0 when both are 0.
fn harmonic_mean(a: f64, b: f64) -> f64 {
    if a + b <= 0.0 { 0.0 } else { 2.0 * a * b / (a + b) }
}

/// Accumulates images, then reports.
#[derive(Debug, Clone)]
pub struct SegEvaluator {
    threshold: f32,
    /// Per image: whether its ground truth has a defect.
    defective: Vec<bool>,
    /// Per image: its highest pixel probability.
    peak: Vec<f32>,
    at: Vec<PixelCounts>,
    sweep: Vec<[PixelCounts; SWEEP]>,
    with_defects: usize,
    false_alarms: usize,
    /// All pixels' probabilities, binned: defect pixels and the others.
    roc_pos: Vec<u64>,
    roc_neg: Vec<u64>,
    /// The defect regions' scores, for PRO.
    regions: RegionScores,
}

impl SegEvaluator {
    /// `threshold` must be within (0, 1).
    pub fn new(threshold: f32) -> Self {
        SegEvaluator {
            threshold,
            defective: Vec::new(),
            peak: Vec::new(),
            at: Vec::new(),
            sweep: Vec::new(),
            with_defects: 0,
            false_alarms: 0,
            roc_pos: vec![0; ROC_BINS],
            roc_neg: vec![0; ROC_BINS],
            regions: RegionScores::default(),
        }
    }

    /// Adds one image: defect probabilities and the ground truth (`true` = defect),
    /// both row-major and the same length.
    pub fn add_image(&mut self, probs: &[f32], truth: &[bool]) {
        self.add_labelled_image(probs, truth, false);
    }

    /// Adds one image as [`SegEvaluator::add_image`] does, but defective also
    /// when `labelled_defect` (it has labelled boxes) although its mask marks no
    /// pixel: it then counts as defective at the image level (AUROC, flagged
    /// images, no clean-image calibration) and its pixels, whose truth is
    /// unknown, stay out of the pixel AUROC.
    pub fn add_labelled_image(&mut self, probs: &[f32], truth: &[bool], labelled_defect: bool) {
        let unknown_pixels = labelled_defect && !truth.contains(&true);
        let mut pos = vec![0u64; BINS];
        let mut neg = vec![0u64; BINS];
        let mut at = PixelCounts::default();
        for (&p, &t) in probs.iter().zip(truth) {
            let hit = p >= self.threshold;
            match (hit, t) {
                (true, true) => at.tp += 1,
                (true, false) => at.fp += 1,
                (false, true) => at.fn_ += 1,
                (false, false) => {}
            }
            let bin = ((p * BINS as f32) as usize).min(BINS - 1);
            let roc_bin = ((p * ROC_BINS as f32) as usize).min(ROC_BINS - 1);
            if t {
                pos[bin] += 1;
                self.roc_pos[roc_bin] += 1;
            } else {
                neg[bin] += 1;
                if !unknown_pixels {
                    self.roc_neg[roc_bin] += 1;
                }
            }
        }
        // counts with p ≥ bin / BINS, from the top bin down
        let mut sweep = [PixelCounts::default(); SWEEP];
        let total_pos: u64 = pos.iter().sum();
        let (mut cp, mut cn) = (0u64, 0u64);
        let mut next = SWEEP;
        for bin in (0..BINS).rev() {
            cp += pos[bin];
            cn += neg[bin];
            while next > 0 && bin == next * BINS / 100 {
                next -= 1;
                sweep[next] = PixelCounts {
                    tp: cp,
                    fp: cn,
                    fn_: total_pos - cp,
                };
            }
        }
        let defective = total_pos > 0 || labelled_defect;
        if defective {
            self.with_defects += 1;
        } else if at.fp > 0 {
            self.false_alarms += 1;
        }
        self.defective.push(defective);
        self.peak.push(probs.iter().copied().fold(0.0, f32::max));
        self.at.push(at);
        self.sweep.push(sweep);
    }

    /// Adds the defect regions of an image added with
    /// [`SegEvaluator::add_labelled_image`] (the same `probs` and `truth`,
    /// `width` pixels a row), so that [`SegMetrics::pro`] is reported.
    pub fn add_regions(&mut self, probs: &[f32], truth: &[bool], width: usize) {
        self.regions.add(probs, truth, width);
    }

    /// The scores at `threshold` of images whose counts are `counts` (in the
    /// order they were added).
    fn scores(&self, threshold: f32, counts: impl Iterator<Item = PixelCounts> + Clone) -> SegScores {
        let n = counts.clone().count().max(1) as f64;
        let mut pooled = PixelCounts::default();
        let mut defects = PixelCounts::default();
        let (mut clean, mut clean_ok) = (0usize, 0usize);
        let (mut dice, mut iou) = (0.0, 0.0);
        for (c, &defective) in counts.zip(&self.defective) {
            dice += c.dice();
            iou += c.iou();
            pooled.add(&c);
            if defective {
                defects.add(&c);
            } else {
                clean += 1;
                clean_ok += usize::from(c.fp == 0);
            }
        }
        let dice_defects = if defects.tp + defects.fn_ == 0 {
            0.0
        } else {
            defects.dice()
        };
        let clean_ok = if clean == 0 {
            1.0
        } else {
            clean_ok as f64 / clean as f64
        };
        SegScores {
            threshold,
            dice: dice / n,
            iou: iou / n,
            dice_pixels: pooled.dice(),
            iou_pixels: pooled.iou(),
            dice_defects,
            clean_ok,
            fitness: harmonic_mean(dice_defects, clean_ok),
        }
    }

    /// The highest probability of each clean image (no defect in its truth).
    pub fn clean_peaks(&self) -> Vec<f32> {
        self.peak
            .iter()
            .zip(&self.defective)
            .filter(|(_, d)| !**d)
            .map(|(p, _)| *p)
            .collect()
    }

    pub fn finish(&self) -> SegMetrics {
        let at = self.scores(self.threshold, self.at.iter().copied());
        let mut best = self.scores(0.5, self.sweep.iter().map(|s| s[49]));
        for k in 0..SWEEP {
            let s = self.scores((k + 1) as f32 / 100.0, self.sweep.iter().map(|s| s[k]));
            if (s.fitness, s.dice_pixels) > (best.fitness, best.dice_pixels) {
                best = s;
            }
        }
        SegMetrics {
            images: self.at.len(),
            images_with_defects: self.with_defects,
            at,
            best,
            false_alarms: self.false_alarms,
            auroc: auroc(&self.peak, &self.defective),
            pixel_auroc: auroc_of_histograms(&self.roc_pos, &self.roc_neg),
            pro: self.regions.area(&self.roc_neg),
            flagged: ImageCounts::of(&self.peak, &self.defective, self.threshold),
            clean_peaks: self.clean_peaks(),
            per_class: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_prediction_scores_one_and_clean_image_with_false_alarm_scores_zero() {
        let mut e = SegEvaluator::new(0.5);
        e.add_image(&[0.9, 0.1, 0.8, 0.2], &[true, false, true, false]);
        e.add_image(&[0.1, 0.2, 0.3, 0.4], &[false; 4]);
        let m = e.finish();
        assert_eq!((m.images, m.images_with_defects, m.false_alarms), (2, 1, 0));
        assert_eq!((m.at.dice, m.at.iou, m.at.dice_pixels), (1.0, 1.0, 1.0));
        e.add_image(&[0.6, 0.0, 0.0, 0.0], &[false; 4]);
        let m = e.finish();
        assert_eq!(m.false_alarms, 1);
        assert!((m.at.dice - 2.0 / 3.0).abs() < 1e-12, "{}", m.at.dice);
        // pooled: tp 2, fp 1, fn 0 → dice 4/5, iou 2/3
        assert!((m.at.dice_pixels - 0.8).abs() < 1e-12);
        assert!((m.at.iou_pixels - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn dice_and_iou_follow_their_definitions() {
        let mut e = SegEvaluator::new(0.5);
        // tp 1, fp 1, fn 2
        e.add_image(&[0.7, 0.6, 0.4, 0.1, 0.0], &[true, false, true, true, false]);
        let m = e.finish();
        assert!((m.at.dice - 2.0 / 5.0).abs() < 1e-12);
        assert!((m.at.iou - 1.0 / 4.0).abs() < 1e-12);
    }

    #[test]
    fn sweep_finds_the_threshold_that_separates_the_classes() {
        let mut e = SegEvaluator::new(0.5);
        // defects at 0.3, background at 0.2: 0.5 misses everything, 0.21..0.30 is perfect
        e.add_image(&[0.3, 0.3, 0.2, 0.2], &[true, true, false, false]);
        let m = e.finish();
        assert_eq!(m.at.dice, 0.0);
        assert_eq!(m.best.dice, 1.0);
        assert!((0.21..=0.30).contains(&m.best.threshold), "{}", m.best.threshold);
    }

    #[test]
    fn sweep_counts_agree_with_exact_counting_on_the_grid() {
        let probs: Vec<f32> = (0..500).map(|i| ((i * 37) % 101) as f32 / 101.0).collect();
        let truth: Vec<bool> = (0..500).map(|i| (i * 13) % 7 < 3).collect();
        let mut e = SegEvaluator::new(0.5);
        e.add_image(&probs, &truth);
        for k in [9usize, 29, 49, 89] {
            let th = (k + 1) as f32 / 100.0;
            let mut exact = SegEvaluator::new(th);
            exact.add_image(&probs, &truth);
            assert_eq!(e.sweep[0][k], exact.at[0], "threshold {th}");
        }
    }

    #[test]
    fn predicting_nothing_cannot_win_the_fitness_that_picks_the_best_threshold() {
        // Seven clean images and one with a defect: at 0.5 nothing is predicted,
        // which the per-image Dice scores 7/8; from 0.31 down to 0.21 the defect is
        // found with one false alarm (the clean image at 0.25).
        let mut e = SegEvaluator::new(0.5);
        e.add_image(&[0.3, 0.3, 0.1, 0.1], &[true, true, false, false]);
        e.add_image(&[0.25, 0.1, 0.1, 0.1], &[false; 4]);
        for _ in 0..6 {
            e.add_image(&[0.1; 4], &[false; 4]);
        }
        let m = e.finish();
        assert_eq!(
            (m.at.dice, m.at.dice_defects, m.at.clean_ok, m.at.fitness),
            (7.0 / 8.0, 0.0, 1.0, 0.0)
        );
        assert!((0.26..=0.30).contains(&m.best.threshold), "{:?}", m.best);
        assert_eq!((m.best.dice_defects, m.best.clean_ok), (1.0, 1.0), "{:?}", m.best);
        assert_eq!(m.best.fitness, 1.0);
        // between 0.21 and 0.25 the false alarm costs a seventh of the clean images
        let mut low = SegEvaluator::new(0.22);
        low.add_image(&[0.3, 0.3, 0.1, 0.1], &[true, true, false, false]);
        low.add_image(&[0.25, 0.1, 0.1, 0.1], &[false; 4]);
        let l = low.finish();
        assert_eq!((l.at.dice_defects, l.at.clean_ok), (1.0, 0.0));
        assert_eq!(
            l.at.fitness, 0.0,
            "a false alarm on every clean image loses as much as finding nothing"
        );
    }

    #[test]
    fn auroc_ranks_images_by_their_highest_probability() {
        assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &[true, true, false, false]), Some(1.0));
        assert_eq!(auroc(&[0.1, 0.2, 0.8, 0.9], &[true, true, false, false]), Some(0.0));
        // one tie between a positive and a negative counts half: 3.5 of 4 pairs
        assert_eq!(auroc(&[0.9, 0.5, 0.5, 0.1], &[true, true, false, false]), Some(0.875));
        assert_eq!(auroc(&[0.9, 0.5], &[true, true]), None);
        let mut e = SegEvaluator::new(0.5);
        e.add_image(&[0.2, 0.7], &[false, true]);
        e.add_image(&[0.4, 0.1], &[false, false]);
        assert_eq!(e.finish().auroc, Some(1.0));
    }

    #[test]
    fn pixel_auroc_ranks_every_pixel_and_counts_pixels_of_one_bin_as_ties() {
        let mut e = SegEvaluator::new(0.5);
        e.add_image(&[0.9, 0.1, 0.2], &[true, false, false]);
        e.add_image(&[0.3, 0.05], &[false, false]);
        assert_eq!(e.finish().pixel_auroc, Some(1.0));
        let mut e = SegEvaluator::new(0.5);
        e.add_image(&[0.6, 0.6, 0.9, 0.1], &[true, false, false, false]);
        // against 0.6 (tie: ½), 0.9 (loss), 0.1 (win): 1.5 of 3
        assert_eq!(e.finish().pixel_auroc, Some(0.5));
        let mut e = SegEvaluator::new(0.5);
        e.add_image(&[0.6], &[false]);
        assert_eq!(e.finish().pixel_auroc, None);
    }

    #[test]
    fn images_are_flagged_by_their_highest_probability_and_scored_by_f1() {
        let mut e = SegEvaluator::new(0.5);
        e.add_image(&[0.7, 0.0], &[true, false]); // found
        e.add_image(&[0.2, 0.1], &[true, true]); // missed
        e.add_image(&[0.6, 0.0], &[false, false]); // false alarm
        e.add_image(&[0.1, 0.0], &[false, false]);
        let f = e.finish().flagged;
        assert_eq!((f.tp, f.fn_, f.fp, f.tn), (1, 1, 1, 1));
        assert_eq!((f.precision, f.recall, f.f1, f.false_alarm_rate), (0.5, 0.5, 0.5, 0.5));
        assert_eq!(e.finish().clean_peaks, vec![0.6, 0.1]);
    }

    #[test]
    fn a_calibrated_threshold_lets_the_chosen_share_of_clean_images_through() {
        let clean: Vec<f32> = (0..100).map(|i| i as f32 / 200.0).collect();
        // 1 %: one clean image of 100 (the highest, 0.495) reaches it
        let t = threshold_for_false_alarms(&clean, 0.01).unwrap();
        assert_eq!(clean.iter().filter(|&&c| c >= t).count(), 1);
        let t = threshold_for_false_alarms(&clean, 0.1).unwrap();
        assert_eq!(clean.iter().filter(|&&c| c >= t).count(), 10);
        // fewer images than 1/rate: none may reach it
        let t = threshold_for_false_alarms(&[0.3, 0.2], 0.01).unwrap();
        assert!(t > 0.3 && t < 0.31);
        assert_eq!(threshold_for_false_alarms(&[], 0.01), None);
        assert!(threshold_for_false_alarms(&[1.0], 0.01).unwrap() < 1.0);
    }

    #[test]
    fn an_image_with_labelled_boxes_but_no_mask_is_defective_without_pixel_truth() {
        let mut e = SegEvaluator::new(0.5);
        e.add_labelled_image(&[0.9, 0.8], &[false, false], true);
        e.add_image(&[0.2, 0.1], &[false, false]);
        e.add_image(&[0.95, 0.1], &[true, false]);
        let m = e.finish();
        assert_eq!((m.images_with_defects, m.auroc), (2, Some(1.0)));
        // the boxed image's pixels (0.9, 0.8) are not counted as good pixels
        assert_eq!(m.pixel_auroc, Some(1.0));
        assert_eq!(m.clean_peaks, vec![0.2]);
    }
}
