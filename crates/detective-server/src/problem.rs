//! Errors as `application/problem+json` (RFC 9457): a status, a short title and a
//! `detail` that tells the caller what to fix; plus the extractors whose
//! rejections must come out in the same shape.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use detective_store::StoreError;
use serde_json::json;

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    /// Extra members of the problem object (e.g. `index` of a bad prediction).
    pub extra: Option<serde_json::Value>,
    /// Seconds for `Retry-After` (429/503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: detail.into(),
            extra: None,
            retry_after: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn unprocessable(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    pub fn too_large(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    }

    pub fn busy(detail: impl Into<String>, retry_after: u32) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, detail)
        }
    }

    pub fn with(mut self, extra: serde_json::Value) -> Self {
        self.extra = Some(extra);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), "{}", self.detail);
        }
        let mut body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let (Some(obj), Some(serde_json::Value::Object(extra))) = (body.as_object_mut(), self.extra) {
            obj.extend(extra);
        }
        let mut resp = (self.status, body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// Seconds a caller is asked to wait when the database or the object store is unreachable.
const UNAVAILABLE_RETRY_AFTER: u32 = 5;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            return ApiError::busy(format!("{e} (unreachable: try again shortly)"), UNAVAILABLE_RETRY_AFTER);
        }
        match e {
            StoreError::NotFound { .. } => ApiError::not_found(format!("{e}")),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            StoreError::Invalid(m) => ApiError::bad_request(m),
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// The one table from the application layer's errors to HTTP statuses.
impl From<detective_ops::OpsError> for ApiError {
    fn from(e: detective_ops::OpsError) -> Self {
        use detective_ops::OpsError as E;
        match e {
            E::Invalid(m) => ApiError::bad_request(m),
            e @ E::NotFound { .. } => ApiError::not_found(e.to_string()),
            E::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            E::TooLarge { detail, limit } => ApiError::too_large(detail).with(json!({ "limit": limit })),
            E::Unusable(m) => ApiError::unprocessable(m),
            E::Store(s) => s.into(),
            E::Upstream(m) => ApiError::new(StatusCode::BAD_GATEWAY, m),
            other @ (E::Train(_) | E::Model(_) | E::Io(_)) => ApiError::internal(other.to_string()),
        }
    }
}

/// A state named in a query or body that is no state (`?status=done`).
impl From<crate::charts::ChartError> for ApiError {
    fn from(e: crate::charts::ChartError) -> Self {
        ApiError::internal(e.to_string())
    }
}

impl From<detective_core::UnknownState> for ApiError {
    fn from(e: detective_core::UnknownState) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(r.body_text()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a JSON body with Content-Type: application/json",
            ),
            _ => ApiError::bad_request(format!("malformed JSON: {}", r.body_text())),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new(r.status(), format!("bad path: {}", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(format!("bad query string: {}", r.body_text()))
    }
}

impl From<axum::extract::multipart::MultipartError> for ApiError {
    fn from(e: axum::extract::multipart::MultipartError) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!("request body over the limit: {}", e.body_text()))
        } else {
            ApiError::bad_request(format!("malformed multipart body: {}", e.body_text()))
        }
    }
}

impl From<axum::extract::multipart::MultipartRejection> for ApiError {
    fn from(e: axum::extract::multipart::MultipartRejection) -> Self {
        ApiError::new(e.status(), format!("expected multipart/form-data: {}", e.body_text()))
    }
}

/// `axum::Json` whose rejections are problem+json.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Query` whose rejections are problem+json.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `axum::extract::Path` whose rejections (a segment that does not parse) are
/// problem+json.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `axum::extract::Multipart` whose rejections are problem+json.
pub struct ApiMultipart(pub axum::extract::Multipart);

impl<S: Send + Sync> FromRequest<S> for ApiMultipart {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        axum::extract::Multipart::from_request(req, state)
            .await
            .map(ApiMultipart)
            .map_err(ApiError::from)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
