//! `detective users` through the binary: accounts made with the password on
//! standard input, listed, disabled and given a new password, and a server on
//! the same storage signing them in.

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use crate::common::{detective, free_port, start_server, stderr, stdout};

/// `detective --data-dir data users ARGS` with `input` on standard input.
fn users(dir: &Path, args: &[&str], input: &str) -> Output {
    let mut child = detective(dir)
        .args(["--data-dir", "data", "users"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// The status of `POST /login` with a user name and password.
fn sign_in(port: u16, username: &str, password: &str) -> u16 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("http://127.0.0.1:{port}/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            // Letters, digits and '-' only: nothing to escape.
            .body(format!("username={username}&password={password}&next=%2F"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

#[test]
fn accounts_are_managed_from_the_command_line_with_passwords_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = users(
        d,
        &["create", "--name", "Ann", "--role", "operator"],
        "line-two-password\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("created operator account ann"), "{}", stdout(&o));
    let o = users(
        d,
        &["create", "--name", "ann", "--role", "viewer"],
        "line-two-password\n",
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("taken"), "{}", stderr(&o));
    let o = users(d, &["create", "--name", "bob", "--role", "viewer"], "short\n");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("at least 10 characters"), "{}", stderr(&o));
    let o = users(d, &["create", "--name", "bob", "--role", "viewer"], "");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no password on standard input"), "{}", stderr(&o));

    let o = users(d, &["passwd", "ann"], "a-newer-password\n");
    assert!(o.status.success(), "{}", stderr(&o));
    let port = free_port();
    let mut server = start_server(d, "data", port);
    assert_eq!(sign_in(port, "ann", "line-two-password"), 401);
    assert_eq!(sign_in(port, "ann", "a-newer-password"), 303);
    let o = users(d, &["disable", "ann"], "");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sign_in(port, "ann", "a-newer-password"), 401);
    let listed = stdout(&users(d, &["list"], ""));
    let row = listed
        .lines()
        .find(|l| l.ends_with(" ann"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(row.contains("operator") && row.contains("disabled"), "{row}");
    assert!(!listed.contains("bob"), "{listed}");
    let _ = server.kill();
    let _ = server.wait();
}
