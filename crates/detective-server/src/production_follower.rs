//! `serve --model production`: a task that keeps the served detector on the
//! registry's Production detect version. It loads the version whenever it
//! changes — a stage change on this replica wakes it at once, and it re-checks
//! periodically for changes made by other replicas — and swaps it into
//! [`crate::served_model::ServedModel`].

use std::time::Duration;

use detective_core::{Stage, Task};

use crate::state::AppState;

/// Keeps the served detector on the registry's Production detect version:
/// checks at start, after every promotion, and every `poll`. Until a version is
/// in Production the model the server started with stays. Runs until the
/// server's runtime ends.
pub async fn follow_production(st: AppState, poll: Duration) {
    loop {
        match detective_store::models::at_stage(&st.db, None, Some(Task::Detect), Stage::Production).await {
            Ok(Some(v)) => {
                let id = format!("{}@{}", v.name, v.version);
                let current = st.served.get();
                let same = current
                    .as_ref()
                    .is_some_and(|(p, ver)| p.name == v.name && *ver == Some(v.version));
                if !same {
                    match st.models.get(&st.db, &st.objects, &id).await {
                        Ok((v, pool)) => {
                            let was = current.map_or("nothing".to_string(), |(p, ver)| match ver {
                                Some(n) => format!("{}@{n}", p.name),
                                None => p.name.clone(),
                            });
                            st.served.set(pool, Some(v.version));
                            tracing::info!("serving {id} (Production) instead of {was}");
                        }
                        Err(e) => tracing::warn!("cannot load the Production model {id}: {}", e.detail),
                    }
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("checking the Production model: {e}"),
        }
        let _ = tokio::time::timeout(poll, st.served.changed.notified()).await;
    }
}
