//! `DetectionEvaluator::finish_coco` must reproduce pycocotools' COCOeval
//! (bbox) on a synthetic fixture: overall AP, AP50, AP75, AR, and for every
//! category its AP numbers and the whole precision[T][R] / recall[T] arrays,
//! at maxDets 100 and 10.
//!
//! The fixture and pycocotools' numbers are made by
//! `scripts/fixtures/coco_map.py` (see its header for the exact command).

use std::collections::BTreeMap;
use std::path::PathBuf;

use detective_ml::metrics::{CocoMetrics, DetectionEvaluator, GtBox, PredBox};
use serde::Deserialize;

const TOLERANCE: f64 = 1e-6;

#[derive(Deserialize)]
struct Fixture {
    images: Vec<Image>,
    categories: Vec<Category>,
    annotations: Vec<Annotation>,
    predictions: Vec<Prediction>,
}

#[derive(Deserialize)]
struct Image {
    id: u64,
}

#[derive(Deserialize)]
struct Category {
    id: u64,
}

#[derive(Deserialize)]
struct Annotation {
    image_id: u64,
    category_id: u64,
    bbox: [f64; 4],
}

#[derive(Deserialize)]
struct Prediction {
    image_id: u64,
    category_id: u64,
    bbox: [f64; 4],
    score: f64,
}

#[derive(Deserialize)]
struct Expected {
    stats: Vec<f64>,
    max_dets_100: AtMaxDets,
    max_dets_10: AtMaxDets,
}

#[derive(Deserialize)]
struct AtMaxDets {
    max_dets: usize,
    ap: f64,
    ap50: f64,
    ap75: f64,
    ar: f64,
    per_category: Vec<CategoryExpected>,
}

