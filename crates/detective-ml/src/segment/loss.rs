//! The segmenter's loss: mean binary cross-entropy with logits over all pixels
//! plus the soft Dice loss `1 − (2·Σ p·t + 1) / (Σ p + Σ t + 1)`, computed per
//! output channel and averaged over the channels (so a per-class model's rare
//! classes weigh as much as its common ones; the +1 keeps a clean part from
//! dividing by zero and rewards an empty prediction there).
//!
//! [`DiceScope`] says what the sums run over: the whole batch (one Dice per
//! channel), or each image on its own (one Dice per image and channel, then the
//! mean). Per image, a small defect weighs as much as a large one in the same
//! batch and a false alarm on a clean part costs a whole image's Dice, which is
//! what the per-image Dice of `val` measures.
//!
//! `pos_weight` (`--pos-weight`) multiplies the cross-entropy of the defect
//! pixels, as PyTorch's `BCEWithLogitsLoss(pos_weight=…)` does: where defects are
//! well under 1 % of the pixels, the background otherwise dominates the BCE.

use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;

use crate::nn::scalar;

/// The two parts of the loss, for logging.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SegLossItems {
    pub bce: f32,
    pub dice: f32,
}

/// What the soft Dice's sums run over (`--dice`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiceScope {
    /// All images of the batch together: one Dice per channel. (The default when
    /// reading settings saved before the choice existed; new runs use `Image`.)
    #[default]
    Batch,
    /// Each image alone: one Dice per image and channel, averaged.
    Image,
}

impl DiceScope {
    /// Parses `batch` or `image`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "batch" => Some(DiceScope::Batch),
            "image" => Some(DiceScope::Image),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DiceScope::Batch => "batch",
            DiceScope::Image => "image",
        }
    }
}

/// Loss of a batch: `logits` and `targets` (0 or 1) both `[N, C, H, W]`.
/// Returns the differentiable total (BCE + Dice) and its parts.
pub fn segmentation_loss(logits: Tensor<4>, targets: Tensor<4>, scope: DiceScope) -> (Tensor<1>, SegLossItems) {
    weighted_segmentation_loss(logits, targets, scope, 1.0)
}

