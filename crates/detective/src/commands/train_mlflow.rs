//! A `detective train` run mirrored to MLflow when `[mlflow] tracking_uri` (or
//! `MLFLOW_TRACKING_URI`) is set, as training jobs are: the run's parameters
//! and tags at the start, each epoch's metrics as it ends, the run folder's
//! files as artifacts at the end. The calls go through the same persisted
//! outbox (in the database of the data dir), delivered while training runs;
//! at the end the command waits a little for the rest, and what MLflow did not
//! take yet is delivered by `detective mlflow flush` or by a server or worker
//! of that database. MLflow never fails or slows the training: every step is
//! best effort, logged when it fails.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use detective_ops::mlflow::deliver::Delivery;
use detective_ops::mlflow::{Artifact, Client, RunRef};
use detective_store::Db;
use serde_json::{Value, json};

use crate::cli::StorageArgs;
use crate::config::Config;

/// How long the command waits at the end for MLflow to take the run's calls…
const FLUSH_WAIT: Duration = Duration::from_secs(60);
/// …and how long it waits while none goes through (MLflow away).
const STALL_WAIT: Duration = Duration::from_secs(10);

pub struct CliMlflow {
    rt: tokio::runtime::Runtime,
    db: Db,
    run: RunRef,
    stop: Arc<AtomicBool>,
    delivering: Option<tokio::task::JoinHandle<()>>,
    url: String,
}

impl CliMlflow {
    /// Starts the run of a `task` training with `args` (its settings, the
    /// parameters) from `data` into `out` (`None` when MLflow is off, or when the
    /// outbox cannot be opened: then training goes on without MLflow, with a warning).
    pub fn start(config: &Config, task: &str, args: &impl serde::Serialize, data: &Path, out: &Path) -> Option<Self> {
        if !config.mlflow.is_on() {
            return None;
        }
        let name = format!("train · {}", out.display());
        let params = serde_json::to_value(args).unwrap_or_default();
        let tags = json!({"detective.task": task, "detective.dataset": data.display().to_string()});
        match Self::try_start(config, &name, &params, tags) {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("MLflow: not mirrored ({e:#})");
                None
            }
        }
    }

    fn try_start(config: &Config, name: &str, params: &Value, tags: Value) -> anyhow::Result<Self> {
        let rt = super::storage::runtime()?;
        let client = Client::new(&config.mlflow)?;
        let url = client.base().to_string();
        let storage = StorageArgs {
            database_url: None,
            object_store: None,
        };
        let db = rt.block_on(super::storage::open_db(&storage, config))?;
        let objects = super::storage::open_objects(&storage, config)?;
        let run = RunRef::Cli(uuid::Uuid::new_v4().to_string());
        let params = detective_ops::mlflow::params_of(params);
        rt.block_on(detective_ops::mlflow::start_run(&db, &run, name, params, tags))?;
        let stop = Arc::new(AtomicBool::new(false));
        let d = Delivery {
            db: db.clone(),
            objects,
            client,
            experiment: config.mlflow.experiment.clone(),
            holder: detective_ops::worker::worker_id("train@"),
        };
        let delivering = Some(rt.spawn(d.run(stop.clone(), Duration::from_millis(500))));
        eprintln!(
            "MLflow: this run goes to {url} (experiment {:?})",
            config.mlflow.experiment
        );
        Ok(Self {
            rt,
            db,
            run,
            stop,
            delivering,
            url,
        })
    }

    /// Epoch `epoch` ended with `row` (its `results.csv` row).
    pub fn epoch(&self, epoch: usize, row: &impl serde::Serialize) {
        let row = serde_json::to_value(row).unwrap_or_else(|_| json!({}));
        if let Err(e) = self.rt.block_on(detective_ops::mlflow::run_epoch(
            &self.db,
            &self.run,
            epoch as i64,
            &row,
        )) {
            tracing::warn!("MLflow outbox: epoch {epoch}: {e}");
        }
    }

    /// Ends `run`, when there is one: `FAILED` after an error, `KILLED` when
    /// stopped, else `FINISHED` (see [`CliMlflow::finish`]).
    pub fn end(run: Option<Self>, failed: bool, stopped: bool, out: &Path) {
        if let Some(m) = run {
            let status = match (failed, stopped) {
                (true, _) => "FAILED",
                (_, true) => "KILLED",
                _ => "FINISHED",
            };
            m.finish(status, out);
        }
    }

    /// The run ended (`FINISHED`, `KILLED`, `FAILED`): the files of `out` go up,
    /// then the command waits up to a minute for MLflow to take everything (10 s
    /// when nothing goes through).
    pub fn finish(mut self, status: &str, out: &Path) {
        let artifacts = run_files(out);
        if let Err(e) = self
            .rt
            .block_on(detective_ops::mlflow::end_run(&self.db, &self.run, status, &artifacts))
        {
            tracing::warn!("MLflow outbox: run end: {e}");
        }
        let subject = self.run.subject();
        let started = Instant::now();
        // (pending, since when it has not gone down)
        let mut last = (i64::MAX, Instant::now());
        let pending = loop {
            let c = self
                .rt
                .block_on(detective_store::mlflow_outbox::counts(&self.db, Some(&subject)));
            match c {
                Ok(c) if c.pending == 0 => break 0,
                Ok(c) if started.elapsed() >= FLUSH_WAIT || last.1.elapsed() >= STALL_WAIT => break c.pending,
                Err(e) => {
                    tracing::warn!("MLflow outbox: {e}");
                    break -1;
                }
                Ok(c) => {
                    if c.pending < last.0 {
                        last = (c.pending, Instant::now());
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        };
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.delivering.take() {
            let _ = self.rt.block_on(h);
        }
        let link = self
            .rt
            .block_on(detective_store::mlflow_outbox::link(&self.db, &self.run.link()))
            .ok()
            .flatten()
            .and_then(|l| serde_json::from_str::<Value>(&l).ok());
        match (pending, link) {
            (0, Some(l)) => eprintln!("MLflow: run {}", l["url"].as_str().unwrap_or(&self.url)),
            (n, _) => eprintln!(
                "MLflow: {} call(s) of this run still wait in the outbox of {}; `detective mlflow flush` (or a server \
                 of that database) delivers them",
                n.max(0),
                self.db.display_url()
            ),
        }
        self.rt.block_on(self.db.close());
    }
}

/// The files of a run folder that go up: its top-level files (results.csv,
/// plots, args.yaml) and `weights/best.*`.
fn run_files(out: &Path) -> Vec<Artifact> {
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut add = |dir: &Path, prefix: &str, keep: &dyn Fn(&str) -> bool| {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_file()) && keep(&name) {
                files.push((e.path(), format!("{prefix}{name}")));
            }
        }
    };
    add(out, "", &|n: &str| !n.ends_with(".json") || n == "metrics.json");
    add(&out.join("weights"), "weights/", &|n: &str| n.starts_with("best."));
    files.sort();
    files
        .into_iter()
        .map(|(file, path)| Artifact::File { file, path })
        .collect()
}
