//! From what the user wrote (`node`, `recommended`, `entrypoint=...`) to what the platform
//! knows: an app, one of its versions, and the user inputs that version declares.
//! A mismatch is a configuration problem: exit 2, nothing changed.

use crate::{
    api::mittwald::types::{App, AppVersion, SavedUserInput},
    config::{AppRef, ConfigError, ConfigErrors, UserInput, VersionRef},
};
use std::cmp::Ordering;

/// Picks the app named by `BERTH_APP` from the platform's list.
pub fn app(apps: &[App], wanted: &AppRef) -> Result<App, ConfigErrors> {
    let found = apps.iter().find(|a| match wanted {
        AppRef::Id(id) => a.id.eq_ignore_ascii_case(id),
        AppRef::Name(name) => a.name.eq_ignore_ascii_case(name),
    });
    found.cloned().ok_or_else(|| {
        let mut names: Vec<_> = apps.iter().map(|a| a.name.as_str()).collect();
        names.sort_unstable_by_key(|n| n.to_ascii_lowercase());
        let wanted = match wanted {
            AppRef::Id(id) => format!("no app has the id {id}"),
            AppRef::Name(name) => format!("no app is named {name:?}"),
        };
        one(
            "BERTH_APP",
            format!("{wanted} (apps: node, python, {})", names.join(", ")),
        )
    })
}

/// Picks the version named by `BERTH_APP_VERSION` among the app's versions.
pub fn version(
    versions: &[AppVersion],
    wanted: &VersionRef,
    app: &App,
) -> Result<AppVersion, ConfigErrors> {
    let highest = |candidates: Vec<&AppVersion>| {
        candidates
            .into_iter()
            .max_by(|a, b| compare_versions(&a.external_version, &b.external_version))
            .cloned()
    };
    let found = match wanted {
        VersionRef::Recommended => highest(
            versions
                .iter()
                .filter(|v| v.recommended == Some(true))
                .collect(),
        ),
        VersionRef::Latest => highest(versions.iter().collect()),
        VersionRef::Exact(v) => versions
            .iter()
            .find(|x| x.external_version == *v || x.internal_version.as_deref() == Some(v))
            .cloned(),
        VersionRef::Id(id) => versions
            .iter()
            .find(|x| x.id.eq_ignore_ascii_case(id))
            .cloned(),
    };
    found.ok_or_else(|| {
        let mut known: Vec<_> = versions
            .iter()
            .map(|v| v.external_version.as_str())
            .collect();
        known.sort_by(|a, b| compare_versions(b, a));
        known.truncate(12);
        one(
            "BERTH_APP_VERSION",
            format!(
                "{} has no version {wanted} (newest first: {})",
                app.name,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        )
    })
}

/// Checks the given inputs against those the version declares, and returns what a new
/// installation must be sent: the given values, then the declared defaults of the rest.
pub fn user_inputs(
    version: &AppVersion,
    given: &[UserInput],
) -> Result<Vec<SavedUserInput>, ConfigErrors> {
    let declared = &version.user_inputs;
    let mut problems = Vec::new();
    for input in given {
        if !declared.iter().any(|d| d.name == input.name) {
            let names: Vec<_> = declared.iter().map(|d| d.name.as_str()).collect();
            let accepted = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            };
            problems.push(ConfigError::Invalid {
                var: input.var,
                problem: format!(
                    "{:?} is not a user input of version {} (accepted: {accepted})",
                    input.name, version.external_version
                ),
            });
        }
    }
    let mut inputs: Vec<SavedUserInput> = given
        .iter()
        .map(|u| SavedUserInput {
            name: u.name.clone(),
            value: u.value.clone(),
        })
        .collect();
    for d in declared {
        if given.iter().any(|g| g.name == d.name) {
            continue;
        }
        match &d.default_value {
            Some(default) => inputs.push(SavedUserInput {
                name: d.name.clone(),
                value: default.clone(),
            }),
            None if d.required == Some(true) => problems.push(ConfigError::Invalid {
                var: "BERTH_USER_INPUTS",
                problem: format!(
                    "version {} requires the user input {:?}, which has no default: add {}=...",
                    version.external_version, d.name, d.name
                ),
            }),
            None => {}
        }
    }
    if problems.is_empty() {
        Ok(inputs)
    } else {
        Err(ConfigErrors(problems))
    }
}

/// Orders `1.10.0` after `1.9.2` (numeric parts as numbers, the rest as text) and a release
/// after its pre-releases (`2.0.0` after `2.0.0-rc1`, as semver does); build metadata after `+`
/// does not count.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| -> Vec<(u64, String)> {
        v.split('.')
            .map(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                (digits.parse().unwrap_or(0), p[digits.len()..].to_string())
            })
            .collect()
    };
    let split = |v: &str| -> (String, Option<String>) {
        let v = v.split('+').next().unwrap_or(v);
        match v.split_once('-') {
            Some((core, pre)) => (core.to_string(), Some(pre.to_string())),
            None => (v.to_string(), None),
        }
    };
    let ((core_a, pre_a), (core_b, pre_b)) = (split(a), split(b));
    parts(&core_a)
        .cmp(&parts(&core_b))
        .then_with(|| match (&pre_a, &pre_b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => parts(x).cmp(&parts(y)),
        })
        .then_with(|| a.cmp(b))
}

fn one(var: &'static str, problem: String) -> ConfigErrors {
    ConfigErrors(vec![ConfigError::Invalid { var, problem }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_number_not_by_text() {
        assert_eq!(compare_versions("1.10.0", "1.9.2"), Ordering::Greater);
        assert_eq!(compare_versions("2.0.0", "2.0.0"), Ordering::Equal);
        assert_eq!(compare_versions("20.1", "3.12"), Ordering::Greater);
        assert_eq!(compare_versions("2.0.0", "2.0.0-rc1"), Ordering::Greater);
        assert_eq!(
            compare_versions("2.0.0-rc2", "2.0.0-rc1"),
            Ordering::Greater
        );
        assert_eq!(compare_versions("2.0.1-rc1", "2.0.0"), Ordering::Greater);
    }
}
