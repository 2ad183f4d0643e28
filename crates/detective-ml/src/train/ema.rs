//! Exponential moving average of the model's weights and buffers, as
//! Ultralytics' `ModelEMA`: decay `0.9999 · (1 − e^(−updates/2000))`, updated
//! after every optimiser step; the EMA is what is validated and saved.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ema {
    pub decay: f64,
    pub tau: f64,
    pub updates: u64,
    #[serde(skip)]
    pub values: Vec<Vec<f32>>,
}

impl Ema {
    /// Starts from the model's current values.
    pub fn new(values: Vec<Vec<f32>>) -> Self {
        Ema {
            decay: 0.9999,
            tau: 2000.0,
            updates: 0,
            values,
        }
    }

    /// Current decay factor.
    pub fn current_decay(&self) -> f32 {
        (self.decay * (1.0 - (-(self.updates as f64) / self.tau).exp())) as f32
    }

    /// Blends the model's new values in.
    pub fn update(&mut self, model: &[Vec<f32>]) {
        self.updates += 1;
        let d = self.current_decay();
        for (e, m) in self.values.iter_mut().zip(model) {
            if e.len() != m.len() {
                continue;
            }
            for (x, &y) in e.iter_mut().zip(m) {
                *x = d * *x + (1.0 - d) * y;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_update_copies_the_model_and_later_ones_blend() {
        let _serial = crate::burn_test_lock();
        let mut ema = Ema::new(vec![vec![0.0]]);
        ema.update(&[vec![1.0]]);
        // decay at update 1 is ~0.0005: nearly a copy
        assert!((ema.values[0][0] - 1.0).abs() < 1e-3);
        ema.updates = 100_000;
        ema.update(&[vec![0.0]]);
        assert!(ema.values[0][0] > 0.99);
    }
}
