//! A new user's whole journey in the browser, on a server of its own: 20
//! photos uploaded on the Datasets page, the project's classes set and every
//! photo annotated on the Annotate page (the served model's pre-labels
//! accepted, one image corrected by hand), a dataset made of them, a training
//! job started from our pretrained detector, registered and promoted, and the
//! new model finding the trained defects on the Live page's camera.

use std::time::Duration;

use super::helpers::{Page, api, click, drag, shot, type_into, until, until_within};
use fantoccini::Locator;

const CLASSES: &str = "scratch, spot, crack, dent, pit";

/// The Live camera's clip: one synthetic 640×480 part with defects, ten
/// times over; its true boxes (`[x1, y1, x2, y2]` in its pixels).
pub(super) fn one_part_clip(path: &std::path::Path) -> Vec<[f32; 4]> {
    let cfg = detective_vision::synth::SynthConfig {
        width: 640,
        height: 480,
        defect_rate: 1.0,
        ..Default::default()
    };
    let s = detective_vision::synth::generate(&cfg, 7, 0).unwrap();
    let jpeg = detective_vision::encode::encode_jpeg(&s.image, 90).unwrap();
    std::fs::write(path, jpeg.repeat(10)).unwrap();
    s.objects
        .iter()
        .map(|o| [o.bbox.x1, o.bbox.y1, o.bbox.x2, o.bbox.y2])
        .collect()
}

fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: [f32; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    inter / (area(a) + area(b) - inter).max(1e-6)
}

/// 20 synthetic 320×320 parts with defects, as files to upload; their paths.
fn photos(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let cfg = detective_vision::synth::SynthConfig {
        defect_rate: 1.0,
        ..Default::default()
    };
    (0..20)
        .map(|i| {
            let s = detective_vision::synth::generate(&cfg, 77, i).unwrap();
            let path = dir.join(format!("photo-{i:02}.jpg"));
            std::fs::write(&path, detective_vision::encode::encode_jpeg(&s.image, 92).unwrap()).unwrap();
            path
        })
        .collect()
}

