//! The model inside the binary: a GGUF file loaded once (on first use, off the
//! async threads) and run by [`detective_ml::llm`], steered to the line
//! grammar token by token.

use std::path::PathBuf;
use std::sync::Arc;

use detective_core::grounded::Fact;
use detective_core::insight_prompt::{self, Format};
use detective_ml::llm::write::WriteOptions;
use detective_ml::llm::{self, Llama};
use tokio::sync::OnceCell;

use super::draft::Draft;

pub struct Embedded {
    path: PathBuf,
    model: OnceCell<Arc<Llama>>,
}

impl Embedded {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            model: OnceCell::new(),
        }
    }

    /// The model's name: the file's stem.
    pub fn name(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    }

    async fn model(&self) -> Result<Arc<Llama>, String> {
        let path = self.path.clone();
        self.model
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || Llama::open(&path).map(Arc::new))
                    .await
                    .map_err(|e| format!("loading the model stopped: {e}"))?
                    .map_err(|e| e.to_string())
            })
            .await
            .cloned()
    }

    /// Sentences about `facts` (blocking work on a blocking thread), the answer
    /// cut short at `within` (the thread ends then too, so at most one runs).
    pub async fn write(&self, facts: Vec<Fact>, within: std::time::Duration) -> Result<Draft, String> {
        let model = self.model().await?;
        let prompt = insight_prompt::prompt(&facts, Format::Lines);
        let name = self.name();
        let opts = WriteOptions {
            deadline: Some(std::time::Instant::now() + within),
            ..WriteOptions::default()
        };
        let w = tokio::task::spawn_blocking(move || llm::write_grounded(&model, &prompt, &facts, &opts))
            .await
            .map_err(|e| format!("the model stopped: {e}"))?
            .map_err(|e| e.to_string())?;
        Ok(Draft {
            provider: "embedded",
            model: name,
            prompt: w.prompt,
            answer: w.answer,
            sentences: w.sentences,
        })
    }
}
