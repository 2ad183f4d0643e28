//! Roboflow in the browser: the admin sets the workspace, project and key in
//! Settings (the key checked against the stand-in), pulls a version from the
//! Datasets page, and trains on the pulled dataset from the Training page.

use super::helpers::{Page, api, click, shot, type_into, until};
use fantoccini::Locator;
use roboflow_standin::StandIn;
use serde_json::json;

/// Eight labelled synthetic parts (six train, two valid) uploaded to the
/// stand-in's project and generated as version 1, as a Roboflow user would.
pub(super) async fn fill(rf: &StandIn) {
    let cfg = detective_vision::synth::SynthConfig {
        width: 64,
        height: 64,
        defect_rate: 0.9,
        ..Default::default()
    };
    let names: Vec<&str> = cfg.classes.iter().map(|c| c.name()).collect();
    let labelmap: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (i.to_string(), json!(n)))
        .collect();
    let http = reqwest::Client::new();
    let key = rf.key().to_string();
    for i in 0..8u64 {
        let s = detective_vision::synth::generate(&cfg, 31, i).unwrap();
        let png = detective_vision::encode::encode_png(&s.image).unwrap();
        let form = reqwest::multipart::Form::new()
            .text("name", format!("rf{i}.png"))
            .text("split", if i < 6 { "train" } else { "valid" })
            .part(
                "file",
                reqwest::multipart::Part::bytes(png).file_name(format!("rf{i}.png")),
            );
        let up: serde_json::Value = http
            .post(format!("{}/dataset/steel-parts/upload?api_key={key}", rf.url))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = up["id"].as_str().unwrap().to_string();
        let r = http
            .post(format!(
                "{}/dataset/steel-parts/annotate/{id}?api_key={key}&name=rf{i}.txt",
                rf.url
            ))
            .json(&json!({"annotationFile": crate::common::synth_label_text(&s), "labelmap": labelmap}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = http
        .post(format!(
            "{}/{}/steel-parts/generate?api_key={key}",
            rf.url,
            rf.workspace()
        ))
        .json(&json!({"augmentation": {}, "preprocessing": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// As the admin, at the end.
pub(super) async fn pull_a_version_and_train_on_it(p: &Page, rf: &StandIn) {
    let Page { c, base, admin, .. } = p;
    c.goto(&format!("{base}/settings")).await.unwrap();
    until(
        c,
        "the Roboflow settings",
        "document.getElementById('rf-key').placeholder.length > 0",
    )
    .await;
    for (field, value) in [
        ("#rf-workspace", rf.workspace()),
        ("#rf-project", "steel-parts"),
        ("#rf-key", rf.key()),
        ("#rf-local", "rf-parts"),
    ] {
        c.find(Locator::Css(field)).await.unwrap().clear().await.unwrap();
        type_into(c, field, value).await;
    }
    click(c, "#roboflow button[type=submit]").await;
    until(
        c,
        "the settings saved",
        "document.getElementById('rf-status').textContent === 'Saved.'",
    )
    .await;
    let placeholder = c
        .execute("return document.getElementById('rf-key').placeholder;", vec![])
        .await
        .unwrap();
    assert!(
        !placeholder.as_str().unwrap().contains(rf.key()),
        "the key is shown masked: {placeholder}"
    );
    click(c, "#rf-check").await;
    until(
        c,
        "the key checked",
        "document.getElementById('rf-status').textContent.includes('The key works')",
    )
    .await;

    c.goto(&format!("{base}/datasets")).await.unwrap();
    until(
        c,
        "the Roboflow versions",
        "document.querySelector('#rf-versions button[data-version=\"1\"]')",
    )
    .await;
    click(c, "#rf-versions button[data-version=\"1\"]").await;
    until(
        c,
        "the pull to finish",
        "document.querySelector('#rf-jobs li[data-status=\"succeeded\"]')",
    )
    .await;
    until(
        c,
        "the pulled dataset listed",
        "document.querySelector('#datasets tbody').textContent.includes('roboflow-steel-parts-v1')",
    )
    .await;
    c.execute("document.getElementById('rf-card').scrollIntoView();", vec![])
        .await
        .unwrap();
    shot(c, "roboflow-pull").await;
    let pulled = api(base, admin, "/api/datasets?project=rf-parts").await;
    let ds = &pulled["items"][0];
    assert_eq!(ds["versions"][0]["note"], "roboflow:acme/steel-parts/1", "{pulled}");
    assert_eq!(ds["versions"][0]["n_images"], 8, "{pulled}");
    let id = ds["id"].as_i64().unwrap();

    // Train on it from the Training page.
    c.goto(&format!("{base}/training")).await.unwrap();
    until(
        c,
        "the pulled dataset to choose",
        "[...document.querySelectorAll('#t-dataset option')].some(o => o.textContent.includes('roboflow-steel-parts-v1'))",
    )
    .await;
    c.execute(
        &format!(
            "const s = document.getElementById('t-dataset'); s.value = '{id}'; s.dispatchEvent(new Event('change')); \
             document.getElementById('t-model').value = 't';"
        ),
        vec![],
    )
    .await
    .unwrap();
    for (field, value) in [("#t-epochs", "1"), ("#t-imgsz", "64"), ("#t-batch", "4")] {
        c.find(Locator::Css(field)).await.unwrap().clear().await.unwrap();
        type_into(c, field, value).await;
    }
    click(c, "#start button[type=submit]").await;
    until(
        c,
        "the queued job",
        "document.getElementById('start-status').textContent.includes('queued')",
    )
    .await;
    until(
        c,
        "the job on the pulled dataset to succeed",
        "document.getElementById('job-status').textContent.includes('succeeded')",
    )
    .await;
    let jobs = api(base, admin, "/api/training").await;
    let job = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["dataset_id"] == id)
        .cloned();
    assert_eq!(
        job.as_ref().map(|j| j["status"].clone()),
        Some(json!("succeeded")),
        "{jobs}"
    );
}
