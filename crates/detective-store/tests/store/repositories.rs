//! Every repository function against SQLite and against the machine's
//! PostgreSQL (a fresh schema per test), through the same code.

use std::collections::{BTreeMap, HashMap, HashSet};

use detective_core::{BBox, LogBatch, LoggedDetection, LoggedPrediction, Role, Stage, Task, UncertainBand};
use detective_store::datasets::{self, DatasetItem, VersionChange};
use detective_store::images::{self, ImageFilter, NewImage};
use detective_store::predictions::{self, LogFilter};
use detective_store::{Db, StoreError, api_keys, models};

fn uuid(i: u32) -> String {
    format!("00000000-0000-4000-8000-{i:012x}")
}

fn pred(i: u32, minute: u32, confs: &[(&str, f32)]) -> LoggedPrediction {
    LoggedPrediction {
        id: uuid(i),
        captured_at: format!("2026-11-24T08:{minute:02}:00Z"),
        model_version: "detector@1".into(),
        features: BTreeMap::from([("brightness".to_string(), 0.5)]),
        detections: confs
            .iter()
            .enumerate()
            .map(|(k, (name, c))| LoggedDetection {
                class: k as u32,
                name: name.to_string(),
                confidence: *c,
                bbox: BBox::from([1.0, 2.0, 10.0, 20.0]),
                uncertain: None,
            })
            .collect(),
        sampled: None,
    }
}

fn batch(camera: &str, preds: Vec<LoggedPrediction>) -> LogBatch {
    LogBatch {
        camera_id: camera.into(),
        project: None,
        stats: Some(detective_core::wire::AgentStats {
            fps: 29.5,
            inference_ms: 6.1,
            spool_percent: Some(12.5),
            dropped_frames: Some(3),
            sent_at: Some(detective_store::clock::to_rfc3339(
                detective_store::clock::now_ms() + 3_600_000,
            )),
        }),
        predictions: preds,
    }
}

on_both!(migrations_run_once, |db: Db| async move {
    assert_eq!(db.migrate().await.unwrap(), 0, "a second run applies nothing");
    db.ping().await.unwrap();
});

