//! Datasets and their immutable versions: create one from images (by id, by
//! tag, or with explicit splits), add versions, write a version out in the
//! YOLO layout (a folder for the trainer, [`write_layout`]) and export one as a
//! YOLOv8 or COCO zip ([`export`]), which also leaves the YOLOv8 layout
//! unzipped under `projects/{project}/datasets/{name}/v{n}/` in the object store;
//! import a labelled set from disk as a new dataset ([`import`]); seed one from
//! the frames people labelled in the labeling queue ([`seed`]).
//!
//! A version pins the label revision of each image labelled in the app; its
//! export says who made each shape (`label_sources.json` in a YOLOv8 zip, a
//! `source` and the polygons on each COCO annotation).
//!
//! An image's segmentation mask goes into a version with the image (each
//! version keeps the mask it was made with) and out as `masks/{split}/NAME.png`
//! beside `labels/`, as the segmentation trainer reads it.
//!
//! Images without a split of their own are split by content hash
//! ([`detective_data::split::SplitStrategy::ContentHash`]): the same images get
//! the same split every time, so a version can be rebuilt without a seed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use detective_core::Task;
use detective_core::names::check_segment;
use detective_data::DatasetWriter;
use detective_data::coco::CocoFile;
use detective_data::split::{SplitItem, SplitRatios, SplitStrategy};
use detective_store::datasets::{self, Dataset, DatasetItem, SPLITS, VersionChange};
use detective_store::images::{ImageFilter, ImageRow};
use detective_store::{Db, Objects};
use serde::Deserialize;

use crate::OpsError;
use crate::images::check_label;

mod import;
mod reviewed;
mod rules;
mod zip_import;
pub use import::{ImportFolder, Imported, import};
pub(crate) use reviewed::store_frame;
pub use reviewed::{SeedDataset, Seeded, seed};
pub use rules::MAX_ITEMS;
use rules::check_classes;
pub use zip_import::{ImportZip, import_zip};

/// The ratios of images without a split when a request names none.
const DEFAULT_RATIOS: SplitRatios = SplitRatios {
    train: 0.7,
    val: 0.15,
    test: 0.15,
};

/// What `POST /api/datasets/create` asks for.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateDataset {
    pub name: String,
    pub project: String,
    /// `detect` (default) or `segment`.
    #[serde(default)]
    pub task: Option<String>,
    /// Class names in index order.
    pub classes: Vec<String>,
    /// Images to include (of the project).
    #[serde(default)]
    pub image_ids: Vec<i64>,
    /// Or: every image of the project with this tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Fractions for train/val/test of images without a split of their own
    /// (default 0.7 / 0.15 / 0.15), assigned deterministically by content hash.
    #[serde(default)]
    pub split_ratios: Option<BTreeMap<String, f64>>,
    /// Or: explicit image ids per split.
    #[serde(default)]
    pub splits: Option<BTreeMap<String, Vec<i64>>>,
    #[serde(default)]
    pub note: Option<String>,
}

/// What `POST /api/datasets/{id}/versions` asks for.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// Images to add (labels and split from the image unless `splits` names them).
    #[serde(default)]
    pub add: Vec<i64>,
    /// Explicit split per added image id.
    #[serde(default)]
    pub splits: Option<BTreeMap<String, Vec<i64>>>,
    #[serde(default)]
    pub remove: Vec<i64>,
    /// New YOLO label text per image id (`""`: no defects), for added images or
    /// images already in the dataset.
    #[serde(default)]
    pub labels: BTreeMap<i64, String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// The split ratios a request names (`{"train": 0.7, …}`), checked.
fn ratios_of(r: &BTreeMap<String, f64>) -> Result<SplitRatios, OpsError> {
    let mut out = [0.0; 3];
    for (k, v) in r {
        let i = SPLITS
            .iter()
            .position(|s| s == k)
            .ok_or_else(|| OpsError::invalid(format!("split_ratios: {k:?} is not train, val or test")))?;
        out[i] = *v;
    }
    SplitRatios::new(out[0], out[1], out[2]).map_err(|e| OpsError::invalid(format!("split_ratios: {e}")))
}

