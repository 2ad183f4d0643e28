//! Benchmarks behind `detective bench`: training throughput of the detector and
//! of the segmenter (forward, loss, backward and optimiser step on a fixed batch,
//! as their trainers run them) and inference latency of any model (detector or
//! segmenter) through the serving path.

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use detective_core::Rng;
use detective_vision::Frame;
use serde::Serialize;

use crate::detect::assigner::{AssignerConfig, GtBox};
use crate::detect::loss::{LossGains, detection_loss};
use crate::detect::{Scale, YoloConfig, YoloV8};
use crate::segment::loss::weighted_segmentation_loss;
use crate::segment::onnx_segmenter::segmenter_input;
use crate::segment::segmenter::AnySegmenter;
use crate::segment::{DiceScope, UNET_DIVISOR, UNetConfig, UNetTiny};
use crate::train::optimizer::{Optimizer, OptimizerKind, clip_global_norm, gradients};
use crate::{Detector, MlError, PredictOptions};

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub runs: usize,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub mean_ms: f64,
    pub images_per_sec: f64,
}

impl Timing {
    /// From per-run times in ms, each covering `images` images.
    pub fn from_ms(mut ms: Vec<f64>, images: usize) -> Timing {
        ms.sort_by(f64::total_cmp);
        let n = ms.len().max(1);
        let at = |q: f64| detective_core::stats::quantile(&ms, q).unwrap_or(f64::NAN);
        let mean = ms.iter().sum::<f64>() / n as f64;
        Timing {
            runs: ms.len(),
            median_ms: at(0.5),
            p95_ms: at(0.95),
            mean_ms: mean,
            images_per_sec: images as f64 * 1000.0 / mean,
        }
    }
}

/// A training step's timing and the mean of each of its parts.
#[derive(Debug, Clone, Serialize)]
pub struct StepSplit {
    pub step: Timing,
    pub forward_ms: f64,
    pub loss_ms: f64,
    pub backward_ms: f64,
    pub optimizer_ms: f64,
}

/// Detector training-step figures (in JSON the split's fields sit beside the
/// others).
#[derive(Debug, Clone, Serialize)]
pub struct TrainBench {
    pub scale: Scale,
    pub imgsz: u32,
    pub batch: usize,
    #[serde(flatten)]
    pub split: StepSplit,
}

/// Times `steps` full training steps (after `warmup` untimed ones) of a fresh
/// model on `device` (CPU or a GPU) on a random batch with a few boxes per image.
pub fn bench_train(
    scale: Scale,
    imgsz: u32,
    batch: usize,
    warmup: usize,
    steps: usize,
    device: &Device,
) -> Result<TrainBench, MlError> {
    if imgsz == 0 || !imgsz.is_multiple_of(32) || batch == 0 || steps == 0 {
        return Err(MlError::InvalidArgument(
            "imgsz must be a positive multiple of 32, batch and steps positive".into(),
        ));
    }
    let nc = 6;
    let s = imgsz as usize;
    let device = device.clone().autodiff();
    let mut model = YoloV8::new(&YoloConfig { scale, num_classes: nc }, &device);
    let mut rng = Rng::new(0);
    let data: Vec<f32> = (0..batch * 3 * s * s).map(|_| rng.f32()).collect();
    let targets: Vec<Vec<GtBox>> = (0..batch)
        .map(|_| {
            (0..3)
                .map(|_| {
                    let w = rng.range_f32(0.05, 0.4) * s as f32;
                    let h = rng.range_f32(0.05, 0.4) * s as f32;
                    let x = rng.range_f32(0.0, s as f32 - w);
                    let y = rng.range_f32(0.0, s as f32 - h);
                    GtBox {
                        class: rng.range_usize(0, nc),
                        xyxy: [x, y, x + w, y + h],
                    }
                })
                .collect()
        })
        .collect();
    let mut opt = Optimizer::new(OptimizerKind::AdamW, 5e-4);
    let mut clock = StepClock::default();
    for i in 0..warmup + steps {
        let t0 = Instant::now();
        let x = Tensor::<1>::from_data(TensorData::new(data.clone(), [data.len()]), &device).reshape([batch, 3, s, s]);
        let raw = model.forward_raw(x);
        // materialise the forward pass before timing the loss
        let _ = raw.clone().detach().into_data();
        let t1 = Instant::now();
        let out = detection_loss(
            raw,
            &targets,
            nc,
            (s, s),
            &AssignerConfig::default(),
            &LossGains::default(),
        );
        let t2 = Instant::now();
        let g = gradients(out.total, &model);
        let t3 = Instant::now();
        model = opt.step_model(model, &g, [1e-3; 3], 0.9, &device).0;
        if i >= warmup {
            clock.add([t0, t1, t2, t3, Instant::now()]);
        }
    }
    Ok(TrainBench {
        scale,
        imgsz,
        batch,
        split: clock.finish(batch),
    })
}

