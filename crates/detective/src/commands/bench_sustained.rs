//! `detective bench ingest --rate R`: a sustained, paced load like a line of
//! cameras. Each of N clients (a camera) sends R predictions a second to
//! `POST /api/log`, one batch every `batch / R` seconds, for the whole run,
//! while a reader asks for what the dashboard's Live page and Analytics show
//! (`/api/inspection-logs`, `/api/analytics/summary`) every few seconds. At the
//! end it checks that every acknowledged prediction was stored once (the
//! server's `predictions_total` before and after) and, given the server's
//! process id, how its resident memory moved after the warm-up.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use detective_core::stats::quantile;
use serde_json::json;
use tokio::sync::Mutex;

use crate::commands::storage::runtime;

/// What to run.
pub struct Sustained {
    pub url: String,
    pub key: String,
    pub clients: usize,
    /// Predictions per second per client.
    pub rate: f64,
    pub batch: usize,
    pub duration: f64,
    /// Seconds between the reader's queries (0: no reader).
    pub query_every: f64,
    /// The server's process, for its resident memory.
    pub server_pid: Option<u32>,
    pub json: bool,
}

/// The server's resident memory in MiB.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

async fn predictions_total(http: &reqwest::Client, url: &str, key: &str) -> Result<i64> {
    let m: serde_json::Value = http
        .get(format!("{url}/api/metrics"))
        .bearer_auth(key)
        .send()
        .await?
        .error_for_status()
        .context("GET /api/metrics (the key must be able to read: operator or admin)")?
        .json()
        .await?;
    m["predictions_total"]
        .as_i64()
        .context("no predictions_total in /api/metrics")
}

