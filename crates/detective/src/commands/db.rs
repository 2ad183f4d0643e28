//! `detective db migrate`: apply the embedded migrations.

use std::process::ExitCode;

use anyhow::{Context, Result};
use detective_store::Db;

use crate::cli::DbCommand;
use crate::commands::storage::{database_url, runtime};
use crate::config::Config;

pub fn run(cmd: DbCommand, config: &Config) -> Result<ExitCode> {
    let DbCommand::Migrate { storage } = cmd;
    runtime()?.block_on(async {
        let url = database_url(&storage, config);
        if let Some(path) = url.strip_prefix("sqlite://")
            && let Some(dir) = std::path::Path::new(path.split('?').next().unwrap_or(path)).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let db = Db::connect(&url).await.context("opening the database")?;
        let n = db.migrate().await.context("migrating")?;
        println!("{}: {n} migration(s) applied, schema up to date", db.display_url());
        Ok(ExitCode::SUCCESS)
    })
}
