//! Events every replica must hear at once: live inspection rows for the dashboards'
//! event streams, stage changes of models, changed settings.
//!
//! On PostgreSQL they travel by `NOTIFY` on a channel of the database schema in use
//! (two deployments, or two test runs, in one database each hear only their own), and
//! each replica keeps one `LISTEN` connection ([`Listener`]) that reconnects by
//! itself. A replica hears its own events too: each carries the sender's
//! `origin` so that the sender, which already delivered it in process, skips it.
//! SQLite is a single node: [`publish`] does nothing there and [`Listener::start`]
//! gives `None`.
//!
//! Delivery is at most once and only to listeners connected at the time (what
//! `NOTIFY` gives): the streams these feed are for screens, which reload what they
//! show from the database after a gap; nothing that must not be lost goes here.

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;

use crate::db::Backend;
use crate::{Db, StoreError};

/// Largest payload `NOTIFY` takes is 8000 bytes; events are far smaller, and a larger
/// one is refused rather than cut.
const MAX_PAYLOAD: usize = 7900;

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SharedEvent {
    /// A batch of predictions was stored (`POST /api/log`).
    Logged {
        camera_id: String,
        accepted: usize,
        defective: usize,
        uncertain: usize,
    },
    /// A model version changed stage: replicas that follow Production check now.
    ModelStage { task: String },
    /// Settings that replicas cache changed (`what` names them, e.g. `rules`).
    Settings { what: String },
}

/// An event with the replica that sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub origin: String,
    #[serde(flatten)]
    pub event: SharedEvent,
}

/// The channel of the schema `db` works in: `dd_events_` and a hash of the schema's
/// name (a channel name has at most 63 bytes; a schema name may be as long). Looked
/// up once per pool.
async fn channel(db: &Db) -> Result<String, StoreError> {
    if let Some(c) = db.events_channel.get() {
        return Ok(c.clone());
    }
    let schema: String = sqlx::query_scalar("SELECT current_schema()::TEXT")
        .fetch_one(db.pool())
        .await?;
    let c = format!("dd_events_{:016x}", detective_core::fnv::fnv1a(&[schema.as_bytes()]));
    let _ = db.events_channel.set(c.clone());
    Ok(c)
}

/// Tells every listening replica about `event`, sent by `origin`. Nothing on SQLite.
pub async fn publish(db: &Db, origin: &str, event: &SharedEvent) -> Result<(), StoreError> {
    if db.backend() != Backend::Postgres {
        return Ok(());
    }
    let payload = serde_json::to_string(&Envelope {
        origin: origin.to_string(),
        event: event.clone(),
    })
    .map_err(|e| StoreError::Invalid(format!("event: {e}")))?;
    if payload.len() > MAX_PAYLOAD {
        return Err(StoreError::Invalid(format!(
            "event of {} bytes is larger than NOTIFY takes",
            payload.len()
        )));
    }
    let channel = channel(db).await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// One replica's `LISTEN` connection.
pub struct Listener {
    inner: PgListener,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Listener {
    /// Starts listening (PostgreSQL); `None` on SQLite.
    pub async fn start(db: &Db) -> Result<Option<Listener>, StoreError> {
        if db.backend() != Backend::Postgres {
            return Ok(None);
        }
        let channel = channel(db).await?;
        let mut inner = PgListener::connect(db.full_url()).await?;
        inner.listen(&channel).await?;
        Ok(Some(Listener { inner }))
    }

    /// The next event. A lost connection is reopened (events sent meanwhile are
    /// missed); an undecodable payload is skipped with a warning.
    pub async fn recv(&mut self) -> Result<Envelope, StoreError> {
        loop {
            let n = self.inner.recv().await?;
            match serde_json::from_str::<Envelope>(n.payload()) {
                Ok(e) => return Ok(e),
                Err(e) => tracing::warn!("ignoring a shared event that does not decode: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_travels_as_flat_json_with_its_origin() {
        let e = Envelope {
            origin: "r1".into(),
            event: SharedEvent::Logged {
                camera_id: "cam".into(),
                accepted: 3,
                defective: 1,
                uncertain: 0,
            },
        };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"origin":"r1","kind":"logged","camera_id":"cam","accepted":3,"defective":1,"uncertain":0}"#
        );
        assert_eq!(serde_json::from_str::<Envelope>(&text).unwrap(), e);
    }

    #[tokio::test]
    async fn sqlite_has_no_listener_and_publishing_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite_file(&dir.path().join("d.db")).await.unwrap();
        assert!(Listener::start(&db).await.unwrap().is_none());
        publish(&db, "r", &SharedEvent::Settings { what: "rules".into() })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn replicas_on_one_schema_hear_each_other_and_not_another_schema() {
        let url = crate::testing::fresh_postgres_url().await.unwrap();
        let other = crate::testing::fresh_postgres_url().await.unwrap();
        let (a, b, c) = (
            Db::connect(&url).await.unwrap(),
            Db::connect(&url).await.unwrap(),
            Db::connect(&other).await.unwrap(),
        );
        let mut on_a = Listener::start(&a).await.unwrap().unwrap();
        let mut on_c = Listener::start(&c).await.unwrap().unwrap();
        let ev = SharedEvent::ModelStage { task: "detect".into() };
        publish(&b, "replica-b", &ev).await.unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), on_a.recv())
            .await
            .expect("replica A hears B's event")
            .unwrap();
        assert_eq!(got.origin, "replica-b");
        assert_eq!(got.event, ev);
        let leak = tokio::time::timeout(std::time::Duration::from_millis(500), on_c.recv()).await;
        assert!(leak.is_err(), "another schema's listener hears nothing: {leak:?}");
    }
}
