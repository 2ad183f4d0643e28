//! `detective serve`: the cloud API on the configured storage, with the detector
//! behind `/api/inference/predict`. Stops cleanly on Ctrl-C or SIGTERM (requests
//! in flight finish first).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use detective_ml::detect::detector::Detector;
use detective_ops::runner::RunnerEnv;
use detective_ops::worker::{WorkerOptions, worker_id};
use detective_server::{AppState, PredictorPool, ServerSettings};

use crate::cli::ServeArgs;
use crate::commands::storage::{open_db, open_objects, runtime};
use crate::config::Config;

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// The server settings the configuration gives (thresholds, limits, model cache
/// under the data dir), keys required.
pub fn server_settings(config: &Config) -> Result<ServerSettings> {
    let secret_file = if config.server.session_secret_file.as_os_str().is_empty() {
        config.data_dir.join("session.secret")
    } else {
        config.server.session_secret_file.clone()
    };
    Ok(ServerSettings {
        band: config.band()?,
        conf: config.thresholds.conf,
        rules: config.rules.clone(),
        limits: config.decode_limits(),
        model_cache_dir: config.data_dir.join("model-cache"),
        work_dir: config.data_dir.join("work"),
        segment_runs: config.data_dir.join("runs"),
        session_secret: session_secret(&secret_file)?,
        secure_cookies: config.server.secure_cookies,
        roboflow_url: config.server.roboflow_url.clone(),
        failed_key_limit: config.server.failed_key_limit,
        trusted_proxies: config
            .server
            .trusted_proxies
            .iter()
            .map(|a| {
                a.trim()
                    .parse()
                    .with_context(|| format!("server.trusted_proxies: {a:?} is not an IP address"))
            })
            .collect::<Result<_>>()?,
        ..ServerSettings::default()
    })
}

/// The dashboard's session secret in `path`, created (64 hex digits, mode 0600)
/// when missing, so sessions survive a restart.
fn session_secret(path: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Write;
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(s.trim().as_bytes().to_vec()),
        Ok(_) => bail!(
            "{} holds fewer than 32 characters: not a usable session secret",
            path.display()
        ),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("reading the session secret {}", path.display()));
        }
        Err(_) => {}
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(secret.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(secret.into_bytes())
        }
        // Another process created it meanwhile: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => session_secret(path),
        Err(e) => Err(e).with_context(|| format!("creating the session secret {}", path.display())),
    }
}

/// The TLS acceptor the flags, else the configuration, ask for (`None`: plain HTTP).
fn tls_acceptor(args: &ServeArgs, config: &Config) -> Result<Option<detective_server::tls::TlsAcceptor>> {
    let (cert, key) = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => (config.server.tls_cert.clone(), config.server.tls_key.clone()),
    };
    match (cert.as_os_str().is_empty(), key.as_os_str().is_empty()) {
        (true, true) => Ok(None),
        (false, false) => Ok(Some(detective_server::tls::acceptor(&cert, &key)?)),
        _ => bail!("server.tls_cert and server.tls_key go together: set both for HTTPS, or neither"),
    }
}

