//! Domain types and pure rules shared by every Defect Detective crate.
//!
//! Nothing here does I/O or async work: boxes, detections, the uncertainty rule,
//! and a small deterministic random generator used wherever output must be
//! reproducible from a seed.

pub mod alerts;
pub mod bbox;
pub mod csv;
pub mod detection;
pub mod error;
pub mod fnv;
pub mod grounded;
pub mod insight_prompt;
pub mod insights;
pub mod mqtt_url;
pub mod names;
pub mod rng;
pub mod role;
pub mod rules;
pub mod sampling;
pub mod states;
pub mod stats;
pub mod wire;

pub use bbox::BBox;
pub use detection::{Detection, UncertainBand};
pub use error::CoreError;
pub use rng::Rng;
pub use role::{Action, Role};
pub use rules::{Bands, RuleSet, Rules, Scope, Zone, ZoneKind};
pub use states::{JobStatus, LabelStatus, RetrainOutcome, Stage, Task, UnknownState};
pub use wire::{BatchError, LogBatch, LoggedDetection, LoggedPrediction};
