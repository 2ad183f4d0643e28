//! `detective edge`: the agent next to a camera. Runs until the source ends,
//! `--max-frames`, or SIGINT/SIGTERM; then uploads what is spooled for up to
//! `--drain-secs` and logs `produced=N delivered=M pending=K` (what is still
//! pending is sent at the next start).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use detective_core::Task;
use detective_core::names::check_segment;
use detective_core::sampling::Sampling;
use detective_edge::agent::{AgentConfig, ModelUpdates, run_agent};
use detective_edge::model::EdgeModel;
use detective_edge::model_pull::ModelPuller;
use detective_edge::uploader::UploadTarget;

use crate::cli::{EdgeArgs, TaskArg};
use crate::config::Config;

/// `--model production`: follow the cloud's registry.
const PRODUCTION: &str = "production";

/// The model to start with under `--model production`: the cloud's Production
/// model of the puller's task (pulled unless cached); when the cloud has none,
/// the bundled detector; when the cloud cannot be reached or the pull fails, the
/// last pulled copy, else the bundled detector. There is no bundled segmenter:
/// following segmenters needs one pulled before or in Production now. The agent
/// then follows Production while it runs.
fn pull_production(puller: &ModelPuller) -> Result<(PathBuf, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let task = puller.task();
    let bundled = || -> Result<(PathBuf, String)> {
        if task != Task::Detect {
            bail!(
                "no Production {task} model to start on (none pulled before, none in the cloud now): promote one \
                 to Production in the registry, or give --model PATH"
            );
        }
        tracing::warn!("starting on the bundled model");
        let name = detective_ml::detect::bundled::model_name(Path::new(detective_ml::detect::bundled::BUNDLED));
        Ok((
            detective_ml::detect::bundled::resolve(Path::new(detective_ml::detect::bundled::BUNDLED))?,
            format!("{name}@local"),
        ))
    };
    let fallback = |why: String| -> Result<(PathBuf, String)> {
        match puller.cached() {
            Some((spec, path)) => {
                tracing::warn!("{why}; starting on the last pulled model {spec}");
                Ok((path, spec))
            }
            None => {
                tracing::warn!("{why}; no model pulled before");
                bundled()
            }
        }
    };
    match rt.block_on(puller.production()) {
        Ok(Some(m)) => match rt.block_on(puller.fetch(&m)) {
            Ok(path) => Ok((path, m.spec())),
            Err(e) => fallback(format!("pulling the Production model {}: {e}", m.spec())),
        },
        Ok(None) => {
            tracing::warn!("the cloud has no Production {task} model yet");
            bundled()
        }
        Err(e) => fallback(e.to_string()),
    }
}

