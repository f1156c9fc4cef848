//! Decide, then do: from the app as it is (or its absence) and what is asked, the list of steps
//! that brings it there. Pure, in berth's own terms ([`AppSettings`], [`AppState`]), so that
//! each Cloud Controller API is only an applier of the same plan.

use crate::config::{AppSettings, AppState, CloudFoundryTarget, OnExisting};
use std::path::PathBuf;

/// The app as the platform has it, in berth's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Current {
    /// Its guid.
    pub guid: String,
    /// Its desired state.
    pub state: AppState,
    /// Its settings as they are (`None`: the platform did not say).
    pub settings: AppSettings,
    /// The fingerprint of the source its current droplet was built from, when berth recorded
    /// it (v3; see [`super::source`]).
    pub source: Option<String>,
}

/// One thing to do to the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Create it, stopped, with the given settings (bits go up and the start comes after).
    Create(AppSettings),
    /// Change these settings (only those that differ are `Some`; `what` names them), and stop
    /// it when `stop` says so.
    Update {
        /// The settings to change.
        changes: AppSettings,
        /// Their names, for people.
        what: Vec<&'static str>,
        /// Stop it in the same change (`BERTH_STATE=STOPPED` on a started app).
        stop: bool,
    },
    /// Stop it, because of `why`.
    Stop(StopFor),
    /// Upload this directory or .zip as its bits.
    Upload(PathBuf),
    /// Start it.
    Start,
    /// Wait until it is staged and an instance runs.
    WaitRunning,
}

/// Why a running app is stopped first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopFor {
    /// New bits are staged on the next start, as `cf push` does.
    Upload,
    /// Changed settings apply only when instances start again.
    Settings,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Create(_) => f.write_str("create the app, stopped"),
            Self::Update { what, stop, .. } => {
                let mut all: Vec<&str> = what.clone();
                if *stop {
                    all.push("state -> STOPPED");
                }
                write!(f, "update {}", all.join(", "))
            }
            Self::Stop(StopFor::Upload) => f.write_str("stop it to upload new bits"),
            Self::Stop(StopFor::Settings) => f.write_str("stop it so the new settings apply"),
            Self::Upload(path) => write!(f, "upload {}", path.display()),
            Self::Start => f.write_str("start it"),
            Self::WaitRunning => f.write_str("wait until it is staged and an instance runs"),
        }
    }
}

/// Why there is no plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It exists and `BERTH_ON_EXISTING=fail`.
    Exists,
    /// A new app asked to start with nothing to run: the platform would refuse the start and
    /// leave a stopped app behind.
    NothingToRun,
}

/// What the run will do. `wait` asks for [`Step::WaitRunning`] where it applies; `fingerprint`
/// is that of `BERTH_PATH` where the API can record it: bits whose fingerprint the current
/// droplet was built from do not go up again.
pub fn plan(
    current: Option<&Current>,
    target: &CloudFoundryTarget,
    on_existing: OnExisting,
    wait: bool,
    fingerprint: Option<&str>,
) -> Result<Vec<Step>, Refusal> {
    let mut steps = Vec::new();
    // The state the app is in after each step, and the instances it will run.
    let (mut state, instances) = match current {
        None => {
            let s = &target.settings;
            if target.state == Some(AppState::Started)
                && target.path.is_none()
                && s.docker_image.is_none()
            {
                return Err(Refusal::NothingToRun);
            }
            steps.push(Step::Create(target.settings.clone()));
            (AppState::Stopped, s.instances)
        }
        Some(current) => {
            let instances = target.settings.instances.or(current.settings.instances);
            match on_existing {
                OnExisting::Fail => return Err(Refusal::Exists),
                OnExisting::Reuse => {
                    if current.state == AppState::Started && wait && instances != Some(0) {
                        steps.push(Step::WaitRunning);
                    }
                    return Ok(steps);
                }
                OnExisting::Update => {}
            }
            (current.state, instances)
        }
    };

    let mut restart = false;
    if let Some(current) = current {
        let (changes, what) = changes(&target.settings, &current.settings);
        let stop = target.state == Some(AppState::Stopped) && state != AppState::Stopped;
        if !what.is_empty() || stop {
            steps.push(Step::Update {
                changes,
                what: what.clone(),
                stop,
            });
            if stop {
                state = AppState::Stopped;
            }
            // A running app keeps its old settings until it restarts, as after `cf set-env`;
            // a new instance count applies at once.
            restart = what.iter().any(|w| *w != "instances") && state == AppState::Started;
        }
    }

    let mut start = target.state == Some(AppState::Started);
    let built_from_these_bits = current
        .and_then(|c| c.source.as_deref())
        .is_some_and(|source| Some(source) == fingerprint);
    if let Some(path) = target.path.as_ref().filter(|_| !built_from_these_bits) {
        if state == AppState::Started {
            steps.push(Step::Stop(StopFor::Upload));
            state = AppState::Stopped;
            // An app that ran before runs again, unless BERTH_STATE says otherwise.
            start |= target.state.is_none();
        }
        steps.push(Step::Upload(path.clone()));
    } else if restart {
        steps.push(Step::Stop(StopFor::Settings));
        state = AppState::Stopped;
        start = true;
    }
    if start && state != AppState::Started {
        steps.push(Step::Start);
        state = AppState::Started;
    }
    // The Cloud Controller stages only apps with instances to run.
    if state == AppState::Started && wait && instances != Some(0) {
        steps.push(Step::WaitRunning);
    }
    Ok(steps)
}

