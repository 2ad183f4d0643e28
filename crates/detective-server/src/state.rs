//! What every handler can reach: the database, the object store, the predictor
//! pool, thresholds and limits, and the counters behind the metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use detective_core::UncertainBand;
use detective_ml::segment::segmenter::AnySegmenter;
use detective_store::{Db, Objects};
use detective_vision::DecodeLimits;

use crate::model_cache::ModelCache;
use crate::predictor::PredictorPool;

/// Settings of a running server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Serve without API keys (every caller is admin). For local demos only.
    pub insecure_no_auth: bool,
    pub band: UncertainBand,
    /// Default confidence threshold of `/api/inference/predict`.
    pub conf: f32,
    /// The configuration's `[rules]`: laid over the thresholds, under the rules
    /// set per model and camera.
    pub rules: detective_core::RuleSet,
    pub limits: DecodeLimits,
    /// Largest request body of the upload and log routes, in bytes.
    pub max_body_bytes: usize,
    /// Most files in one upload request.
    pub max_files: usize,
    /// Where registry models named by `?model=` are copied to be loaded.
    pub model_cache_dir: std::path::PathBuf,
    /// ONNX Runtime threads per prediction of a registry model (0 = every core).
    pub predict_threads: usize,
    /// When served models run images tiled (`--tile`).
    pub tiles: detective_vision::tiles::TilePlan,
    pub predict_workers: usize,
    pub predict_queue: usize,
    /// Signs dashboard session cookies (32 random bytes by default; `serve` keeps
    /// one under its data dir so sessions survive a restart).
    pub session_secret: Vec<u8>,
    /// Mark session cookies `Secure` (the dashboard is served over HTTPS).
    pub secure_cookies: bool,
    /// Segmentation training runs (`RUN/weights/epoch_N.bpk`) the Segmentation
    /// lab compares.
    pub segment_runs: std::path::PathBuf,
    /// Scratch folder for registering and evaluating models (dataset versions
    /// and weights are written here and removed after).
    pub work_dir: std::path::PathBuf,
    /// Roboflow's API (`https://api.roboflow.com`).
    pub roboflow_url: String,
    /// Load balancers whose `X-Forwarded-For` names the client ([`crate::client_addr`]).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Failed key checks a client address (or key prefix) may make in 10 minutes
    /// before it gets 429 ([`crate::auth_limit`]); 0: no limit.
    pub failed_key_limit: u32,
}

/// Failed key checks per client address (or key prefix) in 10 minutes before 429.
pub const DEFAULT_FAILED_KEY_LIMIT: u32 = 10;

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            insecure_no_auth: false,
            band: UncertainBand::default(),
            conf: 0.25,
            rules: detective_core::RuleSet::default(),
            limits: DecodeLimits::default(),
            max_body_bytes: 256 * 1024 * 1024,
            max_files: 1000,
            model_cache_dir: std::env::temp_dir().join("detective-model-cache"),
            predict_threads: 0,
            tiles: detective_vision::tiles::TilePlan::default(),
            predict_workers: 1,
            predict_queue: 8,
            session_secret: rand::random::<[u8; 32]>().to_vec(),
            secure_cookies: false,
            segment_runs: std::path::PathBuf::from("runs"),
            work_dir: std::env::temp_dir().join("detective-work"),
            roboflow_url: "https://api.roboflow.com".into(),
            trusted_proxies: Vec::new(),
            failed_key_limit: DEFAULT_FAILED_KEY_LIMIT,
        }
    }
}

/// Monotonic counters, exported on `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    pub log_batches: AtomicU64,
    pub logged_predictions: AtomicU64,
    pub predict_requests: AtomicU64,
    pub predict_rejected_busy: AtomicU64,
    pub predict_ms_total: AtomicU64,
    pub uploads: AtomicU64,
    pub http_errors: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Shared state of the router.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub objects: Objects,
    /// The detector of `/api/inference/predict` and the live stream (swappable:
    /// see [`crate::served_model`]).
    pub served: Arc<crate::served_model::ServedModel>,
    /// The segmenter behind `task=segment`, when one is served (swappable like
    /// the detector).
    pub segmenter: Arc<crate::served_model::ServedModel<AnySegmenter>>,
    pub settings: Arc<ServerSettings>,
    /// Registry versions loaded on demand for `?model=`.
    pub models: Arc<ModelCache>,
    pub counters: Arc<Counters>,
    /// Histograms and labelled counters of `/metrics` ([`crate::metrics`]).
    pub metrics: Arc<crate::metrics::Metrics>,
    pub started: Instant,
    /// A batch of predictions was stored: `GET /api/inspection-logs/events` tells
    /// the dashboard (bounded; a slow listener skips what it missed).
    pub logged: tokio::sync::broadcast::Sender<LoggedEvent>,
    /// Confidence threshold and uncertain band in effect (see [`crate::thresholds`]).
    pub live_thresholds: Arc<crate::thresholds::LiveThresholds>,
    /// Inspection rules per model and camera over the thresholds.
    pub live_rules: Arc<crate::thresholds::LiveRules>,
    /// Drift and retraining settings and state.
    pub mlops: Arc<detective_ops::policy::Mlops>,
    /// Who writes the Insights panel (`[llm]`; by rule unless set with [`AppState::with_llm`]).
    pub insights: Arc<detective_ops::llm::Writer>,
    /// This process among the replicas (random per start): the origin of the
    /// events it shares ([`crate::shared_events`]).
    pub replica: Arc<str>,
}

