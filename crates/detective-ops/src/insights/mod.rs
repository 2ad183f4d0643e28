//! The Insights panel's figures and sentences: the period's defect rate
//! against the period before, the groups whose rate rose significantly, the
//! newest drift report and the models promoted in the period, as a table of
//! facts with ids
//! ([`detective_core::grounded`]); sentences about them, each citing its facts
//! and passed by the checker. A language model writes them when `[llm]` has one
//! ([`crate::llm`]); otherwise, or while it is busy or down, they are written
//! by rule, and the panel says which. People mark sentences wrong
//! ([`mark_wrong`]); the mark is kept with the model's prompt and answer.

use std::sync::Arc;

use detective_core::grounded::{self, Fact, Sentence, Unit};
use detective_core::insights::Bucket;
use detective_store::Db;
use detective_store::insight_log::{self, NewAnswer, NewFeedback};
use serde::Deserialize;

use crate::OpsError;
use crate::llm::{Draft, Writer};

pub mod panel;
pub use panel::Insights;

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
        add(format!("rate before: {key}"), r.rate_before, Unit::Percent, &chart);
        add(format!("rate now: {key}"), r.rate_now, Unit::Percent, &chart);
        add(format!("z of the rise: {key}"), r.z, Unit::Number, &chart);
    }
    if let Some(d) = detective_store::drift::latest(db).await? {
        add("drift share".into(), d.drift_share, Unit::Percent, "drift");
    }
    // Recent model changes: the versions that became Production in the period.
    for p in detective_store::models::promotions_between(db, from, to, 2).await? {
        add(
            format!("hours since {}@{} ({}) became Production", p.name, p.version, p.task),
            (to - p.at_ms) as f64 / 3_600_000.0,
            Unit::Number,
            "models",
        );
    }
    Ok(facts)
}

/// The sentences of `written` that pass the checker, and how many did not.
fn checked(written: Vec<Sentence>, facts: &[Fact]) -> (Vec<Sentence>, usize) {
    let total = written.len();
    let ok: Vec<Sentence> = written
        .into_iter()
        .filter(|s| grounded::check(s, facts).is_ok())
        .collect();
    let rejected = total - ok.len();
    (ok, rejected)
}

fn now_rfc3339() -> String {
    detective_store::clock::to_rfc3339(detective_store::clock::now_ms())
}

/// The panel written by rule, with `note` saying why.
fn by_rule(facts: Vec<Fact>, note: String) -> Insights {
    let (sentences, rejected) = checked(grounded::rule_based(&facts), &facts);
    Insights {
        source: "rules".into(),
        model: None,
        note,
        facts,
        sentences,
        rejected,
        answer_id: None,
        written_at: now_rfc3339(),
    }
}

/// The panel from a model's `draft`: its sentences checked, the answer kept.
async fn by_model(db: &Db, facts: Vec<Fact>, draft: Draft) -> Result<Insights, OpsError> {
    let (sentences, rejected) = checked(draft.sentences, &facts);
    let answer_id = insight_log::add_answer(
        db,
        &NewAnswer {
            source: format!("{}:{}", draft.provider, draft.model),
            prompt: draft.prompt,
            answer: draft.answer,
            facts: serde_json::to_value(&facts).unwrap_or_default(),
            sentences: serde_json::to_value(&sentences).unwrap_or_default(),
            rejected: rejected as i64,
        },
    )
    .await?;
    let note = format!(
        "Written by the language model {} from the figures below only; every sentence shown was checked against them{}.",
        draft.model,
        match rejected {
            0 => String::new(),
            n => format!(" ({n} refused)"),
        }
    );
    Ok(Insights {
        source: draft.provider.into(),
        model: Some(draft.model),
        note,
        facts,
        sentences,
        rejected,
        answer_id: Some(answer_id),
        written_at: now_rfc3339(),
    })
}

/// The panel of `[from, to)`: the model's, when it answers within its wait
/// (its answer is kept for the next request when it is late), else by rule.
pub async fn insights(db: &Db, writer: &Arc<Writer>, from: i64, to: i64, min_group: u64) -> Result<Insights, OpsError> {
    let key = writer.key(from, to);
    if let Some(p) = writer.fresh(key) {
        return Ok(p);
    }
    let facts = facts(db, from, to, min_group).await?;
    if let Some(why) = writer.unavailable() {
        return Ok(by_rule(facts, why));
    }
    let Some(guard) = writer.try_begin() else {
        return Ok(by_rule(
            facts,
            "The language model is writing this panel; written by rule meanwhile.".into(),
        ));
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (w, db2, facts2) = (writer.clone(), db.clone(), facts.clone());
    tokio::spawn(async move {
        let _writing = guard;
        let out = match w.write(facts2.clone()).await {
            Ok(draft) => by_model(&db2, facts2, draft).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match &out {
            Ok(panel) => w.remember(key, panel.clone()),
            Err(e) => {
                tracing::warn!("insights: the language model failed: {e}");
                w.fail(e.clone());
            }
        }
        let _ = tx.send(out);
    });
    Ok(match tokio::time::timeout(writer.wait(), rx).await {
        Ok(Ok(Ok(panel))) => panel,
        Ok(Ok(Err(e))) => by_rule(
            facts,
            format!("Written by rule from the figures below: the language model failed ({e})."),
        ),
        Ok(Err(_)) => by_rule(
            facts,
            "Written by rule from the figures below: the language model stopped.".into(),
        ),
        Err(_) => by_rule(
            facts,
            "The language model is still writing this panel; written by rule meanwhile (refresh in a moment).".into(),
        ),
    })
}

/// A sentence a person says is wrong.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MarkWrong {
    /// `answer_id` of the panel the sentence came from (absent for a panel written by rule).
    pub answer_id: Option<i64>,
    pub sentence: String,
    pub facts: Vec<String>,
    /// What is wrong with it, in the person's words (may be empty).
    #[serde(default)]
    pub note: String,
}

/// Longest sentence or note kept.
const MAX_TEXT: usize = 2000;

/// Keeps `m` for review, with the prompt and the answer it came from.
pub async fn mark_wrong(db: &Db, m: MarkWrong, by: &str) -> Result<i64, OpsError> {
    if m.sentence.trim().is_empty() || m.sentence.len() > MAX_TEXT || m.note.len() > MAX_TEXT {
        return Err(OpsError::invalid(format!(
            "sentence must be 1..{MAX_TEXT} bytes and note at most {MAX_TEXT}"
        )));
    }
    if m.facts.len() > 16 || m.facts.iter().any(|f| f.len() > 16) {
        return Err(OpsError::invalid("facts: at most 16 fact ids"));
    }
    let source = match m.answer_id {
        Some(id) => {
            let a = insight_log::answer(db, id)
                .await?
                .ok_or_else(|| OpsError::not_found(format!("insight answer {id}")))?;
            let said: Vec<Sentence> = serde_json::from_value(a.sentences).unwrap_or_default();
            if !said.iter().any(|s| s.text == m.sentence) {
                return Err(OpsError::invalid(format!("answer {id} has no such sentence")));
            }
            a.source
        }
        None => "rules".into(),
    };
    Ok(insight_log::add_feedback(
        db,
        &NewFeedback {
            answer_id: m.answer_id,
            source,
            sentence: m.sentence,
            facts: m.facts,
            note: m.note,
            created_by: by.to_string(),
        },
    )
    .await?)
}
