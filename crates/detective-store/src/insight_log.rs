//! What language models wrote for the Insights panel (each answer with its
//! prompt and the figures it was written from) and the sentences people marked
//! wrong, kept for review. Answers nobody marked are dropped after
//! [`KEEP_ANSWERS_MS`].

use serde::Serialize;
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::{Db, StoreError};

/// How long an answer nobody marked wrong is kept (30 days).
pub const KEEP_ANSWERS_MS: i64 = 30 * 24 * 3600 * 1000;

/// An answer to keep.
#[derive(Debug, Clone)]
pub struct NewAnswer {
    /// `llm:{model}` or `embedded:{model}`.
    pub source: String,
    pub prompt: String,
    pub answer: String,
    pub facts: serde_json::Value,
    /// The sentences shown (those the checker passed).
    pub sentences: serde_json::Value,
    pub rejected: i64,
}

/// A kept answer.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub id: i64,
    pub source: String,
    pub prompt: String,
    pub answer: String,
    pub facts: serde_json::Value,
    pub sentences: serde_json::Value,
    pub rejected: i64,
    pub created_at: String,
}

fn answer_row(r: &sqlx::any::AnyRow) -> Result<Answer, StoreError> {
    let facts: String = r.try_get("facts")?;
    let sentences: String = r.try_get("sentences")?;
    Ok(Answer {
        id: r.try_get("id")?,
        source: r.try_get("source")?,
        prompt: r.try_get("prompt")?,
        answer: r.try_get("answer")?,
        facts: serde_json::from_str(&facts)?,
        sentences: serde_json::from_str(&sentences)?,
        rejected: r.try_get("rejected")?,
        created_at: to_rfc3339(r.try_get("created_at")?),
    })
}

/// Keeps `a`; drops old answers nobody marked. Returns its id.
pub async fn add_answer(db: &Db, a: &NewAnswer) -> Result<i64, StoreError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO insight_answers (source, prompt, answer, facts, sentences, rejected, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&a.source)
    .bind(&a.prompt)
    .bind(&a.answer)
    .bind(serde_json::to_string(&a.facts)?)
    .bind(serde_json::to_string(&a.sentences)?)
    .bind(a.rejected)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    sqlx::query(
        "DELETE FROM insight_answers WHERE created_at < $1 AND id NOT IN \
         (SELECT answer_id FROM insight_feedback WHERE answer_id IS NOT NULL)",
    )
    .bind(now - KEEP_ANSWERS_MS)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn answer(db: &Db, id: i64) -> Result<Option<Answer>, StoreError> {
    let row = sqlx::query("SELECT * FROM insight_answers WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(answer_row).transpose()
}

/// A sentence marked wrong.
#[derive(Debug, Clone)]
pub struct NewFeedback {
    /// The answer it came from (None for a sentence written by rule).
    pub answer_id: Option<i64>,
    pub source: String,
    pub sentence: String,
    pub facts: Vec<String>,
    pub note: String,
    pub created_by: String,
}

/// A stored mark, with the prompt and the answer it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Feedback {
    pub id: i64,
    pub answer_id: Option<i64>,
    pub source: String,
    pub sentence: String,
    pub facts: Vec<String>,
    pub note: String,
    pub created_by: String,
    pub created_at: String,
    /// What the model was given, when a model wrote it.
    pub prompt: Option<String>,
    /// What the model answered, whole.
    pub answer: Option<String>,
}

pub async fn add_feedback(db: &Db, f: &NewFeedback) -> Result<i64, StoreError> {
    let mut tx = db.begin_write().await?;
    // One statement text per shape: PostgreSQL keeps the parameter types of a
    // statement's first use, so a NULL is not bound where a number goes.
    let q = match f.answer_id {
        Some(_) => {
            "INSERT INTO insight_feedback (source, sentence, facts, note, created_by, created_at, answer_id) \
                    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
        }
        None => {
            "INSERT INTO insight_feedback (source, sentence, facts, note, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
        }
    };
    let mut q = sqlx::query_scalar(q)
        .bind(&f.source)
        .bind(&f.sentence)
        .bind(serde_json::to_string(&f.facts)?)
        .bind(&f.note)
        .bind(&f.created_by)
        .bind(now_ms());
    if let Some(a) = f.answer_id {
        q = q.bind(a);
    }
    let id: i64 = q.fetch_one(tx.conn()).await?;
    tx.commit().await?;
    Ok(id)
}

/// The newest `limit` marks, newest first.
pub async fn list_feedback(db: &Db, limit: usize) -> Result<Vec<Feedback>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT f.id, f.answer_id, f.source, f.sentence, f.facts, f.note, f.created_by, f.created_at, \
         a.prompt, a.answer FROM insight_feedback f LEFT JOIN insight_answers a ON a.id = f.answer_id \
         ORDER BY f.id DESC LIMIT {}",
        limit.clamp(1, 1000)
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let facts: String = r.try_get("facts")?;
            Ok(Feedback {
                id: r.try_get("id")?,
                answer_id: r.try_get("answer_id")?,
                source: r.try_get("source")?,
                sentence: r.try_get("sentence")?,
                facts: serde_json::from_str(&facts)?,
                note: r.try_get("note")?,
                created_by: r.try_get("created_by")?,
                created_at: to_rfc3339(r.try_get("created_at")?),
                prompt: r.try_get("prompt")?,
                answer: r.try_get("answer")?,
            })
        })
        .collect()
}
