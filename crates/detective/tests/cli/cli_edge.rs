//! `detective edge` against a real `detective serve`, both through the binary:
//! the cloud is down while the agent runs, then comes back, and every
//! prediction arrives exactly once.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{detective, field, free_port, get_json, key_of, logged_ids, run, start_server, total};

#[test]
fn predictions_made_while_the_cloud_is_down_arrive_exactly_once_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let server_data = dir.path().join("cloud");
    let server_data = server_data.to_str().unwrap();
    let (key, viewer) = (
        key_of(dir.path(), server_data, "device"),
        key_of(dir.path(), server_data, "viewer"),
    );
    let port = free_port();

    // The agent starts while nothing listens on the cloud's port.
    let agent = detective(dir.path())
        .args(["--data-dir", dir.path().join("edge").to_str().unwrap(), "edge"])
        .args(["--source", "synthetic://?fps=40&defect_rate=0.5&seed=3"])
        .args(["--cloud", &format!("http://127.0.0.1:{port}"), "--key", &key])
        .args([
            "--camera-id",
            "line1-cam1",
            "--max-frames",
            "60",
            "--batch",
            "16",
            "--drain-secs",
            "60",
            "--threads",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let mut server = start_server(dir.path(), server_data, port);
    let t = Instant::now();
    let out = agent.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string();
    assert!(t.elapsed() < Duration::from_secs(70));
    let produced = field(&line, "produced");
    assert!(produced > 0 && produced <= 60, "{line}");
    assert_eq!(field(&line, "delivered"), produced, "{line}");
    assert_eq!(field(&line, "pending"), 0, "{line}");
    assert_eq!(total(port, &viewer), produced as i64, "each prediction stored once");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("upload failed"),
        "the outage was seen"
    );
    let _ = server.kill();
    let _ = server.wait();
}

fn spooled_ids(path: &std::path::Path) -> std::collections::BTreeSet<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM spool")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        ids.into_iter().collect()
    })
}

