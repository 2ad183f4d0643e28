//! The edge agent's pipeline: capture → (newest frame wins) → resize to 640×480
//! → detect → uncertain flag → image features → spool → uploader.
//!
//! Capture runs on its own thread and hands frames over through a one-frame
//! slot: when inference is slower than the camera, the newest frame replaces the
//! waiting one and the replaced frame is counted as dropped, so latency never
//! grows. Every 2 s it logs FPS in (captured) and out (processed), inference
//! p50/p95, drops and the depth of the spool queue. Results go to the spool
//! writer through a bounded channel (64); the
//! uploader drains the spool to the cloud on its own schedule. With
//! [`ModelUpdates`] a task asks the cloud's channel (`GET /api/edge/config`)
//! for the camera's inspection rules and, when following, the Production model,
//! and hands a newly promoted model or changed rules to the inference loop,
//! which switches between two frames. Every frame's detections pass the rules
//! in effect: per-class thresholds, per-class uncertain bands, zones.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use detective_core::sampling::{Sampler, Sampling};
use detective_core::{LoggedDetection, LoggedPrediction, Rules, wire::AgentStats};
use detective_vision::{DecodeLimits, Frame};

use crate::EdgeError;
use crate::model::EdgeModel;
use crate::model_pull::ModelPuller;
use crate::mqtt::RejectPublisher;
use crate::preview::{LiveStatus, Preview};
use crate::source::open_source;
use crate::spool::{Evictions, Spool};
use crate::uploader::{UploadTarget, Uploader};
use detective_core::stats::quantile;

/// What the agent is told to do.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub source: String,
    pub data_dir: PathBuf,
    /// Spool quota in bytes.
    pub spool_quota: u64,
    /// The inspection rules to start with (thresholds and bands per class,
    /// zones); the cloud's channel replaces them.
    pub rules: Rules,
    /// The sampling strategies to start with (which frames beyond the uncertain
    /// ones go to people); the cloud's channel replaces them.
    pub sampling: Sampling,
    /// `name@version` sent with every prediction.
    pub model_version: String,
    /// Frame size the pipeline works at (the seed's 640×480).
    pub frame_size: (u32, u32),
    /// Keep the JPEG of defective and uncertain frames.
    pub keep_frames: bool,
    /// Stop after this many frames (tests, benchmarks).
    pub max_frames: Option<u64>,
    /// Seconds to keep uploading after the stop.
    pub drain_secs: f64,
    pub limits: DecodeLimits,
    /// `(broker URL, line)`: publish a reject message per defective frame.
    pub mqtt: Option<(String, String)>,
    /// Serve the MJPEG preview and JSON status here.
    pub preview: Option<std::net::SocketAddr>,
    /// Take rules (and, when following, the Production model) from the cloud
    /// while running.
    pub model_updates: Option<ModelUpdates>,
    /// Append the id of every prediction, once it is safe in the spool, to this
    /// file (one per line): what the agent produced, for an audit against the
    /// cloud's log.
    pub journal: Option<PathBuf>,
}

/// How the agent follows its cloud: rules always, the Production model when
/// `follow`.
#[derive(Clone)]
pub struct ModelUpdates {
    pub puller: Arc<ModelPuller>,
    /// Switch to the registry's Production model (`--model production`).
    pub follow: bool,
    /// The camera whose rules to ask for.
    pub camera: String,
    /// Where the last rules from the cloud are kept, so an agent that starts
    /// while the cloud is down applies them (see [`saved_rules`]).
    pub rules_file: PathBuf,
    /// Where the last sampling strategies from the cloud are kept (see
    /// [`saved_sampling`]).
    pub sampling_file: PathBuf,
    /// Time between two checks of the cloud (the first one `every` after start:
    /// the command asks once before the pipeline starts).
    pub every: Duration,
    /// One threshold for every class over the cloud's rules (`--conf`).
    pub conf: Option<f32>,
    /// ONNX Runtime threads of a loaded model.
    pub threads: usize,
    /// When a loaded model runs frames tiled (`--tile`).
    pub tiles: detective_vision::tiles::TilePlan,
}

