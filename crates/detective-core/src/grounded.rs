//! Grounded insights: the figures we computed as a table of facts with ids,
//! sentences that cite them, and the checker that lets a sentence through only
//! when it cites at least one fact and every number in it is one of its cited
//! facts' values (within the rounding it is written with). Whoever writes the
//! sentences — a language model, or [`rule_based`] — nothing unchecked is
//! shown.

use serde::{Deserialize, Serialize};

/// How a fact's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A share 0..1, written as a percentage (`12.5 %`).
    Percent,
    /// A count.
    Count,
    /// A plain number (a z statistic).
    Number,
}

/// One figure we computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// `F1`, `F2`…
    pub id: String,
    /// What it is, in words.
    pub label: String,
    pub value: f64,
    pub unit: Unit,
    /// The chart that shows it (`rate`, `cameras`, `lines`, `classes`, `shifts`,
    /// `drift`; `models` for the Models page).
    pub chart: String,
}

impl Fact {
    /// The value as a sentence would write it.
    pub fn written(&self) -> String {
        match self.unit {
            Unit::Percent => format!("{:.1} %", 100.0 * self.value),
            Unit::Count => format!("{}", self.value.round() as i64),
            Unit::Number => format!("{:.2}", self.value),
        }
    }

    /// The digits of [`Fact::written`] alone: no sign, no unit.
    pub fn numeral(&self) -> String {
        self.written()
            .trim_start_matches('-')
            .trim_end_matches(" %")
            .to_string()
    }

    /// Whether `n`, written with `decimals` digits after the point, is this
    /// fact's value (as a percentage for a share).
    fn matches(&self, n: f64, decimals: usize) -> bool {
        let tol = 0.5 * 10f64.powi(-(decimals as i32)) + 1e-9;
        let shown = match self.unit {
            Unit::Percent => 100.0 * self.value,
            _ => self.value,
        };
        (n - shown).abs() <= tol || (self.unit == Unit::Percent && (n - self.value).abs() <= tol)
    }
}

/// A sentence with the ids of the facts it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentence {
    pub text: String,
    pub facts: Vec<String>,
}

/// Why a sentence is not shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum Rejection {
    NoCitation,
    UnknownFact(String),
    /// A number the cited facts do not hold.
    Unsupported(String),
    Empty,
}

/// The numbers written in `text` (`12`, `12.5`, `-1.96`), each with its digits
/// after the point; fact ids (`F3`) are not numbers.
fn numbers(text: &str) -> Vec<(f64, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !starts_number(b, i) {
            i += 1;
            continue;
        }
        let s = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b',' && i + 1 < b.len() && b[i + 1].is_ascii_digit()) {
            i += 1;
        }
        let mut decimals = 0;
        if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
                decimals += 1;
            }
        }
        let neg = s > 0 && b[s - 1] == b'-';
        let t: String = text[s..i].chars().filter(|c| *c != ',').collect();
        if let Ok(v) = t.parse::<f64>() {
            out.push((if neg { -v } else { v }, decimals));
        }
    }
    out
}

/// Numbers written as words: a sentence may not hold them (the checker cannot
/// tell which fact they would be), so a writer must use digits.
const NUMBER_WORDS: [&str; 38] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
    "hundred",
    "thousand",
    "million",
    "billion",
    "dozen",
    "twice",
    "double",
    "triple",
    "half",
    "quarter",
];

/// The first number written as a word in `text` (`one`, `twice`, `half`…).
pub fn number_word(text: &str) -> Option<&str> {
    text.split(|c: char| !c.is_alphabetic())
        .find(|w| NUMBER_WORDS.iter().any(|n| n.eq_ignore_ascii_case(w)))
}

/// Whether a number begins at byte `i` of `b`: a digit not inside a word or
/// an id (`F3`, `l1`) and not after a decimal point.
pub(crate) fn starts_number(b: &[u8], i: usize) -> bool {
    b[i].is_ascii_digit() && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
}

/// Checks `s` against `facts`.
pub fn check(s: &Sentence, facts: &[Fact]) -> Result<(), Rejection> {
    if s.text.trim().is_empty() {
        return Err(Rejection::Empty);
    }
    if s.facts.is_empty() {
        return Err(Rejection::NoCitation);
    }
    let mut cited = Vec::new();
    for id in &s.facts {
        match facts.iter().find(|f| &f.id == id) {
            Some(f) => cited.push(f),
            None => return Err(Rejection::UnknownFact(id.clone())),
        }
    }
    if let Some(w) = number_word(&s.text) {
        return Err(Rejection::Unsupported(w.to_string()));
    }
    for (n, d) in numbers(&s.text) {
        if !cited.iter().any(|f| f.matches(n, d) || f.matches(n.abs(), d)) {
            return Err(Rejection::Unsupported(format!("{n}")));
        }
    }
    Ok(())
}