/// Explicit splits by image id; an image in two splits is refused.
fn explicit_splits(splits: &Option<BTreeMap<String, Vec<i64>>>) -> Result<BTreeMap<i64, String>, OpsError> {
    let mut out = BTreeMap::new();
    for (split, ids) in splits.iter().flatten() {
        if !SPLITS.contains(&split.as_str()) {
            return Err(OpsError::invalid(format!(
                "splits: {split:?} is not train, val or test"
            )));
        }
        for id in ids {
            if out.insert(*id, split.clone()).is_some() {
                return Err(OpsError::invalid(format!("image {id} is in two splits")));
            }
        }
    }
    Ok(out)
}

/// The dataset items of `images`: the explicit split, else the image's own,
/// else by content hash among the images that have neither.
fn assign_splits(images: &[ImageRow], ratios: SplitRatios, explicit: &BTreeMap<i64, String>) -> Vec<DatasetItem> {
    let free: Vec<&ImageRow> = images
        .iter()
        .filter(|i| !explicit.contains_key(&i.id) && i.split.is_none())
        .collect();
    let items: Vec<SplitItem<'_>> = free
        .iter()
        .map(|i| SplitItem {
            sha256: &i.sha256,
            labels: &[],
        })
        .collect();
    let by_id: BTreeMap<i64, &str> = free
        .iter()
        .zip(detective_data::split::assign(
            &items,
            0,
            ratios,
            SplitStrategy::ContentHash,
        ))
        .map(|(img, k)| (img.id, SPLITS[k]))
        .collect();
    images
        .iter()
        .map(|img| DatasetItem {
            image_id: img.id,
            split: explicit
                .get(&img.id)
                .cloned()
                .or_else(|| img.split.clone())
                .or_else(|| by_id.get(&img.id).map(|s| s.to_string()))
                .unwrap_or_else(|| "train".into()),
            label: img.label.clone(),
            mask_key: img.mask_key.clone(),
            label_rev: img.label_rev,
        })
        .collect()
}

async fn images_with_tag(db: &Db, project: &str, tag: &str) -> Result<Vec<i64>, OpsError> {
    let f = ImageFilter {
        project: Some(project.to_string()),
        tag: Some(tag.to_string()),
        split: None,
        status: None,
    };
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let (rows, next) = detective_store::images::list(db, &f, after, 1000).await?;
        ids.extend(rows.iter().map(|r| r.id));
        if ids.len() > MAX_ITEMS {
            return Err(OpsError::too_large(
                format!("more than {MAX_ITEMS} images"),
                MAX_ITEMS as u64,
            ));
        }
        match next {
            Some(n) => after = n.parse().ok(),
            None => return Ok(ids),
        }
    }
}

/// Creates a dataset and its version 1.
pub async fn create(db: &Db, req: CreateDataset) -> Result<Dataset, OpsError> {
    check_segment("dataset name", &req.name)?;
    check_segment("project", &req.project)?;
    let task: Task = req.task.as_deref().unwrap_or("detect").parse()?;
    check_classes(&req.classes)?;
    let explicit = explicit_splits(&req.splits)?;
    let mut ids: Vec<i64> = req.image_ids.clone();
    ids.extend(explicit.keys());
    if let Some(tag) = &req.tag {
        ids.extend(images_with_tag(db, &req.project, tag).await?);
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(OpsError::invalid("name the images: image_ids, tag or splits"));
    }
    if ids.len() > MAX_ITEMS {
        return Err(OpsError::too_large(
            format!("more than {MAX_ITEMS} images"),
            MAX_ITEMS as u64,
        ));
    }
    let ratios = match &req.split_ratios {
        Some(r) => ratios_of(r)?,
        None => DEFAULT_RATIOS,
    };
    let images = detective_store::images::get_many(db, &ids).await?;
    let items = assign_splits(&images, ratios, &explicit);
    let ds = datasets::create(
        db,
        &req.name,
        &req.project,
        task,
        &req.classes,
        &items,
        req.note.as_deref(),
    )
    .await?;
    Ok(ds)
}

