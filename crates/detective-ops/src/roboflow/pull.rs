//! Pull: a version of the Roboflow project in as a dataset of the local
//! project. Roboflow prepares the version's YOLOv8 export (the job waits,
//! showing Roboflow's progress), the zip is downloaded, checked and imported
//! by the same zip import as an upload ([`crate::datasets::import_zip`]), its
//! YOLOv8 layout written to the object store under
//! `projects/{project}/datasets/{name}/v1/`, and the version's note records
//! where it came from: `roboflow:{workspace}/{project}/{version}`.

use detective_core::names::check_segment;
use detective_store::integration_jobs;
use serde::{Deserialize, Serialize};

use super::job::{CancelWatch, JobEnv, Outcome};
use super::settings;
use crate::OpsError;

/// `POST /api/integrations/roboflow/pull`: which version, as which dataset.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// The Roboflow version number.
    pub version: u32,
    /// The dataset's name (default `roboflow-{project}-v{version}`).
    #[serde(default)]
    pub name: Option<String>,
}

impl PullRequest {
    pub(super) fn check(&self) -> Result<(), OpsError> {
        if self.version == 0 {
            return Err(OpsError::invalid("version: Roboflow's versions start at 1"));
        }
        if let Some(n) = &self.name {
            check_segment("dataset name", n)?;
        }
        Ok(())
    }
}

pub(super) async fn run(env: &JobEnv, id: i64, req: &PullRequest, watch: &CancelWatch) -> Result<Outcome, OpsError> {
    let s = settings::get(&env.db).await?;
    let client = super::client::Client::new(&env.base_url, &s)?;
    let lineage = format!("roboflow:{}/{}/{}", s.workspace, s.project, req.version);
    let name = req
        .name
        .clone()
        .unwrap_or_else(|| format!("roboflow-{}-v{}", s.project, req.version));
    check_segment("dataset name", &name)?;
    integration_jobs::progress(
        &env.db,
        id,
        0,
        3,
        &format!("asking Roboflow for the export of {lineage}"),
    )
    .await?;
    let (db, job) = (env.db.clone(), id);
    let link = client
        .export_link(
            req.version,
            || watch.cancelled(),
            |p| {
                let (db, msg) = (
                    db.clone(),
                    format!("Roboflow is preparing the export: {:.0} %", p * 100.0),
                );
                tokio::spawn(async move {
                    let _ = integration_jobs::progress(&db, job, 0, 3, &msg).await;
                });
            },
        )
        .await?;
    let Some(link) = link else {
        return Ok(Outcome::Cancelled(
            "cancelled while Roboflow prepared the export".into(),
        ));
    };
    integration_jobs::progress(&env.db, id, 1, 3, "downloading the export").await?;
    std::fs::create_dir_all(&env.work_dir).map_err(|e| OpsError::io(env.work_dir.display(), e))?;
    let zip = tempfile::Builder::new()
        .prefix("roboflow-")
        .suffix(".zip")
        .tempfile_in(&env.work_dir)
        .map_err(|e| OpsError::io("temporary file", e))?;
    let bytes = client.download(&link, zip.path(), env.max_download).await?;
    if watch.cancelled() {
        return Ok(Outcome::Cancelled(
            "cancelled after the download; nothing was imported".into(),
        ));
    }
    integration_jobs::progress(&env.db, id, 2, 3, &format!("checking and importing {bytes} bytes")).await?;
    let req = crate::datasets::ImportZip {
        zip: zip.path().to_path_buf(),
        name: name.clone(),
        project: s.local_project.clone(),
        note: Some(lineage.clone()),
        max_unpacked: 4 * env.max_download,
    };
    let done = crate::datasets::import_zip(&env.db, &env.objects, &env.limits, req).await?;
    // The version's YOLOv8 layout in the object store, as every export leaves it.
    let written = crate::datasets::export(
        &env.db,
        &env.objects,
        done.dataset.id,
        Some(1),
        crate::datasets::ExportFormat::Yolov8,
    )
    .await?;
    drop(written);
    let result = serde_json::json!({"dataset_id": done.dataset.id, "name": name, "project": s.local_project,
                                    "images": done.images, "duplicates": done.duplicates, "lineage": lineage,
                                    "classes": done.dataset.classes});
    Ok(Outcome::Done(
        result,
        format!(
            "pulled {lineage} as dataset {name} of project {}: {} images",
            s.local_project, done.images
        ),
    ))
}
