//! Registered model versions loaded on demand for `?model=` of the predict
//! route: `name@3`, `name@Production` (or any stage), or a stage alone
//! (`production`: the task's Production model). The version's artifact
//! (`models/{name}/v{n}/model.onnx`, else `model.bpk` + `model.json`) is copied
//! from the object store to a local cache folder and loaded into its own bounded
//! pool; the few most recently used of each kind (detectors, map models) stay
//! loaded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use detective_core::Task;
use detective_ml::MlError;
use detective_ml::detect::detector::Detector;
use detective_ml::segment::segmenter::AnySegmenter;
use detective_store::models::ModelVersion;
use detective_store::{Db, Objects};
use detective_vision::tiles::TilePlan;
use tokio::sync::Mutex;

use crate::PredictorPool;
use crate::problem::ApiError;

impl Drop for ModelCache {
    fn drop(&mut self) {
        // Best effort: the files are copies of the object store's.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Loaded registry models kept at once.
const KEEP: usize = 3;

/// Where and how registry models are loaded.
pub struct ModelCache {
    dir: PathBuf,
    threads: usize,
    tiles: TilePlan,
    workers: usize,
    max_waiting: usize,
    /// Detectors: (name@version, pool), most recently used last.
    loaded: Lru<Detector>,
    /// Segmenters and anomaly models, the same way.
    maps: Lru<AnySegmenter>,
}

/// Loaded pools by `name@version`, most recently used last.
type Lru<M> = Mutex<Vec<(String, Arc<PredictorPool<M>>)>>;

/// The pool of `id` in `lru`, moved to the most recent place; else the pool
/// `load` makes, kept in place of the least recently used beyond [`KEEP`]. The
/// lock is held while loading, so two requests never load the same version twice.
async fn cached<M, F>(lru: &Lru<M>, id: String, load: F) -> Result<Arc<PredictorPool<M>>, ApiError>
where
    F: std::future::Future<Output = Result<Arc<PredictorPool<M>>, ApiError>>,
{
    let mut loaded = lru.lock().await;
    if let Some(i) = loaded.iter().position(|(k, _)| *k == id) {
        let entry = loaded.remove(i);
        let pool = entry.1.clone();
        loaded.push(entry);
        return Ok(pool);
    }
    let pool = load.await?;
    loaded.push((id, pool.clone()));
    if loaded.len() > KEEP {
        loaded.remove(0);
    }
    Ok(pool)
}

impl ModelCache {
    /// A cache in a folder of its own under `dir`: `name@version` names
    /// different files in different registries (two servers, or two test
    /// databases, on one machine), so two caches never share a file.
    pub fn new(dir: PathBuf, threads: usize, tiles: TilePlan, workers: usize, max_waiting: usize) -> Self {
        ModelCache {
            dir: dir.join(uuid::Uuid::new_v4().simple().to_string()),
            threads,
            tiles,
            workers,
            max_waiting,
            loaded: Mutex::new(Vec::new()),
            maps: Mutex::new(Vec::new()),
        }
    }

    /// The registered version of `task` that `spec` names, or 404.
    async fn resolve(&self, db: &Db, spec: &str, task: Task) -> Result<ModelVersion, ApiError> {
        detective_ops::registry::resolve(db, spec, Some(task))
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no registered {task} model matches {spec:?}")))
    }

    /// Copies the files of version `v` into the cache folder: the path to load
    /// (its ONNX export, else our checkpoint).
    async fn fetch(&self, objects: &Objects, v: &ModelVersion) -> Result<PathBuf, ApiError> {
        let id = format!("{}@{}", v.name, v.version);
        let prefix = v.artifact_key.trim_end_matches('/').to_string();
        let names = detective_ops::registry::artifact_files(objects, v).await?;
        let has = |n: &str| names.iter().any(|k| k == n);
        let file = |n: &str| format!("{prefix}/{n}");
        let dest = self.dir.join(&v.name).join(format!("v{}", v.version));
        std::fs::create_dir_all(&dest)
            .map_err(|e| ApiError::internal(format!("model cache {}: {e}", dest.display())))?;
        let wanted: &[&str] = if has("model.onnx") {
            &["model.onnx"]
        } else if has("model.bpk") && has("model.json") {
            &["model.json", "model.bpk"]
        } else {
            return Err(ApiError::unprocessable(format!(
                "{id} has no model.onnx or model.bpk + model.json under {prefix}/"
            )));
        };
        for n in wanted {
            let bytes = objects.get(&file(n)).await?;
            let p = dest.join(n);
            std::fs::write(&p, &bytes).map_err(|e| ApiError::internal(format!("writing {}: {e}", p.display())))?;
        }
        Ok(dest.join(wanted[wanted.len() - 1]))
    }

    /// Copies version `v` into the cache folder and loads it with `load` (on a
    /// blocking thread, with the server's threads and tiles) into a pool of its
    /// own.
    async fn load<M: Send + Sync + 'static>(
        &self,
        objects: &Objects,
        v: &ModelVersion,
        load: impl FnOnce(&Path, usize, TilePlan) -> Result<M, MlError> + Send + 'static,
    ) -> Result<Arc<PredictorPool<M>>, ApiError> {
        let id = format!("{}@{}", v.name, v.version);
        let model_path = self.fetch(objects, v).await?;
        let (threads, tiles) = (self.threads, self.tiles);
        let model = tokio::task::spawn_blocking(move || load(&model_path, threads, tiles))
            .await
            .map_err(|e| ApiError::internal(format!("loading {id}: {e}")))?
            .map_err(|e| ApiError::unprocessable(format!("{id} cannot be loaded: {e}")))?;
        Ok(Arc::new(PredictorPool::new(
            model,
            v.name.clone(),
            format!("registry {id}"),
            self.workers,
            self.max_waiting,
        )))
    }

    /// The pool of the segment version `spec` names, loading it if needed.
    pub async fn segmenter(
        &self,
        db: &Db,
        objects: &Objects,
        spec: &str,
    ) -> Result<(ModelVersion, Arc<PredictorPool<AnySegmenter>>), ApiError> {
        self.map_model(db, objects, spec, Task::Segment).await
    }

    /// The pool of the version `spec` names of a task whose models give maps
    /// (segment or anomaly), loading it if needed.
    pub async fn map_model(
        &self,
        db: &Db,
        objects: &Objects,
        spec: &str,
        task: Task,
    ) -> Result<(ModelVersion, Arc<PredictorPool<AnySegmenter>>), ApiError> {
        let v = self.resolve(db, spec, task).await?;
        let id = format!("{}@{}", v.name, v.version);
        let load = self.load(objects, &v, |path, threads, tiles| {
            AnySegmenter::load(path, threads).map(|s| s.with_tiles(tiles))
        });
        let pool = cached(&self.maps, id, load).await?;
        Ok((v, pool))
    }

    /// The pool of the detect version `spec` names, loading it if needed.
    pub async fn get(
        &self,
        db: &Db,
        objects: &Objects,
        spec: &str,
    ) -> Result<(ModelVersion, Arc<PredictorPool>), ApiError> {
        let v = self.resolve(db, spec, Task::Detect).await?;
        let id = format!("{}@{}", v.name, v.version);
        let load = self.load(objects, &v, |path, threads, tiles| {
            Detector::load(path, None, threads).map(|d| d.with_tiles(tiles))
        });
        let pool = cached(&self.loaded, id, load).await?;
        Ok((v, pool))
    }
}
