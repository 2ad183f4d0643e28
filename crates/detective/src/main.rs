//! `detective`: the one binary of Defect Detective. Parses the command line, loads
//! the layered configuration, starts logging and dispatches to `commands/`.

mod cli;
mod commands;
mod config;
mod logging;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::config::{Config, FlagOverrides};

fn main() -> ExitCode {
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
    let result = match cli.command {
        Command::Synth(args) => commands::synth::run(&args, &config),
        Command::Dataset(cmd) => commands::dataset::run(cmd, &config),
        Command::Predict(args) => commands::predict::run(&args, &config),
        Command::Train(args) => commands::train::run(&args, &config),
        Command::Val(args) => commands::val::run(&args, &config),
        Command::Export(args) => commands::export::run(&args, &config),
        Command::Bench(cmd) => commands::bench::run(cmd, &config),
        Command::Config(cmd) => commands::config_show::run(cmd, &config, config_file.as_deref()),
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
