//! The Cloud Foundry job, end to end: the real binary against the built-in simulator.

mod support;

use support::*;

fn cf_writes(sim: &berth_sim::SimHandle) -> Vec<berth_sim::RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/cf/") && !matches!(r.method.as_str(), "GET" | "HEAD"))
        .collect()
}

/// A small app directory to upload.
fn app_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("package.json"),
        r#"{"scripts":{"start":"node server.js"}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("server.js"),
        "require('http').createServer().listen(process.env.PORT)",
    )
    .unwrap();
    dir
}

/// The environment of a run that uploads a small app and starts it; keep the directory alive.
fn started_with_bits(
    sim: &berth_sim::SimHandle,
    name: &str,
) -> (tempfile::TempDir, Vec<(String, String)>) {
    let app = app_dir();
    let mut env = cf_env(sim, name);
    set(&mut env, "BERTH_STATE", "STARTED");
    set(&mut env, "BERTH_PATH", app.path().to_str().unwrap());
    (app, env)
}

fn summary(sim: &berth_sim::SimHandle) -> Vec<String> {
    sim.requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[test]
fn creates_a_stopped_app_and_writes_its_guid_everywhere() {
    let sim = cf_sim(|_| {});
    let mut env = cf_env(&sim, "web");
    set(&mut env, "BERTH_MEMORY", "512M");
    set(&mut env, "BERTH_INSTANCES", "2");
    set(&mut env, "BERTH_ENVIRONMENT", "GREETING=hello\nMODE=ci");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let guid = run.out("id").to_string();
    assert_eq!(run.out("app_guid"), guid);
    assert_eq!(run.out("app_name"), "web");
    assert_eq!(run.out("state"), "STOPPED");
    assert_eq!(run.out("status"), "ready");
    assert_eq!(run.json["created"], true);
    assert!(run.github_output.contains(&format!("app-guid={guid}\n")));
    assert!(run.dotenv.contains(&format!("BERTH_APP_GUID={guid}\n")));

    let writes = cf_writes(&sim);
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.as_str()),
        ("POST", "/cf/v2/apps")
    );
    let sent = body(&writes[0]);
    assert_eq!(sent["name"], "web");
    assert_eq!(sent["space_guid"], SPACE);
    assert_eq!(sent["memory"], 512);
    assert_eq!(sent["instances"], 2);
    assert_eq!(
        sent["environment_json"],
        serde_json::json!({"GREETING": "hello", "MODE": "ci"})
    );
    assert!(
        writes[0].headers["authorization"]
            .to_ascii_lowercase()
            .starts_with("bearer ")
    );
}

#[test]
fn creates_and_starts_an_app_and_waits_until_an_instance_runs() {
    let sim = cf_sim(|_| {});
    let (_app, env) = started_with_bits(&sim, "api");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out("status"), "ready");
    assert_eq!(run.out("state"), "STARTED");
    assert_eq!(run.out("package_state"), "STAGED");
    let writes = cf_writes(&sim);
    let puts: Vec<_> = writes
        .iter()
        .filter(|w| w.method == "PUT" && !w.path.ends_with("/bits"))
        .collect();
    assert_eq!(puts.len(), 1, "{writes:?}");
    assert_eq!(body(puts[0]), serde_json::json!({"state": "STARTED"}));
    let paths = summary(&sim);
    assert!(
        paths.iter().any(|p| p.ends_with("/instances")),
        "{paths:#?}"
    );
    eprintln!("requests of one create-and-start:\n{}", paths.join("\n"));
}

#[test]
fn a_second_run_creates_nothing_and_a_changed_memory_is_put() {
    let sim = cf_sim(|_| {});
    let mut env = cf_env(&sim, "twice");
    set(&mut env, "BERTH_MEMORY", "256");
    let first = run(&env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    sim.clear_requests();

    let second = run(&env);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.json["created"], false);
    assert_eq!(second.out("id"), first.out("id"));
    assert!(cf_writes(&sim).is_empty(), "{:?}", cf_writes(&sim));

    set(&mut env, "BERTH_MEMORY", "1G");
    let third = run(&env);
    assert_eq!(third.code, 0, "{}", third.stderr);
    let writes = cf_writes(&sim);
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].method, "PUT");
    assert_eq!(writes[0].path, format!("/cf/v2/apps/{}", first.out("id")));
    assert_eq!(body(&writes[0]), serde_json::json!({"memory": 1024}));
    assert_eq!(sim.cf_apps().len(), 1);
}

