//! `GET /metrics`: the server's figures in the Prometheus text exposition
//! format — the prediction log's totals and rates (shared by every replica,
//! from the database), this process's counters, and per-camera gauges from the
//! agents' reports.

use std::fmt::Write;

use detective_store::predictions::{CameraStatus, LogStats};

use crate::state::Counters;

/// The exposition text of `s` and `c`.
pub fn exposition(s: &LogStats, c: &Counters) -> String {
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
    type CameraFigure = fn(&CameraStatus) -> Option<f64>;
    let per_camera: [(&str, &str, CameraFigure); 2] = [
        (
            "detective_camera_fps",
            "Frames per second reported by the camera's agent.",
            |c| c.fps,
        ),
        (
            "detective_camera_inference_ms",
            "Inference time reported by the camera's agent.",
            |c| c.inference_ms,
        ),
    ];
    for (name, help, figure) in per_camera {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for cam in &s.cameras {
            if let Some(v) = figure(cam) {
                let _ = writeln!(out, "{name}{{camera=\"{}\"}} {v}", cam.id);
            }
        }
    }
    out
}
