//! What a language model wrote for the Insights panel, before the checker.

/// What a model wrote.
#[derive(Debug, Clone)]
pub struct Draft {
    /// `embedded` or `openai`.
    pub provider: &'static str,
    /// The model's name.
    pub model: String,
    /// What the model was given (the chat as text).
    pub prompt: String,
    /// What it answered, whole.
    pub answer: String,
    pub sentences: Vec<detective_core::grounded::Sentence>,
}
