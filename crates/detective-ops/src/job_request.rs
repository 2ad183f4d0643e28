//! What `POST /api/training/start` asks for, with Ultralytics-like defaults and
//! range checks; stored as the job's `params`. A `detect` job trains a YOLOv8
//! detector; a `segment` job the UNetTiny segmenter on the version's masks, with
//! the settings of `detective train --task segment` (same defaults, same checks).

use std::path::PathBuf;

use detective_core::Task;
use detective_ml::detect::Scale;
use detective_ml::detect::prior::{PRIOR, SCRATCH};
use detective_ml::segment::DiceScope;
use detective_ml::segment::args::SegTrainArgs;
use serde::{Deserialize, Serialize};

use crate::OpsError;

/// A training request. Omitted fields take the defaults of [`TrainingRequest::defaults`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingRequest {
    pub dataset_id: i64,
    /// Dataset version (default: the newest).
    #[serde(default)]
    pub dataset_version: Option<i64>,
    /// `detect` (default) or `segment`.
    #[serde(default = "default_task")]
    pub task: Task,
    /// Model: a detector's size `t`, `n` (default) or `s`; a segmenter's
    /// `unet-tiny` (the only one, and the default).
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Training size (default: detect 640, segment 256).
    #[serde(default)]
    pub imgsz: Option<u32>,
    /// Images per batch (default: detect 16, segment 8).
    #[serde(default)]
    pub batch: Option<usize>,
    /// Registered version to fine-tune from: `name@3`, `name@Production`, or
    /// `production` (the task's Production model). Empty: from scratch.
    #[serde(default)]
    pub base_model: Option<String>,
    /// Registry name of the result (default: the base model's name, else `detector`).
    #[serde(default)]
    pub model_name: Option<String>,
    #[serde(default)]
    pub seed: u64,
    /// Mosaic probability (default 1.0) and the final epochs without it (default 10).
    #[serde(default)]
    pub mosaic: Option<f32>,
    #[serde(default)]
    pub close_mosaic: Option<usize>,
    /// Initial learning rate (default: chosen as Ultralytics' `optimizer=auto`).
    #[serde(default)]
    pub lr0: Option<f32>,
    /// Epochs without improvement before stopping early (default 100).
    #[serde(default)]
    pub patience: Option<usize>,
    /// Segment: train on windows of this side at the images' native scale (0,
    /// the default: whole images resized to `imgsz`).
    #[serde(default)]
    pub tile: Option<u32>,
    /// Segment: weight of the defect pixels' cross-entropy (default 1).
    #[serde(default)]
    pub pos_weight: Option<f32>,
    /// Segment: the soft Dice over the `batch` or per `image` (default).
    #[serde(default)]
    pub dice: Option<DiceScope>,
    /// Segment: share of each epoch's draws that are images with a defect
    /// (default 0: every image once per epoch).
    #[serde(default)]
    pub defect_share: Option<f32>,
    /// Segment: `image` standardises each image inside the network, `none`
    /// (default) feeds the pixels as they are.
    #[serde(default)]
    pub input_norm: Option<String>,
}

fn default_task() -> Task {
    Task::Detect
}
fn default_epochs() -> usize {
    50
}

impl TrainingRequest {
    /// A request with every default, for `dataset_id`.
    pub fn defaults(dataset_id: i64) -> Self {
        TrainingRequest {
            dataset_id,
            dataset_version: None,
            task: default_task(),
            model: None,
            epochs: default_epochs(),
            imgsz: None,
            batch: None,
            base_model: None,
            model_name: None,
            seed: 0,
            mosaic: None,
            close_mosaic: None,
            lr0: None,
            patience: None,
            tile: None,
            pos_weight: None,
            dice: None,
            defect_share: None,
            input_norm: None,
        }
    }

    /// The detector scale of [`TrainingRequest::model`].
    pub fn scale(&self) -> Result<Scale, OpsError> {
        Scale::parse(self.model()).ok_or_else(|| OpsError::Invalid(format!("model {:?}", self.model())))
    }

