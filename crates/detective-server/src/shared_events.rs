//! What this replica tells the others, and hears from them, at once: stored batches
//! (the dashboards' live event streams), stage changes (servers that follow
//! Production load the new model now, not at their next poll) and changed
//! thresholds or rules (the 5-second caches are dropped). The transport is
//! [`detective_store::shared_events`]: PostgreSQL's `NOTIFY`, nothing on SQLite.
//!
//! [`AppState::announce`] applies an event in this process and publishes it;
//! [`listen`] (started by [`crate::serve`]) applies the others' events here.

use std::time::Duration;

use detective_store::shared_events::{Listener, SharedEvent};

use crate::state::{AppState, LoggedEvent};

impl AppState {
    /// Applies `event` here and tells the other replicas. A failed publish is
    /// logged, not returned: the change itself is stored, and the other replicas'
    /// polls and 5-second caches catch up without the event.
    pub async fn announce(&self, event: SharedEvent) {
        self.apply_shared(&event);
        if let Err(e) = detective_store::shared_events::publish(&self.db, &self.replica, &event).await {
            tracing::warn!("telling the other replicas ({event:?}): {e}");
        }
    }

    /// What an event changes in this process.
    fn apply_shared(&self, event: &SharedEvent) {
        match event {
            SharedEvent::Logged {
                camera_id,
                accepted,
                defective,
                uncertain,
            } => {
                // Nobody listening is fine.
                let _ = self.logged.send(LoggedEvent {
                    camera_id: camera_id.clone(),
                    accepted: *accepted,
                    defective: *defective,
                    uncertain: *uncertain,
                });
            }
            SharedEvent::ModelStage { .. } => {
                self.served.changed.notify_one();
                self.segmenter.changed.notify_one();
            }
            SharedEvent::Settings { .. } => {
                self.live_thresholds.forget();
                self.live_rules.forget();
            }
        }
    }
}

/// Hears the other replicas' events until the process ends (PostgreSQL; returns at
/// once on SQLite). A lost connection is reopened with backoff (1 s doubling to 30 s).
pub async fn listen(st: AppState) {
    let mut backoff = Duration::from_secs(1);
    loop {
        match Listener::start(&st.db).await {
            Ok(None) => return,
            Ok(Some(mut listener)) => {
                backoff = Duration::from_secs(1);
                loop {
                    match listener.recv().await {
                        Ok(env) if env.origin == *st.replica => {}
                        Ok(env) => st.apply_shared(&env.event),
                        Err(e) => {
                            tracing::warn!("the other replicas' events: {e}; listening again");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("cannot listen for the other replicas' events: {e}; retrying in {backoff:?}"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
