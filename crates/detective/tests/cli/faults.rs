//! The fault suite: real parts fail under a running `detective serve` and an
//! edge agent — serve killed with SIGKILL mid-batch, PostgreSQL restarted
//! during ingest, the S3-protocol server stopped, the object folder made
//! read-only — and each test asserts what is kept (no acknowledged row lost,
//! nothing stored twice, nothing half-written), what the caller is told (a
//! 503 with `Retry-After` and a message naming the part, not a hang or a bare
//! 500) and that the service is still up afterwards.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::pg_cluster::PgCluster;
use crate::common::{detective, field, free_port, key_of, logged_ids, start_server, start_server_with, total};

/// An agent on a synthetic line sending to the cloud at `port`, producing
/// `frames` results and draining for up to a minute and a half at the end.
fn agent(dir: &Path, port: u16, key: &str, frames: u32, seed: u32) -> Child {
    detective(dir)
        .args(["--data-dir", dir.join("edge").to_str().unwrap(), "edge"])
        .args(["--source", &format!("synthetic://?fps=60&defect_rate=0.5&seed={seed}")])
        .args(["--cloud", &format!("http://127.0.0.1:{port}"), "--key", key])
        .args(["--camera-id", "line1-cam1", "--batch", "8", "--threads", "1"])
        .args(["--max-frames", &frames.to_string(), "--drain-secs", "90"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The agent's summary line, once it has ended successfully.
fn summary(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string()
}

/// The agent ended having delivered everything it produced (over 100), and
/// the cloud holds each of those predictions once.
fn delivered_once(out: &Output, port: u16, viewer: &str) {
    let line = summary(out);
    let produced = field(&line, "produced");
    assert!(produced > 100, "{line}");
    assert_eq!(
        (field(&line, "delivered"), field(&line, "pending")),
        (produced, 0),
        "{line}"
    );
    // logged_ids panics on an id stored twice
    assert_eq!(logged_ids(port, viewer).len() as u64, produced, "every prediction once");
}

/// Waits until the cloud stores more than `n` predictions.
fn wait_for_more_than(port: u16, key: &str, n: i64) {
    let t = Instant::now();
    while total(port, key) <= n {
        assert!(t.elapsed() < Duration::from_secs(60), "the agent delivers");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill(mut server: Child) {
    let _ = server.kill(); // SIGKILL
    let _ = server.wait();
}

/// `detective keys create` of `role` against the database at `url`.
fn key_on(dir: &Path, url: &str, role: &str) -> String {
    let o = detective(dir)
        .args(["keys", "create", "--database-url", url, "--role", role, "--name", role])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

/// A blocking HTTP call: status, `Retry-After` and body.
fn call(req: reqwest::RequestBuilder) -> (u16, Option<String>, String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let r = req.timeout(Duration::from_secs(60)).send().await.unwrap();
        let retry = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (r.status().as_u16(), retry, r.text().await.unwrap())
    })
}

fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

/// A batch of one prediction with a detection, as the agent sends it.
fn one_prediction(id: u32) -> serde_json::Value {
    serde_json::json!({"camera_id": "probe", "predictions": [{
        "id": format!("00000000-0000-4000-8000-{id:012x}"),
        "captured_at": "2026-12-07T08:00:00Z", "model_version": "detector@1",
        "detections": [{"class": 0, "name": "scratch", "confidence": 0.9, "bbox": [1.0, 2.0, 10.0, 20.0]}]}]})
}

/// Synthetic part `index`, `w`×`h`.
fn part(w: u32, h: u32, index: u64) -> detective_vision::Frame {
    let cfg = detective_vision::synth::SynthConfig {
        width: w,
        height: h,
        ..Default::default()
    };
    detective_vision::synth::generate(&cfg, 11, index).unwrap().image
}

/// A multipart image upload of one synthetic part into project `faults`.
fn image_form(seed: u64) -> reqwest::multipart::Form {
    let png = detective_vision::encode::encode_png(&part(96, 96, seed)).unwrap();
    reqwest::multipart::Form::new().text("project", "faults").part(
        "files",
        reqwest::multipart::Part::bytes(png).file_name(format!("part{seed}.png")),
    )
}

fn image_count(port: u16, key: &str) -> usize {
    crate::common::get_json(port, key, "/api/images?project=faults&limit=1000")["items"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn serve_killed_mid_batch_keeps_every_acknowledged_prediction_and_the_agent_resends_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cloud");
    let data = data.to_str().unwrap();
    let (key, viewer) = (key_of(dir.path(), data, "device"), key_of(dir.path(), data, "viewer"));
    let port = free_port();
    let mut server = start_server(dir.path(), data, port);
    let running = agent(dir.path(), port, &key, 240, 5);
    // Batches of 8 go out continuously (60 frames/s): each SIGKILL lands while
    // the agent is sending. What the cloud had acknowledged before the kill
    // must all be there after the restart.
    let mut seen = 0;
    for _ in 0..3 {
        wait_for_more_than(port, &viewer, seen + 16);
        let acknowledged = logged_ids(port, &viewer);
        kill(server);
        std::thread::sleep(Duration::from_millis(500));
        server = start_server(dir.path(), data, port);
        let after = logged_ids(port, &viewer);
        assert!(acknowledged.is_subset(&after), "an acknowledged prediction was lost");
        seen = after.len() as i64;
    }
    delivered_once(&running.wait_with_output().unwrap(), port, &viewer);
    kill(server);
}

#[test]
fn postgresql_restarted_during_ingest_answers_503_meanwhile_and_loses_nothing() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let db = pg.url();
    let (key, viewer) = (key_on(dir.path(), &db, "device"), key_on(dir.path(), &db, "viewer"));
    let port = free_port();
    let data = dir.path().join("cloud");
    let mut server = start_server_with(
        dir.path(),
        data.to_str().unwrap(),
        port,
        &[("DETECTIVE_DATABASE_URL", db.as_str())],
    );
    let running = agent(dir.path(), port, &key, 300, 6);
    wait_for_more_than(port, &viewer, 16);

    pg.stop();
    let t = Instant::now();
    let http = reqwest::Client::new();
    let (status, retry, body) = call(
        http.post(url(port, "/api/log"))
            .bearer_auth(&key)
            .json(&one_prediction(1)),
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry.as_deref(), Some("5"));
    assert!(body.contains("database"), "the message names the part: {body}");
    assert!(t.elapsed() < Duration::from_secs(30), "refused promptly, not held");
    let (status, _, body) = call(http.get(url(port, "/api/health")));
    assert_eq!(status, 503, "health tells the database is down: {body}");
    std::thread::sleep(Duration::from_secs(2));
    pg.restart();

    let out = running.wait_with_output().unwrap();
    delivered_once(&out, port, &viewer);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("503"),
        "the agent was told to come back later"
    );
    assert!(server.try_wait().unwrap().is_none(), "serve stayed up");
    let (status, _, body) = call(http.get(url(port, "/api/health")));
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = call(
        http.post(url(port, "/api/log"))
            .bearer_auth(&key)
            .json(&one_prediction(1)),
    );
    assert_eq!(status, 200, "{body}");
    kill(server);
}

#[test]
fn s3_stopped_refuses_uploads_model_pulls_and_exports_with_503_and_writes_nothing() {
    let mut s3 =
        detective_store::testing::S3Server::start().expect("s3s-fs (./scripts/setup-test-deps.sh installs it)");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cloud");
    let data = data.to_str().unwrap();
    let (ops, viewer) = (key_of(dir.path(), data, "operator"), key_of(dir.path(), data, "viewer"));
    let port = free_port();
    let store = format!("s3://{}/faults", s3.bucket);
    let server = start_server_with(
        dir.path(),
        data,
        port,
        &[
            ("DETECTIVE_OBJECT_STORE", store.as_str()),
            ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", s3.access_key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", s3.secret_key.as_str()),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    let http = reqwest::Client::new();
    let (status, _, body) = call(
        http.post(url(port, "/api/images/upload"))
            .bearer_auth(&ops)
            .multipart(image_form(1)),
    );
    assert_eq!(status, 200, "{body}");
    let image: serde_json::Value = serde_json::from_str(&body).unwrap();
    let dataset = serde_json::json!({"name": "parts", "project": "faults", "classes": ["scratch"],
                                     "image_ids": [image["files"][0]["id"]]});
    let (status, _, body) = call(
        http.post(url(port, "/api/datasets/create"))
            .bearer_auth(&ops)
            .json(&dataset),
    );
    assert!(status == 200 || status == 201, "{status} {body}");
    let created: serde_json::Value = serde_json::from_str(&body).unwrap();
    let export = url(port, &format!("/api/datasets/{}/export", created["id"]));
    let (status, _, body) = call(http.get(&export).bearer_auth(&ops));
    assert_eq!(status, 200, "{body}");
    let onnx = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/detector-t-320.onnx")).unwrap();
    let model_form = || {
        reqwest::multipart::Form::new().text("name", "line-model").part(
            "file",
            reqwest::multipart::Part::bytes(onnx.clone()).file_name("model.onnx"),
        )
    };
    let (status, _, body) = call(
        http.post(url(port, "/api/models/register"))
            .bearer_auth(&ops)
            .multipart(model_form()),
    );
    assert_eq!(status, 201, "{body}");
    let pull = url(port, "/api/models/line-model/versions/1/files/model.onnx");
    let (status, _, _) = call(http.get(&pull).bearer_auth(&ops));
    assert_eq!(status, 200);

    s3.stop();
    let t = Instant::now();
    let (status, retry, body) = call(
        http.post(url(port, "/api/images/upload"))
            .bearer_auth(&ops)
            .multipart(image_form(2)),
    );
    assert_eq!((status, retry.as_deref()), (503, Some("5")), "{body}");
    assert!(body.contains("object store"), "the message names the part: {body}");
    assert_eq!(
        image_count(port, &viewer),
        1,
        "no row for an image whose file was not stored"
    );
    let (status, _, body) = call(http.get(&pull).bearer_auth(&ops));
    assert_eq!(status, 503, "a model pull: {body}");
    let (status, _, body) = call(
        http.post(url(port, "/api/models/register"))
            .bearer_auth(&ops)
            .multipart(model_form()),
    );
    assert_eq!(status, 503, "a model upload: {body}");
    let (status, _, body) = call(http.get(&export).bearer_auth(&ops));
    assert_eq!(status, 503, "a dataset export: {body}");
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "refused within the bounded retries, not held"
    );
    let versions = crate::common::get_json(port, &viewer, "/api/models/line-model/versions");
    assert_eq!(
        versions["items"].as_array().map(Vec::len),
        Some(1),
        "no version without its file: {versions}"
    );

    s3.restart().unwrap();
    let (status, _, body) = call(
        http.post(url(port, "/api/images/upload"))
            .bearer_auth(&ops)
            .multipart(image_form(2)),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(image_count(port, &viewer), 2);
    let (status, _, _) = call(http.get(&pull).bearer_auth(&ops));
    assert_eq!(status, 200, "the model pulls again");
    let (status, _, _) = call(http.get(&export).bearer_auth(&ops));
    assert_eq!(status, 200, "the dataset exports again");
    kill(server);
}

/// Makes a folder and everything in it unwritable — even for root, who
/// ignores file modes: immutable (`chattr +i`) then; undone when dropped.
struct ReadOnly(std::path::PathBuf, bool);

impl ReadOnly {
    fn make(dir: &Path) -> ReadOnly {
        let root = String::from_utf8_lossy(&Command::new("id").arg("-u").output().unwrap().stdout).trim() == "0";
        let args: &[&str] = if root { &["-R", "+i"] } else { &["-R", "a-w"] };
        let o = Command::new(if root { "chattr" } else { "chmod" })
            .args(args)
            .arg(dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        ReadOnly(dir.to_path_buf(), root)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = if self.1 {
            Command::new("chattr").args(["-R", "-i"]).arg(&self.0).output()
        } else {
            Command::new("chmod").args(["-R", "u+w"]).arg(&self.0).output()
        };
    }
}

#[test]
fn a_read_only_object_folder_refuses_frames_and_uploads_and_stores_them_once_writable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cloud");
    let data_s = data.to_str().unwrap();
    let (ops, device, viewer) = (
        key_of(dir.path(), data_s, "operator"),
        key_of(dir.path(), data_s, "device"),
        key_of(dir.path(), data_s, "viewer"),
    );
    let port = free_port();
    let server = start_server(dir.path(), data_s, port);
    let http = reqwest::Client::new();
    let batch = one_prediction(7);
    let frame = detective_vision::encode::encode_jpeg(&part(64, 48, 3), 90).unwrap();
    let with_frame = || {
        reqwest::multipart::Form::new().text("batch", batch.to_string()).part(
            "frame",
            reqwest::multipart::Part::bytes(frame.clone()).file_name("00000000-0000-4000-8000-000000000007.jpg"),
        )
    };

    let guard = ReadOnly::make(&data.join("objects"));
    let (status, _, body) = call(
        http.post(url(port, "/api/log"))
            .bearer_auth(&device)
            .multipart(with_frame()),
    );
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("object store"), "the message names the part: {body}");
    assert_eq!(total(port, &viewer), 0, "no prediction without its frame");
    let (status, _, body) = call(
        http.post(url(port, "/api/images/upload"))
            .bearer_auth(&ops)
            .multipart(image_form(1)),
    );
    assert_eq!(status, 500, "{body}");
    assert_eq!(image_count(port, &viewer), 0);
    let (status, _, _) = call(http.get(url(port, "/api/health")));
    assert_eq!(status, 200, "reads still work: the service is up");

    drop(guard);
    let (status, _, body) = call(
        http.post(url(port, "/api/log"))
            .bearer_auth(&device)
            .multipart(with_frame()),
    );
    assert_eq!(status, 200, "the same batch, sent again: {body}");
    assert_eq!(
        logged_ids(port, &viewer),
        BTreeSet::from(["00000000-0000-4000-8000-000000000007".to_string()])
    );
    let (status, _, body) = call(
        http.post(url(port, "/api/images/upload"))
            .bearer_auth(&ops)
            .multipart(image_form(1)),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(image_count(port, &viewer), 1);
    kill(server);
}

#[test]
fn an_agent_whose_clock_is_two_hours_ahead_is_named_and_keeps_both_times_of_its_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cloud");
    let data = data.to_str().unwrap();
    let (key, viewer) = (key_of(dir.path(), data, "device"), key_of(dir.path(), data, "viewer"));
    let port = free_port();
    let server = start_server(dir.path(), data, port);
    // libfaketime moves the agent's clock (and only its own) two hours ahead.
    let mut cmd = Command::new("faketime");
    cmd.args(["-f", "+2h"])
        .arg(env!("CARGO_BIN_EXE_detective"))
        .current_dir(dir.path());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("DETECTIVE_")) {
        cmd.env_remove(k);
    }
    let out = cmd
        .env("RUST_LOG", "warn")
        .args(["--data-dir", dir.path().join("edge").to_str().unwrap(), "edge"])
        .args([
            "--source",
            "synthetic://?fps=20&seed=8",
            "--max-frames",
            "60",
            "--drain-secs",
            "30",
        ])
        .args(["--cloud", &format!("http://127.0.0.1:{port}"), "--key", &key])
        .args(["--camera-id", "line1-cam9", "--batch", "8", "--threads", "1"])
        .output()
        .expect("faketime (./scripts/setup-test-deps.sh installs it)");
    let line = summary(&out);
    let produced = field(&line, "produced");
    assert!(produced > 30, "{line}");
    assert_eq!(
        field(&line, "delivered"),
        produced,
        "a skewed clock loses nothing: {line}"
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("s ahead of the cloud's: every captured_at it sends is off as much"),
        "the agent says so itself: {log}"
    );

    let metrics = crate::common::get_json(port, &viewer, "/api/metrics");
    let skew = metrics["cameras"][0]["clock_skew_s"].as_f64().unwrap();
    assert!(
        (7190.0..7210.0).contains(&skew),
        "the cloud names the camera's skew: {metrics}"
    );
    // Both times are kept: the agent's capture time as sent, the server's receipt time.
    let logs = crate::common::get_json(port, &viewer, "/api/inspection-logs?limit=1000");
    let items = logs["items"].as_array().unwrap();
    assert_eq!(items.len() as u64, produced);
    for it in items {
        let t = |k: &str| detective_store::clock::parse_rfc3339_ms(it[k].as_str().unwrap()).unwrap();
        let ahead = t("captured_at") - t("received_at");
        assert!((7_100_000..7_210_000).contains(&ahead), "{it}");
    }
    kill(server);
}

/// Sends `head` and then `body` on a raw connection and returns the status
/// line of the answer (the server may answer before the body is all sent).
fn raw_status(port: u16, head: &str, body: &[u8]) -> String {
    use std::io::{BufRead, BufReader, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    conn.write_all(head.as_bytes()).unwrap();
    let _ = conn.write_all(body); // refused early: the server may close first
    let mut status = String::new();
    BufReader::new(conn).read_line(&mut status).unwrap();
    status
}

#[test]
fn a_2_gb_upload_and_10_000_files_in_one_request_are_refused_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cloud");
    let data = data.to_str().unwrap();
    let (ops, viewer) = (key_of(dir.path(), data, "operator"), key_of(dir.path(), data, "viewer"));
    let port = free_port();
    let mut server = start_server(dir.path(), data, port);

    // 2 GiB announced: refused from the headers, before the body is read.
    let head = format!(
        "POST /api/images/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ops}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\n\r\n",
        2u64 << 30
    );
    let status = raw_status(port, &head, &[0u8; 64 * 1024]);
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");

    // 10 000 small files in one multipart body (2.5 MB): refused at the limit.
    let mut body = Vec::new();
    body.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=\"project\"\r\n\r\nfaults\r\n");
    for i in 0..10_000 {
        body.extend_from_slice(
            format!("--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"f{i}.txt\"\r\n\r\n0 0.5 0.5 0.1 0.1\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(b"--b--\r\n");
    let (status, _, text) = call(
        reqwest::Client::new()
            .post(url(port, "/api/images/upload"))
            .bearer_auth(&ops)
            .header("content-type", "multipart/form-data; boundary=b")
            .body(body),
    );
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("more than 1000 files in one request"), "{text}");
    assert_eq!(image_count(port, &viewer), 0);
    assert!(server.try_wait().unwrap().is_none(), "serve stayed up");
    let (status, _, _) = call(reqwest::Client::new().get(url(port, "/api/health")));
    assert_eq!(status, 200);
    kill(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_job_outlives_a_postgresql_restart_and_waits_for_s3_to_store_its_files() {
    use detective_core::JobStatus;
    use detective_store::training_jobs;
    let pg = PgCluster::start();
    let mut s3 =
        detective_store::testing::S3Server::start().expect("s3s-fs (./scripts/setup-test-deps.sh installs it)");
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url();
    let db = detective_store::Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let objects = detective_store::Objects::s3(&s3.config("train")).unwrap();
    let ds = crate::cli_worker::seed(&db, &objects).await;
    let epochs = 40;
    let job = training_jobs::create(&db, &crate::cli_worker::job(ds, epochs))
        .await
        .unwrap();
    let store = format!("s3://{}/train", s3.bucket);
    let mut worker = detective(dir.path())
        .args([
            "--data-dir",
            "w",
            "worker",
            "--database-url",
            &url,
            "--object-store",
            &store,
        ])
        .args(["--poll-secs", "0.2", "--heartbeat-secs", "0.5", "--threads", "1"])
        .env("AWS_ENDPOINT_URL", &s3.endpoint)
        .env("AWS_ACCESS_KEY_ID", &s3.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let get = |db: detective_store::Db| async move { training_jobs::get(&db, job.id).await };
    let wait_for_epoch = |n: i64| {
        let db = db.clone();
        async move {
            let t = Instant::now();
            loop {
                // the test's own pool reconnects after the restart
                if let Ok(j) = get(db.clone()).await
                    && (j.epoch >= n || j.status.is_finished())
                {
                    return j;
                }
                assert!(t.elapsed() < Duration::from_secs(300), "the job reaches epoch {n}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let at_stop = wait_for_epoch(2).await;
    assert!(
        at_stop.epoch < epochs - 5,
        "the faults land mid-training: epoch {}",
        at_stop.epoch
    );

    // The database goes away for a few seconds mid-training, and the object
    // store until after the last epoch, when the run's files are stored.
    pg.stop();
    s3.stop();
    tokio::time::sleep(Duration::from_secs(5)).await;
    pg.restart();
    let last = wait_for_epoch(epochs).await;
    assert_eq!(
        last.status,
        JobStatus::Running,
        "the job waits for the object store: {}",
        last.log
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    s3.restart().unwrap();

    let t = Instant::now();
    let done = loop {
        let j = get(db.clone()).await.unwrap();
        if j.status.is_finished() {
            break j;
        }
        assert!(t.elapsed() < Duration::from_secs(300), "the job ends");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done.status, JobStatus::Succeeded, "{}", done.log);
    assert_eq!(done.attempts, 1, "not restarted from scratch: {}", done.log);
    assert_eq!(
        done.history.as_array().unwrap().len(),
        epochs as usize,
        "every epoch recorded"
    );
    let best = format!("{}/weights/best.bpk", done.artifact_key.as_deref().unwrap());
    assert!(objects.exists(&best).await.unwrap(), "{best}");
    let _ = worker.kill();
    let _ = worker.wait();
}

/// A 2 MiB tmpfs mounted at a folder (the tests run as root on this machine
/// kind, as CI does), unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &Path) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "mounting a small disk needs root: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

#[test]
fn an_agent_whose_spool_disk_fills_up_keeps_running_counts_what_it_lost_and_delivers_what_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cloud");
    let data = data.to_str().unwrap();
    let (key, viewer) = (key_of(dir.path(), data, "device"), key_of(dir.path(), data, "viewer"));
    let port = free_port();
    let edge = dir.path().join("edge");
    let _disk = SmallDisk::mount(&edge);
    // The cloud is down and every frame is defective (its JPEG kept): the 2 MiB
    // disk fills long before the spool's own quota (512 MiB) would act.
    let run = |extra: &[&str]| {
        detective(dir.path())
            .args(["--data-dir", edge.to_str().unwrap(), "edge"])
            .args(["--cloud", &format!("http://127.0.0.1:{port}"), "--key", &key])
            .args(["--camera-id", "line1-cam3", "--threads", "1"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[
        "--source",
        "synthetic://?fps=30&defect_rate=1&seed=9",
        "--max-frames",
        "300",
        "--drain-secs",
        "0",
    ]);
    let line = summary(&out);
    let (produced, pending, unspooled) = (
        field(&line, "produced"),
        field(&line, "pending"),
        field(&line, "unspooled"),
    );
    assert!(
        unspooled > 0 && pending > 0,
        "the disk filled up after some results: {line}"
    );
    assert_eq!(
        produced,
        pending + unspooled,
        "every result is either kept or counted lost: {line}"
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("not kept"), "each loss is logged: {log}");

    // The cloud comes up: what was kept is delivered, once.
    let server = start_server(dir.path(), data, port);
    let out = run(&[
        "--source",
        "synthetic://?fps=30",
        "--max-frames",
        "0",
        "--drain-secs",
        "60",
    ]);
    let line = summary(&out);
    assert_eq!(
        (field(&line, "delivered"), field(&line, "pending")),
        (pending, 0),
        "{line}"
    );
    assert_eq!(logged_ids(port, &viewer).len() as u64, pending);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("its reserve is given back"),
        "the full disk was met while draining"
    );
    kill(server);
}
