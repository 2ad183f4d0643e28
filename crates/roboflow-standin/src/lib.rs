//! A stand-in for Roboflow's REST API (`api.roboflow.com`), for tests only:
//! Roboflow's service cannot be reached from the machines the tests run on.
//! Written from Roboflow's public API documentation and checked against the
//! official Python client (`pip install roboflow`), which a test drives
//! through the whole flow below; nothing of Roboflow's code is copied.
//!
//! What it serves, as Roboflow does (the API key is the `api_key` query
//! parameter of every call; errors are `{"error": {"message", "type"}}`):
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /` | `{"workspace": SLUG, …}` for a good key, 401 otherwise |
//! | `GET /{ws}` | the workspace with its projects |
//! | `GET /{ws}/{project}` | `{"workspace", "project", "versions": […]}` |
//! | `POST /dataset/{project}/upload` (multipart `name`, `split`, `file`) | `{"success": true, "id"}`; the same bytes again: `{"duplicate": true, "id"}` |
//! | `POST /dataset/{project}/annotate/{id}?name=F` (JSON `annotationFile`, `labelmap`) | `{"success": true}`; a second annotation without `overwrite=true`: 409 "already annotated". YOLO text (classes named by `labelmap`, else by number) or a COCO file (the entry of the image's name) |
//! | `POST /{ws}/{project}/generate` (JSON `augmentation`, `preprocessing`) | `{"message", "version": N}`: a snapshot of the annotated images |
//! | `GET /{ws}/{project}/{N}` | `{"version": {…, "generating", "images"}}` |
//! | `GET /{ws}/{project}/{N}/yolov8` | 202 `{"progress"}` while the export is prepared, then 200 `{"export": {"link"}}` |
//! | `GET /downloads/{token}.zip` | the zip: `data.yaml` (classes sorted by name, `train: ../train/images`, …), `{train,valid,test}/{images,labels}/` with Roboflow's `NAME_EXT.rf.HASH.EXT` file names |
//!
//! Tests can make it misbehave as the real service does: answer the next
//! requests with an error status (429 with `Retry-After`, 503), fail exports,
//! take a few polls to prepare an export.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Who the stand-in serves.
#[derive(Debug, Clone)]
pub struct Options {
    /// The one API key it accepts (the official client only sends keys with a
    /// lowercase letter).
    pub key: String,
    pub workspace: String,
    /// The projects that exist (made in Roboflow's web app, not through the API).
    pub projects: Vec<String>,
    /// How many polls of an export answer 202 before it is ready.
    pub export_polls: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            key: "rf-test-key".into(),
            workspace: "acme".into(),
            projects: vec!["steel-parts".into()],
            export_polls: 2,
        }
    }
}

#[derive(Debug, Clone)]
struct Box {
    class: String,
    cx: f64,
    cy: f64,
    w: f64,
    h: f64,
}

#[derive(Debug, Clone)]
struct Image {
    id: String,
    name: String,
    split: String,
    bytes: Bytes,
    /// None: not annotated yet; Some(empty): annotated, no objects.
    boxes: Option<Vec<Box>>,
}

#[derive(Debug, Clone)]
struct Version {
    number: u32,
    created: f64,
    images: Vec<Image>,
    /// Export polls answered so far, and the prepared zip's token.
    polls: u32,
    token: Option<String>,
}

#[derive(Debug, Default)]
struct Project {
    images: Vec<Image>,
    versions: Vec<Version>,
}

#[derive(Debug, Default)]
struct Faults {
    /// The next `n` API requests answer `status`.
    status: u16,
    n: usize,
    exports_fail: bool,
}

#[derive(Debug, Default)]
struct Counters {
    uploads: usize,
    annotations: usize,
}

struct Inner {
    opts: Options,
    export_polls: Mutex<u32>,
    base: Mutex<String>,
    projects: Mutex<BTreeMap<String, Project>>,
    downloads: Mutex<BTreeMap<String, Bytes>>,
    faults: Mutex<Faults>,
    counters: Mutex<Counters>,
}

type Shared = Arc<Inner>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running stand-in on a loopback port; stops when dropped.
pub struct StandIn {
    /// `http://127.0.0.1:PORT` (no trailing slash): what the client's API URL is set to.
    pub url: String,
    inner: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl StandIn {
    /// Starts one on `127.0.0.1` (a free port) in the current tokio runtime.
    pub async fn start(opts: Options) -> std::io::Result<StandIn> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        StandIn::serve(listener, opts)
    }

    /// Serves `opts` on `listener`.
    pub fn serve(listener: tokio::net::TcpListener, opts: Options) -> std::io::Result<StandIn> {
        let addr: SocketAddr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let projects = opts.projects.iter().map(|p| (p.clone(), Project::default())).collect();
        let inner = Arc::new(Inner {
            export_polls: Mutex::new(opts.export_polls),
            opts,
            base: Mutex::new(url.clone()),
            projects: Mutex::new(projects),
            downloads: Mutex::new(BTreeMap::new()),
            faults: Mutex::new(Faults::default()),
            counters: Mutex::new(Counters::default()),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(StandIn {
            url,
            inner,
            shutdown: Some(tx),
        })
    }

    pub fn key(&self) -> &str {
        &self.inner.opts.key
    }

    pub fn workspace(&self) -> &str {
        &self.inner.opts.workspace
    }

    /// The next `n` API requests (not zip downloads) answer `status` (429
    /// carries `Retry-After: 1`).
    pub fn fail_next(&self, status: u16, n: usize) {
        let mut f = lock(&self.inner.faults);
        f.status = status;
        f.n = n;
    }

    /// How many polls an export not yet prepared answers 202 from now on.
    pub fn set_export_polls(&self, n: u32) {
        *lock(&self.inner.export_polls) = n;
    }

    /// Exports fail (500 "export failed") while `on`.
    pub fn fail_exports(&self, on: bool) {
        lock(&self.inner.faults).exports_fail = on;
    }

    /// Images stored in `project`.
    pub fn image_count(&self, project: &str) -> usize {
        lock(&self.inner.projects).get(project).map_or(0, |p| p.images.len())
    }

    /// Annotated images of `project`, and their boxes in all.
    pub fn annotated(&self, project: &str) -> (usize, usize) {
        let projects = lock(&self.inner.projects);
        let Some(p) = projects.get(project) else {
            return (0, 0);
        };
        let done: Vec<&Vec<Box>> = p.images.iter().filter_map(|i| i.boxes.as_ref()).collect();
        (done.len(), done.iter().map(|b| b.len()).sum())
    }

    /// Upload requests and annotation requests received (accepted or not).
    pub fn requests(&self) -> (usize, usize) {
        let c = lock(&self.inner.counters);
        (c.uploads, c.annotations)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn router(inner: Shared) -> axum::Router {
    let api = axum::Router::new()
        .route("/", post(check_key))
        .route("/{ws}", get(workspace))
        .route("/{ws}/{project}", get(project))
        .route("/{ws}/{project}/generate", post(generate))
        .route("/{ws}/{project}/{version}", get(version))
        .route("/{ws}/{project}/{version}/{format}", get(export))
        .route("/dataset/{project}/upload", post(upload))
        .route("/dataset/{project}/annotate/{id}", post(annotate))
        .layer(axum::middleware::from_fn_with_state(inner.clone(), gate));
    axum::Router::new()
        .route("/downloads/{file}", get(download))
        .merge(api)
        .with_state(inner)
}

/// Roboflow's error envelope.
fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": {"message": message.into(), "type": kind, "hint": "See https://docs.roboflow.com/api-reference"}});
    (status, Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
struct KeyQuery {
    api_key: Option<String>,
}

/// Every API request: an injected fault first, then the key.
async fn gate(State(s): State<Shared>, Query(q): Query<KeyQuery>, req: Request, next: Next) -> Response {
    {
        let mut f = lock(&s.faults);
        if f.n > 0 {
            f.n -= 1;
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut r = error(status, "InjectedFault", format!("stand-in fault {}", f.status));
            if status == StatusCode::TOO_MANY_REQUESTS {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            return r;
        }
    }
    if q.api_key.as_deref() != Some(s.opts.key.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "OAuthException",
            "This API key does not exist (or has been revoked).",
        );
    }
    next.run(req).await
}

async fn check_key(State(s): State<Shared>) -> Response {
    Json(json!({
        "welcome": "Welcome to the Roboflow API.",
        "instructions": "You are successfully authenticated.",
        "docs": "https://docs.roboflow.com",
        "workspace": s.opts.workspace,
    }))
    .into_response()
}

fn no_workspace(ws: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "GraphMethodException",
        format!(
            "Unsupported get request. Workspace with ID `{ws}` does not exist or cannot be loaded due to missing permissions."
        ),
    )
}

fn no_project(project: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "GraphMethodException",
        format!(
            "Unsupported get request. Project with ID `{project}` does not exist or cannot be loaded due to missing permissions."
        ),
    )
}

fn splits_of(images: &[Image]) -> Value {
    let mut m = BTreeMap::new();
    for i in images {
        *m.entry(i.split.clone()).or_insert(0) += 1;
    }
    json!(m)
}

fn classes_of(images: &[Image]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for b in images.iter().filter_map(|i| i.boxes.as_ref()).flatten() {
        *m.entry(b.class.clone()).or_insert(0) += 1;
    }
    m
}

fn project_json(s: &Inner, name: &str, p: &Project) -> Value {
    let ws = &s.opts.workspace;
    let classes = classes_of(&p.images);
    let colors: BTreeMap<&String, &str> = classes.keys().map(|c| (c, "#C7FC00")).collect();
    json!({
        "id": format!("{ws}/{name}"), "type": "object-detection", "name": name, "created": 1_700_000_000.0,
        "updated": 1_700_000_000.0, "images": p.images.len(),
        "unannotated": p.images.iter().filter(|i| i.boxes.is_none()).count(),
        "annotation": "defects", "versions": p.versions.len(), "public": false,
        "splits": splits_of(&p.images), "colors": colors, "classes": classes,
    })
}

fn version_json(s: &Inner, name: &str, v: &Version) -> Value {
    let exports: Vec<&str> = if v.token.is_some() { vec!["yolov8"] } else { vec![] };
    json!({
        "id": format!("{}/{name}/{}", s.opts.workspace, v.number), "name": format!("v{}", v.number),
        "created": v.created, "images": v.images.len(), "splits": splits_of(&v.images),
        "augmentation": {}, "preprocessing": {}, "exports": exports, "generating": false, "progress": 1.0,
    })
}

async fn workspace(State(s): State<Shared>, Path(ws): Path<String>) -> Response {
    if ws != s.opts.workspace {
        return no_workspace(&ws);
    }
    let projects = lock(&s.projects);
    let list: Vec<Value> = projects.iter().map(|(n, p)| project_json(&s, n, p)).collect();
    Json(json!({"workspace": {"name": ws, "url": ws, "members": 1, "projects": list}})).into_response()
}

async fn project(State(s): State<Shared>, Path((ws, name)): Path<(String, String)>) -> Response {
    if ws != s.opts.workspace {
        return no_workspace(&ws);
    }
    let projects = lock(&s.projects);
    let Some(p) = projects.get(&name) else {
        return no_project(&name);
    };
    let versions: Vec<Value> = p.versions.iter().map(|v| version_json(&s, &name, v)).collect();
    Json(json!({
        "workspace": {"name": ws, "url": ws, "members": 1},
        "project": project_json(&s, &name, p),
        "versions": versions,
    }))
    .into_response()
}

/// Roboflow's accepted image types, by their first bytes.
fn is_image(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF])
        || b.starts_with(b"\x89PNG\r\n\x1a\n")
        || b.starts_with(b"BM")
        || (b.len() > 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP")
        || b.starts_with(b"II*\0")
        || b.starts_with(b"MM\0*")
}

async fn upload(State(s): State<Shared>, Path(project): Path<String>, mut form: Multipart) -> Response {
    lock(&s.counters).uploads += 1;
    let (mut name, mut split, mut file) = (None, "train".to_string(), None);
    while let Ok(Some(field)) = form.next_field().await {
        match field.name().unwrap_or("") {
            "name" => name = field.text().await.ok(),
            "split" => split = field.text().await.unwrap_or_else(|_| "train".into()),
            "file" => {
                let fname = field.file_name().map(str::to_string);
                file = field.bytes().await.ok();
                if name.is_none() {
                    name = fname;
                }
            }
            _ => {}
        }
    }
    let (Some(name), Some(bytes)) = (name, file) else {
        return error(StatusCode::BAD_REQUEST, "InvalidImageException", "Invalid image.");
    };
    if !is_image(&bytes) {
        return error(StatusCode::BAD_REQUEST, "InvalidImageException", "Invalid image.");
    }
    if !matches!(split.as_str(), "train" | "valid" | "test") {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidSplitException",
            format!("Invalid split {split:?}."),
        );
    }
    let id = hex::encode(&Sha256::digest(&bytes)[..10]);
    let mut projects = lock(&s.projects);
    let Some(p) = projects.get_mut(&project) else {
        return no_project(&project);
    };
    if p.images.iter().any(|i| i.id == id) {
        return Json(json!({"duplicate": true, "id": id})).into_response();
    }
    p.images.push(Image {
        id: id.clone(),
        name,
        split,
        bytes,
        boxes: None,
    });
    Json(json!({"success": true, "id": id})).into_response()
}

