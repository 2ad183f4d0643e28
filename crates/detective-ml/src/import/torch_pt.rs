//! PyTorch checkpoints (`.pt`, `.pth`) read in Rust: the zip archive
//! `torch.save` writes (`{prefix}/data.pkl` plus one file per storage under
//! `{prefix}/data/`), its pickle read by [`super::pickle`] without running any
//! of it, and the module tree walked into a state dict (`model.0.conv.weight`
//! → tensor), the way `module.state_dict()` names it.
//!
//! Ultralytics' checkpoints are a dict whose `ema` (while training) or `model`
//! (after `strip_optimizer`) is the `DetectionModel`; its `names`, and the
//! training image size under `train_args`, come along.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;
use std::rc::Rc;

use super::pickle::{self, DType, StorageRef, TensorRef, Value};
use super::source::{ImportError, SourceMeta, Weights};

/// Largest checkpoint read (YOLOv8x in fp32 is about 270 MB).
const MAX_FILE: u64 = 2 << 30;
/// Largest pickle read (YOLOv8n's is about 100 kB).
const MAX_PICKLE: u64 = 256 << 20;
/// Most bytes reserved ahead for one archive entry; it grows as it is read.
const MAX_RESERVE: u64 = 16 << 20;

/// Reads the tensors and metadata of a PyTorch checkpoint.
pub fn read(path: &Path) -> Result<(Weights, SourceMeta), ImportError> {
    let file = File::open(path).map_err(|e| ImportError::Io(format!("{}: {e}", path.display())))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_FILE {
        return Err(ImportError::Format(format!(
            "{len} bytes is larger than the {MAX_FILE}-byte limit for a checkpoint"
        )));
    }
    from_archive(file)
}

/// [`read`] of a checkpoint already open (a file, or bytes in memory).
pub fn from_archive<R: Read + Seek>(archive: R) -> Result<(Weights, SourceMeta), ImportError> {
    let mut zip = zip::ZipArchive::new(archive).map_err(|e| {
        ImportError::Format(format!(
            "not a PyTorch zip checkpoint ({e}); files saved with the legacy format of torch < 1.6 are not read"
        ))
    })?;
    let pkl_name = (0..zip.len())
        .filter_map(|i| zip.name_for_index(i).map(str::to_string))
        .find(|n| n == "data.pkl" || n.ends_with("/data.pkl"))
        .ok_or_else(|| ImportError::Format("the archive has no data.pkl: not a torch.save file".into()))?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    if let Some(order) = read_entry(&mut zip, &format!("{prefix}byteorder"), 16)?
        && order.trim_ascii() != b"little"
    {
        return Err(ImportError::Format(format!(
            "byte order {:?} is not supported",
            String::from_utf8_lossy(&order)
        )));
    }
    let pkl = read_entry(&mut zip, &pkl_name, MAX_PICKLE)?
        .ok_or_else(|| ImportError::Format("data.pkl could not be read".into()))?;
    let root = pickle::parse(&pkl)?;

    let (module, meta) = locate_model(&root)?;
    let mut refs = BTreeMap::new();
    match &module {
        Value::Dict(_) => {
            // A plain state dict: names → tensors.
            for (k, v) in module.entries() {
                if let (Some(name), Value::Tensor(t)) = (k.as_str(), v) {
                    refs.insert(name.to_string(), t);
                }
            }
        }
        _ => walk_module(&module, "", &mut refs, 0)?,
    }
    if refs.is_empty() {
        return Err(ImportError::Format("the checkpoint holds no tensors".into()));
    }

    let mut storages: HashMap<String, Rc<Vec<u8>>> = HashMap::new();
    let mut weights = Weights::new();
    for (name, t) in refs {
        if matches!(t.storage.dtype, DType::I64 | DType::I32 | DType::U8 | DType::Bool) {
            continue; // num_batches_tracked and the like: not weights
        }
        let bytes = match storages.get(&t.storage.key) {
            Some(b) => b.clone(),
            None => {
                let entry = format!("{prefix}data/{}", t.storage.key);
                let want = t.storage.numel.saturating_mul(t.storage.dtype.size()) as u64;
                let b = read_entry(&mut zip, &entry, want)?
                    .ok_or_else(|| ImportError::Format(format!("storage {entry} is missing")))?;
                let b = Rc::new(b);
                storages.insert(t.storage.key.clone(), b.clone());
                b
            }
        };
        let data = gather(&t, &bytes).map_err(|reason| ImportError::Format(format!("tensor {name}: {reason}")))?;
        weights.insert(name, (t.size.clone(), data));
    }
    Ok((weights, meta))
}