/// Sentences written from the facts by rule (what the panel shows without a
/// language model): the period's rate against the one before, the biggest
/// significant rise, drift. Facts are looked up by label prefix.
pub fn rule_based(facts: &[Fact]) -> Vec<Sentence> {
    let find = |p: &str| facts.iter().find(|f| f.label.starts_with(p));
    let mut out = Vec::new();
    if let (Some(now), Some(before)) = (find("defect rate this period"), find("defect rate the period before")) {
        let dir = if now.value > before.value {
            "rose"
        } else if now.value < before.value {
            "fell"
        } else {
            "held"
        };
        out.push(Sentence {
            text: format!(
                "The defect rate {dir} to {} from {} in the period before.",
                now.written(),
                before.written()
            ),
            facts: vec![now.id.clone(), before.id.clone()],
        });
    }
    for rise in facts.iter().filter(|f| f.label.starts_with("rate before: ")) {
        let key = rise.label.trim_start_matches("rate before: ");
        let (Some(now), Some(z)) = (
            find(&format!("rate now: {key}")),
            find(&format!("z of the rise: {key}")),
        ) else {
            continue;
        };
        out.push(Sentence {
            text: format!(
                "{} went up to {} against {} before, a significant rise (z {}).",
                key,
                now.written(),
                rise.written(),
                z.written()
            ),
            facts: vec![now.id.clone(), rise.id.clone(), z.id.clone()],
        });
    }
    if let Some(d) = find("drift share")
        && d.value > 0.0
    {
        out.push(Sentence {
            text: format!(
                "{} of the image features drifted in the newest drift report.",
                d.written()
            ),
            facts: vec![d.id.clone()],
        });
    }
    out
}

/// A fact on the rate chart, for tests.
#[cfg(test)]
pub(crate) fn fact(id: &str, label: &str, value: f64, unit: Unit) -> Fact {
    Fact {
        id: id.into(),
        label: label.into(),
        value,
        unit,
        chart: "rate".into(),
    }
}

/// The period's first three facts as the panel makes them, for tests.
#[cfg(test)]
pub(crate) fn period_facts() -> Vec<Fact> {
    vec![
        fact("F1", "defect rate this period", 0.1234, Unit::Percent),
        fact("F2", "defect rate the period before", 0.05, Unit::Percent),
        fact("F3", "predictions this period", 1520.0, Unit::Count),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Vec<Fact> {
        let f = fact;
        let mut out = period_facts();
        out.extend([
            f("F4", "rate before: line l1", 0.04, Unit::Percent),
            f("F5", "rate now: line l1", 0.20, Unit::Percent),
            f("F6", "z of the rise: line l1", 4.218, Unit::Number),
        ]);
        out
    }

    fn s(text: &str, facts: &[&str]) -> Sentence {
        Sentence {
            text: text.into(),
            facts: facts.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn a_sentence_passes_only_with_citations_that_hold_its_numbers() {
        let f = facts();
        assert_eq!(
            check(&s("The defect rate rose to 12.3 % from 5 %.", &["F1", "F2"]), &f),
            Ok(())
        );
        assert_eq!(
            check(&s("Line l1 is at 20 % of 1,520 parts.", &["F5", "F3"]), &f),
            Ok(())
        );
        assert_eq!(
            check(&s("z is 4.22 on line l1.", &["F6"]), &f),
            Ok(()),
            "numbers in names are not figures"
        );
        assert_eq!(
            check(&s("The defect rate rose to 12.9 %.", &["F1"]), &f),
            Err(Rejection::Unsupported("12.9".into()))
        );
        assert_eq!(
            check(&s("The defect rate rose to 12.3 %.", &["F2"]), &f),
            Err(Rejection::Unsupported("12.3".into()))
        );
        assert_eq!(check(&s("Things got worse.", &[]), &f), Err(Rejection::NoCitation));
        assert_eq!(
            check(&s("The rate rose to 12.3 %, twice the usual.", &["F1"]), &f),
            Err(Rejection::Unsupported("twice".into())),
            "numbers in words are numbers too"
        );
        assert_eq!(
            check(&s("Only one line rose to 12.3 %.", &["F1"]), &f),
            Err(Rejection::Unsupported("one".into()))
        );
        assert_eq!(
            check(&s("Someone saw 12.3 % on line l1.", &["F1"]), &f),
            Ok(()),
            "whole words only"
        );
        assert_eq!(
            check(&s("Worse.", &["F9"]), &f),
            Err(Rejection::UnknownFact("F9".into()))
        );
    }

    #[test]
    fn rule_based_sentences_all_pass_the_checker() {
        let f = facts();
        let out = rule_based(&f);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(
            out[0].text.starts_with("The defect rate rose to 12.3 % from 5.0 %"),
            "{}",
            out[0].text
        );
        for sentence in &out {
            assert_eq!(check(sentence, &f), Ok(()), "{sentence:?}");
        }
    }
}
