//! Static int8 (QDQ) export of both model families, run in the real ONNX Runtime
//! (`./scripts/setup-onnxruntime.sh`): the bundled detector calibrated on synthetic
//! parts must find the same defects as its float export, and a segmenter with
//! non-trivial batch norms calibrated on real MagneticTile images must give nearly
//! the same probabilities; both files must hold int8 weights and quantise/dequantise
//! pairs, be smaller than the float graph, and bad requests must fail cleanly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use detective_ml::checkpoint::{SegMeta, save_segmenter};
use detective_ml::export::calibrate::CalibMethod;
use detective_ml::export::int8::{Int8Options, export_checkpoint_int8};
use detective_ml::export::proto::{INT8, ModelProto};
use detective_ml::export::{export_checkpoint, read_onnx};
use detective_ml::segment::onnx_segmenter::OnnxSegmenter;
use detective_ml::segment::{UNetConfig, UNetTiny};
use detective_ml::train::params::{read_params, write_params};
use detective_ml::{MlError, OnnxDetector, PredictOptions};
use detective_vision::encode::encode_png;
use detective_vision::synth::{SynthConfig, generate};
use detective_vision::{DecodeLimits, decode_file};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn op_counts(m: &ModelProto) -> HashMap<String, usize> {
    let mut c = HashMap::new();
    for n in &m.graph.as_ref().unwrap().node {
        *c.entry(n.op_type.clone().unwrap_or_default()).or_insert(0) += 1;
    }
    c
}

/// Every `Conv` reads its weights through a DequantizeLinear of an int8 initializer.
fn assert_int8_convs(m: &ModelProto, convs: usize) {
    let g = m.graph.as_ref().unwrap();
    let int8: Vec<&str> = g
        .initializer
        .iter()
        .filter(|t| t.data_type == Some(INT8) && t.dims.len() == 4)
        .filter_map(|t| t.name.as_deref())
        .collect();
    let producers: HashMap<&str, &str> = g
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n)))
        .map(|(o, n)| (o, n.input.first().map(String::as_str).unwrap_or("")))
        .collect();
    let conv_nodes: Vec<_> = g.node.iter().filter(|n| n.op_type.as_deref() == Some("Conv")).collect();
    assert_eq!(conv_nodes.len(), convs);
    for n in conv_nodes {
        let w = producers.get(n.input[1].as_str()).copied().unwrap_or("");
        assert!(int8.contains(&w), "conv {:?} does not read int8 weights", n.name);
    }
}

fn synth_images(dir: &Path, count: u64, size: u32) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let cfg = SynthConfig {
        width: size,
        height: size,
        defect_rate: 1.0,
        ..SynthConfig::default()
    };
    (0..count)
        .map(|i| {
            let p = dir.join(format!("synth_{i:03}.png"));
            std::fs::write(&p, encode_png(&generate(&cfg, 7, i).unwrap().image).unwrap()).unwrap();
            p
        })
        .collect()
}

#[test]
fn int8_detector_finds_the_same_defects_as_its_float_export() {
    let d = tempfile::tempdir().unwrap();
    let bundled = repo().join("models/detector-t-320.bpk");
    let images = synth_images(&d.path().join("calib"), 24, 320);
    let out = d.path().join("det.int8.onnx");
    let opts = Int8Options {
        images: images[..16].to_vec(),
        method: CalibMethod::Percentile(99.999),
        reduce_range: true,
        float_silu: false,
        threads: 2,
    };
    let r = export_checkpoint_int8(&bundled, None, &out, &opts).expect("int8 export");
    assert_eq!(r.task.as_str(), "detect");
    assert_eq!(r.calibration_images, 16);
    assert!(r.convs > 50, "{} convolutions", r.convs);
    assert!(
        r.export.bytes * 2 < r.fp32_bytes,
        "{} vs {} bytes",
        r.export.bytes,
        r.fp32_bytes
    );
    assert!(
        r.mean_abs_diff < 0.01,
        "class scores moved by {} on average",
        r.mean_abs_diff
    );

    let m = read_onnx(&out).unwrap();
    assert_int8_convs(&m, r.convs);
    let ops = op_counts(&m);
    assert_eq!(ops.get("QuantizeLinear"), Some(&r.activations));
    assert_eq!(m.metadata("task"), Some("detect"));
    assert!(m.metadata("quantization").is_some_and(|q| q.contains("int8")));

    // the float export of the same checkpoint, and both on images not used to calibrate
    let float = d.path().join("det.onnx");
    export_checkpoint(&bundled, None, &float).unwrap();
    let (f, q) = (
        OnnxDetector::load(&float, None, 2).unwrap(),
        OnnxDetector::load(&out, None, 2).unwrap(),
    );
    let opts = PredictOptions::default();
    let (mut matched, mut total, mut conf_shift) = (0, 0, 0.0f32);
    for p in &images[16..] {
        let frame = decode_file(p, &DecodeLimits::default()).unwrap();
        let fd = f.predict(&frame, &opts).unwrap().detections;
        let qd = q.predict(&frame, &opts).unwrap().detections;
        for a in fd.iter().filter(|a| a.confidence >= 0.5) {
            total += 1;
            match qd
                .iter()
                .find(|b| b.class_id == a.class_id && b.bbox.iou(&a.bbox) >= 0.5)
            {
                Some(b) => {
                    matched += 1;
                    conf_shift += (b.confidence - a.confidence).abs();
                }
                None => eprintln!("unmatched {a:?} in {qd:?}"),
            }
        }
    }
    assert!(total >= 4, "the float model found only {total} confident defects");
    assert!(
        matched * 10 >= total * 9,
        "int8 matched {matched} of {total} confident detections"
    );
    let mean_shift = conf_shift / matched as f32;
    assert!(mean_shift < 0.1, "confidences moved by {mean_shift} on average");
}