#[derive(Debug, Deserialize)]
struct AnnotateQuery {
    name: Option<String>,
    overwrite: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnnotateBody {
    annotation_file: String,
    #[serde(default)]
    labelmap: Option<BTreeMap<String, String>>,
}

/// YOLO lines, classes named by `labelmap` (index → name), else by number.
fn yolo_boxes(text: &str, labelmap: Option<&BTreeMap<String, String>>) -> Result<Vec<Box>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().map(str::trim).enumerate().filter(|(_, l)| !l.is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let nums: Result<Vec<f64>, _> = f.iter().skip(1).map(|v| v.parse::<f64>()).collect();
        match (f.len(), nums) {
            (5, Ok(n)) if n.iter().all(|v| (0.0..=1.0).contains(v)) => {
                let class = labelmap
                    .and_then(|m| m.get(f[0]).cloned())
                    .unwrap_or_else(|| f[0].to_string());
                out.push(Box {
                    class,
                    cx: n[0],
                    cy: n[1],
                    w: n[2],
                    h: n[3],
                });
            }
            _ => return Err(format!("line {}: not `class cx cy w h` with normalised numbers", i + 1)),
        }
    }
    Ok(out)
}

/// The boxes of the image named `image` in a COCO file, normalised.
fn coco_boxes(text: &str, image: &str) -> Result<Vec<Box>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not COCO JSON: {e}"))?;
    let entry = v["images"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["file_name"].as_str() == Some(image)))
        .ok_or_else(|| format!("the COCO file has no image named {image}"))?;
    let (id, w, h) = (
        entry["id"].clone(),
        entry["width"].as_f64().unwrap_or(1.0),
        entry["height"].as_f64().unwrap_or(1.0),
    );
    let names: BTreeMap<i64, String> = v["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["id"].as_i64()?, c["name"].as_str()?.to_string())))
        .collect();
    let mut out = Vec::new();
    for a in v["annotations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["image_id"] == id)
    {
        let b: Vec<f64> = a["bbox"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_f64)
            .collect();
        let class = a["category_id"].as_i64().and_then(|c| names.get(&c).cloned());
        if let (4, Some(class)) = (b.len(), class) {
            out.push(Box {
                class,
                cx: (b[0] + b[2] / 2.0) / w,
                cy: (b[1] + b[3] / 2.0) / h,
                w: b[2] / w,
                h: b[3] / h,
            });
        }
    }
    Ok(out)
}

async fn annotate(
    State(s): State<Shared>,
    Path((project, id)): Path<(String, String)>,
    Query(q): Query<AnnotateQuery>,
    body: Bytes,
) -> Response {
    lock(&s.counters).annotations += 1;
    let Ok(body) = serde_json::from_slice::<AnnotateBody>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidAnnotationException",
            "Expected {annotationFile, labelmap}.",
        );
    };
    let file = q.name.unwrap_or_default();
    let mut projects = lock(&s.projects);
    let Some(p) = projects.get_mut(&project) else {
        return no_project(&project);
    };
    let Some(img) = p.images.iter_mut().find(|i| i.id == id) else {
        return error(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            format!("Image {id} not found."),
        );
    };
    if img.boxes.is_some() && q.overwrite.as_deref() != Some("true") {
        return error(
            StatusCode::CONFLICT,
            "AnnotationException",
            "Image already annotated. Pass overwrite=true to replace it.",
        );
    }
    let parsed = if file.ends_with(".json") {
        coco_boxes(&body.annotation_file, &img.name)
    } else {
        yolo_boxes(&body.annotation_file, body.labelmap.as_ref())
    };
    match parsed {
        Ok(boxes) => {
            img.boxes = Some(boxes);
            Json(json!({"success": true})).into_response()
        }
        Err(m) => error(StatusCode::BAD_REQUEST, "InvalidAnnotationException", m),
    }
}

