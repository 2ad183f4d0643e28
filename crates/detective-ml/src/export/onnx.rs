//! Our YOLOv8 network written as an ONNX graph (opset 17), layer by layer from
//! the Burn modules, in Ultralytics' export layout.
//!
//! Every `Conv`+`BatchNorm` pair is folded into one convolution with bias
//! (`w' = w·γ/√(σ²+ε)`, `b' = β − μ·γ/√(σ²+ε)`, computed in f64), SiLU is
//! `Sigmoid`+`Mul`, C2f's chunk is a `Split`, SPPF's pools are `MaxPool`, the
//! 2× nearest upsample is a `Resize` (asymmetric, floor: exactly Burn's), and the
//! head's decoding is in the graph: DFL softmax over 16 bins and its expectation
//! as a `MatMul` with the constant bins 0..15, distances to xywh around the
//! anchor centres, times the strides (anchors and strides are initializers for
//! the one input size exported), and sigmoid class scores. Input `images`
//! `[1, 3, S, S]`, output `output0` `[1, 4 + nc, A]`, as `YoloV8::forward`.

use std::collections::HashSet;

use burn::nn::conv::Conv2d;
use burn::nn::interpolate::{Interpolate2d, InterpolateMode};
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::tensor::Tensor;

use super::proto::{
    AttributeProto, FLOAT, GraphProto, INT64, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, ValueInfoProto,
};
use crate::MlError;
use crate::checkpoint::ModelMeta;
use crate::detect::blocks::{Bottleneck, C2f, ConvBnSilu, Sppf};
use crate::detect::model::HeadBranch;
use crate::detect::{REG_MAX, STRIDES, YoloV8, anchors};

/// ONNX operator set written (Ultralytics exports with 17 by default).
pub const OPSET: i64 = 17;
/// IR version matching opset 17 (ONNX 1.12).
pub const IR_VERSION: i64 = 8;
/// Name of the graph input.
pub const INPUT: &str = "images";
/// Name of the graph output.
pub const OUTPUT: &str = "output0";

pub(crate) fn err(reason: impl Into<String>) -> MlError {
    MlError::Export(reason.into())
}

pub(crate) fn host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, MlError> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| err(format!("reading a tensor: {e:?}")))
}

