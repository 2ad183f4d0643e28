//! Importing a labelled set sent as a zip (through the API or the dashboard):
//! the Ultralytics / Roboflow YOLO layout (`data.yaml` at the top or in one
//! folder), or COCO — ours (`annotations/instances_{split}.json` beside
//! `images/{split}/`) or Roboflow's (`{train,valid,test}/_annotations.coco.json`
//! beside the images). The zip is unpacked into a temporary folder with limits
//! (entries, bytes, no path leaving the folder, nothing a `data.yaml` names
//! outside it), COCO is written out as YOLO there, and then the folder import
//! checks it with the dataset checker before anything is stored.

use std::path::{Component, Path, PathBuf};

use detective_data::DatasetWriter;
use detective_data::coco::{CocoImport, from_coco, read_coco};
use detective_store::{Db, Objects};
use detective_vision::DecodeLimits;

use super::import::{ImportFolder, Imported, import_confined};
use crate::OpsError;

/// Most entries in one zip.
const MAX_ENTRIES: usize = 100_000;

/// What to import: a zip file on disk, as which dataset.
#[derive(Debug, Clone)]
pub struct ImportZip {
    pub zip: PathBuf,
    pub name: String,
    pub project: String,
    pub note: Option<String>,
    /// Most bytes the unpacked files may take together.
    pub max_unpacked: u64,
}

/// Imports the zip at `req.zip` as dataset `req.name` of `req.project`.
pub async fn import_zip(
    db: &Db,
    objects: &Objects,
    limits: &DecodeLimits,
    req: ImportZip,
) -> Result<Imported, OpsError> {
    detective_core::names::check_segment("dataset name", &req.name)?;
    detective_core::names::check_segment("project", &req.project)?;
    let dir = tempfile::tempdir().map_err(|e| OpsError::io("temporary folder", e))?;
    // Messages name files as the zip does, not where the server unpacked it.
    let local = |e: OpsError| match e {
        OpsError::Invalid(m) => {
            let mut m = m;
            for sub in ["zip", "yolo"] {
                m = m.replace(&format!("{}/", dir.path().join(sub).display()), "");
            }
            OpsError::Invalid(m.replace(&dir.path().display().to_string(), "(upload)"))
        }
        other => other,
    };
    let (zip, max) = (req.zip.clone(), req.max_unpacked);
    let out = dir.path().to_path_buf();
    let root = tokio::task::spawn_blocking(move || -> Result<PathBuf, OpsError> {
        unpack(&zip, &out.join("zip"), max)?;
        layout_root(&out.join("zip"), &out.join("yolo"))
    })
    .await
    .map_err(|e| OpsError::io("unpacking", e))?
    .map_err(local)?;
    let folder = ImportFolder {
        path: root,
        name: req.name,
        project: req.project,
        note: req.note,
    };
    import_confined(db, objects, limits, folder, Some(dir.path()))
        .await
        .map_err(local)
}

/// Unpacks `zip` into `dest` with [`detective_data::unzip::unpack`]'s limits
/// ([`MAX_ENTRIES`], `max_bytes` counted as read).
fn unpack(zip: &Path, dest: &Path, max_bytes: u64) -> Result<(), OpsError> {
    use detective_data::unzip::UnzipError;
    let file = std::fs::File::open(zip).map_err(|e| OpsError::io("zip", e))?;
    match detective_data::unzip::unpack(file, dest, max_bytes, MAX_ENTRIES) {
        Ok(_) => Ok(()),
        Err(e @ UnzipError::TooManyEntries { max, .. }) => Err(OpsError::too_large(e.to_string(), max as u64)),
        Err(e @ UnzipError::TooLarge { max }) => Err(OpsError::too_large(e.to_string(), max)),
        Err(UnzipError::Io { path, source }) => Err(OpsError::io(path.display(), source)),
        Err(e) => Err(OpsError::invalid(e.to_string())),
    }
}

