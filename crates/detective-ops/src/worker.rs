//! The training worker loop: re-queue jobs of dead workers, take the oldest
//! queued job, run it, repeat; idle it polls. `serve` runs one in-process (one
//! job at a time, at lower CPU priority than inference); `detective worker`
//! runs it as its own process, many of which may share a PostgreSQL queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use detective_store::training_jobs;

use crate::runner::{RunEnd, RunnerEnv, run_job};

/// How the loop behaves.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Sleep between polls of an empty queue.
    pub poll: Duration,
    /// A running job whose heartbeat is older than this lost its worker.
    pub stale_after: Duration,
    /// Stop after this many jobs (None: run until shut down).
    pub max_jobs: Option<usize>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            poll: Duration::from_secs(2),
            stale_after: Duration::from_secs(30),
            max_jobs: None,
        }
    }
}

/// A worker name unique to this process: `host:pid:random`.
pub fn worker_id(prefix: &str) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let short = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{host}:{}:{}", std::process::id(), &short[..6])
}

/// Runs jobs until `shutdown` is set (a running job is stopped and re-queued)
/// or `max_jobs` are done. Database errors are logged and retried.
pub async fn run(env: RunnerEnv, opts: WorkerOptions, shutdown: Arc<AtomicBool>) {
    let mut done = 0usize;
    tracing::info!(worker = %env.worker_id, "training worker started");
    while !shutdown.load(Ordering::SeqCst) && opts.max_jobs.is_none_or(|m| done < m) {
        match training_jobs::requeue_stale(&env.db, opts.stale_after.as_millis() as i64).await {
            Ok(ids) if !ids.is_empty() => tracing::warn!(?ids, "jobs of workers that stopped answering re-queued"),
            Ok(_) => {}
            Err(e) => tracing::warn!("checking for dead workers: {e}"),
        }
        if let Err(e) = detective_store::workers::seen(&env.db, &env.worker_id).await {
            tracing::warn!("noting this worker alive: {e}");
        }
        let job = match training_jobs::claim(&env.db, &env.worker_id).await {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!("taking a training job: {e}");
                None
            }
        };
        let Some(job) = job else {
            sleep_unless(opts.poll, &shutdown).await;
            continue;
        };
        let id = job.id;
        tracing::info!(job = id, worker = %env.worker_id, "training job taken");
        match run_job(&env, job, shutdown.clone()).await {
            Ok(RunEnd::Finished(status)) => tracing::info!(job = id, "training job {status}"),
            Ok(RunEnd::Lost) => tracing::warn!(job = id, "training job was taken over by another worker"),
            Ok(RunEnd::Released) => tracing::info!(job = id, "training job re-queued at shutdown"),
            Err(e) => tracing::warn!(job = id, "training job could not be recorded: {e}"),
        }
        done += 1;
    }
    if let Err(e) = detective_store::workers::gone(&env.db, &env.worker_id).await {
        tracing::warn!("noting this worker gone: {e}");
    }
    tracing::info!(worker = %env.worker_id, jobs = done, "training worker stopped");
}

/// Sleeps `d`, waking early (within 200 ms) once `shutdown` is set.
pub(crate) async fn sleep_unless(d: Duration, shutdown: &AtomicBool) {
    let step = Duration::from_millis(200);
    let mut left = d;
    while !left.is_zero() && !shutdown.load(Ordering::SeqCst) {
        let s = left.min(step);
        tokio::time::sleep(s).await;
        left -= s;
    }
}