pub(crate) fn i64s(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

/// The graph under construction: nodes in topological order and initializers.
#[derive(Default)]
pub(crate) struct GraphBuilder {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    used: HashSet<String>,
    /// Float values of weights and biases (not counting graph constants).
    pub params: usize,
}

impl GraphBuilder {
    fn unique(&mut self, name: String) -> String {
        if self.used.insert(name.clone()) {
            return name;
        }
        let mut k = 1;
        loop {
            let candidate = format!("{name}_{k}");
            if self.used.insert(candidate.clone()) {
                return candidate;
            }
            k += 1;
        }
    }

    /// Adds a node `/{scope}/{op}` with `outputs` outputs; returns their names.
    pub(crate) fn node_n(
        &mut self,
        op: &str,
        scope: &str,
        inputs: &[&str],
        outputs: usize,
        attribute: Vec<AttributeProto>,
    ) -> Vec<String> {
        let name = self.unique(format!("/{scope}/{op}"));
        let output: Vec<String> = (0..outputs).map(|k| format!("{name}_output_{k}")).collect();
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: output.clone(),
            name: Some(name),
            op_type: Some(op.to_string()),
            attribute,
            ..Default::default()
        });
        output
    }

    /// Adds a node with one output; returns its name.
    pub(crate) fn node(&mut self, op: &str, scope: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        let name = self.unique(format!("/{scope}/{op}"));
        let output = format!("{name}_output_0");
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.clone()],
            name: Some(name),
            op_type: Some(op.to_string()),
            attribute,
            ..Default::default()
        });
        output
    }

    pub(crate) fn float_initializer(&mut self, name: &str, dims: &[usize], values: &[f32]) -> Result<String, MlError> {
        if dims.iter().product::<usize>() != values.len() {
            return Err(err(format!("{name}: {} values for shape {dims:?}", values.len())));
        }
        let name = self.unique(name.to_string());
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(TensorProto {
            dims: i64s(dims),
            data_type: Some(FLOAT),
            name: Some(name.clone()),
            raw_data: Some(raw),
            ..Default::default()
        });
        Ok(name)
    }

    /// A learned tensor (counted in `params`).
    pub(crate) fn weight(&mut self, name: &str, dims: &[usize], values: &[f32]) -> Result<String, MlError> {
        self.params += values.len();
        self.float_initializer(name, dims, values)
    }

    /// A float constant of the graph (anchors, strides, bins, scales).
    pub(crate) fn constant(&mut self, name: &str, dims: &[usize], values: &[f32]) -> Result<String, MlError> {
        self.float_initializer(name, dims, values)
    }

    /// An int64 constant (shapes, split sizes).
    pub(crate) fn constant_i64(&mut self, name: &str, values: &[i64]) -> String {
        let name = self.unique(name.to_string());
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(TensorProto {
            dims: vec![values.len() as i64],
            data_type: Some(INT64),
            name: Some(name.clone()),
            raw_data: Some(raw),
            ..Default::default()
        });
        name
    }

    pub(crate) fn silu(&mut self, scope: &str, x: &str) -> String {
        let s = self.node("Sigmoid", scope, &[x], vec![]);
        self.node("Mul", scope, &[x, &s], vec![])
    }

    pub(crate) fn split(&mut self, scope: &str, x: &str, axis: i64, sizes: &[i64]) -> Vec<String> {
        let split = self.constant_i64(&format!("{}.split", scope.replace('/', ".")), sizes);
        self.node_n(
            "Split",
            scope,
            &[x, &split],
            sizes.len(),
            vec![AttributeProto::int("axis", axis)],
        )
    }

    pub(crate) fn concat(&mut self, scope: &str, xs: &[&str], axis: i64) -> String {
        self.node("Concat", scope, xs, vec![AttributeProto::int("axis", axis)])
    }

    pub(crate) fn reshape(&mut self, scope: &str, x: &str, shape: &[i64]) -> String {
        let s = self.constant_i64(&format!("{}.shape", scope.replace('/', ".")), shape);
        self.node("Reshape", scope, &[x, &s], vec![])
    }
}

/// `[top, left, bottom, right]` of a Burn padding, which is ONNX's `pads` order
/// (`[x1_begin, x2_begin, x1_end, x2_end]` with x1 the height).
pub(crate) fn pads(p: &PaddingConfig2d, what: &str) -> Result<[usize; 4], MlError> {
    match p {
        PaddingConfig2d::Explicit(t, l, b, r) => Ok([*t, *l, *b, *r]),
        PaddingConfig2d::Valid => Ok([0; 4]),
        PaddingConfig2d::Same => Err(err(format!("{what}: \"same\" padding is not exported"))),
    }
}

pub(crate) fn conv_attributes(c: &Conv2d, what: &str) -> Result<Vec<AttributeProto>, MlError> {
    let [_, _, kh, kw] = c.weight.dims();
    Ok(vec![
        AttributeProto::ints("dilations", &i64s(&c.dilation)),
        AttributeProto::int("group", c.groups as i64),
        AttributeProto::ints("kernel_shape", &i64s(&[kh, kw])),
        AttributeProto::ints("pads", &i64s(&pads(&c.padding, what)?)),
        AttributeProto::ints("strides", &i64s(&c.stride)),
    ])
}

/// Convolution weights and bias with the batch norm folded in.
pub(crate) fn fold_conv_bn(m: &ConvBnSilu) -> Result<(Vec<f32>, Vec<f32>), MlError> {
    fold_conv_batch_norm(&m.conv, &m.bn)
}

