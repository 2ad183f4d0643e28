//! A real MLflow tracking server for tests (PyPI `mlflow` in the virtual
//! environment `scripts/setup-test-deps.sh` makes): SQLite backend and
//! artifacts in a folder of the test's, on a free loopback port; it can be
//! stopped and started again on the same port and data (an outage).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn mlflow_bin() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/defect-detective/mlflow-venv/bin/mlflow")
}

/// A real MLflow tracking server on a loopback port, its data in `dir`.
pub struct MlflowServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl MlflowServer {
    pub fn start(dir: &Path) -> MlflowServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = MlflowServer {
            child: None,
            port,
            dir: dir.to_path_buf(),
        };
        s.resume();
        s
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and data.
    pub fn resume(&mut self) {
        let bin = mlflow_bin();
        assert!(
            bin.is_file(),
            "{} missing: run ./scripts/setup-test-deps.sh",
            bin.display()
        );
        let child = Command::new(bin)
            .args([
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--workers",
                "1",
            ])
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", self.dir.join("mlflow.db").display()))
            .arg("--artifacts-destination")
            .arg(self.dir.join("artifacts"))
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("server.log")).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let t0 = Instant::now();
        loop {
            if health_ok(self.port) {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(90),
                "mlflow server did not start: {}",
                std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The workers it forked go with it.
        let _ = Command::new("pkill")
            .args(["-f", "--", &format!("--port {}", self.port)])
            .status();
    }
}

/// Whether `GET /health` on `port` answers 200.
fn health_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    if c.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    c.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        self.stop();
    }
}
