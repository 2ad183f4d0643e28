//! Sentences for the Insights panel from the model we run ourselves, steered
//! token by token: at each step the most likely token is taken among those
//! that keep the answer's line able to become a cited sentence whose numbers
//! are its facts' numbers ([`detective_core::insight_prompt::line_state`]).
//! Greedy, so the same facts give the same sentences; what comes out is still
//! judged by the checker by whoever shows it.

use detective_core::grounded::{Fact, Sentence};
use detective_core::insight_prompt::{LineState, Prompt, line_state};

use super::error::LlmError;
use super::llama::{Llama, Session};

/// Limits of one answer.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub max_sentences: usize,
    /// The answer may not end before this many sentences (the prompt asks for two to four).
    pub min_sentences: usize,
    /// Tokens one line may take before it is given up.
    pub max_line_tokens: usize,
    /// Logits of tokens already written are divided (positive) or multiplied
    /// (negative) by this, so a small model does not loop.
    pub repeat_penalty: f32,
    /// After this many tokens of a line, a full stop is favoured more with
    /// each token (a small model rambles).
    pub soft_line_tokens: usize,
    /// Past this instant the answer ends with the sentences written so far.
    pub deadline: Option<std::time::Instant>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            max_sentences: 4,
            min_sentences: 2,
            max_line_tokens: 48,
            repeat_penalty: 1.2,
            soft_line_tokens: 24,
            deadline: None,
        }
    }
}

/// One answer: what was fed, what came back, the sentences in it.
#[derive(Debug, Clone)]
pub struct Written {
    /// The whole text the model was given (chat template applied).
    pub prompt: String,
    pub answer: String,
    pub sentences: Vec<Sentence>,
    pub prompt_tokens: usize,
    pub answer_tokens: usize,
}

/// ChatML, the template of SmolLM2 (and of many small instruct models).
pub fn chat_text(p: &Prompt) -> String {
    format!(
        "<|im_start|>system\n{}<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n",
        p.system, p.user
    )
}

/// Candidates tried before the whole vocabulary is ranked.
const TOP: usize = 512;

/// The best-scoring token `ok` accepts.
fn pick(logits: &[f32], ok: impl Fn(u32) -> bool) -> Option<u32> {
    let by_score = |a: &usize, b: &usize| logits[*b].total_cmp(&logits[*a]);
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    let k = TOP.min(idx.len());
    if k < idx.len() {
        idx.select_nth_unstable_by(k, by_score);
    }
    let (head, tail) = idx.split_at_mut(k);
    head.sort_unstable_by(by_score);
    if let Some(id) = head.iter().map(|i| *i as u32).find(|i| ok(*i)) {
        return Some(id);
    }
    tail.sort_unstable_by(by_score);
    tail.iter().map(|i| *i as u32).find(|i| ok(*i))
}

/// The text of `bytes` to judge: a token may end inside a character that the
/// next one completes, which stands as U+FFFD meanwhile (not a digit, so a
/// number before it is judged complete). None for bytes that are not UTF-8.
fn whole_utf8(bytes: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Some(s.into()),
        Err(e) if e.error_len().is_none() => {
            let head = std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?;
            Some(format!("{head}\u{FFFD}").into())
        }
        Err(_) => None,
    }
}

/// Writes sentences about `facts` as `prompt` asks (in the line format).
pub fn write_grounded(
    model: &Llama,
    prompt: &Prompt,
    facts: &[Fact],
    opts: &WriteOptions,
) -> Result<Written, LlmError> {
    let tok = &model.tokenizer;
    let text = chat_text(prompt);
    let ids = tok.encode(&text);
    let end = tok.special("<|im_end|>").unwrap_or(tok.eos);
    // Tokens that end a sentence (`.`, `.\n`), favoured once a line grows long.
    let stops: Vec<u32> = [".", ".\n"]
        .iter()
        .filter_map(|t| match tok.encode(t).as_slice() {
            [one] => Some(*one),
            _ => None,
        })
        .collect();
    let mut session = Session::new(model);
    let mut logits = session.feed(&ids)?;
    let mut answer = Vec::<u8>::new();
    let mut written: Vec<u32> = Vec::new();
    let mut sentences: Vec<Sentence> = Vec::new();
    'lines: while sentences.len() < opts.max_sentences {
        let mut line = Vec::<u8>::new();
        for n in 0..opts.max_line_tokens {
            if opts.deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                break 'lines;
            }
            for id in &written {
                let l = &mut logits[*id as usize];
                *l = if *l > 0.0 {
                    *l / opts.repeat_penalty
                } else {
                    *l * opts.repeat_penalty
                };
            }
            if n >= opts.soft_line_tokens {
                let bonus = 0.75 * (n + 1 - opts.soft_line_tokens) as f32;
                for id in &stops {
                    logits[*id as usize] += bonus;
                }
            }
            let accept = |id: u32| {
                if id == end {
                    return line.is_empty() && sentences.len() >= opts.min_sentences;
                }
                let mut cand = line.clone();
                cand.extend_from_slice(tok.token_bytes(id));
                tok.special_text(id).is_none()
                    && whole_utf8(&cand).is_some_and(|s| line_state(&s, facts) != LineState::Dead)
            };
            let Some(id) = pick(&logits, accept) else { break 'lines };
            if id == end {
                break 'lines;
            }
            line.extend_from_slice(tok.token_bytes(id));
            written.push(id);
            if session.pos + 1 >= model.cfg.context {
                break 'lines;
            }
            logits = session.feed(&[id])?;
            if let Some(LineState::Done(s)) = whole_utf8(&line).map(|l| line_state(&l, facts)) {
                answer.extend_from_slice(&line);
                if sentences.iter().any(|o| o.text == s.text) {
                    break 'lines;
                }
                sentences.push(s);
                continue 'lines;
            }
        }
        answer.extend_from_slice(&line);
        break;
    }
    Ok(Written {
        prompt: text,
        answer: String::from_utf8_lossy(&answer).into_owned(),
        sentences,
        prompt_tokens: ids.len(),
        answer_tokens: written.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_takes_the_best_token_the_grammar_allows() {
        let logits: Vec<f32> = (0..2000).map(|i| -(i as f32)).collect();
        assert_eq!(pick(&logits, |_| true), Some(0));
        assert_eq!(pick(&logits, |i| i > 1), Some(2));
        assert_eq!(
            pick(&logits, |i| i == 1999),
            Some(1999),
            "found beyond the top candidates"
        );
        assert_eq!(pick(&logits, |_| false), None);
    }

    #[test]
    fn a_character_cut_between_tokens_waits_for_its_end() {
        let euro = "€".as_bytes();
        assert_eq!(whole_utf8(&euro[..2]).as_deref(), Some("\u{FFFD}"));
        assert_eq!(whole_utf8(euro).as_deref(), Some("€"));
        assert_eq!(whole_utf8(b"ab\xff"), None);
    }
}
