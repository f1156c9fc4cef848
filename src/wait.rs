//! The one polling helper: every wait in berth goes through [`until`].
//!
//! The interval starts short (most installs on a warm platform are quick) and grows by
//! [`GROWTH`] per poll up to a cap that follows the platform's rate-limit budget ([`Budget`]):
//! mittwald's limit is per user, shared by all of their jobs, so berth polls faster while most
//! of the window is left and backs off when little is.

use std::{
    fmt,
    future::Future,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};
use tokio::time::Instant;

/// The first pause after the first poll.
pub const FIRST_INTERVAL: Duration = Duration::from_millis(500);
/// Each pause is this many times the one before.
pub const GROWTH: f64 = 1.5;
/// Pauses never grow beyond this while the rate-limit budget is ordinary (between a tenth and
/// half of the window left).
pub const MAX_INTERVAL: Duration = Duration::from_secs(5);
/// ... while more than half of the window is left: finish sooner, the budget allows it.
pub const PLENTIFUL_MAX_INTERVAL: Duration = Duration::from_secs(2);
/// ... while less than a tenth is left: leave it to the user's other jobs.
pub const SCARCE_MAX_INTERVAL: Duration = Duration::from_secs(20);
/// ... when the platform sends no rate-limit headers (Cloud Foundry): the cf CLI's 3 s.
pub const UNKNOWN_BUDGET_MAX_INTERVAL: Duration = Duration::from_secs(3);
/// A progress line is printed when the state changes, and at least this often otherwise.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The rate-limit budget as the platform last reported it (`X-RateLimit-Remaining` of
/// `X-RateLimit-Limit`); every response updates it.
#[derive(Debug, Default)]
pub struct Budget {
    remaining: AtomicU64,
    /// 0 while no response has told.
    limit: AtomicU64,
}

impl Budget {
    /// Notes the rate-limit headers of a response, if it has them.
    pub fn observe(&self, headers: &reqwest::header::HeaderMap) {
        let number =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        if let (Some(remaining), Some(limit)) =
            (number("x-ratelimit-remaining"), number("x-ratelimit-limit"))
            && limit > 0
        {
            self.remaining.store(remaining, Ordering::Relaxed);
            self.limit.store(limit, Ordering::Relaxed);
        }
    }

    /// The longest pause between polls the budget allows.
    pub fn max_interval(&self) -> Duration {
        let limit = self.limit.load(Ordering::Relaxed);
        let remaining = self.remaining.load(Ordering::Relaxed);
        match limit {
            0 => UNKNOWN_BUDGET_MAX_INTERVAL,
            _ if remaining * 2 > limit => PLENTIFUL_MAX_INTERVAL,
            _ if remaining * 10 < limit => SCARCE_MAX_INTERVAL,
            _ => MAX_INTERVAL,
        }
    }
}

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
/// resource in progress lines ("installation a-abc123"); `budget` paces the polls.
pub async fn until<T, F, Fut>(
    what: &str,
    deadline: Instant,
    budget: &Budget,
    mut poll: F,
) -> Result<T, WaitError>
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
        // A plentiful budget shortens the pause at once; a scarce one lets it keep growing.
        interval = interval.mul_f64(GROWTH).min(budget.max_interval());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(remaining: u64, limit: u64) -> Budget {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-ratelimit-remaining", remaining.into());
        headers.insert("x-ratelimit-limit", limit.into());
        let budget = Budget::default();
        budget.observe(&headers);
        budget
    }

    fn ordinary() -> Budget {
        budget(200, 600)
    }

    #[test]
    fn the_cap_follows_the_rate_limit_budget() {
        assert_eq!(
            Budget::default().max_interval(),
            UNKNOWN_BUDGET_MAX_INTERVAL
        );
        assert_eq!(budget(500, 600).max_interval(), PLENTIFUL_MAX_INTERVAL);
        assert_eq!(budget(200, 600).max_interval(), MAX_INTERVAL);
        assert_eq!(budget(30, 600).max_interval(), SCARCE_MAX_INTERVAL);
    }

    #[tokio::test(start_paused = true)]
    async fn intervals_grow_to_the_cap_and_the_deadline_is_kept() {
        let start = Instant::now();
        let mut polls = Vec::new();
        let result: Result<(), _> = until(
            "thing",
            start + Duration::from_secs(30),
            &ordinary(),
            || {
                polls.push(Instant::now() - start);
                async { Ok(Poll::Pending("phase installing".into())) }
            },
        )
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
        let value = until(
            "thing",
            Instant::now() + Duration::from_secs(60),
            &Budget::default(),
            || {
                n += 1;
                let done = n == 3;
                async move {
                    Ok(if done {
                        Poll::Ready(n)
                    } else {
                        Poll::Pending("x".into())
                    })
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(value, 3);
    }
}
