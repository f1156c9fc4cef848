//! The one polling helper: every wait in berth goes through [`until`].
//!
//! The interval starts short (most installs on a warm platform are quick), grows by
//! [`GROWTH`] per poll and stops growing at [`MAX_INTERVAL`], which keeps a long install at a
//! handful of requests a minute (mittwald's rate limit is per user, shared by all their jobs).

use std::{fmt, future::Future, time::Duration};
use tokio::time::Instant;

/// The first pause after the first poll.
pub const FIRST_INTERVAL: Duration = Duration::from_millis(500);
/// Each pause is this many times the one before.
pub const GROWTH: f64 = 1.5;
/// Pauses never grow beyond this.
pub const MAX_INTERVAL: Duration = Duration::from_secs(5);
/// A progress line is printed when the state changes, and at least this often otherwise.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// What one poll found.
pub enum Poll<T> {
    /// Done, with the result.
    Ready(T),
    /// Not yet; the state as users should read it in the progress line ("phase installing").
    Pending(String),
}

/// Waiting stopped without the resource becoming ready.
#[derive(Debug)]
pub enum WaitError {
    /// The deadline passed.
    Timeout {
        /// What was waited for.
        what: String,
        /// The last state seen.
        state: String,
        /// How long it waited.
        waited: Duration,
    },
    /// A poll failed for good.
    Failed(anyhow::Error),
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout {
                what,
                state,
                waited,
            } => write!(
                f,
                "timed out after {} waiting for {what}; still {state}",
                humantime::format_duration(round(*waited))
            ),
            Self::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for WaitError {}

fn round(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

/// Polls until `poll` answers [`Poll::Ready`], an error, or `deadline` passes. `what` names the
/// resource in progress lines ("installation a-abc123").
pub async fn until<T, F, Fut>(what: &str, deadline: Instant, mut poll: F) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Poll<T>>>,
{
    let start = Instant::now();
    let mut interval = FIRST_INTERVAL;
    let mut last_state: Option<String> = None;
    let mut last_line = start;
    // Folded in the CI log from the first "not yet" until this function returns or is dropped.
    let mut section = None;
    loop {
        let state = match poll().await.map_err(WaitError::Failed)? {
            Poll::Ready(value) => return Ok(value),
            Poll::Pending(state) => state,
        };
        section
            .get_or_insert_with(|| crate::ci::section(format_args!("berth: waiting for {what}")));
        let now = Instant::now();
        if last_state.as_ref() != Some(&state) || now - last_line >= PROGRESS_EVERY {
            crate::ci::info(format_args!(
                "waiting for {what}: {state} ({}s)",
                (now - start).as_secs()
            ));
            last_line = now;
        }
        last_state = Some(state);
        if now >= deadline {
            return Err(WaitError::Timeout {
                what: what.to_string(),
                state: last_state.unwrap_or_default(),
                waited: now - start,
            });
        }
        // Never sleep past the deadline: the last poll happens right at it.
        tokio::time::sleep_until((now + interval).min(deadline)).await;
        interval = interval.mul_f64(GROWTH).min(MAX_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn intervals_grow_to_the_cap_and_the_deadline_is_kept() {
        let start = Instant::now();
        let mut polls = Vec::new();
        let result: Result<(), _> = until("thing", start + Duration::from_secs(30), || {
            polls.push(Instant::now() - start);
            async { Ok(Poll::Pending("phase installing".into())) }
        })
        .await;
        let Err(WaitError::Timeout { state, waited, .. }) = result else {
            panic!("no timeout")
        };
        assert_eq!(state, "phase installing");
        assert_eq!(waited, Duration::from_secs(30));
        let gaps: Vec<_> = polls.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps[0], FIRST_INTERVAL);
        assert!(
            gaps.windows(2).all(|w| w[1] >= w[0] || w[1] < MAX_INTERVAL),
            "{gaps:?}"
        );
        assert!(gaps.iter().all(|g| *g <= MAX_INTERVAL));
        // 30 s of waiting costs about a dozen requests, not thirty.
        assert!(polls.len() <= 13, "{} polls", polls.len());
    }

    #[tokio::test(start_paused = true)]
    async fn a_ready_answer_ends_the_wait() {
        let mut n = 0;
        let value = until("thing", Instant::now() + Duration::from_secs(60), || {
            n += 1;
            let done = n == 3;
            async move {
                Ok(if done {
                    Poll::Ready(n)
                } else {
                    Poll::Pending("x".into())
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 3);
    }
}
