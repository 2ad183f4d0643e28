//! A real server for the API tests: the axum app on a loopback port, over
//! SQLite + a local folder or PostgreSQL (fresh schema) + a real S3-protocol
//! server, with the bundled detector behind the predictor pool.

#![allow(dead_code)]

use std::net::SocketAddr;

use detective_core::Role;
use detective_server::{AppState, PredictorPool, ServerSettings};
use detective_store::testing::S3Server;
use detective_store::{Db, Objects};
use detective_vision::synth::{SynthConfig, generate};

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    SqliteFolder,
    PostgresS3,
}

pub struct TestServer {
    pub url: String,
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
    _s3: Option<S3Server>,
}

/// The bundled detector on one thread, in a pool of `workers` slots.
pub fn bundled_pool(workers: usize, max_waiting: usize) -> PredictorPool {
    let path = detective_ml::detect::bundled::resolve(std::path::Path::new("bundled")).unwrap();
    let det = detective_ml::detect::detector::Detector::load(&path, None, 1).unwrap();
    PredictorPool::new(det, "bundled".into(), "bundled".into(), workers, max_waiting)
}

impl TestServer {
    pub async fn start(kind: Kind) -> TestServer {
        TestServer::start_with(kind, ServerSettings::default(), Some(bundled_pool(1, 8))).await
    }

    pub async fn start_with(kind: Kind, settings: ServerSettings, pool: Option<PredictorPool>) -> TestServer {
        TestServer::start_with_segmenter(kind, settings, pool, None).await
    }

    pub async fn start_with_segmenter(
        kind: Kind,
        settings: ServerSettings,
        pool: Option<PredictorPool>,
        segmenter: Option<PredictorPool<detective_ml::segment::segmenter::AnySegmenter>>,
    ) -> TestServer {
        TestServer::start_full(kind, settings, pool, segmenter, |s| s).await
    }

    /// A server whose Insights panel is written as `llm` says.
    pub async fn start_with_llm(kind: Kind, llm: &detective_ops::llm::LlmConfig) -> TestServer {
        let llm = llm.clone();
        TestServer::start_full(kind, ServerSettings::default(), None, None, move |s| s.with_llm(&llm)).await
    }

