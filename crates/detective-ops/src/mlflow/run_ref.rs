//! Whose MLflow run an outbox call is about: a training job of the queue, or
//! a `detective train` run on the command line (which has no job).

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunRef {
    /// Training job `id` (`POST /api/training/start`, retraining).
    Job(i64),
    /// A command-line run, by the id it was given when it started.
    Cli(String),
}

impl RunRef {
    /// The outbox subject its calls are kept in order under.
    pub fn subject(&self) -> String {
        match self {
            RunRef::Job(id) => format!("job:{id}"),
            RunRef::Cli(id) => format!("cli:{id}"),
        }
    }

    /// The link that holds its MLflow run once made.
    pub fn link(&self) -> String {
        format!("run:{}", self.subject())
    }

    /// The tag that finds its run again in MLflow.
    pub fn tag(&self) -> (String, String) {
        match self {
            RunRef::Job(id) => ("detective.job_id".into(), id.to_string()),
            RunRef::Cli(id) => ("detective.cli_run".into(), id.clone()),
        }
    }

    /// The body fields that name it in an outbox call.
    pub fn body(&self, mut call: Value) -> Value {
        match self {
            RunRef::Job(id) => call["job_id"] = json!(id),
            RunRef::Cli(id) => call["cli_run"] = json!(id),
        }
        call
    }

    /// The run a call's body names.
    pub fn of(body: &Value) -> RunRef {
        match body["cli_run"].as_str() {
            Some(id) => RunRef::Cli(id.to_string()),
            None => RunRef::Job(body["job_id"].as_i64().unwrap_or(0)),
        }
    }
}
