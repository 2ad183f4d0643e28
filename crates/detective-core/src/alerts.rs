//! Alert rules and the pure decisions behind them: what a rule watches and
//! where it sends, the SPC p-chart test of a defect rate against its history,
//! and the quiet period that keeps one condition from paging twice.
//!
//! A rule is one [`Condition`] plus its [`Channel`]s. Conditions over time
//! (a defect rate above its control limit, a silent camera, a full edge spool,
//! drift) are evaluated periodically; events (a training job failed, a model
//! promoted) fire as they happen. Each firing has a key (the line and class, the
//! camera, the job…): the same rule and key fire again only after the rule's
//! quiet period.

use serde::{Deserialize, Serialize};

/// Most channels of one rule.
pub const MAX_CHANNELS: usize = 8;

/// What a rule watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The defect rate of a line (or of one class on a line, or a camera) over
    /// the last `window_mins` is above the upper control limit of a p-chart
    /// drawn from the `history_hours` before it: p̄ + `sigma`·√(p̄(1−p̄)/n).
    DefectRate {
        /// `line`, `camera` or `line_class`.
        #[serde(default = "default_group")]
        by: String,
        #[serde(default = "default_window")]
        window_mins: u32,
        #[serde(default = "default_history")]
        history_hours: u32,
        #[serde(default = "default_sigma")]
        sigma: f64,
        /// Fewest predictions in the window for the test to count.
        #[serde(default = "default_min_n")]
        min_n: u32,
    },
    /// A camera that reported before has sent nothing for `minutes`.
    CameraSilent { minutes: u32 },
    /// An edge agent's spool is fuller than `percent` of its quota.
    SpoolFull { percent: f64 },
    /// The newest drift report found drift.
    Drift,
    /// A training job failed.
    JobFailed,
    /// A model version became Production.
    ModelPromoted,
}

fn default_group() -> String {
    "line".into()
}
fn default_window() -> u32 {
    60
}
fn default_history() -> u32 {
    24 * 7
}
fn default_sigma() -> f64 {
    3.0
}
fn default_min_n() -> u32 {
    30
}

impl Condition {
    /// The condition's name, as events carry it.
    pub fn kind(&self) -> &'static str {
        match self {
            Condition::DefectRate { .. } => "defect_rate",
            Condition::CameraSilent { .. } => "camera_silent",
            Condition::SpoolFull { .. } => "spool_full",
            Condition::Drift => "drift",
            Condition::JobFailed => "job_failed",
            Condition::ModelPromoted => "model_promoted",
        }
    }

    /// Checks the numbers; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Condition::DefectRate {
                by,
                window_mins,
                history_hours,
                sigma,
                min_n,
            } => {
                if !matches!(by.as_str(), "line" | "camera" | "line_class") {
                    return Err(format!("by {by:?}: expected line, camera or line_class"));
                }
                if !(1..=24 * 60).contains(window_mins) {
                    return Err("window_mins must be within 1..=1440".into());
                }
                if !(1..=24 * 90).contains(history_hours) {
                    return Err("history_hours must be within 1..=2160".into());
                }
                if !(sigma.is_finite() && (1.0..=6.0).contains(sigma)) {
                    return Err("sigma must be within 1..=6".into());
                }
                if !(1..=1_000_000).contains(min_n) {
                    return Err("min_n must be within 1..=1000000".into());
                }
            }
            Condition::CameraSilent { minutes } if !(1..=7 * 24 * 60).contains(minutes) => {
                return Err("minutes must be within 1..=10080".into());
            }
            Condition::SpoolFull { percent } if !(percent.is_finite() && (1.0..=100.0).contains(percent)) => {
                return Err("percent must be within 1..=100".into());
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether it fires on events (else it is evaluated periodically).
    pub fn is_event(&self) -> bool {
        matches!(self, Condition::JobFailed | Condition::ModelPromoted)
    }
}

/// Where a rule's events go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Channel {
    /// POST of the event as JSON (with a Slack-compatible `text`), signed with
    /// HMAC-SHA256 of the body under `secret` in `X-Detective-Signature`.
    Webhook {
        url: String,
        #[serde(default)]
        secret: String,
    },
    /// The event as JSON on an MQTT topic of the configured broker.
    Mqtt { topic: String },
    /// The dashboard's alert list and banner (always kept; named for clarity).
    Dashboard,
}

impl Channel {
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Channel::Webhook { url, secret } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2000 {
                    return Err(format!("webhook url {url:?} must be an http(s) address"));
                }
                if secret.len() > 256 {
                    return Err("webhook secret: at most 256 characters".into());
                }
            }
            Channel::Mqtt { topic } => {
                if topic.is_empty() || topic.len() > 256 || topic.contains(['#', '+', '\0']) {
                    return Err(format!("mqtt topic {topic:?}: 1 to 256 characters, no wildcards"));
                }
            }
            Channel::Dashboard => {}
        }
        Ok(())
    }

    /// What the channel is, for the delivery log (a webhook's secret left out).
    pub fn describe(&self) -> String {
        match self {
            Channel::Webhook { url, .. } => format!("webhook {url}"),
            Channel::Mqtt { topic } => format!("mqtt {topic}"),
            Channel::Dashboard => "dashboard".into(),
        }
    }
}

