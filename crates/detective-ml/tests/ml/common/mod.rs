//! Helpers shared by the export and import tests.

pub mod ultralytics_reference;

use detective_core::Rng;
use detective_ml::train::params::ParamInfo;

/// Gives every batch norm of a fresh network random scale, shift and running
/// statistics (so batch-norm folding and activation ranges are exercised), plus
/// whatever `extra` picks a range for; returns how many tensors were changed.
pub fn randomize_batch_norms(
    infos: &[ParamInfo],
    values: &mut [Vec<f32>],
    seed: u64,
    extra: impl Fn(&str) -> Option<(f32, f32)>,
) -> usize {
    let mut rng = Rng::new(seed);
    let mut touched = 0;
    for (info, v) in infos.iter().zip(values.iter_mut()) {
        let p = info.path.as_str();
        let range = if p.ends_with("bn.gamma") {
            (0.5, 1.5)
        } else if p.ends_with("bn.beta") || p.ends_with("bn.running_mean") {
            (-0.3, 0.3)
        } else if p.ends_with("bn.running_var") {
            (0.3, 2.0)
        } else if let Some(r) = extra(p) {
            r
        } else {
            continue;
        };
        v.iter_mut().for_each(|x| *x = rng.range_f32(range.0, range.1));
        touched += 1;
    }
    touched
}
