//! Annotating uploaded images through the API, on SQLite + folder and on
//! PostgreSQL + S3: the project's classes, boxes, polygons and a painted layer
//! saved as revisions (a stale save refused, a bad shape refused with nothing
//! changed), a dataset version pinning the revision it took (its export keeps
//! it and says who made each shape), and model pre-labels a person accepts.

use base64::Engine;
use detective_core::Role;
use serde_json::{Value, json};

use crate::common::{Kind, TestServer, client, part_png};
use crate::training::{get, post, post_form, put};

/// Uploads `n` synthetic 320×320 parts to project `parts`; their ids.
async fn upload(s: &TestServer, key: &str, n: u64) -> Vec<i64> {
    let mut form = reqwest::multipart::Form::new().text("project", "parts");
    for i in 0..n {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(part_png(320, 320, i)).file_name(format!("p{i}.png")),
        );
    }
    let (status, v) = post_form(s, key, "/api/images/upload", form).await;
    assert_eq!(status, 200, "{v}");
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect()
}

pub(crate) async fn zip_of(s: &TestServer, key: &str, path: &str) -> zip::ZipArchive<std::io::Cursor<Vec<u8>>> {
    let r = client().get(s.at(path)).bearer_auth(key).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    zip::ZipArchive::new(std::io::Cursor::new(r.bytes().await.unwrap().to_vec())).unwrap()
}

