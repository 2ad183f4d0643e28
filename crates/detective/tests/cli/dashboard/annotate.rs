//! The Annotate page: a project's classes set in the page, then uploaded images
//! labelled with the keyboard and mouse (a box reclassed by number, a polygon
//! drawn, undone and redone, the model's pre-labels asked for), saved as a
//! revision, and the next image saved as reviewed and defect-free.

use super::helpers::{Page, api, click, drag, shot, type_into, until};
use fantoccini::Locator;
use serde_json::Value;

/// A synthetic 320×320 part with defects, as PNG.
fn part_png(index: u64) -> Vec<u8> {
    let cfg = detective_vision::synth::SynthConfig {
        defect_rate: 1.0,
        ..Default::default()
    };
    let sample = detective_vision::synth::generate(&cfg, 11, index).unwrap();
    detective_vision::encode::encode_png(&sample.image).unwrap()
}

fn shapes_are(kind: &str, n: usize) -> String {
    format!("document.getElementById('canvas').dataset.{kind} === '{n}'")
}

/// As the admin, after the labeling queue.
pub(super) async fn classes_boxes_polygons_and_review(p: &Page) {
    let Page { c, base, admin, .. } = p;
    let mut form = reqwest::multipart::Form::new().text("project", "annotate-demo");
    for i in 0..3 {
        let png = part_png(i);
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(png).file_name(format!("part{i}.png")),
        );
    }
    let up: Value = reqwest::Client::new()
        .post(format!("{base}/api/images/upload"))
        .bearer_auth(admin)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(up["stored"], 3, "{up}");
    let first = up["files"][0]["id"].as_i64().unwrap();
    let second = up["files"][1]["id"].as_i64().unwrap();

    // No classes yet: the page asks for them first.
    c.goto(&format!("{base}/annotate?project=annotate-demo")).await.unwrap();
    until(c, "the class editor", "!document.getElementById('classes-card').hidden").await;
    type_into(c, "#class-editor li:nth-child(1) .class-name", "scratch").await;
    click(c, "#class-add").await;
    type_into(c, "#class-editor li:nth-child(2) .class-name", "dent").await;
    click(c, "#class-save").await;
    until(
        c,
        "the first image",
        &format!("document.getElementById('canvas').dataset.ready === '{first}'"),
    )
    .await;
    let classes = api(base, admin, "/api/projects/annotate-demo/classes").await;
    assert_eq!(classes["classes"].as_array().unwrap().len(), 2, "{classes}");

    // A box (B, drag), reclassed to "dent" with 2.
    let canvas = c.find(Locator::Css("#canvas")).await.unwrap();
    canvas.send_keys("b").await.unwrap();
    c.execute(&drag((0.3, 0.2), (0.5, 0.45)), vec![]).await.unwrap();
    until(c, "the drawn box", &shapes_are("boxes", 1)).await;
    canvas.send_keys("2").await.unwrap();
    // A polygon (P, three clicks, Enter), undone and redone.
    canvas.send_keys("p").await.unwrap();
    for (x, y) in [(0.6, 0.6), (0.75, 0.6), (0.7, 0.75)] {
        c.execute(&drag((x, y), (x, y)), vec![]).await.unwrap();
    }
    canvas.send_keys("\u{E007}").await.unwrap(); // Enter
    until(c, "the polygon", &shapes_are("polygons", 1)).await;
    canvas.send_keys("\u{E009}z\u{E000}").await.unwrap(); // Ctrl+Z
    until(c, "the polygon undone", &shapes_are("polygons", 0)).await;
    canvas.send_keys("\u{E009}\u{E008}z\u{E000}").await.unwrap(); // Ctrl+Shift+Z
    until(c, "the polygon redone", &shapes_are("polygons", 1)).await;
    // The served model's pre-labels (L): proposed, marked as the model's.
    canvas.send_keys("v").await.unwrap();
    canvas.send_keys("l").await.unwrap();
    until(
        c,
        "the model's answer",
        "document.getElementById('label-status').textContent.includes('proposed')",
    )
    .await;
    shot(c, "annotate").await;
    let n_boxes: usize = c
        .execute("return document.getElementById('canvas').dataset.boxes;", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Save (A): revision 1 of the first image, and the page moves on.
    canvas.send_keys("a").await.unwrap();
    until(
        c,
        "the second image",
        &format!("document.getElementById('canvas').dataset.ready === '{second}'"),
    )
    .await;
    let saved = api(base, admin, &format!("/api/images/{first}/labels")).await;
    assert_eq!(
        (saved["revision"].as_i64(), saved["status"].as_str()),
        (Some(1), Some("labelled")),
        "{saved}"
    );
    let boxes = saved["boxes"].as_array().unwrap();
    assert_eq!(boxes.len(), n_boxes, "{saved}");
    let mine: Vec<&Value> = boxes.iter().filter(|b| b["source"] == "person").collect();
    assert_eq!(mine.len(), 1, "{saved}");
    assert_eq!(mine[0]["class"], 1, "reclassed with the 2 key");
    assert!(
        boxes
            .iter()
            .filter(|b| b["source"] != "person")
            .all(|b| b["source"] == "model"),
        "{saved}"
    );
    assert_eq!(saved["polygons"].as_array().unwrap().len(), 1);
    assert_eq!(saved["has_mask"], true);

    // The second part, nothing drawn, saved as reviewed (Shift+A): defect-free.
    let canvas = c.find(Locator::Css("#canvas")).await.unwrap();
    canvas.send_keys("\u{E008}a\u{E000}").await.unwrap();
    until(
        c,
        "the review saved",
        "document.getElementById('label-status').textContent.includes('as reviewed')",
    )
    .await;
    let reviewed = api(base, admin, &format!("/api/images/{second}/labels")).await;
    assert_eq!(reviewed["status"], "reviewed", "{reviewed}");
    assert_eq!(reviewed["boxes"], serde_json::json!([]));
    let counts = api(base, admin, "/api/projects/annotate-demo/classes").await;
    assert_eq!(
        counts["counts"],
        serde_json::json!({"unlabelled": 1, "labelled": 1, "reviewed": 1})
    );
}
