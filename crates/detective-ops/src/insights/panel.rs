//! What the Insights panel shows: the facts, the checked sentences, who wrote
//! them and why.

use detective_core::grounded::{Fact, Sentence};
use serde::Serialize;

/// What the panel shows.
#[derive(Debug, Clone, Serialize)]
pub struct Insights {
    /// Who wrote the sentences: `rules`, `embedded` (the model in the binary)
    /// or `openai` (an OpenAI-compatible endpoint).
    pub source: String,
    /// The model's name, when a model wrote them.
    pub model: Option<String>,
    /// Why it is that source, for people.
    pub note: String,
    pub facts: Vec<Fact>,
    /// Sentences that passed the checker.
    pub sentences: Vec<Sentence>,
    /// Sentences the checker refused (counted, never shown).
    pub rejected: usize,
    /// The kept answer (for marking a sentence wrong), when a model wrote it.
    pub answer_id: Option<i64>,
    /// When the sentences were written (a model's panel is shown again for a while).
    pub written_at: String,
}
