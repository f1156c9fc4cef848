//! The result of a run and the sinks it goes to: stdout JSON, `$GITHUB_OUTPUT`, the dotenv file
//! and the GitHub step summary. All of them are written from one list of key/value pairs, so they
//! cannot disagree.

use crate::values::Provider;
use anyhow::{Context, Result};
use serde_json::{Map, Value};
use std::{
    fs::OpenOptions,
    io::Write,
    path::PathBuf,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};
use tokio::sync::Notify;

/// How far the run got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// The platform says it is ready.
    Ready,
    /// Not waited for, or waiting timed out or was interrupted.
    #[default]
    Pending,
    /// The run failed.
    Failed,
}

impl Status {
    /// The value of the `status` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Pending => "pending",
            Self::Failed => "failed",
        }
    }
}

/// Everything a run tells the next step. Fields that are unknown stay `None` and are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    /// `mittwald` or `cloudfoundry`.
    pub provider: Option<Provider>,
    /// Installation id / app guid.
    pub id: Option<String>,
    /// Whether this run created it.
    pub created: bool,
    /// See [`Status`].
    pub status: Status,
    /// mittwald: `a-xxxxxx`.
    pub short_id: Option<String>,
    /// mittwald: path relative to the project's web directory.
    pub installation_path: Option<String>,
    /// mittwald: the installed (or to be installed) version's id.
    pub app_version_id: Option<String>,
    /// mittwald: its external version, e.g. `1.0.0`.
    pub app_version: Option<String>,
    /// mittwald: the last phase seen.
    pub phase: Option<String>,
    /// mittwald: the absolute directory the files of `BERTH_PATH` went to.
    pub deploy_path: Option<String>,
    /// mittwald: how many files the deploy sent (unchanged ones are skipped).
    pub files_deployed: Option<u64>,
    /// mittwald: the bytes of those files.
    pub bytes_deployed: Option<u64>,
    /// mittwald: the app's process state after the deploy (`running`, `stopped`, `exited`).
    pub app_status: Option<String>,
    /// Cloud Foundry: the app's name.
    pub app_name: Option<String>,
    /// Cloud Foundry: the last `state` seen (`STARTED`, `STOPPED`).
    pub state: Option<String>,
    /// Cloud Foundry: the last `package_state` seen (`PENDING`, `STAGED`, `FAILED`).
    pub package_state: Option<String>,
    /// Cloud Foundry: the API the run used, `v2` or `v3`.
    pub api_version: Option<String>,
    /// Cloud Foundry v3: the app's current droplet.
    pub droplet_guid: Option<String>,
    /// Cloud Foundry v3: the package that droplet was staged from.
    pub package_guid: Option<String>,
    /// Cloud Foundry: the first route of `BERTH_ROUTES` (else the first the platform lists), as
    /// a URL.
    pub url: Option<String>,
    /// Cloud Foundry: every route mapped to the app.
    pub app_routes: Option<Vec<String>>,
    /// Cloud Foundry v3: the rolling deployment this run made.
    pub deployment_guid: Option<String>,
    /// Set when this was a dry run: nothing was changed.
    pub dry_run: bool,
    /// The error, when the run failed.
    pub error: Option<String>,
}

/// Every output key, snake_case, in the order the sinks write them: the one list the sinks'
/// names, the README check and the dotenv warnings derive from.
pub const KEYS: &[&str] = &[
    "provider",
    "id",
    "installation_id",
    "app_guid",
    "app_name",
    "state",
    "package_state",
    "api_version",
    "droplet_guid",
    "package_guid",
    "url",
    "app_routes",
    "deployment_guid",
    "short_id",
    "installation_path",
    "app_version_id",
    "app_version",
    "phase",
    "deploy_path",
    "files_deployed",
    "bytes_deployed",
    "app_status",
    "created",
    "status",
    "dry_run",
    "error",
];

/// Where the outputs go besides stdout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sinks {
    /// `$GITHUB_OUTPUT`.
    pub github_output: Option<PathBuf>,
    /// `$GITHUB_STEP_SUMMARY`.
    pub step_summary: Option<PathBuf>,
    /// `BERTH_DOTENV`.
    pub dotenv: Option<PathBuf>,
}

