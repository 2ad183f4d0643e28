//! One detector API over every engine ([`super::engine`]: Ultralytics'
//! pre-processing, an engine that maps the input to the `[1, 4 + nc, N]` output
//! layout, then confidence filter, class-aware NMS and boxes mapped back to the
//! original image).
//!
//! `Detector::load` picks the engine from the file: `.onnx` runs in ONNX Runtime;
//! our checkpoint (`.bpk` + `.json`) runs through its ONNX export (`NAME.onnx`, if
//! not older than the weights) in ONNX Runtime, else on Burn's CPU backend (the
//! fallback engine).

use std::path::Path;
use std::sync::Once;

use detective_vision::Frame;
use detective_vision::tiles::{ModelScale, TilePlan, TileSight};

use super::burn_engine::BurnEngine;
use super::engine::{Engine, PredictOptions, Prediction, predict_frame};
use super::onnx_detector::OnnxDetector;
use crate::MlError;
use crate::checkpoint::ModelMeta;

/// A loaded detector: engine, class names and input size.
pub struct Detector {
    engine: Box<dyn Engine>,
    pub names: Vec<String>,
    pub imgsz: u32,
    /// "onnxruntime" or "burn".
    pub backend: &'static str,
    /// The median long side of the training images, when the model records it.
    pub native_side: Option<u32>,
    /// When frames run tiled (`--tile`; default auto).
    pub tiles: TilePlan,
}

static FALLBACK_LOGGED: Once = Once::new();

/// The class names to use: those given (`--names`), which must be one per
/// class, else the model's own.
fn chosen_names(given: Option<Vec<String>>, meta: &ModelMeta) -> Result<Vec<String>, MlError> {
    match given {
        Some(n) if n.len() != meta.num_classes => Err(MlError::InvalidArgument(format!(
            "{} names given for a model of {} classes",
            n.len(),
            meta.num_classes
        ))),
        Some(n) => Ok(n),
        None => Ok(meta.names.clone()),
    }
}

impl Detector {
    /// Loads `path`: an `.onnx` model (ours or Ultralytics'), an Ultralytics
    /// `.pt` checkpoint (imported and run on Burn), or our checkpoint `.bpk`
    /// (with its `.json`). `names` overrides the model's class names.
    pub fn load(path: &Path, names: Option<Vec<String>>, threads: usize) -> Result<Detector, MlError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "onnx" => {
                let m = OnnxDetector::load(path, names, threads)?;
                Ok(Detector {
                    names: m.names.clone(),
                    imgsz: m.imgsz,
                    native_side: m.native_side,
                    engine: Box::new(m),
                    backend: "onnxruntime",
                    tiles: TilePlan::default(),
                })
            }
            "bpk" => {
                let meta = crate::checkpoint::load_meta(path)?;
                let names = chosen_names(names, &meta)?;
                let onnx = path.with_extension("onnx");
                let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
                let stale = matches!((modified(&onnx), modified(path)), (Some(o), Some(w)) if o < w);
                if stale {
                    tracing::warn!(
                        "{} is older than {}: ignoring it (re-run `detective export`)",
                        onnx.display(),
                        path.display()
                    );
                }
                if onnx.is_file() && !stale {
                    match OnnxDetector::load(&onnx, Some(names.clone()), threads) {
                        Ok(m) => {
                            return Ok(Detector {
                                names,
                                imgsz: m.imgsz,
                                engine: Box::new(m),
                                backend: "onnxruntime",
                                native_side: meta.native_side,
                                tiles: TilePlan::default(),
                            });
                        }
                        Err(e @ (MlError::RuntimeMissing { .. } | MlError::RuntimeLoad { .. })) => {
                            FALLBACK_LOGGED.call_once(|| {
                                tracing::warn!("{e}; running the model on Burn's CPU backend instead (slower)")
                            });
                        }
                        Err(e) => return Err(e),
                    }
                }
                let engine = BurnEngine::load(path)?;
                Ok(Detector {
                    names,
                    imgsz: engine.imgsz(),
                    engine: Box::new(engine),
                    backend: "burn",
                    native_side: meta.native_side,
                    tiles: TilePlan::default(),
                })
            }
            "pt" | "pth" => {
                // An Ultralytics checkpoint, imported in memory and run on Burn.
                let device = crate::runtime::device::inference_device().burn_device()?;
                let imported = crate::import::import_detector(path, &device)?;
                let mut meta = imported.meta;
                meta.names = chosen_names(names, &meta)?;
                let engine = BurnEngine::from_model(imported.model, meta.clone(), device);
                Ok(Detector {
                    names: meta.names,
                    imgsz: engine.imgsz(),
                    engine: Box::new(engine),
                    backend: "burn",
                    native_side: None,
                    tiles: TilePlan::default(),
                })
            }
            _ => Err(MlError::Model {
                path: path.display().to_string(),
                reason: "unknown model format: expected .onnx, an Ultralytics .pt or our .bpk checkpoint".into(),
            }),
        }
    }

    pub fn engine(&self) -> &dyn Engine {
        self.engine.as_ref()
    }

    /// Sets when frames run tiled (`--tile`, `--overlap`).
    pub fn with_tiles(mut self, plan: TilePlan) -> Self {
        self.tiles = plan;
        self
    }

    /// How the detector meets images: the scale it was trained at and `tiles`.
    pub fn sight(&self) -> TileSight {
        TileSight {
            scale: ModelScale::resized(self.imgsz, self.native_side),
            plan: self.tiles,
        }
    }

    /// Detects defects in one frame: whole, or tiled at native scale where the
    /// [`sight`](Self::sight) says so.
    pub fn predict(&self, frame: &Frame, opts: &PredictOptions) -> Result<Prediction, MlError> {
        let tiling = self.sight().tiling(frame.width(), frame.height());
        predict_frame(self.engine.as_ref(), &self.names, frame, opts, tiling)
    }
}
