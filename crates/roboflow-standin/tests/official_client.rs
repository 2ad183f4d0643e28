//! The stand-in is faithful: Roboflow's official Python client (PyPI
//! `roboflow`, installed by `scripts/setup-test-deps.sh` into its own
//! virtual environment) uploads an image with a YOLO annotation and another
//! with a COCO annotation, generates a version and downloads it in YOLOv8
//! format, against the stand-in, and what it downloads is the dataset sent.

use std::path::PathBuf;
use std::process::Command;

use roboflow_standin::{Options, StandIn};

/// The Python with `roboflow` installed: `ROBOFLOW_PYTHON`, else the setup
/// script's virtual environment.
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("ROBOFLOW_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let p = PathBuf::from(home).join(".cache/defect-detective/roboflow-venv/bin/python");
    assert!(
        p.is_file(),
        "{} is missing: run ./scripts/setup-test-deps.sh (it installs PyPI `roboflow` there)",
        p.display()
    );
    p
}

/// A 64×48 RGB PNG of one colour.
fn png(rgb: [u8; 3]) -> Vec<u8> {
    let mut raw = Vec::new();
    for _ in 0..64 * 48 {
        raw.extend_from_slice(&rgb);
    }
    let mut out = std::io::Cursor::new(Vec::new());
    image_png(&raw, &mut out);
    out.into_inner()
}

fn image_png(raw: &[u8], out: &mut std::io::Cursor<Vec<u8>>) {
    use image::ImageEncoder;
    image::codecs::png::PngEncoder::new(out)
        .write_image(raw, 64, 48, image::ExtendedColorType::Rgb8)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_client_uploads_generates_and_downloads_through_the_stand_in() {
    let standin = StandIn::start(Options::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    std::fs::write(work.join("a.png"), png([200, 30, 30])).unwrap();
    std::fs::write(work.join("b.png"), png([30, 200, 30])).unwrap();
    std::fs::write(work.join("a.txt"), "0 0.5 0.5 0.25 0.5\n1 0.2 0.2 0.1 0.1\n").unwrap();
    std::fs::write(work.join("data.yaml"), "names: [scratch, dent]\n").unwrap();
    let coco = serde_json::json!({
        "images": [{"id": 1, "file_name": "b.png", "width": 64, "height": 48}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [8, 12, 16, 12], "area": 192, "iscrowd": 0}],
        "categories": [{"id": 3, "name": "scratch"}]
    });
    std::fs::write(work.join("coco.json"), coco.to_string()).unwrap();

    let (py, url, key, ws) = (
        python(),
        standin.url.clone(),
        standin.key().to_string(),
        standin.workspace().to_string(),
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/official_client.py");
    let work_s = work.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py)
            .arg(script)
            .args([work_s.as_str(), key.as_str(), ws.as_str(), "steel-parts"])
            .env("API_URL", url)
            .env("ROBOFLOW_CONFIG_DIR", "/nonexistent/roboflow-config.json")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the official client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(v["first"][0]["image"]["success"], true, "{v}");
    assert_eq!(v["first"][0]["annotation"]["success"], true, "{v}");
    assert_eq!(v["again"][0]["image"]["duplicate"], true, "the same bytes again: {v}");
    assert_eq!(v["version"], 1);
    assert_eq!(v["versions"], serde_json::json!(["1"]));
    assert_eq!(standin.image_count("steel-parts"), 2);
    assert_eq!(standin.annotated("steel-parts"), (2, 3));

    // What it downloaded: Roboflow's YOLOv8 layout, classes sorted by name.
    let root = PathBuf::from(v["location"].as_str().unwrap());
    let yaml = std::fs::read_to_string(root.join("data.yaml")).unwrap();
    assert!(
        yaml.contains("- dent") && yaml.contains("- scratch") && yaml.contains("nc: 2"),
        "{yaml}"
    );
    let labels = |split: &str| -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(root.join(split).join("labels")).unwrap() {
            out.extend(
                std::fs::read_to_string(e.unwrap().path())
                    .unwrap()
                    .lines()
                    .map(str::to_string),
            );
        }
        out.sort();
        out
    };
    // dent is class 0 and scratch class 1 in the export (sorted by name).
    assert_eq!(
        labels("train"),
        vec![
            "0 0.200000 0.200000 0.100000 0.100000",
            "1 0.500000 0.500000 0.250000 0.500000"
        ]
    );
    assert_eq!(labels("valid"), vec!["1 0.250000 0.375000 0.250000 0.250000"]);
    let images: Vec<_> = std::fs::read_dir(root.join("train/images")).unwrap().collect();
    assert_eq!(images.len(), 1);
}
