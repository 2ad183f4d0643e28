//! `detective train --task segment` and `detective val` on a segmenter, through the
//! real binary on a tiny synthetic segmentation set: the run folder (args.yaml,
//! results.csv with Dice/IoU, a checkpoint per epoch, last and best), validation
//! picked from the checkpoint's metadata, and clear refusals.

use std::path::Path;

use crate::common::{detective, json_stdout, run, stderr, stdout};

/// A synthetic segmentation set in `dir/data`: `count` images of `size`
/// (`WxH`), split by `split` (train,val,test shares).
fn synth_set(dir: &Path, count: &str, size: &str, seed: &str, split: &str) {
    let o = run(detective(dir).args([
        "synth", "--task", "segment", "--count", count, "--size", size, "--out", "data", "--seed", seed, "--split",
        split,
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
}

fn synth(dir: &Path) {
    synth_set(dir, "20", "64x48", "3", "0.7,0.3,0");
}

#[test]
fn segment_training_writes_a_checkpoint_per_epoch_and_val_reports_dice_and_iou() {
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    let o = run(detective(d.path()).args([
        "train", "--task", "segment", "--data", "data", "--epochs", "2", "--imgsz", "64", "--batch", "4", "--out",
        "run",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let run_dir = d.path().join("run");
    for f in [
        "args.yaml",
        "train_batch0.png",
        "results.csv",
        "weights/epoch_1.bpk",
        "weights/epoch_1.json",
        "weights/epoch_2.bpk",
        "weights/last.bpk",
        "weights/best.bpk",
        "weights/best.json",
    ] {
        assert!(run_dir.join(f).is_file(), "{f} missing");
    }
    let preview = std::fs::read(run_dir.join("train_batch0.png")).unwrap();
    assert!(preview.starts_with(b"\x89PNG"), "train_batch0.png is not a PNG");
    let csv = std::fs::read_to_string(run_dir.join("results.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("epoch,time,train/bce_loss,train/dice_loss,metrics/dice,metrics/iou"));
    let loss: f64 = lines[1].split(',').nth(2).unwrap().parse().unwrap();
    assert!(loss.is_finite() && loss > 0.0, "{csv}");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("weights/best.json")).unwrap()).unwrap();
    assert_eq!(meta["task"], "segment");
    assert_eq!(meta["imgsz"], 64);

    // val finds out from the checkpoint that it is a segmenter
    let val_json = |model: &str| {
        json_stdout(&run(
            detective(d.path()).args(["val", "--model", model, "--data", "data", "--split", "val", "--json"])
        ))
    };
    let v = val_json("run/weights/best.bpk");
    assert_eq!(v["task"], "segment");
    assert_eq!(v["images"], 6);
    for k in [
        "dice",
        "iou",
        "dice_pixels",
        "iou_pixels",
        "best_dice",
        "best_threshold",
        "dice_defects",
        "clean_ok",
        "fitness",
        "best_fitness",
        "best_dice_defects",
        "best_clean_ok",
    ] {
        let x = v[k].as_f64().unwrap_or(f64::NAN);
        assert!((0.0..=1.0).contains(&x), "{k} = {x}");
    }
    // image-level AUROC needs clean and defective images in the split
    assert!(
        v["auroc"].is_null() || v["auroc"].as_f64().is_some_and(|a| (0.0..=1.0).contains(&a)),
        "{v}"
    );
    // the saved model predicts at the threshold that validation chose by fitness
    // (the run validated on the same split with the same weights)
    assert_eq!(meta["threshold"].as_f64(), v["best_threshold"].as_f64(), "{meta} {v}");
    assert_eq!(v["threshold"], v["best_threshold"]);
    // its ONNX export validates to the same figures in ONNX Runtime
    let o = run(detective(d.path()).args(["export", "--model", "run/weights/best.bpk"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("verified in ONNX Runtime"), "{}", stdout(&o));
    let w = val_json("run/weights/best.onnx");
    assert_eq!(w["backend"], "onnxruntime");
    for k in ["dice", "iou", "dice_pixels"] {
        let (a, b) = (v[k].as_f64().unwrap(), w[k].as_f64().unwrap());
        assert!((a - b).abs() < 1e-3, "{k}: burn {a}, onnx {b}");
    }
    // predict writes heatmap, overlay and mask per image
    let o = run(detective(d.path()).args([
        "predict",
        "--model",
        "run/weights/best.bpk",
        "--source",
        "data/images/val",
        "--save",
        "pred",
        "--json",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 6);
    assert!(
        lines
            .iter()
            .all(|l| l["detections"].is_array() && l["defect_pixels"].is_u64())
    );
    let saved = std::fs::read_dir(d.path().join("pred")).unwrap().count();
    assert_eq!(saved, 18, "heatmap, overlay and mask for each of 6 images");
    // a video of the same images gives, frame by frame, the same regions, and
    // --save writes a video of the overlays
    {
        use detective_edge::{VideoReader, VideoWriter};
        use detective_vision::DecodeLimits;
        let mut names: Vec<_> = std::fs::read_dir(d.path().join("data/images/val"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        let by_image: std::collections::BTreeMap<String, serde_json::Value> = lines
            .iter()
            .map(|l| (l["image"].as_str().unwrap().to_string(), l["detections"].clone()))
            .collect();
        let clip = d.path().join("val.mkv");
        let mut w = VideoWriter::create(&clip, 64, 48, 5.0).unwrap();
        for n in &names {
            w.write(&detective_vision::decode_file(n, &DecodeLimits::default()).unwrap())
                .unwrap();
        }
        w.finish().unwrap();
        let o = run(detective(d.path()).args([
            "predict",
            "--model",
            "run/weights/best.bpk",
            "--source",
            clip.to_str().unwrap(),
            "--save",
            "predv",
            "--json",
        ]));
        assert!(o.status.success(), "{}", stderr(&o));
        let frames: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(frames.len(), names.len());
        for (i, (f, n)) in frames.iter().zip(&names).enumerate() {
            assert_eq!(f["frame"], i as u64);
            let image = by_image
                .iter()
                .find(|(k, _)| k.ends_with(n.file_name().unwrap().to_str().unwrap()))
                .unwrap()
                .1;
            assert_eq!(&f["detections"], image, "frame {i}");
        }
        let out = d.path().join("predv/val.mp4");
        let n = VideoReader::open(out.to_str().unwrap(), &DecodeLimits::default())
            .unwrap()
            .count();
        assert_eq!(n, names.len());
    }
    // training can continue from a checkpoint
    let o = run(detective(d.path()).args([
        "train",
        "--task",
        "segment",
        "--data",
        "data",
        "--epochs",
        "1",
        "--imgsz",
        "64",
        "--batch",
        "4",
        "--weights",
        "run/weights/best.bpk",
        "--patch",
        "32",
        "--crop-min",
        "0.75",
        "--dice",
        "batch",
        "--out",
        "run2",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.path().join("run2/weights/epoch_1.bpk").is_file());
    // … here on 32×32 windows of the 64×64 images (zoomed crops, batch Dice), validated on whole images
    let args = std::fs::read_to_string(d.path().join("run2/args.yaml")).unwrap();
    assert!(args.contains("patch: 32") && args.contains("imgsz: 64"), "{args}");
    assert!(
        args.contains("crop_min: 0.75") && args.contains("dice: batch"),
        "{args}"
    );
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("run2/weights/best.json")).unwrap()).unwrap();
    assert_eq!(best["imgsz"], 64);
    // the segmenter is not a detector
    let o = run(detective(d.path()).args([
        "val",
        "--task",
        "detect",
        "--model",
        "run/weights/best.bpk",
        "--data",
        "data",
    ]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("segmentation model"), "{}", stderr(&o));
}

#[test]
fn segment_training_refuses_bad_sizes_and_datasets_without_masks() {
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    // each refused before anything is written, with the reason
    let refusals: [(&[&str], &str); 4] = [
        (&["--task", "segment", "--imgsz", "70"], "multiple of 16"),
        (&["--task", "segment", "--imgsz", "64", "--patch", "80"], "patch 80"),
        (
            &["--task", "segment", "--imgsz", "64", "--crop-min", "0.05"],
            "crop-min 0.05",
        ),
        (
            &["--imgsz", "64", "--crop-min", "0.8"],
            "are for --task segment or anomaly",
        ),
    ];
    for (args, reason) in refusals {
        let o = run(detective(d.path())
            .args(["train", "--data", "data", "--out", "r1"])
            .args(args));
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains(reason), "{args:?}: {}", stderr(&o));
    }
    assert!(
        !d.path().join("r1").exists(),
        "a refused run must not create its folder"
    );
    std::fs::remove_dir_all(d.path().join("data/masks")).unwrap();
    let o = run(detective(d.path()).args([
        "train", "--task", "segment", "--data", "data", "--epochs", "1", "--imgsz", "64", "--out", "r2",
    ]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no masks"), "{}", stderr(&o));
}

/// `--classes`: one output map per dataset class, classes read from the boxes;
/// results.csv, val (Burn and ONNX) and predict report per class.
#[test]
fn per_class_segment_training_has_one_output_per_class_and_reports_each_class() {
    let d = tempfile::tempdir().unwrap();
    synth(d.path());
    // one epoch of per-class training on `data` into `out`
    let train_classes = |out: &str| {
        run(detective(d.path()).args([
            "train",
            "--task",
            "segment",
            "--classes",
            "--data",
            "data",
            "--epochs",
            "1",
            "--imgsz",
            "64",
            "--batch",
            "4",
            "--out",
            out,
        ]))
    };
    let o = train_classes("run");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("one output map per class"), "{}", stderr(&o));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("run/weights/best.json")).unwrap()).unwrap();
    let names: Vec<String> = meta["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let yaml = std::fs::read_to_string(d.path().join("data/data.yaml")).unwrap();
    assert!(names.len() > 1, "{names:?}");
    assert!(names.iter().all(|n| yaml.contains(n.as_str())), "{names:?} vs {yaml}");
    assert_eq!(meta["outputs"], names.len());
    let csv = std::fs::read_to_string(d.path().join("run/results.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    for n in &names {
        assert!(lines[0].contains(&format!("metrics/dice_pixels({n})")), "{csv}");
    }
    // 14 columns of a single map (with the fitness and its two parts), then one per class
    assert_eq!(lines[1].split(',').count(), 14 + names.len(), "{csv}");

    let val_json = |model: &str| {
        json_stdout(&run(
            detective(d.path()).args(["val", "--model", model, "--data", "data", "--split", "val", "--json"])
        ))
    };
    let v = val_json("run/weights/best.bpk");
    let per_class = v["per_class"].as_array().expect("per_class");
    assert_eq!(per_class.len(), names.len());
    for (i, (c, n)) in per_class.iter().zip(&names).enumerate() {
        assert_eq!(
            (c["class"].as_u64(), c["name"].as_str()),
            (Some(i as u64), Some(n.as_str()))
        );
        for k in ["dice", "iou", "dice_pixels", "iou_pixels"] {
            let x = c[k].as_f64().unwrap_or(f64::NAN);
            assert!((0.0..=1.0).contains(&x), "{n} {k} = {x}");
        }
    }
    let with_class: u64 = per_class
        .iter()
        .map(|c| c["images_with_defects"].as_u64().unwrap())
        .sum();
    assert!(
        with_class >= v["images_with_defects"].as_u64().unwrap(),
        "every defective image has a class: {v}"
    );
    // the ONNX export keeps the class maps and their names
    let o = run(detective(d.path()).args(["export", "--model", "run/weights/best.bpk"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let w = val_json("run/weights/best.onnx");
    assert_eq!(w["names"], v["names"]);
    for (a, b) in per_class.iter().zip(w["per_class"].as_array().unwrap()) {
        let (a, b) = (a["dice_pixels"].as_f64().unwrap(), b["dice_pixels"].as_f64().unwrap());
        assert!((a - b).abs() < 1e-3, "burn {a}, onnx {b}");
    }
    // predicted regions carry their class (after one epoch only a threshold under
    // the 1 % prior of the head finds regions)
    for model in ["run/weights/best.bpk", "run/weights/best.onnx"] {
        let o = run(detective(d.path()).args([
            "predict",
            "--model",
            model,
            "--source",
            "data/images/val",
            "--conf",
            "0.001",
            "--json",
        ]));
        assert!(o.status.success(), "{}", stderr(&o));
        let dets: Vec<serde_json::Value> = stdout(&o)
            .lines()
            .flat_map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["detections"]
                    .as_array()
                    .unwrap()
                    .clone()
            })
            .collect();
        assert!(!dets.is_empty(), "{model}: no region at conf 0.001");
        for det in &dets {
            let c = det["class"].as_u64().unwrap() as usize;
            assert_eq!(det["name"].as_str(), Some(names[c].as_str()), "{det}");
        }
    }
    // --classes is refused for the detector, and for a mask without boxes
    let o = run(detective(d.path()).args(["train", "--classes", "--data", "data", "--out", "r3"]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--classes is for --task segment"), "{}", stderr(&o));
    let mask = std::fs::read_dir(d.path().join("data/masks/train"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|m| {
            let stem = m.file_stem().unwrap().to_str().unwrap().to_string();
            let label = d.path().join(format!("data/labels/train/{stem}.txt"));
            std::fs::read_to_string(label).is_ok_and(|t| !t.trim().is_empty())
        })
        .expect("a labelled mask");
    let stem = mask.file_stem().unwrap().to_str().unwrap();
    std::fs::write(d.path().join(format!("data/labels/train/{stem}.txt")), "").unwrap();
    let o = train_classes("r4");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no labelled box") && stderr(&o).contains(stem),
        "{}",
        stderr(&o)
    );
    assert!(!d.path().join("r4").exists());
}

/// Ctrl-C in the middle of a segmentation run, then `--resume`: the run ends with
/// the weights and per-epoch figures of a run that was never interrupted.
#[test]
fn an_interrupted_segment_run_resumes_to_the_same_result_as_an_uninterrupted_one() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let d = tempfile::tempdir().unwrap();
    synth_set(d.path(), "80", "64x48", "5", "0.75,0.25,0");
    let train = |out: &str| {
        let mut c = detective(d.path());
        c.args([
            "train", "--task", "segment", "--data", "data", "--epochs", "3", "--imgsz", "64", "--batch", "4", "--out",
            out,
        ]);
        c
    };
    let o = run(&mut train("full"));
    assert!(o.status.success(), "{}", stderr(&o));

    let mut child = train("cut")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut log = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        // The end of epoch 1: stop during epoch 2.
        if line.trim_start().starts_with("1/3") && line.contains("Dice") {
            unsafe { libc::kill(pid as i32, libc::SIGINT) };
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(log.contains("--resume"), "{log}");
    assert!(d.path().join("cut/weights/last.segstate").is_file());
    // No --task needed: the run's state says it is a segmentation run.
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
    assert_eq!((a.len(), b.len()), (3, 3), "{b:?}");
    for (ra, rb) in a.iter().zip(&b) {
        // every column but the wall-clock time (column 1)
        assert_eq!(ra[0], rb[0]);
        assert_eq!(ra[2..], rb[2..], "rows differ:\n{ra:?}\n{rb:?}");
    }
    let device = burn::tensor::Device::flex();
    let weights = |run: &str| {
        let (m, _) =
            detective_ml::checkpoint::load_segmenter(&d.path().join(run).join("weights/last.bpk"), &device).unwrap();
        detective_ml::train::params::read_params(&m).1
    };
    assert!(weights("full") == weights("cut"), "final weights differ after resume");
    // Nothing to resume in a folder without a run.
    let o = run(detective(d.path()).args(["train", "--task", "segment", "--resume", "--out", "nothing"]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nothing to resume"), "{}", stderr(&o));
}

#[test]
fn a_tiled_run_trains_on_native_windows_and_its_model_validates_tiled_in_both_engines() {
    let d = tempfile::tempdir().unwrap();
    synth_set(d.path(), "12", "96x80", "5", "0.7,0.3,0");
    let o = run(detective(d.path()).args([
        "train",
        "--task",
        "segment",
        "--data",
        "data",
        "--epochs",
        "1",
        "--tile",
        "32",
        "--patch-defect",
        "0.8",
        "--pos-weight",
        "5",
        "--defect-share",
        "0.6",
        "--batch",
        "4",
        "--out",
        "run",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("run/weights/best.json")).unwrap()).unwrap();
    assert_eq!(
        (meta["tile"].as_u64(), meta["imgsz"].as_u64()),
        (Some(32), Some(32)),
        "{meta}"
    );
    let args = std::fs::read_to_string(d.path().join("run/args.yaml")).unwrap();
    assert!(
        args.contains("tile: 32") && args.contains("pos_weight: 5") && args.contains("defect_share: 0.6"),
        "{args}"
    );
    // the float and ONNX engines tile the 96×80 images the same way
    let val = |model: &str| {
        json_stdout(&run(
            detective(d.path()).args(["val", "--model", model, "--data", "data", "--split", "val", "--json"])
        ))
    };
    let v = val("run/weights/best.bpk");
    let o = run(detective(d.path()).args(["export", "--model", "run/weights/best.bpk"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let w = val("run/weights/best.onnx");
    for k in ["dice", "dice_pixels", "fitness"] {
        let (a, b) = (v[k].as_f64().unwrap(), w[k].as_f64().unwrap());
        assert!((a - b).abs() < 1e-3, "{k}: burn {a}, onnx {b}");
    }
    // --tile and --patch exclude each other; a tile must be a multiple of 16
    for (bad, says) in [
        (vec!["--tile", "32", "--patch", "32"], "tile"),
        (vec!["--tile", "40"], "tile"),
        (vec!["--defect-share", "1.5"], "defect-share 1.5"),
    ] {
        let o = run(detective(d.path())
            .args([
                "train", "--task", "segment", "--data", "data", "--epochs", "1", "--out", "bad",
            ])
            .args(&bad));
        assert!(!o.status.success(), "{bad:?}");
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
}