/// Adds a version: the latest one plus `add`, minus `remove`, with new labels.
pub async fn add_version(db: &Db, id: i64, req: NewVersion) -> Result<Dataset, OpsError> {
    let explicit = explicit_splits(&req.splits)?;
    let mut ids = req.add.clone();
    ids.extend(explicit.keys());
    ids.sort_unstable();
    ids.dedup();
    let images = detective_store::images::get_many(db, &ids).await?;
    let upsert = assign_splits(&images, DEFAULT_RATIOS, &explicit);
    let mut labels = BTreeMap::new();
    for (image, text) in req.labels {
        let label = check_label(&text).map_err(|e| OpsError::invalid(format!("labels[{image}]: {e}")))?;
        labels.insert(image, Some(label).filter(|l| !l.is_empty()));
    }
    let change = VersionChange {
        upsert,
        remove: req.remove,
        labels,
        note: req.note,
    };
    Ok(datasets::add_version(db, id, &change).await?)
}

/// The file name of an image inside a written dataset: its content hash and
/// stored extension (names are unique, whatever the users called the files).
fn layout_name(img: &ImageRow) -> String {
    let ext = img.object_key.rsplit_once('.').map(|(_, e)| e).unwrap_or("jpg");
    format!("{}.{ext}", img.sha256)
}

/// What [`write_layout`] wrote.
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

/// Writes version `version` of dataset `dataset_id` under `dir` (created if
/// absent) in the YOLO layout the trainer and validator read. A
/// version without a `val` split validates on its `train` images (said in the
/// yaml).
pub async fn write_layout(
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
        .ok_or_else(|| OpsError::invalid(format!("dataset {dataset_id} has no version {version}")))?;
    let items = datasets::items(db, dataset_id, version).await?;
    if items.iter().all(|(i, _)| i.split != "train") {
        return Err(OpsError::invalid(format!(
            "dataset {dataset_id} version {version} has no train images"
        )));
    }
    if ds.classes.is_empty() {
        return Err(OpsError::invalid(format!("dataset {dataset_id} has no classes")));
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
    let data_err = |e: detective_data::DataError| OpsError::Io(e.to_string());
    let writer = DatasetWriter::create(dir, &ds.classes, &present, true).map_err(data_err)?;
    for (item, img) in &items {
        let bytes = objects.get(&img.object_key).await?;
        let name = layout_name(img);
        writer.write_image(&item.split, &name, &bytes).map_err(data_err)?;
        writer
            .write_label_text(&item.split, &name, item.label.as_deref().unwrap_or_default())
            .map_err(data_err)?;
        if let Some(key) = &item.mask_key {
            let mask = objects.get(key).await?;
            writer.add_mask_png(&item.split, &name, &mask).map_err(data_err)?;
        }
    }
    let path = dir.join("data.yaml");
    if !present.contains(&"val") {
        let mut yaml = detective_data::data_yaml::DataYaml::text(&ds.classes, &present);
        yaml.push_str("# no val split in this version: validating on the train images\nval: images/train\n");
        tokio::fs::write(&path, yaml)
            .await
            .map_err(|e| OpsError::io(path.display(), e))?;
    }
    Ok(WrittenDataset {
        yaml: path,
        names: ds.classes.clone(),
        images: items.len(),
        per_split,
        version_id,
    })
}

/// The formats of [`export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `data.yaml`, `images/{split}/`, `labels/{split}/`.
    Yolov8,
    /// `images/{split}/` and `annotations/instances_{split}.json`.
    Coco,
}

