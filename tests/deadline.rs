//! One deadline for the whole run, and what a signal or the deadline leaves behind: the time
//! limit counts from the start, no request starts after it, a write in flight keeps its id.

mod support;

use berth_sim::Fault;
use std::time::{Duration, Instant};
use support::*;

/// Every answer of the platform, `ms` late (processed as usual).
fn slow_answers(ms: u64) -> Fault {
    Fault {
        delay_ms: Some(ms),
        count: 1000,
        ..Fault::default()
    }
}

#[test]
fn with_every_answer_late_the_run_ends_at_its_deadline_without_writing() {
    let sim = sim(0);
    sim.inject(slow_answers(2000));
    let mut env = mittwald_env(&sim, "late answers");
    set(&mut env, "BERTH_WAIT_TIMEOUT", "3s");
    let started = Instant::now();
    let run = run(&env);
    let took = started.elapsed();

    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        took < Duration::from_millis(4200),
        "exits within about a second of the deadline, took {took:?}"
    );
    let posts: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert!(
        posts.is_empty(),
        "no write starts after the deadline: {posts:?}"
    );
    let error = run.out("error");
    assert!(
        error.contains("timed out after 3."),
        "the real elapsed time: {error}"
    );
    assert!(error.contains("time limit 3s"), "{error}");
    assert!(
        error.contains("GET /v2/projects/p-test01/app-installations"),
        "names what was pending: {error}"
    );
    assert_eq!(run.out("status"), "pending");
}

#[test]
fn a_request_started_before_the_deadline_does_not_outlive_it() {
    // The installation becomes ready after 1 s, but the one read after the POST is answered
    // 10 s late: the run must not wait for it past its 2 s limit.
    let sim = sim(0);
    sim.inject(Fault {
        delay_ms: Some(10_000),
        method: Some("GET".into()),
        path_prefix: Some("/v2/app-installations/".into()),
        ..Fault::default()
    });
    let mut env = mittwald_env(&sim, "stuck read");
    set(&mut env, "BERTH_WAIT_TIMEOUT", "2s");
    let started = Instant::now();
    let run = run(&env);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_millis(3500));
    assert!(
        !run.out("id").is_empty(),
        "what was created is still reported"
    );
    assert_eq!(run.json["created"], true);
}

#[cfg(unix)]
#[test]
fn a_signal_while_the_create_is_in_flight_waits_for_its_answer_and_keeps_the_id() {
    let sim = sim(5_000);
    sim.inject(Fault {
        delay_ms: Some(1_500),
        method: Some("POST".into()),
        ..Fault::default()
    });
    let env = mittwald_env(&sim, "signal during write");
    let stopped = signal_after_post(&sim, &env, Duration::from_millis(200), &["TERM"]);
    assert_eq!(stopped.code, Some(143), "{}", stopped.stderr);
    let created = sim.installations();
    assert_eq!(created.len(), 1, "the platform made it");
    assert_eq!(
        stopped.json["id"], created[0]["id"],
        "its id is in the outputs: {}",
        stopped.stderr
    );
    assert_eq!(stopped.json["created"], true);
    assert!(stopped.github_output.contains(&format!(
        "installation-id={}",
        created[0]["id"].as_str().unwrap()
    )));
    assert!(
        stopped.stopped_in < Duration::from_secs(3),
        "bounded: {:?}",
        stopped.stopped_in
    );
    assert!(
        !sim.requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.starts_with("/v2/app-installations/")),
        "nothing new is started after the signal"
    );
}

#[cfg(unix)]
#[test]
fn a_second_signal_ends_the_grace_at_once() {
    let sim = sim(5_000);
    sim.inject(Fault {
        delay_ms: Some(8_000),
        method: Some("POST".into()),
        ..Fault::default()
    });
    let env = mittwald_env(&sim, "two signals");
    let stopped = signal_after_post(&sim, &env, Duration::from_millis(200), &["INT", "TERM"]);
    assert_eq!(
        stopped.code,
        Some(130),
        "the first signal's code stays: {}",
        stopped.stderr
    );
    assert!(
        stopped.stopped_in < Duration::from_millis(2500),
        "the second signal ended the wait for the write: {:?}",
        stopped.stopped_in
    );
    assert_eq!(stopped.json["status"], "pending");
}

#[test]
fn a_timeout_while_waiting_names_the_wait_and_the_last_state() {
    let sim = sim(60_000);
    let mut env = mittwald_env(&sim, "slow install");
    set(&mut env, "BERTH_WAIT_TIMEOUT", "2s");
    let started = Instant::now();
    let run = run(&env);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_millis(3500));
    let error = run.out("error");
    assert!(error.contains("timed out after 2."), "{error}");
    assert!(
        error.contains("while waiting for installation") && error.contains("still phase"),
        "{error}"
    );
    assert!(!run.out("id").is_empty(), "what was created is reported");
}
