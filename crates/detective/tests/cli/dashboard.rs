//! The dashboard in a real browser: `detective serve` on a free port with a
//! temporary SQLite file and object folder, predictions logged by real edge
//! agents, and headless Debian Chromium driven through chromedriver (WebDriver).
//! Every page is screenshotted to `target/screenshots/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{detective, free_port, key_of, start_server, stderr};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Logs `frames` predictions of a synthetic camera `camera` through a real agent.
fn log_frames(dir: &Path, port: u16, key: &str, camera: &str, frames: u32, seed: u32) {
    let o = detective(dir)
        .args([
            "--data-dir",
            dir.join(format!("edge-{camera}")).to_str().unwrap(),
            "edge",
        ])
        .args([
            "--cloud",
            &format!("http://127.0.0.1:{port}"),
            "--key",
            key,
            "--camera-id",
            camera,
        ])
        .args([
            "--source",
            &format!("synthetic://?fps=10&defect_rate=0.8&seed={seed}"),
            "--max-frames",
            &frames.to_string(),
            "--threads",
            "1",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// chromedriver on a free port, and a headless Chromium session through it whose
/// fake camera plays `camera` (an MJPEG file).
async fn browser(camera: &Path) -> (Guard, Client) {
    let port = free_port();
    let driver = Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian package chromium-driver; ./scripts/setup-test-deps.sh installs it)");
    let driver = Guard(driver);
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(30), "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,800",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                format!("--use-file-for-fake-video-capture={}", camera.display()),
            ]
        }),
    );
    let client = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    (driver, client)
}

/// An MJPEG clip of synthetic parts, most with defects, for Chromium's fake camera.
fn defect_clip(path: &Path) {
    use detective_vision::synth::{SynthConfig, generate};
    let config = SynthConfig {
        width: 640,
        height: 480,
        defect_rate: 1.0,
        ..SynthConfig::default()
    };
    let mut out = Vec::new();
    for i in 0..10 {
        let s = generate(&config, 7, i).unwrap();
        out.extend(detective_vision::encode::encode_jpeg(&s.image, 90).unwrap());
    }
    std::fs::write(path, out).unwrap();
}

