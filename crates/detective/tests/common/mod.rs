//! Running the real `detective` binary from integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A `detective` command with a clean environment (no DETECTIVE_* leaking in) and
/// `dir` as working directory.
pub fn detective(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_detective"));
    cmd.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("DETECTIVE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawn detective")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The JSON document a successful command printed (panics with its stderr otherwise).
pub fn json_stdout(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_str(stdout(o).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `../shared/data/<name>` relative to the repository root.
pub fn shared_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name)
}
