//! A llama-architecture language model (SmolLM2, TinyLlama, Llama) run from a
//! GGUF file on the CPU: RMS norm, rotary positions (llama.cpp's adjacent-pair
//! layout), grouped-query attention with a key/value cache, SwiGLU. Weights
//! stay quantised in memory: a prompt dequantises one matrix at a time for a
//! matrix product, a generated token multiplies the stored rows directly.

use rayon::prelude::*;

use super::error::LlmError;
use super::gguf::{Gguf, TensorInfo, Value};
use super::quant::{self, GgmlType};
use super::tokenizer::Tokenizer;

/// The shape of the network.
#[derive(Debug, Clone)]
pub struct Config {
    pub layers: usize,
    pub dim: usize,
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub rope_base: f32,
    pub eps: f32,
    /// Most positions one session may hold.
    pub context: usize,
}

/// A weight matrix of `rows` outputs by `cols` inputs, stored in the file.
#[derive(Debug, Clone)]
struct Matrix {
    ty: GgmlType,
    rows: usize,
    cols: usize,
    start: usize,
}

struct Layer {
    attn_norm: Vec<f32>,
    q: Matrix,
    k: Matrix,
    v: Matrix,
    o: Matrix,
    ffn_norm: Vec<f32>,
    gate: Matrix,
    up: Matrix,
    down: Matrix,
}

pub struct Llama {
    file: Gguf,
    pub cfg: Config,
    pub tokenizer: Tokenizer,
    embd: Matrix,
    layers: Vec<Layer>,
    out_norm: Vec<f32>,
    output: Matrix,
}

/// Longest context a session gets, whatever the file allows (memory bound:
/// 30 layers × 2 × 192 floats × 4096 positions ≈ 190 MB for SmolLM2-135M).
pub const MAX_CONTEXT: usize = 4096;

fn matrix(g: &Gguf, name: &str, cols: usize) -> Result<Matrix, LlmError> {
    let t: &TensorInfo = g.tensor(name)?;
    if t.dims.len() != 2 || t.dims[0] != cols {
        return Err(LlmError::Format(format!(
            "tensor {name}: shape {:?}, wanted [{cols}, _]",
            t.dims
        )));
    }
    Ok(Matrix {
        ty: t.ty,
        rows: t.dims[1],
        cols,
        start: t.start,
    })
}

fn vector(g: &Gguf, name: &str, n: usize) -> Result<Vec<f32>, LlmError> {
    let t = g.tensor(name)?;
    if t.dims.iter().product::<usize>() != n {
        return Err(LlmError::Format(format!(
            "tensor {name}: shape {:?}, wanted [{n}]",
            t.dims
        )));
    }
    let mut v = vec![0f32; n];
    quant::dequantize(t.ty, g.data(t), &mut v);
    Ok(v)
}

impl Llama {
    /// Loads a GGUF file of the `llama` architecture.
    pub fn open(path: &std::path::Path) -> Result<Self, LlmError> {
        Self::from_gguf(Gguf::open(path)?)
    }

