//! `detective demo`: the whole product in one process on embedded defaults — the
//! API on a SQLite file and an object folder under the data dir (open to this
//! machine without keys), the bundled model, and an edge agent on a synthetic
//! camera logging to it. Prints the dashboard URL and runs until Ctrl-C (or
//! `--max-frames`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use detective_edge::agent::{AgentConfig, run_agent};
use detective_edge::model::EdgeModel;
use detective_edge::uploader::UploadTarget;
use detective_ml::detect::detector::Detector;
use detective_server::{AppState, PredictorPool, ServerSettings};

use crate::cli::{DemoArgs, StorageArgs};
use crate::commands::serve::server_settings;
use crate::commands::storage::{open_db, open_objects, runtime};
use crate::config::Config;

/// An API running in this process (no keys: loopback only) on the storage of `config`.
pub struct LocalApi {
    pub url: String,
    pub rt: tokio::runtime::Runtime,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl LocalApi {
    /// Starts the API on `addr` (a loopback address) with the bundled detector.
    pub fn start(config: &Config, addr: SocketAddr) -> Result<LocalApi> {
        if !addr.ip().is_loopback() {
            bail!("an API without keys only binds to a loopback address (not {addr})");
        }
        let bundled = detective_ml::detect::bundled::resolve(std::path::Path::new("bundled"))?;
        let storage = StorageArgs {
            database_url: None,
            object_store: None,
        };
        let rt = runtime()?;
        let db = rt.block_on(open_db(&storage, config))?;
        let objects = open_objects(&storage, config)?;
        let settings = ServerSettings {
            insecure_no_auth: true,
            ..server_settings(config)?
        };
        let pool = PredictorPool::new(
            Detector::load(&bundled, None, 1)?,
            "bundled".into(),
            "bundled".into(),
            1,
            8,
        );
        let state = AppState::new(db, objects, Some(pool), settings).with_llm(&config.llm);
        let (bound_tx, bound_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let task = rt.spawn(detective_server::serve(
            state,
            addr,
            None,
            move |a| {
                let _ = bound_tx.send(a);
            },
            async move {
                let _ = shutdown_rx.await;
            },
        ));
        let bound = bound_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the API did not start (is {addr} in use?)"))?;
        Ok(LocalApi {
            url: format!("http://{bound}"),
            rt,
            shutdown: Some(shutdown_tx),
            task: Some(task),
        })
    }

    /// Stops the API after the requests in flight.
    pub fn stop(mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            self.rt.block_on(task).context("API task")?.context("serving")?;
        }
        Ok(())
    }
}

/// An agent on `source` logging to `cloud` (no key needed) in `config.data_dir`.
pub fn local_agent_config(config: &Config, source: String, max_frames: Option<u64>) -> Result<AgentConfig> {
    Ok(AgentConfig {
        source,
        data_dir: config.data_dir.join("edge").join("demo-cam"),
        spool_quota: 256 * 1024 * 1024,
        rules: config.rules()?,
        sampling: Default::default(),
        model_version: "bundled@local".into(),
        frame_size: (640, 480),
        keep_frames: true,
        max_frames,
        drain_secs: 10.0,
        limits: config.decode_limits(),
        mqtt: None,
        preview: None,
        model_updates: None,
        journal: None,
    })
}

pub fn local_target(cloud: &str) -> UploadTarget {
    UploadTarget {
        cloud: cloud.to_string(),
        key: "demo".into(),
        camera_id: "demo-cam".into(),
        project: None,
        batch: 200,
        ca: None,
    }
}

pub fn run(args: &DemoArgs, config: &Config) -> Result<ExitCode> {
    let addr: SocketAddr = args
        .bind
        .parse()
        .with_context(|| format!("--bind {:?} is not an address like 127.0.0.1:8000", args.bind))?;
    if !(args.fps.is_finite() && args.fps > 0.0 && args.fps <= 1000.0) {
        bail!("--fps must be within (0, 1000]");
    }
    let api = LocalApi::start(config, addr)?;
    let url = api.url.clone();
    tracing::warn!("demo: the API at {url} takes no keys (local demo only)");
    eprintln!("Defect Detective demo: dashboard on {url}/ (API under {url}/api, e.g. {url}/api/metrics)");
    eprintln!(
        "an edge agent on a synthetic camera ({} fps) is logging to it; Ctrl-C stops both",
        args.fps
    );

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst)).context("installing the Ctrl-C handler")?;
    }
    let cfg = local_agent_config(
        config,
        format!("synthetic://?fps={}&defect_rate={}&seed=1", args.fps, args.defect_rate),
        args.max_frames,
    )?;
    let bundled = detective_ml::detect::bundled::resolve(std::path::Path::new("bundled"))?;
    let agent_detector = Detector::load(&bundled, None, 1)?;
    let target = local_target(&url);
    let report = std::thread::spawn(move || run_agent(cfg, EdgeModel::Detect(agent_detector), target, stop))
        .join()
        .map_err(|_| anyhow::anyhow!("the edge agent panicked"))??;
    api.stop()?;
    println!(
        "produced={} delivered={} pending={} dropped={} fps={:.1}",
        report.produced,
        report.delivered,
        report.pending,
        report.dropped,
        report.produced as f64 / report.seconds.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
