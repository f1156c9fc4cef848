//! The Cloud Foundry job through Cloud Controller v3, end to end: the real binary against the
//! simulator with v2 switched off, as on today's foundations.

mod support;

use berth_sim::SimHandle;
use support::*;

fn started_with_bits(
    sim: &SimHandle,
    name: &str,
    app: &tempfile::TempDir,
) -> Vec<(String, String)> {
    let mut env = cf3_env(sim, name);
    set(&mut env, "BERTH_STATE", "STARTED");
    set(&mut env, "BERTH_PATH", app.path().to_str().unwrap());
    env
}

/// The Cloud Controller requests since `from`, as `METHOD /path` (UAA and the root left out).
fn cc_requests(sim: &SimHandle, from: usize) -> Vec<String> {
    sim.requests()
        .into_iter()
        .skip(from)
        .filter(|r| r.path.starts_with("/cf/v"))
        .map(|r| format!("{} {}", r.method, r.path.trim_start_matches("/cf")))
        .collect()
}

/// Request lines with guids replaced by `{guid}`, to compare flows.
fn shapes(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            l.split('/')
                .map(|part| {
                    if part.len() == 36 && part.matches('-').count() == 4 {
                        "{guid}"
                    } else {
                        part
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

#[test]
fn a_new_app_is_created_packaged_built_and_started_through_v3() {
    let sim = cf_v3_sim(|_| {});
    let app = node_app();
    let mut env = started_with_bits(&sim, "shop", &app);
    set(&mut env, "BERTH_MEMORY", "128M");
    set(&mut env, "BERTH_INSTANCES", "2");
    set(
        &mut env,
        "BERTH_BUILDPACK",
        "nodejs_buildpack, binary_buildpack",
    );
    set(&mut env, "BERTH_STACK", "cflinuxfs4");
    set(&mut env, "BERTH_ENVIRONMENT", "GREETING=hello");
    set(&mut env, "BERTH_COMMAND", "node server.js");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out("api_version"), "v3");
    assert_eq!(run.out("status"), "ready");
    assert_eq!(run.out("state"), "STARTED");
    assert_eq!(run.out("package_state"), "STAGED");
    assert_eq!(run.json["created"], true);
    let guid = run.out("id").to_string();
    let droplet = run.out("droplet_guid").to_string();
    let package = run.out("package_guid").to_string();
    assert!(!droplet.is_empty() && !package.is_empty(), "{}", run.json);
    assert!(
        run.github_output
            .contains(&format!("droplet-guid={droplet}\n"))
    );

    let requests = cc_requests(&sim, 0);
    println!(
        "requests of one v3 create-and-start:\n{}",
        requests.join("\n")
    );
    assert!(
        requests.iter().all(|r| !r.contains("/v2/")),
        "v2 is off: {requests:?}"
    );
    let writes = cf_writes_since(&sim, 0);
    let shape: Vec<String> = shapes(
        &writes
            .iter()
            .map(|r| format!("{} {}", r.method, r.path.trim_start_matches("/cf")))
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        shape,
        [
            "POST /v3/apps",
            "PATCH /v3/processes/{guid}",
            "POST /v3/processes/{guid}/actions/scale",
            "POST /v3/packages",
            "POST /v3/packages/{guid}/upload",
            "POST /v3/builds",
            "PATCH /v3/apps/{guid}/relationships/current_droplet",
            "PATCH /v3/apps/{guid}",
            "POST /v3/apps/{guid}/actions/start",
        ]
    );
    let create = body(&writes[0]);
    assert_eq!(create["name"], "shop");
    assert_eq!(create["relationships"]["space"]["data"]["guid"], SPACE);
    assert_eq!(
        create["lifecycle"],
        serde_json::json!({"type": "buildpack", "data": {"buildpacks": ["nodejs_buildpack", "binary_buildpack"], "stack": "cflinuxfs4"}})
    );
    assert_eq!(create["environment_variables"]["GREETING"], "hello");
    assert_eq!(body(&writes[1])["command"], "node server.js");
    let scale = body(&writes[2]);
    assert_eq!(
        (scale["instances"].clone(), scale["memory_in_mb"].clone()),
        (2.into(), 128.into())
    );
    let package_body = body(&writes[3]);
    assert_eq!(package_body["type"], "bits");
    assert_eq!(
        package_body["relationships"]["app"]["data"]["guid"],
        guid.as_str()
    );
    let upload = &writes[4];
    assert!(
        upload
            .path
            .ends_with(&format!("/v3/packages/{package}/upload"))
    );
    assert!(
        upload.body.contains("name=\"bits\""),
        "multipart field bits"
    );
    assert!(upload.body.contains("name=\"resources\""));
    assert_eq!(body(&writes[6])["data"]["guid"], droplet.as_str());
    let annotations = &body(&writes[7])["metadata"]["annotations"];
    assert_eq!(annotations["berth/droplet-guid"], droplet.as_str());
    assert_eq!(
        annotations["berth/source-sha256"].as_str().map(str::len),
        Some(64)
    );
    // Waited on the web process's instances.
    assert!(
        requests.iter().any(|r| r.ends_with("/stats")),
        "{requests:?}"
    );
}

#[test]
fn a_re_run_with_nothing_changed_sends_nothing_but_reads() {
    let sim = cf_v3_sim(|_| {});
    let app = node_app();
    let mut env = started_with_bits(&sim, "steady", &app);
    set(&mut env, "BERTH_MEMORY", "128M");
    set(
        &mut env,
        "BERTH_ENVIRONMENT",
        r#"{"GREETING": "hello", "PORTS": 2}"#,
    );
    let first = run(&env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let from = sim.requests().len();
    let again = run(&env);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let requests = cc_requests(&sim, from);
    println!("requests of a no-op re-run:\n{}", requests.join("\n"));
    assert_eq!(
        cf_writes_since(&sim, from)
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>(),
        Vec::<String>::new(),
        "no package, no build, no stop, no start, no change"
    );
    assert_eq!(again.out("status"), "ready");
    assert_eq!(again.json["created"], false);
    assert_eq!(again.out("droplet_guid"), first.out("droplet_guid"));
    assert_eq!(again.out("package_guid"), first.out("package_guid"));

    // One changed file: new bits go up and the app restarts on them (no separate stop).
    std::fs::write(app.path().join("server.js"), "// v2").unwrap();
    let from = sim.requests().len();
    let changed = run(&env);
    assert_eq!(changed.code, 0, "{}", changed.stderr);
    let shape = shapes(
        &cf_writes_since(&sim, from)
            .iter()
            .map(|r| format!("{} {}", r.method, r.path.trim_start_matches("/cf")))
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        shape,
        [
            "POST /v3/packages",
            "POST /v3/packages/{guid}/upload",
            "POST /v3/builds",
            "PATCH /v3/apps/{guid}/relationships/current_droplet",
            "PATCH /v3/apps/{guid}",
            "POST /v3/apps/{guid}/actions/restart",
        ],
        "the old droplet serves until the new one is staged"
    );
    assert_ne!(changed.out("droplet_guid"), first.out("droplet_guid"));
}

#[test]
fn an_update_changes_only_what_differs_and_removes_variables_no_longer_given() {
    let sim = cf_v3_sim(|_| {});
    let app = node_app();
    let mut env = started_with_bits(&sim, "tuned", &app);
    set(&mut env, "BERTH_ENVIRONMENT", "KEEP=1\nDROP=2");
    set(&mut env, "BERTH_MEMORY", "128M");
    assert_eq!(run(&env).code, 0);

    let mut env = cf3_env(&sim, "tuned");
    set(&mut env, "BERTH_ENVIRONMENT", "KEEP=1\nNEW=3");
    set(&mut env, "BERTH_MEMORY", "256M");
    set(&mut env, "BERTH_HEALTH_CHECK_TYPE", "none");
    set(&mut env, "BERTH_ENABLE_SSH", "false");
    set(&mut env, "BERTH_DIEGO", "true");
    let from = sim.requests().len();
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("BERTH_DIEGO is a Cloud Controller v2 setting"),
        "{}",
        run.stderr
    );
    let writes = cf_writes_since(&sim, from);
    let shape = shapes(
        &writes
            .iter()
            .map(|r| format!("{} {}", r.method, r.path.trim_start_matches("/cf")))
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        shape,
        [
            "PATCH /v3/apps/{guid}/environment_variables",
            "PATCH /v3/processes/{guid}",
            "PATCH /v3/apps/{guid}/features/ssh",
            // New memory on a running app restarts its instances: scaled just before the restart.
            "POST /v3/processes/{guid}/actions/scale",
            "POST /v3/apps/{guid}/actions/restart",
        ]
    );
    assert_eq!(
        body(&writes[0])["var"],
        serde_json::json!({"NEW": "3", "DROP": null}),
        "only what differs; null removes"
    );
    assert_eq!(
        body(&writes[1])["health_check"]["type"],
        "process",
        "v2's none is v3's process"
    );
    assert_eq!(body(&writes[2]), serde_json::json!({"enabled": false}));
    assert_eq!(body(&writes[3]), serde_json::json!({"memory_in_mb": 256}));
    assert_eq!(run.out("status"), "ready");
}

#[test]
fn a_docker_app_gets_a_docker_package_with_its_registry_credentials_kept_secret() {
    let sim = cf_v3_sim(|_| {});
    let mut env = cf3_env(&sim, "container");
    set(&mut env, "BERTH_STATE", "STARTED");
    set(
        &mut env,
        "BERTH_DOCKER_IMAGE",
        "registry.example.com/team/web:1.2",
    );
    set(&mut env, "BERTH_DOCKER_USERNAME", "robot");
    set(&mut env, "BERTH_DOCKER_PASSWORD", "reg-SECRET-4c1e");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let writes = cf_writes_since(&sim, 0);
    assert_eq!(
        body(&writes[0])["lifecycle"]["type"],
        "docker",
        "{:?}",
        writes.iter().map(|w| &w.path).collect::<Vec<_>>()
    );
    let package = writes
        .iter()
        .find(|w| w.path == "/cf/v3/packages")
        .expect("a package");
    assert_eq!(
        body(package)["data"],
        serde_json::json!({"image": "registry.example.com/team/web:1.2", "username": "robot", "password": "reg-SECRET-4c1e"})
    );
    assert!(writes.iter().any(|w| w.path == "/cf/v3/builds"));
    assert!(!run.everything().contains("reg-SECRET-4c1e"));
    assert_eq!(run.out("status"), "ready");

    // The same image again: nothing to do.
    let from = sim.requests().len();
    let again = support::run(&env);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        cf_writes_since(&sim, from).is_empty(),
        "{:?}",
        cc_requests(&sim, from)
    );

    // A Docker app cannot become a buildpack app: exit 2, reads only.
    let app = node_app();
    let mut env = cf3_env(&sim, "container");
    set(&mut env, "BERTH_PATH", app.path().to_str().unwrap());
    let from = sim.requests().len();
    let refused = support::run(&env);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("BERTH_PATH"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("runs a Docker image"),
        "{}",
        refused.stderr
    );
    assert!(cf_writes_since(&sim, from).is_empty());
}

#[test]
fn stopped_uploads_the_bits_without_staging_them() {
    let sim = cf_v3_sim(|_| {});
    let app = node_app();
    let mut env = cf3_env(&sim, "parked");
    set(&mut env, "BERTH_STATE", "STOPPED");
    set(&mut env, "BERTH_PATH", app.path().to_str().unwrap());
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let writes: Vec<String> = shapes(
        &cf_writes_since(&sim, 0)
            .iter()
            .map(|r| format!("{} {}", r.method, r.path.trim_start_matches("/cf")))
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        writes,
        [
            "POST /v3/apps",
            "POST /v3/packages",
            "POST /v3/packages/{guid}/upload"
        ]
    );
    assert_eq!(run.out("state"), "STOPPED");
    assert_eq!(run.out("status"), "ready");
}

#[test]
fn a_failed_build_and_an_app_whose_instances_all_crash_are_exit_1() {
    let sim = cf_v3_sim(|o| o.cf_staging_fails = true);
    let app = node_app();
    let run = run(&started_with_bits(&sim, "broken", &app));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.out("error").contains("staging failed"), "{}", run.json);
    assert_eq!(run.out("package_state"), "FAILED");
    assert!(
        !run.out("id").is_empty(),
        "the app it made is still in the outputs"
    );

    let sim = cf_v3_sim(|o| o.cf_crashes = true);
    let run = support::run(&started_with_bits(&sim, "crashy", &app));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let error = run.out("error");
    assert!(error.contains("crashed"), "{}", run.json);
    assert!(
        error.contains("the last lines of the app's log") && error.contains("Cannot find module"),
        "the app's last lines explain the crash: {error}"
    );
}

#[test]
fn the_api_is_chosen_from_the_root_document_or_forced() {
    // v2 still on: auto picks v3 all the same, as the cf CLI v8 does.
    let sim = cf_sim(|_| {});
    let mut env = cf3_env(&sim, "either");
    let auto = run(&env);
    assert_eq!(auto.code, 0, "{}", auto.stderr);
    assert_eq!(auto.out("api_version"), "v3");
    set(&mut env, "BERTH_NAME", "old-school");
    set(&mut env, "BERTH_CF_API", "v2");
    let v2 = run(&env);
    assert_eq!(v2.code, 0, "{}", v2.stderr);
    assert_eq!(v2.out("api_version"), "v2");
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.path == "/cf/v2/apps" && r.method == "POST")
    );

    // Several buildpacks on v2: exit 2 before anything is sent.
    set(&mut env, "BERTH_BUILDPACK", "a,b");
    let refused = run(&env);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("BERTH_BUILDPACK"));

    // v2 forced on a foundation that switched it off: said plainly.
    let off = cf_v3_sim(|_| {});
    let mut env = cf3_env(&off, "nope");
    set(&mut env, "BERTH_CF_API", "v2");
    let run = run(&env);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.out("error").contains("switched the v2 API off"),
        "{}",
        run.json
    );
}

