//! What a Roboflow job runs with and how it ends, and the watch on its cancel
//! flag: shared by the push and the pull.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use detective_store::integration_jobs;
use detective_store::{Db, Objects};
use detective_vision::DecodeLimits;

/// What a job runs with.
#[derive(Clone)]
pub struct JobEnv {
    pub db: Db,
    pub objects: Objects,
    pub limits: DecodeLimits,
    /// Roboflow's API (`https://api.roboflow.com`, or a stand-in in tests).
    pub base_url: String,
    /// Where a pull downloads its zip (removed after).
    pub work_dir: PathBuf,
    /// Most bytes a pulled zip may have.
    pub max_download: u64,
}

/// Watches a job's cancel flag in the database, for code that cannot await it.
pub(super) struct CancelWatch {
    flag: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl CancelWatch {
    pub(super) fn start(db: Db, id: i64) -> CancelWatch {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Ok(j) = integration_jobs::get(&db, id).await
                    && j.cancel
                {
                    f.store(true, Ordering::Relaxed);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        CancelWatch { flag, task }
    }

    pub(super) fn cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

impl Drop for CancelWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How a job ended.
pub(super) enum Outcome {
    Done(serde_json::Value, String),
    Cancelled(String),
}
