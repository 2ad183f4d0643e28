//! A loaded YOLO dataset: for each split, its images with their labels.
//!
//! Label path of an image = the image path with its last `images` folder replaced by
//! `labels` and the extension by `.txt` (Ultralytics' rule); a missing label file is
//! a background image. Mask path (segmentation) = same rule with `masks` and `.png`.
//! Malformed label lines do not fail the load: they are kept for `check`.

use std::path::{Component, Path, PathBuf};

use walkdir::WalkDir;

use crate::DataError;
use crate::data_yaml::{DataYaml, SplitSource};
use crate::labels::{LineIssue, YoloLabel, read_label_file};

/// Image file extensions read as images (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp", "dng"];

pub fn is_image_path(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn sibling_path(image: &Path, folder: &str, ext: &str) -> PathBuf {
    let comps: Vec<Component> = image.components().collect();
    let last_images = comps.iter().rposition(|c| c.as_os_str() == "images");
    let mut out = PathBuf::new();
    for (i, c) in comps.iter().enumerate() {
        if Some(i) == last_images {
            out.push(folder)
        } else {
            out.push(c.as_os_str())
        }
    }
    out.set_extension(ext);
    out
}

/// The YOLO label file of an image.
pub fn label_path_for(image: &Path) -> PathBuf {
    sibling_path(image, "labels", "txt")
}

/// The binary mask (PNG) of an image in a segmentation dataset.
pub fn mask_path_for(image: &Path) -> PathBuf {
    sibling_path(image, "masks", "png")
}

/// One image and its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub image: PathBuf,
    pub label_path: PathBuf,
    pub labels: Vec<YoloLabel>,
    /// Lines of the label file that could not be read.
    pub issues: Vec<LineIssue>,
    pub label_file_exists: bool,
}

/// The images of one split.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitData {
    pub name: String,
    pub samples: Vec<Sample>,
    /// Sources named by the yaml that do not exist, and images listed in `.txt`
    /// files that do not exist.
    pub missing: Vec<PathBuf>,
}

/// A dataset in the Ultralytics layout.
#[derive(Debug, Clone, PartialEq)]
pub struct YoloDataset {
    pub yaml: DataYaml,
    pub splits: Vec<SplitData>,
}

impl YoloDataset {
    /// Loads the dataset of a `data.yaml` (or of a folder holding one).
    pub fn load(path: &Path) -> Result<YoloDataset, DataError> {
        let yaml = DataYaml::load(path)?;
        let mut splits = Vec::new();
        for (name, sources) in &yaml.splits {
            let mut images = Vec::new();
            let mut missing = Vec::new();
            for src in sources {
                match src {
                    SplitSource::Dir(d) => {
                        for entry in WalkDir::new(d).follow_links(true).sort_by_file_name() {
                            let entry = entry.map_err(|e| DataError::Invalid(format!("{}: {e}", d.display())))?;
                            if entry.file_type().is_file() && is_image_path(entry.path()) {
                                images.push(entry.into_path());
                            }
                        }
                    }
                    SplitSource::List(txt) => {
                        let text = std::fs::read_to_string(txt).map_err(DataError::io(txt))?;
                        let base = txt.parent().unwrap_or(Path::new("."));
                        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                            let p = match line.strip_prefix("./") {
                                Some(rest) => base.join(rest),
                                None if Path::new(line).is_absolute() => PathBuf::from(line),
                                None => yaml.root.join(line),
                            };
                            if p.is_file() { images.push(p) } else { missing.push(p) }
                        }
                    }
                    SplitSource::Missing(p) => missing.push(p.clone()),
                }
            }
            images.sort();
            images.dedup();
            let mut samples = Vec::with_capacity(images.len());
            for image in images {
                let label_path = label_path_for(&image);
                let label_file_exists = label_path.is_file();
                let (labels, issues) = read_label_file(&label_path)?;
                samples.push(Sample {
                    image,
                    label_path,
                    labels,
                    issues,
                    label_file_exists,
                });
            }
            splits.push(SplitData {
                name: name.clone(),
                samples,
                missing,
            });
        }
        // canonical order train, val, test
        splits.sort_by_key(|s| crate::SPLITS.iter().position(|n| *n == s.name));
        Ok(YoloDataset { yaml, splits })
    }

    pub fn names(&self) -> &[String] {
        &self.yaml.names
    }

    pub fn split(&self, name: &str) -> Option<&SplitData> {
        self.splits.iter().find(|s| s.name == name)
    }

    /// Every sample with its split name.
    pub fn samples(&self) -> impl Iterator<Item = (&str, &Sample)> {
        self.splits
            .iter()
            .flat_map(|s| s.samples.iter().map(move |x| (s.name.as_str(), x)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_path_replaces_the_last_images_folder() {
        assert_eq!(
            label_path_for(Path::new("/d/images/train/a.jpg")),
            PathBuf::from("/d/labels/train/a.txt")
        );
        assert_eq!(
            label_path_for(Path::new("/images/x/images/val/sub/b.PNG")),
            PathBuf::from("/images/x/labels/val/sub/b.txt")
        );
        assert_eq!(
            mask_path_for(Path::new("/d/images/test/c.jpg")),
            PathBuf::from("/d/masks/test/c.png")
        );
    }

    #[test]
    fn image_extensions_are_case_insensitive() {
        assert!(is_image_path(Path::new("a.JPG")) && is_image_path(Path::new("b.webp")));
        assert!(!is_image_path(Path::new("c.txt")) && !is_image_path(Path::new("noext")));
    }
}
