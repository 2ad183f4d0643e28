//! Sends the MLflow outbox, oldest call first, from one process at a time
//! (the holder of the lease). A call MLflow cannot take now (unreachable, 429,
//! 5xx) is tried again after a backoff that doubles up to five minutes, and the
//! calls after it wait, so a run always exists before its metrics; a call
//! MLflow refuses for good is kept with the reason and skipped.
//!
//! Calls are made idempotent: a run is looked up by its `detective.job_id` tag
//! before one is made, a model version by its `detective.version` tag, so a
//! call repeated after a lost answer makes nothing twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use detective_core::Stage;
use detective_store::mlflow_outbox::{self, OutboxItem};
use detective_store::{Db, Objects, models};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{CallError, Client};
use super::run_ref::RunRef;
use crate::OpsError;

/// What delivers: the database and objects, MLflow, the experiment's name, and
/// this process's name for the lease.
#[derive(Clone)]
pub struct Delivery {
    pub db: Db,
    pub objects: Objects,
    pub client: Client,
    pub experiment: String,
    pub holder: String,
}

/// The MLflow run of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLink {
    pub experiment_id: String,
    pub run_id: String,
    pub artifact_uri: String,
    /// The run's page on the tracking server.
    pub url: String,
}

/// How long a delivery lease lasts unless renewed (ms).
pub const LEASE_MS: i64 = 60_000;

pub fn run_link(job_id: i64) -> String {
    RunRef::Job(job_id).link()
}

pub fn version_link(name: &str, version: i64) -> String {
    format!("version:{name}@{version}")
}

fn model_run_link(name: &str, version: i64) -> String {
    format!("run:model:{name}@{version}")
}

/// Why a call did not go through.
#[derive(Debug)]
enum Failure {
    Call(CallError),
    Ops(OpsError),
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        Failure::Call(e)
    }
}

impl From<OpsError> for Failure {
    fn from(e: OpsError) -> Self {
        Failure::Ops(e)
    }
}

impl From<detective_store::StoreError> for Failure {
    fn from(e: detective_store::StoreError) -> Self {
        Failure::Ops(e.into())
    }
}

impl Failure {
    /// Trying again may help: MLflow away or busy, or our own storage hiccup.
    fn retry(&self) -> bool {
        match self {
            Failure::Call(e) => e.retry,
            Failure::Ops(OpsError::Store(_) | OpsError::Io(_)) => true,
            Failure::Ops(_) => false,
        }
    }

    fn text(&self) -> String {
        match self {
            Failure::Call(e) => e.to_string(),
            Failure::Ops(e) => e.to_string(),
        }
    }
}

fn refused(m: impl Into<String>) -> Failure {
    Failure::Ops(OpsError::Invalid(m.into()))
}