/// A rule as set through the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    pub condition: Condition,
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// The same rule and key fire again only after this many seconds.
    #[serde(default = "default_quiet")]
    pub quiet_secs: u32,
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

fn default_quiet() -> u32 {
    3600
}
fn default_enabled() -> bool {
    true
}

impl RuleSpec {
    pub fn validate(&self) -> Result<(), String> {
        let n = self.name.trim();
        if n.is_empty() || n.len() > 128 || n.chars().any(char::is_control) {
            return Err("name: 1 to 128 characters".into());
        }
        self.condition.validate()?;
        if self.channels.len() > MAX_CHANNELS {
            return Err(format!("at most {MAX_CHANNELS} channels"));
        }
        for c in &self.channels {
            c.validate()?;
        }
        if self.quiet_secs > 7 * 24 * 3600 {
            return Err("quiet_secs: at most 604800 (a week)".into());
        }
        Ok(())
    }
}

/// A rate above its control limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Breach {
    /// The rate in the window.
    pub p: f64,
    /// The centre line: the rate over the history.
    pub p_bar: f64,
    /// The upper control limit for the window's count.
    pub ucl: f64,
    pub n: u64,
}

/// The p-chart test: `window` (defective, inspected) against the centre line
/// of `history` (defective, inspected). `None` when within the limit, or when
/// either has too few predictions to say (`min_n` in the window, as many in
/// the history).
pub fn p_chart(history: (u64, u64), window: (u64, u64), sigma: f64, min_n: u64) -> Option<Breach> {
    let ((hd, hn), (wd, wn)) = (history, window);
    if wn < min_n.max(1) || hn < min_n.max(1) {
        return None;
    }
    let p_bar = hd as f64 / hn as f64;
    let p = wd as f64 / wn as f64;
    let ucl = (p_bar + sigma * (p_bar * (1.0 - p_bar) / wn as f64).sqrt()).min(1.0);
    // A history without a single defect: its rate is taken at the upper 95 %
    // bound of a count of zero (the rule of three, 3/n), so a lone defect is
    // not a rise but a real jump is.
    let ucl = if hd == 0 {
        let floor = 3.0 / hn as f64;
        (floor + sigma * (floor * (1.0 - floor) / wn as f64).sqrt()).min(1.0)
    } else {
        ucl
    };
    (p > ucl).then_some(Breach { p, p_bar, ucl, n: wn })
}

/// Whether a rule whose key last fired at `last_ms` may fire at `now_ms`.
pub fn past_quiet(last_ms: Option<i64>, now_ms: i64, quiet_secs: u32) -> bool {
    last_ms.is_none_or(|t| now_ms - t >= i64::from(quiet_secs) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_above_the_control_limit_breaches_and_noise_does_not() {
        // History 5 % over 2000; window of 100.
        let ucl = 0.05 + 3.0 * (0.05f64 * 0.95 / 100.0).sqrt();
        assert!(p_chart((100, 2000), (9, 100), 3.0, 30).is_none(), "9 % is within {ucl}");
        let b = p_chart((100, 2000), (15, 100), 3.0, 30).unwrap();
        assert!((b.ucl - ucl).abs() < 1e-12 && b.p == 0.15 && b.p_bar == 0.05 && b.n == 100);
        // Too few in the window to say.
        assert!(p_chart((100, 2000), (10, 20), 3.0, 30).is_none());
        // A clean history: one defect in 100 is noise, twenty are not.
        assert!(p_chart((0, 2000), (1, 100), 3.0, 30).is_none());
        assert!(p_chart((0, 2000), (20, 100), 3.0, 30).is_some());
    }

    #[test]
    fn the_quiet_period_holds_a_key_back() {
        assert!(past_quiet(None, 0, 3600));
        assert!(!past_quiet(Some(1_000), 1_000 + 3_599_999, 3600));
        assert!(past_quiet(Some(1_000), 1_000 + 3_600_000, 3600));
    }

    #[test]
    fn rules_parse_from_json_and_bad_ones_are_refused() {
        let r: RuleSpec = serde_json::from_str(
            r#"{"name": "line rate", "condition": {"kind": "defect_rate", "by": "line_class"},
                "channels": [{"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s"},
                             {"type": "mqtt", "topic": "plant/alerts"}]}"#,
        )
        .unwrap();
        assert_eq!(r.validate(), Ok(()));
        assert_eq!(
            (r.quiet_secs, r.enabled, r.condition.kind()),
            (3600, true, "defect_rate")
        );
        for bad in [
            r#"{"name": "", "condition": {"kind": "drift"}}"#,
            r#"{"name": "x", "condition": {"kind": "camera_silent", "minutes": 0}}"#,
            r#"{"name": "x", "condition": {"kind": "defect_rate", "by": "shift"}}"#,
            r#"{"name": "x", "condition": {"kind": "drift"}, "channels": [{"type": "mqtt", "topic": "a/#"}]}"#,
            r#"{"name": "x", "condition": {"kind": "drift"}, "channels": [{"type": "webhook", "url": "ftp://x"}]}"#,
        ] {
            let r: RuleSpec = serde_json::from_str(bad).unwrap();
            assert!(r.validate().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<RuleSpec>(r#"{"name": "x", "condition": {"kind": "sunspots"}}"#).is_err());
    }
}