#[test]
fn reuse_and_fail_on_an_existing_app() {
    let sim = cf_sim(|_| {});
    let mut env = cf_env(&sim, "existing");
    assert_eq!(run(&env).code, 0);
    sim.clear_requests();

    set(&mut env, "BERTH_MEMORY", "2G");
    set(&mut env, "BERTH_ON_EXISTING", "reuse");
    let reuse = run(&env);
    assert_eq!(reuse.code, 0, "{}", reuse.stderr);
    assert!(cf_writes(&sim).is_empty());

    set(&mut env, "BERTH_ON_EXISTING", "fail");
    let fail = run(&env);
    assert_eq!(fail.code, 1, "{}", fail.stderr);
    assert!(fail.stderr.contains("exists already"), "{}", fail.stderr);
    assert_eq!(fail.out("id"), reuse.out("id"));
}

#[test]
fn a_staging_failure_exits_1_with_the_reason() {
    let sim = cf_sim(|o| o.cf_staging_fails = true);
    let (_app, env) = started_with_bits(&sim, "broken-build");
    let run = run(&env);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("staging failed: StagingError"),
        "{}",
        run.stderr
    );
    assert_eq!(run.out("status"), "failed");
    assert_eq!(run.out("package_state"), "FAILED");
    assert!(
        !run.out("id").is_empty(),
        "the created app is still reported"
    );
}

#[test]
fn a_crash_exits_1_with_the_instance_details() {
    let sim = cf_sim(|o| o.cf_crashes = true);
    let (_app, env) = started_with_bits(&sim, "crasher");
    let run = run(&env);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("crashed"), "{}", run.stderr);
}

#[test]
fn every_auth_way_works_and_a_wrong_password_shows_uaa_s_message() {
    let sim = cf_sim(|_| {});
    // Client credentials.
    let mut env = cf_env(&sim, "by-client");
    unset(&mut env, "BERTH_CF_USERNAME");
    unset(&mut env, "BERTH_CF_PASSWORD");
    set(&mut env, "BERTH_CF_CLIENT_ID", CF_CLIENT);
    set(&mut env, "BERTH_CF_CLIENT_SECRET", CF_CLIENT_SECRET);
    let client = run(&env);
    assert_eq!(client.code, 0, "{}", client.stderr);
    let token_request = sim
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/oauth/token"))
        .expect("a token request");
    assert!(
        token_request.body.contains("grant_type=client_credentials"),
        "{}",
        token_request.body
    );

    // A ready-made token.
    sim.clear_requests();
    let mut env = cf_env(&sim, "by-token");
    unset(&mut env, "BERTH_CF_USERNAME");
    unset(&mut env, "BERTH_CF_PASSWORD");
    set(&mut env, "BERTH_API_TOKEN", TOKEN);
    let token = run(&env);
    assert_eq!(token.code, 0, "{}", token.stderr);
    assert!(
        !sim.requests()
            .iter()
            .any(|r| r.path.ends_with("/oauth/token"))
    );
    assert!(!token.everything().contains(TOKEN));

    // Password grant, with the cf client's Basic header.
    sim.clear_requests();
    let password = run(&cf_env(&sim, "by-password"));
    assert_eq!(password.code, 0, "{}", password.stderr);
    let token_request = sim
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/oauth/token"))
        .unwrap();
    assert!(token_request.body.contains("grant_type=password"));
    assert_eq!(token_request.headers["authorization"], "Basic Y2Y6");
    assert!(!password.everything().contains(CF_PASSWORD));

    let mut env = cf_env(&sim, "wrong");
    set(&mut env, "BERTH_CF_PASSWORD", "not-it-SECRET");
    let wrong = run(&env);
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(
        wrong
            .stderr
            .contains("HTTP 401 unauthorized: Bad credentials"),
        "{}",
        wrong.stderr
    );
    assert!(
        wrong.stderr.contains("logging in to UAA"),
        "{}",
        wrong.stderr
    );
    assert!(!wrong.everything().contains("not-it-SECRET"));
}

