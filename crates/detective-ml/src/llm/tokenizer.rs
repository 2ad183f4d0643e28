//! The byte-level BPE tokenizer of GPT-2-style models (SmolLM2 among them),
//! built from a GGUF file's `tokenizer.ggml.*` tables: text split into words
//! (digits one by one, then GPT-2's word rule), each word's bytes merged by
//! rank; control tokens such as `<|im_start|>` matched whole in the text.

use std::collections::HashMap;

use super::error::LlmError;
use super::gguf::{Gguf, Value};

pub struct Tokenizer {
    /// Each token's bytes.
    bytes: Vec<Vec<u8>>,
    ids: HashMap<String, u32>,
    ranks: HashMap<(String, String), usize>,
    /// Control tokens, longest first.
    specials: Vec<(String, u32)>,
    byte_char: [char; 256],
    pub eos: u32,
}

/// GPT-2's map from bytes to printable characters.
fn byte_chars() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = (b'!'..=b'~').contains(&b) || (0xa1..=0xac).contains(&b) || b >= 0xae;
        map[b as usize] = if printable {
            b as char
        } else {
            let c = char::from_u32(next).unwrap_or('?');
            next += 1;
            c
        };
    }
    map
}

fn strings(g: &Gguf, key: &str) -> Result<Vec<String>, LlmError> {
    g.get(key)?
        .as_array()
        .ok_or_else(|| LlmError::Format(format!("{key} is not an array")))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| LlmError::Format(format!("{key} holds a non-string")))
        })
        .collect()
}

impl Tokenizer {
    pub fn from_gguf(g: &Gguf) -> Result<Self, LlmError> {
        let model = g.get("tokenizer.ggml.model")?.as_str().unwrap_or("");
        if model != "gpt2" {
            return Err(LlmError::Format(format!(
                "tokenizer {model:?} (only byte-level BPE, gpt2, is read)"
            )));
        }
        let tokens = strings(g, "tokenizer.ggml.tokens")?;
        let kinds: Vec<i64> = match g.meta.get("tokenizer.ggml.token_type").and_then(Value::as_array) {
            Some(a) => a.iter().map(|v| v.as_u64().unwrap_or(1) as i64).collect(),
            None => vec![1; tokens.len()],
        };
        let byte_char = byte_chars();
        let char_byte: HashMap<char, u8> = byte_char.iter().enumerate().map(|(b, c)| (*c, b as u8)).collect();
        let mut bytes = Vec::with_capacity(tokens.len());
        let mut ids = HashMap::with_capacity(tokens.len());
        let mut specials = Vec::new();
        for (i, t) in tokens.iter().enumerate() {
            let control = matches!(kinds.get(i), Some(3) | Some(4));
            if control {
                specials.push((t.clone(), i as u32));
                bytes.push(t.as_bytes().to_vec());
            } else {
                bytes.push(t.chars().map(|c| char_byte.get(&c).copied().unwrap_or(b'?')).collect());
            }
            ids.insert(t.clone(), i as u32);
        }
        specials.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        let mut ranks = HashMap::new();
        for (r, m) in strings(g, "tokenizer.ggml.merges")?.into_iter().enumerate() {
            if let Some((a, b)) = m.split_once(' ') {
                ranks.insert((a.to_string(), b.to_string()), r);
            }
        }
        let eos = g
            .meta
            .get("tokenizer.ggml.eos_token_id")
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32;
        if eos as usize >= tokens.len() {
            return Err(LlmError::Format("eos token beyond the vocabulary".into()));
        }
        Ok(Self {
            bytes,
            ids,
            ranks,
            specials,
            byte_char,
            eos,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.bytes.len()
    }

    /// A token's bytes (control tokens as their text).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.bytes.get(id as usize).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The text of `id` when it is a control token.
    pub fn special_text(&self, id: u32) -> Option<&str> {
        self.specials.iter().find(|s| s.1 == id).map(|s| s.0.as_str())
    }

    /// The id of a control token such as `<|im_end|>`.
    pub fn special(&self, text: &str) -> Option<u32> {
        self.specials.iter().find(|s| s.0 == text).map(|s| s.1)
    }

    /// The text of `ids`.
    pub fn decode(&self, ids: &[u32]) -> String {
        let b: Vec<u8> = ids.iter().flat_map(|i| self.token_bytes(*i).iter().copied()).collect();
        String::from_utf8_lossy(&b).into_owned()
    }

    /// The ids of `text`, control tokens written in it included.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let next = self
                .specials
                .iter()
                .filter_map(|(s, id)| rest.find(s.as_str()).map(|at| (at, s.len(), *id)))
                .min_by_key(|(at, len, _)| (*at, std::cmp::Reverse(*len)));
            let (plain, special) = match next {
                Some((at, len, id)) => (&rest[..at], Some((len, id, at))),
                None => (rest, None),
            };
            for word in words(plain) {
                self.encode_word(word, &mut out);
            }
            match special {
                Some((len, id, at)) => {
                    out.push(id);
                    rest = &rest[at + len..];
                }
                None => break,
            }
        }
        out
    }

