//! Roboflow's REST API, as its documentation describes it: the key is the
//! `api_key` query parameter; images go up as multipart to
//! `/dataset/{project}/upload`, their annotations as JSON to
//! `/dataset/{project}/annotate/{id}`; versions are listed by
//! `GET /{workspace}/{project}`; an export is asked for with
//! `GET /{workspace}/{project}/{version}/yolov8`, which answers 202 while
//! Roboflow prepares it and then a download link.
//!
//! Every call retries on 429 (after `Retry-After`) and 5xx with backoff, up to
//! [`TRIES`] times; what still fails reaches the caller as a clear error. The
//! key never appears in a message (URLs are left out of transport errors).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::settings::RoboflowSettings;
use crate::OpsError;

/// Attempts per call (the first and the retries).
pub const TRIES: u32 = 5;
/// Longest wait for an export to be prepared.
const EXPORT_WAIT: Duration = Duration::from_secs(30 * 60);

/// One version of the Roboflow project.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    pub number: u32,
    pub name: String,
    pub images: u64,
    /// Images per split (`train`, `valid`, `test`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub splits: Value,
    /// Export formats already prepared.
    pub exports: Vec<String>,
    pub generating: bool,
}

/// A client of one Roboflow project.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    pub workspace: String,
    pub project: String,
    /// First backoff (doubled per retry, at most 8 s).
    backoff: Duration,
}