#[test]
fn a_directory_is_uploaded_as_bits_before_the_start() {
    let sim = cf_sim(|_| {});
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("server.js"),
        "require('http').createServer().listen(8080)",
    )
    .unwrap();
    std::fs::create_dir(app.path().join("lib")).unwrap();
    std::fs::write(app.path().join("lib/util.js"), "module.exports = 1").unwrap();
    let mut env = cf_env(&sim, "with-bits");
    set(&mut env, "BERTH_PATH", app.path().to_str().unwrap());
    set(&mut env, "BERTH_STATE", "STARTED");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let order: Vec<String> = cf_writes(&sim)
        .iter()
        .map(|r| format!("{} {}", r.method, r.path.split('?').next().unwrap()))
        .collect();
    let guid = run.out("id");
    assert_eq!(
        order,
        [
            "POST /cf/v2/apps".to_string(),
            format!("PUT /cf/v2/apps/{guid}/bits"),
            format!("PUT /cf/v2/apps/{guid}")
        ]
    );
    let upload = cf_writes(&sim)
        .into_iter()
        .find(|r| r.path.contains("/bits"))
        .unwrap();
    assert!(upload.query.contains("async=true"));
    assert!(upload.headers["content-type"].starts_with("multipart/form-data"));
    assert!(
        upload.body.contains("name=\"resources\""),
        "multipart part resources"
    );
    assert!(
        upload.body.contains("name=\"application\""),
        "multipart part application"
    );
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.path.starts_with("/cf/v2/jobs/")),
        "the job is followed"
    );
    let apps = sim.cf_apps();
    assert!(apps[0]["_bits"]["bytes"].as_u64().unwrap() > 0, "{apps:?}");
}

#[test]
fn starting_a_new_app_without_bits_or_image_is_refused_before_creating_it() {
    let sim = cf_sim(|_| {});
    let mut env = cf_env(&sim, "nothing-to-run");
    set(&mut env, "BERTH_STATE", "STARTED");
    let run = run(&env);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("BERTH_STATE") && run.stderr.contains("BERTH_PATH"),
        "{}",
        run.stderr
    );
    assert!(
        cf_writes(&sim)
            .iter()
            .all(|w| w.path.ends_with("/oauth/token")),
        "no app is created"
    );
    assert!(sim.cf_apps().is_empty());
}

#[test]
fn a_docker_app_starts_without_bits() {
    let sim = cf_sim(|_| {});
    let mut env = cf_env(&sim, "docker");
    set(&mut env, "BERTH_STATE", "STARTED");
    set(&mut env, "BERTH_DOCKER_IMAGE", "nginx:1.27");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out("status"), "ready");
    let create = cf_writes(&sim)
        .into_iter()
        .find(|w| w.method == "POST" && w.path == "/cf/v2/apps")
        .unwrap();
    assert_eq!(body(&create)["docker_image"], "nginx:1.27");
}

