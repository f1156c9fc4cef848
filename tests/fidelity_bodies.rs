//! Every recorded platform body (tests/fixtures/*/*.json) against the simulator's body for the
//! same kind of resource: each key of the real body is in the simulator's, with the same JSON
//! type, recursively. A `null` in the real body matches anything; of two non-empty arrays the
//! first elements are compared; integers and floats are both numbers.
//!
//! What the simulator deliberately does differently is listed in [`NOT_SIMULATED`] and
//! [`DIFFERENT_ON_PURPOSE`], each with its reason; every entry must still be needed.

use std::{path::Path, time::Duration};

use berth_sim::{
    self as sim, SeedInstallation, SimHandle, SimOptions,
    mittwald::{NODE_APP_ID, NODE_VERSION_1_0_0_ID, WORDPRESS_APP_ID, WORDPRESS_VERSION_6_8_1_ID},
};
use reqwest::{Client, Method, multipart};
use serde_json::{Value, json};

/// Recorded bodies the simulator has no counterpart for.
const NOT_SIMULATED: &[(&str, &str)] = &[(
    "cloudfoundry/15_shared_domains_list_200.json",
    "shared domains: berth maps no routes, so the simulator has no domains",
)];

/// `(fixture, key path)` where the simulator's type differs from the recording on purpose.
const DIFFERENT_ON_PURPOSE: &[(&str, &str, &str)] = &[
    (
        "cloudfoundry/07_apps_update_201_real_2018_go-cfclient.json",
        "entity.staging_failed_reason",
        "a 2018 trace shows \"\" for unset strings; the Cloud Controller's own docs (05) and the simulator show null",
    ),
    (
        "cloudfoundry/07_apps_update_201_real_2018_go-cfclient.json",
        "entity.staging_failed_description",
        "as above",
    ),
    (
        "cloudfoundry/07_apps_update_201_real_2018_go-cfclient.json",
        "entity.docker_image",
        "as above",
    ),
    (
        "cloudfoundry/07_apps_update_201_real_2018_go-cfclient.json",
        "entity.docker_credentials.username",
        "as above",
    ),
    (
        "cloudfoundry/07_apps_update_201_real_2018_go-cfclient.json",
        "entity.docker_credentials.password",
        "as above",
    ),
];

