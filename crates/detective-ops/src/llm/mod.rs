//! Language models that write the Insights panel's sentences (`[llm]`): the
//! small model run inside the binary ([`embedded`], SmolLM2-135M from
//! `scripts/setup-llm.sh`) or any OpenAI-compatible chat endpoint
//! ([`openai`]: llama.cpp's server, Ollama, vLLM, a hosted service). Either
//! way the model sees only the table of facts, and the checker judges every
//! sentence it writes ([`crate::insights`]).

pub mod config;
pub mod draft;
pub mod embedded;
pub mod openai;
pub mod writer;

pub use config::{LlmConfig, Provider, ResponseFormat};
pub use draft::Draft;
pub use writer::Writer;
