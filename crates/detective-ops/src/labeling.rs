//! The labeling queue's use cases: a page of items of one status (oldest or
//! least certain first) with the queue's counts, and the one decision each
//! item gets — labelled (boxes, or defect-free) by someone, or skipped. A
//! second decision on the same item is a conflict.

use detective_core::LabelStatus;
use detective_store::Db;
use detective_store::labeling::{self, LabelBox, QueueItem, QueueOrder};
use serde::Serialize;

use crate::OpsError;

/// Most boxes in one label.
pub const MAX_BOXES: usize = 300;

/// Largest page.
pub const MAX_PAGE: usize = 500;

/// One page of the queue and its counters.
#[derive(Debug, Serialize)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    pub next: Option<String>,
    pub pending: i64,
    pub done: i64,
}

/// The order a request names: `oldest` (default) or `margin`.
pub fn order_of(s: Option<&str>) -> Result<QueueOrder, OpsError> {
    match s {
        None | Some("oldest") => Ok(QueueOrder::Oldest),
        Some("margin") => Ok(QueueOrder::Margin),
        Some(o) => Err(OpsError::invalid(format!("order={o}: expected oldest or margin"))),
    }
}

/// Why items are queued, as a request may filter by it: `uncertain`, one
/// sampling strategy (`random`, `more_than`, `class`), or `sampled` (any).
pub fn reason_of(s: Option<&str>) -> Result<Option<&str>, OpsError> {
    use detective_core::sampling::Reason;
    match s {
        None => Ok(None),
        Some(r) if r == "uncertain" || r == "sampled" || Reason::ALL.iter().any(|x| x.as_str() == r) => Ok(Some(r)),
        Some(r) => {
            let names: Vec<&str> = Reason::ALL.iter().map(|x| x.as_str()).collect();
            Err(OpsError::invalid(format!(
                "reason={r}: expected uncertain, sampled, {}",
                names.join(", ")
            )))
        }
    }
}

/// The items of `status` (queued for `reason`, when given; see [`reason_of`])
/// in `order` after `cursor`, `limit` of them (1..=500).
pub async fn page(
    db: &Db,
    status: LabelStatus,
    reason: Option<&str>,
    order: QueueOrder,
    cursor: Option<&str>,
    limit: usize,
) -> Result<QueuePage, OpsError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(OpsError::invalid(format!("limit must be within 1..{MAX_PAGE}")));
    }
    let (items, next) = labeling::list(db, status, reason, order, cursor, limit).await?;
    let (pending, done) = labeling::counts(db).await?;
    Ok(QueuePage {
        items,
        next,
        pending,
        done,
    })
}

/// Labels item `id` by `who`; returns the stored label.
pub async fn label(
    db: &Db,
    id: i64,
    boxes: &[LabelBox],
    defect_free: bool,
    who: &str,
) -> Result<serde_json::Value, OpsError> {
    if boxes.len() > MAX_BOXES {
        return Err(OpsError::invalid(format!("at most {MAX_BOXES} boxes")));
    }
    labeling::label(db, id, boxes, defect_free, who).await?;
    Ok(labeling::reviewed(db, id).await?)
}

/// Skips item `id`: nobody labels it.
pub async fn skip(db: &Db, id: i64) -> Result<LabelStatus, OpsError> {
    labeling::skip(db, id).await?;
    Ok(LabelStatus::Skipped)
}
