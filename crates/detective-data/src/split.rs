//! Deterministic stratified splits.
//!
//! Each image is put in a stratum by its rarest class (by instance count over the
//! whole dataset) or `background`; each stratum is shuffled with the seed and cut by
//! the ratios, so every class is spread over the splits in proportion. Same seed and
//! same input → same assignment.

use std::collections::BTreeMap;
use std::path::Path;

use detective_core::Rng;

use crate::{DataError, DatasetWriter, Sample, YoloDataset, mask_path_for};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitRatios {
    pub train: f64,
    pub val: f64,
    pub test: f64,
}

impl SplitRatios {
    pub fn new(train: f64, val: f64, test: f64) -> Result<Self, DataError> {
        let all = [train, val, test];
        if all.iter().any(|r| !r.is_finite() || *r < 0.0) || ((train + val + test) - 1.0).abs() > 1e-6 {
            return Err(DataError::Invalid(format!(
                "split ratios {train}, {val}, {test} must be non-negative and add up to 1"
            )));
        }
        Ok(SplitRatios { train, val, test })
    }

    /// How many of `n` items go to train, val and test: cumulative rounding, so the
    /// three always add up to `n`.
    pub fn counts(&self, n: usize) -> [usize; 3] {
        let n_train = (n as f64 * self.train).round() as usize;
        let n_val = ((n as f64 * (self.train + self.val)).round() as usize).saturating_sub(n_train);
        [n_train, n_val, n - n_train - n_val]
    }
}

/// For each sample (by position), the split index: 0 train, 1 val, 2 test.
pub fn stratified_split(samples: &[&Sample], nc: usize, ratios: SplitRatios, seed: u64) -> Vec<usize> {
    let mut freq = vec![0usize; nc.max(1)];
    for s in samples {
        for l in &s.labels {
            if let Some(f) = freq.get_mut(l.class as usize) {
                *f += 1;
            }
        }
    }
    let mut strata: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        let key = s
            .labels
            .iter()
            .filter(|l| (l.class as usize) < freq.len())
            .min_by_key(|l| (freq[l.class as usize], l.class))
            .map_or(-1, |l| l.class as i64);
        strata.entry(key).or_default().push(i);
    }
    let mut rng = Rng::new(seed);
    let mut out = vec![0; samples.len()];
    for members in strata.values_mut() {
        rng.shuffle(members);
        let [n_train, n_val, _] = ratios.counts(members.len());
        for (k, &i) in members.iter().enumerate() {
            out[i] = if k < n_train {
                0
            } else if k < n_train + n_val {
                1
            } else {
                2
            };
        }
    }
    out
}

/// Re-splits every image of `ds` into a new dataset at `out` (images hard-linked or
/// copied, labels rewritten, masks copied when present). Returns images per split.
pub fn write_split(
    ds: &YoloDataset,
    ratios: SplitRatios,
    seed: u64,
    out: &Path,
    force: bool,
) -> Result<[usize; 3], DataError> {
    let samples: Vec<&Sample> = ds.samples().map(|(_, s)| s).collect();
    let assignment = stratified_split(&samples, ds.names().len(), ratios, seed);
    let writer = DatasetWriter::create(out, ds.names(), &crate::SPLITS, force)?;
    let mut counts = [0usize; 3];
    let mut used = std::collections::HashSet::new();
    for (s, &k) in samples.iter().zip(&assignment) {
        let split = crate::SPLITS[k];
        let base = s
            .image
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // the same file name may occur in two source splits: keep both
        let mut name = base.clone();
        let mut n = 1;
        while !used.insert(name.to_ascii_lowercase()) {
            name = format!("{n}_{base}");
            n += 1;
        }
        writer.add_image_file(split, &name, &s.image, &s.labels)?;
        let mask = mask_path_for(&s.image);
        if mask.is_file() {
            writer.add_mask_file(split, &name, &mask)?;
        }
        counts[k] += 1;
    }
    Ok(counts)
}
