//! Analytics' aggregation in the database, on both: predictions counted per
//! hour, camera and class set, and the confidence histogram's bins at their
//! edges — the same bins as `detective_core::insights::confidence_bin`.

use std::collections::{BTreeMap, HashMap};

use detective_core::insights::confidence_bin;
use detective_core::{BBox, LogBatch, LoggedDetection, LoggedPrediction, UncertainBand};
use detective_store::{Db, analytics, predictions};

const H: i64 = 3_600_000;

/// Prediction `i` at `at` with one detection per `(class, confidence)`.
fn pred(i: u32, at: &str, dets: &[(&str, f32)]) -> LoggedPrediction {
    LoggedPrediction {
        id: format!("00000000-0000-4000-8000-{i:012x}"),
        captured_at: at.into(),
        model_version: "detector@1".into(),
        features: BTreeMap::new(),
        detections: dets
            .iter()
            .map(|(name, confidence)| LoggedDetection {
                class: 0,
                name: (*name).into(),
                confidence: *confidence,
                bbox: BBox::from([1.0, 2.0, 10.0, 20.0]),
                uncertain: None,
            })
            .collect(),
        sampled: None,
    }
}

async fn ingest(db: &Db, camera: &str, predictions: Vec<LoggedPrediction>) {
    let batch = LogBatch {
        camera_id: camera.into(),
        project: None,
        stats: None,
        predictions,
    };
    predictions::ingest(db, &batch, &UncertainBand::default(), &HashMap::new())
        .await
        .unwrap();
}

on_both!(
    analytics_counts_predictions_per_hour_camera_and_class_set_in_the_database,
    |db: Db| async move {
        let t0 = detective_store::clock::parse_rfc3339_ms("2026-12-07T08:00:00Z").unwrap();
        ingest(
            &db,
            "l1-cam1",
            vec![
                pred(1, "2026-12-07T08:10:00Z", &[("scratch", 0.9)]),
                pred(2, "2026-12-07T08:20:00Z", &[("scratch", 0.95)]),
                pred(3, "2026-12-07T08:59:59.999Z", &[]),
                pred(4, "2026-12-07T09:00:00Z", &[("spot", 0.3), ("scratch", 0.8)]),
                // outside the range asked for
                pred(5, "2026-12-07T10:00:00Z", &[("scratch", 0.9)]),
            ],
        )
        .await;
        ingest(
            &db,
            "l1-cam2",
            vec![pred(6, "2026-12-07T08:30:00Z", &[("scratch", 0.97)])],
        )
        .await;

        let (mut cells, cut) = analytics::cells(&db, t0, t0 + 2 * H, 100).await.unwrap();
        assert!(!cut);
        cells.sort_by(|a, b| (a.hour_ms, &a.camera_id, &a.classes).cmp(&(b.hour_ms, &b.camera_id, &b.classes)));
        let got: Vec<(i64, &str, Vec<&str>, u64, u64)> = cells
            .iter()
            .map(|c| {
                let classes = c.classes.iter().map(String::as_str).collect();
                (c.hour_ms - t0, c.camera_id.as_str(), classes, c.total, c.defective)
            })
            .collect();
        // Default band: ≥ 0.75 is a defect.
        assert_eq!(
            got,
            [
                (0, "l1-cam1", vec![], 1, 0),
                (0, "l1-cam1", vec!["scratch"], 2, 2),
                (0, "l1-cam2", vec!["scratch"], 1, 1),
                (H, "l1-cam1", vec!["scratch", "spot"], 1, 1),
            ]
        );
        let (first, cut) = analytics::cells(&db, t0, t0 + 2 * H, 2).await.unwrap();
        assert!(cut && first.len() == 2, "a capped read says it was cut");
    }
);

on_both!(
    the_confidence_histogram_bins_like_the_rule_in_core,
    |db: Db| async move {
        let confidences = [0.0f32, 0.049, 0.05, 0.5, 0.55, 0.949, 0.95, 0.999, 1.0];
        let preds: Vec<LoggedPrediction> = confidences
            .iter()
            .enumerate()
            .map(|(i, c)| pred(i as u32, "2026-12-07T08:00:00Z", &[("scratch", *c)]))
            .chain([pred(100, "2026-12-07T08:00:00Z", &[])])
            .collect();
        ingest(&db, "cam", preds).await;
        let t0 = detective_store::clock::parse_rfc3339_ms("2026-12-07T08:00:00Z").unwrap();
        let hist = analytics::confidence_histogram(&db, t0, t0 + H).await.unwrap();
        let mut want = vec![0u64; 20];
        for c in confidences {
            // the database holds the f32 confidence widened to f64
            want[confidence_bin(f64::from(c))] += 1;
        }
        assert_eq!(hist, want, "a prediction without detections is not in the histogram");
        assert_eq!(hist.iter().sum::<u64>(), confidences.len() as u64);
    }
);