const TOKEN: &str = "tok-fidelity";
const PROJECT: &str = "fd1ef726-14b8-4906-8a45-0756ba993246";
const SPACE: &str = "6f0a3d1e-5b7c-4e2a-9f10-2d3c4b5a6e7f";
const CF_USER: (&str, &str) = ("deployer", "pw-fidelity");
const CF_CLIENT: (&str, &str) = ("ci-client", "cs-fidelity");
/// Polls of a state that the quick simulator reaches within a second.
const POLLS: usize = 200;
const POLL_EVERY: Duration = Duration::from_millis(25);

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Where `simulated` lacks a key of `real` or has another type, as `path: what`.
fn differences(real: &Value, simulated: &Value, path: &str, out: &mut Vec<(String, String)>) {
    if real.is_null() {
        return;
    }
    if kind(real) != kind(simulated) {
        out.push((
            path.to_owned(),
            format!(
                "{} in the recording, {} in the simulator",
                kind(real),
                kind(simulated)
            ),
        ));
        return;
    }
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (real, simulated) {
        (Value::Object(real), Value::Object(simulated)) => {
            for (key, value) in real {
                match simulated.get(key) {
                    Some(other) => differences(value, other, &join(key), out),
                    None => out.push((join(key), "missing in the simulator".to_owned())),
                }
            }
        }
        (Value::Array(real), Value::Array(simulated)) => {
            if let (Some(first), Some(other)) = (real.first(), simulated.first()) {
                differences(first, other, &join("0"), out);
            }
        }
        _ => {}
    }
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

struct Sim {
    handle: SimHandle,
    client: Client,
}

impl Sim {
    fn start(f: impl FnOnce(&mut SimOptions)) -> Self {
        berth::http::install_crypto_provider();
        let mut options = SimOptions {
            token: TOKEN.into(),
            time_to_ready: Duration::from_millis(300),
            consistency_delay: Duration::ZERO,
            cf_users: vec![(CF_USER.0.into(), CF_USER.1.into())],
            cf_clients: vec![(CF_CLIENT.0.into(), CF_CLIENT.1.into())],
            cf_staging_time: Duration::from_millis(150),
            cf_startup_time: Duration::from_millis(100),
            cf_job_time: Duration::from_millis(100),
            ..SimOptions::default()
        };
        f(&mut options);
        Self {
            handle: sim::start_background(options).expect("starting the simulator"),
            client: Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("a client"),
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .client
            .request(method, format!("{}{path}", self.handle.url()));
        if path.starts_with("/cf/") {
            request.bearer_auth(TOKEN)
        } else {
            request.header("x-access-token", TOKEN)
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, status: u16) -> Value {
        let response = request.send().await.expect("the simulator answers");
        let actual = response.status().as_u16();
        let text = response.text().await.expect("a body");
        assert_eq!(actual, status, "{text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    async fn get(&self, path: &str, status: u16) -> Value {
        self.send(self.request(Method::GET, path), status).await
    }

    async fn json(&self, method: Method, path: &str, body: Value, status: u16) -> Value {
        self.send(self.request(method, path).json(&body), status)
            .await
    }

    /// Polls `path` until `done` holds for its body.
    async fn until(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..POLLS {
            last = self.get(path, 200).await;
            if done(&last) {
                return last;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        panic!("{path} never got there: {last}");
    }

    async fn cf_app(&self, name: &str) -> String {
        let app = self
            .json(
                Method::POST,
                "/cf/v2/apps",
                json!({ "name": name, "space_guid": SPACE }),
                201,
            )
            .await;
        app["metadata"]["guid"].as_str().unwrap().to_owned()
    }

    async fn upload(&self, guid: &str, application: Vec<u8>, asynchronous: bool) -> Value {
        let form = multipart::Form::new().text("resources", "[]").part(
            "application",
            multipart::Part::bytes(application)
                .file_name("application.zip")
                .mime_str("application/zip")
                .unwrap(),
        );
        let query = if asynchronous { "?async=true" } else { "" };
        self.send(
            self.request(Method::PUT, &format!("/cf/v2/apps/{guid}/bits{query}"))
                .multipart(form),
            201,
        )
        .await
    }

    /// An app with bits, started and staged; its instances may still be starting.
    async fn staged_cf_app(&self, name: &str) -> String {
        let guid = self.cf_app(name).await;
        self.upload(&guid, zip_with(&[("Gemfile", "source 'x'")]), false)
            .await;
        self.json(
            Method::PUT,
            &format!("/cf/v2/apps/{guid}"),
            json!({ "state": "STARTED" }),
            201,
        )
        .await;
        self.until(&format!("/cf/v2/apps/{guid}"), |app| {
            app["entity"]["package_state"] == "STAGED"
        })
        .await;
        guid
    }

    async fn uaa_token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Value {
        let mut request = self
            .client
            .post(format!("{}/uaa/oauth/token", self.handle.url()))
            .form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        self.send(request, 200).await
    }

    fn seed(&self, app_id: &str, version_id: &str, phase: &str, root: Option<&str>) -> String {
        self.handle.seed_installation(SeedInstallation {
            project_id: PROJECT.into(),
            app_id: app_id.into(),
            app_version_id: version_id.into(),
            description: format!("fidelity {phase}"),
            phase: Some(phase.into()),
            custom_document_root: root.map(str::to_owned),
            ..SeedInstallation::default()
        })
    }
}

/// A stored (uncompressed) zip archive of `files`: enough for the simulator's central
/// directory reader.
fn zip_with(files: &[(&str, &str)]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, content) in files {
        let offset = u32::try_from(out.len()).unwrap();
        let (name, content) = (name.as_bytes(), content.as_bytes());
        let crc = crc32(content);
        let size = u32::try_from(content.len()).unwrap();
        let name_len = u16::try_from(name.len()).unwrap();
        out.extend_from_slice(b"PK\x03\x04\x14\0\0\0\0\0\0\0\0\0");
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(content);
        central.extend_from_slice(b"PK\x01\x02\x14\0\x14\0\0\0\0\0\0\0\0\0");
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let central_offset = u32::try_from(out.len()).unwrap();
    let central_size = u32::try_from(central.len()).unwrap();
    let count = u16::try_from(files.len()).unwrap();
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&central_size.to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The simulator's body for the resource `name` records.
async fn simulated(name: &str) -> Value {
    let sim = Sim::start(|_| {});
    let file = name.rsplit('/').next().unwrap_or(name);
    match file.split(['_', '-']).next().unwrap_or_default() {
        _ if name.starts_with("mittwald/") => mittwald(&sim, file).await,
        "01" => sim.get("/cf/v2/info", 200).await,
        "02" => {
            sim.uaa_token(
                &[
                    ("grant_type", "password"),
                    ("username", CF_USER.0),
                    ("password", CF_USER.1),
                ],
                Some(("cf", "")),
            )
            .await
        }
        "03" => {
            sim.uaa_token(
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", CF_CLIENT.0),
                    ("client_secret", CF_CLIENT.1),
                ],
                None,
            )
            .await
        }
        "04" => {
            // The recorded app has a package (`package_updated_at`) but is not started.
            let guid = sim.cf_app("listed").await;
            sim.upload(&guid, zip_with(&[("index.html", "hi")]), false)
                .await;
            sim.get(&format!("/cf/v2/spaces/{SPACE}/apps"), 200).await
        }
        "05" => {
            sim.json(
                Method::POST,
                "/cf/v2/apps",
                json!({ "name": "my_super_app", "space_guid": SPACE }),
                201,
            )
            .await
        }
        "06" => {
            let guid = sim.staged_cf_app("test-env").await;
            sim.get(&format!("/cf/v2/apps/{guid}"), 200).await
        }
        "07" => {
            // Staged, then renamed, given a buildpack, resized and stopped in one PUT.
            let guid = sim.staged_cf_app("OldName").await;
            sim.json(
                Method::PUT,
                &format!("/cf/v2/apps/{guid}"),
                json!({
                    "name": "NewName",
                    "buildpack": "go_buildpack",
                    "environment_json": { "GOPACKAGENAME": "MichaelIsMetal" },
                    "memory": 65,
                    "command": "MichaelIsMetal",
                    "debug": "",
                    "health_check_timeout": 0,
                    "state": "STOPPED",
                }),
                201,
            )
            .await
        }
        "08" => {
            let guid = sim.cf_app("bits").await;
            sim.upload(&guid, zip_with(&[("index.html", "hi")]), true)
                .await
        }
        "09" => {
            let guid = sim.cf_app("bits").await;
            let job = sim
                .upload(&guid, zip_with(&[("index.html", "hi")]), true)
                .await;
            let url = format!("/cf{}", job["metadata"]["url"].as_str().unwrap());
            sim.until(&url, |job| job["entity"]["status"] == "finished")
                .await
        }
        "10" => {
            let guid = sim.cf_app("bad-bits").await;
            let job = sim.upload(&guid, b"not a zip".to_vec(), true).await;
            let url = format!("/cf{}", job["metadata"]["url"].as_str().unwrap());
            sim.until(&url, |job| job["entity"]["status"] == "failed")
                .await
        }
        "11" | "12" => instances(file).await,
        "13" => {
            let sim = Sim::start(|o| o.cf_staging_time = Duration::from_secs(60));
            let guid = sim.cf_app("staging").await;
            sim.upload(&guid, zip_with(&[("Gemfile", "source 'x'")]), false)
                .await;
            sim.json(
                Method::PUT,
                &format!("/cf/v2/apps/{guid}"),
                json!({ "state": "STARTED" }),
                201,
            )
            .await;
            sim.get(&format!("/cf/v2/apps/{guid}/instances"), 400).await
        }
        "14" => {
            sim.json(
                Method::POST,
                "/cf/v2/apps",
                json!({ "name": "related", "space_guid": "not-a-space" }),
                400,
            )
            .await
        }
        other => panic!("{name}: no simulated counterpart for fixture {other}"),
    }
}

/// Instances: RUNNING ones from a healthy app, and where the recording has a `details` (a
/// CRASHED or DOWN instance), a crashed one, whose entry carries `details` too. The simulator
/// shows no DOWN state; a DOWN entry's keys are a crashed entry's.
async fn instances(file: &str) -> Value {
    let real = fixture(&format!("cloudfoundry/{file}"));
    let mut merged = serde_json::Map::new();
    for (index, entry) in real.as_object().unwrap() {
        let crashes = entry.get("details").is_some();
        let sim = Sim::start(|o| o.cf_crashes = crashes);
        let guid = sim.staged_cf_app("instances").await;
        let want = if crashes { "CRASHED" } else { "RUNNING" };
        let body = sim
            .until(&format!("/cf/v2/apps/{guid}/instances"), |body| {
                body["0"]["state"] == want
            })
            .await;
        merged.insert(index.clone(), body["0"].clone());
    }
    Value::Object(merged)
}

async fn mittwald(sim: &Sim, file: &str) -> Value {
    let installation = |id: String| format!("/v2/app-installations/{id}");
    match file.split('-').next().unwrap_or_default() {
        "01" => {
            let created = sim
                .json(
                    Method::POST,
                    &format!("/v2/projects/{PROJECT}/app-installations"),
                    json!({
                        "appVersionId": NODE_VERSION_1_0_0_ID,
                        "description": "custom Node.js",
                        "updatePolicy": "none",
                        "userInputs": [{ "name": "entrypoint", "value": "yarn start" }],
                    }),
                    201,
                )
                .await;
            let id = created["id"].as_str().unwrap().to_owned();
            sim.until(&installation(id), |body| body["phase"] == "ready")
                .await
        }
        "02" => {
            sim.get(
                &format!("/v2/apps/{NODE_APP_ID}/versions/{NODE_VERSION_1_0_0_ID}"),
                200,
            )
            .await
        }
        // PHP apps with a document root: WordPress stands in for the recorded PHP app.
        phase @ ("03" | "04" | "05" | "06") => {
            let phase = match phase {
                "03" => "pending",
                "05" => "installing",
                _ => "ready",
            };
            let sim = Sim::start(|o| o.time_to_ready = Duration::from_secs(60));
            let id = sim.seed(
                WORDPRESS_APP_ID,
                WORDPRESS_VERSION_6_8_1_ID,
                phase,
                Some("/public"),
            );
            let body = sim.get(&installation(id), 200).await;
            assert_eq!(body["phase"], phase);
            body
        }
        other => panic!("mittwald/{file}: no simulated counterpart for fixture {other}"),
    }
}

fn fixture_names() -> Vec<String> {
    let mut names = Vec::new();
    for platform in ["cloudfoundry", "mittwald"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(platform);
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let file = entry.unwrap().file_name().to_string_lossy().into_owned();
            if file.ends_with(".json") {
                names.push(format!("{platform}/{file}"));
            }
        }
    }
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_body_has_its_keys_and_types_in_the_simulators_body() {
    let names = fixture_names();
    assert!(names.len() >= 21, "fixtures missing: {names:?}");
    let mut problems = Vec::new();
    let mut excused = Vec::new();
    for name in &names {
        if NOT_SIMULATED.iter().any(|(file, _)| file == name) {
            continue;
        }
        let real = fixture(name);
        let simulated = simulated(name).await;
        let mut found = Vec::new();
        differences(&real, &simulated, "", &mut found);
        for (path, what) in found {
            let on_purpose = DIFFERENT_ON_PURPOSE
                .iter()
                .any(|(file, excused_path, _)| file == name && *excused_path == path);
            if on_purpose {
                excused.push((name.clone(), path));
            } else {
                problems.push(format!("{name}: {path}: {what}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the simulator differs from the recordings:\n{}",
        problems.join("\n")
    );
    for (file, path, _) in DIFFERENT_ON_PURPOSE {
        assert!(
            excused.iter().any(|(f, p)| f == file && p == path),
            "{file}: {path} is listed as different on purpose but no longer differs"
        );
    }
    for (file, _) in NOT_SIMULATED {
        assert!(names.iter().any(|name| name == file), "{file} is gone");
    }
}

#[test]
fn the_comparison_finds_missing_keys_and_other_types_but_forgives_null_types() {
    let real =
        json!({ "a": 1, "b": null, "c": { "d": "x" }, "e": [{ "f": true }], "g": [], "h": 1.5 });
    let same = json!({ "a": 2, "b": "anything", "c": { "d": "y", "extra": 1 }, "e": [{ "f": false }], "g": [1], "h": 3 });
    let mut found = Vec::new();
    differences(&real, &same, "", &mut found);
    assert_eq!(found, []);
    let other = json!({ "a": "1", "c": {}, "e": [{ "f": "true" }], "g": [], "h": 1 });
    differences(&real, &other, "", &mut found);
    let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    // A null is forgiven its type, not its absence.
    assert_eq!(paths, ["a", "b", "c.d", "e.0.f"]);
}
