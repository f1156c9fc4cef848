//! Secrets never reach a log line or an output: every scenario's stdout, stderr, $GITHUB_OUTPUT,
//! dotenv file and step summary are collected and searched for every secret.

mod support;

use berth::sim::Fault;
use support::*;

#[test]
fn no_scenario_prints_a_secret() {
    let sim = cf_sim(|_| {});
    let app = tempfile::tempdir().unwrap();
    std::fs::write(app.path().join("server.js"), "// app").unwrap();
    let app_path = app.path().to_str().unwrap().to_string();
    let wrong_token = "tok-WRONG-SECRET-1c2d";
    let wrong_password = "pw-WRONG-SECRET-3e4f";

    let mut scenarios: Vec<(&str, Vec<(String, String)>)> = Vec::new();
    let mw = |d: &str| mittwald_env(&sim, d);
    scenarios.push(("mittwald install", mw("secret sweep")));
    scenarios.push(("mittwald second run", mw("secret sweep")));
    let mut e = mw("secret sweep");
    set(&mut e, "BERTH_ENTRYPOINT", "node changed.js");
    scenarios.push(("mittwald update", e));
    let mut e = mw("secret dry");
    set(&mut e, "BERTH_DRY_RUN", "true");
    scenarios.push(("mittwald dry run", e));
    let mut e = mw("secret wrong");
    set(&mut e, "BERTH_API_TOKEN", wrong_token);
    scenarios.push(("mittwald refused token", e));
    let mut e = mw("secret config");
    set(&mut e, "BERTH_WAIT", "sometimes");
    scenarios.push(("mittwald bad config", e));
    let mut e = mw("secret timeout");
    set(&mut e, "BERTH_WAIT_TIMEOUT", "1s");
    scenarios.push(("mittwald timeout", e));

    let cf = |n: &str| cf_env(&sim, n);
    let mut e = cf("secret-app");
    set(&mut e, "BERTH_PATH", &app_path);
    set(&mut e, "BERTH_STATE", "STARTED");
    set(
        &mut e,
        "BERTH_ENVIRONMENT",
        r#"{"DB_PASSWORD": "env-SECRET-value"}"#,
    );
    scenarios.push(("cf password grant, upload, start", e));
    let mut e = cf("secret-app-2");
    unset(&mut e, "BERTH_CF_USERNAME");
    unset(&mut e, "BERTH_CF_PASSWORD");
    set(&mut e, "BERTH_CF_CLIENT_ID", CF_CLIENT);
    set(&mut e, "BERTH_CF_CLIENT_SECRET", CF_CLIENT_SECRET);
    scenarios.push(("cf client credentials", e));
    let mut e = cf("secret-app-3");
    unset(&mut e, "BERTH_CF_USERNAME");
    unset(&mut e, "BERTH_CF_PASSWORD");
    set(&mut e, "BERTH_API_TOKEN", TOKEN);
    scenarios.push(("cf ready-made token", e));
    let mut e = cf("secret-app-4");
    set(&mut e, "BERTH_CF_PASSWORD", wrong_password);
    scenarios.push(("cf wrong password", e));
    let mut e = cf("secret-app-5");
    set(&mut e, "BERTH_API_TOKEN", TOKEN);
    scenarios.push(("cf two auth ways", e));
    let mut e = cf("secret-app-6");
    set(&mut e, "BERTH_ENVIRONMENT", "DB_PASSWORD env-SECRET-value");
    scenarios.push(("cf bad environment", e));

    // Runs end in success, refusal, bad configuration and timeout; collect what each wrote.
    let mut everything = String::new();
    let mut codes = Vec::new();
    for (name, env) in &scenarios {
        if *name == "mittwald timeout" {
            sim.set_options(|o| o.time_to_ready = std::time::Duration::from_secs(60));
        }
        let run = run(env);
        sim.set_options(|o| o.time_to_ready = std::time::Duration::from_millis(0));
        codes.push((*name, run.code));
        everything.push_str(&run.everything());
    }
    // The platform's own errors pass through too: make one echo a request header.
    sim.inject(Fault {
        status: 500,
        count: 1,
        method: Some("POST".into()),
        body: Some(r#"{"type":"InternalError","message":"upstream failed"}"#.into()),
        ..Fault::default()
    });
    let failed = run(&mittwald_env(&sim, "secret 500"));
    codes.push(("mittwald platform error", failed.code));
    everything.push_str(&failed.everything());

    let expected: Vec<(&str, i32)> = vec![
        ("mittwald install", 0),
        ("mittwald second run", 0),
        ("mittwald update", 0),
        ("mittwald dry run", 0),
        ("mittwald refused token", 1),
        ("mittwald bad config", 2),
        ("mittwald timeout", 3),
        ("cf password grant, upload, start", 0),
        ("cf client credentials", 0),
        ("cf ready-made token", 0),
        ("cf wrong password", 1),
        ("cf two auth ways", 2),
        ("cf bad environment", 2),
        ("mittwald platform error", 1),
    ];
    assert_eq!(
        codes, expected,
        "the scenarios cover success, refusal, bad input and timeout"
    );

    let issued: Vec<String> = sim
        .requests()
        .iter()
        .filter_map(|r| r.headers.get("authorization"))
        .filter_map(|a| {
            a.strip_prefix("bearer ")
                .or_else(|| a.strip_prefix("Bearer "))
        })
        .map(str::to_string)
        .collect();
    assert!(!issued.is_empty(), "UAA tokens were used");
    let secrets = [
        TOKEN,
        wrong_token,
        CF_PASSWORD,
        wrong_password,
        CF_CLIENT_SECRET,
        "env-SECRET-value",
    ];
    for secret in secrets
        .iter()
        .copied()
        .chain(issued.iter().map(String::as_str))
    {
        assert!(!everything.contains(secret), "a secret leaked: {secret}");
    }
    assert!(
        everything.len() > 5_000,
        "the scenarios printed what they print"
    );
}