#[derive(Deserialize)]
struct CategoryExpected {
    category_id: u64,
    ap: f64,
    ap50: f64,
    ap75: f64,
    ar: f64,
    precision: Option<Vec<Vec<f64>>>,
    recall: Option<Vec<f64>>,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = fixtures().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// xywh (f64, as pycocotools reads it) to xyxy f32; the fixture is built so
/// that this is exact, which the test checks rather than assumes.
fn xyxy(b: [f64; 4]) -> [f32; 4] {
    let out = [b[0] as f32, b[1] as f32, (b[0] + b[2]) as f32, (b[1] + b[3]) as f32];
    for (v, w) in out.iter().zip([b[0], b[1], b[0] + b[2], b[1] + b[3]]) {
        assert_eq!(*v as f64, w, "fixture coordinate {w} is not exact in f32");
    }
    let back = [out[2] as f64 - out[0] as f64, out[3] as f64 - out[1] as f64];
    assert_eq!(back, [b[2], b[3]], "fixture width/height do not round-trip");
    out
}

/// The fixture in the evaluator: images in ascending id (pycocotools'
/// `params.imgIds`), categories in ascending id as class 0, 1, ...,
/// annotations and predictions in file order within an image.
fn evaluator(fixture: &Fixture) -> (DetectionEvaluator, Vec<u64>) {
    let mut cat_ids: Vec<u64> = fixture.categories.iter().map(|c| c.id).collect();
    cat_ids.sort_unstable();
    let class_of: BTreeMap<u64, usize> = cat_ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let mut image_ids: Vec<u64> = fixture.images.iter().map(|i| i.id).collect();
    image_ids.sort_unstable();
    let mut ev = DetectionEvaluator::new(cat_ids.len());
    for &image in &image_ids {
        let gts: Vec<GtBox> = fixture
            .annotations
            .iter()
            .filter(|a| a.image_id == image)
            .map(|a| GtBox {
                class: class_of[&a.category_id],
                bbox: xyxy(a.bbox),
            })
            .collect();
        let preds: Vec<PredBox> = fixture
            .predictions
            .iter()
            .filter(|p| p.image_id == image)
            .map(|p| {
                let confidence = p.score as f32;
                assert_eq!(confidence as f64, p.score, "fixture score is not exact in f32");
                PredBox {
                    class: class_of[&p.category_id],
                    bbox: xyxy(p.bbox),
                    confidence,
                }
            })
            .collect();
        ev.add_image(&preds, &gts);
    }
    (ev, cat_ids)
}

fn close(what: &str, got: f64, want: f64, worst: &mut f64) {
    let d = (got - want).abs();
    *worst = worst.max(d);
    assert!(d <= TOLERANCE, "{what}: ours {got}, pycocotools {want} (diff {d:e})");
}

fn compare(ours: &CocoMetrics, want: &AtMaxDets, cat_ids: &[u64]) -> f64 {
    let mut worst = 0.0f64;
    let tag = format!("maxDets {}", want.max_dets);
    assert_eq!(ours.max_dets, want.max_dets);
    close(&format!("{tag} AP"), ours.ap.unwrap_or(-1.0), want.ap, &mut worst);
    close(&format!("{tag} AP50"), ours.ap50.unwrap_or(-1.0), want.ap50, &mut worst);
    close(&format!("{tag} AP75"), ours.ap75.unwrap_or(-1.0), want.ap75, &mut worst);
    close(&format!("{tag} AR"), ours.ar.unwrap_or(-1.0), want.ar, &mut worst);
    let mut evaluated = 0;
    for cat in &want.per_category {
        let class = cat_ids
            .iter()
            .position(|&id| id == cat.category_id)
            .expect("category in fixture");
        let found = ours.per_class.iter().find(|c| c.class == class);
        if cat.ap < 0.0 {
            assert!(
                found.is_none(),
                "{tag}: category {} has no ground truth and must be skipped",
                cat.category_id
            );
            continue;
        }
        evaluated += 1;
        let c = found.unwrap_or_else(|| panic!("{tag}: category {} missing", cat.category_id));
        let name = format!("{tag} category {}", cat.category_id);
        close(&format!("{name} AP"), c.ap, cat.ap, &mut worst);
        close(&format!("{name} AP50"), c.ap50, cat.ap50, &mut worst);
        close(&format!("{name} AP75"), c.ap75, cat.ap75, &mut worst);
        close(&format!("{name} AR"), c.ar, cat.ar, &mut worst);
        if let Some(precision) = &cat.precision {
            assert_eq!(precision.len(), c.precision.len());
            for (t, (row, ours_row)) in precision.iter().zip(&c.precision).enumerate() {
                assert_eq!(row.len(), ours_row.len());
                for (r, (&p, &o)) in row.iter().zip(ours_row).enumerate() {
                    close(&format!("{name} precision[t={t}][r={r}]"), o, p, &mut worst);
                }
            }
        }
        if let Some(recall) = &cat.recall {
            for (t, (&want_r, &o)) in recall.iter().zip(&c.recall).enumerate() {
                close(&format!("{name} recall[t={t}]"), o, want_r, &mut worst);
            }
        }
    }
    assert_eq!(ours.per_class.len(), evaluated, "{tag}: evaluated categories");
    worst
}

#[test]
fn finish_coco_matches_pycocotools_on_the_fixture() {
    let fixture: Fixture = read("map_fixture.json");
    let expected: Expected = read("map_fixture.expected.json");
    let (ev, cat_ids) = evaluator(&fixture);

    let at100 = ev.finish_coco();
    let worst100 = compare(&at100, &expected.max_dets_100, &cat_ids);
    // The summary lines pycocotools prints: stats[0], [1], [2] and [8].
    let mut worst = worst100;
    close("stats[0]", at100.ap.unwrap_or(-1.0), expected.stats[0], &mut worst);
    close("stats[1]", at100.ap50.unwrap_or(-1.0), expected.stats[1], &mut worst);
    close("stats[2]", at100.ap75.unwrap_or(-1.0), expected.stats[2], &mut worst);
    close("stats[8]", at100.ar.unwrap_or(-1.0), expected.stats[8], &mut worst);

    let at10 = ev.finish_coco_with_max_dets(10);
    let worst10 = compare(&at10, &expected.max_dets_10, &cat_ids);
    assert!(
        (at10.ap.unwrap_or(0.0) - at100.ap.unwrap_or(0.0)).abs() > 1e-3,
        "the fixture should make maxDets matter"
    );
    eprintln!("largest difference to pycocotools: {:e}", worst.max(worst10));
}

#[test]
fn ultralytics_method_on_the_fixture_is_consistent_with_coco() {
    // Not a reference comparison (there is no Ultralytics here): structural
    // facts that hold for any correct implementation on this fixture.
    let fixture: Fixture = read("map_fixture.json");
    let (ev, cat_ids) = evaluator(&fixture);
    let names: Vec<String> = cat_ids.iter().map(|id| format!("cat{id}")).collect();
    let m = ev.finish(&names);
    let coco = ev.finish_coco_with_max_dets(usize::MAX);
    assert_eq!(m.images, fixture.images.len());
    assert_eq!(m.instances, fixture.annotations.len());
    // Same classes evaluated: those with ground truth.
    let ours: Vec<usize> = m.per_class.iter().map(|c| c.class).collect();
    let theirs: Vec<usize> = coco.per_class.iter().map(|c| c.class).collect();
    assert_eq!(ours, theirs);
    for c in &m.per_class {
        let want = fixture
            .annotations
            .iter()
            .filter(|a| cat_ids[c.class] == a.category_id)
            .count();
        assert_eq!(c.instances, want);
        assert!(c.map50 >= c.map75 && c.map75 >= 0.0 && c.map50 <= 1.0);
        assert!((c.map50_95 - c.ap.iter().sum::<f64>() / 10.0).abs() < 1e-12);
    }
    // Both use 101-point interpolation of the same PR curves; the matching
    // rules differ only in tie-breaking and the trapezoid vs step sampling,
    // so the numbers are close but not identical.
    let coco_ap50 = coco.ap50.unwrap_or(-1.0);
    assert!(
        (m.map50 - coco_ap50).abs() < 0.02,
        "Ultralytics mAP50 {} vs COCO AP50 {coco_ap50}",
        m.map50
    );
    assert!(m.map50 != coco_ap50);
    assert!((m.fitness - (0.1 * m.map50 + 0.9 * m.map50_95)).abs() < 1e-12);
    eprintln!(
        "Ultralytics: P {:.6} R {:.6} mAP50 {:.6} mAP50-95 {:.6}; COCO (all dets): AP50 {:.6} AP {:.6}",
        m.precision,
        m.recall,
        m.map50,
        m.map50_95,
        coco_ap50,
        coco.ap.unwrap_or(-1.0)
    );
}
