//! Segmenters as first-class models through the HTTP API, on SQLite + folder
//! and on PostgreSQL + S3: images uploaded with their masks, a `segment`
//! dataset whose versions carry them (and export them as `masks/{split}/`), a
//! `segment` training job run by the worker, its registration, a second
//! version measured on the same masks, the comparison by Dice and IoU, and the
//! segmenter's own Production beside the detector's.

use crate::common::{Kind, TestServer, client};
use crate::training::{get, post, post_form, set_stage, work};
use detective_core::Role;
use detective_vision::synth::{SynthConfig, generate};
use serde_json::{Value, json};

/// Uploads 12 synthetic 64×64 parts, each with its mask in a `mask` part, plus
/// an image whose mask has the wrong size and a mask without an image.
async fn upload_masked_parts(s: &TestServer, key: &str) -> (Value, Vec<u64>) {
    let cfg = SynthConfig {
        width: 64,
        height: 64,
        defect_rate: 0.8,
        ..SynthConfig::default()
    };
    let mut form = reqwest::multipart::Form::new().text("project", "tiles");
    let mut defect_pixels = Vec::new();
    for i in 0..12 {
        let sample = generate(&cfg, 21, i).unwrap();
        let png = detective_vision::encode::encode_png(&sample.image).unwrap();
        let mask = detective_vision::encode::encode_gray_png(&sample.mask).unwrap();
        defect_pixels.push(sample.mask.data.iter().filter(|&&v| v >= 128).count() as u64);
        form = form
            .part(
                "file",
                reqwest::multipart::Part::bytes(png).file_name(format!("t{i}.png")),
            )
            .part(
                "mask",
                reqwest::multipart::Part::bytes(mask).file_name(format!("t{i}.png")),
            );
    }
    let small = detective_vision::GrayFrame::new(32, 32);
    form = form
        .part(
            "file",
            reqwest::multipart::Part::bytes(crate::common::part_png(64, 64, 99)).file_name("odd.png"),
        )
        .part(
            "mask",
            reqwest::multipart::Part::bytes(detective_vision::encode::encode_gray_png(&small).unwrap())
                .file_name("odd.png"),
        )
        .part(
            "mask",
            reqwest::multipart::Part::bytes(detective_vision::encode::encode_gray_png(&small).unwrap())
                .file_name("orphan.png"),
        );
    let (status, v) = post_form(s, key, "/api/images/upload", form).await;
    assert_eq!(status, 200);
    (v, defect_pixels)
}

