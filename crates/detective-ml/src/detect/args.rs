//! Training settings, named and defaulted as Ultralytics' `default.yaml`, so that
//! `args.yaml` reads the same and a user's habits carry over.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::detect::Scale;
use crate::runtime::device::ComputeDevice;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainArgs {
    pub task: String,
    /// Dataset: folder holding `data.yaml`, or the yaml itself.
    pub data: PathBuf,
    /// Model scale.
    pub model: Scale,
    /// Initial weights (our `.bpk`); layers whose shapes differ are left initialised.
    pub weights: Option<PathBuf>,
    pub epochs: usize,
    pub imgsz: u32,
    pub batch: usize,
    /// Run folder.
    pub out: PathBuf,
    pub seed: u64,
    /// Loader threads.
    pub workers: usize,
    /// Compute device: `cpu`, or with the `cuda` feature `cuda`, `cuda:N` or `N`.
    #[serde(default = "default_device")]
    pub device: String,
    /// Epochs without improvement before stopping early.
    pub patience: usize,
    /// "auto", "SGD" or "AdamW".
    pub optimizer: String,
    pub lr0: f32,
    pub lrf: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    pub warmup_epochs: f32,
    pub warmup_momentum: f32,
    pub warmup_bias_lr: f32,
    #[serde(rename = "box")]
    pub box_gain: f32,
    #[serde(rename = "cls")]
    pub cls_gain: f32,
    #[serde(rename = "dfl")]
    pub dfl_gain: f32,
    /// Nominal batch size: gradients accumulate until this many images.
    pub nbs: usize,
    /// Turn mosaic off for the last N epochs.
    pub close_mosaic: usize,
    pub hsv_h: f32,
    pub hsv_s: f32,
    pub hsv_v: f32,
    pub degrees: f32,
    pub translate: f32,
    pub scale: f32,
    pub shear: f32,
    pub perspective: f32,
    pub flipud: f32,
    pub fliplr: f32,
    pub mosaic: f32,
    /// Validate after every epoch.
    pub val: bool,
    /// Keep decoded images in memory.
    pub cache: bool,
    /// NMS IoU and detections per image at validation.
    pub iou: f32,
    pub max_det: usize,
    /// Also save `weights/epoch_{N}` every this many epochs (0 = never).
    pub save_period: usize,
    /// Write plots (SVG).
    pub plots: bool,
}

impl Default for TrainArgs {
    fn default() -> Self {
        TrainArgs {
            task: "detect".into(),
            data: PathBuf::new(),
            model: Scale::N,
            weights: None,
            epochs: 100,
            imgsz: 640,
            batch: 16,
            out: PathBuf::from("runs/detect/train"),
            seed: 0,
            workers: 2,
            device: default_device(),
            patience: 100,
            optimizer: "auto".into(),
            lr0: 0.01,
            lrf: 0.01,
            momentum: 0.937,
            weight_decay: 0.0005,
            warmup_epochs: 3.0,
            warmup_momentum: 0.8,
            warmup_bias_lr: 0.1,
            box_gain: 7.5,
            cls_gain: 0.5,
            dfl_gain: 1.5,
            nbs: 64,
            close_mosaic: 10,
            hsv_h: 0.015,
            hsv_s: 0.7,
            hsv_v: 0.4,
            degrees: 0.0,
            translate: 0.1,
            scale: 0.5,
            shear: 0.0,
            perspective: 0.0,
            flipud: 0.0,
            fliplr: 0.5,
            mosaic: 1.0,
            val: true,
            cache: true,
            iou: 0.7,
            max_det: 300,
            save_period: 0,
            plots: true,
        }
    }
}

fn default_device() -> String {
    "cpu".into()
}

impl TrainArgs {
    /// Checks every number is in range; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        let mut bad = Vec::new();
        if let Err(e) = self.device.parse::<ComputeDevice>().and_then(|d| d.available()) {
            bad.push(e.to_string());
        }
        if self.epochs == 0 || self.epochs > 100_000 {
            bad.push(format!("epochs {} must be within 1..=100000", self.epochs));
        }
        if self.imgsz < 32 || !self.imgsz.is_multiple_of(32) || self.imgsz > 4096 {
            bad.push(format!(
                "imgsz {} must be a multiple of 32 within 32..=4096",
                self.imgsz
            ));
        }
        if self.batch == 0 || self.batch > 1024 {
            bad.push(format!("batch {} must be within 1..=1024", self.batch));
        }
        if !matches!(self.optimizer.as_str(), "auto" | "SGD" | "AdamW") {
            bad.push(format!("optimizer {:?} must be auto, SGD or AdamW", self.optimizer));
        }
        for (name, v, lo, hi) in [
            ("lr0", self.lr0, 0.0, 1.0),
            ("lrf", self.lrf, 0.0, 1.0),
            ("momentum", self.momentum, 0.0, 1.0),
            ("weight_decay", self.weight_decay, 0.0, 1.0),
            ("warmup_epochs", self.warmup_epochs, 0.0, 1000.0),
            ("iou", self.iou, 0.0, 1.0),
            ("fliplr", self.fliplr, 0.0, 1.0),
            ("flipud", self.flipud, 0.0, 1.0),
            ("mosaic", self.mosaic, 0.0, 1.0),
        ] {
            if !(lo..=hi).contains(&v) || !v.is_finite() {
                bad.push(format!("{name} {v} must be within {lo}..={hi}"));
            }
        }
        if self.nbs == 0 {
            bad.push("nbs must be at least 1".into());
        }
        if bad.is_empty() { Ok(()) } else { Err(bad.join("; ")) }
    }
}