/// [`segmentation_loss`] with the defect pixels' cross-entropy weighted by
/// `pos_weight`: per pixel `(1 − t)·x + (1 + (w − 1)·t)·softplus(−x)`.
pub fn weighted_segmentation_loss(
    logits: Tensor<4>,
    targets: Tensor<4>,
    scope: DiceScope,
    pos_weight: f32,
) -> (Tensor<1>, SegLossItems) {
    let count = logits.dims().iter().product::<usize>().max(1) as f32;
    // softplus(−x) = relu(−x) + log(1 + e^(−|x|)), stable for any x
    let softplus_neg = logits.clone().neg().clamp_min(0.0) + (logits.clone().abs().neg().exp() + 1.0).log();
    let bce = if pos_weight == 1.0 {
        (-(targets.clone()) + 1.0) * logits.clone() + softplus_neg
    } else {
        (-(targets.clone()) + 1.0) * logits.clone() + (targets.clone() * (pos_weight - 1.0) + 1.0) * softplus_neg
    }
    .sum()
        / count;
    let p = sigmoid(logits);
    // sums over pixels (and over the batch unless per image): [1 or N, C, 1, 1]
    let sums = |t: Tensor<4>| match scope {
        DiceScope::Batch => t.sum_dim(0).sum_dim(2).sum_dim(3),
        DiceScope::Image => t.sum_dim(2).sum_dim(3),
    };
    let inter = sums(p.clone() * targets.clone());
    let dice = (-((inter * 2.0 + 1.0) / (sums(p) + sums(targets) + 1.0)) + 1.0).mean();
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
        let _serial = crate::burn_test_lock();
        let logits = vec![2.0f32, -1.0, 0.0, 3.0];
        let targets = vec![1.0f32, 0.0, 1.0, 0.0];
        let (total, items) = segmentation_loss(
            t(logits.clone(), [1, 1, 2, 2]),
            t(targets.clone(), [1, 1, 2, 2]),
            DiceScope::Batch,
        );
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
        let _serial = crate::burn_test_lock();
        let (_, items) = segmentation_loss(
            t(vec![20.0, -20.0, -20.0, 20.0], [1, 1, 2, 2]),
            t(vec![1.0, 0.0, 0.0, 1.0], [1, 1, 2, 2]),
            DiceScope::Batch,
        );
        assert!(items.bce < 1e-6 && items.dice < 1e-6, "{items:?}");
        // a clean part predicted clean: Dice loss stays ~0 thanks to the smoothing
        let (_, clean) = segmentation_loss(
            t(vec![-20.0; 4], [1, 1, 2, 2]),
            t(vec![0.0; 4], [1, 1, 2, 2]),
            DiceScope::Image,
        );
        assert!(clean.dice < 1e-6, "{clean:?}");
    }

    #[test]
    fn dice_is_the_mean_of_the_channels_dice() {
        let _serial = crate::burn_test_lock();
        // channel 0 perfect, channel 1 all wrong: Dice loss ≈ (0 + 1) / 2
        let logits = vec![20.0, -20.0, -20.0, 20.0, -20.0, -20.0, 20.0, 20.0];
        let targets = vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0];
        let (_, items) = segmentation_loss(t(logits, [1, 2, 2, 2]), t(targets, [1, 2, 2, 2]), DiceScope::Batch);
        // channel 1: inter 0, Σp 2, Σt 2 → 1 − 1/5 = 0.8
        assert!((items.dice - 0.4).abs() < 1e-4, "{items:?}");
    }

    #[test]
    fn per_image_dice_weighs_each_image_alike_and_batch_dice_each_pixel() {
        let _serial = crate::burn_test_lock();
        // image 0: a 3-pixel defect found; image 1: a 1-pixel defect missed
        let logits = vec![20.0, 20.0, 20.0, -20.0, -20.0, -20.0, -20.0, -20.0];
        let targets = vec![1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        let run = |scope| segmentation_loss(t(logits.clone(), [2, 1, 2, 2]), t(targets.clone(), [2, 1, 2, 2]), scope).1;
        // batch: inter 3, Σp 3, Σt 4 → 1 − 7/8
        let batch = run(DiceScope::Batch);
        assert!((batch.dice - 0.125).abs() < 1e-4, "{batch:?}");
        // per image: image 0 → 1 − 7/7 = 0, image 1 → 1 − 1/2 = 0.5; mean 0.25
        let image = run(DiceScope::Image);
        assert!((image.dice - 0.25).abs() < 1e-4, "{image:?}");
        // the BCE does not depend on the scope
        assert!((batch.bce - image.bce).abs() < 1e-7);
    }

    #[test]
    fn pos_weight_scales_the_defect_pixels_cross_entropy_only() {
        let _serial = crate::burn_test_lock();
        let logits = vec![0.5f32, -1.0, 2.0, -0.3];
        let targets = vec![1.0f32, 0.0, 0.0, 1.0];
        let sig = |x: f32| 1.0 / (1.0 + (-x).exp());
        let expect = |w: f32| -> f32 {
            logits
                .iter()
                .zip(&targets)
                .map(|(&x, &y)| -(w * y * sig(x).ln() + (1.0 - y) * (1.0 - sig(x)).ln()))
                .sum::<f32>()
                / 4.0
        };
        for w in [1.0f32, 5.0] {
            let (_, items) = weighted_segmentation_loss(
                t(logits.clone(), [1, 1, 2, 2]),
                t(targets.clone(), [1, 1, 2, 2]),
                DiceScope::Batch,
                w,
            );
            assert!(
                (items.bce - expect(w)).abs() < 1e-5,
                "w {w}: {} vs {}",
                items.bce,
                expect(w)
            );
        }
    }

    #[test]
    fn dice_scope_names_round_trip() {
        let _serial = crate::burn_test_lock();
        for s in [DiceScope::Batch, DiceScope::Image] {
            assert_eq!(DiceScope::from_name(s.name()), Some(s));
        }
        assert_eq!(DiceScope::from_name("pixel"), None);
    }
}
