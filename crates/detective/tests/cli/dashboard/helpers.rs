//! What the page checks share: the test's processes (server guard, edge agents,
//! chromedriver and Chromium), the browser steps (wait for a JavaScript
//! expression, click, type, screenshot, sign in), the API and a labelled dataset.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{detective, free_port, stderr};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// What each page's check works with: the one browser session, the server and
/// its keys. Which key the browser is signed in with is the browser's own state,
/// left by the checks before (see `mod.rs` for the order).
pub(super) struct Page {
    /// The Chromium session shared by every page.
    pub(super) c: Client,
    /// The server's address, `http://127.0.0.1:{port}`.
    pub(super) base: String,
    /// The server's port (edge agents log to it).
    pub(super) port: u16,
    /// The test's temporary folder (the server's data is its `cloud/`).
    pub(super) dir: PathBuf,
    /// A viewer's, an admin's and a device's API keys.
    pub(super) viewer: String,
    pub(super) admin: String,
    pub(super) device: String,
}

/// A child process killed when dropped.
pub(super) struct Guard(pub(super) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Logs `frames` predictions of a synthetic camera `camera` through a real agent.
pub(super) fn log_frames(dir: &Path, port: u16, key: &str, camera: &str, frames: u32, seed: u32) {
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
pub(super) async fn browser(camera: &Path) -> (Guard, Client) {
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
pub(super) fn defect_clip(path: &Path) {
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

pub(super) async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Polls a JavaScript expression until it is truthy; returns its value.
pub(super) async fn until(c: &Client, what: &str, expr: &str) -> Value {
    until_within(c, what, expr, Duration::from_secs(60)).await
}

/// [`until`] with its own time limit (training, for one).
pub(super) async fn until_within(c: &Client, what: &str, expr: &str, limit: Duration) -> Value {
    let t = Instant::now();
    loop {
        // A page that is navigating has no script context for a moment: try again.
        let v = match c.execute(&format!("return ({expr});"), vec![]).await {
            Ok(v) => v,
            Err(e) => {
                assert!(t.elapsed() < limit, "timed out waiting for {what} ({expr}): {e}");
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
        assert!(t.elapsed() < limit, "timed out waiting for {what} ({expr})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// JavaScript for mouse events on `#canvas` at canvas fractions (client
/// coordinates computed in the page): a press at `from`, a move and a release
/// at `to`.
pub(super) fn drag(from: (f64, f64), to: (f64, f64)) -> String {
    format!(
        "const cv = document.getElementById('canvas'); const r = cv.getBoundingClientRect(); \
         const at = (fx, fy) => ({{clientX: r.left + fx * r.width, clientY: r.top + fy * r.height, bubbles: true}}); \
         cv.dispatchEvent(new MouseEvent('mousedown', at({}, {}))); \
         window.dispatchEvent(new MouseEvent('mousemove', at({}, {}))); \
         window.dispatchEvent(new MouseEvent('mouseup', at({}, {})));",
        from.0, from.1, to.0, to.1, to.0, to.1
    )
}

/// Clicks the first element matching `css`.
pub(super) async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Types `text` into the first element matching `css`.
pub(super) async fn type_into(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

/// The text of the first element matching `css`, waiting for it to appear.
pub(super) async fn visible(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Signs in on the form with an API key (the form's second way, folded away).
pub(super) async fn login(c: &Client, base: &str, key: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    click(c, ".key-login summary").await;
    type_into(c, "#key", key).await;
    click(c, "#key-login button[type=submit]").await;
    login_answer(c).await;
}

/// Signs in on the form with a user name and password.
pub(super) async fn login_user(c: &Client, base: &str, username: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    type_into(c, "#username", username).await;
    type_into(c, "#password", password).await;
    click(c, "#password-login button[type=submit]").await;
    login_answer(c).await;
}

async fn login_answer(c: &Client) {
    // Signed in (another page) or refused (the form again, with its message).
    until(
        c,
        "the login answer",
        "location.pathname !== '/login' || document.querySelector('.error') !== null",
    )
    .await;
}

pub(super) async fn api(base: &str, key: &str, path: &str) -> Value {
    crate::common::fetch_json(&format!("{base}{path}"), key).await
}

/// Twelve labelled synthetic 64×64 parts (8 train, 4 val) as dataset `line-parts`; its id.
pub(super) async fn labelled_dataset(base: &str, key: &str) -> i64 {
    let cfg = detective_vision::synth::SynthConfig {
        width: 64,
        height: 64,
        defect_rate: 0.9,
        ..Default::default()
    };
    crate::common::labelled_parts_dataset(base, key, &cfg, 21, "line", "line-parts", false).await
}
