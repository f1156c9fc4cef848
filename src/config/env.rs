//! The environment as berth sees it: the process's variables, empty values dropped, and
//! warnings about variables that look like inputs but are not read.

use super::INPUTS;
use std::collections::BTreeMap;

/// The process environment; a variable that is not UTF-8 cannot be one of berth's and is
/// passed over (`std::env::vars` would panic on it).
pub fn env_vars() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

/// The variables with a value: GitHub passes "" for inputs that were not given, so empty means
/// unset.
pub(super) fn non_empty(
    vars: impl IntoIterator<Item = (String, String)>,
) -> BTreeMap<String, String> {
    vars.into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect()
}

/// `BERTH_*` variables berth does not know: most likely a typo, which would otherwise pass silently.
pub(super) fn unknown_variables(vars: &BTreeMap<String, String>) -> Vec<String> {
    let output_var = |key: &str| format!("BERTH_{}", key.to_ascii_uppercase());
    let is_input = |var: &str| INPUTS.iter().any(|i| i.var == var);
    let mut warnings = Vec::new();
    // GitLab hands a dotenv report to every later job, and its variables win over the job's own.
    let inherited = ["status", "created"]
        .iter()
        .all(|k| vars.contains_key(&output_var(k)));
    if inherited {
        // Output keys whose dotenv names are inputs too: read as this job's own inputs.
        let shadowed: Vec<String> = crate::outputs::KEYS
            .iter()
            .map(|k| output_var(k))
            .filter(|v| is_input(v) && vars.contains_key(v))
            .collect();
        warnings.push(format!(
            "this job received an earlier berth job's outputs (BERTH_STATUS, BERTH_CREATED...); \
             {} may be that job's values, not this job's inputs: give this job \
             `needs: [{{job: <earlier job>, artifacts: false}}]` or `dependencies: []`",
            if shadowed.is_empty() {
                "nothing berth reads".to_string()
            } else {
                shadowed.join(", ")
            }
        ));
    }
    let is_output = |k: &str| crate::outputs::KEYS.iter().any(|o| output_var(o) == k);
    warnings.extend(
        vars.keys()
            .filter(|k| k.starts_with("BERTH_") && !INPUTS.iter().any(|i| i.var == k.as_str()))
            .filter(|k| !(inherited && is_output(k)))
            .map(|k| {
                let closest = INPUTS
                    .iter()
                    .map(|i| (strsim::levenshtein(k, i.var), i.var))
                    .min()
                    .filter(|(d, _)| *d <= 3);
                match closest {
                    Some((_, known)) => format!("{k} is not a berth input; did you mean {known}?"),
                    None => format!("{k} is not a berth input; it is ignored"),
                }
            }),
    );
    warnings
}

/// The other provider's inputs that were given: ignored, which the user may not expect.
pub(super) fn other_provider_variables(
    vars: &BTreeMap<String, String>,
    group: &str,
    provider: &str,
) -> Vec<String> {
    INPUTS
        .iter()
        .filter(|i| i.group == group && vars.contains_key(i.var))
        .map(|i| {
            format!(
                "{} is a {group} input; it is ignored with BERTH_PROVIDER={provider}",
                i.var
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::{
        Config,
        tests::{BASE, vars},
    };
    use std::time::Duration;

    #[test]
    fn empty_values_count_as_unset() {
        let mut v = vars(BASE);
        v.push(("BERTH_WAIT_TIMEOUT".into(), "".into()));
        v.push(("BERTH_APP_VERSION".into(), "".into()));
        let c = Config::from_vars(v).unwrap();
        assert_eq!(c.common.wait_timeout, Duration::from_secs(600));
    }

    #[test]
    fn a_misspelt_variable_is_pointed_out() {
        let mut v = vars(BASE);
        v.push(("BERTH_DESCRIPTON".into(), "x".into()));
        let c = Config::from_vars(v).unwrap();
        assert_eq!(
            c.warnings,
            ["BERTH_DESCRIPTON is not a berth input; did you mean BERTH_DESCRIPTION?"]
        );
    }

    #[test]
    fn an_earlier_berth_job_s_outputs_are_pointed_out_once() {
        let mut v = vars(BASE);
        for (k, val) in [
            ("BERTH_STATUS", "ready"),
            ("BERTH_CREATED", "true"),
            ("BERTH_ID", "x"),
            ("BERTH_STATE", "STARTED"),
        ] {
            v.push((k.into(), val.into()));
        }
        let c = Config::from_vars(v).unwrap();
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(
            c.warnings[0].contains("earlier berth job's outputs")
                && c.warnings[0].contains("BERTH_PROVIDER, BERTH_STATE"),
            "{:?}",
            c.warnings
        );
        assert!(
            c.warnings[1].starts_with("BERTH_STATE is a cloudfoundry input"),
            "{:?}",
            c.warnings
        );
    }
}
