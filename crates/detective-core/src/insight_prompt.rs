//! What a language model is asked for the Insights panel, and the grammar of
//! its answer: one sentence per line, opened by the ids of the facts it uses in
//! brackets (`[F1, F2] The defect rate rose to 12.3 % from 5.0 %.`). The same
//! grammar steers a model we run ourselves token by token ([`line_state`] says
//! whether a line so far can still become a sentence the checker passes), and
//! reads the answer of a model behind an API ([`parse_lines`]).

use crate::grounded::{Fact, Sentence};

/// The chat messages of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub system: String,
    pub user: String,
}

/// How the answer is asked to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One `[F1] sentence` per line.
    Lines,
    /// JSON `{"sentences": [{"facts": ["F1"], "text": "…"}]}`.
    Json,
}

/// Most facts one sentence may cite.
pub const MAX_CITED: usize = 3;

/// The request for sentences about `facts`.
pub fn prompt(facts: &[Fact], format: Format) -> Prompt {
    let table: Vec<String> = facts
        .iter()
        .map(|f| format!("{}: {} = {}", f.id, f.label, f.written()))
        .collect();
    let how = match format {
        Format::Lines => {
            "Write two to four short sentences for a quality engineer about what changed. \
             Put each sentence on its own line and start it with the ids of the figures it uses \
             in square brackets, in the order their numbers appear, like this:\n\
             [F1, F2] The defect rate rose to 3.0 % from 2.0 %.\n\
             Copy every number exactly as it is written in the figures."
        }
        Format::Json => {
            "Write two to four short sentences for a quality engineer about what changed. \
             Answer with JSON only: {\"sentences\": [{\"facts\": [\"F1\", \"F2\"], \"text\": \"The defect \
             rate rose to 3.0 % from 2.0 %.\"}]}, where facts lists the ids of the figures the sentence \
             uses. Copy every number exactly as it is written in the figures."
        }
    };
    Prompt {
        system: "You report on a factory's visual inspection line. Use only the figures you are given; \
                 never invent a number."
            .into(),
        user: format!("Figures:\n{}\n\n{how}", table.join("\n")),
    }
}

/// Where a line of the answer stands.
#[derive(Debug, Clone, PartialEq)]
pub enum LineState {
    /// It can still become a sentence the checker passes.
    Open,
    /// It ended with a newline and is such a sentence.
    Done(Sentence),
    /// It can no longer.
    Dead,
}

impl LineState {
    pub fn is_done(&self) -> bool {
        matches!(self, LineState::Done(_))
    }
}

/// Shortest sentence text (characters) taken.
const MIN_TEXT: usize = 12;

/// Whether `line` (an answer line so far, perhaps ending in `\n`) can still
/// be, or is, a cited sentence whose numbers are its cited facts' numbers.
pub fn line_state(line: &str, facts: &[Fact]) -> LineState {
    if line.is_empty() {
        return LineState::Open;
    }
    let Some(rest) = line.strip_prefix('[') else {
        return LineState::Dead;
    };
    let Some(close) = rest.find(']') else {
        return match ids_prefix_ok(rest, facts) {
            true => LineState::Open,
            false => LineState::Dead,
        };
    };
    let Some(ids) = complete_ids(&rest[..close], facts) else {
        return LineState::Dead;
    };
    let after = &rest[close + 1..];
    if after.is_empty() {
        return LineState::Open;
    }
    let Some(text) = after.strip_prefix(' ') else {
        return LineState::Dead;
    };
    let (body, ended) = match text.strip_suffix('\n') {
        Some(b) => (b, true),
        None => (text, false),
    };
    if body.starts_with(' ') || body.contains(['[', ']', '\n', '<', '|', '(', ')', '"']) || !one_sentence(body) {
        return LineState::Dead;
    }
    let cited: Vec<&Fact> = ids.iter().filter_map(|id| facts.iter().find(|f| f.id == *id)).collect();
    if !numbers_ok(body, &cited, ended) || crate::grounded::number_word(body).is_some() {
        return LineState::Dead;
    }
    if !ended {
        return LineState::Open;
    }
    let body = body.trim_end();
    if body.chars().count() < MIN_TEXT || !body.ends_with('.') || body.split_whitespace().count() < 3 {
        return LineState::Dead;
    }
    LineState::Done(Sentence {
        text: body.to_string(),
        facts: ids.iter().map(|s| s.to_string()).collect(),
    })
}

/// Whether `body` is at most one sentence: a full stop (not a decimal point)
/// only at its end.
fn one_sentence(body: &str) -> bool {
    let b = body.as_bytes();
    (0..b.len()).all(|i| {
        let decimal = i > 0 && b[i - 1].is_ascii_digit() && b.get(i + 1).is_some_and(u8::is_ascii_digit);
        b[i] != b'.' || decimal || i + 1 == b.len()
    })
}

fn ids_prefix_ok(inner: &str, facts: &[Fact]) -> bool {
    let parts: Vec<&str> = inner.split(',').collect();
    if parts.len() > MAX_CITED {
        return false;
    }
    let (last, done) = parts.split_last().unwrap_or((&"", &[]));
    if complete_ids(&done.join(","), facts).is_none() && !done.is_empty() {
        return false;
    }
    let last = if done.is_empty() {
        *last
    } else {
        last.strip_prefix(' ').unwrap_or(last)
    };
    facts.iter().any(|f| f.id.starts_with(last)) && !last.starts_with(' ')
}

