//! The cloud's Production model of one task (the detector, or the segmenter),
//! pulled to the edge: asks `GET
//! /api/model-status` which version of the task is in Production, downloads its files from
//! `GET /api/models/{name}/versions/{v}/files/{file}` into a local cache
//! (`DIR/{name}/v{n}/`, written under a temporary name and renamed whole, so a
//! cut-off download is never taken for a model), and remembers the last pulled
//! version in `DIR/current` (a segmenter's in `DIR/current-segment`) so an agent
//! that starts while the cloud is down runs the model it ran before.

use std::path::{Path, PathBuf};
use std::time::Duration;

use detective_core::sampling::Sampling;
use detective_core::{Rules, Stage, Task};

use crate::EdgeError;
use crate::cloud_http::{self, CloudCa};

/// The Production detector as the cloud names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteModel {
    pub name: String,
    pub version: i64,
    /// File names of its artifact.
    pub files: Vec<String>,
    /// SHA-256 (hex) of its files, as the registry recorded them; a downloaded
    /// file must match. Versions registered without them are not checked.
    pub checksums: std::collections::BTreeMap<String, String>,
}

impl RemoteModel {
    /// `name@version`, as predictions carry it.
    pub fn spec(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// What the cloud's channel tells an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeConfig {
    /// The Production model of the agent's task, if the registry has one.
    pub model: Option<RemoteModel>,
    /// The inspection rules in effect for the agent's model on its camera.
    pub rules: Rules,
    /// The camera's sampling strategies; `None` from a cloud that predates them.
    pub sampling: Option<Sampling>,
    /// Changes whenever the model or the rules do.
    pub revision: String,
}

/// A model entry of the cloud's JSON (`name`, `version`, `files`, `checksums`),
/// its name checked to be a plain folder name.
fn remote_model(url: &str, m: &serde_json::Value) -> Result<RemoteModel, EdgeError> {
    let (Some(name), Some(version)) = (m["name"].as_str(), m["version"].as_i64()) else {
        return Err(cloud_err(format!("{url}: the Production entry has no name or version")));
    };
    if !plain(name) || version < 1 {
        return Err(cloud_err(format!("{url}: refusing model {name:?} version {version}")));
    }
    let files = m["files"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f.as_str()).map(str::to_string).collect())
        .unwrap_or_default();
    let checksums = m["checksums"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_ascii_lowercase())))
                .collect()
        })
        .unwrap_or_default();
    Ok(RemoteModel {
        name: name.to_string(),
        version,
        files,
        checksums,
    })
}

/// Files fetched, in this order: the ONNX export last, so it is never older than
/// its checkpoint (the loader ignores a stale export).
/// A model download may take this long.
const PULL_TIMEOUT: Duration = Duration::from_secs(300);

const WANTED: [&str; 3] = ["model.json", "model.bpk", "model.onnx"];

/// A state named in the model-status JSON (`"task"`, `"stage"`), if it is one.
fn state<T: std::str::FromStr>(v: &serde_json::Value) -> Option<T> {
    v.as_str().and_then(|s| s.parse().ok())
}

fn cloud_err(what: impl Into<String>) -> EdgeError {
    EdgeError::Cloud(what.into())
}

fn io(what: &Path, source: std::io::Error) -> EdgeError {
    EdgeError::Io {
        what: what.display().to_string(),
        source,
    }
}

/// The file to load from a version folder: the checkpoint when it is there (its
/// ONNX export beside it is used first), else the ONNX file.
fn model_file(dir: &Path, files: &[String]) -> Option<PathBuf> {
    let has = |n: &str| files.iter().any(|f| f == n);
    if has("model.bpk") && has("model.json") {
        Some(dir.join("model.bpk"))
    } else if has("model.onnx") {
        Some(dir.join("model.onnx"))
    } else {
        None
    }
}

/// A name from the cloud used as a folder name: one plain path segment.
fn plain(name: &str) -> bool {
    detective_core::names::check_segment("model name", name).is_ok()
}

