//! `GET /api/settings/thresholds` (anyone who reads) and `PUT
//! /api/settings/thresholds` (admins): the confidence threshold and the uncertain
//! band the server applies, changed without a restart (see [`crate::thresholds`]).
//! Edge agents keep their own `--conf`; the server's band decides what is
//! uncertain in the log and the review queue.

use axum::Json;
use axum::extract::State;
use detective_store::shared_events::SharedEvent;

use crate::auth::{Admin, Can, Read};
use crate::problem::{ApiJson, ApiResult};
use crate::state::AppState;
use crate::thresholds::Thresholds;

#[utoipa::path(get, path = "/api/settings/thresholds", responses((status = 200, body = Thresholds)), security(("bearer" = [])))]
pub async fn get_thresholds(State(st): State<AppState>, _: Can<Read>) -> ApiResult<Json<Thresholds>> {
    Ok(Json(st.thresholds().await))
}

#[utoipa::path(put, path = "/api/settings/thresholds", request_body = Thresholds,
    responses((status = 200, body = Thresholds), (status = 400, description = "out of range")), security(("bearer" = [])))]
pub async fn put_thresholds(
    State(st): State<AppState>,
    caller: Can<Admin>,
    ApiJson(t): ApiJson<Thresholds>,
) -> ApiResult<Json<Thresholds>> {
    st.live_thresholds.set(&st.db, t).await?;
    st.announce(SharedEvent::Settings {
        what: "thresholds".into(),
    })
    .await;
    tracing::info!(
        "thresholds set by {}: conf {}, uncertain band {}..{}",
        caller.key_name,
        t.conf,
        t.uncertain_low,
        t.uncertain_high
    );
    Ok(Json(t))
}
