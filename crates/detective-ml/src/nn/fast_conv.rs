//! 2-D convolution with a hand-written backward pass, plugged into Burn's autodiff
//! through a backend extension on `Flex` / `Autodiff<Flex>`; every `Conv` block of
//! the network uses it.
//!
//! Everything stays in NCHW (no NHWC layout copies):
//! - forward, per image: `Y_b[Cout, Ho·Wo] = W[Cout, Cin·k·k] × im2col(x_b)[Cin·k·k, Ho·Wo]`;
//! - weight gradient: `dW = Σ_b dY_b × im2col(x_b)ᵀ`, accumulated with gemm as
//!   `dWᵀ = colᵀ × dY_bᵀ` (gemm's AVX-512 kernels pack a left operand whose rows are
//!   contiguous slowly: this layout made the weight gradients 4× faster than from the
//!   plain im2col). Stride 1 (1×1 included) needs no im2col at all ([`dw_stride1`]:
//!   one gemm per kernel row on a pixel-major padded copy of `x_b`); other strides
//!   use a transposed im2col (`[Ho·Wo, Cin·k·k]`);
//! - input gradient: `dcol_b = Wᵀ × dY_b` then col2im (a plain gemm for 1×1/stride-1/pad-0).
//!
//! Only `f32`, `groups = 1`, `dilation = 1`. The `#[ignore]` benchmark at the bottom
//! compares it with Burn's own convolution.

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

/// Backend extension: a bias-free 2-D convolution with our own backward.
#[backend_extension(Flex, Autodiff)]
pub trait FastConvBackend: Backend {
    /// `x: [B, Cin, H, W]`, `w: [Cout, Cin, kh, kw]` → `[B, Cout, Ho, Wo]`.
    fn fast_conv2d(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self>;
}

/// Convolution geometry, derived from the input and weight shapes.
#[derive(Debug, Clone, Copy)]
struct Geom {
    n: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
    ho: usize,
    wo: usize,
}

impl Geom {
    fn new(x: &FlexTensor, w: &FlexTensor, stride: [usize; 2], padding: [usize; 2]) -> Self {
        let xs = x.layout().shape();
        let ws = w.layout().shape();
        assert_eq!(xs.len(), 4, "fast_conv2d: x must be 4-D");
        assert_eq!(ws.len(), 4, "fast_conv2d: w must be 4-D");
        assert_eq!(xs[1], ws[1], "fast_conv2d: channel mismatch (groups must be 1)");
        let (h, wd, kh, kw) = (xs[2], xs[3], ws[2], ws[3]);
        let ho = (h + 2 * padding[0] - kh) / stride[0] + 1;
        let wo = (wd + 2 * padding[1] - kw) / stride[1] + 1;
        Self {
            n: xs[0],
            cin: xs[1],
            h,
            w: wd,
            cout: ws[0],
            kh,
            kw,
            sh: stride[0],
            sw: stride[1],
            ph: padding[0],
            pw: padding[1],
            ho,
            wo,
        }
    }
    /// Rows of the im2col matrix: `Cin·kh·kw`.
    fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }
    fn hw_out(&self) -> usize {
        self.ho * self.wo
    }
    fn hw_in(&self) -> usize {
        self.h * self.w
    }
    /// 1×1, stride 1, no padding: im2col is the identity.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.ph == 0 && self.pw == 0
    }
}

fn f32_vec(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    assert_eq!(t.dtype(), DType::F32, "fast_conv2d supports f32 only");
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("contiguous").to_vec()),
    }
}