impl Sinks {
    /// The sinks named in the environment, unchecked: also used to report a configuration
    /// that failed validation.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut sinks = Sinks::default();
        for (key, value) in vars {
            let slot = match key.as_str() {
                "GITHUB_OUTPUT" => &mut sinks.github_output,
                "GITHUB_STEP_SUMMARY" => &mut sinks.step_summary,
                "BERTH_DOTENV" => &mut sinks.dotenv,
                _ => continue,
            };
            if !value.trim().is_empty() {
                *slot = Some(PathBuf::from(value));
            }
        }
        sinks
    }
}

impl Outputs {
    /// The outputs as ordered pairs, keys in snake_case: the one source for every sink, and
    /// so the one place their text is scrubbed of secrets ([`crate::redact`]), whatever the
    /// platform echoed into an error.
    pub fn pairs(&self) -> Vec<(&'static str, Value)> {
        // Free text is scrubbed; ids, names, paths and states are the platform's own fields and
        // stay as they are, so that an app named like an environment value keeps its name.
        self.raw_pairs()
            .into_iter()
            .map(|(key, value)| match value {
                Value::String(s) if key == "error" => {
                    (key, Value::String(crate::redact::scrub(&s)))
                }
                other => (key, other),
            })
            .collect()
    }

    /// The pairs before scrubbing; keys only from [`KEYS`] (a unit test holds them to it).
    fn raw_pairs(&self) -> Vec<(&'static str, Value)> {
        let provider = self.provider.map_or("", Provider::as_str);
        let mut pairs = vec![("provider", Value::from(provider))];
        let mut opt = |key, value: &Option<String>| {
            if let Some(v) = value {
                pairs.push((key, Value::from(v.clone())));
            }
        };
        opt("id", &self.id);
        match self.provider {
            Some(Provider::Mittwald) => opt("installation_id", &self.id),
            Some(Provider::CloudFoundry) => opt("app_guid", &self.id),
            None => {}
        }
        opt("app_name", &self.app_name);
        opt("state", &self.state);
        opt("package_state", &self.package_state);
        opt("api_version", &self.api_version);
        opt("droplet_guid", &self.droplet_guid);
        opt("package_guid", &self.package_guid);
        opt("url", &self.url);
        opt("app_routes", &self.app_routes.as_ref().map(|r| r.join(",")));
        opt("deployment_guid", &self.deployment_guid);
        opt("short_id", &self.short_id);
        opt("installation_path", &self.installation_path);
        opt("app_version_id", &self.app_version_id);
        opt("app_version", &self.app_version);
        opt("phase", &self.phase);
        opt("deploy_path", &self.deploy_path);
        opt(
            "files_deployed",
            &self.files_deployed.map(|n| n.to_string()),
        );
        opt(
            "bytes_deployed",
            &self.bytes_deployed.map(|n| n.to_string()),
        );
        opt("app_status", &self.app_status);
        pairs.push(("created", Value::Bool(self.created)));
        pairs.push(("status", Value::from(self.status.as_str())));
        if self.dry_run {
            pairs.push(("dry_run", Value::Bool(true)));
        }
        if let Some(e) = &self.error {
            pairs.push(("error", Value::from(e.clone())));
        }
        pairs
    }

    /// The stdout line: one JSON object.
    pub fn json_line(&self) -> String {
        let map: Map<String, Value> = self
            .pairs()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        Value::Object(map).to_string()
    }

    /// Writes every sink that is configured besides stdout. Each sink is tried even when an
    /// earlier one fails; the first failure is returned.
    pub fn write_files(&self, sinks: &Sinks) -> Result<()> {
        let mut result = Ok(());
        let mut keep = |r: Result<()>| {
            if result.is_ok() {
                result = r;
            }
        };
        if let Some(path) = &sinks.github_output {
            keep(append(path, &self.github_output()).context("writing $GITHUB_OUTPUT"));
        }
        if let Some(path) = &sinks.dotenv {
            keep(
                std::fs::write(path, self.dotenv())
                    .with_context(|| format!("writing BERTH_DOTENV {}", path.display())),
            );
        }
        if let Some(path) = &sinks.step_summary {
            keep(append(path, &self.step_summary()).context("writing $GITHUB_STEP_SUMMARY"));
        }
        result
    }

