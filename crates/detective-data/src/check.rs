//! `dataset check`: every problem a user can act on, as `file:line: reason`.
//!
//! Checked: split sources named in data.yaml that do not exist, listed images that
//! do not exist, label folders that do not exist (every image of them would silently
//! train as background), unreadable or zero-size images (header only), malformed label lines
//! (field count, numbers, class range, coordinates, zero size), identical duplicate
//! lines in one label file, and duplicate images (same SHA-256, anywhere in the
//! dataset, including the same file listed in two splits).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::YoloDataset;
use crate::image_size::image_size_of_bytes;

/// One problem found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line in a label file.
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

/// All problems of a dataset.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub images_checked: usize,
    pub label_files: usize,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            writeln!(f, "{p}")?;
        }
        write!(
            f,
            "{} images, {} label files checked: {}",
            self.images_checked,
            self.label_files,
            if self.is_ok() {
                "no problems".to_string()
            } else {
                format!("{} problems", self.problems.len())
            }
        )
    }
}

/// Checks a loaded dataset, reading each image's header and bytes once.
pub fn check_dataset(ds: &YoloDataset) -> CheckReport {
    let mut report = CheckReport::default();
    let nc = ds.names().len() as u32;
    let mut by_hash: HashMap<[u8; 32], PathBuf> = HashMap::new();
    let mut seen_paths: HashMap<PathBuf, String> = HashMap::new();
    for split in &ds.splits {
        for m in &split.missing {
            report.problems.push(Problem {
                file: m.clone(),
                line: None,
                reason: format!("{} split: does not exist", split.name),
            });
        }
        let mut images_by_label_dir: BTreeMap<PathBuf, usize> = BTreeMap::new();
        for s in &split.samples {
            if let Some(dir) = s.label_path.parent() {
                *images_by_label_dir.entry(dir.to_path_buf()).or_default() += 1;
            }
        }
        for (dir, n) in images_by_label_dir {
            if !dir.is_dir() {
                report.problems.push(Problem {
                    file: dir,
                    line: None,
                    reason: format!(
                        "{} split: label folder does not exist ({n} images would be read as background)",
                        split.name
                    ),
                });
            }
        }
        for s in &split.samples {
            report.images_checked += 1;
            if let Some(other) = seen_paths.insert(s.image.clone(), split.name.clone()) {
                report.problems.push(Problem {
                    file: s.image.clone(),
                    line: None,
                    reason: format!("listed in both the {other} and {} splits", split.name),
                });
                continue;
            }
            // one read per image: header check and content hash from the same bytes
            match std::fs::read(&s.image) {
                Ok(bytes) => {
                    if let Err(e) = image_size_of_bytes(&s.image, &bytes) {
                        report.problems.push(Problem {
                            file: s.image.clone(),
                            line: None,
                            reason: e.to_string().replace(&format!("{}: ", s.image.display()), ""),
                        });
                    }
                    let digest: [u8; 32] = Sha256::digest(&bytes).into();
                    if let Some(first) = by_hash.get(&digest) {
                        report.problems.push(Problem {
                            file: s.image.clone(),
                            line: None,
                            reason: format!("duplicate image: same content as {}", first.display()),
                        });
                    } else {
                        by_hash.insert(digest, s.image.clone());
                    }
                }
                Err(e) => report.problems.push(Problem {
                    file: s.image.clone(),
                    line: None,
                    reason: format!("unreadable: {e}"),
                }),
            }
            if s.label_file_exists {
                report.label_files += 1;
            }
            for issue in &s.issues {
                report.problems.push(Problem {
                    file: s.label_path.clone(),
                    line: Some(issue.line),
                    reason: issue.reason.clone(),
                });
            }
            check_label_lines(s, nc, &mut report);
        }
    }
    report
}

/// Class range and duplicate lines need the file text with line numbers.
fn check_label_lines(s: &crate::Sample, nc: u32, report: &mut CheckReport) {
    if s.labels.is_empty() {
        return;
    }
    let Ok(text) = std::fs::read_to_string(&s.label_path) else {
        return;
    };
    let mut seen = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let Ok(label) = crate::YoloLabel::parse(line) else {
            continue;
        };
        if label.class >= nc {
            report.problems.push(Problem {
                file: s.label_path.clone(),
                line: Some(i + 1),
                reason: format!(
                    "class {} out of range (data.yaml has {nc} classes: 0..{})",
                    label.class,
                    nc.saturating_sub(1)
                ),
            });
        }
        if !seen.insert(label.to_line()) {
            report.problems.push(Problem {
                file: s.label_path.clone(),
                line: Some(i + 1),
                reason: "duplicate label line".into(),
            });
        }
    }
}