impl std::str::FromStr for ExportFormat {
    type Err = OpsError;
    fn from_str(s: &str) -> Result<Self, OpsError> {
        match s {
            "yolov8" => Ok(ExportFormat::Yolov8),
            "coco" => Ok(ExportFormat::Coco),
            other => Err(OpsError::invalid(format!("format {other:?} is not yolov8 or coco"))),
        }
    }
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Yolov8 => "yolov8",
            ExportFormat::Coco => "coco",
        }
    }
}

/// An exported version: a zip in a temporary file (gone when dropped).
#[derive(Debug)]
pub struct Export {
    pub file: std::fs::File,
    pub len: u64,
    /// `{dataset}-v{n}-{format}.zip`.
    pub filename: String,
}

/// One image on its way into the zip.
struct ZipItem {
    split: String,
    name: String,
    bytes: bytes::Bytes,
    label: String,
    /// The segmentation mask (PNG), if the version holds one.
    mask: Option<bytes::Bytes>,
    id: u64,
    size: (u32, u32),
    /// The label revision the version pinned, when the label was made in the app.
    pinned: Option<Pinned>,
}

/// A label revision made in the app, as an export describes it.
struct Pinned {
    revision: i64,
    status: String,
    author: String,
    shapes: crate::annotations::Shapes,
}

impl Pinned {
    /// `label_sources.json`'s entry: who made each line of the label file (in
    /// order), the polygons, and where the painted layer came from.
    fn sources(&self) -> serde_json::Value {
        serde_json::json!({
            "revision": self.revision,
            "status": self.status,
            "author": self.author,
            "boxes": self.shapes.boxes.iter().enumerate().map(|(i, b)| serde_json::json!({
                "line": i + 1, "source": b.source, "model": b.model, "confidence": b.confidence, "edited": b.edited,
            })).collect::<Vec<_>>(),
            "polygons": self.shapes.polygons,
            "brush": self.shapes.brush,
        })
    }

    /// The COCO annotations: boxes, then polygons (with their outline), each
    /// with who made it.
    fn coco_shapes(&self) -> Vec<detective_data::coco::CocoShape> {
        use crate::annotations::Source;
        let source = |s: Source, model: &Option<String>| match (s, model) {
            (Source::Model, Some(m)) => format!("model:{m}"),
            (Source::Model, None) => "model".to_string(),
            (Source::Person, _) => "person".to_string(),
            (Source::Import, _) => "import".to_string(),
        };
        let boxes = self.shapes.boxes.iter().map(|b| detective_data::coco::CocoShape {
            class: b.class as u32,
            xyxy: b.bbox.map(f64::from),
            polygon: None,
            source: Some(source(b.source, &b.model)),
        });
        let polygons = self.shapes.polygons.iter().map(|p| {
            let pts: Vec<[f64; 2]> = p.points.iter().map(|q| [q[0] as f64, q[1] as f64]).collect();
            let (lo, hi) = pts.iter().fold(([f64::MAX; 2], [f64::MIN; 2]), |(lo, hi), q| {
                ([lo[0].min(q[0]), lo[1].min(q[1])], [hi[0].max(q[0]), hi[1].max(q[1])])
            });
            detective_data::coco::CocoShape {
                class: p.class as u32,
                xyxy: [lo[0], lo[1], hi[0], hi[1]],
                polygon: Some(pts),
                source: Some(source(p.source, &p.model)),
            }
        });
        boxes.chain(polygons).collect()
    }
}