/// `conv` followed by `bn` as one convolution with bias.
pub(crate) fn fold_conv_batch_norm(conv: &Conv2d, bn: &BatchNorm) -> Result<(Vec<f32>, Vec<f32>), MlError> {
    let [co, ci, kh, kw] = conv.weight.dims();
    let w = host(conv.weight.val())?;
    let conv_bias = match &conv.bias {
        Some(b) => host(b.val())?,
        None => vec![0.0; co],
    };
    let gamma = host(bn.gamma.val())?;
    let beta = host(bn.beta.val())?;
    let mean = host(bn.running_mean.value())?;
    let var = host(bn.running_var.value())?;
    if [gamma.len(), beta.len(), mean.len(), var.len(), conv_bias.len()]
        .iter()
        .any(|&n| n != co)
    {
        return Err(err(format!("batch norm does not match a convolution of {co} outputs")));
    }
    let per = ci * kh * kw;
    let mut wf = vec![0.0f32; w.len()];
    let mut bf = vec![0.0f32; co];
    for o in 0..co {
        let scale = gamma[o] as f64 / (var[o] as f64 + bn.epsilon).sqrt();
        for j in 0..per {
            wf[o * per + j] = (w[o * per + j] as f64 * scale) as f32;
        }
        bf[o] = (beta[o] as f64 + (conv_bias[o] as f64 - mean[o] as f64) * scale) as f32;
    }
    if wf.iter().chain(&bf).any(|v| !v.is_finite()) {
        return Err(err(
            "folding batch norm gave non-finite weights (negative running variance?)",
        ));
    }
    Ok((wf, bf))
}

/// A `MaxPool` node for a Burn max-pool module.
pub(crate) fn max_pool_node(g: &mut GraphBuilder, p: &MaxPool2d, scope: &str, x: &str) -> Result<String, MlError> {
    let attrs = vec![
        AttributeProto::int("ceil_mode", i64::from(p.ceil_mode)),
        AttributeProto::ints("dilations", &i64s(&p.dilation)),
        AttributeProto::ints("kernel_shape", &i64s(&p.kernel_size)),
        AttributeProto::ints("pads", &i64s(&pads(&p.padding, scope)?)),
        AttributeProto::ints("strides", &i64s(&p.stride)),
    ];
    Ok(g.node("MaxPool", scope, &[x], attrs))
}

/// Writes the network's modules into a [`GraphBuilder`].
struct NetWriter {
    g: GraphBuilder,
}

impl NetWriter {
    /// `Conv` (BN folded) + SiLU.
    fn conv_bn_silu(&mut self, m: &ConvBnSilu, path: &str, x: &str) -> Result<String, MlError> {
        let (w, b) = fold_conv_bn(m)?;
        let dims = m.conv.weight.dims();
        let wn = self.g.weight(&format!("{path}.conv.weight"), &dims, &w)?;
        let bn = self.g.weight(&format!("{path}.conv.bias"), &[dims[0]], &b)?;
        let scope = path.replace('.', "/");
        let attrs = conv_attributes(&m.conv, path)?;
        let y = self.g.node("Conv", &format!("{scope}/conv"), &[x, &wn, &bn], attrs);
        Ok(self.g.silu(&format!("{scope}/act"), &y))
    }

    /// A plain convolution with bias (the head's 1×1 predictions).
    fn conv(&mut self, c: &Conv2d, path: &str, x: &str) -> Result<String, MlError> {
        let dims = c.weight.dims();
        let w = host(c.weight.val())?;
        let b = match &c.bias {
            Some(b) => host(b.val())?,
            None => vec![0.0; dims[0]],
        };
        let wn = self.g.weight(&format!("{path}.weight"), &dims, &w)?;
        let bn = self.g.weight(&format!("{path}.bias"), &[dims[0]], &b)?;
        let attrs = conv_attributes(c, path)?;
        Ok(self.g.node("Conv", &path.replace('.', "/"), &[x, &wn, &bn], attrs))
    }

