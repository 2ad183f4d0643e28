//! `serve --model production` and `serve --segment-model production`: tasks that
//! keep the served detector, or the served segmenter, on the registry's
//! Production version of their task. Each loads the version whenever it changes
//! — a stage change on this replica wakes it at once, and it re-checks
//! periodically for changes made by other replicas — and swaps it into its
//! [`crate::served_model::ServedModel`].

use std::sync::Arc;
use std::time::Duration;

use detective_core::{Stage, Task};
use detective_store::models::ModelVersion;

use crate::PredictorPool;
use crate::problem::ApiError;
use crate::served_model::ServedModel;
use crate::state::AppState;

/// Keeps the served detector on the registry's Production detect version:
/// checks at start, after every promotion, and every `poll`. Until a version is
/// in Production the model the server started with stays. Runs until the
/// server's runtime ends.
pub async fn follow_production(st: AppState, poll: Duration) {
    let served = st.served.clone();
    follow(&st, Task::Detect, &served, poll, |st, id| async move {
        st.models.get(&st.db, &st.objects, &id).await
    })
    .await
}

/// The same for the served segmenter and the Production segment version (until
/// there is one, `task=segment` answers 404 unless a file was given).
pub async fn follow_segment_production(st: AppState, poll: Duration) {
    let served = st.segmenter.clone();
    follow(&st, Task::Segment, &served, poll, |st, id| async move {
        st.models.segmenter(&st.db, &st.objects, &id).await
    })
    .await
}

/// The loop of both: `load` turns `name@version` into a pool.
async fn follow<M, F, Fut>(st: &AppState, task: Task, served: &Arc<ServedModel<M>>, poll: Duration, load: F)
where
    M: Send + Sync + 'static,
    F: Fn(AppState, String) -> Fut,
    Fut: std::future::Future<Output = Result<(ModelVersion, Arc<PredictorPool<M>>), ApiError>>,
{
    loop {
        match detective_store::models::at_stage(&st.db, None, Some(task), Stage::Production).await {
            Ok(Some(v)) => {
                let id = format!("{}@{}", v.name, v.version);
                let current = served.get();
                let same = current
                    .as_ref()
                    .is_some_and(|(p, ver)| p.name == v.name && *ver == Some(v.version));
                if !same {
                    match load(st.clone(), id.clone()).await {
                        Ok((v, pool)) => {
                            let was = current.map_or("nothing".to_string(), |(p, ver)| match ver {
                                Some(n) => format!("{}@{n}", p.name),
                                None => p.name.clone(),
                            });
                            served.set(pool, Some(v.version));
                            tracing::info!("serving {id} (Production {task}) instead of {was}");
                        }
                        Err(e) => tracing::warn!("cannot load the Production {task} model {id}: {}", e.detail),
                    }
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("checking the Production {task} model: {e}"),
        }
        let _ = tokio::time::timeout(poll, served.changed.notified()).await;
    }
}
