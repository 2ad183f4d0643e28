//! Inspection rules: a confidence threshold and an uncertain band per class, and
//! zones of the frame to ignore or to inspect only.
//!
//! Rules are set per scope — everywhere, one model version, one camera, or one
//! model version on one camera — as a [`RuleSet`] that names only what it
//! changes. [`Rules`] is what is in effect for one model on one camera: the
//! server's thresholds, then each scope's set from the least to the most
//! specific ([`Scope::layers`]). `serve` and the edge agent apply the same
//! [`Rules`] the same way: the model runs at [`Rules::min_conf`], then
//! [`Rules::apply`] keeps what passes its class's threshold and the zones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Detection, UncertainBand, names::check_segment};

/// Most classes named in one rule set.
pub const MAX_CLASSES: usize = 256;
/// Most zones in one rule set.
pub const MAX_ZONES: usize = 32;
/// Most corners of one zone.
pub const MAX_POINTS: usize = 64;
/// Longest class name, zone name or model version in a rule set.
pub const MAX_NAME: usize = 128;

/// What a rule set changes for one class; a field left out is inherited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassRule {
    /// Detections of the class below this confidence are not reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<f32>,
    /// Lower end of the class's uncertain band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertain_low: Option<f32>,
    /// Upper end of the class's uncertain band (and the confidence from which a
    /// part counts as defective).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertain_high: Option<f32>,
}

/// What a zone does to the detections whose box centre lies inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZoneKind {
    /// Detections inside are dropped (a fixture, a label, a conveyor edge).
    Ignore,
    /// Only detections inside some inspect zone are kept.
    Inspect,
}

/// A polygon of the frame, its corners as fractions of the frame's width and
/// height (0..1), so the same zone fits every resolution of the camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub name: String,
    pub kind: ZoneKind,
    pub points: Vec<[f32; 2]>,
}

/// The rules one scope sets. `classes` entries merge into what less specific
/// scopes set, field by field; `zones`, when present, replace theirs (an empty
/// list clears them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Confidence threshold of classes that name none (default: the server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertain_low: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertain_high: Option<f32>,
    /// By class name, as the model names its classes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub classes: BTreeMap<String, ClassRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<Vec<Zone>>,
}

/// Why a rule set or a scope was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(pub String);

fn err(s: impl Into<String>) -> RuleError {
    RuleError(s.into())
}

fn check_fraction(what: &str, v: Option<f32>) -> Result<(), RuleError> {
    match v {
        Some(x) if !(x.is_finite() && (0.0..=1.0).contains(&x)) => Err(err(format!("{what} {x} is not within 0..1"))),
        _ => Ok(()),
    }
}

fn check_name(what: &str, s: &str) -> Result<(), RuleError> {
    if s.is_empty() || s.len() > MAX_NAME || s.chars().any(char::is_control) {
        return Err(err(format!(
            "{what} {s:?} must be 1 to {MAX_NAME} characters without control characters"
        )));
    }
    Ok(())
}

impl Zone {
    fn check(&self) -> Result<(), RuleError> {
        check_name("zone name", &self.name)?;
        let n = self.points.len();
        if !(3..=MAX_POINTS).contains(&n) {
            return Err(err(format!(
                "zone {:?} has {n} corners; a zone needs 3 to {MAX_POINTS}",
                self.name
            )));
        }
        for [x, y] in &self.points {
            if !(x.is_finite() && y.is_finite() && (0.0..=1.0).contains(x) && (0.0..=1.0).contains(y)) {
                return Err(err(format!(
                    "zone {:?}: corner ({x}, {y}) is outside the frame (corners are fractions 0..1 of its width and height)",
                    self.name
                )));
            }
        }
        Ok(())
    }