    pub fn from_gguf(g: Gguf) -> Result<Self, LlmError> {
        let arch = g.get("general.architecture")?.as_str().unwrap_or("");
        if arch != "llama" {
            return Err(LlmError::Format(format!("architecture {arch:?} (only llama is run)")));
        }
        let n = |k: &str| g.u64(&format!("llama.{k}")).map(|v| v as usize);
        let (dim, heads) = (n("embedding_length")?, n("attention.head_count")?);
        let kv_heads = g
            .meta
            .get("llama.attention.head_count_kv")
            .and_then(Value::as_u64)
            .unwrap_or(heads as u64) as usize;
        if heads == 0 || kv_heads == 0 || dim % heads != 0 || heads % kv_heads != 0 || (dim / heads) % 2 != 0 {
            return Err(LlmError::Format(format!(
                "{heads} heads, {kv_heads} key/value heads, width {dim}"
            )));
        }
        let f = |k: &str, d: f64| g.meta.get(&format!("llama.{k}")).and_then(Value::as_f64).unwrap_or(d) as f32;
        let cfg = Config {
            layers: n("block_count")?,
            dim,
            hidden: n("feed_forward_length")?,
            heads,
            kv_heads,
            head_dim: dim / heads,
            rope_base: f("rope.freq_base", 10000.0),
            eps: f("attention.layer_norm_rms_epsilon", 1e-5),
            context: n("context_length").unwrap_or(2048).min(MAX_CONTEXT),
        };
        let kv = cfg.kv_heads * cfg.head_dim;
        let mut layers = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let w = |s: &str| format!("blk.{i}.{s}.weight");
            let layer = Layer {
                attn_norm: vector(&g, &w("attn_norm"), dim)?,
                q: matrix(&g, &w("attn_q"), dim)?,
                k: matrix(&g, &w("attn_k"), dim)?,
                v: matrix(&g, &w("attn_v"), dim)?,
                o: matrix(&g, &w("attn_output"), dim)?,
                ffn_norm: vector(&g, &w("ffn_norm"), dim)?,
                gate: matrix(&g, &w("ffn_gate"), dim)?,
                up: matrix(&g, &w("ffn_up"), dim)?,
                down: matrix(&g, &w("ffn_down"), cfg.hidden)?,
            };
            let rows = [
                (layer.q.rows, dim),
                (layer.k.rows, kv),
                (layer.v.rows, kv),
                (layer.o.rows, dim),
                (layer.gate.rows, cfg.hidden),
                (layer.up.rows, cfg.hidden),
                (layer.down.rows, dim),
            ];
            if rows.iter().any(|(a, b)| a != b) {
                return Err(LlmError::Format(format!(
                    "block {i}: weight shapes do not fit the header"
                )));
            }
            layers.push(layer);
        }
        let tokenizer = Tokenizer::from_gguf(&g)?;
        let embd = matrix(&g, "token_embd.weight", dim)?;
        let output = match g.tensors.contains_key("output.weight") {
            true => matrix(&g, "output.weight", dim)?,
            false => embd.clone(),
        };
        if embd.rows != tokenizer.vocab_size() || output.rows != tokenizer.vocab_size() {
            return Err(LlmError::Format("embedding rows differ from the vocabulary".into()));
        }
        let out_norm = vector(&g, "output_norm.weight", dim)?;
        Ok(Self {
            file: g,
            cfg,
            tokenizer,
            embd,
            layers,
            out_norm,
            output,
        })
    }

    fn row(&self, m: &Matrix, r: usize) -> &[u8] {
        let n = m.ty.row_bytes(m.cols);
        &self.file.bytes[m.start + r * n..m.start + (r + 1) * n]
    }

    /// `x` (`t` rows of `m.cols`) times `mᵀ`: `t` rows of `m.rows`.
    fn matmul(&self, m: &Matrix, x: &[f32], t: usize) -> Vec<f32> {
        if t == 1 {
            let mut out = vec![0f32; m.rows];
            out.par_iter_mut()
                .enumerate()
                .for_each(|(r, o)| *o = quant::dot_row(m.ty, self.row(m, r), x));
            return out;
        }
        // Rows of the weight per task; each task dequantises its block and
        // multiplies it with every token (a block of the transposed product).
        let per = m.rows.div_ceil(rayon::current_num_threads().max(1) * 2).max(16);
        let blocks: Vec<(usize, Vec<f32>)> = (0..m.rows)
            .step_by(per)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|r0| {
                let r1 = (r0 + per).min(m.rows);
                let mut w = vec![0f32; (r1 - r0) * m.cols];
                for (r, dst) in (r0..r1).zip(w.chunks_exact_mut(m.cols)) {
                    quant::dequantize(m.ty, self.row(m, r), dst);
                }
                let mut dst = vec![0f32; (r1 - r0) * t];
                crate::nn::fast_conv::gemm_f32(r1 - r0, t, m.cols, &mut dst, false, &w, m.cols, 1, x, 1, m.cols);
                (r0, dst)
            })
            .collect();
        let mut out = vec![0f32; t * m.rows];
        for (r0, block) in blocks {
            for (i, row) in block.chunks_exact(t).enumerate() {
                for (j, v) in row.iter().enumerate() {
                    out[j * m.rows + r0 + i] = *v;
                }
            }
        }
        out
    }
}

fn rms_norm(x: &mut [f32], w: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(w.len()) {
        let ms = row.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
        let s = 1.0 / (ms + eps).sqrt();
        for (v, g) in row.iter_mut().zip(w) {
            *v *= s * g;
        }
    }
}

/// Rotary positions on `x` (`t` rows of `heads × head_dim`), pairs of
/// neighbouring elements rotated (the layout GGUF's llama weights are in).
fn rope(x: &mut [f32], heads: usize, head_dim: usize, pos0: usize, base: f32) {
    let row = heads * head_dim;
    for (t, r) in x.chunks_exact_mut(row).enumerate() {
        let p = (pos0 + t) as f32;
        for h in r.chunks_exact_mut(head_dim) {
            for i in 0..head_dim / 2 {
                let theta = p * base.powf(-((2 * i) as f32) / head_dim as f32);
                let (s, c) = theta.sin_cos();
                let (a, b) = (h[2 * i], h[2 * i + 1]);
                h[2 * i] = a * c - b * s;
                h[2 * i + 1] = a * s + b * c;
            }
        }
    }
}

