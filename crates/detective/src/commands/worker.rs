//! `detective worker`: a process that runs training jobs from the database
//! queue (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so many can share it).
//! Ctrl-C/SIGTERM stops the running job at its next step and puts it back in
//! the queue for another worker.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use detective_ops::runner::RunnerEnv;
use detective_ops::worker::{WorkerOptions, worker_id};

use crate::cli::WorkerArgs;
use crate::commands::serve::shutdown_signal;
use crate::commands::storage::{open_db, open_objects, runtime};
use crate::config::Config;

fn secs(name: &str, v: f64) -> Result<Duration> {
    if !(v.is_finite() && (0.05..=3600.0).contains(&v)) {
        bail!("--{name} must be within 0.05..3600 seconds");
    }
    Ok(Duration::from_secs_f64(v))
}

pub fn run(a: &WorkerArgs, config: &Config) -> Result<ExitCode> {
    let poll = secs("poll-secs", a.poll_secs)?;
    let heartbeat = secs("heartbeat-secs", a.heartbeat_secs)?;
    let stale = secs("stale-secs", a.stale_secs)?;
    if stale <= heartbeat * 2 {
        bail!("--stale-secs must be more than twice --heartbeat-secs, or live jobs would be taken away");
    }
    let device = super::device::resolve(&a.device, true)?;
    runtime()?.block_on(async {
        let db = open_db(&a.storage, config).await?;
        let objects = open_objects(&a.storage, config)?;
        let env = RunnerEnv {
            db: db.clone(),
            objects,
            work_dir: config.data_dir.join("work"),
            worker_id: worker_id(""),
            heartbeat,
            low_priority: false,
            threads: a.threads,
            device,
        };
        eprintln!(
            "training worker {} on {} ({}), training on {device}; Ctrl-C re-queues the running job",
            env.worker_id,
            db.display_url(),
            db.backend().as_str()
        );
        let shutdown = Arc::new(AtomicBool::new(false));
        let flag = shutdown.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            flag.store(true, Ordering::SeqCst);
        });
        let opts = WorkerOptions {
            poll,
            stale_after: stale,
            max_jobs: a.max_jobs,
        };
        let mirror =
            super::mlflow::start_mirror(&db, &env.objects, config, worker_id("worker@"), shutdown.clone()).await?;
        detective_ops::worker::run(env, opts, shutdown.clone()).await;
        // What MLflow has not taken yet stays in the outbox for the next process.
        shutdown.store(true, Ordering::SeqCst);
        if let Some(m) = mirror {
            let _ = m.await;
        }
        db.close().await;
        Ok(ExitCode::SUCCESS)
    })
}
