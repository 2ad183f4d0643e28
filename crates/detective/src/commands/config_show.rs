//! `detective config show`: prints the effective configuration and where it came from.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::ConfigCommand;
use crate::config::Config;

pub fn run(cmd: ConfigCommand, config: &Config, file: Option<&Path>) -> Result<ExitCode> {
    match cmd {
        ConfigCommand::Show { format } => {
            // Secrets are shown masked.
            let mut config = config.clone();
            if !config.llm.api_key.is_empty() {
                config.llm.api_key = "********".into();
            }
            if !config.mlflow.token.is_empty() {
                config.mlflow.token = "********".into();
            }
            let config = &config;
            let text = if format == "json" {
                serde_json::to_string_pretty(config).context("serialising config as JSON")?
            } else {
                let source = file.map_or("none (built-in defaults)".to_string(), |p| p.display().to_string());
                format!(
                    "# config file: {source}\n{}",
                    toml::to_string_pretty(config).context("serialising config as TOML")?
                )
            };
            println!("{text}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