/// Reads one archive entry of at most `limit` bytes; `None` when it is absent.
fn read_entry<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, ImportError> {
    let mut entry = match zip.by_name(name) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(ImportError::Format(format!("{name}: {e}"))),
    };
    if entry.size() > limit {
        return Err(ImportError::Format(format!(
            "{name} holds {} bytes, more than the {limit} expected",
            entry.size()
        )));
    }
    // The size is what the archive claims: reserve no more than a modest start.
    let mut out = Vec::with_capacity(entry.size().min(MAX_RESERVE) as usize);
    (&mut entry)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| ImportError::Format(format!("{name}: {e}")))?;
    Ok(Some(out))
}

/// The module (or state dict) to import, and what the checkpoint says about it.
fn locate_model(root: &Value) -> Result<(Value, SourceMeta), ImportError> {
    let mut meta = SourceMeta::default();
    let model = match root {
        Value::Dict(_) if root.get("model").is_some() || root.get("ema").is_some() => {
            let ema = root.get("ema").filter(|v| matches!(v, Value::Object(_)));
            let (which, m) = match ema {
                Some(e) => ("ema", e),
                None => ("model", root.get("model").unwrap_or(Value::None)),
            };
            if let Some(v) = root.get("version").and_then(|v| v.as_str().map(str::to_string)) {
                meta.producer = format!("Ultralytics {v} checkpoint ({which})");
            } else {
                meta.producer = format!("PyTorch checkpoint ({which})");
            }
            if let Some(args) = root.get("train_args") {
                meta.imgsz = imgsz_of(args.get("imgsz").as_ref());
                meta.task = args.get("task").and_then(|t| t.as_str().map(str::to_string));
            }
            m
        }
        Value::Dict(_) => {
            meta.producer = "PyTorch state dict".into();
            root.clone()
        }
        Value::Object(_) => {
            meta.producer = "PyTorch module".into();
            root.clone()
        }
        _ => {
            return Err(ImportError::Format(
                "the checkpoint is neither a module nor a dict".into(),
            ));
        }
    };
    if !matches!(model, Value::Object(_) | Value::Dict(_)) {
        return Err(ImportError::Format("the checkpoint's model is empty".into()));
    }
    if let Some(class) = model.class_name() {
        meta.producer = format!("{} — {class}", meta.producer);
    }
    if meta.imgsz.is_none() {
        meta.imgsz = model.get("args").and_then(|a| imgsz_of(a.get("imgsz").as_ref()));
    }
    if let Some(names) = model.get("names") {
        meta.names = names_of(&names);
    }
    if let Some(task) = model.get("task").and_then(|t| t.as_str().map(str::to_string)) {
        meta.task.get_or_insert(task);
    }
    Ok((model, meta))
}

fn imgsz_of(v: Option<&Value>) -> Option<u32> {
    match v? {
        Value::Int(i) => u32::try_from(*i).ok(),
        Value::List(l) => l
            .borrow()
            .first()
            .and_then(Value::as_int)
            .and_then(|i| u32::try_from(i).ok()),
        Value::Tuple(t) => t.first().and_then(Value::as_int).and_then(|i| u32::try_from(i).ok()),
        _ => None,
    }
}

/// Class names from a dict `{0: 'a', 1: 'b'}` or a list `['a', 'b']`.
fn names_of(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l
            .borrow()
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Value::Dict(_) => {
            let mut pairs: Vec<(i64, String)> = v
                .entries()
                .into_iter()
                .filter_map(|(k, n)| Some((k.as_int()?, n.as_str()?.to_string())))
                .collect();
            pairs.sort_by_key(|p| p.0);
            pairs.into_iter().map(|p| p.1).collect()
        }
        _ => Vec::new(),
    }
}

