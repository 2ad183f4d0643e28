//! A pickle reader that builds data, never runs code: the opcodes of Python's
//! pickle protocols 0–5 that PyTorch checkpoints use, read into a [`Value`] tree.
//!
//! A pickle names classes and functions (`GLOBAL module name`) and asks the
//! reader to call them (`REDUCE`, `NEWOBJ`, `BUILD`). Python's own unpickler
//! imports and calls them, which is why loading an untrusted `.pt` can run
//! anything. This one calls nothing: a class becomes [`Value::Global`], a call
//! becomes an [`Object`] that records the callable and its arguments, and only
//! a handful of well-known constructors are read as what they build
//! (`collections.OrderedDict`, `builtins.set`, `torch.Size`, and PyTorch's
//! `_rebuild_tensor_v2` / `_rebuild_parameter`, which become a [`TensorRef`]).
//! Tensor bytes stay in the archive: a persistent id (`BINPERSID`) names a
//! storage record that the caller reads.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::source::ImportError;

/// A storage's element type, from the class its persistent id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F16,
    BF16,
    F32,
    F64,
    I64,
    I32,
    U8,
    Bool,
}

impl DType {
    fn from_storage_class(name: &str) -> Option<DType> {
        Some(match name {
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "FloatStorage" => DType::F32,
            "DoubleStorage" => DType::F64,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ByteStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::U8 | DType::Bool => 1,
            DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::I32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }

    /// One little-endian element (`b` holds [`size`](Self::size) bytes) as f32;
    /// integer types read as 0 (they hold no weights).
    pub fn le_to_f32(self, b: &[u8]) -> f32 {
        match self {
            DType::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
            DType::BF16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            DType::F64 => f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32,
            _ => 0.0,
        }
    }
}

/// One storage of the archive (`data/{key}`), as a persistent id names it.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    pub key: String,
    pub dtype: DType,
    /// Elements in the storage.
    pub numel: usize,
}

/// A tensor: a view (offset, sizes, strides in elements) of a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: Rc<StorageRef>,
    pub offset: usize,
    pub size: Vec<usize>,
    pub stride: Vec<usize>,
}

/// A class or function a pickle names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    pub module: String,
    pub name: String,
}

/// A call the pickle asked for and we did not make: what was called, with
/// what, and the state `BUILD` gave it (a module's `__dict__`, say). Items set
/// or appended on it (subclasses of dict or list) are kept too.
#[derive(Debug, Clone)]
pub struct Object {
    pub class: Value,
    pub args: Vec<Value>,
    pub state: Option<Value>,
    pub items: Vec<(Value, Value)>,
    pub appended: Vec<Value>,
}

