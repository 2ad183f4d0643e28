//! The prediction log: idempotent ingest of edge batches (with the labeling
//! queue and the camera's live counters in the same transaction), filtered
//! keyset-paged reads, and the counts behind `/api/metrics`.

use std::collections::HashMap;

use detective_core::{Bands, LogBatch, LoggedDetection};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::clock::{now_ms, parse_rfc3339_ms, start_of_day, to_rfc3339};
use crate::sql_args::{Arg, Args, like_literal};
use crate::{Db, StoreError};

/// Rows per multi-row INSERT (14 values each, well under both databases' limits).
const INSERT_CHUNK: usize = 100;

/// The margin of a sampled (not uncertain) frame in the queue: above any
/// uncertain one's (at most 0.5), so "least certain first" lists them last.
const SAMPLED_MARGIN: f64 = 1.0;

/// The project of a batch that names none.
pub const DEFAULT_PROJECT: &str = "default";

/// What a batch amounted to. It depends on the batch alone, not on what was
/// stored before, so a repeated batch gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestSummary {
    pub accepted: usize,
    pub defective: usize,
    pub uncertain: usize,
    pub frames: usize,
    /// Predictions the agent's sampling sent to people (not uncertain).
    #[serde(default)]
    pub sampled: usize,
}

/// A detection as stored: as logged, with `uncertain` decided by the server's
/// band of its class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDetection {
    pub class: u32,
    pub name: String,
    pub confidence: f32,
    pub bbox: [f32; 4],
    pub uncertain: bool,
}

/// What the band of its class says of one detection.
struct Judged {
    stored: StoredDetection,
    /// At or above the band: the part is defective.
    defective: bool,
    /// Distance of an uncertain confidence from the middle of the band
    /// (infinite when not uncertain).
    margin: f32,
}

/// `d` as stored, judged by the band of its class.
fn stored(d: &LoggedDetection, model_version: &str, bands: &(dyn Bands + Sync)) -> Judged {
    let name = if d.name.is_empty() {
        format!("class{}", d.class)
    } else {
        d.name.clone()
    };
    let band = bands.band(model_version, &name);
    let s = StoredDetection {
        class: d.class,
        name,
        confidence: d.confidence,
        bbox: [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2],
        uncertain: band.is_uncertain(d.confidence),
    };
    let margin = if s.uncertain {
        (d.confidence - (band.low + band.high) / 2.0).abs()
    } else {
        f32::INFINITY
    };
    Judged {
        defective: d.confidence >= band.high,
        stored: s,
        margin,
    }
}

/// `,name1,name2,` — the class names present, for `LIKE '%,name,%'` filters.
fn class_list(dets: &[StoredDetection]) -> String {
    let mut names: Vec<String> = dets.iter().map(|d| d.name.replace(',', " ")).collect();
    names.sort();
    names.dedup();
    format!(",{},", names.join(","))
}

