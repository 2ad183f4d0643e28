//! `detective db backup` and `db restore` through the real binary: a data dir
//! with a dataset, its images and a key is backed up, restored into an empty
//! data dir, and every table's rows and every object are found there; a
//! restore over an existing database is refused without `--force`; PostgreSQL
//! is pointed to pg_dump.

use std::collections::BTreeMap;
use std::path::Path;

use detective_store::{Db, Objects};

use crate::common::{detective, run, stderr, stdout};

async fn contents(dir: &Path) -> (BTreeMap<String, i64>, Vec<String>) {
    let db = Db::open_sqlite_file(&dir.join("detective.db")).await.unwrap();
    let counts = detective_store::backup::table_counts(&db).await.unwrap();
    db.close().await;
    let objects = Objects::local(&dir.join("objects")).unwrap().list("").await.unwrap();
    (counts, objects)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_into_an_empty_data_dir_with_every_row_and_object() {
    let d = tempfile::tempdir().unwrap();
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}", stderr(&o));
        o
    };
    ok(run(detective(d.path()).args([
        "synth", "--task", "detect", "--count", "8", "--size", "64x64", "--out", "set",
    ])));
    ok(run(detective(d.path()).args([
        "--data-dir",
        "a",
        "dataset",
        "import",
        "set",
        "--name",
        "parts",
        "--project",
        "p",
    ])));
    ok(run(detective(d.path()).args([
        "--data-dir",
        "a",
        "keys",
        "create",
        "--role",
        "admin",
        "--name",
        "me",
    ])));

    let o = ok(run(detective(d.path()).args([
        "--data-dir",
        "a",
        "db",
        "backup",
        "--out",
        "bk",
    ])));
    assert!(stdout(&o).starts_with("backed up"), "{}", stdout(&o));
    let o = run(detective(d.path()).args(["--data-dir", "a", "db", "backup", "--out", "bk"]));
    assert!(
        !o.status.success() && stderr(&o).contains("exists already"),
        "{}",
        stderr(&o)
    );

    let o = ok(run(detective(d.path()).args([
        "--data-dir",
        "b",
        "db",
        "restore",
        "--from",
        "bk",
    ])));
    assert!(stdout(&o).starts_with("restored"), "{}", stdout(&o));
    let (want, want_objects) = contents(&d.path().join("a")).await;
    let (got, got_objects) = contents(&d.path().join("b")).await;
    assert_eq!(got, want);
    assert!(
        want["images"] == 8 && want["api_keys"] == 1 && want["datasets"] == 1,
        "{want:?}"
    );
    assert_eq!(got_objects, want_objects);
    assert!(got_objects.len() >= 8, "{got_objects:?}");
    let keys = ok(run(detective(d.path()).args(["--data-dir", "b", "keys", "list"])));
    assert!(stdout(&keys).contains("me"), "{}", stdout(&keys));

    // Over a database that is there: refused without --force, nothing changed.
    let o = run(detective(d.path()).args(["--data-dir", "b", "db", "restore", "--from", "bk"]));
    assert!(!o.status.success() && stderr(&o).contains("--force"), "{}", stderr(&o));
    ok(run(detective(d.path()).args([
        "--data-dir",
        "b",
        "db",
        "restore",
        "--from",
        "bk",
        "--force",
    ])));
    assert_eq!(contents(&d.path().join("b")).await.0, want);

    let o = run(detective(d.path()).args(["--data-dir", "a", "db", "restore", "--from", "nothing"]));
    assert!(
        !o.status.success() && stderr(&o).contains("not a backup"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn a_postgres_database_is_pointed_to_pg_dump_and_nothing_is_written() {
    let d = tempfile::tempdir().unwrap();
    let url = detective_store::testing::fresh_postgres_url().await.unwrap();
    let o = run(detective(d.path()).args(["db", "backup", "--out", "bk", "--database-url", &url]));
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(stderr(&o).contains("pg_dump"), "{}", stderr(&o));
    assert!(!d.path().join("bk").exists());
    // The catalogue of a PostgreSQL database counts too (what a restore is checked with).
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let counts = detective_store::backup::table_counts(&db).await.unwrap();
    assert_eq!(counts.get("images"), Some(&0), "{counts:?}");
}