    async fn start_full(
        kind: Kind,
        settings: ServerSettings,
        pool: Option<PredictorPool>,
        segmenter: Option<PredictorPool<detective_ml::segment::segmenter::AnySegmenter>>,
        hook: impl FnOnce(AppState) -> AppState,
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let (db, objects, s3) = match kind {
            Kind::SqliteFolder => {
                let db = Db::open_sqlite_file(&dir.path().join("detective.db")).await.unwrap();
                (db, Objects::local(&dir.path().join("objects")).unwrap(), None)
            }
            Kind::PostgresS3 => {
                let url = detective_store::testing::fresh_postgres_url()
                    .await
                    .expect("PostgreSQL must run on 127.0.0.1:5432 with database `test`");
                let db = Db::connect(&url).await.unwrap();
                let s3 = S3Server::start().expect("s3s-fs (./scripts/setup-test-deps.sh installs it)");
                let objects = Objects::s3(&s3.config("api")).unwrap();
                (db, objects, Some(s3))
            }
        };
        db.migrate().await.unwrap();
        let settings = ServerSettings {
            model_cache_dir: dir.path().join("model-cache"),
            work_dir: dir.path().join("work"),
            ..settings
        };
        let mut state = hook(AppState::new(db, objects, pool, settings));
        if let Some(seg) = segmenter {
            state = state.with_segmenter(seg);
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel::<SocketAddr>();
        let st = state.clone();
        tokio::spawn(async move {
            detective_server::serve(
                st,
                "127.0.0.1:0".parse().unwrap(),
                None,
                move |a| {
                    let _ = addr_tx.send(a);
                },
                async move {
                    let _ = rx.await;
                },
            )
            .await
            .unwrap();
        });
        let addr = addr_rx.await.unwrap();
        TestServer {
            url: format!("http://{addr}"),
            state,
            shutdown: Some(tx),
            _dir: dir,
            _s3: s3,
        }
    }

    /// A new key of `role`.
    pub async fn key(&self, role: Role) -> String {
        detective_store::api_keys::create(&self.state.db, &format!("test {role}"), role)
            .await
            .unwrap()
            .1
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Registers the next version of model `name` for `task` with no metrics,
/// parameters or files: what a test needs when only the registry row matters.
pub async fn bare_version(db: &Db, name: &str, task: detective_core::Task) {
    detective_store::models::add_version(
        db,
        name,
        task,
        &serde_json::json!({}),
        &serde_json::json!({}),
        None,
        None,
    )
    .await
    .unwrap();
}

/// A client that shows redirects instead of following them.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `POST /login` with the form `body`, from `from` (an `X-Forwarded-For`
/// address) when given: the status and the session cookie it set, if any.
pub async fn post_login(s: &TestServer, body: String, from: Option<&str>) -> (u16, Option<String>) {
    let mut req = no_redirects()
        .post(s.at("/login"))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(from) = from {
        req = req.header("x-forwarded-for", from);
    }
    let r = req.body(body).send().await.unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
    (r.status().as_u16(), cookie)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// `GET path` on `s` with one header (`authorization`, `cookie`), as JSON.
pub async fn get_json(s: &TestServer, header: (&str, &str), path: &str) -> serde_json::Value {
    client()
        .get(s.at(path))
        .header(header.0, header.1)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Sample `index` of seed 7: a synthetic part of `w×h` with defects.
fn part(w: u32, h: u32, index: u64) -> detective_vision::Frame {
    let cfg = SynthConfig {
        width: w,
        height: h,
        defect_rate: 1.0,
        ..SynthConfig::default()
    };
    generate(&cfg, 7, index).unwrap().image
}

pub fn part_png(w: u32, h: u32, index: u64) -> Vec<u8> {
    detective_vision::encode::encode_png(&part(w, h, index)).unwrap()
}

pub fn part_jpeg(w: u32, h: u32, index: u64) -> Vec<u8> {
    detective_vision::encode::encode_jpeg(&part(w, h, index), 90).unwrap()
}

/// A multipart upload into `project` of `n` labelled synthetic `size`² parts
/// (seed `seed`): each a PNG `p{i}.png` and its YOLO label `p{i}.txt`; with
/// the class names the labels index.
pub fn labelled_parts_form(
    project: &str,
    n: u64,
    size: u32,
    seed: u64,
    defect_rate: f32,
) -> (reqwest::multipart::Form, Vec<String>) {
    let cfg = SynthConfig {
        width: size,
        height: size,
        defect_rate,
        ..SynthConfig::default()
    };
    let mut form = reqwest::multipart::Form::new().text("project", project.to_string());
    for i in 0..n {
        let sample = generate(&cfg, seed, i).unwrap();
        let label: String = sample
            .objects
            .iter()
            .map(|o| {
                let b = [o.bbox.x1 as f64, o.bbox.y1 as f64, o.bbox.x2 as f64, o.bbox.y2 as f64];
                detective_data::labels::YoloLabel::from_xyxy(o.class, b, size, size).to_line() + "\n"
            })
            .collect();
        let png = detective_vision::encode::encode_png(&sample.image).unwrap();
        form = form
            .part(
                "file",
                reqwest::multipart::Part::bytes(png).file_name(format!("p{i}.png")),
            )
            .part(
                "file",
                reqwest::multipart::Part::bytes(label.into_bytes()).file_name(format!("p{i}.txt")),
            );
    }
    (form, cfg.class_names())
}

/// Runs one async test body against SQLite + folder and PostgreSQL + S3.
#[macro_export]
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_folder() {
                ($body)($crate::common::Kind::SqliteFolder).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_s3() {
                ($body)($crate::common::Kind::PostgresS3).await;
            }
        }
    };
}

/// A logged prediction captured `ago` before now, with one confident crack
/// when `defective`, as an agent sends it to `POST /api/log`.
pub fn logged_ago(i: u32, ago: chrono::Duration, defective: bool) -> serde_json::Value {
    let at = chrono::Utc::now() - ago;
    let dets = if defective {
        serde_json::json!([{"class": 0, "name": "crack", "confidence": 0.95, "bbox": [1.0, 1.0, 9.0, 9.0]}])
    } else {
        serde_json::json!([])
    };
    serde_json::json!({"id": format!("00000000-0000-4000-8000-{i:012x}"),
           "captured_at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
           "model_version": "m@1", "detections": dets})
}