/// Stores a validated batch; `bands` gives the uncertain band of each class of
/// each model (one [`detective_core::UncertainBand`] for all, or inspection
/// rules). `frame_keys` maps prediction ids to the object keys of their frames
/// (already written). Everything commits together or not at all;
/// predictions whose id is already stored are left as they are.
pub async fn ingest(
    db: &Db,
    batch: &LogBatch,
    bands: &(dyn Bands + Sync),
    frame_keys: &HashMap<String, String>,
) -> Result<IngestSummary, StoreError> {
    batch.validate().map_err(|e| StoreError::Invalid(e.to_string()))?;
    let project = batch.project.as_deref().unwrap_or(DEFAULT_PROJECT);
    let received = now_ms();
    let mut summary = IngestSummary {
        accepted: batch.predictions.len(),
        defective: 0,
        uncertain: 0,
        frames: 0,
        sampled: 0,
    };
    let mut tx = db.begin_write().await?;
    for chunk in batch.predictions.chunks(INSERT_CHUNK) {
        let mut args = Args::new(db.backend());
        let mut rows = Vec::with_capacity(chunk.len());
        let mut queue = Args::new(db.backend());
        let mut queue_rows = Vec::new();
        for p in chunk {
            let id = p.id.to_ascii_lowercase();
            let captured = parse_rfc3339_ms(&p.captured_at)?;
            let judged: Vec<Judged> = p
                .detections
                .iter()
                .map(|d| stored(d, &p.model_version, bands))
                .collect();
            let defective = judged.iter().any(|j| j.defective);
            let uncertain = judged.iter().any(|j| j.stored.uncertain);
            let margin = judged.iter().map(|j| j.margin).fold(f32::INFINITY, f32::min);
            let dets: Vec<StoredDetection> = judged.into_iter().map(|j| j.stored).collect();
            summary.defective += defective as usize;
            summary.uncertain += uncertain as usize;
            let frame_key = frame_keys.get(&id).or_else(|| frame_keys.get(&p.id)).cloned();
            summary.frames += frame_key.is_some() as usize;
            let values = [
                args.push(Arg::Str(id.clone())),
                args.push(Arg::Str(batch.camera_id.clone())),
                args.push(Arg::Str(project.to_string())),
                args.push(Arg::I64(captured)),
                args.push(Arg::I64(received)),
                args.push(Arg::Str(p.model_version.clone())),
                args.push(Arg::I64(dets.len() as i64)),
                args.push(Arg::F64(p.max_confidence() as f64)),
                args.push(Arg::I64(defective as i64)),
                args.push(Arg::I64(uncertain as i64)),
                args.push(Arg::Str(class_list(&dets))),
                args.push(Arg::Str(serde_json::to_string(&dets)?)),
                args.push(Arg::Str(serde_json::to_string(&p.features)?)),
                args.push(Arg::OptStr(frame_key.clone())),
            ];
            rows.push(format!("({})", values.join(", ")));
            // An uncertain frame is queued as such; a sampled one with the
            // strategy that sent it, after every uncertain one by margin.
            let reason = match (uncertain, p.sampled) {
                (true, _) => Some(("uncertain", margin as f64)),
                (false, Some(r)) => Some((r.as_str(), SAMPLED_MARGIN)),
                (false, None) => None,
            };
            if let Some((reason, margin)) = reason {
                summary.sampled += !uncertain as usize;
                let v = [
                    queue.push(Arg::Str(id)),
                    queue.push(Arg::Str(batch.camera_id.clone())),
                    queue.push(Arg::I64(received)),
                    queue.push(Arg::F64(margin)),
                    queue.push(Arg::OptStr(frame_key)),
                    queue.push(Arg::Str(reason.to_string())),
                ];
                queue_rows.push(format!("({}, 'pending')", v.join(", ")));
            }
        }
        let sql = format!(
            "INSERT INTO prediction_logs (id, camera_id, project, captured_at, received_at, model_version, \
             n_detections, max_confidence, defective, uncertain, classes, detections, features, frame_key) \
             VALUES {} ON CONFLICT (id) DO NOTHING",
            rows.join(", ")
        );
        args.bind_all(sqlx::query(&sql)).execute(tx.conn()).await?;
        if !queue_rows.is_empty() {
            let sql = format!(
                "INSERT INTO labeling_queue (prediction_id, camera_id, created_at, margin, frame_key, reason, status) \
                 VALUES {} ON CONFLICT (prediction_id) DO NOTHING",
                queue_rows.join(", ")
            );
            queue.bind_all(sqlx::query(&sql)).execute(tx.conn()).await?;
        }
    }
    // Only the figures the batch has are written (and bound): a NULL bound
    // where a later call binds a number would give PostgreSQL's cached
    // statement the wrong parameter type, so each shape has its own text.
    let mut figures: Vec<(&str, f64)> = Vec::new();
    if let Some(s) = &batch.stats {
        figures.push(("fps", s.fps));
        figures.push(("inference_ms", s.inference_ms));
        if let Some(p) = s.spool_percent {
            figures.push(("spool_percent", p));
        }
        if let Some(d) = s.dropped_frames {
            figures.push(("dropped_frames", d as f64));
        }
        // How far the agent's clock is ahead of ours (behind: negative), to
        // the network's delay.
        if let Some(t) = s.sent_at.as_deref() {
            figures.push(("clock_skew_s", (parse_rfc3339_ms(t)? - received) as f64 / 1000.0));
        }
    }
    // the model of the batch's latest prediction, bound last
    let model = batch.predictions.last().map(|p| p.model_version.as_str());
    let model_col = if model.is_some() { ", model" } else { "" };
    let model_param = model.map(|_| format!(", ${}", figures.len() + 4)).unwrap_or_default();
    let model_set = if model.is_some() {
        ", model = excluded.model"
    } else {
        ""
    };
    let cols: String = figures.iter().map(|(c, _)| format!(", {c}")).collect();
    let params: String = (0..figures.len()).map(|i| format!(", ${}", i + 4)).collect();
    let sets: String = figures.iter().map(|(c, _)| format!(", {c} = excluded.{c}")).collect();
    let sql = format!(
        "INSERT INTO cameras (id, project, first_seen, last_seen{cols}{model_col}) VALUES ($1, $2, $3, $3{params}{model_param}) \
         ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen{sets}{model_set}"
    );
    let mut q = sqlx::query(&sql).bind(&batch.camera_id).bind(project).bind(received);
    for (_, v) in &figures {
        q = q.bind(*v);
    }
    if let Some(m) = model {
        q = q.bind(m);
    }
    q.execute(tx.conn()).await?;
    tx.commit().await?;
    Ok(summary)
}

