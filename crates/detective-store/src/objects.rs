//! The object store: image files, frames, dataset exports and model artifacts,
//! in a local folder by default or in S3 (any S3-protocol server), through the
//! `object_store` crate. Keys are the same on both (DESIGN.md §4):
//!
//! ```text
//! projects/{project}/images/{sha256}.{ext}
//! projects/{project}/frames/{camera}/{yyyy-mm-dd}/{prediction_id}.jpg
//! projects/{project}/datasets/{dataset}/v{n}/data.yaml, images/{split}/, labels/{split}/
//! models/{name}/v{n}/model.{bpk|onnx}, metrics.json, plots/*.svg
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use crate::StoreError;

/// Where an S3 object store is.
#[derive(Debug, Clone, Default)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix inside the bucket ("" for the whole bucket).
    pub prefix: String,
    /// S3-compatible server, e.g. `http://127.0.0.1:9000`; `None` for AWS.
    pub endpoint: Option<String>,
    /// Default `us-east-1`.
    pub region: Option<String>,
    /// Access key and secret; `None` to take them from the environment.
    pub credentials: Option<(String, String)>,
}

/// An object store and a printable description of where it is.
#[derive(Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    display: String,
    kind: &'static str,
}

fn key_path(key: &str) -> Result<ObjPath, StoreError> {
    if key.is_empty() || key.starts_with('/') || key.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(StoreError::Invalid(format!(
            "object key {key:?} is not a relative path"
        )));
    }
    ObjPath::parse(key).map_err(|e| StoreError::Invalid(format!("object key {key:?}: {e}")))
}

/// How S3 requests are retried: a few times within seconds, so a server that
/// is down fails the request (503 to an API caller, a retry to a worker)
/// instead of holding it for the library's default of up to three minutes.
fn s3_retry() -> RetryConfig {
    RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(15),
        ..RetryConfig::default()
    }
}

impl Objects {
    /// A folder on the local disk (created if missing).
    pub fn local(dir: &Path) -> Result<Objects, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Config(format!("creating {}: {e}", dir.display())))?;
        let store = LocalFileSystem::new_with_prefix(dir)?;
        Ok(Objects {
            store: Arc::new(store),
            display: format!("file://{}", dir.display()),
            kind: "local",
        })
    }

    /// From the `--object-store` setting: empty → `default_dir`; `file:///path` or a
    /// plain path → that folder; `s3://bucket[/prefix]` → S3, configured from the
    /// usual AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, `AWS_ENDPOINT_URL` or `AWS_ENDPOINT` for S3-compatible servers,
    /// which are then addressed path-style).
    pub fn from_url(url: &str, default_dir: &Path) -> Result<Objects, StoreError> {
        let url = url.trim();
        if url.is_empty() {
            return Objects::local(default_dir);
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            let cfg = S3Config {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
                endpoint: env("AWS_ENDPOINT_URL").or_else(|| env("AWS_ENDPOINT")),
                region: env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")),
                credentials: None,
            };
            return Objects::s3(&cfg);
        }
        if let Some(path) = url.strip_prefix("file://") {
            return Objects::local(Path::new(path));
        }
        if url.contains("://") {
            return Err(StoreError::Config(format!(
                "unsupported object store {url:?}: expected a folder, file:///path or s3://bucket/prefix"
            )));
        }
        Objects::local(Path::new(url))
    }

    /// An S3 bucket (or a prefix in it). Credentials not given here come from
    /// the usual AWS variables; with an endpoint (an S3-compatible server) the
    /// bucket is addressed path-style.
    pub fn s3(cfg: &S3Config) -> Result<Objects, StoreError> {
        if cfg.bucket.is_empty() {
            return Err(StoreError::Config("S3 object store: no bucket named".into()));
        }
        let mut b = AmazonS3Builder::from_env()
            .with_retry(s3_retry())
            .with_bucket_name(cfg.bucket.clone())
            .with_region(cfg.region.clone().unwrap_or_else(|| "us-east-1".into()));
        if let Some(ep) = &cfg.endpoint {
            b = b
                .with_endpoint(ep.clone())
                .with_allow_http(ep.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some((key, secret)) = &cfg.credentials {
            b = b.with_access_key_id(key.clone()).with_secret_access_key(secret.clone());
        }
        let s3 = b
            .build()
            .map_err(|e| StoreError::Config(format!("S3 bucket {}: {e}", cfg.bucket)))?;
        let prefix = cfg.prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, key_path(prefix)?))
        };
        let mut display = format!("s3://{}/{prefix}", cfg.bucket);
        if let Some(ep) = &cfg.endpoint {
            display.push_str(&format!(" (endpoint {ep})"));
        }
        Ok(Objects {
            store,
            display,
            kind: "s3",
        })
    }

    /// "local" or "s3".
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        self.store.put(&key_path(key)?, PutPayload::from_bytes(bytes)).await?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        match self.store.get(&key_path(key)?).await {
            Ok(r) => Ok(r.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(StoreError::not_found(format!("object {key}"))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match self.store.head(&key_path(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.store.delete(&key_path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every key under `prefix` (recursively; `""`: the whole store), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let p = match prefix.trim_end_matches('/') {
            "" => None,
            p => Some(key_path(p)?),
        };
        let mut keys: Vec<String> = self
            .store
            .list(p.as_ref())
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await?;
        keys.sort();
        Ok(keys)
    }

    /// Time to list the store's top level (proves it answers and is readable).
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let t = Instant::now();
        self.store.list_with_delimiter(None).await?;
        Ok(t.elapsed())
    }
}

/// Object keys of DESIGN.md §4. Every argument must already be a checked name
/// (`detective_core::names::check_segment`) or a hash/uuid.
pub mod keys {
    pub fn image(project: &str, sha256: &str, ext: &str) -> String {
        format!("projects/{project}/images/{sha256}.{ext}")
    }

    /// A segmentation mask, by the SHA-256 of its (normalised) PNG: a new mask is
    /// a new object, so a dataset version keeps the mask it was made with.
    pub fn mask(project: &str, sha256: &str) -> String {
        format!("projects/{project}/masks/{sha256}.png")
    }

    pub fn frame(project: &str, camera: &str, day: &str, prediction_id: &str) -> String {
        format!("projects/{project}/frames/{camera}/{day}/{prediction_id}.jpg")
    }

    /// A dataset version's YOLOv8 layout. Each dataset has its own folder: two
    /// datasets of one project never share a `v{n}`.
    pub fn dataset_version(project: &str, dataset: &str, version: i64) -> String {
        format!("projects/{project}/datasets/{dataset}/v{version}")
    }

    pub fn model_version(name: &str, version: i64) -> String {
        format!("models/{name}/v{version}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_climb_or_are_absolute_are_refused() {
        for k in ["", "/etc/passwd", "a/../b", "a//b", "./a", "a/"] {
            assert!(key_path(k).is_err(), "{k}");
        }
        assert!(key_path("projects/p/images/ab.png").is_ok());
    }

    #[test]
    fn unknown_schemes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Objects::from_url("gs://bucket", dir.path()).is_err());
        assert!(Objects::from_url("s3://", dir.path()).is_err());
    }
}