/// Pulls the Production models of one task from one cloud into one cache folder.
pub struct ModelPuller {
    http: reqwest::Client,
    cloud: String,
    key: String,
    dir: PathBuf,
    task: Task,
}

impl ModelPuller {
    /// A puller of the Production detector; see [`ModelPuller::for_task`].
    pub fn new(cloud: &str, key: &str, dir: PathBuf) -> Result<Self, EdgeError> {
        Ok(ModelPuller {
            http: cloud_http::client(PULL_TIMEOUT, None)?,
            cloud: cloud.trim_end_matches('/').to_string(),
            key: key.to_string(),
            dir,
            task: Task::Detect,
        })
    }

    /// Trusts only `ca` for the cloud's HTTPS certificate.
    pub fn with_ca(mut self, ca: &CloudCa) -> Result<Self, EdgeError> {
        self.http = cloud_http::client(PULL_TIMEOUT, Some(ca))?;
        Ok(self)
    }

    /// Follows the Production model of `task` instead (each task has its own).
    pub fn for_task(mut self, task: Task) -> Self {
        self.task = task;
        self
    }

    /// The task whose Production model this puller follows.
    pub fn task(&self) -> Task {
        self.task
    }

    /// The file naming the last pulled model of this puller's task.
    fn current_file(&self) -> PathBuf {
        match self.task {
            Task::Detect => self.dir.join("current"),
            t => self.dir.join(format!("current-{t}")),
        }
    }

