//! The mittwald job, end to end: the real binary against the built-in simulator.

mod support;

use berth_sim::{
    SeedInstallation,
    mittwald::{NODE_APP_ID, NODE_VERSION_1_0_0_ID, NODE_VERSION_1_1_0_ID, WORDPRESS_APP_ID},
};
use support::*;

#[test]
fn fresh_install_writes_ids_and_path_to_every_sink() {
    let sim = sim(300);
    let run = run(&mittwald_env(&sim, "shop frontend"));
    assert_eq!(run.code, 0, "{}", run.stderr);

    let id = run.out("id").to_string();
    assert_eq!(run.out("installation_id"), id);
    assert_eq!(run.out("status"), "ready");
    assert_eq!(run.out("phase"), "ready");
    assert_eq!(run.json["created"], true);
    assert_eq!(run.out("app_version_id"), NODE_VERSION_1_0_0_ID);
    assert_eq!(run.out("app_version"), "1.0.0");
    let short_id = run.out("short_id");
    let path = run.out("installation_path");
    assert!(short_id.starts_with("a-"), "{short_id}");
    assert!(!path.is_empty());

    // The platform holds exactly that installation.
    let installed = sim.installations();
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0]["id"], id.as_str());
    assert_eq!(installed[0]["shortId"], short_id);

    // Every sink, in its own spelling.
    assert!(
        run.github_output
            .contains(&format!("installation-id={id}\n")),
        "{}",
        run.github_output
    );
    assert!(
        run.github_output
            .contains(&format!("installation-path={path}\n"))
    );
    assert!(run.github_output.contains("status=ready\n"));
    assert!(
        run.dotenv
            .contains(&format!("BERTH_INSTALLATION_ID={id}\n")),
        "{}",
        run.dotenv
    );
    assert!(run.dotenv.contains(&format!("BERTH_SHORT_ID={short_id}\n")));
    assert!(
        run.summary
            .contains(&format!("| `installation-id` | {id} |")),
        "{}",
        run.summary
    );

    // What was sent: one POST with the recommended version and the default entrypoint.
    let requests = sim.requests();
    let writes = writes(&requests);
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].method, "POST");
    assert_eq!(
        writes[0].path,
        format!("/v2/projects/{PROJECT}/app-installations")
    );
    let sent = body(writes[0]);
    assert_eq!(sent["appVersionId"], NODE_VERSION_1_0_0_ID);
    assert_eq!(sent["description"], "shop frontend");
    assert_eq!(sent["updatePolicy"], "none");
    assert_eq!(
        sent["userInputs"],
        serde_json::json!([{"name": "entrypoint", "value": "yarn start"}])
    );
    assert_eq!(
        writes[0].headers.get("x-access-token").map(String::as_str),
        Some(TOKEN)
    );
    assert!(writes[0].headers["user-agent"].starts_with("berth/"));
}

#[test]
fn the_first_read_after_the_write_waits_for_the_event() {
    let sim = sim(0);
    let run = run(&mittwald_env(&sim, "consistent"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = sim.requests();
    let post = requests
        .iter()
        .position(|r| r.method == "POST")
        .expect("a POST");
    // After the POST: one look for a twin created by a racing run, then the read; both carry
    // the event, so the platform answers at once and no 404 is waited out.
    let after: Vec<_> = requests[post + 1..].iter().collect();
    assert_eq!(after.len(), 2, "{after:#?}");
    assert_eq!(
        after[0].path,
        format!("/v2/projects/{PROJECT}/app-installations")
    );
    assert!(after[1].path.starts_with("/v2/app-installations/"));
    for r in after {
        assert_eq!(r.method, "GET");
        assert!(r.headers.contains_key("if-event-reached"), "{r:?}");
    }
}

#[test]
fn a_second_run_creates_nothing() {
    let sim = sim(0);
    let env = mittwald_env(&sim, "idempotent");
    let first = run(&env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    sim.clear_requests();

    let second = run(&env);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.json["created"], false);
    assert_eq!(second.out("id"), first.out("id"));
    assert_eq!(
        second.out("installation_path"),
        first.out("installation_path")
    );
    assert_eq!(second.out("status"), "ready");
    assert!(writes(&sim.requests()).is_empty(), "{:?}", sim.requests());
    assert_eq!(sim.installations().len(), 1);
    assert!(
        second.stderr.contains("already has the given settings"),
        "{}",
        second.stderr
    );
}

#[test]
fn a_changed_entrypoint_is_patched_and_waited_for() {
    let sim = sim(200);
    let mut env = mittwald_env(&sim, "api");
    set(&mut env, "BERTH_ENTRYPOINT", "node a.js");
    let first = run(&env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    sim.clear_requests();

    set(&mut env, "BERTH_ENTRYPOINT", "node b.js");
    let second = run(&env);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.json["created"], false);
    assert_eq!(second.out("status"), "ready");
    let requests = sim.requests();
    let writes = writes(&requests);
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].method, "PATCH");
    assert_eq!(
        writes[0].path,
        format!("/v2/app-installations/{}", first.out("id"))
    );
    let sent = body(writes[0]);
    assert_eq!(
        sent["userInputs"],
        serde_json::json!([{"name": "entrypoint", "value": "node b.js"}])
    );
    // Only what changed is sent.
    assert!(
        sent.get("appVersionId").is_none() && sent.get("updatePolicy").is_none(),
        "{sent}"
    );
    let installed = &sim.installations()[0];
    assert_eq!(installed["userInputs"][0]["value"], "node b.js");
    assert_eq!(installed["phase"], "ready");
}

