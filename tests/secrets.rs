//! Secrets never reach a log line or an output: every scenario's stdout, stderr, $GITHUB_OUTPUT,
//! dotenv file and step summary are collected and searched for every secret.

mod support;

use berth_sim::Fault;
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

/// The platform (or a proxy in front of it) repeats the request in its error: in its own JSON
/// error shape, as a plain dump of header lines, and in an HTML error page. Whatever secret the
/// request carried, in whatever encoding, must not come out of berth again.
#[test]
fn secrets_the_platform_echoes_back_are_not_printed() {
    // Characters that URL-encoding and JSON escaping change, so the echoes hold encoded forms.
    let password = "pw/SECRET+\"odd\" 9";
    let client_secret = "cs/SECRET&=x 7";
    let url_password = "url/SECRET@pw";
    let env_value = "env \"SECRET\"/value&x=1";
    let docker_password = "reg/SECRET \"pw\"&1";
    let sim = cf_sim(|o| {
        o.cf_users.push(("odd-user".into(), password.into()));
        o.cf_clients
            .push(("odd-client".into(), client_secret.into()));
    });
    let app = tempfile::tempdir().unwrap();
    std::fs::write(app.path().join("server.js"), "// app").unwrap();

    let echo = |kind: &str, method: &str, path: &str| Fault {
        echo: Some(kind.into()),
        method: Some(method.into()),
        path_prefix: Some(path.into()),
        ..Fault::default()
    };
    let mut everything = String::new();
    let mut issued: Vec<String> = Vec::new();
    for kind in ["json", "headers", "html"] {
        // mittwald: the token header, echoed by the POST.
        sim.inject(echo(kind, "POST", "/v2/projects/"));
        let run_ = run(&mittwald_env(&sim, &format!("echo {kind}")));
        // A 502 page is an unclear outcome: looked up, then sent again, and that one lands.
        let expected = if kind == "html" { 0 } else { 1 };
        assert_eq!(run_.code, expected, "mittwald {kind}: {}", run_.stderr);
        everything.push_str(&run_.everything());

        // mittwald: userinfo in BERTH_API_URL, echoed by the first read.
        let mut e = mittwald_env(&sim, &format!("echo url {kind}"));
        let with_userinfo = sim.url().replacen(
            "http://",
            &format!("http://ci-user:{}@", percent_encode(url_password)),
            1,
        );
        set(&mut e, "BERTH_API_URL", &with_userinfo);
        sim.inject(echo(kind, "GET", "/v2/"));
        let run_ = run(&e);
        assert_eq!(run_.code, expected, "url {kind}: {}", run_.stderr);
        everything.push_str(&run_.everything());

        // UAA: the password (form-encoded in the body), echoed by the token endpoint.
        let mut e = cf_env(&sim, &format!("echo-pw-{kind}"));
        set(&mut e, "BERTH_CF_USERNAME", "odd-user");
        set(&mut e, "BERTH_CF_PASSWORD", password);
        sim.inject(echo(kind, "POST", "/uaa/"));
        let run_ = run(&e);
        assert_eq!(run_.code, 1, "uaa password {kind}: {}", run_.stderr);
        everything.push_str(&run_.everything());

        // UAA: the client secret.
        let mut e = cf_env(&sim, &format!("echo-cs-{kind}"));
        unset(&mut e, "BERTH_CF_USERNAME");
        unset(&mut e, "BERTH_CF_PASSWORD");
        set(&mut e, "BERTH_CF_CLIENT_ID", "odd-client");
        set(&mut e, "BERTH_CF_CLIENT_SECRET", client_secret);
        sim.inject(echo(kind, "POST", "/uaa/"));
        let run_ = run(&e);
        assert_eq!(run_.code, 1, "uaa client {kind}: {}", run_.stderr);
        everything.push_str(&run_.everything());

        // A token given as `cf oauth-token` prints it ("bearer …"), echoed by the first list.
        let mut e = cf_env(&sim, &format!("echo-given-{kind}"));
        unset(&mut e, "BERTH_CF_USERNAME");
        unset(&mut e, "BERTH_CF_PASSWORD");
        set(&mut e, "BERTH_API_TOKEN", &format!("Bearer {TOKEN}"));
        sim.inject(echo(kind, "GET", "/cf/v2/apps"));
        let run_ = run(&e);
        everything.push_str(&run_.everything());

        // Cloud Controller: the UAA-issued token and the environment values, echoed by the
        // create.
        let mut e = cf_env(&sim, &format!("echo-cc-{kind}"));
        set(
            &mut e,
            "BERTH_ENVIRONMENT",
            &format!("DB_PASSWORD={env_value}"),
        );
        set(&mut e, "BERTH_PATH", app.path().to_str().unwrap());
        let before = sim.requests().len();
        sim.inject(echo(kind, "POST", "/cf/v2/apps"));
        let run_ = run(&e);
        assert_eq!(
            run_.code, expected,
            "cloud controller {kind}: {}",
            run_.stderr
        );
        everything.push_str(&run_.everything());
        // Cloud Controller v3: the registry password, echoed by the Docker package's create,
        // and the environment, echoed by the app's create.
        for path in ["/cf/v3/packages", "/cf/v3/apps"] {
            let mut e = cf3_env(&sim, &format!("echo-v3-{kind}-{}", path.len()));
            set(&mut e, "BERTH_STATE", "STARTED");
            set(
                &mut e,
                "BERTH_DOCKER_IMAGE",
                "registry.example.com/team/web:1",
            );
            set(&mut e, "BERTH_DOCKER_USERNAME", "robot");
            set(&mut e, "BERTH_DOCKER_PASSWORD", docker_password);
            set(
                &mut e,
                "BERTH_ENVIRONMENT",
                &format!("DB_PASSWORD={env_value}"),
            );
            sim.inject(echo(kind, "POST", path));
            let run_ = run(&e);
            assert_ne!(run_.code, 2, "v3 {kind} {path}: {}", run_.stderr);
            everything.push_str(&run_.everything());
        }
        issued.extend(
            sim.requests()[before..]
                .iter()
                .filter_map(|r| r.headers.get("authorization"))
                .filter_map(|a| a.strip_prefix("bearer "))
                .map(str::to_string),
        );
    }
    assert!(!issued.is_empty(), "UAA tokens were used");
    let json_escaped = |s: &str| {
        serde_json::to_string(s)
            .unwrap()
            .trim_matches('"')
            .to_string()
    };
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("ci-user:{url_password}"))
    };
    let mut forbidden: Vec<String> = vec![TOKEN.into(), basic];
    for secret in [
        password,
        client_secret,
        url_password,
        env_value,
        docker_password,
    ] {
        forbidden.push(secret.into());
        forbidden.push(percent_encode(secret));
        forbidden.push(form_encode(secret));
        forbidden.push(json_escaped(secret));
    }
    forbidden.extend(issued);
    for secret in &forbidden {
        assert!(
            !everything.contains(secret.as_str()),
            "a secret leaked: {secret}\n{everything}"
        );
    }
    assert!(
        everything.matches("***").count() >= 15,
        "the echoes were printed, scrubbed: {everything}"
    );
}

fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