async fn generate(State(s): State<Shared>, Path((ws, name)): Path<(String, String)>, body: Bytes) -> Response {
    if ws != s.opts.workspace {
        return no_workspace(&ws);
    }
    let settings: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if settings.get("augmentation").is_none() || settings.get("preprocessing").is_none() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "settings must include augmentation and preprocessing"})),
        )
            .into_response();
    }
    let mut projects = lock(&s.projects);
    let Some(p) = projects.get_mut(&name) else {
        return no_project(&name);
    };
    let images: Vec<Image> = p.images.iter().filter(|i| i.boxes.is_some()).cloned().collect();
    if images.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "the project has no annotated images"})),
        )
            .into_response();
    }
    let number = p.versions.len() as u32 + 1;
    p.versions.push(Version {
        number,
        created: 1_700_000_000.0 + number as f64,
        images,
        polls: 0,
        token: None,
    });
    Json(json!({"message": "Dataset version generation started", "version": number})).into_response()
}

fn find_version<'a>(p: &'a mut Project, v: &str) -> Option<&'a mut Version> {
    let n: u32 = v.parse().ok()?;
    p.versions.iter_mut().find(|x| x.number == n)
}

async fn version(State(s): State<Shared>, Path((ws, name, v)): Path<(String, String, String)>) -> Response {
    if ws != s.opts.workspace {
        return no_workspace(&ws);
    }
    let mut projects = lock(&s.projects);
    let Some(p) = projects.get_mut(&name) else {
        return no_project(&name);
    };
    let project = project_json(&s, &name, p);
    let Some(found) = find_version(p, &v) else {
        return error(
            StatusCode::NOT_FOUND,
            "GraphMethodException",
            format!("Version {v} of {ws}/{name} does not exist."),
        );
    };
    Json(json!({"workspace": {"name": ws, "url": ws}, "project": project, "version": version_json(&s, &name, found)}))
        .into_response()
}

