//! Deterministic splits into train / val / test, by one of two strategies:
//!
//! - [`SplitStrategy::ContentHash`] (dataset versions built through the API):
//!   images sorted by the SHA-256 of their bytes and cut by the ratios. An image
//!   keeps its split however the request lists it and whatever else is added,
//!   as long as the images are the same, so a dataset version can be rebuilt
//!   and compared without a seed to remember.
//! - [`SplitStrategy::Stratified`] (`detective dataset split`): each image is
//!   put in a stratum by its rarest class (by instance count over the whole
//!   dataset) or `background`; each stratum is shuffled with the seed and cut
//!   by the ratios, so every class is spread over the splits in proportion.
//!   Same seed and same input → same assignment.

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

/// How images are assigned to splits (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitStrategy {
    ContentHash,
    Stratified { seed: u64 },
}

impl SplitStrategy {
    /// The strategy's name, as the docs call it.
    pub fn name(self) -> &'static str {
        match self {
            SplitStrategy::ContentHash => "content-hash",
            SplitStrategy::Stratified { .. } => "stratified",
        }
    }
}

/// One image to split: its content hash and its labels (for the stratified strategy).
#[derive(Debug, Clone, Copy)]
pub struct SplitItem<'a> {
    pub sha256: &'a str,
    pub labels: &'a [crate::YoloLabel],
}

/// For each item (by position), the split index: 0 train, 1 val, 2 test.
pub fn assign(items: &[SplitItem<'_>], nc: usize, ratios: SplitRatios, strategy: SplitStrategy) -> Vec<usize> {
    match strategy {
        SplitStrategy::ContentHash => content_hash_split(items, ratios),
        SplitStrategy::Stratified { seed } => {
            let labels: Vec<&[crate::YoloLabel]> = items.iter().map(|i| i.labels).collect();
            stratify(&labels, nc, ratios, seed)
        }
    }
}

/// Content-hash order, cut by the ratios with train and val each rounded on
/// their own (test takes the rest), as dataset versions were always split.
fn content_hash_split(items: &[SplitItem<'_>], ratios: SplitRatios) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[a].sha256.cmp(items[b].sha256));
    let n = items.len();
    let n_train = ((ratios.train * n as f64).round() as usize).min(n);
    let n_val = ((ratios.val * n as f64).round() as usize).min(n - n_train);
    let mut out = vec![2; n];
    for (k, &i) in order.iter().enumerate() {
        out[i] = if k < n_train {
            0
        } else if k < n_train + n_val {
            1
        } else {
            2
        };
    }
    out
}

/// For each sample (by position), the split index: 0 train, 1 val, 2 test.
pub fn stratified_split(samples: &[&Sample], nc: usize, ratios: SplitRatios, seed: u64) -> Vec<usize> {
    let labels: Vec<&[crate::YoloLabel]> = samples.iter().map(|s| s.labels.as_slice()).collect();
    stratify(&labels, nc, ratios, seed)
}

fn stratify(samples: &[&[crate::YoloLabel]], nc: usize, ratios: SplitRatios, seed: u64) -> Vec<usize> {
    let mut freq = vec![0usize; nc.max(1)];
    for labels in samples {
        for l in labels.iter() {
            if let Some(f) = freq.get_mut(l.class as usize) {
                *f += 1;
            }
        }
    }
    let mut strata: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, labels) in samples.iter().enumerate() {
        let key = labels
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

#[cfg(test)]
mod tests {
    use super::*;

    fn items<'a>(hashes: &'a [&'a str]) -> Vec<SplitItem<'a>> {
        hashes.iter().map(|h| SplitItem { sha256: h, labels: &[] }).collect()
    }

    #[test]
    fn content_hash_split_follows_hash_order_whatever_the_listing_order() {
        let ratios = SplitRatios::new(0.6, 0.2, 0.2).unwrap();
        let a = assign(
            &items(&["e", "a", "c", "b", "d"]),
            1,
            ratios,
            SplitStrategy::ContentHash,
        );
        // sorted: a b c d e → train a b c, val d, test e
        assert_eq!(a, [2, 0, 0, 0, 1]);
        let b = assign(
            &items(&["a", "b", "c", "d", "e"]),
            1,
            ratios,
            SplitStrategy::ContentHash,
        );
        assert_eq!(b, [0, 0, 0, 1, 2]);
    }

    #[test]
    fn content_hash_split_rounds_train_and_val_on_their_own() {
        // 3 images at 0.7/0.15/0.15: train round(2.1) = 2, val round(0.45) = 0, test 1.
        let ratios = SplitRatios::new(0.7, 0.15, 0.15).unwrap();
        let a = assign(&items(&["a", "b", "c"]), 1, ratios, SplitStrategy::ContentHash);
        assert_eq!(a, [0, 0, 2]);
        assert_eq!(SplitStrategy::Stratified { seed: 0 }.name(), "stratified");
    }
}
