//! The resumable state of a training run (`weights/last.state`, and
//! `weights/last.segstate` for a segmenter), shared by every task: the task's
//! counters and settings as a JSON header (its [`StateHeader`]), then the model's tensors, the EMA (detector), the optimiser's moments
//! and any gradients accumulated since the last optimiser step, as raw
//! little-endian f32 — everything needed to continue exactly where it stopped.
//!
//! Layout: `DDSTATE1`, u64 header length, header JSON, then for each section
//! (in header order) its tensors back to back, lengths given by the header.

use std::io::{Read, Write};
use std::path::Path;

use serde::Serialize;

const MAGIC: &[u8; 8] = b"DDSTATE1";
/// Refuse headers beyond this size (a corrupt file must not allocate gigabytes).
const MAX_HEADER: u64 = 64 << 20;

/// The JSON header of a state file: a run's counters and settings, and the
/// tensor lengths and section names [`save_state`] fills in.
pub trait StateHeader: Serialize + serde::de::DeserializeOwned + Clone {
    fn lengths(&self) -> &[usize];
    fn sections(&self) -> &[String];
    fn set_layout(&mut self, lengths: Vec<usize>, sections: Vec<String>);
}

/// The tensors of a run.
#[derive(Debug, Clone, Default)]
pub struct RunTensors {
    pub model: Vec<Vec<f32>>,
    pub ema: Vec<Vec<f32>>,
    pub m: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
    /// Accumulated gradients (empty entries where none).
    pub acc: Vec<Option<Vec<f32>>>,
}

fn io(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

/// Writes the state atomically (temporary file, then rename).
pub fn save_state<H: StateHeader>(path: &Path, state: &H, t: &RunTensors) -> Result<(), String> {
    let mut header = state.clone();
    let lengths: Vec<usize> = t.model.iter().map(Vec::len).collect();
    let mut sections = vec!["model".to_string()];
    if !t.ema.is_empty() {
        sections.push("ema".into());
    }
    if !t.m.is_empty() {
        sections.push("m".into());
    }
    if !t.v.is_empty() {
        sections.push("v".into());
    }
    if t.acc.iter().any(Option::is_some) {
        sections.push("acc".into());
    }
    header.set_layout(lengths.clone(), sections.clone());
    let json = serde_json::to_vec(&header).map_err(|e| io(path, e))?;
    let tmp = path.with_extension("state.tmp");
    {
        let file = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
        let mut w = std::io::BufWriter::new(file);
        w.write_all(MAGIC).map_err(|e| io(&tmp, e))?;
        w.write_all(&(json.len() as u64).to_le_bytes())
            .map_err(|e| io(&tmp, e))?;
        w.write_all(&json).map_err(|e| io(&tmp, e))?;
        let zero: Vec<f32> = Vec::new();
        for s in &sections {
            for (i, len) in lengths.iter().enumerate() {
                let data: &Vec<f32> = match s.as_str() {
                    "model" => &t.model[i],
                    "ema" => &t.ema[i],
                    "m" => &t.m[i],
                    "v" => &t.v[i],
                    _ => t.acc.get(i).and_then(Option::as_ref).unwrap_or(&zero),
                };
                let padded = data.len() != *len;
                for k in 0..*len {
                    let x = if padded {
                        data.get(k).copied().unwrap_or(0.0)
                    } else {
                        data[k]
                    };
                    w.write_all(&x.to_le_bytes()).map_err(|e| io(&tmp, e))?;
                }
            }
        }
        w.flush().map_err(|e| io(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

/// Reads a state written by [`save_state`].
pub fn load_state<H: StateHeader>(path: &Path) -> Result<(H, RunTensors), String> {
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let size = file.metadata().map_err(|e| io(path, e))?.len();
    let mut r = std::io::BufReader::new(file);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(|e| io(path, e))?;
    if &magic != MAGIC {
        return Err(io(path, "not a training state file"));
    }
    let mut len = [0u8; 8];
    r.read_exact(&mut len).map_err(|e| io(path, e))?;
    let hlen = u64::from_le_bytes(len);
    if hlen > MAX_HEADER || hlen > size {
        return Err(io(path, "corrupt header length"));
    }
    let mut json = vec![0u8; hlen as usize];
    r.read_exact(&mut json).map_err(|e| io(path, e))?;
    let state: H = serde_json::from_slice(&json).map_err(|e| io(path, e))?;
    let total: u64 = state.lengths().iter().map(|&l| l as u64).sum::<u64>() * 4 * state.sections().len() as u64;
    if 16 + hlen + total != size {
        return Err(io(path, "file size does not match its header (truncated?)"));
    }
    let mut t = RunTensors::default();
    for s in state.sections() {
        let mut tensors = Vec::with_capacity(state.lengths().len());
        for &l in state.lengths() {
            let mut bytes = vec![0u8; l * 4];
            r.read_exact(&mut bytes).map_err(|e| io(path, e))?;
            tensors.push(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect::<Vec<f32>>(),
            );
        }
        match s.as_str() {
            "model" => t.model = tensors,
            "ema" => t.ema = tensors,
            "m" => t.m = tensors,
            "v" => t.v = tensors,
            "acc" => t.acc = tensors.into_iter().map(Some).collect(),
            other => return Err(io(path, format!("unknown section {other:?}"))),
        }
    }
    Ok((state, t))
}
