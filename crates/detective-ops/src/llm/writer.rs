//! Who writes the Insights panel and what it remembers: the engine chosen by
//! `[llm]`, the last panel each range got (shown again for `refresh_secs`),
//! one answer being written at a time (a request that finds the model busy
//! gets the sentences by rule at once), and a recent failure (an endpoint that
//! is down is not asked again for a minute, so the panel never waits on it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use detective_core::grounded::Fact;
use tokio::sync::OwnedMutexGuard;

use super::config::{LlmConfig, Provider};
use super::draft::Draft;
use super::embedded::Embedded;
use super::openai;
use crate::insights::panel::Insights;

/// Which panel a request asks for: the length of its range in minutes, and
/// which `refresh_secs` slot its end falls in (so "the last 24 hours", whose
/// end moves with every request, keeps one panel until the slot turns, and
/// two different periods of the same length never share one).
pub type PanelKey = (i64, i64);

/// How long a failure keeps the model from being asked again.
const FAILURE_QUIET: Duration = Duration::from_secs(60);
/// Most ranges whose panel is remembered.
const MAX_CACHED: usize = 16;

enum Engine {
    /// By rule; the reason, for the panel's note.
    Off(String),
    Embedded(Embedded),
    Openai(openai::Client),
}

pub struct Writer {
    engine: Engine,
    wait: Duration,
    timeout: Duration,
    refresh: Duration,
    cache: Mutex<HashMap<PanelKey, (Instant, Insights)>>,
    busy: Arc<tokio::sync::Mutex<()>>,
    failed: Mutex<Option<(Instant, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Writer {
    /// Sentences by rule only.
    pub fn off() -> Self {
        Self::with(
            Engine::Off("no language model is configured".into()),
            &LlmConfig::default(),
        )
    }

    /// The writer `[llm]` asks for.
    pub fn from_config(cfg: &LlmConfig) -> Self {
        let engine = match cfg.provider {
            Provider::Off => Engine::Off("the language model is off ([llm] provider = \"off\")".into()),
            Provider::Auto if !cfg.gguf_path().is_file() => Engine::Off(format!(
                "no language model is configured (no {}: run scripts/setup-llm.sh, or set [llm])",
                cfg.gguf_path().display()
            )),
            Provider::Auto | Provider::Embedded => Engine::Embedded(Embedded::new(cfg.gguf_path())),
            Provider::Openai => match openai::Client::new(cfg) {
                Ok(c) => Engine::Openai(c),
                Err(e) => Engine::Off(format!("[llm] {e}")),
            },
        };
        Self::with(engine, cfg)
    }

    fn with(engine: Engine, cfg: &LlmConfig) -> Self {
        Self {
            engine,
            wait: Duration::from_secs(cfg.wait_secs),
            timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
            refresh: Duration::from_secs(cfg.refresh_secs),
            cache: Mutex::new(HashMap::new()),
            busy: Arc::new(tokio::sync::Mutex::new(())),
            failed: Mutex::new(None),
        }
    }

    /// What writes the panel, for logs: `embedded SmolLM2-…`, `openai URL`, `rules (why)`.
    pub fn describe(&self) -> String {
        match &self.engine {
            Engine::Off(why) => format!("rules ({why})"),
            Engine::Embedded(e) => format!("embedded {}", e.name()),
            Engine::Openai(c) => format!("OpenAI-compatible endpoint, model {:?}", c.model()),
        }
    }

    /// Why the model is not asked now (off, or failed a moment ago).
    pub fn unavailable(&self) -> Option<String> {
        if let Engine::Off(why) = &self.engine {
            return Some(format!("Written by rule from the figures below: {why}."));
        }
        let failed = lock(&self.failed);
        match &*failed {
            Some((at, e)) if at.elapsed() < FAILURE_QUIET => Some(format!(
                "Written by rule from the figures below: the language model failed a moment ago ({e})."
            )),
            _ => None,
        }
    }

    /// The key of the panel of `[from, to)` (ms).
    pub fn key(&self, from: i64, to: i64) -> PanelKey {
        let slot = (self.refresh.as_millis() as i64).max(1);
        ((to - from) / 60_000, to.div_euclid(slot))
    }

    /// The panel written for `key` within `refresh_secs`.
    pub fn fresh(&self, key: PanelKey) -> Option<Insights> {
        let cache = lock(&self.cache);
        cache
            .get(&key)
            .filter(|(at, _)| at.elapsed() < self.refresh)
            .map(|(_, p)| p.clone())
    }

    pub fn remember(&self, key: PanelKey, panel: Insights) {
        let mut cache = lock(&self.cache);
        if cache.len() >= MAX_CACHED && !cache.contains_key(&key) {
            let oldest = cache.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| *k);
            if let Some(k) = oldest {
                cache.remove(&k);
            }
        }
        cache.insert(key, (Instant::now(), panel));
        *lock(&self.failed) = None;
    }

    pub fn fail(&self, why: String) {
        *lock(&self.failed) = Some((Instant::now(), why));
    }

    /// The right to write now, unless an answer is being written.
    pub fn try_begin(&self) -> Option<OwnedMutexGuard<()>> {
        self.busy.clone().try_lock_owned().ok()
    }

    /// How long a request waits for an answer.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// The model's sentences about `facts`, within `timeout_secs`.
    pub async fn write(&self, facts: Vec<Fact>) -> Result<Draft, String> {
        match &self.engine {
            Engine::Off(why) => Err(why.clone()),
            // The embedded model stops itself at the deadline (its thread cannot be dropped).
            Engine::Embedded(e) => e.write(facts, self.timeout).await,
            // The HTTP client's own timeout is `timeout_secs`.
            Engine::Openai(c) => c.write(&facts).await,
        }
    }
}
