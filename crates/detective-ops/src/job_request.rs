//! What `POST /api/training/start` asks for, with Ultralytics-like defaults and
//! range checks; stored as the job's `params`.

use detective_core::Task;
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
    /// Model size: `t`, `n` (default) or `s`.
    #[serde(default = "default_model")]
    pub model: String,
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    #[serde(default = "default_imgsz")]
    pub imgsz: u32,
    #[serde(default = "default_batch")]
    pub batch: usize,
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
}

fn default_task() -> Task {
    Task::Detect
}
fn default_model() -> String {
    "n".into()
}
fn default_epochs() -> usize {
    50
}
fn default_imgsz() -> u32 {
    640
}
fn default_batch() -> usize {
    16
}

impl TrainingRequest {
    /// A request with every default, for `dataset_id`.
    pub fn defaults(dataset_id: i64) -> Self {
        TrainingRequest {
            dataset_id,
            dataset_version: None,
            task: default_task(),
            model: default_model(),
            epochs: default_epochs(),
            imgsz: default_imgsz(),
            batch: default_batch(),
            base_model: None,
            model_name: None,
            seed: 0,
            mosaic: None,
            close_mosaic: None,
            lr0: None,
            patience: None,
        }
    }

    /// Checks every field's range; the error names the field.
    pub fn validate(&self) -> Result<(), OpsError> {
        let bad = |m: String| Err(OpsError::Invalid(m));
        if self.task == Task::Segment {
            return bad(
                "task segment: training jobs read boxes from dataset versions, which hold no masks; \
                 train a segmenter with `detective train --task segment` on a folder"
                    .into(),
            );
        }
        if !matches!(self.model.as_str(), "t" | "n" | "s") {
            return bad(format!("model {:?} is not t, n or s", self.model));
        }
        if !(1..=1000).contains(&self.epochs) {
            return bad(format!("epochs {} is not within 1..=1000", self.epochs));
        }
        if !(32..=1280).contains(&self.imgsz) || !self.imgsz.is_multiple_of(32) {
            return bad(format!(
                "imgsz {} must be a multiple of 32 within 32..=1280",
                self.imgsz
            ));
        }
        if !(1..=256).contains(&self.batch) {
            return bad(format!("batch {} is not within 1..=256", self.batch));
        }
        if let Some(m) = self.mosaic
            && !(0.0..=1.0).contains(&m)
        {
            return bad(format!("mosaic {m} is not within 0..1"));
        }
        if let Some(lr) = self.lr0
            && !(lr > 0.0 && lr <= 1.0)
        {
            return bad(format!("lr0 {lr} is not within (0, 1]"));
        }
        if let Some(n) = &self.model_name {
            detective_core::names::check_segment("model_name", n).map_err(|e| OpsError::Invalid(e.to_string()))?;
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
    if ds.task != req.task {
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
    let base = match req.base_model.as_deref().filter(|s| !s.is_empty()) {
        Some(spec) => Some(crate::registry::require(db, spec, Some(req.task)).await?),
        None => None,
    };
    req.base_model = base.as_ref().map(|v| format!("{}@{}", v.name, v.version));
    let model_name = req
        .model_name
        .clone()
        .or_else(|| base.as_ref().map(|v| v.name.clone()))
        .unwrap_or_else(|| "detector".into());
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
                    imgsz: 100,
                    ..base.clone()
                },
                "imgsz",
            ),
            (
                TrainingRequest {
                    batch: 1000,
                    ..base.clone()
                },
                "batch",
            ),
            (
                TrainingRequest {
                    model: "xl".into(),
                    ..base.clone()
                },
                "model",
            ),
            (
                TrainingRequest {
                    task: Task::Segment,
                    ..base.clone()
                },
                "masks",
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
