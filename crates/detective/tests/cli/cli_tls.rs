//! HTTPS end to end through the binary: `detective serve` with a certificate a
//! private CA signed (made here with `openssl`, set through the configuration's
//! environment), `detective edge --cloud-ca` delivering to it, an agent without
//! the CA delivering nothing, and a certificate file that is not PEM refused at
//! start.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{detective, field, free_port, key_of, run, start_server_with, stderr};

/// A CA, and a server certificate for 127.0.0.1 and localhost it signed:
/// (CA certificate, server certificate, server key), PEM files in `dir`.
fn private_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let o = Command::new("openssl").current_dir(dir).args(args).output().unwrap();
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Detective Test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"))
}

/// A client that trusts only the CA in `ca`.
fn client_trusting(ca: &Path) -> reqwest::Client {
    let certs = reqwest::Certificate::from_pem_bundle(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only(certs)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `detective edge` on a few synthetic frames against `cloud`; its summary line and stderr.
fn agent(dir: &Path, data: &str, cloud: &str, key: &str, extra: &[&str]) -> (String, String) {
    let out = detective(dir)
        .args([
            "--data-dir",
            data,
            "edge",
            "--source",
            "synthetic://?fps=20&defect_rate=0.5&seed=5",
        ])
        .args([
            "--cloud",
            cloud,
            "--key",
            key,
            "--camera-id",
            "tls-cam",
            "--threads",
            "1",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    (line, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn an_agent_delivers_over_https_to_a_cloud_whose_ca_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(dir.path());
    let data = dir.path().join("cloud");
    let data = data.to_str().unwrap();
    let (device, viewer) = (key_of(dir.path(), data, "device"), key_of(dir.path(), data, "viewer"));
    let port = free_port();
    let mut server = start_server_with(
        dir.path(),
        data,
        port,
        &[
            ("DETECTIVE_SERVER__TLS_CERT", cert.to_str().unwrap()),
            ("DETECTIVE_SERVER__TLS_KEY", key.to_str().unwrap()),
        ],
    );
    let https = format!("https://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = client_trusting(&ca);
    rt.block_on(async {
        let health = client.get(format!("{https}/api/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        // Plain HTTP on the HTTPS port gets no answer.
        assert!(
            reqwest::get(format!("http://127.0.0.1:{port}/api/health"))
                .await
                .is_err(),
            "plain HTTP must not be served"
        );
        // Over HTTPS the dashboard's session cookie is `Secure`.
        let login = client
            .post(format!("{https}/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            // Keys are letters, digits and '_': nothing to escape.
            .body(format!("key={viewer}&next=%2F"))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 303);
        let cookie = login.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.contains("; Secure"), "{cookie}");
    });

    let edge = dir.path().join("edge");
    let (line, err) = agent(
        dir.path(),
        edge.to_str().unwrap(),
        &https,
        &device,
        &[
            "--cloud-ca",
            ca.to_str().unwrap(),
            "--max-frames",
            "12",
            "--drain-secs",
            "30",
        ],
    );
    let produced = field(&line, "produced");
    assert!(produced > 0, "{line}");
    assert_eq!(field(&line, "delivered"), produced, "{line}\n{err}");
    let total = rt.block_on(async {
        let m: serde_json::Value = client
            .get(format!("{https}/api/metrics"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        m["predictions_total"].as_i64().unwrap()
    });
    assert_eq!(total, produced as i64);

    // Without the CA the agent cannot trust the cloud: nothing is delivered, the log says why.
    let other = dir.path().join("edge-without-ca");
    let (line, err) = agent(
        dir.path(),
        other.to_str().unwrap(),
        &https,
        &device,
        &["--max-frames", "3", "--drain-secs", "2"],
    );
    assert_eq!(field(&line, "delivered"), 0, "{line}");
    assert!(field(&line, "pending") > 0, "{line}");
    assert!(err.contains("upload failed"), "{err}");
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn an_agent_refuses_a_ca_for_a_plain_http_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, _, _) = private_ca(dir.path());
    let o = run(detective(dir.path())
        .args(["--data-dir", "edge", "edge", "--source", "synthetic://?fps=5"])
        .args([
            "--cloud",
            "http://127.0.0.1:9",
            "--key",
            "k",
            "--cloud-ca",
            ca.to_str().unwrap(),
        ]));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--cloud-ca is for an https:// cloud"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn serve_refuses_to_start_on_a_certificate_file_that_is_not_pem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    std::fs::write(dir.path().join("key.pem"), "not a key").unwrap();
    let o = run(detective(dir.path()).args([
        "--data-dir",
        "data",
        "serve",
        "--bind",
        &format!("127.0.0.1:{}", free_port()),
        "--tls-cert",
        "cert.pem",
        "--tls-key",
        "key.pem",
    ]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("holds no PEM certificate"), "{}", stderr(&o));
}