on_both!(api_keys_authenticate_until_revoked, |db: Db| async move {
    let name = "line 1 agent'; DROP TABLE api_keys;--";
    let (key, secret) = api_keys::create(&db, name, Role::Device).await.unwrap();
    assert_eq!(key.name, name);
    assert!(secret.starts_with("dd_") && secret.len() == 67);
    let found = api_keys::authenticate(&db, &secret).await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), found.role), (key.id.as_str(), Role::Device));
    assert!(
        api_keys::authenticate(&db, &secret.replace("dd_", "dd_0")[..67])
            .await
            .unwrap()
            .is_none()
    );
    assert!(api_keys::authenticate(&db, "' OR 1=1 --").await.unwrap().is_none());
    assert_eq!(api_keys::count_active(&db).await.unwrap(), 1);
    api_keys::revoke(&db, &key.id).await.unwrap();
    assert!(api_keys::authenticate(&db, &secret).await.unwrap().is_none());
    assert!(matches!(
        api_keys::revoke(&db, &key.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(api_keys::list(&db).await.unwrap().len(), 1);
});

on_both!(
    a_repeated_batch_stores_nothing_new_and_answers_the_same,
    |db: Db| async move {
        let band = UncertainBand::default();
        let b = batch(
            "line1-cam2",
            vec![
                pred(1, 0, &[("scratch", 0.9)]),
                pred(2, 1, &[("spot", 0.55)]),
                pred(3, 2, &[]),
            ],
        );
        let frames = HashMap::from([(
            uuid(2),
            "projects/default/frames/line1-cam2/2026-11-24/x.jpg".to_string(),
        )]);
        let first = predictions::ingest(&db, &b, &band, &frames).await.unwrap();
        assert_eq!(
            (first.accepted, first.defective, first.uncertain, first.frames),
            (3, 1, 1, 1)
        );
        let again = predictions::ingest(&db, &b, &band, &frames).await.unwrap();
        assert_eq!(first, again);
        let stats = predictions::stats(&db).await.unwrap();
        assert_eq!(stats.predictions_total, 3);
        assert_eq!(stats.uncertain_queue, 1);
        assert_eq!(stats.cameras.len(), 1);
        assert_eq!(stats.cameras[0].fps, Some(29.5));
        assert_eq!(stats.cameras[0].spool_percent, Some(12.5));
        let skew = stats.cameras[0].clock_skew_s.unwrap();
        assert!((3590.0..=3600.0).contains(&skew), "an agent an hour ahead: {skew}");
        let row = predictions::get(&db, &uuid(2)).await.unwrap();
        assert!(row.uncertain && !row.defective);
        assert!(row.detections[0].uncertain);
        assert_eq!(
            row.frame_key.as_deref(),
            Some("projects/default/frames/line1-cam2/2026-11-24/x.jpg")
        );
        assert_eq!(row.captured_at, "2026-11-24T08:01:00.000Z");
    }
);

on_both!(a_batch_with_one_bad_prediction_writes_nothing, |db: Db| async move {
    let mut bad = pred(2, 0, &[("spot", 0.5)]);
    bad.detections[0].bbox = BBox::from([10.0, 0.0, 1.0, 5.0]);
    let b = batch("cam", vec![pred(1, 0, &[]), bad]);
    let err = predictions::ingest(&db, &b, &UncertainBand::default(), &HashMap::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("predictions[1]"), "{err}");
    assert_eq!(predictions::stats(&db).await.unwrap().predictions_total, 0);
});

on_both!(inspection_logs_filter_and_page_without_gaps, |db: Db| async move {
    let band = UncertainBand::default();
    let mut preds_a = Vec::new();
    let mut preds_b = Vec::new();
    for i in 0..25u32 {
        let confs: Vec<(&str, f32)> = match i % 3 {
            0 => vec![("scratch", 0.9)],
            1 => vec![("spot", 0.5)],
            _ => vec![],
        };
        // Two predictions share each minute: the id breaks the tie.
        let p = pred(i, i / 2, &confs);
        if i % 2 == 0 { preds_a.push(p) } else { preds_b.push(p) }
    }
    predictions::ingest(&db, &batch("cam-a", preds_a), &band, &HashMap::new())
        .await
        .unwrap();
    predictions::ingest(&db, &batch("cam-b", preds_b), &band, &HashMap::new())
        .await
        .unwrap();

    let all = LogFilter::default();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (rows, next) = predictions::query(&db, &all, cursor.as_deref(), 10).await.unwrap();
        seen.extend(rows.iter().map(|r| (r.captured_at.clone(), r.id.clone())));
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(seen.iter().map(|s| &s.1).collect::<HashSet<_>>().len(), 25);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, id descending within a time");

    let count = |f: LogFilter| {
        let db = db.clone();
        async move { predictions::query(&db, &f, None, 1000).await.unwrap().0.len() }
    };
    assert_eq!(
        count(LogFilter {
            camera: Some("cam-a".into()),
            ..Default::default()
        })
        .await,
        13
    );
    assert_eq!(
        count(LogFilter {
            class: Some("scratch".into()),
            ..Default::default()
        })
        .await,
        9
    );
    assert_eq!(
        count(LogFilter {
            uncertain: Some(true),
            ..Default::default()
        })
        .await,
        8
    );
    assert_eq!(
        count(LogFilter {
            defective: Some(true),
            ..Default::default()
        })
        .await,
        9
    );
    assert_eq!(
        count(LogFilter {
            defective: Some(false),
            ..Default::default()
        })
        .await,
        16
    );
    assert_eq!(
        count(LogFilter {
            min_confidence: Some(0.4),
            max_confidence: Some(0.6),
            ..Default::default()
        })
        .await,
        8
    );
    let t = |m: u32| detective_store::clock::parse_rfc3339_ms(&format!("2026-11-24T08:{m:02}:00Z")).unwrap();
    assert_eq!(
        count(LogFilter {
            from_ms: Some(t(2)),
            to_ms: Some(t(4)),
            ..Default::default()
        })
        .await,
        4
    );
    for evil in ["%", "_", "scratch' OR '1'='1", "\\"] {
        assert_eq!(
            count(LogFilter {
                class: Some(evil.into()),
                ..Default::default()
            })
            .await,
            0,
            "{evil}"
        );
    }
    assert!(predictions::query(&db, &all, Some("not-a-cursor"), 10).await.is_err());
});

fn new_image(project: &str, n: u8, tags: &[&str]) -> NewImage {
    let sha = format!("{:064x}", n);
    NewImage {
        project: project.into(),
        object_key: detective_store::keys::image(project, &sha, "png"),
        sha256: sha,
        filename: format!("img{n}.png"),
        content_type: "image/png".into(),
        width: 64,
        height: 48,
        bytes: 1000,
        split: None,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        label: Some("0 0.5 0.5 0.2 0.2".into()),
        mask_key: None,
    }
}

on_both!(
    images_are_deduplicated_per_project_and_listed_by_tag,
    |db: Db| async move {
        let (a, dup) = images::insert(&db, &new_image("steel", 1, &["line1"])).await.unwrap();
        assert!(!dup);
        let (a2, dup) = images::insert(&db, &new_image("steel", 1, &["other"])).await.unwrap();
        assert!(dup);
        assert_eq!(a.id, a2.id);
        assert_eq!(a2.tags, vec!["line1".to_string()], "a duplicate changes nothing");
        let (_, dup) = images::insert(&db, &new_image("pcb", 1, &[])).await.unwrap();
        assert!(!dup, "another project keeps its own copy");
        images::insert(&db, &new_image("steel", 2, &["line2"])).await.unwrap();
        let f = ImageFilter {
            project: Some("steel".into()),
            tag: Some("line1".into()),
            split: None,
            status: None,
        };
        let (rows, next) = images::list(&db, &f, None, 10).await.unwrap();
        assert_eq!((rows.len(), next), (1, None));
        let (rows, next) = images::list(&db, &ImageFilter::default(), None, 2).await.unwrap();
        assert_eq!(rows.len(), 2);
        let (rest, _) = images::list(&db, &ImageFilter::default(), next.map(|n| n.parse().unwrap()), 2)
            .await
            .unwrap();
        assert_eq!(rest.len(), 1);
        assert!(matches!(
            images::get_many(&db, &[a.id, 999]).await,
            Err(StoreError::NotFound { .. })
        ));
    }
);

on_both!(dataset_versions_are_immutable, |db: Db| async move {
    let mut ids = Vec::new();
    for n in 1..=4 {
        ids.push(images::insert(&db, &new_image("steel", n, &[])).await.unwrap().0.id);
    }
    let other = images::insert(&db, &new_image("pcb", 9, &[])).await.unwrap().0.id;
    let item = |id: i64, split: &str| DatasetItem {
        image_id: id,
        split: split.into(),
        label: None,
        mask_key: None,
        label_rev: None,
    };
    let classes = vec!["scratch".to_string()];
    let ds = datasets::create(
        &db,
        "steel-v",
        "steel",
        Task::Detect,
        &classes,
        &[item(ids[0], "train"), item(ids[1], "val")],
        None,
    )
    .await
    .unwrap();
    assert_eq!(ds.versions.len(), 1);
    assert_eq!(
        ds.versions[0].splits,
        BTreeMap::from([("train".into(), 1), ("val".into(), 1)])
    );
    let dup = datasets::create(
        &db,
        "steel-v",
        "steel",
        Task::Detect,
        &classes,
        &[item(ids[2], "train")],
        None,
    )
    .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    let foreign = datasets::create(&db, "x", "steel", Task::Detect, &classes, &[item(other, "train")], None).await;
    assert!(matches!(foreign, Err(StoreError::Invalid(_))));
    let bad_split = datasets::create(
        &db,
        "y",
        "steel",
        Task::Detect,
        &classes,
        &[item(ids[2], "holdout")],
        None,
    )
    .await;
    assert!(matches!(bad_split, Err(StoreError::Invalid(_))));

    let change = VersionChange {
        upsert: vec![
            item(ids[2], "test"),
            DatasetItem {
                label: Some("0 0.5 0.5 0.1 0.1".into()),
                ..item(ids[1], "train")
            },
        ],
        remove: vec![ids[0]],
        labels: BTreeMap::from([(ids[2], Some("0 0.2 0.2 0.1 0.1\n".to_string()))]),
        note: Some("relabelled".into()),
    };
    let ds = datasets::add_version(&db, ds.id, &change).await.unwrap();
    assert_eq!(ds.versions.iter().map(|v| v.version).collect::<Vec<_>>(), vec![1, 2]);
    let v1 = datasets::items(&db, ds.id, 1).await.unwrap();
    let v2 = datasets::items(&db, ds.id, 2).await.unwrap();
    assert_eq!(
        v1.iter().map(|(i, _)| i.image_id).collect::<Vec<_>>(),
        vec![ids[0], ids[1]]
    );
    assert_eq!(v1[1].0.split, "val", "version 1 is unchanged");
    assert_eq!(
        v2.iter()
            .map(|(i, _)| (i.image_id, i.split.as_str()))
            .collect::<Vec<_>>(),
        vec![(ids[1], "train"), (ids[2], "test")]
    );
    assert_eq!(v2[1].0.label.as_deref(), Some("0 0.2 0.2 0.1 0.1\n"));
    let stray = VersionChange {
        labels: BTreeMap::from([(ids[3], None)]),
        ..Default::default()
    };
    assert!(matches!(
        datasets::add_version(&db, ds.id, &stray).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(datasets::items(&db, ds.id, 3).await.is_err());
    assert_eq!(datasets::list(&db, Some("steel")).await.unwrap().len(), 1);
    assert!(datasets::list(&db, Some("pcb")).await.unwrap().is_empty());
    assert!(matches!(
        datasets::get(&db, 12345).await,
        Err(StoreError::NotFound { .. })
    ));
});

on_both!(a_dataset_version_keeps_the_mask_it_was_made_with, |db: Db| async move {
    let img = NewImage {
        mask_key: Some("projects/steel/masks/aa.png".into()),
        ..new_image("steel", 1, &[])
    };
    let (row, _) = images::insert(&db, &img).await.unwrap();
    assert_eq!(row.mask_key.as_deref(), Some("projects/steel/masks/aa.png"));
    let item = DatasetItem {
        image_id: row.id,
        split: "train".into(),
        label: None,
        mask_key: row.mask_key.clone(),
        label_rev: None,
    };
    let ds = datasets::create(
        &db,
        "tiles",
        "steel",
        Task::Segment,
        &["crack".into()],
        std::slice::from_ref(&item),
        None,
    )
    .await
    .unwrap();
    // A new mask for the image; a relabelling version copies the old item's mask,
    // one that adds the image again takes the new mask.
    let row = images::set_mask(&db, row.id, Some("projects/steel/masks/bb.png"))
        .await
        .unwrap();
    assert_eq!(row.mask_key.as_deref(), Some("projects/steel/masks/bb.png"));
    let relabel = VersionChange {
        labels: BTreeMap::from([(row.id, Some("0 0.5 0.5 0.1 0.1\n".to_string()))]),
        ..Default::default()
    };
    datasets::add_version(&db, ds.id, &relabel).await.unwrap();
    let again = VersionChange {
        upsert: vec![DatasetItem {
            mask_key: row.mask_key.clone(),
            ..item
        }],
        ..Default::default()
    };
    datasets::add_version(&db, ds.id, &again).await.unwrap();
    let mask_of = |v: Vec<(DatasetItem, images::ImageRow)>| v[0].0.mask_key.clone().unwrap();
    assert_eq!(
        mask_of(datasets::items(&db, ds.id, 1).await.unwrap()),
        "projects/steel/masks/aa.png"
    );
    assert_eq!(
        mask_of(datasets::items(&db, ds.id, 2).await.unwrap()),
        "projects/steel/masks/aa.png"
    );
    assert_eq!(
        mask_of(datasets::items(&db, ds.id, 3).await.unwrap()),
        "projects/steel/masks/bb.png"
    );
    let row = images::set_mask(&db, row.id, None).await.unwrap();
    assert_eq!(row.mask_key, None);
    assert!(matches!(
        images::set_mask(&db, 9999, None).await,
        Err(StoreError::NotFound { .. })
    ));
});

on_both!(one_production_version_per_model, |db: Db| async move {
    let m = serde_json::json!({"map50": 0.7});
    let p = serde_json::json!({});
    let v1 = models::add_version(&db, "detector", Task::Detect, &m, &p, Some("models/detector/v1"), None)
        .await
        .unwrap();
    let v2 = models::add_version(&db, "detector", Task::Detect, &m, &p, Some("models/detector/v2"), None)
        .await
        .unwrap();
    assert_eq!((v1.version, v2.version, v1.stage.as_str()), (1, 2, "None"));
    assert!(
        models::add_version(&db, "detector", Task::Segment, &m, &p, Some("k"), None)
            .await
            .is_err()
    );
    models::set_stage(&db, "detector", 1, Stage::Production).await.unwrap();
    models::set_stage(&db, "detector", 2, Stage::Production).await.unwrap();
    let prod = models::production(&db).await.unwrap();
    assert_eq!(prod.len(), 1);
    assert_eq!(prod[0].version, 2);
    assert_eq!(
        models::get_version(&db, "detector", 1).await.unwrap().stage,
        Stage::Archived
    );
    assert!("Gold".parse::<Stage>().is_err(), "no stage Gold can be set");
    // Rollback brings back the version that was Production before, and archives the current one.
    let (restored, archived) = models::rollback(&db, "detector").await.unwrap();
    assert_eq!((restored.version, restored.stage.as_str()), (1, "Production"));
    assert_eq!((archived.version, archived.stage.as_str()), (2, "Archived"));
    let (restored, _) = models::rollback(&db, "detector").await.unwrap();
    assert_eq!(restored.version, 2, "a second rollback undoes the first");
    // one Production per task: a segmenter's sits beside the detector's, and
    // promoting another detector archives this one
    models::add_version(
        &db,
        "segmenter",
        Task::Segment,
        &m,
        &p,
        Some("models/segmenter/v1"),
        None,
    )
    .await
    .unwrap();
    models::set_stage(&db, "segmenter", 1, Stage::Production).await.unwrap();
    let prod = models::production(&db).await.unwrap();
    let names: Vec<(&str, Task)> = prod.iter().map(|v| (v.name.as_str(), v.task)).collect();
    assert_eq!(names, vec![("detector", Task::Detect), ("segmenter", Task::Segment)]);
    models::add_version(
        &db,
        "detector-b",
        Task::Detect,
        &m,
        &p,
        Some("models/detector-b/v1"),
        None,
    )
    .await
    .unwrap();
    models::set_stage(&db, "detector-b", 1, Stage::Production)
        .await
        .unwrap();
    let prod = models::production(&db).await.unwrap();
    let names: Vec<&str> = prod.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, vec!["detector-b", "segmenter"]);
    assert_eq!(
        models::get_version(&db, "detector", 2).await.unwrap().stage,
        Stage::Archived
    );
    // and back: the detector's version 2 again, detector-b archived
    models::set_stage(&db, "detector", 2, Stage::Production).await.unwrap();
    assert_eq!(
        models::get_version(&db, "detector-b", 1).await.unwrap().stage,
        Stage::Archived
    );
    let v3 = models::add_version(&db, "detector", Task::Detect, &m, &p, None, None)
        .await
        .unwrap();
    assert_eq!(v3.artifact_key, "models/detector/v3", "the standard key by default");
    models::add_version(&db, "solo", Task::Detect, &m, &p, None, None)
        .await
        .unwrap();
    assert!(matches!(
        models::rollback(&db, "solo").await,
        Err(StoreError::Conflict(_))
    ));
    models::set_stage(&db, "solo", 1, Stage::Production).await.unwrap();
    assert!(
        matches!(models::rollback(&db, "solo").await, Err(StoreError::Conflict(_))),
        "nothing before it"
    );
    assert_eq!(models::list(&db).await.unwrap()[0].versions, 3);
    assert!(models::versions(&db, "nope").await.is_err());
});

on_both!(
    two_saves_of_an_images_labels_from_the_same_revision_keep_one_and_refuse_the_other,
    |db: Db| async move {
        use detective_store::annotations::{self, NewRevision};
        let (img, _) = images::insert(&db, &new_image("steel", 40, &[])).await.unwrap();
        let rev = |label: &str| NewRevision {
            base: None,
            status: "labelled".into(),
            shapes: "{}".into(),
            label: label.into(),
            mask_key: None,
            brush_key: None,
            author: "t".into(),
        };
        let (a, b) = (rev("0 0.5 0.5 0.1 0.1\n"), rev("1 0.5 0.5 0.1 0.1\n"));
        let (ra, rb) = tokio::join!(annotations::save(&db, img.id, &a), annotations::save(&db, img.id, &b));
        let err = match (ra, rb) {
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => e,
            other => panic!("one save kept, one refused: {other:?}"),
        };
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        let row = images::get(&db, img.id).await.unwrap();
        assert_eq!((row.label_rev, row.label_status.as_str()), (Some(1), "labelled"));
        assert_eq!(annotations::history(&db, img.id).await.unwrap().len(), 1);
    }
);

on_both!(
    sampled_frames_queue_with_their_reason_and_review_finds_the_misses,
    |db: Db| async move {
        use detective_core::sampling::Reason;
        use detective_store::labeling::{self, LabelBox, Misses, QueueOrder};
        let sampled = |i, minute, confs: &[(&str, f32)], r| {
            let mut p = pred(i, minute, confs);
            p.sampled = Some(r);
            p
        };
        let b = batch(
            "line1-cam2",
            vec![
                // The random share: no detection at all.
                sampled(1, 0, &[], Reason::Random),
                sampled(2, 1, &[], Reason::Random),
                // Too many detections, each confident.
                sampled(3, 2, &[("spot", 0.9), ("spot", 0.95), ("dent", 0.8)], Reason::MoreThan),
                // Uncertain and sampled: queued as uncertain.
                sampled(4, 3, &[("spot", 0.55)], Reason::Class),
                // Neither: not queued.
                pred(5, 4, &[]),
            ],
        );
        let s = predictions::ingest(&db, &b, &UncertainBand::default(), &HashMap::new())
            .await
            .unwrap();
        assert_eq!((s.accepted, s.uncertain, s.sampled), (5, 1, 3));
        let (items, _) = labeling::list(
            &db,
            detective_core::LabelStatus::Pending,
            None,
            QueueOrder::Margin,
            None,
            50,
        )
        .await
        .unwrap();
        let got: Vec<(String, &str)> = items
            .iter()
            .map(|i| (i.prediction_id.clone(), i.reason.as_str()))
            .collect();
        // Least certain first: the uncertain frame, then the sampled ones (oldest first among equals).
        assert_eq!(
            got,
            vec![
                (uuid(4), "uncertain"),
                (uuid(1), "random"),
                (uuid(2), "random"),
                (uuid(3), "more_than"),
            ]
        );
        let pending = detective_core::LabelStatus::Pending;
        for (reason, want) in [
            (Some("sampled"), 3),
            (Some("random"), 2),
            (Some("uncertain"), 1),
            (None, 4),
        ] {
            let (only, _) = labeling::list(&db, pending, reason, QueueOrder::Oldest, None, 50)
                .await
                .unwrap();
            assert_eq!(only.len(), want, "{reason:?}");
        }
        // The filter holds across pages too.
        let (first, next) = labeling::list(&db, pending, Some("random"), QueueOrder::Margin, None, 1)
            .await
            .unwrap();
        let (second, _) = labeling::list(&db, pending, Some("random"), QueueOrder::Margin, next.as_deref(), 1)
            .await
            .unwrap();
        assert_eq!(
            (first[0].prediction_id.clone(), second[0].prediction_id.clone()),
            (uuid(1), uuid(2))
        );
        let id = |p: String| items.iter().find(|i| i.prediction_id == p).unwrap().id;
        let a_box = [LabelBox {
            class: 0,
            name: Some("spot".into()),
            bbox: [1.0, 1.0, 9.0, 9.0],
        }];
        // Sample 1 showed a defect the model did not see; sample 2 was clean.
        labeling::label(&db, id(uuid(1)), &a_box, false, "ann").await.unwrap();
        labeling::label(&db, id(uuid(2)), &[], true, "ann").await.unwrap();
        // The crowded frame was called defective, the uncertain one unsure:
        // neither counts as a frame the model called clean.
        labeling::label(&db, id(uuid(3)), &a_box, false, "ann").await.unwrap();
        labeling::label(&db, id(uuid(4)), &a_box, false, "ann").await.unwrap();
        let day = detective_store::clock::parse_rfc3339_ms("2026-11-24T00:00:00Z").unwrap();
        let m = labeling::misses(&db, day, day + 86_400_000).await.unwrap();
        assert_eq!(
            m,
            vec![Misses {
                camera_id: "line1-cam2".into(),
                reason: "random".into(),
                reviewed_clean: 2,
                missed: 1,
            }]
        );
        // Another day holds none.
        assert!(
            labeling::misses(&db, day + 86_400_000, day + 2 * 86_400_000)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

on_both!(
    the_mlflow_outbox_keeps_order_holds_back_behind_a_waiting_call_and_stays_bounded,
    |db: Db| async move {
        use detective_store::mlflow_outbox as ob;
        let body = |n: i64| serde_json::json!({ "n": n });
        for n in 0..3 {
            assert!(ob::enqueue(&db, "job:1", "run.metrics", &body(n), 4).await.unwrap());
        }
        assert!(ob::enqueue(&db, "model:m", "model.version", &body(3), 4).await.unwrap());
        // Full: the fifth is dropped, nothing else changes.
        assert!(!ob::enqueue(&db, "job:1", "run.metrics", &body(4), 4).await.unwrap());
        let now = detective_store::clock::now_ms();
        let first = ob::next_due(&db, now).await.unwrap().unwrap();
        assert_eq!(
            (first.kind.as_str(), first.body["n"].as_i64()),
            ("run.metrics", Some(0))
        );
        // It must wait: nothing behind it is due either.
        ob::retry_at(&db, first.id, now + 60_000, "MLflow: connection refused")
            .await
            .unwrap();
        assert!(ob::next_due(&db, now).await.unwrap().is_none());
        let again = ob::next_due(&db, now + 60_000).await.unwrap().unwrap();
        assert_eq!((again.id, again.attempts), (first.id, 1));
        ob::delivered(&db, again.id).await.unwrap();
        // Refused for good: kept with the reason, passed over.
        let second = ob::next_due(&db, now).await.unwrap().unwrap();
        ob::failed(&db, second.id, "MLflow: 400 bad metric").await.unwrap();
        assert_eq!(ob::next_due(&db, now).await.unwrap().unwrap().body["n"], 2);
        let job = ob::counts(&db, Some("job:1")).await.unwrap();
        assert_eq!((job.pending, job.delivered, job.failed), (1, 1, 1));
        assert_eq!(job.last_error.as_deref(), Some("MLflow: 400 bad metric"));
        assert_eq!(ob::counts(&db, None).await.unwrap().pending, 2);
        // Links, replaced in place.
        assert_eq!(ob::link(&db, "run:job:1").await.unwrap(), None);
        ob::set_link(&db, "run:job:1", "a").await.unwrap();
        ob::set_link(&db, "run:job:1", "b").await.unwrap();
        assert_eq!(ob::link(&db, "run:job:1").await.unwrap().as_deref(), Some("b"));
        // One holder at a time; a lease that ran out passes on.
        assert!(ob::take_lease(&db, "a", now + 60_000).await.unwrap());
        assert!(!ob::take_lease(&db, "b", now + 60_000).await.unwrap());
        assert!(ob::take_lease(&db, "a", now + 120_000).await.unwrap());
        assert!(ob::take_lease(&db, "a", now - 1).await.unwrap());
        assert!(ob::take_lease(&db, "b", now + 60_000).await.unwrap());
    }
);
