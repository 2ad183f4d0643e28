//! A labelled set sent as a zip through `POST /api/datasets/import`, on SQLite +
//! folder and on PostgreSQL + S3: our own YOLOv8 and COCO exports come back as
//! datasets with the same images and labels, Roboflow's COCO layout is read,
//! and a bad set (a broken label, a data.yaml naming files outside the zip, not
//! a zip at all) is refused with the reason and leaves nothing behind.

use std::io::Write;

use detective_core::Role;
use serde_json::{Value, json};

use crate::common::{Kind, TestServer, client};
use crate::training::{get, post, post_form};

/// Six labelled synthetic 96×96 parts in project `src`, as dataset `parts`; its id.
async fn labelled(s: &TestServer, key: &str) -> i64 {
    let (form, names) = crate::common::labelled_parts_form("src", 6, 96, 5, 1.0);
    let (status, up) = post_form(s, key, "/api/images/upload", form).await;
    assert_eq!(status, 200, "{up}");
    let ids: Vec<i64> = up["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_i64())
        .collect();
    assert_eq!(ids.len(), 6, "{up}");
    let (status, ds) = post(
        s,
        key,
        "/api/datasets/create",
        json!({"name": "parts", "project": "src", "classes": names, "splits": {"train": ids[..4], "val": ids[4..]}}),
    )
    .await;
    assert_eq!(status, 200, "{ds}");
    ds["id"].as_i64().unwrap()
}

async fn bytes_of(s: &TestServer, key: &str, path: &str) -> Vec<u8> {
    let r = client().get(s.at(path)).bearer_auth(key).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.bytes().await.unwrap().to_vec()
}

async fn import(s: &TestServer, key: &str, name: &str, project: &str, zip: Vec<u8>) -> (u16, Value) {
    let form = reqwest::multipart::Form::new()
        .text("name", name.to_string())
        .text("project", project.to_string())
        .part("file", reqwest::multipart::Part::bytes(zip).file_name("set.zip"));
    post_form(s, key, "/api/datasets/import", form).await
}

/// A zip of `(name, bytes)` entries.
fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Every label line of every image of a version's YOLO export, sorted.
async fn label_lines(s: &TestServer, key: &str, ds: i64) -> Vec<String> {
    use std::io::Read;
    let zip = bytes_of(s, key, &format!("/api/datasets/{ds}/export")).await;
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut lines = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        if f.name().starts_with("labels/") {
            let mut text = String::new();
            f.read_to_string(&mut text).unwrap();
            lines.extend(text.lines().map(str::to_string));
        }
    }
    lines.sort();
    lines
}

async fn image_count(s: &TestServer, key: &str, project: &str) -> usize {
    get(s, key, &format!("/api/images?project={project}")).await["items"]
        .as_array()
        .unwrap()
        .len()
}

on_both!(
    a_zip_in_yolo_or_coco_layout_becomes_a_dataset_and_a_bad_one_leaves_nothing,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let op = s.key(Role::Operator).await;
        let viewer = s.key(Role::Viewer).await;
        let ds = labelled(&s, &op).await;
        let original = label_lines(&s, &op, ds).await;
        assert!(!original.is_empty());

        // Our YOLOv8 export comes back whole.
        let yolo = bytes_of(&s, &op, &format!("/api/datasets/{ds}/export")).await;
        let (status, v) = import(&s, &viewer, "again", "copy", yolo.clone()).await;
        assert_eq!(status, 403, "viewers do not import");
        let (status, v2) = import(&s, &op, "again", "copy", yolo.clone()).await;
        assert_eq!(status, 200, "{v} {v2}");
        assert_eq!(
            (v2["images"].as_u64(), v2["dataset"]["task"].as_str()),
            (Some(6), Some("detect")),
            "{v2}"
        );
        assert_eq!(v2["dataset"]["versions"][0]["splits"], json!({"train": 4, "val": 2}));
        let copy = v2["dataset"]["id"].as_i64().unwrap();
        assert_eq!(label_lines(&s, &op, copy).await, original);
        let (status, v) = import(&s, &op, "again", "copy", yolo).await;
        assert_eq!(status, 409, "{v}");

        // Our COCO export: the same boxes (to the rounding of pixel boxes).
        let coco = bytes_of(&s, &op, &format!("/api/datasets/{ds}/export?format=coco")).await;
        let (status, v) = import(&s, &op, "from-coco", "coco", coco).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["images"], 6);
        assert_eq!(
            label_lines(&s, &op, v["dataset"]["id"].as_i64().unwrap()).await.len(),
            original.len()
        );

        // Roboflow's COCO layout: {split}/_annotations.coco.json beside the images.
        let png = crate::common::part_png(64, 64, 1);
        let ann = json!({"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 64}],
                         "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 20, 10], "area": 200, "iscrowd": 0}],
                         "categories": [{"id": 0, "name": "defects", "supercategory": "none"}, {"id": 1, "name": "scratch", "supercategory": "defects"}]});
        let rf = zip_of(&[
            ("train/_annotations.coco.json", ann.to_string().into_bytes()),
            ("train/a.png", png.clone()),
        ]);
        let (status, v) = import(&s, &op, "roboflow", "rf", rf).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["images"], 1);
        assert!(
            v["dataset"]["classes"].as_array().unwrap().contains(&json!("scratch")),
            "{v}"
        );

        // A broken label line: refused with the checker's findings; nothing stored.
        let yaml = b"path: .\ntrain: images/train\nnames: [scratch]\n".to_vec();
        let bad = zip_of(&[
            ("data.yaml", yaml.clone()),
            ("images/train/a.png", png.clone()),
            ("labels/train/a.txt", b"0 0.5 0.5 0.2\n".to_vec()),
        ]);
        let (status, v) = import(&s, &op, "bad", "bad", bad).await;
        assert_eq!(status, 400, "{v}");
        let detail = v["detail"].as_str().unwrap();
        assert!(
            detail.contains("nothing was imported") && detail.contains("labels/train/a.txt"),
            "{v}"
        );
        assert!(!detail.contains("/tmp"), "paths are the zip's, not the server's: {v}");
        // A data.yaml naming the server's own files is refused.
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(elsewhere.path().join("images/train")).unwrap();
        std::fs::write(elsewhere.path().join("images/train/secret.png"), &png).unwrap();
        std::fs::create_dir_all(elsewhere.path().join("labels/train")).unwrap();
        std::fs::write(elsewhere.path().join("labels/train/secret.txt"), "0 0.5 0.5 0.2 0.2\n").unwrap();
        let yaml = format!("train: {}/images/train\nnames: [scratch]\n", elsewhere.path().display());
        let outside = zip_of(&[("data.yaml", yaml.into_bytes())]);
        let (status, v) = import(&s, &op, "outside", "bad", outside).await;
        assert_eq!(status, 400, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("outside what was sent"), "{v}");
        let (status, v) = import(&s, &op, "junk", "bad", b"not a zip".to_vec()).await;
        assert_eq!(status, 400, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("zip"), "{v}");
        assert_eq!(image_count(&s, &op, "bad").await, 0, "nothing half-written");
        assert!(
            get(&s, &op, "/api/datasets?project=bad").await["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
);
