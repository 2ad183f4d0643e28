//! A client of OpenAI-compatible chat endpoints (`POST {base_url}/chat/completions`):
//! llama.cpp's server, Ollama, vLLM, hosted services. The answer is asked
//! for as JSON of a schema whose fact ids are the table's own (`json_schema`,
//! falling back to llama.cpp's `json_object` + `schema`, then to none when an
//! endpoint refuses the field), and read leniently: JSON, else `[F1] …` lines.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use detective_core::grounded::{Fact, Sentence};
use detective_core::insight_prompt::{self, Format};
use serde_json::{Value, json};

use super::config::{LlmConfig, ResponseFormat};
use super::draft::Draft;

/// Longest answer read from an endpoint.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub struct Client {
    http: reqwest::Client,
    url: String,
    model: String,
    key: Option<String>,
    /// The response format in use: 0 json_schema, 1 json_object, 2 none.
    format: AtomicU8,
}

impl Client {
    pub fn new(cfg: &LlmConfig) -> Result<Self, String> {
        let base = super::config::base_url(&cfg.base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .build()
            .map_err(|e| e.to_string())?;
        let format = match cfg.response_format {
            ResponseFormat::JsonSchema => 0,
            ResponseFormat::JsonObject => 1,
            ResponseFormat::None => 2,
        };
        Ok(Self {
            http,
            url: format!("{base}/chat/completions"),
            model: cfg.model.clone(),
            key: Some(cfg.api_key.clone()).filter(|k| !k.is_empty()),
            format: AtomicU8::new(format),
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// Sentences about `facts`.
    pub async fn write(&self, facts: &[Fact]) -> Result<Draft, String> {
        let prompt = insight_prompt::prompt(facts, Format::Json);
        let messages = json!([
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ]);
        let prompt_text = format!("system: {}\n\nuser: {}", prompt.system, prompt.user);
        loop {
            let format = self.format.load(Ordering::Relaxed);
            let mut body = json!({
                "model": self.model,
                "messages": messages,
                "temperature": 0,
                "max_tokens": 512,
            });
            if let Some(rf) = response_format(format, facts) {
                body["response_format"] = rf;
            }
            let mut req = self.http.post(&self.url).json(&body);
            if let Some(k) = &self.key {
                req = req.bearer_auth(k);
            }
            let resp = req.send().await.map_err(|e| format!("{} unreachable: {e}", self.url))?;
            let status = resp.status();
            let bytes = resp.bytes().await.map_err(|e| format!("reading the answer: {e}"))?;
            // An endpoint that does not know this way of asking for JSON refuses it with
            // 400/422 (llama-cpp-python's server: 500 naming the field): ask the next way.
            let refused = status == 400
                || status == 422
                || (status.is_server_error() && String::from_utf8_lossy(&bytes).contains("response_format"));
            if refused && format < 2 {
                tracing::info!(
                    "{} refused response_format #{format} ({status}); trying the next",
                    self.url
                );
                self.format.store(format + 1, Ordering::Relaxed);
                continue;
            }
            if !status.is_success() {
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
                return Err(format!("{} answered {status}: {text}", self.url));
            }
            if bytes.len() > MAX_ANSWER_BYTES {
                return Err(format!("the answer is over {MAX_ANSWER_BYTES} bytes"));
            }
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("the answer is not JSON: {e}"))?;
            let answer = v["choices"][0]["message"]["content"]
                .as_str()
                .ok_or("the answer has no choices[0].message.content")?
                .to_string();
            return Ok(Draft {
                provider: "openai",
                model: v["model"].as_str().unwrap_or(&self.model).to_string(),
                prompt: prompt_text,
                sentences: read_answer(&answer),
                answer,
            });
        }
    }
}

/// The JSON schema of an answer whose citations are `facts`' ids.
fn schema(facts: &[Fact]) -> Value {
    let ids: Vec<&str> = facts.iter().map(|f| f.id.as_str()).collect();
    json!({
        "type": "object",
        "properties": {"sentences": {"type": "array", "maxItems": 4, "items": {
            "type": "object",
            "properties": {
                "facts": {"type": "array", "minItems": 1, "maxItems": insight_prompt::MAX_CITED,
                          "items": {"type": "string", "enum": ids}},
                "text": {"type": "string"}
            },
            "required": ["facts", "text"],
            "additionalProperties": false
        }}},
        "required": ["sentences"],
        "additionalProperties": false
    })
}

fn response_format(format: u8, facts: &[Fact]) -> Option<Value> {
    match format {
        0 => Some(
            json!({"type": "json_schema", "json_schema": {"name": "insights", "strict": true, "schema": schema(facts)}}),
        ),
        1 => Some(json!({"type": "json_object", "schema": schema(facts)})),
        _ => None,
    }
}

/// The sentences of an answer: `{"sentences": [{facts, text}]}` (anywhere in
/// the text), else `[F1] …` lines.
pub fn read_answer(answer: &str) -> Vec<Sentence> {
    #[derive(serde::Deserialize)]
    struct Answer {
        sentences: Vec<Sentence>,
    }
    let json = match (answer.find('{'), answer.rfind('}')) {
        (Some(a), Some(b)) if a < b => serde_json::from_str::<Answer>(&answer[a..=b]).ok(),
        _ => None,
    };
    match json {
        Some(a) => a.sentences,
        None => insight_prompt::parse_lines(answer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_json_or_as_cited_lines() {
        let a = read_answer("```json\n{\"sentences\": [{\"facts\": [\"F1\"], \"text\": \"Up.\"}]}\n```");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].facts, vec!["F1"]);
        let b = read_answer("[F2, F3] The rate fell.");
        assert_eq!(b[0].facts, vec!["F2", "F3"]);
        assert!(read_answer("no idea").is_empty());
    }

    #[test]
    fn only_http_endpoints_are_taken() {
        let cfg = LlmConfig {
            base_url: "ftp://x".into(),
            ..Default::default()
        };
        assert!(Client::new(&cfg).err().unwrap_or_default().contains("base_url"));
    }
}
