//! Batch norm for layers that arrived folded into their convolution.
//!
//! An ONNX export computes `y = W'x + b'` per `Conv`; the import writes that as
//! an identity batch norm (γ 1, β `b'`, mean 0, variance 1 − ε), exact in
//! inference. Training normalises by each batch's own statistics instead, which
//! would rescale every channel to unit variance and change what the network
//! computes. Here each such layer gets the mean μ and variance σ² that its
//! convolution output has on real images, with γ = √(σ² + ε) and β = `b'` + μ:
//! inference still computes `W'x + b'` exactly, and a training batch like these
//! images normalises to nearly the same thing.

use std::collections::HashMap;

use burn::tensor::Tensor;

use crate::detect::YoloV8;
use crate::detect::blocks::BN_EPS;
use crate::nn::conv_probe::recording;
use crate::train::params::{read_params, write_params};

/// Gives every identity batch norm of `model` the statistics of `batches`
/// (`[B, 3, H, W]` inputs as the network takes them); layers that carry their
/// own statistics are left as they are. Returns the model and how many layers
/// were calibrated.
pub fn calibrate(model: YoloV8, batches: &[Tensor<4>]) -> (YoloV8, usize) {
    let device = model.b0.conv.weight.val().device();
    let (infos, mut values) = read_params(&model);
    let ((), stats) = recording(|| {
        for b in batches {
            let _ = model.forward_raw(b.clone());
        }
    });
    let index: HashMap<&str, usize> = infos.iter().enumerate().map(|(i, p)| (p.path.as_str(), i)).collect();
    let eps = BN_EPS as f32;
    let mut calibrated = 0;
    for info in &infos {
        let Some(layer) = info.path.strip_suffix(".conv.weight") else {
            continue;
        };
        let Some(s) = stats.get(&info.id) else { continue };
        let find = |t: &str| index.get(format!("{layer}.bn.{t}").as_str()).copied();
        let (Some(g), Some(b), Some(m), Some(v)) =
            (find("gamma"), find("beta"), find("running_mean"), find("running_var"))
        else {
            continue;
        };
        let identity = values[g].iter().all(|x| *x == 1.0)
            && values[m].iter().all(|x| *x == 0.0)
            && values[v].iter().all(|x| (*x - (1.0 - eps)).abs() < 1e-6);
        let mv = s.mean_var();
        if !identity || mv.len() != values[g].len() {
            continue;
        }
        for (c, (mean, var)) in mv.into_iter().enumerate() {
            let (mean, var) = (mean as f32, var as f32);
            values[g][c] = (var + eps).sqrt();
            values[b][c] += mean;
            values[m][c] = mean;
            values[v][c] = var;
        }
        calibrated += 1;
    }
    (write_params(model, &values, &device), calibrated)
}
