//! The effective configuration: built-in defaults < `detective.toml` < `DETECTIVE_*`
//! environment variables < command-line flags.
//!
//! The file is the one named by `--config` or `DETECTIVE_CONFIG`, else
//! `./detective.toml` when it exists. Nested keys in the environment use `__`:
//! `DETECTIVE_LIMITS__MAX_PIXELS=1000000`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything the binary can be configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Folder for the embedded database, object store and spool.
    pub data_dir: PathBuf,
    /// `text` or `json`.
    pub log_format: String,
    pub limits: Limits,
    pub thresholds: Thresholds,
    /// Inspection rules everywhere (`[rules]`, `[rules.classes.NAME]`, `[[rules.zones]]`):
    /// the base under the rules set per model and camera from the API.
    #[serde(default)]
    pub rules: detective_core::RuleSet,
    pub server: Server,
    /// Drift detection and the retraining policy (`[mlops]`, `[mlops.drift]`, `[mlops.retraining]`).
    pub mlops: detective_ops::policy::MlopsConfig,
    /// MLflow tracking and registry mirror (`[mlflow] tracking_uri, experiment,
    /// token`; MLflow's own `MLFLOW_TRACKING_URI`, `MLFLOW_TRACKING_TOKEN` and
    /// `MLFLOW_EXPERIMENT_NAME` work too). Off while `tracking_uri` is empty.
    #[serde(default)]
    pub mlflow: detective_ops::mlflow::MlflowConfig,
    /// How long prediction logs and their frames are kept (`[retention]
    /// predictions_days, frames_days, interval_secs, batch`).
    #[serde(default)]
    pub retention: detective_ops::retention::RetentionConfig,
    /// Alerts (`[alerts] mqtt_url, interval_secs`): the broker of MQTT channels
    /// and how often conditions are checked; the rules are set through the API.
    #[serde(default)]
    pub alerts: detective_ops::alerts::AlertsConfig,
    /// The language model of the Insights panel (`[llm] provider = "auto" |
    /// "embedded" | "openai" | "off"`, `gguf`, `base_url`, `model`, `api_key`…):
    /// by default the embedded SmolLM2 when `scripts/setup-llm.sh` installed it.
    #[serde(default)]
    pub llm: detective_ops::llm::LlmConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest image file accepted, in bytes.
    pub max_image_bytes: u64,
    /// Largest image accepted, in pixels.
    pub max_pixels: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Default confidence threshold for reported detections.
    pub conf: f32,
    /// Predictions with `uncertain_low < conf < uncertain_high` go to human review.
    pub uncertain_low: f32,
    pub uncertain_high: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub bind: String,
    /// Empty: SQLite file under the data dir.
    pub database_url: String,
    /// Empty: a folder under the data dir.
    pub object_store: String,
    /// File with the secret that signs dashboard sessions (created with 32 random
    /// bytes when missing). Empty: `DATA_DIR/session.secret`. Replicas behind one
    /// load balancer must share it.
    pub session_secret_file: PathBuf,
    /// Mark session cookies `Secure` (the dashboard is reached over HTTPS; on
    /// whenever `tls_cert` is set).
    pub secure_cookies: bool,
    /// HTTPS: PEM certificate chain (server certificate first) and its private
    /// key; both or neither. Empty: plain HTTP (e.g. behind a TLS proxy).
    #[serde(default)]
    pub tls_cert: PathBuf,
    #[serde(default)]
    pub tls_key: PathBuf,
    /// Roboflow's API, for pushing to and pulling from Roboflow.
    #[serde(default = "default_roboflow_url")]
    pub roboflow_url: String,
    /// Addresses of the load balancers in front of this server (e.g. `127.0.0.1`
    /// for an nginx on the same host): a request from one of them is counted
    /// against the client named in its `X-Forwarded-For`, not the proxy's, by the
    /// sign-in limiter. Empty: the peer's address is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Failed key checks (sign-in form and Bearer keys) a client address, or a key
    /// prefix, may make in 10 minutes before it gets 429; 0 turns the limit off.
    #[serde(default = "default_failed_key_limit")]
    pub failed_key_limit: u32,
}

fn default_failed_key_limit() -> u32 {
    detective_server::state::DEFAULT_FAILED_KEY_LIMIT
}

fn default_roboflow_url() -> String {
    "https://api.roboflow.com".into()
}

impl Default for Config {
    fn default() -> Self {
        let vision = detective_vision::DecodeLimits::default();
        let band = detective_core::UncertainBand::default();
        Config {
            data_dir: PathBuf::from("./detective-data"),
            log_format: "text".into(),
            limits: Limits {
                max_image_bytes: vision.max_bytes,
                max_pixels: vision.max_pixels,
            },
            thresholds: Thresholds {
                conf: 0.25,
                uncertain_low: band.low,
                uncertain_high: band.high,
            },
            rules: detective_core::RuleSet::default(),
            server: Server {
                bind: "127.0.0.1:8000".into(),
                database_url: String::new(),
                object_store: String::new(),
                session_secret_file: PathBuf::new(),
                secure_cookies: false,
                tls_cert: PathBuf::new(),
                tls_key: PathBuf::new(),
                roboflow_url: default_roboflow_url(),
                trusted_proxies: Vec::new(),
                failed_key_limit: default_failed_key_limit(),
            },
            mlops: detective_ops::policy::MlopsConfig::default(),
            mlflow: detective_ops::mlflow::MlflowConfig {
                experiment: "defect-detective".into(),
                ..Default::default()
            },
            retention: detective_ops::retention::RetentionConfig::default(),
            alerts: detective_ops::alerts::AlertsConfig::default(),
            llm: detective_ops::llm::LlmConfig::default(),
        }
    }
}