async fn export(
    State(s): State<Shared>,
    Path((ws, name, v, format)): Path<(String, String, String, String)>,
) -> Response {
    if ws != s.opts.workspace {
        return no_workspace(&ws);
    }
    if format != "yolov8" {
        return error(
            StatusCode::BAD_REQUEST,
            "UnsupportedFormatException",
            format!("This stand-in exports yolov8, not {format}."),
        );
    }
    let fail = lock(&s.faults).exports_fail;
    let base = lock(&s.base).clone();
    let mut projects = lock(&s.projects);
    let Some(p) = projects.get_mut(&name) else {
        return no_project(&name);
    };
    let Some(found) = find_version(p, &v) else {
        return error(
            StatusCode::NOT_FOUND,
            "GraphMethodException",
            format!("Version {v} of {ws}/{name} does not exist."),
        );
    };
    if fail {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ExportException",
            "Export failed while preparing the dataset.",
        );
    }
    let polls = *lock(&s.export_polls);
    if found.token.is_none() {
        if found.polls < polls {
            found.polls += 1;
            let progress = found.polls as f64 / (polls + 1) as f64;
            return (
                StatusCode::ACCEPTED,
                Json(json!({"ready": false, "progress": progress})),
            )
                .into_response();
        }
        let token = format!(
            "{ws}-{name}-{}-{}",
            found.number,
            hex::encode(&Sha256::digest(name.as_bytes())[..6])
        );
        let zip = yolov8_zip(&ws, &name, found);
        lock(&s.downloads).insert(token.clone(), zip);
        found.token = Some(token);
    }
    let token = found.token.clone().unwrap_or_default();
    Json(json!({
        "workspace": {"name": ws, "url": ws}, "project": project_json(&s, &name, p),
        "export": {"link": format!("{base}/downloads/{token}.zip"), "format": "yolov8"},
    }))
    .into_response()
}

