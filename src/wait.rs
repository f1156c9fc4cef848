//! The one polling helper: every wait in berth goes through [`until`].
//!
//! The pause between polls is one formula, [`pause`], of the time waited and the share of the
//! platform's rate-limit window left ([`Budget`]): mittwald's limit is per user, shared by all of
//! their jobs, so berth reads as often as the mw CLI while most of the window is left and backs
//! off, steeply, when little is.

use crate::api::Policy;
pub use crate::api::budget::Budget;
use std::{future::Future, time::Duration};
use tokio::time::Instant;

/// The pause while the budget is plentiful and the wait young: the mw CLI's one second.
///
/// A reader that is to be neither later nor dearer than a 1 s poller, whenever the resource turns
/// ready, must read when that poller reads: its k-th read may come no earlier than the k-th
/// second (or it sends more requests) and no later (or it sees the resource later). A shorter
/// first pause wins a few hundred milliseconds on quick installs for more requests than the mw
/// CLI's; a growing one saves requests and loses up to a pause. berth's edge is elsewhere: it
/// starts in milliseconds, where a Node.js CLI takes a quarter of a second.
pub const PACE: Duration = Duration::from_secs(1);
/// The pace holds for this much time waited; from then on the pause is the same share of the
/// time waited ([`PACE`] × waited / `PACE_HOLDS_FOR`: 2 s at two minutes): a second matters less
/// the longer the wait, so a long install costs requests in proportion to the logarithm of its
/// length, not to its length, and is seen ready at most a sixtieth of the time waited late.
pub const PACE_HOLDS_FOR: Duration = Duration::from_secs(60);
/// While more than this share of the window is left the budget is plentiful and does not slow
/// the pace; below it the pause grows with the square of `PLENTIFUL_SHARE / share left`: a
/// third left, 2.25 ×; a quarter, 4 ×; a tenth, 25 ×, which [`MAX_PAUSE`] caps. The square makes
/// the back-off gentle just below half and steep near the end: with a tenth of the window or
/// less left, berth sends a third of a 1 s poller's requests or fewer on a half-minute install.
pub const PLENTIFUL_SHARE: f64 = 0.5;
/// No pause is longer, whatever the budget or the time waited: a resource that is ready is seen
/// within this.
pub const MAX_PAUSE: Duration = Duration::from_secs(20);
/// When the platform sends no rate-limit headers (Cloud Foundry), the budget is unknown: the
/// pause starts at this ...
pub const UNKNOWN_BUDGET_FIRST_PAUSE: Duration = Duration::from_millis(500);
/// ... plus this share of the time waited (the same as 1.5 times the pause before, per poll) ...
pub const UNKNOWN_BUDGET_GROWTH: f64 = 0.5;
/// ... up to the cf CLI's 3 s: quick stages and starts are seen soon, and once a wait is long the
/// Cloud Controller, whose limits berth cannot see, is read no more often than the cf CLI reads it.
pub const UNKNOWN_BUDGET_MAX_PAUSE: Duration = Duration::from_secs(3);
/// A progress line is printed when the state changes, and at least this often otherwise.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The pause before the next poll, `waited` into a wait, with `share_left` of the rate-limit
/// window left (`None`: unknown). Continuous and never shorter as time passes or the budget
/// shrinks; see the constants for why each part is as it is.
pub fn pause(waited: Duration, share_left: Option<f64>) -> Duration {
    let Some(share_left) = share_left else {
        return (UNKNOWN_BUDGET_FIRST_PAUSE + waited.mul_f64(UNKNOWN_BUDGET_GROWTH))
            .min(UNKNOWN_BUDGET_MAX_PAUSE);
    };
    let by_time = PACE.max(PACE.mul_f64(waited.as_secs_f64() / PACE_HOLDS_FOR.as_secs_f64()));
    // Nothing left at all stretches without bound; beyond MAX_PAUSE / PACE the cap decides anyway.
    let stretch = (PLENTIFUL_SHARE / share_left.max(f64::MIN_POSITIVE))
        .max(1.0)
        .powi(2)
        .min(MAX_PAUSE.as_secs_f64() / PACE.as_secs_f64());
    by_time.mul_f64(stretch).min(MAX_PAUSE)
}

/// What one poll found.
pub enum Poll<T> {
    /// Done, with the result.
    Ready(T),
    /// Not yet; the state as users should read it in the progress line ("phase installing").
    Pending(String),
}

/// Waiting stopped without the resource becoming ready.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The deadline passed.
    #[error(
        "timed out after {} waiting for {what}; still {state}",
        humantime::format_duration(Duration::from_secs(waited.as_secs()))
    )]
    Timeout {
        /// What was waited for.
        what: String,
        /// The last state seen.
        state: String,
        /// How long it waited.
        waited: Duration,
    },
    /// A poll failed for good.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// Polls until `poll` answers [`Poll::Ready`], an error, or `deadline` passes. `what` names the
