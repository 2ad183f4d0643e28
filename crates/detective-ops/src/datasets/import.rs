//! Importing a labelled set from disk as a new dataset: a folder in the
//! Ultralytics / Roboflow YOLO layout (`data.yaml`, `images/{split}/`,
//! `labels/{split}/`). The set is checked by the dataset checker first — one with
//! problems is refused with the checker's findings, and nothing is written —;
//! then every image goes through the one ingest ([`crate::images::check`] +
//! [`crate::images::store`]) into the project, and the dataset is created with
//! version 1 holding each image's split and labels.

use std::collections::HashSet;
use std::path::PathBuf;

use bytes::Bytes;
use detective_core::Task;
use detective_core::names::check_segment;
use detective_data::check::check_dataset;
use detective_data::labels::format_labels;
use detective_data::{SPLITS, YoloDataset};
use detective_store::datasets::{self, Dataset, DatasetItem};
use detective_store::{Db, Objects};
use detective_vision::DecodeLimits;

use super::rules::{MAX_ITEMS, check_classes};
use crate::OpsError;
use crate::images::{Placement, check, store};

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
}

/// One image of the set: its split, file and label text (`None`: no defects).
struct Entry {
    split: String,
    image: PathBuf,
    label: Option<String>,
}

/// Imports the set at `req.path` as dataset `req.name` of `req.project`.
pub async fn import(
    db: &Db,
    objects: &Objects,
    limits: &DecodeLimits,
    req: ImportFolder,
) -> Result<Imported, OpsError> {
    check_segment("dataset name", &req.name)?;
    check_segment("project", &req.project)?;
    let (names, entries) = read_checked(req.path.clone()).await?;
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
    let mut items = Vec::with_capacity(entries.len());
    let (mut seen, mut duplicates) = (HashSet::new(), 0);
    for e in entries {
        let bytes = tokio::fs::read(&e.image)
            .await
            .map_err(|err| OpsError::io(e.image.display(), err))?;
        let checked = check(Bytes::from(bytes), limits)
            .await
            .map_err(|err| OpsError::invalid(format!("{}: {err}", e.image.display())))?;
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
        };
        let stored = store(db, objects, &checked, placement).await?;
        duplicates += usize::from(stored.duplicate);
        // the same picture twice in the set is one item, in its first split
        if seen.insert(stored.row.id) {
            items.push(DatasetItem {
                image_id: stored.row.id,
                split: e.split,
                label: e.label,
            });
        }
    }
    let images = items.len();
    let dataset = datasets::create(
        db,
        &req.name,
        &req.project,
        Task::Detect,
        &names,
        &items,
        req.note.as_deref(),
    )
    .await?;
    Ok(Imported {
        dataset,
        images,
        duplicates,
    })
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