    /// The model, as given or the task's default.
    pub fn model(&self) -> &str {
        match (&self.model, self.task) {
            (Some(m), _) => m,
            (None, Task::Segment | Task::Anomaly) => "unet-tiny",
            (None, _) => "n",
        }
    }

    /// The training size, as given or the task's default.
    pub fn imgsz(&self) -> u32 {
        match self.task {
            Task::Segment | Task::Anomaly => self.imgsz.unwrap_or(SegTrainArgs::default().imgsz),
            _ => self.imgsz.unwrap_or(640),
        }
    }

    /// The batch, as given or the task's default.
    pub fn batch(&self) -> usize {
        match self.task {
            Task::Segment | Task::Anomaly => self.batch.unwrap_or(SegTrainArgs::default().batch),
            _ => self.batch.unwrap_or(16),
        }
    }

    /// Writes the task's defaults into the omitted model, size and batch (as
    /// the job's stored parameters show them).
    pub fn fill_defaults(&mut self) {
        self.model = Some(self.model().to_string());
        self.imgsz = Some(self.imgsz());
        self.batch = Some(self.batch());
    }

    /// The settings of a segment job that trains on the dataset at `data` into
    /// `out` (from `weights`, when fine-tuning): `detective train --task
    /// segment`'s defaults with this request's values.
    pub fn seg_args(&self, data: PathBuf, out: PathBuf, weights: Option<PathBuf>) -> SegTrainArgs {
        let d = SegTrainArgs::default();
        SegTrainArgs {
            data,
            out,
            weights,
            epochs: self.epochs,
            imgsz: self.imgsz(),
            batch: self.batch(),
            seed: self.seed,
            lr0: self.lr0.unwrap_or(d.lr0),
            patience: self.patience.unwrap_or(d.patience),
            tile: self.tile.unwrap_or(d.tile),
            pos_weight: self.pos_weight.unwrap_or(d.pos_weight),
            dice: self.dice.unwrap_or(d.dice),
            defect_share: self.defect_share.unwrap_or(d.defect_share),
            standardize: self.input_norm.as_deref() == Some("image"),
            anomaly: self.task == Task::Anomaly,
            ..d
        }
    }

    /// Checks every field's range; the error names the field.
    pub fn validate(&self) -> Result<(), OpsError> {
        let bad = |m: String| Err(OpsError::Invalid(m));
        if !(1..=1000).contains(&self.epochs) {
            return bad(format!("epochs {} is not within 1..=1000", self.epochs));
        }
        if let Some(n) = &self.model_name {
            detective_core::names::check_segment("model_name", n).map_err(|e| OpsError::Invalid(e.to_string()))?;
        }
        if let Some(lr) = self.lr0
            && !(lr > 0.0 && lr <= 1.0)
        {
            return bad(format!("lr0 {lr} is not within (0, 1]"));
        }
        match self.task {
            Task::Segment | Task::Anomaly => self.validate_segment(),
            _ => self.validate_detect(),
        }
    }

    fn validate_segment(&self) -> Result<(), OpsError> {
        let bad = |m: String| Err(OpsError::Invalid(m));
        if self.model() != "unet-tiny" {
            return bad(format!("model {:?}: a segmenter is unet-tiny", self.model()));
        }
        if self.mosaic.is_some() || self.close_mosaic.is_some() {
            return bad("mosaic and close_mosaic are for task detect".into());
        }
        if let Some(n) = &self.input_norm
            && !matches!(n.as_str(), "none" | "image")
        {
            return bad(format!("input_norm {n:?} is not none or image"));
        }
        self.seg_args(PathBuf::new(), PathBuf::new(), None)
            .validate()
            .map_err(OpsError::Invalid)
    }