impl std::fmt::Debug for ModelUpdates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelUpdates")
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// What waits for the inference loop: a newly loaded model with its
/// `name@version`, new rules, new sampling strategies.
#[derive(Default)]
struct Pending {
    model: Option<(EdgeModel, String)>,
    rules: Option<Rules>,
    sampling: Option<Sampling>,
}

type Swap = Arc<Mutex<Pending>>;

/// What the cloud sent last of `what` (rules, sampling), kept in `path` by an
/// earlier run, if readable and valid.
fn saved<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    what: &str,
    valid: impl Fn(&T) -> Result<(), String>,
) -> Option<T> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str::<T>(&text)
        .map_err(|e| e.to_string())
        .and_then(|r| valid(&r).map(|()| r))
    {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(
                "{}: not readable {what} ({e}); using the configuration's",
                path.display()
            );
            None
        }
    }
}

/// The rules the cloud sent last, kept in `path` by an earlier run, if readable.
pub fn saved_rules(path: &std::path::Path) -> Option<Rules> {
    saved(path, "rules", |r: &Rules| r.validate().map_err(|e| e.to_string()))
}

/// The sampling strategies the cloud sent last, kept in `path` by an earlier
/// run, if readable.
pub fn saved_sampling(path: &std::path::Path) -> Option<Sampling> {
    saved(path, "sampling", Sampling::validate)
}

/// Writes what the cloud sent (rules, sampling) to `path` whole (a temporary
/// file renamed over it); a failure is logged, not fatal.
pub fn save_kept<T: serde::Serialize>(path: &std::path::Path, value: &T) {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let written = serde_json::to_vec_pretty(value)
        .map_err(std::io::Error::other)
        .and_then(|b| std::fs::write(&tmp, b))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        tracing::warn!("keeping the cloud's settings in {}: {e}", path.display());
    }
}

/// What one check of the cloud found: the Production model (when following),
/// the rules and the sampling (`None` from a cloud without them), and the
/// channel's revision.
struct CloudCheck {
    production: Option<crate::model_pull::RemoteModel>,
    rules: Option<Rules>,
    sampling: Option<Sampling>,
    revision: String,
}

async fn check_cloud(u: &ModelUpdates, current: &str, warned_old: &mut bool) -> Option<CloudCheck> {
    match u.puller.edge_config(&u.camera, current, u.follow).await {
        Ok(Some(c)) => Some(CloudCheck {
            production: c.model.filter(|_| u.follow),
            rules: Some(c.rules),
            sampling: c.sampling,
            revision: c.revision,
        }),
        Ok(None) => {
            if !*warned_old {
                tracing::warn!(
                    "the cloud has no /api/edge/config (an older server): following /api/model-status, keeping the local rules"
                );
                *warned_old = true;
            }
            if !u.follow {
                return None;
            }
            match u.puller.production().await {
                Ok(m) => Some(CloudCheck {
                    production: m,
                    rules: None,
                    sampling: None,
                    revision: String::new(),
                }),
                Err(e) => {
                    tracing::warn!("model check: {e}");
                    None
                }
            }
        }
        Err(e) => {
            tracing::warn!("cloud check: {e}");
            None
        }
    }
}

/// Checks the cloud every `u.every`; puts new rules, and a
/// newly promoted model (loaded) with the rules that go with it, in `swap`. A
/// version that fails to load is not tried again; a cloud that cannot be
/// reached is tried again at the next check.
async fn follow_cloud(u: ModelUpdates, mut current: String, swap: Swap, stop: Arc<AtomicBool>) {
    let mut broken: Option<String> = None;
    let mut revision = String::new();
    let mut warned_old = false;
    // The command asked the cloud once at start (the model, the first rules).
    let mut next = Instant::now() + u.every;
    loop {
        while Instant::now() < next {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200).min(next.saturating_duration_since(Instant::now()))).await;
        }
        next = Instant::now() + u.every;
        let Some(CloudCheck {
            production,
            rules,
            sampling,
            revision: rev,
        }) = check_cloud(&u, &current, &mut warned_old).await
        else {
            continue;
        };
        if !rev.is_empty() && rev == revision {
            continue;
        }
        let new_model = production.filter(|m| {
            let spec = m.spec();
            spec != current && broken.as_deref() != Some(spec.as_str())
        });
        let loaded = match new_model {
            Some(m) => match load_remote(&u, &m).await {
                Ok(d) => Some((d, m.spec())),
                Err(e) => {
                    tracing::error!("model {} does not load ({e}); staying on {current}", m.spec());
                    broken = Some(m.spec());
                    continue;
                }
            },
            None => None,
        };
        if let Some(r) = &rules {
            save_kept(&u.rules_file, r);
        }
        if let Some(smp) = &sampling {
            save_kept(&u.sampling_file, smp);
        }
        if let Ok(mut s) = swap.lock() {
            if let Some((d, spec)) = loaded {
                tracing::info!("Production is now {spec}: switching from {current}");
                current = spec.clone();
                s.model = Some((d, spec));
            }
            if let Some(r) = rules {
                s.rules = Some(match u.conf {
                    Some(c) => r.with_conf(c),
                    None => r,
                });
            }
            if sampling.is_some() {
                s.sampling = sampling;
            }
        }
        revision = rev;
    }
}

