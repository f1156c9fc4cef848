//! Tokens that expire mid-run: UAA's are renewed ahead of expiry and once on a 401; a token the
//! user gave cannot be, and the message says so.

mod support;

use berth_sim::{Fault, RecordedRequest};
use std::time::Duration;
use support::*;

fn app_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("server.js"), "// app").unwrap();
    dir
}

fn token_requests(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.path == "/uaa/oauth/token")
        .map(|r| {
            let grant = r
                .body
                .split('&')
                .find_map(|kv| kv.strip_prefix("grant_type="))
                .unwrap_or_default();
            grant.to_string()
        })
        .collect()
}

fn invalid_token(method: &str, path: &str) -> Fault {
    Fault {
        status: 401,
        method: Some(method.into()),
        path_prefix: Some(path.into()),
        body: Some(
            r#"{"description":"Invalid Auth Token","error_code":"CF-InvalidAuthToken","code":1000}"#
                .into(),
        ),
        ..Fault::default()
    }
}

#[test]
fn a_uaa_token_that_expires_during_staging_is_renewed_before_it_runs_out() {
    // Tokens live 2 s; upload, staging and start-up take about 4 s.
    let sim = cf_sim(|o| {
        o.cf_token_lifetime = Duration::from_secs(2);
        o.cf_staging_time = Duration::from_millis(2500);
        o.cf_startup_time = Duration::from_millis(1000);
    });
    let app = app_dir();
    for (name, client) in [("expiring-password", false), ("expiring-client", true)] {
        let mut env = cf_env(&sim, name);
        if client {
            unset(&mut env, "BERTH_CF_USERNAME");
            unset(&mut env, "BERTH_CF_PASSWORD");
            set(&mut env, "BERTH_CF_CLIENT_ID", CF_CLIENT);
            set(&mut env, "BERTH_CF_CLIENT_SECRET", CF_CLIENT_SECRET);
        }
        set(&mut env, "BERTH_PATH", app.path().to_str().unwrap());
        set(&mut env, "BERTH_STATE", "STARTED");
        sim.clear_requests();
        let run = run(&env);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert_eq!(run.out("status"), "ready");
        let grants = token_requests(&sim.requests());
        assert!(grants.len() >= 2, "{name}: renewed: {grants:?}");
        // The password grant gave a refresh token, which renews it; a client logs in again.
        let renewal = if client {
            "client_credentials"
        } else {
            "refresh_token"
        };
        assert!(
            grants[1..].iter().all(|g| g == renewal),
            "{name}: {grants:?}"
        );
        // (Not a bare "401": guids in the log may hold those digits.)
        assert!(
            !run.stderr.contains("HTTP 401") && !run.stderr.contains("was refused"),
            "renewed ahead, never refused: {}",
            run.stderr
        );
    }
}

#[test]
fn a_token_refused_early_is_renewed_once_and_the_request_sent_again() {
    let sim = cf_sim(|_| {});
    sim.inject(invalid_token("GET", "/cf/v2/apps"));
    let run = run(&cf_env(&sim, "revoked-early"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        token_requests(&sim.requests()),
        ["password", "refresh_token"]
    );
    let lists = sim
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/cf/v2/apps")
        .count();
    assert_eq!(lists, 2, "the refused request was sent again");
}

#[test]
fn a_given_token_that_expired_says_so_and_names_the_input() {
    let sim = cf_sim(|_| {});
    sim.inject(invalid_token("GET", "/cf/v2/apps"));
    let mut env = cf_env(&sim, "given-token");
    unset(&mut env, "BERTH_CF_USERNAME");
    unset(&mut env, "BERTH_CF_PASSWORD");
    set(&mut env, "BERTH_API_TOKEN", TOKEN);
    let run = run(&env);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let error = run.out("error");
    assert!(
        error.contains("BERTH_API_TOKEN") && error.contains("expired"),
        "{error}"
    );
    assert!(
        token_requests(&sim.requests()).is_empty(),
        "no login was tried"
    );
    assert!(!run.everything().contains(TOKEN));
}

#[test]
fn a_token_refused_during_the_upload_is_renewed_and_the_bits_sent_again() {
    let sim = cf_sim(|_| {});
    sim.inject(invalid_token("PUT", "/cf/v2/apps/"));
    let app = app_dir();
    let mut env = cf_env(&sim, "refused-upload");
    set(&mut env, "BERTH_PATH", app.path().to_str().unwrap());
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        token_requests(&sim.requests()),
        ["password", "refresh_token"]
    );
    let uploads = sim
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/bits"))
        .count();
    assert_eq!(
        uploads, 2,
        "the streamed upload was sent again with the new token"
    );
}
