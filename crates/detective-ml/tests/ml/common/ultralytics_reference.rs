//! Ultralytics' own predictions (`../shared/models/*.predictions.json`) and how
//! ours are matched against them: every reference box by one of ours of the
//! same class with IoU ≥ 0.98 and confidence within 0.01, and no box left over.

use std::collections::BTreeMap;
use std::path::PathBuf;

use detective_core::{BBox, Detection};
use detective_vision::{DecodeLimits, Frame, decode_file};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct RefDet {
    pub class: u32,
    pub confidence: f32,
    pub bbox: [f32; 4],
}

pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The reference predictions of `models/{name}.predictions.json`, by image file.
pub fn reference(name: &str) -> BTreeMap<String, Vec<RefDet>> {
    let text = std::fs::read_to_string(shared().join(format!("models/{name}.predictions.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A NEU-DET test image.
pub fn neu_test_image(file: &str) -> Frame {
    decode_file(
        &shared().join("data/NEU-DET/images/test").join(file),
        &DecodeLimits::default(),
    )
    .unwrap()
}

/// What matching found over all images.
#[derive(Default)]
pub struct Matched {
    pub matched: usize,
    pub worst_iou: f32,
    pub worst_conf: f32,
    pub failures: Vec<String>,
}

impl Matched {
    pub fn new() -> Self {
        Matched {
            worst_iou: 1.0,
            ..Default::default()
        }
    }

    /// Matches one image's detections against its reference boxes.
    pub fn add(&mut self, file: &str, refs: &[RefDet], ours: &[Detection]) {
        let mut used = vec![false; ours.len()];
        for r in refs {
            let rb = BBox::from(r.bbox);
            let best = ours
                .iter()
                .enumerate()
                .filter(|(i, d)| !used[*i] && d.class_id == r.class)
                .map(|(i, d)| (i, d.bbox.iou(&rb), (d.confidence - r.confidence).abs()))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((i, iou, dconf)) if iou >= 0.98 && dconf <= 0.01 => {
                    used[i] = true;
                    self.matched += 1;
                    self.worst_iou = self.worst_iou.min(iou);
                    self.worst_conf = self.worst_conf.max(dconf);
                }
                other => self.failures.push(format!(
                    "{file}: reference {:?} class {} conf {} → best match {other:?}",
                    r.bbox, r.class, r.confidence
                )),
            }
        }
        for (i, d) in ours.iter().enumerate() {
            if !used[i] {
                self.failures.push(format!(
                    "{file}: extra box {:?} class {} conf {}",
                    d.bbox, d.class_id, d.confidence
                ));
            }
        }
    }

    /// Prints the summary and fails on any mismatch.
    pub fn assert_all(&self) {
        println!(
            "matched {} reference boxes; worst IoU {:.4}, worst |Δconf| {:.4}",
            self.matched, self.worst_iou, self.worst_conf
        );
        assert!(
            self.failures.is_empty(),
            "{} mismatches:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}
