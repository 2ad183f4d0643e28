//! Ultralytics' YOLOv8 state dict laid onto our [`YoloV8`]: the name of each of
//! our tensors in Ultralytics' module tree (`b2.m.0.cv1` is `model.2.m.0.cv1`,
//! `box_branches.1.a` is `model.22.cv2.1.0`), scale and classes read from the
//! shapes, every shape checked, and nothing left over.
//!
//! A `Conv` arrives either with its batch norm (`…conv.weight` + `…bn.weight`,
//! `bias`, `running_mean`, `running_var`, as a `.pt` holds it) or folded into
//! the convolution (`…conv.weight` + `…conv.bias`, as an ONNX export holds it).
//! A folded layer becomes an identity batch norm (γ 1, β the folded bias, mean
//! 0, variance 1 − ε), which computes the folded convolution exactly.

use std::collections::BTreeSet;

use burn::tensor::Device;

use super::source::{ImportError, Weights};
use crate::detect::blocks::BN_EPS;
use crate::detect::{REG_MAX, Scale, YoloConfig, YoloV8};
use crate::train::params::{param_infos, write_params};

/// The built network and what was learnt about it.
pub struct Built {
    pub model: YoloV8,
    pub scale: Scale,
    pub num_classes: usize,
    /// Layers whose batch norm arrived folded into the convolution.
    pub folded_layers: usize,
}

/// Ultralytics' name of one of our module paths (without the tensor name):
/// `b4.m.1.cv2` → `model.4.m.1.cv2`, `cls_branches.0.pred` → `model.22.cv3.0.2`.
pub fn ultralytics_module(ours: &str) -> Option<String> {
    let mut segs = ours.split('.');
    let first = segs.next()?;
    let rest: Vec<&str> = segs.collect();
    if let Some(n) = first
        .strip_prefix('b')
        .or_else(|| first.strip_prefix('n'))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        let mut out = format!("model.{n}");
        for s in rest {
            out.push('.');
            out.push_str(s);
        }
        return Some(out);
    }
    let branch = match first {
        "box_branches" => "cv2",
        "cls_branches" => "cv3",
        _ => return None,
    };
    let level = rest.first()?;
    let part = match *rest.get(1)? {
        "a" => "0",
        "b" => "1",
        "pred" => "2",
        _ => return None,
    };
    let mut out = format!("model.22.{branch}.{level}.{part}");
    for s in &rest[2..] {
        out.push('.');
        out.push_str(s);
    }
    Some(out)
}

fn shape_of<'a>(w: &'a Weights, name: &str) -> Result<&'a [usize], ImportError> {
    w.get(name)
        .map(|(s, _)| s.as_slice())
        .ok_or_else(|| ImportError::Missing { name: name.to_string() })
}

