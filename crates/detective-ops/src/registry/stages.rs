//! A version's place in the registry: stages (one Production per model; a
//! new Production archives the previous one), rollback to the previous
//! Production, and the reads of models and versions. Stage changes move the
//! MLflow aliases when mirroring is on.

use detective_core::Stage;
use detective_store::models::{self, ModelVersion};
use detective_store::{Db, Objects};

use super::artifacts::artifact_files;
use crate::OpsError;

/// Sets the stage of `name@version`; a new Production archives the previous
/// one (the serving processes follow it).
pub async fn promote(db: &Db, name: &str, version: i64, stage: Stage) -> Result<ModelVersion, OpsError> {
    let v = models::set_stage(db, name, version, stage).await?;
    crate::mlflow::hook(db, "aliases", crate::mlflow::stages_changed(db, v.task)).await;
    if stage == Stage::Production {
        crate::alerts::on_promoted(db, name, version).await;
    }
    Ok(v)
}

/// Brings back the version that was Production before the current one and
/// archives the current one: (restored, archived). Nothing to go back to is a
/// conflict.
pub async fn rollback(db: &Db, name: &str) -> Result<(ModelVersion, ModelVersion), OpsError> {
    let (restored, archived) = models::rollback(db, name).await?;
    crate::mlflow::hook(db, "aliases", crate::mlflow::stages_changed(db, restored.task)).await;
    Ok((restored, archived))
}

/// The Production version of each task (newest model first when several),
/// with the names of its files.
/// A registered version as `GET /api/model-status` and the edge channel name it
/// to agents: with the names of its files and their SHA-256.
pub fn production_entry(v: &ModelVersion, files: &[String]) -> serde_json::Value {
    serde_json::json!({"task": v.task, "name": v.name, "version": v.version, "stage": v.stage,
                       "metrics": v.metrics, "source": "registry", "files": files,
                       "checksums": v.params.get("files")})
}

pub async fn production(db: &Db, objects: &Objects) -> Result<Vec<(ModelVersion, Vec<String>)>, OpsError> {
    let mut out = Vec::new();
    for v in models::production(db).await? {
        let files = artifact_files(objects, &v).await?;
        out.push((v, files));
    }
    Ok(out)
}

/// Every registered model, by name.
pub async fn list(db: &Db) -> Result<Vec<models::Model>, OpsError> {
    Ok(models::list(db).await?)
}

/// The versions of model `name`, newest first.
pub async fn versions(db: &Db, name: &str) -> Result<Vec<ModelVersion>, OpsError> {
    Ok(models::versions(db, name).await?)
}

/// The versions of model `name`, newest first, as the API lists them: each
/// with its MLflow mirror (`mlflow: {version, url}`) once made.
pub async fn versions_view(db: &Db, name: &str) -> Result<Vec<serde_json::Value>, OpsError> {
    let mut out = Vec::new();
    for v in models::versions(db, name).await? {
        let mirror = crate::mlflow::version_status(db, name, v.version).await?;
        let mut j = serde_json::to_value(&v).map_err(|e| OpsError::Io(e.to_string()))?;
        j["mlflow"] = serde_json::json!(mirror);
        out.push(j);
    }
    Ok(out)
}
