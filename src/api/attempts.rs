//! Trying again, one way: every loop in berth that sends something again counts its attempts
//! here, pauses with backoff and jitter (or as long as the platform asked), stays inside the
//! run's deadline, and says why in one line. [`create_once`] is the one way a create is sent
//! again: only after looking whether the first one landed.

use super::ApiError;
use crate::{Failure, ci};
use anyhow::Context;
use std::{future::Future, time::Duration};
use tokio::time::Instant;

/// How many times one thing is tried at the most.
pub const MAX_ATTEMPTS: u32 = 5;
/// The pause before the second attempt; it doubles each time, with jitter.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Pauses never grow beyond this, except to honour a rate-limit reset.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// The attempts at one thing.
#[derive(Debug)]
pub struct Attempts {
    what: String,
    deadline: Instant,
    attempt: u32,
}

impl Attempts {
    /// The first attempt at `what` ("GET /v2/apps", "creating the installation"), which must
    /// be done by `deadline`.
    pub fn new(what: impl Into<String>, deadline: Instant) -> Self {
        Self {
            what: what.into(),
            deadline,
            attempt: 1,
        }
    }

    /// The attempt under way, from 1.
    pub fn number(&self) -> u32 {
        self.attempt
    }

    /// After a failed attempt (`why`): when another may go, says so in one line, pauses
    /// (`wait` if the platform said how long, else the backoff) and answers `true`; answers
    /// `false` at once when the attempts are used up or the pause would reach the deadline.
    pub async fn pause(&mut self, why: impl std::fmt::Display, wait: Option<Duration>) -> bool {
        let pause = wait.unwrap_or_else(|| backoff(self.attempt));
        if self.attempt >= MAX_ATTEMPTS || Instant::now() + pause >= self.deadline {
            return false;
        }
        self.attempt += 1;
        ci::info(format_args!(
            "{}: {why}; retrying in {:.1}s (attempt {} of {MAX_ATTEMPTS})",
            self.what,
            pause.as_secs_f64(),
            self.attempt
        ));
        tokio::time::sleep(pause).await;
        true
    }
}

/// Exponential backoff with jitter in its upper half: the pause is between half and all of
/// `FIRST_BACKOFF * 2^(attempt-1)`, capped.
pub fn backoff(attempt: u32) -> Duration {
    let full = FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(10))
        .min(MAX_BACKOFF);
    full.mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// What [`create_once`] ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created<T> {
    /// This run made it (its answer, or found after an answer was lost).
    New(T),
    /// Someone else made it first (the platform said the name is taken).
    Existing(T),
}

