//! `detective`: the one binary of Defect Detective. Parses the command line, loads
//! the layered configuration, starts logging and dispatches to `commands/`.

mod cli;
mod commands;
mod config;
mod logging;
mod training_malloc;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::config::{Config, FlagOverrides};

/// Output piped into `head` and the like: end quietly when the reader goes away,
/// as command-line tools do, instead of panicking on the next `println!`.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to its default has no preconditions;
    // it runs first thing in main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = Cli::parse();
    let flags = FlagOverrides {
        data_dir: cli.data_dir.clone(),
        log_format: cli.log_format.map(|f| f.as_str().to_string()),
    };
    let (config, config_file) = match Config::load(cli.config.as_deref(), &flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    logging::init(&config.log_format);
    if matches!(
        cli.command,
        Command::Train(_) | Command::Worker(_) | Command::Bench(cli::BenchCommand::Train { .. })
    ) {
        training_malloc::keep_freed_memory();
    }
    let result = match cli.command {
        Command::Synth(args) => commands::synth::run(&args, &config),
        Command::Dataset(cmd) => commands::dataset::run(cmd, &config),
        Command::Predict(args) => commands::predict::run(&args, &config),
        Command::Train(args) => commands::train::run(&args, &config),
        Command::Val(args) => commands::val::run(&args, &config),
        Command::Export(args) => commands::export::run(&args, &config),
        Command::Import(args) => commands::import::run(&args),
        Command::Bench(cmd) => commands::bench::run(cmd, &config),
        Command::Config(cmd) => commands::config_show::run(cmd, &config, config_file.as_deref()),
        Command::Serve(args) => commands::serve::run(&args, &config),
        Command::Keys(cmd) => commands::keys::run(cmd, &config),
        Command::Users(cmd) => commands::users::run(cmd, &config),
        Command::Mlflow(cmd) => commands::mlflow::run(cmd, &config),
        Command::Edge(args) => commands::edge::run(&args, &config),
        Command::Demo(args) => commands::demo::run(&args, &config),
        Command::Db(cmd) => commands::db::run(cmd, &config),
        Command::Worker(args) => commands::worker::run(&args, &config),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
