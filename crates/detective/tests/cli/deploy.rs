//! deploy/ and scale-out: the offline checks of the image, compose and Kubernetes
//! files; a real Prometheus scraping two replicas, with every Grafana panel's query
//! answered; and the quick form of the multi-replica fault test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn deploy_files_validate_offline() {
    let o = Command::new("bash")
        .arg(repo().join("scripts/validate-deploy.sh"))
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("cpu: 11 resources valid") && text.contains("gpu: 11 resources valid"),
        "{text}"
    );
    assert!(text.contains("deploy/ is valid"), "{text}");
}

#[test]
fn scale_test_quick_loses_and_repeats_nothing_through_kills_and_a_database_restart() {
    let o = Command::new("bash")
        .arg(repo().join("scripts/scale-test.sh"))
        .arg("--quick")
        .env("DETECTIVE_BIN", env!("CARGO_BIN_EXE_detective"))
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(o.status.success(), "{text}");
    assert!(text.contains("scale test passed"), "{text}");
    assert!(text.contains("each once: yes"), "{text}");
    println!("{text}");
}

/// A Prometheus server scraping `targets` every second with `key`.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(targets: &[String], key: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), key).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: detective\n    \
             authorization:\n      type: Bearer\n      credentials_file: {}\n    static_configs:\n      - targets: [{}]\n",
            dir.path().join("key").display(),
            targets.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian package; scripts/setup-test-deps.sh installs it)");
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    async fn query(&self, http: &reqwest::Client, q: &str) -> Vec<serde_json::Value> {
        let r: serde_json::Value = http
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", q)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["status"], "success", "{q}: {r}");
        r["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two `serve` replicas on one fresh PostgreSQL schema and one object folder, with
/// one session secret, and an admin or viewer key of theirs.
struct Replicas {
    dir: tempfile::TempDir,
    db_url: String,
    ports: [u16; 2],
    children: Vec<Child>,
}

impl Replicas {
    async fn start() -> Replicas {
        let dir = tempfile::tempdir().unwrap();
        let db_url = detective_store::testing::fresh_postgres_url()
            .await
            .expect("PostgreSQL on 127.0.0.1:5432");
        std::fs::write(
            dir.path().join("session.secret"),
            "a-session-secret-shared-by-both-replicas-0123456789",
        )
        .unwrap();
        let ports = [free_port(), free_port()];
        let mut r = Replicas {
            dir,
            db_url,
            ports,
            children: Vec::new(),
        };
        let env = r.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        r.children = ports
            .iter()
            .enumerate()
            .map(|(i, p)| start_server_with(r.dir.path(), &format!("replica{i}"), *p, &env))
            .collect();
        r
    }

    fn env(&self) -> [(&'static str, String); 3] {
        let d = self.dir.path();
        [
            ("DETECTIVE_DATABASE_URL", self.db_url.clone()),
            ("DETECTIVE_OBJECT_STORE", d.join("objects").display().to_string()),
            (
                "DETECTIVE_SERVER__SESSION_SECRET_FILE",
                d.join("session.secret").display().to_string(),
            ),
        ]
    }

    fn key(&self, role: &str) -> String {
        let env = self.env();
        let o = run(detective(self.dir.path())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args([
                "--data-dir",
                "replica0",
                "keys",
                "create",
                "--role",
                role,
                "--name",
                role,
            ]));
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o).lines().last().unwrap().trim().to_string()
    }

    fn base(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A batch of `n` predictions of `camera`, every other one with a scratch.
fn batch(camera: &str, n: usize) -> serde_json::Value {
    let now = chrono::Utc::now().to_rfc3339();
    let predictions: Vec<_> = (0..n)
        .map(|i| {
            let detections = if i % 2 == 0 {
                serde_json::json!([{"class": 0, "name": "scratch", "confidence": 0.9,
                                    "bbox": [1.0, 1.0, 20.0, 8.0]}])
            } else {
                serde_json::json!([])
            };
            serde_json::json!({"id": uuid::Uuid::new_v4().to_string(), "captured_at": now,
                               "model_version": "bundled@1", "detections": detections})
        })
        .collect();
    serde_json::json!({"camera_id": camera, "stats": {"fps": 29.5, "inference_ms": 12.0, "spool_percent": 3.0, "dropped_frames": 4},
                       "predictions": predictions})
}

#[tokio::test]
async fn prometheus_scrapes_two_replicas_and_answers_every_grafana_panel() {
    let replicas = Replicas::start().await;
    let key = replicas.key("admin");
    // a drift report, as the periodic check would store it
    let db = detective_store::Db::connect(&replicas.db_url).await.unwrap();
    detective_store::drift::insert(
        &db,
        &detective_store::drift::NewReport {
            window_start: 0,
            window_end: 1,
            reference: "first frames".into(),
            n_reference: 100,
            n_current: 100,
            drift_share: 0.25,
            dataset_drift: false,
            min_p_value: Some(0.2),
            features: serde_json::json!({}),
        },
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let bases: Vec<String> = (0..2).map(|i| replicas.base(i)).collect();
    let prom = Prometheus::start(
        &replicas
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>(),
        &key,
    );
    let png = detective_vision::encode::encode_png(
        &detective_vision::synth::generate(&Default::default(), 1, 0)
            .unwrap()
            .image,
    )
    .unwrap();
    // traffic on both replicas over several scrapes, so that rates have two points
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(8) {
        for (i, base) in bases.iter().enumerate() {
            let r = http
                .post(format!("{base}/api/log"))
                .bearer_auth(&key)
                .json(&batch(&format!("cam-{i}"), 6))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
            let r = http
                .post(format!("{base}/api/inference/predict"))
                .bearer_auth(&key)
                .body(png.clone())
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let up = prom.query(&http, "up{job=\"detective\"} == 1").await;
    assert_eq!(up.len(), 2, "both replicas scraped: {up:?}");
    // our latency histogram, over both replicas
    let p99 = prom
        .query(
            &http,
            "histogram_quantile(0.99, sum by (le) (rate(detective_http_request_duration_seconds_bucket{route=\"/api/log\"}[1m])))",
        )
        .await;
    let v: f64 = p99[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(v.is_finite() && v > 0.0, "p99 of /api/log: {p99:?}");
    let instances = prom
        .query(
            &http,
            "count by (instance) (detective_inference_duration_seconds_count)",
        )
        .await;
    assert_eq!(
        instances.len(),
        2,
        "inference latency from both replicas: {instances:?}"
    );
    // every query of every Grafana panel answers with at least one series
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/grafana/dashboards/defect-detective.json")).unwrap(),
    )
    .unwrap();
    let mut empty = Vec::new();
    let mut checked = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            checked += 1;
            if prom.query(&http, expr).await.is_empty() {
                empty.push(format!("{}: {expr}", panel["title"]));
            }
        }
    }
    assert!(checked >= 8, "{checked} queries");
    assert!(empty.is_empty(), "panels whose query found no series: {empty:#?}");
}

#[tokio::test]
async fn a_client_refused_for_failed_keys_on_one_replica_is_refused_by_the_other() {
    let replicas = Replicas::start().await;
    let good = replicas.key("viewer");
    let http = reqwest::Client::new();
    let (a, b) = (replicas.base(0), replicas.base(1));
    let status = |base: &str, key: &str| {
        let req = http.get(format!("{base}/api/models")).bearer_auth(key);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(&b, &good).await, 200);
    for i in 0..10 {
        assert_eq!(status(&a, &format!("dd_wrong_key_{i}")).await, 401, "failure {i}");
    }
    // the eleventh try, on the other replica: refused before the key is looked at
    assert_eq!(status(&b, "dd_wrong_key_x").await, 429);
    assert_eq!(
        status(&b, &good).await,
        429,
        "the address is held back, whatever key it sends"
    );
    let form = http
        .post(format!("{b}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={good}&next=%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status().as_u16(), 429, "the dashboard's sign-in too");
}