/// Downloads (unless cached) and loads `m`.
async fn load_remote(u: &ModelUpdates, m: &crate::model_pull::RemoteModel) -> Result<EdgeModel, String> {
    let path = u.puller.fetch(m).await.map_err(|e| format!("pulling: {e}"))?;
    let (threads, tiles) = (u.threads, u.tiles);
    match tokio::task::spawn_blocking(move || EdgeModel::load(&path, threads, tiles)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(format!("loading: {e}")),
    }
}

/// The figures the agent ends with.
#[derive(Debug, Clone, Default)]
pub struct AgentReport {
    pub captured: u64,
    pub produced: u64,
    pub dropped: u64,
    pub delivered: u64,
    pub pending: u64,
    pub refused: u64,
    pub evictions: Evictions,
    /// Results that could not be written to the spool (its disk full or
    /// failing): lost, each logged as it happened.
    pub unspooled: u64,
    pub seconds: f64,
    pub inference_ms_p50: f64,
    pub inference_ms_p95: f64,
    /// MQTT reject messages sent, acknowledged by the broker, dropped.
    pub rejects: (u64, u64, u64),
    /// The model (`name@version`) of the last prediction.
    pub model: String,
}

/// A captured frame and when it was captured.
type Stamped = (Frame, chrono::DateTime<chrono::Utc>);

/// The one-frame hand-over between capture and inference: the waiting frame (if
/// any) and whether capture has ended.
struct LatestSlot {
    state: Mutex<(Option<Stamped>, bool)>,
    ready: Condvar,
    dropped: AtomicU64,
}

impl LatestSlot {
    fn put(&self, f: Frame) {
        if let Ok(mut s) = self.state.lock() {
            if s.0.replace((f, chrono::Utc::now())).is_some() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            self.ready.notify_one();
        }
    }

    fn close(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.1 = true;
            self.ready.notify_all();
        }
    }

    /// The newest frame; `None` once closed and empty.
    fn take(&self) -> Option<Stamped> {
        let mut s = self.state.lock().ok()?;
        loop {
            if let Some(f) = s.0.take() {
                return Some(f);
            }
            if s.1 {
                return None;
            }
            s = self.ready.wait_timeout(s, Duration::from_millis(200)).ok()?.0;
        }
    }
}

/// One frame's result under `rules`.
struct FrameResult {
    prediction: LoggedPrediction,
    /// The kept detections, for the preview.
    detections: Vec<detective_core::Detection>,
    /// A detection at or above its class's band: the part is rejected.
    defective: bool,
    /// Keep the frame (defective or uncertain).
    keep: bool,
    /// A detection in its class's uncertain band: the frame goes to review.
    uncertain: bool,
    ms: f64,
}

