//! Our UNetTiny written as an ONNX graph (opset 17) from the Burn modules.
//!
//! Each 3×3 convolution + batch norm is folded into one `Conv` with bias (as for the
//! detector), followed by `Relu`; the 2×2 pools are `MaxPool`; each up-convolution
//! is its 1×1 `Conv` followed by `DepthToSpace` (blocksize 2, mode CRD: exactly
//! [`crate::segment::model::depth_to_space`]); skips are `Concat` on channels; the
//! head's logits go through `Sigmoid`, so the output `output0` `[1, C, S, S]` holds
//! defect probabilities. Input `images` `[1, 3, S, S]`, RGB in 0..1. A model that
//! standardises its input starts with `InstanceNormalization` (scale 1, shift 0),
//! which is [`crate::segment::model::standardize`].

use super::onnx::{
    GraphBuilder, INPUT, OUTPUT, conv_attributes, fold_conv_batch_norm, host, max_pool_node, model_proto,
    names_metadata,
};
use super::proto::{AttributeProto, GraphProto, ModelProto, ValueInfoProto};
use crate::MlError;
use crate::checkpoint::SegMeta;
use crate::segment::UNetTiny;
use crate::segment::model::{ConvBnRelu, DoubleConv, STANDARDIZE_EPS, UpConv};

/// What [`build_unet`] produced.
pub(crate) struct BuiltUnet {
    pub model: ModelProto,
    pub nodes: usize,
    pub params: usize,
}

fn conv_bn_relu(g: &mut GraphBuilder, m: &ConvBnRelu, path: &str, x: &str) -> Result<String, MlError> {
    let (w, b) = fold_conv_batch_norm(&m.conv, &m.bn)?;
    let dims = m.conv.weight.dims();
    let wn = g.weight(&format!("{path}.conv.weight"), &dims, &w)?;
    let bn = g.weight(&format!("{path}.conv.bias"), &[dims[0]], &b)?;
    let scope = path.replace('.', "/");
    let y = g.node(
        "Conv",
        &format!("{scope}/conv"),
        &[x, &wn, &bn],
        conv_attributes(&m.conv, path)?,
    );
    Ok(g.node("Relu", &format!("{scope}/act"), &[&y], vec![]))
}

fn double_conv(g: &mut GraphBuilder, m: &DoubleConv, path: &str, x: &str) -> Result<String, MlError> {
    let y = conv_bn_relu(g, &m.a, &format!("{path}.a"), x)?;
    conv_bn_relu(g, &m.b, &format!("{path}.b"), &y)
}

fn plain_conv(g: &mut GraphBuilder, c: &burn::nn::conv::Conv2d, path: &str, x: &str) -> Result<String, MlError> {
    let dims = c.weight.dims();
    let w = host(c.weight.val())?;
    let b = match &c.bias {
        Some(b) => host(b.val())?,
        None => vec![0.0; dims[0]],
    };
    let wn = g.weight(&format!("{path}.weight"), &dims, &w)?;
    let bn = g.weight(&format!("{path}.bias"), &[dims[0]], &b)?;
    Ok(g.node(
        "Conv",
        &path.replace('.', "/"),
        &[x, &wn, &bn],
        conv_attributes(c, path)?,
    ))
}

fn up_conv(g: &mut GraphBuilder, m: &UpConv, path: &str, x: &str) -> Result<String, MlError> {
    let y = plain_conv(g, &m.conv, &format!("{path}.conv"), x)?;
    Ok(g.node(
        "DepthToSpace",
        &path.replace('.', "/"),
        &[&y],
        vec![
            AttributeProto::int("blocksize", 2),
            AttributeProto::string("mode", "CRD"),
        ],
    ))
}

/// The whole ONNX model of `model` for a square input of `imgsz`.
pub(crate) fn build_unet(model: &UNetTiny, meta: &SegMeta, imgsz: u32) -> Result<BuiltUnet, MlError> {
    let s = imgsz as i64;
    let classes = model.classes();
    let mut g = GraphBuilder::default();
    let mut skips = Vec::new();
    let mut y = INPUT.to_string();
    if model.standardize {
        let scale = g.weight("standardize.scale", &[3], &[1.0; 3])?;
        let shift = g.weight("standardize.shift", &[3], &[0.0; 3])?;
        y = g.node(
            "InstanceNormalization",
            "standardize",
            &[&y, &scale, &shift],
            vec![AttributeProto::float("epsilon", STANDARDIZE_EPS as f32)],
        );
    }
    for (i, level) in model.enc.iter().enumerate() {
        if i > 0 {
            y = max_pool_node(&mut g, &model.pool, &format!("pool{i}"), &y)?;
        }
        y = double_conv(&mut g, level, &format!("enc.{i}"), &y)?;
        skips.push(y.clone());
    }
    skips.pop();
    for (i, (up, dec)) in model.up.iter().zip(&model.dec).enumerate() {
        let skip = skips
            .pop()
            .ok_or_else(|| MlError::Export("the decoder has more levels than the encoder".into()))?;
        let u = up_conv(&mut g, up, &format!("up.{i}"), &y)?;
        let cat = g.concat(&format!("cat{i}"), &[&skip, &u], 1);
        y = double_conv(&mut g, dec, &format!("dec.{i}"), &cat)?;
    }
    let logits = plain_conv(&mut g, &model.head, "head", &y)?;
    g.node("Sigmoid", "head/prob", &[&logits], vec![]);
    match g.nodes.last_mut() {
        Some(last) => last.output = vec![OUTPUT.to_string()],
        None => return Err(MlError::Export("graph has no final node".into())),
    }
    let nodes = g.nodes.len();
    let params = g.params;
    let graph = GraphProto {
        node: g.nodes,
        name: Some("main_graph".into()),
        initializer: g.initializers,
        input: vec![ValueInfoProto::float_tensor(INPUT, &[1, 3, s, s])],
        output: vec![ValueInfoProto::float_tensor(OUTPUT, &[1, classes as i64, s, s])],
        ..Default::default()
    };
    let props = [
        (
            "description",
            if meta.task == detective_core::Task::Anomaly {
                "Defect Detective UNetTiny anomaly model".to_string()
            } else {
                "Defect Detective UNetTiny defect segmenter".to_string()
            },
        ),
        ("author", "Defect Detective".to_string()),
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("task", meta.task.to_string()),
        ("batch", "1".to_string()),
        ("imgsz", format!("[{imgsz}, {imgsz}]")),
        ("names", names_metadata(&meta.names)),
        ("threshold", format!("{}", meta.threshold)),
        // trained on native-scale tiles of this side (0: whole images resized)
        ("tile", meta.tile.unwrap_or(0).to_string()),
        ("native_side", meta.native_side.unwrap_or(0).to_string()),
        ("channels", "3".to_string()),
        // 1: each image is standardised per channel inside the graph
        ("standardize", u8::from(model.standardize).to_string()),
    ];
    let model = model_proto(graph, props);
    Ok(BuiltUnet { model, nodes, params })
}