    /// `key=value` lines, keys in kebab-case; multi-line values in the heredoc form.
    pub fn github_output(&self) -> String {
        let mut out = String::new();
        for (key, value) in self.pairs() {
            let key = key.replace('_', "-");
            let value = plain(&value);
            if value.contains(['\n', '\r']) {
                let delim = format!("BERTH_EOF_{}", uuid::Uuid::new_v4().simple());
                out.push_str(&format!("{key}<<{delim}\n{value}\n{delim}\n"));
            } else {
                out.push_str(&format!("{key}={value}\n"));
            }
        }
        out
    }

    /// `BERTH_KEY=value` lines as GitLab's dotenv report takes them: one line each, no quotes
    /// needed, no multi-line values.
    ///
    /// `dry_run` is left out: as `BERTH_DRY_RUN` it would turn a later berth job of the
    /// pipeline, which GitLab hands these variables to, into a dry run.
    pub fn dotenv(&self) -> String {
        self.pairs()
            .into_iter()
            .filter(|(key, _)| *key != "dry_run")
            .map(|(key, value)| {
                let value = plain(&value).replace(['\r', '\n'], " ");
                format!("BERTH_{}={value}\n", key.to_ascii_uppercase())
            })
            .collect()
    }

    /// A short markdown table for `$GITHUB_STEP_SUMMARY`.
    pub fn step_summary(&self) -> String {
        let mut out = format!(
            "### berth: {} {}\n\n| output | value |\n|---|---|\n",
            self.provider.map_or("", Provider::as_str),
            self.status.as_str()
        );
        for (key, value) in self.pairs() {
            let value = plain(&value).replace('|', "\\|").replace(['\r', '\n'], " ");
            out.push_str(&format!("| `{}` | {} |\n", key.replace('_', "-"), value));
        }
        out.push('\n');
        out
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn append(path: &std::path::Path, text: &str) -> Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// The outputs known so far, shared between the provider's flow and the job, so that a
/// failure, a timeout or Ctrl-C still reports what was already created; and what the flow is
/// doing now, so that the job knows whether a write is in flight and what a timeout cut off.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    outputs: Mutex<Outputs>,
    /// Writes whose outcome the outputs do not hold yet (see [`Progress::writing`]).
    writes: AtomicUsize,
    writes_done: Notify,
    /// Set once the run is interrupted or out of time: nothing new is to be sent.
    stopping: AtomicBool,
    activity: Activity,
    cleanups: crate::cleanup::Cleanups,
}

impl Progress {
    /// Starts with the given outputs.
    pub fn new(outputs: Outputs) -> Self {
        Self(Arc::new(Shared {
            outputs: Mutex::new(outputs),
            ..Shared::default()
        }))
    }
    /// Changes the outputs.
    pub fn update(&self, f: impl FnOnce(&mut Outputs)) {
        f(&mut self
            .0
            .outputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner));
    }
    /// A copy of the outputs as they are now.
    pub fn snapshot(&self) -> Outputs {
        self.0
            .outputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Marks a write whose result must reach the outputs (a create: its id) as in flight until
    /// the guard is dropped, which the flow does once it has recorded the result. A signal
    /// that arrives meanwhile waits a bounded moment for it instead of losing the id.
    pub fn writing(&self) -> WriteGuard {
        self.0.writes.fetch_add(1, Ordering::SeqCst);
        WriteGuard(self.clone())
    }
    /// Whether a write is in flight.
    pub fn write_in_flight(&self) -> bool {
        self.0.writes.load(Ordering::SeqCst) > 0
    }
    /// Resolves once no write is in flight.
    pub async fn writes_settled(&self) {
        loop {
            let notified = self.0.writes_done.notified();
            if !self.write_in_flight() {
                return;
            }
            notified.await;
        }
    }

    /// Tells the flow to start nothing new: the run was interrupted or is out of time.
    pub fn stop(&self) {
        self.0.stopping.store(true, Ordering::SeqCst);
    }
    /// Whether [`Progress::stop`] was called: a flow checks before sending a write again.
    pub fn stopping(&self) -> bool {
        self.0.stopping.load(Ordering::SeqCst)
    }

    /// What the run is doing now (the request in flight, the wait it is in).
    pub fn activity(&self) -> &Activity {
        &self.0.activity
    }

    /// What the job must undo or finish when the run ends, however it ends.
    pub fn cleanups(&self) -> &crate::cleanup::Cleanups {
        &self.0.cleanups
    }
}

/// Ends a write started with [`Progress::writing`] when dropped.
#[must_use = "the write counts as in flight until this is dropped"]
#[derive(Debug)]
pub struct WriteGuard(Progress);

impl Drop for WriteGuard {
    fn drop(&mut self) {
        if self.0.0.writes.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.0.writes_done.notify_waiters();
        }
    }
}

