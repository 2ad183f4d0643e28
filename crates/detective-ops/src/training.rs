//! Training jobs as the API and the dashboard see them: start one (checked and
//! queued, see [`crate::job_request`]), stop one, read one or a page of them,
//! each with how far it is and how long it has left. Running them is the
//! [`crate::runner`]'s job.

use detective_core::JobStatus;
use detective_store::Db;
use detective_store::training_jobs::{self, Job};
use serde_json::{Value, json};

use crate::OpsError;
use crate::job_request::TrainingRequest;

/// Largest page of [`list`].
pub const MAX_PAGE: usize = 200;

/// Checks `req` and queues it as a job created by `who`.
pub async fn start(db: &Db, req: TrainingRequest, who: &str) -> Result<Job, OpsError> {
    crate::job_request::queue(db, req, who).await
}

/// Asks job `id` to stop (a queued one stops at once, a running one at its
/// next heartbeat, keeping its last checkpoint); a finished one is a conflict.
pub async fn stop(db: &Db, id: i64) -> Result<Job, OpsError> {
    Ok(training_jobs::request_stop(db, id).await?)
}

pub async fn get(db: &Db, id: i64) -> Result<Job, OpsError> {
    Ok(training_jobs::get(db, id).await?)
}

/// Job `id` as the API shows one job: [`view`], and with mirroring on, its
/// MLflow side (`mlflow`: calls pending, its run and link).
pub async fn detail(db: &Db, id: i64) -> Result<Value, OpsError> {
    let mut v = view(&get(db, id).await?);
    v["mlflow"] = json!(crate::mlflow::job_status(db, id).await?);
    Ok(v)
}

/// Jobs newest first, of one status or all, before job `cursor`; with the
/// cursor of the next page.
pub async fn list(
    db: &Db,
    status: Option<JobStatus>,
    cursor: Option<i64>,
    limit: usize,
) -> Result<(Vec<Job>, Option<i64>), OpsError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(OpsError::invalid(format!("limit must be within 1..{MAX_PAGE}")));
    }
    let mut jobs = training_jobs::list(db, status, cursor, limit + 1).await?;
    let next = if jobs.len() > limit {
        jobs.truncate(limit);
        jobs.last().map(|j| j.id)
    } else {
        None
    };
    Ok((jobs, next))
}

/// A job as JSON with its completed `fraction` and `eta_s` (seconds left,
/// from the elapsed time of a running job).
pub fn view(job: &Job) -> Value {
    let mut v = serde_json::to_value(job).unwrap_or_else(|_| json!({}));
    let epochs = job.epochs.max(1) as f64;
    let p = &job.progress;
    let fraction = match job.status {
        JobStatus::Succeeded => 1.0,
        JobStatus::Running => {
            let epoch = p.get("epoch").and_then(Value::as_f64).unwrap_or(job.epoch as f64 + 1.0);
            let batch = p.get("batch").and_then(Value::as_f64).unwrap_or(0.0);
            let batches = p.get("batches").and_then(Value::as_f64).unwrap_or(1.0).max(1.0);
            (((epoch - 1.0).max(job.epoch as f64) + batch / batches) / epochs).clamp(0.0, 1.0)
        }
        JobStatus::Queued | JobStatus::Failed | JobStatus::Stopped => (job.epoch as f64 / epochs).clamp(0.0, 1.0),
    };
    let elapsed = p.get("elapsed_s").and_then(Value::as_f64);
    let eta = match (job.status, elapsed) {
        (JobStatus::Running, Some(e)) if fraction > 0.0 => Some(e * (1.0 - fraction) / fraction),
        _ => None,
    };
    v["fraction"] = json!(fraction);
    v["eta_s"] = json!(eta);
    v
}
