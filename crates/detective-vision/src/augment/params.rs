//! What every augmentation step shares: the settings ([`AugmentParams`],
//! Ultralytics' defaults), a box travelling with its frame ([`LabeledBox`]),
//! the border fill and the uniform draw. Kept apart from `mod.rs` so that the
//! steps depend on it and not on the module that lists them.

use crate::VisionError;

/// Grey of every area not covered by an image (mosaic canvas, warp border, padding).
pub const FILL: u8 = crate::preprocess::PAD_VALUE;

/// A box with its class: `(class, [x1, y1, x2, y2])` in pixels.
pub type LabeledBox = (usize, [f32; 4]);

/// Augmentation hyper-parameters, named and defaulted as Ultralytics' `default.yaml`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentParams {
    /// Hue shift range, as a fraction of the hue circle (±).
    pub hsv_h: f32,
    /// Saturation gain range (±, multiplicative around 1).
    pub hsv_s: f32,
    /// Value (brightness) gain range (±, multiplicative around 1).
    pub hsv_v: f32,
    /// Rotation range in degrees (±).
    pub degrees: f32,
    /// Translation range as a fraction of the output size (±, around the centre).
    pub translate: f32,
    /// Scale range (±, around 1): the image is zoomed by a factor in `[1 - scale, 1 + scale]`.
    pub scale: f32,
    /// Shear range in degrees (±).
    pub shear: f32,
    /// Probability of a vertical flip.
    pub flipud: f32,
    /// Probability of a horizontal flip.
    pub fliplr: f32,
}

impl Default for AugmentParams {
    /// Ultralytics' defaults: hsv 0.015/0.7/0.4, translate 0.1, scale 0.5, fliplr 0.5,
    /// no rotation, shear or vertical flip.
    fn default() -> Self {
        AugmentParams {
            hsv_h: 0.015,
            hsv_s: 0.7,
            hsv_v: 0.4,
            degrees: 0.0,
            translate: 0.1,
            scale: 0.5,
            shear: 0.0,
            flipud: 0.0,
            fliplr: 0.5,
        }
    }
}

impl AugmentParams {
    /// No augmentation at all (identity geometry, no colour change, no flips).
    pub fn none() -> Self {
        AugmentParams {
            hsv_h: 0.0,
            hsv_s: 0.0,
            hsv_v: 0.0,
            degrees: 0.0,
            translate: 0.0,
            scale: 0.0,
            shear: 0.0,
            flipud: 0.0,
            fliplr: 0.0,
        }
    }

    /// Refuses values that would break the transforms (non-finite, negative, a scale
    /// that can reach zero, probabilities outside 0..1).
    pub fn validate(&self) -> Result<(), VisionError> {
        let named = [
            ("hsv_h", self.hsv_h),
            ("hsv_s", self.hsv_s),
            ("hsv_v", self.hsv_v),
            ("degrees", self.degrees),
            ("translate", self.translate),
            ("scale", self.scale),
            ("shear", self.shear),
            ("flipud", self.flipud),
            ("fliplr", self.fliplr),
        ];
        for (name, v) in named {
            if !v.is_finite() || v < 0.0 {
                return Err(VisionError::InvalidArgument(format!(
                    "augmentation {name} = {v} must be finite and ≥ 0"
                )));
            }
        }
        if self.scale >= 1.0 {
            return Err(VisionError::InvalidArgument(format!(
                "augmentation scale = {} must be below 1 (the zoom factor 1 - scale must stay positive)",
                self.scale
            )));
        }
        for (name, p) in [("flipud", self.flipud), ("fliplr", self.fliplr)] {
            if p > 1.0 {
                return Err(VisionError::InvalidArgument(format!(
                    "augmentation {name} = {p} is a probability and must be within 0..=1"
                )));
            }
        }
        if self.degrees >= 90.0 || self.shear >= 90.0 {
            return Err(VisionError::InvalidArgument(format!(
                "augmentation degrees = {} and shear = {} must be below 90",
                self.degrees, self.shear
            )));
        }
        Ok(())
    }
}

/// Uniform draw in `[lo, hi)` computed as Python's `random.uniform` does (`lo + (hi - lo) · u`).
pub(crate) fn uniform(rng: &mut detective_core::Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.f64()
}
