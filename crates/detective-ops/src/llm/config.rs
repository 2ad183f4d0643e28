//! `[llm]`: who writes the Insights panel and how long it may take.

use serde::{Deserialize, Serialize};

/// Who writes the sentences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// The embedded model when its file is there, else by rule.
    #[default]
    Auto,
    Embedded,
    /// An OpenAI-compatible endpoint at `base_url`.
    Openai,
    /// By rule only.
    Off,
}

/// How an OpenAI-compatible endpoint is asked for JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// OpenAI's `{"type": "json_schema", …}` first; on a 400/422 the older
    /// `{"type": "json_object", "schema": …}` (llama.cpp), then none.
    #[default]
    JsonSchema,
    JsonObject,
    /// No constraint: the answer is read as JSON or as `[F1] …` lines.
    None,
}

/// `[llm]` of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    pub provider: Provider,
    /// GGUF file of the embedded model (empty: the one `scripts/setup-llm.sh`
    /// installs under the cache folder).
    pub gguf: String,
    /// `http(s)://host:port/v1` of an OpenAI-compatible endpoint.
    pub base_url: String,
    /// The model name sent to the endpoint.
    pub model: String,
    /// Sent as `Authorization: Bearer` when set.
    pub api_key: String,
    pub response_format: ResponseFormat,
    /// How long a request of the panel waits for the model before it shows
    /// the sentences written by rule (the model's answer is kept for the next).
    pub wait_secs: u64,
    /// Longest a model may take for one answer.
    pub timeout_secs: u64,
    /// A panel written by the model is shown again for this long before the
    /// model writes a new one.
    pub refresh_secs: u64,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            provider: Provider::Auto,
            gguf: String::new(),
            base_url: String::new(),
            model: String::new(),
            api_key: String::new(),
            response_format: ResponseFormat::JsonSchema,
            wait_secs: 20,
            timeout_secs: 120,
            refresh_secs: 300,
        }
    }
}

impl LlmConfig {
    /// Rejects settings that cannot work, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.provider == Provider::Openai {
            base_url(&self.base_url)?;
        }
        if self.timeout_secs == 0 || self.timeout_secs > 3600 {
            return Err(format!("timeout_secs must be in 1..3600, not {}", self.timeout_secs));
        }
        if self.wait_secs > self.timeout_secs {
            return Err("wait_secs must not exceed timeout_secs".into());
        }
        if self.refresh_secs > 86_400 {
            return Err("refresh_secs must be at most 86400".into());
        }
        Ok(())
    }

    /// The embedded model's file.
    pub fn gguf_path(&self) -> std::path::PathBuf {
        match self.gguf.trim() {
            "" => detective_ml::llm::default_gguf(),
            p => std::path::PathBuf::from(p),
        }
    }
}

/// `base_url` without a trailing `/`, when it is an http(s) address.
pub fn base_url(url: &str) -> Result<&str, String> {
    let base = url.trim().trim_end_matches('/');
    if base.starts_with("http://") || base.starts_with("https://") {
        Ok(base)
    } else {
        Err(format!(
            "base_url {base:?} must be the http:// or https:// address of an OpenAI-compatible API (e.g. http://127.0.0.1:8080/v1)"
        ))
    }
}
