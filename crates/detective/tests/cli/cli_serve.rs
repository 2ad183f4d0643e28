//! `detective keys create`, `db migrate` and `serve` through the real binary: a key
//! made on the command line opens the API of a server on the same data dir, and
//! SIGTERM stops the server cleanly.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::{detective, run, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_from_the_command_line_opens_the_api_of_a_server_on_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap();
    let o = run(detective(dir.path()).args(["--data-dir", data_s, "db", "migrate"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("schema up to date"));
    let o = run(detective(dir.path()).args([
        "--data-dir",
        data_s,
        "keys",
        "create",
        "--role",
        "viewer",
        "--name",
        "ci",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let key = stdout(&o).lines().last().unwrap().trim().to_string();
    assert!(key.starts_with("dd_"), "{key}");
    let o = run(detective(dir.path()).args(["--data-dir", data_s, "keys", "list"]));
    assert!(stdout(&o).contains("viewer") && stdout(&o).contains("ci") && !stdout(&o).contains(&key));
    let o = run(detective(dir.path()).args(["keys", "create", "--role", "root", "--name", "x"]));
    assert!(!o.status.success());

    let mut child = detective(dir.path())
        .args(["--data-dir", data_s, "serve", "--bind", "127.0.0.1:0", "--threads", "1"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(rest) = line.split("API on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let http = reqwest::Client::new();
    let health = http.get(format!("{url}/api/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let m = http
        .get(format!("{url}/api/metrics"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(m.status(), 200);
    let anon = http.get(format!("{url}/api/metrics")).send().await.unwrap();
    assert_eq!(anon.status(), 401);
    let log = http
        .post(format!("{url}/api/log"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"camera_id": "c", "predictions": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(log.status(), 403, "a viewer may not log");
    // SAFETY: sending SIGTERM to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(data.join("detective.db").is_file());
    assert!(data.join("objects").is_dir());
}
