//! Golden files of what users read: `--help`, the step summary, and one error of each kind
//! (invalid configuration, a platform refusal, a timeout). A change to any of them shows in
//! review as a change to a file under `tests/snapshots/`.

mod support;

use berth_sim::Fault;
use support::*;

/// Numbers that change from run to run (ports, ids, elapsed seconds) replaced by names.
fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"127\.0\.0\.1:\d+", "[sim]");
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[uuid]",
    );
    settings.add_filter(r"a-[a-z0-9]{6}", "[short id]");
    settings.add_filter(r"/snapshot-[a-z0-9]+", "/snapshot-[random]");
    settings.add_filter(r"after \d+\.\ds", "after [elapsed]");
    settings.add_filter(r"/berth-demo-[a-z0-9]+|/\.tmp[A-Za-z0-9]+", "/[tmp]");
    settings
}

#[test]
fn help_lists_every_input_with_its_default() {
    let output = assert_cmd::Command::cargo_bin("berth")
        .unwrap()
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    insta::assert_snapshot!("help", String::from_utf8_lossy(&output.stdout));
}

#[test]
fn the_step_summary_of_a_finished_install() {
    let sim = sim(0);
    let mut env = mittwald_env(&sim, "snapshot");
    set(&mut env, "BERTH_ENTRYPOINT", "node server.js");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    settings().bind(|| insta::assert_snapshot!("step_summary", run.summary));
}

#[test]
fn an_invalid_configuration_names_every_problem() {
    let sim = cf_sim(|_| {});
    let mut env = cf_env(&sim, "snapshot");
    set(&mut env, "BERTH_MEMORY", "lots");
    set(&mut env, "BERTH_STATE", "RUNNING");
    unset(&mut env, "BERTH_SPACE_GUID");
    let run = run(&env);
    assert_eq!(run.code, 2);
    settings().bind(|| insta::assert_snapshot!("error_config", run.stderr));
}

#[test]
fn a_platform_refusal_is_one_clear_line() {
    let sim = sim(0);
    sim.inject(Fault {
        status: 422,
        method: Some("POST".into()),
        body: Some(
            r#"{"type":"ValidationError","message":"request failed","validationErrors":[{"message":"must not be empty","path":"description","type":"required"}]}"#
                .into(),
        ),
        ..Fault::default()
    });
    let run = run(&mittwald_env(&sim, "snapshot refusal"));
    assert_eq!(run.code, 1);
    settings().bind(|| insta::assert_snapshot!("error_platform", run.out("error")));
}

#[test]
fn a_timeout_says_how_long_and_what_was_pending() {
    let sim = sim(60_000);
    let mut env = mittwald_env(&sim, "snapshot timeout");
    set(&mut env, "BERTH_WAIT_TIMEOUT", "1s");
    let run = run(&env);
    assert_eq!(run.code, 3);
    settings().bind(|| insta::assert_snapshot!("error_timeout", run.out("error")));
}