#[derive(Default)]
struct Tally {
    latencies_ms: Vec<f64>,
    sent: usize,
    errors: usize,
    late: usize,
    first_error: Option<String>,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

pub fn run(o: Sustained) -> Result<ExitCode> {
    if !(o.rate.is_finite() && o.rate > 0.0 && o.rate <= 10_000.0) {
        bail!("--rate must be within 0..10000 predictions per second per client");
    }
    if !(o.query_every.is_finite() && o.query_every >= 0.0) {
        bail!("--query-every must be 0 (no reader) or more seconds");
    }
    let url = o.url.trim_end_matches('/').to_string();
    let period = Duration::from_secs_f64(o.batch as f64 / o.rate);
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    runtime()?.block_on(async move {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        let before = predictions_total(&http, &url, &o.key).await?;
        let tally = Arc::new(Mutex::new(Tally::default()));
        let started = Instant::now();
        let end = started + Duration::from_secs_f64(o.duration);
        let mut tasks = Vec::new();
        for c in 0..o.clients {
            let (http, url, key, tally) = (http.clone(), url.clone(), o.key.clone(), tally.clone());
            let camera = format!("line-{}-cam{c}", &run_id[..6]);
            let batch = o.batch;
            // Cameras start spread over one period, as a line's do.
            let offset = period.mul_f64(c as f64 / o.clients as f64);
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut n = 0usize;
                loop {
                    tick.tick().await;
                    if Instant::now() >= end {
                        break;
                    }
                    let body = json!({"camera_id": camera, "predictions": super::bench_http::predictions(batch, n)});
                    let t = Instant::now();
                    let r = http.post(format!("{url}/api/log")).bearer_auth(&key).json(&body).send().await;
                    let took = ms(t);
                    let outcome = match r {
                        Ok(r) if r.status().is_success() => Ok(()),
                        Ok(r) => Err(format!("{}: {}", r.status(), r.text().await.unwrap_or_default())),
                        Err(e) => Err(e.to_string()),
                    };
                    let mut t = tally.lock().await;
                    match outcome {
                        Ok(()) => {
                            t.latencies_ms.push(took);
                            t.sent += batch;
                            if took > period.as_secs_f64() * 1000.0 {
                                t.late += 1;
                            }
                        }
                        Err(e) => {
                            t.errors += 1;
                            t.first_error.get_or_insert(e);
                        }
                    }
                    n += 1;
                }
            }));
        }
        // The reader: the Live page's list and the analytics summary.
        let reader = (o.query_every > 0.0).then(|| {
            let (http, url, key) = (http.clone(), url.clone(), o.key.clone());
            let every = Duration::from_secs_f64(o.query_every);
            tokio::spawn(async move {
                let (mut live, mut analytics, mut failures) = (Vec::new(), Vec::new(), 0usize);
                while Instant::now() < end {
                    for (path, into) in [
                        ("/api/inspection-logs?limit=50", &mut live),
                        ("/api/analytics/summary", &mut analytics),
                    ] {
                        let t = Instant::now();
                        match http.get(format!("{url}{path}")).bearer_auth(&key).send().await {
                            Ok(r) if r.status().is_success() => {
                                let _ = r.bytes().await;
                                into.push(ms(t));
                            }
                            _ => failures += 1,
                        }
                    }
                    tokio::time::sleep(every).await;
                }
                (live, analytics, failures)
            })
        });
        // The server's memory, every 5 s.
        let rss = o.server_pid.map(|pid| {
            tokio::spawn(async move {
                let mut samples = Vec::new();
                while Instant::now() < end {
                    if let Some(m) = rss_mib(pid) {
                        samples.push((started.elapsed().as_secs_f64(), m));
                    }
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                samples
            })
        });
        for t in tasks {
            let _ = t.await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let after = predictions_total(&http, &url, &o.key).await?;
        let (mut live, mut analytics, read_failures) = match reader {
            Some(r) => r.await.unwrap_or_default(),
            None => Default::default(),
        };
        let rss = match rss {
            Some(r) => r.await.unwrap_or_default(),
            None => Vec::new(),
        };
        let mut t = tally.lock().await;
        t.latencies_ms.sort_by(f64::total_cmp);
        live.sort_by(f64::total_cmp);
        analytics.sort_by(f64::total_cmp);
        let stored = after - before;
        let lost = t.sent as i64 - stored;
        let q = |v: &[f64], p: f64| quantile(v, p).unwrap_or(0.0);
        // Memory after the first minute (warm-up) against the end and the peak.
        let warm = rss.iter().find(|(s, _)| *s >= 60.0_f64.min(elapsed / 2.0)).map(|x| x.1);
        let last = rss.last().map(|x| x.1);
        let peak = rss.iter().map(|x| x.1).fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        let summary = json!({
            "url": url, "clients": o.clients, "rate_per_client": o.rate, "batch": o.batch, "seconds": elapsed,
            "sent": t.sent, "stored": stored, "lost": lost, "errors": t.errors, "late_batches": t.late,
            "predictions_per_s": t.sent as f64 / elapsed,
            "ingest_p50_ms": q(&t.latencies_ms, 0.5), "ingest_p99_ms": q(&t.latencies_ms, 0.99),
            "ingest_max_ms": t.latencies_ms.last().copied().unwrap_or(0.0),
            "live_queries": live.len(), "live_p50_ms": q(&live, 0.5), "live_p99_ms": q(&live, 0.99),
            "analytics_queries": analytics.len(), "analytics_p50_ms": q(&analytics, 0.5), "analytics_p99_ms": q(&analytics, 0.99),
            "read_failures": read_failures,
            "rss_mib_after_warmup": warm, "rss_mib_end": last, "rss_mib_peak": peak,
        });
        if o.json {
            println!("{summary}");
        } else {
            println!(
                "sustained ingest {url}: {} clients × {} predictions/s (batches of {}) for {elapsed:.0} s",
                o.clients, o.rate, o.batch
            );
            println!(
                "  sent {} ({:.0}/s), stored {stored}, lost {lost}, errors {}, batches later than their period {}",
                t.sent,
                t.sent as f64 / elapsed,
                t.errors,
                t.late
            );
            println!(
                "  ingest batch latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                q(&t.latencies_ms, 0.5),
                q(&t.latencies_ms, 0.99),
                t.latencies_ms.last().copied().unwrap_or(0.0)
            );
            println!(
                "  live list p50 {:.1} / p99 {:.1} ms ({} queries); analytics summary p50 {:.1} / p99 {:.1} ms ({}); {read_failures} failed reads",
                q(&live, 0.5),
                q(&live, 0.99),
                live.len(),
                q(&analytics, 0.5),
                q(&analytics, 0.99),
                analytics.len()
            );
            if let (Some(w), Some(l), Some(p)) = (warm, last, peak) {
                println!("  server RSS {w:.0} MiB after warm-up, {l:.0} MiB at the end, peak {p:.0} MiB");
            }
        }
        if let Some(e) = &t.first_error {
            eprintln!("first error: {e}");
        }
        Ok(if lost == 0 && t.sent > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    })
}
