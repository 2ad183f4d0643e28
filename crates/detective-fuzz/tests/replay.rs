//! The short fuzzing pass of every test run: each target meets every input of
//! its committed corpus (`fuzz/corpus/<target>/`, what AFL++ kept for new
//! coverage) and every input that once crashed it (`fuzz/regressions/<target>/`),
//! and returns without panicking.

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_survives_its_corpus_and_every_past_crash() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut replayed = Vec::new();
    for (name, target) in detective_fuzz::TARGETS {
        let corpus = inputs(&fuzz.join("corpus").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name} holds no input");
        let regressions = inputs(&fuzz.join("regressions").join(name));
        for file in corpus.iter().chain(&regressions) {
            let data = std::fs::read(file).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name} panicked on {}", file.display());
        }
        replayed.push(format!("{name}: {} + {}", corpus.len(), regressions.len()));
    }
    eprintln!("replayed {}", replayed.join(", "));
}

#[test]
fn each_target_is_found_by_its_name() {
    for (name, _) in detective_fuzz::TARGETS {
        assert!(detective_fuzz::target(name).is_some());
    }
    assert!(detective_fuzz::target("nothing").is_none());
}
