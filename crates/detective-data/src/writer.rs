//! Writing a dataset in the standard layout: `data.yaml`, `images/{split}/`,
//! `labels/{split}/` and, for segmentation, `masks/{split}/` — the one YOLO
//! writer of the product. Where the files go is a [`Sink`]: a [`Folder`] (the
//! CLI's `synth`, `dataset split/convert`, and the dataset versions the trainer
//! reads) or a [`Zip`] (the API's dataset export), so the layout rules are
//! written once.
//!
//! Methods take `&self` and touch only their own files, so samples can be written
//! from many threads.

use std::fs::File;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use crate::labels::{YoloLabel, format_labels};
use crate::{DataError, DataYaml};

/// Where a dataset's files are written. `rel` is a relative path with `/`
/// separators, already checked by the writer.
pub trait Sink: Sync {
    fn put(&self, rel: &str, bytes: &[u8]) -> Result<(), DataError>;

    /// Copies the file `src` to `rel`.
    fn put_file(&self, rel: &str, src: &Path) -> Result<(), DataError> {
        let bytes = std::fs::read(src).map_err(DataError::io(src))?;
        self.put(rel, &bytes)
    }
}

/// A dataset folder on disk.
pub struct Folder {
    root: PathBuf,
}

impl Folder {
    fn path(&self, rel: &str) -> Result<PathBuf, DataError> {
        let p = self.root.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(DataError::io(parent))?;
        }
        Ok(p)
    }
}

impl Sink for Folder {
    fn put(&self, rel: &str, bytes: &[u8]) -> Result<(), DataError> {
        let p = self.path(rel)?;
        std::fs::write(&p, bytes).map_err(DataError::io(&p))
    }

    /// Hard-links (or copies, across file systems).
    fn put_file(&self, rel: &str, src: &Path) -> Result<(), DataError> {
        let p = self.path(rel)?;
        if p.exists() {
            std::fs::remove_file(&p).map_err(DataError::io(&p))?;
        }
        if std::fs::hard_link(src, &p).is_err() {
            std::fs::copy(src, &p).map_err(DataError::io(src))?;
        }
        Ok(())
    }
}

/// A zip archive in a file: images stored as they are (they are compressed
/// already), text deflated.
pub struct Zip {
    zip: Mutex<zip::ZipWriter<File>>,
}

impl Zip {
    pub fn new(file: File) -> Zip {
        Zip {
            zip: Mutex::new(zip::ZipWriter::new(file)),
        }
    }

    /// Writes the archive's directory; returns the file.
    pub fn finish(self) -> Result<File, DataError> {
        let zip = self.zip.into_inner().unwrap_or_else(|e| e.into_inner());
        zip.finish().map_err(zip_err)
    }
}

fn zip_err(e: zip::result::ZipError) -> DataError {
    DataError::Invalid(format!("writing the zip: {e}"))
}

impl Sink for Zip {
    fn put(&self, rel: &str, bytes: &[u8]) -> Result<(), DataError> {
        let method = if rel.starts_with("images/") {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        let mut zip = self.zip.lock().unwrap_or_else(|e| e.into_inner());
        zip.start_file(rel, options).map_err(zip_err)?;
        zip.write_all(bytes)
            .map_err(|e| DataError::Invalid(format!("writing the zip: {e}")))
    }
}

/// Writes one dataset into a sink.
pub struct DatasetWriter<S: Sink = Folder> {
    sink: S,
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

/// `{kind}/{split}/{file_name}`, with the extension replaced by `ext` when given.
fn layout_path(kind: &str, split: &str, file_name: &str, ext: Option<&str>) -> Result<String, DataError> {
    check_split(split)?;
    let mut p = PathBuf::from(kind).join(split).join(safe_relative(file_name)?);
    if let Some(e) = ext {
        p.set_extension(e);
    }
    Ok(p.to_string_lossy().replace('\\', "/"))
}

impl DatasetWriter<Folder> {
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
        let sink = Folder {
            root: root.to_path_buf(),
        };
        DatasetWriter::start(sink, root, names, splits)
    }
}

impl DatasetWriter<Zip> {
    /// A dataset zipped into `file`, `data.yaml` first.
    pub fn zip(file: File, names: &[String], splits: &[&str]) -> Result<DatasetWriter<Zip>, DataError> {
        DatasetWriter::start(Zip::new(file), Path::new(""), names, splits)
    }
}

impl<S: Sink> DatasetWriter<S> {
    fn start(sink: S, root: &Path, names: &[String], splits: &[&str]) -> Result<DatasetWriter<S>, DataError> {
        for s in splits {
            check_split(s)?;
        }
        sink.put("data.yaml", DataYaml::text(names, splits).as_bytes())?;
        Ok(DatasetWriter {
            sink,
            root: root.to_path_buf(),
        })
    }

    /// The folder written into (empty for a zip).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The sink, to write what is not part of the layout (a note in
    /// `data.yaml`, COCO annotations) or to finish a zip.
    pub fn into_sink(self) -> S {
        self.sink
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Writes the label file of `file_name` (an empty file for a background image).
    pub fn write_labels(&self, split: &str, file_name: &str, labels: &[YoloLabel]) -> Result<(), DataError> {
        self.write_label_text(split, file_name, &format_labels(labels))
    }

    /// Writes the label file of `file_name` as it is stored (YOLO lines, checked
    /// when they were stored).
    pub fn write_label_text(&self, split: &str, file_name: &str, text: &str) -> Result<(), DataError> {
        self.sink
            .put(&layout_path("labels", split, file_name, Some("txt"))?, text.as_bytes())
    }

    /// Writes an encoded image (nothing else).
    pub fn write_image(&self, split: &str, file_name: &str, bytes: &[u8]) -> Result<PathBuf, DataError> {
        let rel = layout_path("images", split, file_name, None)?;
        self.sink.put(&rel, bytes)?;
        Ok(self.root.join(rel))
    }

    /// Writes an encoded image and its labels.
    pub fn add_image_bytes(
        &self,
        split: &str,
        file_name: &str,
        bytes: &[u8],
        labels: &[YoloLabel],
    ) -> Result<PathBuf, DataError> {
        let p = self.write_image(split, file_name, bytes)?;
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
        let rel = layout_path("images", split, file_name, None)?;
        self.sink.put_file(&rel, src)?;
        self.write_labels(split, file_name, labels)?;
        Ok(self.root.join(rel))
    }

    /// Writes the PNG mask of `file_name` under `masks/{split}/`.
    pub fn add_mask_png(&self, split: &str, file_name: &str, png: &[u8]) -> Result<PathBuf, DataError> {
        let rel = layout_path("masks", split, file_name, Some("png"))?;
        self.sink.put(&rel, png)?;
        Ok(self.root.join(rel))
    }

    /// Copies an existing mask file.
    pub fn add_mask_file(&self, split: &str, file_name: &str, src: &Path) -> Result<PathBuf, DataError> {
        let rel = layout_path("masks", split, file_name, Some("png"))?;
        self.sink.put_file(&rel, src)?;
        Ok(self.root.join(rel))
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
