//! The lifecycle states of the product's records, as types: a model version's
//! [`Stage`], a training job's [`JobStatus`], a labeling-queue item's
//! [`LabelStatus`], a retraining event's [`RetrainOutcome`] and the [`Task`] a
//! model or dataset serves.
//!
//! They are stored in the database and sent in JSON as text; the text of each
//! variant is written once, here (`as_str`, which serde, `Display` and `FromStr`
//! all use), so a state compared anywhere else is a `match` the compiler checks,
//! never a string literal that can drift.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A text that names no variant of the state `what`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {got:?} is not {expected}")]
pub struct UnknownState {
    pub what: &'static str,
    pub got: String,
    pub expected: &'static str,
}

/// Declares a state enum whose variants are stored as the given texts, with
/// `ALL`, `as_str`, `Display`, `FromStr` (exact text, or any case when
/// `any_case`) and serde as that text.
macro_rules! text_state {
    ($(#[$meta:meta])* $name:ident, $what:literal, any_case = $any_case:literal,
     { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every variant, in lifecycle order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored (and JSON) text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The texts, as an error message lists them ("a, b or c").
            pub const EXPECTED: &'static str = text_state!(@list $($text),+);
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| if $any_case { v.as_str().eq_ignore_ascii_case(s) } else { v.as_str() == s })
                    .ok_or_else(|| UnknownState {
                        what: $what,
                        got: s.to_string(),
                        expected: $name::EXPECTED,
                    })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
    (@list $only:literal) => { $only };
    (@list $a:literal, $b:literal) => { concat!($a, " or ", $b) };
    (@list $a:literal, $($rest:literal),+) => { concat!($a, ", ", text_state!(@list $($rest),+)) };
}

text_state!(
    /// Where a model version stands in the registry: one Production version per
    /// model; a new Production archives the previous one. Parsed in any case
    /// (`production` names Production), stored capitalised.
    Stage, "stage", any_case = true, {
        None => "None",
        Staging => "Staging",
        Production => "Production",
        Archived => "Archived",
    }
);

text_state!(
    /// A training job's state in the queue: queued → running → one of the three
    /// ends.
    JobStatus, "job status", any_case = false, {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        /// Stopped on request; its best weights so far are kept.
        Stopped => "stopped",
    }
);

impl JobStatus {
    /// The job has ended and will not change again.
    pub const fn is_finished(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed | JobStatus::Stopped)
    }

    /// The job left weights that can be registered.
    pub const fn has_weights(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Stopped)
    }
}

text_state!(
    /// A labeling-queue item: pending until a person labels or skips it, once.
    LabelStatus, "status", any_case = false, {
        Pending => "pending",
        Labeled => "labeled",
        Skipped => "skipped",
    }
);

text_state!(
    /// How a retraining event ended (pending while its job runs).
    RetrainOutcome, "retraining outcome", any_case = false, {
        Pending => "pending",
        /// Better than Production and promoted to Production (policy
        /// `auto_promote_production`).
        Promoted => "promoted",
        /// Better than Production and put in Staging for a person to promote.
        Staged => "staged",
        NotBetter => "not_better",
        Failed => "failed",
    }
);

text_state!(
    /// What a model does and what a dataset is labelled for.
    Task, "task", any_case = false, {
        Detect => "detect",
        Segment => "segment",
        Anomaly => "anomaly",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_text_and_json() {
        fn check<T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr + Serialize + for<'a> Deserialize<'a>>(
            all: &[T],
        ) where
            T::Err: fmt::Debug,
        {
            for v in all {
                let text = v.to_string();
                assert_eq!(text.parse::<T>().ok(), Some(*v), "{text}");
                let json = serde_json::to_string(v).unwrap();
                assert_eq!(json, format!("\"{text}\""));
                assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
            }
        }
        check(Stage::ALL);
        check(JobStatus::ALL);
        check(LabelStatus::ALL);
        check(RetrainOutcome::ALL);
        check(Task::ALL);
    }

    #[test]
    fn the_texts_are_those_stored_before_states_were_types() {
        let texts = |all: &[&str]| all.join(",");
        assert_eq!(
            texts(&Stage::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
            "None,Staging,Production,Archived"
        );
        assert_eq!(
            texts(&JobStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
            "queued,running,succeeded,failed,stopped"
        );
        assert_eq!(
            texts(&LabelStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
            "pending,labeled,skipped"
        );
        assert_eq!(
            texts(&RetrainOutcome::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
            "pending,promoted,staged,not_better,failed"
        );
    }

    #[test]
    fn a_stage_is_read_in_any_case_and_other_states_exactly() {
        assert_eq!("production".parse::<Stage>(), Ok(Stage::Production));
        assert_eq!("ARCHIVED".parse::<Stage>(), Ok(Stage::Archived));
        assert!("Queued".parse::<JobStatus>().is_err());
        let err = "live".parse::<Stage>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "stage \"live\" is not None, Staging, Production or Archived"
        );
        assert!(serde_json::from_str::<Task>("\"classify\"").is_err());
    }

    #[test]
    fn only_ended_jobs_are_finished_and_only_succeeded_or_stopped_ones_have_weights() {
        assert!(!JobStatus::Queued.is_finished() && !JobStatus::Running.is_finished());
        assert!(JobStatus::Failed.is_finished() && !JobStatus::Failed.has_weights());
        assert!(JobStatus::Stopped.has_weights() && JobStatus::Succeeded.has_weights());
    }
}
