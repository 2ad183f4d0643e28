//! Roboflow, both ways: push images of a project (with their labels) to the
//! Roboflow project, and pull a Roboflow version (its YOLOv8 export) in as a
//! dataset ready to train on. The workspace, project and API key are
//! [`settings`]; Roboflow's API is [`client`]. Push and pull run as
//! background jobs ([`start_push`], [`start_pull`], then [`run`]) with
//! progress and cancel, recorded in `integration_jobs`; a push remembers what
//! it sent, so pushing again sends only what is new or relabelled, and a push
//! that stopped resumes where it stopped.

pub mod client;
mod job;
mod pull;
mod push;
pub mod settings;

use detective_store::Db;
use detective_store::integration_jobs::{self, IntegrationJob};
use serde::Deserialize;

use crate::OpsError;
pub use client::{Client, VersionInfo};
pub use job::JobEnv;
use job::{CancelWatch, Outcome};
pub use pull::PullRequest;
pub use push::PushRequest;

pub const KIND_PUSH: &str = "roboflow_push";
pub const KIND_PULL: &str = "roboflow_pull";

/// At most this many Roboflow jobs run at once on one server; the others wait queued.
static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The client of the Roboflow project set up in the settings.
pub async fn client(db: &Db, base_url: &str) -> Result<Client, OpsError> {
    Client::new(base_url, &settings::get(db).await?)
}

/// The versions of the Roboflow project, newest first.
pub async fn versions(db: &Db, base_url: &str) -> Result<Vec<VersionInfo>, OpsError> {
    client(db, base_url).await?.versions().await
}

/// Queues a push; [`run`] it.
pub async fn start_push(db: &Db, req: &PushRequest, by: &str) -> Result<IntegrationJob, OpsError> {
    settings::get(db).await?.ready()?;
    req.check()?;
    let params = serde_json::to_value(req).map_err(|e| OpsError::Io(e.to_string()))?;
    Ok(integration_jobs::create(db, KIND_PUSH, &params, by).await?)
}

/// Queues a pull; [`run`] it.
pub async fn start_pull(db: &Db, req: &PullRequest, by: &str) -> Result<IntegrationJob, OpsError> {
    let s = settings::get(db).await?;
    s.ready()?;
    req.check()?;
    let params = serde_json::to_value(req).map_err(|e| OpsError::Io(e.to_string()))?;
    Ok(integration_jobs::create(db, KIND_PULL, &params, by).await?)
}

/// The Roboflow jobs, newest first.
pub async fn jobs(db: &Db, limit: i64) -> Result<Vec<IntegrationJob>, OpsError> {
    Ok(integration_jobs::list(db, "roboflow_", limit.clamp(1, 500)).await?)
}

pub async fn job(db: &Db, id: i64) -> Result<IntegrationJob, OpsError> {
    let j = integration_jobs::get(db, id).await?;
    if !j.kind.starts_with("roboflow_") {
        return Err(OpsError::not_found(format!("Roboflow job {id}")));
    }
    Ok(j)
}

/// Asks job `id` to stop (it stops between two images, or while it waits on Roboflow).
pub async fn cancel(db: &Db, id: i64) -> Result<IntegrationJob, OpsError> {
    job(db, id).await?;
    if !integration_jobs::request_cancel(db, id).await? {
        return Err(OpsError::Conflict(format!("job {id} has already ended")));
    }
    job(db, id).await
}

/// Fails the jobs a stopped server left behind (no progress for 10 minutes);
/// how many. `serve` calls it at start.
pub async fn fail_interrupted(db: &Db) -> Result<u64, OpsError> {
    Ok(integration_jobs::fail_interrupted(db, 10 * 60 * 1000).await?)
}

/// Runs job `id` to its end, recording progress, the result or the error.
pub async fn run(env: JobEnv, id: i64) {
    let Ok(_slot) = SLOTS.acquire().await else {
        return;
    };
    let outcome = match integration_jobs::get(&env.db, id).await {
        Ok(j) => run_job(&env, &j).await,
        Err(e) => Err(e.into()),
    };
    let (status, message, result) = match outcome {
        Ok(Outcome::Done(result, message)) => ("succeeded", message, Some(result)),
        Ok(Outcome::Cancelled(message)) => ("cancelled", message, None),
        Err(e) => ("failed", e.to_string(), None),
    };
    tracing::info!(job = id, status, "{message}");
    if let Err(e) = integration_jobs::finish(&env.db, id, status, &message, result.as_ref()).await {
        tracing::error!(job = id, "recording the end of the job: {e}");
    }
}

async fn run_job(env: &JobEnv, j: &IntegrationJob) -> Result<Outcome, OpsError> {
    let watch = CancelWatch::start(env.db.clone(), j.id);
    let bad = |e: serde_json::Error| OpsError::Io(format!("job {} parameters: {e}", j.id));
    match j.kind.as_str() {
        KIND_PUSH => push::run(env, j.id, &PushRequest::deserialize(&j.params).map_err(bad)?, &watch).await,
        KIND_PULL => pull::run(env, j.id, &PullRequest::deserialize(&j.params).map_err(bad)?, &watch).await,
        other => Err(OpsError::Io(format!("job {}: unknown kind {other}", j.id))),
    }
}