    /// Whether the point `(x, y)` (fractions of the frame) lies inside (even-odd rule).
    pub fn contains(&self, x: f32, y: f32) -> bool {
        let p = &self.points;
        let mut inside = false;
        let mut j = p.len().wrapping_sub(1);
        for i in 0..p.len() {
            let ([xi, yi], [xj, yj]) = (p[i], p[j]);
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
            j = i;
        }
        inside
    }
}

impl RuleSet {
    /// Checks every number, name and zone; the first problem is returned.
    pub fn validate(&self) -> Result<(), RuleError> {
        check_fraction("conf", self.conf)?;
        check_fraction("uncertain_low", self.uncertain_low)?;
        check_fraction("uncertain_high", self.uncertain_high)?;
        if let (Some(l), Some(h)) = (self.uncertain_low, self.uncertain_high)
            && l >= h
        {
            return Err(err(format!("uncertain_low {l} must be below uncertain_high {h}")));
        }
        if self.classes.len() > MAX_CLASSES {
            return Err(err(format!(
                "{} classes named; at most {MAX_CLASSES}",
                self.classes.len()
            )));
        }
        for (name, c) in &self.classes {
            check_name("class name", name)?;
            let at = |f: &str| format!("classes.{name}.{f}");
            check_fraction(&at("conf"), c.conf)?;
            check_fraction(&at("uncertain_low"), c.uncertain_low)?;
            check_fraction(&at("uncertain_high"), c.uncertain_high)?;
            if let (Some(l), Some(h)) = (c.uncertain_low, c.uncertain_high)
                && l >= h
            {
                return Err(err(format!(
                    "{} {l} must be below {} {h}",
                    at("uncertain_low"),
                    at("uncertain_high")
                )));
            }
        }
        if let Some(zones) = &self.zones {
            if zones.len() > MAX_ZONES {
                return Err(err(format!("{} zones; at most {MAX_ZONES}", zones.len())));
            }
            for z in zones {
                z.check()?;
            }
        }
        Ok(())
    }

    /// Class names this set names that `known` does not hold.
    pub fn unknown_classes<'a>(&'a self, known: &[String]) -> Vec<&'a str> {
        self.classes
            .keys()
            .filter(|n| !known.iter().any(|k| k == *n))
            .map(String::as_str)
            .collect()
    }
}

/// Where a rule set applies: a model version (`name@3`, as predictions name it),
/// a camera, both, or (neither) everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
}

impl Scope {
    pub fn new(model: Option<&str>, camera: Option<&str>) -> Self {
        Scope {
            model: model.map(str::to_string),
            camera: camera.map(str::to_string),
        }
    }

    /// Checks the camera id (one plain path segment) and the model's text.
    pub fn validate(&self) -> Result<(), RuleError> {
        if let Some(c) = &self.camera {
            check_segment("camera", c).map_err(|e| err(e.to_string()))?;
        }
        if let Some(m) = &self.model {
            check_name("model", m)?;
        }
        Ok(())
    }

    /// The scopes whose sets apply to a model on a camera, least specific first:
    /// everywhere, the model, the camera, the model on the camera.
    pub fn layers(model: Option<&str>, camera: Option<&str>) -> Vec<Scope> {
        let mut out = vec![Scope::default()];
        if model.is_some() {
            out.push(Scope::new(model, None));
        }
        if camera.is_some() {
            out.push(Scope::new(None, camera));
        }
        if model.is_some() && camera.is_some() {
            out.push(Scope::new(model, camera));
        }
        out
    }
}

/// The threshold and band of one class, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassThresholds {
    pub conf: f32,
    pub uncertain_low: f32,
    pub uncertain_high: f32,
}

/// The rules in effect for one model on one camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Threshold of classes not named in `classes`.
    pub conf: f32,
    pub uncertain_low: f32,
    pub uncertain_high: f32,
    /// Classes with their own threshold or band; what they leave out follows
    /// the fields above.
    #[serde(default)]
    pub classes: BTreeMap<String, ClassRule>,
    #[serde(default)]
    pub zones: Vec<Zone>,
}

