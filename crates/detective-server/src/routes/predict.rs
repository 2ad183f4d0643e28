//! `POST /api/inference/predict`: one image (multipart part `image`, or the raw
//! body) → detections with boxes in the original image's pixels, timings and
//! the model that made them; `?annotated=true` answers the JPEG with red boxes.
//! Runs on the bounded predictor pool (503 + `Retry-After` when it is full).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use detective_core::Task;
use detective_ml::PredictOptions;
use detective_ml::segment::anomaly_confidence::calibrate_detections;
use detective_ml::segment::segmenter::AnySegmenter;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::PredictorPool;
use crate::auth::{Can, Predict};
use crate::problem::{ApiError, ApiMultipart, ApiQuery, ApiResult};
use crate::state::{AppState, Counters};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PredictQuery {
    /// Confidence threshold (default: the server's, 0.25).
    pub conf: Option<f32>,
    /// NMS IoU threshold (default 0.7).
    pub iou: Option<f32>,
    /// The served model's name (default), or a registered version: `name@3`,
    /// `name@Production` (any stage), or a stage alone for the task's model.
    pub model: Option<String>,
    /// `detect` (default), `segment` (when the server serves a segmenter; `conf`
    /// is then the pixel threshold, default the model's) or `anomaly` (a
    /// registered anomaly model, default the Production one: the answer adds the
    /// image's `score` and whether it is `anomalous`; `conf` overrides the
    /// model's calibrated threshold).
    pub task: Option<String>,
    /// Answer the image as JPEG with the detections drawn in red (a segmenter's
    /// or an anomaly model's heatmap blended over it, the regions boxed).
    pub annotated: Option<bool>,
    /// Class-agnostic NMS, one box per defect (default true; false: Ultralytics'
    /// default, boxes of different classes never suppress each other).
    pub agnostic: Option<bool>,
    /// The camera the image comes from: its inspection rules (class thresholds,
    /// bands, zones) apply, over the model's and the server's.
    pub camera: Option<String>,
}

/// The image of a request: the raw body, or the `image` (or first file) part of
/// a multipart body.
pub(crate) async fn image_bytes(st: &AppState, req: Request) -> Result<Bytes, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if ct.starts_with("multipart/form-data") {
        let ApiMultipart(mut mp) = ApiMultipart::from_request(req, st).await?;
        while let Some(field) = mp.next_field().await? {
            if field.name() == Some("image") || field.file_name().is_some() {
                return Ok(field.bytes().await?);
            }
        }
        return Err(ApiError::bad_request("multipart body has no `image` part"));
    }
    Bytes::from_request(req, st)
        .await
        .map_err(|e| ApiError::new(e.status(), format!("reading the body: {}", e.body_text())))
}

/// The uploaded image decoded within the limits; a bad image is 422.
fn decode_upload(bytes: &[u8], limits: &detective_vision::DecodeLimits) -> Result<detective_vision::Frame, ApiError> {
    detective_vision::decode::decode_image(bytes, limits).map_err(|e| ApiError::unprocessable(format!("image: {e}")))
}

/// The answer image of `annotated=true`.
fn annotated_jpeg(frame: &detective_vision::Frame) -> Result<Vec<u8>, ApiError> {
    detective_vision::encode::encode_jpeg(frame, 90)
        .map_err(|e| ApiError::internal(format!("encoding the annotated image: {e}")))
}

/// `name@version`, or the name of a model served from a file.
pub(crate) fn model_label(name: &str, version: Option<i64>) -> String {
    match version {
        Some(v) => format!("{name}@{v}"),
        None => name.to_string(),
    }
}

/// The result of a pooled prediction by `model`, counted in the metrics (served,
/// or refused because the pool was full), with the total time since `t0` in ms.
pub(crate) fn counted<T>(
    st: &AppState,
    model: &str,
    outcome: Result<Result<T, ApiError>, ApiError>,
    t0: Instant,
) -> Result<(T, f64), ApiError> {
    match outcome {
        Ok(r) => {
            let r = r?;
            let secs = t0.elapsed().as_secs_f64();
            st.metrics.inference.observe(&[model], secs);
            let total_ms = secs * 1000.0;
            Counters::add(&st.counters.predict_requests, 1);
            Counters::add(&st.counters.predict_ms_total, total_ms as u64);
            Ok((r, total_ms))
        }
        Err(e) => {
            if e.status == axum::http::StatusCode::SERVICE_UNAVAILABLE {
                Counters::add(&st.counters.predict_rejected_busy, 1);
            }
            Err(e)
        }
    }
}