on_both!(
    a_segment_dataset_keeps_its_masks_and_trains_a_segmenter_with_its_own_production,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let op = s.key(Role::Operator).await;
        let viewer = s.key(Role::Viewer).await;

        // Masks come with their images; a mask of the wrong size refuses its
        // image, and a mask without an image is refused.
        let (up, defect_pixels) = upload_masked_parts(&s, &op).await;
        assert_eq!(
            (up["stored"].as_u64(), up["refused"].as_u64()),
            (Some(12), Some(2)),
            "{up}"
        );
        let reasons = up.to_string();
        assert!(
            reasons.contains("mask is 32×32 but its image is 64×64") && reasons.contains("mask without an image"),
            "{up}"
        );
        let ids: Vec<i64> = up["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["id"].as_i64())
            .collect();
        assert_eq!(ids.len(), 12);
        // The stored mask is the one sent, as 0/255 grayscale.
        let r = client()
            .get(s.at(&format!("/api/images/{}/mask", ids[0])))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(
            (r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()),
            (200, "image/png")
        );
        let mask = detective_vision::decode::decode_image(&r.bytes().await.unwrap(), &Default::default()).unwrap();
        let marked = mask.as_rgb().chunks_exact(3).filter(|p| p[0] == 255).count() as u64;
        assert_eq!(marked, defect_pixels[0]);
        // PUT checks the size and changes nothing when it is wrong.
        let r = client()
            .put(s.at(&format!("/api/images/{}/mask", ids[0])))
            .bearer_auth(&op)
            .body(crate::common::part_png(32, 32, 0))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let r = client()
            .put(s.at(&format!("/api/images/{}/mask", ids[0])))
            .bearer_auth(&viewer)
            .body(crate::common::part_png(64, 64, 0))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "viewers do not annotate");

        // A segment dataset: its version holds the masks and exports them.
        let body = json!({"name": "tiles", "project": "tiles", "task": "segment", "classes": ["scratch", "dent", "spot"],
                          "splits": {"train": ids[..8], "val": ids[8..]}});
        let (status, ds) = post(&s, &op, "/api/datasets/create", body).await;
        assert_eq!(status, 200, "{ds}");
        let ds = ds["id"].as_i64().unwrap();
        let r = client()
            .get(s.at(&format!("/api/datasets/{ds}/export")))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let zip = r.bytes().await.unwrap();
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
        let names: Vec<String> = z.file_names().map(str::to_string).collect();
        let masks = names.iter().filter(|n| n.starts_with("masks/")).count();
        assert_eq!(masks, 12, "{names:?}");
        assert!(names.iter().any(|n| n.starts_with("masks/val/")), "{names:?}");
        let first_mask = names.iter().find(|n| n.starts_with("masks/train/")).unwrap().clone();
        assert!(z.by_name(&first_mask).is_ok());

        // Segment jobs: detector-only settings are refused, and a detect
        // dataset does not train a segmenter.
        let (status, v) = post(
            &s,
            &op,
            "/api/training/start",
            json!({"dataset_id": ds, "task": "segment", "mosaic": 0.5}),
        )
        .await;
        assert_eq!(status, 400, "{v}");
        let (status, v) = post(&s, &op, "/api/training/start", json!({"dataset_id": ds, "tile": 64})).await;
        assert_eq!(status, 400, "{v}");
        let (status, job) = post(
            &s,
            &op,
            "/api/training/start",
            json!({"dataset_id": ds, "task": "segment", "epochs": 2, "imgsz": 64, "batch": 4, "defect_share": 0.5}),
        )
        .await;
        assert_eq!(status, 201, "{job}");
        assert_eq!(job["model_name"], "segmenter");
        assert_eq!(
            (job["params"]["model"].as_str(), job["params"]["imgsz"].as_u64()),
            (Some("unet-tiny"), Some(64))
        );
        let id = job["id"].as_i64().unwrap();
        work(&s, 1).await;
        let done = get(&s, &viewer, &format!("/api/training/{id}")).await;
        assert_eq!(done["status"], "succeeded", "{}", done["log"]);
        let history = done["history"].as_array().unwrap();
        assert_eq!(history.len(), 2, "one row per epoch");
        assert!(history[1]["train"]["bce"].as_f64().unwrap() > 0.0, "{history:?}");
        let m = &done["metrics"];
        assert!(
            m["dice"].is_number() && m["dice_pixels"].is_number() && m["false_alarms"].is_number(),
            "{m}"
        );
        assert!(done["log"].as_str().unwrap().contains("over pixels"), "{}", done["log"]);
        let r = client()
            .get(s.at(&format!("/api/training/{id}/charts/map.svg")))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        let svg = r.text().await.unwrap();
        assert!(
            svg.contains("Dice over pixels") && svg.matches("<circle").count() == 6,
            "{svg}"
        );

        // Registered as a segmenter, exported to ONNX beside its checkpoint.
        let (status, v1) = post(&s, &op, "/api/models/register", json!({"job_id": id})).await;
        assert_eq!(status, 201, "{v1}");
        assert_eq!(
            (v1["task"].as_str(), v1["version"].as_i64()),
            (Some("segment"), Some(1))
        );
        assert_eq!(v1["metrics"]["dice_pixels"], m["dice_pixels"]);
        for f in ["model.onnx", "model.bpk", "model.json"] {
            let r = client()
                .get(s.at(&format!("/api/models/segmenter/versions/1/files/{f}")))
                .bearer_auth(&op)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{f}");
        }

        // A second version uploaded and measured on the same masks (a field the
        // route does not know is refused by name).
        let unknown = reqwest::multipart::Form::new().text("name", "x").text("dataset", "1");
        let (status, e) = post_form(&s, &op, "/api/models/register", unknown).await;
        assert_eq!(status, 400);
        assert!(
            e["detail"].as_str().unwrap().contains("unexpected field \"dataset\""),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let bpk = crate::api::fresh_segmenter(dir.path());
        let form = reqwest::multipart::Form::new()
            .text("name", "segmenter")
            .text("dataset_id", ds.to_string())
            .part(
                "file",
                reqwest::multipart::Part::bytes(std::fs::read(&bpk).unwrap()).file_name("u.bpk"),
            )
            .part(
                "file",
                reqwest::multipart::Part::bytes(std::fs::read(bpk.with_extension("json")).unwrap()).file_name("u.json"),
            );
        let (status, v2) = post_form(&s, &op, "/api/models/register", form).await;
        assert_eq!(status, 201, "{v2}");
        assert!(v2["metrics"]["dice"].is_number(), "{v2}");
        assert_eq!(v2["metrics"]["dataset_version_id"], v1["metrics"]["dataset_version_id"]);

        // Compared by Dice and IoU on the same validation masks.
        let cmp = get(&s, &viewer, "/api/models/compare?a=segmenter@1&b=segmenter@2").await;
        assert_eq!(
            (cmp["task"].as_str(), cmp["same_validation_set"].as_bool()),
            (Some("segment"), Some(true)),
            "{cmp}"
        );
        assert_eq!(cmp["overall"]["dice_pixels"]["a"], v1["metrics"]["dice_pixels"]);
        assert!(cmp["overall"]["iou"]["delta"].is_number(), "{cmp}");
        assert!(cmp["samples"].as_array().unwrap().is_empty(), "images only when asked");
        let fresh = get(
            &s,
            &viewer,
            &format!("/api/models/compare?a=segmenter@1&b=segmenter@2&dataset={ds}&samples=2"),
        )
        .await;
        // Validation images with a defect through both: heatmaps, overlays, Dice.
        let shown = fresh["samples"].as_array().unwrap();
        assert!(!shown.is_empty() && shown.len() <= 2, "{}", shown.len());
        for one in shown {
            for side in ["a", "b"] {
                assert!(
                    one[side]["heatmap"]
                        .as_str()
                        .unwrap()
                        .starts_with("data:image/png;base64,")
                );
                assert!(one[side]["dice"].is_number(), "{side}");
            }
            assert!(one["truth"].as_str().unwrap().starts_with("data:image/png;base64,"));
        }
        let r = client()
            .get(s.at("/api/models/compare?a=segmenter@1&b=segmenter@2&samples=9"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "at most 8 images");
        let close = |x: &Value, y: &Value| (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 0.02;
        assert!(
            close(&fresh["overall"]["dice"]["a"], &cmp["overall"]["dice"]["a"]),
            "evaluating the ONNX export again gives the trainer's figures: {fresh}"
        );

        // The segmenter's Production is its own: the detector's stays.
        let (status, _) = set_stage(&s, &op, "segmenter", 1, "Production").await;
        assert_eq!(status, 200);
        let status = get(&s, &viewer, "/api/model-status").await;
        let prod: Vec<(String, String)> = status["models"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["stage"] == "Production")
            .map(|m| {
                (
                    m["task"].as_str().unwrap().to_string(),
                    m["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert!(prod.contains(&("segment".into(), "segmenter".into())), "{status}");
    }
);
