//! The settings of a segmentation run (`detective train --task segment`), saved
//! as the run's `args.yaml` and checked before a run starts, so that a bad value
//! is refused with every reason at once instead of failing mid-run.

use std::path::PathBuf;

use detective_vision::augment::SegAugmentParams;
use serde::{Deserialize, Serialize};

use super::loss::DiceScope;
use super::model::UNET_DIVISOR;

/// Settings of a segmentation run (saved as `args.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegTrainArgs {
    pub data: PathBuf,
    pub out: PathBuf,
    /// Start from this segmenter checkpoint (fine-tuning, or training longer).
    #[serde(default)]
    pub weights: Option<PathBuf>,
    pub epochs: usize,
    /// Square training size, a multiple of 16.
    pub imgsz: u32,
    pub batch: usize,
    pub lr0: f32,
    /// Final learning rate as a fraction of `lr0`.
    pub lrf: f32,
    pub weight_decay: f32,
    pub warmup_epochs: f32,
    pub seed: u64,
    /// Threshold of the validation metrics (and saved with the model).
    pub threshold: f32,
    pub val: bool,
    /// Stop when the validation Dice has not improved for this many epochs.
    pub patience: usize,
    pub fliplr: f32,
    pub flipud: f32,
    pub rot90: bool,
    pub brightness: f32,
    pub contrast: f32,
    pub crop_min: f32,
    /// One output per dataset class instead of one defect map; a pixel's class
    /// comes from the image's YOLO boxes.
    #[serde(default)]
    pub classes: bool,
    /// Train on `patch × patch` windows of the augmented `imgsz` images (0: the
    /// whole image). Validation and prediction still see whole images.
    #[serde(default)]
    pub patch: u32,
    /// With `patch` or `tile`: the probability that a window holds a defect pixel.
    #[serde(default = "default_patch_defect")]
    pub patch_defect: f32,
    /// Train on `tile × tile` windows at the images' native scale (no resizing;
    /// padded where an image is smaller) and validate by overlapping windows of
    /// the same size stitched together; 0: whole images resized to `imgsz`. The
    /// model then predicts tiled by default. Runs saved before the setting
    /// existed did not.
    #[serde(default)]
    pub tile: u32,
    /// Weight of the defect pixels' cross-entropy against the background's
    /// (`--pos-weight`; 1: plain BCE, as runs saved before the setting had).
    #[serde(default = "default_pos_weight")]
    pub pos_weight: f32,
    /// What the soft Dice loss sums over: the batch, or each image (`--dice`).
    /// Runs saved before the setting existed used the batch.
    #[serde(default)]
    pub dice: DiceScope,
    /// Validate and save an exponential moving average of the weights (window of
    /// about two epochs) instead of the latest weights. Runs saved before the
    /// setting existed did not.
    #[serde(default)]
    pub ema: bool,
    /// Share of an epoch's draws that are images with a defect (`--defect-share`):
    /// 0 visits every image once per epoch in a shuffled order; above 0 each draw
    /// is a defective image with this probability, else a clean one, each kind
    /// cycled through in shuffled rounds (an epoch keeps the split's length). On
    /// real sets most images are clean, and a model that sees defects in one
    /// batch out of four learns that predicting nothing pays.
    #[serde(default)]
    pub defect_share: f32,
    /// Standardise each image per channel inside the network (`--input-norm
    /// image`): zero mean and unit variance, so that the light a part was taken
    /// under (MagneticTile's test parts are lit brighter than any training part)
    /// does not change what the network sees. Saved in the checkpoint.
    #[serde(default)]
    pub standardize: bool,
    /// Where to train: `cpu`, or `cuda`/`cuda:N` in a build with the `cuda`
    /// feature (resolved from `auto` before the run). Runs saved before the
    /// setting existed trained on the CPU.
    #[serde(default = "default_device")]
    pub device: String,
    /// An anomaly model (`--task anomaly`): trained on the defect-free images only
    /// (empty label file, no defect in the mask), with synthetic anomalies pasted
    /// onto `anomaly_share` of the draws as what it learns to mark
    /// ([`detective_vision::synth::paste_anomalies`]); validated by image and
    /// pixel AUROC, its threshold calibrated on the validation split's good images.
    #[serde(default)]
    pub anomaly: bool,
    /// With `anomaly`: the share of training draws that get pasted anomalies.
    #[serde(default = "default_anomaly_share")]
    pub anomaly_share: f32,
    /// With `anomaly`: the share of good validation images allowed to score above
    /// the calibrated threshold (the false-alarm rate, `--false-alarms`).
    #[serde(default = "default_false_alarm_rate")]
    pub false_alarm_rate: f32,
}

