//! The job as CI runs it: the flow under one deadline and the signals, then the cleanups, then
//! the outputs and the exit code.
//!
//! Time, as a CI platform cancels a job: GitHub sends SIGINT, SIGTERM about 7.5 s later and
//! SIGKILL about 2.5 s after that. So after the deadline or the first signal only one short
//! [`GRACE`] follows, holding everything: a bounded wait for a write in flight (its id must reach
//! the outputs, [`WRITE_WAIT`]), then the cleanups; a second signal ends it at once.

use crate::{
    Failure, Timeout, ci,
    config::{Config, Sinks},
    outputs::{Outputs, Progress, Status},
};
use std::time::Duration;
use tokio::time::Instant;

/// Everything after the deadline or the first signal fits in this: well inside the 7.5 s
/// GitHub leaves between SIGINT and SIGTERM.
pub const GRACE: Duration = Duration::from_secs(6);
/// How long a flow cut off by a signal or the deadline gets for what its drop started.
const SETTLE: Duration = Duration::from_millis(200);
/// How long a signal waits for the answer to a write in flight (inside [`GRACE`]).
pub const WRITE_WAIT: Duration = Duration::from_secs(5);

/// The exit code of CONTRACT.md for each way a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Done.
    Ok = 0,
    /// The platform refused or the operation failed.
    Failed = 1,
    /// Invalid configuration.
    Config = 2,
    /// The time limit was reached.
    Timeout = 3,
    /// SIGINT.
    Interrupted = 130,
    /// SIGTERM.
    Terminated = 143,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit as u8)
    }
}

impl Failure {
    /// The process exit code of CONTRACT.md.
    pub fn exit(&self) -> Exit {
        match self {
            Self::Platform(_) => Exit::Failed,
            Self::Config(_) => Exit::Config,
            Self::Timeout(_) => Exit::Timeout,
        }
    }
}

/// `berth`: reads the environment, runs, reports.
pub async fn main() -> Exit {
    ci::mask_env_secrets();
    match Config::from_env() {
        Ok(config) => execute(&config).await,
        Err(errors) => {
            // Still tell the next step what happened, wherever it reads.
            let outputs = Outputs {
                provider: std::env::var("BERTH_PROVIDER")
                    .ok()
                    .and_then(|p| crate::config::Provider::parse(&p)),
                ..Outputs::default()
            };
            let sinks = Sinks::from_vars(crate::config::env_vars());
            report(outputs, &sinks, Err(Failure::Config(errors)))
        }
    }
}

/// How the flow stopped.
enum Stop {
    Done(Result<(), Failure>),
    Deadline,
    Signal(Exit),
}

/// Runs a validated config to the end, cleans up, reports, and answers the exit code.
pub async fn execute(config: &Config) -> Exit {
    for warning in &config.warnings {
        ci::warn(warning);
    }
    let progress = Progress::new(Outputs {
        provider: Some(config.provider()),
        ..Outputs::default()
    });
    let mut signals = Signals::new();
    let started = Instant::now();
    let limit = config.time_limit();
    let deadline = started + limit;
    let mut run = Box::pin(crate::run(config, &progress, deadline));

    let stop = tokio::select! {
        // A signal or the deadline wins over a flow that would go on in the same instant.
        biased;
        exit = signals.next() => Stop::Signal(exit),
        () = tokio::time::sleep_until(deadline) => Stop::Deadline,
        result = &mut run => Stop::Done(result),
    };
    let grace_end = Instant::now() + GRACE;
    let cut_off = !matches!(stop, Stop::Done(_));
    let mut cut_short = false;
    let result = match stop {
        Stop::Done(result) => result.map(|()| Exit::Ok),
        Stop::Deadline => {
            progress.stop();
            Err(Failure::Timeout(Timeout {
                pending: pending(&progress),
                elapsed: None,
                limit: None,
            }))
        }
        Stop::Signal(exit) => {
            progress.stop();
            ci::error(format_args!(
                "interrupted ({}); the outputs hold what was done so far",
                if exit == Exit::Interrupted {
                    "SIGINT"
                } else {
                    "SIGTERM"
                }
            ));
            if progress.write_in_flight() {
                ci::info(format_args!(
                    "a write is in flight ({}); waiting up to {}s for its answer so that what it made is reported",
                    progress.activity().get(),
                    WRITE_WAIT.as_secs()
                ));
                let settled = async {
                    tokio::select! {
                        _ = &mut run => {}
                        () = progress.writes_settled() => {}
                    }
                };
                tokio::select! {
                    biased;
                    _ = signals.next() => cut_short = true,
                    () = settled => {}
                    () = tokio::time::sleep_until((Instant::now() + WRITE_WAIT).min(grace_end)) => {
                        ci::warn(format_args!(
                            "the write in flight had no answer within {}s; if it was made, the next run finds it",
                            WRITE_WAIT.as_secs()
                        ));
                    }
                }
            }
            progress.update(|o| o.error = Some("interrupted".into()));
            Ok(exit)
        }
    };
    // The flow is over: dropping it closes what it held open before anything is cleaned up.
    drop(run);
    if cut_off {
        // What the drop handed to tasks (an SSH channel's signal and close, which end a remote
        // command) goes out in a moment.
        tokio::time::sleep_until((Instant::now() + SETTLE).min(grace_end)).await;
    }
    clean_up(&progress, grace_end, cut_short, &mut signals).await;
    let result = result.map_err(|failure| match failure {
        // A flow that timed out at a shorter limit of its own (a cf CLI phase) has said which.
        Failure::Timeout(timeout) => Failure::Timeout(Timeout {
            elapsed: Some(started.elapsed()),
            limit: timeout.limit.or(Some(limit)),
            ..timeout
        }),
        other => other,
    });
    report(progress.snapshot(), &config.sinks, result)
}