    /// `GET url` with the key; a non-2xx answer is an error naming its status and body.
    async fn get(&self, url: &str) -> Result<reqwest::Response, EdgeError> {
        let resp = self
            .http
            .get(url)
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(|e| cloud_err(format!("{url}: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(cloud_err(format!("{url}: {status} {}", body.trim())));
        }
        Ok(resp)
    }

    /// The registry's Production model of this puller's task, `None` when the
    /// cloud has none (`GET /api/model-status`, which every server answers).
    pub async fn production(&self) -> Result<Option<RemoteModel>, EdgeError> {
        let url = format!("{}/api/model-status", self.cloud);
        let resp = self.get(&url).await?;
        let v: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| cloud_err(format!("{url}: not the model-status JSON: {e}")))?;
        let entry = v["models"].as_array().and_then(|models| {
            models.iter().find(|m| {
                state::<Task>(&m["task"]) == Some(self.task)
                    && m["source"] == "registry"
                    && state::<Stage>(&m["stage"]) == Some(Stage::Production)
            })
        });
        entry.map(|m| remote_model(&url, m)).transpose()
    }

    /// What the cloud's channel to this agent says (`GET /api/edge/config`): the
    /// Production model of the task, the inspection rules and the sampling
    /// strategies for `camera`. The
    /// rules are those of the Production model when `follow`, else of `model`
    /// (what the agent runs). `Ok(None)`: the cloud predates the channel (404);
    /// the agent then follows `GET /api/model-status` and keeps its own rules.
    pub async fn edge_config(&self, camera: &str, model: &str, follow: bool) -> Result<Option<EdgeConfig>, EdgeError> {
        let url = format!("{}/api/edge/config", self.cloud);
        let query = [
            ("camera", camera.to_string()),
            ("task", self.task.to_string()),
            ("model", model.to_string()),
            ("follow", follow.to_string()),
        ];
        let resp = self
            .http
            .get(&url)
            .query(&query)
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(|e| cloud_err(format!("{url}: {e}")))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(cloud_err(format!("{url}: {status} {}", body.trim())));
        }
        let v: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| cloud_err(format!("{url}: not the edge-config JSON: {e}")))?;
        let model = match &v["model"] {
            serde_json::Value::Null => None,
            m if state::<Stage>(&m["stage"]) == Some(Stage::Production)
                && state::<Task>(&m["task"]) == Some(self.task) =>
            {
                Some(remote_model(&url, m)?)
            }
            _ => None,
        };
        let rules: Rules = serde_json::from_value(v["rules"].clone())
            .map_err(|e| cloud_err(format!("{url}: the rules are not readable: {e}")))?;
        rules
            .validate()
            .map_err(|e| cloud_err(format!("{url}: refusing the rules: {e}")))?;
        let sampling = match &v["sampling"] {
            serde_json::Value::Null => None,
            s => {
                let s: Sampling = serde_json::from_value(s.clone())
                    .map_err(|e| cloud_err(format!("{url}: the sampling is not readable: {e}")))?;
                s.validate()
                    .map_err(|e| cloud_err(format!("{url}: refusing the sampling: {e}")))?;
                Some(s)
            }
        };
        Ok(Some(EdgeConfig {
            model,
            rules,
            sampling,
            revision: v["revision"].as_str().unwrap_or("").to_string(),
        }))
    }

    fn version_dir(&self, m: &RemoteModel) -> PathBuf {
        self.dir.join(&m.name).join(format!("v{}", m.version))
    }

    /// The local copy of `m`, downloaded unless already there; the path to load.
    pub async fn fetch(&self, m: &RemoteModel) -> Result<PathBuf, EdgeError> {
        let wanted: Vec<String> = WANTED
            .iter()
            .filter(|w| m.files.iter().any(|f| f == *w))
            .map(|w| w.to_string())
            .collect();
        let dest = self.version_dir(m);
        let Some(model) = model_file(&dest, &wanted) else {
            return Err(cloud_err(format!(
                "{} has no model.onnx or model.bpk + model.json (files: {})",
                m.spec(),
                m.files.join(", ")
            )));
        };
        if !dest.is_dir() {
            let part = dest.with_extension(format!("part-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&part).map_err(|e| io(&part, e))?;
            let downloaded = self.download_all(m, &wanted, &part).await;
            let placed = downloaded.and_then(|()| match std::fs::rename(&part, &dest) {
                Ok(()) => Ok(()),
                // Another agent on this machine placed it first: theirs is as good.
                Err(_) if dest.is_dir() => Ok(()),
                Err(e) => Err(io(&dest, e)),
            });
            if part.exists() {
                let _ = std::fs::remove_dir_all(&part);
            }
            placed?;
            tracing::info!("pulled model {} into {}", m.spec(), dest.display());
        }
        self.remember(m)?;
        Ok(model)
    }

    async fn download_all(&self, m: &RemoteModel, files: &[String], into: &Path) -> Result<(), EdgeError> {
        for f in files {
            let url = format!("{}/api/models/{}/versions/{}/files/{f}", self.cloud, m.name, m.version);
            let bytes = self
                .get(&url)
                .await?
                .bytes()
                .await
                .map_err(|e| cloud_err(format!("{url}: download cut off: {e}")))?;
            if let Some(want) = m.checksums.get(f) {
                use sha2::Digest;
                let got = hex::encode(sha2::Sha256::digest(&bytes));
                if &got != want {
                    return Err(cloud_err(format!(
                        "{url}: checksum mismatch (SHA-256 {got}, the registry says {want}); not using {}",
                        m.spec()
                    )));
                }
            }
            let path = into.join(f);
            std::fs::write(&path, &bytes).map_err(|e| io(&path, e))?;
        }
        Ok(())
    }

    /// Records `m` as the last pulled model.
    fn remember(&self, m: &RemoteModel) -> Result<(), EdgeError> {
        let current = self.current_file();
        let tmp = self.dir.join(format!("current.tmp-{}", std::process::id()));
        std::fs::write(&tmp, format!("{}\n", m.spec())).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &current).map_err(|e| io(&current, e))
    }

    /// The last pulled model still on disk: `(name@version, path to load)`.
    pub fn cached(&self) -> Option<(String, PathBuf)> {
        let text = std::fs::read_to_string(self.current_file()).ok()?;
        let spec = text.lines().next()?.trim().to_string();
        let (name, version) = spec.split_once('@')?;
        let version: i64 = version.parse().ok()?;
        if !plain(name) {
            return None;
        }
        let dir = self.dir.join(name).join(format!("v{version}"));
        let files: Vec<String> = std::fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        model_file(&dir, &files).map(|p| (spec, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpoint_is_loaded_when_there_else_the_onnx_file() {
        let d = Path::new("/m/v1");
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            model_file(d, &s(&["model.onnx", "model.bpk", "model.json"])),
            Some(d.join("model.bpk"))
        );
        assert_eq!(
            model_file(d, &s(&["model.onnx", "model.bpk"])),
            Some(d.join("model.onnx"))
        );
        assert_eq!(model_file(d, &s(&["metrics.json"])), None);
    }

    #[test]
    fn names_from_the_cloud_must_be_plain() {
        assert!(plain("defects-v2.1"));
        for bad in ["", "..", "../x", "a/b", ".hidden", "x y"] {
            assert!(!plain(bad), "{bad}");
        }
    }

    #[test]
    fn nothing_is_cached_until_a_pull_completes() {
        let dir = tempfile::tempdir().unwrap();
        let p = ModelPuller::new("http://127.0.0.1:9", "k", dir.path().to_path_buf()).unwrap();
        assert!(p.cached().is_none());
        // `current` naming a folder that is not there (a pull cut off before the rename).
        std::fs::write(dir.path().join("current"), "m@3\n").unwrap();
        assert!(p.cached().is_none());
        let v = dir.path().join("m").join("v3");
        std::fs::create_dir_all(&v).unwrap();
        std::fs::write(v.join("model.onnx"), b"x").unwrap();
        assert_eq!(p.cached(), Some(("m@3".to_string(), v.join("model.onnx"))));
    }

    /// A "cloud" on loopback answering each request line with `answer(line)`:
    /// its status and body.
    fn fake_http(answer: impl Fn(&str) -> (u16, Vec<u8>) + Send + 'static) -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8) {
                let Ok(mut s) = stream else { continue };
                let mut first = String::new();
                let mut r = BufReader::new(s.try_clone().unwrap());
                r.read_line(&mut first).unwrap();
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).unwrap() == 0 || l == "\r\n" {
                        break;
                    }
                }
                let (status, payload) = answer(&first);
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    payload.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&payload);
            }
        });
        format!("http://{addr}")
    }

    /// A one-file "cloud" that predates the edge channel: model-status naming
    /// `m@1` with `sum` as the checksum of model.onnx, and the file's bytes `body`.
    fn fake_cloud(sum: String, body: &'static [u8]) -> String {
        fake_http(move |first| {
            if first.contains("/api/model-status") {
                let v = serde_json::json!({"models": [{"task": "detect", "source": "registry", "stage": "Production",
                    "name": "m", "version": 1, "files": ["model.onnx"], "checksums": {"model.onnx": sum}}]});
                (200, v.to_string().into_bytes())
            } else if first.contains("/api/edge/config") {
                (404, b"{}".to_vec())
            } else {
                (200, body.to_vec())
            }
        })
    }

    #[tokio::test]
    async fn the_channel_gives_rules_and_model_and_an_older_cloud_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let old = ModelPuller::new(&fake_cloud("x".into(), b""), "k", dir.path().to_path_buf()).unwrap();
        assert_eq!(
            old.edge_config("cam", "m@1", true).await.unwrap(),
            None,
            "404: an older cloud"
        );
        assert_eq!(
            old.production().await.unwrap().unwrap().spec(),
            "m@1",
            "which still names its model"
        );

        let rules = serde_json::json!({"conf": 0.3, "uncertain_low": 0.4, "uncertain_high": 0.7,
            "classes": {"scratch": {"conf": 0.6}},
            "zones": [{"name": "z", "kind": "ignore", "points": [[0, 0], [0.5, 0], [0, 0.5]]}]});
        let answer = serde_json::json!({"camera": "cam", "task": "detect", "revision": "abc", "rules": rules,
            "model": {"task": "detect", "source": "registry", "stage": "Production", "name": "m", "version": 2,
                      "files": ["model.onnx"], "checksums": {}}});
        let new = ModelPuller::new(
            &fake_http(move |first| {
                assert!(first.contains("camera=cam") && first.contains("follow=true"), "{first}");
                (200, answer.to_string().into_bytes())
            }),
            "k",
            dir.path().to_path_buf(),
        )
        .unwrap();
        let c = new.edge_config("cam", "m@1", true).await.unwrap().unwrap();
        assert_eq!(c.model.unwrap().spec(), "m@2");
        assert_eq!(c.revision, "abc");
        assert_eq!(c.rules.thresholds("scratch").conf, 0.6);
        assert_eq!(c.rules.zones.len(), 1);

        // Rules that break the rules' own checks are refused, not applied.
        let bad =
            serde_json::json!({"rules": {"conf": 0.3, "uncertain_low": 0.8, "uncertain_high": 0.7}, "model": null});
        let p = ModelPuller::new(
            &fake_http(move |_| (200, bad.to_string().into_bytes())),
            "k",
            dir.path().to_path_buf(),
        )
        .unwrap();
        let e = p.edge_config("cam", "m@1", false).await.unwrap_err().to_string();
        assert!(e.contains("refusing the rules"), "{e}");
    }

    #[tokio::test]
    async fn a_segment_puller_follows_the_production_segmenter_and_not_the_detector() {
        let dir = tempfile::tempdir().unwrap();
        let p = ModelPuller::new(&fake_cloud("x".into(), b""), "k", dir.path().to_path_buf())
            .unwrap()
            .for_task(Task::Segment);
        assert_eq!(
            p.production().await.unwrap(),
            None,
            "the cloud's only Production model is a detector"
        );
        // The detector pulled before is not the segmenter to start on.
        let v = dir.path().join("m").join("v3");
        std::fs::create_dir_all(&v).unwrap();
        std::fs::write(v.join("model.onnx"), b"x").unwrap();
        std::fs::write(dir.path().join("current"), "m@3\n").unwrap();
        assert!(p.cached().is_none());
        std::fs::write(dir.path().join("current-segment"), "m@3\n").unwrap();
        assert_eq!(p.cached(), Some(("m@3".to_string(), v.join("model.onnx"))));
    }

    #[tokio::test]
    async fn a_download_whose_checksum_differs_is_refused_and_nothing_is_cached() {
        use sha2::Digest;
        let good = hex::encode(sha2::Sha256::digest(b"onnx bytes"));
        let dir = tempfile::tempdir().unwrap();
        let p = ModelPuller::new(&fake_cloud(good.clone(), b"tampered"), "k", dir.path().to_path_buf()).unwrap();
        let m = p.production().await.unwrap().unwrap();
        assert_eq!(m.checksums["model.onnx"], good);
        let e = p.fetch(&m).await.unwrap_err().to_string();
        assert!(e.contains("checksum mismatch"), "{e}");
        assert_eq!(p.cached(), None, "a refused download is not the current model");

        let dir = tempfile::tempdir().unwrap();
        let p = ModelPuller::new(&fake_cloud(good, b"onnx bytes"), "k", dir.path().to_path_buf()).unwrap();
        let m = p.production().await.unwrap().unwrap();
        let path = p.fetch(&m).await.unwrap();
        assert_eq!(std::fs::read(path).unwrap(), b"onnx bytes");
    }

    #[tokio::test]
    async fn an_unreachable_cloud_is_an_error_not_a_missing_model() {
        let dir = tempfile::tempdir().unwrap();
        let p = ModelPuller::new("http://127.0.0.1:9", "k", dir.path().to_path_buf()).unwrap();
        assert!(p.production().await.is_err());
    }
}
