//! What `detective train` does the same for detectors (`train`) and segmenters
//! (`train_segment`): Ctrl-C handling that stops a run cleanly, and the style of
//! the per-epoch progress bar.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use indicatif::ProgressStyle;

/// Ctrl-C sets the returned flag (the trainer stops at the next `unit` and saves
/// `weights/last`); a second Ctrl-C exits at once.
pub fn install_stop_handler(unit: &'static str) -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting without saving");
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: finishing the current {unit} and saving weights/last (Ctrl-C again to abort)");
    })
    .context("installing the Ctrl-C handler")?;
    Ok(stop)
}

/// The per-epoch progress bar of `detective train`.
pub fn epoch_bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>9} {bar:30.cyan/blue} {pos:>4}/{len:4} {msg} [{elapsed_precise}<{eta_precise}]",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}
