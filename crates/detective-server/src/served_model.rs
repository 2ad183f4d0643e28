//! The detector behind `/api/inference/predict` (without `?model=`) and the
//! live stream, swappable while the server runs: with `serve --model
//! production` a follower task loads the registry's Production detect version
//! whenever it changes (a stage change wakes it at once; it also re-checks
//! periodically, for changes made by other replicas) and swaps it in between
//! two requests. A request holds its own handle on the pool it started with,
//! so none fails during a swap.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::PredictorPool;
use crate::state::AppState;

/// The served pool and, when it came from the registry, its version.
#[derive(Default)]
pub struct ServedModel {
    current: RwLock<Option<(Arc<PredictorPool>, Option<i64>)>>,
    /// Woken when a version becomes Production.
    pub changed: tokio::sync::Notify,
}

impl ServedModel {
    pub fn new(pool: Option<PredictorPool>) -> Self {
        ServedModel {
            current: RwLock::new(pool.map(|p| (Arc::new(p), None))),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The pool requests use now.
    pub fn pool(&self) -> Option<Arc<PredictorPool>> {
        self.get().map(|(p, _)| p)
    }

    /// The pool and its registry version (None for a file given on the command line).
    pub fn get(&self) -> Option<(Arc<PredictorPool>, Option<i64>)> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Serves `pool` from now on.
    pub fn set(&self, pool: Arc<PredictorPool>, version: Option<i64>) {
        match self.current.write() {
            Ok(mut g) => *g = Some((pool, version)),
            Err(poisoned) => *poisoned.into_inner() = Some((pool, version)),
        }
    }
}

/// Keeps the served detector on the registry's Production detect version:
/// checks at start, after every promotion, and every `poll`. Until a version is
/// in Production the model the server started with stays. Runs until the
/// server's runtime ends.
pub async fn follow_production(st: AppState, poll: Duration) {
    loop {
        match detective_store::models::at_stage(&st.db, None, "detect", "Production").await {
            Ok(Some(v)) => {
                let id = format!("{}@{}", v.name, v.version);
                let current = st.served.get();
                let same = current
                    .as_ref()
                    .is_some_and(|(p, ver)| p.name == v.name && *ver == Some(v.version));
                if !same {
                    match st.models.get(&st, &id).await {
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