/// Detects defects in one image.
#[utoipa::path(post, path = "/api/inference/predict", params(PredictQuery),
    request_body(content = Vec<u8>, description = "the image (JPEG, PNG, BMP, TIFF, WebP), raw or as multipart part `image`"),
    responses((status = 200, description = "detections, timings, model"), (status = 503, description = "pool full, retry")),
    security(("bearer" = [])))]
pub async fn predict(
    State(st): State<AppState>,
    _: Can<Predict>,
    ApiQuery(q): ApiQuery<PredictQuery>,
    req: Request,
) -> ApiResult<Response> {
    match q.task.as_deref().unwrap_or("detect").parse::<Task>()? {
        Task::Segment => return segment(st, q, req).await,
        Task::Anomaly => return anomaly(st, q, req).await,
        Task::Detect => {}
    }
    let (pool, version) = detector_for(&st, q.model.as_deref()).await?;
    let rules = st
        .request_rules(&pool.name, version, q.camera.as_deref(), q.conf)
        .await?;
    let opts = detect_options(&rules, &q)?;
    let bytes = image_bytes(&st, req).await?;
    let t0 = Instant::now();
    let annotated = q.annotated.unwrap_or(false);
    let outcome = detect_on(&pool, bytes, st.settings.limits, (opts, rules.clone()), annotated).await;
    let (found, total_ms) = counted(&st, &model_label(&pool.name, version), outcome, t0)?;
    if let Some(jpeg) = found.jpeg {
        return Ok(([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response());
    }
    Ok(Json(detections_json(&pool, version, &found, &rules, total_ms)).into_response())
}

/// The detector's options: the rules' lowest class threshold, the query's NMS.
fn detect_options(rules: &detective_core::Rules, q: &PredictQuery) -> ApiResult<PredictOptions> {
    let opts = PredictOptions {
        conf: rules.min_conf(),
        iou: q.iou.unwrap_or(0.7),
        agnostic: q.agnostic.unwrap_or(true),
        ..PredictOptions::default()
    };
    opts.validate().map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(opts)
}

/// The pool that answers: the served detector when `model` is absent or names
/// it, else the registered version `model` names (`name@3`, `name@Production`,
/// `production`), loaded on demand.
pub(crate) async fn detector_for(st: &AppState, model: Option<&str>) -> ApiResult<(Arc<PredictorPool>, Option<i64>)> {
    let served = st.served.get();
    match model {
        Some(m) if served.as_ref().is_none_or(|(p, _)| p.name != m) => {
            let (v, p) = st.models.get(&st.db, &st.objects, m).await?;
            Ok((p, Some(v.version)))
        }
        _ => served.ok_or_else(|| ApiError::busy("no detector is loaded on this server", 30)),
    }
}

/// What one detection request found.
pub(crate) struct Found {
    width: u32,
    height: u32,
    decode_ms: f64,
    pub(crate) pred: detective_ml::Prediction,
    /// The annotated image, when asked for.
    jpeg: Option<Vec<u8>>,
}

/// Decodes `bytes` and runs the detector on a slot of `pool`.
pub(crate) async fn detect_on(
    pool: &PredictorPool,
    bytes: Bytes,
    limits: detective_vision::DecodeLimits,
    (opts, rules): (PredictOptions, detective_core::Rules),
    annotated: bool,
) -> Result<Result<Found, ApiError>, ApiError> {
    pool.run(move |det| {
        let t = Instant::now();
        let frame = decode_upload(&bytes, &limits)?;
        let decode_ms = t.elapsed().as_secs_f64() * 1000.0;
        let mut pred = det
            .predict(&frame, &opts)
            .map_err(|e| ApiError::internal(format!("prediction failed: {e}")))?;
        pred.detections = rules.apply(pred.detections, frame.width(), frame.height());
        let jpeg = if annotated {
            let mut f = frame.clone();
            detective_vision::overlay::draw_detections(&mut f, &pred.detections);
            Some(annotated_jpeg(&f)?)
        } else {
            None
        };
        Ok::<_, ApiError>(Found {
            width: frame.width(),
            height: frame.height(),
            decode_ms,
            pred,
            jpeg,
        })
    })
    .await
}

/// The JSON answer: the model, the image size, the detections (with the
/// uncertain flag of their class's band) and the timings.
fn detections_json(
    pool: &PredictorPool,
    version: Option<i64>,
    found: &Found,
    rules: &detective_core::Rules,
    total_ms: f64,
) -> serde_json::Value {
    let pred = &found.pred;
    let detections: Vec<serde_json::Value> = pred
        .detections
        .iter()
        .map(|d| {
            json!({"class": d.class_id, "name": d.name, "confidence": d.confidence, "bbox": d.bbox,
                   "uncertain": rules.is_uncertain(&d.name, d.confidence)})
        })
        .collect();
    let det = pool.model();
    json!({
        "model": {"name": pool.name, "version": version, "source": pool.source, "backend": det.backend, "imgsz": det.imgsz},
        "image": {"width": found.width, "height": found.height},
        "detections": detections,
        "timings_ms": {"decode": found.decode_ms, "preprocess": pred.preprocess_ms, "inference": pred.inference_ms,
                        "postprocess": pred.postprocess_ms, "total": total_ms},
    })
}

/// `task=segment`: the defect regions of the segmenter's mask as detections (box,
/// area, mean probability), the count of defect pixels; `annotated=true` answers
/// the heatmap blended over the image with the regions boxed in red.
async fn segment(st: AppState, q: PredictQuery, req: Request) -> ApiResult<Response> {
    let pool = segmenter_for(&st, q.model.as_deref())?;
    let version = st
        .segmenter
        .get()
        .and_then(|(p, v)| if p.name == pool.name { v } else { None });
    maps_response(st, q, req, pool, version, Task::Segment).await
}

/// `task=anomaly`: the registered anomaly model `model` names (default: the
/// Production one) scores the image: its highest pixel value is the image's
/// anomaly score, flagged from the model's calibrated threshold (or `conf`),
/// with the regions above it; `annotated=true` returns the heatmap over the image.
async fn anomaly(st: AppState, q: PredictQuery, req: Request) -> ApiResult<Response> {
    let spec = q.model.clone().unwrap_or_else(|| "production".into());
    let (v, pool) = st.models.map_model(&st.db, &st.objects, &spec, Task::Anomaly).await?;
    maps_response(st, q, req, pool, Some(v.version), Task::Anomaly).await
}

/// Runs a model that gives maps (a segmenter or an anomaly model) on the
/// request's image and answers with its regions (or the annotated heatmap).
async fn maps_response(
    st: AppState,
    q: PredictQuery,
    req: Request,
    pool: Arc<PredictorPool<AnySegmenter>>,
    version: Option<i64>,
    task: Task,
) -> ApiResult<Response> {
    let threshold = q.conf.unwrap_or_else(|| pool.model().threshold());
    if !(threshold > 0.0 && threshold < 1.0) {
        return Err(ApiError::bad_request(
            "conf (the pixel threshold of a segmenter) must be within (0, 1)",
        ));
    }
    // An explicit `conf` (the pixel threshold here) is also the regions' one
    // threshold, as on the detect path; else each class keeps the rules' own.
    let rules = st
        .request_rules(&pool.name, version, q.camera.as_deref(), q.conf)
        .await?;
    let bytes = image_bytes(&st, req).await?;
    let t0 = Instant::now();
    let outcome = segment_on(
        &pool,
        bytes,
        st.settings.limits,
        threshold,
        rules.clone(),
        q.annotated.unwrap_or(false),
    )
    .await;
    let (mut found, total_ms) = counted(&st, &model_label(&pool.name, version), outcome, t0)?;
    if let Some(jpeg) = found.jpeg {
        return Ok(([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response());
    }
    if task == Task::Anomaly {
        // a region's confidence: its peak score, the threshold at 0.5 (as on the edge)
        let out = &mut found.out;
        out.detections = calibrate_detections(std::mem::take(&mut out.detections), &out.probs, found.width, threshold);
    }
    Ok(Json(regions_json(&pool, &found, threshold, &rules, total_ms, task)).into_response())
}

/// The served segmenter, if `model` (when given) names it.
pub(crate) fn segmenter_for(st: &AppState, model: Option<&str>) -> ApiResult<Arc<PredictorPool<AnySegmenter>>> {
    let pool = st.segmenter.pool().ok_or_else(|| {
        ApiError::not_found(
            "this server serves no segmentation model (start it with --segment-model PATH or production, \
             and promote a segmenter)",
        )
    })?;
    if let Some(m) = model {
        let name = m.split('@').next().unwrap_or("");
        if name != pool.name {
            return Err(ApiError::not_found(format!(
                "model {m:?} is not loaded; this server segments with {:?}",
                pool.name
            )));
        }
    }
    Ok(pool)
}

/// What one segmentation request found.
pub(crate) struct Segmented {
    width: u32,
    height: u32,
    pub(crate) out: detective_ml::segment::segmenter::Segmentation,
    /// The heatmap blended over the image with the regions boxed, when asked for.
    jpeg: Option<Vec<u8>>,
}

/// Decodes `bytes` and runs the segmenter on a slot of `pool`.
pub(crate) async fn segment_on(
    pool: &PredictorPool<AnySegmenter>,
    bytes: Bytes,
    limits: detective_vision::DecodeLimits,
    threshold: f32,
    rules: detective_core::Rules,
    annotated: bool,
) -> Result<Result<Segmented, ApiError>, ApiError> {
    pool.run(move |seg| {
        let frame = decode_upload(&bytes, &limits)?;
        let mut out = seg
            .segment(&frame, seg.imgsz(), threshold)
            .map_err(|e| ApiError::internal(format!("segmentation failed: {e}")))?;
        let (w, h) = (frame.width(), frame.height());
        let (regions, detections) = std::mem::take(&mut out.regions)
            .into_iter()
            .zip(std::mem::take(&mut out.detections))
            .filter(|(_, d)| rules.keeps(d, w, h))
            .unzip();
        (out.regions, out.detections) = (regions, detections);
        let jpeg = if annotated {
            let mut f = detective_vision::overlay::blend_heatmap(&frame, &out.probs, 0.45)
                .map_err(|e| ApiError::internal(format!("drawing the heatmap: {e}")))?;
            detective_vision::overlay::draw_detections(&mut f, &out.detections);
            Some(annotated_jpeg(&f)?)
        } else {
            None
        };
        Ok::<_, ApiError>(Segmented {
            width: frame.width(),
            height: frame.height(),
            out,
            jpeg,
        })
    })
    .await
}

/// The JSON answer: the model, the image size, the threshold, the defect pixels,
/// the regions as detections (with area and the uncertain flag) and the time.
fn regions_json(
    pool: &PredictorPool<AnySegmenter>,
    found: &Segmented,
    threshold: f32,
    rules: &detective_core::Rules,
    total_ms: f64,
    task: Task,
) -> serde_json::Value {
    let out = &found.out;
    let detections: Vec<serde_json::Value> = out
        .regions
        .iter()
        .zip(&out.detections)
        .map(|(r, d)| {
            json!({"class": d.class_id, "name": d.name, "confidence": d.confidence, "bbox": d.bbox,
                   "area": r.area, "uncertain": rules.is_uncertain(&d.name, d.confidence)})
        })
        .collect();
    let m = pool.model();
    let mut body = json!({
        "model": {"name": pool.name, "source": pool.source, "backend": m.backend(), "imgsz": m.imgsz(), "task": task},
        "image": {"width": found.width, "height": found.height},
        "threshold": threshold,
        "defect_pixels": out.defect_pixels,
        "detections": detections,
        "timings_ms": {"total": total_ms},
    });
    if task == Task::Anomaly {
        let score = out.score();
        body["score"] = json!(score);
        body["anomalous"] = json!(score >= threshold);
    }
    body
}
