//! berth: install or create an app on a platform-as-a-service from one CI step.
//!
//! Data flows one way: environment -> [`config::Config`] -> a provider's flow (find, create or
//! update, wait) over a generated client -> [`outputs::Outputs`] -> sinks.

pub mod api;
pub mod ci;
pub mod cloudfoundry;
pub mod config;
pub mod http;
pub mod mittwald;
pub mod outputs;
pub mod redact;
pub mod sim;
pub mod wait;

use config::{Config, ConfigErrors, Target};
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
    /// Waiting gave up at the deadline.
    #[error("{0}")]
    Timeout(String),
}

impl Failure {
    /// The process exit code of CONTRACT.md.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Platform(_) => 1,
            Self::Config(_) => 2,
            Self::Timeout(_) => 3,
        }
    }
}

impl From<wait::WaitError> for Failure {
    fn from(e: wait::WaitError) -> Self {
        match e {
            wait::WaitError::Timeout { .. } => Self::Timeout(e.to_string()),
            wait::WaitError::Failed(e) => Self::Platform(e),
        }
    }
}

/// Does the job the configuration describes, recording what it learns in `progress` as it
/// goes, so that the caller can report it whatever happens.
pub async fn run(config: &Config, progress: &Progress) -> Result<(), Failure> {
    match &config.target {
        Target::Mittwald(target) => mittwald::run(&config.common, target, progress).await,
        Target::CloudFoundry(target) => cloudfoundry::run(&config.common, target, progress).await,
    }
}