/// A fresh UNetTiny whose batch norms have random statistics (so folding and
/// activation ranges are not trivial), saved as a checkpoint.
fn segmenter_checkpoint(dir: &Path, imgsz: u32) -> PathBuf {
    let device = Device::flex();
    let model = UNetTiny::new(&UNetConfig::default(), &device);
    let (infos, mut values) = read_params(&model);
    crate::common::randomize_batch_norms(&infos, &mut values, 11, |_| None);
    let model = write_params(model, &values, &device);
    let path = dir.join("seg.bpk");
    save_segmenter(&model, &SegMeta::new(vec!["defect".into()], imgsz, 0.5), &path).unwrap();
    path
}

fn magnetic_tiles(count: usize) -> Vec<PathBuf> {
    let dir = repo().join("../shared/data/MagneticTile/images/test");
    let mut all: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("MagneticTile test images")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    all.sort();
    all.into_iter().step_by(7).take(count).collect()
}

#[test]
fn int8_segmenter_gives_nearly_the_float_probabilities() {
    let d = tempfile::tempdir().unwrap();
    let ckpt = segmenter_checkpoint(d.path(), 128);
    let tiles = magnetic_tiles(12);
    for (method, reduce_range) in [(CalibMethod::MinMax, false), (CalibMethod::Percentile(99.99), true)] {
        let out = d.path().join(format!("seg-{method}-{reduce_range}.int8.onnx"));
        let opts = Int8Options {
            images: tiles.clone(),
            method,
            reduce_range,
            float_silu: false,
            threads: 2,
        };
        let r = export_checkpoint_int8(&ckpt, None, &out, &opts).expect("int8 export");
        assert_eq!(
            (r.task.as_str(), r.export.imgsz, r.compared_images),
            ("segment", 128, 8)
        );
        // 18 convolutions: 2 per level × 7 levels, 3 up-convolutions, the head
        assert_eq!(r.convs, 18);
        assert!(
            r.export.bytes * 3 < r.fp32_bytes,
            "{} vs {} bytes",
            r.export.bytes,
            r.fp32_bytes
        );
        assert!(
            r.mean_abs_diff < 0.02,
            "{method}: probabilities moved by {} on average",
            r.mean_abs_diff
        );
        let m = read_onnx(&out).unwrap();
        assert_int8_convs(&m, r.convs);
        assert_eq!(m.metadata("task"), Some("segment"));
        let seg = OnnxSegmenter::load(&out, 1).unwrap();
        let frame = decode_file(&tiles[0], &DecodeLimits::default()).unwrap();
        let probs = seg.probabilities(&frame).unwrap();
        assert_eq!(probs.len(), (frame.width() * frame.height()) as usize);
        assert!(probs.iter().all(|p| (0.0..=1.0).contains(p)));
    }
}

#[test]
fn int8_export_refuses_bad_requests_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let ckpt = segmenter_checkpoint(d.path(), 64);
    let out = d.path().join("x.int8.onnx");
    let opts = |images: Vec<PathBuf>, method| Int8Options {
        images,
        method,
        reduce_range: true,
        float_silu: false,
        threads: 1,
    };
    let none = export_checkpoint_int8(&ckpt, None, &out, &opts(vec![], CalibMethod::MinMax)).unwrap_err();
    assert!(matches!(none, MlError::InvalidArgument(_)), "{none}");
    let bad_p = export_checkpoint_int8(
        &ckpt,
        None,
        &out,
        &opts(magnetic_tiles(1), CalibMethod::Percentile(120.0)),
    )
    .unwrap_err();
    assert!(bad_p.to_string().contains("percentile"), "{bad_p}");
    let not_image = d.path().join("notes.png");
    std::fs::write(&not_image, b"not an image").unwrap();
    let unreadable = export_checkpoint_int8(&ckpt, None, &out, &opts(vec![not_image], CalibMethod::MinMax));
    assert!(unreadable.is_err());
    let overwrite = export_checkpoint_int8(&ckpt, None, &ckpt, &opts(magnetic_tiles(1), CalibMethod::MinMax));
    assert!(overwrite.is_err());
    assert!(!out.exists(), "a failed export left {}", out.display());
}
