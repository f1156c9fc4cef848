//! Runs the real `berth` binary against a simulator started by the test, and reads back
//! everything it wrote.
#![allow(dead_code, reason = "each test file uses a different part")]

use assert_cmd::Command;
use berth_sim::{self as sim, RecordedRequest, SimHandle, SimOptions};
use serde_json::Value;
use std::{path::PathBuf, time::Duration};
pub mod openssh;

/// The token the test simulators accept: distinctive, so a leak is easy to find.
pub const TOKEN: &str = "tok-SECRET-5f1d2c9e";
/// The project the tests install into.
pub const PROJECT: &str = "p-test01";

/// A simulator whose installations are ready after `ready_ms`.
pub fn sim(ready_ms: u64) -> SimHandle {
    sim_with(|o| o.time_to_ready = Duration::from_millis(ready_ms))
}

pub fn sim_with(f: impl FnOnce(&mut SimOptions)) -> SimHandle {
    let mut options = SimOptions {
        token: TOKEN.into(),
        consistency_delay: Duration::from_millis(500),
        ..SimOptions::default()
    };
    f(&mut options);
    sim::start_background(options).expect("starting the simulator")
}

/// The environment of a minimal mittwald run against `sim`.
pub fn mittwald_env(sim: &SimHandle, description: &str) -> Vec<(String, String)> {
    [
        ("BERTH_PROVIDER", "mittwald"),
        ("BERTH_API_URL", sim.url().as_str()),
        ("BERTH_API_TOKEN", TOKEN),
        ("BERTH_PROJECT_ID", PROJECT),
        ("BERTH_APP", "node"),
        ("BERTH_DESCRIPTION", description),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Sets or replaces a variable.
pub fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.into(), value.into()));
}

/// Removes a variable.
pub fn unset(env: &mut Vec<(String, String)>, key: &str) {
    env.retain(|(k, _)| k != key);
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The stdout line, parsed.
    pub json: Value,
    pub github_output: String,
    pub dotenv: String,
    pub summary: String,
}

