//! MLflow's REST API (`/api/2.0/mlflow/…`), as its documentation describes it:
//! experiments, runs (`runs/create`, `runs/log-batch`, `runs/update`,
//! `runs/search`), artifacts through the tracking server's proxy
//! (`PUT /api/2.0/mlflow-artifacts/artifacts/{path}`), and the model registry
//! (`registered-models/create`, `model-versions/create|search`,
//! `registered-models/alias`). A token, when set, goes as `Authorization:
//! Bearer` (MLflow's `MLFLOW_TRACKING_TOKEN`).
//!
//! Errors say whether trying again can help ([`CallError::retry`]): the
//! server unreachable, 429 and 5xx can; a refused request (4xx) cannot.

use std::time::Duration;

use serde_json::{Value, json};

/// Most metrics, params and tags MLflow takes in one `log-batch`.
pub const BATCH_METRICS: usize = 1000;
pub const BATCH_PARAMS: usize = 100;
pub const BATCH_TAGS: usize = 100;

/// Where MLflow is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlflowConfig {
    /// `http(s)://host:port` of the tracking server; empty: MLflow is off.
    #[serde(default)]
    pub tracking_uri: String,
    /// The experiment runs go to (created when missing).
    #[serde(default = "default_experiment")]
    pub experiment: String,
    /// Bearer token, when the server asks for one.
    #[serde(default)]
    pub token: String,
}

fn default_experiment() -> String {
    "defect-detective".into()
}

impl MlflowConfig {
    pub fn is_on(&self) -> bool {
        !self.tracking_uri.trim().is_empty()
    }
}

/// A failed call: what went wrong, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("MLflow: {message}")]
pub struct CallError {
    pub message: String,
    pub retry: bool,
    /// MLflow's `error_code` (`RESOURCE_ALREADY_EXISTS`, …), when it sent one.
    pub code: Option<String>,
}

impl CallError {
    fn permanent(message: impl Into<String>) -> Self {
        CallError {
            message: message.into(),
            retry: false,
            code: None,
        }
    }
}

