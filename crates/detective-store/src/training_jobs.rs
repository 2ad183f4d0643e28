//! The training-job queue: jobs are created `queued`, taken by one runner at a
//! time (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer slot on
//! SQLite), kept alive by heartbeats, and finish `succeeded`, `failed` or
//! `stopped`. A running job whose heartbeat is older than the timeout goes back
//! to the queue (or fails after `max_attempts`); a runner that lost its job
//! learns it from its next heartbeat and stops writing.

use detective_core::{JobStatus, Task};
use serde::Serialize;
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::{Backend, Db, StoreError};

/// What a new job asks for.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub task: Task,
    pub dataset_id: i64,
    pub dataset_version: i64,
    /// The registry name a finished job registers under.
    pub model_name: String,
    /// Training settings (model size, epochs, imgsz, batch, …) as JSON.
    pub params: serde_json::Value,
    /// `name@version` of the model to fine-tune from.
    pub base_model: Option<String>,
    pub epochs: i64,
    pub created_by: String,
    pub max_attempts: i64,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: i64,
    pub status: JobStatus,
    pub task: Task,
    pub dataset_id: i64,
    pub dataset_version: i64,
    pub model_name: String,
    pub params: serde_json::Value,
    pub base_model: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub heartbeat_at: Option<String>,
    pub worker: Option<String>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub stop_requested: bool,
    pub epoch: i64,
    pub epochs: i64,
    /// One object per finished epoch (losses, metrics, seconds).
    pub history: serde_json::Value,
    /// Where the running epoch is (epoch, batch, batches, running losses), as of the last heartbeat.
    pub progress: serde_json::Value,
    /// Final metrics of a succeeded job.
    pub metrics: serde_json::Value,
    pub log: String,
    pub error: Option<String>,
    /// Object-store prefix of the run's files (`training/{id}`).
    pub artifact_key: Option<String>,
    pub updated_at: String,
}

const COLUMNS: &str = "id, status, task, dataset_id, dataset_version, model_name, params, base_model, created_by, \
    created_at, started_at, finished_at, heartbeat_at, worker, attempts, max_attempts, stop_requested, epoch, epochs, \
    history, progress, metrics, log, error, artifact_key, updated_at";

fn opt_time(r: &sqlx::any::AnyRow, col: &str) -> Result<Option<String>, StoreError> {
    Ok(r.try_get::<Option<i64>, _>(col)?.map(to_rfc3339))
}

fn job_row(r: &sqlx::any::AnyRow) -> Result<Job, StoreError> {
    let params: String = r.try_get("params")?;
    let history: String = r.try_get("history")?;
    let progress: String = r.try_get("progress")?;
    let metrics: String = r.try_get("metrics")?;
    Ok(Job {
        id: r.try_get("id")?,
        status: r.try_get::<String, _>("status")?.parse()?,
        task: r.try_get::<String, _>("task")?.parse()?,
        dataset_id: r.try_get("dataset_id")?,
        dataset_version: r.try_get("dataset_version")?,
        model_name: r.try_get("model_name")?,
        params: serde_json::from_str(&params)?,
        base_model: r.try_get("base_model")?,
        created_by: r.try_get("created_by")?,
        created_at: to_rfc3339(r.try_get("created_at")?),
        started_at: opt_time(r, "started_at")?,
        finished_at: opt_time(r, "finished_at")?,
        heartbeat_at: opt_time(r, "heartbeat_at")?,
        worker: r.try_get("worker")?,
        attempts: r.try_get("attempts")?,
        max_attempts: r.try_get("max_attempts")?,
        stop_requested: r.try_get::<i64, _>("stop_requested")? != 0,
        epoch: r.try_get("epoch")?,
        epochs: r.try_get("epochs")?,
        history: serde_json::from_str(&history)?,
        progress: serde_json::from_str(&progress)?,
        metrics: serde_json::from_str(&metrics)?,
        log: r.try_get("log")?,
        error: r.try_get("error")?,
        artifact_key: r.try_get("artifact_key")?,
        updated_at: to_rfc3339(r.try_get("updated_at")?),
    })
}

/// Queues a job.
pub async fn create(db: &Db, job: &NewJob) -> Result<Job, StoreError> {
    if job.epochs < 1 || job.max_attempts < 1 {
        return Err(StoreError::Invalid("epochs and max_attempts must be at least 1".into()));
    }
    detective_core::names::check_segment("model name", &job.model_name)
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO training_jobs (task, dataset_id, dataset_version, model_name, params, base_model, created_by, \
         created_at, epochs, max_attempts, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $8) RETURNING id",
    )
    .bind(job.task.as_str())
    .bind(job.dataset_id)
    .bind(job.dataset_version)
    .bind(&job.model_name)
    .bind(serde_json::to_string(&job.params)?)
    .bind(job.base_model.clone())
    .bind(&job.created_by)
    .bind(now)
    .bind(job.epochs)
    .bind(job.max_attempts)
    .fetch_one(tx.conn())
    .await?;
    tx.commit().await?;
    get(db, id).await
}

