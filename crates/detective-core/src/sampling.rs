//! Which frames an edge agent sends to people beyond the uncertain ones, so a
//! defect the model misses with confidence, or misses entirely, is still seen
//! by someone: a random share of all frames (with or without detections),
//! frames with more than K detections, frames with a detection of chosen
//! classes — each strategy at most `per_hour` frames per clock hour.
//!
//! [`Sampling`] is what a camera is set to; [`Sampler`] decides frame by frame
//! on the agent, which sees every frame. The cloud keeps each camera's
//! [`Sampling`] and hands it to the agent over `GET /api/edge/config`; a sampled
//! frame travels with its [`Reason`] and lands in the labeling queue.

use serde::{Deserialize, Serialize};

use crate::Rng;

/// Largest K of "more than K detections" (a logged frame carries at most
/// 1000 detections).
pub const MAX_MORE_THAN: u32 = 999;

fn default_per_hour() -> u32 {
    30
}

/// A camera's sampling strategies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    /// Send this percentage of all frames (0: off), whatever was detected.
    #[serde(default)]
    pub random_percent: f32,
    /// Send frames with more than this many detections (None: off).
    #[serde(default)]
    pub more_than: Option<u32>,
    /// Send frames with a detection of one of these classes (empty: off).
    #[serde(default)]
    pub classes: Vec<String>,
    /// At most this many frames per clock hour, for each strategy.
    #[serde(default = "default_per_hour")]
    pub per_hour: u32,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            random_percent: 0.0,
            more_than: None,
            classes: Vec::new(),
            per_hour: default_per_hour(),
        }
    }
}

/// Why a frame was sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A detection of a chosen class.
    Class,
    /// More detections than the limit.
    MoreThan,
    /// The random share.
    Random,
}

impl Reason {
    pub const ALL: [Reason; 3] = [Reason::Random, Reason::MoreThan, Reason::Class];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Class => "class",
            Reason::MoreThan => "more_than",
            Reason::Random => "random",
        }
    }
}

impl Sampling {
    /// Checks the numbers and names; the error says which is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=100.0).contains(&self.random_percent) {
            return Err(format!("random_percent {} is not within 0..=100", self.random_percent));
        }
        if !(1..=3600).contains(&self.per_hour) {
            return Err(format!("per_hour {} is not within 1..=3600", self.per_hour));
        }
        if self.classes.len() > 100
            || self
                .classes
                .iter()
                .any(|c| c.trim().is_empty() || c.len() > 128 || c.chars().any(char::is_control))
        {
            return Err("classes: at most 100 names of 1 to 128 characters, none blank".into());
        }
        if self.more_than.is_some_and(|k| k > MAX_MORE_THAN) {
            return Err(format!("more_than must be at most {MAX_MORE_THAN}"));
        }
        Ok(())
    }

    /// Whether any strategy is on.
    pub fn is_on(&self) -> bool {
        self.random_percent > 0.0 || self.more_than.is_some() || !self.classes.is_empty()
    }
}

const HOUR_MS: i64 = 3_600_000;

/// Decides, frame by frame, which frames a camera's [`Sampling`] sends.
#[derive(Debug, Clone)]
pub struct Sampler {
    cfg: Sampling,
    hour: i64,
    /// Frames sent this hour by each strategy (class, more-than, random).
    used: [u32; 3],
    rng: Rng,
}

impl Sampler {
    pub fn new(cfg: Sampling, seed: u64) -> Sampler {
        Sampler {
            cfg,
            hour: i64::MIN,
            used: [0; 3],
            rng: Rng::new(seed),
        }
    }

    /// New strategies (the cloud changed them); this hour's counts stay.
    pub fn set(&mut self, cfg: Sampling) {
        self.cfg = cfg;
    }

    /// Whether to send a frame whose detections are of classes `names`, seen at
    /// `now_ms` (ms since the epoch), and why: a chosen class first, then too
    /// many detections, then the random share; a strategy whose hour is used
    /// up passes the frame on to the next.
    pub fn decide(&mut self, names: &[&str], now_ms: i64) -> Option<Reason> {
        let hour = now_ms.div_euclid(HOUR_MS);
        if hour != self.hour {
            self.hour = hour;
            self.used = [0; 3];
        }
        // The random draw is made for every frame, so the share does not
        // depend on what the other strategies took.
        let lucky = self.cfg.random_percent > 0.0 && self.rng.chance(self.cfg.random_percent / 100.0);
        let wants = [
            names.iter().any(|n| self.cfg.classes.iter().any(|c| c == n)),
            self.cfg.more_than.is_some_and(|k| names.len() > k as usize),
            lucky,
        ];
        let reasons = [Reason::Class, Reason::MoreThan, Reason::Random];
        let per_hour = self.cfg.per_hour;
        for ((want, used), reason) in wants.into_iter().zip(self.used.iter_mut()).zip(reasons) {
            if want && *used < per_hour {
                *used += 1;
                return Some(reason);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000 - 1_800_000_000_000 % HOUR_MS;

    #[test]
    fn a_random_share_of_all_frames_is_sent_empty_ones_included() {
        let cfg = Sampling {
            random_percent: 10.0,
            per_hour: 3600,
            ..Sampling::default()
        };
        let mut s = Sampler::new(cfg, 1);
        let sent = (0..3000).filter(|i| s.decide(&[], T0 + i).is_some()).count();
        assert!((240..=360).contains(&sent), "{sent}");
    }

    #[test]
    fn each_strategy_stops_at_its_hourly_limit_and_starts_again_next_hour() {
        let cfg = Sampling {
            more_than: Some(2),
            classes: vec!["crack".into()],
            per_hour: 2,
            ..Sampling::default()
        };
        let mut s = Sampler::new(cfg, 1);
        let crowded = ["spot", "spot", "dent"];
        let got: Vec<Option<Reason>> = (0..4).map(|i| s.decide(&crowded, T0 + i)).collect();
        assert_eq!(got, vec![Some(Reason::MoreThan), Some(Reason::MoreThan), None, None]);
        // The class strategy has its own hour.
        assert_eq!(s.decide(&["crack"], T0 + 10), Some(Reason::Class));
        // A crowded crack frame: the class first; once the class is used up, nothing.
        assert_eq!(s.decide(&["crack", "crack", "crack"], T0 + 11), Some(Reason::Class));
        assert_eq!(s.decide(&["crack", "crack", "crack"], T0 + 12), None);
        // The next hour starts afresh.
        assert_eq!(s.decide(&crowded, T0 + HOUR_MS), Some(Reason::MoreThan));
    }

    #[test]
    fn nothing_is_sent_when_every_strategy_is_off_and_bad_numbers_are_refused() {
        let mut s = Sampler::new(Sampling::default(), 1);
        assert!((0..100).all(|i| s.decide(&["crack"; 5], T0 + i).is_none()));
        assert!(!Sampling::default().is_on());
        for bad in [
            Sampling {
                random_percent: 101.0,
                ..Sampling::default()
            },
            Sampling {
                per_hour: 0,
                ..Sampling::default()
            },
            Sampling {
                classes: vec![" ".into()],
                ..Sampling::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let json = r#"{"random_percent": 5, "classes": ["crack"]}"#;
        let parsed: Sampling = serde_json::from_str(json).unwrap();
        assert_eq!((parsed.per_hour, parsed.is_on()), (30, true));
    }
}
