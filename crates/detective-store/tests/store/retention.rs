//! Retention's selections and deletions on both databases: what is expired,
//! what a labelled, queued or skipped frame keeps, and that a batch removes
//! only what is still expired.

use std::collections::{BTreeMap, HashMap};

use detective_core::{BBox, LabelStatus, LogBatch, LoggedDetection, LoggedPrediction, UncertainBand};
use detective_store::labeling::{self, LabelBox, QueueOrder};
use detective_store::{Db, predictions, retention};

fn uuid(i: u32) -> String {
    format!("00000000-0000-4000-8000-{i:012x}")
}

/// Prediction `i`: uncertain (queued) or without detections.
fn pred(i: u32, queued: bool) -> LoggedPrediction {
    LoggedPrediction {
        id: uuid(i),
        captured_at: "2026-12-07T08:00:00Z".into(),
        model_version: "detector@1".into(),
        features: BTreeMap::new(),
        detections: queued
            .then(|| LoggedDetection {
                class: 0,
                name: "scratch".into(),
                confidence: 0.55,
                bbox: BBox::from([1.0, 2.0, 10.0, 20.0]),
                uncertain: None,
            })
            .into_iter()
            .collect(),
        sampled: None,
    }
}

fn ids(e: &[retention::Expired]) -> Vec<String> {
    e.iter().map(|x| x.id.clone()).collect()
}

on_both!(
    retention_removes_what_nobody_needs_and_keeps_labelled_and_queued_frames,
    |db: Db| async move {
        // 1 pending, 2 labelled, 3 skipped (all queued); 4 with a frame, 5 without
        let batch = LogBatch {
            camera_id: "cam".into(),
            project: None,
            stats: None,
            predictions: vec![
                pred(1, true),
                pred(2, true),
                pred(3, true),
                pred(4, false),
                pred(5, false),
            ],
        };
        let keys: HashMap<String, String> = (1..=4).map(|i| (uuid(i), format!("frames/{i}.jpg"))).collect();
        predictions::ingest(&db, &batch, &UncertainBand::default(), &keys)
            .await
            .unwrap();
        let (items, _) = labeling::list(&db, LabelStatus::Pending, None, QueueOrder::Oldest, None, 10)
            .await
            .unwrap();
        let item = |i: u32| items.iter().find(|q| q.prediction_id == uuid(i)).unwrap().id;
        let boxes = [LabelBox {
            class: 0,
            name: Some("scratch".into()),
            bbox: [1.0, 2.0, 10.0, 20.0],
        }];
        labeling::label(&db, item(2), &boxes, false, "ann").await.unwrap();
        labeling::skip(&db, item(3)).await.unwrap();

        // nothing was received before the epoch
        assert!(retention::expired_predictions(&db, 0, 10).await.unwrap().is_empty());
        let later = detective_store::clock::now_ms() + 1_000;
        let frames = retention::expired_frames(&db, later, 10).await.unwrap();
        assert_eq!(ids(&frames), [uuid(3), uuid(4)]);
        // a batch of one, then the rest
        let gone = retention::forget_frames(&db, &ids(&frames)[..1]).await.unwrap();
        assert_eq!(gone[0].frame_key.as_deref(), Some("frames/3.jpg"));
        let gone = retention::forget_frames(&db, &ids(&retention::expired_frames(&db, later, 10).await.unwrap()))
            .await
            .unwrap();
        assert_eq!(ids(&gone), [uuid(4)]);
        assert!(retention::expired_frames(&db, later, 10).await.unwrap().is_empty());
        assert_eq!(predictions::get(&db, &uuid(4)).await.unwrap().frame_key, None);
        assert!(predictions::get(&db, &uuid(1)).await.unwrap().frame_key.is_some());

        let expired = retention::expired_predictions(&db, later, 10).await.unwrap();
        assert_eq!(ids(&expired), [uuid(3), uuid(4), uuid(5)]);
        // a labelled or pending prediction named by mistake is not deleted
        let mut asked = ids(&expired);
        asked.extend([uuid(1), uuid(2)]);
        let gone = retention::delete_predictions(&db, &asked).await.unwrap();
        assert_eq!(gone.len(), 3);
        assert_eq!(predictions::stats(&db).await.unwrap().predictions_total, 2);
        let skipped = labeling::list(&db, LabelStatus::Skipped, None, QueueOrder::Oldest, None, 10)
            .await
            .unwrap()
            .0;
        assert!(skipped.is_empty(), "the skipped item went with its prediction");
        assert_eq!(labeling::reviewed(&db, item(2)).await.unwrap()["labeled_by"], "ann");
        assert!(retention::delete_predictions(&db, &[]).await.unwrap().is_empty());
    }
);