/// Backoff after `attempts` failed tries: 1 s doubling, at most 5 min.
pub fn backoff(attempts: i64) -> Duration {
    Duration::from_secs(1u64 << attempts.clamp(0, 9) as u32).min(Duration::from_secs(300))
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Delivery {
    /// Makes (or finds, by `tag = value`) the run that `link` names.
    async fn ensure_run(
        &self,
        link: &str,
        name: &str,
        start_ms: i64,
        tags: &[(String, String)],
    ) -> Result<RunLink, Failure> {
        if let Some(r) = mlflow_outbox::link(&self.db, link).await? {
            return serde_json::from_str(&r).map_err(|e| refused(format!("link {link}: {e}")));
        }
        let exp = self.client.experiment_id(&self.experiment).await?;
        let (tag, value) = tags.first().cloned().unwrap_or_default();
        let (run_id, artifact_uri) = match self.client.find_run(&exp, &tag, &value).await? {
            Some(found) => found,
            None => self.client.create_run(&exp, name, start_ms, tags).await?,
        };
        let run = RunLink {
            url: format!("{}/#/experiments/{exp}/runs/{run_id}", self.client.base()),
            experiment_id: exp,
            run_id,
            artifact_uri,
        };
        let text = serde_json::to_string(&run).map_err(|e| refused(e.to_string()))?;
        mlflow_outbox::set_link(&self.db, link, &text).await?;
        Ok(run)
    }

    async fn run_of(&self, run: &RunRef) -> Result<RunLink, Failure> {
        match mlflow_outbox::link(&self.db, &run.link()).await? {
            Some(r) => serde_json::from_str(&r).map_err(|e| refused(e.to_string())),
            None => Err(refused(format!(
                "{} has no MLflow run (its start was refused)",
                run.subject()
            ))),
        }
    }

    async fn job_run(&self, job_id: i64) -> Result<RunLink, Failure> {
        self.run_of(&RunRef::Job(job_id)).await
    }

    /// An artifact's bytes: an object of the store (a job's files) or a local
    /// file (a command-line run's).
    async fn artifact(&self, b: &Value) -> Result<bytes::Bytes, Failure> {
        if let Some(file) = b["file"].as_str() {
            return match tokio::fs::read(file).await {
                Ok(v) => Ok(v.into()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(refused(format!("{file} is gone"))),
                Err(e) => Err(refused(format!("{file}: {e}"))),
            };
        }
        match self.objects.get(&s(&b["key"])).await {
            Ok(b) => Ok(b),
            Err(detective_store::StoreError::NotFound { .. }) => {
                Err(refused(format!("{} is gone from the object store", s(&b["key"]))))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Makes one call of the outbox.
    async fn call(&self, item: &OutboxItem) -> Result<(), Failure> {
        let b = &item.body;
        let of = RunRef::of(b);
        match item.kind.as_str() {
            "run.start" => {
                // The run's own tag first: it is what finds the run again.
                let (key, value) = of.tag();
                let mut tags = vec![(key.clone(), value)];
                tags.extend(pairs(&b["tags"]).into_iter().filter(|(k, _)| *k != key));
                let run = self
                    .ensure_run(&of.link(), &s(&b["name"]), b["start_ms"].as_i64().unwrap_or(0), &tags)
                    .await?;
                self.client
                    .log_batch(&run.run_id, &[], &pairs(&b["params"]), &tags)
                    .await?;
            }
            "run.metrics" => {
                let run = self.run_of(&of).await?;
                let (at, step) = (b["at_ms"].as_i64().unwrap_or(0), b["step"].as_i64().unwrap_or(0));
                let metrics: Vec<(String, f64, i64, i64)> = b["metrics"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?, at, step)))
                    .collect();
                self.client.log_batch(&run.run_id, &metrics, &[], &[]).await?;
            }
            "run.artifact" => {
                let run = self.run_of(&of).await?;
                let bytes = self.artifact(b).await?;
                self.client.upload(&run.artifact_uri, &s(&b["path"]), bytes).await?;
            }
            "run.end" => {
                let run = self.run_of(&of).await?;
                self.client
                    .end_run(&run.run_id, &s(&b["status"]), b["end_ms"].as_i64().unwrap_or(0))
                    .await?;
            }
            "model.version" => {
                self.mirror_version(&s(&b["name"]), b["version"].as_i64().unwrap_or(0))
                    .await?;
            }
            "model.aliases" => self.sync_aliases(&s(&b["name"])).await?,
            other => return Err(refused(format!("unknown outbox call {other:?}"))),
        }
        Ok(())
    }

    /// The MLflow version of `name@version`, made when missing: its files go up
    /// as artifacts `model/…` of the run of the job that trained it (else of a
    /// run made for the registration), and the version points at them.
    async fn mirror_version(&self, name: &str, version: i64) -> Result<String, Failure> {
        let link = version_link(name, version);
        if let Some(v) = mlflow_outbox::link(&self.db, &link).await? {
            return Ok(v);
        }
        let v = models::get_version(&self.db, name, version).await?;
        // Imported from this very MLflow model: that version is its mirror.
        if v.params["mlflow"]["name"].as_str() == Some(name)
            && let Some(mv) = v.params["mlflow"]["version"].as_str()
        {
            mlflow_outbox::set_link(&self.db, &link, mv).await?;
            return Ok(mv.to_string());
        }
        let job = v.params["job_id"].as_i64();
        let run = match job {
            Some(j) if mlflow_outbox::link(&self.db, &run_link(j)).await?.is_some() => self.job_run(j).await?,
            _ => {
                let tags = vec![
                    ("detective.model_version".to_string(), format!("{name}@{version}")),
                    ("mlflow.source.name".to_string(), "defect-detective".to_string()),
                ];
                let run = self
                    .ensure_run(
                        &model_run_link(name, version),
                        &format!("register {name}@{version}"),
                        0,
                        &tags,
                    )
                    .await?;
                self.client
                    .end_run(&run.run_id, "FINISHED", detective_store::clock::now_ms())
                    .await?;
                run
            }
        };
        for f in crate::registry::artifact_files(&self.objects, &v).await? {
            let bytes = self.objects.get(&format!("{}/{f}", v.artifact_key)).await?;
            self.client
                .upload(&run.artifact_uri, &format!("model/{f}"), bytes)
                .await?;
        }
        self.client.ensure_registered_model(name).await?;
        let tag = version.to_string();
        let mv = match self.client.find_model_version(name, "detective.version", &tag).await? {
            Some(mv) => mv,
            None => {
                let tags = vec![
                    ("detective.version".to_string(), tag),
                    ("detective.task".to_string(), v.task.to_string()),
                ];
                let source = format!("{}/model", run.artifact_uri.trim_end_matches('/'));
                self.client
                    .create_model_version(name, &source, &run.run_id, &tags)
                    .await?
            }
        };
        mlflow_outbox::set_link(&self.db, &link, &mv).await?;
        Ok(mv)
    }

    /// Points `production` and `staging` of `name` at the MLflow versions of
    /// our Production and newest Staging version, or removes them.
    async fn sync_aliases(&self, name: &str) -> Result<(), Failure> {
        let versions = models::versions(&self.db, name).await?;
        for (alias, stage) in [("production", Stage::Production), ("staging", Stage::Staging)] {
            match versions.iter().find(|v| v.stage == stage) {
                Some(v) => {
                    let mv = self.mirror_version(name, v.version).await?;
                    self.client.set_alias(name, alias, &mv).await?;
                }
                None => self.client.delete_alias(name, alias).await?,
            }
        }
        Ok(())
    }

    /// Sends what is due, oldest first, until the outbox is empty, a call must
    /// wait, or `stop`; how many calls went through.
    pub async fn round(&self, stop: &AtomicBool) -> Result<usize, OpsError> {
        let mut sent = 0;
        while !stop.load(Ordering::SeqCst) {
            let now = detective_store::clock::now_ms();
            // The lease is renewed before each call, so a long round (big
            // artifacts) keeps it; a holder that lost it stops here.
            if !mlflow_outbox::take_lease(&self.db, &self.holder, now + LEASE_MS).await? {
                break;
            }
            let Some(item) = mlflow_outbox::next_due(&self.db, now).await? else {
                break;
            };
            match self.call(&item).await {
                Ok(()) => {
                    mlflow_outbox::delivered(&self.db, item.id).await?;
                    sent += 1;
                }
                Err(f) if f.retry() => {
                    let wait = backoff(item.attempts);
                    tracing::warn!(
                        "MLflow: {} of {} not delivered ({}); again in {} s",
                        item.kind,
                        item.subject,
                        f.text(),
                        wait.as_secs()
                    );
                    let next = now + wait.as_millis() as i64;
                    mlflow_outbox::retry_at(&self.db, item.id, next, &f.text()).await?;
                    break;
                }
                Err(f) => {
                    tracing::error!("MLflow refused {} of {}: {}", item.kind, item.subject, f.text());
                    mlflow_outbox::failed(&self.db, item.id, &f.text()).await?;
                }
            }
        }
        Ok(sent)
    }

    /// Delivers until `stop`: holds the lease (renewed each round), sends
    /// what is due, sleeps `idle` when nothing is.
    pub async fn run(self, stop: Arc<AtomicBool>, idle: Duration) {
        while !stop.load(Ordering::SeqCst) {
            let lease = detective_store::clock::now_ms() + LEASE_MS;
            match mlflow_outbox::take_lease(&self.db, &self.holder, lease).await {
                Ok(true) => {
                    if let Err(e) = self.round(&stop).await {
                        tracing::warn!("MLflow outbox: {e}");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!("MLflow outbox lease: {e}"),
            }
            tokio::time::sleep(idle).await;
        }
        if let Err(e) = mlflow_outbox::release_lease(&self.db, &self.holder).await {
            tracing::warn!("MLflow outbox lease: {e}");
        }
    }
}
