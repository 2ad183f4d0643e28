//! Activation ranges for int8 quantisation: the float graph runs in ONNX Runtime on
//! calibration inputs with the tensors to quantise exposed as extra outputs, and
//! each tensor's range is taken over all inputs, either as its min/max or as
//! low/high percentiles (which ignore rare outliers that would waste the 256 levels).

use std::collections::HashMap;

use prost::Message;

use super::onnx::err;
use super::proto::ModelProto;
use super::quantize::{Range, with_outputs};
use crate::MlError;

/// How a tensor's range is taken from its values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CalibMethod {
    /// Smallest and largest value seen.
    MinMax,
    /// The `p`-th percentile and the `(100 − p)`-th (p in 50..=100).
    Percentile(f32),
}

impl CalibMethod {
    pub fn validate(&self) -> Result<(), MlError> {
        match self {
            CalibMethod::Percentile(p) if !(p.is_finite() && (50.0..=100.0).contains(p)) => Err(
                MlError::InvalidArgument(format!("percentile {p} must be in 50..=100 (e.g. 99.99)")),
            ),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for CalibMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CalibMethod::MinMax => write!(f, "minmax"),
            CalibMethod::Percentile(p) => write!(f, "percentile {p}"),
        }
    }
}

/// Values kept per tensor for percentiles, over all inputs.
const SAMPLES_PER_TENSOR: usize = 1 << 18;

/// Running range (and, for percentiles, a spread-out sample) of one tensor.
#[derive(Debug, Clone)]
pub struct RangeCollector {
    min: f32,
    max: f32,
    samples: Vec<f32>,
    keep_samples: bool,
}

impl RangeCollector {
    pub fn new(method: CalibMethod) -> Self {
        RangeCollector {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            samples: Vec::new(),
            keep_samples: matches!(method, CalibMethod::Percentile(_)),
        }
    }

