//! Synthetic metal-surface defect images with exact boxes and masks.
//!
//! Each sample depends only on `(config, seed, index)` (its random stream is
//! `Rng::derive(seed, index)`), so samples can be generated in parallel and the same
//! seed always gives the same bytes. A sample is built in luma (float): a surface
//! texture ([`texture`]), defects rasterised each into its own coverage layer and
//! blended in ([`defects`], [`raster`]), then lighting gradient, specular band,
//! vignetting, exposure, a metal tint and sensor noise. Masks and boxes come from
//! each defect's own coverage, so they are exact for what is drawn:
//!
//! - instance mask: pixels with coverage ≥ 0.5 ([`raster::MASK_COVERAGE`]); for a
//!   dent, pixels whose luma it changes by ≥ [`defects::DENT_VISIBLE`] grey levels;
//! - box: the tight box of the instance mask in pixel xyxy (`x2` = last column + 1);
//! - a defect with fewer than [`raster::MIN_PIXELS`] mask pixels is not drawn;
//! - the image mask (0/255) is the union of the instance masks.
//!
//! [`Variety::Wide`] adds a per-image contrast, brightness, defocus blur and grey
//! output ([`look`]) for pretraining corpora; the standard variety is unchanged by it.

mod anomalies;
mod defects;
mod kind;
mod look;
mod noise;
mod raster;
mod texture;

use detective_core::{BBox, Rng};

use crate::{Frame, GrayFrame, VisionError};

pub use anomalies::{MAX_ANOMALIES, VISIBLE_CHANGE, paste_anomalies};
pub use defects::DENT_VISIBLE;
pub use kind::DefectKind;
pub use look::{Look, MAX_BLUR_SIGMA, Variety};
pub use raster::{InstanceMask, MASK_COVERAGE, MIN_PIXELS};

/// Which labels a dataset carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Boxes only.
    Detect,
    /// Boxes and a binary mask per image.
    Segment,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    pub width: u32,
    pub height: u32,
    pub task: Task,
    /// Classes in class-index order.
    pub classes: Vec<DefectKind>,
    /// Probability that an image has at least one defect.
    pub defect_rate: f32,
    /// Most defects in one image.
    pub max_defects: usize,
    /// Standard, or wide (contrast, brightness, blur and grey drawn per image).
    pub variety: Variety,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            width: 320,
            height: 320,
            task: Task::Detect,
            classes: DefectKind::ALL.to_vec(),
            defect_rate: 0.8,
            max_defects: 4,
            variety: Variety::Standard,
        }
    }
}

impl SynthConfig {
    pub fn validate(&self) -> Result<(), VisionError> {
        let bad = |m: String| Err(VisionError::InvalidArgument(m));
        if !(32..=4096).contains(&self.width) || !(32..=4096).contains(&self.height) {
            return bad(format!(
                "image size {}×{} must be within 32..=4096 on each side",
                self.width, self.height
            ));
        }
        if !(0.0..=1.0).contains(&self.defect_rate) {
            return bad(format!("defect rate {} must be within 0..=1", self.defect_rate));
        }
        if self.classes.is_empty() {
            return bad("at least one defect class is needed".into());
        }
        for (i, c) in self.classes.iter().enumerate() {
            if self.classes[..i].contains(c) {
                return bad(format!("defect class {} listed twice", c.name()));
            }
        }
        if self.max_defects == 0 || self.max_defects > 64 {
            return bad(format!("max defects {} must be within 1..=64", self.max_defects));
        }
        Ok(())
    }

    pub fn class_names(&self) -> Vec<String> {
        self.classes.iter().map(|c| c.name().to_string()).collect()
    }
}

/// One labelled defect of a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthObject {
    /// Index into [`SynthConfig::classes`].
    pub class: u32,
    /// Tight box of the instance mask, pixel xyxy (x2 = last column + 1).
    pub bbox: BBox,
    /// Number of pixels of the instance mask (at least [`MIN_PIXELS`]).
    pub instance_mask_pixels: usize,
    /// The defect's own pixels, stored over its bounding region.
    pub instance_mask: InstanceMask,
}

/// One generated image with its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSample {
    pub image: Frame,
    /// Union of the instance masks, 0 or 255 (also produced for detection).
    pub mask: GrayFrame,
    pub objects: Vec<SynthObject>,
}

/// Generates sample `index` of the dataset seeded by `seed`.
pub fn generate(config: &SynthConfig, seed: u64, index: u64) -> Result<SynthSample, VisionError> {
    config.validate()?;
    let mut rng = Rng::derive(seed, index);
    let (w, h) = (config.width as usize, config.height as usize);
    let surface = texture::Surface::random(&mut rng, w, h);
    let mut luma = surface.render(w, h, &mut rng);

    let mut objects = Vec::new();
    let mut union = GrayFrame::new(config.width, config.height);
    if rng.chance(config.defect_rate) {
        let u = rng.f32();
        let count = 1 + ((u * u) * config.max_defects as f32) as usize;
        let count = count.min(config.max_defects);
        let mut attempts = 0;
        while objects.len() < count && attempts < count * 8 {
            attempts += 1;
            let class = rng.range_usize(0, config.classes.len());
            let kind = config.classes[class];
            let Some(layer) = defects::draw(kind, w, h, &surface, &mut rng) else {
                continue;
            };
            layer.apply(&mut luma, w);
            let mask = layer.mask;
            for (x, y) in mask.pixels() {
                union.set(x, y, 255);
            }
            objects.push(SynthObject {
                class: class as u32,
                bbox: mask.bbox(),
                instance_mask_pixels: mask.count(),
                instance_mask: mask,
            });
        }
    }
    let look = (config.variety == Variety::Wide).then(|| Look::draw(seed, index));
    if let Some(look) = &look {
        look.apply_luma(&mut luma, w, h, surface.base);
    }
    let mut image = surface.finish(&luma, w, h, &mut rng)?;
    if let Some(look) = &look {
        look.apply_colour(&mut image);
    }
    Ok(SynthSample {
        image,
        mask: union,
        objects,
    })
}

#[cfg(test)]
mod tests;