/// The timed steps of a training benchmark: each step's total and the mean of its
/// four parts (forward, loss, backward, optimiser).
#[derive(Default)]
struct StepClock {
    parts: [f64; 4],
    step_ms: Vec<f64>,
}

impl StepClock {
    /// One step from the instants that start each part and end the last.
    fn add(&mut self, t: [Instant; 5]) {
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
        for (k, part) in self.parts.iter_mut().enumerate() {
            *part += ms(t[k], t[k + 1]);
        }
        self.step_ms.push(ms(t[0], t[4]));
    }

    fn finish(self, batch: usize) -> StepSplit {
        let n = self.step_ms.len().max(1) as f64;
        let [forward_ms, loss_ms, backward_ms, optimizer_ms] = self.parts.map(|p| p / n);
        StepSplit {
            step: Timing::from_ms(self.step_ms, batch),
            forward_ms,
            loss_ms,
            backward_ms,
            optimizer_ms,
        }
    }
}

/// Segmenter training-step figures (in JSON the split's fields sit beside the
/// others).
#[derive(Debug, Clone, Serialize)]
pub struct SegTrainBench {
    pub imgsz: u32,
    pub batch: usize,
    pub params: usize,
    #[serde(flatten)]
    pub split: StepSplit,
}

/// Times `steps` training steps of a fresh UNetTiny (after `warmup` untimed
/// ones) on a random batch with a tenth of the pixels marked, as the segment
/// trainer runs a step: BCE + soft Dice over the batch, backward, gradients
/// clipped, AdamW (what `scripts/unet-torch-bench.py` times in PyTorch), on
/// `device` (CPU or a GPU).
pub fn bench_train_segmenter(
    imgsz: u32,
    batch: usize,
    warmup: usize,
    steps: usize,
    device: &Device,
) -> Result<SegTrainBench, MlError> {
    if imgsz == 0 || !(imgsz as usize).is_multiple_of(UNET_DIVISOR) || batch == 0 || steps == 0 {
        return Err(MlError::InvalidArgument(format!(
            "imgsz must be a positive multiple of {UNET_DIVISOR}, batch and steps positive"
        )));
    }
    let s = imgsz as usize;
    let device = device.clone().autodiff();
    let mut model = UNetTiny::new(&UNetConfig::default(), &device);
    let mut rng = Rng::new(0);
    let x: Vec<f32> = (0..batch * 3 * s * s).map(|_| rng.f32()).collect();
    let y: Vec<f32> = (0..batch * s * s)
        .map(|_| f32::from(u8::from(rng.f32() > 0.9)))
        .collect();
    let mut opt = Optimizer::new(OptimizerKind::AdamW, 1e-4);
    let mut clock = StepClock::default();
    for i in 0..warmup + steps {
        let t0 = Instant::now();
        let input = Tensor::<1>::from_data(TensorData::new(x.clone(), [x.len()]), &device).reshape([batch, 3, s, s]);
        let logits = model.forward(input);
        // materialise the forward pass before timing the loss
        let _ = logits.clone().detach().into_data();
        let t1 = Instant::now();
        let target = Tensor::<1>::from_data(TensorData::new(y.clone(), [y.len()]), &device).reshape([batch, 1, s, s]);
        let (loss, _) = weighted_segmentation_loss(logits, target, DiceScope::Batch, 1.0);
        let t2 = Instant::now();
        let mut g = gradients(loss, &model);
        clip_global_norm(&mut g, 10.0);
        let t3 = Instant::now();
        model = opt.step_model(model, &g, [1e-3; 3], 0.9, &device).0;
        if i >= warmup {
            clock.add([t0, t1, t2, t3, Instant::now()]);
        }
    }
    Ok(SegTrainBench {
        imgsz,
        batch,
        params: burn::module::Module::num_params(&model),
        split: clock.finish(batch),
    })
}

