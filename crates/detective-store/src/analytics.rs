//! The prediction log read for analytics, aggregated by the database: the
//! predictions of a time range counted per hour, camera and class set
//! ([`Cell`]), and their confidence histogram. What comes back grows with
//! hours × cameras × class sets, never with the number of predictions, so a
//! dashboard reading a busy line's day does not pull its millions of rows.

use detective_core::insights::{CONFIDENCE_BINS, Cell};
use futures::TryStreamExt;
use sqlx::Row;

use crate::{Backend, Db, StoreError};

/// The start of the UTC hour holding `captured_at` (ms); `%` truncates in both
/// databases, so the remainder is made non-negative first.
const HOUR_OF: &str = "captured_at - ((captured_at % 3600000) + 3600000) % 3600000";

/// The predictions captured in `[from_ms, to_ms)` as cells, at most
/// `max_cells`; the flag says whether cells were left out.
pub async fn cells(db: &Db, from_ms: i64, to_ms: i64, max_cells: usize) -> Result<(Vec<Cell>, bool), StoreError> {
    let sql = format!(
        "SELECT {HOUR_OF} AS hour_ms, camera_id, classes, COUNT(*) AS n, \
         CAST(SUM(defective) AS BIGINT) AS d, CAST(SUM(uncertain) AS BIGINT) AS u \
         FROM prediction_logs WHERE captured_at >= $1 AND captured_at < $2 \
         GROUP BY 1, camera_id, classes ORDER BY 1"
    );
    let mut rows = sqlx::query(&sql).bind(from_ms).bind(to_ms).fetch(db.pool());
    let mut out = Vec::new();
    while let Some(r) = rows.try_next().await? {
        if out.len() == max_cells {
            return Ok((out, true));
        }
        let classes: String = r.try_get("classes")?;
        out.push(Cell {
            hour_ms: r.try_get("hour_ms")?,
            camera_id: r.try_get("camera_id")?,
            classes: classes
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            total: count(&r, "n")?,
            defective: count(&r, "d")?,
            uncertain: count(&r, "u")?,
        });
    }
    Ok((out, false))
}

/// The highest confidence of the predictions with detections captured in
/// `[from_ms, to_ms)`, in [`CONFIDENCE_BINS`] bins over 0..1 (the bins of
/// [`detective_core::insights::confidence_bin`]).
pub async fn confidence_histogram(db: &Db, from_ms: i64, to_ms: i64) -> Result<Vec<u64>, StoreError> {
    let last = CONFIDENCE_BINS - 1;
    let bin = match db.backend() {
        Backend::Sqlite => format!("MIN({last}, MAX(0, CAST(max_confidence * {CONFIDENCE_BINS} AS INTEGER)))"),
        Backend::Postgres => {
            format!("CAST(LEAST({last}, GREATEST(0, FLOOR(max_confidence * {CONFIDENCE_BINS}))) AS BIGINT)")
        }
    };
    let sql = format!(
        "SELECT {bin} AS bin, COUNT(*) AS n FROM prediction_logs \
         WHERE captured_at >= $1 AND captured_at < $2 AND classes NOT IN ('', ',,') GROUP BY 1"
    );
    let rows = sqlx::query(&sql).bind(from_ms).bind(to_ms).fetch_all(db.pool()).await?;
    let mut hist = vec![0u64; CONFIDENCE_BINS];
    for r in rows {
        let b: i64 = r.try_get("bin")?;
        hist[(b.clamp(0, last as i64)) as usize] += count(&r, "n")?;
    }
    Ok(hist)
}

fn count(r: &sqlx::any::AnyRow, col: &str) -> Result<u64, StoreError> {
    Ok(r.try_get::<i64, _>(col)?.max(0) as u64)
}
