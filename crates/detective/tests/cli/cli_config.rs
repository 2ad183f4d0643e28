//! The command line itself: help, version, and the config layering
//! defaults < detective.toml < DETECTIVE_* env < flags.

use crate::common::{detective, run, stderr, stdout};

#[test]
fn help_lists_every_subcommand_with_a_purpose() {
    let o = run(detective(&std::env::temp_dir()).arg("--help"));
    assert!(o.status.success());
    let out = stdout(&o);
    for (cmd, words) in [
        ("synth", "synthetic"),
        ("dataset", "datasets"),
        ("config", "configuration"),
    ] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(cmd))
            .unwrap_or_else(|| panic!("{cmd} missing in\n{out}"));
        assert!(line.to_lowercase().contains(words), "{line}");
    }
}

#[test]
fn version_prints_the_crate_version() {
    let o = run(detective(&std::env::temp_dir()).arg("--version"));
    assert!(o.status.success());
    assert_eq!(stdout(&o).trim(), format!("detective {}", env!("CARGO_PKG_VERSION")));
}

fn show_json(cmd: &mut std::process::Command) -> serde_json::Value {
    let o = run(cmd.args(["config", "show", "--format", "json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("config show prints JSON")
}

#[test]
fn config_show_prints_built_in_defaults_without_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let v = show_json(&mut detective(dir.path()));
    assert_eq!(v["data_dir"], "./detective-data");
    assert_eq!(v["limits"]["max_pixels"], 40_000_000);
    assert_eq!(v["thresholds"]["uncertain_low"].as_f64().unwrap() as f32, 0.4);
    assert_eq!(v["server"]["bind"], "127.0.0.1:8000");
}

#[test]
fn file_overrides_defaults_env_overrides_file_and_flags_override_env() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("detective.toml"),
        "data_dir = \"/from/file\"\nlog_format = \"json\"\n[limits]\nmax_pixels = 1000\n[server]\nbind = \"0.0.0.0:9\"\n",
    )
    .unwrap();
    // file over defaults (./detective.toml picked up automatically)
    let v = show_json(&mut detective(dir.path()));
    assert_eq!(
        (v["data_dir"].as_str(), v["limits"]["max_pixels"].as_u64()),
        (Some("/from/file"), Some(1000))
    );
    assert_eq!(v["server"]["bind"], "0.0.0.0:9");
    // env over file, nested keys with __
    let v = show_json(
        detective(dir.path())
            .env("DETECTIVE_DATA_DIR", "/from/env")
            .env("DETECTIVE_LIMITS__MAX_PIXELS", "2000"),
    );
    assert_eq!(
        (v["data_dir"].as_str(), v["limits"]["max_pixels"].as_u64()),
        (Some("/from/env"), Some(2000))
    );
    assert_eq!(v["log_format"], "json", "untouched keys keep the file's value");
    // flags over env
    let v = show_json(detective(dir.path()).env("DETECTIVE_DATA_DIR", "/from/env").args([
        "--data-dir",
        "/from/flag",
        "--log-format",
        "text",
    ]));
    assert_eq!(
        (v["data_dir"].as_str(), v["log_format"].as_str()),
        (Some("/from/flag"), Some("text"))
    );
}

#[test]
fn config_path_comes_from_flag_or_detective_config_env() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "data_dir = \"/other\"\n").unwrap();
    let v = show_json(detective(dir.path()).arg("--config").arg(&other));
    assert_eq!(v["data_dir"], "/other");
    let v = show_json(detective(dir.path()).env("DETECTIVE_CONFIG", &other));
    assert_eq!(v["data_dir"], "/other");
    let o = run(detective(dir.path())
        .args(["config", "show", "--format", "toml"])
        .env("DETECTIVE_CONFIG", &other));
    assert!(stdout(&o).contains("# config file:") && stdout(&o).contains("other.toml"));
}

