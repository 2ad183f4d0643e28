//! The weights of an ONNX file: its float initializers by name (fp32 or fp16,
//! raw or typed data), and what Ultralytics writes into the file's metadata
//! (`names`, `imgsz`, `task`, `version`). Ultralytics folds every batch norm
//! into the convolution before exporting, so a `Conv` arrives as a weight and a
//! bias (`model.0.conv.weight`, `model.0.conv.bias`).

use std::path::Path;

use prost::Message;

use super::pickle::DType;
use super::source::{ImportError, SourceMeta, Weights};
use crate::export::proto::{FLOAT, ModelProto};

/// `TensorProto.DataType.FLOAT16` and `DOUBLE`.
const FLOAT16: i32 = 10;
const DOUBLE: i32 = 11;
/// Largest ONNX file read (YOLOv8x is about 270 MB).
const MAX_FILE: u64 = 2 << 30;

/// Reads the float initializers and metadata of an ONNX model.
pub fn read(path: &Path) -> Result<(Weights, SourceMeta), ImportError> {
    let len = std::fs::metadata(path)
        .map_err(|e| ImportError::Io(format!("{}: {e}", path.display())))?
        .len();
    if len > MAX_FILE {
        return Err(ImportError::Format(format!(
            "{len} bytes is larger than the {MAX_FILE}-byte limit"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| ImportError::Io(format!("{}: {e}", path.display())))?;
    parse(&bytes)
}

/// [`read`] of the bytes of an ONNX file.
pub fn parse(bytes: &[u8]) -> Result<(Weights, SourceMeta), ImportError> {
    let model = ModelProto::decode(bytes).map_err(|e| ImportError::Format(format!("not an ONNX model: {e}")))?;
    let graph = model
        .graph
        .ok_or_else(|| ImportError::Format("the ONNX model has no graph".into()))?;

    let mut meta = SourceMeta::default();
    let mut version = None;
    for p in &model.metadata_props {
        let (Some(k), Some(v)) = (p.key.as_deref(), p.value.as_deref()) else {
            continue;
        };
        match k {
            "names" => meta.names = parse_names(v),
            "imgsz" => meta.imgsz = parse_first_int(v),
            "task" => meta.task = Some(v.to_string()),
            "version" => version = Some(v.to_string()),
            _ => {}
        }
    }
    meta.producer = match version {
        Some(v) => format!("Ultralytics {v} ONNX export"),
        None => format!("ONNX model ({})", model.producer_name.unwrap_or_default()),
    };

    let mut weights = Weights::new();
    for t in graph.initializer {
        let Some(name) = t.name.clone() else { continue };
        let dtype = t.data_type.unwrap_or(0);
        if !matches!(dtype, FLOAT | FLOAT16 | DOUBLE) {
            continue;
        }
        let shape: Vec<usize> = t.dims.iter().map(|&d| usize::try_from(d).unwrap_or(0)).collect();
        let count = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| ImportError::Format(format!("initializer {name}: shape {shape:?} overflows")))?;
        let element = match dtype {
            FLOAT16 => DType::F16,
            DOUBLE => DType::F64,
            _ => DType::F32,
        };
        let data: Vec<f32> = match (dtype, &t.raw_data) {
            (_, Some(raw)) => raw.chunks_exact(element.size()).map(|c| element.le_to_f32(c)).collect(),
            (FLOAT, None) => t.float_data.clone(),
            _ => {
                return Err(ImportError::Format(format!(
                    "initializer {name}: this storage (data type {dtype}, typed or external data) is not read"
                )));
            }
        };
        if data.len() != count {
            return Err(ImportError::Format(format!(
                "initializer {name}: {} values for shape {shape:?}",
                data.len()
            )));
        }
        weights.insert(name, (shape, data));
    }
    Ok((weights, meta))
}

/// `{0: 'crazing', 1: "it's"}` (a Python dict's repr) → names in key order.
pub fn parse_names(text: &str) -> Vec<String> {
    let mut out: Vec<(i64, String)> = Vec::new();
    let mut rest = text.trim().trim_start_matches('{');
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        let Some(colon) = rest.find(':') else { break };
        let Ok(key) = rest[..colon].trim().parse::<i64>() else {
            break;
        };
        rest = rest[colon + 1..].trim_start();
        let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            break;
        };
        let body = &rest[1..];
        let mut value = String::new();
        let mut end = None;
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '\\' {
                if let Some((_, n)) = chars.next() {
                    value.push(n);
                }
            } else if c == quote {
                end = Some(i + 1);
                break;
            } else {
                value.push(c);
            }
        }
        let Some(end) = end else { break };
        out.push((key, value));
        rest = &body[end..];
    }
    out.sort_by_key(|p| p.0);
    out.into_iter().map(|p| p.1).collect()
}

/// `[320, 320]` or `320` → 320.
fn parse_first_int(text: &str) -> Option<u32> {
    text.trim_matches(|c: char| c == '[' || c == ']' || c == '(' || c == ')' || c.is_whitespace())
        .split(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_from_the_python_repr_ultralytics_writes() {
        assert_eq!(
            parse_names("{0: 'crazing', 1: 'rolled-in_scale', 2: \"it's\"}"),
            vec!["crazing", "rolled-in_scale", "it's"]
        );
        assert_eq!(parse_names("{1: 'b', 0: 'a'}"), vec!["a", "b"]);
        assert!(parse_names("garbage").is_empty());
    }

    #[test]
    fn imgsz_is_read_from_a_list_or_a_number() {
        assert_eq!(parse_first_int("[320, 320]"), Some(320));
        assert_eq!(parse_first_int("640"), Some(640));
        assert_eq!(parse_first_int("x"), None);
    }
}