#[test]
fn an_agent_killed_mid_upload_loses_and_duplicates_nothing_it_spooled() {
    let dir = tempfile::tempdir().unwrap();
    let server_data = dir.path().join("cloud");
    let server_data = server_data.to_str().unwrap();
    let (key, viewer) = (
        key_of(dir.path(), server_data, "device"),
        key_of(dir.path(), server_data, "viewer"),
    );
    let port = free_port();
    let edge_data = dir.path().join("edge");
    let agent = |extra: &[&str]| {
        let mut c = detective(dir.path());
        c.args(["--data-dir", edge_data.to_str().unwrap(), "edge"])
            .args(["--cloud", &format!("http://127.0.0.1:{port}"), "--key", &key])
            .args(["--camera-id", "line1-cam1", "--batch", "4", "--threads", "1"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        c
    };
    // The agent spools for a while with the cloud down, then the cloud comes up and
    // the agent is killed as soon as the first batches arrive: mid-upload, with most
    // of its results still in the spool.
    let mut first = agent(&["--source", "synthetic://?fps=40&defect_rate=0.5&seed=4"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let mut server = start_server(dir.path(), server_data, port);
    let t = Instant::now();
    while total(port, &viewer) < 1 {
        assert!(t.elapsed() < Duration::from_secs(60), "the agent delivers");
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().unwrap(); // SIGKILL
    let _ = first.wait();
    let stored = logged_ids(port, &viewer);
    let spool = edge_data.join("edge/line1-cam1/spool.db");
    let spooled = spooled_ids(&spool);
    eprintln!("at the kill: {} stored, {} spooled", stored.len(), spooled.len());
    assert!(
        !stored.is_empty() && spooled.len() > 10,
        "killed mid-upload with a backlog"
    );

    // Restarted without new frames: it sends what the first run left in its spool.
    let out = agent(&[
        "--source",
        "synthetic://?fps=30",
        "--max-frames",
        "0",
        "--drain-secs",
        "30",
    ])
    .output()
    .unwrap();
    assert!(out.status.success());
    let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string();
    assert_eq!(field(&line, "pending"), 0, "{line}");
    assert_eq!(field(&line, "produced"), 0, "{line}");
    let after = logged_ids(port, &viewer);
    let expected: std::collections::BTreeSet<String> = stored.union(&spooled).cloned().collect();
    assert_eq!(after, expected, "everything spooled arrived, nothing else");
    assert!(spooled_ids(&spool).is_empty());
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn every_defective_frame_publishes_a_reject_message_on_the_line_topic() {
    let dir = tempfile::tempdir().unwrap();
    let server_data = dir.path().join("cloud");
    let server_data = server_data.to_str().unwrap();
    let (key, viewer) = (
        key_of(dir.path(), server_data, "device"),
        key_of(dir.path(), server_data, "viewer"),
    );
    let port = free_port();
    let mut server = start_server(dir.path(), server_data, port);
    let line = format!("test-{}", std::process::id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Subscribe on the machine's Mosquitto before the agent starts.
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let topic = format!("detective/{line}/reject");
    rt.spawn(async move {
        let opts = rumqttc::MqttOptions::new(format!("sub-{}", std::process::id()), "127.0.0.1", 1883);
        let (client, mut events) = rumqttc::AsyncClient::new(opts, 64);
        client.subscribe(&topic, rumqttc::QoS::AtLeastOnce).await.unwrap();
        loop {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    let _ = tx.send(serde_json::from_slice(&p.payload).unwrap());
                }
                Ok(_) => {}
                Err(e) => panic!("Mosquitto must run on 127.0.0.1:1883: {e}"),
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).expect("subscribed");
    let out = detective(dir.path())
        .args(["--data-dir", dir.path().join("edge").to_str().unwrap(), "edge"])
        .args(["--source", "synthetic://?fps=0&defect_rate=1&seed=5"])
        .args(["--cloud", &format!("http://127.0.0.1:{port}"), "--key", &key])
        .args(["--camera-id", "cam-r", "--max-frames", "20", "--threads", "1"])
        .args(["--mqtt", "mqtt://127.0.0.1:1883", "--line", &line])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string();
    let sent = field(&summary, "rejects_sent");
    assert_eq!(field(&summary, "rejects_acked"), sent, "{summary}");
    assert_eq!(field(&summary, "rejects_dropped"), 0, "{summary}");
    let mut msgs = Vec::new();
    while let Ok(m) = rx.recv_timeout(Duration::from_secs(2)) {
        msgs.push(m);
    }
    // Defective predictions as the cloud recorded them.
    let defective: std::collections::BTreeSet<String> = rt.block_on(async {
        let v: serde_json::Value = reqwest::Client::new()
            .get(format!(
                "http://127.0.0.1:{port}/api/inspection-logs?defective=true&limit=1000"
            ))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    });
    assert!(!defective.is_empty(), "{summary}");
    let got: std::collections::BTreeSet<String> = msgs
        .iter()
        .map(|m| m["frame_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, defective, "one reject per defective frame");
    assert_eq!(sent as usize, defective.len());
    let m = &msgs[0];
    assert_eq!(m["camera_id"], "cam-r");
    assert!(m["max_confidence"].as_f64().unwrap() >= 0.7 && !m["classes"].as_array().unwrap().is_empty());
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn the_demo_runs_api_and_agent_in_one_process_on_the_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let data = data.to_str().unwrap();
    let out = detective(dir.path())
        .args([
            "--data-dir",
            data,
            "demo",
            "--bind",
            "127.0.0.1:0",
            "--fps",
            "50",
            "--max-frames",
            "15",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string();
    let produced = field(&line, "produced");
    assert!(produced > 0, "{line}");
    assert_eq!(field(&line, "delivered"), produced, "{line}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("dashboard on http://127.0.0.1:"));
    // The predictions are in the demo's SQLite file: a server on the same data dir sees them.
    let viewer = key_of(dir.path(), data, "viewer");
    let port = free_port();
    let mut server = start_server(dir.path(), data, port);
    assert_eq!(total(port, &viewer), produced as i64);
    let _ = server.kill();
    let _ = server.wait();
    let o = run(detective(dir.path()).args(["demo", "--bind", "0.0.0.0:8000"]));
    assert!(!o.status.success(), "the keyless demo stays on loopback");
}

#[test]
fn the_preview_serves_mjpeg_frames_and_a_json_status() {
    let dir = tempfile::tempdir().unwrap();
    let (cloud_port, preview_port) = (free_port(), free_port());
    let mut agent = detective(dir.path())
        .args(["--data-dir", dir.path().to_str().unwrap(), "edge"])
        .args([
            "--source",
            "synthetic://?fps=20&seed=6",
            "--max-frames",
            "80",
            "--drain-secs",
            "0",
        ])
        .args([
            "--cloud",
            &format!("http://127.0.0.1:{cloud_port}"),
            "--key",
            "k",
            "--camera-id",
            "cam-p",
        ])
        .args(["--preview", &format!("127.0.0.1:{preview_port}"), "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, first_part) = rt.block_on(async {
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{preview_port}");
        let t = Instant::now();
        let status: serde_json::Value = loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await {
                let v: serde_json::Value = r.json().await.unwrap();
                if v["produced"].as_u64().unwrap_or(0) > 0 {
                    break v;
                }
            }
            assert!(t.elapsed() < Duration::from_secs(30), "the preview answers");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut r = http.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(r.headers()["content-type"], "multipart/x-mixed-replace; boundary=frame");
        let mut buf = Vec::new();
        while buf.len() < 200 {
            match r.chunk().await.unwrap() {
                Some(c) => buf.extend_from_slice(&c),
                None => break,
            }
        }
        (status, buf)
    });
    assert_eq!(status["camera_id"], "cam-p");
    let text = String::from_utf8_lossy(&first_part[..80.min(first_part.len())]).to_string();
    assert!(text.starts_with("--frame\r\nContent-Type: image/jpeg"), "{text}");
    let body_at = first_part.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(&first_part[body_at..body_at + 2], &[0xFF, 0xD8], "a JPEG follows");
    let _ = agent.kill();
    let _ = agent.wait();
}

/// Registers the bundled detector's files as `name@version` in the cloud under
/// `data` (its SQLite file and object folder) and promotes it to Production.
fn promote_bundled(data: &str, name: &str) -> i64 {
    let bundled = detective_ml::detect::bundled::resolve(std::path::Path::new("bundled")).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let data = std::path::Path::new(data);
        let db = detective_store::Db::open_sqlite_file(&data.join("detective.db"))
            .await
            .unwrap();
        let objects = detective_store::Objects::local(&data.join("objects")).unwrap();
        let next = detective_store::models::versions(&db, name)
            .await
            .map_or(0, |v| v.len()) as i64
            + 1;
        let prefix = format!("models/{name}/v{next}");
        for ext in ["json", "bpk", "onnx"] {
            let bytes = std::fs::read(bundled.with_extension(ext)).unwrap();
            objects
                .put(&format!("{prefix}/model.{ext}"), bytes.into())
                .await
                .unwrap();
        }
        let v = detective_store::models::add_version(
            &db,
            name,
            detective_core::Task::Detect,
            &serde_json::json!({}),
            &serde_json::json!({}),
            Some(&prefix),
            None,
        )
        .await
        .unwrap();
        detective_store::models::set_stage(&db, name, v.version, detective_core::Stage::Production)
            .await
            .unwrap();
        v.version
    })
}

/// The `model_version`s of everything the cloud has stored.
fn logged_models(port: u16, key: &str) -> std::collections::BTreeSet<String> {
    get_json(port, key, "/api/inspection-logs?limit=1000")["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|it| it["model_version"].as_str().unwrap().to_string())
        .collect()
}

fn wait_for_model(port: u16, key: &str, model: &str) {
    let t = Instant::now();
    while !logged_models(port, key).contains(model) {
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "no prediction by {model} arrived"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_agent_on_production_follows_each_promotion_and_runs_the_last_pulled_model_offline() {
    let dir = tempfile::tempdir().unwrap();
    let server_data = dir.path().join("cloud");
    let server_data = server_data.to_str().unwrap();
    let (key, viewer) = (
        key_of(dir.path(), server_data, "device"),
        key_of(dir.path(), server_data, "viewer"),
    );
    let port = free_port();
    let mut server = start_server(dir.path(), server_data, port);
    let edge_data = dir.path().join("edge");
    let agent = |extra: &[&str]| {
        let mut c = detective(dir.path());
        c.args(["--data-dir", edge_data.to_str().unwrap(), "edge"])
            .args(["--cloud", &format!("http://127.0.0.1:{port}"), "--key", &key])
            .args(["--model", "production", "--model-poll-secs", "1", "--threads", "1"])
            .args(["--camera-id", "cam-p", "--batch", "8"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    let running = agent(&["--source", "synthetic://?fps=10&seed=5", "--drain-secs", "20"])
        .spawn()
        .unwrap();
    // The registry is empty: the agent starts on the bundled model, then follows the
    // first promotion, and the next, without a restart.
    wait_for_model(port, &viewer, "bundled@local");
    assert_eq!(promote_bundled(server_data, "line-model"), 1);
    wait_for_model(port, &viewer, "line-model@1");
    assert_eq!(promote_bundled(server_data, "line-model"), 2);
    wait_for_model(port, &viewer, "line-model@2");
    unsafe { libc::kill(running.id() as i32, libc::SIGTERM) };
    let out = running.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string();
    assert!(line.ends_with("model=line-model@2"), "{line}");
    assert_eq!(field(&line, "pending"), 0, "{line}");
    assert!(
        edge_data.join("edge/models/line-model/v2/model.onnx").is_file(),
        "the pulled copy is kept"
    );

    // The cloud is down at the next start: the agent runs the copy it pulled last.
    let _ = server.kill();
    let _ = server.wait();
    let out = agent(&[
        "--source",
        "synthetic://?fps=0",
        "--max-frames",
        "3",
        "--drain-secs",
        "0",
    ])
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string();
    assert!(line.ends_with("model=line-model@2"), "{line}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("starting on the last pulled model line-model@2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_segmenter_runs_in_the_agent_and_its_regions_arrive_as_detections() {
    let dir = tempfile::tempdir().unwrap();
    let server_data = dir.path().join("cloud");
    let server_data = server_data.to_str().unwrap();
    let (key, viewer) = (
        key_of(dir.path(), server_data, "device"),
        key_of(dir.path(), server_data, "viewer"),
    );
    let port = free_port();
    let mut server = start_server(dir.path(), server_data, port);
    // An untrained UNetTiny starts at a 1 % defect prior; with the pixel threshold
    // below it, the whole frame is one defect region of confidence ≈ 0.01.
    let unet = dir.path().join("unet.bpk");
    {
        use detective_ml::checkpoint::{SegMeta, save_segmenter};
        use detective_ml::segment::{UNetConfig, UNetTiny};
        let model = UNetTiny::new(&UNetConfig::default(), &burn::tensor::Device::flex());
        save_segmenter(&model, &SegMeta::new(vec!["defect".into()], 64, 0.005), &unet).unwrap();
    }
    let out = detective(dir.path())
        .args(["--data-dir", dir.path().join("edge").to_str().unwrap(), "edge"])
        .args(["--cloud", &format!("http://127.0.0.1:{port}"), "--key", &key])
        .args(["--model", unet.to_str().unwrap(), "--conf", "0.001", "--threads", "1"])
        .args([
            "--source",
            "synthetic://?fps=5&width=320&height=240",
            "--max-frames",
            "4",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string();
    let produced = field(&line, "produced");
    assert!(produced >= 1 && produced + field(&line, "dropped") == 4, "{line}");
    assert_eq!(field(&line, "delivered"), produced, "{line}");
    assert!(line.ends_with("model=unet@local"), "{line}");
    let logs = get_json(port, &viewer, "/api/inspection-logs");
    let items = logs["items"].as_array().unwrap();
    assert_eq!(items.len() as u64, produced);
    for it in items {
        let d = &it["detections"][0];
        assert_eq!(d["name"], "defect", "{it}");
        let c = d["confidence"].as_f64().unwrap();
        assert!(c > 0.001 && c < 0.1, "{it}");
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// `--task segment` follows the Production segmenter: with none in the cloud and
/// none pulled before (there is no bundled segmenter) the agent refuses to start
/// and says what to do; without `--model production` the flag is refused.
#[test]
fn an_agent_following_segmenters_without_one_in_production_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let server_data = dir.path().join("cloud");
    let server_data = server_data.to_str().unwrap();
    let key = key_of(dir.path(), server_data, "device");
    let port = free_port();
    let mut server = start_server(dir.path(), server_data, port);
    let edge = |model: &str| {
        detective(dir.path())
            .args(["--data-dir", dir.path().join("edge").to_str().unwrap(), "edge"])
            .args(["--cloud", &format!("http://127.0.0.1:{port}"), "--key", &key])
            .args(["--model", model, "--task", "segment"])
            .args(["--source", "synthetic://?fps=5&width=64&height=64", "--max-frames", "1"])
            .output()
            .unwrap()
    };
    let out = edge("production");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no Production segment model to start on"),
        "{err}"
    );
    let out = edge("bundled");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("goes with --model production"),
        "{err}"
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// A cloud (`detective serve`) on a free port, data under `dir/cloud`, with a
/// device and an operator key.
struct Cloud {
    server: std::process::Child,
    port: u16,
    device: String,
    operator: String,
}

fn cloud(dir: &std::path::Path) -> Cloud {
    let data = dir.join("cloud");
    let data = data.to_str().unwrap();
    let (device, operator) = (key_of(dir, data, "device"), key_of(dir, data, "operator"));
    let port = free_port();
    Cloud {
        server: start_server(dir, data, port),
        port,
        device,
        operator,
    }
}

/// `PUT path` with a JSON `body` on the cloud at `port`; the status.
fn put_json(port: u16, key: &str, path: &str, body: &serde_json::Value) -> u16 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(
        reqwest::Client::new()
            .put(format!("http://127.0.0.1:{port}{path}"))
            .bearer_auth(key)
            .json(body)
            .send(),
    )
    .unwrap()
    .status()
    .as_u16()
}

/// The logged predictions of `camera`: `(count, detections in all)`.
fn logged_on(port: u16, key: &str, camera: &str) -> (usize, usize) {
    let v = get_json(port, key, &format!("/api/inspection-logs?camera={camera}&limit=1000"));
    let items = v["items"].as_array().unwrap();
    let dets = items.iter().map(|i| i["detections"].as_array().unwrap().len()).sum();
    (items.len(), dets)
}

#[test]
fn an_agent_applies_the_zones_its_camera_gets_from_the_cloud_and_keeps_them_for_an_offline_start() {
    let dir = tempfile::tempdir().unwrap();
    let Cloud {
        mut server,
        port,
        device: key,
        operator,
    } = cloud(dir.path());
    // Camera cam-z ignores the whole frame; cam-y has no rules.
    let zones = serde_json::json!({"camera": "cam-z", "rules": {"zones": [
        {"name": "all", "kind": "ignore", "points": [[0, 0], [1, 0], [1, 1], [0, 1]]}]}});
    assert_eq!(put_json(port, &operator, "/api/rules", &zones), 200);
    let edge_data = dir.path().join("edge");
    let agent = |camera: &str| {
        let out = detective(dir.path())
            .args(["--data-dir", edge_data.to_str().unwrap(), "edge"])
            .args(["--cloud", &format!("http://127.0.0.1:{port}"), "--key", &key])
            .args([
                "--source",
                "synthetic://?fps=0&defect_rate=1&seed=7",
                "--max-frames",
                "12",
            ])
            .args(["--camera-id", camera, "--threads", "1", "--drain-secs", "30"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string();
        (field(&line, "produced"), field(&line, "pending"))
    };
    let (made_y, pending_y) = agent("cam-y");
    let (made_z, pending_z) = agent("cam-z");
    assert_eq!((pending_y, pending_z), (0, 0));
    let (n_y, dets_y) = logged_on(port, &operator, "cam-y");
    let (n_z, dets_z) = logged_on(port, &operator, "cam-z");
    assert_eq!(
        (n_y as u64, n_z as u64),
        (made_y, made_z),
        "every prediction made is logged"
    );
    assert!(made_z > 0);
    assert!(dets_y > 0, "the defects are found where no zone hides them");
    assert_eq!(dets_z, 0, "cam-z's ignore zone covers its whole frame");
    let kept = std::fs::read_to_string(edge_data.join("edge/cam-z/rules.json")).unwrap();
    assert!(kept.contains("\"all\""), "{kept}");

    // The cloud is down at the next start: the agent applies the rules it kept.
    let _ = server.kill();
    let _ = server.wait();
    let out = detective(dir.path())
        .args(["--data-dir", edge_data.to_str().unwrap(), "edge"])
        .args(["--cloud", &format!("http://127.0.0.1:{port}"), "--key", &key])
        .args([
            "--source",
            "synthetic://?fps=0",
            "--max-frames",
            "2",
            "--drain-secs",
            "0",
        ])
        .args(["--camera-id", "cam-z", "--threads", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("starting on the cloud's rules kept in"), "{err}");
}

#[test]
fn an_agent_sends_the_frames_its_cameras_sampling_picks_to_the_queue_up_to_the_hourly_limit() {
    let dir = tempfile::tempdir().unwrap();
    let Cloud {
        mut server,
        port,
        device: key,
        operator,
    } = cloud(dir.path());
    // Every frame at random, at most 4 an hour: clean parts the model finds
    // nothing on still reach people.
    let sampling = serde_json::json!({"random_percent": 100, "per_hour": 4});
    assert_eq!(put_json(port, &operator, "/api/cameras/cam-s/sampling", &sampling), 200);
    let edge_data = dir.path().join("edge");
    let out = detective(dir.path())
        .args(["--data-dir", edge_data.to_str().unwrap(), "edge"])
        .args(["--cloud", &format!("http://127.0.0.1:{port}"), "--key", &key])
        .args([
            "--source",
            "synthetic://?fps=0&defect_rate=0&seed=3",
            // Enough frames that, however many the busy camera drops, more are
            // predicted than the hourly limit (12 gave 5 on a loaded machine).
            "--max-frames",
            "40",
        ])
        .args(["--camera-id", "cam-s", "--threads", "1", "--drain-secs", "30"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string();
    // fps=0: the camera outruns inference and the newest frame wins, so some are dropped.
    assert_eq!(field(&line, "pending"), 0, "{line}");
    assert!(field(&line, "produced") >= 6, "more frames than the limit: {line}");
    let queue = get_json(port, &operator, "/api/labeling-queue?limit=100");
    let items = queue["items"].as_array().unwrap();
    let sampled: Vec<&serde_json::Value> = items.iter().filter(|i| i["reason"] == "random").collect();
    // 4 per clock hour (a run that straddles the hour gets two hours' worth).
    let logs = get_json(port, &operator, "/api/inspection-logs?camera=cam-s&limit=1000");
    let hours: std::collections::BTreeSet<String> = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["captured_at"].as_str().unwrap()[..13].to_string())
        .collect();
    assert_eq!(sampled.len(), 4 * hours.len(), "the hourly limit: {queue}");
    assert!(
        sampled
            .iter()
            .all(|i| i["camera_id"] == "cam-s" && i["frame_key"].is_string()),
        "each sampled frame arrives with its image: {queue}"
    );
    let kept = std::fs::read_to_string(edge_data.join("edge/cam-s/sampling.json")).unwrap();
    assert!(kept.contains("\"per_hour\": 4"), "{kept}");
    let _ = server.kill();
    let _ = server.wait();
}