fn screenshots() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Polls a JavaScript expression until it is truthy; returns its value.
async fn until(c: &Client, what: &str, expr: &str) -> Value {
    let t = Instant::now();
    loop {
        // A page that is navigating has no script context for a moment: try again.
        let v = match c.execute(&format!("return ({expr});"), vec![]).await {
            Ok(v) => v,
            Err(e) => {
                assert!(
                    t.elapsed() < Duration::from_secs(60),
                    "timed out waiting for {what} ({expr}): {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let truthy = match &v {
            Value::Null | Value::Bool(false) => false,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what} ({expr})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Clicks the first element matching `css`.
async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Types `text` into the first element matching `css`.
async fn type_into(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

/// The text of the first element matching `css`, waiting for it to appear.
async fn visible(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn login(c: &Client, base: &str, key: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    type_into(c, "#key", key).await;
    click(c, "button[type=submit]").await;
    // Signed in (another page) or refused (the form again, with its message).
    until(
        c,
        "the login answer",
        "location.pathname !== '/login' || document.querySelector('.error') !== null",
    )
    .await;
}

async fn api(base: &str, key: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Twelve labelled synthetic 64×64 parts (8 train, 4 val) as dataset `line-parts`; its id.
async fn labelled_dataset(base: &str, key: &str) -> i64 {
    let cfg = detective_vision::synth::SynthConfig {
        width: 64,
        height: 64,
        defect_rate: 0.9,
        ..Default::default()
    };
    crate::common::labelled_parts_dataset(base, key, &cfg, 21, "line", "line-parts", false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_works_in_chromium_against_real_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cloud");
    let data = data.to_str().unwrap();
    let (viewer, admin, device) = (
        key_of(dir.path(), data, "viewer"),
        key_of(dir.path(), data, "admin"),
        key_of(dir.path(), data, "device"),
    );
    // A small segmentation run for the Segmentation lab (DATA_DIR/runs/seg1).
    for args in [
        vec![
            "synth",
            "--task",
            "segment",
            "--count",
            "20",
            "--size",
            "64x48",
            "--out",
            "segdata",
            "--seed",
            "3",
            "--split",
            "0.7,0.3,0",
        ],
        vec![
            "train",
            "--task",
            "segment",
            "--data",
            "segdata",
            "--epochs",
            "2",
            "--imgsz",
            "64",
            "--batch",
            "4",
            "--out",
            "cloud/runs/seg1",
        ],
    ] {
        let o = detective(dir.path()).args(&args).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let port = free_port();
    let _server = Guard(start_server(dir.path(), data, port));
    let base = format!("http://127.0.0.1:{port}");
    // Two cameras with real predictions and kept frames.
    log_frames(dir.path(), port, &device, "line1-cam1", 12, 3);
    log_frames(dir.path(), port, &device, "line2-cam1", 6, 4);
    let clip = dir.path().join("parts.mjpeg");
    defect_clip(&clip);
    let (_driver, c) = browser(&clip).await;

    // Not signed in: every page leads to the login form.
    c.goto(&format!("{base}/inspections")).await.unwrap();
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/login", "{url}");
    assert_eq!(url.query(), Some("next=/inspections"));
    shot(&c, "login").await;
    // A wrong key and a device key are refused with a message.
    login(&c, &base, "dd_wrong").await;
    let err = visible(&c, ".error").await;
    assert!(err.contains("Unknown or revoked"), "{err}");
    login(&c, &base, &device).await;
    let err = visible(&c, ".error").await;
    assert!(err.contains("for agents"), "{err}");

    // A viewer signs in and lands on the overview with the service's own figures.
    login(&c, &base, &viewer).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    let metrics = api(&base, &viewer, "/api/metrics").await;
    let today = until(
        &c,
        "the figures",
        "document.getElementById('k-total').textContent.replace(/,/g, '')",
    )
    .await;
    assert_eq!(today.as_str().unwrap(), metrics["predictions_total"].to_string());
    until(&c, "latest defects", "document.querySelectorAll('#latest img').length").await;
    until(
        &c,
        "camera rows",
        "document.querySelectorAll('#cameras tbody tr td').length > 1",
    )
    .await;
    // Thumbnails load (the frame route answers real JPEGs).
    until(
        &c,
        "thumbnail pixels",
        "[...document.querySelectorAll('#latest img')].some(i => i.complete && i.naturalWidth > 0)",
    )
    .await;
    shot(&c, "overview").await;

    // Inspections: every row first, then the camera filter narrows the table.
    c.goto(&format!("{base}/inspections")).await.unwrap();
    let total = metrics["predictions_total"].as_u64().unwrap();
    let line2 = api(&base, &viewer, "/api/inspection-logs?camera=line2-cam1&limit=1000").await["items"]
        .as_array()
        .unwrap()
        .len();
    assert!(line2 > 0 && (line2 as u64) < total, "{line2} of {total}");
    until(
        &c,
        "every row",
        &format!("document.querySelectorAll('#log tbody tr').length === {total}"),
    )
    .await;
    type_into(&c, "#f-camera", "line2-cam1").await;
    click(&c, "#filters button[type=submit]").await;
    until(
        &c,
        "the filter",
        &format!("document.querySelectorAll('#log tbody tr').length === {line2}"),
    )
    .await;
    let cams = c
        .execute(
            "return [...document.querySelectorAll('#log tbody tr td:nth-child(3)')].map(td => td.textContent);",
            vec![],
        )
        .await
        .unwrap();
    assert!(cams.as_array().unwrap().iter().all(|v| v == "line2-cam1"), "{cams}");
    let csv = c
        .find(Locator::Css("#csv"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(csv.contains("camera=line2-cam1") && csv.contains("format=csv"), "{csv}");
    // The CSV link gives the same rows.
    let body = reqwest::Client::new()
        .get(format!("{base}{csv}"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body.lines().count(), line2 + 1, "header + the rows: {body}");
    // New predictions of the filtered camera appear without a reload (server-sent events).
    until(&c, "the event stream", "document.body.dataset.live === 'sse'").await;
    let (dir2, key2) = (dir.path().to_path_buf(), device.clone());
    tokio::task::spawn_blocking(move || log_frames(&dir2, port, &key2, "line2-cam1", 4, 9))
        .await
        .unwrap();
    let now = api(&base, &viewer, "/api/inspection-logs?camera=line2-cam1&limit=1000").await["items"]
        .as_array()
        .unwrap()
        .len();
    assert!(now > line2, "the agent logged more");
    until(
        &c,
        "the new rows",
        &format!("document.querySelectorAll('#log tbody tr').length === {now}"),
    )
    .await;
    let now_total = api(&base, &viewer, "/api/metrics").await["predictions_total"]
        .as_u64()
        .unwrap();
    // The detail view opens with the prediction's boxes.
    click(&c, "#log tbody tr").await;
    until(&c, "the detail dialog", "document.getElementById('detail').open").await;
    shot(&c, "inspections").await;

    // Health: components up, the agents listed.
    c.goto(&format!("{base}/health")).await.unwrap();
    until(
        &c,
        "components",
        "document.querySelectorAll('.component.up').length === 3",
    )
    .await;
    until(
        &c,
        "agents",
        "document.querySelector('#agents tbody').textContent.includes('line1-cam1')",
    )
    .await;
    shot(&c, "health").await;

    // Analytics: the period's figures match the API, every chart is an SVG that loads.
    c.goto(&format!("{base}/analytics")).await.unwrap();
    until(
        &c,
        "the period's figures",
        &format!("document.getElementById('a-total').textContent.replace(/,/g, '') === '{now_total}'"),
    )
    .await;
    until(
        &c,
        "six charts",
        "[...document.querySelectorAll('img.chart')].filter(i => i.complete && i.naturalWidth > 0).length === 6",
    )
    .await;
    let rc = visible(&c, "#rootcause tbody").await;
    assert!(!rc.is_empty(), "the root-cause panel says something");
    shot(&c, "analytics").await;

    // Models: the registry (empty here) says so.
    c.goto(&format!("{base}/models")).await.unwrap();
    until(
        &c,
        "the empty registry",
        "document.querySelector('main').textContent.includes('No model is registered yet')",
    )
    .await;
    assert!(
        c.find(Locator::Css("button[data-stage]")).await.is_err(),
        "viewers get no stage buttons"
    );

    // Live as a viewer: the edge cameras, but no camera streaming (viewers may not predict).
    c.goto(&format!("{base}/live")).await.unwrap();
    until(
        &c,
        "edge camera cards",
        "document.querySelectorAll('#agents article').length === 2",
    )
    .await;
    assert!(
        c.find(Locator::Css("#start")).await.is_err(),
        "viewers get no camera button"
    );

    // Sign out, then in as admin: the browser's (fake) camera streams to the model
    // and the answers are drawn as red boxes on the overlay.
    click(&c, ".user button").await;
    until(&c, "the login page after signing out", "location.pathname === '/login'").await;
    login(&c, &base, &admin).await;
    // Datasets & images: an uploaded image appears in the list, is selected into a
    // new dataset, and the dataset is listed with its export links.
    let part = dir.path().join("part-07.jpg");
    {
        let s = detective_vision::synth::generate(&detective_vision::synth::SynthConfig::default(), 7, 3).unwrap();
        std::fs::write(&part, detective_vision::encode::encode_jpeg(&s.image, 90).unwrap()).unwrap();
    }
    c.goto(&format!("{base}/datasets")).await.unwrap();
    c.find(Locator::Css("#u-project")).await.unwrap().clear().await.unwrap();
    type_into(&c, "#u-project", "steel").await;
    c.find(Locator::Css("#u-files"))
        .await
        .unwrap()
        .send_keys(part.to_str().unwrap())
        .await
        .unwrap();
    let status = visible(&c, "#uploads li.stored").await;
    assert!(status.contains("part-07.jpg") && status.contains("stored"), "{status}");
    until(
        &c,
        "the uploaded image in the list",
        "[...document.querySelectorAll('#images img')].some(i => i.alt === 'part-07.jpg' && i.naturalWidth > 0)",
    )
    .await;
    click(&c, "#images .thumb input").await;
    type_into(&c, "#d-name", "steel-parts").await;
    type_into(&c, "#d-classes", "scratch, spot, crack, dent").await;
    click(&c, "#create button[type=submit]").await;
    until(
        &c,
        "the new dataset",
        "document.querySelector('#datasets tbody').textContent.includes('steel-parts')",
    )
    .await;
    let row = visible(&c, "#datasets tbody tr").await;
    assert!(
        row.contains("v1: 1 image (") && row.contains("YOLOv8") && row.contains("COCO"),
        "{row}"
    );
    let more = c
        .execute(
            "return getComputedStyle(document.getElementById('more-images')).display;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(more, "none", "no 'Load more' without a next page");
    shot(&c, "datasets").await;

    // Training (admin): a job started from the form runs in the server's worker,
    // its curves and log appear, it is registered, and promoted on the Models page.
    let train_ds = labelled_dataset(&base, &admin).await;
    c.goto(&format!("{base}/training")).await.unwrap();
    until(
        &c,
        "the dataset choice",
        "[...document.querySelectorAll('#t-dataset option')].some(o => o.textContent.includes('line-parts'))",
    )
    .await;
    c.execute(
        &format!(
            "const s = document.getElementById('t-dataset'); s.value = '{train_ds}'; s.dispatchEvent(new Event('change')); \
             document.getElementById('t-model').value = 't';"
        ),
        vec![],
    )
    .await
    .unwrap();
    for (field, value) in [("#t-epochs", "2"), ("#t-imgsz", "64"), ("#t-batch", "4")] {
        c.find(Locator::Css(field)).await.unwrap().clear().await.unwrap();
        type_into(&c, field, value).await;
    }
    click(&c, "#start button[type=submit]").await;
    let queued = until(
        &c,
        "the queued job",
        "document.getElementById('start-status').textContent",
    )
    .await;
    assert!(queued.as_str().unwrap().contains("queued"), "{queued}");
    until(
        &c,
        "the job to succeed in the server's worker",
        "document.querySelector('#jobs tbody').textContent.includes('succeeded') && document.getElementById('job-status').textContent.includes('succeeded')",
    )
    .await;
    until(
        &c,
        "loss curves of both epochs",
        "document.querySelectorAll('#loss-chart circle').length === 6 && document.querySelectorAll('#map-chart circle').length === 4",
    )
    .await;
    let log = visible(&c, "#job-log").await;
    assert!(log.contains("epoch 2/2"), "{log}");
    c.execute("document.getElementById('job').scrollIntoView();", vec![])
        .await
        .unwrap();
    shot(&c, "training").await;
    click(&c, "#register").await;
    until(
        &c,
        "the registration",
        "document.getElementById('job-status').textContent.includes('Registered as detector@1')",
    )
    .await;
    c.goto(&format!("{base}/models")).await.unwrap();
    until(
        &c,
        "the registered version",
        "document.querySelector('[data-model=detector] tr[data-version=\"1\"]') !== null",
    )
    .await;
    click(
        &c,
        "[data-model=detector] tr[data-version=\"1\"] button[data-stage=Production]",
    )
    .await;
    until(
        &c,
        "the version in Production",
        "document.querySelector('[data-model=detector] tr[data-version=\"1\"] .stage-badge').textContent === 'Production'",
    )
    .await;
    let status = api(&base, &admin, "/api/model-status").await;
    assert_eq!(status["models"][0]["name"], "detector", "{status}");
    shot(&c, "models").await;

    // Labeling queue (admin): draw a box with the mouse, set its class with a key,
    // draw and delete another, submit with Ctrl+Enter, skip the next with S.
    let mut seed = 10;
    while api(&base, &admin, "/api/labeling-queue").await["pending"]
        .as_i64()
        .unwrap()
        < 3
    {
        log_frames(dir.path(), port, &device, "line3-cam1", 10, seed);
        seed += 1;
        assert!(seed < 20, "no uncertain frames queued");
    }
    let before = api(&base, &admin, "/api/labeling-queue").await;
    c.goto(&format!("{base}/labeling")).await.unwrap();
    until(
        &c,
        "the frame on the canvas",
        "document.getElementById('canvas').dataset.ready",
    )
    .await;
    let pending = visible(&c, "#n-pending").await;
    assert_eq!(pending, before["pending"].to_string());
    let n0: i64 = until(
        &c,
        "the model's boxes",
        "document.getElementById('canvas').dataset.boxes",
    )
    .await
    .as_str()
    .unwrap()
    .parse()
    .unwrap();
    // Mouse drags in canvas fractions (client coordinates computed in the page).
    let drag = |from: (f64, f64), to: (f64, f64)| {
        format!(
            "const cv = document.getElementById('canvas'); const r = cv.getBoundingClientRect(); \
             const at = (fx, fy) => ({{clientX: r.left + fx * r.width, clientY: r.top + fy * r.height, bubbles: true}}); \
             cv.dispatchEvent(new MouseEvent('mousedown', at({}, {}))); \
             window.dispatchEvent(new MouseEvent('mousemove', at({}, {}))); \
             window.dispatchEvent(new MouseEvent('mouseup', at({}, {})));",
            from.0, from.1, to.0, to.1, to.0, to.1
        )
    };
    let canvas = c.find(Locator::Css("#canvas")).await.unwrap();
    canvas.send_keys("r").await.unwrap();
    c.execute(&drag((0.05, 0.05), (0.25, 0.3)), vec![]).await.unwrap();
    until(
        &c,
        "the drawn box",
        &format!("document.getElementById('canvas').dataset.boxes === '{}'", n0 + 1),
    )
    .await;
    canvas.send_keys("2").await.unwrap();
    canvas.send_keys("r").await.unwrap();
    c.execute(&drag((0.6, 0.6), (0.9, 0.9)), vec![]).await.unwrap();
    until(
        &c,
        "a second box",
        &format!("document.getElementById('canvas').dataset.boxes === '{}'", n0 + 2),
    )
    .await;
    canvas.send_keys("\u{E017}").await.unwrap(); // Delete
    until(
        &c,
        "the second box deleted",
        &format!("document.getElementById('canvas').dataset.boxes === '{}'", n0 + 1),
    )
    .await;
    shot(&c, "labeling").await;
    canvas.send_keys("\u{E009}\u{E007}\u{E000}").await.unwrap(); // Ctrl+Enter
    until(
        &c,
        "the label stored",
        "document.getElementById('label-status').textContent.includes('labelled with')",
    )
    .await;
    let labeled = api(&base, &admin, "/api/labeling-queue?status=labeled").await;
    assert_eq!(labeled["items"].as_array().unwrap().len(), 1, "{labeled}");
    assert_eq!(labeled["done"], before["done"].as_i64().unwrap() + 1);
    until(&c, "the next frame", "document.getElementById('canvas').dataset.ready").await;
    c.find(Locator::Css("#canvas"))
        .await
        .unwrap()
        .send_keys("s")
        .await
        .unwrap();
    until(
        &c,
        "the skip",
        "document.getElementById('label-status').textContent.includes('skipped')",
    )
    .await;
    let skipped = api(&base, &admin, "/api/labeling-queue?status=skipped").await;
    assert_eq!(skipped["items"].as_array().unwrap().len(), 1, "{skipped}");
    let done = visible(&c, "#n-done").await;
    assert_eq!(
        done,
        (before["done"].as_i64().unwrap() + 2).to_string(),
        "the counter follows"
    );
    assert_eq!(status["models"][0]["version"], 1, "{status}");

    // Drift: a check of the logged frames against detector@1's training images
    // (run here on the server's database, as its policy job would), shown per feature.
    {
        let db = detective_store::Db::open_sqlite_file(&dir.path().join("cloud/detective.db"))
            .await
            .unwrap();
        let objects = detective_store::Objects::local(&dir.path().join("cloud/objects")).unwrap();
        let cfg = detective_ops::drift::DriftConfig {
            min_rows: 5,
            window_secs: 24 * 3600,
            ..Default::default()
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let report = detective_ops::drift::DriftMonitor::default()
            .check(&db, &objects, &cfg, now + 1000)
            .await
            .unwrap()
            .expect("a report");
        assert!(report.reference.contains("detector@1"), "{}", report.reference);
    }
    c.goto(&format!("{base}/drift")).await.unwrap();
    until(
        &c,
        "the feature table",
        "document.querySelectorAll('#features tbody tr').length === 8 && document.querySelectorAll('#hists figure').length >= 7",
    )
    .await;
    let summary = visible(&c, "#s-ref").await;
    assert!(summary.contains("training images of detector@1"), "{summary}");
    until(
        &c,
        "the share history",
        "document.querySelectorAll('#share-chart circle').length === 1",
    )
    .await;
    shot(&c, "drift").await;
    // Training & retraining: the conditions and the policy are on the Training page.
    c.goto(&format!("{base}/training")).await.unwrap();
    until(
        &c,
        "the retraining conditions",
        "document.getElementById('rt-figures').textContent.includes('new labels 1 of 50')",
    )
    .await;
    until(
        &c,
        "the policy form",
        "document.getElementById('p-labels').value === '50'",
    )
    .await;

    // Segmentation lab (admin): two epochs of the run side by side on a validation
    // sample with a defect: heatmaps, overlays, ground truth, Dice and IoU.
    c.goto(&format!("{base}/segmentation")).await.unwrap();
    until(
        &c,
        "the run's samples",
        "document.querySelectorAll('#s-sample option').length > 0",
    )
    .await;
    c.execute(
        "const s = document.getElementById('s-sample'); \
         s.value = [...s.options].find(o => !o.textContent.includes('no defect')).value;",
        vec![],
    )
    .await
    .unwrap();
    click(&c, "#lab button[type=submit]").await;
    until(
        &c,
        "the comparison",
        "document.querySelectorAll('.seg-card').length === 6",
    )
    .await;
    let metrics = c
        .execute(
            "return [...document.querySelectorAll('.seg-card .metric')].map(m => m.textContent).join(' | ');",
            vec![],
        )
        .await
        .unwrap();
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(
        metrics.matches("Dice").count() == 2 && metrics.contains("IoU"),
        "{metrics}"
    );
    let titles = visible(&c, "#seg-grid").await;
    assert!(
        titles.contains("Ground truth") && titles.contains("Epoch 1") && titles.contains("Epoch 2"),
        "{titles}"
    );
    shot(&c, "segmentation").await;

    // Settings (admin): a key created on the page works once, then is revoked there.
    c.goto(&format!("{base}/settings")).await.unwrap();
    type_into(&c, "#k-name", "cam-9").await;
    click(&c, "#new-key button[type=submit]").await;
    let secret = visible(&c, "#secret-value").await;
    assert!(secret.starts_with("dd_"), "{secret}");
    let ok = reqwest::Client::new()
        .get(format!("{base}/api/model-status"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "the new device key works");
    until(
        &c,
        "the key row",
        "document.querySelector('#keys tbody').textContent.includes('cam-9')",
    )
    .await;
    // Thresholds saved on the page apply at once.
    c.find(Locator::Css("#t-high")).await.unwrap().clear().await.unwrap();
    type_into(&c, "#t-high", "0.65").await;
    click(&c, "#thresholds button[type=submit]").await;
    let saved = until(&c, "the save answer", "document.getElementById('t-status').textContent").await;
    assert!(saved.as_str().unwrap().contains("Saved"), "{saved}");
    let t = api(&base, &admin, "/api/settings/thresholds").await;
    assert_eq!(t["uncertain_high"].as_f64(), Some(0.65), "{t}");
    shot(&c, "settings").await;
    c.execute(
        "[...document.querySelectorAll('#keys tbody tr')].find(r => r.textContent.includes('cam-9')).querySelector('button').click();",
        vec![],
    )
    .await
    .unwrap();
    c.accept_alert().await.unwrap();
    until(
        &c,
        "the key revoked",
        "[...document.querySelectorAll('#keys tbody tr')].find(r => r.textContent.includes('cam-9')).textContent.includes('revoked')",
    )
    .await;
    let gone = reqwest::Client::new()
        .get(format!("{base}/api/model-status"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401, "the revoked key no longer works");

    c.goto(&format!("{base}/live")).await.unwrap();
    click(&c, "#start").await;
    until(
        &c,
        "answers with detections",
        "Number(document.getElementById('overlay').dataset.detections || 0) > 0",
    )
    .await;
    until(
        &c,
        "an FPS figure",
        "document.getElementById('fps').textContent !== '–'",
    )
    .await;
    let red = until(
        &c,
        "red box pixels on the overlay",
        "(() => { const cv = document.getElementById('overlay'); \
          const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data; let n = 0; \
          for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i+1] < 60 && d[i+2] < 60 && d[i+3] > 200) n++; \
          return n; })()",
    )
    .await;
    assert!(red.as_u64().unwrap() > 50, "{red}");
    let served = api(&base, &admin, "/api/metrics").await;
    assert!(served["predict"]["requests"].as_u64().unwrap() > 0, "{served}");
    shot(&c, "live").await;
    c.close().await.unwrap();
}