#[test]
fn a_foundation_with_v2_switched_off_is_named_plainly() {
    let sim = cf_sim(|o| o.cf_v2_disabled = true);
    let run = run(&cf_env(&sim, "any"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("switched the v2 API off"),
        "{}",
        run.stderr
    );
    assert!(cf_writes(&sim).is_empty());
}

#[test]
fn platform_warnings_are_printed() {
    let sim = cf_sim(|o| o.cf_warnings = Some("Memory quota nearly used up".into()));
    let run = run(&cf_env(&sim, "warned"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("warning: Cloud Foundry: Memory quota nearly used up"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_dry_run_sends_no_write() {
    let sim = cf_sim(|_| {});
    let app = app_dir();
    let mut env = cf_env(&sim, "planned");
    set(&mut env, "BERTH_DRY_RUN", "true");
    set(&mut env, "BERTH_STATE", "STARTED");
    set(&mut env, "BERTH_PATH", app.path().to_str().unwrap());
    set(&mut env, "BERTH_ENVIRONMENT", "API_KEY=k-SECRET-0a1b");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(r#""API_KEY": "***""#),
        "environment values are hidden: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("k-SECRET-0a1b"));
    assert!(
        run.stderr
            .contains("would send PUT /v2/apps/{new guid}/bits"),
        "{}",
        run.stderr
    );
    assert_eq!(run.json["dry_run"], true);
    assert!(
        run.stderr.contains("would send POST /v2/apps"),
        "{}",
        run.stderr
    );
    assert!(
        cf_writes(&sim)
            .iter()
            .all(|w| w.path.ends_with("/oauth/token")),
        "{:?}",
        cf_writes(&sim)
    );
    assert!(sim.cf_apps().is_empty());
}

/// (variable, value or None to remove it, variable the message must name)
const BAD: &[BadInput] = &[
    ("BERTH_MEMORY", Some("12 parsecs"), "BERTH_MEMORY"),
    ("BERTH_MEMORY", Some("0"), "BERTH_MEMORY"),
    ("BERTH_DISK_QUOTA", Some("1.5G"), "BERTH_DISK_QUOTA"),
    ("BERTH_INSTANCES", Some("-1"), "BERTH_INSTANCES"),
    ("BERTH_STATE", Some("RUNNING"), "BERTH_STATE"),
    ("BERTH_API_TOKEN", Some("also-a-token"), "BERTH_API_TOKEN"),
    ("BERTH_CF_PASSWORD", None, "BERTH_CF_PASSWORD"),
    ("BERTH_ENVIRONMENT", Some("{\"A\": 1"), "BERTH_ENVIRONMENT"),
    (
        "BERTH_ENVIRONMENT",
        Some("JUST_A_NAME"),
        "BERTH_ENVIRONMENT",
    ),
    ("BERTH_SPACE_GUID", None, "BERTH_SPACE_GUID"),
    ("BERTH_SPACE_GUID", Some("my-space"), "BERTH_SPACE_GUID"),
    ("BERTH_NAME", None, "BERTH_NAME"),
    ("BERTH_API_URL", None, "BERTH_API_URL"),
    (
        "BERTH_HEALTH_CHECK_TYPE",
        Some("tcp"),
        "BERTH_HEALTH_CHECK_TYPE",
    ),
    (
        "BERTH_HEALTH_CHECK_TIMEOUT",
        Some("soon"),
        "BERTH_HEALTH_CHECK_TIMEOUT",
    ),
    ("BERTH_STACK_GUID", Some("cflinuxfs4"), "BERTH_STACK_GUID"),
    ("BERTH_PATH", Some("/nonexistent/app"), "BERTH_PATH"),
    // The space one way only; the org and space by name come as a pair.
    ("BERTH_CF_ORG", Some("my-org"), "BERTH_CF_SPACE"),
    ("BERTH_CF_SPACE", Some("dev"), "BERTH_CF_ORG"),
    (
        "BERTH_BUILDPACK",
        Some("nodejs_buildpack, go_buildpack"),
        "BERTH_BUILDPACK",
    ),
    (
        "BERTH_HEALTH_CHECK_HTTP_ENDPOINT",
        Some("health"),
        "BERTH_HEALTH_CHECK_HTTP_ENDPOINT",
    ),
    ("BERTH_DOCKER_USERNAME", Some("ci"), "BERTH_DOCKER_PASSWORD"),
    ("BERTH_DIEGO", Some("perhaps"), "BERTH_DIEGO"),
    ("CF_STAGING_TIMEOUT", Some("fifteen"), "CF_STAGING_TIMEOUT"),
];

#[test]
fn bad_cloud_foundry_inputs_exit_2_naming_the_variable_with_no_request() {
    let sim = cf_sim(|_| {});
    assert_bad_inputs(&sim, &cf_env(&sim, "config"), BAD, CF_PASSWORD);
    // A start command longer than the platform takes, and a Docker image with bits.
    let mut env = cf_env(&sim, "config");
    set(&mut env, "BERTH_COMMAND", &"x".repeat(4097));
    let long = run(&env);
    // Two ways to name one thing.
    for (pairs, named) in [
        (
            [("BERTH_STACK", "cflinuxfs4"), ("BERTH_STACK_GUID", SPACE)],
            "BERTH_STACK",
        ),
        (
            [("BERTH_CF_ORG", "org"), ("BERTH_CF_SPACE", "dev")],
            "BERTH_SPACE_GUID",
        ),
    ] {
        let mut both = cf_env(&sim, "config");
        for (k, v) in pairs {
            set(&mut both, k, v);
        }
        let run = run(&both);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.out("error").contains(named), "{}", run.stderr);
    }
    assert_eq!(long.code, 2);
    assert!(long.stderr.contains("BERTH_COMMAND"));
    let dir = tempfile::tempdir().unwrap();
    let mut env = cf_env(&sim, "config");
    set(&mut env, "BERTH_DOCKER_IMAGE", "nginx:1");
    set(&mut env, "BERTH_PATH", dir.path().to_str().unwrap());
    let docker = run(&env);
    assert_eq!(docker.code, 2);
    assert!(docker.stderr.contains("BERTH_DOCKER_IMAGE") && docker.stderr.contains("BERTH_PATH"));
    assert!(sim.requests().is_empty());
}

#[test]
fn an_app_started_with_no_instances_is_not_waited_on() {
    let sim = cf_sim(|_| {});
    let app = app_dir();
    let mut env = cf_env(&sim, "scaled-to-zero");
    set(&mut env, "BERTH_STATE", "STARTED");
    set(&mut env, "BERTH_INSTANCES", "0");
    set(&mut env, "BERTH_PATH", app.path().to_str().unwrap());
    set(&mut env, "BERTH_WAIT_TIMEOUT", "20s");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out("status"), "ready");
    assert_eq!(run.out("state"), "STARTED");
    assert!(
        run.stderr.contains("started with 0 instances"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_running_app_is_restarted_so_changed_settings_apply() {
    let sim = cf_sim(|_| {});
    let (_app, mut env) = started_with_bits(&sim, "running");
    assert_eq!(run(&env).code, 0);
    sim.clear_requests();

    // Same app, no new bits: only the environment changes.
    unset(&mut env, "BERTH_PATH");
    set(&mut env, "BERTH_ENVIRONMENT", "FEATURE=on");
    let second = run(&env);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let puts: Vec<serde_json::Value> = cf_writes(&sim).iter().map(body).collect();
    assert_eq!(
        puts,
        [
            serde_json::json!({"environment_json": {"FEATURE": "on"}}),
            serde_json::json!({"state": "STOPPED"}),
            serde_json::json!({"state": "STARTED"}),
        ]
    );
    assert_eq!(second.out("status"), "ready");
    assert_eq!(second.out("state"), "STARTED");
}

#[test]
fn a_zip_path_that_is_not_a_zip_archive_is_refused_before_any_request() {
    let sim = cf_sim(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("app.zip");
    std::fs::write(&fake, "this is a text file, not an archive").unwrap();
    // A real archive cut short: its central directory is missing.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("server.js", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut zip, b"require('http')").unwrap();
    let whole = zip.finish().unwrap().into_inner();
    let cut = dir.path().join("cut.zip");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    for path in [&fake, &cut] {
        let mut env = cf_env(&sim, "not-a-zip");
        set(&mut env, "BERTH_PATH", path.to_str().unwrap());
        set(&mut env, "BERTH_STATE", "STARTED");
        let run = run(&env);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.out("error").contains("BERTH_PATH") && run.out("error").contains("not a zip"),
            "{}",
            run.stderr
        );
        assert!(sim.requests().is_empty(), "nothing was sent");
    }
    // The whole archive goes up as it is.
    let good = dir.path().join("good.zip");
    std::fs::write(&good, &whole).unwrap();
    let mut env = cf_env(&sim, "a-zip");
    set(&mut env, "BERTH_PATH", good.to_str().unwrap());
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.method == "PUT" && r.path.ends_with("/bits"))
    );
}

#[test]
fn the_space_and_the_stack_by_name_are_looked_up_with_reads_only() {
    use berth_sim::cloudfoundry::{DEFAULT_CF_ORG_NAME, DEFAULT_CF_SPACE_NAME, DEFAULT_STACK_GUID};
    let sim = cf_sim(|_| {});
    let mut env = cf_env(&sim, "by-name");
    unset(&mut env, "BERTH_SPACE_GUID");
    set(&mut env, "BERTH_CF_ORG", DEFAULT_CF_ORG_NAME);
    set(&mut env, "BERTH_CF_SPACE", DEFAULT_CF_SPACE_NAME);
    set(&mut env, "BERTH_STACK", "cflinuxfs4");
    let first = run(&env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let created: Vec<_> = cf_writes(&sim)
        .into_iter()
        .filter(|w| w.method == "POST" && w.path.ends_with("/v2/apps"))
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(body(&created[0])["space_guid"], SPACE);
    assert_eq!(body(&created[0])["stack_guid"], DEFAULT_STACK_GUID);

    // Names nothing matches: exit 2 naming the variable, and nothing written.
    for (var, value) in [
        ("BERTH_CF_ORG", "no-such-org"),
        ("BERTH_CF_SPACE", "no-such-space"),
        ("BERTH_STACK", "cflinuxfs1"),
    ] {
        sim.clear_requests();
        let mut bad = env.clone();
        set(&mut bad, "BERTH_NAME", "by-name-unknown");
        set(&mut bad, var, value);
        let run = run(&bad);
        assert_eq!(run.code, 2, "{var}: {}", run.stderr);
        assert!(run.out("error").contains(var), "{var}: {}", run.stderr);
        assert!(
            cf_writes(&sim)
                .iter()
                .all(|w| w.path.ends_with("/oauth/token")),
            "{var}: reads only: {:?}",
            cf_writes(&sim)
        );
    }
}