    fn encode_word(&self, word: &str, out: &mut Vec<u32>) {
        let mut parts: Vec<String> = word.bytes().map(|b| self.byte_char[b as usize].to_string()).collect();
        loop {
            let best = parts
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| self.ranks.get(&(w[0].clone(), w[1].clone())).map(|r| (*r, i)))
                .min();
            let Some((_, i)) = best else { break };
            let merged = format!("{}{}", parts[i], parts[i + 1]);
            parts[i] = merged;
            parts.remove(i + 1);
        }
        for p in parts {
            match self.ids.get(&p) {
                Some(id) => out.push(*id),
                None => out.extend(p.chars().filter_map(|c| self.ids.get(&c.to_string()).copied())),
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Letter,
    Number,
    Space,
    Other,
}

fn kind(c: char) -> Kind {
    if c.is_alphabetic() {
        Kind::Letter
    } else if c.is_numeric() {
        Kind::Number
    } else if c.is_whitespace() {
        Kind::Space
    } else {
        Kind::Other
    }
}

/// SmolLM's pre-tokenizer: every ASCII digit alone, the rest by GPT-2's rule
/// (`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`).
pub fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c.is_ascii_digit() {
            gpt2_words(&text[start..i], &mut out);
            out.push(&text[i..i + 1]);
            start = i + 1;
        }
    }
    gpt2_words(&text[start..], &mut out);
    out
}

fn gpt2_words<'a>(s: &'a str, out: &mut Vec<&'a str>) {
    let cs: Vec<(usize, char)> = s.char_indices().collect();
    let end_of = |j: usize| cs.get(j).map(|c| c.0).unwrap_or(s.len());
    let run = |mut j: usize, k: Kind| {
        while j < cs.len() && kind(cs[j].1) == k {
            j += 1;
        }
        j
    };
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i].1;
        let next = cs.get(i + 1).map(|x| x.1);
        let j = if c == '\'' && contraction(&s[cs[i].0..]) > 0 {
            let n = contraction(&s[cs[i].0..]);
            i + n
        } else if c == ' ' && next.is_some_and(|n| kind(n) != Kind::Space) {
            run(i + 1, kind(next.unwrap_or(' ')))
        } else if kind(c) == Kind::Space {
            let e = run(i, Kind::Space);
            if e < cs.len() && e - i > 1 { e - 1 } else { e }
        } else {
            run(i, kind(c))
        };
        out.push(&s[cs[i].0..end_of(j)]);
        i = j;
    }
}

/// Length in chars of a contraction (`'s`, `'re`…) at the start of `s`, or 0.
fn contraction(s: &str) -> usize {
    for c in ["'re", "'ve", "'ll", "'s", "'t", "'m", "'d"] {
        if s.starts_with(c) {
            return c.len();
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_digits_alone_and_keep_the_space_with_the_next_word() {
        assert_eq!(
            words("The rate rose to 12.5 %"),
            vec!["The", " rate", " rose", " to", " ", "1", "2", ".", "5", " %"]
        );
        assert_eq!(words("a  b\n\nc"), vec!["a", " ", " b", "\n", "\n", "c"]);
        assert_eq!(words("it's"), vec!["it", "'s"]);
    }

    #[test]
    fn byte_map_is_a_bijection() {
        let m = byte_chars();
        let set: std::collections::HashSet<char> = m.iter().copied().collect();
        assert_eq!(set.len(), 256);
        assert_eq!(m[b'A' as usize], 'A');
        assert_eq!(m[b' ' as usize], 'Ġ');
    }
}
