//! Helpers for tests that run against the real PostgreSQL server of the machine
//! (127.0.0.1:5432, database `test`): each call makes a fresh schema, so test
//! runs never see each other's rows.

use crate::StoreError;

/// Where tests find PostgreSQL: `$DETECTIVE_TEST_POSTGRES`, else the machine's
/// server on 127.0.0.1:5432, database `test`, trust auth.
pub fn postgres_base_url() -> String {
    std::env::var("DETECTIVE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Creates a new empty schema and returns a URL whose connections use it.
pub async fn fresh_postgres_url() -> Result<String, StoreError> {
    use sqlx::Connection;
    let base = postgres_base_url();
    let now = crate::clock::now_ms() / 1000;
    let schema = format!("dd_test_{now}_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&base).await?;
    // Schemas of runs more than an hour old are left-overs: drop them.
    let old: Vec<String> =
        sqlx::query_scalar("SELECT nspname::TEXT FROM pg_namespace WHERE nspname LIKE 'dd\\_test\\_%'")
            .fetch_all(&mut conn)
            .await?;
    for name in old {
        let stamp = name.split('_').nth(2).and_then(|t| t.parse::<i64>().ok());
        if stamp.is_some_and(|t| t < now - 3600) {
            // Another run may be dropping it too; that is fine.
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                .execute(&mut conn)
                .await;
        }
    }
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

/// `s3s-fs` serving `root` on loopback `port`, once it accepts connections.
fn spawn_s3s_fs(
    root: &std::path::Path,
    port: u16,
    access_key: &str,
    secret_key: &str,
) -> Result<std::process::Child, String> {
    let bin = s3s_fs_binary();
    let mut child = std::process::Command::new(&bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", access_key, "--secret-key", secret_key])
        .arg(root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start {} ({e}); run ./scripts/setup-test-deps.sh to install it",
                bin.display()
            )
        })?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("s3s-fs exited at start: {status}"));
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("s3s-fs did not listen within 10 s".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(child)
}

/// A real S3-protocol server (`s3s-fs`, installed by `scripts/setup-test-deps.sh`)
/// on a free loopback port, storing into a temporary folder, with one bucket.
/// Killed when dropped.
pub struct S3Server {
    child: std::process::Child,
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    _root: tempfile::TempDir,
}

/// The `s3s-fs` binary: `$DETECTIVE_S3S_FS`, else the one the setup script
/// installs under `~/.cache/defect-detective/tools/bin`, else `s3s-fs` on PATH.
pub fn s3s_fs_binary() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("DETECTIVE_S3S_FS").filter(|p| !p.is_empty()) {
        return p.into();
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = std::path::Path::new(&home).join(".cache/defect-detective/tools/bin/s3s-fs");
        if p.is_file() {
            return p;
        }
    }
    "s3s-fs".into()
}

impl S3Server {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Result<S3Server, String> {
        let root = tempfile::tempdir().map_err(|e| e.to_string())?;
        let bucket = "detective-test".to_string();
        std::fs::create_dir_all(root.path().join(&bucket)).map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let (access_key, secret_key) = ("detective".to_string(), "detective-secret".to_string());
        let child = spawn_s3s_fs(root.path(), port, &access_key, &secret_key)?;
        Ok(S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket,
            access_key,
            secret_key,
            _root: root,
        })
    }

    /// Kills the server (its objects stay on disk): every request to it now
    /// fails to connect.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and folder, after [`S3Server::stop`].
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        let port = self
            .endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or("no port in the endpoint")?;
        self.child = spawn_s3s_fs(self._root.path(), port, &self.access_key, &self.secret_key)?;
        Ok(())
    }

    /// The configuration of an object store in this server's bucket under `prefix`.
    pub fn config(&self, prefix: &str) -> crate::S3Config {
        crate::S3Config {
            bucket: self.bucket.clone(),
            prefix: prefix.to_string(),
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            credentials: Some((self.access_key.clone(), self.secret_key.clone())),
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
