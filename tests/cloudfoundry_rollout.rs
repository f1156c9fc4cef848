//! Cloud Foundry (v3): routes to visit, the staging log, and deploys without downtime, end to
//! end against the simulator with v2 switched off.

mod support;

use berth_sim::SimHandle;
use std::time::{Duration, Instant};
use support::*;

fn pushed(sim: &SimHandle, name: &str, app: &tempfile::TempDir) -> Vec<(String, String)> {
    let mut env = cf3_env(sim, name);
    set(&mut env, "BERTH_STATE", "STARTED");
    set(&mut env, "BERTH_PATH", app.path().to_str().unwrap());
    env
}

#[test]
fn routes_are_created_mapped_reused_and_unknown_domains_are_exit_2() {
    let sim = cf_v3_sim(|_| {});
    let app = node_app();
    let mut env = pushed(&sim, "shop", &app);
    set(
        &mut env,
        "BERTH_ROUTES",
        "shop.apps.sim.example/api\ndefault, tcp.sim.example:1030",
    );
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out("url"), "https://shop.apps.sim.example/api");
    let routes: Vec<&str> = run.out("app_routes").split(',').collect();
    assert_eq!(
        routes,
        [
            "shop.apps.sim.example/api",
            "shop.apps.sim.example",
            "tcp.sim.example:1030"
        ]
    );
    let writes = cf_write_lines_since(&sim, 0);
    assert_eq!(
        writes.iter().filter(|w| *w == "POST /cf/v3/routes").count(),
        3,
        "{writes:?}"
    );
    // The route exists now: a second app maps it too, and the first keeps it.
    let mut other = pushed(&sim, "shop-canary", &app);
    set(&mut other, "BERTH_ROUTES", "shop.apps.sim.example/api");
    let from = sim.requests().len();
    let second = support::run(&other);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let writes = cf_write_lines_since(&sim, from);
    assert!(
        !writes.contains(&"POST /cf/v3/routes".to_string()),
        "reused: {writes:?}"
    );
    assert_eq!(
        writes
            .iter()
            .filter(|w| w.ends_with("/destinations"))
            .count(),
        1
    );
    let again = support::run(&env);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again
            .out("app_routes")
            .contains("shop.apps.sim.example/api"),
        "the first app keeps the shared route"
    );

    // A re-run maps nothing new.
    let from = sim.requests().len();
    assert_eq!(support::run(&env).code, 0);
    assert!(
        cf_write_lines_since(&sim, from).is_empty(),
        "{:?}",
        cf_write_lines_since(&sim, from)
    );

    // An unknown domain: exit 2, before anything is written.
    let mut bad = pushed(&sim, "nowhere", &app);
    set(&mut bad, "BERTH_ROUTES", "shop.example.org");
    let from = sim.requests().len();
    let refused = support::run(&bad);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("BERTH_ROUTES"),
        "{}",
        refused.stderr
    );
    assert!(cf_write_lines_since(&sim, from).is_empty());
}

#[test]
fn the_staging_log_is_shown_once_in_order_and_its_tail_explains_a_failed_build() {
    let sim = cf_v3_sim(|_| {});
    let app = node_app();
    let mut env = pushed(&sim, "chatty", &app);
    set(&mut env, "GITHUB_ACTIONS", "true");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = [
        "Downloading nodejs_buildpack...",
        "-----> Installing node 22.11.0",
        "Uploading complete",
    ];
    let mut at = 0;
    for line in lines {
        assert_eq!(
            run.stderr.matches(line).count(),
            1,
            "{line} once: {}",
            run.stderr
        );
        let found = run.stderr[at..].find(line).expect("in order");
        at += found;
    }
    // On GitHub the platform's text cannot act as a workflow command.
    let stop = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("::stop-commands::"))
        .expect("commands stopped around the log");
    assert!(run.stderr.contains(&format!("::{stop}::")), "and resumed");

    let sim = cf_v3_sim(|o| o.cf_staging_fails = true);
    let failed = support::run(&pushed(&sim, "broken", &app));
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let error = failed.out("error");
    assert!(error.starts_with("staging failed"), "{error}");
    assert!(
        error.contains("the last lines of the staging log:"),
        "{error}"
    );
    assert!(
        error.contains("Staging failed: Exited with status"),
        "{error}"
    );
    assert!(error.len() <= 2200, "about 2 KiB: {}", error.len());
}

