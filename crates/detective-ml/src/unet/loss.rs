//! The segmenter's loss: mean binary cross-entropy with logits over all pixels
//! plus the soft Dice loss `1 − (2·Σ p·t + 1) / (Σ p + Σ t + 1)` over the batch,
//! computed per output channel and averaged over the channels (so a per-class
//! model's rare classes weigh as much as its common ones; the +1 keeps a batch of
//! clean parts from dividing by zero and rewards an empty prediction there).

use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;

use crate::train::loss::scalar;

/// The two parts of the loss, for logging.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SegLossItems {
    pub bce: f32,
    pub dice: f32,
}

/// Loss of a batch: `logits` and `targets` (0 or 1) both `[N, C, H, W]`.
/// Returns the differentiable total (BCE + Dice) and its parts.
pub fn segmentation_loss(logits: Tensor<4>, targets: Tensor<4>) -> (Tensor<1>, SegLossItems) {
    let count = logits.dims().iter().product::<usize>().max(1) as f32;
    let relu = logits.clone().clamp_min(0.0);
    let log1p = (logits.clone().abs().neg().exp() + 1.0).log();
    let bce = (relu - logits.clone() * targets.clone() + log1p).sum() / count;
    let p = sigmoid(logits);
    // sums over batch and pixels, per channel: [1, C, 1, 1]
    let per_channel = |t: Tensor<4>| t.sum_dim(0).sum_dim(2).sum_dim(3);
    let inter = per_channel(p.clone() * targets.clone());
    let dice = (-((inter * 2.0 + 1.0) / (per_channel(p) + per_channel(targets) + 1.0)) + 1.0).mean();
    let items = SegLossItems {
        bce: scalar(&bce),
        dice: scalar(&dice),
    };
    (bce + dice, items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn t(v: Vec<f32>, shape: [usize; 4]) -> Tensor<4> {
        Tensor::from_data(TensorData::new(v, shape), &Device::default())
    }

    #[test]
    fn loss_matches_hand_computed_bce_and_dice() {
        let logits = vec![2.0f32, -1.0, 0.0, 3.0];
        let targets = vec![1.0f32, 0.0, 1.0, 0.0];
        let (total, items) = segmentation_loss(t(logits.clone(), [1, 1, 2, 2]), t(targets.clone(), [1, 1, 2, 2]));
        let sig = |x: f32| 1.0 / (1.0 + (-x).exp());
        let bce: f32 = logits
            .iter()
            .zip(&targets)
            .map(|(&x, &y)| -(y * sig(x).ln() + (1.0 - y) * (1.0 - sig(x)).ln()))
            .sum::<f32>()
            / 4.0;
        let p: Vec<f32> = logits.iter().map(|&x| sig(x)).collect();
        let inter: f32 = p.iter().zip(&targets).map(|(a, b)| a * b).sum();
        let dice = 1.0 - (2.0 * inter + 1.0) / (p.iter().sum::<f32>() + 2.0 + 1.0);
        assert!((items.bce - bce).abs() < 1e-5, "{} vs {bce}", items.bce);
        assert!((items.dice - dice).abs() < 1e-5, "{} vs {dice}", items.dice);
        assert!((scalar(&total) - bce - dice).abs() < 1e-5);
    }

    #[test]
    fn confident_correct_prediction_has_near_zero_loss() {
        let (_, items) = segmentation_loss(
            t(vec![20.0, -20.0, -20.0, 20.0], [1, 1, 2, 2]),
            t(vec![1.0, 0.0, 0.0, 1.0], [1, 1, 2, 2]),
        );
        assert!(items.bce < 1e-6 && items.dice < 1e-6, "{items:?}");
        // a clean part predicted clean: Dice loss stays ~0 thanks to the smoothing
        let (_, clean) = segmentation_loss(t(vec![-20.0; 4], [1, 1, 2, 2]), t(vec![0.0; 4], [1, 1, 2, 2]));
        assert!(clean.dice < 1e-6, "{clean:?}");
    }

    #[test]
    fn dice_is_the_mean_of_the_channels_dice() {
        // channel 0 perfect, channel 1 all wrong: Dice loss ≈ (0 + 1) / 2
        let logits = vec![20.0, -20.0, -20.0, 20.0, -20.0, -20.0, 20.0, 20.0];
        let targets = vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0];
        let (_, items) = segmentation_loss(t(logits, [1, 2, 2, 2]), t(targets, [1, 2, 2, 2]));
        // channel 1: inter 0, Σp 2, Σt 2 → 1 − 1/5 = 0.8
        assert!((items.dice - 0.4).abs() < 1e-4, "{items:?}");
    }
}