pub(crate) fn read(z: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> String {
    use std::io::Read;
    let mut f = z.by_name(name).unwrap_or_else(|_| panic!("{name} missing"));
    let mut text = String::new();
    f.read_to_string(&mut text).unwrap();
    text
}

/// A binary PNG of `w×h` with the rectangle `[x1, x2) × [y1, y2)` painted.
fn painted(w: u32, h: u32, (x1, y1, x2, y2): (u32, u32, u32, u32)) -> String {
    let mut m = detective_vision::GrayFrame::new(w, h);
    for y in y1..y2 {
        for x in x1..x2 {
            m.set(x, y, 255);
        }
    }
    let png = detective_vision::encode::encode_gray_png(&m).unwrap();
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

fn defect_pixels(png: &[u8]) -> usize {
    let f = detective_vision::decode::decode_image(png, &Default::default()).unwrap();
    f.as_rgb().chunks_exact(3).filter(|p| p[0] >= 128).count()
}

on_both!(
    labels_are_saved_as_revisions_and_a_dataset_version_keeps_the_revision_it_took,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let op = s.key(Role::Operator).await;
        let viewer = s.key(Role::Viewer).await;
        let ids = upload(&s, &op, 3).await;
        let labels = |id: i64| format!("/api/images/{id}/labels");
        let a_box = json!({"class": 1, "bbox": [10.0, 20.0, 110.0, 60.0]});

        // No classes yet: a save is refused and says what to do.
        let (status, v) = put(&s, &op, &labels(ids[0]), json!({"boxes": [a_box]})).await;
        assert_eq!(status, 400, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("no classes"), "{v}");
        let classes = json!({"classes": [{"name": "scratch"}, {"name": "dent", "color": "#112233", "icon": "star"}]});
        let (status, _) = put(&s, &viewer, "/api/projects/parts/classes", classes.clone()).await;
        assert_eq!(status, 403, "viewers do not set classes");
        let (status, v) = put(&s, &op, "/api/projects/parts/classes", classes).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v["classes"][1],
            json!({"name": "dent", "color": "#112233", "icon": "star"})
        );
        assert!(v["classes"][0]["color"].as_str().unwrap().starts_with('#'));

        let fresh = get(&s, &viewer, &labels(ids[0])).await;
        assert_eq!(
            (fresh["revision"].clone(), fresh["status"].as_str()),
            (Value::Null, Some("unlabelled"))
        );
        assert_eq!(fresh["classes"].as_array().unwrap().len(), 2);

        // Revision 1: a box and a polygon, by a person.
        let polygon = json!({"class": 0, "points": [[200, 200], [260, 200], [260, 240], [200, 240]]});
        let first = json!({"base_revision": null, "boxes": [a_box], "polygons": [polygon]});
        let (status, _) = put(&s, &viewer, &labels(ids[0]), first.clone()).await;
        assert_eq!(status, 403, "viewers do not annotate");
        let (status, r1) = put(&s, &op, &labels(ids[0]), first.clone()).await;
        assert_eq!(status, 200, "{r1}");
        assert_eq!(
            (r1["revision"].as_i64(), r1["status"].as_str()),
            (Some(1), Some("labelled"))
        );
        assert_eq!(r1["boxes"][0]["source"], "person");
        assert_eq!(r1["has_mask"], true, "the polygon is a mask");
        let mask = client()
            .get(s.at(&format!("/api/images/{}/mask", ids[0])))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(defect_pixels(&mask.bytes().await.unwrap()), 60 * 40);

        // A save made from the old state (someone saved meanwhile) is refused,
        // and so is a box outside the image: nothing changes.
        let (status, v) = put(&s, &op, &labels(ids[0]), first).await;
        assert_eq!(status, 409, "{v}");
        let outside = json!({"base_revision": 1, "boxes": [{"class": 0, "bbox": [300, 300, 400, 310]}]});
        let (status, v) = put(&s, &op, &labels(ids[0]), outside).await;
        assert_eq!(status, 400, "{v}");
        let unknown = json!({"base_revision": 1, "boxes": [{"class": 5, "bbox": [1, 1, 10, 10]}]});
        let (status, _) = put(&s, &op, &labels(ids[0]), unknown).await;
        assert_eq!(status, 400);
        assert_eq!(get(&s, &viewer, &labels(ids[0])).await["revision"], 1);

        // A dataset version takes revision 1; revision 2 changes the image later.
        let (status, ds) = post(
            &s,
            &op,
            "/api/datasets/create",
            json!({"name": "annotated", "project": "parts", "classes": ["scratch", "dent"],
                   "splits": {"train": [ids[0], ids[1]], "val": [ids[2]]}}),
        )
        .await;
        assert_eq!(status, 200, "{ds}");
        let ds = ds["id"].as_i64().unwrap();
        let second = json!({"base_revision": 1, "status": "reviewed",
                            "boxes": [{"class": 0, "bbox": [5, 5, 50, 50], "source": "model", "model": "m@1", "confidence": 0.9}]});
        let (status, r2) = put(&s, &op, &labels(ids[0]), second).await;
        assert_eq!(status, 200, "{r2}");
        assert_eq!(
            (r2["revision"].as_i64(), r2["status"].as_str(), r2["has_mask"].as_bool()),
            (Some(2), Some("reviewed"), Some(false))
        );
        let old = get(&s, &viewer, &format!("{}?revision=1", labels(ids[0]))).await;
        assert_eq!(old["boxes"][0]["bbox"], json!([10.0, 20.0, 110.0, 60.0]));
        assert_eq!(old["latest_revision"], 2);
        let revs = get(&s, &viewer, &format!("{}/revisions", labels(ids[0]))).await;
        assert_eq!(revs.as_array().unwrap().len(), 2);
        assert_eq!(
            (revs[0]["revision"].as_i64(), revs[0]["from_model"].as_u64()),
            (Some(2), Some(1))
        );

        // Version 1's export still holds revision 1: its COCO keeps the polygon
        // and says a person made each shape; its YOLO zip says so too.
        let mut coco = zip_of(&s, &viewer, &format!("/api/datasets/{ds}/export?version=1&format=coco")).await;
        let train: Value = serde_json::from_str(&read(&mut coco, "annotations/instances_train.json")).unwrap();
        let mine: Vec<&Value> = train["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["image_id"] == ids[0])
            .collect();
        assert_eq!(mine.len(), 2, "{train}");
        assert_eq!(mine[0]["bbox"], json!([10.0, 20.0, 100.0, 40.0]));
        assert_eq!(
            (mine[0]["source"].as_str(), mine[0]["category_id"].as_u64()),
            (Some("person"), Some(2))
        );
        assert_eq!(
            mine[1]["segmentation"],
            json!([[200.0, 200.0, 260.0, 200.0, 260.0, 240.0, 200.0, 240.0]])
        );
        assert_eq!(mine[1]["area"], 2400.0);
        let mut yolo = zip_of(&s, &viewer, &format!("/api/datasets/{ds}/export?version=1")).await;
        let sources: Value = serde_json::from_str(&read(&mut yolo, "label_sources.json")).unwrap();
        let entry = sources.as_object().unwrap().values().next().unwrap();
        assert_eq!(
            (entry["revision"].as_i64(), entry["boxes"][0]["source"].as_str()),
            (Some(1), Some("person"))
        );

        // A new version takes the image's newest labels: revision 2, the model's box.
        let (status, v) = post(
            &s,
            &op,
            &format!("/api/datasets/{ds}/versions"),
            json!({"add": [ids[0]]}),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        let mut coco2 = zip_of(&s, &viewer, &format!("/api/datasets/{ds}/export?version=2&format=coco")).await;
        let train2: Value = serde_json::from_str(&read(&mut coco2, "annotations/instances_train.json")).unwrap();
        let mine2: Vec<&Value> = train2["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["image_id"] == ids[0])
            .collect();
        assert_eq!(mine2.len(), 1);
        assert_eq!(mine2[0]["source"], "model:m@1");

        // Status filter: one image is reviewed, two are still unlabelled.
        let reviewed = get(&s, &viewer, "/api/images?project=parts&status=reviewed").await;
        assert_eq!(reviewed["items"].as_array().unwrap().len(), 1);
        let counts = get(&s, &viewer, "/api/projects/parts/classes").await;
        assert_eq!(counts["counts"], json!({"unlabelled": 2, "labelled": 0, "reviewed": 1}));
        let r = client()
            .get(s.at("/api/images?status=done"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);

        // Classes may grow, not shrink, once images carry labels.
        let (status, _) = put(
            &s,
            &op,
            "/api/projects/parts/classes",
            json!({"classes": [{"name": "scratch"}]}),
        )
        .await;
        assert_eq!(status, 409);
    }
);

on_both!(
    a_painted_layer_and_polygons_make_the_mask_and_the_layer_is_kept_apart,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let op = s.key(Role::Operator).await;
        let ids = upload(&s, &op, 1).await;
        let (status, _) = put(
            &s,
            &op,
            "/api/projects/parts/classes",
            json!({"classes": [{"name": "scratch"}]}),
        )
        .await;
        assert_eq!(status, 200);
        let path = format!("/api/images/{}/labels", ids[0]);
        // A layer of the wrong size is refused.
        let (status, v) = put(&s, &op, &path, json!({"brush": painted(32, 32, (0, 0, 4, 4))})).await;
        assert_eq!(status, 400, "{v}");
        let body = json!({"brush": painted(320, 320, (0, 0, 10, 10)),
                          "polygons": [{"class": 0, "points": [[100, 100], [120, 100], [120, 120], [100, 120]]}]});
        let (status, v) = put(&s, &op, &path, body).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["brush"]["source"], "person");
        let fetch = |p: String| {
            let op = op.clone();
            let url = s.at(&p);
            async move {
                client()
                    .get(url)
                    .bearer_auth(&op)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap()
            }
        };
        assert_eq!(
            defect_pixels(&fetch(format!("{path}/brush")).await),
            100,
            "the layer alone"
        );
        assert_eq!(
            defect_pixels(&fetch(format!("/api/images/{}/mask", ids[0])).await),
            100 + 400,
            "layer ∪ polygon"
        );
        // Deleting the polygon takes its pixels out of the mask again.
        let body = json!({"base_revision": 1, "brush": painted(320, 320, (0, 0, 10, 10))});
        let (status, _) = put(&s, &op, &path, body).await;
        assert_eq!(status, 200);
        assert_eq!(defect_pixels(&fetch(format!("/api/images/{}/mask", ids[0])).await), 100);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_models_pre_labels_come_marked_as_the_models_and_are_accepted_by_saving() {
    let s = TestServer::start(Kind::SqliteFolder).await;
    let op = s.key(Role::Operator).await;
    let ids = upload(&s, &op, 4).await;
    let names = s.state.served.pool().unwrap().model().names.clone();
    let classes: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
    let (status, _) = put(&s, &op, "/api/projects/parts/classes", json!({"classes": classes})).await;
    assert_eq!(status, 200);
    let mut proposed = Vec::new();
    for id in &ids {
        let (status, v) = post(&s, &op, &format!("/api/images/{id}/prelabel"), json!(null)).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["unmapped"], json!([]));
        proposed.push((*id, v));
    }
    // The bundled detector finds defects on these synthetic parts.
    let (id, v) = proposed
        .into_iter()
        .find(|(_, v)| !v["boxes"].as_array().unwrap().is_empty())
        .expect("the bundled detector proposes boxes on at least one of 4 defective parts");
    let boxes = v["boxes"].as_array().unwrap();
    assert!(
        boxes
            .iter()
            .all(|b| b["source"] == "model" && b["model"] == "bundled" && b["confidence"].as_f64().unwrap() >= 0.25)
    );
    // Nothing was stored by proposing.
    assert_eq!(
        get(&s, &op, &format!("/api/images/{id}/labels")).await["revision"],
        Value::Null
    );
    // Accepting them is saving them; one moved box is the model's, corrected.
    let mut accepted: Vec<Value> = boxes.clone();
    accepted[0]["edited"] = json!(true);
    let (status, saved) = put(&s, &op, &format!("/api/images/{id}/labels"), json!({"boxes": accepted})).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["boxes"][0]["edited"], true);
    let revs = get(&s, &op, &format!("/api/images/{id}/labels/revisions")).await;
    assert_eq!(revs[0]["from_model"].as_u64(), Some(boxes.len() as u64 - 1));
    // A segmenter pre-label needs a served segmenter.
    let r = client()
        .post(s.at(&format!("/api/images/{id}/prelabel?task=segment")))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
