//! The inspection log: logged predictions filtered and keyset-paged, the
//! whole matching log as CSV, one prediction, and the frame kept with it
//! (with its detections drawn in red when asked).

use bytes::Bytes;
use detective_store::predictions::{self, LogFilter, LogRow};
use detective_store::{Db, Objects};
use detective_vision::DecodeLimits;

use crate::OpsError;

/// Largest JSON page.
pub const MAX_PAGE: usize = 1000;

/// The CSV columns, in order.
pub const CSV_HEADER: &str = "id,camera_id,captured_at,model_version,n_detections,max_confidence,defective,uncertain,classes,detections,frame_key\n";

fn csv_field(s: &str) -> String {
    detective_core::csv::cell(s)
}

fn csv_row(r: &LogRow) -> String {
    let classes: Vec<&str> = r.detections.iter().map(|d| d.name.as_str()).collect();
    let dets = serde_json::to_string(&r.detections).unwrap_or_default();
    [
        r.id.clone(),
        csv_field(&r.camera_id),
        r.captured_at.clone(),
        csv_field(&r.model_version),
        r.detections.len().to_string(),
        format!("{:.4}", r.max_confidence),
        (r.defective as u8).to_string(),
        (r.uncertain as u8).to_string(),
        csv_field(&classes.join(" ")),
        csv_field(&dets),
        csv_field(r.frame_key.as_deref().unwrap_or("")),
    ]
    .join(",")
}

/// One page of the log, newest first, and the cursor of the next.
pub async fn page(
    db: &Db,
    filter: &LogFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<LogRow>, Option<String>), OpsError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(OpsError::invalid(format!("limit must be within 1..{MAX_PAGE}")));
    }
    Ok(predictions::query(db, filter, cursor, limit).await?)
}

/// Every matching row after `cursor`, at most `cap`, as CSV with its header.
pub async fn csv(db: &Db, filter: &LogFilter, cursor: Option<String>, cap: usize) -> Result<String, OpsError> {
    let mut out = String::from(CSV_HEADER);
    let mut cursor = cursor;
    let mut n = 0;
    while n < cap {
        let (rows, next) = predictions::query(db, filter, cursor.as_deref(), (cap - n).min(1000)).await?;
        for r in &rows {
            out.push_str(&csv_row(r));
            out.push('\n');
        }
        n += rows.len();
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(out)
}

fn check_id(id: &str) -> Result<(), OpsError> {
    if detective_core::wire::is_uuid(id) {
        Ok(())
    } else {
        Err(OpsError::invalid(format!("{id:?} is not a prediction id (a UUID)")))
    }
}

/// The log's totals and rates (every replica's), the labeling queue's size
/// and the cameras' last reports.
pub async fn stats(db: &Db) -> Result<predictions::LogStats, OpsError> {
    Ok(predictions::stats(db).await?)
}

/// One logged prediction.
pub async fn get(db: &Db, id: &str) -> Result<LogRow, OpsError> {
    check_id(id)?;
    Ok(predictions::get(db, id).await?)
}

/// The JPEG kept with prediction `id`; with `boxes`, its detections drawn on it.
pub async fn frame(
    db: &Db,
    objects: &Objects,
    limits: &DecodeLimits,
    id: &str,
    boxes: bool,
) -> Result<Bytes, OpsError> {
    let row = get(db, id).await?;
    let key = row
        .frame_key
        .as_deref()
        .ok_or_else(|| OpsError::not_found(format!("a kept frame of prediction {id}")))?;
    let bytes = objects.get(key).await?;
    if !boxes {
        return Ok(bytes);
    }
    let limits = *limits;
    let jpeg = tokio::task::spawn_blocking(move || {
        let mut f = detective_vision::decode::decode_image(&bytes, &limits)
            .map_err(|e| OpsError::Io(format!("stored frame: {e}")))?;
        let dets: Vec<detective_core::Detection> = row
            .detections
            .iter()
            .map(|d| detective_core::Detection {
                class_id: d.class,
                name: d.name.clone(),
                confidence: d.confidence,
                bbox: d.bbox.into(),
            })
            .collect();
        detective_vision::overlay::draw_detections(&mut f, &dets);
        detective_vision::encode::encode_jpeg(&f, 85).map_err(|e| OpsError::Io(format!("encoding: {e}")))
    })
    .await
    .map_err(|e| OpsError::io("drawing", e))??;
    Ok(Bytes::from(jpeg))
}
