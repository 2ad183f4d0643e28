//! What every frame source is and the pieces that several kinds of source share: the
//! [`FrameSource`] trait, the source error that names the URI ([`bad`]) and the
//! reconnect [`Backoff`] of sources that reopen after a failure.
//!
//! They live apart from [`crate::source`], which picks a source by URI and so refers
//! to every kind, so that kinds in files of their own (the V4L2 camera in
//! [`crate::v4l2`] and `v4l2_device`) can use them without importing `source` back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use detective_vision::Frame;

use crate::EdgeError;

/// A stream of frames.
pub trait FrameSource: Send {
    /// The next frame, `None` at the end.
    fn next_frame(&mut self) -> Result<Option<Frame>, EdgeError>;
    /// What it is, for logs.
    fn describe(&self) -> String;
}

/// A source error naming the URI.
pub(crate) fn bad(uri: &str, reason: impl Into<String>) -> EdgeError {
    EdgeError::Source {
        source_name: uri.to_string(),
        reason: reason.into(),
    }
}

/// The wait before reconnect attempt `n` (0-based): 1 s doubling to 30 s.
pub fn reconnect_delay(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5)).min(Duration::from_secs(30))
}

/// Reconnect waits of one source: the delay grows with each failure in a row
/// ([`reconnect_delay`]) and is slept in short steps so a stop is seen at once.
pub struct Backoff {
    failures: u32,
    stop: Arc<AtomicBool>,
}

impl Backoff {
    pub fn new(stop: Arc<AtomicBool>) -> Self {
        Backoff { failures: 0, stop }
    }

    /// True once the agent is stopping.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A frame arrived: the next failure waits the shortest delay again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// After a failure of `what`: waits the backoff; false when stopped meanwhile.
    pub fn wait(&mut self, what: &str) -> bool {
        let d = reconnect_delay(self.failures);
        self.failures += 1;
        tracing::warn!("{what}: retrying in {} s", d.as_secs());
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.stopped() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50).min(end.saturating_duration_since(Instant::now())));
        }
        !self.stopped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_waits_double_from_one_second_up_to_thirty() {
        let secs: Vec<u64> = (0..8).map(|a| reconnect_delay(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