/// One frame's result as the wire type: the detections `rules` keep, each
/// flagged uncertain by its class's band.
fn to_prediction(
    model: &EdgeModel,
    frame: &Frame,
    captured: chrono::DateTime<chrono::Utc>,
    rules: &Rules,
    model_version: &str,
) -> Result<FrameResult, EdgeError> {
    let pred = model
        .infer(frame, rules.min_conf())
        .map_err(|e| EdgeError::InvalidArgument(format!("inference: {e}")))?;
    let kept = rules.apply(pred.detections, frame.width(), frame.height());
    let f = detective_vision::features::compute_features(frame);
    let features: BTreeMap<String, f64> = detective_vision::features::ImageFeatures::NAMES
        .iter()
        .zip(f.values())
        .map(|(n, v)| (n.to_string(), v as f64))
        .collect();
    let detections: Vec<LoggedDetection> = kept
        .iter()
        .map(|d| LoggedDetection {
            class: d.class_id,
            name: d.name.clone(),
            confidence: d.confidence,
            bbox: d.bbox,
            uncertain: Some(rules.is_uncertain(&d.name, d.confidence)),
        })
        .collect();
    let defective = kept.iter().any(|d| rules.is_defective(&d.name, d.confidence));
    let uncertain = detections.iter().any(|d| d.uncertain == Some(true));
    let prediction = LoggedPrediction {
        // Time-ordered ids keep the cloud's id index local (see docs/server.md).
        id: uuid::Uuid::now_v7().to_string(),
        captured_at: captured.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        model_version: model_version.to_string(),
        features,
        detections,
        sampled: None,
    };
    Ok(FrameResult {
        prediction,
        detections: kept,
        defective,
        keep: defective || uncertain,
        uncertain,
        ms: pred.ms,
    })
}

/// A seed for the random share that differs between agents and runs.
fn sampler_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (u64::from(std::process::id()) << 32)
}

