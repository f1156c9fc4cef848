//! The app's process as mittnite runs it: `GET /v2/app-installations/{id}/status`
//! (`app-retrieve-status`: `{state: running|stopped|exited, logFileLocation, lastExitCode?,
//! uptimeSeconds?}`) and the restart that `mittnitectl job restart` asks for over SSH.
//!
//! The process runs from the moment the installation is ready. A restart stops it for
//! [`SimOptions::app_restart`]; then it runs again with a fresh uptime, or, with
//! [`SimOptions::app_exit_code`], it exits. The platform neither restarts on new files nor
//! without being asked (API-NOTES).

use std::time::{Duration, Instant};

use serde_json::json;

use super::installations::Installation;
use super::projects::{Project, home_dir};
use super::{Mittwald, not_found};
use crate::options::SimOptions;
use crate::request::Reply;

/// A restart asked for: stopped until `back_at`, then running or exited.
#[derive(Clone, Copy, Debug)]
pub(super) struct Restart {
    pub(super) back_at: Instant,
    pub(super) exit_code: Option<i32>,
}

/// The app's process at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppState {
    /// Running since then.
    Running(Instant),
    /// Not started yet (the installation is not ready), or restarting.
    Stopped,
    /// Ended with this exit code.
    Exited(i32),
}

impl AppState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Running(_) => "running",
            Self::Stopped => "stopped",
            Self::Exited(_) => "exited",
        }
    }
}

impl Installation {
    pub(super) fn app_state(&self, now: Instant) -> AppState {
        if self.disabled {
            return AppState::Stopped;
        }
        match self.restart {
            Some(restart) if now < restart.back_at => AppState::Stopped,
            Some(Restart {
                exit_code: Some(code),
                ..
            }) => AppState::Exited(code),
            Some(restart) => AppState::Running(restart.back_at),
            None if now < self.ready_at => AppState::Stopped,
            None => AppState::Running(self.ready_at),
        }
    }

    /// `logFileLocation`: made up (no recorded status body), under the project's home
    /// directory, one file per installation's job.
    pub(super) fn log_file(&self, project: &Project, job: &str) -> String {
        format!("{}/logs/{}/{job}.log", home_dir(project), self.short_id)
    }
}

impl Mittwald {
    /// `GET /v2/app-installations/{id}/status`.
    pub(super) fn app_status(&self, id: &str, now: Instant) -> Reply {
        let Some(installation) = self
            .installations
            .iter()
            .find(|i| i.id.eq_ignore_ascii_case(id) || i.short_id == id)
        else {
            return not_found("app installation", id);
        };
        let project = &self.projects[installation.project];
        let state = installation.app_state(now);
        let mut body = json!({
            "logFileLocation": installation.log_file(project, installation.version.system_software.name),
            "state": state.name(),
        });
        match state {
            AppState::Running(since) => {
                body["uptimeSeconds"] = json!(now.saturating_duration_since(since).as_secs_f64());
            }
            AppState::Exited(code) => body["lastExitCode"] = json!(code),
            AppState::Stopped => {}
        }
        Reply::json(200, &body)
    }

    /// The process of installation `id` at `now`; `None` once the installation is gone.
    pub(crate) fn app_state_of(&self, id: &str, now: Instant) -> Option<AppState> {
        self.installations
            .iter()
            .find(|i| i.id == id)
            .map(|installation| installation.app_state(now))
    }

    /// Restarts the process of installation `id` (a stopped or exited one starts): stopped for
    /// `app_restart`, then running or exiting with `app_exit_code`. Returns how long it stays
    /// stopped and the code it will exit with; `None` once the installation is gone.
    pub(crate) fn restart_app(
        &mut self,
        options: &SimOptions,
        id: &str,
        now: Instant,
    ) -> Option<(Duration, Option<i32>)> {
        let installation = self.installations.iter_mut().find(|i| i.id == id)?;
        // Not ready yet: the restart waits for the installation, as the job cannot run before.
        let start = now.max(installation.ready_at);
        installation.restart = Some(Restart {
            back_at: start + options.app_restart,
            exit_code: options.app_exit_code,
        });
        Some((
            (start + options.app_restart).saturating_duration_since(now),
            options.app_exit_code,
        ))
    }
}