/// Filters of `GET /api/inspection-logs`; all optional.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub camera: Option<String>,
    /// Captured at or after (ms).
    pub from_ms: Option<i64>,
    /// Captured before (ms).
    pub to_ms: Option<i64>,
    /// Has a detection of this class name.
    pub class: Option<String>,
    /// Highest confidence at least this.
    pub min_confidence: Option<f64>,
    /// Highest confidence at most this.
    pub max_confidence: Option<f64>,
    pub uncertain: Option<bool>,
    pub defective: Option<bool>,
}

/// One logged prediction as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    pub id: String,
    pub camera_id: String,
    pub project: String,
    pub captured_at: String,
    pub received_at: String,
    pub model_version: String,
    pub max_confidence: f64,
    pub defective: bool,
    pub uncertain: bool,
    pub detections: Vec<StoredDetection>,
    pub features: serde_json::Value,
    pub frame_key: Option<String>,
}

/// A position in the newest-first order: `{captured_at_ms}_{id}`.
fn parse_cursor(c: &str) -> Result<(i64, String), StoreError> {
    let bad = || StoreError::Invalid(format!("cursor {c:?} is not one this API returned"));
    let (t, id) = c.split_once('_').ok_or_else(bad)?;
    let t: i64 = t.parse().map_err(|_| bad())?;
    if !detective_core::wire::is_uuid(id) {
        return Err(bad());
    }
    Ok((t, id.to_string()))
}

fn where_clause(f: &LogFilter, args: &mut Args) -> String {
    let mut conds: Vec<String> = Vec::new();
    if let Some(c) = &f.camera {
        conds.push(format!("camera_id = {}", args.push(Arg::Str(c.clone()))));
    }
    if let Some(t) = f.from_ms {
        conds.push(format!("captured_at >= {}", args.push(Arg::I64(t))));
    }
    if let Some(t) = f.to_ms {
        conds.push(format!("captured_at < {}", args.push(Arg::I64(t))));
    }
    if let Some(c) = &f.class {
        let pat = format!("%,{},%", like_literal(&c.replace(',', " ")));
        conds.push(format!("classes LIKE {} ESCAPE '\\'", args.push(Arg::Str(pat))));
    }
    if let Some(v) = f.min_confidence {
        conds.push(format!("max_confidence >= {}", args.push(Arg::F64(v))));
    }
    if let Some(v) = f.max_confidence {
        conds.push(format!("max_confidence <= {}", args.push(Arg::F64(v))));
    }
    if let Some(u) = f.uncertain {
        conds.push(format!("uncertain = {}", args.push(Arg::I64(u as i64))));
    }
    if let Some(d) = f.defective {
        conds.push(format!("defective = {}", args.push(Arg::I64(d as i64))));
    }
    if conds.is_empty() {
        String::from("1 = 1")
    } else {
        conds.join(" AND ")
    }
}

fn log_row(r: &sqlx::any::AnyRow) -> Result<LogRow, StoreError> {
    let dets: String = r.try_get("detections")?;
    let feats: String = r.try_get("features")?;
    Ok(LogRow {
        id: r.try_get("id")?,
        camera_id: r.try_get("camera_id")?,
        project: r.try_get("project")?,
        captured_at: to_rfc3339(r.try_get("captured_at")?),
        received_at: to_rfc3339(r.try_get("received_at")?),
        model_version: r.try_get("model_version")?,
        max_confidence: r.try_get("max_confidence")?,
        defective: r.try_get::<i64, _>("defective")? != 0,
        uncertain: r.try_get::<i64, _>("uncertain")? != 0,
        detections: serde_json::from_str(&dets)?,
        features: serde_json::from_str(&feats)?,
        frame_key: r.try_get("frame_key")?,
    })
}