/// Inference figures: the whole serving path, and the median of each part of it.
#[derive(Debug, Clone, Serialize)]
pub struct InferBench {
    pub total: Timing,
    /// Letterbox and normalisation (our code).
    pub preprocess_ms: f64,
    /// The engine's forward pass (ONNX Runtime or Burn).
    pub inference_ms: f64,
    /// Decoding and NMS (our code).
    pub postprocess_ms: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Times `runs` predictions (after `warmup`) of `frame` through the full serving
/// path: letterbox, engine, decoding and NMS.
pub fn bench_infer(detector: &Detector, frame: &Frame, warmup: usize, runs: usize) -> Result<InferBench, MlError> {
    let opts = PredictOptions::default();
    let mut ms = Vec::with_capacity(runs);
    let (mut pre, mut inf, mut post) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..warmup + runs {
        let t0 = Instant::now();
        let p = detector.predict(frame, &opts)?;
        if i >= warmup {
            ms.push(t0.elapsed().as_secs_f64() * 1000.0);
            pre.push(p.preprocess_ms);
            inf.push(p.inference_ms);
            post.push(p.postprocess_ms);
        }
    }
    Ok(InferBench {
        total: Timing::from_ms(ms, 1),
        preprocess_ms: median(pre),
        inference_ms: median(inf),
        postprocess_ms: median(post),
    })
}

/// Times `runs` segmentations (after `warmup`) of `frame`: for an ONNX model the
/// resize to the input (preprocess), ONNX Runtime (engine) and the resize of the
/// map back to the frame (postprocess); for a Burn checkpoint the whole call is
/// counted as engine time.
pub fn bench_infer_segmenter(
    seg: &AnySegmenter,
    frame: &Frame,
    warmup: usize,
    runs: usize,
) -> Result<InferBench, MlError> {
    let mut ms = Vec::with_capacity(runs);
    let (mut pre, mut inf, mut post) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..warmup + runs {
        let t0 = Instant::now();
        let (a, b) = match seg {
            AnySegmenter::Onnx(s) => {
                let input = segmenter_input(frame, s.imgsz)?;
                let t1 = Instant::now();
                let (_, probs) = s.infer(input)?;
                let t2 = Instant::now();
                std::hint::black_box(crate::segment::maps::max_map(&s.maps_to_frame(&probs, frame)?));
                (t1, t2)
            }
            AnySegmenter::Burn(_) => {
                std::hint::black_box(seg.probabilities(frame, seg.imgsz())?);
                let t = Instant::now();
                (t0, t)
            }
        };
        let t3 = Instant::now();
        if i >= warmup {
            let d = |x: Instant, y: Instant| (y - x).as_secs_f64() * 1000.0;
            ms.push(d(t0, t3));
            pre.push(d(t0, a));
            inf.push(d(a, b));
            post.push(d(b, t3));
        }
    }
    Ok(InferBench {
        total: Timing::from_ms(ms, 1),
        preprocess_ms: median(pre),
        inference_ms: median(inf),
        postprocess_ms: median(post),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_percentiles_come_from_sorted_runs() {
        let _serial = crate::burn_test_lock();
        let t = Timing::from_ms(vec![5.0, 1.0, 3.0, 2.0, 4.0], 2);
        assert_eq!(t.median_ms, 3.0);
        assert_eq!(t.p95_ms, 5.0);
        assert!((t.images_per_sec - 2.0 * 1000.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn train_bench_refuses_bad_sizes_and_runs_a_tiny_step() {
        let _serial = crate::burn_test_lock();
        assert!(bench_train(Scale::N, 50, 1, 0, 1, &Device::flex()).is_err());
        let b = bench_train(Scale::N, 64, 1, 0, 1, &Device::flex()).unwrap();
        assert_eq!(b.split.step.runs, 1);
        assert!(b.split.forward_ms > 0.0 && b.split.backward_ms > 0.0);
    }
}
