//! Retention through the real binary (`detective db prune` with `[retention]`):
//! frames older than `frames_days` lose their picture, predictions older than
//! `predictions_days` go with theirs, and a frame waiting in the labeling queue
//! stays whatever its age.

use std::collections::{BTreeMap, HashMap};

use detective_core::{BBox, LogBatch, LoggedDetection, LoggedPrediction, UncertainBand};
use detective_store::{Db, Objects, predictions};

use crate::common::{detective, run, stderr, stdout};

fn uuid(i: u32) -> String {
    format!("00000000-0000-4000-8000-{i:012x}")
}

/// Prediction `i`: one detection at `conf` (0.55 is uncertain: it queues), or none.
fn pred(i: u32, conf: Option<f32>) -> LoggedPrediction {
    LoggedPrediction {
        id: uuid(i),
        captured_at: "2026-12-07T08:00:00Z".into(),
        model_version: "detector@1".into(),
        features: BTreeMap::new(),
        detections: conf
            .map(|c| LoggedDetection {
                class: 0,
                name: "scratch".into(),
                confidence: c,
                bbox: BBox::from([1.0, 2.0, 10.0, 20.0]),
                uncertain: None,
            })
            .into_iter()
            .collect(),
        sampled: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_old_frames_then_old_predictions_and_keeps_queued_frames() {
    let d = tempfile::tempdir().unwrap();
    let o = run(detective(d.path()).args(["--data-dir", "a", "db", "migrate"]));
    assert!(o.status.success(), "{}", stderr(&o));
    // 1: queued (uncertain), 100 days old; 2: 40 days old; 3: today; 4: 100 days old
    let db = Db::open_sqlite_file(&d.path().join("a/detective.db")).await.unwrap();
    let objects = Objects::local(&d.path().join("a/objects")).unwrap();
    let mut keys = HashMap::new();
    for i in 1..=4 {
        let key = format!("projects/default/frames/cam/2026-12-07/{}.jpg", uuid(i));
        objects.put(&key, bytes::Bytes::from_static(b"jpeg")).await.unwrap();
        keys.insert(uuid(i), key);
    }
    let batch = LogBatch {
        camera_id: "cam".into(),
        project: None,
        stats: None,
        predictions: vec![pred(1, Some(0.55)), pred(2, None), pred(3, None), pred(4, None)],
    };
    predictions::ingest(&db, &batch, &UncertainBand::default(), &keys)
        .await
        .unwrap();
    for (i, days) in [(1, 100), (2, 40), (4, 100)] {
        sqlx::query("UPDATE prediction_logs SET received_at = received_at - $1 WHERE id = $2")
            .bind(days * 86_400_000i64)
            .bind(uuid(i))
            .execute(db.pool())
            .await
            .unwrap();
    }
    db.close().await;

    std::fs::write(
        d.path().join("detective.toml"),
        "[retention]\npredictions_days = 90\nframes_days = 30\n",
    )
    .unwrap();
    let o = run(detective(d.path()).args(["--config", "detective.toml", "--data-dir", "a", "db", "prune", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        (&v["predictions"], &v["frames"], &v["frames_failed"]),
        (&1.into(), &2.into(), &0.into()),
        "{v}"
    );

    let db = Db::open_sqlite_file(&d.path().join("a/detective.db")).await.unwrap();
    let frame_of = |i| {
        let db = &db;
        async move { predictions::get(db, &uuid(i)).await.map(|p| p.frame_key.is_some()) }
    };
    assert!(frame_of(1).await.unwrap(), "a queued frame is kept, however old");
    assert!(
        !frame_of(2).await.unwrap(),
        "40 days: the picture goes, the prediction stays"
    );
    assert!(frame_of(3).await.unwrap(), "today's frame stays");
    assert!(frame_of(4).await.is_err(), "100 days: the prediction goes");
    let left = objects.list("projects/default/frames").await.unwrap();
    assert_eq!(left, [keys[&uuid(1)].clone(), keys[&uuid(3)].clone()]);
    db.close().await;

    // forever on both: nothing to do, said plainly
    std::fs::write(
        d.path().join("forever.toml"),
        "[retention]\npredictions_days = 0\nframes_days = 0\n",
    )
    .unwrap();
    let o = run(detective(d.path()).args(["--config", "forever.toml", "--data-dir", "a", "db", "prune"]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("forever"), "{}", stderr(&o));
}
