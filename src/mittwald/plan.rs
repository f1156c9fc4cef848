//! Decide, then do: from the installation as it is (or its absence) and what is asked, the
//! steps that bring it there. Pure: no request, no output; the job applies the steps.

use super::{compare_versions, is_ready};
use crate::{
    api::mittwald::types::{
        AppInstallation, AppPatchAppinstallationBody, AppRequestAppinstallationBody,
        AppUpdatePolicy, AppVersion, SavedUserInput,
    },
    config::{MittwaldTarget, OnExisting, UpdatePolicy, VersionRef},
};

/// What is asked, resolved against the platform: the version and the user inputs it takes.
#[derive(Debug, Clone)]
pub struct Wanted<'a> {
    /// The configuration.
    pub target: &'a MittwaldTarget,
    /// The version `BERTH_APP_VERSION` names (or the recommended one).
    pub version: &'a AppVersion,
    /// Every version of the app, to name and compare installed ones.
    pub versions: &'a [AppVersion],
    /// The user inputs for a new installation: the given ones and the version's defaults.
    pub inputs: &'a [SavedUserInput],
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Request a new installation.
    Install(AppRequestAppinstallationBody),
    /// Change the installation (once it is ready: the platform takes changes only then).
    Change(Changes),
    /// Wait until it is ready.
    WaitReady,
    /// Deploy `BERTH_PATH` into it over SSH (it is ready by then), install, restart.
    Deploy,
}

/// A change to an existing installation: the body, and what it changes in words.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    /// The PATCH body: only what changes is set.
    pub body: AppPatchAppinstallationBody,
    /// What changes, for people ("version 1.0.0 -> 1.1.0", "user input entrypoint").
    pub what: Vec<String>,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Install(body) => write!(f, "install {:?}", body.description),
            Self::Change(changes) => write!(f, "update {}", changes.what.join(", ")),
            Self::WaitReady => f.write_str("wait until it is ready"),
            Self::Deploy => f.write_str("deploy BERTH_PATH over SSH"),
        }
    }
}

/// Why there is no plan: it exists and `BERTH_ON_EXISTING=fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exists;

/// The steps, and notes for people (a version kept rather than downgraded). A deploy
/// (`BERTH_PATH`) comes last and needs the installation ready, so it implies the wait.
pub fn plan(
    existing: Option<&AppInstallation>,
    wanted: &Wanted,
    on_existing: OnExisting,
    wait: bool,
) -> Result<(Vec<Step>, Vec<String>), Exists> {
    // `reuse` leaves an existing installation as it is: no settings and no code change.
    let reused = existing.is_some() && on_existing == OnExisting::Reuse;
    let deploy = wanted.target.deploy.is_some();
    let (mut steps, mut notes) =
        settings(existing, wanted, on_existing, wait || (deploy && !reused))?;
    if deploy && reused {
        notes.push("BERTH_PATH is not deployed: BERTH_ON_EXISTING=reuse changes no code".into());
    } else if deploy {
        steps.push(Step::Deploy);
    }
    Ok((steps, notes))
}

/// The steps that bring the installation's settings where they are asked.
fn settings(
    existing: Option<&AppInstallation>,
    wanted: &Wanted,
    on_existing: OnExisting,
    wait: bool,
) -> Result<(Vec<Step>, Vec<String>), Exists> {
    let target = wanted.target;
    let waits = |ready: bool| (wait && !ready).then_some(Step::WaitReady);
    let Some(existing) = existing else {
        let body = AppRequestAppinstallationBody {
            app_version_id: wanted.version.id.clone(),
            description: target.description.clone(),
            installation_path: target.installation_path.clone(),
            system_software: Default::default(),
            update_policy: AppUpdatePolicy(
                target
                    .update_policy
                    .unwrap_or(UpdatePolicy::None)
                    .as_str()
                    .into(),
            ),
            user_inputs: wanted.inputs.to_vec(),
        };
        return Ok((
            [Some(Step::Install(body)), waits(false)]
                .into_iter()
                .flatten()
                .collect(),
            Vec::new(),
        ));
    };
    let ready = is_ready(existing);
    match on_existing {
        OnExisting::Fail => Err(Exists),
        OnExisting::Reuse => Ok((waits(ready).into_iter().collect(), Vec::new())),
        OnExisting::Update => {
            let mut notes = Vec::new();
            match changes(existing, wanted, &mut notes) {
                Some(changes) => {
                    let steps = [Some(Step::Change(changes)), waits(false)];
                    Ok((steps.into_iter().flatten().collect(), notes))
                }
                None => Ok((waits(ready).into_iter().collect(), notes)),
            }
        }
    }
}