/// What a pickle holds.
#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Rc<[Value]>),
    List(Rc<RefCell<Vec<Value>>>),
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Global(Rc<Global>),
    Object(Rc<RefCell<Object>>),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// The value under string `key` of a dict (or of an object's dict state).
    pub fn get(&self, key: &str) -> Option<Value> {
        match self {
            Value::Dict(d) => d
                .borrow()
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v.clone()),
            Value::Object(o) => {
                let o = o.borrow();
                o.state.as_ref().and_then(|s| s.get(key)).or_else(|| {
                    o.items
                        .iter()
                        .find(|(k, _)| k.as_str() == Some(key))
                        .map(|(_, v)| v.clone())
                })
            }
            _ => None,
        }
    }

    /// The entries of a dict (or of a dict-like object), in pickle order.
    pub fn entries(&self) -> Vec<(Value, Value)> {
        match self {
            Value::Dict(d) => d.borrow().clone(),
            Value::Object(o) => o.borrow().items.clone(),
            _ => Vec::new(),
        }
    }

    /// The class an object was made from (`module.name`), if it is one.
    pub fn class_name(&self) -> Option<String> {
        match self {
            Value::Object(o) => match &o.borrow().class {
                Value::Global(g) => Some(format!("{}.{}", g.module, g.name)),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Opcodes beyond this many are refused (a bomb of tiny opcodes); a real
/// checkpoint's `data.pkl` has tens of thousands.
const MAX_OPS: usize = 50_000_000;

/// Reads one pickle; `bytes` is the whole `data.pkl`.
pub fn parse(bytes: &[u8]) -> Result<Value, ImportError> {
    Machine::new(bytes).run()
}

enum Slot {
    Mark,
    Value(Value),
}

struct Machine<'a> {
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<Slot>,
    memo: HashMap<u64, Value>,
}

impl<'a> Machine<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Machine {
            bytes,
            pos: 0,
            stack: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn err(&self, reason: impl Into<String>) -> ImportError {
        ImportError::Pickle {
            offset: self.pos,
            reason: reason.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ImportError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.err(format!("needs {n} more bytes than the pickle holds"))),
        }
    }

    fn u8(&mut self) -> Result<u8, ImportError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, ImportError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, ImportError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, ImportError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn len64(&mut self) -> Result<usize, ImportError> {
        let n = self.u64()?;
        usize::try_from(n).map_err(|_| self.err("length out of range"))
    }

    /// A text line (protocol 0 arguments), without its newline.
    fn line(&mut self) -> Result<&'a str, ImportError> {
        let rest = &self.bytes[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.err("unterminated line"))?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| self.err("line is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }

    fn text(&mut self, n: usize) -> Result<Value, ImportError> {
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| self.err("string is not UTF-8"))?;
        Ok(Value::Str(Rc::from(s)))
    }

    fn push(&mut self, v: Value) {
        self.stack.push(Slot::Value(v));
    }

    fn pop(&mut self) -> Result<Value, ImportError> {
        match self.stack.pop() {
            Some(Slot::Value(v)) => Ok(v),
            Some(Slot::Mark) => Err(self.err("found a mark where a value was expected")),
            None => Err(self.err("stack underflow")),
        }
    }

    fn top(&mut self) -> Result<&mut Value, ImportError> {
        let pos = self.pos;
        match self.stack.last_mut() {
            Some(Slot::Value(v)) => Ok(v),
            _ => Err(ImportError::Pickle {
                offset: pos,
                reason: "no value on the stack".into(),
            }),
        }
    }

    /// The values above the topmost mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, ImportError> {
        let at = self
            .stack
            .iter()
            .rposition(|s| matches!(s, Slot::Mark))
            .ok_or_else(|| self.err("no mark on the stack"))?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .filter_map(|s| match s {
                Slot::Value(v) => Some(v),
                Slot::Mark => None,
            })
            .collect())
    }

    fn memo_get(&self, key: u64) -> Result<Value, ImportError> {
        self.memo
            .get(&key)
            .cloned()
            .ok_or_else(|| self.err(format!("memo entry {key} was never stored")))
    }

    fn memo_put(&mut self, key: u64) -> Result<(), ImportError> {
        let v = self.top()?.clone();
        self.memo.insert(key, v);
        Ok(())
    }

    fn run(mut self) -> Result<Value, ImportError> {
        for _ in 0..MAX_OPS {
            let op = self.u8()?;
            match op {
                0x80 => {
                    // PROTO
                    let v = self.u8()?;
                    if v > 5 {
                        return Err(self.err(format!("pickle protocol {v} is newer than 5")));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a hint for buffered readers
                }
                b'.' => return self.pop(),
                b'(' => self.stack.push(Slot::Mark),
                b'0' => {
                    self.stack.pop().ok_or_else(|| self.err("stack underflow"))?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v);
                }
                // Numbers.
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(v as i64));
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(v as i64));
                }
                0x8a | 0x8b => {
                    // LONG1 / LONG4: little-endian two's complement
                    let n = if op == 0x8a {
                        self.u8()? as usize
                    } else {
                        self.u32()? as usize
                    };
                    let b = self.take(n)?;
                    if n > 8 {
                        return Err(self.err(format!("an integer of {n} bytes does not fit in 64 bits")));
                    }
                    let mut v: i64 = 0;
                    for (i, &byte) in b.iter().enumerate() {
                        v |= (byte as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.push(Value::Int(v));
                }
                b'I' | b'L' => {
                    let line = self.line()?.trim_end_matches('L');
                    let v = match line {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        s => Value::Int(s.parse().map_err(|_| self.err(format!("bad integer {s:?}")))?),
                    };
                    self.push(v);
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push(Value::Float(f64::from_be_bytes(a)));
                }
                b'F' => {
                    let line = self.line()?;
                    let v = line.parse().map_err(|_| self.err(format!("bad float {line:?}")))?;
                    self.push(Value::Float(v));
                }
                // Strings and bytes.
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.text(n)?;
                    self.push(v);
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let v = self.text(n)?;
                    self.push(v);
                }
                0x8d => {
                    let n = self.len64()?;
                    let v = self.text(n)?;
                    self.push(v);
                }
                b'T' | b'U' | b'B' | b'C' | 0x8e => {
                    // BINSTRING / SHORT_BINSTRING (Python 2 str) and BINBYTES*
                    let n = match op {
                        b'U' | b'C' => self.u8()? as usize,
                        0x8e => self.len64()?,
                        _ => self.u32()? as usize,
                    };
                    let b = self.take(n)?;
                    self.push(Value::Bytes(Rc::from(b)));
                }
                b'V' => {
                    let line = self.line()?;
                    self.push(Value::Str(Rc::from(line)));
                }
                // Containers.
                b')' => self.push(Value::Tuple(Rc::from(Vec::new()))),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(Rc::from(items)));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Value::Tuple(Rc::from(items)));
                }
                b']' => self.push(Value::List(Rc::new(RefCell::new(Vec::new())))),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(Rc::new(RefCell::new(items))));
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b'}' => self.push(Value::Dict(Rc::new(RefCell::new(Vec::new())))),
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items).ok_or_else(|| self.err("DICT with an odd number of items"))?;
                    self.push(Value::Dict(Rc::new(RefCell::new(pairs))));
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![(k, v)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items).ok_or_else(|| self.err("SETITEMS with an odd number of items"))?;
                    self.set_items(pairs)?;
                }
                0x8f => self.push(Value::List(Rc::new(RefCell::new(Vec::new())))),
                0x90 => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(Rc::new(RefCell::new(items))));
                }
                // Memo.
                b'q' => {
                    let k = self.u8()? as u64;
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = self.u32()? as u64;
                    self.memo_put(k)?;
                }
                b'p' => {
                    let line = self.line()?;
                    let k = line.parse().map_err(|_| self.err(format!("bad memo key {line:?}")))?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = self.u8()? as u64;
                    let v = self.memo_get(k)?;
                    self.push(v);
                }
                b'j' => {
                    let k = self.u32()? as u64;
                    let v = self.memo_get(k)?;
                    self.push(v);
                }
                b'g' => {
                    let line = self.line()?;
                    let k = line.parse().map_err(|_| self.err(format!("bad memo key {line:?}")))?;
                    let v = self.memo_get(k)?;
                    self.push(v);
                }
                // Classes, calls and objects: recorded, never made.
                b'c' => {
                    let module = self.line()?.to_string();
                    let name = self.line()?.to_string();
                    self.push(Value::Global(Rc::new(Global { module, name })));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module.as_str(), name.as_str()) {
                        (Some(m), Some(n)) => self.push(Value::Global(Rc::new(Global {
                            module: m.to_string(),
                            name: n.to_string(),
                        }))),
                        _ => return Err(self.err("STACK_GLOBAL needs two strings")),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let args = match args {
                        Value::Tuple(t) => t.to_vec(),
                        _ => return Err(self.err("REDUCE arguments are not a tuple")),
                    };
                    let v = self.reduce(callable, args)?;
                    self.push(v);
                }
                0x81 => {
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let args = match args {
                        Value::Tuple(t) => t.to_vec(),
                        _ => return Err(self.err("NEWOBJ arguments are not a tuple")),
                    };
                    self.push(object(class, args));
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let args = match args {
                        Value::Tuple(t) => t.to_vec(),
                        _ => return Err(self.err("NEWOBJ_EX arguments are not a tuple")),
                    };
                    self.push(object(class, args));
                }
                b'i' => {
                    let module = self.line()?.to_string();
                    let name = self.line()?.to_string();
                    let args = self.pop_mark()?;
                    self.push(object(Value::Global(Rc::new(Global { module, name })), args));
                }
                b'o' => {
                    let mut items = self.pop_mark()?;
                    if items.is_empty() {
                        return Err(self.err("OBJ without a class"));
                    }
                    let class = items.remove(0);
                    self.push(object(class, items));
                }
                b'b' => {
                    let state = self.pop()?;
                    // A BUILD on a reconstructed dict or tensor (PyTorch may
                    // pass tensor attributes this way) has nothing to keep.
                    if let Value::Object(o) = self.top()? {
                        o.borrow_mut().state = Some(state);
                    }
                }
                // Persistent ids: storages in the archive.
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent(pid)?;
                    self.push(v);
                }
                b'P' => {
                    let line = self.line()?;
                    let v = self.persistent(Value::Str(Rc::from(line)))?;
                    self.push(v);
                }
                other => {
                    return Err(self.err(format!("unsupported pickle opcode 0x{other:02x}")));
                }
            }
        }
        Err(self.err("more opcodes than any checkpoint holds"))
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), ImportError> {
        match self.top()? {
            Value::List(l) => l.borrow_mut().extend(items),
            Value::Object(o) => o.borrow_mut().appended.extend(items),
            _ => return Err(self.err("APPEND to something that is not a list")),
        }
        Ok(())
    }

    fn set_items(&mut self, pairs: Vec<(Value, Value)>) -> Result<(), ImportError> {
        match self.top()? {
            Value::Dict(d) => d.borrow_mut().extend(pairs),
            Value::Object(o) => o.borrow_mut().items.extend(pairs),
            _ => return Err(self.err("SETITEM on something that is not a dict")),
        }
        Ok(())
    }

    /// A `REDUCE`: the few constructors whose result we know are read as
    /// that result; any other call is recorded as an [`Object`].
    fn reduce(&self, callable: Value, args: Vec<Value>) -> Result<Value, ImportError> {
        let Value::Global(g) = &callable else {
            return Ok(object(callable, args));
        };
        let v = match (g.module.as_str(), g.name.as_str()) {
            ("collections", "OrderedDict") => Value::Dict(Rc::new(RefCell::new(Vec::new()))),
            ("builtins" | "__builtin__", "set" | "frozenset") | ("torch", "Size") => match args.first() {
                Some(Value::List(l)) => Value::Tuple(Rc::from(l.borrow().clone())),
                Some(Value::Tuple(t)) => Value::Tuple(t.clone()),
                _ => Value::Tuple(Rc::from(Vec::new())),
            },
            ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => self.tensor(&args)?,
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => match args.first() {
                Some(t @ Value::Tensor(_)) => t.clone(),
                _ => return Err(self.err("_rebuild_parameter without a tensor")),
            },
            _ => object(callable, args),
        };
        Ok(v)
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, …)`.
    fn tensor(&self, args: &[Value]) -> Result<Value, ImportError> {
        let storage = match args.first() {
            Some(Value::Storage(s)) => s.clone(),
            _ => return Err(self.err("a tensor without a storage")),
        };
        let offset = args
            .get(1)
            .and_then(Value::as_int)
            .ok_or_else(|| self.err("a tensor without an offset"))?;
        let size = ints(args.get(2)).ok_or_else(|| self.err("a tensor without sizes"))?;
        let stride = ints(args.get(3)).ok_or_else(|| self.err("a tensor without strides"))?;
        if size.len() != stride.len() || offset < 0 {
            return Err(self.err("a tensor whose sizes and strides disagree"));
        }
        Ok(Value::Tensor(Rc::new(TensorRef {
            storage,
            offset: offset as usize,
            size,
            stride,
        })))
    }

    /// `('storage', torch.HalfStorage, key, location, numel)`.
    fn persistent(&self, pid: Value) -> Result<Value, ImportError> {
        let Value::Tuple(t) = &pid else {
            return Err(self.err("a persistent id that is not a tuple"));
        };
        if t.first().and_then(Value::as_str) != Some("storage") || t.len() < 5 {
            return Err(self.err("a persistent id that is not a storage"));
        }
        let dtype = match &t[1] {
            Value::Global(g) => DType::from_storage_class(&g.name)
                .ok_or_else(|| self.err(format!("storage type {}.{} is not supported", g.module, g.name)))?,
            _ => return Err(self.err("a storage without a type")),
        };
        let key = t[2].as_str().ok_or_else(|| self.err("a storage without a key"))?;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(self.err(format!("storage key {key:?} is not a plain name")));
        }
        let numel = t[4]
            .as_int()
            .filter(|&n| n >= 0)
            .ok_or_else(|| self.err("a storage without a size"))?;
        Ok(Value::Storage(Rc::new(StorageRef {
            key: key.to_string(),
            dtype,
            numel: numel as usize,
        })))
    }
}

fn object(class: Value, args: Vec<Value>) -> Value {
    Value::Object(Rc::new(RefCell::new(Object {
        class,
        args,
        state: None,
        items: Vec::new(),
        appended: Vec::new(),
    })))
}

fn pairs(items: Vec<Value>) -> Option<Vec<(Value, Value)>> {
    if !items.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Some(out)
}

fn ints(v: Option<&Value>) -> Option<Vec<usize>> {
    match v? {
        Value::Tuple(t) => t
            .iter()
            .map(|x| x.as_int().and_then(|i| usize::try_from(i).ok()))
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Bytes written by Python 3.11's pickle (protocol 2) for
    // `{'a': [1, -2, 3.5, 'x'], 'b': (True, None)}` and friends, built by hand here
    // from the opcode table so the test needs no Python.
    #[test]
    fn reads_dicts_lists_tuples_and_numbers() {
        let mut p = vec![0x80, 2, b'}', b'q', 0, b'('];
        p.extend([b'X', 1, 0, 0, 0, b'a', b']', b'q', 1, b'(']);
        p.extend([b'K', 1, b'J', 0xfe, 0xff, 0xff, 0xff]);
        p.push(b'G');
        p.extend(3.5f64.to_be_bytes());
        p.extend([b'X', 1, 0, 0, 0, b'x', b'e']);
        p.extend([b'X', 1, 0, 0, 0, b'b', 0x88, b'N', 0x86, b'u', b'.']);
        let v = parse(&p).unwrap();
        let a = v.get("a").unwrap();
        let Value::List(l) = a else { panic!("not a list: {a:?}") };
        let l = l.borrow();
        assert_eq!(l[0].as_int(), Some(1));
        assert_eq!(l[1].as_int(), Some(-2));
        assert!(matches!(l[2], Value::Float(f) if f == 3.5));
        assert_eq!(l[3].as_str(), Some("x"));
        let Value::Tuple(b) = v.get("b").unwrap() else { panic!() };
        assert!(matches!(b[0], Value::Bool(true)));
        assert!(matches!(b[1], Value::None));
    }

    #[test]
    fn a_memoised_list_appended_later_is_shared() {
        // l = []; memo[0] = l; append 7 to l; then a tuple (memo[0],)
        let p = [0x80, 2, b']', b'q', 0, b'K', 7, b'a', b'h', 0, 0x86, b'.'];
        let v = parse(&p).unwrap();
        let Value::Tuple(t) = v else { panic!() };
        let (Value::List(a), Value::List(b)) = (&t[0], &t[1]) else {
            panic!()
        };
        assert!(Rc::ptr_eq(a, b));
        assert_eq!(a.borrow().len(), 1);
    }

    #[test]
    fn an_unknown_class_is_recorded_not_called() {
        // os.system('echo pwned') as a pickle would ask for it
        let mut p = vec![0x80, 2, b'c'];
        p.extend(b"os\nsystem\n");
        p.extend([b'X', 10, 0, 0, 0]);
        p.extend(b"echo pwned");
        p.extend([0x85, b'R', b'.']);
        let v = parse(&p).unwrap();
        assert_eq!(v.class_name().as_deref(), Some("os.system"));
    }

    #[test]
    fn truncated_and_bad_pickles_are_errors_not_panics() {
        assert!(parse(&[]).is_err());
        assert!(parse(&[0x80, 2, b'X', 200, 0, 0, 0, b'a']).is_err());
        assert!(parse(&[0x80, 2, b'h', 3, b'.']).is_err());
        assert!(parse(&[0x80, 2, b'e', b'.']).is_err());
        assert!(parse(&[0x80, 2, 0xff]).is_err());
        assert!(parse(&[0x80, 9]).is_err());
        // every prefix of a valid pickle fails cleanly
        let p = [
            0x80, 2, b'}', b'q', 0, b'(', b'X', 1, 0, 0, 0, b'a', b'K', 1, b'u', b'.',
        ];
        for n in 0..p.len() {
            assert!(parse(&p[..n]).is_err(), "prefix {n}");
        }
        assert!(parse(&p).is_ok());
    }
}