/// The inspection rules and sampling strategies of the first frame: the
/// cloud's for this camera (asked once at start, kept in `rules_file` and
/// `sampling_file`); when the cloud is down, those it sent the last run; when it
/// never sent any (or predates the channel), the configuration's `[rules]` over
/// `[thresholds]`, and no sampling.
fn start_settings(
    puller: &ModelPuller,
    camera: &str,
    model: &str,
    follow: bool,
    files: (&Path, &Path),
    config: &Config,
) -> Result<(detective_core::Rules, Sampling)> {
    let (rules_file, sampling_file) = files;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let kept_sampling = || detective_edge::agent::saved_sampling(sampling_file).unwrap_or_default();
    match rt.block_on(puller.edge_config(camera, model, follow)) {
        Ok(Some(c)) => {
            detective_edge::agent::save_kept(rules_file, &c.rules);
            let sampling = c.sampling.unwrap_or_default();
            detective_edge::agent::save_kept(sampling_file, &sampling);
            tracing::info!(
                "the cloud's rules for camera {camera}: {} class rules, {} zones; sampling {}",
                c.rules.classes.len(),
                c.rules.zones.len(),
                if sampling.is_on() { "on" } else { "off" }
            );
            return Ok((c.rules, sampling));
        }
        Ok(None) => tracing::info!("the cloud has no rules channel (an older server): using local rules"),
        Err(e) => {
            if let Some(r) = detective_edge::agent::saved_rules(rules_file) {
                tracing::warn!("{e}; starting on the cloud's rules kept in {}", rules_file.display());
                return Ok((r, kept_sampling()));
            }
            tracing::warn!("{e}; starting on the configuration's rules");
            return Ok((config.rules()?, kept_sampling()));
        }
    }
    Ok((config.rules()?, Sampling::default()))
}

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
    super::device::use_for_inference(&args.device, &args.model)?;
    let follow = args.model.as_os_str() == PRODUCTION;
    if !(args.model_poll_secs.is_finite() && args.model_poll_secs >= 1.0) {
        bail!("--model-poll-secs must be at least 1");
    }
    if let Some(c) = args.conf
        && !(c.is_finite() && (0.0..=1.0).contains(&c))
    {
        bail!("--conf must be within 0..1, not {c}");
    }
    let task = match args.task {
        TaskArg::Detect => Task::Detect,
        TaskArg::Segment => Task::Segment,
        TaskArg::Anomaly => Task::Anomaly,
    };
    if task != Task::Detect && !follow {
        bail!("--task segment or anomaly picks the Production model to follow: it goes with --model production");
    }
    if args.cloud_ca.is_some() && !args.cloud.starts_with("https://") {
        bail!("--cloud-ca is for an https:// cloud; --cloud {} is not one", args.cloud);
    }
    let ca = args
        .cloud_ca
        .as_deref()
        .map(detective_edge::cloud_http::CloudCa::from_pem_file)
        .transpose()?;
    let mut puller =
        ModelPuller::new(&args.cloud, &args.key, config.data_dir.join("edge").join("models"))?.for_task(task);
    if let Some(ca) = &ca {
        puller = puller.with_ca(ca)?;
    }
    let puller = Arc::new(puller);
    let (model_path, model_version) = if follow {
        pull_production(&puller)?
    } else {
        let name = detective_ml::detect::bundled::model_name(&args.model);
        (
            detective_ml::detect::bundled::resolve(&args.model)?,
            format!("{name}@local"),
        )
    };
    let tiles = args.tiles.plan();
    let model = EdgeModel::load(&model_path, args.threads, tiles)
        .with_context(|| format!("loading the model {}", model_path.display()))?;
    tracing::info!("{} model {model_version} ({})", model.task(), model_path.display());
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
    let data_dir = config.data_dir.join("edge").join(&args.camera_id);
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let rules_file = data_dir.join("rules.json");
    let sampling_file = data_dir.join("sampling.json");
    let (rules, sampling) = start_settings(
        &puller,
        &args.camera_id,
        &model_version,
        follow,
        (&rules_file, &sampling_file),
        config,
    )?;
    let rules = match args.conf {
        Some(c) => rules.with_conf(c),
        None => rules,
    };
    let cfg = AgentConfig {
        source: args.source.clone(),
        data_dir,
        spool_quota: args.spool_mb.max(1) * 1024 * 1024,
        rules,
        sampling,
        model_version,
        frame_size: (640, 480),
        keep_frames: !args.no_frames,
        max_frames: args.max_frames,
        drain_secs: args.drain_secs,
        limits: config.decode_limits(),
        mqtt: args.mqtt.clone().zip(args.line.clone()),
        preview: args.preview,
        journal: args.journal.clone(),
        model_updates: Some(ModelUpdates {
            tiles,
            puller: puller.clone(),
            follow,
            camera: args.camera_id.clone(),
            rules_file,
            sampling_file,
            every: Duration::from_secs_f64(args.model_poll_secs),
            conf: args.conf,
            threads: args.threads,
        }),
    };
    let target = UploadTarget {
        cloud: args.cloud.clone(),
        key: args.key.clone(),
        camera_id: args.camera_id.clone(),
        project: args.project.clone(),
        batch: args.batch,
        ca,
    };
    let r = run_agent(cfg, model, target, stop)?;
    let ev = r.evictions;
    let line = format!(
        "produced={} delivered={} pending={} captured={} dropped={} refused={} evicted_clean={} evicted_frames={} evicted_results={} unspooled={} \
         seconds={:.1} fps={:.1} fps_in={:.1} inference_ms_p50={:.1} inference_ms_p95={:.1} rejects_sent={} rejects_acked={} rejects_dropped={} model={}",
        r.produced,
        r.delivered,
        r.pending,
        r.captured,
        r.dropped,
        r.refused,
        ev.clean_results,
        ev.frames,
        ev.results,
        r.unspooled,
        r.seconds,
        r.produced as f64 / r.seconds.max(1e-9),
        r.captured as f64 / r.seconds.max(1e-9),
        r.inference_ms_p50,
        r.inference_ms_p95,
        r.rejects.0,
        r.rejects.1,
        r.rejects.2,
        r.model
    );
    tracing::info!("{line}");
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}
