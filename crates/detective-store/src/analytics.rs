//! The prediction log read for analytics: the few columns of every prediction in
//! a time range, streamed from the database (never more than `max_rows`).

use detective_core::insights::Observation;
use futures::TryStreamExt;
use sqlx::Row;

use crate::{Db, StoreError};

/// Predictions captured in `[from_ms, to_ms)`, oldest first, at most `max_rows`;
/// the flag says whether rows were left out.
pub async fn observations(
    db: &Db,
    from_ms: i64,
    to_ms: i64,
    max_rows: usize,
) -> Result<(Vec<Observation>, bool), StoreError> {
    let mut rows = sqlx::query(
        "SELECT captured_at, camera_id, defective, uncertain, max_confidence, classes FROM prediction_logs \
         WHERE captured_at >= $1 AND captured_at < $2 ORDER BY captured_at",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch(db.pool());
    let mut out = Vec::new();
    while let Some(r) = rows.try_next().await? {
        if out.len() == max_rows {
            return Ok((out, true));
        }
        let classes: String = r.try_get("classes")?;
        out.push(Observation {
            captured_ms: r.try_get("captured_at")?,
            camera_id: r.try_get("camera_id")?,
            defective: r.try_get::<i64, _>("defective")? != 0,
            uncertain: r.try_get::<i64, _>("uncertain")? != 0,
            max_confidence: r.try_get("max_confidence")?,
            classes: classes
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
        });
    }
    Ok((out, false))
}