#[test]
fn a_given_version_is_patched_but_recommended_never_downgrades() {
    let sim = sim(100);
    sim.seed_installation(SeedInstallation {
        project_id: PROJECT.into(),
        app_id: NODE_APP_ID.into(),
        app_version_id: NODE_VERSION_1_0_0_ID.into(),
        description: "versions".into(),
        ..SeedInstallation::default()
    });
    let mut env = mittwald_env(&sim, "versions");
    set(&mut env, "BERTH_APP_VERSION", "1.1.0");
    let up = run(&env);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let requests = sim.requests();
    let patches = writes(&requests);
    assert_eq!(patches.len(), 1);
    assert_eq!(body(patches[0])["appVersionId"], NODE_VERSION_1_1_0_ID);
    assert_eq!(up.out("app_version"), "1.1.0");
    assert_eq!(
        sim.installations()[0]["appVersion"]["current"],
        NODE_VERSION_1_1_0_ID
    );

    sim.clear_requests();
    set(&mut env, "BERTH_APP_VERSION", "recommended");
    let again = run(&env);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        writes(&sim.requests()).is_empty(),
        "recommended (1.0.0) must not downgrade 1.1.0"
    );
    assert_eq!(again.out("app_version"), "1.1.0");
}

#[test]
fn reuse_leaves_the_installation_as_it_is() {
    let sim = sim(0);
    let mut env = mittwald_env(&sim, "reuse me");
    let first = run(&env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    sim.clear_requests();

    set(&mut env, "BERTH_ENTRYPOINT", "node other.js");
    set(&mut env, "BERTH_ON_EXISTING", "reuse");
    let second = run(&env);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.out("id"), first.out("id"));
    assert_eq!(second.json["created"], false);
    assert!(writes(&sim.requests()).is_empty());
    assert_eq!(
        sim.installations()[0]["userInputs"][0]["value"],
        "yarn start"
    );
}

#[test]
fn fail_stops_with_exit_1_when_the_installation_exists() {
    let sim = sim(0);
    let mut env = mittwald_env(&sim, "only once");
    let first = run(&env);
    assert_eq!(first.code, 0, "{}", first.stderr);

    set(&mut env, "BERTH_ON_EXISTING", "fail");
    let second = run(&env);
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert_eq!(second.out("status"), "failed");
    assert_eq!(
        second.out("id"),
        first.out("id"),
        "the existing id is reported"
    );
    assert!(
        second.out("error").contains("exists already"),
        "{}",
        second.stdout
    );
    assert!(
        second.stderr.contains("BERTH_ON_EXISTING is fail"),
        "{}",
        second.stderr
    );
    assert_eq!(sim.installations().len(), 1);
}

#[test]
fn a_timeout_exits_3_with_the_id_in_the_outputs() {
    let sim = sim(60_000);
    let mut env = mittwald_env(&sim, "slow");
    set(&mut env, "BERTH_WAIT_TIMEOUT", "2s");
    let started = std::time::Instant::now();
    let run = run(&env);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(run.out("status"), "pending");
    let id = run.out("id");
    assert_eq!(sim.installations()[0]["id"], id);
    assert!(
        run.github_output
            .contains(&format!("installation-id={id}\n"))
    );
    assert!(run.dotenv.contains("BERTH_STATUS=pending\n"));
    assert!(run.out("error").contains("timed out"), "{}", run.stdout);
    assert!(run.stderr.contains("phase"), "{}", run.stderr);
}

#[test]
fn without_waiting_it_returns_right_after_the_write() {
    let sim = sim(60_000);
    let mut env = mittwald_env(&sim, "no wait");
    set(&mut env, "BERTH_WAIT", "false");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out("status"), "pending");
    assert_eq!(run.json["created"], true);
    assert!(!run.out("installation_path").is_empty());
    let reads_after_post = sim
        .requests()
        .iter()
        .skip_while(|r| r.method != "POST")
        .filter(|r| r.method == "GET" && r.path.starts_with("/v2/app-installations/"))
        .count();
    assert_eq!(reads_after_post, 1, "one read for id and path, no polling");
}