/// Runs the agent until the source ends, `max_frames` is reached or `stop` is
/// set; then drains the spool for up to `drain_secs` and reports.
pub fn run_agent(
    mut cfg: AgentConfig,
    mut model: EdgeModel,
    target: UploadTarget,
    stop: Arc<AtomicBool>,
) -> Result<AgentReport, EdgeError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| EdgeError::InvalidArgument(format!("runtime: {e}")))?;
    let spool = Arc::new(rt.block_on(Spool::open(&cfg.data_dir.join("spool.db"), cfg.spool_quota))?);
    let pending_at_start = rt.block_on(spool.pending())?;
    if pending_at_start > 0 {
        tracing::info!("{pending_at_start} results from an earlier run are waiting in the spool");
    }
    let target_camera = target.camera_id.clone();
    let uploader = Arc::new(Uploader::new(spool.clone(), target)?);
    let mut source = open_source(&cfg.source, &cfg.limits, stop.clone())?;
    tracing::info!("source: {}", source.describe());

    let slot = Arc::new(LatestSlot {
        state: Mutex::new((None, false)),
        ready: Condvar::new(),
        dropped: AtomicU64::new(0),
    });
    let captured = Arc::new(AtomicU64::new(0));
    let produced = Arc::new(AtomicU64::new(0));
    let fps_x100 = Arc::new(AtomicU64::new(0));
    let inf_x100 = Arc::new(AtomicU64::new(0));
    let started = Instant::now();

    // Spool writer and uploader.
    // (prediction, its frame, keep the frame, defective)
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(LoggedPrediction, Option<Vec<u8>>, bool, bool)>(64);
    let rejects = match &cfg.mqtt {
        Some((url, line)) => {
            let _guard = rt.enter();
            Some(Arc::new(RejectPublisher::start(url, line, &target_camera)?))
        }
        None => None,
    };
    let preview = match cfg.preview {
        Some(addr) => {
            let p = Preview::new(&target_camera, Arc::new(LiveStatus::default()));
            let bound = rt.block_on(p.serve(addr))?;
            tracing::info!("preview on http://{bound}/ (status: http://{bound}/status)");
            eprintln!("preview on http://{bound}/");
            Some(p)
        }
        None => None,
    };
    let mut journal = match &cfg.journal {
        Some(path) => Some(std::io::LineWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| EdgeError::InvalidArgument(format!("journal {}: {e}", path.display())))?,
        )),
        None => None,
    };
    // Capture thread, started once everything that can fail at start is set up.
    let cap = {
        let slot = slot.clone();
        let stop = stop.clone();
        let captured = captured.clone();
        let max = cfg.max_frames;
        std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || {
                while !stop.load(Ordering::SeqCst) && max.is_none_or(|m| captured.load(Ordering::Relaxed) < m) {
                    match source.next_frame() {
                        Ok(Some(f)) => {
                            captured.fetch_add(1, Ordering::Relaxed);
                            slot.put(f);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::error!("source: {e}");
                            break;
                        }
                    }
                }
                slot.close();
            })
            .map_err(|e| EdgeError::InvalidArgument(format!("capture thread: {e}")))?
    };

    let mut last_preview: Option<Instant> = None;
    let unspooled = Arc::new(AtomicU64::new(0));
    let writer = {
        let spool = spool.clone();
        let unspooled = unspooled.clone();
        let rejects = rejects.clone();
        rt.spawn(async move {
            while let Some((p, frame, keep, defective)) = rx.recv().await {
                if let Some(r) = &rejects
                    && defective
                {
                    r.reject(&p);
                }
                match spool.push(&p, frame.as_deref(), keep).await {
                    Ok(()) => {
                        if let Some(j) = journal.as_mut()
                            && let Err(e) = std::io::Write::write_all(j, format!("{}\n", p.id).as_bytes())
                        {
                            tracing::error!("journal: {e}");
                        }
                    }
                    Err(e) => {
                        let n = unspooled.fetch_add(1, Ordering::Relaxed) + 1;
                        tracing::error!("spool: result {} not kept ({n} so far): {e}", p.id);
                    }
                }
            }
        })
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel::<Option<Instant>>(None);
    let up = {
        let uploader = uploader.clone();
        let (fps, inf) = (fps_x100.clone(), inf_x100.clone());
        let (spooled, quota) = (spool.clone(), cfg.spool_quota.max(1));
        let slot = slot.clone();
        rt.spawn(async move {
            uploader
                .run(stop_rx, move || {
                    // Nothing measured yet (the first 2 s window): say nothing rather than 0 FPS.
                    let fps = fps.load(Ordering::Relaxed);
                    (fps > 0).then(|| AgentStats {
                        fps: fps as f64 / 100.0,
                        inference_ms: inf.load(Ordering::Relaxed) as f64 / 100.0,
                        spool_percent: Some(100.0 * spooled.bytes() as f64 / quota as f64),
                        dropped_frames: Some(slot.dropped.load(Ordering::Relaxed)),
                        sent_at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                    })
                })
                .await
        })
    };

    let swap: Swap = Arc::new(Mutex::new(Pending::default()));
    let follower = cfg
        .model_updates
        .clone()
        .map(|u| rt.spawn(follow_cloud(u, cfg.model_version.clone(), swap.clone(), stop.clone())));

    // Inference on this thread.
    let mut times: Vec<f64> = Vec::new();
    // Since the last progress line: its start, frames produced, frames captured
    // before it, and where its inference times begin in `times`.
    let mut window = (Instant::now(), 0u64, 0u64, 0usize);
    let (w, h) = cfg.frame_size;
    let mut sampler = Sampler::new(cfg.sampling.clone(), sampler_seed());
    while let Some((frame, at)) = slot.take() {
        if let Ok(mut s) = swap.lock() {
            if let Some((d, spec)) = s.model.take() {
                tracing::info!("now running {spec}");
                model = d;
                cfg.model_version = spec;
            }
            if let Some(r) = s.rules.take() {
                if r != cfg.rules {
                    tracing::info!(
                        "inspection rules now: conf {}, band {}..{}, {} class rules, {} zones",
                        r.conf,
                        r.uncertain_low,
                        r.uncertain_high,
                        r.classes.len(),
                        r.zones.len()
                    );
                }
                cfg.rules = r;
            }
            if let Some(smp) = s.sampling.take() {
                if smp != cfg.sampling {
                    tracing::info!(
                        "sampling now: random {}%, more than {:?} detections, classes {:?}, at most {} per hour each",
                        smp.random_percent,
                        smp.more_than,
                        smp.classes,
                        smp.per_hour
                    );
                }
                sampler.set(smp.clone());
                cfg.sampling = smp;
            }
        }
        let frame = if (frame.width(), frame.height()) != (w, h) {
            detective_vision::preprocess::resize(&frame, w, h)?
        } else {
            frame
        };
        // One frame the model cannot process does not stop the line.
        let FrameResult {
            prediction: mut p,
            detections: dets,
            defective,
            mut keep,
            uncertain,
            ms,
        } = match to_prediction(&model, &frame, at, &cfg.rules, &cfg.model_version) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("frame skipped: {e}");
                continue;
            }
        };
        times.push(ms);
        // Uncertain frames go to people anyway; sampling picks among the rest.
        if !uncertain {
            let names: Vec<&str> = p.detections.iter().map(|d| d.name.as_str()).collect();
            p.sampled = sampler.decide(&names, at.timestamp_millis());
            keep |= p.sampled.is_some();
        }
        if let Some(pv) = &preview {
            let s = &pv.status;
            s.captured.store(captured.load(Ordering::Relaxed), Ordering::Relaxed);
            s.produced
                .store(produced.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            s.dropped.store(slot.dropped.load(Ordering::Relaxed), Ordering::Relaxed);
            s.delivered
                .store(uploader.delivered.load(Ordering::Relaxed), Ordering::Relaxed);
            s.fps_x100.store(fps_x100.load(Ordering::Relaxed), Ordering::Relaxed);
            s.inference_x100.store((ms * 100.0) as u64, Ordering::Relaxed);
            // At most 10 annotated frames per second.
            if last_preview.is_none_or(|t| t.elapsed() >= Duration::from_millis(100)) {
                last_preview = Some(Instant::now());
                let mut shown = frame.clone();
                detective_vision::overlay::draw_detections(&mut shown, &dets);
                pv.publish(detective_vision::encode::encode_jpeg(&shown, 80)?);
            }
        }
        let jpeg = if keep && cfg.keep_frames {
            Some(detective_vision::encode::encode_jpeg(&frame, 85)?)
        } else {
            None
        };
        if tx.blocking_send((p, jpeg, keep, defective)).is_err() {
            break;
        }
        produced.fetch_add(1, Ordering::Relaxed);
        window.1 += 1;
        let el = window.0.elapsed().as_secs_f64();
        if el >= 2.0 {
            let now_captured = captured.load(Ordering::Relaxed);
            let mut recent = times[window.3..].to_vec();
            recent.sort_by(f64::total_cmp);
            let (p50, p95) = (
                quantile(&recent, 0.50).unwrap_or(ms),
                quantile(&recent, 0.95).unwrap_or(ms),
            );
            fps_x100.store((window.1 as f64 / el * 100.0) as u64, Ordering::Relaxed);
            inf_x100.store((p50 * 100.0) as u64, Ordering::Relaxed);
            tracing::info!(
                "fps in {:.1}, fps out {:.1}, inference p50 {p50:.1} ms p95 {p95:.1} ms, captured {now_captured}, \
                 dropped {}, queue {} of {}, delivered {}",
                now_captured.saturating_sub(window.2) as f64 / el,
                window.1 as f64 / el,
                slot.dropped.load(Ordering::Relaxed),
                tx.max_capacity() - tx.capacity(),
                tx.max_capacity(),
                uploader.delivered.load(Ordering::Relaxed)
            );
            window = (Instant::now(), 0, now_captured, times.len());
        }
    }
    let _ = cap.join();
    if let Some(f) = follower {
        f.abort();
    }
    drop(tx);
    let _ = rt.block_on(writer);
    // Drain: keep uploading for up to drain_secs, then stop.
    let _ = stop_tx.send(Some(Instant::now() + Duration::from_secs_f64(cfg.drain_secs)));
    match rt.block_on(up) {
        Ok(Err(e)) => tracing::error!("uploader: {e}"),
        Err(e) => tracing::error!("uploader task: {e}"),
        Ok(Ok(())) => {}
    }
    let rejects = match rejects.and_then(|r| Arc::try_unwrap(r).ok()) {
        Some(r) => rt.block_on(r.finish(Duration::from_secs(5))),
        None => (0, 0, 0),
    };
    let pending = rt.block_on(spool.pending())?;
    rt.block_on(spool.close());
    times.sort_by(f64::total_cmp);
    Ok(AgentReport {
        captured: captured.load(Ordering::Relaxed),
        produced: produced.load(Ordering::Relaxed),
        dropped: slot.dropped.load(Ordering::Relaxed),
        delivered: uploader.delivered.load(Ordering::Relaxed),
        pending,
        refused: uploader.refused.load(Ordering::Relaxed),
        evictions: spool.evictions(),
        unspooled: unspooled.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
        inference_ms_p50: quantile(&times, 0.50).unwrap_or(0.0),
        inference_ms_p95: quantile(&times, 0.95).unwrap_or(0.0),
        rejects,
        model: cfg.model_version,
    })
}
