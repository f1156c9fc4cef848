//! GitHub Actions niceties (`GITHUB_ACTIONS=true`): secrets masked before anything else is
//! printed, the wait folded into a group, failures and warnings as annotations, all on stderr,
//! stdout still the one JSON line.

mod support;

use support::*;

fn on_github(mut env: Vec<(String, String)>) -> Vec<(String, String)> {
    set(&mut env, "GITHUB_ACTIONS", "true");
    env
}

fn one_json_line(run: &Run) {
    assert_eq!(run.stdout.lines().count(), 1, "stdout: {}", run.stdout);
    assert!(run.json.is_object(), "stdout: {}", run.stdout);
}

/// Every `::group::` is closed by an `::endgroup::` before the next one opens; returns the
/// groups' titles and the lines inside each.
fn groups(stderr: &str) -> Vec<(String, Vec<String>)> {
    let mut groups = Vec::new();
    let mut open: Option<(String, Vec<String>)> = None;
    for line in stderr.lines() {
        if let Some(title) = line.strip_prefix("::group::") {
            assert!(open.is_none(), "a group inside a group:\n{stderr}");
            open = Some((title.to_string(), Vec::new()));
        } else if line == "::endgroup::" {
            groups.push(open.take().expect("::endgroup:: without ::group::"));
        } else if let Some((_, lines)) = &mut open {
            lines.push(line.to_string());
        }
    }
    assert!(open.is_none(), "a group left open:\n{stderr}");
    groups
}

#[test]
fn the_token_is_masked_first_and_the_wait_is_one_group() {
    let sim = sim(1500);
    let run = run(&on_github(mittwald_env(&sim, "github group")));
    assert_eq!(run.code, 0, "{}", run.stderr);
    one_json_line(&run);
    assert_eq!(
        run.stderr.lines().next(),
        Some(format!("::add-mask::{TOKEN}").as_str()),
        "{}",
        run.stderr
    );

    let groups = groups(&run.stderr);
    let waits: Vec<_> = groups
        .iter()
        .filter(|(title, _)| title.starts_with("berth: waiting for installation "))
        .collect();
    assert_eq!(waits.len(), 1, "{groups:?}");
    let (_, inside) = waits[0];
    assert!(
        inside
            .iter()
            .any(|l| l.starts_with("berth: waiting for installation ")),
        "{inside:?}"
    );
    // Every progress line of the wait is inside a group.
    let outside: Vec<_> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("berth: waiting for"))
        .filter(|l| {
            !groups
                .iter()
                .any(|(_, inside)| inside.iter().any(|i| i == l))
        })
        .collect();
    assert!(outside.is_empty(), "{outside:?}\n{}", run.stderr);
    assert!(!run.stderr.contains("::error"), "{}", run.stderr);
}

#[test]
fn cloud_foundry_masks_the_password_and_the_token_uaa_hands_out() {
    let sim = cf_sim(|_| {});
    let app = tempfile::tempdir().expect("app dir");
    std::fs::write(app.path().join("index.html"), "hi").expect("app file");
    let mut env = on_github(cf_env(&sim, "github-mask"));
    set(&mut env, "BERTH_STATE", "STARTED");
    set(&mut env, "BERTH_PATH", &app.path().to_string_lossy());
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    one_json_line(&run);

    let masked: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("::add-mask::"))
        .collect();
    assert_eq!(
        masked.first(),
        Some(&CF_PASSWORD),
        "the password first: {}",
        run.stderr
    );
    let token = masked
        .iter()
        .find(|m| **m != CF_PASSWORD)
        .expect("the UAA token is masked too");
    // The token shows nowhere but in its mask command.
    let elsewhere = run
        .everything()
        .lines()
        .filter(|l| !l.starts_with("::add-mask::") && l.contains(token))
        .count();
    assert_eq!(elsewhere, 0, "{}", run.everything());
    // Staging and starting are waits too, each its own group.
    let groups = groups(&run.stderr);
    assert!(
        groups
            .iter()
            .any(|(t, _)| t.starts_with("berth: waiting for app \"github-mask\"")),
        "{groups:?}"
    );
}

#[test]
fn invalid_configuration_is_one_error_annotation_with_escaped_lines() {
    let sim = sim(0);
    let mut env = on_github(mittwald_env(&sim, "github error"));
    unset(&mut env, "BERTH_PROJECT_ID");
    unset(&mut env, "BERTH_APP");
    let run = run(&env);
    assert_eq!(run.code, 2, "{}", run.stderr);
    one_json_line(&run);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    let error = errors[0];
    let message = error
        .strip_prefix("::error title=berth%3A invalid configuration::")
        .unwrap_or_else(|| panic!("{error}"));
    assert!(
        message.starts_with("invalid configuration (2 problems):%0A  - BERTH_PROJECT_ID"),
        "{message}"
    );
    assert!(
        message.contains("%0A  - BERTH_APP is required"),
        "{message}"
    );
    // The annotation stands in for the plain error line.
    assert!(!run.stderr.contains("berth: error:"), "{}", run.stderr);
}

#[test]
fn a_timeout_closes_the_group_before_its_error_annotation() {
    let sim = sim(60_000);
    let mut env = on_github(mittwald_env(&sim, "github timeout"));
    set(&mut env, "BERTH_WAIT_TIMEOUT", "2s");
    let run = run(&env);
    assert_eq!(run.code, 3, "{}", run.stderr);
    one_json_line(&run);
    assert_eq!(run.out("status"), "pending");
    let lines: Vec<&str> = run.stderr.lines().collect();
    let end = lines
        .iter()
        .rposition(|l| *l == "::endgroup::")
        .expect("::endgroup::");
    let error = lines
        .iter()
        .position(|l| l.starts_with("::error title=berth%3A timed out::timed out after "))
        .unwrap_or_else(|| panic!("no timeout annotation:\n{}", run.stderr));
    assert!(end < error, "{}", run.stderr);
    groups(&run.stderr);
}

#[test]
fn warnings_are_warning_annotations() {
    let sim = sim(0);
    let mut env = on_github(mittwald_env(&sim, "github warning"));
    set(&mut env, "BERTH_DESCRIPTON", "typo");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.lines().any(|l| l
            == "::warning title=berth::BERTH_DESCRIPTON is not a berth input; did you mean BERTH_DESCRIPTION?"),
        "{}",
        run.stderr
    );
}

#[test]
fn elsewhere_there_are_no_workflow_commands() {
    let sim = sim(1500);
    let plain = run(&mittwald_env(&sim, "plain"));
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(
        !plain.stderr.lines().any(|l| l.starts_with("::")),
        "{}",
        plain.stderr
    );
    assert!(!plain.stderr.contains("section_start"), "{}", plain.stderr);

    let mut env = mittwald_env(&sim, "plain error");
    unset(&mut env, "BERTH_APP");
    let failed = run(&env);
    assert_eq!(failed.code, 2);
    assert!(
        failed
            .stderr
            .contains("berth: error: invalid configuration"),
        "{}",
        failed.stderr
    );
}