fn flex_from(data: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

/// Output columns `ox` whose input column `ox·stride + j − pad` lies inside `[0, w)`.
fn valid_cols(ox_count: usize, w: usize, stride: usize, j: usize, pad: usize) -> std::ops::Range<usize> {
    // ox·s + j ≥ pad  ⇔  ox ≥ ceil((pad − j) / s)
    let lo = if pad > j { (pad - j).div_ceil(stride) } else { 0 };
    // ox·s + j − pad ≤ w − 1  ⇔  ox ≤ (w − 1 + pad − j) / s
    let hi = if w + pad > j {
        ((w - 1 + pad - j) / stride + 1).min(ox_count)
    } else {
        0
    };
    lo.min(hi)..hi
}

/// `col[K, Ho·Wo]` of one image `x_b[Cin, H, W]`.
fn im2col(g: &Geom, xb: &[f32], col: &mut [f32]) {
    let hw = g.hw_out();
    let mut r = 0;
    for c in 0..g.cin {
        let xc = &xb[c * g.hw_in()..(c + 1) * g.hw_in()];
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &mut col[r * hw..(r + 1) * hw];
                let cols = valid_cols(g.wo, g.w, g.sw, j, g.pw);
                for oy in 0..g.ho {
                    let iy = (oy * g.sh + i) as isize - g.ph as isize;
                    let dst = &mut row[oy * g.wo..(oy + 1) * g.wo];
                    if iy < 0 || iy >= g.h as isize || cols.is_empty() {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &xc[iy as usize * g.w..(iy as usize + 1) * g.w];
                    dst[..cols.start].fill(0.0);
                    dst[cols.end..].fill(0.0);
                    let first = cols.start * g.sw + j - g.pw;
                    let d = &mut dst[cols.clone()];
                    if g.sw == 1 {
                        d.copy_from_slice(&src[first..first + d.len()]);
                    } else {
                        for (d, s) in d.iter_mut().zip(src[first..].iter().step_by(g.sw)) {
                            *d = *s;
                        }
                    }
                }
                r += 1;
            }
        }
    }
}

