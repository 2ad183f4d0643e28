//! The YOLOv8 detection loss (Ultralytics' `v8DetectionLoss`): task-aligned
//! assignment, BCE on the class logits against soft targets, CIoU and
//! distribution focal loss (DFL) on the positives, weighted by their target
//! score and normalised by the sum of target scores; gains box 7.5, cls 0.5,
//! dfl 1.5; the total is multiplied by the batch size, as Ultralytics does.

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Int, Tensor, TensorData};
use rayon::prelude::*;

use super::assigner::{AssignerConfig, Assignment, GtBox, assign};
use crate::detect::{REG_MAX, anchors};
use crate::nn::scalar;

/// Loss gains (Ultralytics' `box`, `cls`, `dfl` hyper-parameters).
#[derive(Debug, Clone, Copy)]
pub struct LossGains {
    pub box_gain: f32,
    pub cls_gain: f32,
    pub dfl_gain: f32,
}

impl Default for LossGains {
    fn default() -> Self {
        LossGains {
            box_gain: 7.5,
            cls_gain: 0.5,
            dfl_gain: 1.5,
        }
    }
}

/// The three loss components of one batch, after gains, per image (as logged).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LossItems {
    pub box_loss: f32,
    pub cls_loss: f32,
    pub dfl_loss: f32,
}

/// Output of [`detection_loss`]: the differentiable total and its parts.
pub struct LossOutput {
    /// `(box + cls + dfl) · batch`, to back-propagate.
    pub total: Tensor<1>,
    pub items: LossItems,
}

/// Decodes the detached raw head output into per-anchor class probabilities and
/// boxes in input pixels: `(scores [B][A·nc], boxes [B][A])`.
fn decode_detached(
    raw: &[f32],
    batch: usize,
    channels: usize,
    a_count: usize,
    nc: usize,
    points: &[[f32; 2]],
    strides: &[f32],
) -> Vec<(Vec<f32>, Vec<[f32; 4]>)> {
    (0..batch)
        .into_par_iter()
        .map(|b| {
            let base = b * channels * a_count;
            let at = |c: usize, a: usize| raw[base + c * a_count + a];
            let mut scores = vec![0f32; a_count * nc];
            let mut boxes = vec![[0f32; 4]; a_count];
            for a in 0..a_count {
                for k in 0..nc {
                    let x = at(4 * REG_MAX + k, a);
                    scores[a * nc + k] = 1.0 / (1.0 + (-x).exp());
                }
                let mut d = [0f32; 4];
                for (side, dist) in d.iter_mut().enumerate() {
                    let mut m = f32::NEG_INFINITY;
                    for i in 0..REG_MAX {
                        m = m.max(at(side * REG_MAX + i, a));
                    }
                    let (mut num, mut den) = (0f32, 0f32);
                    for i in 0..REG_MAX {
                        let e = (at(side * REG_MAX + i, a) - m).exp();
                        num += e * i as f32;
                        den += e;
                    }
                    *dist = num / den;
                }
                let [px, py] = points[a];
                let s = strides[a];
                boxes[a] = [(px - d[0]) * s, (py - d[1]) * s, (px + d[2]) * s, (py + d[3]) * s];
            }
            (scores, boxes)
        })
        .collect()
}

/// Complete IoU on `[F, 1]` columns (xyxy), Ultralytics' formula with eps 1e-7;
/// the aspect-ratio weight `alpha` carries no gradient, as in Ultralytics.
fn ciou_tensor(p: [Tensor<2>; 4], t: [Tensor<2>; 4]) -> Tensor<2> {
    const EPS: f32 = 1e-7;
    let [px1, py1, px2, py2] = p;
    let [tx1, ty1, tx2, ty2] = t;
    let w1 = px2.clone() - px1.clone();
    let h1 = py2.clone() - py1.clone() + EPS;
    let w2 = tx2.clone() - tx1.clone();
    let h2 = ty2.clone() - ty1.clone() + EPS;
    let iw = (px2.clone().min_pair(tx2.clone()) - px1.clone().max_pair(tx1.clone())).clamp_min(0.0);
    let ih = (py2.clone().min_pair(ty2.clone()) - py1.clone().max_pair(ty1.clone())).clamp_min(0.0);
    let inter = iw * ih;
    let union = w1.clone() * h1.clone() + w2.clone() * h2.clone() - inter.clone() + EPS;
    let iou = inter / union;
    let cw = px2.clone().max_pair(tx2.clone()) - px1.clone().min_pair(tx1.clone());
    let ch = py2.clone().max_pair(ty2.clone()) - py1.clone().min_pair(ty1.clone());
    let c2 = cw.powi_scalar(2) + ch.powi_scalar(2) + EPS;
    let dx = tx1 + tx2 - px1 - px2;
    let dy = ty1 + ty2 - py1 - py2;
    let rho2 = (dx.powi_scalar(2) + dy.powi_scalar(2)) / 4.0;
    let dv = (w2 / h2).atan() - (w1 / h1).atan();
    let v = dv.powi_scalar(2) * (4.0 / (std::f32::consts::PI * std::f32::consts::PI));
    let alpha = (v.clone() / (v.clone() - iou.clone() + (1.0 + EPS))).detach();
    iou - (rho2 / c2 + v * alpha)
}