/// Values given as flags; only the ones present override.
#[derive(Debug, Default, Clone)]
pub struct FlagOverrides {
    pub data_dir: Option<PathBuf>,
    pub log_format: Option<String>,
}

impl Config {
    /// Loads the layered configuration. `explicit` is `--config` (or
    /// `DETECTIVE_CONFIG`, which clap maps to the same flag).
    pub fn load(explicit: Option<&Path>, flags: &FlagOverrides) -> Result<(Config, Option<PathBuf>)> {
        let file = match explicit {
            Some(p) => {
                if !p.is_file() {
                    bail!("config file {} does not exist", p.display());
                }
                Some(p.to_path_buf())
            }
            None => Some(PathBuf::from("detective.toml")).filter(|p| p.is_file()),
        };
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = &file {
            fig = fig.merge(Toml::file(f));
        }
        // MLflow's own variables, as its clients read them.
        fig = fig.merge(Env::raw().filter_map(|k| {
            let k = k.as_str().to_ascii_uppercase();
            match k.as_str() {
                "MLFLOW_TRACKING_URI" => Some("mlflow.tracking_uri".into()),
                "MLFLOW_TRACKING_TOKEN" => Some("mlflow.token".into()),
                "MLFLOW_EXPERIMENT_NAME" => Some("mlflow.experiment".into()),
                _ => None,
            }
        }));
        fig = fig.merge(Env::prefixed("DETECTIVE_").split("__").ignore(&[
            "config",
            "ort_lib",
            "ort_home",
            "cache_dir",
            "ffmpeg",
            "ffprobe",
            // Flags' own variables (clap reads them) and test-tool paths.
            "database_url",
            "object_store",
            "key",
            "test_postgres",
            "s3s_fs",
        ]));
        if let Some(d) = &flags.data_dir {
            fig = fig.merge(Serialized::default("data_dir", d));
        }
        if let Some(l) = &flags.log_format {
            fig = fig.merge(Serialized::default("log_format", l));
        }
        let cfg: Config = fig
            .extract()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("invalid configuration")?;
        cfg.validate()?;
        Ok((cfg, file))
    }

    /// Rejects values that would misbehave later, naming the key.
    pub fn validate(&self) -> Result<()> {
        self.mlops.validate().map_err(|e| anyhow::anyhow!("mlops: {e}"))?;
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("log_format must be \"text\" or \"json\", not {:?}", self.log_format);
        }
        if self.limits.max_image_bytes == 0 || self.limits.max_pixels == 0 {
            bail!("limits.max_image_bytes and limits.max_pixels must be positive");
        }
        self.band()?;
        if !(0.0..=1.0).contains(&self.thresholds.conf) {
            bail!("thresholds.conf must be in 0..1, not {}", self.thresholds.conf);
        }
        self.rules()?;
        self.alerts.validate().map_err(|e| anyhow::anyhow!("alerts: {e}"))?;
        self.retention
            .validate()
            .map_err(|e| anyhow::anyhow!("retention: {e}"))?;
        self.llm.validate().map_err(|e| anyhow::anyhow!("llm: {e}"))?;
        if self.mlflow.is_on() {
            detective_ops::mlflow::Client::new(&self.mlflow)
                .map_err(|e| anyhow::anyhow!("mlflow.tracking_uri: {e}"))?;
            if self.mlflow.experiment.trim().is_empty() {
                bail!("mlflow.experiment must not be empty");
            }
        }
        Ok(())
    }

    /// The `[rules]` over `[thresholds]`: what an edge agent applies when its
    /// cloud sends none, and the base of a server's rules.
    pub fn rules(&self) -> Result<detective_core::Rules> {
        detective_core::Rules::new(self.thresholds.conf, self.band()?)
            .with(&self.rules)
            .map_err(|e| anyhow::anyhow!("rules: {e}"))
    }

    /// The uncertain band `thresholds.uncertain_low < conf < thresholds.uncertain_high`.
    pub fn band(&self) -> Result<detective_core::UncertainBand> {
        detective_core::UncertainBand::new(self.thresholds.uncertain_low, self.thresholds.uncertain_high)
            .context("thresholds.uncertain_low / uncertain_high")
    }

    pub fn decode_limits(&self) -> detective_vision::DecodeLimits {
        detective_vision::DecodeLimits {
            max_bytes: self.limits.max_image_bytes,
            max_pixels: self.limits.max_pixels,
        }
    }
}
