//! Measuring versions: a version's metrics on one dataset version's
//! validation split (a detector's precision, recall and mAP; a segmenter's
//! Dice and IoU per image and over pixels, false alarms and AUROC), and two
//! versions of a task compared on the same validation set with per-class deltas.

use std::path::Path;

use detective_core::Task;

use detective_ml::Detector;
use detective_ml::detect::loader::samples_from_split;
use detective_ml::detect::validate::validate_engine;
use detective_store::models::ModelVersion;
use detective_store::{Db, Objects};
use serde_json::json;

use super::artifacts::fetch_servable;
use super::resolve::require;
use crate::OpsError;

/// Detection metrics as the registry stores them (overall and per class).
pub fn metrics_json(m: &detective_ml::metrics::detection::DetectionMetrics) -> serde_json::Value {
    json!({
        "precision": m.precision, "recall": m.recall, "map50": m.map50, "map50_95": m.map50_95,
        "fitness": m.fitness, "images": m.images, "instances": m.instances,
        "per_class": m.per_class.iter().map(|c| json!({
            "class": c.class, "name": c.name, "precision": c.precision, "recall": c.recall,
            "map50": c.map50, "map50_95": c.map50_95, "instances": c.instances})).collect::<Vec<_>>(),
    })
}

/// Segmentation metrics as the registry stores them: the scores at the model's
/// threshold (Dice/IoU per image and over pixels, the fitness and its parts),
/// false alarms on clean images, image-level AUROC, the best threshold's
/// scores, and per class for a per-class model.
pub fn seg_metrics_json(m: &detective_ml::metrics::SegMetrics) -> serde_json::Value {
    let a = &m.at;
    json!({
        "threshold": a.threshold, "dice": a.dice, "iou": a.iou, "dice_pixels": a.dice_pixels,
        "iou_pixels": a.iou_pixels, "dice_defects": a.dice_defects, "clean_ok": a.clean_ok, "fitness": a.fitness,
        "false_alarms": m.false_alarms, "auroc": m.auroc, "images": m.images,
        "images_with_defects": m.images_with_defects, "best": m.best,
        "per_class": m.per_class, "pixel_auroc": m.pixel_auroc, "pro": m.pro, "f1": m.flagged.f1,
        "false_alarm_rate": m.flagged.false_alarm_rate,
    })
}

/// Fails unless a model (`what`) of `task` and dataset `dataset_id` (of
/// `dataset_task`) are of the same task: a version is only measured on its own
/// task's data (an anomaly model on any).
pub(super) fn same_task(what: &str, task: Task, dataset_id: i64, dataset_task: Task) -> Result<(), OpsError> {
    // an anomaly model is measured on any labelled set: its good images and its defects
    if task == dataset_task || task == Task::Anomaly {
        return Ok(());
    }
    Err(OpsError::Invalid(format!(
        "{what} is a {task} model but dataset {dataset_id} is a {dataset_task} dataset"
    )))
}

/// Metrics of version `v` on the validation split of dataset version
/// (`dataset_id`, `version`), in the registry's metrics layout of its task.
pub async fn evaluate(
    db: &Db,
    objects: &Objects,
    work_dir: &Path,
    v: &ModelVersion,
    dataset_id: i64,
    version: i64,
) -> Result<serde_json::Value, OpsError> {
    let ds = detective_store::datasets::get(db, dataset_id).await?;
    same_task(&format!("{}@{}", v.name, v.version), v.task, dataset_id, ds.task)?;
    let dir = work_dir.join(format!("eval-{}", uuid::Uuid::new_v4().simple()));
    let result = async {
        let data = crate::datasets::write_layout(db, objects, dataset_id, version, &dir.join("data")).await?;
        let model = fetch_servable(objects, v, &dir.join("model")).await?;
        let yaml = data.yaml.clone();
        let names = data.names.clone();
        let task = v.task;
        let metrics = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, OpsError> {
            if task != Task::Detect {
                return evaluate_segmenter(&model, &yaml);
            }
            let ds = detective_data::dataset::YoloDataset::load(&yaml).map_err(|e| OpsError::Invalid(e.to_string()))?;
            let samples = samples_from_split(&ds, "val").map_err(|e| OpsError::Invalid(e.to_string()))?;
            let det = Detector::load(&model, None, 0)?;
            if det.names.len() != names.len() {
                return Err(OpsError::Invalid(format!(
                    "the model has {} classes, the dataset {}",
                    det.names.len(),
                    names.len()
                )));
            }
            let report = validate_engine(det.engine(), &det.sight(), &samples, &names, 0.7, 300, |_, _| {})?;
            Ok(metrics_json(&report.metrics))
        })
        .await
        .map_err(|e| OpsError::Train(format!("evaluation thread: {e}")))??;
        let mut metrics = metrics;
        metrics["dataset_version_id"] = json!(data.version_id);
        metrics["split"] = json!("val");
        Ok(metrics)
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}

