//! Runs one claimed training job: writes its dataset version to a work folder,
//! fetches the base model to fine-tune from, trains (a detector, or for a
//! `segment` job the segmenter on the version's masks) on a blocking thread
//! (at lower CPU priority when asked), and meanwhile heartbeats, records each
//! epoch and log line, and turns a stop request into the trainer's stop flag.
//! At the end the run's files go to the object store under `training/{id}/`
//! and the job is finished — unless another runner took it over (the job was
//! re-queued while this one was unreachable), in which case nothing is written.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use detective_core::{JobStatus, Task};
use detective_ml::detect::args::TrainArgs;
use detective_ml::detect::trainer::{TrainEvent, train};
use detective_ml::runtime::device::ComputeDevice;
use detective_ml::segment::args::SegTrainArgs;
use detective_ml::segment::trainer::{SegResultsRow, SegTrainEvent, train_segmenter};
use detective_store::training_jobs::{self, Beat, Job, Outcome};
use detective_store::{Db, Objects};
use serde_json::json;
use tokio::sync::mpsc;

use crate::OpsError;
use crate::job_request::TrainingRequest;

/// Where and how a runner works.
#[derive(Clone)]
pub struct RunnerEnv {
    pub db: Db,
    pub objects: Objects,
    /// Local scratch folder; each attempt works in `job-{id}-{attempt}/` and removes it after.
    pub work_dir: PathBuf,
    /// This runner's name in `training_jobs.worker`.
    pub worker_id: String,
    pub heartbeat: Duration,
    /// Train at a lower CPU priority (nice 10) than the process's other work —
    /// the in-process worker of `serve`, which must not slow inference down.
    pub low_priority: bool,
    /// Threads for training (0: all cores).
    pub threads: usize,
    /// Where jobs train (resolved by the command that runs the worker).
    pub device: ComputeDevice,
}

/// The object-store prefix of a job's run files.
pub fn artifact_prefix(job_id: i64) -> String {
    format!("training/{job_id}")
}

/// How a run ended, for the worker loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// Finished and recorded (`succeeded`, `failed` or `stopped`).
    Finished(JobStatus),
    /// Another runner owns the job now; nothing was recorded.
    Lost,
    /// The runner was asked to shut down; the job went back to the queue.
    Released,
}

/// Messages from the training thread.
enum Progress {
    Log(String),
    Epoch(i64, serde_json::Value),
    Batch(serde_json::Value),
}

/// What a training thread gives back, whatever the task.
struct Trained {
    stopped: bool,
    epochs_done: usize,
    /// The final validation in the registry's metrics layout (empty without one).
    metrics: serde_json::Value,
    /// The final scores in a few words, for the job's log.
    headline: String,
}

/// Runs `job` (already claimed by `env.worker_id`) to its end. `shutdown` set
/// means the runner is going away: training stops and the job is re-queued.
pub async fn run_job(env: &RunnerEnv, job: Job, shutdown: Arc<AtomicBool>) -> Result<RunEnd, OpsError> {
    let dir = env.work_dir.join(format!("job-{}-{}", job.id, job.attempts));
    let result = run_in(env, &job, &dir, shutdown).await;
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(job = job.id, "cannot remove {}: {e}", dir.display());
    }
    match result {
        Ok(end) => Ok(end),
        Err(e) => {
            let msg = e.to_string();
            tracing::warn!(job = job.id, "training job failed: {msg}");
            let _ = training_jobs::append_log(&env.db, job.id, &env.worker_id, &format!("failed: {msg}")).await;
            crate::mlflow::hook(
                &env.db,
                "run end",
                crate::mlflow::run_ended(&env.db, job.id, "FAILED", None, &[]),
            )
            .await;
            crate::alerts::on_job_failed(&env.db, job.id, &job.model_name, &msg).await;
            let out = Outcome {
                status: JobStatus::Failed,
                metrics: json!({}),
                artifact_key: None,
                error: Some(msg),
            };
            let finished = patiently(job.id, "recording the failure", || async {
                Ok(training_jobs::finish(&env.db, job.id, &env.worker_id, &out).await?)
            })
            .await?;
            Ok(if finished {
                RunEnd::Finished(JobStatus::Failed)
            } else {
                RunEnd::Lost
            })
        }
    }
}

