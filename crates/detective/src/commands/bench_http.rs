//! `detective bench ingest|predict`: load on a running server over HTTP, with N
//! concurrent clients for a fixed time; prints throughput and latency
//! percentiles (figures, not a pass/fail test).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::commands::storage::runtime;
use crate::config::Config;
use detective_core::stats::quantile;

struct Outcome {
    latencies_ms: Vec<f64>,
    errors: usize,
    first_error: Option<String>,
}

pub(crate) fn check(clients: usize, duration: f64) -> Result<()> {
    if clients == 0 || clients > 256 {
        bail!("--clients must be within 1..=256");
    }
    if !(duration.is_finite() && duration > 0.0 && duration <= 3600.0) {
        bail!("--duration must be within 0..3600 seconds");
    }
    Ok(())
}

/// Runs `clients` loops of `one` until `duration` is over.
async fn drive<F, Fut>(clients: usize, duration: f64, one: F) -> Outcome
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let end = Instant::now() + Duration::from_secs_f64(duration);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let one = one.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut first_error = None;
            let mut n = 0;
            while Instant::now() < end {
                let t = Instant::now();
                match one(c, n).await {
                    Ok(()) => lat.push(t.elapsed().as_secs_f64() * 1000.0),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
                n += 1;
            }
            (lat, errors, first_error)
        }));
    }
    let mut out = Outcome {
        latencies_ms: Vec::new(),
        errors: 0,
        first_error: None,
    };
    for t in tasks {
        if let Ok((lat, errors, first)) = t.await {
            out.latencies_ms.extend(lat);
            out.errors += errors;
            if out.first_error.is_none() {
                out.first_error = first;
            }
        }
    }
    out.latencies_ms.sort_by(f64::total_cmp);
    out
}

/// Ok for a 2xx answer, else the status and body (or the transport error).
async fn succeeded(r: reqwest::Result<reqwest::Response>) -> Result<(), String> {
    let r = r.map_err(|e| e.to_string())?;
    if r.status().is_success() {
        Ok(())
    } else {
        Err(format!("{}: {}", r.status(), r.text().await.unwrap_or_default()))
    }
}

/// Batch `n` of a client: `batch` predictions with one detection and three
/// features each, captured now, with time-ordered UUIDv7 ids as the edge agent
/// makes them.
pub(crate) fn predictions(batch: usize, n: usize) -> Vec<serde_json::Value> {
    let now = chrono::Utc::now().to_rfc3339();
    (0..batch)
        .map(|i| {
            let conf = ((n * batch + i) % 100) as f64 / 100.0;
            json!({"id": uuid::Uuid::now_v7().to_string(), "captured_at": now, "model_version": "bench@1",
                   "features": {"brightness": 0.4, "contrast": 0.2, "blur": 100.0},
                   "detections": [{"class": 0, "name": "scratch", "confidence": conf, "bbox": [10.0, 10.0, 40.0, 30.0]}]})
        })
        .collect()
}

pub(crate) fn key_or_bail(key: Option<String>) -> Result<String> {
    key.filter(|k| !k.is_empty())
        .context("give an API key with --key or DETECTIVE_KEY (a device or admin key)")
}

pub fn ingest(
    url: &str,
    key: Option<String>,
    clients: usize,
    batch: usize,
    duration: f64,
    as_json: bool,
) -> Result<ExitCode> {
    check(clients, duration)?;
    if !(1..=1000).contains(&batch) {
        bail!("--batch must be within 1..=1000");
    }
    let key = key_or_bail(key)?;
    let endpoint = format!("{}/api/log", url.trim_end_matches('/'));
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let outcome = runtime()?.block_on(async {
        let http = reqwest::Client::new();
        drive(clients, duration, move |c, n| {
            let http = http.clone();
            let endpoint = endpoint.clone();
            let key = key.clone();
            let run_id = run_id.clone();
            async move {
                let body =
                    json!({"camera_id": format!("bench-{}-{c}", &run_id[..8]), "predictions": predictions(batch, n)});
                succeeded(http.post(&endpoint).bearer_auth(&key).json(&body).send().await).await
            }
        })
        .await
    });
    let elapsed = started.elapsed().as_secs_f64();
    let ok = outcome.latencies_ms.len();
    let preds_per_s = (ok * batch) as f64 / elapsed;
    let (p50, p99) = (
        quantile(&outcome.latencies_ms, 0.50).unwrap_or(0.0),
        quantile(&outcome.latencies_ms, 0.99).unwrap_or(0.0),
    );
    if as_json {
        println!(
            "{}",
            json!({"url": url, "clients": clients, "batch": batch, "seconds": elapsed, "batches": ok,
                   "errors": outcome.errors, "predictions_per_s": preds_per_s, "p50_ms": p50, "p99_ms": p99})
        );
    } else {
        println!(
            "ingest {url}: {clients} clients × batches of {batch} for {elapsed:.1} s: {ok} batches ({} predictions), {} errors",
            ok * batch,
            outcome.errors
        );
        println!("  {preds_per_s:.0} predictions/s; batch latency p50 {p50:.1} ms, p99 {p99:.1} ms");
    }
    if let Some(e) = outcome.first_error {
        eprintln!("first error: {e}");
    }
    Ok(if ok == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

pub fn predict(
    url: &str,
    key: Option<String>,
    clients: usize,
    source: Option<&Path>,
    duration: f64,
    as_json: bool,
    config: &Config,
) -> Result<ExitCode> {
    check(clients, duration)?;
    let key = key_or_bail(key)?;
    let image: Vec<u8> = match source {
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        None => {
            let cfg = detective_vision::synth::SynthConfig {
                width: 640,
                height: 480,
                ..Default::default()
            };
            let frame = detective_vision::synth::generate(&cfg, 1, 0)?.image;
            detective_vision::encode::encode_jpeg(&frame, 90)?
        }
    };
    detective_vision::decode::probe(&image, &config.decode_limits()).context("the image to send")?;
    let endpoint = format!("{}/api/inference/predict", url.trim_end_matches('/'));
    let started = Instant::now();
    let outcome = runtime()?.block_on(async {
        let http = reqwest::Client::new();
        let image = bytes::Bytes::from(image);
        drive(clients, duration, move |_, _| {
            let http = http.clone();
            let endpoint = endpoint.clone();
            let key = key.clone();
            let image = image.clone();
            async move { succeeded(http.post(&endpoint).bearer_auth(&key).body(image).send().await).await }
        })
        .await
    });
    let elapsed = started.elapsed().as_secs_f64();
    let ok = outcome.latencies_ms.len();
    let (p50, p99) = (
        quantile(&outcome.latencies_ms, 0.50).unwrap_or(0.0),
        quantile(&outcome.latencies_ms, 0.99).unwrap_or(0.0),
    );
    if as_json {
        println!(
            "{}",
            json!({"url": url, "clients": clients, "seconds": elapsed, "requests": ok, "errors": outcome.errors,
                   "images_per_s": ok as f64 / elapsed, "p50_ms": p50, "p99_ms": p99})
        );
    } else {
        println!(
            "predict {url}: {clients} clients for {elapsed:.1} s: {ok} images ({:.1}/s), {} refused or failed; p50 {p50:.1} ms, p99 {p99:.1} ms",
            ok as f64 / elapsed,
            outcome.errors
        );
    }
    if let Some(e) = outcome.first_error {
        eprintln!("first error: {e}");
    }
    Ok(if ok == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