pub async fn get(db: &Db, id: i64) -> Result<Job, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM training_jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("training job {id}")))?;
    job_row(&row)
}

/// Jobs newest first, optionally of one status, before job id `before` (paging).
pub async fn list(
    db: &Db,
    status: Option<JobStatus>,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<Job>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM training_jobs WHERE ($1 = '' OR status = $1) AND id < $2 ORDER BY id DESC LIMIT {}",
        limit.clamp(1, 1000)
    ))
    .bind(status.map_or("", JobStatus::as_str))
    .bind(before.unwrap_or(i64::MAX))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(job_row).collect()
}

/// Takes the oldest queued job for `worker`, if any. Two runners never take the
/// same job: PostgreSQL skips rows another transaction has locked, SQLite has
/// one writer at a time.
pub async fn claim(db: &Db, worker: &str) -> Result<Option<Job>, StoreError> {
    let lock = match db.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let id: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT id FROM training_jobs WHERE status = 'queued' ORDER BY id LIMIT 1{lock}"
    ))
    .fetch_optional(tx.conn())
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE training_jobs SET status = 'running', worker = $1, attempts = attempts + 1, \
         started_at = COALESCE(started_at, $2), heartbeat_at = $2, updated_at = $2, error = NULL WHERE id = $3",
    )
    .bind(worker)
    .bind(now)
    .bind(id)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    get(db, id).await.map(Some)
}

/// What a heartbeat learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Go on.
    Running,
    /// Someone asked the job to stop: finish gracefully.
    StopRequested,
    /// The job is no longer this worker's (it was re-queued): stop writing.
    Lost,
}

/// Marks `worker` alive on job `id` and stores where the run is (`progress`).
pub async fn heartbeat(db: &Db, id: i64, worker: &str, progress: &serde_json::Value) -> Result<Beat, StoreError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE training_jobs SET heartbeat_at = $1, progress = $4 WHERE id = $2 AND worker = $3 AND status = 'running'",
    )
    .bind(now)
    .bind(id)
    .bind(worker)
    .bind(serde_json::to_string(progress)?)
    .execute(tx.conn())
    .await?;
    if done.rows_affected() == 0 {
        tx.commit().await?;
        return Ok(Beat::Lost);
    }
    let stop: i64 = sqlx::query_scalar("SELECT stop_requested FROM training_jobs WHERE id = $1")
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(if stop != 0 { Beat::StopRequested } else { Beat::Running })
}

/// Records a finished epoch (appended to `history`) and a log line, if the job
/// is still `worker`'s.
pub async fn record_epoch(
    db: &Db,
    id: i64,
    worker: &str,
    epoch: i64,
    row: &serde_json::Value,
) -> Result<Beat, StoreError> {
    let mut tx = db.begin_write().await?;
    let current: Option<String> =
        sqlx::query_scalar("SELECT history FROM training_jobs WHERE id = $1 AND worker = $2 AND status = 'running'")
            .bind(id)
            .bind(worker)
            .fetch_optional(tx.conn())
            .await?;
    let Some(current) = current else {
        tx.commit().await?;
        return Ok(Beat::Lost);
    };
    let mut history: Vec<serde_json::Value> = serde_json::from_str(&current)?;
    history.retain(|h| h.get("epoch").and_then(|e| e.as_i64()) != Some(epoch));
    history.push(row.clone());
    sqlx::query("UPDATE training_jobs SET history = $1, epoch = $2, updated_at = $3 WHERE id = $4")
        .bind(serde_json::to_string(&history)?)
        .bind(epoch)
        .bind(now_ms())
        .bind(id)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(Beat::Running)
}

/// The most a job's log keeps (older lines are dropped).
pub const LOG_LIMIT: usize = 64 * 1024;

/// Appends lines to the job's log (kept under [`LOG_LIMIT`]), if the job is
/// still `worker`'s.
pub async fn append_log(db: &Db, id: i64, worker: &str, lines: &str) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    let current: Option<String> =
        sqlx::query_scalar("SELECT log FROM training_jobs WHERE id = $1 AND worker = $2 AND status = 'running'")
            .bind(id)
            .bind(worker)
            .fetch_optional(tx.conn())
            .await?;
    if let Some(mut log) = current {
        log.push_str(lines);
        if !lines.ends_with('\n') {
            log.push('\n');
        }
        if log.len() > LOG_LIMIT {
            let mut cut = log.len() - LOG_LIMIT;
            while !log.is_char_boundary(cut) {
                cut += 1;
            }
            let from = log[cut..].find('\n').map_or(cut, |i| cut + i + 1);
            log = log[from..].to_string();
        }
        sqlx::query("UPDATE training_jobs SET log = $1, updated_at = $2 WHERE id = $3")
            .bind(log)
            .bind(now_ms())
            .bind(id)
            .execute(tx.conn())
            .await?;
    }
    tx.commit().await
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `succeeded`, `failed` or `stopped`.
    pub status: JobStatus,
    pub metrics: serde_json::Value,
    pub artifact_key: Option<String>,
    pub error: Option<String>,
}

