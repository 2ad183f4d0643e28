//! Analytics over the prediction log: the cells of a period (predictions
//! counted per hour, camera and class set by the database, capped, with a flag
//! when the cap cut them) and their summary — defect rate over time and by
//! class, camera, line and shift — computed on a blocking thread by the pure
//! rules of `detective_core::insights`.

use detective_core::insights::{Bucket, Cell, Summary, summarize};
use detective_store::Db;

use crate::OpsError;

/// Most cells (hour × camera × class set) one analytics query reads: a month
/// of 50 cameras with a dozen class sets each is about 430 000.
pub const MAX_CELLS: usize = 1_000_000;

/// The cells of `[from, to)` (ms), and whether there were more.
pub async fn cells(db: &Db, from: i64, to: i64) -> Result<(Vec<Cell>, bool), OpsError> {
    Ok(detective_store::analytics::cells(db, from, to, MAX_CELLS).await?)
}

/// The summary of `[from, to)` by `bucket`, and whether the cells were capped.
pub async fn summary(db: &Db, from: i64, to: i64, bucket: Bucket) -> Result<(Summary, bool), OpsError> {
    let (cells, truncated) = cells(db, from, to).await?;
    let histogram = detective_store::analytics::confidence_histogram(db, from, to).await?;
    let s = tokio::task::spawn_blocking(move || summarize(&cells, histogram, from, to, bucket))
        .await
        .map_err(|e| OpsError::io("analytics", e))?;
    Ok((s, truncated))
}

/// A period's summary and the groups (class, camera, line, shift) whose
/// defect rate rose against the period of the same length before it.
#[derive(Debug)]
pub struct Comparison {
    pub summary: Summary,
    /// Worst first, at most `top`.
    pub root_cause: Vec<detective_core::insights::Rise>,
    /// Either period was cut at [`MAX_CELLS`].
    pub truncated: bool,
}

/// [`Comparison`] of `[from, to)` with the period before it; groups with fewer
/// than `min_group` predictions in either period are left out.
pub async fn compare_with_previous(
    db: &Db,
    from: i64,
    to: i64,
    bucket: Bucket,
    min_group: u64,
    top: usize,
) -> Result<Comparison, OpsError> {
    let (now, truncated_now) = cells(db, from, to).await?;
    let span = to - from;
    let (before, truncated_before) = cells(db, from - span, from).await?;
    let histogram = detective_store::analytics::confidence_histogram(db, from, to).await?;
    let (summary, mut root_cause) = tokio::task::spawn_blocking(move || {
        let causes = detective_core::insights::root_causes(&now, &before, min_group);
        (summarize(&now, histogram, from, to, bucket), causes)
    })
    .await
    .map_err(|e| OpsError::io("analytics", e))?;
    root_cause.truncate(top);
    Ok(Comparison {
        summary,
        root_cause,
        truncated: truncated_now || truncated_before,
    })
}