#[test]
fn org_space_and_stack_by_name_are_looked_up_on_v3_and_unknown_names_are_exit_2() {
    let sim = cf_v3_sim(|_| {});
    let mut env = cf3_env(&sim, "named");
    unset(&mut env, "BERTH_SPACE_GUID");
    set(&mut env, "BERTH_CF_ORG", "berth-org");
    set(&mut env, "BERTH_CF_SPACE", "dev");
    set(&mut env, "BERTH_STACK", "cflinuxfs4");
    let found = run(&env);
    assert_eq!(found.code, 0, "{}", found.stderr);
    let requests = cc_requests(&sim, 0);
    assert!(
        requests.contains(&"GET /v3/organizations".to_string()),
        "{requests:?}"
    );
    assert!(requests.contains(&"GET /v3/spaces".to_string()));

    for (var, value) in [("BERTH_CF_SPACE", "nowhere"), ("BERTH_STACK", "cflinuxfs1")] {
        let mut env = env.clone();
        set(&mut env, "BERTH_NAME", "other");
        set(&mut env, var, value);
        let from = sim.requests().len();
        let run = run(&env);
        assert_eq!(run.code, 2, "{var}: {}", run.stderr);
        assert!(run.stderr.contains(var), "{}", run.stderr);
        assert!(cf_writes_since(&sim, from).is_empty());
    }
}