/// One page of the log, newest first, and the cursor of the next page.
pub async fn query(
    db: &Db,
    f: &LogFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<LogRow>, Option<String>), StoreError> {
    let limit = limit.clamp(1, 1000);
    let mut args = Args::new(db.backend());
    let mut cond = where_clause(f, &mut args);
    if let Some(c) = cursor {
        let (t, id) = parse_cursor(c)?;
        let pt = args.push(Arg::I64(t));
        let pt2 = args.push(Arg::I64(t));
        let pid = args.push(Arg::Str(id));
        cond = format!("{cond} AND (captured_at < {pt} OR (captured_at = {pt2} AND id < {pid}))");
    }
    let pl = args.push(Arg::I64(limit as i64 + 1));
    let sql = format!(
        "SELECT id, camera_id, project, captured_at, received_at, model_version, max_confidence, defective, \
         uncertain, detections, features, frame_key FROM prediction_logs WHERE {cond} \
         ORDER BY captured_at DESC, id DESC LIMIT {pl}"
    );
    let rows = args.bind_all(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    let mut out: Vec<LogRow> = rows.iter().map(log_row).collect::<Result<_, _>>()?;
    let next = if out.len() > limit {
        out.truncate(limit);
        out.last()
            .map(|r| parse_rfc3339_ms(&r.captured_at).map(|t| format!("{t}_{}", r.id)))
            .transpose()?
    } else {
        None
    };
    Ok((out, next))
}

/// One logged prediction by id.
pub async fn get(db: &Db, id: &str) -> Result<LogRow, StoreError> {
    let row = sqlx::query(
        "SELECT id, camera_id, project, captured_at, received_at, model_version, max_confidence, defective, \
         uncertain, detections, features, frame_key FROM prediction_logs WHERE id = $1",
    )
    .bind(id.to_ascii_lowercase())
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| StoreError::not_found(format!("prediction {id}")))?;
    log_row(&row)
}

/// A camera as the agents last reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraStatus {
    pub id: String,
    pub project: String,
    pub last_seen: String,
    pub fps: Option<f64>,
    pub inference_ms: Option<f64>,
    /// How full the agent's spool was at its last report, in percent.
    #[serde(default)]
    pub spool_percent: Option<f64>,
    /// Frames its pipeline dropped since the agent started, as last reported.
    #[serde(default)]
    pub dropped_frames: Option<f64>,
    /// The model (`name@version`) of its latest prediction.
    #[serde(default)]
    pub model: Option<String>,
    /// How many seconds the agent's clock was ahead of the server's (behind:
    /// negative) at its last report; its `captured_at` times carry the same error.
    #[serde(default)]
    pub clock_skew_s: Option<f64>,
}

/// The figures of `GET /api/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogStats {
    pub predictions_total: i64,
    pub predictions_today: i64,
    pub defective_today: i64,
    /// Defective share of today's predictions (0 with none).
    pub defect_rate_today: f64,
    /// Predictions received in the last minute, per second.
    pub ingest_rate_per_s: f64,
    pub uncertain_queue: i64,
    pub cameras: Vec<CameraStatus>,
}

/// Counts for the metrics endpoints.
pub async fn stats(db: &Db) -> Result<LogStats, StoreError> {
    let now = now_ms();
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM prediction_logs")
        .fetch_one(db.pool())
        .await?;
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(defective), 0) AS BIGINT) AS d FROM prediction_logs WHERE captured_at >= $1",
    )
    .bind(start_of_day(now))
    .fetch_one(db.pool())
    .await?;
    let today: i64 = row.try_get("n")?;
    let defective: i64 = row.try_get("d")?;
    let recent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM prediction_logs WHERE received_at >= $1")
        .bind(now - 60_000)
        .fetch_one(db.pool())
        .await?;
    let queue: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM labeling_queue WHERE status = 'pending'")
        .fetch_one(db.pool())
        .await?;
    let cams = sqlx::query("SELECT id, project, last_seen, fps, inference_ms, spool_percent, dropped_frames, model, clock_skew_s FROM cameras ORDER BY id")
        .fetch_all(db.pool())
        .await?;
    let cameras = cams
        .iter()
        .map(|r| {
            Ok(CameraStatus {
                id: r.try_get("id")?,
                project: r.try_get("project")?,
                last_seen: to_rfc3339(r.try_get("last_seen")?),
                fps: r.try_get("fps")?,
                inference_ms: r.try_get("inference_ms")?,
                spool_percent: r.try_get("spool_percent")?,
                dropped_frames: r.try_get("dropped_frames")?,
                model: r.try_get("model")?,
                clock_skew_s: r.try_get("clock_skew_s")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(LogStats {
        predictions_total: total,
        predictions_today: today,
        defective_today: defective,
        defect_rate_today: if today > 0 {
            defective as f64 / today as f64
        } else {
            0.0
        },
        ingest_rate_per_s: recent as f64 / 60.0,
        uncertain_queue: queue,
        cameras,
    })
}