fn default_anomaly_share() -> f32 {
    0.5
}

fn default_false_alarm_rate() -> f32 {
    0.01
}

fn default_device() -> String {
    "cpu".into()
}

fn default_patch_defect() -> f32 {
    0.5
}

fn default_pos_weight() -> f32 {
    1.0
}

impl Default for SegTrainArgs {
    fn default() -> Self {
        let aug = SegAugmentParams::default();
        SegTrainArgs {
            data: PathBuf::new(),
            out: PathBuf::from("runs/segment/train"),
            weights: None,
            epochs: 50,
            imgsz: 256,
            batch: 8,
            lr0: 1e-3,
            lrf: 0.01,
            weight_decay: 1e-4,
            warmup_epochs: 1.0,
            seed: 0,
            threshold: 0.5,
            val: true,
            patience: 100,
            fliplr: aug.fliplr,
            flipud: aug.flipud,
            rot90: aug.rot90,
            brightness: aug.brightness,
            contrast: aug.contrast,
            crop_min: aug.crop_min,
            classes: false,
            patch: 0,
            patch_defect: default_patch_defect(),
            tile: 0,
            pos_weight: default_pos_weight(),
            dice: DiceScope::Image,
            ema: true,
            defect_share: 0.0,
            standardize: false,
            device: default_device(),
            anomaly: false,
            anomaly_share: default_anomaly_share(),
            false_alarm_rate: default_false_alarm_rate(),
        }
    }
}

impl SegTrainArgs {
    /// The side of the training inputs: `tile`, `patch`, or `imgsz` without either.
    pub fn train_side(&self) -> u32 {
        match (self.tile, self.patch) {
            (t, _) if t > 0 => t,
            (_, p) if p > 0 => p,
            _ => self.imgsz,
        }
    }

    /// The side of the model's input, which its checkpoint records: the tile
    /// when the run trains on tiles, else `imgsz` (a run on patches still
    /// validates and predicts whole images at `imgsz`).
    pub fn model_input(&self) -> u32 {
        if self.tile > 0 { self.tile } else { self.imgsz }
    }

