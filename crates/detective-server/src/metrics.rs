//! This process's histograms and labelled counters for `/metrics`: request latency
//! per route, inference latency per model, ingest batch sizes, predictions and
//! defects ingested per camera and class. Lock-free counts on fixed buckets
//! (Prometheus' cumulative `le` buckets are summed at exposition), label sets kept
//! under a cap so that a client inventing camera names cannot grow them without
//! bound (the surplus is counted under `other`).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most label sets one family keeps; later ones are counted under `other`.
pub const MAX_LABEL_SETS: usize = 256;

/// Latency buckets in seconds (1 ms to 10 s).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Ingest batch sizes (predictions per `POST /api/log`).
pub const BATCH_BUCKETS: &[f64] = &[1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// One histogram: a count per bucket (not cumulative), the count and the sum.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in millionths, so that it fits an atomic integer.
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: f64) {
        let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((v * 1e6) as u64, Ordering::Relaxed);
    }

    /// The `_bucket`, `_sum` and `_count` lines with `labels` (`k="v",…` or empty).
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {count}", braces(labels));
    }
}

/// Escapes a label value for the text format.
pub(crate) fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The label text `k1="v1",k2="v2"`.
fn label_text(keys: &[&str], values: &[String]) -> String {
    keys.iter()
        .zip(values)
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The key of `values` in a family's `series`: the values themselves, or `other` for
/// each label once the family holds [`MAX_LABEL_SETS`] other sets.
fn series_key<V>(series: &HashMap<Vec<String>, V>, values: &[&str]) -> Vec<String> {
    let key: Vec<String> = values.iter().map(|s| s.to_string()).collect();
    if !series.contains_key(&key) && series.len() >= MAX_LABEL_SETS {
        return vec!["other".to_string(); values.len()];
    }
    key
}

/// A family of histograms by label values.
#[derive(Debug)]
pub struct HistogramFamily {
    keys: &'static [&'static str],
    bounds: &'static [f64],
    series: Mutex<HashMap<Vec<String>, std::sync::Arc<Histogram>>>,
}

impl HistogramFamily {
    pub fn new(keys: &'static [&'static str], bounds: &'static [f64]) -> Self {
        HistogramFamily {
            keys,
            bounds,
            series: Mutex::new(HashMap::new()),
        }
    }

    pub fn observe(&self, values: &[&str], v: f64) {
        let h = {
            let Ok(mut m) = self.series.lock() else { return };
            let key = series_key(&m, values);
            m.entry(key)
                .or_insert_with(|| std::sync::Arc::new(Histogram::new(self.bounds)))
                .clone()
        };
        h.observe(v);
    }

    pub fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let Ok(m) = self.series.lock() else { return };
        let mut rows: Vec<_> = m.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        for (values, h) in rows {
            h.write(out, name, &label_text(self.keys, values));
        }
    }
}

/// A family of counters by label values.
#[derive(Debug)]
pub struct CounterFamily {
    keys: &'static [&'static str],
    series: Mutex<HashMap<Vec<String>, u64>>,
}

impl CounterFamily {
    pub fn new(keys: &'static [&'static str]) -> Self {
        CounterFamily {
            keys,
            series: Mutex::new(HashMap::new()),
        }
    }

    pub fn add(&self, values: &[&str], n: u64) {
        let Ok(mut m) = self.series.lock() else { return };
        let key = series_key(&m, values);
        *m.entry(key).or_insert(0) += n;
    }

    pub fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        let Ok(m) = self.series.lock() else { return };
        let mut rows: Vec<_> = m.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        for (values, n) in rows {
            let _ = writeln!(out, "{name}{{{}}} {n}", label_text(self.keys, values));
        }
    }
}

/// Every histogram and labelled counter of this process.
#[derive(Debug)]
pub struct Metrics {
    /// By matched route (`/api/models/{name}/versions`, never the raw path) and method.
    pub http: HistogramFamily,
    /// Engine time per prediction, by model (`name@version` or the file's name).
    pub inference: HistogramFamily,
    pub ingest_batch: HistogramFamily,
    /// Predictions stored through `POST /api/log`, by camera.
    pub ingested: CounterFamily,
    pub ingested_defective: CounterFamily,
    pub ingested_uncertain: CounterFamily,
    /// Detections stored, by class name.
    pub ingested_defects: CounterFamily,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            http: HistogramFamily::new(&["route", "method"], LATENCY_BUCKETS),
            inference: HistogramFamily::new(&["model"], LATENCY_BUCKETS),
            ingest_batch: HistogramFamily::new(&[], BATCH_BUCKETS),
            ingested: CounterFamily::new(&["camera"]),
            ingested_defective: CounterFamily::new(&["camera"]),
            ingested_uncertain: CounterFamily::new(&["camera"]),
            ingested_defects: CounterFamily::new(&["class"]),
        }
    }
}

impl Metrics {
    /// The exposition of everything here.
    pub fn write(&self, out: &mut String) {
        self.http.write(
            out,
            "detective_http_request_duration_seconds",
            "Time to answer an HTTP request, by route and method (this process).",
        );
        self.inference.write(
            out,
            "detective_inference_duration_seconds",
            "Engine time of one prediction served by this process, by model.",
        );
        self.ingest_batch.write(
            out,
            "detective_ingest_batch_size",
            "Predictions per POST /api/log batch stored by this process.",
        );
        self.ingested.write(
            out,
            "detective_ingested_predictions_total",
            "Predictions (frames) stored by this process, by camera.",
        );
        self.ingested_defective.write(
            out,
            "detective_ingested_defective_total",
            "Stored predictions with at least one defect, by camera.",
        );
        self.ingested_uncertain.write(
            out,
            "detective_ingested_uncertain_total",
            "Stored predictions flagged uncertain, by camera.",
        );
        self.ingested_defects
            .write(out, "detective_ingested_defects_total", "Stored detections, by class.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_writes_cumulative_buckets_sum_and_count() {
        let f = HistogramFamily::new(&["route"], &[0.1, 1.0]);
        f.observe(&["/a"], 0.05);
        f.observe(&["/a"], 0.5);
        f.observe(&["/a"], 7.0);
        let mut out = String::new();
        f.write(&mut out, "m", "help");
        assert!(out.contains("m_bucket{route=\"/a\",le=\"0.1\"} 1\n"), "{out}");
        assert!(out.contains("m_bucket{route=\"/a\",le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("m_bucket{route=\"/a\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("m_sum{route=\"/a\"} 7.55\n"), "{out}");
        assert!(out.contains("m_count{route=\"/a\"} 3\n"), "{out}");
    }

    #[test]
    fn label_sets_beyond_the_cap_are_counted_as_other() {
        let c = CounterFamily::new(&["camera"]);
        for i in 0..MAX_LABEL_SETS + 10 {
            c.add(&[&format!("cam{i}")], 1);
        }
        let mut out = String::new();
        c.write(&mut out, "c", "help");
        assert_eq!(out.lines().filter(|l| l.starts_with("c{")).count(), MAX_LABEL_SETS + 1);
        assert!(out.contains("c{camera=\"other\"} 10\n"), "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        let c = CounterFamily::new(&["class"]);
        c.add(&["a\"b\\c"], 2);
        let mut out = String::new();
        c.write(&mut out, "c", "h");
        assert!(out.contains(r#"c{class="a\"b\\c"} 2"#), "{out}");
    }
}