/// Ends job `id` if it is still `worker`'s; `Ok(false)` when it was not.
pub async fn finish(db: &Db, id: i64, worker: &str, outcome: &Outcome) -> Result<bool, StoreError> {
    if !outcome.status.is_finished() {
        return Err(StoreError::Invalid(format!("{} is not a final status", outcome.status)));
    }
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE training_jobs SET status = $1, metrics = $2, artifact_key = $3, error = $4, finished_at = $5, \
         updated_at = $5 WHERE id = $6 AND worker = $7 AND status = 'running'",
    )
    .bind(outcome.status.as_str())
    .bind(serde_json::to_string(&outcome.metrics)?)
    .bind(outcome.artifact_key.clone())
    .bind(outcome.error.clone())
    .bind(now)
    .bind(id)
    .bind(worker)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Gives job `id` back to the queue (its worker is shutting down), if it is
/// still `worker`'s; the attempt does not count.
pub async fn release(db: &Db, id: i64, worker: &str, reason: &str) -> Result<bool, StoreError> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE training_jobs SET status = 'queued', worker = NULL, attempts = attempts - 1, updated_at = $1, \
         log = log || $2 WHERE id = $3 AND worker = $4 AND status = 'running' AND stop_requested = 0",
    )
    .bind(now_ms())
    .bind(format!("{reason}\n"))
    .bind(id)
    .bind(worker)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Asks job `id` to stop: a queued job is stopped at once, a running one at its
/// runner's next heartbeat (keeping its last checkpoint). A finished job is a
/// conflict.
pub async fn request_stop(db: &Db, id: i64) -> Result<Job, StoreError> {
    let job = get(db, id).await?;
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let queued = sqlx::query(
        "UPDATE training_jobs SET status = 'stopped', stop_requested = 1, finished_at = $1, updated_at = $1 \
         WHERE id = $2 AND status = 'queued'",
    )
    .bind(now)
    .bind(id)
    .execute(tx.conn())
    .await?;
    let running = sqlx::query(
        "UPDATE training_jobs SET stop_requested = 1, updated_at = $1 WHERE id = $2 AND status = 'running'",
    )
    .bind(now)
    .bind(id)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    if queued.rows_affected() + running.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "training job {id} has already {}",
            job.status
        )));
    }
    get(db, id).await
}

/// Puts running jobs whose heartbeat is older than `timeout_ms` back in the
/// queue (their worker died), or fails them after `max_attempts`; a dead job
/// that was asked to stop is stopped. Returns the ids it changed.
pub async fn requeue_stale(db: &Db, timeout_ms: i64) -> Result<Vec<i64>, StoreError> {
    let now = now_ms();
    let cutoff = now - timeout_ms;
    let mut tx = db.begin_write().await?;
    let rows = sqlx::query(
        "SELECT id, attempts, max_attempts, stop_requested, worker FROM training_jobs \
         WHERE status = 'running' AND heartbeat_at < $1",
    )
    .bind(cutoff)
    .fetch_all(tx.conn())
    .await?;
    let mut changed = Vec::new();
    for r in &rows {
        let id: i64 = r.try_get("id")?;
        let attempts: i64 = r.try_get("attempts")?;
        let max: i64 = r.try_get("max_attempts")?;
        let stop: i64 = r.try_get("stop_requested")?;
        let worker: Option<String> = r.try_get("worker")?;
        let who = worker.unwrap_or_else(|| "?".into());
        let (status, error, line) = if stop != 0 {
            (
                JobStatus::Stopped,
                None,
                format!("worker {who} stopped answering after a stop request: job stopped"),
            )
        } else if attempts >= max {
            let e = format!("worker {who} stopped answering; {attempts} of {max} attempts used");
            (JobStatus::Failed, Some(e.clone()), e)
        } else {
            (
                JobStatus::Queued,
                None,
                format!("worker {who} stopped answering: job re-queued (attempt {attempts} of {max} used)"),
            )
        };
        let finished = (status != JobStatus::Queued).then_some(now);
        sqlx::query(
            "UPDATE training_jobs SET status = $1, worker = NULL, error = $2, finished_at = $3, updated_at = $4, \
             log = log || $5 WHERE id = $6 AND status = 'running'",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(finished)
        .bind(now)
        .bind(format!("{line}\n"))
        .bind(id)
        .execute(tx.conn())
        .await?;
        changed.push(id);
    }
    tx.commit().await?;
    Ok(changed)
}