/// Builds the detector the weights describe and fills every tensor.
pub fn build(weights: &Weights, device: &Device) -> Result<Built, ImportError> {
    let stem = shape_of(weights, "model.0.conv.weight").map_err(|_| {
        ImportError::Architecture("no tensor model.0.conv.weight: this is not an Ultralytics YOLOv8 module tree".into())
    })?;
    let stem_channels = stem.first().copied().unwrap_or(0);
    let scale = [Scale::T, Scale::N, Scale::S]
        .into_iter()
        .find(|s| s.width(64) == stem_channels)
        .ok_or_else(|| {
            ImportError::Architecture(format!(
                "the stem has {stem_channels} channels; YOLOv8t/n/s have 8/16/32 (m, l and x are not supported)"
            ))
        })?;
    let cls = shape_of(weights, "model.22.cv3.0.2.weight")
        .map_err(|_| ImportError::Architecture("no YOLOv8 Detect head (model.22.cv3.0.2.weight is missing)".into()))?;
    let num_classes = cls
        .first()
        .copied()
        .filter(|&n| n > 0)
        .ok_or_else(|| ImportError::Architecture("the Detect head's class layer has no output channels".into()))?;
    if let Some((_, dfl)) = weights.get("model.22.dfl.conv.weight")
        && (dfl.len() != REG_MAX || dfl.iter().enumerate().any(|(i, v)| (*v - i as f32).abs() > 1e-3))
    {
        return Err(ImportError::Architecture(
            "the DFL layer is not the fixed 0…15 projection of YOLOv8".into(),
        ));
    }

    let model = YoloV8::new(&YoloConfig { scale, num_classes }, device);
    let infos = param_infos(&model);
    let mut values = Vec::with_capacity(infos.len());
    let mut used = BTreeSet::new();
    let mut folded = BTreeSet::new();
    let scale_name = scale.as_str().to_string();
    for info in &infos {
        let (module, tensor) = info
            .path
            .rsplit_once('.')
            .ok_or_else(|| ImportError::Architecture(format!("unexpected parameter {}", info.path)))?;
        let theirs = ultralytics_module(module)
            .ok_or_else(|| ImportError::Architecture(format!("no Ultralytics name for {}", info.path)))?;
        let n: usize = info.shape.iter().product();
        // `…conv` / `…bn` of a Conv block, or the bias-carrying prediction conv.
        let (layer, part) = match theirs.rsplit_once('.') {
            Some((layer, part @ ("conv" | "bn"))) => (layer.to_string(), part),
            _ => (theirs.clone(), "pred"),
        };
        let take = |name: String, used: &mut BTreeSet<String>| -> Result<Vec<f32>, ImportError> {
            let (shape, data) = weights
                .get(&name)
                .ok_or_else(|| ImportError::Missing { name: name.clone() })?;
            if shape != &info.shape {
                return Err(ImportError::Shape {
                    name,
                    scale: scale_name.clone(),
                    expected: info.shape.clone(),
                    found: shape.clone(),
                });
            }
            used.insert(name);
            Ok(data.clone())
        };
        let is_folded =
            !weights.contains_key(&format!("{layer}.bn.weight")) && weights.contains_key(&format!("{layer}.conv.bias"));
        let v = match (part, tensor) {
            ("pred", t) => take(format!("{theirs}.{t}"), &mut used)?,
            ("conv", "weight") => take(format!("{layer}.conv.weight"), &mut used)?,
            ("bn", t) if is_folded => {
                folded.insert(layer.clone());
                match t {
                    "gamma" => vec![1.0; n],
                    "beta" => take(format!("{layer}.conv.bias"), &mut used)?,
                    "running_mean" => vec![0.0; n],
                    "running_var" => vec![(1.0 - BN_EPS) as f32; n],
                    _ => return Err(ImportError::Architecture(format!("unexpected parameter {}", info.path))),
                }
            }
            ("bn", t) => {
                let name = match t {
                    "gamma" => "weight",
                    "beta" => "bias",
                    other => other,
                };
                take(format!("{layer}.bn.{name}"), &mut used)?
            }
            _ => return Err(ImportError::Architecture(format!("unexpected parameter {}", info.path))),
        };
        values.push(v);
    }
    let left: Vec<&String> = weights
        .keys()
        .filter(|k| !used.contains(*k) && !k.ends_with("num_batches_tracked") && !k.starts_with("model.22.dfl."))
        .filter(|k| k.starts_with("model."))
        .collect();
    if !left.is_empty() {
        let shown: Vec<&str> = left.iter().take(5).map(|s| s.as_str()).collect();
        return Err(ImportError::Architecture(format!(
            "{} tensors do not fit YOLOv8{} (e.g. {}): another architecture (YOLO11, a -seg or -pose model)?",
            left.len(),
            scale.as_str(),
            shown.join(", ")
        )));
    }
    let model = write_params(model, &values, device);
    Ok(Built {
        model,
        scale,
        num_classes,
        folded_layers: folded.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_modules_have_ultralytics_names() {
        assert_eq!(ultralytics_module("b0").as_deref(), Some("model.0"));
        assert_eq!(
            ultralytics_module("b4.m.1.cv2.conv").as_deref(),
            Some("model.4.m.1.cv2.conv")
        );
        assert_eq!(ultralytics_module("n21.cv1.bn").as_deref(), Some("model.21.cv1.bn"));
        assert_eq!(
            ultralytics_module("box_branches.1.a.conv").as_deref(),
            Some("model.22.cv2.1.0.conv")
        );
        assert_eq!(
            ultralytics_module("cls_branches.2.pred").as_deref(),
            Some("model.22.cv3.2.2")
        );
        assert_eq!(ultralytics_module("up"), None);
        assert_eq!(ultralytics_module("box_branches.0.z"), None);
    }
}
