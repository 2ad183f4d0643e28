//! `detective predict` through the real binary on the Ultralytics NEU-DET model.

use crate::common::{detective, run, stderr, stdout};

fn model() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models/neu-yolov8n-320.onnx")
}

#[test]
fn json_lines_per_image_and_annotated_images_are_written() {
    let d = tempfile::tempdir().unwrap();
    let src = crate::common::shared_data("NEU-DET").join("images/test");
    let pattern = format!("{}/patches_26*.jpg", src.display());
    let o = run(detective(d.path())
        .arg("predict")
        .arg("--model")
        .arg(model())
        .args(["--source", &pattern, "--json", "--save", "out"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 10);
    let first = &lines[0];
    assert!(first["image"].as_str().unwrap().ends_with("patches_260.jpg"));
    assert!(first["ms"].as_f64().unwrap() > 0.0);
    let det = &first["detections"][0];
    assert_eq!(det["name"], "patches");
    assert_eq!(det["bbox"].as_array().unwrap().len(), 4);
    assert!(d.path().join("out/patches_260.jpg").is_file());
    // conf filter applies
    let o = run(detective(d.path())
        .arg("predict")
        .arg("--model")
        .arg(model())
        .args(["--source", &pattern, "--json", "--conf", "0.9"]));
    let strict: usize = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["detections"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    let loose: usize = lines.iter().map(|l| l["detections"].as_array().unwrap().len()).sum();
    assert!(strict < loose, "{strict} vs {loose}");
}

#[test]
fn bad_model_source_and_thresholds_are_refused_clearly() {
    let d = tempfile::tempdir().unwrap();
    let img = crate::common::shared_data("NEU-DET").join("images/test/patches_263.jpg");
    let img = img.to_string_lossy().into_owned();
    let o = run(detective(d.path()).args(["predict", "--model", "nope.onnx", "--source", &img]));
    assert!(
        !o.status.success() && stderr(&o).contains("file not found"),
        "{}",
        stderr(&o)
    );
    let o = run(detective(d.path())
        .arg("predict")
        .arg("--model")
        .arg(model())
        .args(["--source", "nothing/here"]));
    assert!(
        !o.status.success() && stderr(&o).contains("is not an image"),
        "{}",
        stderr(&o)
    );
    let o = run(detective(d.path())
        .arg("predict")
        .arg("--model")
        .arg(model())
        .args(["--source", &img, "--conf", "1.5"]));
    assert!(
        !o.status.success() && stderr(&o).contains("within 0..1"),
        "{}",
        stderr(&o)
    );
    let o = run(detective(d.path())
        .arg("predict")
        .arg("--model")
        .arg(model())
        .args(["--source", &img, "--imgsz", "640"]));
    assert!(
        !o.status.success() && stderr(&o).contains("fixed input size 320"),
        "{}",
        stderr(&o)
    );
    std::fs::write(d.path().join("fake.onnx"), b"<html>not a model</html>").unwrap();
    let o = run(detective(d.path()).args(["predict", "--model", "fake.onnx", "--source", &img]));
    assert!(
        !o.status.success() && stderr(&o).contains("fake.onnx"),
        "{}",
        stderr(&o)
    );
}

/// A lossless video of five test images gives, frame by frame, exactly the
/// detections of the images themselves, and `--save` writes an annotated video.
#[test]
fn video_frames_are_predicted_like_the_images_they_hold() {
    use detective_edge::{VideoReader, VideoWriter};
    use detective_vision::DecodeLimits;

    let d = tempfile::tempdir().unwrap();
    let src = crate::common::shared_data("NEU-DET").join("images/test");
    let names = [
        "patches_260.jpg",
        "scratches_256.jpg",
        "inclusion_256.jpg",
        "crazing_256.jpg",
        "pitted_surface_256.jpg",
    ];
    let video = d.path().join("clip.mkv");
    let mut w = VideoWriter::create(&video, 200, 200, 5.0).unwrap();
    for n in names {
        let f = detective_vision::decode_file(&src.join(n), &DecodeLimits::default()).unwrap();
        w.write(&f).unwrap();
    }
    w.finish().unwrap();

    let predict = |source: &str, save: bool| {
        let mut cmd = detective(d.path());
        cmd.arg("predict")
            .arg("--model")
            .arg(model())
            .args(["--source", source, "--json"]);
        if save {
            cmd.args(["--save", "out"]);
        }
        let o = run(&mut cmd);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let frames = predict(video.to_str().unwrap(), true);
    assert_eq!(frames.len(), names.len());
    let mut total = 0;
    for (i, (f, n)) in frames.iter().zip(names).enumerate() {
        assert_eq!(f["frame"], i as u64);
        let image = &predict(src.join(n).to_str().unwrap(), false)[0];
        assert_eq!(f["detections"], image["detections"], "frame {i} vs {n}");
        total += image["detections"].as_array().unwrap().len();
    }
    assert!(total > 0, "the images hold defects");
    let out = d.path().join("out/clip.mp4");
    let n = VideoReader::open(out.to_str().unwrap(), &DecodeLimits::default())
        .unwrap()
        .count();
    assert_eq!(n, names.len());

    let o = run(detective(d.path())
        .arg("predict")
        .arg("--model")
        .arg(model())
        .args(["--source", "missing.mp4"]));
    assert!(
        !o.status.success() && stderr(&o).contains("no such file"),
        "{}",
        stderr(&o)
    );
}

/// Without `--model` the bundled synthetic-defect detector runs: it is unpacked
/// into the cache folder once and finds the defects of fresh synthetic images.
#[test]
fn the_bundled_model_works_without_a_model_argument() {
    let d = tempfile::tempdir().unwrap();
    let o = run(detective(d.path()).args(["synth", "--count", "20", "--seed", "7", "--out", "s"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let labels = d.path().join("s/labels/train");
    let o = run(detective(d.path())
        .env("DETECTIVE_CACHE_DIR", d.path().join("cache"))
        .args(["predict", "--source", "s/images/train", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let names = ["scratch", "spot", "crack", "dent"];
    let (mut predicted, mut expected) = (0usize, 0usize);
    for line in stdout(&o).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for det in v["detections"].as_array().unwrap() {
            assert!(names.contains(&det["name"].as_str().unwrap()), "{det}");
        }
        predicted += v["detections"].as_array().unwrap().len();
        let stem = std::path::Path::new(v["image"].as_str().unwrap())
            .file_stem()
            .unwrap()
            .to_owned();
        let label = labels.join(stem).with_extension("txt");
        expected += std::fs::read_to_string(label).unwrap_or_default().lines().count();
    }
    assert!(
        expected > 0 && predicted > 0,
        "{predicted} detections for {expected} defects"
    );
    assert!(d.path().join("cache/models").is_dir());
}

/// `--device`: a GPU where there is none is a clear error before any work, for
/// an ONNX model (no GPU) and for our checkpoints (no `cuda` build either); a
/// bad name lists the choices; `auto` runs on the CPU and says why.
#[test]
fn a_gpu_where_there_is_none_is_refused_and_auto_falls_back_to_the_cpu_saying_why() {
    if std::fs::read_dir("/proc/driver/nvidia/gpus").is_ok_and(|mut d| d.next().is_some()) {
        return; // a GPU machine: scripts/check-cuda.sh covers it
    }
    let d = tempfile::tempdir().unwrap();
    let img = crate::common::shared_data("NEU-DET").join("images/test/patches_263.jpg");
    let img = img.to_string_lossy().into_owned();
    let predict = |device: &str| {
        run(detective(d.path())
            .arg("predict")
            .arg("--model")
            .arg(model())
            .args(["--source", &img, "--json", "--device", device]))
    };
    let o = predict("cuda:0");
    assert!(
        !o.status.success() && stderr(&o).contains("--device cuda:0") && stderr(&o).contains("no CUDA GPU"),
        "{}",
        stderr(&o)
    );
    let o = predict("tpu");
    assert!(
        !o.status.success() && stderr(&o).contains("cuda:N or a GPU index N, or auto"),
        "{}",
        stderr(&o)
    );
    let o = predict("auto");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("--device auto runs on cpu"), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1);
    // our checkpoints need a build with the `cuda` feature; training says so too
    let o = run(detective(d.path()).args(["predict", "--source", &img, "--device", "cuda"]));
    assert!(
        !o.status.success() && stderr(&o).contains("--features cuda"),
        "{}",
        stderr(&o)
    );
    let o = run(detective(d.path()).args(["train", "--task", "segment", "--data", "nowhere", "--device", "cuda"]));
    assert!(
        !o.status.success() && stderr(&o).contains("--features cuda"),
        "{}",
        stderr(&o)
    );
}

/// `--agnostic-nms` (what `serve` and `edge` always do): on synthetic parts at
/// the demo's 640×480, no defect is covered by boxes of two classes; without
/// it, the bundled model stacks a crack and a scratch on one defect here.
#[test]
fn agnostic_nms_leaves_one_box_per_defect_at_the_demos_resolution() {
    let d = tempfile::tempdir().unwrap();
    let o = run(detective(d.path()).args([
        "synth", "--count", "60", "--size", "640x480", "--seed", "21", "--split", "1,0,0", "--out", "s",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let iou = |a: &[f64], b: &[f64]| {
        let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
        let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
        let i = w * h;
        i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)
    };
    // Defects covered (IoU ≥ 0.5) by boxes of more than one class.
    let stacked = |extra: &[&str]| {
        let o = run(detective(d.path())
            .args(["predict", "--source", "s/images/train", "--json", "--threads", "1"])
            .args(extra));
        assert!(o.status.success(), "{}", stderr(&o));
        let mut n = 0;
        for line in stdout(&o).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let stem = std::path::Path::new(v["image"].as_str().unwrap())
                .file_stem()
                .unwrap()
                .to_owned();
            let label = d.path().join("s/labels/train").join(stem).with_extension("txt");
            let dets: Vec<(u64, Vec<f64>)> = v["detections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    (
                        x["class"].as_u64().unwrap(),
                        serde_json::from_value(x["bbox"].clone()).unwrap(),
                    )
                })
                .collect();
            for l in std::fs::read_to_string(label).unwrap().lines() {
                let f: Vec<f64> = l.split_whitespace().map(|t| t.parse().unwrap()).collect();
                let g = [
                    (f[1] - f[3] / 2.0) * 640.0,
                    (f[2] - f[4] / 2.0) * 480.0,
                    (f[1] + f[3] / 2.0) * 640.0,
                    (f[2] + f[4] / 2.0) * 480.0,
                ];
                let mut classes: Vec<u64> = dets
                    .iter()
                    .filter(|(_, b)| iou(b, &g) >= 0.5)
                    .map(|(c, _)| *c)
                    .collect();
                classes.sort();
                classes.dedup();
                n += (classes.len() > 1) as usize;
            }
        }
        n
    };
    assert!(
        stacked(&[]) > 0,
        "this set shows the stacks (else the check below proves nothing)"
    );
    assert_eq!(stacked(&["--agnostic-nms"]), 0);
}
