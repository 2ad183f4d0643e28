//! Finding and loading the ONNX Runtime shared library once per process.
//!
//! Search order: `DETECTIVE_ORT_LIB` (a file), `ORT_DYLIB_PATH` (a file), `lib/`
//! next to the executable, `$DETECTIVE_ORT_HOME` or
//! `~/.cache/defect-detective/onnxruntime/` (where `scripts/setup-onnxruntime.sh`
//! installs it from the PyPI wheel), then the system's library path. Also what
//! every ONNX model served here shares: sessions, running one image, and the
//! class names Ultralytics writes into the model's metadata.

use std::path::PathBuf;
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::MlError;

const LIB: &str = "libonnxruntime.so";

/// Candidate locations, in search order.
pub fn candidate_paths() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for var in ["DETECTIVE_ORT_LIB", "ORT_DYLIB_PATH"] {
        if let Some(p) = std::env::var_os(var) {
            v.push(PathBuf::from(p));
        }
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|p| p.to_path_buf()))
    {
        v.push(dir.join("lib").join(LIB));
    }
    if let Some(home) = std::env::var_os("DETECTIVE_ORT_HOME") {
        v.push(PathBuf::from(home).join(LIB));
    }
    if let Some(home) = std::env::var_os("HOME") {
        v.push(
            PathBuf::from(home)
                .join(".cache/defect-detective/onnxruntime")
                .join(LIB),
        );
    }
    for dir in ["/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu"] {
        v.push(PathBuf::from(dir).join(LIB));
    }
    v
}

/// The first existing candidate.
pub fn find_library() -> Result<PathBuf, MlError> {
    let paths = candidate_paths();
    paths
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| MlError::RuntimeMissing {
            searched: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

static ENV: OnceLock<Result<(Environment, PathBuf), String>> = OnceLock::new();

/// The process-wide ONNX Runtime environment (loaded on first use).
pub fn environment() -> Result<&'static Environment, MlError> {
    let entry = ENV.get_or_init(|| {
        let path = find_library().map_err(|e| e.to_string())?;
        let builder = ort::init_from(&path).map_err(|e| format!("could not load {}: {e}", path.display()))?;
        let env = builder
            .build()
            .map_err(|e| format!("could not start ONNX Runtime from {}: {e}", path.display()))?;
        tracing::info!(library = %path.display(), "ONNX Runtime loaded");
        Ok((env, path))
    });
    match entry {
        Ok((env, _)) => Ok(env),
        Err(reason) => Err(MlError::RuntimeLoad {
            path: "libonnxruntime".into(),
            reason: reason.clone(),
        }),
    }
}

/// Runs a one-input session on an `[1, 3, S, S]` float input: the first output's
/// shape and values.
pub fn run_image(
    session: &std::sync::Mutex<ort::session::Session>,
    input_name: &str,
    imgsz: u32,
    input: Vec<f32>,
) -> Result<(Vec<i64>, Vec<f32>), MlError> {
    let s = imgsz as i64;
    let tensor =
        ort::value::Tensor::from_array(([1i64, 3, s, s], input)).map_err(|e| MlError::Inference(e.to_string()))?;
    let mut session = session
        .lock()
        .map_err(|_| MlError::Inference("session lock poisoned".into()))?;
    let outputs = session
        .run(ort::inputs![input_name => tensor])
        .map_err(|e| MlError::Inference(e.to_string()))?;
    let (shape, data) = outputs[0]
        .try_extract_tensor::<f32>()
        .map_err(|e| MlError::Inference(e.to_string()))?;
    Ok((shape.to_vec(), data.to_vec()))
}

/// An ONNX Runtime session on `path` (graph optimisations on, `threads` intra-op
/// threads, 0 = every core; on the process's [inference
/// device](crate::runtime::device::inference_device): a GPU through CUDA's
/// execution provider).
pub fn open_session(path: &std::path::Path, threads: usize) -> Result<ort::session::Session, MlError> {
    let env = environment()?;
    session_builder(env, threads)
        .and_then(|mut b| b.commit_from_file(path))
        .map_err(|e| MlError::Model {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

/// The same for a model held in memory (`what` names it in errors).
pub fn open_session_from_memory(bytes: &[u8], what: &str, threads: usize) -> Result<ort::session::Session, MlError> {
    let env = environment()?;
    session_builder(env, threads)
        .and_then(|mut b| b.commit_from_memory(bytes))
        .map_err(|e| MlError::Model {
            path: what.to_string(),
            reason: e.to_string(),
        })
}

/// The class names in a model's `names` metadata, if it has parseable ones.
pub fn metadata_names(session: &ort::session::Session) -> Option<Vec<String>> {
    session
        .metadata()
        .ok()
        .and_then(|m| m.custom("names"))
        .and_then(|t| parse_names_metadata(&t))
}

/// A positive whole number in the model's custom metadata under `key` (our
/// exports write `0` for "not recorded").
pub fn metadata_u32(session: &ort::session::Session, key: &str) -> Option<u32> {
    session
        .metadata()
        .ok()
        .and_then(|m| m.custom(key))
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|&n| n > 0)
}

/// Parses Ultralytics' `names` metadata: a Python dict literal `{0: 'a', 1: "b"}`.
pub fn parse_names_metadata(text: &str) -> Option<Vec<String>> {
    let body = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut names = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (idx, after) = rest.split_once(':')?;
        let idx: usize = idx.trim().parse().ok()?;
        let after = after.trim_start();
        let quote = after.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let end = after[1..].find(quote)? + 1;
        if idx != names.len() {
            return None;
        }
        names.push(after[1..end].to_string());
        rest = after[end + 1..].trim_start().trim_start_matches(',').trim_start();
    }
    Some(names)
}

fn session_builder(env: &Environment, threads: usize) -> ort::Result<ort::session::builder::SessionBuilder> {
    use ort::session::Session;
    use ort::session::builder::GraphOptimizationLevel;
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let builder = Session::builder(env)
        .and_then(|b| {
            b.with_optimization_level(GraphOptimizationLevel::Level3)
                .map_err(Into::into)
        })
        .and_then(|b| b.with_intra_threads(threads).map_err(Into::into))?;
    match crate::runtime::device::inference_device() {
        // A CPU build of the library cannot: the session then fails, saying so.
        crate::runtime::device::ComputeDevice::Cuda(i) => builder
            .with_execution_providers([ort::ep::CUDA::default()
                .with_device_id(i as i32)
                .build()
                .error_on_failure()])
            .map_err(Into::into),
        crate::runtime::device::ComputeDevice::Cpu => Ok(builder),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ultralytics_names_metadata_parses_with_either_quote() {
        assert_eq!(
            parse_names_metadata("{0: 'crazing', 1: \"rolled-in_scale\", 2: 'a, b'}").unwrap(),
            vec!["crazing", "rolled-in_scale", "a, b"]
        );
        assert!(parse_names_metadata("{1: 'x'}").is_none(), "indices must start at 0");
        assert!(parse_names_metadata("not a dict").is_none());
    }
}