/// Collects `_parameters` and `_buffers` of a module and its `_modules`.
fn walk_module(
    module: &Value,
    prefix: &str,
    out: &mut BTreeMap<String, Rc<TensorRef>>,
    depth: usize,
) -> Result<(), ImportError> {
    if depth > 64 {
        return Err(ImportError::Format("modules nested deeper than 64 levels".into()));
    }
    for key in ["_parameters", "_buffers"] {
        if let Some(d) = module.get(key) {
            for (k, v) in d.entries() {
                if let (Some(name), Value::Tensor(t)) = (k.as_str(), v) {
                    out.insert(format!("{prefix}{name}"), t);
                }
            }
        }
    }
    if let Some(children) = module.get("_modules") {
        for (k, v) in children.entries() {
            if let (Some(name), Value::Object(_)) = (k.as_str(), &v) {
                walk_module(&v, &format!("{prefix}{name}."), out, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// The tensor's elements as f32, in row-major order, read through its strides.
fn gather(t: &TensorRef, bytes: &[u8]) -> Result<Vec<f32>, String> {
    let StorageRef { dtype, numel, .. } = *t.storage;
    if bytes.len() < numel.saturating_mul(dtype.size()) {
        return Err(format!(
            "its storage holds {} bytes, fewer than {numel} elements",
            bytes.len()
        ));
    }
    let count = t
        .size
        .iter()
        .try_fold(1usize, |a, &s| a.checked_mul(s))
        .ok_or("its sizes overflow")?;
    if count == 0 {
        return Ok(Vec::new());
    }
    // A checkpoint's tensor views no more elements than its storage holds (no
    // broadcast views), which also bounds what is allocated here.
    if count > numel {
        return Err(format!("it views {count} elements of a storage of {numel}"));
    }
    let last = t
        .size
        .iter()
        .zip(&t.stride)
        .try_fold(t.offset, |a, (s, st)| {
            (s - 1).checked_mul(*st).and_then(|x| a.checked_add(x))
        })
        .ok_or("its strides overflow")?;
    if last >= numel {
        return Err(format!("its view reaches element {last} of a storage of {numel}"));
    }
    let read = |i: usize| dtype.le_to_f32(&bytes[i * dtype.size()..(i + 1) * dtype.size()]);
    let mut out = Vec::with_capacity(count);
    let mut index = vec![0usize; t.size.len()];
    for _ in 0..count {
        let at = t.offset + index.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
        out.push(read(at));
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.size[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(size: Vec<usize>, stride: Vec<usize>, offset: usize, numel: usize) -> TensorRef {
        TensorRef {
            storage: Rc::new(StorageRef {
                key: "0".into(),
                dtype: DType::F32,
                numel,
            }),
            offset,
            size,
            stride,
        }
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn a_transposed_view_is_read_in_row_major_order() {
        let bytes = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // storage is 2×3 row-major; the view is its 3×2 transpose
        let t = tensor(vec![3, 2], vec![1, 3], 0, 6);
        assert_eq!(gather(&t, &bytes).unwrap(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let off = tensor(vec![2], vec![1], 4, 6);
        assert_eq!(gather(&off, &bytes).unwrap(), vec![5.0, 6.0]);
    }

    #[test]
    fn a_view_past_its_storage_is_refused() {
        let bytes = f32_bytes(&[1.0, 2.0]);
        assert!(gather(&tensor(vec![3], vec![1], 0, 2), &bytes).is_err());
        assert!(gather(&tensor(vec![2], vec![1], 0, 4), &bytes).is_err());
        // a broadcast view of a huge size, and sizes or strides that overflow
        assert!(gather(&tensor(vec![1 << 40], vec![0], 0, 2), &bytes).is_err());
        assert!(gather(&tensor(vec![1 << 40, 1 << 40], vec![1, 1], 0, 2), &bytes).is_err());
        assert!(gather(&tensor(vec![2], vec![usize::MAX], 0, 2), &bytes).is_err());
    }

    #[test]
    fn a_file_that_is_not_a_checkpoint_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pt");
        std::fs::write(&p, b"not a zip").unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("not a PyTorch zip checkpoint"), "{e}");
    }
}
