//! Naming a registered version: `name@3`, `name@<stage>`, a stage alone (the
//! task's newest model at that stage) or a name alone (its Production
//! version).

use detective_core::{Stage, Task};
use detective_store::Db;
use detective_store::models::{self, ModelVersion};

use crate::OpsError;

/// The version `spec` names for `task` (`None`: of any task): `name@3`,
/// `name@<stage>`, a stage alone (the task's newest model at that stage) or a
/// name alone (its Production version). `Ok(None)` when nothing matches.
pub async fn resolve(db: &Db, spec: &str, task: Option<Task>) -> Result<Option<ModelVersion>, OpsError> {
    let found = match spec.split_once('@') {
        Some((name, v)) => {
            if let Ok(n) = v.parse::<i64>() {
                match models::get_version(db, name, n).await {
                    Ok(v) => Some(v),
                    Err(detective_store::StoreError::NotFound { .. }) => None,
                    Err(e) => return Err(e.into()),
                }
            } else {
                let stage = v.parse::<Stage>().map_err(|_| {
                    OpsError::Invalid(format!(
                        "model {spec:?}: after @ comes a version number or a stage (None, Staging, Production, Archived)"
                    ))
                })?;
                models::at_stage(db, Some(name), task, stage).await?
            }
        }
        None => match spec.parse::<Stage>() {
            Ok(stage) => models::at_stage(db, None, task, stage).await?,
            Err(_) => models::at_stage(db, Some(spec), task, Stage::Production).await?,
        },
    };
    if let (Some(v), Some(task)) = (&found, task)
        && v.task != task
    {
        return Err(OpsError::Invalid(format!(
            "{}@{} is a {} model, not {task}",
            v.name, v.version, v.task
        )));
    }
    Ok(found)
}

/// Like [`resolve`], but nothing found is an error naming `spec`.
pub async fn require(db: &Db, spec: &str, task: Option<Task>) -> Result<ModelVersion, OpsError> {
    resolve(db, spec, task).await?.ok_or_else(|| {
        let what = task.map_or(String::new(), |t| format!("{t} "));
        OpsError::Invalid(format!("no registered {what}model matches {spec:?}"))
    })
}
