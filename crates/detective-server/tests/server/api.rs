//! The routes of the cloud API through real HTTP, on SQLite + a local folder and
//! on PostgreSQL + a real S3-protocol server.

use std::io::Read;

use crate::common::{Kind, TestServer, client, no_redirects, part_jpeg, part_png};
use detective_core::Role;
use serde_json::{Value, json};

fn uuid(i: u32) -> String {
    format!("00000000-0000-4000-8000-{i:012x}")
}

fn prediction(i: u32, minute: u32, conf: Option<f32>) -> Value {
    let dets: Vec<Value> = conf
        .map(|c| vec![json!({"class": 0, "name": "scratch", "confidence": c, "bbox": [10.0, 20.0, 50.0, 60.0]})])
        .unwrap_or_default();
    json!({"id": uuid(i), "captured_at": format!("2026-11-24T08:{minute:02}:00Z"), "model_version": "bundled@1",
           "features": {"brightness": 0.41, "blur": 120.5}, "detections": dets})
}

async fn metrics(s: &TestServer, key: &str) -> Value {
    crate::common::get_json(s, ("authorization", &format!("Bearer {key}")), "/api/metrics").await
}

on_both!(
    health_reports_database_object_store_and_model_up,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let r = client().get(s.at("/api/health")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let h: Value = r.json().await.unwrap();
        for c in ["database", "object_store", "model"] {
            assert_eq!(h[c]["status"], "up", "{c}: {h}");
        }
        let doc: Value = client()
            .get(s.at("/api/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for p in [
            "/api/log",
            "/api/inference/predict",
            "/api/datasets/{id}/export",
            "/api/images/upload",
        ] {
            assert!(doc["paths"].get(p).is_some(), "OpenAPI lacks {p}");
        }
        let r = client().get(s.at("/api/nope")).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
);

on_both!(
    log_batches_are_idempotent_and_feed_metrics_and_the_queue,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let key = s.key(Role::Device).await;
        let viewer = s.key(Role::Viewer).await;
        let mut sql = prediction(4, 3, None);
        sql["model_version"] = json!("m'; DROP TABLE prediction_logs;--@1");
        sql["features"] = json!({"bright\"ness'); --": 0.5});
        let batch = json!({"camera_id": "line1-cam2", "stats": {"fps": 28.0, "inference_ms": 5.5},
                       "predictions": [prediction(1, 0, Some(0.9)), prediction(2, 1, Some(0.55)), prediction(3, 2, None), sql]});
        let post = || client().post(s.at("/api/log")).bearer_auth(&key).json(&batch).send();
        let first = post().await.unwrap();
        assert_eq!(first.status(), 200);
        let first: Value = first.json().await.unwrap();
        assert_eq!(
            first,
            json!({"accepted": 4, "defective": 1, "uncertain": 1, "frames": 0, "sampled": 0})
        );
        let again: Value = post().await.unwrap().json().await.unwrap();
        assert_eq!(first, again, "a repeated batch answers the same");
        let m = metrics(&s, &viewer).await;
        assert_eq!(m["predictions_total"], 4, "{m}");
        let logs: Value = client()
            .get(s.at("/api/inspection-logs?limit=1"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            logs["items"][0]["model_version"], "m'; DROP TABLE prediction_logs;--@1",
            "SQL metacharacters are stored as data"
        );
        assert_eq!(logs["items"][0]["features"]["bright\"ness'); --"], 0.5);
        assert_eq!(m["uncertain_queue"], 1);
        assert_eq!(m["cameras"][0]["id"], "line1-cam2");
        assert_eq!(m["cameras"][0]["fps"], 28.0);
        let prom = client()
            .get(s.at("/metrics"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(prom.contains("detective_predictions_total 4"), "{prom}");
        assert!(
            prom.contains("detective_camera_fps{camera=\"line1-cam2\"} 28"),
            "{prom}"
        );
    }
);

on_both!(
    a_batch_with_one_bad_prediction_is_refused_whole,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let key = s.key(Role::Device).await;
        let admin = s.key(Role::Admin).await;
        let send = |body: String| {
            client()
                .post(s.at("/api/log"))
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        let mut bad = prediction(2, 0, Some(0.5));
        bad["detections"][0]["confidence"] = json!(1.7);
        let cases = [
            (
                json!({"camera_id": "c1", "predictions": [prediction(1, 0, None), bad]}),
                422,
                Some(1),
            ),
            (
                json!({"camera_id": "c1", "predictions": [prediction(1, 0, None), {"id": uuid(2)}]}),
                422,
                Some(1),
            ),
            (
                json!({"camera_id": "c1", "predictions": [prediction(1, 0, None), prediction(1, 1, None)]}),
                422,
                Some(1),
            ),
            (
                json!({"camera_id": "../../etc", "predictions": [prediction(1, 0, None)]}),
                422,
                None,
            ),
            (
                json!({"camera_id": "c1'; DROP TABLE prediction_logs;--", "predictions": [prediction(1, 0, None)]}),
                422,
                None,
            ),
            (
                json!({"camera_id": "c1", "predictions": (0..1001).map(|i| prediction(i, 0, None)).collect::<Vec<_>>()}),
                422,
                None,
            ),
        ];
        for (body, status, index) in cases {
            let r = send(body.to_string()).await.unwrap();
            assert_eq!(r.status(), status);
            assert_eq!(r.headers()["content-type"], "application/problem+json");
            let p: Value = r.json().await.unwrap();
            assert_eq!(p["index"], json!(index), "{p}");
            assert!(!p["detail"].as_str().unwrap().is_empty());
        }
        let r = send("{\"camera_id\": \"c1\", \"predictions\": [".into()).await.unwrap();
        assert_eq!(r.status(), 400, "malformed JSON");
        let r = client()
            .post(s.at("/api/log"))
            .bearer_auth(&key)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415);
        assert_eq!(metrics(&s, &admin).await["predictions_total"], 0, "nothing was written");
    }
);

on_both!(
    frames_of_a_multipart_batch_are_stored_under_the_camera_and_day,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let key = s.key(Role::Device).await;
        let viewer = s.key(Role::Viewer).await;
        let batch = json!({"camera_id": "line1-cam2", "project": "steel",
                       "predictions": [prediction(1, 0, Some(0.55)), prediction(2, 1, None)]});
        let form = |frame: Vec<u8>, name: String| {
            reqwest::multipart::Form::new()
                .text("batch", batch.to_string())
                .part("frame", reqwest::multipart::Part::bytes(frame).file_name(name))
        };
        let bad = client()
            .post(s.at("/api/log"))
            .bearer_auth(&key)
            .multipart(form(b"<html>not a jpeg</html>".to_vec(), format!("{}.jpg", uuid(1))))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 422);
        let stray = client()
            .post(s.at("/api/log"))
            .bearer_auth(&key)
            .multipart(form(part_jpeg(64, 48, 0), format!("{}.jpg", uuid(9))))
            .send()
            .await
            .unwrap();
        assert_eq!(stray.status(), 422);
        assert_eq!(metrics(&s, &viewer).await["predictions_total"], 0);
        let jpeg = part_jpeg(64, 48, 0);
        let ok = client()
            .post(s.at("/api/log"))
            .bearer_auth(&key)
            .multipart(form(jpeg.clone(), format!("{}.jpg", uuid(1))))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let sum: Value = ok.json().await.unwrap();
        assert_eq!(sum["frames"], 1);
        let key_expected = format!("projects/steel/frames/line1-cam2/2026-11-24/{}.jpg", uuid(1));
        assert_eq!(&s.state.objects.get(&key_expected).await.unwrap()[..], &jpeg[..]);
        let logs: Value = client()
            .get(s.at("/api/inspection-logs?uncertain=true"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(logs["items"][0]["frame_key"], key_expected);

        // One prediction and its frame, raw or with its box drawn.
        let get = |path: String| client().get(s.at(&path)).bearer_auth(&viewer).send();
        let one: Value = get(format!("/api/inspection-logs/{}", uuid(1)))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(one["id"], uuid(1));
        let raw = get(format!("/api/inspection-logs/{}/frame", uuid(1))).await.unwrap();
        assert_eq!(raw.headers()["content-type"], "image/jpeg");
        assert_eq!(&raw.bytes().await.unwrap()[..], &jpeg[..]);
        let boxed = get(format!("/api/inspection-logs/{}/frame?boxes=true", uuid(1)))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let drawn = image::load_from_memory(&boxed).unwrap().to_rgb8();
        let px = drawn.get_pixel(10, 40);
        assert!(px[0] > 180 && px[1] < 90, "the box's left edge is red: {px:?}");
        for (path, want) in [
            (format!("/api/inspection-logs/{}/frame", uuid(2)), 404),
            (format!("/api/inspection-logs/{}", uuid(7)), 404),
            ("/api/inspection-logs/not-an-id/frame".to_string(), 400),
            ("/api/inspection-logs?format=xml".to_string(), 400),
        ] {
            assert_eq!(get(path.clone()).await.unwrap().status(), want, "{path}");
        }
        let csv = get("/api/inspection-logs?format=csv".into()).await.unwrap();
        assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        assert_eq!(csv.text().await.unwrap().lines().count(), 3, "header + 2 rows");
    }
);

on_both!(inspection_logs_filter_page_and_export_csv, |kind: Kind| async move {
    let s = TestServer::start(kind).await;
    let key = s.key(Role::Device).await;
    let viewer = s.key(Role::Viewer).await;
    let preds: Vec<Value> = (0..30)
        .map(|i| {
            prediction(
                i,
                i / 2,
                match i % 3 {
                    0 => Some(0.9),
                    1 => Some(0.5),
                    _ => None,
                },
            )
        })
        .collect();
    let r = client()
        .post(s.at("/api/log"))
        .bearer_auth(&key)
        .json(&json!({"camera_id": "cam-a", "predictions": preds}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let get = |q: String| {
        let c = client()
            .get(s.at(&format!("/api/inspection-logs{q}")))
            .bearer_auth(&viewer);
        async move { c.send().await.unwrap() }
    };
    let mut ids = std::collections::HashSet::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &next {
            Some(c) => format!("?limit=7&cursor={c}"),
            None => "?limit=7".into(),
        };
        let page: Value = get(q).await.json().await.unwrap();
        for it in page["items"].as_array().unwrap() {
            assert!(ids.insert(it["id"].as_str().unwrap().to_string()), "no row twice");
        }
        pages += 1;
        match page["next"].as_str() {
            Some(c) => next = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!((ids.len(), pages), (30, 5));
    let count = |q: &str| {
        let q = q.to_string();
        async move {
            get(q).await.json::<Value>().await.unwrap()["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(count("?defective=true&limit=1000").await, 10);
    assert_eq!(count("?uncertain=true").await, 10);
    assert_eq!(count("?class=scratch").await, 20);
    assert_eq!(count("?min_conf=0.8").await, 10);
    assert_eq!(count("?camera=cam-b").await, 0);
    assert_eq!(count("?from=2026-11-24T08:10:00Z&to=2026-11-24T08:12:00Z").await, 4);
    assert_eq!(
        count("?class=%25%27%20OR%201%3D1%20--").await,
        0,
        "SQL metacharacters are data"
    );
    for bad in [
        "?min_conf=2",
        "?from=yesterday",
        "?limit=0",
        "?cursor=zzz",
        "?bogus=1",
        "?uncertain=maybe",
    ] {
        let r = get(bad.into()).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let csv = client()
        .get(s.at("/api/inspection-logs?defective=true"))
        .bearer_auth(&viewer)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("id,camera_id,captured_at"));
    assert_eq!(lines.len(), 11);
});

on_both!(
    predict_answers_boxes_in_original_pixels_or_an_annotated_jpeg,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let key = s.key(Role::Device).await;
        // Non-square parts: boxes must come back in the 480×320 frame, not the 320² input.
        let mut found = 0;
        let mut png = Vec::new();
        for index in 0..8 {
            png = part_png(480, 320, index);
            let r = client()
                .post(s.at("/api/inference/predict?conf=0.25"))
                .bearer_auth(&key)
                .header("content-type", "image/png")
                .body(png.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let p: Value = r.json().await.unwrap();
            assert_eq!(p["image"], json!({"width": 480, "height": 320}));
            assert_eq!(p["model"]["name"], "bundled");
            assert!(p["timings_ms"]["total"].as_f64().unwrap() > 0.0);
            for d in p["detections"].as_array().unwrap() {
                found += 1;
                let b: Vec<f64> = serde_json::from_value(d["bbox"].clone()).unwrap();
                assert!(
                    b[0] >= -1.0 && b[2] <= 481.0 && b[1] >= -1.0 && b[3] <= 321.0 && b[0] < b[2],
                    "{b:?}"
                );
                let c = d["confidence"].as_f64().unwrap();
                assert_eq!(d["uncertain"], json!(c > 0.4 && c < 0.7));
            }
        }
        assert!(found > 0, "the bundled model finds some of the synthetic defects");
        let form =
            reqwest::multipart::Form::new().part("image", reqwest::multipart::Part::bytes(png).file_name("part.png"));
        let r = client()
            .post(s.at("/api/inference/predict?annotated=true"))
            .bearer_auth(&key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        let jpeg = r.bytes().await.unwrap();
        let img = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (480, 320));
        for (q, body, status) in [
            ("", b"<html><body>hi</body></html>".to_vec(), 422),
            ("", Vec::new(), 422),
            ("?conf=1.5", part_png(64, 64, 0), 400),
            ("?model=other@3", part_png(64, 64, 0), 404),
            ("?task=classify", part_png(64, 64, 0), 400),
        ] {
            let r = client()
                .post(s.at(&format!("/api/inference/predict{q}")))
                .bearer_auth(&key)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), status, "{q}");
            assert_eq!(r.headers()["content-type"], "application/problem+json");
        }
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_answers_503_with_retry_after_when_the_pool_is_full() {
    let s = TestServer::start_with(
        Kind::SqliteFolder,
        detective_server::ServerSettings::default(),
        Some(crate::common::bundled_pool(1, 0)),
    )
    .await;
    let key = s.key(Role::Device).await;
    let pool = s.state.served.pool().unwrap();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (busy_tx, busy_rx) = tokio::sync::oneshot::channel::<()>();
    let hold = tokio::spawn(async move {
        pool.run(move |_| {
            let _ = busy_tx.send(());
            let _ = release_rx.recv();
        })
        .await
    });
    busy_rx.await.unwrap();
    let r = client()
        .post(s.at("/api/inference/predict"))
        .bearer_auth(&key)
        .body(part_png(64, 64, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    release_tx.send(()).unwrap();
    hold.await.unwrap().unwrap();
    let r = client()
        .post(s.at("/api/inference/predict"))
        .bearer_auth(&key)
        .body(part_png(64, 64, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "free again");
}

/// CRC-32 (IEEE) as PNG chunks use it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

fn file(bytes: Vec<u8>, name: &str) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes).file_name(name.to_string())
}

on_both!(
    uploads_are_checked_per_file_stored_by_hash_and_deduplicated,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let op = s.key(Role::Operator).await;
        let good = part_png(96, 64, 1);
        let jpeg = part_jpeg(96, 64, 2);
        let mut truncated = jpeg.clone();
        truncated.truncate(jpeg.len() / 2);
        let mut truncated_png = part_png(96, 64, 3);
        truncated_png.truncate(truncated_png.len() / 2);
        // A PNG header claiming 10 000 × 10 000 pixels (100 MP) over a few bytes: a bomb.
        let mut bomb = part_png(32, 32, 0);
        bomb[16..20].copy_from_slice(&10_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&10_000u32.to_be_bytes());
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        let form = reqwest::multipart::Form::new()
            .text("project", "steel")
            .text("tags", "line1, night'; DROP TABLE images;--")
            .part("file", file(good.clone(), "good.png"))
            .part("file", file(b"0 0.5 0.5 0.25 0.25\n".to_vec(), "good.txt"))
            .part("file", file(jpeg.clone(), "part.jpg"))
            .part("file", file(truncated, "truncated.jpg"))
            .part("file", file(truncated_png, "truncated.png"))
            .part("file", file(Vec::new(), "empty.png"))
            .part("file", file(b"<!doctype html><html></html>".to_vec(), "page.jpg"))
            .part("file", file(bomb, "bomb.png"))
            .part("file", file(good.clone(), "../../etc/evil.png"))
            .part("file", file(good.clone(), "/etc/passwd"))
            .part("file", file(b"7 2 2 2\n".to_vec(), "part.txt"));
        let r = client()
            .post(s.at("/api/images/upload"))
            .bearer_auth(&op)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let status: std::collections::BTreeMap<String, (String, String)> = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["file"].as_str().unwrap().to_string(),
                    (
                        f["status"].as_str().unwrap().to_string(),
                        f["reason"].as_str().unwrap_or("").to_string(),
                    ),
                )
            })
            .collect();
        assert_eq!(status["good.png"].0, "stored");
        assert_eq!(
            status["part.jpg"].0, "refused",
            "its label file is malformed: {:?}",
            status["part.jpg"]
        );
        assert!(status["part.jpg"].1.contains("label"), "{:?}", status["part.jpg"]);
        assert!(
            status["truncated.jpg"].1.contains("truncated") || status["truncated.jpg"].1.contains("corrupt"),
            "{:?}",
            status["truncated.jpg"]
        );
        assert_eq!(status["truncated.png"].0, "refused", "{:?}", status["truncated.png"]);
        assert!(!status["truncated.png"].1.is_empty(), "a reason is given");
        assert!(status["empty.png"].1.contains("0 bytes"), "{:?}", status["empty.png"]);
        assert!(
            status["page.jpg"].1.contains("unrecognised"),
            "{:?}",
            status["page.jpg"]
        );
        assert!(status["bomb.png"].1.contains("pixels"), "{:?}", status["bomb.png"]);
        assert!(status["../../etc/evil.png"].1.contains("plain name"));
        assert!(status["/etc/passwd"].1.contains("plain name"));
        assert_eq!((v["stored"].as_u64(), v["refused"].as_u64()), (Some(1), Some(8)));
        let sha = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["file"] == "good.png")
            .unwrap()["sha256"]
            .as_str()
            .unwrap()
            .to_string();
        let stored = s
            .state
            .objects
            .get(&format!("projects/steel/images/{sha}.png"))
            .await
            .unwrap();
        assert_eq!(&stored[..], &good[..]);

        // The same bytes again: a duplicate with the same id; tags kept verbatim.
        let form = reqwest::multipart::Form::new()
            .text("project", "steel")
            .part("file", file(good.clone(), "again.png"));
        let v2: Value = client()
            .post(s.at("/api/images/upload"))
            .bearer_auth(&op)
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v2["files"][0]["status"], "duplicate");
        let list: Value = client()
            .get(s.at("/api/images?project=steel&tag=line1"))
            .bearer_auth(&op)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert_eq!(list["items"][0]["tags"][1], "night'; DROP TABLE images;--");
        let label: Vec<f64> = list["items"][0]["label"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(label, [0.0, 0.5, 0.5, 0.25, 0.25]);

        for project in ["../x", "/abs", "a b", "x'; DROP TABLE images;--"] {
            let form = reqwest::multipart::Form::new()
                .text("project", project.to_string())
                .part("file", file(good.clone(), "g.png"));
            let r = client()
                .post(s.at("/api/images/upload"))
                .bearer_auth(&op)
                .multipart(form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{project}");
        }
        let r = client()
            .post(s.at("/api/images/upload"))
            .bearer_auth(&op)
            .body("not multipart")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error());
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_the_body_limit_get_413_and_store_nothing() {
    let settings = detective_server::ServerSettings {
        max_body_bytes: 200_000,
        ..Default::default()
    };
    let s = TestServer::start_with(Kind::SqliteFolder, settings, None).await;
    let op = s.key(Role::Operator).await;
    let form = reqwest::multipart::Form::new()
        .text("project", "steel")
        .part("file", file(vec![0u8; 400_000], "big.png"));
    let r = client()
        .post(s.at("/api/images/upload"))
        .bearer_auth(&op)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let list: Value = client()
        .get(s.at("/api/images"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
}

async fn upload(s: &TestServer, key: &str, project: &str, first: u64, n: u64, tag: &str) -> Vec<i64> {
    let mut form = reqwest::multipart::Form::new()
        .text("project", project.to_string())
        .text("tags", tag.to_string());
    for i in 0..n {
        form = form
            .part("file", file(part_png(64, 48, first + i), &format!("p{i}.png")))
            .part(
                "file",
                file(
                    format!("{} 0.5 0.5 0.25 0.5\n", i % 2).into_bytes(),
                    &format!("p{i}.txt"),
                ),
            );
    }
    let v: Value = client()
        .post(s.at("/api/images/upload"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect()
}

fn zip_names(bytes: &[u8]) -> Vec<String> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut names: Vec<String> = (0..z.len())
        .map(|i| z.by_index(i).unwrap().name().to_string())
        .collect();
    names.sort();
    names
}

fn zip_text(bytes: &[u8], name: &str) -> String {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut s = String::new();
    z.by_name(name).unwrap().read_to_string(&mut s).unwrap();
    s
}

on_both!(
    datasets_are_versioned_and_export_as_yolov8_and_coco,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let op = s.key(Role::Operator).await;
        let ids = upload(&s, &op, "steel", 100, 10, "batch1").await;
        let create = json!({"name": "steel-defects", "project": "steel", "classes": ["scratch", "dent"], "tag": "batch1",
                        "split_ratios": {"train": 0.6, "val": 0.2, "test": 0.2}});
        let r = client()
            .post(s.at("/api/datasets/create"))
            .bearer_auth(&op)
            .json(&create)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let ds: Value = r.json().await.unwrap();
        let id = ds["id"].as_i64().unwrap();
        assert_eq!(ds["versions"][0]["splits"], json!({"train": 6, "val": 2, "test": 2}));
        let r = client()
            .post(s.at("/api/datasets/create"))
            .bearer_auth(&op)
            .json(&create)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409, "names are unique per project");

        let more = upload(&s, &op, "steel", 200, 2, "batch2").await;
        let v2 = json!({"add": more, "remove": [ids[0]], "splits": {"val": [more[0]]}, "note": "second batch",
                        "labels": {ids[1].to_string(): "1 0.25 0.25 0.5 0.5\n", more[1].to_string(): ""}});
        let ds: Value = client()
            .post(s.at(&format!("/api/datasets/{id}/versions")))
            .bearer_auth(&op)
            .json(&v2)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ds["versions"].as_array().unwrap().len(), 2);
        assert_eq!(ds["versions"][1]["n_images"], 11);
        let r = client()
            .post(s.at(&format!("/api/datasets/{id}/versions")))
            .bearer_auth(&op)
            .json(&json!({"labels": {ids[1].to_string(): "9 x y"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "a malformed label is refused");
        let got: Value = client()
            .get(s.at(&format!("/api/datasets/{id}")))
            .bearer_auth(&op)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got["versions"][0]["n_images"], 10, "version 1 is unchanged");
        let list: Value = client()
            .get(s.at("/api/datasets?project=steel"))
            .bearer_auth(&op)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["items"].as_array().unwrap().len(), 1);

        let r = client()
            .get(s.at(&format!("/api/datasets/{id}/export?version=1&format=yolov8")))
            .bearer_auth(&op)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/zip");
        let zip = r.bytes().await.unwrap();
        let names = zip_names(&zip);
        assert_eq!(names.iter().filter(|n| n.starts_with("images/")).count(), 10);
        assert_eq!(names.iter().filter(|n| n.starts_with("labels/")).count(), 10);
        let yaml = zip_text(&zip, "data.yaml");
        assert!(
            yaml.contains("train: images/train") && yaml.contains("nc: 2") && yaml.contains("1: dent"),
            "{yaml}"
        );
        let label_name = names.iter().find(|n| n.starts_with("labels/train/")).unwrap();
        let label: Vec<f64> = zip_text(&zip, label_name)
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(label[1..], [0.5, 0.5, 0.25, 0.5]);
        let copy = s
            .state
            .objects
            .list("projects/steel/datasets/steel-defects/v1")
            .await
            .unwrap();
        assert!(copy.contains(&"projects/steel/datasets/steel-defects/v1/data.yaml".to_string()));
        assert_eq!(copy.len(), 21, "data.yaml + 10 images + 10 labels: {copy:?}");
        // A second dataset of the project exports its own v1 beside it, not over it.
        let other =
            json!({"name": "steel-few", "project": "steel", "classes": ["scratch"], "image_ids": [ids[0], ids[1]]});
        let r = client()
            .post(s.at("/api/datasets/create"))
            .bearer_auth(&op)
            .json(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let other_id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let r = client()
            .get(s.at(&format!("/api/datasets/{other_id}/export")))
            .bearer_auth(&op)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await.unwrap();
        let few = s
            .state
            .objects
            .list("projects/steel/datasets/steel-few/v1")
            .await
            .unwrap();
        assert_eq!(few.len(), 5, "data.yaml + 2 images + 2 labels: {few:?}");
        let again = s
            .state
            .objects
            .list("projects/steel/datasets/steel-defects/v1")
            .await
            .unwrap();
        assert_eq!(again, copy, "the first dataset's v1 is untouched");

        let coco = client()
            .get(s.at(&format!("/api/datasets/{id}/export?version=1&format=coco")))
            .bearer_auth(&op)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let ann: Value = serde_json::from_str(&zip_text(&coco, "annotations/instances_train.json")).unwrap();
        let latest = client()
            .get(s.at(&format!("/api/datasets/{id}/export")))
            .bearer_auth(&op)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let relabelled = zip_names(&latest)
            .iter()
            .filter(|n| n.starts_with("labels/"))
            .filter(|n| zip_text(&latest, n).starts_with("1 0.25"))
            .count();
        assert_eq!(relabelled, 1, "version 2 carries the new label");
        assert_eq!(ann["categories"][1]["name"], "dent");
        let a = &ann["annotations"][0];
        assert_eq!(
            a["bbox"],
            json!([24.0, 12.0, 16.0, 24.0]),
            "YOLO 0.5 0.5 0.25 0.5 on 64×48 in pixels"
        );

        for (path, status) in [
            (format!("/api/datasets/{id}/export?format=voc"), 400),
            (format!("/api/datasets/{id}/export?version=9"), 404),
            ("/api/datasets/999999".to_string(), 404),
            ("/api/datasets/abc".to_string(), 400),
        ] {
            let r = client().get(s.at(&path)).bearer_auth(&op).send().await.unwrap();
            assert_eq!(r.status(), status, "{path}");
        }
        for body in [
            json!({"name": "x", "project": "steel", "classes": ["a"], "image_ids": [999999]}),
            json!({"name": "../x", "project": "steel", "classes": ["a"], "image_ids": [ids[1]]}),
            json!({"name": "x", "project": "steel", "classes": [], "image_ids": [ids[1]]}),
            json!({"name": "x", "project": "steel", "classes": ["a"], "image_ids": [ids[1]], "split_ratios": {"train": 0.5}}),
            json!({"name": "x'; DROP TABLE datasets;--", "project": "steel", "classes": ["a"], "image_ids": [ids[1]]}),
        ] {
            let r = client()
                .post(s.at("/api/datasets/create"))
                .bearer_auth(&op)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(matches!(r.status().as_u16(), 400 | 404), "{body}: {}", r.status());
            assert_eq!(r.headers()["content-type"], "application/problem+json");
        }
        let r = client()
            .post(s.at("/api/datasets/create"))
            .bearer_auth(&op)
            .header("content-type", "application/json")
            .body("{oops")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
);

/// A fresh (untrained) UNetTiny checkpoint: its head starts at a 1 % defect prior.
pub(crate) fn fresh_segmenter(dir: &std::path::Path) -> std::path::PathBuf {
    use detective_ml::checkpoint::{SegMeta, save_segmenter};
    use detective_ml::segment::{UNetConfig, UNetTiny};
    let device = burn::tensor::Device::flex();
    let model = UNetTiny::new(&UNetConfig::default(), &device);
    let path = dir.join("unet.bpk");
    save_segmenter(&model, &SegMeta::new(vec!["defect".into()], 64, 0.5), &path).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_with_task_segment_answers_regions_and_an_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let seg = detective_ml::segment::segmenter::AnySegmenter::load(&fresh_segmenter(dir.path()), 1).unwrap();
    let plain = TestServer::start(Kind::SqliteFolder).await;
    let key = plain.key(Role::Device).await;
    let r = client()
        .post(plain.at("/api/inference/predict?task=segment"))
        .bearer_auth(&key)
        .body(part_png(96, 64, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "no segmenter served");
    let s = TestServer::start_with_segmenter(
        Kind::SqliteFolder,
        detective_server::ServerSettings::default(),
        Some(crate::common::bundled_pool(1, 4)),
        Some(detective_server::PredictorPool::new(
            seg,
            "unet".into(),
            "test".into(),
            1,
            4,
        )),
    )
    .await;
    let key = s.key(Role::Device).await;
    let url = s.url.clone();
    // Threshold below the untrained model's 1 % prior: the whole part is one region.
    let r = client()
        .post(format!("{url}/api/inference/predict?task=segment&conf=0.001"))
        .bearer_auth(&key)
        .body(part_png(96, 64, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["model"]["task"], "segment");
    assert_eq!(v["image"], json!({"width": 96, "height": 64}));
    assert_eq!(v["defect_pixels"], 96 * 64);
    assert_eq!(v["detections"][0]["bbox"], json!([0.0, 0.0, 96.0, 64.0]));
    assert_eq!(v["detections"][0]["area"], 96 * 64);
    // At the model's own threshold (0.5) nothing is a defect.
    let v: Value = client()
        .post(format!("{url}/api/inference/predict?task=segment"))
        .bearer_auth(&key)
        .body(part_png(96, 64, 0))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["defect_pixels"], 0);
    let r = client()
        .post(format!("{url}/api/inference/predict?task=segment&annotated=true"))
        .bearer_auth(&key)
        .body(part_png(96, 64, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let img = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (96, 64));
    let status: Value = client()
        .get(format!("{url}/api/model-status"))
        .bearer_auth(s.key(Role::Viewer).await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["models"][1]["task"], "segment", "{status}");
    for q in ["conf=1.5", "model=other"] {
        let r = client()
            .post(format!("{url}/api/inference/predict?task=segment&{q}"))
            .bearer_auth(&key)
            .body(part_png(96, 64, 0))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{q}");
    }
}

on_both!(
    predict_loads_registered_versions_by_number_or_stage,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let key = s.key(Role::Device).await;
        // Register the bundled detector's ONNX as det@1 (Production) and a broken det@2.
        let bundled = detective_ml::detect::bundled::resolve(std::path::Path::new("bundled")).unwrap();
        let onnx = std::fs::read(bundled.with_extension("onnx")).unwrap();
        s.state
            .objects
            .put("models/det/v1/model.onnx", onnx.into())
            .await
            .unwrap();
        s.state
            .objects
            .put("models/det/v2/notes.txt", bytes::Bytes::from_static(b"no model"))
            .await
            .unwrap();
        let m = json!({"map50": 0.7});
        detective_store::models::add_version(
            &s.state.db,
            "det",
            detective_core::Task::Detect,
            &m,
            &json!({}),
            None,
            None,
        )
        .await
        .unwrap();
        detective_store::models::add_version(
            &s.state.db,
            "det",
            detective_core::Task::Detect,
            &m,
            &json!({}),
            None,
            None,
        )
        .await
        .unwrap();
        detective_store::models::set_stage(&s.state.db, "det", 1, detective_core::Stage::Production)
            .await
            .unwrap();
        let predict = |q: &str| {
            client()
                .post(s.at(&format!("/api/inference/predict?{q}")))
                .bearer_auth(&key)
                .body(part_png(320, 320, 1))
                .send()
        };
        let served: Value = predict("").await.unwrap().json().await.unwrap();
        for q in ["model=det@1", "model=det@production", "model=Production", "model=det"] {
            let r = predict(q).await.unwrap();
            assert_eq!(r.status(), 200, "{q}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(
                (v["model"]["name"].as_str(), v["model"]["version"].as_i64()),
                (Some("det"), Some(1)),
                "{q}"
            );
            assert_eq!(
                v["detections"], served["detections"],
                "the same network as the served one"
            );
        }
        for (q, status) in [
            ("model=det@2", 422),
            ("model=det@7", 404),
            ("model=det@Staging", 404),
            ("model=det@gold", 400),
            ("model=nope", 404),
        ] {
            let r = predict(q).await.unwrap();
            assert_eq!(r.status(), status, "{q}");
            assert_eq!(r.headers()["content-type"], "application/problem+json");
        }
    }
);

on_both!(
    model_status_names_the_production_files_and_devices_download_them,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let device = s.key(Role::Device).await;
        let get = |path: String| client().get(s.at(&path)).bearer_auth(&device).send();
        // No Production model yet: the served model is listed without files.
        let status: Value = get("/api/model-status".into()).await.unwrap().json().await.unwrap();
        assert_eq!(status["models"][0]["source"], "bundled", "{status}");
        assert!(status["models"][0].get("files").is_none(), "{status}");

        let onnx = b"onnx bytes".to_vec();
        for (name, bytes) in [("model.onnx", onnx.clone()), ("metrics.json", b"{}".to_vec())] {
            s.state
                .objects
                .put(&format!("models/det/v1/{name}"), bytes.into())
                .await
                .unwrap();
        }
        s.state
            .objects
            .put("models/det/v1/plots/pr.svg", bytes::Bytes::from_static(b"<svg/>"))
            .await
            .unwrap();
        crate::common::bare_version(&s.state.db, "det", detective_core::Task::Detect).await;
        detective_store::models::set_stage(&s.state.db, "det", 1, detective_core::Stage::Production)
            .await
            .unwrap();
        let status: Value = get("/api/model-status".into()).await.unwrap().json().await.unwrap();
        let m = &status["models"][0];
        assert_eq!(
            (m["name"].as_str(), m["version"].as_i64()),
            (Some("det"), Some(1)),
            "{status}"
        );
        assert_eq!(
            m["files"],
            json!(["metrics.json", "model.onnx"]),
            "top-level files only"
        );

        let r = get("/api/models/det/versions/1/files/model.onnx".into()).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/octet-stream");
        assert_eq!(r.bytes().await.unwrap().to_vec(), onnx);
        for (path, want) in [
            ("/api/models/det/versions/1/files/model.bpk", 404),
            ("/api/models/det/versions/2/files/model.onnx", 404),
            ("/api/models/other/versions/1/files/model.onnx", 404),
            ("/api/models/det/versions/1/files/.model.onnx", 400),
            ("/api/models/det/versions/1/files/..%2Fv1%2Fmodel.onnx", 400),
            ("/api/models/det/versions/x/files/model.onnx", 400),
        ] {
            let r = get(path.into()).await.unwrap();
            assert_eq!(r.status(), want, "{path}");
        }
    }
);

/// `POST /login` with `key`: the status and the session cookie it set, if any.
async fn login(s: &TestServer, key: &str) -> (u16, Option<String>) {
    // Keys are letters, digits and '_': nothing to escape.
    crate::common::post_login(s, format!("key={key}&next=%2Finspections"), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_sessions_follow_the_key_and_end_when_it_is_revoked() {
    let s = TestServer::start(Kind::SqliteFolder).await;
    let http = no_redirects();
    // Pages without a session go to the login form, remembering where they were.
    let r = http.get(s.at("/inspections")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=/inspections");
    assert_eq!(login(&s, "dd_nonsense").await, (401, None));
    let device = s.key(Role::Device).await;
    assert_eq!(login(&s, &device).await, (403, None), "device keys are for agents");

    let (viewer_id, viewer) = {
        let (k, secret) = detective_store::api_keys::create(&s.state.db, "alice", Role::Viewer)
            .await
            .unwrap();
        (k.id, secret)
    };
    let (status, cookie) = login(&s, &viewer).await;
    assert_eq!(status, 303);
    let cookie = cookie.expect("a session cookie");
    let with = |path: &str| http.get(s.at(path)).header("cookie", cookie.clone()).send();
    let page = with("/inspections").await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("alice") && html.contains("Inspections"), "{html}");
    // The same cookie authenticates the API calls of the pages, with the key's role.
    assert_eq!(with("/api/metrics").await.unwrap().status(), 200);
    assert_eq!(with("/api/keys").await.unwrap().status(), 403);
    // A tampered cookie is no session.
    let forged = cookie.replacen(&viewer_id, "someone-else", 1);
    let r = http
        .get(s.at("/api/metrics"))
        .header("cookie", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Revoking the key ends the session at once.
    detective_store::api_keys::revoke(&s.state.db, &viewer_id)
        .await
        .unwrap();
    assert_eq!(with("/api/metrics").await.unwrap().status(), 401);
    assert_eq!(with("/").await.unwrap().status(), 303);
    // Logging out clears the cookie.
    let out = http.post(s.at("/logout")).send().await.unwrap();
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_websocket_answers_each_frame_with_its_detections() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let s = TestServer::start(Kind::SqliteFolder).await;
    let ws_url = s.at("/api/stream?conf=0.1").replace("http://", "ws://");
    let request = |key: &str| {
        let mut r = ws_url.as_str().into_client_request().unwrap();
        r.headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
        r
    };
    let viewer = s.key(Role::Viewer).await;
    let refused = tokio_tungstenite::connect_async(request(&viewer)).await;
    assert!(
        matches!(refused, Err(tokio_tungstenite::tungstenite::Error::Http(ref r)) if r.status() == 403),
        "viewers may not predict"
    );
    let device = s.key(Role::Device).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(request(&device)).await.unwrap();
    let png = part_png(320, 240, 1);
    // The same detections as the predict route gives for the image.
    let expected: Value = client()
        .post(s.at("/api/inference/predict?conf=0.1"))
        .bearer_auth(&device)
        .body(png.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for _ in 0..3 {
        ws.send(Message::Binary(png.clone().into())).await.unwrap();
        let answer: Value = match ws.next().await.unwrap().unwrap() {
            Message::Text(t) => serde_json::from_str(&t).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (answer["width"].as_u64(), answer["height"].as_u64()),
            (Some(320), Some(240))
        );
        assert_eq!(answer["detections"], expected["detections"], "{answer}");
    }
    // A text message or a broken image gets an error answer; the socket stays open.
    ws.send(Message::Text("hello".into())).await.unwrap();
    let Message::Text(t) = ws.next().await.unwrap().unwrap() else {
        panic!()
    };
    assert!(t.contains("binary"), "{t}");
    ws.send(Message::Binary(b"<html>".to_vec().into())).await.unwrap();
    let Message::Text(t) = ws.next().await.unwrap().unwrap() else {
        panic!()
    };
    assert!(t.contains("error"), "{t}");
    ws.send(Message::Binary(png.into())).await.unwrap();
    let Message::Text(t) = ws.next().await.unwrap().unwrap() else {
        panic!()
    };
    assert!(t.contains("detections"), "{t}");
    ws.close(None).await.unwrap();
}

on_both!(
    analytics_summarise_a_period_and_name_what_got_worse,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let device = s.key(Role::Device).await;
        let viewer = s.key(Role::Viewer).await;
        // 07:00–08:00: 40 predictions, 4 defective; 08:00–09:00: 40, 20 defective.
        for (hour, bad) in [(7u32, 4u32), (8, 20)] {
            let preds: Vec<Value> = (0..40u32)
                .map(|i| {
                    let dets = if i < bad {
                        vec![json!({"class": 0, "name": "scratch", "confidence": 0.9, "bbox": [1.0, 1.0, 9.0, 9.0]})]
                    } else {
                        vec![]
                    };
                    json!({"id": uuid(hour * 100 + i), "captured_at": format!("2026-11-24T{hour:02}:{i:02}:00Z"),
                       "model_version": "m@1", "detections": dets})
                })
                .collect();
            let r = client()
                .post(s.at("/api/log"))
                .bearer_auth(&device)
                .json(&json!({"camera_id": "l1-c1", "predictions": preds}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        let range = "from=2026-11-24T08:00:00Z&to=2026-11-24T09:00:00Z";
        let get = |path: String| client().get(s.at(&path)).bearer_auth(&viewer).send();
        let v: Value = get(format!("/api/analytics/summary?{range}&bucket=hour"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let sum = &v["summary"];
        assert_eq!(
            (sum["total"].as_u64(), sum["defective"].as_u64()),
            (Some(40), Some(20)),
            "{v}"
        );
        assert_eq!(sum["defect_rate"], 0.5);
        assert_eq!(sum["series"].as_array().unwrap().len(), 1);
        assert_eq!(sum["by_class"][0]["key"], "scratch");
        assert_eq!(sum["by_line"][0]["key"], "l1");
        assert_eq!(v["previous"]["from"], "2026-11-24T07:00:00Z");
        let cam = v["root_cause"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["dimension"] == "camera")
            .cloned()
            .unwrap_or_else(|| panic!("{v}"));
        assert_eq!(cam["key"], "l1-c1");
        assert_eq!(
            (cam["rate_now"].as_f64(), cam["rate_before"].as_f64()),
            (Some(0.5), Some(0.1))
        );
        assert_eq!(cam["significant"], true);
        for chart in [
            "rate.svg",
            "classes.svg",
            "cameras.svg",
            "lines.svg",
            "shifts.svg",
            "confidence.svg",
        ] {
            let r = get(format!("/api/analytics/charts/{chart}?{range}")).await.unwrap();
            assert_eq!(r.status(), 200, "{chart}");
            assert_eq!(r.headers()["content-type"], "image/svg+xml");
            assert!(r.text().await.unwrap().starts_with("<svg"), "{chart}");
        }
        for (path, want) in [
            ("/api/analytics/charts/pie.svg".to_string(), 404),
            (format!("/api/analytics/summary?{range}&bucket=week"), 400),
            (
                "/api/analytics/summary?from=2026-11-24T09:00:00Z&to=2026-11-24T08:00:00Z".to_string(),
                400,
            ),
            (
                "/api/analytics/summary?from=2020-01-01T00:00:00Z&to=2026-11-24T08:00:00Z".to_string(),
                400,
            ),
        ] {
            assert_eq!(get(path.clone()).await.unwrap().status(), want, "{path}");
        }
    }
);

on_both!(
    thresholds_change_without_a_restart_and_decide_what_is_uncertain,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let admin = s.key(Role::Admin).await;
        let device = s.key(Role::Device).await;
        let get = || async {
            client()
                .get(s.at("/api/settings/thresholds"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        };
        let put = |body: Value| {
            client()
                .put(s.at("/api/settings/thresholds"))
                .bearer_auth(&admin)
                .json(&body)
                .send()
        };
        let defaults = get().await;
        assert_eq!(
            defaults,
            json!({"conf": 0.25, "uncertain_low": 0.4, "uncertain_high": 0.7})
        );
        for bad in [
            json!({"conf": 0.3, "uncertain_low": 0.6, "uncertain_high": 0.5}),
            json!({"conf": 1.5, "uncertain_low": 0.2, "uncertain_high": 0.5}),
            json!({"conf": 0.3, "uncertain_low": 0.2, "uncertain_high": 0.5, "extra": 1}),
        ] {
            let r = put(bad.clone()).await.unwrap();
            assert_eq!(r.status(), 400, "{bad}");
        }
        assert_eq!(get().await, defaults, "a refused change changes nothing");
        let log = |i: u32, conf: f32| {
            client()
                .post(s.at("/api/log"))
                .bearer_auth(&device)
                .json(&json!({"camera_id": "cam", "predictions": [prediction(i, 0, Some(conf))]}))
                .send()
        };
        // Under the default band, 0.3 is neither uncertain nor defective.
        let before: Value = log(1, 0.3).await.unwrap().json().await.unwrap();
        assert_eq!(
            (before["uncertain"].as_u64(), before["defective"].as_u64()),
            (Some(0), Some(0))
        );
        let r = put(json!({"conf": 0.3, "uncertain_low": 0.2, "uncertain_high": 0.5}))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(get().await["uncertain_high"], 0.5);
        // Now 0.3 is uncertain and 0.6 defective.
        let after: Value = log(2, 0.3).await.unwrap().json().await.unwrap();
        assert_eq!(after["uncertain"], 1, "{after}");
        let after: Value = log(3, 0.6).await.unwrap().json().await.unwrap();
        assert_eq!(after["defective"], 1, "{after}");
    }
);

on_both!(
    the_labeling_queue_lists_uncertain_frames_and_takes_one_decision_each,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let device = s.key(Role::Device).await;
        let operator = s.key(Role::Operator).await;
        let viewer = s.key(Role::Viewer).await;
        let preds = vec![
            prediction(1, 0, Some(0.45)),
            prediction(2, 1, Some(0.55)),
            prediction(3, 2, Some(0.5)),
            prediction(4, 3, Some(0.9)),
        ];
        let r = client()
            .post(s.at("/api/log"))
            .bearer_auth(&device)
            .json(&json!({"camera_id": "cam", "predictions": preds}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let list = |q: &str| {
            client()
                .get(s.at(&format!("/api/labeling-queue{q}")))
                .bearer_auth(&viewer)
                .send()
        };
        let ids = |v: &Value| -> Vec<String> {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["prediction_id"].as_str().unwrap().to_string())
                .collect()
        };
        let oldest: Value = list("").await.unwrap().json().await.unwrap();
        assert_eq!(
            ids(&oldest),
            [uuid(1), uuid(2), uuid(3)],
            "the defective one is not queued"
        );
        assert_eq!(
            (oldest["pending"].as_i64(), oldest["done"].as_i64()),
            (Some(3), Some(0))
        );
        assert!((oldest["items"][0]["detections"][0]["confidence"].as_f64().unwrap() - 0.45).abs() < 1e-6);
        let by_margin: Value = list("?order=margin").await.unwrap().json().await.unwrap();
        assert_eq!(ids(&by_margin), [uuid(2), uuid(3), uuid(1)], "least certain first");
        // Keyset pages.
        let page1: Value = list("?order=margin&limit=1").await.unwrap().json().await.unwrap();
        let next = page1["next"].as_str().unwrap().to_string();
        let page2: Value = list(&format!("?order=margin&limit=1&cursor={next}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ids(&page2), [uuid(3)]);
        for (q, want) in [
            ("?status=nope", 400),
            ("?order=random", 400),
            ("?cursor=zzz", 400),
            ("?limit=0", 400),
        ] {
            assert_eq!(list(q).await.unwrap().status(), want, "{q}");
        }

        let id_of = |p: &str| -> i64 {
            oldest["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["prediction_id"] == p)
                .unwrap()["id"]
                .as_i64()
                .unwrap()
        };
        let post = |path: String, body: Value| client().post(s.at(&path)).bearer_auth(&operator).json(&body).send();
        let (a, b, c) = (id_of(&uuid(2)), id_of(&uuid(3)), id_of(&uuid(1)));
        for bad in [
            json!({"boxes": [{"class": 0, "bbox": [50.0, 20.0, 10.0, 60.0]}]}),
            json!({"boxes": [{"class": 0, "bbox": [10.0, 20.0, 50.0, 60.0]}], "defect_free": true}),
            json!({"boxes": []}),
            json!({"boxes": [{"class": 0, "bbox": [1.0, 2.0, 3.0]}]}),
        ] {
            let r = post(format!("/api/labeling-queue/{a}/label"), bad.clone())
                .await
                .unwrap();
            assert!(r.status() == 400 || r.status() == 422, "{bad}: {}", r.status());
        }
        let ok: Value = post(
            format!("/api/labeling-queue/{a}/label"),
            json!({"boxes": [{"class": 0, "name": "scratch", "bbox": [10.0, 20.0, 50.0, 60.0]}]}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(ok["boxes"][0]["bbox"], json!([10.0, 20.0, 50.0, 60.0]));
        assert_eq!(ok["labeled_by"], "test operator");
        // Decided once: a second label or a skip is a conflict.
        let again = post(format!("/api/labeling-queue/{a}/label"), json!({"defect_free": true}))
            .await
            .unwrap();
        assert_eq!(again.status(), 409);
        let skip_again = post(format!("/api/labeling-queue/{a}/skip"), json!({})).await.unwrap();
        assert_eq!(skip_again.status(), 409);
        assert_eq!(
            post("/api/labeling-queue/999999/skip".into(), json!({}))
                .await
                .unwrap()
                .status(),
            404
        );
        // Five labelers at once on the same frame: exactly one wins.
        let racers: Vec<_> = (0..5)
            .map(|_| post(format!("/api/labeling-queue/{b}/label"), json!({"defect_free": true})))
            .collect();
        let mut codes: Vec<u16> = futures::future::join_all(racers)
            .await
            .into_iter()
            .map(|r| r.unwrap().status().as_u16())
            .collect();
        codes.sort_unstable();
        assert_eq!(codes, [200, 409, 409, 409, 409]);
        assert_eq!(
            post(format!("/api/labeling-queue/{c}/skip"), json!({}))
                .await
                .unwrap()
                .status(),
            200
        );
        let pending: Value = list("").await.unwrap().json().await.unwrap();
        assert!(ids(&pending).is_empty());
        assert_eq!(
            (pending["pending"].as_i64(), pending["done"].as_i64()),
            (Some(0), Some(3))
        );
        let labeled: Value = list("?status=labeled").await.unwrap().json().await.unwrap();
        assert_eq!(ids(&labeled).len(), 2);
        let skipped: Value = list("?status=skipped").await.unwrap().json().await.unwrap();
        assert_eq!(ids(&skipped), [uuid(1)]);
        // Viewers read the queue but do not label.
        let r = client()
            .post(s.at(&format!("/api/labeling-queue/{c}/label")))
            .bearer_auth(&viewer)
            .json(&json!({"defect_free": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
);

#[tokio::test]
async fn pages_and_api_answers_carry_the_security_headers() {
    let s = TestServer::start(Kind::SqliteFolder).await;
    for path in ["/login", "/static/common.js", "/api/health", "/no-such-page"] {
        let r = client().get(s.at(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
}
