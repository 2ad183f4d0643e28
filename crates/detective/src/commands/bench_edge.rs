//! `detective bench edge`: the agent's pipeline end to end on a source, uploading
//! to an API started in this process on a temporary data dir; prints FPS,
//! inference latency, drops, CPU use (this process: agent and API) and peak RSS.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use detective_edge::agent::run_agent;
use detective_edge::model::EdgeModel;
use detective_ml::detect::detector::Detector;

use crate::commands::demo::{LocalApi, local_agent_config, local_target};
use crate::config::Config;

/// (user + system CPU seconds, peak RSS in KiB) of this process so far.
/// CPU seconds used so far and the peak resident set in KiB, of this process.
pub(super) fn usage() -> (f64, i64) {
    // SAFETY: getrusage writes into the zeroed struct we own; RUSAGE_SELF is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime) + secs(ru.ru_stime), ru.ru_maxrss)
}

pub fn run(
    source: &str,
    model: &Path,
    frames: u64,
    threads: usize,
    as_json: bool,
    config: &Config,
) -> Result<ExitCode> {
    if frames == 0 || frames > 1_000_000 {
        bail!("--frames must be within 1..=1000000");
    }
    let tmp = tempfile::tempdir().context("temporary data dir")?;
    let mut cfg_local = config.clone();
    cfg_local.data_dir = tmp.path().to_path_buf();
    let api = LocalApi::start(&cfg_local, "127.0.0.1:0".parse()?)?;
    let detector = Detector::load(&detective_ml::detect::bundled::resolve(model)?, None, threads)
        .with_context(|| format!("loading {}", model.display()))?;
    let agent_cfg = local_agent_config(&cfg_local, source.to_string(), Some(frames))?;
    let target = local_target(&api.url);
    let (cpu0, _) = usage();
    let t = Instant::now();
    let report = std::thread::spawn(move || {
        run_agent(
            agent_cfg,
            EdgeModel::Detect(detector),
            target,
            Arc::new(AtomicBool::new(false)),
        )
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the edge agent panicked"))??;
    let wall = t.elapsed().as_secs_f64();
    let (cpu1, rss_kib) = usage();
    api.stop()?;
    let fps = report.produced as f64 / report.seconds.max(1e-9);
    let cpu_pct = (cpu1 - cpu0) / wall * 100.0;
    if as_json {
        println!(
            "{}",
            serde_json::json!({"source": source, "frames": report.captured, "produced": report.produced,
                "delivered": report.delivered, "dropped": report.dropped, "fps": fps,
                "inference_ms_p50": report.inference_ms_p50, "inference_ms_p95": report.inference_ms_p95,
                "cpu_percent": cpu_pct, "peak_rss_mib": rss_kib as f64 / 1024.0, "seconds": wall})
        );
    } else {
        println!(
            "edge {source}: {} frames, {} processed ({fps:.1} FPS end to end), {} dropped by the newest-frame slot, {} delivered",
            report.captured, report.produced, report.dropped, report.delivered
        );
        println!(
            "  inference p50 {:.1} ms, p95 {:.1} ms; CPU {cpu_pct:.0} % of one core (agent + in-process API); peak RSS {:.1} MiB",
            report.inference_ms_p50,
            report.inference_ms_p95,
            rss_kib as f64 / 1024.0
        );
    }
    Ok(ExitCode::SUCCESS)
}
