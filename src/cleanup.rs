//! What berth must undo or finish itself, whatever ends the run: the job runs every registered
//! cleanup after the flow is done, failed, out of time or interrupted, all of them within one
//! short grace ([`crate::job::GRACE`]) so that everything after a signal fits in a CI
//! platform's cancel window. A second signal ends the grace at once. A cleanup that fails or
//! is cut short becomes a warning naming what was left behind; it never changes the exit code.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
};
use tokio::time::Instant;

type Action =
    Box<dyn FnOnce(Instant) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> + Send>;

/// The cleanups of a run, shared between the flow (which adds and dismisses them) and the job
/// (which runs what is left).
#[derive(Clone, Default)]
pub struct Cleanups(Arc<Mutex<Registry>>);

#[derive(Default)]
struct Registry {
    next: u64,
    pending: Vec<(u64, String, Action)>,
}

impl std::fmt::Debug for Cleanups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.pending()).finish()
    }
}

/// Names a cleanup, to [`Cleanups::dismiss`] it once it is no longer needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupId(u64);

/// How the cleanups went.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// What was cleaned up.
    pub done: Vec<String>,
    /// What was left behind, each with why: a warning for the user.
    pub left: Vec<String>,
}

impl Cleanups {
    /// Registers `action`, described by `what` ("temporary SSH user ssh-abc123", as the user
    /// would look for it), to run when the job ends unless dismissed before. It is handed the
    /// end of the grace: the run's deadline may have passed, so its requests need a policy with
    /// this deadline instead (`api::Policy::until`).
    pub fn add<F, Fut>(&self, what: impl Into<String>, action: F) -> CleanupId
    where
        F: FnOnce(Instant) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let mut registry = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        registry.next += 1;
        let id = registry.next;
        let action: Action = Box::new(move |grace_end| Box::pin(action(grace_end)));
        registry.pending.push((id, what.into(), action));
        CleanupId(id)
    }

    /// Drops a cleanup the flow no longer needs (it did the work itself, say).
    pub fn dismiss(&self, id: CleanupId) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pending
            .retain(|(i, _, _)| *i != id.0);
    }

    /// What is registered, in the order it was added.
    pub fn pending(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pending
            .iter()
            .map(|(_, what, _)| what.clone())
            .collect()
    }

    /// Runs every registered cleanup, the latest first (as things are torn down in the reverse
    /// order they were set up), until `grace_end` or until `cut_short` resolves (a second
    /// signal); what did not finish is reported as left.
    pub async fn run(&self, grace_end: Instant, cut_short: impl Future<Output = ()>) -> Report {
        let mut pending = std::mem::take(
            &mut self
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pending,
        );
        let mut report = Report::default();
        tokio::pin!(cut_short);
        let mut stopped: Option<&str> = None;
        while let Some((_, what, action)) = pending.pop() {
            if let Some(why) = stopped {
                report.left.push(format!("{what} ({why})"));
                continue;
            }
            tokio::select! {
                biased;
                () = &mut cut_short => {
                    stopped = Some("a second signal ended the cleanup");
                    report.left.push(format!("{what} ({})", "a second signal ended the cleanup"));
                }
                () = tokio::time::sleep_until(grace_end) => {
                    stopped = Some("the cleanup ran out of time");
                    report.left.push(format!("{what} (the cleanup ran out of time)"));
                }
                result = action(grace_end) => match result {
                    Ok(()) => report.done.push(what),
                    Err(e) => report.left.push(format!("{what} ({e:#})")),
                },
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn cleanups_run_latest_first_and_failures_name_what_was_left() {
        let cleanups = Cleanups::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        for name in ["first", "second"] {
            let order = order.clone();
            cleanups.add(format!("thing {name}"), move |_| async move {
                order.lock().unwrap().push(name);
                Ok(())
            });
        }
        cleanups.add("temporary user u-1", |_| async {
            Err(anyhow::anyhow!("HTTP 500: try later"))
        });
        let dismissed = cleanups.add("nothing", |_| async { panic!("dismissed, never run") });
        cleanups.dismiss(dismissed);
        let report = cleanups
            .run(
                Instant::now() + Duration::from_secs(5),
                std::future::pending(),
            )
            .await;
        assert_eq!(*order.lock().unwrap(), ["second", "first"]);
        assert_eq!(report.done, ["thing second", "thing first"]);
        assert_eq!(report.left, ["temporary user u-1 (HTTP 500: try later)"]);
        assert!(cleanups.pending().is_empty(), "each runs once");
    }

    #[tokio::test(start_paused = true)]
    async fn the_grace_bounds_all_cleanups_together() {
        let cleanups = Cleanups::default();
        cleanups.add("slow one", |_| async {
            tokio::time::sleep(Duration::from_secs(4)).await;
            Ok(())
        });
        cleanups.add("hanging one", |_| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        });
        let start = Instant::now();
        let report = cleanups
            .run(start + Duration::from_secs(6), std::future::pending())
            .await;
        assert_eq!(start.elapsed(), Duration::from_secs(6));
        assert!(report.done.is_empty());
        assert_eq!(
            report.left,
            [
                "hanging one (the cleanup ran out of time)",
                "slow one (the cleanup ran out of time)"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_signal_ends_the_grace_at_once() {
        let cleanups = Cleanups::default();
        let handed = Arc::new(Mutex::new(None));
        let seen = handed.clone();
        cleanups.add("deployment d-1", move |grace_end| async move {
            *seen.lock().unwrap() = Some(grace_end);
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok(())
        });
        let start = Instant::now();
        let report = cleanups
            .run(
                start + Duration::from_secs(6),
                tokio::time::sleep(Duration::from_secs(1)),
            )
            .await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert_eq!(
            report.left,
            ["deployment d-1 (a second signal ended the cleanup)"]
        );
        assert_eq!(
            *handed.lock().unwrap(),
            Some(start + Duration::from_secs(6)),
            "the cleanup is told the end of the grace, to send its requests by"
        );
    }
}