    /// Adds one input's values of the tensor; at most `cap` of them are sampled
    /// (evenly spaced from a varying `offset`). Non-finite values are an error.
    pub fn add(&mut self, values: &[f32], cap: usize, offset: usize) -> Result<(), MlError> {
        for &v in values {
            if !v.is_finite() {
                return Err(err("a calibration activation is not finite (NaN or infinity)"));
            }
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        if self.keep_samples && !values.is_empty() {
            let step = values.len().div_ceil(cap.max(1)).max(1);
            let start = offset % step;
            self.samples.extend(values.iter().skip(start).step_by(step).copied());
        }
        Ok(())
    }

    /// The range of what was added.
    pub fn range(&mut self, method: CalibMethod) -> Option<Range> {
        if self.min > self.max {
            return None;
        }
        match method {
            CalibMethod::MinMax => Some(Range {
                min: self.min,
                max: self.max,
            }),
            CalibMethod::Percentile(p) => {
                if self.samples.is_empty() {
                    return None;
                }
                self.samples.sort_by(f32::total_cmp);
                let n = self.samples.len() - 1;
                let q = (p as f64 / 100.0).clamp(0.5, 1.0);
                let hi = self.samples[((q * n as f64).ceil() as usize).min(n)];
                let lo = self.samples[((1.0 - q) * n as f64).floor() as usize];
                Some(Range { min: lo, max: hi })
            }
        }
    }
}

/// Ranges of the tensors `points` of `model` over `inputs` (each one `[1, 3, S, S]`
/// image as the model expects it), with `threads` ONNX Runtime threads.
pub fn calibrate<I>(
    model: &ModelProto,
    points: &[String],
    inputs: I,
    imgsz: u32,
    method: CalibMethod,
    threads: usize,
) -> Result<HashMap<String, Range>, MlError>
where
    I: ExactSizeIterator<Item = Result<Vec<f32>, MlError>>,
{
    method.validate()?;
    let count = inputs.len();
    if count == 0 {
        return Err(MlError::InvalidArgument("no calibration images".into()));
    }
    // A graph input's values are the input itself (ONNX Runtime does not return an
    // input as an output): its range is taken from the data fed.
    let inputs_of_graph: Vec<String> = model
        .graph
        .as_ref()
        .map(|g| g.input.iter().filter_map(|i| i.name.clone()).collect())
        .unwrap_or_default();
    let inner: Vec<String> = points
        .iter()
        .filter(|p| !inputs_of_graph.contains(p))
        .cloned()
        .collect();
    let augmented = with_outputs(model, &inner)?;
    let mut session =
        crate::runtime::onnx::open_session_from_memory(&augmented.encode_to_vec(), "calibration graph", threads)?;
    let input_name = session
        .inputs()
        .first()
        .map(|i| i.name().to_string())
        .ok_or_else(|| err("the model has no input"))?;
    let mut collectors: Vec<RangeCollector> = points.iter().map(|_| RangeCollector::new(method)).collect();
    let cap = SAMPLES_PER_TENSOR / count;
    let s = imgsz as i64;
    for (k, input) in inputs.enumerate() {
        let input = input?;
        let offset = k.wrapping_mul(7919);
        for (p, c) in points.iter().zip(collectors.iter_mut()) {
            if inputs_of_graph.contains(p) {
                c.add(&input, cap, offset)?;
            }
        }
        let tensor =
            ort::value::Tensor::from_array(([1i64, 3, s, s], input)).map_err(|e| MlError::Inference(e.to_string()))?;
        let outputs = session
            .run(ort::inputs![input_name.as_str() => tensor])
            .map_err(|e| MlError::Inference(e.to_string()))?;
        for (p, c) in points.iter().zip(collectors.iter_mut()) {
            if inputs_of_graph.contains(p) {
                continue;
            }
            let value = outputs
                .get(p.as_str())
                .ok_or_else(|| err(format!("calibration graph did not return {p}")))?;
            let (_, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| MlError::Inference(format!("{p}: {e}")))?;
            c.add(data, cap, offset)?;
        }
    }
    points
        .iter()
        .zip(collectors.iter_mut())
        .map(|(p, c)| {
            c.range(method)
                .map(|r| (p.clone(), r))
                .ok_or_else(|| err(format!("tensor {p} had no values")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minmax_range_spans_every_value_added() {
        let mut c = RangeCollector::new(CalibMethod::MinMax);
        c.add(&[0.5, -2.0, 1.0], 10, 0).unwrap();
        c.add(&[3.0, 0.0], 10, 1).unwrap();
        assert_eq!(c.range(CalibMethod::MinMax), Some(Range { min: -2.0, max: 3.0 }));
    }

    #[test]
    fn percentile_range_ignores_rare_outliers() {
        let method = CalibMethod::Percentile(99.0);
        let mut c = RangeCollector::new(method);
        let mut v: Vec<f32> = (0..10_000).map(|i| (i % 100) as f32 / 100.0).collect();
        v[17] = 1000.0;
        v[4242] = -500.0;
        c.add(&v, 100_000, 0).unwrap();
        let r = c.range(method).unwrap();
        assert!(r.max < 1.0 && r.max > 0.95, "{r:?}");
        assert!(r.min >= 0.0 && r.min < 0.05, "{r:?}");
        // min/max of the same values would be dominated by the outliers
        assert_eq!(c.range(CalibMethod::MinMax).unwrap().max, 1000.0);
    }

    #[test]
    fn sampling_keeps_at_most_the_cap_per_input() {
        let mut c = RangeCollector::new(CalibMethod::Percentile(99.9));
        c.add(&vec![1.0; 1000], 100, 3).unwrap();
        assert!(c.samples.len() <= 100 && c.samples.len() >= 90, "{}", c.samples.len());
    }

    #[test]
    fn non_finite_activations_are_rejected() {
        let mut c = RangeCollector::new(CalibMethod::MinMax);
        assert!(c.add(&[1.0, f32::NAN], 10, 0).is_err());
    }

    #[test]
    fn percentile_outside_50_to_100_is_rejected() {
        assert!(CalibMethod::Percentile(101.0).validate().is_err());
        assert!(CalibMethod::Percentile(10.0).validate().is_err());
        assert!(CalibMethod::Percentile(99.99).validate().is_ok());
    }
}