#[test]
fn bad_config_is_refused_with_the_offending_key_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("detective.toml"),
        "[thresholds]\nuncertain_low = 0.9\nuncertain_high = 0.2\n",
    )
    .unwrap();
    let o = run(detective(dir.path()).args(["config", "show"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("uncertain"), "{}", stderr(&o));

    std::fs::write(dir.path().join("detective.toml"), "data_dri = \"typo\"\n").unwrap();
    let o = run(detective(dir.path()).args(["config", "show"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("data_dri"), "{}", stderr(&o));

    let o = run(detective(dir.path()).args(["--config", "/nonexistent/x.toml", "config", "show"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
}

#[test]
fn mlflow_comes_from_its_section_or_mlflows_own_variables_and_the_token_is_masked() {
    let dir = tempfile::tempdir().unwrap();
    let v = show_json(&mut detective(dir.path()));
    assert_eq!(v["mlflow"]["tracking_uri"], "", "off by default");
    std::fs::write(
        dir.path().join("detective.toml"),
        "[mlflow]\ntracking_uri = \"http://mlflow.plant:5000\"\nexperiment = \"line-3\"\n",
    )
    .unwrap();
    let v = show_json(&mut detective(dir.path()));
    assert_eq!(
        (v["mlflow"]["tracking_uri"].as_str(), v["mlflow"]["experiment"].as_str()),
        (Some("http://mlflow.plant:5000"), Some("line-3"))
    );
    // MLflow's own variables, as its clients read them.
    let v = show_json(
        detective(dir.path())
            .env("MLFLOW_TRACKING_URI", "https://mlflow.example:443")
            .env("MLFLOW_TRACKING_TOKEN", "s3cret")
            .env("MLFLOW_EXPERIMENT_NAME", "from-env"),
    );
    assert_eq!(v["mlflow"]["tracking_uri"], "https://mlflow.example:443");
    assert_eq!(v["mlflow"]["experiment"], "from-env");
    assert_eq!(v["mlflow"]["token"], "********", "never printed");
    // Not an HTTP address: refused, naming the key.
    let o = run(detective(dir.path())
        .env("MLFLOW_TRACKING_URI", "file:///tmp/mlruns")
        .args(["config", "show"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("mlflow.tracking_uri"), "{}", stderr(&o));
}

#[test]
fn json_log_format_writes_json_lines_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    // A failing command logs an error; with --log-format json it is a JSON object.
    let o = run(detective(dir.path()).args(["--log-format", "json", "dataset", "info", "/nonexistent/data"]));
    assert!(!o.status.success());
    let err = stderr(&o);
    let json_line = err
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON log line in {err}"));
    let v: serde_json::Value = serde_json::from_str(json_line).unwrap();
    assert_eq!(v["level"], "ERROR");
}

#[test]
fn inspection_rules_come_from_the_rules_section_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("detective.toml"),
        "[rules.classes.scratch]\nconf = 0.6\n\n[[rules.zones]]\nname = \"edge\"\nkind = \"ignore\"\n\
         points = [[0.0, 0.0], [0.1, 0.0], [0.1, 1.0], [0.0, 1.0]]\n",
    )
    .unwrap();
    let v = show_json(&mut detective(dir.path()));
    assert_eq!(v["rules"]["classes"]["scratch"]["conf"].as_f64().unwrap() as f32, 0.6);
    assert_eq!(v["rules"]["zones"][0]["kind"], "ignore");

    for (toml, want) in [
        (
            "[[rules.zones]]\nname = \"z\"\nkind = \"ignore\"\npoints = [[0.0, 0.0], [1.0, 1.0]]\n",
            "3 to",
        ),
        ("[rules.classes.scratch]\nuncertain_low = 0.9\n", "scratch"),
        (
            "[[rules.zones]]\nname = \"z\"\nkind = \"sometimes\"\npoints = []\n",
            "sometimes",
        ),
    ] {
        std::fs::write(dir.path().join("detective.toml"), toml).unwrap();
        let o = run(detective(dir.path()).args(["config", "show"]));
        assert_eq!(o.status.code(), Some(2), "{toml}");
        assert!(stderr(&o).contains(want), "{toml}: {}", stderr(&o));
    }
}
