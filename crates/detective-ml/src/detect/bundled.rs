//! The default detector that ships inside the binary.
//!
//! `models/detector-t-320.*` (repository root) is a `t`-scale YOLOv8 trained by our
//! own trainer on `detective synth` metal-defect images; `models/README.md` has the
//! command that reproduces it and its accuracy. Its files are compiled into the
//! binary, so `predict` (and later the server and the demo) work offline from the
//! first run without a model argument. On first use they are written once to a
//! cache folder (`$DETECTIVE_CACHE_DIR`, else `~/.cache/defect-detective`) under a
//! content hash, and loaded from there like any checkpoint: ONNX Runtime through
//! the `.onnx`, Burn through the `.bpk` when the runtime library is missing.

use std::path::{Path, PathBuf};

use crate::MlError;

/// The name that selects the bundled model where a model path is expected.
pub const BUNDLED: &str = "bundled";

/// File stem of the bundled model.
pub const STEM: &str = "detector-t-320";

const ONNX: &[u8] = include_bytes!("../../../../models/detector-t-320.onnx");
const BPK: &[u8] = include_bytes!("../../../../models/detector-t-320.bpk");
const JSON: &[u8] = include_bytes!("../../../../models/detector-t-320.json");

/// Writes `files` (in order) into `dir` unless every one is already there with its
/// size: how compiled-in models reach the cache folder.
pub(crate) fn unpack(dir: &Path, files: &[(&Path, &[u8])]) -> Result<(), MlError> {
    let complete = files
        .iter()
        .all(|(p, b)| std::fs::metadata(p).is_ok_and(|m| m.len() == b.len() as u64));
    if complete {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| MlError::Model {
        path: dir.display().to_string(),
        reason: format!("creating the model cache: {e}"),
    })?;
    for (p, b) in files {
        write_atomic(p, b)?;
    }
    Ok(())
}

/// The cache root: `$DETECTIVE_CACHE_DIR`, else `$HOME/.cache/defect-detective`,
/// else the system temporary folder.
pub fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("DETECTIVE_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache/defect-detective"),
        None => std::env::temp_dir().join("defect-detective"),
    }
}

/// The name a model is served and logged under: `bundled`, or the file's stem.
pub fn model_name(model: &Path) -> String {
    if is_bundled(model) {
        BUNDLED.to_string()
    } else {
        model
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    }
}

/// Whether `model` names the bundled model.
pub fn is_bundled(model: &Path) -> bool {
    model.as_os_str() == BUNDLED
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), MlError> {
    let err = |e: std::io::Error| MlError::Model {
        path: path.display().to_string(),
        reason: format!("writing the bundled model: {e}"),
    };
    // Unique per call: two threads of one process may unpack the model at once.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Path of the bundled checkpoint (`.bpk`, with its `.json` and `.onnx` beside it),
/// written under `root` if not there yet.
pub fn checkpoint_in(root: &Path) -> Result<PathBuf, MlError> {
    let dir = root.join("models").join(format!(
        "{STEM}-{:016x}",
        detective_core::fnv::fnv1a(&[ONNX, BPK, JSON])
    ));
    let bpk = dir.join(format!("{STEM}.bpk"));
    let onnx = dir.join(format!("{STEM}.onnx"));
    let json = dir.join(format!("{STEM}.json"));
    // The ONNX last: a checkpoint whose export is older is ignored as stale.
    unpack(
        &dir,
        &[(json.as_path(), JSON), (bpk.as_path(), BPK), (onnx.as_path(), ONNX)],
    )?;
    keep_export_fresh(&bpk, &onnx)?;
    Ok(bpk)
}

/// Makes the ONNX at least as new as the checkpoint. Two unpackers at once
/// (threads or processes) can leave the ONNX older: a renamed file keeps the
/// time it was written, and the other's checkpoint may be written in between.
/// A loader would then take the export for stale and run Burn instead of ONNX
/// Runtime.
fn keep_export_fresh(bpk: &Path, onnx: &Path) -> Result<(), MlError> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(o), Some(w)) = (modified(onnx), modified(bpk))
        && o < w
    {
        let err = |e: std::io::Error| MlError::Model {
            path: onnx.display().to_string(),
            reason: format!("refreshing the bundled export: {e}"),
        };
        let f = std::fs::OpenOptions::new().write(true).open(onnx).map_err(err)?;
        f.set_modified(std::time::SystemTime::now().max(w)).map_err(err)?;
    }
    Ok(())
}

/// Path of the bundled checkpoint in the default cache root.
pub fn checkpoint() -> Result<PathBuf, MlError> {
    checkpoint_in(&cache_root())
}

/// `model` itself, or the bundled checkpoint when `model` is `bundled`.
pub fn resolve(model: &Path) -> Result<PathBuf, MlError> {
    if is_bundled(model) {
        checkpoint()
    } else {
        Ok(model.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Detector;

    #[test]
    fn bundled_model_is_small_and_loads_from_a_fresh_cache() {
        let _serial = crate::burn_test_lock();
        assert!(ONNX.len() + BPK.len() + JSON.len() <= 15 * 1024 * 1024);
        let root = tempfile::tempdir().unwrap();
        let bpk = checkpoint_in(root.path()).unwrap();
        assert!(bpk.is_file() && bpk.with_extension("onnx").is_file() && bpk.with_extension("json").is_file());
        // Second call reuses the files.
        let before = std::fs::metadata(&bpk).unwrap().modified().unwrap();
        assert_eq!(checkpoint_in(root.path()).unwrap(), bpk);
        assert_eq!(std::fs::metadata(&bpk).unwrap().modified().unwrap(), before);
        // The checkpoint loads on Burn (no runtime library needed) with its classes.
        let meta = crate::checkpoint::load_meta(&bpk).unwrap();
        assert_eq!(meta.names, ["scratch", "spot", "crack", "dent"]);
        assert_eq!(meta.imgsz, 320);
        let _ = Detector::load(&bpk, None, 1).unwrap();
    }

    #[test]
    fn an_export_left_older_than_the_checkpoint_is_made_fresh_again() {
        let root = tempfile::tempdir().unwrap();
        let bpk = checkpoint_in(root.path()).unwrap();
        let onnx = bpk.with_extension("onnx");
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let f = std::fs::OpenOptions::new().write(true).open(&onnx).unwrap();
        f.set_modified(old).unwrap();
        drop(f);
        checkpoint_in(root.path()).unwrap();
        let modified = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
        assert!(modified(&onnx) >= modified(&bpk), "the export counts as fresh again");
    }

    #[test]
    fn only_the_word_bundled_selects_it() {
        let _serial = crate::burn_test_lock();
        assert!(is_bundled(Path::new("bundled")));
        assert!(!is_bundled(Path::new("./bundled.onnx")));
        assert_eq!(resolve(Path::new("x.onnx")).unwrap(), PathBuf::from("x.onnx"));
    }
}