/// Dice/IoU of the segmenter at `model` on the `val` split of the dataset
/// written at `yaml` (its masks), at the segmenter's own threshold.
pub(crate) fn evaluate_segmenter(model: &Path, yaml: &Path) -> Result<serde_json::Value, OpsError> {
    use detective_ml::segment::loader::seg_samples;
    use detective_ml::segment::segmenter::AnySegmenter;
    let ds = detective_data::dataset::YoloDataset::load(yaml).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let samples = seg_samples(&ds, "val");
    if samples.is_empty() {
        return Err(OpsError::Invalid("the dataset version has no validation images".into()));
    }
    let seg = AnySegmenter::load(model, 0)?;
    let m = seg
        .validate(&samples, seg.imgsz(), seg.threshold())
        .map_err(|e| OpsError::Train(e.to_string()))?;
    let mut out = seg_metrics_json(&m);
    // an anomaly model is ranked by how well it separates (image and pixel AUROC)
    if detective_ml::segment::segmenter::map_task(model) == Some(Task::Anomaly)
        && let Some(f) = m.mean_auroc()
    {
        out["fitness"] = json!(f);
    }
    Ok(out)
}

/// Two versions side by side: their metrics, measured on the same validation
/// set (the stored ones when both were measured on the same dataset version,
/// else both evaluated now on `on` or on b's dataset version), and per-class deltas (b − a).
/// Two segmenters also show up to `samples` validation images with a defect
/// through both ([`super::side_by_side`]).
pub async fn compare(
    db: &Db,
    objects: &Objects,
    work_dir: &Path,
    (a, b): (&str, &str),
    on: Option<(i64, i64)>,
    samples: usize,
) -> Result<serde_json::Value, OpsError> {
    let va = require(db, a, None).await?;
    let vb = require(db, b, None).await?;
    if va.task != vb.task {
        return Err(OpsError::Invalid(format!(
            "{a} is a {} model, {b} a {}",
            va.task, vb.task
        )));
    }
    let measured_on = |v: &ModelVersion| v.metrics.get("dataset_version_id").and_then(|x| x.as_i64());
    let target = match on {
        Some(t) => Some(t),
        None => match (measured_on(&va), measured_on(&vb)) {
            (Some(x), Some(y)) if x == y => None,
            (_, Some(y)) | (Some(y), None) => Some(dataset_of_version(db, y).await?),
            (None, None) => None,
        },
    };
    let (ma, mb, evaluated) = match target {
        Some((ds, ver)) => (
            evaluate(db, objects, work_dir, &va, ds, ver).await?,
            evaluate(db, objects, work_dir, &vb, ds, ver).await?,
            true,
        ),
        None => (va.metrics.clone(), vb.metrics.clone(), false),
    };
    let num = |m: &serde_json::Value, k: &str| m.get(k).and_then(|x| x.as_f64());
    let (overall_keys, class_keys): (&[&str], [&str; 2]) = match va.task {
        Task::Anomaly => (
            &[
                "auroc",
                "pixel_auroc",
                "f1",
                "false_alarm_rate",
                "dice_pixels",
                "fitness",
            ],
            ["dice", "iou"],
        ),
        Task::Segment => (
            &[
                "dice",
                "iou",
                "dice_pixels",
                "iou_pixels",
                "false_alarms",
                "auroc",
                "fitness",
            ],
            ["dice", "iou"],
        ),
        _ => (
            &["precision", "recall", "map50", "map50_95", "fitness"],
            ["map50", "map50_95"],
        ),
    };
    let mut overall = serde_json::Map::new();
    for &k in overall_keys {
        let (x, y) = (num(&ma, k), num(&mb, k));
        overall.insert(k.into(), json!({"a": x, "b": y, "delta": x.zip(y).map(|(x, y)| y - x)}));
    }
    let classes = |m: &serde_json::Value| -> Vec<serde_json::Value> {
        m.get("per_class")
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default()
    };
    let (ca, cb) = (classes(&ma), classes(&mb));
    let mut names: Vec<String> = ca
        .iter()
        .chain(cb.iter())
        .filter_map(|c| c.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    let find = |list: &[serde_json::Value], n: &str| list.iter().find(|c| c["name"] == n).cloned();
    let per_class: Vec<serde_json::Value> = names
        .iter()
        .map(|n| {
            let (x, y) = (find(&ca, n), find(&cb, n));
            let get =
                |c: &Option<serde_json::Value>, k: &str| c.as_ref().and_then(|c| c.get(k)).and_then(|v| v.as_f64());
            let mut row = serde_json::Map::new();
            row.insert("name".into(), json!(n));
            for k in class_keys {
                let (a, b) = (get(&x, k), get(&y, k));
                row.insert(k.into(), json!({"a": a, "b": b, "delta": a.zip(b).map(|(a, b)| b - a)}));
            }
            serde_json::Value::Object(row)
        })
        .collect();
    let same_set =
        ma.get("dataset_version_id").is_some() && ma.get("dataset_version_id") == mb.get("dataset_version_id");
    let shown_on = match (target, measured_on(&vb)) {
        (Some(t), _) => Some(t),
        (None, Some(id)) => Some(dataset_of_version(db, id).await?),
        (None, None) => None,
    };
    let samples = match (va.task, shown_on) {
        (Task::Segment | Task::Anomaly, Some(set)) if samples > 0 => {
            super::side_by_side::segment_samples(db, objects, work_dir, (&va, &vb), set, samples).await?
        }
        _ => Vec::new(),
    };
    Ok(json!({
        "task": va.task,
        "a": {"name": va.name, "version": va.version, "stage": va.stage, "metrics": ma},
        "b": {"name": vb.name, "version": vb.version, "stage": vb.stage, "metrics": mb},
        "same_validation_set": same_set,
        "evaluated_now": evaluated,
        "dataset_version_id": mb.get("dataset_version_id"),
        "overall": overall,
        "per_class": per_class,
        "samples": samples,
        "better": match (num(&ma, "fitness"), num(&mb, "fitness")) {
            (Some(x), Some(y)) if y > x => "b",
            (Some(x), Some(y)) if x > y => "a",
            (Some(_), Some(_)) => "equal",
            _ => "unknown",
        },
    }))
}

/// The dataset version a comparison is measured on, as a request names it:
/// a dataset and a version, a dataset alone (its newest version), or nothing.
pub async fn validation_set(
    db: &Db,
    dataset: Option<i64>,
    version: Option<i64>,
) -> Result<Option<(i64, i64)>, OpsError> {
    match (dataset, version) {
        (Some(d), Some(v)) => Ok(Some((d, v))),
        (Some(d), None) => {
            let ds = detective_store::datasets::get(db, d).await?;
            Ok(Some((d, ds.versions.last().map_or(1, |v| v.version))))
        }
        (None, Some(_)) => Err(OpsError::invalid("version needs dataset")),
        (None, None) => Ok(None),
    }
}

/// (dataset id, version number) of a dataset version's database id.
pub async fn dataset_of_version(db: &Db, version_id: i64) -> Result<(i64, i64), OpsError> {
    Ok(detective_store::datasets::version_of_id(db, version_id).await?)
}
