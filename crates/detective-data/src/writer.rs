//! Writing a dataset in the standard layout: `data.yaml`, `images/{split}/`,
//! `labels/{split}/` and, for segmentation, `masks/{split}/`.
//!
//! Methods take `&self` and touch only their own files, so samples can be written
//! from many threads.

use std::path::{Component, Path, PathBuf};

use crate::labels::{YoloLabel, format_labels};
use crate::{DataError, DataYaml};

pub struct DatasetWriter {
    root: PathBuf,
}

/// Refuses file names that could escape the dataset folder.
pub fn safe_relative(name: &str) -> Result<&Path, DataError> {
    let p = Path::new(name);
    let ok = !name.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(p)
    } else {
        Err(DataError::Invalid(format!(
            "unsafe file name {name:?} (absolute, empty or with ..)"
        )))
    }
}

fn check_split(split: &str) -> Result<(), DataError> {
    if crate::SPLITS.contains(&split) {
        Ok(())
    } else {
        Err(DataError::Invalid(format!(
            "unknown split {split:?} (train, val, test)"
        )))
    }
}

impl DatasetWriter {
    /// Creates the folders and `data.yaml`. Refuses a non-empty `root` unless `force`.
    pub fn create(root: &Path, names: &[String], splits: &[&str], force: bool) -> Result<DatasetWriter, DataError> {
        if root.exists() {
            let non_empty = std::fs::read_dir(root).map_err(DataError::io(root))?.next().is_some();
            if non_empty && !force {
                return Err(DataError::Invalid(format!(
                    "{} exists and is not empty (use --force to write into it)",
                    root.display()
                )));
            }
        }
        for s in splits {
            check_split(s)?;
            for kind in ["images", "labels"] {
                let d = root.join(kind).join(s);
                std::fs::create_dir_all(&d).map_err(DataError::io(&d))?;
            }
        }
        DataYaml::write(root, names, splits)?;
        Ok(DatasetWriter {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn target(&self, kind: &str, split: &str, file_name: &str, ext: Option<&str>) -> Result<PathBuf, DataError> {
        check_split(split)?;
        let mut p = self.root.join(kind).join(split).join(safe_relative(file_name)?);
        if let Some(e) = ext {
            p.set_extension(e);
        }
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(DataError::io(parent))?;
        }
        Ok(p)
    }

    /// Writes the label file of `file_name` (an empty file for a background image).
    pub fn write_labels(&self, split: &str, file_name: &str, labels: &[YoloLabel]) -> Result<(), DataError> {
        let p = self.target("labels", split, file_name, Some("txt"))?;
        std::fs::write(&p, format_labels(labels)).map_err(DataError::io(&p))
    }

    /// Writes an encoded image and its labels.
    pub fn add_image_bytes(
        &self,
        split: &str,
        file_name: &str,
        bytes: &[u8],
        labels: &[YoloLabel],
    ) -> Result<PathBuf, DataError> {
        let p = self.target("images", split, file_name, None)?;
        std::fs::write(&p, bytes).map_err(DataError::io(&p))?;
        self.write_labels(split, file_name, labels)?;
        Ok(p)
    }

    /// Hard-links (or copies, across file systems) an image and writes its labels.
    pub fn add_image_file(
        &self,
        split: &str,
        file_name: &str,
        src: &Path,
        labels: &[YoloLabel],
    ) -> Result<PathBuf, DataError> {
        let p = self.target("images", split, file_name, None)?;
        if p.exists() {
            std::fs::remove_file(&p).map_err(DataError::io(&p))?;
        }
        if std::fs::hard_link(src, &p).is_err() {
            std::fs::copy(src, &p).map_err(DataError::io(src))?;
        }
        self.write_labels(split, file_name, labels)?;
        Ok(p)
    }

    /// Writes the PNG mask of `file_name` under `masks/{split}/`.
    pub fn add_mask_png(&self, split: &str, file_name: &str, png: &[u8]) -> Result<PathBuf, DataError> {
        let p = self.target("masks", split, file_name, Some("png"))?;
        std::fs::write(&p, png).map_err(DataError::io(&p))?;
        Ok(p)
    }

    /// Copies an existing mask file.
    pub fn add_mask_file(&self, split: &str, file_name: &str, src: &Path) -> Result<PathBuf, DataError> {
        let p = self.target("masks", split, file_name, Some("png"))?;
        std::fs::copy(src, &p).map_err(DataError::io(src))?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_absolute_names_are_refused() {
        for bad in ["../x.jpg", "/etc/passwd", "a/../../b.png", ""] {
            assert!(safe_relative(bad).is_err(), "{bad}");
        }
        assert!(safe_relative("sub/ok.jpg").is_ok());
    }

    #[test]
    fn non_empty_output_is_refused_without_force() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep.txt"), "x").unwrap();
        let names = vec!["a".to_string()];
        assert!(DatasetWriter::create(dir.path(), &names, &["train"], false).is_err());
        assert!(DatasetWriter::create(dir.path(), &names, &["train"], true).is_ok());
    }
}
