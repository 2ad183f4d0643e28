//! `detective train` and `detective val` through the real binary on a tiny
//! synthetic dataset: the run folder Ultralytics users expect, validation of
//! settings, and an interrupted run resumed to the same result as an
//! uninterrupted one.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use crate::common::{detective, json_stdout, run, stderr, stdout};

pub(crate) fn synth(dir: &Path) {
    let o = run(detective(dir).args([
        "synth",
        "--task",
        "detect",
        "--count",
        "16",
        "--size",
        "64x64",
        "--out",
        "data",
        "--seed",
        "7",
        "--split",
        "0.75,0.25,0",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
}

pub(crate) fn train_args(out: &str) -> Vec<String> {
    [
        "train",
        "--data",
        "data",
        "--model",
        "n",
        "--epochs",
        "3",
        "--imgsz",
        "64",
        "--batch",
        "4",
        "--workers",
        "1",
        "--close-mosaic",
        "1",
        "--out",
        out,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn train_writes_results_csv_args_weights_and_plots_then_val_reads_the_best_weights() {
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    let o = run(detective(d.path()).args(train_args("run")));
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = d.path().join("run");
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    for col in [
        "epoch",
        "train/box_loss",
        "train/cls_loss",
        "train/dfl_loss",
        "metrics/precision(B)",
        "metrics/recall(B)",
        "metrics/mAP50(B)",
        "metrics/mAP50-95(B)",
        "val/box_loss",
        "lr/pg0",
    ] {
        assert!(header.split(',').any(|c| c == col), "{col} missing in {header}");
    }
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3);
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<f64> = row.split(',').map(|c| c.parse().unwrap()).collect();
        assert_eq!(cells[0] as usize, i + 1);
        // tiny 64-px defects may give no positive anchor (box and DFL loss 0); the class loss always counts
        assert!(
            cells[2..5].iter().all(|x| x.is_finite() && *x >= 0.0) && cells[3] > 0.0,
            "losses: {row}"
        );
        assert!(cells[10] > 0.0, "validation class loss computed: {row}");
    }
    let args = std::fs::read_to_string(dir.join("args.yaml")).unwrap();
    assert!(args.contains("epochs: 3") && args.contains("imgsz: 64") && args.contains("close_mosaic: 1"));
    for f in [
        "weights/best.bpk",
        "weights/best.json",
        "weights/last.bpk",
        "weights/last.state",
        "results.svg",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("weights/best.json")).unwrap()).unwrap();
    assert_eq!(meta["names"].as_array().unwrap().len(), 4);
    assert_eq!(meta["imgsz"], 64);

    // val and predict read our checkpoint
    let o = run(detective(d.path()).args(["val", "--model", "run/weights/best.bpk", "--data", "data", "--json"]));
    let v = json_stdout(&o);
    for k in ["precision", "recall", "map50", "map50_95"] {
        let x = v[k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x), "{k} = {x}");
    }
    assert_eq!(v["per_class"].as_array().map(|a| a.is_empty()), Some(false));
    let o = run(detective(d.path()).args([
        "predict",
        "--model",
        "run/weights/best.bpk",
        "--source",
        "data/images/val",
        "--json",
        "--conf",
        "0.001",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 4);

    // fine-tuning starts from a checkpoint
    let mut ft = train_args("ft");
    ft.extend(["--weights".into(), "run/weights/best.bpk".into()]);
    let i = ft.iter().position(|a| a == "--epochs").unwrap();
    ft[i + 1] = "1".into();
    let o = run(detective(d.path()).args(&ft));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.path().join("ft/weights/best.bpk").is_file());

    // an existing run is not overwritten by accident
    let o = run(detective(d.path()).args(train_args("run")));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
}

#[test]
fn bad_training_settings_are_refused_before_any_work() {
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    for (flag, value, needle) in [
        ("--imgsz", "100", "imgsz"),
        ("--batch", "0", "batch"),
        ("--epochs", "0", "epochs"),
    ] {
        let mut args = train_args("bad");
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1] = value.to_string();
        let o = run(detective(d.path()).args(&args));
        assert!(!o.status.success(), "{flag} {value} accepted");
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
        assert!(!d.path().join("bad/results.csv").exists());
    }
    // an unknown device, and CUDA in a build without it: the message says how to get one
    let mut devices = vec![("tpu", "expected cpu, cuda")];
    if !cfg!(feature = "cuda") {
        devices.push(("cuda:0", "--features cuda"));
    }
    for (device, needle) in devices {
        let mut args = train_args("bad");
        args.extend(["--device".to_string(), device.to_string()]);
        let o = run(detective(d.path()).args(&args));
        assert!(!o.status.success(), "--device {device} accepted");
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
        assert!(!d.path().join("bad/results.csv").exists());
    }
    let o = run(detective(d.path()).args(["train", "--data", "nowhere", "--epochs", "1", "--out", "x"]));
    assert!(!o.status.success());
    let o = run(detective(d.path()).args(["train", "--resume", "--out", "nothing-here"]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nothing to resume"), "{}", stderr(&o));
}

/// Ctrl-C stops at the next optimiser step and saves; `--resume` then reaches
/// exactly the weights and losses of a run that was never interrupted.
#[test]
fn interrupted_run_resumes_to_the_same_result_as_an_uninterrupted_one() {
    resumes_to_the_same_result(&[]);
}

#[test]
fn interrupted_fine_tuning_from_an_ultralytics_checkpoint_resumes_to_the_same_result() {
    let pt = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models/ultralytics-yolov8n-neu-e1.pt");
    resumes_to_the_same_result(&["--weights", pt.to_str().unwrap()]);
}

/// Trains 3 epochs straight and 3 epochs cut by Ctrl-C after the first and
/// resumed; `extra` goes to both runs.
fn resumes_to_the_same_result(extra: &[&str]) {
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    let o = run(detective(d.path()).args(train_args("full")).args(extra));
    assert!(o.status.success(), "{}", stderr(&o));

    let mut child = detective(d.path())
        .args(train_args("cut"))
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let err = child.stderr.take().unwrap();
    let mut log = String::new();
    for line in BufReader::new(err).lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.trim_start().starts_with("1/3") && line.contains("mAP50") {
            let ok = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status()
                .unwrap();
            assert!(ok.success());
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(log.contains("--resume"), "{log}");
    assert!(d.path().join("cut/weights/last.state").is_file());
    let o = run(detective(d.path()).args(["train", "--resume", "--out", "cut"]));
    assert!(o.status.success(), "{}", stderr(&o));

    let rows = |run: &str| -> Vec<Vec<String>> {
        std::fs::read_to_string(d.path().join(run).join("results.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(String::from).collect())
            .collect()
    };
    let (a, b) = (rows("full"), rows("cut"));
    assert_eq!(a.len(), 3);
    assert_eq!(b.len(), 3);
    // burnpack files carry random parameter ids: compare the tensors themselves
    let device = burn::tensor::Device::flex();
    let weights = |run: &str| {
        let (m, _) =
            detective_ml::checkpoint::load_model(&d.path().join(run).join("weights/last.bpk"), &device).unwrap();
        detective_ml::train::params::read_params(&m).1
    };
    assert!(weights("full") == weights("cut"), "final weights differ after resume");
    for (ra, rb) in a.iter().zip(&b) {
        // every column but the wall-clock time: training losses, metrics and learning
        // rates exactly; validation losses up to the last printed digit (parallel sums)
        assert_eq!(ra[0], rb[0]);
        assert_eq!(ra[2..9], rb[2..9], "rows differ:\n{ra:?}\n{rb:?}");
        assert_eq!(ra[12..], rb[12..], "rows differ:\n{ra:?}\n{rb:?}");
        for k in 9..12 {
            let (x, y): (f64, f64) = (ra[k].parse().unwrap(), rb[k].parse().unwrap());
            assert!((x - y).abs() <= 2e-5, "column {k}: {x} vs {y}");
        }
    }
}

/// `map50` of the JSON line a finished `train` prints, and its stderr.
fn trained(dir: &Path, extra: &[&str], out: &str) -> (f64, String) {
    let mut args = vec![
        "train",
        "--data",
        "parts",
        "--model",
        "t",
        "--epochs",
        "2",
        "--imgsz",
        "160",
        "--batch",
        "8",
        "--workers",
        "1",
        "--close-mosaic",
        "0",
        "--no-plots",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    let o = run(detective(dir).args(&args));
    let v = json_stdout(&o);
    (v["map50"].as_f64().unwrap(), stderr(&o))
}

#[test]
fn a_detector_starts_from_the_pretrained_prior_unless_none_is_asked_for() {
    let d = tempfile::tempdir().unwrap();
    let o = run(detective(d.path()).args([
        "synth",
        "--count",
        "40",
        "--size",
        "160x160",
        "--seed",
        "21",
        "--out",
        "parts",
        "--split",
        "0.6,0.4,0",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let (prior, log) = trained(d.path(), &[], "from-prior");
    assert!(log.contains("start: the pretrained defect prior of scale t"), "{log}");
    let (scratch, log) = trained(d.path(), &["--weights", "none"], "from-scratch");
    assert!(log.contains("start: random weights (--weights none)"), "{log}");
    // two epochs on 24 parts: random weights find next to nothing, the prior finds most
    assert!(
        prior > 0.3 && prior > scratch + 0.2,
        "prior {prior} against scratch {scratch}"
    );
    // scale s has no prior: it says so and starts from random weights
    let o = run(detective(d.path()).args([
        "train",
        "--data",
        "parts",
        "--model",
        "s",
        "--epochs",
        "1",
        "--imgsz",
        "64",
        "--batch",
        "8",
        "--workers",
        "1",
        "--no-val",
        "--no-plots",
        "--out",
        "s",
    ]));
    assert!(stderr(&o).contains("scale s has no pretrained prior"), "{}", stderr(&o));
}
