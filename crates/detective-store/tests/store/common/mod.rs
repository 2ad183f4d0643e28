//! Opens a migrated database of each kind for the repository tests: a SQLite
//! file in a temporary folder, and a fresh schema on the machine's PostgreSQL.

use detective_store::Db;

pub struct TestDb {
    pub db: Db,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_sqlite_file(&dir.path().join("detective.db")).await.unwrap();
    db.migrate().await.unwrap();
    TestDb { db, _dir: Some(dir) }
}

pub async fn postgres() -> TestDb {
    let url = detective_store::testing::fresh_postgres_url()
        .await
        .expect("PostgreSQL must run on 127.0.0.1:5432 with a database `test` (trust auth)");
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    TestDb { db, _dir: None }
}

/// Runs one async test body against SQLite and against PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = $crate::common::sqlite().await;
                ($body)(t.db.clone()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let t = $crate::common::postgres().await;
                ($body)(t.db.clone()).await;
            }
        }
    };
}
