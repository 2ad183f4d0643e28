//! Local preview of an agent (`--preview 127.0.0.1:8081`): `GET /` is an MJPEG
//! stream of the processed frames with red boxes (at most 10 frames per second
//! are encoded, and only while the preview is on), `GET /status` the agent's live
//! counters as JSON.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use tokio::sync::watch;

use crate::EdgeError;

/// Counters shown on `/status`.
#[derive(Debug, Default)]
pub struct LiveStatus {
    pub captured: AtomicU64,
    pub produced: AtomicU64,
    pub dropped: AtomicU64,
    pub delivered: AtomicU64,
    /// Frames per second × 100.
    pub fps_x100: AtomicU64,
    /// Inference ms × 100 of the last frame.
    pub inference_x100: AtomicU64,
}

/// What the preview server shares with the pipeline.
#[derive(Clone)]
pub struct Preview {
    frames: watch::Sender<Option<Bytes>>,
    pub status: Arc<LiveStatus>,
    camera_id: String,
}

impl Preview {
    pub fn new(camera_id: &str, status: Arc<LiveStatus>) -> Preview {
        Preview {
            frames: watch::channel(None).0,
            status,
            camera_id: camera_id.to_string(),
        }
    }

    /// Offers the newest annotated JPEG to viewers.
    pub fn publish(&self, jpeg: Vec<u8>) {
        let _ = self.frames.send(Some(Bytes::from(jpeg)));
    }

    /// Serves on `addr`; returns the bound address. Call inside a tokio runtime.
    pub async fn serve(&self, addr: SocketAddr) -> Result<SocketAddr, EdgeError> {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| EdgeError::Io {
            what: format!("preview on {addr}"),
            source: e,
        })?;
        let bound = listener.local_addr().map_err(|e| EdgeError::Io {
            what: "preview address".into(),
            source: e,
        })?;
        let app = Router::new()
            .route("/", get(stream))
            .route("/status", get(status))
            .with_state(self.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("preview server: {e}");
            }
        });
        Ok(bound)
    }
}

async fn status(State(p): State<Preview>) -> Response {
    let s = &p.status;
    let v = serde_json::json!({
        "camera_id": p.camera_id,
        "captured": s.captured.load(Ordering::Relaxed),
        "produced": s.produced.load(Ordering::Relaxed),
        "dropped": s.dropped.load(Ordering::Relaxed),
        "delivered": s.delivered.load(Ordering::Relaxed),
        "fps": s.fps_x100.load(Ordering::Relaxed) as f64 / 100.0,
        "inference_ms": s.inference_x100.load(Ordering::Relaxed) as f64 / 100.0,
    });
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

async fn stream(State(p): State<Preview>) -> Response {
    let rx = p.frames.subscribe();
    let body = futures::stream::unfold(rx, |mut rx| async move {
        // Wait for the next frame; end when the agent is gone.
        rx.changed().await.ok()?;
        let jpeg = rx.borrow_and_update().clone()?;
        let mut part = Vec::with_capacity(jpeg.len() + 96);
        part.extend_from_slice(
            format!(
                "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                jpeg.len()
            )
            .as_bytes(),
        );
        part.extend_from_slice(&jpeg);
        part.extend_from_slice(b"\r\n");
        Some((Ok::<_, std::io::Error>(Bytes::from(part)), rx))
    });
    (
        [(header::CONTENT_TYPE, "multipart/x-mixed-replace; boundary=frame")],
        Body::from_stream(body),
    )
        .into_response()
}