/// `colᵀ[Ho·Wo, K]` of one image `x_b[Cin, H, W]`: row `oy·Wo + ox` holds the
/// `Cin·kh·kw` inputs of that output pixel, written contiguously, `kw` at a time.
fn im2col_t(g: &Geom, xb: &[f32], colt: &mut [f32]) {
    let (k, kw) = (g.k(), g.kw);
    for (p, dst) in colt.chunks_exact_mut(k).take(g.hw_out()).enumerate() {
        let (oy, ox) = (p / g.wo, p % g.wo);
        let ix0 = (ox * g.sw) as isize - g.pw as isize;
        let inside_x = ix0 >= 0 && ix0 as usize + kw <= g.w;
        let mut r = 0;
        for c in 0..g.cin {
            let xc = &xb[c * g.hw_in()..(c + 1) * g.hw_in()];
            for i in 0..g.kh {
                let iy = (oy * g.sh + i) as isize - g.ph as isize;
                let d = &mut dst[r..r + kw];
                r += kw;
                if iy < 0 || iy >= g.h as isize {
                    d.fill(0.0);
                    continue;
                }
                let row = &xc[iy as usize * g.w..(iy as usize + 1) * g.w];
                if inside_x {
                    let src = &row[ix0 as usize..ix0 as usize + kw];
                    if kw == 3 {
                        // three floats are register moves, not a call to memmove
                        d[0] = src[0];
                        d[1] = src[1];
                        d[2] = src[2];
                    } else {
                        d.copy_from_slice(src);
                    }
                } else {
                    for (j, v) in d.iter_mut().enumerate() {
                        let ix = ix0 + j as isize;
                        *v = if ix >= 0 && (ix as usize) < g.w {
                            row[ix as usize]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

/// `dW[Cout, Cin, kh, kw] += dY_b ⋆ x_b` of one image for a stride-1 convolution,
/// without im2col: with `x_b` zero-padded and stored pixel-major (`[Hp·Wp, Cin]`) and
/// `dY_b` laid out on rows of `Wp` (zeros past `Wo`), the inputs of kernel row `i`
/// for output pixel `p` are the `kw·Cin` consecutive values at `(p + i·Wp)·Cin`, so
/// each kernel row is one gemm `[kw·Cin, P] × [P, Cout]` on plain views. It reads
/// `x_b` once instead of `kh·kw` times.
fn dw_stride1(g: &Geom, xb: &[f32], dyb: &[f32], dw: &mut [f32]) {
    let (hp, wp) = (g.h + 2 * g.ph, g.w + 2 * g.pw);
    let p_len = g.ho * wp;
    let (cin, cout, kh, kw) = (g.cin, g.cout, g.kh, g.kw);
    // x padded, pixel-major, with kw pixels of zeros after the last row
    let mut xt = vec![0.0f32; (hp * wp + kw) * cin];
    for y in 0..g.h {
        let row = &mut xt[((y + g.ph) * wp + g.pw) * cin..((y + g.ph) * wp + g.pw + g.w) * cin];
        for c in 0..cin {
            let src = &xb[c * g.hw_in() + y * g.w..c * g.hw_in() + (y + 1) * g.w];
            for (x, &v) in src.iter().enumerate() {
                row[x * cin + c] = v;
            }
        }
    }
    let mut dyp = vec![0.0f32; cout * p_len];
    for co in 0..cout {
        for oy in 0..g.ho {
            let src = &dyb[co * g.hw_out() + oy * g.wo..co * g.hw_out() + (oy + 1) * g.wo];
            dyp[co * p_len + oy * wp..co * p_len + oy * wp + g.wo].copy_from_slice(src);
        }
    }
    let m = kw * cin;
    let mut tmp = vec![0.0f32; m * cout];
    for i in 0..kh {
        // tmp[(j·Cin + c), co] = Σ_p x[(p + i·Wp + j)·Cin + c] · dY[co, p]
        gemm_f32_strided(
            m,
            cout,
            p_len,
            &mut tmp,
            cout,
            1,
            false,
            &xt[i * wp * cin..],
            1,
            cin,
            &dyp,
            1,
            p_len,
        );
        for j in 0..kw {
            for c in 0..cin {
                let t = &tmp[(j * cin + c) * cout..(j * cin + c + 1) * cout];
                for (co, v) in t.iter().enumerate() {
                    dw[co * g.k() + (c * kh + i) * kw + j] += v;
                }
            }
        }
    }
}

/// Scatter-add `dcol[K, Ho·Wo]` into `dx_b[Cin, H, W]` (which must be zeroed).
fn col2im(g: &Geom, dcol: &[f32], dxb: &mut [f32]) {
    let hw = g.hw_out();
    let mut r = 0;
    for c in 0..g.cin {
        let dxc = &mut dxb[c * g.hw_in()..(c + 1) * g.hw_in()];
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &dcol[r * hw..(r + 1) * hw];
                let cols = valid_cols(g.wo, g.w, g.sw, j, g.pw);
                r += 1;
                if cols.is_empty() {
                    continue;
                }
                let first = cols.start * g.sw + j - g.pw;
                for oy in 0..g.ho {
                    let iy = (oy * g.sh + i) as isize - g.ph as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let dst = &mut dxc[iy as usize * g.w..(iy as usize + 1) * g.w];
                    let src = &row[oy * g.wo + cols.start..oy * g.wo + cols.end];
                    if g.sw == 1 {
                        for (d, s) in dst[first..first + src.len()].iter_mut().zip(src) {
                            *d += *s;
                        }
                    } else {
                        for (d, s) in dst[first..].iter_mut().step_by(g.sw).zip(src) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}

/// Row-major `dst[m, n] (+)= lhs[m, k] × rhs[k, n]` with explicit row/column strides.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_f32(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    rhs_cs: usize,
) {
    gemm_f32_strided(m, n, k, dst, n, 1, accumulate, lhs, lhs_rs, lhs_cs, rhs, rhs_rs, rhs_cs);
}

/// [`gemm_f32`] with `dst[i, j]` at `i·dst_rs + j·dst_cs`.
#[allow(clippy::too_many_arguments)]
fn gemm_f32_strided(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    dst_cs: usize,
    accumulate: bool,
    lhs: &[f32],
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    rhs_cs: usize,
) {
    if m > 0 && n > 0 {
        assert!(dst.len() > (m - 1) * dst_rs + (n - 1) * dst_cs);
    }
    if m > 0 && n > 0 && k > 0 {
        assert!(lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
        assert!(rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    }
    // SAFETY: bounds of every operand are checked above; `dst` is exclusively borrowed
    // and does not alias `lhs`/`rhs` (distinct borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Batch items per rayon task so that there is about one task per thread.
fn min_len(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

fn forward_raw(g: &Geom, x: &[f32], w: &[f32]) -> Vec<f32> {
    let (k, hw) = (g.k(), g.hw_out());
    let mut y = vec![0.0f32; g.n * g.cout * hw];
    y.par_chunks_mut(g.cout * hw)
        .zip(x.par_chunks(g.cin * g.hw_in()))
        .with_min_len(min_len(g.n))
        .for_each_init(
            || {
                if g.pointwise() {
                    Vec::new()
                } else {
                    vec![0.0f32; k * hw]
                }
            },
            |col, (yb, xb)| {
                let colb: &[f32] = if g.pointwise() {
                    xb
                } else {
                    im2col(g, xb, col);
                    col
                };
                gemm_f32(g.cout, hw, k, yb, false, w, k, 1, colb, hw, 1);
            },
        );
    y
}

/// Returns `(dx, dw)`; each is computed only when requested.
fn backward_raw(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    need_dx: bool,
    need_dw: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let (k, hw, hwi) = (g.k(), g.hw_out(), g.hw_in());
    let dy_img = g.cout * hw;
    let x_img = g.cin * hwi;
    let mut dx = if need_dx { vec![0.0f32; g.n * x_img] } else { Vec::new() };
    let dx_chunk = if need_dx { x_img } else { 1 };
    // Per-image work: im2col → dW += dY_b · colᵀ; dcol = Wᵀ · dY_b → col2im.
    // `dx` is split per image; `dw` is a per-task accumulator reduced at the end.
    let mut dx_iter: Vec<&mut [f32]> = if need_dx {
        dx.chunks_mut(dx_chunk).collect()
    } else {
        Vec::new()
    };
    let work = |(b, dxb): (usize, Option<&mut [f32]>), acc: &mut (Vec<f32>, Vec<f32>, Vec<f32>)| {
        let xb = &x[b * x_img..(b + 1) * x_img];
        let dyb = &dy[b * dy_img..(b + 1) * dy_img];
        let (dw, col, dcol) = acc;
        if need_dw && g.sh == 1 && g.sw == 1 {
            // 1×1 convolutions too: their x_b is col, but contiguous along the reduction
            dw_stride1(g, xb, dyb, dw);
        } else if need_dw {
            im2col_t(g, xb, col);
            // dWᵀ[K, Cout] += colᵀᵀ[K, HW] × dY_bᵀ[HW, Cout], written into dW[Cout, K]
            gemm_f32_strided(k, g.cout, hw, dw, 1, k, true, col, 1, k, dyb, 1, hw);
        }
        if let Some(dxb) = dxb {
            if g.pointwise() {
                // dx_b[Cin, HW] = Wᵀ[Cin, Cout] × dY_b[Cout, HW]
                gemm_f32(k, hw, g.cout, dxb, false, w, 1, k, dyb, hw, 1);
            } else {
                gemm_f32(k, hw, g.cout, dcol, false, w, 1, k, dyb, hw, 1);
                col2im(g, dcol, dxb);
            }
        }
    };
    let init = || {
        let scratch = if g.pointwise() { 0 } else { k * hw };
        let col_scratch = if g.sh == 1 && g.sw == 1 { 0 } else { scratch };
        (
            if need_dw { vec![0.0f32; g.cout * k] } else { Vec::new() },
            if need_dw { vec![0.0f32; col_scratch] } else { Vec::new() },
            if need_dx { vec![0.0f32; scratch] } else { Vec::new() },
        )
    };
    let dw = if need_dx {
        dx_iter
            .par_iter_mut()
            .enumerate()
            .with_min_len(min_len(g.n))
            .fold(init, |mut acc, (b, dxb)| {
                work((b, Some(&mut **dxb)), &mut acc);
                acc
            })
            .map(|a| a.0)
            .reduce(Vec::new, add_vecs)
    } else {
        (0..g.n)
            .into_par_iter()
            .with_min_len(min_len(g.n))
            .fold(init, |mut acc, b| {
                work((b, None), &mut acc);
                acc
            })
            .map(|a| a.0)
            .reduce(Vec::new, add_vecs)
    };
    drop(dx_iter);
    (need_dx.then_some(dx), need_dw.then_some(dw))
}

fn add_vecs(mut a: Vec<f32>, b: Vec<f32>) -> Vec<f32> {
    if a.is_empty() {
        return b;
    }
    for (x, y) in a.iter_mut().zip(&b) {
        *x += *y;
    }
    a
}

fn conv_forward(x: &FlexTensor, w: &FlexTensor, stride: [usize; 2], padding: [usize; 2]) -> FlexTensor {
    let g = Geom::new(x, w, stride, padding);
    let y = forward_raw(&g, &f32_vec(x), &f32_vec(w));
    flex_from(y, [g.n, g.cout, g.ho, g.wo])
}

impl FastConvBackend for Flex {
    fn fast_conv2d(x: FlexTensor, w: FlexTensor, stride: [usize; 2], padding: [usize; 2]) -> FlexTensor {
        conv_forward(&x, &w, stride, padding)
    }
}

#[derive(Debug)]
struct FastConvBackward;

impl Backward<Flex, 2> for FastConvBackward {
    /// Forward inputs (O(1) Arc clones) plus the conv options.
    type State = (FlexTensor, FlexTensor, [usize; 2], [usize; 2]);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, w, stride, padding) = ops.state;
        let g = Geom::new(&x, &w, stride, padding);
        let (dx, dw) = backward_raw(
            &g,
            &f32_vec(&x),
            &f32_vec(&w),
            &f32_vec(&dy),
            node_x.is_some(),
            node_w.is_some(),
        );
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, flex_from(dx, [g.n, g.cin, g.h, g.w]));
        }
        if let (Some(node), Some(dw)) = (node_w, dw) {
            grads.register::<Flex>(node.id, flex_from(dw, [g.cout, g.cin, g.kh, g.kw]));
        }
    }
}

impl<C: CheckpointStrategy> FastConvBackend for Autodiff<Flex, C> {
    fn fast_conv2d(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        match FastConvBackward
            .prepare::<C>([x.node(), w.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let xp = x.primitive().clone();
                let wp = w.primitive().clone();
                let out = conv_forward(&xp, &wp, stride, padding);
                prep.finish((xp, wp, stride, padding), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(conv_forward(x.primitive(), w.primitive(), stride, padding)),
        }
    }
}

/// `conv2d` (groups 1, dilation 1) with a gemm-based NCHW forward and backward on
/// `Flex` and `Flex.autodiff()` devices; Burn's own `conv2d` on any other backend
/// (a CUDA device in a `cuda` build).
pub fn conv2d_fast(
    x: Tensor<4>,
    w: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: [usize; 2],
    padding: [usize; 2],
) -> Tensor<4> {
    if !crate::runtime::device::is_flex(&x.device()) {
        return burn::tensor::module::conv2d(
            x,
            w,
            bias,
            burn::tensor::ops::ConvOptions::new(stride, padding, [1, 1], 1),
        );
    }
    let y = Tensor::<4>::from_dispatch(<Dispatch as FastConvBackend>::fast_conv2d(
        x.into_dispatch(),
        w.into_dispatch(),
        stride,
        padding,
    ));
    match bias {
        Some(b) => {
            let c = b.dims()[0];
            y + b.reshape([1, c, 1, 1])
        }
        None => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Device, Distribution};

    fn rand<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    fn max_rel(a: Tensor<4>, b: Tensor<4>) -> f32 {
        let a = a.into_data().try_to_vec::<f32>().unwrap();
        let b = b.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(a.len(), b.len());
        // Guard against a vacuous comparison of two all-zero tensors.
        assert!(b.iter().any(|v| v.abs() > 1e-3), "reference is all zeros");
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        a.iter().zip(&b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    /// (B, Cin, H, W, Cout, k, stride, pad)
    type Case = (usize, usize, usize, usize, usize, usize, usize, usize);
    const CASES: &[Case] = &[
        (2, 3, 9, 11, 4, 3, 2, 1),
        (2, 5, 8, 8, 6, 3, 1, 1),
        (3, 6, 7, 5, 4, 1, 1, 0),
        (2, 4, 6, 6, 3, 1, 2, 0),
        (1, 3, 10, 10, 2, 5, 2, 2),
        (2, 4, 5, 7, 5, 3, 1, 0),
        // Images smaller than the kernel's reach, odd strides.
        (1, 2, 1, 1, 3, 3, 1, 1),
        (2, 3, 2, 3, 4, 5, 2, 2),
        (1, 2, 7, 9, 3, 3, 3, 1),
    ];

    #[test]
    fn matches_burn_conv2d_forward_and_gradients() {
        let _serial = crate::burn_test_lock();
        let device = Device::flex().autodiff();
        for &(n, cin, h, w, cout, k, s, p) in CASES {
            let x0 = rand([n, cin, h, w], &device);
            let w0 = rand([cout, cin, k, k], &device);
            let b0 = rand([cout], &device);
            let dy = rand([n, cout, (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1], &device);

            let run = |fast: bool| {
                let x = x0.clone().detach().require_grad();
                let wt = w0.clone().detach().require_grad();
                let b = b0.clone().detach().require_grad();
                let y = if fast {
                    conv2d_fast(x.clone(), wt.clone(), Some(b.clone()), [s, s], [p, p])
                } else {
                    conv2d(
                        x.clone(),
                        wt.clone(),
                        Some(b.clone()),
                        ConvOptions::new([s, s], [p, p], [1, 1], 1),
                    )
                };
                let grads = (y.clone() * dy.clone()).sum().backward();
                (
                    y.inner(),
                    x.grad(&grads).unwrap(),
                    wt.grad(&grads).unwrap(),
                    b.grad(&grads).unwrap(),
                )
            };
            let (y1, dx1, dw1, db1) = run(true);
            let (y2, dx2, dw2, db2) = run(false);
            let (ey, ex, ew) = (max_rel(y1, y2), max_rel(dx1, dx2), max_rel(dw1, dw2));
            let eb = max_rel(db1.reshape([1, 1, 1, cout]), db2.reshape([1, 1, 1, cout]));
            println!(
                "case {:?}: y {ey:.2e} dx {ex:.2e} dw {ew:.2e} db {eb:.2e}",
                (n, cin, h, w, cout, k, s, p)
            );
            for e in [ey, ex, ew, eb] {
                assert!(e <= 1e-4, "relative error {e} too large");
            }
        }
    }

    #[test]
    fn works_without_autodiff_and_without_input_grad() {
        let _serial = crate::burn_test_lock();
        let device = Device::flex();
        let x = rand([2, 3, 8, 8], &device);
        let w = rand([4, 3, 3, 3], &device);
        let a = conv2d_fast(x.clone(), w.clone(), None, [1, 1], [1, 1]);
        let b = conv2d(x, w, None, ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
        assert!(max_rel(a, b) <= 1e-4);

        // Input not requiring grad (first layer): only the weight gradient is produced.
        let ad = Device::flex().autodiff();
        let x = rand([2, 3, 8, 8], &ad);
        let w = rand([4, 3, 3, 3], &ad).require_grad();
        let grads = conv2d_fast(x.clone(), w.clone(), None, [2, 2], [1, 1]).sum().backward();
        assert!(w.grad(&grads).is_some());
        assert!(x.grad(&grads).is_none());
    }

    /// `cargo test --release -p detective-ml --lib nn::fast_conv -- --ignored --nocapture`
    #[test]
    #[ignore = "benchmark; run in release"]
    fn bench_vs_burn_conv2d() {
        use std::time::Instant;
        let _serial = crate::burn_test_lock();
        let device = Device::flex().autodiff();
        // (label, Cin, H, Cout, k, stride, pad) at batch 16 (YOLOv8n, imgsz 320).
        let shapes: &[(&str, usize, usize, usize, usize, usize, usize)] = &[
            ("3->16 k3 s2 @320", 3, 320, 16, 3, 2, 1),
            ("16->32 k3 s2 @160", 16, 160, 32, 3, 2, 1),
            ("32->32 k3 s1 @80", 32, 80, 32, 3, 1, 1),
            ("64->64 k1 s1 @40", 64, 40, 64, 1, 1, 0),
            ("128->128 k3 s1 @20", 128, 20, 128, 3, 1, 1),
            ("256->256 k3 s1 @10", 256, 10, 256, 3, 1, 1),
        ];
        let reps = 5;
        println!("| shape | burn fwd ms | ours fwd ms | burn bwd ms | ours bwd ms | fwd × | bwd × |");
        println!("|---|---|---|---|---|---|---|");
        for &(label, cin, h, cout, k, s, p) in shapes {
            let x0 = rand([16, cin, h, h], &device);
            let w0 = rand([cout, cin, k, k], &device);
            let time = |fast: bool| {
                let (mut f, mut b) = (Vec::new(), Vec::new());
                for _ in 0..reps + 1 {
                    let x = x0.clone().detach().require_grad();
                    let wt = w0.clone().detach().require_grad();
                    let t0 = Instant::now();
                    let y = if fast {
                        conv2d_fast(x.clone(), wt.clone(), None, [s, s], [p, p])
                    } else {
                        conv2d(x.clone(), wt.clone(), None, ConvOptions::new([s, s], [p, p], [1, 1], 1))
                    };
                    let t1 = Instant::now();
                    let grads = y.backward();
                    let gx = x.grad(&grads).unwrap();
                    let gw = wt.grad(&grads).unwrap();
                    let t2 = Instant::now();
                    std::hint::black_box((gx, gw));
                    f.push((t1 - t0).as_secs_f64() * 1e3);
                    b.push((t2 - t1).as_secs_f64() * 1e3);
                }
                // Drop the warm-up run, take the median.
                let med = |v: &mut Vec<f64>| {
                    v.remove(0);
                    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    v[v.len() / 2]
                };
                (med(&mut f), med(&mut b))
            };
            let (bf, bb) = time(false);
            let (of, ob) = time(true);
            println!(
                "| {label} | {bf:.1} | {of:.1} | {bb:.1} | {ob:.1} | {:.2} | {:.2} |",
                bf / of,
                bb / ob
            );
        }
    }
}