#[test]
fn a_log_cache_outage_only_warns_and_logs_can_be_turned_off() {
    let sim = cf_v3_sim(|o| o.cf_log_cache_outage = Some(berth_sim::LogCacheOutage::Unavailable));
    let app = node_app();
    let run = run(&pushed(&sim, "quiet", &app));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("log-cache failed").count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(run.out("status"), "ready");

    let sim = cf_v3_sim(|_| {});
    let mut env = pushed(&sim, "silent", &app);
    set(&mut env, "BERTH_LOGS", "false");
    let run = support::run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !requests_since(&sim, 0)
            .iter()
            .any(|r| r.contains("/log-cache/")),
        "no log-cache read"
    );
}

#[test]
fn a_rolling_deployment_replaces_a_running_app_without_a_stop() {
    let sim = cf_v3_sim(|_| {});
    let app = node_app();
    let mut env = pushed(&sim, "live", &app);
    set(&mut env, "BERTH_INSTANCES", "2");
    let first = run(&env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let guid = first.out("id").to_string();
    let downtime_before = sim.cf_downtime(&guid);

    std::fs::write(app.path().join("server.js"), "// v2").unwrap();
    set(&mut env, "BERTH_STRATEGY", "rolling");
    let from = sim.requests().len();
    let rolled = run(&env);
    assert_eq!(rolled.code, 0, "{}", rolled.stderr);
    let writes = cf_write_lines_since(&sim, from);
    println!(
        "the requests of one rolling deploy:\n{}",
        requests_since(&sim, from).join("\n")
    );
    assert!(
        !writes.iter().any(|w| w.contains("/actions/")),
        "no stop, restart or start: {writes:?}"
    );
    assert!(
        writes.contains(&"POST /cf/v3/deployments".to_string()),
        "{writes:?}"
    );
    assert!(!rolled.out("deployment_guid").is_empty());
    assert_ne!(rolled.out("droplet_guid"), first.out("droplet_guid"));
    assert_eq!(rolled.out("status"), "ready");
    assert_eq!(
        sim.cf_downtime(&guid),
        downtime_before,
        "no second without a running instance"
    );

    // New memory goes with the new instances: in the deployment, never scaled onto the
    // running ones.
    set(&mut env, "BERTH_MEMORY", "192M");
    let from = sim.requests().len();
    let resized = run(&env);
    assert_eq!(resized.code, 0, "{}", resized.stderr);
    let deployment = sim
        .requests()
        .into_iter()
        .skip(from)
        .find(|r| r.method == "POST" && r.path == "/cf/v3/deployments")
        .expect("a deployment");
    assert_eq!(body(&deployment)["options"]["memory_in_mb"], 192);
    let writes = cf_write_lines_since(&sim, from);
    assert!(
        !writes.iter().any(|w| w.ends_with("/actions/scale")),
        "{writes:?}"
    );
    assert_eq!(sim.cf_downtime(&guid), downtime_before, "still no downtime");

    // The fingerprint was recorded for the deployed droplet: nothing to do now.
    let from = sim.requests().len();
    assert_eq!(support::run(&env).code, 0);
    assert!(
        cf_write_lines_since(&sim, from).is_empty(),
        "{:?}",
        cf_write_lines_since(&sim, from)
    );
}

#[test]
fn a_superseded_deployment_is_exit_1_and_one_that_outlives_the_timeout_is_cancelled() {
    let sim = cf_v3_sim(|_| {});
    let app = node_app();
    let mut env = pushed(&sim, "contested", &app);
    assert_eq!(run(&env).code, 0);
    set(&mut env, "BERTH_STRATEGY", "rolling");

    // Someone else's deployment took over while berth waited.
    sim.inject(berth_sim::Fault {
        status: 200,
        count: 100,
        method: Some("GET".into()),
        path_prefix: Some("/cf/v3/deployments/".into()),
        body: Some(
            r#"{"guid":"d","state":"DEPLOYED","status":{"value":"FINALIZED","reason":"SUPERSEDED"},"strategy":"rolling"}"#
                .into(),
        ),
        ..berth_sim::Fault::default()
    });
    set(&mut env, "BERTH_MEMORY", "96M");
    let superseded = run(&env);
    assert_eq!(superseded.code, 1, "{}", superseded.stderr);
    assert!(
        superseded.out("error").contains("SUPERSEDED"),
        "{}",
        superseded.json
    );
    assert!(!superseded.out("deployment_guid").is_empty());

    // New instances that crash: the deployment never finishes; at the deadline berth cancels
    // it and the old droplet stays live.
    let sim = cf_v3_sim(|_| {});
    let mut env = pushed(&sim, "contested", &app);
    assert_eq!(run(&env).code, 0);
    set(&mut env, "BERTH_STRATEGY", "rolling");
    sim.set_options(|o| o.cf_crashes = true);
    set(&mut env, "BERTH_MEMORY", "128M");
    set(&mut env, "BERTH_WAIT_TIMEOUT", "6s");
    let started = Instant::now();
    let timed_out = run(&env);
    assert_eq!(timed_out.code, 3, "{}", timed_out.stderr);
    assert!(started.elapsed() < Duration::from_secs(20));
    let cancels: Vec<String> = requests_since(&sim, 0)
        .into_iter()
        .filter(|r| r.ends_with("/actions/cancel"))
        .collect();
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert!(
        cancels[0].contains(timed_out.out("deployment_guid")),
        "{cancels:?} {}",
        timed_out.json
    );
    assert!(
        timed_out.stderr.contains("the old instances keep serving"),
        "{}",
        timed_out.stderr
    );
}

#[test]
fn rolling_on_v2_is_exit_2() {
    let sim = cf_sim(|_| {});
    let mut env = cf3_env(&sim, "old");
    set(&mut env, "BERTH_CF_API", "v2");
    set(&mut env, "BERTH_STRATEGY", "rolling");
    let run = run(&env);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("BERTH_STRATEGY"), "{}", run.stderr);
    assert!(sim.requests().is_empty(), "found before any request");
}

