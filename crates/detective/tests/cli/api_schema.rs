//! The API tried by a machine, short form: `scripts/schemathesis.sh` with one
//! example per operation and phase, against the binary under test, with each
//! role's key and with none (the longer run is documented in docs/server.md).
//! It fails on a 5xx, a response that breaks its documented schema or content
//! type, ignored auth, a role refused after its request was read, or a secured
//! route that answers a caller without a key with anything but 401.

use std::path::Path;
use std::process::Command;

#[test]
fn schemathesis_finds_no_server_error_schema_break_or_late_refusal_for_any_role() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("scripts/schemathesis.sh"))
        .args(["--max-examples", "1", "--out"])
        .arg(out.path())
        .args(["--bin", env!("CARGO_BIN_EXE_detective")]);
    for (k, _) in std::env::vars() {
        if k.starts_with("DETECTIVE_") {
            cmd.env_remove(k);
        }
    }
    let o = cmd.output().unwrap();
    let report = |role: &str| std::fs::read_to_string(out.path().join(format!("{role}.txt"))).unwrap_or_default();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        ["none", "viewer", "device", "operator", "admin"].map(report).join("\n")
    );
    for role in ["none", "viewer", "device", "operator", "admin"] {
        let text = report(role);
        let generated: u64 = text
            .lines()
            .find_map(|l| l.trim().split_once(" generated, ").map(|(n, _)| n.trim().to_string()))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{role}: no summary in\n{text}"));
        assert!(generated > 500, "{role}: only {generated} requests\n{text}");
        assert!(!text.contains('❌'), "{role}\n{text}");
    }
}
