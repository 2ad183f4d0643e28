//! Optimisers as Ultralytics configures them, on host vectors: SGD with Nesterov
//! momentum or AdamW, three parameter groups (decayed weights, batch-norm
//! weights, biases) with their own learning rates, weight decay on the first
//! group only, and clipping of the global gradient norm.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::params::{ParamInfo, ParamKind, read_params, write_params};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OptimizerKind {
    #[serde(rename = "SGD")]
    Sgd,
    AdamW,
}

impl OptimizerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "SGD",
            OptimizerKind::AdamW => "AdamW",
        }
    }
}

/// Learning rates of the three groups for one step: weights, norm weights, biases.
pub type GroupLr = [f32; 3];

/// Group index of a tensor (None for buffers).
pub fn group_of(kind: ParamKind) -> Option<usize> {
    match kind {
        ParamKind::Weight => Some(0),
        ParamKind::NormWeight => Some(1),
        ParamKind::Bias => Some(2),
        ParamKind::Buffer => None,
    }
}

/// Optimiser with its state (moments), one slot per tensor in visit order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    pub weight_decay: f32,
    /// AdamW's beta2 (beta1 is the momentum given at each step).
    pub beta2: f32,
    pub eps: f32,
    /// Steps taken (AdamW bias correction).
    pub steps: u64,
    /// First moment (AdamW) or momentum buffer (SGD).
    #[serde(skip)]
    pub m: Vec<Vec<f32>>,
    /// Second moment (AdamW only).
    #[serde(skip)]
    pub v: Vec<Vec<f32>>,
}

impl Optimizer {
    pub fn new(kind: OptimizerKind, weight_decay: f32) -> Self {
        Optimizer {
            kind,
            weight_decay,
            beta2: 0.999,
            eps: 1e-8,
            steps: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    /// One step on `model`'s weights from `grads` (in visit order, as
    /// [`gradients`] gives them): the updated model on `device` and its new
    /// values, which the weight average follows.
    pub fn step_model<M: Module>(
        &mut self,
        model: M,
        grads: &[Option<Vec<f32>>],
        lr: GroupLr,
        momentum: f32,
        device: &Device,
    ) -> (M, Vec<Vec<f32>>) {
        let (infos, mut values) = read_params(&model);
        self.step(&infos, &mut values, grads, lr, momentum);
        let model = write_params(model, &values, device);
        (model, values)
    }

    /// Updates `values` in place from `grads` (tensors without gradient are left alone).
    pub fn step(
        &mut self,
        infos: &[ParamInfo],
        values: &mut [Vec<f32>],
        grads: &[Option<Vec<f32>>],
        lr: GroupLr,
        momentum: f32,
    ) {
        if self.m.len() != values.len() {
            self.m = values.iter().map(|v| vec![0.0; v.len()]).collect();
            self.v = match self.kind {
                OptimizerKind::AdamW => values.iter().map(|v| vec![0.0; v.len()]).collect(),
                OptimizerKind::Sgd => Vec::new(),
            };
        }
        self.steps += 1;
        let t = self.steps as i32;
        for (i, info) in infos.iter().enumerate() {
            let (Some(group), Some(Some(g))) = (group_of(info.kind), grads.get(i)) else {
                continue;
            };
            let p = &mut values[i];
            if g.len() != p.len() {
                continue;
            }
            let lr = lr[group];
            let wd = if group == 0 { self.weight_decay } else { 0.0 };
            let m = &mut self.m[i];
            match self.kind {
                OptimizerKind::Sgd => {
                    // PyTorch SGD(nesterov=True): d = g + wd·p; buf = μ·buf + d; p -= lr·(d + μ·buf)
                    let first = self.steps == 1;
                    for k in 0..p.len() {
                        let d = g[k] + wd * p[k];
                        m[k] = if first { d } else { momentum * m[k] + d };
                        p[k] -= lr * (d + momentum * m[k]);
                    }
                }
                OptimizerKind::AdamW => {
                    let v = &mut self.v[i];
                    let (b1, b2) = (momentum, self.beta2);
                    let bc1 = 1.0 - b1.powi(t);
                    let bc2_sqrt = (1.0 - b2.powi(t)).sqrt();
                    let step = lr / bc1;
                    let decay = 1.0 - lr * wd;
                    for k in 0..p.len() {
                        p[k] *= decay;
                        m[k] = b1 * m[k] + (1.0 - b1) * g[k];
                        v[k] = b2 * v[k] + (1.0 - b2) * g[k] * g[k];
                        let denom = v[k].sqrt() / bc2_sqrt + self.eps;
                        p[k] -= step * m[k] / denom;
                    }
                }
            }
        }
    }
}

/// Scales gradients so that their global L2 norm is at most `max_norm`
/// (PyTorch's `clip_grad_norm_`); returns the norm before clipping.
pub fn clip_global_norm(grads: &mut [Option<Vec<f32>>], max_norm: f32) -> f32 {
    let total: f64 = grads
        .iter()
        .flatten()
        .map(|g| g.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>())
        .sum();
    let norm = total.sqrt() as f32;
    let scale = max_norm / (norm + 1e-6);
    if scale < 1.0 {
        for g in grads.iter_mut().flatten() {
            g.iter_mut().for_each(|x| *x *= scale);
        }
    }
    norm
}

struct GradTaker<'a> {
    grads: &'a mut GradientsParams,
    out: Vec<Option<Vec<f32>>>,
}

impl ModuleVisitor for GradTaker<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = self
            .grads
            .remove::<D>(param.id)
            .and_then(|t| t.into_data().convert::<f32>().try_into_vec::<f32>().ok());
        self.out.push(g);
    }
}