#[cfg(unix)]
#[test]
fn a_signal_during_a_rolling_deployment_cancels_it_within_the_grace() {
    let sim = cf_v3_sim(|_| {});
    let app = node_app();
    let mut env = pushed(&sim, "interrupted", &app);
    assert_eq!(run(&env).code, 0);
    // New instances that crash: the deployment would go on until the deadline.
    sim.set_options(|o| o.cf_crashes = true);
    set(&mut env, "BERTH_STRATEGY", "rolling");
    set(&mut env, "BERTH_ENVIRONMENT", "RELEASE=2");
    sim.clear_requests();
    let stopped = signal_after_post(&sim, &env, Duration::from_millis(1500), &["TERM"]);
    assert_eq!(stopped.code, Some(143), "{}", stopped.stderr);
    let deployment = stopped.json["deployment_guid"]
        .as_str()
        .expect("the deployment is in the outputs")
        .to_string();
    assert!(
        requests_since(&sim, 0).contains(&format!(
            "POST /cf/v3/deployments/{deployment}/actions/cancel"
        )),
        "{:?}",
        requests_since(&sim, 0)
    );
    assert!(
        stopped.stopped_in < Duration::from_secs(8),
        "{:?}",
        stopped.stopped_in
    );
    assert!(
        stopped.stderr.contains("the old instances keep serving"),
        "{}",
        stopped.stderr
    );
}

#[test]
fn a_deployment_berth_cannot_read_any_more_is_cancelled_not_left_running() {
    let sim = cf_v3_sim(|_| {});
    let app = node_app();
    let mut env = pushed(&sim, "unreadable", &app);
    assert_eq!(run(&env).code, 0);
    set(&mut env, "BERTH_STRATEGY", "rolling");
    set(&mut env, "BERTH_ENVIRONMENT", "RELEASE=3");
    sim.inject(berth_sim::Fault {
        status: 500,
        count: 50,
        method: Some("GET".into()),
        path_prefix: Some("/cf/v3/deployments/".into()),
        ..berth_sim::Fault::default()
    });
    let failed = run(&env);
    assert_ne!(failed.code, 0, "{}", failed.stderr);
    let deployment = failed.out("deployment_guid").to_string();
    assert!(!deployment.is_empty(), "{}", failed.json);
    assert!(
        requests_since(&sim, 0).contains(&format!(
            "POST /cf/v3/deployments/{deployment}/actions/cancel"
        )),
        "cancelled within the grace"
    );
}