/// resource in progress lines ("installation a-abc123"); the policy's budget paces the polls,
/// and its activity says what is waited for (what a timeout of the run names as pending).
///
/// No poll starts after the deadline: when the next one would come at or after it, the wait
/// sleeps until the deadline and times out with the state last seen.
pub async fn until<T, F, Fut>(
    what: &str,
    deadline: Instant,
    policy: &Policy,
    mut poll: F,
) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Poll<T>>>,
{
    let start = Instant::now();
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
        policy
            .activity
            .set(format!("waiting for {what}; still {state}"));
        // The budget as the last answer told it: a scarcer one slows the very next poll.
        let next = now + pause(now - start, policy.budget.share_left());
        if next >= deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(WaitError::Timeout {
                what: what.to_string(),
                state,
                waited: Instant::now() - start,
            });
        }
        last_state = Some(state);
        tokio::time::sleep_until(next).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_with(budget: Budget) -> Policy {
        Policy {
            budget: std::sync::Arc::new(budget),
            ..Policy::until(Instant::now(), crate::outputs::Activity::default())
        }
    }

    fn budget(remaining: u64, limit: u64) -> Budget {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-ratelimit-remaining", remaining.into());
        headers.insert("x-ratelimit-limit", limit.into());
        let budget = Budget::default();
        budget.observe(&headers);
        budget
    }

    #[test]
    fn the_pause_keeps_the_pace_while_the_budget_is_plentiful_and_stretches_smoothly_below_half() {
        let at = |waited: u64, share: Option<f64>| pause(Duration::from_secs(waited), share);
        assert_eq!(at(0, Some(1.0)), PACE);
        assert_eq!(at(59, Some(PLENTIFUL_SHARE + 0.01)), PACE);
        assert_eq!(at(0, Some(0.25)), PACE * 4);
        assert_eq!(at(0, Some(0.1)), MAX_PAUSE);
        assert_eq!(at(0, Some(0.0)), MAX_PAUSE);
        assert_eq!(at(120, Some(1.0)), PACE * 2);
        assert_eq!(at(24 * 3600, Some(1.0)), MAX_PAUSE);
        // No step anywhere: a thousandth less of the window lengthens the pause by little, and
        // never shortens it; nor does waiting longer.
        let mut before = at(0, Some(1.0));
        for thousandths in (0..1000).rev() {
            let now = at(0, Some(f64::from(thousandths) / 1000.0));
            assert!(
                now >= before,
                "{thousandths}/1000 left: {now:?} < {before:?}"
            );
            assert!(
                now - before < Duration::from_millis(700),
                "{thousandths}/1000 left"
            );
            before = now;
        }
        for share in [None, Some(1.0), Some(0.3)] {
            let mut before = at(0, share);
            for waited in 1..3600 {
                let now = at(waited, share);
                assert!(now >= before && now - before <= Duration::from_millis(500));
                before = now;
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_rate_limit_headers_pauses_grow_to_the_cf_clis_three_seconds_and_the_deadline_is_kept()
     {
        let start = Instant::now();
        let mut polls = Vec::new();
        let result: Result<(), _> = until(
            "thing",
            start + Duration::from_secs(30),
            &policy_with(Budget::default()),
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
        // 0.5 s, then 1.5 times the pause before, as berth has always waited on Cloud Foundry.
        assert_eq!(gaps[..3], [500, 750, 1125].map(Duration::from_millis));
        // Never shorter, but for the last, cut short by the deadline.
        assert!(
            gaps[..gaps.len() - 1].windows(2).all(|w| w[1] >= w[0]),
            "{gaps:?}"
        );
        assert!(gaps.iter().all(|g| *g <= UNKNOWN_BUDGET_MAX_PAUSE));
        // 30 s of waiting costs about a dozen requests, not thirty.
        assert!(polls.len() <= 14, "{} polls", polls.len());
    }

    /// Requests berth sends on a fresh install besides its polls: the app's versions, the
    /// project's installations, the POST, and the look for a racing twin after it.
    const BERTH_OTHER_REQUESTS: u32 = 4;
    /// ... and the mw CLI's flow: the app's versions and the POST.
    const PEER_OTHER_REQUESTS: u32 = 2;
    /// Ready times that fall between a 1 s poller's reads (issue 10, point 7).
    const READY_AFTER_MS: [u64; 4] = [2_300, 5_400, 10_600, 30_500];

    /// One wait through [`until`] for a resource that turns ready `ready_after` into it, each
    /// poll spending one request of a window of `limit` with `left` remaining at the start.
    /// Returns the polls sent and when the wait saw the resource ready.
    async fn wait_for(ready_after: Duration, left: u64, limit: u64) -> (u32, Duration) {
        let start = Instant::now();
        let policy = policy_with(budget(left, limit));
        let budget = &policy.budget;
        let mut polls = 0;
        until("thing", start + Duration::from_secs(3600), &policy, || {
            polls += 1;
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(
                "x-ratelimit-remaining",
                left.saturating_sub(polls.into()).into(),
            );
            headers.insert("x-ratelimit-limit", limit.into());
            budget.observe(&headers);
            let ready = Instant::now() - start >= ready_after;
            async move {
                Ok(if ready {
                    Poll::Ready(())
                } else {
                    Poll::Pending("phase installing".into())
                })
            }
        })
        .await
        .unwrap();
        (polls, Instant::now() - start)
    }

    /// The mw CLI's flow: a read right away, then one every second until ready.
    fn one_second_poller(ready_after: Duration) -> (u32, Duration) {
        let (mut polls, mut at) = (1, Duration::ZERO);
        while at < ready_after {
            polls += 1;
            at += Duration::from_secs(1);
        }
        (polls, at)
    }

    /// Berth with `left` of `limit` against the 1 s poller: (berth's requests, its delay,
    /// the poller's requests, its delay), requests counted for the whole install.
    async fn against_the_poller(
        ready_after: Duration,
        left: u64,
    ) -> (u32, Duration, u32, Duration) {
        let (polls, seen) = wait_for(ready_after, left, 600).await;
        let (peer_polls, peer_seen) = one_second_poller(ready_after);
        (
            polls + BERTH_OTHER_REQUESTS,
            seen - ready_after,
            peer_polls + PEER_OTHER_REQUESTS,
            peer_seen - ready_after,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn with_budget_to_spare_a_wait_never_loses_to_a_one_second_poller() {
        for ms in READY_AFTER_MS {
            let (requests, delay, peer_requests, peer_delay) =
                against_the_poller(Duration::from_millis(ms), 599).await;
            assert!(
                delay <= peer_delay,
                "ready after {ms} ms: seen {delay:?} late, the 1 s poller {peer_delay:?}"
            );
            assert!(
                requests <= peer_requests + 2,
                "ready after {ms} ms: {requests} requests, the 1 s poller {peer_requests}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn in_the_first_minute_a_wait_is_never_later_nor_dearer_than_a_one_second_poller() {
        // Every tenth of a second, not only the times above: the rule is not fitted to them.
        for tenths in 1..600 {
            let ready_after = Duration::from_millis(tenths * 100);
            let (requests, delay, peer_requests, peer_delay) =
                against_the_poller(ready_after, 599).await;
            assert!(
                delay <= peer_delay && requests <= peer_requests + 2,
                "ready after {ready_after:?}: {requests} requests, seen {delay:?} late; \
                 the 1 s poller {peer_requests}, {peer_delay:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn with_a_tenth_of_the_window_left_a_wait_sends_at_most_a_third_of_a_one_second_pollers_requests()
     {
        // A tenth left, and a twentieth; installs of half a minute and longer (on shorter ones
        // berth's own four requests alone are more than a third of the poller's).
        for left in [60, 30] {
            for ms in [30_500, 60_500, 300_500] {
                let (requests, _, peer_requests, _) =
                    against_the_poller(Duration::from_millis(ms), left).await;
                assert!(
                    requests * 3 <= peer_requests,
                    "{left} of 600 left, ready after {ms} ms: {requests} requests, \
                     the 1 s poller {peer_requests}"
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_ready_answer_ends_the_wait() {
        let mut n = 0;
        let value = until(
            "thing",
            Instant::now() + Duration::from_secs(60),
            &policy_with(Budget::default()),
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

    #[tokio::test(start_paused = true)]
    async fn no_poll_starts_at_or_after_the_deadline_and_the_activity_names_the_wait() {
        let start = Instant::now();
        let deadline = start + Duration::from_millis(2500);
        let policy = policy_with(budget(600, 600));
        let mut polls = Vec::new();
        let result: Result<(), _> = until("installation a-1", deadline, &policy, || {
            polls.push(Instant::now());
            async { Ok(Poll::Pending("phase installing".into())) }
        })
        .await;
        let Err(WaitError::Timeout { state, .. }) = result else {
            panic!("no timeout")
        };
        assert_eq!(state, "phase installing");
        assert!(polls.iter().all(|p| *p < deadline), "{polls:?}");
        assert_eq!(Instant::now(), deadline, "it ends at the deadline");
        assert_eq!(
            policy.activity.get(),
            "waiting for installation a-1; still phase installing"
        );
    }
}