/// The folder to import from what was unpacked at `dir`: the one holding
/// `data.yaml` (at the top or one level down), else COCO written out as YOLO
/// under `yolo`.
fn layout_root(dir: &Path, yolo: &Path) -> Result<PathBuf, OpsError> {
    let subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| OpsError::io(dir.display(), e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    for candidate in std::iter::once(dir.to_path_buf()).chain(subdirs.iter().cloned()) {
        for yaml in ["data.yaml", "data.yml"] {
            if candidate.join(yaml).is_file() {
                empty_splits_for_missing(&candidate.join(yaml), dir)?;
                return Ok(candidate.join(yaml));
            }
        }
    }
    let tops: Vec<PathBuf> = std::iter::once(dir.to_path_buf()).chain(subdirs).collect();
    for top in &tops {
        let files = coco_files(top);
        if !files.is_empty() {
            write_yolo(&files, yolo)?;
            return Ok(yolo.to_path_buf());
        }
    }
    Err(OpsError::invalid(
        "the zip holds neither a data.yaml (YOLO layout) nor COCO annotations \
         (annotations/instances_{split}.json, or {split}/_annotations.coco.json)",
    ))
}

/// Roboflow's exports name `val` and `test` in `data.yaml` even when the
/// version has no such images (and then hold no such folder): those splits
/// become empty folders, inside `dir` only, so the set reads as it is meant.
fn empty_splits_for_missing(yaml: &Path, dir: &Path) -> Result<(), OpsError> {
    use detective_data::data_yaml::{DataYaml, SplitSource};
    let Ok(y) = DataYaml::load(yaml) else {
        return Ok(()); // the import's own check reports what is wrong
    };
    for (split, sources) in &y.splits {
        if split == "train" {
            continue;
        }
        for src in sources {
            let SplitSource::Missing(p) = src else { continue };
            let rel = p.strip_prefix(&y.root).unwrap_or(p);
            let rel = rel.strip_prefix("..").unwrap_or(rel);
            let images = y.root.join(rel);
            let labels = match images.file_name() {
                Some(n) if n == "images" => images.with_file_name("labels"),
                _ => continue,
            };
            if rel.components().all(|c| matches!(c, Component::Normal(_))) && images.starts_with(dir) {
                for d in [&images, &labels] {
                    std::fs::create_dir_all(d).map_err(|e| OpsError::io(d.display(), e))?;
                }
            }
        }
    }
    Ok(())
}

/// (split, COCO json, folder of its images) found under `top`.
fn coco_files(top: &Path) -> Vec<(&'static str, PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for (split, names) in [
        ("train", &["train"][..]),
        ("val", &["val", "valid"][..]),
        ("test", &["test"][..]),
    ] {
        for n in names {
            let ours = top.join("annotations").join(format!("instances_{n}.json"));
            let roboflow = top.join(n).join("_annotations.coco.json");
            if ours.is_file() {
                out.push((split, ours, top.join("images").join(n)));
                break;
            }
            if roboflow.is_file() {
                out.push((split, roboflow, top.join(n)));
                break;
            }
        }
    }
    out
}

/// A COCO file name as a relative path that stays inside its folder.
fn relative(name: &str) -> Result<&Path, OpsError> {
    let p = Path::new(name);
    if p.components().all(|c| matches!(c, Component::Normal(_))) && !name.is_empty() {
        Ok(p)
    } else {
        Err(OpsError::invalid(format!(
            "COCO file_name {name:?} is not a plain relative path"
        )))
    }
}

/// Writes the COCO `files` as one YOLO dataset at `out`; classes by name in
/// the order the files first name them.
fn write_yolo(files: &[(&'static str, PathBuf, PathBuf)], out: &Path) -> Result<(), OpsError> {
    let mut names: Vec<String> = Vec::new();
    let mut imports: Vec<(&str, CocoImport, &Path)> = Vec::new();
    for (split, json, images) in files {
        let coco = read_coco(json).map_err(|e| OpsError::invalid(format!("{}: {e}", json.display())))?;
        let imp = from_coco(&coco, &names).map_err(|e| OpsError::invalid(format!("{}: {e}", json.display())))?;
        names = imp.names.clone();
        imports.push((split, imp, images));
    }
    let splits: Vec<&str> = imports.iter().map(|(s, _, _)| *s).collect();
    let data_err = |e: detective_data::DataError| OpsError::invalid(e.to_string());
    let writer = DatasetWriter::create(out, &names, &splits, false).map_err(data_err)?;
    for (split, imp, images) in &imports {
        for im in &imp.images {
            let src = images.join(relative(&im.file_name)?);
            if !src.is_file() {
                return Err(OpsError::invalid(format!(
                    "{}: an image the COCO file names is not in the zip",
                    im.file_name
                )));
            }
            let flat = im.file_name.replace('/', "_");
            writer
                .add_image_file(split, &flat, &src, &im.labels)
                .map_err(data_err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coco_file_names_must_stay_inside_their_folder() {
        assert!(relative("a/b.jpg").is_ok());
        for bad in ["../x.jpg", "/etc/passwd", "a/../../b", ""] {
            assert!(relative(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_zip_entry_that_climbs_out_is_refused_and_a_big_one_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.zip");
        {
            let mut w = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
            w.start_file("../evil.txt", zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut w, b"x").unwrap();
            w.finish().unwrap();
        }
        let err = unpack(&path, &dir.path().join("out"), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        assert!(!dir.path().join("evil.txt").exists());

        let big = dir.path().join("big.zip");
        {
            let mut w = zip::ZipWriter::new(std::fs::File::create(&big).unwrap());
            w.start_file("a.bin", zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut w, &vec![0u8; 5000]).unwrap();
            w.finish().unwrap();
        }
        assert!(matches!(
            unpack(&big, &dir.path().join("out2"), 1000),
            Err(OpsError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_zip_without_a_known_layout_says_what_it_looks_for() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("zip/photos")).unwrap();
        let err = layout_root(&dir.path().join("zip"), &dir.path().join("yolo")).unwrap_err();
        assert!(err.to_string().contains("data.yaml"), "{err}");
    }
}
