//! Writes one dataset version from the database and object store into a local
//! folder in the YOLOv8 layout (`data.yaml`, `images/{split}/`,
//! `labels/{split}/`), which is what the trainer and validator read. A version
//! without a `val` split validates on its `train` images (said in the yaml).

use std::path::{Path, PathBuf};

use detective_store::datasets::{self, SPLITS};
use detective_store::{Db, Objects};

use crate::OpsError;

/// What was written.
#[derive(Debug, Clone)]
pub struct WrittenDataset {
    pub yaml: PathBuf,
    pub names: Vec<String>,
    pub images: usize,
    /// Images per split, in `train, val, test` order.
    pub per_split: Vec<(String, usize)>,
    /// The database id of the version (for the registry's `dataset_version_id`).
    pub version_id: i64,
}

/// Writes version `version` of dataset `dataset_id` under `dir` (created; must be empty or absent).
pub async fn write_version(
    db: &Db,
    objects: &Objects,
    dataset_id: i64,
    version: i64,
    dir: &Path,
) -> Result<WrittenDataset, OpsError> {
    let ds = datasets::get(db, dataset_id).await?;
    let version_id = ds
        .versions
        .iter()
        .find(|v| v.version == version)
        .map(|v| v.id)
        .ok_or_else(|| OpsError::Invalid(format!("dataset {dataset_id} has no version {version}")))?;
    let items = datasets::items(db, dataset_id, version).await?;
    if items.iter().all(|(i, _)| i.split != "train") {
        return Err(OpsError::Invalid(format!(
            "dataset {dataset_id} version {version} has no train images"
        )));
    }
    if ds.classes.is_empty() {
        return Err(OpsError::Invalid(format!("dataset {dataset_id} has no classes")));
    }
    for split in SPLITS {
        for sub in ["images", "labels"] {
            let d = dir.join(sub).join(split);
            tokio::fs::create_dir_all(&d)
                .await
                .map_err(|e| OpsError::io(d.display(), e))?;
        }
    }
    for (item, img) in &items {
        let bytes = objects.get(&img.object_key).await?;
        let ext = img.object_key.rsplit_once('.').map(|(_, e)| e).unwrap_or("jpg");
        let image = dir
            .join("images")
            .join(&item.split)
            .join(format!("{}.{ext}", img.sha256));
        let label = dir.join("labels").join(&item.split).join(format!("{}.txt", img.sha256));
        tokio::fs::write(&image, &bytes)
            .await
            .map_err(|e| OpsError::io(image.display(), e))?;
        let text = item.label.clone().unwrap_or_default();
        tokio::fs::write(&label, text)
            .await
            .map_err(|e| OpsError::io(label.display(), e))?;
    }
    let per_split: Vec<(String, usize)> = SPLITS
        .iter()
        .map(|s| (s.to_string(), items.iter().filter(|(i, _)| i.split == *s).count()))
        .collect();
    let present: Vec<&str> = per_split
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, _)| s.as_str())
        .collect();
    let mut yaml = detective_data::data_yaml::DataYaml::text(&ds.classes, &present);
    if !present.contains(&"val") {
        yaml.push_str("# no val split in this version: validating on the train images\nval: images/train\n");
    }
    let path = dir.join("data.yaml");
    tokio::fs::write(&path, yaml)
        .await
        .map_err(|e| OpsError::io(path.display(), e))?;
    Ok(WrittenDataset {
        yaml: path,
        names: ds.classes.clone(),
        images: items.len(),
        per_split,
        version_id,
    })
}
