//! The Check page: an image from disk checked by the served detector with a
//! camera's rules, nothing stored, then added to a project for annotation.

use super::helpers::{Page, api, click, shot, until};
use fantoccini::Locator;

/// As the admin, after the Annotate page.
pub(super) async fn an_image_from_disk_then_added_to_a_project(p: &Page) {
    let Page {
        c, base, admin, dir, ..
    } = p;
    let cfg = detective_vision::synth::SynthConfig {
        width: 640,
        height: 480,
        defect_rate: 1.0,
        ..Default::default()
    };
    let sample = detective_vision::synth::generate(&cfg, 7, 3).unwrap();
    let path = dir.join("check-me.jpg");
    std::fs::write(&path, detective_vision::encode::encode_jpeg(&sample.image, 90).unwrap()).unwrap();
    let before = api(base, admin, "/api/images?project=checked").await["items"]
        .as_array()
        .unwrap()
        .len();

    c.goto(&format!("{base}/check")).await.unwrap();
    until(
        c,
        "the model list",
        "document.querySelectorAll('#c-model option').length >= 2",
    )
    .await;
    until(
        c,
        "the camera list",
        "document.querySelectorAll('#c-camera option').length >= 2",
    )
    .await;
    c.execute("document.getElementById('c-camera').selectedIndex = 1;", vec![])
        .await
        .unwrap();
    c.find(Locator::Css("#c-file"))
        .await
        .unwrap()
        .send_keys(&path.display().to_string())
        .await
        .unwrap();
    let n: usize = until(
        c,
        "the model's answer",
        "document.getElementById('c-canvas').dataset.detections",
    )
    .await
    .as_str()
    .unwrap()
    .parse()
    .unwrap();
    assert!(n >= 1, "the served detector finds the defects of a 640×480 part");
    let summary = c.find(Locator::Css("#c-summary")).await.unwrap().text().await.unwrap();
    assert!(summary.contains("detection"), "{summary}");
    let after = api(base, admin, "/api/images?project=checked").await["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, before, "checking stores nothing");
    c.execute("document.getElementById('c-result').scrollIntoView();", vec![])
        .await
        .unwrap();
    shot(c, "check").await;

    c.find(Locator::Css("#c-project")).await.unwrap().clear().await.unwrap();
    super::helpers::type_into(c, "#c-project", "checked").await;
    click(c, "#c-add-btn").await;
    let id = until(
        c,
        "the image added",
        "document.getElementById('c-status').dataset.image",
    )
    .await;
    let images = api(base, admin, "/api/images?project=checked&status=unlabelled").await;
    let ids: Vec<String> = images["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].to_string())
        .collect();
    assert!(ids.contains(&id.as_str().unwrap().to_string()), "{images}");
    let link = c
        .find(Locator::Css("#c-annotate"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap();
    assert_eq!(link.as_deref(), Some("/annotate?project=checked"));
}
