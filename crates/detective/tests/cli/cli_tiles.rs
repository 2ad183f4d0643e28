//! `--tile` through the real binary: a thin synthetic crack (1–2 px wide) on a
//! 2048 × 2048 part is found when the image runs as native-scale windows and lost
//! when it is squashed into the model's input, and so are the detector's small
//! defects on such parts; bad tile options are refused.

use std::path::Path;

use crate::common::{detective, json_stdout, run, stderr};

fn synth(dir: &Path, out: &str, args: &[&str]) {
    let o = run(detective(dir)
        .args(["synth", "--task", "segment", "--classes", "crack", "--out", out])
        .args(args));
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_thin_crack_on_a_2048_px_part_is_found_by_tiles_and_lost_when_squashed() {
    let d = tempfile::tempdir().unwrap();
    // 128² parts with cracks, learnt from 64-px windows at their native scale
    synth(
        d.path(),
        "data",
        &[
            "--count",
            "48",
            "--size",
            "128x128",
            "--seed",
            "11",
            "--split",
            "0.8,0.2,0",
            "--defect-rate",
            "0.9",
        ],
    );
    let train = "train --task segment --data data --tile 64 --patch-defect 0.8 --defect-share 0.8 \
                 --dice batch --epochs 12 --batch 8 --out run";
    let o = run(detective(d.path()).args(train.split_whitespace()));
    assert!(o.status.success(), "{}", stderr(&o));
    // one 2048 × 2048 part with one crack
    synth(
        d.path(),
        "big",
        &[
            "--count",
            "1",
            "--size",
            "2048x2048",
            "--seed",
            "12",
            "--split",
            "0,0,1",
            "--defect-rate",
            "1",
            "--max-defects",
            "1",
        ],
    );
    let val = |tile: &str| {
        json_stdout(&run(detective(d.path()).args([
            "val",
            "--model",
            "run/weights/best.bpk",
            "--data",
            "big",
            "--split",
            "test",
            "--tile",
            tile,
            "--json",
        ])))["dice_pixels"]
            .as_f64()
            .unwrap()
    };
    // a model trained on tiles tiles by default (auto); 0 squashes 2048 px into 64
    let (tiled, squashed) = (val("auto"), val("0"));
    assert!(tiled >= 0.5, "tiled Dice over pixels {tiled} (measured 0.88)");
    assert!(squashed < 0.1, "squashed Dice over pixels {squashed} (measured 0.0)");
}

#[test]
fn small_defects_on_2048_px_parts_are_found_by_the_detector_s_tiles_and_lost_when_squashed() {
    let d = tempfile::tempdir().unwrap();
    // synthetic parts of 2048 × 2048 whose defects keep the size they have on the
    // 320-px parts the bundled detector learnt (a few px to a few dozen)
    let o = run(detective(d.path()).args([
        "synth",
        "--count",
        "4",
        "--size",
        "2048x2048",
        "--seed",
        "5",
        "--split",
        "0,0,1",
        "--out",
        "big",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let val = |tile: &str| {
        json_stdout(&run(detective(d.path()).args([
            "val", "--model", "bundled", "--data", "big", "--split", "test", "--tile", tile, "--json",
        ])))
    };
    // the bundled model saw 320-px parts: auto tiles a 2048-px part with 320-px windows
    let (tiled, squashed) = (val("auto"), val("0"));
    let recall = |v: &serde_json::Value| v["recall"].as_f64().unwrap();
    println!(
        "recall tiled {:.3} (mAP50 {:.3}, {:.0} ms an image), squashed {:.3} (mAP50 {:.3}, {:.0} ms)",
        recall(&tiled),
        tiled["map50"].as_f64().unwrap(),
        tiled["ms_per_image"].as_f64().unwrap(),
        recall(&squashed),
        squashed["map50"].as_f64().unwrap(),
        squashed["ms_per_image"].as_f64().unwrap()
    );
    assert!(recall(&tiled) > recall(&squashed) + 0.15, "{tiled}\n{squashed}");
}

#[test]
fn bad_tile_options_are_refused_before_any_work() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("x.png"), b"not read").unwrap();
    for (bad, says) in [
        (["--tile", "8"], "tile"),
        (["--tile", "wide"], "tile"),
        (["--overlap", "0.95"], "overlap"),
    ] {
        for cmd in [
            vec!["predict", "--source", "x.png"],
            vec!["val", "--model", "bundled", "--data", "nowhere"],
        ] {
            let o = run(detective(d.path()).args(&cmd).args(bad));
            assert!(!o.status.success(), "{cmd:?} {bad:?}");
            assert!(stderr(&o).contains(says), "{cmd:?} {bad:?}: {}", stderr(&o));
        }
    }
}
