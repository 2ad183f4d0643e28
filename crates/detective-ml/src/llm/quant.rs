//! The ggml element types a GGUF model may store its weights in (F32, F16,
//! Q4_0, Q4_1, Q8_0): their block layouts, turned into f32 (whole rows for a
//! matrix product) or multiplied straight with a vector (one token).

use half::f16;

/// A ggml tensor type we can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q8_0,
}

impl GgmlType {
    /// From ggml's type id.
    pub fn from_id(id: u32) -> Result<Self, String> {
        Ok(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            8 => Self::Q8_0,
            other => {
                return Err(format!(
                    "ggml type {other} is not read here (F32, F16, Q4_0, Q4_1 and Q8_0 are)"
                ));
            }
        })
    }

    /// Elements per block.
    pub fn block_elems(self) -> usize {
        match self {
            Self::F32 | Self::F16 => 1,
            _ => 32,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 => 2,
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
            Self::Q8_0 => 34,
        }
    }

    /// Bytes of a row of `n` elements (`n` a whole number of blocks).
    pub fn row_bytes(self, n: usize) -> usize {
        n / self.block_elems() * self.block_bytes()
    }
}

fn half_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Writes the elements held in `bytes` (whole blocks of `ty`) into `out`.
pub fn dequantize(ty: GgmlType, bytes: &[u8], out: &mut [f32]) {
    match ty {
        GgmlType::F32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        GgmlType::F16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = half_at(c, 0);
            }
        }
        _ => {
            for (o, b) in out.chunks_exact_mut(32).zip(bytes.chunks_exact(ty.block_bytes())) {
                block(ty, b, o);
            }
        }
    }
}

/// One 32-element block.
fn block(ty: GgmlType, b: &[u8], o: &mut [f32]) {
    match ty {
        GgmlType::Q4_0 => {
            let d = half_at(b, 0);
            for j in 0..16 {
                o[j] = ((b[2 + j] & 0x0f) as f32 - 8.0) * d;
                o[j + 16] = ((b[2 + j] >> 4) as f32 - 8.0) * d;
            }
        }
        GgmlType::Q4_1 => {
            let (d, m) = (half_at(b, 0), half_at(b, 2));
            for j in 0..16 {
                o[j] = (b[4 + j] & 0x0f) as f32 * d + m;
                o[j + 16] = (b[4 + j] >> 4) as f32 * d + m;
            }
        }
        GgmlType::Q8_0 => {
            let d = half_at(b, 0);
            for j in 0..32 {
                o[j] = b[2 + j] as i8 as f32 * d;
            }
        }
        GgmlType::F32 | GgmlType::F16 => dequantize(ty, b, o),
    }
}

/// Σ aᵢbᵢ with eight running sums (which the compiler turns into SIMD lanes).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// The product of one stored row (`bytes`, `x.len()` elements of `ty`) with `x`.
pub fn dot_row(ty: GgmlType, bytes: &[u8], x: &[f32]) -> f32 {
    match ty {
        GgmlType::F32 | GgmlType::F16 => {
            let mut row = vec![0f32; x.len()];
            dequantize(ty, bytes, &mut row);
            dot(&row, x)
        }
        _ => {
            let mut buf = [0f32; 32];
            let mut sum = 0f32;
            for (b, xs) in bytes.chunks_exact(ty.block_bytes()).zip(x.chunks_exact(32)) {
                block(ty, b, &mut buf);
                sum += dot(&buf, xs);
            }
            sum
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: f32) -> [u8; 2] {
        f16::from_f32(v).to_le_bytes()
    }

    #[test]
    fn q4_1_blocks_hold_low_nibbles_first_then_high_nibbles() {
        let mut b = Vec::new();
        b.extend(h(0.5));
        b.extend(h(-1.0));
        for j in 0..16u8 {
            b.push(j | ((15 - j) << 4));
        }
        let mut out = [0f32; 32];
        dequantize(GgmlType::Q4_1, &b, &mut out);
        assert_eq!(out[0], -1.0);
        assert_eq!(out[3], 0.5);
        assert_eq!(out[16], 6.5);
        assert_eq!(out[31], -1.0);
        let x: Vec<f32> = (0..32).map(|i| i as f32 * 0.1).collect();
        let want: f32 = out.iter().zip(&x).map(|(a, b)| a * b).sum();
        assert!((dot_row(GgmlType::Q4_1, &b, &x) - want).abs() < 1e-4);
    }

    #[test]
    fn q8_0_and_q4_0_scale_signed_values() {
        let mut b = h(0.25).to_vec();
        b.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let mut out = [0f32; 32];
        dequantize(GgmlType::Q8_0, &b, &mut out);
        assert_eq!(out[0], -4.0);
        assert_eq!(out[31], 3.75);
        let mut q = h(2.0).to_vec();
        q.extend([0x80u8; 16]);
        dequantize(GgmlType::Q4_0, &q, &mut out);
        assert_eq!((out[0], out[16]), (-16.0, 0.0));
    }

    #[test]
    fn unknown_types_are_named_in_the_error() {
        assert!(GgmlType::from_id(12).unwrap_err().contains("12"));
    }
}
