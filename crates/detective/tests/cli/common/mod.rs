//! Running the real `detective` binary from integration tests.

#![allow(dead_code)]

pub mod pg_cluster;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A `detective` command with a clean environment (no DETECTIVE_* leaking in) and
/// `dir` as working directory.
pub fn detective(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_detective"));
    cmd.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("DETECTIVE_") || k.starts_with("MLFLOW_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawn detective")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The JSON document a successful command printed (panics with its stderr otherwise).
pub fn json_stdout(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_str(stdout(o).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// `detective val --json` of a shipped model (`models/FILE`) on a split of a
/// dataset under ../shared/data, run in `dir`.
pub fn val_shipped(dir: &Path, data: &str, split: &str, file: &str) -> serde_json::Value {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    json_stdout(&run(detective(dir)
        .args(["val", "--data"])
        .arg(shared_data(data))
        .args(["--split", split, "--json", "--model"])
        .arg(models.join(file))))
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `../shared/data/<name>` relative to the repository root.
pub fn shared_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name)
}

/// The number `name=N` in an agent's `key=value` summary line.
pub fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} in {line}"))
        .parse()
        .unwrap()
}

/// `GET url` with `key`, as JSON.
pub async fn fetch_json(url: &str, key: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `GET path` on the cloud at `port` with `key`, as JSON (blocking).
pub fn get_json(port: u16, key: &str, path: &str) -> serde_json::Value {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(fetch_json(&format!("http://127.0.0.1:{port}{path}"), key))
}

/// `predictions_total` of the cloud's metrics.
pub fn total(port: u16, key: &str) -> i64 {
    get_json(port, key, "/api/metrics")["predictions_total"]
        .as_i64()
        .unwrap()
}

/// The ids of every prediction the cloud stores, paged through; panics on one stored twice.
pub fn logged_ids(port: u16, key: &str) -> std::collections::BTreeSet<String> {
    let mut ids = std::collections::BTreeSet::new();
    let mut path = "/api/inspection-logs?limit=1000".to_string();
    loop {
        let v = get_json(port, key, &path);
        for it in v["items"].as_array().unwrap() {
            assert!(
                ids.insert(it["id"].as_str().unwrap().to_string()),
                "a prediction stored twice"
            );
        }
        match v["next"].as_str() {
            Some(c) => path = format!("/api/inspection-logs?limit=1000&cursor={c}"),
            None => return ids,
        }
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `detective serve` on `data` at `127.0.0.1:port`, returned once it listens.
pub fn start_server(dir: &Path, data: &str, port: u16) -> Child {
    start_server_with(dir, data, port, &[])
}

/// [`start_server`] with more environment variables (`DETECTIVE_…` settings).
pub fn start_server_with(dir: &Path, data: &str, port: u16, env: &[(&str, &str)]) -> Child {
    let mut child = detective(dir)
        .envs(env.iter().copied())
        .args([
            "--data-dir",
            data,
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--threads",
            "1",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("serve started").unwrap();
        if line.contains("API on ") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    child
}

/// A new API key of `role` (named `{role}-user`) on the storage under `data`.
pub fn key_of(dir: &Path, data: &str, role: &str) -> String {
    let o = run(detective(dir).args([
        "--data-dir",
        data,
        "keys",
        "create",
        "--role",
        role,
        "--name",
        &format!("{role}-user"),
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).lines().last().unwrap().trim().to_string()
}

/// The YOLO label text of a synthetic sample (its true boxes).
pub fn synth_label_text(sample: &detective_vision::synth::SynthSample) -> String {
    let (w, h) = (sample.image.width(), sample.image.height());
    sample
        .objects
        .iter()
        .map(|o| {
            let b = [o.bbox.x1 as f64, o.bbox.y1 as f64, o.bbox.x2 as f64, o.bbox.y2 as f64];
            format!(
                "{}\n",
                detective_data::labels::YoloLabel::from_xyxy(o.class, b, w, h).to_line()
            )
        })
        .collect()
}

/// Uploads twelve labelled synthetic parts of `cfg` and `seed` (8 `train`, 4 `val`,
/// tagged `name`, JPEG or PNG) to project `project` and makes them dataset `name`;
/// checks the splits and returns the dataset's id.
pub async fn labelled_parts_dataset(
    base: &str,
    key: &str,
    cfg: &detective_vision::synth::SynthConfig,
    seed: u64,
    project: &str,
    name: &str,
    jpeg: bool,
) -> i64 {
    let http = reqwest::Client::new();
    for (split, range) in [("train", 0..8u64), ("val", 8..12)] {
        let mut form = reqwest::multipart::Form::new()
            .text("project", project.to_string())
            .text("tags", name.to_string())
            .text("split", split);
        for i in range {
            let s = detective_vision::synth::generate(cfg, seed, i).unwrap();
            let (bytes, ext) = if jpeg {
                (detective_vision::encode::encode_jpeg(&s.image, 90).unwrap(), "jpg")
            } else {
                (detective_vision::encode::encode_png(&s.image).unwrap(), "png")
            };
            form = form
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(bytes).file_name(format!("p{i}.{ext}")),
                )
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(synth_label_text(&s).into_bytes()).file_name(format!("p{i}.txt")),
                );
        }
        let r = http
            .post(format!("{base}/api/images/upload"))
            .bearer_auth(key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let body = serde_json::json!({"name": name, "project": project, "tag": name, "classes": cfg.class_names()});
    let r = http
        .post(format!("{base}/api/datasets/create"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let ds: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        ds["versions"][0]["splits"],
        serde_json::json!({"train": 8, "val": 4}),
        "{ds}"
    );
    ds["id"].as_i64().unwrap()
}