/// Numerically stable binary cross-entropy with logits, summed.
fn bce_with_logits_sum(logits: Tensor<3>, targets: Tensor<3>) -> Tensor<1> {
    let relu = logits.clone().clamp_min(0.0);
    let log1p = (logits.clone().abs().neg().exp() + 1.0).log();
    (relu - logits * targets + log1p).sum()
}

/// Computes the loss of a batch. `raw` is the model's `forward_raw` output
/// `[B, 4·reg_max + nc, A]` for an input of `h × w`; `targets[b]` the boxes of image `b`.
pub fn detection_loss(
    raw: Tensor<3>,
    targets: &[Vec<GtBox>],
    num_classes: usize,
    input_hw: (usize, usize),
    assigner: &AssignerConfig,
    gains: &LossGains,
) -> LossOutput {
    let [batch, channels, a_count] = raw.dims();
    let device = raw.device();
    let nc = num_classes;
    let (points_grid, strides) = anchors(input_hw.0, input_hw.1);
    let points_px: Vec<[f32; 2]> = points_grid
        .iter()
        .zip(&strides)
        .map(|(p, s)| [p[0] * s, p[1] * s])
        .collect();

    // Assignment on detached predictions.
    let raw_host: Vec<f32> = raw
        .clone()
        .detach()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default();
    let decoded = decode_detached(&raw_host, batch, channels, a_count, nc, &points_grid, &strides);
    let assignments: Vec<Assignment> = decoded
        .par_iter()
        .zip(targets.par_iter())
        .map(|((scores, boxes), gts)| assign(assigner, scores, nc, boxes, &points_px, gts))
        .collect();

    // Dense class targets [B, nc, A] and the positives' data.
    let mut target_scores = vec![0f32; batch * nc * a_count];
    let mut fg_index: Vec<i64> = Vec::new();
    let mut fg_weight: Vec<f32> = Vec::new();
    let mut fg_anchor: Vec<f32> = Vec::new(); // ax, ay (grid units)
    let mut fg_target: Vec<f32> = Vec::new(); // xyxy (grid units)
    let mut fg_dfl_lo: Vec<i64> = Vec::new();
    let mut fg_dfl_w: Vec<f32> = Vec::new(); // weight of the lower bin
    let mut score_sum = 0f32;
    for (b, asg) in assignments.iter().enumerate() {
        for a in 0..a_count {
            if !asg.fg[a] {
                continue;
            }
            let gt = &targets[b][asg.gt_index[a]];
            let class = gt.class.min(nc - 1);
            let s = asg.score[a];
            target_scores[(b * nc + class) * a_count + a] = s;
            score_sum += s;
            if s <= 0.0 {
                // Contributes nothing to box/DFL (weight 0); skip the work.
                continue;
            }
            fg_index.push((b * a_count + a) as i64);
            fg_weight.push(s);
            let stride = strides[a];
            let [ax, ay] = points_grid[a];
            fg_anchor.extend_from_slice(&[ax, ay]);
            let t = gt.xyxy.map(|v| v / stride);
            fg_target.extend_from_slice(&t);
            let ltrb = [ax - t[0], ay - t[1], t[2] - ax, t[3] - ay];
            for d in ltrb {
                let d = d.clamp(0.0, REG_MAX as f32 - 1.0 - 0.01);
                let lo = d.floor();
                fg_dfl_lo.push(lo as i64);
                fg_dfl_w.push(lo + 1.0 - d);
            }
        }
    }
    let norm = score_sum.max(1.0);

    let cls_logits = raw.clone().narrow(1, 4 * REG_MAX, nc);
    let ts = Tensor::<1>::from_data(TensorData::new(target_scores, [batch * nc * a_count]), &device)
        .reshape([batch, nc, a_count]);
    let cls = bce_with_logits_sum(cls_logits, ts) / norm * gains.cls_gain;

    let f = fg_index.len();
    let (box_loss, dfl_loss) = if f == 0 {
        let zero = Tensor::<1>::zeros([1], &device);
        (zero.clone(), zero)
    } else {
        let idx = Tensor::<1, Int>::from_data(TensorData::new(fg_index, [f]), &device);
        let box_logits = raw
            .narrow(1, 0, 4 * REG_MAX)
            .swap_dims(1, 2)
            .reshape([batch * a_count, 4 * REG_MAX])
            .select(0, idx)
            .reshape([f, 4, REG_MAX]);
        let weight = Tensor::<1>::from_data(TensorData::new(fg_weight, [f]), &device).reshape([f, 1]);

        // Box: DFL expectation → xyxy (grid units) → CIoU with the target.
        let bins = Tensor::<1, Int>::arange(0..REG_MAX as i64, &device)
            .float()
            .reshape([1, 1, REG_MAX]);
        let dist = (softmax(box_logits.clone(), 2) * bins).sum_dim(2).reshape([f, 4]);
        let anchor = Tensor::<1>::from_data(TensorData::new(fg_anchor, [f * 2]), &device).reshape([f, 2]);
        let target = Tensor::<1>::from_data(TensorData::new(fg_target, [f * 4]), &device).reshape([f, 4]);
        let ax = anchor.clone().narrow(1, 0, 1);
        let ay = anchor.narrow(1, 1, 1);
        let col = |t: &Tensor<2>, i: usize| t.clone().narrow(1, i, 1);
        let pred = [
            ax.clone() - col(&dist, 0),
            ay.clone() - col(&dist, 1),
            ax + col(&dist, 2),
            ay + col(&dist, 3),
        ];
        let tgt = [col(&target, 0), col(&target, 1), col(&target, 2), col(&target, 3)];
        let iou = ciou_tensor(pred, tgt);
        let box_loss = ((iou.neg() + 1.0) * weight.clone()).sum() / norm * gains.box_gain;

        // DFL: cross-entropy to the two bins around the target distance.
        let logp = log_softmax(box_logits, 2);
        let lo = Tensor::<1, Int>::from_data(TensorData::new(fg_dfl_lo, [f * 4]), &device).reshape([f, 4, 1]);
        let hi = lo.clone() + 1;
        let wl = Tensor::<1>::from_data(TensorData::new(fg_dfl_w, [f * 4]), &device).reshape([f, 4, 1]);
        let wr = wl.clone().neg() + 1.0;
        let ce = (logp.clone().gather(2, lo) * wl + logp.gather(2, hi) * wr).neg();
        let per_box = ce.reshape([f, 4]).mean_dim(1);
        let dfl_loss = (per_box * weight).sum() / norm * gains.dfl_gain;
        (box_loss, dfl_loss)
    };

    let items = LossItems {
        box_loss: scalar(&box_loss),
        cls_loss: scalar(&cls),
        dfl_loss: scalar(&dfl_loss),
    };
    let total = (box_loss + cls + dfl_loss) * batch as f32;
    LossOutput { total, items }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::detect::{Scale, YoloConfig, YoloV8};
    use crate::train::optimizer::{Optimizer, OptimizerKind, gradients};

    /// Model, loss and optimiser together can fit one batch: bright rectangles on
    /// a dark background, one per image.
    #[test]
    fn fitting_one_batch_drives_every_loss_down() {
        let (s, batch, nc) = (64usize, 2usize, 2usize);
        let _serial = crate::burn_test_lock();
        let device = Device::flex().autodiff();
        device.seed(1);
        let mut model = YoloV8::new(
            &YoloConfig {
                scale: Scale::N,
                num_classes: nc,
            },
            &device,
        );
        let mut data = vec![0.1f32; batch * 3 * s * s];
        let mut targets = Vec::new();
        for b in 0..batch {
            let (x1, y1, w, h) = (8 + 12 * b, 10 + 6 * b, 24, 20 + 4 * b);
            for c in 0..3 {
                for y in y1..y1 + h {
                    for x in x1..x1 + w {
                        data[((b * 3 + c) * s + y) * s + x] = 0.9;
                    }
                }
            }
            let xyxy = [x1 as f32, y1 as f32, (x1 + w) as f32, (y1 + h) as f32];
            targets.push(vec![GtBox { class: b % nc, xyxy }]);
        }
        let mut opt = Optimizer::new(OptimizerKind::AdamW, 0.0);
        for _ in 0..60 {
            let x =
                Tensor::<1>::from_data(TensorData::new(data.clone(), [data.len()]), &device).reshape([batch, 3, s, s]);
            let out = detection_loss(
                model.forward_raw(x),
                &targets,
                nc,
                (s, s),
                &AssignerConfig::default(),
                &LossGains::default(),
            );
            let g = gradients(out.total, &model);
            model = opt.step_model(model, &g, [0.002; 3], 0.9, &device).0;
        }
        // The best-scoring prediction of each image is its rectangle, of its class.
        let x = Tensor::<1>::from_data(TensorData::new(data.clone(), [data.len()]), &device).reshape([batch, 3, s, s]);
        let y = model
            .forward(x)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default();
        let a = y.len() / (batch * (4 + nc));
        for (b, t) in targets.iter().enumerate() {
            let at = |r: usize, i: usize| y[(b * (4 + nc) + r) * a + i];
            let (mut best, mut best_i, mut best_c) = (0f32, 0, 0);
            for i in 0..a {
                for c in 0..nc {
                    if at(4 + c, i) > best {
                        (best, best_i, best_c) = (at(4 + c, i), i, c);
                    }
                }
            }
            let (cx, cy, w, h) = (at(0, best_i), at(1, best_i), at(2, best_i), at(3, best_i));
            let p = [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0];
            let iou = crate::detect::assigner::ciou(p, t[0].xyxy);
            assert_eq!(best_c, t[0].class, "image {b}");
            assert!(best > 0.3, "image {b}: score {best}");
            assert!(iou > 0.5, "image {b}: CIoU {iou} of {p:?} with {:?}", t[0].xyxy);
        }
    }
}
