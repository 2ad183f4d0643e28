//! The epoch loop that every task's training runs, once: start, then per epoch
//! its batches, its validation and its record (the row of `results.csv`, the
//! weights, the state for `--resume`), the early stop on `patience`, and what a
//! stop request does between epochs; then the end of the run. What a task does
//! at each step is its [`EpochRun`]; [`run_epochs`] only orders the steps.

use std::sync::atomic::{AtomicBool, Ordering};

use super::error::TrainError;
use super::run::patience_exhausted;

/// What a stop request seen after a recorded epoch does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopBetween {
    /// The run ends here, the stop reported; `stopped` (whether epochs were
    /// left) goes to [`EpochRun::finish`].
    End {
        /// Whether the run ended before its last epoch.
        stopped: bool,
    },
    /// The run goes on: the next epoch's batches honour the request.
    Deferred,
}

/// One task's training run, prepared (new or resumed) and driven step by step by
/// [`run_epochs`].
///
/// The contract, in the order the loop calls the steps:
/// 1. [`start`](Self::start) once: report the start, start the clock.
/// 2. While [`next_epoch`](Self::next_epoch) names an epoch (the run keeps the
///    count: a resumed run starts where it stopped):
///    - [`train_epoch`](Self::train_epoch): the epoch's batches. `Ok(None)` when a
///      stop request ended the epoch early; before returning it the run has saved
///      what it keeps of a stopped epoch and reported the stop, and the loop goes
///      straight to `finish` with `stopped`.
///    - [`validate_epoch`](Self::validate_epoch): the model to keep (e.g. the
///      weight average) and, when validation is on, its report.
///    - [`record_epoch`](Self::record_epoch): the epoch's row of `results.csv`,
///      `best` / `last`, the state for `--resume` (which must now name the next
///      epoch) and the end-of-epoch event.
///    - early stop: when [`patience`](Self::patience) epochs have passed since
///      [`best_epoch`](Self::best_epoch), [`log_early_stop`](Self::log_early_stop)
///      and the run ends (not stopped).
///    - a stop request: [`stop_between_epochs`](Self::stop_between_epochs) says
///      whether the run ends here.
/// 3. [`finish`](Self::finish) once, with whether the run was stopped and the
///    last epoch's validation report: the final event and the summary.
///
/// Errors of any step end the run at once (the files already written stay).
/// Events go to the `observer` each step is handed, in the order they happen.
pub(crate) trait EpochRun {
    /// What the run reports while it runs (progress, epochs, the end).
    type Event;
    /// What an epoch's batches leave for its row and event (losses, speed).
    type Trained;
    /// The model validated and saved after an epoch.
    type Model;
    /// One validation's report.
    type Report;
    /// What the run returns at its end.
    type Summary;

    /// Reports the start and starts the clock.
    fn start(&mut self, observer: &mut dyn FnMut(&Self::Event));

    /// The epoch to run next (0-based), or `None` when all are done.
    fn next_epoch(&self) -> Option<usize>;

    /// The batches of `epoch`; `Ok(None)` when a stop request ended it early (the
    /// run has then saved what it keeps and reported the stop).
    fn train_epoch(
        &mut self,
        epoch: usize,
        observer: &mut dyn FnMut(&Self::Event),
        stop: &AtomicBool,
    ) -> Result<Option<Self::Trained>, TrainError>;

    /// The model to keep after `epoch`, and its validation when that is on.
    fn validate_epoch(
        &mut self,
        epoch: usize,
        observer: &mut dyn FnMut(&Self::Event),
    ) -> Result<(Self::Model, Option<Self::Report>), TrainError>;

    /// The end of `epoch`: its row, its weights, the state (naming the next
    /// epoch) and its event.
    fn record_epoch(
        &mut self,
        epoch: usize,
        model: &Self::Model,
        report: Option<&Self::Report>,
        trained: Self::Trained,
        observer: &mut dyn FnMut(&Self::Event),
    ) -> Result<(), TrainError>;

    /// The epoch with the best fitness so far, if any was recorded.
    fn best_epoch(&self) -> Option<usize>;

