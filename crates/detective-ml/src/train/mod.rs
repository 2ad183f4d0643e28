//! What every task's training shares: the epoch loop ([`epochs`]: the order of
//! the steps, which each task implements as an `EpochRun`), the optimiser and its
//! parameter groups ([`optimizer`], over the flat parameter lists of [`params`]),
//! the weight average ([`ema`]), the resumable state file ([`state`]), the run
//! folder's `args.yaml` / `results.csv` / resume / early-stop steps ([`run`]) and
//! the errors that stop a run ([`error`]). Each task's steps, data and loss live
//! with the task ([`crate::detect::trainer`], [`crate::segment::trainer`]).

pub mod ema;
pub mod epochs;
pub mod error;
pub mod optimizer;
pub mod params;
pub mod run;
pub mod state;
