//! Seeding a supervised dataset from the labeling queue in one action
//! (`POST /api/datasets/seed`), on SQLite + folder and on PostgreSQL + S3:
//! frames an anomaly model's predictions queued, labelled by a person, become a
//! detect or segment dataset (labels as YOLO lines, a segmenter's masks from
//! the boxes); bad requests are refused and make nothing.

use detective_core::{Role, Task};
use serde_json::{Value, json};

use crate::annotations::{read, zip_of};
use crate::common::{Kind, TestServer, bare_version, client, part_jpeg};
use crate::training::{get, post};

fn uuid(i: u32) -> String {
    format!("00000000-0000-4000-8000-{i:012x}")
}

/// An uncertain prediction (its one region at 0.5) of `model`.
fn prediction(i: u32, model: &str) -> Value {
    json!({"id": uuid(i), "captured_at": format!("2026-12-07T08:{i:02}:00Z"), "model_version": model,
           "features": {"brightness": 0.41, "blur": 120.5},
           "detections": [{"class": 0, "name": "anomaly", "confidence": 0.5, "bbox": [4.0, 4.0, 20.0, 20.0]}]})
}

/// Logs predictions 1–3 of the anomaly model and 4 of a detector, each with
/// its 64×48 frame, on camera `line-1-cam1` of project `line-1`.
async fn log_frames(s: &TestServer, device: &str) {
    let preds: Vec<Value> = (1..=3)
        .map(|i| prediction(i, "anomaly-model@1"))
        .chain([prediction(4, "bundled@1")])
        .collect();
    let batch = json!({"camera_id": "line-1-cam1", "project": "line-1", "predictions": preds});
    let mut form = reqwest::multipart::Form::new().text("batch", batch.to_string());
    for i in 1..=4u32 {
        form = form.part(
            "frame",
            reqwest::multipart::Part::bytes(part_jpeg(64, 48, u64::from(i))).file_name(format!("{}.jpg", uuid(i))),
        );
    }
    let r = client()
        .post(s.at("/api/log"))
        .bearer_auth(device)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

on_both!(
    frames_an_anomaly_model_queued_and_people_labelled_seed_a_segment_dataset_in_one_action,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let device = s.key(Role::Device).await;
        let op = s.key(Role::Operator).await;
        let viewer = s.key(Role::Viewer).await;
        bare_version(&s.state.db, "anomaly-model", Task::Anomaly).await;
        log_frames(&s, &device).await;
        let queue = get(&s, &viewer, "/api/labeling-queue?limit=50").await;
        let item = |i: u32| -> i64 {
            queue["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|it| it["prediction_id"] == uuid(i))
                .unwrap_or_else(|| panic!("prediction {i} is not queued: {queue}"))["id"]
                .as_i64()
                .unwrap()
        };
        let labels = [
            (
                1,
                json!({"boxes": [{"class": 0, "name": "crack", "bbox": [8.0, 4.0, 24.0, 12.0]}]}),
            ),
            (2, json!({"defect_free": true})),
            (
                3,
                json!({"boxes": [{"class": 1, "name": "blowhole", "bbox": [40.0, 30.0, 70.0, 40.0]}]}),
            ),
            (
                4,
                json!({"boxes": [{"class": 0, "name": "crack", "bbox": [0.0, 0.0, 10.0, 10.0]}]}),
            ),
        ];
        for (i, body) in labels {
            let (status, v) = post(&s, &op, &format!("/api/labeling-queue/{}/label", item(i)), body).await;
            assert_eq!(status, 200, "{v}");
        }

        // refused, and nothing made
        for (body, want) in [
            (json!({"name": "x", "project": "line-1", "source": "everything"}), 400),
            (json!({"name": "x", "project": "line-1", "task": "anomaly"}), 400),
            (json!({"name": "x", "project": "elsewhere"}), 400),
            (json!({"name": "x", "project": "line-1", "classes": ["crack"]}), 400),
            (json!({"name": "../x", "project": "line-1"}), 400),
            (json!({"name": "x", "project": "line-1", "extra": 1}), 400),
        ] {
            let (status, v) = post(&s, &op, "/api/datasets/seed", body.clone()).await;
            assert_eq!(status, want, "{body}: {v}");
        }
        let (status, _) = post(
            &s,
            &viewer,
            "/api/datasets/seed",
            json!({"name": "x", "project": "line-1"}),
        )
        .await;
        assert_eq!(status, 403, "a viewer may not make datasets");
        assert_eq!(get(&s, &viewer, "/api/datasets").await["items"], json!([]));

        // the anomaly model's finds (frames 1–3) as a segment dataset
        let (status, v) = post(
            &s,
            &op,
            "/api/datasets/seed",
            json!({"name": "first-defects", "project": "line-1", "task": "segment"}),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            (v["images"].as_u64(), v["defective"].as_u64(), v["skipped"].as_u64()),
            (Some(3), Some(2), Some(0)),
            "{v}"
        );
        let ds = &v["dataset"];
        assert_eq!(
            (ds["task"].as_str(), &ds["classes"]),
            (Some("segment"), &json!(["crack", "blowhole"])),
            "{ds}"
        );
        let mut z = zip_of(&s, &viewer, &format!("/api/datasets/{}/export", ds["id"])).await;
        let names: Vec<String> = z.file_names().map(str::to_string).collect();
        let label_files: Vec<&String> = names
            .iter()
            .filter(|n| n.starts_with("labels/") && n.ends_with(".txt"))
            .collect();
        assert_eq!(label_files.len(), 3, "{names:?}");
        let mut lines: Vec<String> = label_files
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|n| read(&mut z, &n).lines().map(str::to_string).collect::<Vec<_>>())
            .collect();
        lines.sort();
        // crack (8,4)-(24,12) and blowhole (40,30)-(64,40) clipped to the 64×48 frame
        assert_eq!(
            lines,
            [
                "0 0.250000 0.166667 0.250000 0.166667",
                "1 0.812500 0.729167 0.375000 0.208333"
            ]
        );
        let masks: Vec<&String> = names.iter().filter(|n| n.starts_with("masks/")).collect();
        assert_eq!(
            masks.len(),
            3,
            "every frame has its mask, the good one empty: {names:?}"
        );

        // all reviewed frames, as a detect dataset
        let (status, v) = post(
            &s,
            &op,
            "/api/datasets/seed",
            json!({"name": "all-reviewed", "project": "line-1", "source": "all"}),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            (v["images"].as_u64(), v["defective"].as_u64()),
            (Some(4), Some(3)),
            "{v}"
        );
        assert_eq!(v["dataset"]["task"], "detect");
        // the same name twice is a conflict
        let (status, _) = post(
            &s,
            &op,
            "/api/datasets/seed",
            json!({"name": "all-reviewed", "project": "line-1", "source": "all"}),
        )
        .await;
        assert_eq!(status, 409);
    }
);