/// The given settings that differ from the current ones, and their input names.
pub fn changes(given: &AppSettings, current: &AppSettings) -> (AppSettings, Vec<&'static str>) {
    let mut changes = AppSettings::default();
    let mut what = Vec::new();
    macro_rules! diff {
        ($($field:ident),*) => {$(
            if let Some(value) = &given.$field
                && Some(value) != current.$field.as_ref()
            {
                changes.$field = Some(value.clone());
                what.push(stringify!($field));
            }
        )*};
    }
    diff!(
        memory,
        instances,
        disk_quota,
        stack_guid,
        stack,
        command,
        buildpacks,
        health_check_type,
        health_check_timeout,
        health_check_http_endpoint,
        docker_image,
        environment,
        diego,
        enable_ssh,
        console
    );
    // `BERTH_DEBUG=false` asks for nothing: v2 has no way to say "not debugging" but leaving
    // the mode unset.
    if given.debug == Some(true) && current.debug != Some(true) {
        changes.debug = Some(true);
        what.push("debug");
    }
    (changes, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CfAuth, Secret};

    fn target(f: impl FnOnce(&mut CloudFoundryTarget)) -> CloudFoundryTarget {
        let mut t = CloudFoundryTarget {
            api: crate::config::CfApi::Auto,
            routes: None,
            strategy: crate::config::Strategy::Restart,
            logs: true,
            auth: CfAuth::Token(Secret::new("t")),
            space: crate::config::SpaceRef::Guid("s".into()),
            name: "app".into(),
            settings: AppSettings::default(),
            state: None,
            path: None,
            exclude: Vec::new(),
            docker_credentials: None,
            staging_timeout: None,
            startup_timeout: None,
        };
        f(&mut t);
        t
    }

    fn current(state: AppState, f: impl FnOnce(&mut AppSettings)) -> Current {
        let mut settings = AppSettings {
            memory: Some(256),
            instances: Some(1),
            ..AppSettings::default()
        };
        f(&mut settings);
        Current {
            guid: "g".into(),
            state,
            settings,
            source: None,
        }
    }

    #[test]
    fn a_new_app_is_created_stopped_then_gets_its_bits_then_starts_and_is_waited_on() {
        let t = target(|t| {
            t.path = Some("dist".into());
            t.state = Some(AppState::Started);
        });
        assert_eq!(
            plan(None, &t, OnExisting::Update, true, None).unwrap(),
            [
                Step::Create(AppSettings::default()),
                Step::Upload("dist".into()),
                Step::Start,
                Step::WaitRunning
            ]
        );
        assert_eq!(
            plan(None, &t, OnExisting::Update, false, None).unwrap(),
            [
                Step::Create(AppSettings::default()),
                Step::Upload("dist".into()),
                Step::Start
            ],
            "not waited on with BERTH_WAIT=false"
        );
    }

    #[test]
    fn a_new_app_asked_to_start_with_nothing_to_run_is_refused() {
        let t = target(|t| t.state = Some(AppState::Started));
        assert_eq!(
            plan(None, &t, OnExisting::Update, true, None),
            Err(Refusal::NothingToRun)
        );
        let docker = target(|t| {
            t.state = Some(AppState::Started);
            t.settings.docker_image = Some("nginx".into());
        });
        assert_eq!(
            plan(None, &docker, OnExisting::Update, false, None).unwrap(),
            [Step::Create(docker.settings.clone()), Step::Start]
        );
    }

    #[test]
    fn an_app_with_the_given_settings_gets_no_step() {
        let t = target(|t| t.settings.memory = Some(256));
        let c = current(AppState::Stopped, |_| {});
        assert!(
            plan(Some(&c), &t, OnExisting::Update, true, None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_running_app_whose_settings_change_is_updated_and_restarted() {
        let t = target(|t| t.settings.memory = Some(512));
        let c = current(AppState::Started, |_| {});
        let steps = plan(Some(&c), &t, OnExisting::Update, true, None).unwrap();
        assert_eq!(
            steps,
            [
                Step::Update {
                    changes: AppSettings {
                        memory: Some(512),
                        ..AppSettings::default()
                    },
                    what: vec!["memory"],
                    stop: false
                },
                Step::Stop(StopFor::Settings),
                Step::Start,
                Step::WaitRunning
            ]
        );
    }

    #[test]
    fn a_new_instance_count_applies_without_a_restart() {
        let t = target(|t| t.settings.instances = Some(3));
        let c = current(AppState::Started, |_| {});
        assert_eq!(
            plan(Some(&c), &t, OnExisting::Update, false, None).unwrap(),
            [Step::Update {
                changes: AppSettings {
                    instances: Some(3),
                    ..AppSettings::default()
                },
                what: vec!["instances"],
                stop: false
            }]
        );
    }

    #[test]
    fn new_bits_for_a_running_app_stop_it_first_and_start_it_again() {
        let t = target(|t| t.path = Some("dist".into()));
        let c = current(AppState::Started, |_| {});
        assert_eq!(
            plan(Some(&c), &t, OnExisting::Update, false, None).unwrap(),
            [
                Step::Stop(StopFor::Upload),
                Step::Upload("dist".into()),
                Step::Start
            ]
        );
        let stopped = target(|t| {
            t.path = Some("dist".into());
            t.state = Some(AppState::Stopped);
        });
        assert_eq!(
            plan(Some(&c), &stopped, OnExisting::Update, true, None).unwrap(),
            [
                Step::Update {
                    changes: AppSettings::default(),
                    what: vec![],
                    stop: true
                },
                Step::Upload("dist".into())
            ],
            "asked to stay stopped: stopped in the update, not started again"
        );
    }

    #[test]
    fn bits_the_current_droplet_was_built_from_do_not_go_up_again() {
        let t = target(|t| t.path = Some("dist".into()));
        let mut c = current(AppState::Started, |_| {});
        c.source = Some("f1".into());
        assert_eq!(
            plan(Some(&c), &t, OnExisting::Update, true, Some("f1")).unwrap(),
            [Step::WaitRunning],
            "the same fingerprint: nothing to send"
        );
        assert_eq!(
            plan(Some(&c), &t, OnExisting::Update, false, Some("f2")).unwrap(),
            [
                Step::Stop(StopFor::Upload),
                Step::Upload("dist".into()),
                Step::Start
            ],
            "other bits go up"
        );
        c.source = None;
        assert_eq!(
            plan(Some(&c), &t, OnExisting::Update, false, Some("f1"))
                .unwrap()
                .len(),
            3,
            "no recorded fingerprint: the bits go up"
        );
        let stopped = current(AppState::Stopped, |_| {});
        let start = target(|t| {
            t.path = Some("dist".into());
            t.state = Some(AppState::Started);
        });
        let c = Current {
            source: Some("f1".into()),
            ..stopped
        };
        assert_eq!(
            plan(Some(&c), &start, OnExisting::Update, false, Some("f1")).unwrap(),
            [Step::Start],
            "a stopped app with these bits staged is only started"
        );
    }

    #[test]
    fn reuse_only_waits_and_fail_refuses() {
        let t = target(|t| t.settings.memory = Some(1024));
        let c = current(AppState::Started, |_| {});
        assert_eq!(
            plan(Some(&c), &t, OnExisting::Reuse, true, None).unwrap(),
            [Step::WaitRunning]
        );
        assert_eq!(
            plan(Some(&c), &t, OnExisting::Fail, true, None),
            Err(Refusal::Exists)
        );
    }

    #[test]
    fn an_app_with_no_instances_is_not_waited_on() {
        let t = target(|t| t.settings.instances = Some(0));
        let c = current(AppState::Started, |s| s.instances = Some(0));
        assert!(
            plan(Some(&c), &t, OnExisting::Update, true, None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn only_given_settings_that_differ_are_changed() {
        let given = AppSettings {
            memory: Some(256),
            command: Some("node server.js".into()),
            debug: Some(false),
            ..AppSettings::default()
        };
        let current = AppSettings {
            memory: Some(256),
            command: Some("npm start".into()),
            disk_quota: Some(1024),
            ..AppSettings::default()
        };
        let (changes, what) = changes(&given, &current);
        assert_eq!(what, ["command"]);
        assert_eq!(changes.command.as_deref(), Some("node server.js"));
        assert_eq!(changes.memory, None);
        assert_eq!(changes.disk_quota, None);
    }
}