pub fn run(args: &ServeArgs, config: &Config) -> Result<ExitCode> {
    super::device::use_for_inference(&args.device, &args.model)?;
    let bind = args.bind.clone().unwrap_or_else(|| config.server.bind.clone());
    let addr: SocketAddr = bind
        .parse()
        .with_context(|| format!("--bind {bind:?} is not an address like 127.0.0.1:8000"))?;
    // `production`: serve the registry's Production detector, following promotions;
    // the bundled model until there is one.
    let follow = args.model.as_os_str() == "production";
    let model_arg = if follow {
        std::path::PathBuf::from("bundled")
    } else {
        args.model.clone()
    };
    let model_path = detective_ml::detect::bundled::resolve(&model_arg)?;
    let tiles = args.tiles.plan();
    let detector = Detector::load(&model_path, None, args.threads)
        .with_context(|| format!("loading the model {}", model_arg.display()))?
        .with_tiles(tiles);
    let name = detective_ml::detect::bundled::model_name(&model_arg);
    tracing::info!(
        "model {name}: {} classes at {}×{} on {}",
        detector.names.len(),
        detector.imgsz,
        detector.imgsz,
        detector.backend
    );
    let pool = PredictorPool::new(
        detector,
        name,
        model_arg.display().to_string(),
        args.predict_workers,
        args.predict_queue,
    );
    let tls = tls_acceptor(args, config)?;
    let base = server_settings(config)?;
    let settings = ServerSettings {
        // Over HTTPS the session cookie is never sent in clear.
        secure_cookies: base.secure_cookies || tls.is_some(),
        insecure_no_auth: args.insecure_no_auth,
        predict_threads: args.threads,
        tiles,
        predict_workers: args.predict_workers,
        predict_queue: args.predict_queue,
        segment_runs: args
            .segment_runs
            .clone()
            .unwrap_or_else(|| config.data_dir.join("runs")),
        ..base
    };
    let follow_segment = args
        .segment_model
        .as_ref()
        .is_some_and(|p| p.as_os_str() == "production");
    let segmenter = match &args.segment_model {
        Some(_) if follow_segment => None,
        Some(path) => {
            let seg = detective_ml::segment::segmenter::AnySegmenter::load(path, args.threads)
                .with_context(|| format!("loading the segmenter {}", path.display()))?
                .with_tiles(tiles);
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "segmenter".into());
            tracing::info!("segmenter {name}: input {} on {}", seg.imgsz(), seg.backend());
            Some(PredictorPool::new(
                seg,
                name,
                path.display().to_string(),
                args.predict_workers,
                args.predict_queue,
            ))
        }
        None => None,
    };
    runtime()?.block_on(async {
        let db = open_db(&args.storage, config).await?;
        let objects = open_objects(&args.storage, config)?;
        if args.insecure_no_auth {
            tracing::warn!(
                "!!! --insecure-no-auth: EVERY caller is admin, no API key is checked. Local demos only. !!!"
            );
        } else if detective_store::api_keys::count_active(&db).await? == 0 {
            tracing::warn!(
                "no API keys yet: every /api call but /api/health will answer 401. Create one with \
                 `detective keys create --role admin --name me` (same --data-dir/--database-url)"
            );
        }
        tracing::info!("database {} ({})", db.display_url(), db.backend().as_str());
        let stale = detective_ops::roboflow::fail_interrupted(&db).await?;
        if stale > 0 {
            tracing::warn!("{stale} Roboflow job(s) left by a stopped server marked failed");
        }
        tracing::info!("object store {}", objects.display());
        let work_dir = settings.work_dir.clone();
        let mut state = AppState::new(db.clone(), objects.clone(), Some(pool), settings)
            .with_mlops(config.mlops.clone())
            .with_llm(&config.llm);
        tracing::info!("insights written by {}", state.insights.describe());
        if let Some(seg) = segmenter {
            state = state.with_segmenter(seg);
        }
        if follow {
            tokio::spawn(detective_server::follow_production(
                state.clone(),
                Duration::from_secs(10),
            ));
        }
        if follow_segment {
            tokio::spawn(detective_server::follow_segment_production(
                state.clone(),
                Duration::from_secs(10),
            ));
        }
        // The in-process training worker: one job at a time, below inference's CPU priority.
        let stop_worker = Arc::new(AtomicBool::new(false));
        let mirror =
            super::mlflow::start_mirror(&db, &objects, config, worker_id("serve@"), stop_worker.clone()).await?;
        let alerts = tokio::spawn(detective_ops::alerts::service::run(
            db.clone(),
            config.alerts.clone(),
            stop_worker.clone(),
        ));
        // The MLOps policy: drift checks, retraining conditions, completions.
        let policy = tokio::spawn(detective_ops::policy::run(
            db.clone(),
            objects.clone(),
            state.mlops.clone(),
            stop_worker.clone(),
        ));
        // Retention: old prediction logs and frames, in small batches.
        let retention = tokio::spawn(detective_ops::retention::run(
            db.clone(),
            objects.clone(),
            config.retention.clone(),
            stop_worker.clone(),
        ));
        let worker = (!args.no_worker).then(|| {
            let env = RunnerEnv {
                db: db.clone(),
                objects: objects.clone(),
                work_dir,
                worker_id: worker_id("serve@"),
                heartbeat: Duration::from_secs(2),
                low_priority: true,
                threads: 0,
                // Jobs train where the served models run (`--device`).
                device: detective_ml::runtime::device::inference_device(),
            };
            tokio::spawn(detective_ops::worker::run(
                env,
                WorkerOptions::default(),
                stop_worker.clone(),
            ))
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        detective_server::serve(
            state,
            addr,
            tls,
            |a| {
                tracing::info!("listening on {scheme}://{a}");
                eprintln!(
                    "Defect Detective API on {scheme}://{a} (dashboard: {scheme}://{a}/, health: {scheme}://{a}/api/health)"
                );
            },
            shutdown_signal(),
        )
        .await
        .with_context(|| format!("serving on {addr}"))?;
        stop_worker.store(true, Ordering::SeqCst);
        let _ = policy.await;
        if let Some(m) = mirror {
            let _ = m.await;
        }
        let _ = alerts.await;
        let _ = retention.await;
        if let Some(w) = worker {
            // A running job stops at its next step and goes back to the queue.
            let _ = w.await;
        }
        db.close().await;
        Ok(ExitCode::SUCCESS)
    })
}
