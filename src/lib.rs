//! berth: install or create an app on a platform-as-a-service from one CI step.
//!
//! Data flows one way: environment -> [`config::Config`] -> a provider's flow (find, create or
//! update, wait) over a generated client -> [`outputs::Outputs`] -> sinks.

pub mod api;
pub mod ci;
pub mod cleanup;
pub mod cloudfoundry;
pub mod config;
#[cfg(feature = "sim")]
pub mod demo;
pub mod files;
pub mod help;
pub mod http;
pub mod job;
pub mod mittwald;
pub mod outputs;
pub mod platform_text;
pub mod redact;
pub mod values;
pub mod wait;

use config::{Config, ConfigErrors, Target};

/// What the unit tests share.
#[cfg(test)]
pub(crate) mod testing {
    /// A variable lookup over these pairs, standing in for the environment.
    pub fn env(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> + Copy {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }
}
use outputs::Progress;

/// Why a run did not finish; each kind has its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The configuration is wrong; nothing was changed on the platform.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    /// The platform refused or the operation failed.
    #[error("{0:#}")]
    Platform(#[from] anyhow::Error),
    /// The run's time limit was reached.
    #[error("{0}")]
    Timeout(Timeout),
}

/// What a timeout cut off, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeout {
    /// What the run was doing: "waiting for installation a-abc123; still phase installing",
    /// "GET /v2/apps was in flight".
    pub pending: String,
    /// Time from the start of the run to the timeout, once the job knows it.
    pub elapsed: Option<std::time::Duration>,
    /// The run's time limit, once the job knows it.
    pub limit: Option<std::time::Duration>,
}

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timed out")?;
        if let Some(elapsed) = self.elapsed {
            write!(f, " after {:.1}s", elapsed.as_secs_f64())?;
        }
        if let Some(limit) = self.limit {
            write!(f, " (time limit {})", humantime::format_duration(limit))?;
        }
        write!(f, " while {}", self.pending)
    }
}

impl From<wait::WaitError> for Failure {
    fn from(e: wait::WaitError) -> Self {
        match e {
            wait::WaitError::Timeout { what, state, .. } => Self::Timeout(Timeout {
                pending: format!("waiting for {what}; still {state}"),
                elapsed: None,
                limit: None,
            }),
            wait::WaitError::Failed(e) => Self::Platform(e),
        }
    }
}

/// Does the job the configuration describes by `deadline`, recording what it learns in
/// `progress` as it goes, so that the caller can report it whatever happens.
pub async fn run(
    config: &Config,
    progress: &Progress,
    deadline: tokio::time::Instant,
) -> Result<(), Failure> {
    match &config.target {
        Target::Mittwald(target) => mittwald::run(&config.common, target, progress, deadline).await,
        Target::CloudFoundry(target) => {
            cloudfoundry::run(&config.common, target, progress, deadline).await
        }
    }
}