    /// Epochs without improvement after which the run ends early.
    fn patience(&self) -> usize;

    /// Logs why the run ends early (in the task's words).
    fn log_early_stop(&self);

    /// A stop request seen after a recorded epoch: whether the run ends here
    /// (reporting it) or goes on to honour it in the next epoch's batches.
    fn stop_between_epochs(&mut self, observer: &mut dyn FnMut(&Self::Event)) -> StopBetween;

    /// The end of the run: `stopped` when a stop request ended it with epochs
    /// left; `final_val` is the last recorded epoch's validation.
    fn finish(
        self,
        stopped: bool,
        final_val: Option<Self::Report>,
        observer: &mut dyn FnMut(&Self::Event),
    ) -> Result<Self::Summary, TrainError>;
}

/// Runs `run` to its end: [`EpochRun::start`], the epochs (see [`EpochRun`] for
/// the order of the steps), [`EpochRun::finish`]. `stop` is the stop request
/// (Ctrl-C, the API).
pub(crate) fn run_epochs<R: EpochRun>(
    mut run: R,
    observer: &mut dyn FnMut(&R::Event),
    stop: &AtomicBool,
) -> Result<R::Summary, TrainError> {
    run.start(observer);
    let mut stopped = false;
    let mut final_val = None;
    while let Some(epoch) = run.next_epoch() {
        let Some(trained) = run.train_epoch(epoch, observer, stop)? else {
            stopped = true;
            break;
        };
        let (model, report) = run.validate_epoch(epoch, observer)?;
        run.record_epoch(epoch, &model, report.as_ref(), trained, observer)?;
        final_val = report;
        if ends_early(&run, epoch) {
            run.log_early_stop();
            break;
        }
        if stop.load(Ordering::SeqCst)
            && let StopBetween::End { stopped: ended } = run.stop_between_epochs(observer)
        {
            stopped = ended;
            break;
        }
    }
    run.finish(stopped, final_val, observer)
}