    fn validate_detect(&self) -> Result<(), OpsError> {
        let bad = |m: String| Err(OpsError::Invalid(m));
        let segment_only = [
            self.tile.is_some(),
            self.pos_weight.is_some(),
            self.dice.is_some(),
            self.defect_share.is_some(),
            self.input_norm.is_some(),
        ];
        if segment_only.into_iter().any(|x| x) {
            return bad("tile, pos_weight, dice, defect_share and input_norm are for task segment".into());
        }
        if !matches!(self.model(), "t" | "n" | "s") {
            return bad(format!("model {:?} is not t, n or s", self.model()));
        }
        let imgsz = self.imgsz();
        if !(32..=1280).contains(&imgsz) || !imgsz.is_multiple_of(32) {
            return bad(format!("imgsz {imgsz} must be a multiple of 32 within 32..=1280"));
        }
        let batch = self.batch();
        if !(1..=256).contains(&batch) {
            return bad(format!("batch {batch} is not within 1..=256"));
        }
        if let Some(m) = self.mosaic
            && !(0.0..=1.0).contains(&m)
        {
            return bad(format!("mosaic {m} is not within 0..1"));
        }
        Ok(())
    }
}

/// Validates `req`, resolves its dataset version (default: newest) and base
/// model (`production` → `name@v`), fills the defaults, and queues the job.
pub async fn queue(
    db: &detective_store::Db,
    mut req: TrainingRequest,
    who: &str,
) -> Result<detective_store::training_jobs::Job, OpsError> {
    req.validate()?;
    let ds = detective_store::datasets::get(db, req.dataset_id).await?;
    // an anomaly model trains on the good images of a dataset of any task
    if ds.task != req.task && req.task != Task::Anomaly {
        return Err(OpsError::Invalid(format!("dataset {} is a {} dataset", ds.id, ds.task)));
    }
    let version = match req.dataset_version {
        Some(v) => ds
            .versions
            .iter()
            .find(|x| x.version == v)
            .ok_or_else(|| OpsError::Invalid(format!("dataset {} has no version {v}", ds.id)))?,
        None => ds
            .versions
            .last()
            .ok_or_else(|| OpsError::Invalid(format!("dataset {} has no versions", ds.id)))?,
    };
    if version.splits.get("train").copied().unwrap_or(0) == 0 {
        return Err(OpsError::Invalid(format!(
            "dataset {} version {} has no train images",
            ds.id, version.version
        )));
    }
    req.dataset_version = Some(version.version);
    let bundled = req.base_model.as_deref() == Some(crate::registry::BUNDLED_BASE);
    if bundled && req.task != Task::Detect {
        return Err(OpsError::invalid(
            "base_model `bundled` is our pretrained detector: a segmenter fine-tunes from a registered segmenter",
        ));
    }
    let named = req.base_model.as_deref().filter(|s| !s.is_empty());
    let (prior, scratch) = (named == Some(PRIOR), named == Some(SCRATCH));
    if prior && req.task != Task::Detect {
        return Err(OpsError::invalid(
            "base_model `prior` is the detector's pretrained start: a segmenter starts from random weights or a registered segmenter",
        ));
    }
    let base = match named.filter(|_| !bundled && !prior && !scratch) {
        Some(spec) => Some(crate::registry::require(db, spec, Some(req.task)).await?),
        None => None,
    };
    req.base_model = match &base {
        Some(v) => Some(format!("{}@{}", v.name, v.version)),
        None if bundled => {
            if req.model.as_deref().is_some_and(|m| m != "t") {
                return Err(OpsError::invalid(
                    "base_model `bundled` is a YOLOv8t detector: set model to t, or leave it out",
                ));
            }
            req.model = Some("t".into());
            Some(crate::registry::BUNDLED_BASE.into())
        }
        // A detector starts from the pretrained prior of its scale unless `none`
        // asks for random weights (or its scale has none).
        None if req.task == Task::Detect && !scratch => {
            let scale = req.scale()?;
            if detective_ml::detect::prior::exists(scale) {
                Some(PRIOR.into())
            } else if prior {
                return Err(OpsError::Invalid(format!(
                    "model {} has no pretrained prior (t and n have one)",
                    scale.as_str()
                )));
            } else {
                None
            }
        }
        None => None,
    };
    // A detector fine-tuned from a registered version keeps that version's scale.
    if req.model.is_none() && req.task == Task::Detect {
        req.model = base
            .as_ref()
            .and_then(|v| v.params.get("model"))
            .and_then(|m| m.as_str())
            .map(str::to_string);
    }
    req.fill_defaults();
    let model_name = req
        .model_name
        .clone()
        .or_else(|| base.as_ref().map(|v| v.name.clone()))
        .unwrap_or_else(|| {
            match req.task {
                Task::Segment => "segmenter",
                Task::Anomaly => "anomaly-model",
                Task::Detect => "detector",
            }
            .into()
        });
    req.model_name = Some(model_name.clone());
    let params = serde_json::to_value(&req).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let job = detective_store::training_jobs::create(
        db,
        &detective_store::training_jobs::NewJob {
            task: req.task,
            dataset_id: ds.id,
            dataset_version: version.version,
            model_name,
            params,
            base_model: req.base_model.clone(),
            epochs: req.epochs as i64,
            created_by: who.to_string(),
            max_attempts: 3,
        },
    )
    .await?;
    tracing::info!(job = job.id, by = who, "training job queued");
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_fields_take_the_defaults_and_unknown_fields_are_refused() {
        let r: TrainingRequest = serde_json::from_str(r#"{"dataset_id": 4}"#).unwrap();
        assert_eq!(r, TrainingRequest::defaults(4));
        r.validate().unwrap();
        assert!(serde_json::from_str::<TrainingRequest>(r#"{"dataset_id": 4, "epoch": 3}"#).is_err());
    }

    #[test]
    fn a_segment_job_takes_the_segmenter_defaults_and_its_recipe() {
        let mut r: TrainingRequest = serde_json::from_str(
            r#"{"dataset_id": 2, "task": "segment", "imgsz": 128, "defect_share": 0.5, "dice": "batch", "input_norm": "image"}"#,
        )
        .unwrap();
        r.validate().unwrap();
        r.fill_defaults();
        assert_eq!((r.model(), r.imgsz(), r.batch()), ("unet-tiny", 128, 8));
        let a = r.seg_args("d".into(), "o".into(), None);
        assert_eq!((a.imgsz, a.batch, a.defect_share), (128, 8, 0.5));
        assert!(a.standardize);
        assert_eq!(a.dice, DiceScope::Batch);
        let mut d = TrainingRequest::defaults(1);
        d.fill_defaults();
        assert_eq!((d.model(), d.imgsz(), d.batch()), ("n", 640, 16));
    }

    #[test]
    fn out_of_range_fields_are_named_in_the_error() {
        let base = TrainingRequest::defaults(1);
        for (r, field) in [
            (
                TrainingRequest {
                    epochs: 0,
                    ..base.clone()
                },
                "epochs",
            ),
            (
                TrainingRequest {
                    imgsz: Some(100),
                    ..base.clone()
                },
                "imgsz",
            ),
            (
                TrainingRequest {
                    batch: Some(1000),
                    ..base.clone()
                },
                "batch",
            ),
            (
                TrainingRequest {
                    model: Some("xl".into()),
                    ..base.clone()
                },
                "model",
            ),
            (
                TrainingRequest {
                    tile: Some(64),
                    ..base.clone()
                },
                "task segment",
            ),
            (
                TrainingRequest {
                    task: Task::Segment,
                    mosaic: Some(0.5),
                    ..base.clone()
                },
                "mosaic",
            ),
            (
                TrainingRequest {
                    task: Task::Segment,
                    imgsz: Some(100),
                    ..base.clone()
                },
                "imgsz",
            ),
            (
                TrainingRequest {
                    task: Task::Segment,
                    defect_share: Some(1.5),
                    ..base.clone()
                },
                "defect-share",
            ),
            (
                TrainingRequest {
                    task: Task::Segment,
                    model: Some("n".into()),
                    ..base.clone()
                },
                "unet-tiny",
            ),
            (
                TrainingRequest {
                    model_name: Some("../x".into()),
                    ..base.clone()
                },
                "model_name",
            ),
        ] {
            let e = r.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
    }
}