/// One conversation's state: the key/value cache of every layer.
pub struct Session<'a> {
    model: &'a Llama,
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    pub pos: usize,
}

impl<'a> Session<'a> {
    pub fn new(model: &'a Llama) -> Self {
        let n = model.cfg.layers;
        Self {
            model,
            keys: vec![Vec::new(); n],
            values: vec![Vec::new(); n],
            pos: 0,
        }
    }

    /// Runs `tokens` after what the session holds; the logits after the last.
    pub fn feed(&mut self, tokens: &[u32]) -> Result<Vec<f32>, LlmError> {
        let m = self.model;
        let c = &m.cfg;
        let t = tokens.len();
        if t == 0 {
            return Err(LlmError::Input("nothing to run".into()));
        }
        if self.pos + t > c.context {
            return Err(LlmError::Input(format!(
                "{} tokens exceed the context of {}",
                self.pos + t,
                c.context
            )));
        }
        let mut x = vec![0f32; t * c.dim];
        for (tok, dst) in tokens.iter().zip(x.chunks_exact_mut(c.dim)) {
            if *tok as usize >= m.embd.rows {
                return Err(LlmError::Input(format!("token {tok} beyond the vocabulary")));
            }
            quant::dequantize(m.embd.ty, m.row(&m.embd, *tok as usize), dst);
        }
        for (l, layer) in m.layers.iter().enumerate() {
            let mut h = x.clone();
            rms_norm(&mut h, &layer.attn_norm, c.eps);
            let mut q = m.matmul(&layer.q, &h, t);
            let mut k = m.matmul(&layer.k, &h, t);
            let v = m.matmul(&layer.v, &h, t);
            rope(&mut q, c.heads, c.head_dim, self.pos, c.rope_base);
            rope(&mut k, c.kv_heads, c.head_dim, self.pos, c.rope_base);
            self.keys[l].extend_from_slice(&k);
            self.values[l].extend_from_slice(&v);
            let att = self.attend(l, &q, t);
            let o = m.matmul(&layer.o, &att, t);
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
            let mut h = x.clone();
            rms_norm(&mut h, &layer.ffn_norm, c.eps);
            let g = m.matmul(&layer.gate, &h, t);
            let u = m.matmul(&layer.up, &h, t);
            let a: Vec<f32> = g.iter().zip(&u).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
            let d = m.matmul(&layer.down, &a, t);
            x.iter_mut().zip(&d).for_each(|(a, b)| *a += b);
        }
        self.pos += t;
        let mut last = x[(t - 1) * c.dim..].to_vec();
        rms_norm(&mut last, &m.out_norm, c.eps);
        Ok(m.matmul(&m.output, &last, 1))
    }

    /// Causal attention of the `t` new queries over everything cached.
    fn attend(&self, l: usize, q: &[f32], t: usize) -> Vec<f32> {
        let c = &self.model.cfg;
        let (hd, kvd) = (c.head_dim, c.kv_heads * c.head_dim);
        let group = c.heads / c.kv_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let (keys, values) = (&self.keys[l], &self.values[l]);
        let mut out = vec![0f32; t * c.dim];
        out.par_chunks_mut(c.dim).enumerate().for_each(|(i, o)| {
            let n = self.pos + i + 1;
            let mut scores = vec![0f32; n];
            for h in 0..c.heads {
                let qh = &q[i * c.dim + h * hd..i * c.dim + (h + 1) * hd];
                let kvh = (h / group) * hd;
                for (p, s) in scores.iter_mut().enumerate() {
                    *s = quant::dot(qh, &keys[p * kvd + kvh..p * kvd + kvh + hd]) * scale;
                }
                let max = scores.iter().fold(f32::MIN, |a, b| a.max(*b));
                let mut sum = 0.0;
                for s in scores.iter_mut() {
                    *s = (*s - max).exp();
                    sum += *s;
                }
                let oh = &mut o[h * hd..(h + 1) * hd];
                for (p, s) in scores.iter().enumerate() {
                    let w = s / sum;
                    for (a, b) in oh.iter_mut().zip(&values[p * kvd + kvh..p * kvd + kvh + hd]) {
                        *a += w * b;
                    }
                }
            }
        });
        out
    }
}