/// Whether `patience` epochs have passed since the run's best one, after `epoch`.
fn ends_early<R: EpochRun>(run: &R, epoch: usize) -> bool {
    run.best_epoch()
        .is_some_and(|best| patience_exhausted(epoch, best, run.patience()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that writes each step the loop calls as an event, with the stops and
    /// the early stop it is told to meet.
    struct Script {
        epochs: usize,
        done: usize,
        /// The epoch whose batches a stop request ends.
        stop_in: Option<usize>,
        /// The best epoch the run reports (it never improves on it).
        best: Option<usize>,
        patience: usize,
        /// The answer to a stop request between epochs.
        between: StopBetween,
    }

    impl Script {
        fn new(epochs: usize) -> Script {
            Script {
                epochs,
                done: 0,
                stop_in: None,
                best: None,
                patience: 100,
                between: StopBetween::Deferred,
            }
        }
    }

    impl EpochRun for Script {
        type Event = String;
        type Trained = usize;
        type Model = usize;
        type Report = usize;
        type Summary = (bool, Option<usize>, usize);

        fn start(&mut self, observer: &mut dyn FnMut(&String)) {
            observer(&"start".into());
        }

        fn next_epoch(&self) -> Option<usize> {
            (self.done < self.epochs).then_some(self.done)
        }

        fn train_epoch(
            &mut self,
            epoch: usize,
            observer: &mut dyn FnMut(&String),
            _stop: &AtomicBool,
        ) -> Result<Option<usize>, TrainError> {
            if self.stop_in == Some(epoch) {
                observer(&format!("stopped in {epoch}"));
                return Ok(None);
            }
            observer(&format!("train {epoch}"));
            Ok(Some(epoch))
        }

        fn validate_epoch(
            &mut self,
            epoch: usize,
            observer: &mut dyn FnMut(&String),
        ) -> Result<(usize, Option<usize>), TrainError> {
            observer(&format!("validate {epoch}"));
            Ok((epoch, Some(10 + epoch)))
        }

        fn record_epoch(
            &mut self,
            epoch: usize,
            model: &usize,
            report: Option<&usize>,
            trained: usize,
            observer: &mut dyn FnMut(&String),
        ) -> Result<(), TrainError> {
            observer(&format!("record {epoch} {model} {report:?} {trained}"));
            self.done = epoch + 1;
            Ok(())
        }

        fn best_epoch(&self) -> Option<usize> {
            self.best
        }

        fn patience(&self) -> usize {
            self.patience
        }

        fn log_early_stop(&self) {}

        fn stop_between_epochs(&mut self, observer: &mut dyn FnMut(&String)) -> StopBetween {
            observer(&format!("stop after {}", self.done));
            self.between
        }

        fn finish(
            self,
            stopped: bool,
            final_val: Option<usize>,
            observer: &mut dyn FnMut(&String),
        ) -> Result<(bool, Option<usize>, usize), TrainError> {
            observer(&format!("finish {stopped}"));
            Ok((stopped, final_val, self.done))
        }
    }

    /// The events of `run` driven by [`run_epochs`] with the stop flag at `stop`,
    /// and its summary.
    fn drive(run: Script, stop: bool) -> (Vec<String>, (bool, Option<usize>, usize)) {
        let mut events = Vec::new();
        let summary = run_epochs(run, &mut |e: &String| events.push(e.clone()), &AtomicBool::new(stop));
        match summary {
            Ok(summary) => (events, summary),
            Err(e) => panic!("the scripted run failed: {e}"),
        }
    }

    #[test]
    fn every_epoch_is_trained_validated_and_recorded_in_order() {
        let (events, summary) = drive(Script::new(2), false);
        assert_eq!(
            events,
            [
                "start",
                "train 0",
                "validate 0",
                "record 0 0 Some(10) 0",
                "train 1",
                "validate 1",
                "record 1 1 Some(11) 1",
                "finish false"
            ]
        );
        assert_eq!(summary, (false, Some(11), 2));
    }

    #[test]
    fn a_resumed_run_starts_at_its_next_epoch() {
        let run = Script {
            done: 2,
            ..Script::new(3)
        };
        let (events, summary) = drive(run, false);
        assert_eq!(events[1], "train 2");
        assert_eq!(summary, (false, Some(12), 3));
    }

    #[test]
    fn a_stop_inside_an_epoch_ends_the_run_stopped_with_the_last_recorded_report() {
        let run = Script {
            stop_in: Some(1),
            ..Script::new(3)
        };
        let (events, summary) = drive(run, false);
        assert_eq!(&events[4..], ["stopped in 1", "finish true"]);
        assert_eq!(summary, (true, Some(10), 1));
    }

    #[test]
    fn patience_ends_the_run_not_stopped_and_before_a_stop_request_is_looked_at() {
        let run = Script {
            best: Some(0),
            patience: 2,
            ..Script::new(5)
        };
        // epoch 0 is the best; after epochs 1 and 2 without improvement the run ends
        let (events, summary) = drive(run, false);
        assert_eq!(events.last().map(String::as_str), Some("finish false"));
        assert_eq!(summary, (false, Some(12), 3));

        let run = Script {
            best: Some(0),
            patience: 0,
            between: StopBetween::End { stopped: true },
            ..Script::new(5)
        };
        let (events, summary) = drive(run, true);
        assert!(!events.iter().any(|e| e.starts_with("stop after")), "{events:?}");
        assert_eq!(summary, (false, Some(10), 1));

        // no best epoch yet: patience does not count
        let (_, summary) = drive(
            Script {
                patience: 0,
                ..Script::new(2)
            },
            false,
        );
        assert_eq!(summary.2, 2);
    }

    #[test]
    fn a_stop_request_between_epochs_is_the_runs_to_honour_or_defer() {
        let ending = Script {
            between: StopBetween::End { stopped: true },
            ..Script::new(3)
        };
        let (events, summary) = drive(ending, true);
        assert_eq!(&events[3..], ["record 0 0 Some(10) 0", "stop after 1", "finish true"]);
        assert_eq!(summary, (true, Some(10), 1));

        let (events, summary) = drive(Script::new(2), true);
        assert_eq!(events.iter().filter(|e| e.starts_with("stop after")).count(), 2);
        assert_eq!(summary, (false, Some(11), 2));
    }
}
