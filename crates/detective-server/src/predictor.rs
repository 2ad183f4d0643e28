//! The bounded worker pool in front of a model (the detector or the segmenter):
//! at most `workers`
//! predictions run at once (on blocking threads) and at most `max_waiting`
//! requests wait for a slot; any more are answered 503 with `Retry-After` at
//! once, so a burst of clients can never pile up an unbounded queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use detective_ml::detect::detector::Detector;
use tokio::sync::Semaphore;

use crate::problem::ApiError;

/// A loaded model and the slots to run it.
pub struct PredictorPool<M = Detector> {
    model: Arc<M>,
    /// Name the model is served under (`bundled`, or the file stem).
    pub name: String,
    /// Where it came from (path, or `bundled`).
    pub source: String,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    workers: usize,
}

/// Decrements the waiting count when the waiter leaves, however it leaves.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<M: Send + Sync + 'static> PredictorPool<M> {
    pub fn new(model: M, name: String, source: String, workers: usize, max_waiting: usize) -> Self {
        let workers = workers.max(1);
        PredictorPool {
            model: Arc::new(model),
            name,
            source,
            slots: Arc::new(Semaphore::new(workers)),
            waiting: AtomicUsize::new(0),
            max_waiting,
            workers,
        }
    }

    pub fn model(&self) -> &M {
        &self.model
    }

    /// Predictions running now and requests waiting for a slot.
    pub fn load(&self) -> (usize, usize) {
        (
            self.workers - self.slots.available_permits(),
            self.waiting.load(Ordering::SeqCst),
        )
    }

    /// Runs `f` with the model on a blocking thread once a slot is free, or
    /// refuses at once when too many requests are already waiting.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&M) -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(ApiError::busy(
                        format!(
                            "the model is busy ({} running, {} waiting); retry shortly",
                            self.workers, self.max_waiting
                        ),
                        1,
                    ));
                }
                let _w = Waiting(&self.waiting);
                self.slots
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| ApiError::internal("predictor pool closed"))?
            }
        };
        let model = self.model.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&model)
        })
        .await
        .map_err(|e| ApiError::internal(format!("prediction task failed: {e}")))
    }
}