/// The message of a Roboflow error body: `{"error": {"message"}}`,
/// `{"error": "…"}` or `{"message"}`; else the text itself (shortened).
fn message_of(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let m = v["error"]["message"]
        .as_str()
        .or_else(|| v["error"].as_str())
        .or_else(|| v["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| text.chars().take(200).collect());
    if m.is_empty() { "(no message)".into() } else { m }
}

/// The error of a Roboflow answer that is not a success, with Roboflow's message.
async fn failure(what: &str, resp: reqwest::Response) -> OpsError {
    let status = resp.status();
    let m = message_of(&resp.text().await.unwrap_or_default());
    match status.as_u16() {
        401 | 403 => OpsError::Invalid(format!(
            "Roboflow refused the API key ({status}): {m} Check the key in Settings → Roboflow."
        )),
        404 => OpsError::not_found(format!("{what} on Roboflow ({m})")),
        429 => OpsError::Upstream(format!(
            "Roboflow's rate limit: {what} was refused {TRIES} times ({m}); try again later"
        )),
        _ => OpsError::Upstream(format!("Roboflow answered {status} to {what}: {m}")),
    }
}

fn transport(what: &str, e: reqwest::Error) -> OpsError {
    OpsError::Upstream(format!("Roboflow could not be reached for {what}: {}", e.without_url()))
}

impl Client {
    /// A client of the project in `s`, at `base` (`https://api.roboflow.com`).
    pub fn new(base: &str, s: &RoboflowSettings) -> Result<Client, OpsError> {
        s.ready()?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("defect-detective/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OpsError::Io(format!("HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            key: s.api_key.clone(),
            workspace: s.workspace.clone(),
            project: s.project.clone(),
            backoff: Duration::from_millis(500),
        })
    }

    /// The same client with a shorter first backoff (tests).
    pub fn with_backoff(mut self, first: Duration) -> Client {
        self.backoff = first;
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends what `make` builds (with the key added), retrying on 429 and 5xx
    /// and on transport errors; the response once it is neither, or after the
    /// last try.
    async fn send(
        &self,
        what: &str,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, OpsError> {
        let mut wait = self.backoff;
        for attempt in 1..=TRIES {
            let last = attempt == TRIES;
            let pause = match make().query(&[("api_key", self.key.as_str())]).send().await {
                Ok(resp) => {
                    let busy = resp.status().as_u16() == 429 || resp.status().is_server_error();
                    if !busy || last {
                        return Ok(resp);
                    }
                    resp.headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map_or(wait, |s| Duration::from_secs(s.min(60)))
                }
                Err(e) if last => return Err(transport(what, e)),
                Err(_) => wait,
            };
            tracing::warn!(what, attempt, "Roboflow busy or unreachable; retrying");
            tokio::time::sleep(pause).await;
            wait = (wait * 2).min(Duration::from_secs(8));
        }
        Err(OpsError::Upstream(format!("Roboflow: {what} failed")))
    }

    /// [`Client::send`], and a status that is not a success as a clear error.
    async fn call(
        &self,
        what: &str,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, OpsError> {
        let resp = self.send(what, make).await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(failure(what, resp).await)
    }

    async fn json(&self, what: &str, resp: reqwest::Response) -> Result<Value, OpsError> {
        resp.json()
            .await
            .map_err(|e| OpsError::Upstream(format!("Roboflow's answer to {what} is not JSON: {}", e.without_url())))
    }

    /// Checks the key; the workspace it belongs to.
    pub async fn check_key(&self) -> Result<String, OpsError> {
        let resp = self.call("the key check", || self.http.post(self.url("/"))).await?;
        let v = self.json("the key check", resp).await?;
        Ok(v["workspace"].as_str().unwrap_or_default().to_string())
    }

    /// The versions of the project, newest first.
    pub async fn versions(&self) -> Result<Vec<VersionInfo>, OpsError> {
        let what = format!("project {}/{}", self.workspace, self.project);
        let path = format!("/{}/{}", self.workspace, self.project);
        let resp = self.call(&what, || self.http.get(self.url(&path))).await?;
        let v = self.json(&what, resp).await?;
        let mut out: Vec<VersionInfo> = v["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| {
                let number = x["id"].as_str()?.rsplit('/').next()?.parse().ok()?;
                Some(VersionInfo {
                    number,
                    name: x["name"].as_str().unwrap_or_default().to_string(),
                    images: x["images"].as_u64().unwrap_or(0),
                    splits: x["splits"].clone(),
                    exports: x["exports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|f| f.as_str().map(str::to_string))
                        .collect(),
                    generating: x["generating"].as_bool().unwrap_or(false),
                })
            })
            .collect();
        out.sort_by_key(|v| std::cmp::Reverse(v.number));
        Ok(out)
    }

    /// The download link of version `n`'s YOLOv8 export: waits while Roboflow
    /// generates the version and prepares the export (202), calling `progress`
    /// with its fraction; stops early when `cancelled` says so.
    pub async fn export_link(
        &self,
        n: u32,
        cancelled: impl Fn() -> bool,
        mut progress: impl FnMut(f64),
    ) -> Result<Option<String>, OpsError> {
        let started = std::time::Instant::now();
        let what = format!("version {n} of {}/{}", self.workspace, self.project);
        let path = format!("/{}/{}/{n}/yolov8", self.workspace, self.project);
        loop {
            if cancelled() {
                return Ok(None);
            }
            let resp = self
                .call(&what, || self.http.get(self.url(&path)).query(&[("nocache", "true")]))
                .await?;
            let preparing = resp.status().as_u16() == 202;
            let v = self.json(&what, resp).await?;
            if !preparing && v["ready"].as_bool() != Some(false) {
                return match v["export"]["link"].as_str() {
                    Some(link) if link.starts_with("http://") || link.starts_with("https://") => {
                        Ok(Some(link.to_string()))
                    }
                    _ => Err(OpsError::Upstream(format!(
                        "Roboflow's export of {what} failed: no download link in its answer"
                    ))),
                };
            }
            progress(v["progress"].as_f64().unwrap_or(0.0));
            if started.elapsed() > EXPORT_WAIT {
                return Err(OpsError::Upstream(format!(
                    "Roboflow did not finish exporting {what} in {} minutes",
                    EXPORT_WAIT.as_secs() / 60
                )));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Downloads `link` (as given: Roboflow's links carry their own access)
    /// into `dest`, at most `max_bytes`; the bytes written.
    pub async fn download(&self, link: &str, dest: &Path, max_bytes: u64) -> Result<u64, OpsError> {
        use tokio::io::AsyncWriteExt;
        let mut resp = self
            .http
            .get(link)
            .send()
            .await
            .map_err(|e| transport("the export download", e))?;
        if !resp.status().is_success() {
            return Err(OpsError::Upstream(format!(
                "Roboflow answered {} to the export download",
                resp.status()
            )));
        }
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| OpsError::io(dest.display(), e))?;
        let mut total = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport("the export download", e))? {
            total += chunk.len() as u64;
            if total > max_bytes {
                return Err(OpsError::too_large(
                    format!("Roboflow's export is larger than {max_bytes} bytes"),
                    max_bytes,
                ));
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| OpsError::io(dest.display(), e))?;
        }
        file.flush().await.map_err(|e| OpsError::io(dest.display(), e))?;
        Ok(total)
    }

    /// Uploads one image into `split` (`train`, `valid`, `test`); Roboflow's
    /// id of it, and whether Roboflow had it already.
    pub async fn upload(
        &self,
        name: &str,
        split: &str,
        bytes: bytes::Bytes,
        mime: &str,
    ) -> Result<(String, bool), OpsError> {
        let what = format!("the upload of {name}");
        let path = format!("/dataset/{}/upload", self.project);
        let make = || {
            let part = reqwest::multipart::Part::stream(bytes.clone())
                .file_name(name.to_string())
                .mime_str(mime)
                .unwrap_or_else(|_| reqwest::multipart::Part::stream(bytes.clone()).file_name(name.to_string()));
            let form = reqwest::multipart::Form::new()
                .text("name", name.to_string())
                .text("split", split.to_string())
                .part("file", part);
            self.http
                .post(self.url(&path))
                .query(&[("batch", "Defect Detective")])
                .multipart(form)
        };
        let resp = self.call(&what, make).await?;
        let v = self.json(&what, resp).await?;
        match v["id"].as_str() {
            Some(id) if v["success"] == true || v["duplicate"] == true => Ok((id.to_string(), v["duplicate"] == true)),
            _ => Err(OpsError::Upstream(format!(
                "Roboflow did not take {name}: {}",
                message_of(&v.to_string())
            ))),
        }
    }

    /// Saves the YOLO annotation `text` of Roboflow image `id` (classes named by
    /// `labelmap`, index → name); `overwrite` replaces one saved before.
    pub async fn annotate(
        &self,
        id: &str,
        name: &str,
        text: &str,
        labelmap: &[String],
        overwrite: bool,
    ) -> Result<(), OpsError> {
        let what = format!("the annotation of {name}");
        let path = format!("/dataset/{}/annotate/{id}", self.project);
        let map: serde_json::Map<String, Value> = labelmap
            .iter()
            .enumerate()
            .map(|(i, n)| (i.to_string(), Value::from(n.as_str())))
            .collect();
        let body = serde_json::json!({"annotationFile": text, "labelmap": map});
        let make = || {
            let mut q = vec![("name", format!("{name}.txt"))];
            if overwrite {
                q.push(("overwrite", "true".into()));
            }
            self.http.post(self.url(&path)).query(&q).json(&body)
        };
        let resp = self.send(&what, make).await?;
        if resp.status().as_u16() == 409 {
            let m = message_of(&resp.text().await.unwrap_or_default());
            if m.contains("already annotated") {
                return Ok(());
            }
            return Err(OpsError::Upstream(format!("Roboflow refused {what}: {m}")));
        }
        if resp.status().is_success() {
            return Ok(());
        }
        Err(failure(&what, resp).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_read_from_every_shape_roboflow_uses() {
        assert_eq!(
            message_of(r#"{"error": {"message": "Invalid image."}}"#),
            "Invalid image."
        );
        assert_eq!(message_of(r#"{"error": "no such version"}"#), "no such version");
        assert_eq!(message_of(r#"{"message": "m"}"#), "m");
        assert_eq!(message_of("plain"), "plain");
    }
}