/// Writes the zip on a blocking thread from the items the async side sends.
fn write_zip(
    format: ExportFormat,
    names: &[String],
    splits: &[&str],
    mut rx: tokio::sync::mpsc::Receiver<ZipItem>,
) -> Result<std::fs::File, detective_data::DataError> {
    use detective_data::writer::Sink;
    let tmp = tempfile::tempfile().map_err(|e| detective_data::DataError::Invalid(format!("temporary file: {e}")))?;
    let data_err = |e: std::io::Error| detective_data::DataError::Invalid(format!("writing the zip: {e}"));
    let sink = match format {
        ExportFormat::Yolov8 => {
            let writer = DatasetWriter::zip(tmp, names, splits)?;
            let mut sources = BTreeMap::new();
            while let Some(it) = rx.blocking_recv() {
                writer.write_image(&it.split, &it.name, &it.bytes)?;
                writer.write_label_text(&it.split, &it.name, &it.label)?;
                if let Some(mask) = &it.mask {
                    writer.add_mask_png(&it.split, &it.name, mask)?;
                }
                if let Some(p) = &it.pinned {
                    sources.insert(format!("images/{}/{}", it.split, it.name), p.sources());
                }
            }
            let sink = writer.into_sink();
            if !sources.is_empty() {
                let text = serde_json::to_vec_pretty(&sources)
                    .map_err(|e| detective_data::DataError::Invalid(e.to_string()))?;
                sink.put("label_sources.json", &text)?;
            }
            sink
        }
        ExportFormat::Coco => {
            let sink = detective_data::writer::Zip::new(tmp);
            let mut coco: BTreeMap<String, CocoFile> = BTreeMap::new();
            let mut next_annotation = 1;
            while let Some(it) = rx.blocking_recv() {
                sink.put(&format!("images/{}/{}", it.split, it.name), &it.bytes)?;
                let file = coco
                    .entry(it.split.clone())
                    .or_insert_with(|| CocoFile::with_names(names));
                match &it.pinned {
                    Some(p) => file.add_shapes(it.id, it.name, it.size, &p.coco_shapes(), &mut next_annotation),
                    None => {
                        let (labels, _) = detective_data::labels::parse_labels(&it.label);
                        file.add_image(it.id, it.name, it.size, &labels, &mut next_annotation);
                    }
                }
            }
            for (split, file) in &coco {
                let text =
                    serde_json::to_vec_pretty(file).map_err(|e| detective_data::DataError::Invalid(e.to_string()))?;
                sink.put(&format!("annotations/instances_{split}.json"), &text)?;
            }
            sink
        }
    };
    let mut file = sink.finish()?;
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0)).map_err(data_err)?;
    Ok(file)
}

/// The label revisions a version pinned, by image id.
async fn pinned_revisions(db: &Db, items: &[(DatasetItem, ImageRow)]) -> Result<BTreeMap<i64, Pinned>, OpsError> {
    let wanted: Vec<(i64, i64)> = items
        .iter()
        .filter_map(|(i, _)| i.label_rev.map(|r| (i.image_id, r)))
        .collect();
    let mut out = BTreeMap::new();
    for rev in detective_store::annotations::get_many(db, &wanted).await? {
        let shapes = serde_json::from_str(&rev.shapes)
            .map_err(|e| OpsError::Io(format!("stored shapes of image {}: {e}", rev.image_id)))?;
        out.insert(
            rev.image_id,
            Pinned {
                revision: rev.revision,
                status: rev.status,
                author: rev.author,
                shapes,
            },
        );
    }
    Ok(out)
}

