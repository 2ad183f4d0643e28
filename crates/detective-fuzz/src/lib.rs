//! Fuzz targets: every parser of outside input, as a
//! function of arbitrary bytes that must return (an error is fine) and never
//! panic, hang or allocate without bound. `fuzz/` runs them coverage-guided
//! under AFL++ (`scripts/fuzz.sh`); the tests here replay the committed corpus
//! and the inputs of every crash found (`fuzz/corpus/<target>/`,
//! `fuzz/regressions/<target>/`) on every test run.

use std::path::Path;

use detective_vision::DecodeLimits;

/// A target: its name (the corpus folder) and the function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("yolo_labels", yolo_labels),
    ("data_yaml", data_yaml),
    ("coco_json", coco_json),
    ("log_batch", log_batch),
    ("image_decode", image_decode),
    ("dataset_zip", dataset_zip),
    ("pickle", pickle),
    ("torch_pt", torch_pt),
    ("onnx_model", onnx_model),
    ("multipart_upload", multipart_upload),
    ("v4l2_buffer", v4l2_buffer),
];

/// The target named `name`.
pub fn target(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// A YOLO label file (`class cx cy w h` per line, or a polygon), as the
/// dataset reader and the zip import read it.
pub fn yolo_labels(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (labels, _issues) = detective_data::labels::parse_labels(&text);
    for l in labels {
        let _ = l.to_line();
    }
}

/// A `data.yaml` of a YOLO (Ultralytics, Roboflow) dataset.
pub fn data_yaml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = detective_data::data_yaml::DataYaml::parse(text, Path::new("/dataset/data.yaml"));
    }
}

/// A COCO JSON file, read and turned into YOLO labels for its own classes.
pub fn coco_json(data: &[u8]) {
    if let Ok(coco) = serde_json::from_slice::<detective_data::coco::CocoFile>(data) {
        let names: Vec<String> = coco.categories.iter().map(|c| c.name.clone()).collect();
        let _ = detective_data::coco::from_coco(&coco, &names);
    }
}

/// The body of `POST /api/log` (the edge agent's wire format), parsed and checked.
pub fn log_batch(data: &[u8]) {
    if let Ok(batch) = serde_json::from_slice::<detective_core::LogBatch>(data) {
        let _ = batch.validate();
    }
}

/// An uploaded image (PNG, JPEG, BMP, WebP, TIFF…) decoded under limits: the
/// header is checked before any pixel buffer is made.
pub fn image_decode(data: &[u8]) {
    let limits = DecodeLimits {
        max_bytes: 8 * 1024 * 1024,
        max_pixels: 4_000_000,
    };
    if let Ok(frame) = detective_vision::decode::decode_image(data, &limits) {
        assert!(u64::from(frame.width()) * u64::from(frame.height()) <= limits.max_pixels);
    }
}

/// A dataset zip (`POST /api/datasets/import`) unpacked into a temporary folder
/// under the import's limits (here 1 MiB, 64 entries): no symlink is made, no
/// more files than entries and no more bytes than the limit are written (names
/// that would leave the folder are refused by the unpacker's path check).
pub fn dataset_zip(data: &[u8]) {
    const MAX_BYTES: u64 = 1024 * 1024;
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let _ = detective_data::unzip::unpack(std::io::Cursor::new(data), dir.path(), MAX_BYTES, 64);
    let (mut files, mut bytes) = (0usize, 0u64);
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            assert!(
                !meta.file_type().is_symlink(),
                "a symlink was made: {}",
                e.path().display()
            );
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    assert!(files <= 64, "{files} files from at most 64 entries");
    // The entry that crosses the limit may write one byte past it before it is refused.
    assert!(bytes <= MAX_BYTES + 1, "{bytes} bytes written");
}

/// The pickle of a PyTorch checkpoint, read into data without running anything.
pub fn pickle(data: &[u8]) {
    let _ = detective_ml::import::pickle::parse(data);
}

/// A whole PyTorch checkpoint (`.pt`, `POST /api/models/register`, `detective
/// import`): the zip archive, its pickle, and every tensor read through its
/// storage, sizes and strides.
pub fn torch_pt(data: &[u8]) {
    let _ = detective_ml::import::torch_pt::from_archive(std::io::Cursor::new(data));
}

/// An ONNX model file: the protobuf, its metadata (class names, image size,
/// task) and its float initializers.
pub fn onnx_model(data: &[u8]) {
    let _ = detective_ml::import::onnx_weights::parse(data);
}

/// The multipart body of `POST /api/images/upload` (boundary `fuzz`), read by
/// the server's own reader with a limit of 16 files.
pub fn multipart_upload(data: &[u8]) {
    use axum::extract::FromRequest;
    thread_local! {
        static RT: Option<tokio::runtime::Runtime> =
            tokio::runtime::Builder::new_current_thread().build().ok();
    }
    let req = axum::http::Request::builder()
        .method("POST")
        .header("content-type", "multipart/form-data; boundary=fuzz")
        .body(axum::body::Body::from(data.to_vec()));
    let Ok(req) = req else { return };
    RT.with(|rt| {
        let Some(rt) = rt else { return };
        rt.block_on(async {
            if let Ok(mut mp) = axum::extract::Multipart::from_request(req, &()).await
                && let Ok(up) = detective_server::routes::images::read_upload(&mut mp, 16).await
            {
                assert!(up.images.len() + up.labels.len() + up.masks.len() + up.refused.len() <= 16);
            }
        });
    });
}

/// A buffer from a V4L2 camera turned into a frame. The first 7 bytes choose
/// what was negotiated — width, height, bytes per line (u16 each, little
/// endian) and the format (even: YUYV, odd: MJPEG) — the rest is the buffer.
pub fn v4l2_buffer(data: &[u8]) {
    use detective_edge::v4l2::{Negotiated, PixelFormat, buffer_to_frame};
    let Some((head, buffer)) = data.split_at_checked(7) else {
        return;
    };
    let u16_at = |i: usize| u32::from(u16::from_le_bytes([head[i], head[i + 1]]));
    let neg = Negotiated {
        format: if head[6] % 2 == 0 {
            PixelFormat::Yuyv
        } else {
            PixelFormat::Mjpeg
        },
        width: u16_at(0),
        height: u16_at(2),
    };
    let limits = DecodeLimits {
        max_bytes: 8 * 1024 * 1024,
        max_pixels: 4_000_000,
    };
    if let Ok(frame) = buffer_to_frame(&neg, u16_at(4), buffer, &limits) {
        let pixels = u64::from(frame.width()) * u64::from(frame.height());
        // A YUYV frame is no larger than its buffer holds (2 bytes a pixel).
        assert!(pixels <= limits.max_pixels.max(buffer.len() as u64 / 2));
    }
}