    fn bottleneck(&mut self, m: &Bottleneck, path: &str, x: &str) -> Result<String, MlError> {
        let y = self.conv_bn_silu(&m.cv1, &format!("{path}.cv1"), x)?;
        let y = self.conv_bn_silu(&m.cv2, &format!("{path}.cv2"), &y)?;
        Ok(if m.add {
            self.g.node("Add", &path.replace('.', "/"), &[x, &y], vec![])
        } else {
            y
        })
    }

    fn c2f(&mut self, m: &C2f, path: &str, x: &str) -> Result<String, MlError> {
        let y = self.conv_bn_silu(&m.cv1, &format!("{path}.cv1"), x)?;
        let scope = path.replace('.', "/");
        let c = m.cv1.c_out();
        if !c.is_multiple_of(2) {
            return Err(err(format!("{path}: cannot halve {c} channels")));
        }
        let half = (c / 2) as i64;
        let mut parts = self.g.split(&scope, &y, 1, &[half, half]);
        for (i, b) in m.m.iter().enumerate() {
            let last = parts[parts.len() - 1].clone();
            parts.push(self.bottleneck(b, &format!("{path}.m.{i}"), &last)?);
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let cat = self.g.concat(&scope, &refs, 1);
        self.conv_bn_silu(&m.cv2, &format!("{path}.cv2"), &cat)
    }

    fn max_pool(&mut self, p: &MaxPool2d, scope: &str, x: &str) -> Result<String, MlError> {
        max_pool_node(&mut self.g, p, scope, x)
    }

    fn sppf(&mut self, m: &Sppf, path: &str, x: &str) -> Result<String, MlError> {
        let a = self.conv_bn_silu(&m.cv1, &format!("{path}.cv1"), x)?;
        let scope = path.replace('.', "/");
        let b = self.max_pool(&m.pool, &format!("{scope}/m"), &a)?;
        let c = self.max_pool(&m.pool, &format!("{scope}/m"), &b)?;
        let d = self.max_pool(&m.pool, &format!("{scope}/m"), &c)?;
        let cat = self.g.concat(&scope, &[&a, &b, &c, &d], 1);
        self.conv_bn_silu(&m.cv2, &format!("{path}.cv2"), &cat)
    }

    fn upsample(&mut self, up: &Interpolate2d, scope: &str, x: &str) -> Result<String, MlError> {
        let [sh, sw] = match (&up.mode, up.scale_factor, up.output_size) {
            (InterpolateMode::Nearest, Some(s), None) if s.iter().all(|v| v.is_finite() && *v > 0.0) => s,
            _ => {
                return Err(err("only nearest upsampling by a scale factor is exported".to_string()));
            }
        };
        let scales = self.g.constant(
            &format!("{}.scales", scope.replace('/', ".")),
            &[4],
            &[1.0, 1.0, sh, sw],
        )?;
        Ok(self.g.node(
            "Resize",
            scope,
            &[x, "", &scales],
            vec![
                AttributeProto::string("coordinate_transformation_mode", "asymmetric"),
                AttributeProto::string("mode", "nearest"),
                AttributeProto::string("nearest_mode", "floor"),
            ],
        ))
    }

    fn head_branch(&mut self, m: &HeadBranch, path: &str, x: &str) -> Result<String, MlError> {
        let y = self.conv_bn_silu(&m.a, &format!("{path}.a"), x)?;
        let y = self.conv_bn_silu(&m.b, &format!("{path}.b"), &y)?;
        self.conv(&m.pred, &format!("{path}.pred"), &y)
    }
}

/// A model of opset [`OPSET`] around `graph`, with `props` as its metadata.
pub(crate) fn model_proto<const N: usize>(graph: GraphProto, props: [(&str, String); N]) -> ModelProto {
    ModelProto {
        ir_version: Some(IR_VERSION),
        producer_name: Some("defect-detective".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        metadata_props: props
            .into_iter()
            .map(|(k, v)| StringStringEntryProto {
                key: Some(k.to_string()),
                value: Some(v),
            })
            .collect(),
        ..Default::default()
    }
}

/// What [`build_model`] produced.
pub(crate) struct Built {
    pub model: ModelProto,
    pub nodes: usize,
    pub params: usize,
    pub anchors: usize,
}

/// Python `repr` of a string (what Ultralytics' metadata holds).
fn py_str(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// Ultralytics' `names` metadata: `{0: 'scratch', 1: 'spot'}`.
pub fn names_metadata(names: &[String]) -> String {
    let items: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i}: {}", py_str(n)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// The whole ONNX model of `model` for a square input of `imgsz`.
pub(crate) fn build_model(model: &YoloV8, meta: &ModelMeta, imgsz: u32) -> Result<Built, MlError> {
    let nc = model.num_classes;
    let s = imgsz as usize;
    let mut w = NetWriter {
        g: GraphBuilder::default(),
    };
    // Backbone.
    let x = w.conv_bn_silu(&model.b0, "b0", INPUT)?;
    let x = w.conv_bn_silu(&model.b1, "b1", &x)?;
    let x = w.c2f(&model.b2, "b2", &x)?;
    let x = w.conv_bn_silu(&model.b3, "b3", &x)?;
    let p3 = w.c2f(&model.b4, "b4", &x)?;
    let x = w.conv_bn_silu(&model.b5, "b5", &p3)?;
    let p4 = w.c2f(&model.b6, "b6", &x)?;
    let x = w.conv_bn_silu(&model.b7, "b7", &p4)?;
    let x = w.c2f(&model.b8, "b8", &x)?;
    let p5 = w.sppf(&model.b9, "b9", &x)?;
    // Neck.
    let u = w.upsample(&model.up, "up10", &p5)?;
    let cat = w.g.concat("cat11", &[&u, &p4], 1);
    let h12 = w.c2f(&model.n12, "n12", &cat)?;
    let u = w.upsample(&model.up, "up13", &h12)?;
    let cat = w.g.concat("cat14", &[&u, &p3], 1);
    let h15 = w.c2f(&model.n15, "n15", &cat)?;
    let x = w.conv_bn_silu(&model.n16, "n16", &h15)?;
    let cat = w.g.concat("cat17", &[&x, &h12], 1);
    let h18 = w.c2f(&model.n18, "n18", &cat)?;
    let x = w.conv_bn_silu(&model.n19, "n19", &h18)?;
    let cat = w.g.concat("cat20", &[&x, &p5], 1);
    let h21 = w.c2f(&model.n21, "n21", &cat)?;
    // Head: per level [1, 4·reg_max + nc, h·w], levels concatenated.
    if model.box_branches.len() != STRIDES.len() || model.cls_branches.len() != STRIDES.len() {
        return Err(err("the head does not have one box and one class branch per stride"));
    }
    let rows = (4 * REG_MAX + nc) as i64;
    let mut levels = Vec::with_capacity(STRIDES.len());
    for (i, (f, stride)) in [h15, h18, h21].iter().zip(STRIDES).enumerate() {
        let b = w.head_branch(&model.box_branches[i], &format!("box_branches.{i}"), f)?;
        let c = w.head_branch(&model.cls_branches[i], &format!("cls_branches.{i}"), f)?;
        let scope = format!("head/level{i}");
        let y = w.g.concat(&scope, &[&b, &c], 1);
        let cells = (s.div_ceil(stride) * s.div_ceil(stride)) as i64;
        levels.push(w.g.reshape(&scope, &y, &[1, rows, cells]));
    }
    let refs: Vec<&str> = levels.iter().map(String::as_str).collect();
    let raw = w.g.concat("head", &refs, 2);
    // Decoding (Ultralytics' Detect in export mode, as `decode_raw`).
    let (points, strides) = anchors(s, s);
    let a = points.len();
    let parts = w.g.split("head/split", &raw, 1, &[(4 * REG_MAX) as i64, nc as i64]);
    let (box_logits, cls_logits) = (&parts[0], &parts[1]);
    let dfl = "head/dfl";
    let x = w.g.reshape(dfl, box_logits, &[1, 4, REG_MAX as i64, a as i64]);
    let probs = w.g.node("Softmax", dfl, &[&x], vec![AttributeProto::int("axis", 2)]);
    let bins: Vec<f32> = (0..REG_MAX).map(|i| i as f32).collect();
    let bins = w.g.constant("dfl.bins", &[1, REG_MAX], &bins)?;
    let dist = w.g.node("MatMul", dfl, &[&bins, &probs], vec![]);
    let dist = w.g.reshape(dfl, &dist, &[1, 4, a as i64]);
    let dec = "head/decode";
    let lt_rb = w.g.split(dec, &dist, 1, &[2, 2]);
    let mut xy: Vec<f32> = points.iter().map(|p| p[0]).collect();
    xy.extend(points.iter().map(|p| p[1]));
    let anchor_points = w.g.constant("anchors", &[1, 2, a], &xy)?;
    let strides = w.g.constant("strides", &[1, 1, a], &strides)?;
    let half = w.g.constant("half", &[1], &[0.5])?;
    let x1y1 = w.g.node("Sub", dec, &[&anchor_points, &lt_rb[0]], vec![]);
    let x2y2 = w.g.node("Add", dec, &[&anchor_points, &lt_rb[1]], vec![]);
    let sum = w.g.node("Add", dec, &[&x1y1, &x2y2], vec![]);
    let cxy = w.g.node("Mul", dec, &[&sum, &half], vec![]);
    let wh = w.g.node("Sub", dec, &[&x2y2, &x1y1], vec![]);
    let xywh = w.g.concat(dec, &[&cxy, &wh], 1);
    let boxes = w.g.node("Mul", dec, &[&xywh, &strides], vec![]);
    let scores = w.g.node("Sigmoid", "head/cls", &[cls_logits], vec![]);
    let out = w.g.concat("head/out", &[&boxes, &scores], 1);
    // Name the last output `output0`.
    match w.g.nodes.last_mut() {
        Some(last) if last.output.first() == Some(&out) => last.output = vec![OUTPUT.to_string()],
        _ => return Err(err("graph has no final node")),
    }

    let nodes = w.g.nodes.len();
    let params = w.g.params;
    let graph = GraphProto {
        node: w.g.nodes,
        name: Some("main_graph".into()),
        initializer: w.g.initializers,
        input: vec![ValueInfoProto::float_tensor(INPUT, &[1, 3, s as i64, s as i64])],
        output: vec![ValueInfoProto::float_tensor(OUTPUT, &[1, 4 + nc as i64, a as i64])],
        ..Default::default()
    };
    let scale = meta.scale.as_str();
    let props = [
        (
            "description",
            format!("Defect Detective YOLOv8{scale} detector of {nc} defect classes"),
        ),
        ("author", "Defect Detective".to_string()),
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("stride", STRIDES[STRIDES.len() - 1].to_string()),
        ("task", detective_core::Task::Detect.to_string()),
        ("batch", "1".to_string()),
        ("imgsz", format!("[{imgsz}, {imgsz}]")),
        ("names", names_metadata(&meta.names)),
        ("channels", "3".to_string()),
        ("end2end", "False".to_string()),
        // the median long side of the training images (0: not recorded)
        ("native_side", meta.native_side.unwrap_or(0).to_string()),
    ];
    let model = model_proto(graph, props);
    Ok(Built {
        model,
        nodes,
        params,
        anchors: a,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_metadata_is_a_python_dict_our_parser_reads() {
        let _serial = crate::burn_test_lock();
        let names = vec!["scratch".to_string(), "rolled-in_scale".into(), "it's".into()];
        let text = names_metadata(&names);
        assert_eq!(text, "{0: 'scratch', 1: 'rolled-in_scale', 2: \"it's\"}");
        assert_eq!(crate::runtime::onnx::parse_names_metadata(&text), Some(names));
    }
}
