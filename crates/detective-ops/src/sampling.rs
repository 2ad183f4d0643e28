//! Each camera's sampling strategies (which frames beyond the uncertain ones
//! its edge agent sends to people), kept in the settings table so every server
//! replica hands the same to the agent over `GET /api/edge/config`.

use detective_core::names::check_segment;
use detective_core::sampling::Sampling;
use detective_store::Db;

use crate::OpsError;

fn key(camera: &str) -> Result<String, OpsError> {
    check_segment("camera", camera).map_err(|e| OpsError::Invalid(e.to_string()))?;
    Ok(format!("sampling.camera.{camera}"))
}

/// The strategies of `camera`; none set: every strategy off.
pub async fn get(db: &Db, camera: &str) -> Result<Sampling, OpsError> {
    match detective_store::settings::get(db, &key(camera)?).await? {
        Some(v) => {
            serde_json::from_value(v).map_err(|e| OpsError::Invalid(format!("stored sampling of camera {camera}: {e}")))
        }
        None => Ok(Sampling::default()),
    }
}

/// Stores `s` as the strategies of `camera` (checked first: a bad one changes
/// nothing).
pub async fn set(db: &Db, camera: &str, s: &Sampling) -> Result<(), OpsError> {
    let key = key(camera)?;
    s.validate().map_err(OpsError::Invalid)?;
    let v = serde_json::to_value(s).map_err(|e| OpsError::Io(e.to_string()))?;
    Ok(detective_store::settings::set(db, &key, &v).await?)
}