impl Run {
    /// Everything the run wrote, in one text, for leak checks.
    pub fn everything(&self) -> String {
        [
            &self.stdout,
            &self.stderr,
            &self.github_output,
            &self.dotenv,
            &self.summary,
        ]
        .map(String::as_str)
        .join("\n")
    }
    /// A string output from the JSON line.
    pub fn out(&self, key: &str) -> &str {
        self.json[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {}", self.stdout))
    }
}

/// Runs `berth` with exactly this environment (nothing inherited), with all sinks set to
/// fresh files.
pub fn run(env: &[(String, String)]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    let mut cmd = Command::cargo_bin("berth").expect("the berth binary");
    cmd.env_clear()
        .env("GITHUB_OUTPUT", path("github_output"))
        .env("GITHUB_STEP_SUMMARY", path("summary"))
        .env("BERTH_DOTENV", path("dotenv"))
        .timeout(Duration::from_secs(60));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("running berth");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let read = |name: &str| std::fs::read_to_string(path(name)).unwrap_or_default();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    Run {
        code: output.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        json,
        stdout,
        github_output: read("github_output"),
        dotenv: read("dotenv"),
        summary: read("summary"),
    }
}

/// The requests that change something.
pub fn writes(requests: &[RecordedRequest]) -> Vec<&RecordedRequest> {
    requests
        .iter()
        .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"))
        .collect()
}

/// A request's JSON body.
pub fn body(request: &RecordedRequest) -> Value {
    serde_json::from_str(&request.body).unwrap_or(Value::Null)
}

/// The Cloud Foundry user and password the test simulators accept.
pub const CF_USER: &str = "deployer";
pub const CF_PASSWORD: &str = "pw-SECRET-77a1";
/// The client-credentials client.
pub const CF_CLIENT: &str = "ci-client";
pub const CF_CLIENT_SECRET: &str = "cs-SECRET-90be";
/// The space the tests create apps in.
pub const SPACE: &str = "6f0a3d1e-5b7c-4e2a-9f10-2d3c4b5a6e7f";

/// A simulator with the Cloud Foundry test accounts and quick staging and start.
pub fn cf_sim(f: impl FnOnce(&mut SimOptions)) -> SimHandle {
    sim_with(|o| {
        o.cf_users = vec![(CF_USER.into(), CF_PASSWORD.into())];
        o.cf_clients = vec![(CF_CLIENT.into(), CF_CLIENT_SECRET.into())];
        o.cf_staging_time = Duration::from_millis(300);
        o.cf_startup_time = Duration::from_millis(200);
        o.cf_job_time = Duration::from_millis(100);
        f(o);
    })
}

/// The environment of a minimal Cloud Foundry run against `sim` through the v2 API (the 0.1
/// flow, which these tests keep as it was), logging in with the password grant.
pub fn cf_env(sim: &SimHandle, name: &str) -> Vec<(String, String)> {
    let mut env = cf3_env(sim, name);
    env.push(("BERTH_CF_API".into(), "v2".into()));
    env
}

/// The environment of a minimal Cloud Foundry run against `sim`, the API chosen by the
/// foundation's root document (v3 on the simulator).
pub fn cf3_env(sim: &SimHandle, name: &str) -> Vec<(String, String)> {
    [
        ("BERTH_PROVIDER", "cloudfoundry"),
        ("BERTH_API_URL", sim.cf_url().as_str()),
        ("BERTH_CF_USERNAME", CF_USER),
        ("BERTH_CF_PASSWORD", CF_PASSWORD),
        ("BERTH_SPACE_GUID", SPACE),
        ("BERTH_NAME", name),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A Cloud Foundry simulator with v2 switched off, as foundations are by default since CAPI
/// 1.201.0.
pub fn cf_v3_sim(f: impl FnOnce(&mut SimOptions)) -> SimHandle {
    cf_sim(|o| {
        o.cf_v2_disabled = true;
        f(o);
    })
}

/// A small Node.js app to upload (its `server.js` is what tests change for new bits).
pub fn node_app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("package.json"),
        r#"{"scripts":{"start":"node server.js"}}"#,
    )
    .expect("package.json");
    std::fs::write(dir.path().join("server.js"), "// v1").expect("server.js");
    dir
}

/// The requests `sim` received after the first `from`, as `METHOD /path`.
pub fn requests_since(sim: &SimHandle, from: usize) -> Vec<String> {
    sim.requests()
        .into_iter()
        .skip(from)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// The Cloud Foundry requests after the first `from` that are not reads.
pub fn cf_writes_since(sim: &SimHandle, from: usize) -> Vec<RecordedRequest> {
    sim.requests()
        .into_iter()
        .skip(from)
        .filter(|r| r.path.starts_with("/cf/") && r.method != "GET")
        .collect()
}

/// [`cf_writes_since`] as `METHOD /path`.
pub fn cf_write_lines_since(sim: &SimHandle, from: usize) -> Vec<String> {
    cf_writes_since(sim, from)
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// What a run interrupted by a signal left behind.
#[derive(Debug)]
pub struct Interrupted {
    pub code: Option<i32>,
    /// How long it took to stop after the signal.
    pub stopped_in: Duration,
    pub json: Value,
    pub github_output: String,
    pub stderr: String,
}

/// Starts `berth` with `env`, sends `signal` (`INT`, `TERM`) once it has created something
/// (its POST reached `sim`) and is waiting, and collects what it wrote.
#[cfg(unix)]
pub fn interrupt_while_waiting(
    sim: &SimHandle,
    env: &[(String, String)],
    signal: &str,
) -> Interrupted {
    signal_after_post(sim, env, Duration::from_millis(300), &[signal])
}

/// Starts `berth` with `env`, and `after` its first POST reached `sim` sends each of `signals`
/// (`INT`, `TERM`), 300 ms apart; collects what it wrote. `stopped_in` counts from the first.
#[cfg(unix)]
pub fn signal_after_post(
    sim: &SimHandle,
    env: &[(String, String)],
    after: Duration,
    signals: &[&str],
) -> Interrupted {
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("temp dir");
    let github_output = dir.path().join("github_output");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("berth"))
        .env_clear()
        .envs(env.iter().cloned())
        .env("GITHUB_OUTPUT", &github_output)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting berth");
    let start = std::time::Instant::now();
    while !sim.requests().iter().any(|r| r.method == "POST") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "berth never created anything"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(after);
    let signalled = std::time::Instant::now();
    for (n, signal) in signals.iter().enumerate() {
        if n > 0 {
            std::thread::sleep(Duration::from_millis(300));
        }
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
    }
    let output = child.wait_with_output().expect("waiting for berth");
    Interrupted {
        code: output.status.code(),
        stopped_in: signalled.elapsed(),
        json: serde_json::from_slice(&output.stdout).unwrap_or(Value::Null),
        github_output: std::fs::read_to_string(github_output).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A bad-input case: the variable to change, its value (`None` removes it), and the variable the
/// message must name.
pub type BadInput = (&'static str, Option<&'static str>, &'static str);

/// Runs each case on top of `base` and checks what a user would: exit 2, the variable named in
/// stderr and in the `error` output, `status` failed, no request sent, and no secret printed.
pub fn assert_bad_inputs(
    sim: &SimHandle,
    base: &[(String, String)],
    cases: &[BadInput],
    secret: &str,
) {
    for (var, value, named) in cases {
        let mut env = base.to_vec();
        match value {
            Some(v) => set(&mut env, var, v),
            None => unset(&mut env, var),
        }
        let run = run(&env);
        let case = format!("{var}={value:?}");
        assert_eq!(run.code, 2, "{case}: {}", run.stderr);
        assert!(
            run.stderr.contains(named),
            "{case}: message does not name {named}: {}",
            run.stderr
        );
        assert_eq!(run.out("status"), "failed", "{case}");
        assert!(run.out("error").contains(named), "{case}");
        assert!(
            sim.requests().is_empty(),
            "{case}: requests were sent: {:?}",
            sim.requests()
        );
        assert!(
            !run.everything().contains(secret),
            "{case}: a secret leaked"
        );
    }
}
