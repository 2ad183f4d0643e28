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
        let db = Db::connect(&database_url(&storage, config))
            .await
            .context("opening the database")?;
        let n = db.migrate().await.context("migrating")?;
        println!("{}: {n} migration(s) applied, schema up to date", db.display_url());
        Ok(ExitCode::SUCCESS)
    })
}