/// Roboflow's file name of an exported image: `NAME_EXT.rf.HASH.EXT`.
fn export_name(img: &Image) -> (String, String) {
    let (stem, ext) = img.name.rsplit_once('.').unwrap_or((img.name.as_str(), "jpg"));
    let hash = hex::encode(&Sha256::digest(&img.bytes)[..16]);
    let base = format!("{stem}_{ext}.rf.{hash}");
    (format!("{base}.{ext}"), format!("{base}.txt"))
}

/// A version in Roboflow's YOLOv8 export layout.
fn yolov8_zip(ws: &str, project: &str, v: &Version) -> Bytes {
    let names: Vec<String> = classes_of(&v.images).into_keys().collect(); // sorted by name, as Roboflow does
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    let yaml = format!(
        "train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\nnc: {}\nnames: [{}]\n\nroboflow:\n  workspace: {ws}\n  project: {project}\n  version: {}\n  license: Private\n  url: https://app.roboflow.com/{ws}/{project}/{}\n",
        names.len(),
        quoted.join(", "),
        v.number,
        v.number
    );
    let mut put = |path: &str, bytes: &[u8]| {
        // Writing into memory does not fail.
        let _ = w.start_file(path, opts);
        let _ = w.write_all(bytes);
    };
    put("data.yaml", yaml.as_bytes());
    put(
        "README.roboflow.txt",
        format!(
            "{project} - v{}\n\nThis dataset was exported via the Roboflow stand-in of Defect Detective's tests.\n",
            v.number
        )
        .as_bytes(),
    );
    for img in &v.images {
        let (image, label) = export_name(img);
        let text: String = img
            .boxes
            .iter()
            .flatten()
            .map(|b| {
                let c = names.iter().position(|n| *n == b.class).unwrap_or(0);
                format!("{c} {:.6} {:.6} {:.6} {:.6}\n", b.cx, b.cy, b.w, b.h)
            })
            .collect();
        put(&format!("{}/images/{image}", img.split), &img.bytes);
        put(&format!("{}/labels/{label}", img.split), text.as_bytes());
    }
    Bytes::from(w.finish().map(|c| c.into_inner()).unwrap_or_default())
}