/// What the run was doing when the deadline struck, for the timeout's message.
fn pending(progress: &Progress) -> String {
    match progress.activity().get() {
        what if what.is_empty() => "starting".into(),
        what if what.starts_with("waiting") => what,
        request => format!("{request} had no answer yet"),
    }
}

async fn clean_up(progress: &Progress, grace_end: Instant, cut_short: bool, signals: &mut Signals) {
    let cleanups = progress.cleanups();
    if cleanups.pending().is_empty() {
        return;
    }
    let report = if cut_short {
        let left = cleanups
            .pending()
            .into_iter()
            .map(|what| format!("{what} (a second signal ended the cleanup)"));
        crate::cleanup::Report {
            done: Vec::new(),
            left: left.collect(),
        }
    } else {
        cleanups
            .run(grace_end, async {
                signals.next().await;
            })
            .await
    };
    for done in &report.done {
        ci::info(format_args!("cleaned up: {done}"));
    }
    for left in &report.left {
        ci::warn(format_args!("left behind: {left}"));
    }
}

/// Writes the outputs everywhere and picks the exit code.
pub fn report(mut outputs: Outputs, sinks: &Sinks, result: Result<Exit, Failure>) -> Exit {
    let exit = match result {
        Ok(exit) => exit,
        Err(failure) => {
            let title = match failure {
                Failure::Config(_) => "berth: invalid configuration",
                Failure::Platform(_) => "berth: failed",
                Failure::Timeout(_) => "berth: timed out",
            };
            ci::failure(title, &failure);
            outputs.status = match failure {
                Failure::Timeout(_) => Status::Pending,
                _ => Status::Failed,
            };
            outputs.error = Some(failure.to_string());
            failure.exit()
        }
    };
    println!("{}", outputs.json_line());
    match outputs.write_files(sinks) {
        Ok(()) => exit,
        Err(e) => {
            ci::error(format_args!("{e:#}"));
            if exit == Exit::Ok { Exit::Failed } else { exit }
        }
    }
}

/// SIGINT and SIGTERM as they arrive, listened to from the start of the run so that a second
/// one is seen too.
struct Signals {
    #[cfg(unix)]
    listeners: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listeners = signal(SignalKind::interrupt())
                .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
                .ok();
            Self { listeners }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// The next signal's exit code (130 for SIGINT, 143 for SIGTERM).
    async fn next(&mut self) -> Exit {
        #[cfg(unix)]
        {
            let Some((int, term)) = &mut self.listeners else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = int.recv() => Exit::Interrupted,
                _ = term.recv() => Exit::Terminated,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => Exit::Interrupted,
                Err(_) => std::future::pending().await,
            }
        }
    }
}
