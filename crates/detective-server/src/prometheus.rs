//! `GET /metrics`: the server's figures in the Prometheus text exposition
//! format — the prediction log's totals and rates (shared by every replica,
//! from the database), this process's counters, and per-camera gauges from the
//! agents' reports.

use std::fmt::Write;

use detective_store::predictions::{CameraStatus, LogStats};

use crate::metrics::{Metrics, escape};
use crate::state::Counters;

/// Gauges read when scraped: this process's predictor pool, and what every replica
/// shares from the database (queues, workers, drift, Production models).
#[derive(Debug, Default, Clone)]
pub struct Gauges {
    /// Predictions running and waiting in this process's detector pool.
    pub predict_running: usize,
    pub predict_waiting: usize,
    /// Jobs waiting per queue (`training_detect`, …).
    pub queue_depth: Vec<(String, i64)>,
    pub workers_alive: i64,
    /// Share of features that drifted in the latest drift report.
    pub drift_share: Option<f64>,
    /// (task, model name, version) of each task's Production version.
    pub production: Vec<(String, String, i64)>,
}

/// The exposition text of `s`, `c`, `g` and `m`.
pub fn exposition(s: &LogStats, c: &Counters, g: &Gauges, m: &Metrics) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    metric(
        "detective_predictions_total",
        "counter",
        "Predictions stored in the log.",
        s.predictions_total as f64,
    );
    metric(
        "detective_predictions_today",
        "gauge",
        "Predictions captured today (UTC).",
        s.predictions_today as f64,
    );
    metric(
        "detective_defect_rate_today",
        "gauge",
        "Defective share of today's predictions.",
        s.defect_rate_today,
    );
    metric(
        "detective_ingest_rate_per_second",
        "gauge",
        "Predictions received per second over the last minute.",
        s.ingest_rate_per_s,
    );
    metric(
        "detective_uncertain_queue",
        "gauge",
        "Uncertain predictions waiting for a label.",
        s.uncertain_queue as f64,
    );
    metric(
        "detective_log_batches_total",
        "counter",
        "POST /api/log batches accepted by this process.",
        Counters::get(&c.log_batches) as f64,
    );
    metric(
        "detective_predict_requests_total",
        "counter",
        "Predictions served by this process.",
        Counters::get(&c.predict_requests) as f64,
    );
    metric(
        "detective_predict_rejected_total",
        "counter",
        "Predict requests refused because the pool was full.",
        Counters::get(&c.predict_rejected_busy) as f64,
    );
    metric(
        "detective_uploads_total",
        "counter",
        "Images stored through uploads by this process.",
        Counters::get(&c.uploads) as f64,
    );
    metric(
        "detective_predict_running",
        "gauge",
        "Predictions running now in this process's detector pool.",
        g.predict_running as f64,
    );
    metric(
        "detective_predict_queue_depth",
        "gauge",
        "Predict requests waiting for a slot in this process's detector pool.",
        g.predict_waiting as f64,
    );
    metric(
        "detective_workers_alive",
        "gauge",
        "Training workers seen polling or heartbeating in the last 30 s.",
        g.workers_alive as f64,
    );
    if let Some(d) = g.drift_share {
        metric(
            "detective_drift_share",
            "gauge",
            "Share of image features that drifted in the latest drift report.",
            d,
        );
    }
    family(
        &mut out,
        "detective_job_queue_depth",
        "gauge",
        "Jobs waiting, per queue.",
        g.queue_depth
            .iter()
            .map(|(kind, n)| (format!("kind=\"{}\"", escape(kind)), *n as f64)),
    );
    family(
        &mut out,
        "detective_production_model_version",
        "gauge",
        "Version in Production, per task (the value is the version).",
        g.production.iter().map(|(task, name, version)| {
            (
                format!("task=\"{}\",model=\"{}\"", escape(task), escape(name)),
                *version as f64,
            )
        }),
    );
    m.write(&mut out);
    type CameraFigure = fn(&CameraStatus) -> Option<f64>;
    let per_camera: [(&str, &str, &str, CameraFigure); 5] = [
        (
            "detective_camera_fps",
            "gauge",
            "Frames per second reported by the camera's agent.",
            |c| c.fps,
        ),
        (
            "detective_camera_inference_ms",
            "gauge",
            "Inference time reported by the camera's agent.",
            |c| c.inference_ms,
        ),
        (
            "detective_edge_spool_depth",
            "gauge",
            "How full the camera agent's spool was at its last report, in percent of its quota.",
            |c| c.spool_percent,
        ),
        (
            "detective_camera_dropped_frames_total",
            "counter",
            "Frames the camera agent's pipeline dropped since it started, as last reported.",
            |c| c.dropped_frames,
        ),
        (
            "detective_camera_clock_skew_seconds",
            "gauge",
            "How far the camera agent's clock was ahead of the server's (behind: negative) at its last report.",
            |c| c.clock_skew_s,
        ),
    ];
    for (name, kind, help, figure) in per_camera {
        let rows = s
            .cameras
            .iter()
            .filter_map(|cam| figure(cam).map(|v| (format!("camera=\"{}\"", escape(&cam.id)), v)));
        family(&mut out, name, kind, help, rows);
    }
    family(
        &mut out,
        "detective_camera_model",
        "gauge",
        "The model (name@version) of the camera's latest prediction (value 1).",
        s.cameras.iter().filter_map(|cam| {
            let m = cam.model.as_ref()?;
            Some((format!("camera=\"{}\",model=\"{}\"", escape(&cam.id), escape(m)), 1.0))
        }),
    );
    out
}

/// One metric family: its HELP and TYPE lines, then a line per (label text, value).
fn family(out: &mut String, name: &str, kind: &str, help: &str, rows: impl IntoIterator<Item = (String, f64)>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in rows {
        let _ = writeln!(out, "{name}{{{labels}}} {v}");
    }
}