/// What differs between the installation and the given settings; only what the user gave
/// counts (an input not set leaves the installation's value alone).
pub fn changes(
    existing: &AppInstallation,
    wanted: &Wanted,
    notes: &mut Vec<String>,
) -> Option<Changes> {
    let target = wanted.target;
    let version = wanted.version;
    let mut body = AppPatchAppinstallationBody::default();
    let mut what = Vec::new();

    let desired = existing.app_version.as_ref().map(|v| v.desired.as_str());
    if let Some(asked) = &target.version
        && desired != Some(version.id.as_str())
    {
        let installed = desired.and_then(|d| wanted.versions.iter().find(|v| v.id == d));
        let floating = matches!(asked, VersionRef::Recommended | VersionRef::Latest);
        let newer_installed = installed.is_some_and(|i| {
            compare_versions(&i.external_version, &version.external_version).is_gt()
        });
        if floating && newer_installed {
            // `recommended` must not downgrade what an update policy already upgraded.
            notes.push(format!(
                "keeping version {} (newer than the {asked} {})",
                installed.map_or("?", |i| i.external_version.as_str()),
                version.external_version
            ));
        } else {
            body.app_version_id = Some(version.id.clone());
            what.push(format!(
                "version {} -> {}",
                installed.map_or_else(
                    || desired.unwrap_or("?").to_string(),
                    |i| i.external_version.clone()
                ),
                version.external_version
            ));
        }
    }

    let differing: Vec<_> = target
        .user_inputs
        .iter()
        .filter(|given| {
            existing
                .user_inputs
                .iter()
                .find(|s| s.name == given.name)
                .map(|s| &s.value)
                != Some(&given.value)
        })
        .collect();
    if !differing.is_empty() {
        // The whole list, so the result is the same whether the platform merges or replaces.
        let mut inputs = existing.user_inputs.clone();
        for given in &differing {
            match inputs.iter_mut().find(|s| s.name == given.name) {
                Some(saved) => saved.value = given.value.clone(),
                None => inputs.push(SavedUserInput {
                    name: given.name.clone(),
                    value: given.value.clone(),
                }),
            }
            what.push(format!("user input {}", given.name));
        }
        body.user_inputs = inputs;
    }

    if let Some(policy) = target.update_policy
        && existing.update_policy.as_ref().map(|p| p.0.as_str()) != Some(policy.as_str())
    {
        body.update_policy = Some(AppUpdatePolicy(policy.as_str().into()));
        what.push(format!("update policy -> {policy}"));
    }
    (!what.is_empty()).then_some(Changes { body, what })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AppRef, Secret, UserInput};
    use serde_json::json;

    fn version(id: &str, external: &str) -> AppVersion {
        serde_json::from_value(json!({
            "id": id, "appId": "app", "externalVersion": external, "internalVersion": external,
            "databases": [], "userInputs": [], "breakingNote": null
        }))
        .expect("a version")
    }

    fn installation(version_id: &str, phase: &str, inputs: &[(&str, &str)]) -> AppInstallation {
        serde_json::from_value(json!({
            "id": "i-1", "appId": "app", "description": "shop",
            "appVersion": {"desired": version_id, "current": version_id},
            "phase": phase, "updatePolicy": "none",
            "userInputs": inputs.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
            "systemSoftware": [], "disabled": false, "deletionRequested": false
        }))
        .expect("an installation")
    }

    fn target(f: impl FnOnce(&mut MittwaldTarget)) -> MittwaldTarget {
        let mut t = MittwaldTarget {
            token: Secret::new("t"),
            project_id: "p-1".into(),
            app: AppRef::Id("app".into()),
            version: None,
            description: "shop".into(),
            user_inputs: Vec::new(),
            update_policy: None,
            installation_path: None,
            deploy: None,
        };
        f(&mut t);
        t
    }

    fn entrypoint(value: &str) -> UserInput {
        UserInput {
            name: "entrypoint".into(),
            value: value.into(),
            var: "BERTH_ENTRYPOINT",
        }
    }

    #[test]
    fn a_missing_installation_is_installed_with_the_defaults_for_new_ones_and_waited_on() {
        let v1 = version("v1", "1.0.0");
        let t = target(|_| {});
        let wanted = Wanted {
            target: &t,
            version: &v1,
            versions: std::slice::from_ref(&v1),
            inputs: &[],
        };
        let (steps, _) = plan(None, &wanted, OnExisting::Update, true).unwrap();
        let [Step::Install(body), Step::WaitReady] = steps.as_slice() else {
            panic!("{steps:?}")
        };
        assert_eq!(body.app_version_id, "v1");
        assert_eq!(
            body.update_policy.0, "none",
            "the default for a new installation"
        );
        let (steps, _) = plan(None, &wanted, OnExisting::Update, false).unwrap();
        assert_eq!(steps.len(), 1, "not waited on");
    }

    #[test]
    fn only_what_was_given_and_differs_is_changed() {
        let v1 = version("v1", "1.0.0");
        let existing = installation("v1", "ready", &[("entrypoint", "yarn start")]);
        let same = target(|t| t.user_inputs = vec![entrypoint("yarn start")]);
        let wanted = Wanted {
            target: &same,
            version: &v1,
            versions: std::slice::from_ref(&v1),
            inputs: &[],
        };
        let (steps, _) = plan(Some(&existing), &wanted, OnExisting::Update, true).unwrap();
        assert!(steps.is_empty(), "ready and as asked: {steps:?}");

        let changed = target(|t| {
            t.user_inputs = vec![entrypoint("node server.js")];
            t.update_policy = Some(UpdatePolicy::PatchLevel);
        });
        let wanted = Wanted {
            target: &changed,
            ..wanted
        };
        let (steps, _) = plan(Some(&existing), &wanted, OnExisting::Update, true).unwrap();
        let [Step::Change(changes), Step::WaitReady] = steps.as_slice() else {
            panic!("{steps:?}")
        };
        assert_eq!(
            changes.what,
            ["user input entrypoint", "update policy -> patchLevel"]
        );
        assert_eq!(
            changes.body.app_version_id, None,
            "no version was asked for"
        );
        assert_eq!(changes.body.user_inputs[0].value, "node server.js");
    }

    #[test]
    fn recommended_never_downgrades_and_an_exact_version_does() {
        let (v1, v2) = (version("v1", "1.0.0"), version("v2", "2.0.0"));
        let versions = [v1.clone(), v2.clone()];
        let existing = installation("v2", "ready", &[]);
        let recommended = target(|t| t.version = Some(VersionRef::Recommended));
        let wanted = Wanted {
            target: &recommended,
            version: &v1,
            versions: &versions,
            inputs: &[],
        };
        let (steps, notes) = plan(Some(&existing), &wanted, OnExisting::Update, true).unwrap();
        assert!(steps.is_empty(), "{steps:?}");
        assert_eq!(
            notes,
            ["keeping version 2.0.0 (newer than the recommended 1.0.0)"]
        );
        let exact = target(|t| t.version = Some(VersionRef::Exact("1.0.0".into())));
        let wanted = Wanted {
            target: &exact,
            ..wanted
        };
        let (steps, _) = plan(Some(&existing), &wanted, OnExisting::Update, false).unwrap();
        let [Step::Change(changes)] = steps.as_slice() else {
            panic!("{steps:?}")
        };
        assert_eq!(changes.what, ["version 2.0.0 -> 1.0.0"]);
    }

    #[test]
    fn reuse_waits_for_a_busy_installation_and_fail_refuses() {
        let v1 = version("v1", "1.0.0");
        let t = target(|t| t.user_inputs = vec![entrypoint("other")]);
        let wanted = Wanted {
            target: &t,
            version: &v1,
            versions: std::slice::from_ref(&v1),
            inputs: &[],
        };
        let busy = installation("v1", "installing", &[]);
        let (steps, _) = plan(Some(&busy), &wanted, OnExisting::Reuse, true).unwrap();
        assert_eq!(steps, [Step::WaitReady], "nothing is changed");
        assert_eq!(
            plan(Some(&busy), &wanted, OnExisting::Fail, true),
            Err(Exists)
        );
    }

    #[test]
    fn a_deploy_comes_last_implies_the_wait_and_reuse_skips_it() {
        let v1 = version("v1", "1.0.0");
        let t = target(|t| {
            t.deploy = Some(Box::new(crate::config::Deploy {
                path: "app".into(),
                exclude: vec![".git".into()],
                delete: false,
                install_command: None,
                restart: true,
                login: None,
                host: None,
                known_hosts: None,
            }))
        });
        let wanted = Wanted {
            target: &t,
            version: &v1,
            versions: std::slice::from_ref(&v1),
            inputs: &[],
        };
        // New: installed, waited on (BERTH_WAIT=false or not), then deployed.
        let (steps, _) = plan(None, &wanted, OnExisting::Update, false).unwrap();
        assert!(
            matches!(
                steps.as_slice(),
                [Step::Install(_), Step::WaitReady, Step::Deploy]
            ),
            "{steps:?}"
        );
        // Existing and busy: waited on, then deployed.
        let busy = installation("v1", "installing", &[]);
        let (steps, _) = plan(Some(&busy), &wanted, OnExisting::Update, false).unwrap();
        assert_eq!(steps, [Step::WaitReady, Step::Deploy]);
        // reuse: no settings and no code change.
        let (steps, notes) = plan(Some(&busy), &wanted, OnExisting::Reuse, false).unwrap();
        assert!(steps.is_empty(), "{steps:?}");
        assert!(
            notes.iter().any(|n| n.contains("not deployed")),
            "{notes:?}"
        );
    }
}
