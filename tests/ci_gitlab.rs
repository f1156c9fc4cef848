//! GitLab: the wait folded into a collapsible section when `GITLAB_CI=true`, and the CI/CD
//! component templates/berth.yml (ci-tools/run.sh also runs it in gitlab-ci-local).

mod ci_common;
mod support;

use berth::{ci::SECRET_VARS, config::INPUTS};
use ci_common::{entries, input_name, text, yaml, yaml_documents};
use serde_norway::Value;
use std::collections::BTreeMap;
use support::*;

/// `section_start:TS:NAME\r\e[0KHEADER` -> (TS, NAME, HEADER).
fn section_start(line: &str) -> Option<(u64, &str, &str)> {
    let rest = line.strip_prefix("section_start:")?;
    let (ts, rest) = rest.split_once(':')?;
    let (name, header) = rest.split_once("\r\x1b[0K")?;
    Some((ts.parse().ok()?, name, header))
}

/// `section_end:TS:NAME\r\e[0K` -> (TS, NAME).
fn section_end(line: &str) -> Option<(u64, &str)> {
    let rest = line
        .strip_prefix("section_end:")?
        .strip_suffix("\r\x1b[0K")?;
    let (ts, name) = rest.split_once(':')?;
    Some((ts.parse().ok()?, name))
}

#[test]
fn on_gitlab_the_wait_is_a_collapsible_section() {
    let sim = sim(1500);
    let mut env = mittwald_env(&sim, "gitlab section");
    set(&mut env, "GITLAB_CI", "true");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);

    let lines: Vec<&str> = run.stderr.lines().collect();
    let (start_at, (started, name, header)) = lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| section_start(l).map(|s| (i, s)))
        .unwrap_or_else(|| panic!("no section_start:\n{:?}", run.stderr));
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')),
        "{name}"
    );
    assert!(
        header.starts_with("berth: waiting for installation "),
        "{header}"
    );
    let (end_at, (ended, end_name)) = lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| section_end(l).map(|s| (i, s)))
        .unwrap_or_else(|| panic!("no section_end:\n{:?}", run.stderr));
    assert_eq!(end_name, name);
    assert!(start_at < end_at && started <= ended);
    // The progress lines are inside the section, the outputs line after it.
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("berth: waiting for installation") {
            assert!(start_at < i && i < end_at, "{line:?} outside the section");
        }
    }
    assert!(
        !lines.iter().any(|l| l.starts_with("::")),
        "no GitHub commands"
    );
}

/// The template's two documents: the `spec:` header and the jobs.
fn template() -> (Value, Value) {
    let mut docs = yaml_documents("templates/berth.yml");
    assert_eq!(docs.len(), 2, "a spec header, ---, then the jobs");
    let jobs = docs.pop().expect("jobs");
    (docs.pop().expect("header"), jobs)
}

#[test]
fn the_component_maps_every_input_but_the_secrets_to_its_variable() {
    let (header, jobs) = template();
    let inputs: BTreeMap<&str, &Value> = entries(&header["spec"]["inputs"], "spec.inputs")
        .into_iter()
        .collect();
    let job_entries = entries(&jobs, "jobs");
    assert_eq!(job_entries.len(), 1, "one job");
    let (job_name, job) = job_entries[0];
    assert_eq!(job_name, "$[[ inputs.job-name ]]");
    assert_eq!(text(&job["stage"]), "$[[ inputs.stage ]]");
    assert_eq!(text(&job["image"]["name"]), "$[[ inputs.image ]]");
    assert_eq!(job["image"]["entrypoint"][0].as_str(), Some(""));
    assert_eq!(
        job["script"]
            .as_sequence()
            .map(|s| s.iter().map(text).collect::<Vec<_>>()),
        Some(vec!["berth".to_string()])
    );
    assert_eq!(text(&job["artifacts"]["when"]), "always");
    assert_eq!(
        text(&job["artifacts"]["reports"]["dotenv"]),
        "$[[ inputs.dotenv ]]"
    );

    let variables: BTreeMap<&str, String> = entries(&job["variables"], "variables")
        .into_iter()
        .map(|(k, v)| (k, text(v)))
        .collect();
    for input in INPUTS {
        let name = input_name(input.var);
        if SECRET_VARS.contains(&input.var) {
            assert!(!inputs.contains_key(name.as_str()), "{name} is a secret");
            assert!(
                !variables.contains_key(input.var),
                "{} must come from a masked CI/CD variable",
                input.var
            );
            continue;
        }
        let declared = inputs
            .get(name.as_str())
            .unwrap_or_else(|| panic!("no component input {name}"));
        assert!(
            !text(&declared["description"]).trim().is_empty(),
            "{name}: no description"
        );
        assert!(
            declared.get("default").is_some() || input.var == "BERTH_PROVIDER",
            "{name}: no default (only provider is mandatory)"
        );
        assert_eq!(
            variables.get(input.var).map(String::as_str),
            Some(format!("$[[ inputs.{name} ]]").as_str()),
            "{}",
            input.var
        );
    }
    assert_eq!(
        variables.len(),
        INPUTS.len() - SECRET_VARS.len(),
        "variables berth does not know: {variables:?}"
    );
    for extra in ["job-name", "stage", "image"] {
        assert!(inputs.contains_key(extra), "{extra}");
    }
    assert_eq!(
        inputs.len(),
        INPUTS.len() - SECRET_VARS.len() + 3,
        "inputs that lead nowhere"
    );
    // The dotenv report is the file berth writes.
    assert_eq!(text(&inputs["dotenv"]["default"]), "berth.env");
}

#[test]
fn the_component_and_the_action_agree_on_defaults() {
    let (header, _) = template();
    let action = yaml("action.yml");
    for (name, input) in entries(&header["spec"]["inputs"], "spec.inputs") {
        let Some(in_action) = action["inputs"].get(name) else {
            continue;
        };
        if name == "dotenv" || name == "provider" {
            continue;
        }
        assert_eq!(
            input.get("default").map(text),
            in_action.get("default").map(text),
            "{name}"
        );
    }
}
