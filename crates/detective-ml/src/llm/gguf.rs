//! A reader of GGUF files (llama.cpp's model format, versions 2 and 3): the
//! metadata table and where each tensor's bytes are. Everything in the file is
//! checked against the file's length before it is used; nothing in it is run.

use std::collections::HashMap;

use super::error::LlmError;
use super::quant::GgmlType;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array(Vec<Value>),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(i) if *i >= 0 => Some(*i as u64),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// Where one tensor is.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    /// Element counts, fastest-varying first (GGUF's `ne`).
    pub dims: Vec<usize>,
    pub ty: GgmlType,
    /// Byte range in the file.
    pub start: usize,
    pub len: usize,
}

/// A parsed GGUF file: its bytes, metadata and tensor table.
pub struct Gguf {
    pub bytes: Vec<u8>,
    pub meta: HashMap<String, Value>,
    pub tensors: HashMap<String, TensorInfo>,
}

/// Most metadata entries or tensors a file may declare (SmolLM2 has 33 and 272).
const MAX_ENTRIES: u64 = 1 << 16;
/// Longest array in the metadata (a vocabulary of 256 k tokens fits).
const MAX_ARRAY: u64 = 1 << 20;
/// Most array nesting.
const MAX_DEPTH: usize = 2;

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LlmError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| LlmError::Format(format!("truncated at byte {} (wanted {n} more)", self.at)))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, LlmError> {
        Ok(u32::from_le_bytes(self.le()?))
    }
    fn u64(&mut self) -> Result<u64, LlmError> {
        Ok(u64::from_le_bytes(self.le()?))
    }
    fn string(&mut self) -> Result<String, LlmError> {
        let n = self.u64()?;
        if n > self.b.len() as u64 {
            return Err(LlmError::Format(format!("string of {n} bytes at byte {}", self.at)));
        }
        let s = self.take(n as usize)?;
        Ok(String::from_utf8_lossy(s).into_owned())
    }
    fn le<const N: usize>(&mut self) -> Result<[u8; N], LlmError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn value(&mut self, ty: u32, depth: usize) -> Result<Value, LlmError> {
        Ok(match ty {
            0 => Value::Int(self.le::<1>()?[0] as i64),
            1 => Value::Int(self.le::<1>()?[0] as i8 as i64),
            2 => Value::Int(u16::from_le_bytes(self.le()?) as i64),
            3 => Value::Int(i16::from_le_bytes(self.le()?) as i64),
            4 => Value::Int(u32::from_le_bytes(self.le()?) as i64),
            5 => Value::Int(i32::from_le_bytes(self.le()?) as i64),
            6 => Value::Float(f32::from_le_bytes(self.le()?) as f64),
            7 => Value::Bool(self.le::<1>()?[0] != 0),
            8 => Value::Str(self.string()?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(LlmError::Format("metadata arrays nested too deep".into()));
                }
                let inner = self.u32()?;
                let count = self.u64()?;
                if count > MAX_ARRAY {
                    return Err(LlmError::Format(format!("metadata array of {count} items")));
                }
                let mut v = Vec::with_capacity(count.min(4096) as usize);
                for _ in 0..count {
                    v.push(self.value(inner, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::Int(u64::from_le_bytes(self.le()?) as i64),
            11 => Value::Int(i64::from_le_bytes(self.le()?)),
            12 => Value::Float(f64::from_le_bytes(self.le()?)),
            t => return Err(LlmError::Format(format!("unknown metadata type {t}"))),
        })
    }
}

impl Gguf {
    /// Reads `path`.
    pub fn open(path: &std::path::Path) -> Result<Self, LlmError> {
        let bytes = std::fs::read(path).map_err(|e| LlmError::Io(format!("{}: {e}", path.display())))?;
        Self::parse(bytes)
    }

    /// Parses a whole file held in memory.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, LlmError> {
        let (meta, tensors) = {
            let mut c = Cursor { b: &bytes, at: 0 };
            if c.take(4)? != b"GGUF" {
                return Err(LlmError::Format("not a GGUF file (no GGUF magic)".into()));
            }
            let version = c.u32()?;
            if !(2..=3).contains(&version) {
                return Err(LlmError::Format(format!("GGUF version {version} (2 and 3 are read)")));
            }
            let n_tensors = c.u64()?;
            let n_kv = c.u64()?;
            if n_tensors > MAX_ENTRIES || n_kv > MAX_ENTRIES {
                return Err(LlmError::Format(format!(
                    "{n_tensors} tensors and {n_kv} metadata entries"
                )));
            }
            let mut meta = HashMap::new();
            for _ in 0..n_kv {
                let key = c.string()?;
                let ty = c.u32()?;
                meta.insert(key, c.value(ty, 0)?);
            }
            let mut raw = Vec::new();
            for _ in 0..n_tensors {
                let name = c.string()?;
                let n_dims = c.u32()?;
                if !(1..=4).contains(&n_dims) {
                    return Err(LlmError::Format(format!("tensor {name}: {n_dims} dimensions")));
                }
                let mut dims = Vec::new();
                for _ in 0..n_dims {
                    dims.push(c.u64()?);
                }
                let ty = GgmlType::from_id(c.u32()?).map_err(|e| LlmError::Format(format!("tensor {name}: {e}")))?;
                let offset = c.u64()?;
                raw.push((name, dims, ty, offset));
            }
            let align = meta
                .get("general.alignment")
                .and_then(Value::as_u64)
                .unwrap_or(32)
                .max(1) as usize;
            let data = c.at.div_ceil(align) * align;
            let mut tensors = HashMap::new();
            for (name, dims, ty, offset) in raw {
                let info = tensor_info(&name, &dims, ty, offset, data, bytes.len())?;
                tensors.insert(name, info);
            }
            (meta, tensors)
        };
        Ok(Self { bytes, meta, tensors })
    }

    /// A metadata value that must be there.
    pub fn get(&self, key: &str) -> Result<&Value, LlmError> {
        self.meta
            .get(key)
            .ok_or_else(|| LlmError::Format(format!("metadata {key} missing")))
    }

    /// An unsigned metadata number that must be there.
    pub fn u64(&self, key: &str) -> Result<u64, LlmError> {
        self.get(key)?
            .as_u64()
            .ok_or_else(|| LlmError::Format(format!("metadata {key} is not a count")))
    }

    /// A tensor that must be there.
    pub fn tensor(&self, name: &str) -> Result<&TensorInfo, LlmError> {
        self.tensors
            .get(name)
            .ok_or_else(|| LlmError::Format(format!("tensor {name} missing")))
    }

    /// A tensor's bytes.
    pub fn data(&self, t: &TensorInfo) -> &[u8] {
        &self.bytes[t.start..t.start + t.len]
    }
}

fn tensor_info(
    name: &str,
    dims: &[u64],
    ty: GgmlType,
    offset: u64,
    data: usize,
    file: usize,
) -> Result<TensorInfo, LlmError> {
    let bad = |why: &str| LlmError::Format(format!("tensor {name}: {why}"));
    let mut elems: u64 = 1;
    for d in dims {
        elems = elems
            .checked_mul(*d)
            .filter(|e| *e <= file as u64 * 8)
            .ok_or_else(|| bad("too many elements"))?;
    }
    let row = dims[0] as usize;
    if !row.is_multiple_of(ty.block_elems()) {
        return Err(bad("row length not a whole number of blocks"));
    }
    let len = (elems as usize / ty.block_elems()) * ty.block_bytes();
    let start = (data as u64)
        .checked_add(offset)
        .ok_or_else(|| bad("offset overflows"))? as usize;
    if start.checked_add(len).is_none_or(|e| e > file) {
        return Err(bad("data beyond the end of the file"));
    }
    Ok(TensorInfo {
        dims: dims.iter().map(|d| *d as usize).collect(),
        ty,
        start,
        len,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A GGUF file with the given metadata strings/counts and f32 tensors.
    pub(crate) fn build(meta: &[(&str, Value)], tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
        fn s(out: &mut Vec<u8>, v: &str) {
            out.extend((v.len() as u64).to_le_bytes());
            out.extend(v.as_bytes());
        }
        fn val(out: &mut Vec<u8>, v: &Value) {
            match v {
                Value::Int(i) => {
                    out.extend(11u32.to_le_bytes());
                    out.extend(i.to_le_bytes());
                }
                Value::Float(f) => {
                    out.extend(6u32.to_le_bytes());
                    out.extend((*f as f32).to_le_bytes());
                }
                Value::Bool(b) => {
                    out.extend(7u32.to_le_bytes());
                    out.push(*b as u8);
                }
                Value::Str(x) => {
                    out.extend(8u32.to_le_bytes());
                    s(out, x);
                }
                Value::Array(a) => {
                    out.extend(9u32.to_le_bytes());
                    let inner = match a.first() {
                        Some(Value::Str(_)) => 8u32,
                        Some(Value::Float(_)) => 6,
                        _ => 11,
                    };
                    out.extend(inner.to_le_bytes());
                    out.extend((a.len() as u64).to_le_bytes());
                    for x in a {
                        match x {
                            Value::Str(t) => s(out, t),
                            Value::Float(f) => out.extend((*f as f32).to_le_bytes()),
                            Value::Int(i) => out.extend(i.to_le_bytes()),
                            _ => {}
                        }
                    }
                }
            }
        }
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend((tensors.len() as u64).to_le_bytes());
        out.extend((meta.len() as u64).to_le_bytes());
        for (k, v) in meta {
            s(&mut out, k);
            val(&mut out, v);
        }
        let mut offset = 0u64;
        for (name, dims, data) in tensors {
            s(&mut out, name);
            out.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend((*d as u64).to_le_bytes());
            }
            out.extend(0u32.to_le_bytes());
            out.extend(offset.to_le_bytes());
            offset += (data.len() * 4).div_ceil(32) as u64 * 32;
        }
        while !out.len().is_multiple_of(32) {
            out.push(0);
        }
        for (_, _, data) in tensors {
            let start = out.len();
            for x in data {
                out.extend(x.to_le_bytes());
            }
            while !(out.len() - start).is_multiple_of(32) {
                out.push(0);
            }
        }
        out
    }

    #[test]
    fn reads_metadata_and_tensor_places() {
        let bytes = build(
            &[("a.count", Value::Int(7)), ("a.name", Value::Str("x".into()))],
            &[("t", vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])],
        );
        let g = Gguf::parse(bytes).unwrap();
        assert_eq!(g.u64("a.count").unwrap(), 7);
        assert_eq!(g.get("a.name").unwrap().as_str(), Some("x"));
        let t = g.tensor("t").unwrap();
        assert_eq!(t.dims, vec![2, 3]);
        assert_eq!(&g.data(t)[4..8], &2.0f32.to_le_bytes());
    }

    #[test]
    fn truncated_or_foreign_files_are_refused_not_read_past_their_end() {
        let bytes = build(&[], &[("t", vec![4], vec![1.0; 4])]);
        // The tensor's 16 bytes are followed by 16 of padding: cut into the data.
        for cut in [0, 3, 10, 30, bytes.len() - 17] {
            assert!(Gguf::parse(bytes[..cut].to_vec()).is_err(), "cut at {cut}");
        }
        assert!(Gguf::parse(b"PK\x03\x04 not gguf".to_vec()).is_err());
        // A string that claims more bytes than the file has.
        let mut evil = b"GGUF".to_vec();
        evil.extend(3u32.to_le_bytes());
        evil.extend(0u64.to_le_bytes());
        evil.extend(1u64.to_le_bytes());
        evil.extend(u64::MAX.to_le_bytes());
        assert!(Gguf::parse(evil).is_err());
    }
}
