//! Prediction batches from edge agents (`POST /api/log`): the frames of a
//! batch are checked (each must belong to one of its predictions and be a
//! JPEG) and put in the object store under
//! `projects/{project}/frames/{camera}/{day}/{id}.jpg`, then every prediction
//! is committed in one transaction, idempotently by prediction id, so an agent
//! that resends a batch after a lost answer stores nothing twice.

use std::collections::HashMap;

use bytes::Bytes;
use detective_core::{Bands, LogBatch, LoggedPrediction, Rules, UncertainBand};
use detective_store::clock::{day_of, parse_rfc3339_ms};
use detective_store::predictions::{DEFAULT_PROJECT, IngestSummary};
use detective_store::{Db, Objects};
use detective_vision::DecodeLimits;

use crate::OpsError;

/// The rules in effect for each model of a batch, on the batch's camera (a
/// model not in the map gets the default band).
pub struct BandsByModel(pub HashMap<String, Rules>);

impl BandsByModel {
    /// The model versions of `batch` whose rules are needed, each once.
    pub fn models(batch: &LogBatch) -> impl Iterator<Item = &str> {
        let mut seen = std::collections::HashSet::new();
        batch
            .predictions
            .iter()
            .map(|p| p.model_version.as_str())
            .filter(move |m| seen.insert(*m))
    }
}

impl Bands for BandsByModel {
    fn band(&self, model_version: &str, class: &str) -> UncertainBand {
        self.0.get(model_version).map(|r| r.band(class)).unwrap_or_default()
    }
}

/// Stores a checked batch (`batch.validate()` passed) and its frames
/// (`(prediction id in lower case, JPEG bytes)`); predictions with a detection
/// in its class's uncertain band (`bands`: the inspection rules in effect for
/// their model on the batch's camera) queue for labeling, and so do those the
/// agent's sampling sent (with the strategy as the queue item's reason).
pub async fn log_batch(
    db: &Db,
    objects: &Objects,
    limits: &DecodeLimits,
    bands: &BandsByModel,
    batch: &LogBatch,
    frames: Vec<(String, Bytes)>,
) -> Result<IngestSummary, OpsError> {
    let by_id: HashMap<String, &LoggedPrediction> = batch
        .predictions
        .iter()
        .map(|p| (p.id.to_ascii_lowercase(), p))
        .collect();
    let project = batch.project.as_deref().unwrap_or(DEFAULT_PROJECT);
    let mut keys = HashMap::new();
    for (id, bytes) in &frames {
        let p = by_id
            .get(id)
            .ok_or_else(|| OpsError::Unusable(format!("frame {id}.jpg belongs to no prediction of the batch")))?;
        match detective_vision::decode::probe(bytes, limits) {
            Ok(("jpeg", _, _)) => {}
            Ok((fmt, _, _)) => return Err(OpsError::Unusable(format!("frame {id}.jpg is {fmt}, not JPEG"))),
            Err(e) => return Err(OpsError::Unusable(format!("frame {id}.jpg: {e}"))),
        }
        let day = day_of(parse_rfc3339_ms(&p.captured_at)?);
        keys.insert(
            id.clone(),
            detective_store::keys::frame(project, &batch.camera_id, &day, id),
        );
    }
    for (id, bytes) in frames {
        if let Some(k) = keys.get(&id) {
            objects.put(k, bytes).await?;
        }
    }
    Ok(detective_store::predictions::ingest(db, batch, bands, &keys).await?)
}
