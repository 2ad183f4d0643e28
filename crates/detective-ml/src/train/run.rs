//! The run folder that every task's epoch loop keeps, written the same way for
//! each: `args.yaml` (the settings, so a resumed run can read them back),
//! `results.csv` (a header, then one row per completed epoch, appended as each
//! ends so that a crash loses no finished epoch), the refusal to overwrite a run
//! that is not being resumed, the loading of its state for `--resume`, and the
//! early stop on `patience`. The task's loop decides what goes into each.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::error::{TrainError, io_err};
use super::state::{RunTensors, StateHeader, load_state};

/// The state saved at `state` for `--resume` of the run in `out`; `hint` ends the
/// message when there is none.
pub(crate) fn load_resume<H: StateHeader>(state: &Path, out: &Path, hint: &str) -> Result<(H, RunTensors), TrainError> {
    if !state.is_file() {
        return Err(TrainError::Resume(format!(
            "{} does not exist: nothing to resume in {}{hint}",
            state.display(),
            out.display()
        )));
    }
    load_state(state).map_err(TrainError::Resume)
}

/// The refusal to start a new run in a folder that holds one.
pub(crate) fn already_holds_a_run(out: &Path) -> TrainError {
    TrainError::Args(format!(
        "{} already holds a run: pass --resume to continue it, or choose another --out",
        out.display()
    ))
}

/// Writes the run's settings as `args.yaml`.
pub(crate) fn write_args(path: &Path, args: &impl Serialize) -> Result<(), TrainError> {
    let yaml = serde_norway::to_string(args).map_err(|e| io_err(path, e))?;
    std::fs::write(path, yaml).map_err(|e| io_err(path, e))
}

/// Starts `results.csv` with its header line.
pub(crate) fn write_results_header(path: &Path, header: &str) -> Result<(), TrainError> {
    std::fs::write(path, format!("{header}\n")).map_err(|e| io_err(path, e))
}

/// Appends one row to `results.csv`.
pub(crate) fn append_row(path: &Path, line: &str) -> Result<(), TrainError> {
    let mut f = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    writeln!(f, "{line}").map_err(|e| io_err(path, e))
}

/// Whether `patience` epochs have passed since the best one.
pub(crate) fn patience_exhausted(epoch: usize, best_epoch: usize, patience: usize) -> bool {
    epoch >= best_epoch + patience
}
