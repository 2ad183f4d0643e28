//! `detective edge`: the agent next to a camera. Runs until the source ends,
//! `--max-frames`, or SIGINT/SIGTERM; then uploads what is spooled for up to
//! `--drain-secs` and logs `produced=N delivered=M pending=K` (what is still
//! pending is sent at the next start).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use detective_core::names::check_segment;
use detective_edge::agent::{AgentConfig, run_agent};
use detective_edge::uploader::UploadTarget;
use detective_ml::detector::Detector;

use crate::cli::EdgeArgs;
use crate::config::Config;

pub fn run(args: &EdgeArgs, config: &Config) -> Result<ExitCode> {
    check_segment("camera id", &args.camera_id)?;
    if let Some(p) = &args.project {
        check_segment("project", p)?;
    }
    if !(1..=1000).contains(&args.batch) {
        bail!("--batch must be within 1..=1000");
    }
    if !(args.drain_secs.is_finite() && args.drain_secs >= 0.0) {
        bail!("--drain-secs must be >= 0");
    }
    let conf = args.conf.unwrap_or(config.thresholds.conf);
    let model_path = detective_ml::bundled::resolve(&args.model)?;
    let detector = Detector::load(&model_path, None, args.threads)
        .with_context(|| format!("loading the model {}", args.model.display()))?;
    let model_name = detective_ml::bundled::model_name(&args.model);
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            if !stop.swap(true, Ordering::SeqCst) {
                eprintln!("stopping: no more frames; uploading what is spooled");
            }
        })
        .context("installing the SIGINT/SIGTERM handler")?;
    }
    let cfg = AgentConfig {
        source: args.source.clone(),
        data_dir: config.data_dir.join("edge").join(&args.camera_id),
        spool_quota: args.spool_mb.max(1) * 1024 * 1024,
        band: config.band()?,
        conf,
        model_version: format!("{model_name}@local"),
        frame_size: (640, 480),
        keep_frames: !args.no_frames,
        max_frames: args.max_frames,
        drain_secs: args.drain_secs,
        limits: config.decode_limits(),
        mqtt: args.mqtt.clone().zip(args.line.clone()),
        preview: args.preview,
    };
    let target = UploadTarget {
        cloud: args.cloud.clone(),
        key: args.key.clone(),
        camera_id: args.camera_id.clone(),
        project: args.project.clone(),
        batch: args.batch,
    };
    let r = run_agent(cfg, detector, target, stop)?;
    let ev = r.evictions;
    let line = format!(
        "produced={} delivered={} pending={} captured={} dropped={} refused={} evicted_clean={} evicted_frames={} evicted_results={} \
         seconds={:.1} fps={:.1} inference_ms_p50={:.1} inference_ms_p95={:.1} rejects_sent={} rejects_acked={} rejects_dropped={}",
        r.produced,
        r.delivered,
        r.pending,
        r.captured,
        r.dropped,
        r.refused,
        ev.clean_results,
        ev.frames,
        ev.results,
        r.seconds,
        r.produced as f64 / r.seconds.max(1e-9),
        r.inference_ms_p50,
        r.inference_ms_p95,
        r.rejects.0,
        r.rejects.1,
        r.rejects.2
    );
    tracing::info!("{line}");
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}
