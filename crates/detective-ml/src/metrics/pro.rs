//! PRO, the per-region overlap of an anomaly map (MVTec AD's measure): at a
//! threshold, the mean over the ground truth's defect regions of the share of
//! each region's pixels at or above it — a small defect counts as much as a
//! large one — against the false-positive rate over the pixels that are not
//! defects. The figure is the area under that curve up to 30 % false
//! positives, divided by 0.3: 1 is perfect, a map of noise scores about 0.15.

/// The false-positive rate the area runs to.
pub const PRO_MAX_FPR: f64 = 0.3;

/// Points of the curve taken between 0 and [`PRO_MAX_FPR`].
const LEVELS: usize = 300;

/// The scores of every defect region seen (8-connected truth pixels), each
/// sorted ascending.
#[derive(Debug, Clone, Default)]
pub struct RegionScores {
    regions: Vec<Vec<f32>>,
}

impl RegionScores {
    /// Adds the regions of one image: `truth` (`true` = defect) and `probs`,
    /// row-major, `width` pixels a row.
    pub fn add(&mut self, probs: &[f32], truth: &[bool], width: usize) {
        let n = truth.len().min(probs.len());
        if width == 0 {
            return;
        }
        let mut seen = vec![false; n];
        let mut stack = Vec::new();
        for start in 0..n {
            if seen[start] || !truth[start] {
                continue;
            }
            seen[start] = true;
            stack.push(start);
            let mut scores = Vec::new();
            while let Some(i) = stack.pop() {
                scores.push(probs[i]);
                let (x, y) = ((i % width) as i64, (i / width) as i64);
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        let (nx, ny) = (x + dx, y + dy);
                        if nx < 0 || ny < 0 || nx >= width as i64 {
                            continue;
                        }
                        let j = ny as usize * width + nx as usize;
                        if j < n && !seen[j] && truth[j] {
                            seen[j] = true;
                            stack.push(j);
                        }
                    }
                }
            }
            scores.sort_by(f32::total_cmp);
            self.regions.push(scores);
        }
    }

    /// Regions seen.
    pub fn len(&self) -> usize {
        self.regions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// The mean over regions of the share of their pixels scored `≥ t`.
    fn overlap(&self, t: f32) -> f64 {
        let sum: f64 = self
            .regions
            .iter()
            .map(|r| (r.len() - r.partition_point(|&p| p < t)) as f64 / r.len() as f64)
            .sum();
        sum / self.regions.len() as f64
    }

    /// The normalised area under the PRO curve up to [`PRO_MAX_FPR`], the
    /// false positives read from `neg`: a histogram of the non-defect pixels'
    /// scores over equal bins of `[0, 1)`. None without regions or negatives.
    pub fn area(&self, neg: &[u64]) -> Option<f64> {
        let total: u64 = neg.iter().sum();
        if self.regions.is_empty() || total == 0 {
            return None;
        }
        let bins = neg.len();
        // (false-positive rate, PRO) from the strictest threshold down
        let mut points: Vec<(f64, f64)> = vec![(0.0, 0.0)];
        let mut above = 0u64;
        let mut next_level = 1;
        for b in (0..bins).rev() {
            let before = above as f64 / total as f64;
            above += neg[b];
            let fpr = above as f64 / total as f64;
            let level = next_level as f64 * PRO_MAX_FPR / LEVELS as f64;
            if fpr < level && b > 0 {
                continue;
            }
            // the curve rises at the old rate until this bin's good pixels cross:
            // the PRO just above them first, then with them
            points.push((before, self.overlap((b + 1) as f32 / bins as f32)));
            let pro = self.overlap(b as f32 / bins as f32);
            let (f0, p0) = points[points.len() - 1];
            if fpr >= PRO_MAX_FPR {
                // end exactly at the limit, along the straight line to this point
                let share = if fpr > f0 { (PRO_MAX_FPR - f0) / (fpr - f0) } else { 1.0 };
                points.push((PRO_MAX_FPR, p0 + (pro - p0) * share));
                break;
            }
            points.push((fpr, pro));
            next_level = (fpr / (PRO_MAX_FPR / LEVELS as f64)).floor() as usize + 1;
        }
        // a map that never reaches the limit holds its last PRO up to it
        let (fl, pl) = points[points.len() - 1];
        if fl < PRO_MAX_FPR {
            points.push((PRO_MAX_FPR, pl));
        }
        let area: f64 = points
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
            .sum();
        Some(area / PRO_MAX_FPR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The negatives' histogram over `bins` bins of `scores`.
    fn hist(scores: &[f32], bins: usize) -> Vec<u64> {
        let mut h = vec![0; bins];
        for &s in scores {
            h[((s * bins as f32) as usize).min(bins - 1)] += 1;
        }
        h
    }

    #[test]
    fn regions_are_8_connected_groups_of_defect_pixels() {
        // two regions: a diagonal pair, and a lone pixel
        let truth = [
            true, false, false, false, //
            false, true, false, true, //
        ];
        let probs = [0.9, 0.0, 0.0, 0.0, 0.1, 0.5, 0.0, 0.7];
        let mut r = RegionScores::default();
        r.add(&probs, &truth, 4);
        assert_eq!(r.len(), 2);
        let mut regions = r.regions.clone();
        regions.sort_by_key(|s| s.len());
        assert_eq!(regions, [vec![0.7], vec![0.5, 0.9]]);
    }

    #[test]
    fn a_map_that_ranks_every_defect_above_every_good_pixel_scores_one() {
        let mut r = RegionScores::default();
        r.add(&[0.9, 0.95, 0.2, 0.1], &[true, true, false, false], 4);
        r.add(&[0.1, 0.2, 0.3, 0.8], &[false, false, false, true], 4);
        let neg = hist(&[0.2, 0.1, 0.1, 0.2, 0.3], 1000);
        assert!((r.area(&neg).unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_small_region_counts_as_much_as_a_large_one() {
        // a large region found entirely, a one-pixel region never above the good pixels
        let mut truth = vec![true; 10];
        truth.extend([false, false, true]);
        let mut probs = vec![0.9; 10];
        probs.extend([0.5, 0.5, 0.1]);
        let mut r = RegionScores::default();
        r.add(&probs, &truth, 13);
        let neg = hist(&[0.5, 0.5], 1000);
        // PRO is 0.5 while no good pixel is flagged; the good pixels all
        // cross at once (false-positive rate 0 → 1), so the curve runs
        // straight from (0, 0.5) towards (1, 0.5) and holds 0.5
        let a = r.area(&neg).unwrap();
        assert!((a - 0.5).abs() < 1e-9, "{a}");
    }

    #[test]
    fn pro_follows_the_false_positive_rate_and_is_none_without_regions() {
        // one region of 10 pixels scored 0.01..0.10, 1000 good pixels uniform on [0, 1)
        let mut r = RegionScores::default();
        let probs: Vec<f32> = (1..=10).map(|i| i as f32 / 100.0 + 0.0005).collect();
        r.add(&probs, &[true; 10], 10);
        let good: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0 + 0.0005).collect();
        let neg = hist(&good, 1000);
        // up to 30 % false positives (threshold ≥ 0.7) no region pixel is found
        assert!(r.area(&neg).unwrap() < 1e-9);
        assert_eq!(RegionScores::default().area(&neg), None);
        assert_eq!(r.area(&[0; 10]), None);
    }
}
