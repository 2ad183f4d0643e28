//! `detective db migrate|backup|restore|prune`: apply the embedded migrations;
//! back a single node up into a folder and restore it
//! ([`detective_store::backup`]); apply retention once
//! ([`detective_ops::retention`]).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use detective_store::{Db, Objects, backup};
use serde_json::json;

use crate::cli::{DbCommand, StorageArgs};
use crate::commands::storage::{database_url, open_db, open_objects, runtime};
use crate::config::Config;

/// The backup's files: the database and the objects folder, beside `backup.json`.
const DB_FILE: &str = "detective.db";
const OBJECTS: &str = "objects";
const MANIFEST: &str = "backup.json";

pub fn run(cmd: DbCommand, config: &Config) -> Result<ExitCode> {
    runtime()?.block_on(async {
        match cmd {
            DbCommand::Migrate { storage } => {
                let db = Db::connect(&database_url(&storage, config))
                    .await
                    .context("opening the database")?;
                let n = db.migrate().await.context("migrating")?;
                println!("{}: {n} migration(s) applied, schema up to date", db.display_url());
            }
            DbCommand::Backup { out, storage } => make_backup(&out, &storage, config).await?,
            DbCommand::Restore { from, force, storage } => restore(&from, force, &storage, config).await?,
            DbCommand::Prune { json, storage } => prune(json, &storage, config).await?,
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// One retention pass with the config's `[retention]`.
async fn prune(json: bool, storage: &StorageArgs, config: &Config) -> Result<()> {
    let r = &config.retention;
    if r.predictions_days == 0 && r.frames_days == 0 {
        bail!(
            "[retention] keeps predictions and frames forever (predictions_days = frames_days = 0): nothing to prune"
        );
    }
    let db = open_db(storage, config).await?;
    let objects = open_objects(storage, config)?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let now = detective_store::clock::now_ms();
    let p = detective_ops::retention::prune(&db, &objects, r, now, std::time::Duration::ZERO, &stop)
        .await
        .context("applying retention")?;
    if json {
        println!(
            "{}",
            json!({"predictions": p.predictions, "frames": p.frames, "frames_failed": p.frames_failed,
                   "predictions_days": r.predictions_days, "frames_days": r.frames_days})
        );
    } else {
        let days = |d: u32| {
            if d == 0 {
                "kept forever".to_string()
            } else {
                format!("older than {d} days")
            }
        };
        println!(
            "removed {} prediction logs ({}) and {} frames ({}); {} frame deletions failed",
            p.predictions,
            days(r.predictions_days),
            p.frames,
            days(r.frames_days),
            p.frames_failed
        );
    }
    db.close().await;
    Ok(())
}

/// Progress of an object copy, every 500 objects and at the end.
fn report_objects(done: usize, total: usize) {
    if done.is_multiple_of(500) || done == total {
        eprintln!("objects: {done}/{total}");
    }
}

async fn make_backup(out: &Path, storage: &StorageArgs, config: &Config) -> Result<()> {
    if out.exists() {
        bail!("{} exists already: a backup goes into a new folder", out.display());
    }
    let db = open_db(storage, config).await?;
    if db.backend() != detective_store::Backend::Sqlite {
        bail!(
            "only a SQLite database is backed up here; back up PostgreSQL with pg_dump and S3 with a sync (docs/backup.md)"
        );
    }
    let objects = open_objects(storage, config)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let counts = backup::table_counts(&db).await?;
    backup::sqlite_snapshot(&db, &out.join(DB_FILE))
        .await
        .context("copying the database")?;
    let copy = Objects::local(&out.join(OBJECTS))?;
    let n = backup::copy_objects(&objects, &copy, report_objects)
        .await
        .context("copying the objects")?;
    let manifest = json!({
        "created_at": detective_store::clock::to_rfc3339(detective_store::clock::now_ms()),
        "version": env!("CARGO_PKG_VERSION"),
        "database": db.display_url(),
        "object_store": objects.display(),
        "objects": n,
        "tables": counts,
    });
    std::fs::write(out.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)?;
    db.close().await;
    let rows: i64 = counts.values().sum();
    println!(
        "backed up {rows} rows in {} tables and {n} objects to {}",
        counts.len(),
        out.display()
    );
    Ok(())
}

async fn restore(from: &Path, force: bool, storage: &StorageArgs, config: &Config) -> Result<()> {
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(from.join(MANIFEST))
            .with_context(|| format!("{} is not a backup (no {MANIFEST})", from.display()))?,
    )
    .with_context(|| format!("reading {MANIFEST}"))?;
    let url = database_url(storage, config);
    let Some(target) = url.strip_prefix("sqlite://").map(Path::new) else {
        bail!("restore writes a SQLite database; for PostgreSQL use pg_restore (docs/backup.md)");
    };
    if target.exists() && !force {
        bail!(
            "{} exists: restore into an empty data dir, or give --force to replace it",
            target.display()
        );
    }
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // The copy goes in beside the target first, then takes its place whole.
    let part = target.with_extension("db.restoring");
    std::fs::copy(from.join(DB_FILE), &part).context("copying the database")?;
    for stale in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{stale}", target.display()));
    }
    std::fs::rename(&part, target)?;
    let db = open_db(storage, config).await?;
    let objects = open_objects(storage, config)?;
    let n = backup::copy_objects(&Objects::local(&from.join(OBJECTS))?, &objects, report_objects)
        .await
        .context("copying the objects")?;
    let counts = backup::table_counts(&db).await?;
    let mut wrong = Vec::new();
    for (table, want) in manifest["tables"].as_object().into_iter().flatten() {
        let got = counts.get(table).copied().unwrap_or(-1);
        if Some(got) != want.as_i64() {
            wrong.push(format!("{table}: {got} rows, the backup holds {want}"));
        }
    }
    db.close().await;
    if !wrong.is_empty() {
        bail!("the restored database differs from the backup: {}", wrong.join("; "));
    }
    let rows: i64 = counts.values().sum();
    println!(
        "restored {rows} rows in {} tables and {n} objects from {}",
        counts.len(),
        from.display()
    );
    Ok(())
}