impl Rules {
    /// Rules with one threshold and one band for every class and no zone.
    pub fn new(conf: f32, band: UncertainBand) -> Self {
        Rules {
            conf,
            uncertain_low: band.low,
            uncertain_high: band.high,
            classes: BTreeMap::new(),
            zones: Vec::new(),
        }
    }

    /// These rules with `set` laid over them: its class fields over those set
    /// before (a field no layer sets follows the default), its zones instead of
    /// the earlier ones. A band that would end empty is refused.
    pub fn with(mut self, set: &RuleSet) -> Result<Self, RuleError> {
        set.validate()?;
        self.conf = set.conf.unwrap_or(self.conf);
        self.uncertain_low = set.uncertain_low.unwrap_or(self.uncertain_low);
        self.uncertain_high = set.uncertain_high.unwrap_or(self.uncertain_high);
        for (name, c) in &set.classes {
            let r = self.classes.entry(name.clone()).or_default();
            r.conf = c.conf.or(r.conf);
            r.uncertain_low = c.uncertain_low.or(r.uncertain_low);
            r.uncertain_high = c.uncertain_high.or(r.uncertain_high);
        }
        UncertainBand::new(self.uncertain_low, self.uncertain_high).map_err(|e| err(e.to_string()))?;
        for name in self.classes.keys() {
            let t = self.thresholds(name);
            UncertainBand::new(t.uncertain_low, t.uncertain_high).map_err(|e| err(format!("class {name:?}: {e}")))?;
        }
        if let Some(z) = &set.zones {
            self.zones = z.clone();
        }
        Ok(self)
    }

    /// These rules with one threshold `conf` for every class (a caller that asks
    /// for a threshold gets it; bands and zones stay).
    pub fn with_conf(mut self, conf: f32) -> Self {
        self.conf = conf;
        for c in self.classes.values_mut() {
            c.conf = None;
        }
        self
    }

    /// Checks rules that arrive whole (from the cloud, from a file) as a stored
    /// set is checked: every number in range, every band open, every zone well
    /// formed.
    pub fn validate(&self) -> Result<(), RuleError> {
        let as_set = RuleSet {
            conf: Some(self.conf),
            uncertain_low: Some(self.uncertain_low),
            uncertain_high: Some(self.uncertain_high),
            classes: self.classes.clone(),
            zones: Some(self.zones.clone()),
        };
        Rules::new(self.conf, UncertainBand::default())
            .with(&as_set)
            .map(|_| ())
    }

    /// The threshold and band of class `name`.
    pub fn thresholds(&self, name: &str) -> ClassThresholds {
        let c = self.classes.get(name).copied().unwrap_or_default();
        ClassThresholds {
            conf: c.conf.unwrap_or(self.conf),
            uncertain_low: c.uncertain_low.unwrap_or(self.uncertain_low),
            uncertain_high: c.uncertain_high.unwrap_or(self.uncertain_high),
        }
    }

    /// The uncertain band of class `name`.
    pub fn band(&self, name: &str) -> UncertainBand {
        let t = self.thresholds(name);
        UncertainBand {
            low: t.uncertain_low,
            high: t.uncertain_high,
        }
    }

    /// The lowest threshold of any class: what the model must run at so that
    /// [`Rules::apply`] sees every detection some class keeps.
    pub fn min_conf(&self) -> f32 {
        self.classes.values().filter_map(|c| c.conf).fold(self.conf, f32::min)
    }

    /// Whether the zones keep a detection whose box centre is `(cx, cy)` in a
    /// `width`×`height` frame: outside every ignore zone and, when there are
    /// inspect zones, inside one of them.
    pub fn in_zones(&self, cx: f32, cy: f32, width: u32, height: u32) -> bool {
        let (x, y) = (cx / width.max(1) as f32, cy / height.max(1) as f32);
        let mut inspect = self.zones.iter().filter(|z| z.kind == ZoneKind::Inspect).peekable();
        let inspected = inspect.peek().is_none() || inspect.any(|z| z.contains(x, y));
        inspected
            && !self
                .zones
                .iter()
                .any(|z| z.kind == ZoneKind::Ignore && z.contains(x, y))
    }

