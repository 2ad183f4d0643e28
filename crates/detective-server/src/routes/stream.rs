//! `GET /api/stream` (WebSocket): a browser's camera on the dashboard's Live
//! page. The client sends each frame as one binary message (JPEG or PNG); the
//! server answers each with one text message,
//! `{"width", "height", "detections": [...], "ms"}`, or `{"error", "retry_ms"?}`
//! for a frame it could not take (the socket stays open). The client sends its
//! next frame after the answer, so one frame per socket is in flight and the rate
//! follows what the server keeps up with; frames share the predictor pool (and
//! its bound) with `POST /api/inference/predict`.

use std::time::Instant;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use detective_ml::PredictOptions;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::PredictorPool;
use crate::auth::{Can, Predict};
use crate::problem::{ApiError, ApiQuery, ApiResult};
use crate::routes::predict::counted;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Confidence threshold of the answered detections (default: the rules').
    pub conf: Option<f32>,
    /// The camera (e.g. `browser`) whose inspection rules apply.
    pub camera: Option<String>,
}

#[utoipa::path(get, path = "/api/stream", params(StreamQuery),
    responses((status = 101, description = "WebSocket: binary image frames in, JSON detections out")),
    security(("bearer" = [])))]
pub async fn stream(
    State(st): State<AppState>,
    _: Can<Predict>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    // A plain GET (no upgrade headers) gets the reason as problem+json.
    let ws = ws.map_err(|r| ApiError::new(r.status(), format!("not a WebSocket handshake: {}", r.body_text())))?;
    if !same_origin(&headers) {
        return Err(foreign_origin());
    }
    let (pool, version) = st
        .served
        .get()
        .ok_or_else(|| ApiError::busy("no detector is loaded on this server", 30))?;
    let scope = FrameScope {
        version,
        camera: q.camera,
        conf: q.conf,
    };
    // Checked once here; each frame reads the rules in effect then.
    frame_options(&scope.rules(&st, &pool).await?)
        .validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let max = st.settings.limits.max_bytes.min(64 * 1024 * 1024) as usize;
    Ok(ws
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| frames(socket, st, pool, scope)))
}

/// What the rules of a socket's frames depend on.
struct FrameScope {
    version: Option<i64>,
    camera: Option<String>,
    conf: Option<f32>,
}

impl FrameScope {
    async fn rules(&self, st: &AppState, pool: &PredictorPool) -> ApiResult<detective_core::Rules> {
        st.request_rules(&pool.name, self.version, self.camera.as_deref(), self.conf)
            .await
    }
}

/// A frame's detector options: the rules' lowest class threshold, one box per defect.
fn frame_options(rules: &detective_core::Rules) -> PredictOptions {
    PredictOptions {
        conf: rules.min_conf(),
        agnostic: true,
        ..PredictOptions::default()
    }
}

fn foreign_origin() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "a browser may open this socket only from the dashboard's own origin",
    )
}

/// A browser's handshake (it sends `Origin`) must come from this server's own
/// pages: WebSockets are not bound by the same-origin policy, so another site
/// could otherwise open one with the dashboard's cookie. Clients that send no
/// `Origin` (agents, scripts with a Bearer key) pass.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

/// One frame's answer, under the rules in effect for the socket's scope.
async fn answer(st: &AppState, pool: &PredictorPool, scope: &FrameScope, bytes: bytes::Bytes) -> serde_json::Value {
    let limits = st.settings.limits;
    let rules = match scope.rules(st, pool).await {
        Ok(r) => r,
        Err(e) => return json!({"error": e.detail}),
    };
    let opts = frame_options(&rules);
    let t0 = Instant::now();
    let kept = rules.clone();
    let outcome = pool
        .run(move |det| {
            let frame = detective_vision::decode::decode_image(&bytes, &limits)
                .map_err(|e| ApiError::unprocessable(format!("image: {e}")))?;
            let mut pred = det
                .predict(&frame, &opts)
                .map_err(|e| ApiError::internal(format!("prediction failed: {e}")))?;
            pred.detections = kept.apply(pred.detections, frame.width(), frame.height());
            Ok::<_, ApiError>((frame.width(), frame.height(), pred))
        })
        .await;
    match counted(st, &pool.name, outcome, t0) {
        Ok(((w, h, pred), ms)) => json!({
            "width": w, "height": h, "ms": ms,
            "detections": pred.detections.iter().map(|d| json!({
                "class": d.class_id, "name": d.name, "confidence": d.confidence, "bbox": d.bbox,
                "uncertain": rules.is_uncertain(&d.name, d.confidence)})).collect::<Vec<_>>(),
        }),
        Err(e) if e.status == axum::http::StatusCode::SERVICE_UNAVAILABLE => {
            json!({"error": e.detail, "retry_ms": 200})
        }
        Err(e) => json!({"error": e.detail}),
    }
}

async fn frames(mut socket: WebSocket, st: AppState, pool: std::sync::Arc<PredictorPool>, scope: FrameScope) {
    while let Some(Ok(msg)) = socket.recv().await {
        let reply = match msg {
            Message::Binary(bytes) => answer(&st, &pool, &scope, bytes).await,
            Message::Text(_) => json!({"error": "send each frame as a binary message (JPEG or PNG)"}),
            Message::Close(_) => break,
            // Pings are answered by axum.
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if socket.send(Message::Text(reply.to_string().into())).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_origin;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_the_dashboards_own_origin_may_open_the_socket() {
        assert!(
            same_origin(&headers(&[("host", "127.0.0.1:8000")])),
            "no Origin: not a browser"
        );
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8000"),
            ("origin", "http://127.0.0.1:8000")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8000"),
            ("origin", "https://evil.example")
        ])));
        assert!(
            !same_origin(&headers(&[("origin", "http://127.0.0.1:8000")])),
            "no Host"
        );
    }
}