/// A client of one MLflow tracking server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(cfg: &MlflowConfig) -> Result<Self, CallError> {
        let base = cfg.tracking_uri.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CallError::permanent(format!(
                "tracking_uri {base:?} must be an http:// or https:// address of an MLflow server"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| CallError::permanent(e.to_string()))?;
        Ok(Client {
            http,
            base,
            token: (!cfg.token.is_empty()).then(|| cfg.token.clone()),
        })
    }

    /// The server's address, for links.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn answer(what: &str, resp: Result<reqwest::Response, reqwest::Error>) -> Result<Value, CallError> {
        let resp = resp.map_err(|e| CallError {
            message: format!("{what}: {}", e.without_url()),
            retry: true,
            code: None,
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let code = v["error_code"].as_str().map(str::to_string);
        let msg = v["message"].as_str().map(str::to_string).unwrap_or_else(|| {
            let t = text.trim();
            t.chars().take(300).collect()
        });
        Err(CallError {
            message: format!("{what}: {status} {msg}"),
            retry: status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
            code,
        })
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, CallError> {
        let url = format!("{}/api/2.0/mlflow/{path}", self.base);
        let resp = self.auth(self.http.post(url).json(&body)).send().await;
        Self::answer(path, resp).await
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, CallError> {
        let url = format!("{}/api/2.0/mlflow/{path}", self.base);
        let resp = self.auth(self.http.get(url).query(query)).send().await;
        Self::answer(path, resp).await
    }

    /// The id of experiment `name`, created when missing.
    pub async fn experiment_id(&self, name: &str) -> Result<String, CallError> {
        match self.get("experiments/get-by-name", &[("experiment_name", name)]).await {
            Ok(v) => return id_in(&v["experiment"]["experiment_id"], "experiment_id"),
            Err(e) if e.code.as_deref() == Some("RESOURCE_DOES_NOT_EXIST") => {}
            Err(e) => return Err(e),
        }
        match self.post("experiments/create", json!({"name": name})).await {
            Ok(v) => id_in(&v["experiment_id"], "experiment_id"),
            // Another writer made it meanwhile.
            Err(e) if e.code.as_deref() == Some("RESOURCE_ALREADY_EXISTS") => {
                let v = self
                    .get("experiments/get-by-name", &[("experiment_name", name)])
                    .await?;
                id_in(&v["experiment"]["experiment_id"], "experiment_id")
            }
            Err(e) => Err(e),
        }
    }

    /// The run of `experiment` tagged `key = value`, if one exists:
    /// `(run_id, artifact_uri)`.
    pub async fn find_run(
        &self,
        experiment: &str,
        key: &str,
        value: &str,
    ) -> Result<Option<(String, String)>, CallError> {
        let filter = format!("tags.`{key}` = '{}'", value.replace('\'', ""));
        let v = self
            .post(
                "runs/search",
                json!({"experiment_ids": [experiment], "filter": filter, "max_results": 1}),
            )
            .await?;
        Ok(v["runs"].as_array().and_then(|r| r.first()).map(|r| {
            (
                r["info"]["run_id"].as_str().unwrap_or("").to_string(),
                r["info"]["artifact_uri"].as_str().unwrap_or("").to_string(),
            )
        }))
    }

    /// A new run: `(run_id, artifact_uri)`.
    pub async fn create_run(
        &self,
        experiment: &str,
        name: &str,
        start_ms: i64,
        tags: &[(String, String)],
    ) -> Result<(String, String), CallError> {
        let tags: Vec<Value> = tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let v = self
            .post(
                "runs/create",
                json!({"experiment_id": experiment, "run_name": name, "start_time": start_ms, "tags": tags}),
            )
            .await?;
        let info = &v["run"]["info"];
        Ok((
            id_in(&info["run_id"], "run_id")?,
            info["artifact_uri"].as_str().unwrap_or("").to_string(),
        ))
    }

    /// Logs metrics `(key, value, timestamp ms, step)`, params and tags to
    /// `run_id`, in as many calls as MLflow's limits ask.
    pub async fn log_batch(
        &self,
        run_id: &str,
        metrics: &[(String, f64, i64, i64)],
        params: &[(String, String)],
        tags: &[(String, String)],
    ) -> Result<(), CallError> {
        let kv = |(k, v): &(String, String)| json!({"key": k, "value": v});
        for chunk in params.chunks(BATCH_PARAMS) {
            let params: Vec<Value> = chunk.iter().map(kv).collect();
            self.post("runs/log-batch", json!({"run_id": run_id, "params": params}))
                .await?;
        }
        for chunk in tags.chunks(BATCH_TAGS) {
            let tags: Vec<Value> = chunk.iter().map(kv).collect();
            self.post("runs/log-batch", json!({"run_id": run_id, "tags": tags}))
                .await?;
        }
        for chunk in metrics.chunks(BATCH_METRICS) {
            let metrics: Vec<Value> = chunk
                .iter()
                .map(|(k, v, t, s)| json!({"key": k, "value": v, "timestamp": t, "step": s}))
                .collect();
            self.post("runs/log-batch", json!({"run_id": run_id, "metrics": metrics}))
                .await?;
        }
        Ok(())
    }

    /// Ends `run_id`: `FINISHED`, `FAILED` or `KILLED`.
    pub async fn end_run(&self, run_id: &str, status: &str, end_ms: i64) -> Result<(), CallError> {
        self.post(
            "runs/update",
            json!({"run_id": run_id, "status": status, "end_time": end_ms}),
        )
        .await
        .map(|_| ())
    }

    /// Uploads `bytes` as artifact `path` (`plots/loss.svg`) of the run whose
    /// artifact root is `artifact_uri` (`mlflow-artifacts:/1/{run}/artifacts`),
    /// through the tracking server's artifact proxy.
    pub async fn upload(&self, artifact_uri: &str, path: &str, bytes: bytes::Bytes) -> Result<(), CallError> {
        let url = format!("{}/{PROXY}/{}/{path}", self.base, proxied(artifact_uri)?);
        let resp = self
            .auth(self.http.put(url).body(bytes))
            .header("content-type", content_type(path))
            .send()
            .await;
        Self::answer(&format!("uploading {path}"), resp).await.map(|_| ())
    }

    /// Downloads artifact `path` of an `mlflow-artifacts:` root.
    pub async fn download(&self, artifact_uri: &str, path: &str) -> Result<bytes::Bytes, CallError> {
        let root = proxied(artifact_uri)?;
        let url = if path.is_empty() {
            format!("{}/{PROXY}/{root}", self.base)
        } else {
            format!("{}/{PROXY}/{root}/{path}", self.base)
        };
        let resp = self.auth(self.http.get(url)).send().await.map_err(|e| CallError {
            message: format!("downloading {path}: {}", e.without_url()),
            retry: true,
            code: None,
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(CallError {
                message: format!("downloading {artifact_uri}/{path}: {status}"),
                retry: status.is_server_error(),
                code: None,
            });
        }
        resp.bytes().await.map_err(|e| CallError {
            message: format!("downloading {path}: {}", e.without_url()),
            retry: true,
            code: None,
        })
    }

    /// Creates registered model `name` unless it exists.
    pub async fn ensure_registered_model(&self, name: &str) -> Result<(), CallError> {
        match self.post("registered-models/create", json!({"name": name})).await {
            Ok(_) => Ok(()),
            Err(e) if e.code.as_deref() == Some("RESOURCE_ALREADY_EXISTS") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The version of registered model `name` tagged `key = value`, if any.
    pub async fn find_model_version(&self, name: &str, key: &str, value: &str) -> Result<Option<String>, CallError> {
        let filter = format!("name = '{}'", name.replace('\'', ""));
        let v = self
            .get("model-versions/search", &[("filter", &filter), ("max_results", "1000")])
            .await?;
        let found = v["model_versions"].as_array().into_iter().flatten().find(|mv| {
            mv["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t["key"] == key && t["value"] == value)
        });
        Ok(found.and_then(|mv| mv["version"].as_str().map(str::to_string)))
    }

    /// A new version of registered model `name` from `source` (an artifact
    /// folder of run `run_id`); its number.
    pub async fn create_model_version(
        &self,
        name: &str,
        source: &str,
        run_id: &str,
        tags: &[(String, String)],
    ) -> Result<String, CallError> {
        let tags: Vec<Value> = tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let v = self
            .post(
                "model-versions/create",
                json!({"name": name, "source": source, "run_id": run_id, "tags": tags}),
            )
            .await?;
        id_in(&v["model_version"]["version"], "version")
    }

    /// Points alias `alias` of `name` at `version`.
    pub async fn set_alias(&self, name: &str, alias: &str, version: &str) -> Result<(), CallError> {
        self.post(
            "registered-models/alias",
            json!({"name": name, "alias": alias, "version": version}),
        )
        .await
        .map(|_| ())
    }

    /// Removes alias `alias` of `name` (gone already is fine).
    pub async fn delete_alias(&self, name: &str, alias: &str) -> Result<(), CallError> {
        let url = format!("{}/api/2.0/mlflow/registered-models/alias", self.base);
        let resp = self
            .auth(self.http.delete(url).json(&json!({"name": name, "alias": alias})))
            .send()
            .await;
        match Self::answer("registered-models/alias", resp).await {
            Ok(_) => Ok(()),
            Err(e) if e.code.as_deref() == Some("RESOURCE_DOES_NOT_EXIST") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Where version `version` of `name` keeps its files (`mlflow-artifacts:/…`).
    pub async fn download_uri(&self, name: &str, version: &str) -> Result<String, CallError> {
        let v = self
            .get(
                "model-versions/get-download-uri",
                &[("name", name), ("version", version)],
            )
            .await?;
        v["artifact_uri"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| CallError::permanent("get-download-uri: no artifact_uri in the answer"))
    }

    /// The files under artifact folder `path` of run `run_id`: `(path, is_dir)`.
    pub async fn list_artifacts(&self, run_id: &str, path: &str) -> Result<Vec<(String, bool)>, CallError> {
        let v = self
            .get("artifacts/list", &[("run_id", run_id), ("path", path)])
            .await?;
        Ok(v["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| Some((f["path"].as_str()?.to_string(), f["is_dir"].as_bool().unwrap_or(false))))
            .collect())
    }
}

impl Client {
    /// The version alias `alias` of `name` points at.
    pub async fn alias_version(&self, name: &str, alias: &str) -> Result<String, CallError> {
        let v = self
            .get("registered-models/alias", &[("name", name), ("alias", alias)])
            .await?;
        id_in(&v["model_version"]["version"], "version")
    }

    /// The entries of folder `sub` under an `mlflow-artifacts:` root, through
    /// the artifact proxy: `(name, is_dir)`.
    pub async fn list_proxy(&self, artifact_uri: &str, sub: &str) -> Result<Vec<(String, bool)>, CallError> {
        let root = proxied(artifact_uri)?;
        let path = if sub.is_empty() { root } else { format!("{root}/{sub}") };
        let url = format!("{}/{PROXY}", self.base);
        let resp = self.auth(self.http.get(url).query(&[("path", path)])).send().await;
        let v = Self::answer("listing artifacts", resp).await?;
        Ok(v["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| {
                let p = f["path"].as_str()?;
                Some((
                    p.rsplit('/').next().unwrap_or(p).to_string(),
                    f["is_dir"].as_bool().unwrap_or(false),
                ))
            })
            .collect())
    }
}

/// The tracking server's artifact proxy, under its base address.
const PROXY: &str = "api/2.0/mlflow-artifacts/artifacts";

/// The path under [`PROXY`] of an `mlflow-artifacts:/1/{run}/artifacts` root:
/// `1/{run}/artifacts` (no slash at either end). Another scheme is not served
/// by the tracking server.
fn proxied(artifact_uri: &str) -> Result<String, CallError> {
    let root = artifact_uri.strip_prefix("mlflow-artifacts:").ok_or_else(|| {
        CallError::permanent(format!(
            "the artifact root {artifact_uri:?} is not served by the tracking server \
             (start mlflow server with artifact serving, the default)"
        ))
    })?;
    Ok(root.trim_matches('/').to_string())
}

/// An id MLflow sent as a string (or a number).
fn id_in(v: &Value, what: &str) -> Result<String, CallError> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(CallError::permanent(format!("the answer has no {what}"))),
    }
}

/// The content type of an artifact, by its name.
fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "csv" => "text/csv",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "txt" | "log" => "text/plain",
        _ => "application/octet-stream",
    }
}
