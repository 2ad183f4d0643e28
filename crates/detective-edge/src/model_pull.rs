//! The cloud's Production detector, pulled to the edge: asks `GET
//! /api/model-status` which version is in Production, downloads its files from
//! `GET /api/models/{name}/versions/{v}/files/{file}` into a local cache
//! (`DIR/{name}/v{n}/`, written under a temporary name and renamed whole, so a
//! cut-off download is never taken for a model), and remembers the last pulled
//! version in `DIR/current` so an agent that starts while the cloud is down runs
//! the model it ran before.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::EdgeError;

/// The Production detector as the cloud names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteModel {
    pub name: String,
    pub version: i64,
    /// File names of its artifact.
    pub files: Vec<String>,
}

impl RemoteModel {
    /// `name@version`, as predictions carry it.
    pub fn spec(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// Files fetched, in this order: the ONNX export last, so it is never older than
/// its checkpoint (the loader ignores a stale export).
const WANTED: [&str; 3] = ["model.json", "model.bpk", "model.onnx"];

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

/// Pulls Production detectors from one cloud into one cache folder.
pub struct ModelPuller {
    http: reqwest::Client,
    cloud: String,
    key: String,
    dir: PathBuf,
}

impl ModelPuller {
    pub fn new(cloud: &str, key: &str, dir: PathBuf) -> Result<Self, EdgeError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| EdgeError::InvalidArgument(format!("HTTP client: {e}")))?;
        Ok(ModelPuller {
            http,
            cloud: cloud.trim_end_matches('/').to_string(),
            key: key.to_string(),
            dir,
        })
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

    /// The registry's Production detector, `None` when the cloud has none.
    pub async fn production(&self) -> Result<Option<RemoteModel>, EdgeError> {
        let url = format!("{}/api/model-status", self.cloud);
        let resp = self.get(&url).await?;
        let v: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| cloud_err(format!("{url}: not the model-status JSON: {e}")))?;
        let entry = v["models"].as_array().and_then(|models| {
            models
                .iter()
                .find(|m| m["task"] == "detect" && m["source"] == "registry" && m["stage"] == "Production")
        });
        let Some(m) = entry else { return Ok(None) };
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
        Ok(Some(RemoteModel {
            name: name.to_string(),
            version,
            files,
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
            let path = into.join(f);
            std::fs::write(&path, &bytes).map_err(|e| io(&path, e))?;
        }
        Ok(())
    }

    /// Records `m` as the last pulled model.
    fn remember(&self, m: &RemoteModel) -> Result<(), EdgeError> {
        let current = self.dir.join("current");
        let tmp = self.dir.join(format!("current.tmp-{}", std::process::id()));
        std::fs::write(&tmp, format!("{}\n", m.spec())).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &current).map_err(|e| io(&current, e))
    }

    /// The last pulled model still on disk: `(name@version, path to load)`.
    pub fn cached(&self) -> Option<(String, PathBuf)> {
        let text = std::fs::read_to_string(self.dir.join("current")).ok()?;
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

    #[tokio::test]
    async fn an_unreachable_cloud_is_an_error_not_a_missing_model() {
        let dir = tempfile::tempdir().unwrap();
        let p = ModelPuller::new("http://127.0.0.1:9", "k", dir.path().to_path_buf()).unwrap();
        assert!(p.production().await.is_err());
    }
}
