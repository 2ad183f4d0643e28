//! One detected defect and the rule that flags a prediction as uncertain.

use serde::{Deserialize, Serialize};

use crate::{BBox, CoreError};

/// A defect found in an image: class, confidence and a pixel box in the original image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// 0-based class index of the model that produced it.
    #[serde(rename = "class")]
    pub class_id: u32,
    /// Class name, as the model or dataset names it.
    pub name: String,
    pub confidence: f32,
    pub bbox: BBox,
}

/// The confidence band in which a prediction needs a human: `low < conf < high`.
///
/// The product default is `0.4 < conf < 0.7`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UncertainBand {
    pub low: f32,
    pub high: f32,
}

impl Default for UncertainBand {
    fn default() -> Self {
        UncertainBand { low: 0.4, high: 0.7 }
    }
}

impl UncertainBand {
    /// A band, checked: `0 <= low < high <= 1`.
    pub fn new(low: f32, high: f32) -> Result<Self, CoreError> {
        if !(0.0..=1.0).contains(&low) || !(0.0..=1.0).contains(&high) || low >= high {
            return Err(CoreError::InvalidBand { low, high });
        }
        Ok(UncertainBand { low, high })
    }

    /// True when the confidence lies strictly inside the band.
    pub fn is_uncertain(&self, confidence: f32) -> bool {
        confidence > self.low && confidence < self.high
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_band_is_open_interval_between_point_four_and_point_seven() {
        let band = UncertainBand::default();
        assert!(!band.is_uncertain(0.4));
        assert!(band.is_uncertain(0.41));
        assert!(band.is_uncertain(0.69));
        assert!(!band.is_uncertain(0.7));
    }

    #[test]
    fn band_with_low_above_high_is_refused() {
        assert!(UncertainBand::new(0.8, 0.2).is_err());
        assert!(UncertainBand::new(-0.1, 0.2).is_err());
    }

    #[test]
    fn detection_serialises_with_class_key() {
        let d = Detection {
            class_id: 2,
            name: "scratch".into(),
            confidence: 0.5,
            bbox: BBox::from([1.0, 2.0, 3.0, 4.0]),
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["class"], 2);
        assert_eq!(v["bbox"][2], 3.0);
    }
}
