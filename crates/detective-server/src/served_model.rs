//! The model of one task that the server serves — the detector behind
//! `/api/inference/predict` (without `?model=`) and the live stream, the
//! segmenter behind `task=segment` — swappable while the server runs (see
//! [`crate::production_follower`]): the swap happens between two requests, and
//! a request holds its own handle on the pool it started with, so none fails
//! during a swap.

use std::sync::{Arc, RwLock};

use detective_ml::detect::detector::Detector;

use crate::PredictorPool;

/// A served pool.
type Served<M> = Option<(Arc<PredictorPool<M>>, Option<i64>)>;

/// The served pool and, when it came from the registry, its version.
pub struct ServedModel<M = Detector> {
    current: RwLock<Served<M>>,
    /// Woken when a version becomes Production.
    pub changed: tokio::sync::Notify,
}

impl<M: Send + Sync + 'static> ServedModel<M> {
    pub fn new(pool: Option<PredictorPool<M>>) -> Self {
        ServedModel {
            current: RwLock::new(pool.map(|p| (Arc::new(p), None))),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The pool requests use now.
    pub fn pool(&self) -> Option<Arc<PredictorPool<M>>> {
        self.get().map(|(p, _)| p)
    }

    /// The pool and its registry version (None for a file given on the command line).
    pub fn get(&self) -> Served<M> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Serves `pool` from now on.
    pub fn set(&self, pool: Arc<PredictorPool<M>>, version: Option<i64>) {
        match self.current.write() {
            Ok(mut g) => *g = Some((pool, version)),
            Err(poisoned) => *poisoned.into_inner() = Some((pool, version)),
        }
    }
}
