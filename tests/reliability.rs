//! A busy platform, a bad network, broken answers: faults injected into the simulator, and
//! what berth does about them.

mod support;

use berth_sim::{
    Fault, SeedInstallation,
    mittwald::{NODE_APP_ID, NODE_VERSION_1_0_0_ID},
};
use std::time::Duration;
use support::*;

fn fault(status: u16, count: u32, method: &str, path_prefix: &str) -> Fault {
    Fault {
        status,
        count,
        method: Some(method.into()),
        path_prefix: Some(path_prefix.into()),
        ..Fault::default()
    }
}

fn count(sim: &berth_sim::SimHandle, method: &str, path_prefix: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.method == method && r.path.starts_with(path_prefix))
        .count()
}

#[test]
fn a_busy_gateway_on_reads_is_retried_with_one_line_each() {
    let sim = sim(0);
    sim.inject(fault(503, 2, "GET", "/v2/apps/"));
    let run = run(&mittwald_env(&sim, "retry reads"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        count(&sim, "GET", "/v2/apps/"),
        3,
        "two refusals, then the answer"
    );
    let retries: Vec<_> = run
        .stderr
        .lines()
        .filter(|l| l.contains("retrying in"))
        .collect();
    assert_eq!(retries.len(), 2, "{}", run.stderr);
    assert!(
        retries[0].contains("503 Service Unavailable") && retries[0].contains("attempt 2 of 5"),
        "{retries:?}"
    );
}

#[test]
fn a_rate_limit_is_waited_out_using_the_reset_header() {
    let sim = sim_with(|o| {
        o.time_to_ready = Duration::ZERO;
        o.rate_limit = 3;
        o.rate_window = Duration::from_millis(1500);
    });
    let run = run(&mittwald_env(&sim, "rate limited"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("429 Too Many Requests; retrying"),
        "{}",
        run.stderr
    );
    assert_eq!(sim.installations().len(), 1);
}

#[test]
fn a_refused_post_is_looked_up_before_it_is_sent_again() {
    let sim = sim(0);
    sim.inject(fault(503, 1, "POST", "/v2/projects/"));
    let run = run(&mittwald_env(&sim, "post once"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(count(&sim, "POST", "/v2/projects/"), 2);
    assert_eq!(sim.installations().len(), 1, "no duplicate");
    assert!(
        run.stderr.contains("looking it up before anything else"),
        "{}",
        run.stderr
    );
    let posts: Vec<_> = sim.requests().into_iter().map(|r| r.method).collect();
    let first_post = posts.iter().position(|m| m == "POST").unwrap();
    let second_post = posts.iter().rposition(|m| m == "POST").unwrap();
    assert!(
        posts[first_post + 1..second_post]
            .iter()
            .any(|m| m == "GET"),
        "a lookup between the POSTs: {posts:?}"
    );
}

#[test]
fn a_proxy_error_page_on_the_post_is_handled_like_a_lost_answer() {
    let sim = sim(0);
    sim.inject(Fault {
        body: Some("<html><body><h1>502 Bad Gateway</h1>nginx</body></html>".into()),
        ..fault(502, 1, "POST", "/v2/projects/")
    });
    let run = run(&mittwald_env(&sim, "behind a proxy"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(sim.installations().len(), 1);
    assert!(
        run.stderr
            .contains("HTTP 502: <html><body><h1>502 Bad Gateway</h1>nginx</body></html>"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_404_or_403_right_after_the_write_is_waited_out() {
    for status in [404, 403] {
        let sim = sim(0);
        sim.inject(fault(status, 2, "GET", "/v2/app-installations/"));
        let run = run(&mittwald_env(&sim, "eventually consistent"));
        assert_eq!(run.code, 0, "{status}: {}", run.stderr);
        assert!(run.stderr.contains("not visible yet"), "{}", run.stderr);
        assert_eq!(run.out("status"), "ready");
    }
}

#[test]
fn a_patch_refused_while_busy_is_sent_again_once_ready() {
    let sim = sim(0);
    let mut env = mittwald_env(&sim, "busy patch");
    assert_eq!(run(&env).code, 0);
    sim.inject(Fault {
        body: Some(r#"{"type":"PreconditionFailedError","message":"app installation is in phase APP_PHASE_INSTALLING, expected phase APP_PHASE_READY"}"#.into()),
        ..fault(412, 1, "PATCH", "/v2/app-installations/")
    });
    set(&mut env, "BERTH_ENTRYPOINT", "node later.js");
    let second = run(&env);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(count(&sim, "PATCH", "/v2/app-installations/"), 2);
    assert_eq!(
        sim.installations()[0]["userInputs"][0]["value"],
        "node later.js"
    );
}

#[test]
fn a_disabled_installation_is_reported_not_waited_on() {
    let sim = sim(0);
    sim.seed_installation(SeedInstallation {
        project_id: PROJECT.into(),
        app_id: NODE_APP_ID.into(),
        app_version_id: NODE_VERSION_1_0_0_ID.into(),
        description: "switched off".into(),
        phase: Some("disabled".into()),
        ..SeedInstallation::default()
    });
    let started = std::time::Instant::now();
    let run = run(&mittwald_env(&sim, "switched off"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("is disabled: it will not become ready"),
        "{}",
        run.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(run.out("phase"), "disabled");
}

#[test]
fn broken_answers_give_a_clear_error_and_exit_1() {
    let cases = [
        (
            "an HTML page with 200",
            "<html><body>Welcome to nginx!</body></html>",
            "cannot read",
        ),
        ("malformed JSON", r#"[{"id": "#, "cannot read"),
        (
            "a body missing fields",
            r#"[{"name": "x"}]"#,
            "missing field",
        ),
    ];
    for (what, body, expected) in cases {
        let sim = sim(0);
        sim.inject(Fault {
            body: Some(body.into()),
            ..fault(200, 1, "GET", "/v2/apps/")
        });
        let run = run(&mittwald_env(&sim, "broken"));
        assert_eq!(run.code, 1, "{what}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{what}: {}", run.stderr);
        assert!(
            run.stderr.contains("listing the versions of Node.js"),
            "{what}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{what}");
        assert_eq!(run.out("status"), "failed");
    }
}

#[test]
fn racing_runs_with_one_description_end_with_one_installation() {
    let sim = sim(300);
    let env = mittwald_env(&sim, "raced");
    let runs: Vec<Run> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| run(&env))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &runs {
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let installed = sim.installations();
    assert_eq!(installed.len(), 1, "{installed:#?}");
    let id = installed[0]["id"].as_str().unwrap();
    assert!(
        runs.iter().all(|r| r.out("id") == id),
        "every run reports the survivor"
    );
    let deletes = count(&sim, "DELETE", "/v2/app-installations/");
    let posts = count(&sim, "POST", "/v2/projects/");
    assert_eq!(
        deletes,
        posts - 1,
        "each extra installation was removed by the run that made it"
    );
}

#[test]
fn a_dropped_answer_to_the_post_is_looked_up_not_sent_again() {
    let sim = sim(0);
    sim.inject(Fault {
        status: 0,
        drop_after_processing: true,
        ..fault(0, 1, "POST", "/v2/projects/")
    });
    let run = run(&mittwald_env(&sim, "dropped"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        count(&sim, "POST", "/v2/projects/"),
        1,
        "the POST is not repeated"
    );
    assert_eq!(sim.installations().len(), 1);
    assert_eq!(
        run.out("id"),
        sim.installations()[0]["id"].as_str().unwrap()
    );
    assert_eq!(run.json["created"], true);
}

#[test]
fn a_redirect_to_another_host_is_not_followed_and_the_token_stays_home() {
    let elsewhere = sim(0);
    let sim = sim(0);
    let mut headers = std::collections::BTreeMap::new();
    headers.insert(
        "location".to_string(),
        format!("{}/v2/apps/{NODE_APP_ID}/versions", elsewhere.url()),
    );
    sim.inject(Fault {
        headers,
        ..fault(307, 1, "GET", "/v2/apps/")
    });
    let run = run(&mittwald_env(&sim, "redirected"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("redirected to") && run.stderr.contains("same host"),
        "{}",
        run.stderr
    );
    assert!(
        elsewhere.requests().is_empty(),
        "nothing, and so no token, reached the other host"
    );
    assert!(!run.everything().contains(TOKEN));
}

#[test]
fn a_redirect_within_the_host_is_followed() {
    let sim = sim(0);
    let mut headers = std::collections::BTreeMap::new();
    headers.insert(
        "location".to_string(),
        format!("{}/v2/apps/{NODE_APP_ID}/versions", sim.url()),
    );
    sim.inject(Fault {
        headers,
        ..fault(307, 1, "GET", "/v2/apps/")
    });
    let run = run(&mittwald_env(&sim, "moved"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let versions: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/versions"))
        .collect();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        versions[1]
            .headers
            .get("x-access-token")
            .map(String::as_str),
        Some(TOKEN)
    );
}

#[test]
fn an_enormous_or_broken_body_is_an_error_not_a_crash() {
    for garbage in ["huge", "json", "missing-fields"] {
        let sim = sim(0);
        sim.inject(Fault {
            garbage: Some(garbage.into()),
            ..fault(0, 1, "GET", "/v2/apps/")
        });
        let run = run(&mittwald_env(&sim, "garbage"));
        assert_eq!(run.code, 1, "{garbage}: {}", run.stderr);
        assert!(
            run.stderr.contains("listing the versions of Node.js"),
            "{garbage}: {}",
            run.stderr
        );
        if garbage == "huge" {
            assert!(run.stderr.contains("larger than 4 MiB"), "{}", run.stderr);
        }
        assert_eq!(run.out("status"), "failed");
    }
    // A proxy's HTML error page (502) on a read is a busy gateway: retried, then fine.
    let sim = sim(0);
    sim.inject(Fault {
        garbage: Some("html".into()),
        ..fault(0, 1, "GET", "/v2/apps/")
    });
    let run = run(&mittwald_env(&sim, "garbage"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("502 Bad Gateway; retrying"),
        "{}",
        run.stderr
    );
}

#[cfg(unix)]
#[test]
fn sigint_while_waiting_exits_130_with_what_was_created() {
    let sim = sim(60_000);
    let stopped = interrupt_while_waiting(&sim, &mittwald_env(&sim, "ctrl-c"), "INT");
    assert!(
        stopped.stopped_in < Duration::from_secs(1),
        "took {:?}",
        stopped.stopped_in
    );
    assert_eq!(stopped.code, Some(130));
    assert_eq!(stopped.json["id"], sim.installations()[0]["id"]);
    assert_eq!(stopped.json["status"], "pending");
}

#[test]
fn a_lost_or_refused_cloud_foundry_create_never_makes_two_apps() {
    // Refused by a busy gateway: looked up, nothing there, sent again.
    let sim = cf_sim(|_| {});
    sim.inject(fault(503, 1, "POST", "/cf/v2/apps"));
    let run1 = run(&cf_env(&sim, "refused-once"));
    assert_eq!(run1.code, 0, "{}", run1.stderr);
    assert_eq!(count(&sim, "POST", "/cf/v2/apps"), 2);
    assert!(
        run1.stderr.contains("looking it up before anything else"),
        "{}",
        run1.stderr
    );

    // Made, but the answer dropped: looked up and continued with, not sent again.
    sim.inject(Fault {
        drop_after_processing: true,
        ..fault(0, 1, "POST", "/cf/v2/apps")
    });
    sim.clear_requests();
    let run2 = run(&cf_env(&sim, "answer-lost"));
    assert_eq!(run2.code, 0, "{}", run2.stderr);
    assert_eq!(count(&sim, "POST", "/cf/v2/apps"), 1);
    assert_eq!(run2.json["created"], true);
    let names: Vec<String> = sim
        .cf_apps()
        .iter()
        .map(|a| a["entity"]["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        names.iter().filter(|n| *n == "answer-lost").count(),
        1,
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| *n == "refused-once").count(),
        1,
        "{names:?}"
    );
}

#[test]
fn a_lost_answer_to_removing_our_duplicate_is_not_a_failure() {
    let sim = sim(0);
    // The list is answered late, and meanwhile another run's installation appears: it is older
    // than the one this run is about to make.
    sim.inject(Fault {
        delay_ms: Some(600),
        method: Some("GET".into()),
        path_prefix: Some(format!("/v2/projects/{PROJECT}/app-installations")),
        ..Fault::default()
    });
    // Removing the duplicate works, but its answer is lost: the DELETE is sent again and the
    // platform says 404.
    sim.inject(Fault {
        drop_after_processing: true,
        method: Some("DELETE".into()),
        ..Fault::default()
    });
    let seeder = {
        let sim = sim.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            while !sim
                .requests()
                .iter()
                .any(|r| r.method == "GET" && r.path.ends_with("/app-installations"))
            {
                assert!(start.elapsed() < Duration::from_secs(10));
                std::thread::sleep(Duration::from_millis(10));
            }
            sim.seed_installation(SeedInstallation {
                project_id: PROJECT.into(),
                app_id: NODE_APP_ID.into(),
                app_version_id: NODE_VERSION_1_0_0_ID.into(),
                description: "raced".into(),
                phase: Some("ready".into()),
                ..SeedInstallation::default()
            })
        })
    };
    let run = run(&mittwald_env(&sim, "raced"));
    let twin = seeder.join().unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out("id"), twin, "continued with the older twin");
    assert_eq!(run.json["created"], false);
    let deletes = count(&sim, "DELETE", "/v2/app-installations/");
    assert_eq!(deletes, 2, "sent again after the lost answer");
    assert_eq!(sim.installations().len(), 1, "no duplicate is left");
}
