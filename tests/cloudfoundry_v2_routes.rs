//! Cloud Foundry v2 (forced with `BERTH_CF_API=v2`): routes to visit and the staging log, end to
//! end against the simulator, as on v3.

mod support;

use berth_sim::SimHandle;
use support::*;

/// A v2 run that uploads `app` and starts it.
fn pushed(sim: &SimHandle, name: &str, app: &tempfile::TempDir) -> Vec<(String, String)> {
    let mut env = cf_env(sim, name);
    set(&mut env, "BERTH_STATE", "STARTED");
    set(&mut env, "BERTH_PATH", app.path().to_str().unwrap());
    env
}

fn count(list: &[String], f: impl Fn(&str) -> bool) -> usize {
    list.iter().filter(|r| f(r)).count()
}

#[test]
fn routes_are_created_and_mapped_before_the_start_and_reused_by_another_app() {
    let sim = cf_sim(|_| {});
    let app = node_app();
    let mut env = pushed(&sim, "shop", &app);
    set(
        &mut env,
        "BERTH_ROUTES",
        "shop.apps.sim.example/api\ndefault, tcp.sim.example:1030",
    );
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out("api_version"), "v2");
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
        count(&writes, |w| w == "POST /cf/v2/routes"),
        3,
        "{writes:?}"
    );
    let guid = run.out("id");
    let mapping = |w: &str| w.starts_with("PUT /cf/v2/routes/") && w.ends_with(guid);
    assert_eq!(count(&writes, mapping), 3, "{writes:?}");
    // Mapped once the app has its bits, before the start request.
    let last_map = writes.iter().rposition(|w| mapping(w)).unwrap();
    let start = writes
        .iter()
        .position(|w| *w == format!("PUT /cf/v2/apps/{guid}"))
        .unwrap();
    assert!(last_map < start, "{writes:#?}");
    assert!(
        writes.iter().position(|w| w.ends_with("/bits")).unwrap() < last_map,
        "{writes:#?}"
    );

    // The route exists now: a second app maps it too, without making it again.
    let mut other = pushed(&sim, "shop-canary", &app);
    set(&mut other, "BERTH_ROUTES", "shop.apps.sim.example/api");
    let from = sim.requests().len();
    let second = support::run(&other);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let writes = cf_write_lines_since(&sim, from);
    assert_eq!(
        count(&writes, |w| w == "POST /cf/v2/routes"),
        0,
        "{writes:?}"
    );
    assert_eq!(
        count(&writes, |w| w.starts_with("PUT /cf/v2/routes/")),
        1,
        "{writes:?}"
    );

    // A re-run maps nothing new, and the first app keeps the shared route.
    let from = sim.requests().len();
    let again = support::run(&env);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let writes = cf_write_lines_since(&sim, from);
    assert!(
        !writes.iter().any(|w| w.contains("/v2/routes")),
        "{writes:?}"
    );
    assert!(
        again
            .out("app_routes")
            .contains("shop.apps.sim.example/api")
    );

    // Without BERTH_ROUTES the app keeps its routes, and `url` is the first the platform lists.
    unset(&mut env, "BERTH_ROUTES");
    let from = sim.requests().len();
    let plain = support::run(&env);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert_eq!(plain.out("url"), "https://shop.apps.sim.example/api");
    assert!(
        plain.out("app_routes").ends_with("tcp.sim.example:1030"),
        "{}",
        plain.json
    );
    assert!(
        !cf_write_lines_since(&sim, from)
            .iter()
            .any(|w| w.contains("/v2/routes")),
        "nothing mapped"
    );
    assert!(
        requests_since(&sim, from).contains(&format!("GET /cf/v2/apps/{guid}/routes")),
        "{:?}",
        requests_since(&sim, from)
    );
}

#[test]
fn an_unknown_domain_is_exit_2_and_nothing_is_written() {
    let sim = cf_sim(|_| {});
    let app = node_app();
    for (routes, says) in [
        (
            "shop.example.org",
            "no domain this foundation offers matches",
        ),
        ("apps.sim.example:2000", "is not a TCP domain"),
        ("shop.tcp.sim.example", "is a TCP domain"),
    ] {
        let mut env = pushed(&sim, "nowhere", &app);
        set(&mut env, "BERTH_ROUTES", routes);
        let from = sim.requests().len();
        let refused = support::run(&env);
        assert_eq!(refused.code, 2, "{routes}: {}", refused.stderr);
        assert!(
            refused.stderr.contains("BERTH_ROUTES"),
            "{}",
            refused.stderr
        );
        assert!(refused.out("error").contains(says), "{}", refused.json);
        assert!(
            cf_write_lines_since(&sim, from).is_empty(),
            "{routes}: {:?}",
            cf_write_lines_since(&sim, from)
        );
    }
}

#[test]
fn the_staging_log_is_shown_once_in_order_and_its_tail_explains_a_failed_staging() {
    let sim = cf_sim(|_| {});
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
        at += run.stderr[at..].find(line).expect("in order");
    }
    let stop = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("::stop-commands::"))
        .expect("commands stopped around the log");
    assert!(run.stderr.contains(&format!("::{stop}::")), "and resumed");
    // The log-cache address comes from the root document; its reads carry the token.
    let requests = requests_since(&sim, 0);
    assert!(requests.contains(&"GET /cf/".to_string()), "{requests:?}");
    assert!(
        requests
            .iter()
            .any(|r| r.contains("/log-cache/api/v1/read/")),
        "{requests:?}"
    );

    let sim = cf_sim(|o| o.cf_staging_fails = true);
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

    let sim = cf_sim(|o| o.cf_crashes = true);
    let crashed = support::run(&pushed(&sim, "crashy", &app));
    assert_eq!(crashed.code, 1, "{}", crashed.stderr);
    let error = crashed.out("error");
    assert!(error.contains("crashed"), "{error}");
    assert!(
        error.contains("the last lines of the app's log:"),
        "{error}"
    );
}

#[test]
fn a_log_cache_outage_only_warns_and_logs_can_be_turned_off() {
    let sim = cf_sim(|o| o.cf_log_cache_outage = Some(berth_sim::LogCacheOutage::Unavailable));
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

    let sim = cf_sim(|_| {});
    let mut env = pushed(&sim, "silent", &app);
    set(&mut env, "BERTH_LOGS", "false");
    let run = support::run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = requests_since(&sim, 0);
    assert!(
        !requests
            .iter()
            .any(|r| r.contains("/log-cache/") || r == "GET /cf/"),
        "no log-cache and no root document: {requests:?}"
    );
}