fn fault(status: u16, method: &str, path_prefix: &str) -> berth_sim::Fault {
    berth_sim::Fault {
        status,
        count: 1,
        method: Some(method.into()),
        path_prefix: Some(path_prefix.into()),
        ..berth_sim::Fault::default()
    }
}

fn posts_to_apps(sim: &SimHandle) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/cf/v3/apps")
        .count()
}

#[test]
fn a_create_is_never_sent_twice_and_a_faster_run_s_app_is_taken_over() {
    // Made, but the answer lost: looked up and continued with, not sent again.
    let sim = cf_v3_sim(|_| {});
    sim.inject(berth_sim::Fault {
        drop_after_processing: true,
        ..fault(0, "POST", "/cf/v3/apps")
    });
    let app = node_app();
    let lost = run(&started_with_bits(&sim, "lost", &app));
    assert_eq!(lost.code, 0, "{}", lost.stderr);
    assert_eq!(posts_to_apps(&sim), 1);
    assert_eq!(lost.json["created"], true);
    assert_eq!(lost.out("status"), "ready");

    // Another run made it between our list and our POST: CF-UniquenessError, then that app
    // is brought to the given settings.
    sim.inject(berth_sim::Fault {
        body: Some(r#"{"pagination":{"total_results":0,"next":null},"resources":[]}"#.into()),
        ..fault(200, "GET", "/cf/v3/apps")
    });
    let mut env = started_with_bits(&sim, "lost", &app);
    set(&mut env, "BERTH_MEMORY", "64M");
    let from = sim.requests().len();
    let raced = run(&env);
    assert_eq!(raced.code, 0, "{}", raced.stderr);
    assert!(
        raced
            .stderr
            .contains("exists already; continuing with that one"),
        "{}",
        raced.stderr
    );
    assert_eq!(raced.json["created"], false);
    assert_eq!(raced.out("id"), lost.out("id"));
    let writes: Vec<String> = cf_writes_since(&sim, from)
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        writes.len(),
        3,
        "the refused POST, the scale and the restart: {writes:?}"
    );
    assert!(writes[1].ends_with("/actions/scale"), "{writes:?}");
    assert!(writes[2].ends_with("/actions/restart"), "{writes:?}");
}