/// What the run is doing at the moment, in words ("GET /v2/app-installations/…", "waiting
/// for installation a-abc123; still phase installing"): what a timeout names as cut off.
#[derive(Debug, Clone, Default)]
pub struct Activity(Arc<Mutex<String>>);

impl Activity {
    /// Notes what the run is doing now.
    pub fn set(&self, what: impl Into<String>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = what.into();
    }
    /// What the run was doing last.
    pub fn get(&self) -> String {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Outputs {
        Outputs {
            provider: Some(Provider::Mittwald),
            id: Some("5084bf44".into()),
            created: true,
            status: Status::Ready,
            short_id: Some("a-scyssh".into()),
            installation_path: Some("/shop".into()),
            ..Outputs::default()
        }
    }

    #[test]
    fn every_sink_names_the_same_values_in_its_own_case() {
        let o = sample();
        assert_eq!(
            o.json_line(),
            r#"{"provider":"mittwald","id":"5084bf44","installation_id":"5084bf44","short_id":"a-scyssh","installation_path":"/shop","created":true,"status":"ready"}"#
        );
        assert!(
            o.github_output()
                .contains("installation-path=/shop\ncreated=true\n")
        );
        assert!(
            o.dotenv()
                .contains("BERTH_INSTALLATION_ID=5084bf44\nBERTH_SHORT_ID=a-scyssh\n")
        );
        assert!(
            o.step_summary()
                .contains("| `installation-id` | 5084bf44 |")
        );
    }

    #[test]
    fn multi_line_errors_use_the_heredoc_form_and_one_dotenv_line() {
        let o = Outputs {
            error: Some("first\nsecond".into()),
            status: Status::Failed,
            ..sample()
        };
        let gh = o.github_output();
        let start = gh.find("error<<").expect("heredoc");
        let delim = gh[start + 7..].lines().next().unwrap();
        assert!(gh.ends_with(&format!("error<<{delim}\nfirst\nsecond\n{delim}\n")));
        assert!(o.dotenv().ends_with("BERTH_ERROR=first second\n"));
    }

    #[test]
    fn a_dry_run_is_not_handed_to_later_jobs_as_berth_dry_run() {
        let o = Outputs {
            dry_run: true,
            ..sample()
        };
        assert!(o.json_line().contains(r#""dry_run":true"#));
        assert!(o.github_output().contains("dry-run=true\n"));
        assert!(!o.dotenv().contains("BERTH_DRY_RUN"), "{}", o.dotenv());
    }

    #[test]
    fn every_key_written_is_in_the_one_list_and_in_its_order() {
        let all = Outputs {
            provider: Some(Provider::CloudFoundry),
            id: Some("i".into()),
            app_name: Some("n".into()),
            state: Some("STARTED".into()),
            package_state: Some("STAGED".into()),
            short_id: Some("a".into()),
            installation_path: Some("/p".into()),
            app_version_id: Some("v".into()),
            app_version: Some("1".into()),
            phase: Some("ready".into()),
            dry_run: true,
            error: Some("e".into()),
            ..Outputs::default()
        };
        let mittwald = Outputs {
            provider: Some(Provider::Mittwald),
            ..all.clone()
        };
        for outputs in [all, mittwald] {
            let keys: Vec<&str> = outputs.pairs().into_iter().map(|(k, _)| k).collect();
            let in_list: Vec<&str> = KEYS.iter().copied().filter(|k| keys.contains(k)).collect();
            assert_eq!(keys, in_list, "every key is listed, in the list's order");
        }
    }
}