/// How long a runner keeps retrying a write while the database or the object
/// store cannot be reached, before the job fails.
const UNREACHABLE_PATIENCE: Duration = Duration::from_secs(120);

/// Runs `op` again, every second, while it fails because the database or the
/// object store is unreachable, for up to [`UNREACHABLE_PATIENCE`]: a restart
/// of either pauses a training job's records instead of failing the job
/// (training goes on meanwhile; its messages wait in a bounded channel).
async fn patiently<T, F, Fut>(job_id: i64, what: &str, mut op: F) -> Result<T, OpsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, OpsError>>,
{
    let start = Instant::now();
    loop {
        match op().await {
            Err(e) if e.is_unavailable() && start.elapsed() < UNREACHABLE_PATIENCE => {
                tracing::warn!(job = job_id, "{what}: {e}; trying again in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

async fn log(env: &RunnerEnv, job: &Job, line: &str) -> Result<(), OpsError> {
    tracing::info!(job = job.id, "{line}");
    patiently(job.id, "writing the job's log", || async {
        Ok(training_jobs::append_log(&env.db, job.id, &env.worker_id, line).await?)
    })
    .await
}

async fn run_in(env: &RunnerEnv, job: &Job, dir: &Path, shutdown: Arc<AtomicBool>) -> Result<RunEnd, OpsError> {
    let req: TrainingRequest = serde_json::from_value(job.params.clone())
        .map_err(|e| OpsError::Invalid(format!("the job's stored parameters: {e}")))?;
    req.validate()?;
    log(
        env,
        job,
        &format!(
            "taken by {} (attempt {} of {})",
            env.worker_id, job.attempts, job.max_attempts
        ),
    )
    .await?;
    if dir.exists() {
        tokio::fs::remove_dir_all(dir)
            .await
            .map_err(|e| OpsError::io(dir.display(), e))?;
    }
    let data = crate::datasets::write_layout(
        &env.db,
        &env.objects,
        job.dataset_id,
        job.dataset_version,
        &dir.join("data"),
    )
    .await?;
    let splits: Vec<String> = data.per_split.iter().map(|(s, n)| format!("{s} {n}")).collect();
    log(
        env,
        job,
        &format!(
            "dataset {} v{}: {} images ({}), classes {}",
            job.dataset_id,
            job.dataset_version,
            data.images,
            splits.join(", "),
            data.names.join(", ")
        ),
    )
    .await?;
    let dataset = format!("{} v{}", job.dataset_id, job.dataset_version);
    let lineage = format!(
        "dataset {} version {} (version id {})",
        job.dataset_id, job.dataset_version, data.version_id
    );
    crate::mlflow::hook(
        &env.db,
        "run start",
        crate::mlflow::run_started(&env.db, job, &dataset, &lineage),
    )
    .await;
    let weights = match &job.base_model {
        Some(spec) if spec == detective_ml::detect::prior::PRIOR => {
            let scale = req.scale()?;
            let path = tokio::task::spawn_blocking(move || detective_ml::detect::prior::checkpoint(scale))
                .await
                .map_err(|e| OpsError::io("the pretrained prior", e))??;
            log(
                env,
                job,
                &format!("starting from the pretrained prior of scale {}", scale.as_str()),
            )
            .await?;
            path
        }
        Some(spec) => {
            let path = crate::registry::fetch_weights(&env.db, &env.objects, spec, job.task, &dir.join("base")).await?;
            log(env, job, &format!("fine-tuning from {spec}")).await?;
            Some(path)
        }
        None => None,
    };
    let out_dir = dir.join("run");

    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::channel::<Progress>(256);
    let train_stop = stop.clone();
    let (low, threads) = (env.low_priority, env.threads);
    let handle = match job.task {
        Task::Segment | Task::Anomaly => {
            let args = SegTrainArgs {
                device: env.device.to_string(),
                ..req.seg_args(data.yaml.clone(), out_dir.clone(), weights)
            };
            tokio::task::spawn_blocking(move || {
                training_pool(low, threads)?.install(|| train_segment_on_thread(args, tx, train_stop))
            })
        }
        _ => {
            let args = TrainArgs {
                device: env.device.to_string(),
                ..detect_args(&req, data.yaml.clone(), out_dir.clone(), weights)?
            };
            tokio::task::spawn_blocking(move || {
                training_pool(low, threads)?.install(|| train_detect_on_thread(args, tx, train_stop))
            })
        }
    };

    let started = Instant::now();
    let mut ticker = tokio::time::interval(env.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut progress = json!({});
    let mut lost = false;
    let mut stop_logged = false;
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                None => break,
                Some(Progress::Log(line)) => log(env, job, &line).await?,
                Some(Progress::Batch(p)) => progress = p,
                Some(Progress::Epoch(epoch, row)) => {
                    let beat = patiently(job.id, "recording the epoch", || async {
                        Ok(training_jobs::record_epoch(&env.db, job.id, &env.worker_id, epoch, &row).await?)
                    })
                    .await?;
                    if beat == Beat::Lost {
                        lost = true;
                        stop.store(true, Ordering::SeqCst);
                    } else {
                        crate::mlflow::hook(&env.db, "epoch", crate::mlflow::epoch_ended(&env.db, job.id, epoch, &row)).await;
                    }
                }
            },
            _ = ticker.tick() => {
                if !lost {
                    let mut p = progress.clone();
                    p["elapsed_s"] = json!(started.elapsed().as_secs_f64());
                    match training_jobs::heartbeat(&env.db, job.id, &env.worker_id, &p).await {
                        Ok(Beat::Running) => {}
                        Ok(Beat::StopRequested) => {
                            if !stop_logged {
                                stop_logged = true;
                                log(env, job, "stop requested: finishing the current step and keeping the last checkpoint").await?;
                            }
                            stop.store(true, Ordering::SeqCst);
                        }
                        Ok(Beat::Lost) => {
                            tracing::warn!(job = job.id, "the job was taken over by another runner: stopping without writing");
                            lost = true;
                            stop.store(true, Ordering::SeqCst);
                        }
                        // A database hiccup: keep training, the next beat retries.
                        Err(e) => tracing::warn!(job = job.id, "heartbeat failed: {e}"),
                    }
                }
                if shutdown.load(Ordering::SeqCst) {
                    stop.store(true, Ordering::SeqCst);
                }
            }
        }
    }
    let result = handle
        .await
        .map_err(|e| OpsError::Train(format!("the training thread ended abnormally: {e}")))?;
    if lost {
        return Ok(RunEnd::Lost);
    }
    let interrupted = result.as_ref().map_or(true, |s| s.stopped);
    if shutdown.load(Ordering::SeqCst) && interrupted && !stop_logged {
        let released = training_jobs::release(
            &env.db,
            job.id,
            &env.worker_id,
            &format!("worker {} shut down: job re-queued", env.worker_id),
        )
        .await?;
        return Ok(if released { RunEnd::Released } else { RunEnd::Lost });
    }
    let summary = result?;
    let prefix = artifact_prefix(job.id);
    patiently(job.id, "storing the run's files", || {
        upload_run(&env.objects, &out_dir, &prefix)
    })
    .await?;
    let status = if summary.stopped {
        JobStatus::Stopped
    } else {
        JobStatus::Succeeded
    };
    let mut metrics = summary.metrics;
    metrics["epochs"] = json!(summary.epochs_done);
    metrics["dataset_version_id"] = json!(data.version_id);
    log(
        env,
        job,
        &format!(
            "{status} after {} epochs in {:.0} s; {}; files under {prefix}/",
            summary.epochs_done,
            started.elapsed().as_secs_f64(),
            summary.headline
        ),
    )
    .await?;
    let out = Outcome {
        status,
        metrics,
        artifact_key: Some(prefix.clone()),
        error: None,
    };
    let finished = patiently(job.id, "finishing the job", || async {
        Ok(training_jobs::finish(&env.db, job.id, &env.worker_id, &out).await?)
    })
    .await?;
    if !finished {
        return Ok(RunEnd::Lost);
    }
    crate::mlflow::hook(&env.db, "run end", async {
        let files: Vec<String> = env
            .objects
            .list(&format!("{prefix}/"))
            .await?
            .into_iter()
            .filter_map(|k| k.strip_prefix(&format!("{prefix}/")).map(str::to_string))
            .collect();
        let ended = if status == JobStatus::Stopped {
            "KILLED"
        } else {
            "FINISHED"
        };
        crate::mlflow::run_ended(&env.db, job.id, ended, Some(&prefix), &files).await
    })
    .await;
    Ok(RunEnd::Finished(status))
}

/// The detector's settings of a `detect` job.
fn detect_args(
    req: &TrainingRequest,
    data: PathBuf,
    out: PathBuf,
    weights: Option<PathBuf>,
) -> Result<TrainArgs, OpsError> {
    let mut args = TrainArgs {
        data,
        model: req.scale()?,
        weights,
        epochs: req.epochs,
        imgsz: req.imgsz(),
        batch: req.batch(),
        out,
        seed: req.seed,
        ..TrainArgs::default()
    };
    if let Some(m) = req.mosaic {
        args.mosaic = m;
    }
    args.close_mosaic = req.close_mosaic.unwrap_or(args.close_mosaic).min(req.epochs);
    if let Some(lr) = req.lr0 {
        args.lr0 = lr;
        args.optimizer = "SGD".into();
    }
    if let Some(p) = req.patience {
        args.patience = p;
    }
    Ok(args)
}

/// A batch's progress: where the epoch is, its running `losses`, images/s.
fn batch_progress(
    epoch: usize,
    batch: usize,
    batches: usize,
    losses: serde_json::Value,
    images_per_sec: f64,
) -> Progress {
    let mut p = json!({"epoch": epoch + 1, "batch": batch + 1, "batches": batches, "images_per_sec": images_per_sec});
    if let (Some(o), Some(l)) = (p.as_object_mut(), losses.as_object()) {
        o.extend(l.clone());
    }
    Progress::Batch(p)
}

/// A finished epoch's `results.csv` row (with the training images/s) for the job's history.
fn epoch_progress(epoch: usize, row: &impl serde::Serialize, images_per_sec: f64) -> Progress {
    let mut v = serde_json::to_value(row).unwrap_or_else(|_| json!({}));
    v["images_per_sec"] = json!(images_per_sec);
    Progress::Epoch(epoch as i64, v)
}

/// Lowers the calling thread's CPU priority (Linux: per thread).
fn lower_priority() {
    // SAFETY: setpriority on the calling thread id with constant arguments.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// The threads a job trains on (at lower priority when asked: the calling
/// thread too).
fn training_pool(low_priority: bool, threads: usize) -> Result<rayon::ThreadPool, OpsError> {
    if low_priority {
        lower_priority();
    }
    let mut builder = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("train-{i}"));
    if threads > 0 {
        builder = builder.num_threads(threads);
    }
    if low_priority {
        builder = builder.start_handler(|_| lower_priority());
    }
    builder
        .build()
        .map_err(|e| OpsError::Train(format!("training threads: {e}")))
}

fn train_detect_on_thread(
    args: TrainArgs,
    tx: mpsc::Sender<Progress>,
    stop: Arc<AtomicBool>,
) -> Result<Trained, OpsError> {
    let epochs = args.epochs;
    let mut observer = |e: &TrainEvent| {
        let msg = match e {
            TrainEvent::Started {
                images,
                batches,
                optimizer,
                lr0,
                ..
            } => Some(Progress::Log(format!(
                "training {epochs} epochs: {images} images, {batches} batches per epoch, {optimizer} lr0 {lr0}"
            ))),
            TrainEvent::Batch {
                epoch,
                batch,
                batches,
                loss,
                images_per_sec,
            } => {
                let losses = json!({"box_loss": loss.box_loss, "cls_loss": loss.cls_loss, "dfl_loss": loss.dfl_loss});
                // Progress between heartbeats may be dropped; epochs never are.
                let _ = tx.try_send(batch_progress(*epoch, *batch, *batches, losses, *images_per_sec));
                None
            }
            TrainEvent::Validating { .. } => None,
            TrainEvent::EpochEnd {
                row,
                train_images_per_sec,
                ..
            } => {
                let _ = tx.blocking_send(Progress::Log(format!(
                    "epoch {}/{epochs}: box {:.4} cls {:.4} dfl {:.4}; mAP50 {:.3} mAP50-95 {:.3}",
                    row.epoch, row.train.box_loss, row.train.cls_loss, row.train.dfl_loss, row.map50, row.map50_95
                )));
                Some(epoch_progress(row.epoch, row, *train_images_per_sec))
            }
            TrainEvent::Stopped { epoch, batch } => Some(Progress::Log(format!(
                "stopped in epoch {} at batch {batch}; weights/last kept",
                epoch + 1
            ))),
            TrainEvent::Finished { best_fitness, .. } => Some(Progress::Log(format!(
                "training finished; best fitness {}",
                best_fitness.map_or("-".into(), |f| format!("{f:.4}"))
            ))),
        };
        if let Some(m) = msg {
            let _ = tx.blocking_send(m);
        }
    };
    let s = train(args, false, &mut observer, stop).map_err(|e| OpsError::Train(e.to_string()))?;
    let (metrics, headline) = match &s.final_val {
        Some(v) => {
            let mut m = crate::registry::metrics_json(&v.metrics);
            m["split"] = json!("val");
            let line = format!("mAP50 {:.3}, mAP50-95 {:.3}", v.metrics.map50, v.metrics.map50_95);
            (m, line)
        }
        None => (json!({}), "not validated".into()),
    };
    Ok(Trained {
        stopped: s.stopped,
        epochs_done: s.epochs_done,
        metrics,
        headline,
    })
}

fn train_segment_on_thread(
    args: SegTrainArgs,
    tx: mpsc::Sender<Progress>,
    stop: Arc<AtomicBool>,
) -> Result<Trained, OpsError> {
    let epochs = args.epochs;
    let data = args.data.clone();
    let mut observer = |e: &SegTrainEvent| {
        let msg = match e {
            SegTrainEvent::Started {
                images,
                batches,
                val_images,
                params,
                ..
            } => Some(Progress::Log(format!(
                "training UNetTiny ({params} parameters) {epochs} epochs: {images} images, {batches} batches per \
                 epoch, {val_images} validation images"
            ))),
            SegTrainEvent::Batch {
                epoch,
                batch,
                batches,
                loss,
                images_per_sec,
            } => {
                let losses = json!({"bce_loss": loss.bce, "dice_loss": loss.dice});
                let _ = tx.try_send(batch_progress(*epoch, *batch, *batches, losses, *images_per_sec));
                None
            }
            SegTrainEvent::Validating { .. } => None,
            SegTrainEvent::EpochEnd {
                row: row @ SegResultsRow { anomaly: Some(an), .. },
                train_images_per_sec,
                ..
            } => {
                let fig = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.3}"));
                let _ = tx.blocking_send(Progress::Log(format!(
                    "epoch {}/{epochs}: bce {:.4} dice loss {:.4}; image AUROC {}, pixel AUROC {}, PRO {}, \
                     threshold {:.4} (calibrated on good validation images)",
                    row.epoch,
                    row.train.bce,
                    row.train.dice,
                    fig(an.image_auroc),
                    fig(an.pixel_auroc),
                    fig(an.pro),
                    an.threshold
                )));
                // the row carries the AUROCs, PRO and threshold (for the history and its chart)
                Some(epoch_progress(row.epoch, row, *train_images_per_sec))
            }
            SegTrainEvent::EpochEnd {
                row,
                train_images_per_sec,
                ..
            } => {
                let _ = tx.blocking_send(Progress::Log(format!(
                    "epoch {}/{epochs}: bce {:.4} dice loss {:.4}; Dice {:.3} (over pixels {:.3}), best threshold {:.2} \
                     fitness {:.3}",
                    row.epoch,
                    row.train.bce,
                    row.train.dice,
                    row.dice,
                    row.dice_pixels,
                    row.best_threshold,
                    row.best_fitness
                )));
                Some(epoch_progress(row.epoch, row, *train_images_per_sec))
            }
            SegTrainEvent::Stopped { epoch } => Some(Progress::Log(format!(
                "stopped in epoch {}; weights/last kept",
                epoch + 1
            ))),
            SegTrainEvent::Finished { .. } => Some(Progress::Log("training finished".into())),
        };
        if let Some(m) = msg {
            let _ = tx.blocking_send(m);
        }
    };
    let s = train_segmenter(args, &mut observer, stop, false).map_err(|e| OpsError::Train(e.to_string()))?;
    // The figures of what gets registered: the best checkpoint at the threshold
    // it was saved with (the last epoch's validation is another model's).
    let (metrics, headline) = match &s.final_val {
        Some(_) if s.best.is_file() => {
            let mut m = crate::registry::evaluate_segmenter(&s.best, &data)?;
            m["split"] = json!("val");
            let num = |k: &str| m[k].as_f64().unwrap_or(0.0);
            let line = if detective_ml::segment::segmenter::map_task(&s.best) == Some(Task::Anomaly) {
                format!(
                    "best checkpoint: image AUROC {:.3}, pixel AUROC {:.3}; at its calibrated threshold {:.4}: F1 \
                     {:.3}, {:.1} % of the good images flagged",
                    num("auroc"),
                    num("pixel_auroc"),
                    num("threshold"),
                    num("f1"),
                    num("false_alarm_rate") * 100.0
                )
            } else {
                format!(
                    "best checkpoint at threshold {:.2}: Dice {:.3} per image, {:.3} over pixels; {} false alarms",
                    num("threshold"),
                    num("dice"),
                    num("dice_pixels"),
                    m["false_alarms"]
                )
            };
            (m, line)
        }
        _ => (json!({}), "not validated".into()),
    };
    Ok(Trained {
        stopped: s.stopped,
        epochs_done: s.epochs_done,
        metrics,
        headline,
    })
}

/// Copies a run folder's results (weights, results.csv, args.yaml, plots) to `prefix/`.
async fn upload_run(objects: &Objects, out: &Path, prefix: &str) -> Result<(), OpsError> {
    let mut files = Vec::new();
    for sub in ["", "weights"] {
        let dir = if sub.is_empty() {
            out.to_path_buf()
        } else {
            out.join(sub)
        };
        let mut rd = tokio::fs::read_dir(&dir)
            .await
            .map_err(|e| OpsError::io(dir.display(), e))?;
        while let Some(entry) = rd.next_entry().await.map_err(|e| OpsError::io(dir.display(), e))? {
            let name = entry.file_name().to_string_lossy().to_string();
            let ok_ext = [".csv", ".yaml", ".svg", ".png", ".bpk", ".json"]
                .iter()
                .any(|e| name.ends_with(e));
            // Epoch checkpoints and the optimiser state stay local: best and last are what the registry needs.
            if ok_ext && entry.path().is_file() && !name.starts_with("epoch") {
                let key = if sub.is_empty() {
                    format!("{prefix}/{name}")
                } else {
                    format!("{prefix}/{sub}/{name}")
                };
                files.push((entry.path(), key));
            }
        }
    }
    for (path, key) in files {
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| OpsError::io(path.display(), e))?;
        objects.put(&key, bytes.into()).await?;
    }
    Ok(())
}
