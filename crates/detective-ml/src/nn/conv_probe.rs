//! Per-channel statistics of convolution outputs, gathered while a forward pass
//! runs on this thread: what batch norm would measure on those activations.
//! Used to give batch-norm layers that arrived folded into their convolution
//! (an ONNX import) the statistics of real images before training. Nothing is
//! recorded, and nothing costs anything, outside [`recording`].

use std::cell::RefCell;
use std::collections::HashMap;

use burn::module::ParamId;
use burn::tensor::Tensor;

/// Sums over the batch and the pixels of one layer's output channels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelStats {
    pub sum: Vec<f64>,
    pub sum_sq: Vec<f64>,
    /// Values summed per channel.
    pub count: f64,
}

impl ChannelStats {
    /// Mean and (biased, as batch norm uses) variance per channel.
    pub fn mean_var(&self) -> Vec<(f64, f64)> {
        let n = self.count.max(1.0);
        self.sum
            .iter()
            .zip(&self.sum_sq)
            .map(|(s, q)| {
                let m = s / n;
                (m, (q / n - m * m).max(0.0))
            })
            .collect()
    }
}

thread_local! {
    static ACTIVE: RefCell<Option<HashMap<ParamId, ChannelStats>>> = const { RefCell::new(None) };
}

/// Adds `y` (`[B, C, H, W]`, the output of the convolution whose weight is
/// `id`) to the statistics, when a recording is under way on this thread.
pub fn observe(id: ParamId, y: &Tensor<4>) {
    if !ACTIVE.with(|a| a.borrow().is_some()) {
        return;
    }
    let [b, c, h, w] = y.dims();
    let sum = y.clone().sum_dim(0).sum_dim(2).sum_dim(3).reshape([c]);
    let sum_sq = (y.clone() * y.clone()).sum_dim(0).sum_dim(2).sum_dim(3).reshape([c]);
    let host = |t: Tensor<1>| -> Vec<f64> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default()
            .into_iter()
            .map(f64::from)
            .collect()
    };
    let (sum, sum_sq) = (host(sum), host(sum_sq));
    ACTIVE.with(|a| {
        if let Some(map) = a.borrow_mut().as_mut() {
            let e = map.entry(id).or_insert_with(|| ChannelStats {
                sum: vec![0.0; c],
                sum_sq: vec![0.0; c],
                count: 0.0,
            });
            if e.sum.len() == sum.len() {
                e.sum.iter_mut().zip(&sum).for_each(|(a, b)| *a += b);
                e.sum_sq.iter_mut().zip(&sum_sq).for_each(|(a, b)| *a += b);
                e.count += (b * h * w) as f64;
            }
        }
    });
}

/// Runs `f` with recording on, and gives back what the convolutions saw (by
/// the id of each convolution's weight).
pub fn recording<R>(f: impl FnOnce() -> R) -> (R, HashMap<ParamId, ChannelStats>) {
    ACTIVE.with(|a| *a.borrow_mut() = Some(HashMap::new()));
    let r = f();
    let stats = ACTIVE.with(|a| a.borrow_mut().take()).unwrap_or_default();
    (r, stats)
}
