//! Push: images of the local project (chosen by id, or a dataset version's),
//! with their labels, up to the Roboflow project through its upload API. Each
//! image is recorded once sent; pushing again skips images sent with the same
//! labels, re-annotates those whose labels changed, and a push that stopped
//! (cancel, error, restart) resumes where it stopped.

use detective_store::images::ImageRow;
use detective_store::integration_jobs;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::job::{CancelWatch, JobEnv, Outcome};
use super::settings;
use crate::OpsError;
use crate::datasets::MAX_ITEMS;

/// `POST /api/integrations/roboflow/push`: what to send.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// Images of the local project, by id (each with its own labels and split).
    #[serde(default)]
    pub image_ids: Vec<i64>,
    /// Or every image of a dataset's version (its labels and splits).
    #[serde(default)]
    pub dataset_id: Option<i64>,
    /// The dataset's version (default: its newest).
    #[serde(default)]
    pub version: Option<i64>,
}

impl PushRequest {
    pub(super) fn check(&self) -> Result<(), OpsError> {
        match (self.image_ids.is_empty(), self.dataset_id) {
            (true, None) => Err(OpsError::invalid("name image_ids or a dataset_id to push")),
            (false, Some(_)) => Err(OpsError::invalid("name image_ids or a dataset_id, not both")),
            _ if self.image_ids.len() > MAX_ITEMS => Err(OpsError::too_large(
                format!("{} images in one push", self.image_ids.len()),
                MAX_ITEMS as u64,
            )),
            _ => Ok(()),
        }
    }
}

/// One image to send: the image, Roboflow's split, its YOLO label (None: not labelled).
struct Item {
    image: ImageRow,
    split: &'static str,
    label: Option<String>,
}

fn roboflow_split(s: Option<&str>) -> &'static str {
    match s {
        Some("val") => "valid",
        Some("test") => "test",
        _ => "train",
    }
}

/// The images a push names, and the class names their labels index.
async fn items(env: &JobEnv, req: &PushRequest, project: &str) -> Result<(Vec<Item>, Vec<String>), OpsError> {
    if let Some(ds) = req.dataset_id {
        let d = detective_store::datasets::get(&env.db, ds).await?;
        let version = req
            .version
            .unwrap_or_else(|| d.versions.last().map_or(1, |v| v.version));
        let rows = detective_store::datasets::items(&env.db, ds, version).await?;
        let items = rows
            .into_iter()
            .map(|(it, image)| Item {
                split: roboflow_split(Some(&it.split)),
                label: Some(it.label.unwrap_or_default()),
                image,
            })
            .collect();
        return Ok((items, d.classes));
    }
    let images = detective_store::images::get_many(&env.db, &req.image_ids).await?;
    if let Some(other) = images.iter().find(|i| i.project != project) {
        return Err(OpsError::invalid(format!(
            "image {} belongs to project {}, not {project} (the project Settings → Roboflow pushes from)",
            other.id, other.project
        )));
    }
    let classes: Vec<String> = detective_store::annotations::classes(&env.db, project)
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    let items = images
        .into_iter()
        .map(|image| Item {
            split: roboflow_split(image.split.as_deref()),
            label: image.label.clone().filter(|_| image.label_status != "unlabelled"),
            image,
        })
        .collect();
    Ok((items, classes))
}

pub(super) async fn run(env: &JobEnv, id: i64, req: &PushRequest, watch: &CancelWatch) -> Result<Outcome, OpsError> {
    let s = settings::get(&env.db).await?;
    let client = super::client::Client::new(&env.base_url, &s)?;
    let target = format!("{}/{}", s.workspace, s.project);
    let (items, classes) = items(env, req, &s.local_project).await?;
    if classes.is_empty() && items.iter().any(|i| i.label.as_deref().is_some_and(|l| !l.is_empty())) {
        return Err(OpsError::invalid(format!(
            "project {} has no class names to send with its labels: set them (Annotate → Classes)",
            s.local_project
        )));
    }
    let total = items.len() as i64;
    let (mut sent, mut skipped, mut duplicates, mut annotated) = (0, 0, 0, 0);
    for (n, it) in items.iter().enumerate() {
        if watch.cancelled() {
            return Ok(Outcome::Cancelled(format!(
                "cancelled after {n} of {total} images; pushing again resumes here"
            )));
        }
        let label_sha = hex::encode(Sha256::digest(format!("{:?}|{}", it.label, classes.join("\n"))));
        let before = integration_jobs::pushed(&env.db, &target, it.image.id).await?;
        if before.as_ref().is_some_and(|(_, sha)| *sha == label_sha) {
            skipped += 1;
        } else {
            let bytes = env.objects.get(&it.image.object_key).await?;
            let (rid, dup) = client
                .upload(&it.image.filename, it.split, bytes, &it.image.content_type)
                .await?;
            duplicates += usize::from(dup);
            if let Some(text) = &it.label {
                let stem = it
                    .image
                    .filename
                    .rsplit_once('.')
                    .map_or(it.image.filename.as_str(), |(s, _)| s);
                client
                    .annotate(&rid, stem, text, &classes, before.is_some() || dup)
                    .await?;
                annotated += 1;
            }
            integration_jobs::mark_pushed(&env.db, &target, it.image.id, &rid, &label_sha).await?;
            sent += 1;
        }
        let msg = format!("{} of {total} images: {sent} sent, {skipped} already there", n + 1);
        integration_jobs::progress(&env.db, id, n as i64 + 1, total, &msg).await?;
    }
    let result = serde_json::json!({"target": target, "images": total, "sent": sent, "skipped": skipped,
                                    "duplicates": duplicates, "annotated": annotated});
    Ok(Outcome::Done(
        result,
        format!("pushed to {target}: {sent} sent ({annotated} with labels), {skipped} already there"),
    ))
}
