//! `detective bench` through the real binary: the figures are printed and
//! consistent (their size depends on the machine, so only their shape is checked).

use crate::common::{detective, free_port, json_stdout, key_of, run, start_server, stderr};

#[test]
fn bench_infer_reports_the_serving_path_and_its_parts() {
    let d = tempfile::tempdir().unwrap();
    let o = run(detective(d.path())
        .env("DETECTIVE_CACHE_DIR", d.path().join("cache"))
        .args(["bench", "infer", "--warmup", "1", "--runs", "3", "--json"]));
    let v = json_stdout(&o);
    assert_eq!(v["imgsz"], 320);
    assert_eq!(v["timing"]["runs"], 3);
    let total = v["timing"]["median_ms"].as_f64().unwrap();
    let parts: f64 = ["preprocess", "inference", "postprocess"]
        .iter()
        .map(|k| v["median_ms"][k].as_f64().unwrap())
        .sum();
    assert!(total > 0.0 && parts > 0.0);
    assert!(v["timing"]["p95_ms"].as_f64().unwrap() >= total);
}

#[test]
fn bench_train_reports_a_step_split_into_its_phases() {
    let d = tempfile::tempdir().unwrap();
    let o = run(detective(d.path()).args([
        "bench", "train", "--model", "t", "--imgsz", "64", "--batch", "2", "--warmup", "0", "--steps", "1", "--json",
    ]));
    let v = json_stdout(&o);
    assert_eq!(v["scale"], "t");
    for k in ["forward_ms", "loss_ms", "backward_ms", "optimizer_ms"] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k} in {v}");
    }
    let o = run(detective(d.path()).args(["bench", "train", "--imgsz", "50"]));
    assert!(
        !o.status.success() && stderr(&o).contains("multiple of 32"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bench_train_times_the_segmenter_step_and_reports_its_memory() {
    let d = tempfile::tempdir().unwrap();
    let o = run(detective(d.path()).args([
        "bench", "train", "--task", "segment", "--imgsz", "32", "--batch", "2", "--warmup", "0", "--steps", "2",
        "--json",
    ]));
    let v = json_stdout(&o);
    assert_eq!((v["imgsz"].as_u64(), v["batch"].as_u64()), (Some(32), Some(2)), "{v}");
    assert_eq!(v["params"].as_u64(), Some(484_481), "UNetTiny: {v}");
    assert_eq!(v["step"]["runs"].as_u64(), Some(2));
    for k in ["forward_ms", "loss_ms", "backward_ms", "optimizer_ms", "peak_rss_mib"] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k} in {v}");
    }
    let o = run(detective(d.path()).args(["bench", "train", "--task", "segment", "--imgsz", "40"]));
    assert!(
        !o.status.success() && stderr(&o).contains("multiple of 16"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bench_edge_runs_the_pipeline_end_to_end_and_reports_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(detective(dir.path()).args([
        "bench",
        "edge",
        "--source",
        "synthetic://?fps=0&width=320&height=240",
        "--frames",
        "10",
        "--threads",
        "1",
        "--json",
    ]));
    let v = json_stdout(&o);
    assert_eq!(v["frames"], 10);
    assert!(v["produced"].as_u64().unwrap() > 0);
    assert_eq!(v["delivered"], v["produced"], "{v}");
    assert!(v["peak_rss_mib"].as_f64().unwrap() > 0.0 && v["fps"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_paced_ingest_run_counts_what_was_stored_and_times_the_dashboards_reads() {
    let d = tempfile::tempdir().unwrap();
    let key = key_of(d.path(), "data", "admin");
    let port = free_port();
    let mut server = start_server(d.path(), "data", port);
    let pid = server.id().to_string();
    let o = run(detective(d.path())
        .args(["bench", "ingest", "--url", &format!("http://127.0.0.1:{port}")])
        .args([
            "--key",
            &key,
            "--clients",
            "3",
            "--rate",
            "20",
            "--batch",
            "10",
            "--duration",
            "3",
            "--query-every",
            "1",
            "--server-pid",
            &pid,
            "--json",
        ]));
    let v = json_stdout(&o);
    let sent = v["sent"].as_i64().unwrap();
    // 3 cameras × 2 batches a second × 3 s, give or take a tick at the ends.
    assert!((120..=240).contains(&sent), "{v}");
    assert_eq!(v["stored"].as_i64(), Some(sent), "{v}");
    assert_eq!((v["lost"].as_i64(), v["errors"].as_i64()), (Some(0), Some(0)), "{v}");
    assert!(
        v["live_queries"].as_u64().unwrap() >= 2 && v["analytics_queries"].as_u64().unwrap() >= 2,
        "{v}"
    );
    assert!(v["rss_mib_peak"].as_f64().unwrap() > 0.0, "{v}");
    // A device key cannot read what was stored: refused before any load.
    let device = key_of(d.path(), "data", "device");
    let o = run(detective(d.path())
        .args(["bench", "ingest", "--url", &format!("http://127.0.0.1:{port}")])
        .args(["--key", &device, "--rate", "10", "--duration", "1"]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("operator or admin"), "{}", stderr(&o));
    let _ = server.kill();
    let _ = server.wait();
}
