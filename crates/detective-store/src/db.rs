//! The database handle: one sqlx `Any` pool over SQLite (default, a file under the
//! data dir, WAL) or PostgreSQL, with the embedded migrations of each dialect.
//! Every repository function runs the same SQL on both (`$N` placeholders, which
//! sqlx's SQLite driver maps to positions).

use std::path::Path;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::StoreError;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A connection pool plus what the repositories need to know about it.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time: writers queue here instead of failing
    /// with "database is locked" when two transactions want to write.
    write_lock: Arc<Mutex<()>>,
    /// The URL without credentials, for logs.
    display: String,
    /// The full URL (with credentials): PostgreSQL's LISTEN needs a connection of
    /// its own ([`crate::shared_events`]). Never logged.
    url: Arc<str>,
    /// The `NOTIFY` channel of this database's schema, once looked up.
    pub(crate) events_channel: Arc<std::sync::OnceLock<String>>,
}

/// A write transaction (holding SQLite's writer slot for its lifetime).
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    backend: Backend,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// `url` with any password replaced by `***`.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Creates the folder of a `sqlite://PATH[?…]` database file, so a new data dir
/// works on the first run (`mode=rwc` creates only the file).
fn create_sqlite_folder(url: &str) -> Result<(), StoreError> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Config(format!("creating {}: {e}", dir.display())))?;
    }
    Ok(())
}

impl Db {
    /// Connects to `url`: `sqlite://PATH` (file and folder created if missing) or
    /// `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        install_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "unsupported database URL {:?}: expected sqlite://PATH or postgres://USER@HOST/DB",
                redact(url)
            )));
        };
        if backend == Backend::Sqlite {
            create_sqlite_folder(url)?;
        }
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        };
        let opts: AnyConnectOptions = url
            .parse()
            .map_err(|e| StoreError::Config(format!("database URL {:?}: {e}", redact(&url))))?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            for pragma in [
                                "PRAGMA journal_mode = WAL",
                                "PRAGMA synchronous = NORMAL",
                                "PRAGMA busy_timeout = 10000",
                                "PRAGMA foreign_keys = ON",
                                // Pages from memory instead of read() calls: 64 MiB of
                                // cache per connection, the file mapped up to 1 GiB.
                                "PRAGMA cache_size = -65536",
                                "PRAGMA mmap_size = 1073741824",
                                "PRAGMA temp_store = MEMORY",
                            ] {
                                sqlx::query(pragma).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(opts)
                    .await?
            }
        };
        Ok(Db {
            pool,
            backend,
            write_lock: Arc::new(Mutex::new(())),
            display: redact(&url),
            url: url.as_str().into(),
            events_channel: Arc::default(),
        })
    }

    /// Opens (creating it) the SQLite file at `path`.
    pub async fn open_sqlite_file(path: &Path) -> Result<Db, StoreError> {
        let p = path
            .to_str()
            .ok_or_else(|| StoreError::Config(format!("database path {} is not valid UTF-8", path.display())))?;
        Db::connect(&format!("sqlite://{p}")).await
    }

    /// Applies the embedded migrations that are not applied yet.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let before = self.applied_migrations().await.unwrap_or(0);
        migrator.run(&self.pool).await?;
        let after = self.applied_migrations().await?;
        Ok(after.saturating_sub(before))
    }

    async fn applied_migrations(&self) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as usize)
    }

    /// Round-trip time of a trivial query.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let t = Instant::now();
        let _: i64 = sqlx::query_scalar("SELECT CAST(1 AS BIGINT)")
            .fetch_one(&self.pool)
            .await?;
        Ok(t.elapsed())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL, password redacted.
    /// The URL with its credentials, for a connection outside the pool (LISTEN).
    pub(crate) fn full_url(&self) -> &str {
        &self.url
    }

    pub fn display_url(&self) -> &str {
        &self.display
    }

    /// Begins a write transaction (queued behind other writers on SQLite).
    ///
    /// On SQLite it is `BEGIN IMMEDIATE`: the writer slot is taken at the start
    /// (waiting up to the busy timeout for another process's writer), so a
    /// transaction that reads before it writes cannot fail with "database is
    /// locked" when another process committed in between.
    pub async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let (guard, tx) = match self.backend {
            Backend::Sqlite => (
                Some(self.write_lock.clone().lock_owned().await),
                self.pool.begin_with("BEGIN IMMEDIATE").await?,
            ),
            Backend::Postgres => (None, self.pool.begin().await?),
        };
        Ok(WriteTx {
            tx,
            backend: self.backend,
            _guard: guard,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two handles on one SQLite file stand for two processes: the second
    /// writer waits for the first instead of starting a transaction that could
    /// fail later with "database is locked".
    #[tokio::test]
    async fn a_second_process_writer_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let a = Db::open_sqlite_file(&path).await.unwrap();
        a.migrate().await.unwrap();
        let b = Db::open_sqlite_file(&path).await.unwrap();
        let mut first = a.begin_write().await.unwrap();
        sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ('x', '1', 0)")
            .execute(first.conn())
            .await
            .unwrap();
        let waiting = tokio::spawn(async move {
            let mut second = b.begin_write().await.unwrap();
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM settings")
                .fetch_one(second.conn())
                .await
                .unwrap();
            sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ('y', '2', 0)")
                .execute(second.conn())
                .await
                .unwrap();
            second.commit().await.unwrap();
            n
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !waiting.is_finished(),
            "the second writer started while the first held the database"
        );
        first.commit().await.unwrap();
        assert_eq!(waiting.await.unwrap(), 1, "it saw the first writer's row");
    }
}