pub(super) async fn from_photos_to_detections_on_live(p: &Page, truth: &[[f32; 4]]) {
    let Page {
        c, base, dir, admin, ..
    } = p;
    // Upload.
    let files = photos(dir);
    c.goto(&format!("{base}/datasets")).await.unwrap();
    c.find(Locator::Css("#u-project")).await.unwrap().clear().await.unwrap();
    type_into(c, "#u-project", "journey").await;
    let list: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    c.find(Locator::Css("#u-files"))
        .await
        .unwrap()
        .send_keys(&list.join("\n"))
        .await
        .unwrap();
    until(
        c,
        "20 photos stored",
        "document.querySelectorAll('#uploads li.stored').length === 20",
    )
    .await;

    // Classes, then every photo: pre-labels (L) accepted (A); the first corrected.
    c.goto(&format!("{base}/annotate?project=journey")).await.unwrap();
    until(c, "the class editor", "!document.getElementById('classes-card').hidden").await;
    for (i, name) in CLASSES.split(", ").enumerate() {
        if i > 0 {
            click(c, "#class-add").await;
        }
        type_into(c, &format!("#class-editor li:nth-child({}) .class-name", i + 1), name).await;
    }
    click(c, "#class-save").await;
    until(c, "the first photo", "document.getElementById('canvas').dataset.ready").await;
    for i in 0..20 {
        let ready = c
            .execute("return document.getElementById('canvas').dataset.ready;", vec![])
            .await
            .unwrap();
        let canvas = c.find(Locator::Css("#canvas")).await.unwrap();
        c.execute("document.getElementById('label-status').textContent = '';", vec![])
            .await
            .unwrap();
        canvas.send_keys("l").await.unwrap();
        until(
            c,
            "the model's proposal",
            "document.getElementById('label-status').textContent.includes('proposed')",
        )
        .await;
        if i == 0 {
            // Corrected: a box the model missed, drawn as a crack (3).
            canvas.send_keys("b").await.unwrap();
            c.execute(&drag((0.05, 0.05), (0.2, 0.2)), vec![]).await.unwrap();
            canvas.send_keys("3").await.unwrap();
            canvas.send_keys("v").await.unwrap();
            shot(c, "journey-annotate").await;
        }
        canvas.send_keys("a").await.unwrap();
        if i < 19 {
            until(
                c,
                "the next photo",
                &format!("document.getElementById('canvas').dataset.ready !== {ready}"),
            )
            .await;
        } else {
            until(
                c,
                "the last save",
                "document.getElementById('label-status').textContent.startsWith('Saved')",
            )
            .await;
        }
    }
    let counts = api(base, admin, "/api/projects/journey/classes").await;
    assert_eq!(counts["counts"]["labelled"], 20, "{counts}");

    // A dataset of them, from the Datasets page.
    c.goto(&format!("{base}/datasets")).await.unwrap();
    type_into(c, "#b-project", "journey").await;
    click(c, "#browse button[type=submit]").await;
    until(
        c,
        "the 20 photos",
        "document.querySelectorAll('#images .thumb input').length === 20",
    )
    .await;
    c.execute(
        "document.querySelectorAll('#images .thumb input').forEach(b => b.click());",
        vec![],
    )
    .await
    .unwrap();
    type_into(c, "#d-name", "journey-parts").await;
    type_into(c, "#d-classes", CLASSES).await;
    click(c, "#create button[type=submit]").await;
    until(
        c,
        "the dataset",
        "document.querySelector('#datasets tbody').textContent.includes('journey-parts')",
    )
    .await;
    let ds = api(base, admin, "/api/datasets?project=journey").await;
    let id = ds["items"][0]["id"].as_i64().unwrap();

    // Train from our pretrained detector, register, promote.
    c.goto(&format!("{base}/training")).await.unwrap();
    until(
        c,
        "the dataset to choose",
        "[...document.querySelectorAll('#t-dataset option')].some(o => o.textContent.includes('journey-parts'))",
    )
    .await;
    c.execute(
        &format!(
            "const s = document.getElementById('t-dataset'); s.value = '{id}'; s.dispatchEvent(new Event('change')); \
             const b = document.getElementById('t-base'); b.value = 'bundled'; b.dispatchEvent(new Event('change'));"
        ),
        vec![],
    )
    .await
    .unwrap();
    for (field, value) in [("#t-epochs", "1"), ("#t-imgsz", "320"), ("#t-batch", "4")] {
        c.find(Locator::Css(field)).await.unwrap().clear().await.unwrap();
        type_into(c, field, value).await;
    }
    click(c, "#start button[type=submit]").await;
    let status = until_within(
        c,
        "the training to end",
        "/succeeded|failed|stopped/.test(document.getElementById('job-status').textContent) && \
         document.getElementById('job-status').textContent",
        Duration::from_secs(600),
    )
    .await;
    let jobs = api(base, admin, "/api/training").await;
    assert!(status.as_str().unwrap().contains("succeeded"), "{status}: {jobs}");
    assert_eq!(
        jobs["items"][0]["params"]["model"], "t",
        "the size follows the pretrained start"
    );
    click(c, "#register").await;
    until(
        c,
        "the registration",
        "document.getElementById('job-status').textContent.includes('Registered as detector@1')",
    )
    .await;
    super::models::promote_the_trained_version(p).await;
    let t = std::time::Instant::now();
    while api(base, admin, "/api/model-status").await["models"][0]["version"] != 1 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the promoted model was never served"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Live: the new model finds the trained defects on the camera's part, where they are.
    c.goto(&format!("{base}/live")).await.unwrap();
    click(c, "#start").await;
    let t = std::time::Instant::now();
    loop {
        let v = until(
            c,
            "detections of the trained classes",
            "Number(document.getElementById('overlay').dataset.detections || 0) > 0 && \
             [document.getElementById('overlay').dataset.classes, document.getElementById('overlay').dataset.answer]",
        )
        .await;
        let found: Vec<&str> = v[0].as_str().unwrap().split(',').collect();
        assert!(found.iter().all(|c| CLASSES.contains(c)), "{found:?}");
        let answer: serde_json::Value = serde_json::from_str(v[1].as_str().unwrap()).unwrap();
        let k = 640.0 / answer["width"].as_f64().unwrap() as f32;
        let boxes: Vec<[f32; 4]> = answer["boxes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let b: Vec<f32> = b
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32 * k)
                    .collect();
                [b[0], b[1], b[2], b[3]]
            })
            .collect();
        let best = boxes
            .iter()
            .flat_map(|b| truth.iter().map(|t| iou(*b, *t)))
            .fold(0.0f32, f32::max);
        if best >= 0.3 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no box on a true defect: boxes {boxes:?}, truth {truth:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    shot(c, "journey-live").await;
}