/// The gradient of `loss` for each of `model`'s float tensors, in visit order
/// (None where it has none): the backward pass, then [`take_grads`].
pub fn gradients<M: Module>(loss: Tensor<1>, model: &M) -> Vec<Option<Vec<f32>>> {
    let mut grads = GradientsParams::from_grads(loss.backward(), model);
    take_grads(model, &mut grads)
}

/// Takes each tensor's gradient out of `grads`, in visit order (None where absent).
pub fn take_grads<M: Module>(model: &M, grads: &mut GradientsParams) -> Vec<Option<Vec<f32>>> {
    let mut t = GradTaker { grads, out: Vec::new() };
    model.visit(&mut t);
    t.out
}

/// Adds `add` into `acc` (gradient accumulation over several batches).
pub fn accumulate(acc: &mut Vec<Option<Vec<f32>>>, add: Vec<Option<Vec<f32>>>) {
    if acc.is_empty() {
        *acc = add;
        return;
    }
    for (a, b) in acc.iter_mut().zip(add) {
        match (a.as_mut(), b) {
            (Some(a), Some(b)) if a.len() == b.len() => a.iter_mut().zip(b).for_each(|(x, y)| *x += y),
            (None, Some(b)) => *a = Some(b),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::ParamId;

    fn info(kind: ParamKind, n: usize) -> ParamInfo {
        ParamInfo {
            path: "x".into(),
            id: ParamId::new(),
            shape: vec![n],
            kind,
        }
    }

    #[test]
    fn adamw_first_step_moves_each_weight_by_lr_against_the_gradient_sign() {
        let _serial = crate::burn_test_lock();
        let infos = [info(ParamKind::Bias, 2)];
        let mut values = vec![vec![1.0f32, -1.0]];
        let grads = vec![Some(vec![0.5f32, -2.0])];
        let mut opt = Optimizer::new(OptimizerKind::AdamW, 0.0);
        opt.step(&infos, &mut values, &grads, [0.1; 3], 0.9);
        assert!((values[0][0] - 0.9).abs() < 1e-5, "{:?}", values);
        assert!((values[0][1] + 0.9).abs() < 1e-5, "{:?}", values);
    }

    #[test]
    fn weight_decay_applies_to_weights_only() {
        let _serial = crate::burn_test_lock();
        let infos = [
            info(ParamKind::Weight, 1),
            info(ParamKind::NormWeight, 1),
            info(ParamKind::Bias, 1),
        ];
        let mut values = vec![vec![1.0f32], vec![1.0], vec![1.0]];
        let grads = vec![Some(vec![0.0f32]), Some(vec![0.0]), Some(vec![0.0])];
        let mut opt = Optimizer::new(OptimizerKind::Sgd, 0.5);
        opt.step(&infos, &mut values, &grads, [0.1; 3], 0.0);
        assert!((values[0][0] - 0.95).abs() < 1e-6);
        assert_eq!(values[1][0], 1.0);
        assert_eq!(values[2][0], 1.0);
    }

    #[test]
    fn sgd_nesterov_matches_pytorch_for_two_steps() {
        let _serial = crate::burn_test_lock();
        // torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True), p=1, grads 1 then 1:
        // step1: buf=1, p = 1 - 0.1*(1+0.9) = 0.81; step2: buf=1.9, p = 0.81 - 0.1*(1+1.71) = 0.539
        let infos = [info(ParamKind::Bias, 1)];
        let mut values = vec![vec![1.0f32]];
        let mut opt = Optimizer::new(OptimizerKind::Sgd, 0.0);
        opt.step(&infos, &mut values, &[Some(vec![1.0])], [0.1; 3], 0.9);
        assert!((values[0][0] - 0.81).abs() < 1e-6);
        opt.step(&infos, &mut values, &[Some(vec![1.0])], [0.1; 3], 0.9);
        assert!((values[0][0] - 0.539).abs() < 1e-6);
    }

    #[test]
    fn global_norm_clipping_scales_all_gradients_together() {
        let _serial = crate::burn_test_lock();
        let mut grads = vec![Some(vec![30.0f32]), None, Some(vec![40.0])];
        let norm = clip_global_norm(&mut grads, 10.0);
        assert!((norm - 50.0).abs() < 1e-4);
        let g0 = grads[0].as_ref().map(|g| g[0]).unwrap_or(0.0);
        let g2 = grads[2].as_ref().map(|g| g[0]).unwrap_or(0.0);
        assert!((g0 - 6.0).abs() < 1e-3 && (g2 - 8.0).abs() < 1e-3);
    }
}