    /// Whether `d`, found in a `width`×`height` frame, is reported.
    pub fn keeps(&self, d: &Detection, width: u32, height: u32) -> bool {
        let b = &d.bbox;
        d.confidence >= self.thresholds(&d.name).conf
            && self.in_zones((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0, width, height)
    }

    /// The detections these rules report.
    pub fn apply(&self, detections: Vec<Detection>, width: u32, height: u32) -> Vec<Detection> {
        detections
            .into_iter()
            .filter(|d| self.keeps(d, width, height))
            .collect()
    }

    /// Whether a detection of class `name` at `confidence` makes the part
    /// defective (at or above its class's band).
    pub fn is_defective(&self, name: &str, confidence: f32) -> bool {
        confidence >= self.band(name).high
    }

    /// Whether a detection of class `name` at `confidence` goes to review.
    pub fn is_uncertain(&self, name: &str, confidence: f32) -> bool {
        self.band(name).is_uncertain(confidence)
    }
}

/// The uncertain band that applies to a detection of class `class` made by the
/// model `model_version`: one band for everything, or rules per model.
pub trait Bands {
    fn band(&self, model_version: &str, class: &str) -> UncertainBand;
}

impl Bands for UncertainBand {
    fn band(&self, _: &str, _: &str) -> UncertainBand {
        *self
    }
}

impl Bands for Rules {
    fn band(&self, _: &str, class: &str) -> UncertainBand {
        Rules::band(self, class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BBox;

    fn det(name: &str, conf: f32, cx: f32, cy: f32) -> Detection {
        Detection {
            class_id: 0,
            name: name.into(),
            confidence: conf,
            bbox: BBox {
                x1: cx - 5.0,
                y1: cy - 5.0,
                x2: cx + 5.0,
                y2: cy + 5.0,
            },
        }
    }

    fn base() -> Rules {
        Rules::new(0.25, UncertainBand::default())
    }

    fn set(json: &str) -> RuleSet {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_class_threshold_overrides_the_default_for_that_class_only() {
        let r = base()
            .with(&set(
                r#"{"classes": {"scratch": {"conf": 0.6}, "crack": {"conf": 0.1}}}"#,
            ))
            .unwrap();
        assert!(!r.keeps(&det("scratch", 0.5, 50.0, 50.0), 100, 100));
        assert!(r.keeps(&det("scratch", 0.6, 50.0, 50.0), 100, 100));
        assert!(r.keeps(&det("crack", 0.15, 50.0, 50.0), 100, 100));
        assert!(!r.keeps(&det("pit", 0.2, 50.0, 50.0), 100, 100));
        assert_eq!(r.min_conf(), 0.1, "the model must run low enough for crack");
    }

    #[test]
    fn class_bands_decide_the_uncertain_flag_per_class() {
        let r = base()
            .with(&set(
                r#"{"classes": {"scratch": {"uncertain_low": 0.2, "uncertain_high": 0.5}}}"#,
            ))
            .unwrap();
        assert!(r.is_uncertain("scratch", 0.3));
        assert!(!r.is_uncertain("scratch", 0.6));
        assert!(!r.is_uncertain("crack", 0.3));
        assert!(r.is_uncertain("crack", 0.6));
        assert_eq!(Bands::band(&r, "m@1", "scratch").high, 0.5);
    }

    #[test]
    fn layers_merge_class_fields_and_replace_zones() {
        let everywhere = set(
            r#"{"classes": {"scratch": {"conf": 0.5}}, "zones": [{"name": "edge", "kind": "ignore", "points": [[0,0],[0.1,0],[0.1,1],[0,1]]}]}"#,
        );
        let camera = set(r#"{"classes": {"scratch": {"uncertain_high": 0.9}}, "zones": []}"#);
        let r = base().with(&everywhere).unwrap().with(&camera).unwrap();
        let t = r.thresholds("scratch");
        assert_eq!((t.conf, t.uncertain_low, t.uncertain_high), (0.5, 0.4, 0.9));
        assert!(r.zones.is_empty(), "an empty list clears the zones");
        let r = base().with(&everywhere).unwrap().with(&set("{}")).unwrap();
        assert_eq!(r.zones.len(), 1, "no zones field keeps them");
        // A later default band reaches a class that set only its threshold.
        let r = base()
            .with(&everywhere)
            .unwrap()
            .with(&set(r#"{"uncertain_low": 0.1, "uncertain_high": 0.3}"#))
            .unwrap();
        let t = r.thresholds("scratch");
        assert_eq!((t.conf, t.uncertain_low, t.uncertain_high), (0.5, 0.1, 0.3));
    }

    #[test]
    fn ignore_zones_drop_and_inspect_zones_limit_by_box_centre() {
        let r = base()
            .with(&set(r#"{"zones": [
                    {"name": "belt", "kind": "inspect", "points": [[0.2,0.2],[0.8,0.2],[0.8,0.8],[0.2,0.8]]},
                    {"name": "clamp", "kind": "ignore", "points": [[0.4,0.4],[0.6,0.4],[0.5,0.6]]}]}"#))
            .unwrap();
        let kept = r.apply(
            vec![
                det("a", 0.9, 30.0, 30.0), // inside the belt
                det("b", 0.9, 10.0, 10.0), // outside every inspect zone
                det("c", 0.9, 50.0, 45.0), // in the clamp
            ],
            100,
            100,
        );
        assert_eq!(kept.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["a"]);
        // The same zones at another resolution.
        assert!(r.keeps(&det("a", 0.9, 60.0, 60.0), 200, 200));
        assert!(!r.keeps(&det("a", 0.9, 100.0, 90.0), 200, 200));
    }

    #[test]
    fn bad_rule_sets_are_refused_with_the_reason() {
        for (json, want) in [
            (r#"{"conf": 1.5}"#, "conf 1.5"),
            (
                r#"{"classes": {"s": {"uncertain_low": 0.8, "uncertain_high": 0.2}}}"#,
                "below",
            ),
            (
                r#"{"zones": [{"name": "z", "kind": "ignore", "points": [[0,0],[1,1]]}]}"#,
                "3 to",
            ),
            (
                r#"{"zones": [{"name": "z", "kind": "ignore", "points": [[0,0],[2,0],[1,1]]}]}"#,
                "outside the frame",
            ),
            (r#"{"classes": {"": {"conf": 0.2}}}"#, "class name"),
        ] {
            let e = set(json).validate().unwrap_err().to_string();
            assert!(e.contains(want), "{json}: {e}");
        }
        assert!(
            serde_json::from_str::<RuleSet>(r#"{"zones": [{"name": "z", "kind": "maybe", "points": []}]}"#).is_err()
        );
        // A class band left empty by a layer that moves one end only.
        let e = base()
            .with(&set(r#"{"classes": {"s": {"uncertain_low": 0.8}}}"#))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"s\""), "{e}");
    }

    #[test]
    fn scopes_layer_from_everywhere_to_model_on_camera() {
        let l = Scope::layers(Some("m@2"), Some("cam1"));
        assert_eq!(l.len(), 4);
        assert_eq!(l[0], Scope::default());
        assert_eq!(l[3], Scope::new(Some("m@2"), Some("cam1")));
        assert_eq!(Scope::layers(None, Some("cam1")).len(), 2);
        assert!(Scope::new(None, Some("../x")).validate().is_err());
    }

    #[test]
    fn unknown_classes_are_named() {
        let s = set(r#"{"classes": {"scratch": {}, "dent": {}}}"#);
        assert_eq!(s.unknown_classes(&["scratch".into()]), ["dent"]);
    }
}