#[test]
fn a_dry_run_plans_but_sends_no_write() {
    let sim = sim(0);
    let mut env = mittwald_env(&sim, "dry");
    set(&mut env, "BERTH_DRY_RUN", "true");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(writes(&sim.requests()).is_empty());
    assert!(sim.installations().is_empty());
    assert!(
        run.stderr.contains(&format!(
            "would send POST /v2/projects/{PROJECT}/app-installations"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(NODE_VERSION_1_0_0_ID),
        "the planned body is printed"
    );
    assert_eq!(run.json["dry_run"], true);
    assert_eq!(run.json["created"], false);

    // On an existing installation, the PATCH is planned, not sent.
    set(&mut env, "BERTH_DRY_RUN", "false");
    assert_eq!(support::run(&env).code, 0);
    sim.clear_requests();
    set(&mut env, "BERTH_DRY_RUN", "yes");
    set(&mut env, "BERTH_ENTRYPOINT", "node x.js");
    let plan = support::run(&env);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr
            .contains("would send PATCH /v2/app-installations/"),
        "{}",
        plan.stderr
    );
    assert!(writes(&sim.requests()).is_empty());
}

#[test]
fn an_unknown_phase_is_waited_through() {
    // Each phase 0.7 s: the second read, about a second after the first, falls in the middle
    // of the unknown one (0.7 to 1.4 s).
    let sim = sim_with(|o| {
        o.time_to_ready = std::time::Duration::from_millis(2100);
        o.phases = vec![
            "pending".into(),
            "quantum-tunnelling".into(),
            "installing".into(),
        ];
    });
    let run = run(&mittwald_env(&sim, "new phase"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out("status"), "ready");
    assert!(
        run.stderr.contains("phase quantum-tunnelling"),
        "{}",
        run.stderr
    );
}

#[test]
fn two_installations_with_the_description_are_an_error_listing_both() {
    let sim = sim(0);
    let ids: Vec<String> = (0..2)
        .map(|_| {
            sim.seed_installation(SeedInstallation {
                project_id: PROJECT.into(),
                app_id: NODE_APP_ID.into(),
                app_version_id: NODE_VERSION_1_0_0_ID.into(),
                description: "twin".into(),
                ..SeedInstallation::default()
            })
        })
        .collect();
    let run = run(&mittwald_env(&sim, "twin"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    for id in &ids {
        assert!(
            run.stderr.contains(id.as_str()),
            "{id} not listed: {}",
            run.stderr
        );
    }
    assert!(writes(&sim.requests()).is_empty());
}

#[test]
fn an_app_is_found_by_name_and_its_required_inputs_are_checked() {
    let sim = sim(0);
    let mut env = mittwald_env(&sim, "blog");
    set(&mut env, "BERTH_APP", "wordpress");
    let missing = run(&env);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("BERTH_USER_INPUTS"),
        "{}",
        missing.stderr
    );
    assert!(writes(&sim.requests()).is_empty());

    let versions = sim
        .requests()
        .into_iter()
        .find(|r| r.path.contains("/versions"))
        .expect("versions read");
    assert!(
        versions.path.contains(WORDPRESS_APP_ID),
        "resolved by name: {}",
        versions.path
    );
}

#[test]
fn an_unknown_user_input_exits_2_before_any_write() {
    let sim = sim(0);
    let mut env = mittwald_env(&sim, "typo");
    set(
        &mut env,
        "BERTH_USER_INPUTS",
        "entrypoint=node x.js\nport=8080",
    );
    let run = run(&env);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("BERTH_USER_INPUTS") && run.stderr.contains("\"port\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("accepted: entrypoint"),
        "{}",
        run.stderr
    );
    assert!(writes(&sim.requests()).is_empty());
    assert_eq!(run.out("status"), "failed");
}

#[test]
fn an_unknown_app_or_version_exits_2_listing_what_exists() {
    let sim = sim(0);
    let mut env = mittwald_env(&sim, "x");
    set(&mut env, "BERTH_APP", "Ruby on Rails");
    let run1 = run(&env);
    assert_eq!(run1.code, 2, "{}", run1.stderr);
    assert!(
        run1.stderr.contains("BERTH_APP") && run1.stderr.contains("Node.js"),
        "{}",
        run1.stderr
    );

    set(&mut env, "BERTH_APP", "node");
    set(&mut env, "BERTH_APP_VERSION", "9.9.9");
    let run2 = run(&env);
    assert_eq!(run2.code, 2, "{}", run2.stderr);
    assert!(
        run2.stderr.contains("BERTH_APP_VERSION") && run2.stderr.contains("1.1.0, 1.0.0"),
        "{}",
        run2.stderr
    );
    assert!(writes(&sim.requests()).is_empty());
}

#[test]
fn the_token_appears_in_no_output_even_when_refused() {
    let sim = sim(0);
    let ok = run(&mittwald_env(&sim, "secret"));
    assert_eq!(ok.code, 0);
    assert!(!ok.everything().contains(TOKEN));

    let mut env = mittwald_env(&sim, "secret");
    set(&mut env, "BERTH_API_TOKEN", "tok-WRONG-8d7e6f");
    let refused = run(&env);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("HTTP 401"), "{}", refused.stderr);
    assert!(
        refused.out("error").contains("refused BERTH_API_TOKEN"),
        "names the input: {}",
        refused.stderr
    );
    assert!(!refused.everything().contains("tok-WRONG-8d7e6f"));
    assert!(!refused.everything().contains(TOKEN));
}

#[test]
fn a_platform_error_reaches_the_user_in_one_line() {
    let sim = sim(0);
    sim.inject(berth_sim::Fault {
        status: 500,
        count: 1,
        method: Some("POST".into()),
        ..Default::default()
    });
    let run = run(&mittwald_env(&sim, "boom"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("creating an app installation in project p-test01"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("HTTP 500"), "{}", run.stderr);
    assert_eq!(run.out("status"), "failed");
}

#[test]
fn a_busy_installation_is_waited_for_before_it_is_patched() {
    let sim = sim(800);
    sim.seed_installation(SeedInstallation {
        project_id: PROJECT.into(),
        app_id: NODE_APP_ID.into(),
        app_version_id: NODE_VERSION_1_0_0_ID.into(),
        description: "busy".into(),
        phase: Some("installing".into()),
        ..SeedInstallation::default()
    });
    let mut env = mittwald_env(&sim, "busy");
    set(&mut env, "BERTH_ENTRYPOINT", "node busy.js");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("waiting until it is ready to change it"),
        "{}",
        run.stderr
    );
    let requests = sim.requests();
    let writes = writes(&requests);
    assert_eq!(
        writes.len(),
        1,
        "one PATCH, sent once the installation was ready: {writes:?}"
    );
    assert_eq!(writes[0].method, "PATCH");
    assert_eq!(
        sim.installations()[0]["userInputs"][0]["value"],
        "node busy.js"
    );
    assert_eq!(run.out("status"), "ready");
}

#[cfg(unix)]
#[test]
fn sigterm_while_waiting_exits_143_with_the_id_in_the_outputs() {
    let sim = sim(60_000);
    let stopped = interrupt_while_waiting(&sim, &mittwald_env(&sim, "interrupted"), "TERM");
    assert!(
        stopped.stopped_in < std::time::Duration::from_secs(1),
        "took {:?}",
        stopped.stopped_in
    );
    assert_eq!(stopped.code, Some(143));
    let id = sim.installations()[0]["id"].as_str().unwrap().to_string();
    assert_eq!(stopped.json["id"], id.as_str());
    assert_eq!(stopped.json["status"], "pending");
    assert!(
        stopped
            .github_output
            .contains(&format!("installation-id={id}\n"))
    );
}

#[test]
fn an_installation_beyond_the_first_page_is_found() {
    let sim = sim(0);
    let seed = |description: String| {
        sim.seed_installation(SeedInstallation {
            project_id: PROJECT.into(),
            app_id: NODE_APP_ID.into(),
            app_version_id: NODE_VERSION_1_0_0_ID.into(),
            description,
            ..SeedInstallation::default()
        })
    };
    for i in 0..150 {
        seed(format!("other {i}"));
    }
    let ours = seed("last one".into());
    let run = run(&mittwald_env(&sim, "last one"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out("id"), ours);
    assert_eq!(run.json["created"], false);
    let lists = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/app-installations"))
        .count();
    assert_eq!(lists, 2, "two pages of 100");
}

#[test]
fn a_dry_run_over_a_ready_installation_reports_pending() {
    let sim = sim(0);
    let first = run(&mittwald_env(&sim, "dry over ready"));
    assert_eq!(first.out("status"), "ready", "{}", first.stderr);
    let mut env = mittwald_env(&sim, "dry over ready");
    set(&mut env, "BERTH_DRY_RUN", "true");
    let dry = run(&env);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(dry.json["dry_run"], true);
    assert_eq!(
        dry.out("status"),
        "pending",
        "a dry run is pending (CONTRACT)"
    );
}
