//! The dashboard in a real browser: `detective serve` on a free port with a
//! temporary SQLite file and object folder, predictions logged by real edge
//! agents, and headless Debian Chromium driven through chromedriver (WebDriver).
//! Every page is screenshotted to `target/screenshots/`.
//!
//! One test, one server and one browser session: the pages are checked in the
//! order below, one module per page (a page visited twice has a function per
//! visit), with the shared steps in `helpers`. What a page leaves for a later
//! one (the metrics read on the overview, the predictions total, the model
//! status after the promotion) is passed along explicitly; who is signed in is
//! the browser's own state.

mod analytics;
mod annotate;
mod check;
mod datasets;
mod drift;
mod health;
mod helpers;
mod inspections;
mod journey;
mod labeling;
mod live;
mod login;
mod models;
mod overview;
mod roboflow;
mod segmentation;
mod settings;
mod style;
mod training;

use crate::common::{detective, free_port, key_of, start_server_with, stderr};
use helpers::{Guard, Page, browser, defect_clip, log_frames};

/// A viewer's, an admin's and a device's key on the storage under `data`.
fn keys(dir: &std::path::Path, data: &str) -> (String, String, String) {
    (
        key_of(dir, data, "viewer"),
        key_of(dir, data, "admin"),
        key_of(dir, data, "device"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_works_in_chromium_against_real_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cloud");
    let data = data.to_str().unwrap();
    let (viewer, admin, device) = keys(dir.path(), data);
    // A small segmentation run for the Segmentation lab (DATA_DIR/runs/seg1).
    for args in [
        vec![
            "synth",
            "--task",
            "segment",
            "--count",
            "20",
            "--size",
            "64x48",
            "--out",
            "segdata",
            "--seed",
            "3",
            "--split",
            "0.7,0.3,0",
        ],
        vec![
            "train",
            "--task",
            "segment",
            "--data",
            "segdata",
            "--epochs",
            "2",
            "--imgsz",
            "64",
            "--batch",
            "4",
            "--out",
            "cloud/runs/seg1",
        ],
    ] {
        let o = detective(dir.path()).args(&args).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // A Roboflow stand-in holding one version to pull.
    let rf = roboflow_standin::StandIn::start(roboflow_standin::Options::default())
        .await
        .unwrap();
    roboflow::fill(&rf).await;
    let port = free_port();
    let _server = Guard(start_server_with(
        dir.path(),
        data,
        port,
        &[
            ("DETECTIVE_SERVER__ROBOFLOW_URL", rf.url.as_str()),
            // Insights written by rule, so the page's sentences are known.
            ("DETECTIVE_LLM__PROVIDER", "off"),
        ],
    ));
    let base = format!("http://127.0.0.1:{port}");
    // Two cameras with real predictions and kept frames.
    log_frames(dir.path(), port, &device, "line1-cam1", 12, 3);
    log_frames(dir.path(), port, &device, "line2-cam1", 6, 4);
    let clip = dir.path().join("parts.mjpeg");
    defect_clip(&clip);
    let (_driver, c) = browser(&clip).await;

    let p = Page {
        c,
        base,
        port,
        dir: dir.path().to_path_buf(),
        viewer,
        admin,
        device,
    };

    // As nobody, then as a viewer.
    login::refuses_strangers(&p).await;
    let metrics = overview::figures_for_a_viewer(&p).await;
    style::fonts_from_the_binary_and_icons_by_family(&p).await;
    let now_total = inspections::filter_export_and_follow(&p, &metrics).await;
    health::components_and_agents(&p).await;
    analytics::figures_and_charts(&p, now_total).await;
    models::empty_for_a_viewer(&p).await;
    live::edge_cameras_for_a_viewer(&p).await;
    // As the admin.
    login::sign_out_then_in_as_admin(&p).await;
    datasets::upload_and_create(&p).await;
    training::train_and_register(&p).await;
    let status = models::promote_the_trained_version(&p).await;
    labeling::draw_submit_and_skip(&p, &status).await;
    datasets::seed_from_the_labeling_queue(&p).await;
    annotate::classes_boxes_polygons_and_review(&p).await;
    check::an_image_from_disk_then_added_to_a_project(&p).await;
    drift::check_and_show(&p).await;
    training::retraining_conditions(&p).await;
    segmentation::compare_epochs(&p).await;
    settings::keys_and_thresholds(&p).await;
    settings::zones_and_class_thresholds(&p).await;
    settings::sampling_reaches_the_queue(&p).await;
    settings::an_alert_rule_fires_and_is_listed(&p).await;
    live::camera_streams_for_an_admin(&p).await;
    models::register_an_ultralytics_checkpoint(&p).await;
    roboflow::pull_a_version_and_train_on_it(&p, &rf).await;
    // Last: it leaves the browser signed in as a user account.
    settings::an_account_made_here_signs_in_with_its_password(&p).await;
    p.c.close().await.unwrap();
}

/// A new user's whole journey, on a server and browser of its own (see `journey`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_goes_from_photos_to_detections_on_the_live_page() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cloud");
    let data = data.to_str().unwrap();
    let (viewer, admin, device) = keys(dir.path(), data);
    let port = free_port();
    let _server = Guard(start_server_with(dir.path(), data, port, &[]));
    let clip = dir.path().join("part.mjpeg");
    let truth = journey::one_part_clip(&clip);
    let (_driver, c) = browser(&clip).await;
    let p = Page {
        c,
        base: format!("http://127.0.0.1:{port}"),
        port,
        dir: dir.path().to_path_buf(),
        viewer,
        admin,
        device,
    };
    helpers::login(&p.c, &p.base, &p.admin).await;
    journey::from_photos_to_detections_on_live(&p, &truth).await;
    p.c.close().await.unwrap();
}