    pub fn augment(&self) -> SegAugmentParams {
        SegAugmentParams {
            fliplr: self.fliplr,
            flipud: self.flipud,
            rot90: self.rot90,
            brightness: self.brightness,
            contrast: self.contrast,
            crop_min: self.crop_min,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let mut bad = Vec::new();
        if !(1..=100_000).contains(&self.epochs) {
            bad.push(format!("epochs {} must be within 1..=100000", self.epochs));
        }
        if self.imgsz < 32 || self.imgsz > 2048 || !(self.imgsz as usize).is_multiple_of(UNET_DIVISOR) {
            bad.push(format!(
                "imgsz {} must be a multiple of {UNET_DIVISOR} within 32..=2048",
                self.imgsz
            ));
        }
        if !(1..=512).contains(&self.batch) {
            bad.push(format!("batch {} must be within 1..=512", self.batch));
        }
        if !(self.lr0 > 0.0 && self.lr0 <= 1.0) {
            bad.push(format!("lr0 {} must be within (0, 1]", self.lr0));
        }
        if !(self.lrf > 0.0 && self.lrf <= 1.0) {
            bad.push(format!("lrf {} must be within (0, 1]", self.lrf));
        }
        if !(0.0..=1.0).contains(&self.weight_decay) {
            bad.push(format!("weight decay {} must be within 0..=1", self.weight_decay));
        }
        if !(0.0..=100.0).contains(&self.warmup_epochs) {
            bad.push(format!("warmup epochs {} must be within 0..=100", self.warmup_epochs));
        }
        if self.patch != 0
            && (self.patch < 32 || self.patch > self.imgsz || !(self.patch as usize).is_multiple_of(UNET_DIVISOR))
        {
            bad.push(format!(
                "patch {} must be 0 (whole images) or a multiple of {UNET_DIVISOR} within 32..=imgsz ({})",
                self.patch, self.imgsz
            ));
        }
        if self.tile != 0 && (self.tile < 32 || self.tile > 2048 || !(self.tile as usize).is_multiple_of(UNET_DIVISOR))
        {
            bad.push(format!(
                "tile {} must be 0 (whole images) or a multiple of {UNET_DIVISOR} within 32..=2048",
                self.tile
            ));
        }
        if self.tile != 0 && self.patch != 0 {
            bad.push("tile and patch exclude each other: tiles are windows at native scale, patches windows of the resized image".into());
        }
        if !(0.1..=1000.0).contains(&self.pos_weight) {
            bad.push(format!("pos-weight {} must be within 0.1..=1000", self.pos_weight));
        }
        if !(0.0..=1.0).contains(&self.defect_share) {
            bad.push(format!(
                "defect-share {} must be a share within 0..=1 (0: every image once per epoch)",
                self.defect_share
            ));
        }
        if !(0.0..=1.0).contains(&self.patch_defect) {
            bad.push(format!(
                "patch-defect {} must be a probability within 0..=1",
                self.patch_defect
            ));
        }
        if !(0.0..=1.0).contains(&self.anomaly_share) {
            bad.push(format!(
                "anomaly-share {} must be a share within 0..=1",
                self.anomaly_share
            ));
        }
        if !(self.false_alarm_rate > 0.0 && self.false_alarm_rate < 0.5) {
            bad.push(format!(
                "false-alarms {} must be a rate within (0, 0.5), e.g. 0.01 for 1 %",
                self.false_alarm_rate
            ));
        }
        if self.anomaly && (self.classes || self.defect_share > 0.0) {
            bad.push("an anomaly model has one map and trains on good images only: --classes and --defect-share do not apply".into());
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            bad.push(format!("threshold {} must be within (0, 1)", self.threshold));
        }
        if let Err(e) = self.augment().validate() {
            bad.push(e.to_string());
        }
        if let Err(e) = self.device.parse::<crate::runtime::device::ComputeDevice>() {
            bad.push(e.to_string());
        }
        if bad.is_empty() { Ok(()) } else { Err(bad.join("; ")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_saved_before_dice_and_ema_existed_keep_the_old_behaviour() {
        let mut yaml = serde_norway::to_string(&SegTrainArgs::default()).unwrap();
        assert!(yaml.contains("dice: image") && yaml.contains("ema: true"), "{yaml}");
        yaml = yaml
            .lines()
            .filter(|l| !l.starts_with("dice:") && !l.starts_with("ema:"))
            .collect::<Vec<_>>()
            .join("\n");
        let old: SegTrainArgs = serde_norway::from_str(&yaml).unwrap();
        assert_eq!((old.dice, old.ema), (DiceScope::Batch, false));
    }

    #[test]
    fn bad_settings_are_refused_with_every_reason() {
        let args = SegTrainArgs {
            imgsz: 100,
            batch: 0,
            threshold: 1.5,
            patch: 40,
            patch_defect: 2.0,
            ..SegTrainArgs::default()
        };
        let e = args.validate().unwrap_err();
        assert!(
            e.contains("imgsz 100") && e.contains("batch 0") && e.contains("threshold 1.5"),
            "{e}"
        );
        assert!(e.contains("patch 40") && e.contains("patch-defect 2"), "{e}");
        let big = SegTrainArgs {
            patch: 512,
            ..SegTrainArgs::default()
        };
        assert!(big.validate().unwrap_err().contains("patch 512"));
        let ok = SegTrainArgs {
            patch: 128,
            ..SegTrainArgs::default()
        };
        assert!(ok.validate().is_ok());
        assert_eq!((ok.train_side(), SegTrainArgs::default().train_side()), (128, 256));
        assert!(SegTrainArgs::default().validate().is_ok());
        let tiles = SegTrainArgs {
            tile: 128,
            ..SegTrainArgs::default()
        };
        assert!(tiles.validate().is_ok());
        assert_eq!((tiles.train_side(), tiles.model_input()), (128, 128));
        assert_eq!((ok.model_input(), ok.imgsz), (256, 256));
        let e = SegTrainArgs {
            tile: 100,
            patch: 128,
            ..SegTrainArgs::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("tile 100") && e.contains("exclude each other"), "{e}");
    }
}