/// Sends a create, and never makes two: when the outcome is unclear (no answer, a gateway
/// error), it looks the resource up first and sends again only when it is not there, within the
/// attempts and the deadline, and not once `stopping` says the run is over. An answer that
/// says it exists already (`taken`) is looked up and answered as [`Created::Existing`].
pub async fn create_once<T, S, SF, L, LF>(
    what: &str,
    deadline: Instant,
    stopping: impl Fn() -> bool,
    taken: impl Fn(&ApiError) -> bool,
    mut send: S,
    mut look_up: L,
) -> Result<Created<T>, Failure>
where
    S: FnMut() -> SF,
    SF: Future<Output = Result<T, ApiError>>,
    L: FnMut() -> LF,
    LF: Future<Output = Result<Option<T>, Failure>>,
{
    let mut attempts = Attempts::new(what, deadline);
    loop {
        let e = match send().await {
            Ok(made) => return Ok(Created::New(made)),
            Err(e) => e,
        };
        if taken(&e) {
            ci::info(format_args!(
                "{what}: it exists already; continuing with that one"
            ));
            return match look_up().await? {
                Some(found) => Ok(Created::Existing(found)),
                None => Err(anyhow::Error::new(e).context(what.to_string()).into()),
            };
        }
        if !matches!(e.status, None | Some(502..=504)) {
            return Err(anyhow::Error::new(e).context(what.to_string()).into());
        }
        ci::warn(format_args!(
            "{what} had no clear outcome ({e}); looking it up before anything else"
        ));
        if let Some(found) = look_up().await? {
            return Ok(Created::New(found));
        }
        // Asked before and after the pause: a signal during it must not be followed by a send.
        if stopping() || !attempts.pause("nothing was made", None).await || stopping() {
            return Err(anyhow::Error::new(e))
                .context(what.to_string())
                .map_err(Failure::from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for _ in 0..100 {
            let first = backoff(1);
            assert!(
                first >= FIRST_BACKOFF / 2 && first <= FIRST_BACKOFF,
                "{first:?}"
            );
            let third = backoff(3);
            assert!(
                third >= FIRST_BACKOFF * 2 && third <= FIRST_BACKOFF * 4,
                "{third:?}"
            );
            assert!(backoff(30) <= MAX_BACKOFF);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_stop_at_the_count_and_before_the_deadline() {
        let mut attempts = Attempts::new("x", Instant::now() + Duration::from_secs(3600));
        let mut n = 1;
        while attempts.pause("busy", None).await {
            n += 1;
        }
        assert_eq!(n, MAX_ATTEMPTS);
        let mut late = Attempts::new("x", Instant::now() + Duration::from_secs(1));
        assert!(!late.pause("busy", Some(Duration::from_secs(2))).await);
        assert_eq!(late.number(), 1);
    }

    fn error(status: u16, kind: Option<&str>) -> ApiError {
        ApiError {
            status: Some(status),
            kind: kind.map(str::to_string),
            message: "refused".into(),
        }
    }

    /// Runs `create_once` with these answers to the sends (in turn; `Ok(n)` made `n`) and this
    /// answer to every look-up; answers the outcome and how many sends went out.
    async fn scripted(
        answers: Vec<Result<u32, ApiError>>,
        found: Option<u32>,
        stopping: bool,
    ) -> (Result<Created<u32>, Failure>, usize) {
        let sent = Cell::new(0);
        let answers = std::cell::RefCell::new(answers.into_iter());
        let result = create_once(
            "creating it",
            Instant::now() + Duration::from_secs(60),
            || stopping,
            |e| e.kind.as_deref() == Some("Taken"),
            || {
                sent.set(sent.get() + 1);
                let answer = answers.borrow_mut().next().expect("no more sends expected");
                async move { answer }
            },
            || async move { Ok(found) },
        )
        .await;
        (result, sent.get())
    }

    #[tokio::test(start_paused = true)]
    async fn an_unclear_create_is_looked_up_and_not_sent_again_when_it_landed() {
        let (result, sent) = scripted(vec![Err(error(502, None))], Some(7), false).await;
        assert_eq!(result.unwrap(), Created::New(7));
        assert_eq!(sent, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unclear_create_that_did_not_land_is_sent_again() {
        let answers = vec![Err(error(502, None)), Err(error(504, None)), Ok(3)];
        let (result, sent) = scripted(answers, None, false).await;
        assert_eq!(result.unwrap(), Created::New(3));
        assert_eq!(sent, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_taken_name_continues_with_the_existing_one_and_a_refusal_is_final() {
        let (taken, _) = scripted(vec![Err(error(422, Some("Taken")))], Some(9), false).await;
        assert_eq!(taken.unwrap(), Created::Existing(9));
        // A clear refusal is neither looked up (nothing is found) nor sent again.
        let (refused, sent) = scripted(vec![Err(error(422, None))], None, false).await;
        assert!(refused.is_err());
        assert_eq!(sent, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_during_the_pause_stops_the_next_send() {
        let stopping = Cell::new(false);
        let sent = Cell::new(0);
        let result = create_once(
            "creating it",
            Instant::now() + Duration::from_secs(60),
            || stopping.get(),
            |_| false,
            || {
                sent.set(sent.get() + 1);
                async { Err::<u32, _>(error(502, None)) }
            },
            || {
                // The look-up comes before the pause: the signal lands during it.
                stopping.set(sent.get() == 1);
                async { Ok(None) }
            },
        )
        .await;
        assert!(result.is_err());
        assert_eq!(sent.get(), 1, "nothing is sent after the signal");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopping_run_does_not_send_again() {
        let (result, sent) = scripted(vec![Err(error(502, None))], None, true).await;
        assert!(result.is_err());
        assert_eq!(sent, 1);
    }
}