#[test]
fn a_dry_run_reads_and_prints_the_v3_requests_it_would_send() {
    let sim = cf_v3_sim(|_| {});
    let app = node_app();
    let mut env = started_with_bits(&sim, "planned", &app);
    set(&mut env, "BERTH_DRY_RUN", "true");
    set(&mut env, "BERTH_ENVIRONMENT", "API_KEY=dry-SECRET-77");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        cf_writes_since(&sim, 0).is_empty(),
        "{:?}",
        cc_requests(&sim, 0)
    );
    assert_eq!(run.json["dry_run"], true);
    for line in ["POST /v3/apps", "POST /v3/packages", "POST /v3/builds"] {
        assert!(run.stderr.contains(line), "{line}: {}", run.stderr);
    }
    assert!(!run.everything().contains("dry-SECRET-77"));
}

#[test]
fn environment_values_that_are_not_text_are_read_as_the_same_text() {
    // Made through v2 with a number in its environment, as 0.1 did.
    let sim = cf_sim(|_| {});
    let app = node_app();
    let mut env = started_with_bits(&sim, "numbers", &app);
    set(&mut env, "BERTH_CF_API", "v2");
    set(&mut env, "BERTH_ENVIRONMENT", r#"{"WORKERS": 4}"#);
    assert_eq!(run(&env).code, 0);
    // Now through v3, with one variable more: read although the app holds a number (0.1 failed
    // here), and the number compared as the text v3 keeps.
    let mut env = cf3_env(&sim, "numbers");
    set(
        &mut env,
        "BERTH_ENVIRONMENT",
        r#"{"WORKERS": 4, "MODE": "ci"}"#,
    );
    let first = run(&env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let from = sim.requests().len();
    let again = run(&env);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let writes = cf_writes_since(&sim, from);
    assert!(
        writes.is_empty(),
        "4 and \"4\" are the same value: {writes:?}"
    );
}

#[test]
fn a_restage_for_new_buildpacks_keeps_the_fingerprint_and_a_failed_build_names_its_package() {
    let sim = cf_v3_sim(|_| {});
    let app = node_app();
    let mut env = started_with_bits(&sim, "restaged", &app);
    assert_eq!(run(&env).code, 0);
    set(&mut env, "BERTH_BUILDPACK", "nodejs_buildpack");
    let restaged = run(&env);
    assert_eq!(restaged.code, 0, "{}", restaged.stderr);
    let from = sim.requests().len();
    let again = run(&env);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        cf_writes_since(&sim, from).is_empty(),
        "the restaged droplet was built from the same bits: {:?}",
        cf_writes_since(&sim, from)
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );

    // New bits that fail to stage: the package just made is the one in the outputs.
    sim.set_options(|o| o.cf_staging_fails = true);
    std::fs::write(app.path().join("server.js"), "// broken").unwrap();
    let from = sim.requests().len();
    let failed = run(&env);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let made = cf_writes_since(&sim, from)
        .into_iter()
        .find(|r| r.path.ends_with("/upload"))
        .expect("an upload");
    assert!(
        made.path.contains(failed.out("package_guid")),
        "{} {}",
        made.path,
        failed.json
    );
}
