//! Importing a labelled set from disk as a new dataset: a folder in the
//! Ultralytics / Roboflow YOLO layout (`data.yaml`, `images/{split}/`,
//! `labels/{split}/`, and for segmentation `masks/{split}/NAME.png`: a folder
//! with masks becomes a `segment` dataset, one without a `detect` one). The
//! set is checked by the dataset checker first — one with
//! problems is refused with the checker's findings, and nothing is written —;
//! then every image goes through the one ingest ([`crate::images::check`] +
//! [`crate::images::store`]) into the project, and the dataset is created with
//! version 1 holding each image's split and labels.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use detective_core::Task;
use detective_core::names::check_segment;
use detective_data::check::check_dataset;
use detective_data::labels::format_labels;
use detective_data::{SPLITS, YoloDataset, mask_path_for};
use detective_store::datasets::{self, Dataset, DatasetItem};
use detective_store::{Db, Objects};
use detective_vision::DecodeLimits;

use super::rules::{MAX_ITEMS, check_classes};
use crate::OpsError;
use crate::images::{Checked, CheckedMask, Placement, check, check_mask, store};

/// What to import, and as which dataset.
#[derive(Debug, Clone)]
pub struct ImportFolder {
    /// The folder holding `data.yaml`, or the yaml itself.
    pub path: PathBuf,
    pub name: String,
    pub project: String,
    pub note: Option<String>,
}

/// The dataset an import created, and how many of its images the project held
/// already (same content).
#[derive(Debug, Clone)]
pub struct Imported {
    pub dataset: Dataset,
    pub images: usize,
    pub duplicates: usize,
    /// Images that came with a segmentation mask.
    pub masks: usize,
}

/// One image of the set: its split, file, label text (`None`: no defects) and
/// mask file.
struct Entry {
    split: String,
    image: PathBuf,
    label: Option<String>,
    mask: Option<PathBuf>,
}

/// Imports the set at `req.path` as dataset `req.name` of `req.project`.
pub async fn import(
    db: &Db,
    objects: &Objects,
    limits: &DecodeLimits,
    req: ImportFolder,
) -> Result<Imported, OpsError> {
    import_confined(db, objects, limits, req, None).await
}

/// [`import`], refusing a set whose files lie outside `confine` (a set sent by
/// someone else: its `data.yaml` must not name the server's own files).
pub(super) async fn import_confined(
    db: &Db,
    objects: &Objects,
    limits: &DecodeLimits,
    req: ImportFolder,
    confine: Option<&Path>,
) -> Result<Imported, OpsError> {
    check_segment("dataset name", &req.name)?;
    check_segment("project", &req.project)?;
    let (names, entries) = read_checked(req.path.clone()).await?;
    if let Some(root) = confine {
        confined(&entries, root)?;
    }
    check_classes(&names)?;
    if datasets::list(db, Some(&req.project))
        .await?
        .iter()
        .any(|d| d.name == req.name)
    {
        return Err(OpsError::Conflict(format!(
            "project {} already has a dataset named {:?}",
            req.project, req.name
        )));
    }
    let task = if entries.iter().any(|e| e.mask.is_some()) {
        Task::Segment
    } else {
        Task::Detect
    };
    // Every image and mask is checked before the first is stored: a bad file
    // refuses the set with nothing written.
    for e in &entries {
        checked_entry(e, limits).await?;
    }
    let mut items = Vec::with_capacity(entries.len());
    let (mut seen, mut duplicates, mut masks) = (HashSet::new(), 0, 0);
    for e in entries {
        let (checked, mask) = checked_entry(&e, limits).await?;
        let has_mask = mask.is_some();
        let placement = Placement {
            project: req.project.clone(),
            filename: e
                .image
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            split: Some(e.split.clone()),
            tags: Vec::new(),
            label: Some(e.label.clone().unwrap_or_default()),
            mask,
        };
        let stored = store(db, objects, &checked, placement).await?;
        duplicates += usize::from(stored.duplicate);
        // the same picture twice in the set is one item, in its first split
        if seen.insert(stored.row.id) {
            masks += usize::from(has_mask);
            items.push(DatasetItem {
                image_id: stored.row.id,
                split: e.split,
                label: e.label,
                mask_key: stored.row.mask_key.clone().filter(|_| has_mask),
                label_rev: None,
            });
        }
    }
    let images = items.len();
    let dataset = datasets::create(db, &req.name, &req.project, task, &names, &items, req.note.as_deref()).await?;
    Ok(Imported {
        dataset,
        images,
        duplicates,
        masks,
    })
}

/// An entry's image and mask, read and checked (type, limits, full decode; the
/// mask's size).
async fn checked_entry(e: &Entry, limits: &DecodeLimits) -> Result<(Checked, Option<CheckedMask>), OpsError> {
    let bytes = tokio::fs::read(&e.image)
        .await
        .map_err(|err| OpsError::io(e.image.display(), err))?;
    let checked = check(Bytes::from(bytes), limits)
        .await
        .map_err(|err| OpsError::invalid(format!("{}: {err}", e.image.display())))?;
    let mask = match &e.mask {
        Some(path) => {
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|err| OpsError::io(path.display(), err))?;
            Some(
                check_mask(Bytes::from(bytes), (checked.width, checked.height), limits)
                    .await
                    .map_err(|err| OpsError::invalid(format!("{}: {err}", path.display())))?,
            )
        }
        None => None,
    };
    Ok((checked, mask))
}

/// Fails when an image or mask of the set lies outside `root` (after links).
fn confined(entries: &[Entry], root: &Path) -> Result<(), OpsError> {
    let root = root.canonicalize().map_err(|e| OpsError::io(root.display(), e))?;
    for p in entries
        .iter()
        .flat_map(|e| std::iter::once(&e.image).chain(e.mask.as_ref()))
    {
        let real = p.canonicalize().map_err(|e| OpsError::io(p.display(), e))?;
        if !real.starts_with(&root) {
            return Err(OpsError::invalid(format!(
                "the set names {}, outside what was sent: nothing was imported",
                p.display()
            )));
        }
    }
    Ok(())
}

/// Loads and checks the set (on a blocking thread: it reads every label file):
/// its class names and images, or the checker's findings.
async fn read_checked(path: PathBuf) -> Result<(Vec<String>, Vec<Entry>), OpsError> {
    tokio::task::spawn_blocking(move || {
        let ds = YoloDataset::load(&path).map_err(|e| OpsError::invalid(format!("{}: {e}", path.display())))?;
        let report = check_dataset(&ds);
        if !report.is_ok() {
            return Err(OpsError::invalid(format!(
                "{} has problems, so nothing was imported:\n{report}",
                path.display()
            )));
        }
        let entries: Vec<Entry> = ds
            .splits
            .iter()
            .filter(|s| SPLITS.contains(&s.name.as_str()))
            .flat_map(|s| {
                s.samples.iter().map(|sample| Entry {
                    split: s.name.clone(),
                    image: sample.image.clone(),
                    label: (!sample.labels.is_empty()).then(|| format_labels(&sample.labels)),
                    mask: Some(mask_path_for(&sample.image)).filter(|m| m.is_file()),
                })
            })
            .collect();
        if entries.is_empty() {
            return Err(OpsError::invalid(format!("{} holds no images", path.display())));
        }
        if entries.len() > MAX_ITEMS {
            return Err(OpsError::too_large(
                format!("{} images", entries.len()),
                MAX_ITEMS as u64,
            ));
        }
        Ok((ds.yaml.names.clone(), entries))
    })
    .await
    .map_err(|e| OpsError::Io(format!("import thread: {e}")))?
}
