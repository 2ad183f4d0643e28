//! The Insights panel's figures and sentences: the period's defect rate
//! against the period before, the groups whose rate rose significantly, and the
//! newest drift report, as a table of facts with ids
//! ([`detective_core::grounded`]); sentences about them, each citing its facts
//! and passed by the checker. Written by rule for now: a language model writing
//! them from the same facts (`[llm]`) is not built yet.

use detective_core::grounded::{self, Fact, Sentence, Unit};
use detective_core::insights::Bucket;
use detective_store::Db;
use serde::Serialize;

use crate::OpsError;

/// What the panel shows.
#[derive(Debug, Clone, Serialize)]
pub struct Insights {
    /// Who wrote the sentences: `rules`.
    pub source: &'static str,
    /// Why it is that source, for people.
    pub note: String,
    pub facts: Vec<Fact>,
    /// Sentences that passed the checker.
    pub sentences: Vec<Sentence>,
    /// Sentences the checker refused (counted, never shown).
    pub rejected: usize,
}

fn plural(dimension: &str) -> String {
    match dimension {
        "class" => "classes".into(),
        d => format!("{d}s"),
    }
}

/// The facts of `[from, to)`: its rate, the rate of the period before it, the
/// significant rises (at most 3), the newest drift share.
pub async fn facts(db: &Db, from: i64, to: i64, min_group: u64) -> Result<Vec<Fact>, OpsError> {
    let c = crate::analytics::compare_with_previous(db, from, to, Bucket::Hour, min_group, 10).await?;
    let (before, _) = crate::analytics::summary(db, from - (to - from), from, Bucket::Hour).await?;
    let mut facts = Vec::new();
    let mut add = |label: String, value: f64, unit: Unit, chart: &str| {
        let id = format!("F{}", facts.len() + 1);
        facts.push(Fact {
            id,
            label,
            value,
            unit,
            chart: chart.to_string(),
        });
    };
    add(
        "defect rate this period".into(),
        c.summary.defect_rate,
        Unit::Percent,
        "rate",
    );
    add(
        "defect rate the period before".into(),
        before.defect_rate,
        Unit::Percent,
        "rate",
    );
    add(
        "predictions this period".into(),
        c.summary.total as f64,
        Unit::Count,
        "rate",
    );
    add(
        "defective this period".into(),
        c.summary.defective as f64,
        Unit::Count,
        "rate",
    );
    for r in c.root_cause.iter().filter(|r| r.significant).take(3) {
        let key = format!("{} {}", r.dimension, r.key);
        let chart = plural(r.dimension);
        add(format!("rise: {key}"), r.rate_before, Unit::Percent, &chart);
        add(format!("rate now: {key}"), r.rate_now, Unit::Percent, &chart);
        add(format!("z: {key}"), r.z, Unit::Number, &chart);
    }
    if let Some(d) = detective_store::drift::latest(db).await? {
        add("drift share".into(), d.drift_share, Unit::Percent, "drift");
    }
    Ok(facts)
}

/// The panel of `[from, to)`.
pub async fn insights(db: &Db, from: i64, to: i64, min_group: u64) -> Result<Insights, OpsError> {
    let facts = facts(db, from, to, min_group).await?;
    let written = grounded::rule_based(&facts);
    let total = written.len();
    let sentences: Vec<Sentence> = written
        .into_iter()
        .filter(|s| grounded::check(s, &facts).is_ok())
        .collect();
    Ok(Insights {
        source: "rules",
        note: "Written by rule from the figures below; no language model is configured.".into(),
        rejected: total - sentences.len(),
        facts,
        sentences,
    })
}