/// What the event stream says of one stored batch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoggedEvent {
    pub camera_id: String,
    pub accepted: usize,
    pub defective: usize,
    pub uncertain: usize,
}

impl AppState {
    pub fn new(db: Db, objects: Objects, predictor: Option<PredictorPool>, settings: ServerSettings) -> Self {
        AppState {
            db,
            objects,
            served: Arc::new(crate::served_model::ServedModel::new(predictor)),
            segmenter: Arc::new(crate::served_model::ServedModel::new(None)),
            models: Arc::new(ModelCache::new(
                settings.model_cache_dir.clone(),
                settings.predict_threads,
                settings.tiles,
                settings.predict_workers,
                settings.predict_queue,
            )),
            live_thresholds: Arc::new(crate::thresholds::LiveThresholds::new(
                crate::thresholds::Thresholds::new(settings.conf, settings.band),
            )),
            live_rules: Arc::default(),
            mlops: Arc::new(detective_ops::policy::Mlops::new(
                detective_ops::policy::MlopsConfig::default(),
                settings.work_dir.clone(),
            )),
            settings: Arc::new(settings),
            counters: Arc::new(Counters::default()),
            metrics: Arc::default(),
            started: Instant::now(),
            logged: tokio::sync::broadcast::channel(256).0,
            insights: Arc::new(detective_ops::llm::Writer::off()),
            replica: uuid::Uuid::new_v4().simple().to_string().into(),
        }
    }

    /// The confidence threshold and uncertain band in effect now.
    pub async fn thresholds(&self) -> crate::thresholds::Thresholds {
        self.live_thresholds.get(&self.db).await
    }

    /// The server's thresholds with the configuration's `[rules]` over them (left
    /// out, with a warning, if the thresholds changed so that they no longer fit).
    pub async fn default_rules(&self) -> detective_core::Rules {
        let t = self.thresholds().await;
        let base = detective_core::Rules::new(t.conf, t.band().unwrap_or(self.settings.band));
        base.clone().with(&self.settings.rules).unwrap_or_else(|e| {
            tracing::warn!("the configuration's [rules] do not fit the thresholds in effect ({e}); left out");
            base
        })
    }

    /// The inspection rules in effect for `model` (`name@3`, as predictions name
    /// it) on `camera`.
    pub async fn rules(&self, model: Option<&str>, camera: Option<&str>) -> detective_core::Rules {
        if let Some(r) = self.live_rules.fresh(model, camera) {
            return r;
        }
        let defaults = self.default_rules().await;
        self.live_rules.refresh(&self.db, &defaults, model, camera).await
    }

    /// The rules of each model of `batch` on its camera (cached, as for
    /// requests), which decide the logged detections' uncertain flags.
    pub async fn bands_of(&self, batch: &detective_core::LogBatch) -> detective_ops::ingest::BandsByModel {
        let mut map = std::collections::HashMap::new();
        for m in detective_ops::ingest::BandsByModel::models(batch) {
            map.insert(m.to_string(), self.rules(Some(m), Some(&batch.camera_id)).await);
        }
        detective_ops::ingest::BandsByModel(map)
    }

    /// The inspection rules a request runs under: those of the model (`name@v`,
    /// or the name of a file-served model) on `camera`; a `conf` the caller
    /// asks for is the one threshold of every class.
    pub async fn request_rules(
        &self,
        name: &str,
        version: Option<i64>,
        camera: Option<&str>,
        conf: Option<f32>,
    ) -> Result<detective_core::Rules, crate::problem::ApiError> {
        if let Some(c) = camera {
            detective_core::names::check_segment("camera", c)
                .map_err(|e| crate::problem::ApiError::bad_request(e.to_string()))?;
        }
        let spec = match version {
            Some(v) => format!("{name}@{v}"),
            None => name.to_string(),
        };
        let rules = self.rules(Some(&spec), camera).await;
        Ok(match conf {
            Some(c) => rules.with_conf(c),
            None => rules,
        })
    }

    /// Also serves `segmenter` for `POST /api/inference/predict?task=segment`.
    pub fn with_segmenter(mut self, segmenter: PredictorPool<AnySegmenter>) -> Self {
        self.segmenter = Arc::new(crate::served_model::ServedModel::new(Some(segmenter)));
        self
    }

    /// Uses `config` for drift and retraining.
    /// The Insights panel written by the language model of `config`.
    pub fn with_llm(mut self, config: &detective_ops::llm::LlmConfig) -> Self {
        self.insights = Arc::new(detective_ops::llm::Writer::from_config(config));
        self
    }

    pub fn with_mlops(mut self, config: detective_ops::policy::MlopsConfig) -> Self {
        self.mlops = Arc::new(detective_ops::policy::Mlops::new(
            config,
            self.settings.work_dir.clone(),
        ));
        self
    }
}