/// The ids of a bracket's inside (`F1, F2`), each known and none twice.
fn complete_ids<'a>(inner: &'a str, facts: &[Fact]) -> Option<Vec<&'a str>> {
    let mut out: Vec<&str> = Vec::new();
    for (i, part) in inner.split(',').enumerate() {
        let id = if i == 0 {
            part
        } else {
            part.strip_prefix(' ').unwrap_or(part)
        };
        if !facts.iter().any(|f| f.id == id) || out.contains(&id) {
            return None;
        }
        out.push(id);
    }
    (!out.is_empty() && out.len() <= MAX_CITED).then_some(out)
}

/// The numbers of `body` are the numerals of `cited`, in the order the ids are
/// cited (the k-th number is the k-th fact's; a fact may go without one); the
/// last one, when the text may still grow, only has to begin its numeral.
fn numbers_ok(body: &str, cited: &[&Fact], ended: bool) -> bool {
    let numerals: Vec<String> = cited.iter().map(|f| f.numeral()).collect();
    let b = body.as_bytes();
    let (mut i, mut k) = (0, 0);
    while i < b.len() {
        if !crate::grounded::starts_number(b, i) {
            i += 1;
            continue;
        }
        let s = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b',') {
            i += 1;
        }
        let run = &body[s..i];
        let Some(n) = numerals.get(k) else {
            return false;
        };
        let ok = if i == b.len() && !ended {
            n.starts_with(run) || run.strip_suffix('.').is_some_and(|r| n == r)
        } else {
            let r = run.trim_end_matches(['.', ',']);
            n == r || n.replace(',', "") == r.replace(',', "")
        };
        if !ok {
            return false;
        }
        k += 1;
    }
    true
}

/// The sentences of an answer in the line format (lines that are not are
/// skipped; the checker still judges the rest).
pub fn parse_lines(answer: &str) -> Vec<Sentence> {
    answer
        .lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches(['-', '*', ' ']);
            let rest = l.strip_prefix('[')?;
            let (ids, text) = rest.split_once(']')?;
            Some(Sentence {
                text: text.trim().to_string(),
                facts: ids
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grounded::{Unit, check, fact, period_facts};

    fn facts() -> Vec<Fact> {
        let mut out = period_facts();
        out.push(fact("F12", "z of the rise: line l1", -4.218, Unit::Number));
        out
    }

    #[test]
    fn a_line_grows_only_towards_a_cited_sentence_with_its_facts_numbers() {
        let f = facts();
        let full = "[F1, F2] The defect rate rose to 12.3 % from 5.0 %.\n";
        for end in 0..full.len() {
            assert_eq!(line_state(&full[..end], &f), LineState::Open, "{:?}", &full[..end]);
        }
        match line_state(full, &f) {
            LineState::Done(s) => {
                assert_eq!(s.facts, vec!["F1", "F2"]);
                assert_eq!(check(&s, &f), Ok(()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(line_state("[F1] The rate is 13", &f), LineState::Dead);
        assert_eq!(
            line_state("[F1] The rate is 12.3 % of 1520", &f),
            LineState::Dead,
            "F3 not cited"
        );
        assert_eq!(line_state("[F9", &f), LineState::Dead);
        assert_eq!(line_state("[F1", &f), LineState::Open, "F1 or F12");
        assert_eq!(line_state("[F1, F1]", &f), LineState::Dead);
        assert_eq!(
            line_state("[F1, F2] It rose to 5.0", &f),
            LineState::Dead,
            "numbers in the order cited"
        );
        assert_eq!(line_state("[F1, F2] It rose to 12.3 % from 12.3", &f), LineState::Dead);
        assert_eq!(line_state("The rate", &f), LineState::Dead);
        assert_eq!(line_state("[F1] Short.\n", &f), LineState::Dead);
        assert_eq!(
            line_state("[F1] The rate went up. Then", &f),
            LineState::Dead,
            "one sentence a line"
        );
        assert_eq!(line_state("[F1] The rate (all lines", &f), LineState::Dead);
        assert_eq!(
            line_state("[F1] The rate doubled, one", &f),
            LineState::Dead,
            "numbers in words"
        );
        assert!(line_state("[F12] The z statistic of line l1 is -4.22.\n", &f).is_done());
    }

    #[test]
    fn answers_in_lines_are_read_back_with_their_citations() {
        let got = parse_lines("Here you go:\n- [F1, F2] Rate rose.\n[F3]Many parts.\nno brackets");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].facts, vec!["F1", "F2"]);
        assert_eq!(got[1].text, "Many parts.");
    }

    #[test]
    fn the_prompt_lists_every_fact_with_its_written_value() {
        let p = prompt(&facts(), Format::Lines);
        assert!(p.user.contains("F1: defect rate this period = 12.3 %"));
        assert!(p.user.contains("F12: z of the rise: line l1 = -4.22"));
    }
}
