//! `detective mlflow import|status|flush`, and the MLflow mirror that `serve`
//! and `worker` start when `[mlflow] tracking_uri` is set.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use detective_ops::mlflow::deliver::Delivery;
use detective_ops::mlflow::{Client, import};
use detective_store::{Db, Objects};

use crate::cli::MlflowCommand;
use crate::commands::storage::{open_db, open_objects, runtime};
use crate::config::Config;

/// Records whether this database's jobs and registry are mirrored (the last
/// process started decides), and when they are, starts delivering the outbox
/// until `stop`. `holder` names this process in the delivery lease.
pub async fn start_mirror(
    db: &Db,
    objects: &Objects,
    config: &Config,
    holder: String,
    stop: Arc<AtomicBool>,
) -> Result<Option<tokio::task::JoinHandle<()>>> {
    let cfg = &config.mlflow;
    if !cfg.is_on() {
        detective_ops::mlflow::set_mirroring(db, None).await?;
        return Ok(None);
    }
    let client = Client::new(cfg).context("[mlflow]")?;
    detective_ops::mlflow::set_mirroring(db, Some(client.base())).await?;
    tracing::info!(
        "MLflow: runs and the registry go to {} (experiment {:?}) through the outbox",
        client.base(),
        cfg.experiment
    );
    let d = Delivery {
        db: db.clone(),
        objects: objects.clone(),
        client,
        experiment: cfg.experiment.clone(),
        holder,
    };
    Ok(Some(tokio::spawn(d.run(stop, Duration::from_millis(500)))))
}

fn client(config: &Config) -> Result<Client> {
    if !config.mlflow.is_on() {
        bail!("MLflow is not configured: set [mlflow] tracking_uri in detective.toml, or MLFLOW_TRACKING_URI");
    }
    Client::new(&config.mlflow).context("[mlflow]")
}

pub fn run(cmd: MlflowCommand, config: &Config) -> Result<ExitCode> {
    runtime()?.block_on(async {
        match cmd {
            MlflowCommand::Import {
                name,
                version,
                as_name,
                storage,
            } => {
                let client = client(config)?;
                let db = open_db(&storage, config).await?;
                let objects = open_objects(&storage, config)?;
                let work = config.data_dir.join("work");
                let req = import::ImportRequest {
                    mlflow_name: name.clone(),
                    mlflow_version: version.clone(),
                    name: as_name,
                };
                let v = import::import(&db, &objects, &client, &work, &req)
                    .await
                    .with_context(|| format!("importing MLflow model {name} version {version}"))?;
                eprintln!(
                    "imported MLflow {name} {version} as {}@{} ({}, stage {})",
                    v.name, v.version, v.task, v.stage
                );
                println!("{}@{}", v.name, v.version);
                db.close().await;
            }
            MlflowCommand::Status { storage } => {
                let db = open_db(&storage, config).await?;
                let c = detective_store::mlflow_outbox::counts(&db, None).await?;
                match detective_ops::mlflow::mirror_url(&db).await {
                    Some(u) => println!("mirroring to {u}"),
                    None => println!("mirroring off (no server or worker with [mlflow] started on this database)"),
                }
                println!("pending={} delivered={} failed={}", c.pending, c.delivered, c.failed);
                if let Some(e) = c.last_error {
                    println!("last error: {e}");
                }
                db.close().await;
            }
            MlflowCommand::Flush { storage } => {
                let client = client(config)?;
                let db = open_db(&storage, config).await?;
                let objects = open_objects(&storage, config)?;
                let d = Delivery {
                    db: db.clone(),
                    objects,
                    client,
                    experiment: config.mlflow.experiment.clone(),
                    holder: detective_ops::worker::worker_id("flush@"),
                };
                let lease = detective_store::clock::now_ms() + detective_ops::mlflow::deliver::LEASE_MS;
                if !detective_store::mlflow_outbox::take_lease(&db, &d.holder, lease).await? {
                    bail!("a server or worker is delivering the outbox now (it holds the lease); nothing to do here");
                }
                detective_store::mlflow_outbox::due_now(&db).await?;
                let stop = AtomicBool::new(false);
                let sent = d.round(&stop).await?;
                let _ = detective_store::mlflow_outbox::release_lease(&db, &d.holder).await;
                let c = detective_store::mlflow_outbox::counts(&db, None).await?;
                println!("sent={sent} pending={} failed={}", c.pending, c.failed);
                db.close().await;
                if c.pending > 0 {
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
