//! `detective dataset info|check|split|convert|import` through the real binary, on
//! the shared real datasets and on generated ones.

use crate::common::{detective, run, shared_data, stderr, stdout};

#[test]
fn info_reports_the_shared_dataset_counts() {
    let d = tempfile::tempdir().unwrap();
    let o = run(detective(d.path())
        .args(["dataset", "info", "--json"])
        .arg(shared_data("NEU-DET")));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let images: Vec<u64> = v["splits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["images"].as_u64().unwrap())
        .collect();
    assert_eq!(images, [1260, 270, 270]);
    let boxes: u64 = v["splits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["instances"].as_u64().unwrap())
        .sum();
    assert_eq!(boxes, 4189);

    let o = run(detective(d.path())
        .args(["dataset", "info"])
        .arg(shared_data("MagneticTile")));
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.contains("1338 images") && text.contains("blowhole") && text.contains("small"),
        "{text}"
    );
}

#[test]
fn check_exits_one_on_problems_and_zero_on_a_clean_dataset() {
    let d = tempfile::tempdir().unwrap();
    let o = run(detective(d.path())
        .args(["dataset", "check"])
        .arg(shared_data("MagneticTile")));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = run(detective(d.path())
        .args(["dataset", "check"])
        .arg(shared_data("NEU-DET")));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("crazing_120.txt:4: duplicate label line"),
        "{}",
        stdout(&o)
    );
    let o = run(detective(d.path()).args(["dataset", "check", "/nonexistent"]));
    assert!(
        !o.status.success() && stderr(&o).contains("not found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn split_and_coco_round_trip_through_the_command_line() {
    let d = tempfile::tempdir().unwrap();
    let run_ok = |args: &[&str]| {
        let o = run(detective(d.path()).args(args));
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    run_ok(&[
        "synth", "--count", "60", "--size", "64x64", "--out", "src", "--seed", "2",
    ]);
    let out = run_ok(&[
        "dataset", "split", "src", "--train", "0.5", "--val", "0.25", "--test", "0.25", "--seed", "1", "--out", "re",
    ]);
    assert!(out.contains("train") && out.contains("re"), "{out}");
    run_ok(&["dataset", "check", "re"]);
    // same seed → same split
    run_ok(&[
        "dataset", "split", "src", "--train", "0.5", "--val", "0.25", "--test", "0.25", "--seed", "1", "--out", "re2",
    ]);
    let list = |p: &str| {
        let mut v: Vec<String> = std::fs::read_dir(d.path().join(p).join("images/val"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(list("re"), list("re2"));

    let out = run_ok(&[
        "dataset",
        "convert",
        "src",
        "--to",
        "coco",
        "--split",
        "train",
        "--out",
        "train.json",
    ]);
    assert!(out.contains("categories"), "{out}");
    let images_dir = d.path().join("src").to_string_lossy().into_owned();
    run_ok(&[
        "dataset",
        "convert",
        "train.json",
        "--to",
        "yolo",
        "--images",
        &images_dir,
        "--out",
        "back",
    ]);
    for e in std::fs::read_dir(d.path().join("src/labels/train")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap();
        let a = std::fs::read_to_string(&p).unwrap();
        let b = std::fs::read_to_string(d.path().join("back/labels/train/images/train").join(name)).unwrap();
        assert_eq!(a, b, "{}", p.display());
    }
}

#[test]
fn import_stores_a_checked_set_as_a_dataset_and_refuses_a_set_with_problems_whole() {
    let d = tempfile::tempdir().unwrap();
    let o = run(detective(d.path()).args([
        "synth", "--count", "12", "--size", "64x48", "--out", "data", "--seed", "4",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let import = |args: &[&str]| {
        run(detective(d.path())
            .args(["--data-dir", "store", "dataset", "import"])
            .args(args))
    };
    let o = import(&["data", "--name", "parts", "--project", "steel"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("12 images (0 already in the project)"),
        "{}",
        stdout(&o)
    );
    // the name is taken in the project; the same images again are the project's already
    let o = import(&["data", "--name", "parts", "--project", "steel"]);
    assert!(
        !o.status.success() && stderr(&o).contains("already has a dataset named"),
        "{}",
        stderr(&o)
    );
    let o = import(&[
        "data",
        "--name",
        "parts-again",
        "--project",
        "steel",
        "--note",
        "same pictures",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("12 images (12 already in the project)"),
        "{}",
        stdout(&o)
    );
    // NEU-DET has a duplicated label line: refused with the checker's finding, nothing stored
    let neu = shared_data("NEU-DET");
    let o = import(&[neu.to_str().unwrap(), "--name", "neu", "--project", "neu"]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("duplicate label line") && stderr(&o).contains("nothing was imported"),
        "{}",
        stderr(&o)
    );
    assert!(
        !d.path().join("store/objects/projects/neu").exists(),
        "no image of a refused set is stored"
    );
    let o = import(&["data", "--name", "../up", "--project", "steel"]);
    assert!(!o.status.success(), "a dataset name is one path segment");
    // a set with masks/ becomes a segment dataset that keeps them
    let o = run(detective(d.path()).args([
        "synth", "--task", "segment", "--count", "10", "--size", "64x48", "--out", "seg", "--seed", "5",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = import(&["seg", "--name", "tiles", "--project", "tiles"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("imported segment dataset")
            && stdout(&o).contains("10 images (0 already in the project), 10 masks"),
        "{}",
        stdout(&o)
    );
    let masks = std::fs::read_dir(d.path().join("store/objects/projects/tiles/masks"))
        .unwrap()
        .count();
    assert!(masks > 0, "the masks are stored beside the images");
}
