//! The pretrained start ("prior") of detector training.
//!
//! COCO weights cannot be downloaded here and a CPU cannot train a detector from
//! random weights in a coffee break, so every detector training starts by default
//! from a defect prior of its scale: `models/prior-{t,n}.bpk` (repository root), a
//! detector pretrained by our own trainer on a wide synthetic corpus
//! (`detective synth --variety wide`, several sizes; `models/README.md` has the
//! commands and the time they took). Its class head (four synthetic classes) is left
//! fresh when the dataset has other classes; the backbone, the neck and the box
//! branch carry over. The files are compiled into the binary and unpacked once into
//! the cache folder under a content hash, like the [`bundled`](super::bundled) model.
//!
//! `--weights none` (CLI) or `base_model: "none"` (training jobs) trains from random
//! weights instead; scale `s` has no prior and always starts from random weights.

use std::path::{Path, PathBuf};

use super::Scale;
use super::bundled::{cache_root, unpack};
use crate::MlError;

/// The word that selects the prior where a start is named.
pub const PRIOR: &str = "prior";

/// The word that selects random weights where a start is named.
pub const SCRATCH: &str = "none";

struct Files {
    stem: &'static str,
    bpk: &'static [u8],
    json: &'static [u8],
}

const T: Files = Files {
    stem: "prior-t",
    bpk: include_bytes!("../../../../models/prior-t.bpk"),
    json: include_bytes!("../../../../models/prior-t.json"),
};

const N: Files = Files {
    stem: "prior-n",
    bpk: include_bytes!("../../../../models/prior-n.bpk"),
    json: include_bytes!("../../../../models/prior-n.json"),
};

fn files(scale: Scale) -> Option<&'static Files> {
    match scale {
        Scale::T => Some(&T),
        Scale::N => Some(&N),
        Scale::S => None,
    }
}

/// Whether `scale` has a prior.
pub fn exists(scale: Scale) -> bool {
    files(scale).is_some()
}

/// The prior of `scale` (`.bpk` with its `.json` beside it), written under `root`
/// if not there yet; `None` for a scale without one.
pub fn checkpoint_in(root: &Path, scale: Scale) -> Result<Option<PathBuf>, MlError> {
    let Some(f) = files(scale) else {
        return Ok(None);
    };
    let dir = root.join("models").join(format!(
        "{}-{:016x}",
        f.stem,
        detective_core::fnv::fnv1a(&[f.bpk, f.json])
    ));
    let bpk = dir.join(format!("{}.bpk", f.stem));
    let json = dir.join(format!("{}.json", f.stem));
    unpack(&dir, &[(json.as_path(), f.json), (bpk.as_path(), f.bpk)])?;
    Ok(Some(bpk))
}

/// The prior of `scale` in the default cache root.
pub fn checkpoint(scale: Scale) -> Result<Option<PathBuf>, MlError> {
    checkpoint_in(&cache_root(), scale)
}

/// Where a detector training starts, as named by a user: the prior (the default),
/// random weights, or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    Prior,
    Scratch,
    File(PathBuf),
}

impl Start {
    /// `None` (nothing named) and `prior` are the prior, `none` and `scratch` random
    /// weights, anything else a file.
    pub fn parse(named: Option<&Path>) -> Start {
        match named.map(|p| p.as_os_str().to_str()) {
            None => Start::Prior,
            Some(Some(PRIOR)) => Start::Prior,
            Some(Some(SCRATCH | "scratch")) => Start::Scratch,
            Some(_) => Start::File(named.map(Path::to_path_buf).unwrap_or_default()),
        }
    }

    /// The weights file to start from for a model of `scale` (`None`: random).
    pub fn weights(&self, scale: Scale) -> Result<Option<PathBuf>, MlError> {
        match self {
            Start::Prior => checkpoint(scale),
            Start::Scratch => Ok(None),
            Start::File(p) => Ok(Some(p.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_priors_unpack_once_and_load_with_their_scale() {
        let _serial = crate::burn_test_lock();
        let root = tempfile::tempdir().unwrap();
        for scale in [Scale::T, Scale::N] {
            let bpk = checkpoint_in(root.path(), scale).unwrap().unwrap();
            let before = std::fs::metadata(&bpk).unwrap().modified().unwrap();
            assert_eq!(checkpoint_in(root.path(), scale).unwrap().unwrap(), bpk);
            assert_eq!(std::fs::metadata(&bpk).unwrap().modified().unwrap(), before);
            let meta = crate::checkpoint::load_meta(&bpk).unwrap();
            assert_eq!(meta.scale, scale);
            assert_eq!(meta.names, ["scratch", "spot", "crack", "dent"]);
        }
        assert_eq!(checkpoint_in(root.path(), Scale::S).unwrap(), None);
    }

    #[test]
    fn a_start_is_the_prior_unless_none_or_a_file_is_named() {
        assert_eq!(Start::parse(None), Start::Prior);
        assert_eq!(Start::parse(Some(Path::new("prior"))), Start::Prior);
        assert_eq!(Start::parse(Some(Path::new("none"))), Start::Scratch);
        assert_eq!(Start::parse(Some(Path::new("scratch"))), Start::Scratch);
        assert_eq!(
            Start::parse(Some(Path::new("runs/x/best.bpk"))),
            Start::File("runs/x/best.bpk".into())
        );
        assert_eq!(Start::Scratch.weights(Scale::N).unwrap(), None);
    }
}