/// Exports version `version` (default: the newest) of dataset `id` as a zip,
/// and writes its YOLOv8 layout under `projects/{project}/datasets/{name}/v{n}/`.
/// The zip is written on a blocking thread, fed through a small bounded queue
/// while the images are read from the object store.
pub async fn export(
    db: &Db,
    objects: &Objects,
    id: i64,
    version: Option<i64>,
    format: ExportFormat,
) -> Result<Export, OpsError> {
    let ds = datasets::get(db, id).await?;
    let version = version.unwrap_or_else(|| ds.versions.last().map_or(1, |v| v.version));
    let items = datasets::items(db, id, version).await?;
    let splits: Vec<&'static str> = SPLITS
        .iter()
        .copied()
        .filter(|s| items.iter().any(|(i, _)| i.split == *s))
        .collect();
    let prefix = detective_store::keys::dataset_version(&ds.project, &ds.name, version);
    let data_yaml = detective_data::data_yaml::DataYaml::text(&ds.classes, &splits);
    objects.put(&format!("{prefix}/data.yaml"), data_yaml.into()).await?;

    let mut pinned = pinned_revisions(db, &items).await?;

    let (tx, rx) = tokio::sync::mpsc::channel::<ZipItem>(4);
    let names = ds.classes.clone();
    let writer = tokio::task::spawn_blocking(move || write_zip(format, &names, &splits, rx));
    let fed: Result<(), OpsError> = async {
        for (item, img) in &items {
            let bytes = objects.get(&img.object_key).await?;
            let name = layout_name(img);
            let label = item.label.clone().unwrap_or_default();
            let stem = &img.sha256;
            objects
                .put(&format!("{prefix}/images/{}/{name}", item.split), bytes.clone())
                .await?;
            objects
                .put(
                    &format!("{prefix}/labels/{}/{stem}.txt", item.split),
                    label.clone().into(),
                )
                .await?;
            let mask = match &item.mask_key {
                Some(key) => {
                    let png = objects.get(key).await?;
                    objects
                        .put(&format!("{prefix}/masks/{}/{stem}.png", item.split), png.clone())
                        .await?;
                    Some(png)
                }
                None => None,
            };
            let it = ZipItem {
                split: item.split.clone(),
                name,
                bytes,
                label,
                mask,
                id: img.id as u64,
                size: (img.width as u32, img.height as u32),
                pinned: pinned.remove(&img.id),
            };
            if tx.send(it).await.is_err() {
                // The writer stopped early; its error is reported below.
                break;
            }
        }
        Ok(())
    }
    .await;
    drop(tx);
    let written = writer.await.map_err(|e| OpsError::io("zip writer", e))?;
    fed?;
    let file = written.map_err(|e| OpsError::Io(e.to_string()))?;
    let len = file.metadata().map_err(|e| OpsError::io("zip", e))?.len();
    Ok(Export {
        file,
        len,
        filename: format!("{}-v{version}-{}.zip", ds.name, format.as_str()),
    })
}

/// One dataset with its versions.
pub async fn get(db: &Db, id: i64) -> Result<Dataset, OpsError> {
    Ok(datasets::get(db, id).await?)
}

/// The datasets, of one project or all.
pub async fn list(db: &Db, project: Option<&str>) -> Result<Vec<Dataset>, OpsError> {
    Ok(datasets::list(db, project).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_ratios_must_name_splits_and_add_up_to_one() {
        let ok = BTreeMap::from([("train".to_string(), 0.8), ("val".to_string(), 0.2)]);
        assert!(ratios_of(&ok).is_ok());
        let short = BTreeMap::from([("train".to_string(), 0.5)]);
        assert!(ratios_of(&short).is_err());
        let unknown = BTreeMap::from([("holdout".to_string(), 1.0)]);
        assert!(ratios_of(&unknown).is_err());
    }

    #[test]
    fn an_image_in_two_explicit_splits_is_refused() {
        let two = Some(BTreeMap::from([
            ("train".to_string(), vec![1, 2]),
            ("val".to_string(), vec![2]),
        ]));
        assert!(explicit_splits(&two).is_err());
        let bad = Some(BTreeMap::from([("holdout".to_string(), vec![1])]));
        assert!(explicit_splits(&bad).is_err());
    }

    #[test]
    fn export_formats_are_read_by_name() {
        assert_eq!("coco".parse::<ExportFormat>().unwrap(), ExportFormat::Coco);
        assert!("voc".parse::<ExportFormat>().is_err());
    }
}