async fn download(State(s): State<Shared>, Path(file): Path<String>) -> Response {
    let token = file.strip_suffix(".zip").unwrap_or(&file);
    match lock(&s.downloads).get(token) {
        Some(zip) => ([(header::CONTENT_TYPE, "application/zip")], zip.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "no such export").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yolo_text_takes_class_names_from_the_labelmap() {
        let map = BTreeMap::from([("0".to_string(), "scratch".to_string())]);
        let b = yolo_boxes("0 0.5 0.5 0.2 0.2\n\n1 0.1 0.1 0.1 0.1\n", Some(&map)).unwrap();
        assert_eq!((b[0].class.as_str(), b[1].class.as_str()), ("scratch", "1"));
        assert!(yolo_boxes("0 0.5 0.5\n", None).is_err());
    }

    #[test]
    fn a_coco_file_gives_the_boxes_of_the_named_image() {
        let coco = json!({"images": [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 50}],
                          "annotations": [{"id": 1, "image_id": 7, "category_id": 2, "bbox": [10, 10, 20, 10]}],
                          "categories": [{"id": 2, "name": "dent"}]});
        let b = coco_boxes(&coco.to_string(), "a.jpg").unwrap();
        assert_eq!(b[0].class, "dent");
        assert!((b[0].cx - 0.2).abs() < 1e-9 && (b[0].h - 0.2).abs() < 1e-9);
        assert!(coco_boxes(&coco.to_string(), "b.jpg").is_err());
    }
}
