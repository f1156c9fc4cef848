//! Behaviour of the simulated Cloud Controller v3 under `/cf/v3` over real HTTP on loopback,
//! and how it shares its apps with v2.

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use berth_sim::cloudfoundry::*;
use berth_sim::*;
use support::Cf;

/// The empty zip archive (just its end record) and its SHA-256.
const EMPTY_ZIP: &[u8] = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
const EMPTY_ZIP_SHA256: &str = "8739c76e681f900923b900c9df0ef75cf421d39cabb54650c4b9ad19b6a76d85";

impl Cf {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.api(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, body)
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// Creates a buildpack app in the default space and returns its guid.
    async fn create_app(&self, name: &str) -> String {
        let (status, body) = self
            .post(
                "/v3/apps",
                json!({
                    "name": name,
                    "relationships": { "space": { "data": { "guid": DEFAULT_CF_SPACE_GUID } } },
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["guid"].as_str().unwrap().to_owned()
    }

    /// Creates a bits package for `app` and returns its guid.
    async fn create_package(&self, app: &str) -> String {
        let (status, body) = self
            .post(
                "/v3/packages",
                json!({ "type": "bits", "relationships": { "app": { "data": { "guid": app } } } }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["state"], "AWAITING_UPLOAD");
        body["guid"].as_str().unwrap().to_owned()
    }

    /// Uploads `zip` as a package's bits, as the cf CLI does (`bits` as a file, `resources` a
    /// JSON string).
    async fn upload(&self, package: &str, zip: &[u8]) -> (StatusCode, Value) {
        let boundary = "berth-sim-v3-boundary";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"resources\"\r\n\r\n[]\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"bits\"; filename=\"package.zip\"\r\n\
                 Content-Type: application/zip\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(zip);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .api(Method::POST, &format!("/v3/packages/{package}/upload"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    /// Polls `path` until `field` is `want` (or a second has passed).
    async fn wait_for(&self, path: &str, field: &str, want: &str) -> Value {
        for _ in 0..50 {
            let body = self.get(path).await;
            if body[field] == want {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{path} never had {field} {want}");
    }

    /// Polls the stats of `process` until its first instance is `want` (or two seconds have
    /// passed), and returns them.
    async fn wait_for_instances(&self, process: &str, want: &str) -> Value {
        let path = format!("/v3/processes/{process}/stats");
        for _ in 0..100 {
            let stats = self.get(&path).await;
            if stats["resources"][0]["state"] == want {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{path} never had an instance {want}");
    }

    /// A staged droplet of `app` made from `zip`, set as its current droplet.
    async fn staged(&self, app: &str, zip: &[u8]) -> String {
        let package = self.create_package(app).await;
        self.upload(&package, zip).await;
        self.wait_for(&format!("/v3/packages/{package}"), "state", "READY")
            .await;
        let (_, build) = self
            .post("/v3/builds", json!({ "package": { "guid": package } }))
            .await;
        let build = self
            .wait_for(
                &format!("/v3/builds/{}", build["guid"].as_str().unwrap()),
                "state",
                "STAGED",
            )
            .await;
        let droplet = build["droplet"]["guid"].as_str().unwrap().to_owned();
        let (status, _) = self
            .patch(
                &format!("/v3/apps/{app}/relationships/current_droplet"),
                json!({ "data": { "guid": droplet } }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        droplet
    }
}

fn quick() -> SimOptions {
    SimOptions {
        cf_staging_time: Duration::from_millis(150),
        cf_startup_time: Duration::from_millis(400),
        cf_job_time: Duration::from_millis(100),
        ..SimOptions::default()
    }
}

/// The one error of a v3 error body: `(title, code)`.
fn error(body: &Value) -> (&str, u64) {
    let errors = body["errors"].as_array().expect("an errors array");
    assert_eq!(errors.len(), 1, "{body}");
    let keys: Vec<&str> = errors[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["detail", "title", "code"]);
    (
        errors[0]["title"].as_str().unwrap(),
        errors[0]["code"].as_u64().unwrap(),
    )
}

fn detail(body: &Value) -> &str {
    body["errors"][0]["detail"].as_str().unwrap()
}

/// A real zip archive with `files` stored uncompressed.
fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in files {
        archive.start_file(*name, stored).unwrap();
        std::io::Write::write_all(&mut archive, data).unwrap();
    }
    archive.finish().unwrap().into_inner()
}

#[tokio::test]
async fn a_push_goes_from_create_through_package_build_and_droplet_to_running() {
    let sim = Cf::start(quick()).await;
    let app = sim.create_app("web").await;
    let body = sim.get(&format!("/v3/apps/{app}")).await;
    assert_eq!(body["state"], "STOPPED");
    assert_eq!(
        body["lifecycle"],
        json!({ "type": "buildpack", "data": { "buildpacks": [], "stack": "cflinuxfs4" } })
    );
    assert_eq!(
        body["links"]["self"]["href"],
        format!("{}/v3/apps/{app}", sim.handle.cf_url())
    );

    let package = sim.create_package(&app).await;
    let archive = zip(&[("package.json", b"{}"), ("server.js", b"listen()")]);
    let (status, uploaded) = sim.upload(&package, &archive).await;
    assert_eq!(status, StatusCode::OK, "{uploaded}");
    assert_eq!(uploaded["state"], "PROCESSING_UPLOAD");
    assert_eq!(uploaded["data"]["checksum"]["value"], Value::Null);
    let ready = sim
        .wait_for(&format!("/v3/packages/{package}"), "state", "READY")
        .await;
    assert_eq!(ready["data"]["checksum"]["type"], "sha256");
    let checksum = ready["data"]["checksum"]["value"].as_str().unwrap();
    assert_eq!(checksum.len(), 64);
    assert!(checksum.bytes().all(|b| b.is_ascii_hexdigit()));

    let (status, build) = sim
        .post("/v3/builds", json!({ "package": { "guid": package } }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{build}");
    assert_eq!(build["state"], "STAGING");
    assert_eq!(build["droplet"], Value::Null);
    assert_eq!(build["package"]["guid"], package.as_str());
    let build_path = format!("/v3/builds/{}", build["guid"].as_str().unwrap());
    let (status, again) = sim
        .post("/v3/builds", json!({ "package": { "guid": package } }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error(&again), ("CF-StagingInProgress", 170_017));
    let staged = sim.wait_for(&build_path, "state", "STAGED").await;
    assert_eq!(staged["error"], Value::Null);
    let droplet = staged["droplet"]["guid"].as_str().unwrap();

    let body = sim.get(&format!("/v3/droplets/{droplet}")).await;
    assert_eq!(body["state"], "STAGED");
    assert_eq!(body["process_types"]["web"], "npm start");
    assert_eq!(body["buildpacks"][0]["detect_output"], "nodejs");
    assert_eq!(body["stack"], "cflinuxfs4");
    assert_eq!(
        body["links"]["package"]["href"],
        format!("{}/v3/packages/{package}", sim.handle.cf_url())
    );

    let (status, refused) = sim
        .post(&format!("/v3/apps/{app}/actions/start"), json!({}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error(&refused), ("CF-UnprocessableEntity", 10_008));
    assert_eq!(
        detail(&refused),
        "Assign a droplet before starting this app."
    );
    let (status, _) = sim
        .send(
            Method::GET,
            &format!("/v3/apps/{app}/droplets/current"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, relationship) = sim
        .patch(
            &format!("/v3/apps/{app}/relationships/current_droplet"),
            json!({ "data": { "guid": droplet } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(relationship["data"]["guid"], droplet);
    let current = sim.get(&format!("/v3/apps/{app}/droplets/current")).await;
    assert_eq!(current["guid"], droplet);

    let stats_path = format!("/v3/processes/{app}/stats");
    let stats = sim.get(&stats_path).await;
    assert_eq!(stats["resources"][0]["state"], "DOWN", "stopped: {stats}");
    assert_eq!(
        stats["resources"][0]["uptime"], 0,
        "a DOWN instance's uptime: {stats}"
    );
    let (status, started) = sim
        .post(&format!("/v3/apps/{app}/actions/start"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(started["state"], "STARTED");
    assert_eq!(
        started["relationships"]["current_droplet"]["data"]["guid"],
        droplet
    );
    let stats = sim.get(&stats_path).await;
    assert_eq!(stats["resources"][0]["state"], "STARTING");
    assert_eq!(stats["resources"][0]["type"], "web");
    let stats = sim.wait_for_instances(&app, "RUNNING").await;
    let instance = &stats["resources"][0];
    assert_eq!(instance["state"], "RUNNING", "{stats}");
    assert_eq!(instance["routable"], true);
    assert_eq!(instance["mem_quota"], 1024 * 1024 * 1024);
    let web = sim.get(&format!("/v3/apps/{app}/processes/web")).await;
    assert_eq!(
        web["guid"],
        app.as_str(),
        "the web process has the app's guid"
    );
    assert_eq!(web["command"], "npm start", "detected by staging");

    let (status, stopped) = sim
        .post(&format!("/v3/apps/{app}/actions/stop"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stopped["state"], "STOPPED");
    assert_eq!(sim.get(&stats_path).await["resources"][0]["state"], "DOWN");
    let (status, restarted) = sim
        .post(&format!("/v3/apps/{app}/actions/restart"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(restarted["state"], "STARTED");
}

#[tokio::test]
async fn an_upload_is_checksummed_once_and_broken_zips_fail_the_package() {
    let sim = Cf::start(quick()).await;
    let app = sim.create_app("web").await;
    let package = sim.create_package(&app).await;
    let (status, _) = sim.upload(&package, EMPTY_ZIP).await;
    assert_eq!(status, StatusCode::OK);
    let ready = sim
        .wait_for(&format!("/v3/packages/{package}"), "state", "READY")
        .await;
    assert_eq!(ready["data"]["checksum"]["value"], EMPTY_ZIP_SHA256);
    let (status, twice) = sim.upload(&package, EMPTY_ZIP).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error(&twice), ("CF-PackageBitsAlreadyUploaded", 150_004));

    let broken = sim.create_package(&app).await;
    sim.upload(&broken, b"not a zip").await;
    let failed = sim
        .wait_for(&format!("/v3/packages/{broken}"), "state", "FAILED")
        .await;
    assert!(
        failed["data"]["error"]
            .as_str()
            .unwrap()
            .contains("Unzipping")
    );
    let (status, body) = sim
        .post("/v3/builds", json!({ "package": { "guid": broken } }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        detail(&body),
        "Cannot stage package whose state is not ready."
    );
    let (status, body) = sim
        .post(
            "/v3/builds",
            json!({ "package": { "guid": "5f0b8a5e-0000-4000-8000-000000000000" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail(&body).starts_with("Unable to use package"));
}

#[tokio::test]
async fn failed_staging_ends_the_build_failed_with_the_error() {
    let sim = Cf::start(SimOptions {
        cf_staging_fails: true,
        ..quick()
    })
    .await;
    let app = sim.create_app("web").await;
    let package = sim.create_package(&app).await;
    sim.upload(&package, &zip(&[("index.html", b"hi")])).await;
    sim.wait_for(&format!("/v3/packages/{package}"), "state", "READY")
        .await;
    let (_, build) = sim
        .post("/v3/builds", json!({ "package": { "guid": package } }))
        .await;
    let failed = sim
        .wait_for(
            &format!("/v3/builds/{}", build["guid"].as_str().unwrap()),
            "state",
            "FAILED",
        )
        .await;
    assert_eq!(
        failed["error"],
        "StagingError - Staging error: staging failed"
    );
    assert_eq!(failed["droplet"], Value::Null);
}

#[tokio::test]
async fn v2_apps_are_v3_apps() {
    let sim = Cf::start(quick()).await;
    let (status, created) = sim
        .post(
            "/v2/apps",
            json!({
                "name": "legacy",
                "space_guid": DEFAULT_CF_SPACE_GUID,
                "instances": 2,
                "memory": 256,
                "buildpack": "nodejs_buildpack",
                "environment_json": { "MODE": "v2" },
                "health_check_type": "none",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let guid = created["metadata"]["guid"].as_str().unwrap().to_owned();

    let app = sim.get(&format!("/v3/apps/{guid}")).await;
    assert_eq!(app["name"], "legacy");
    assert_eq!(
        app["lifecycle"]["data"],
        json!({ "buildpacks": ["nodejs_buildpack"], "stack": "cflinuxfs4" })
    );
    let listed = sim
        .get(&format!(
            "/v3/apps?names=legacy&space_guids={DEFAULT_CF_SPACE_GUID}"
        ))
        .await;
    assert_eq!(listed["resources"][0]["guid"], guid.as_str());
    let env = sim
        .get(&format!("/v3/apps/{guid}/environment_variables"))
        .await;
    assert_eq!(env["var"], json!({ "MODE": "v2" }));
    let web = sim.get(&format!("/v3/processes/{guid}")).await;
    assert_eq!(web["instances"], 2);
    assert_eq!(web["memory_in_mb"], 256);
    assert_eq!(web["health_check"]["type"], "process", "v2's none");

    // A v2 upload is a package; a v2 start stages it and makes the droplet current.
    let archive = zip(&[("go.mod", b"module x")]);
    let boundary = "v2-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"resources\"\r\n\r\n[]\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"application\"; filename=\"a.zip\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&archive);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let uploaded = sim
        .api(Method::PUT, &format!("/v2/apps/{guid}/bits"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    let packages = sim.get(&format!("/v3/apps/{guid}/packages")).await;
    assert_eq!(packages["pagination"]["total_results"], 1);
    assert_eq!(packages["resources"][0]["state"], "READY");
    let (status, _) = sim
        .send(
            Method::PUT,
            &format!("/v2/apps/{guid}"),
            Some(json!({ "state": "STARTED" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let stats = sim.wait_for_instances(&guid, "RUNNING").await;
    let droplet = sim.get(&format!("/v3/apps/{guid}/droplets/current")).await;
    assert_eq!(
        droplet["links"]["package"]["href"],
        format!(
            "{}/v3/packages/{}",
            sim.handle.cf_url(),
            packages["resources"][0]["guid"].as_str().unwrap()
        )
    );
    let states: Vec<&Value> = stats["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|instance| &instance["state"])
        .collect();
    assert_eq!(states, ["RUNNING", "RUNNING"]);
    assert_eq!(
        sim.get(&format!("/v3/apps/{guid}")).await["state"],
        "STARTED"
    );
}

#[tokio::test]
async fn v3_apps_are_v2_apps() {
    let sim = Cf::start(quick()).await;
    let guid = sim.create_app("modern").await;
    let (status, _) = sim
        .patch(
            &format!("/v3/apps/{guid}/environment_variables"),
            json!({ "var": { "MODE": "v3" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, scaled) = sim
        .post(
            &format!("/v3/processes/{guid}/actions/scale"),
            json!({ "instances": 3, "memory_in_mb": 512, "disk_in_mb": 2048 }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "scale answers 202");
    assert_eq!(scaled["instances"], 3);
    assert_eq!(scaled["memory_in_mb"], 512);
    let (status, process) = sim
        .patch(
            &format!("/v3/processes/{guid}"),
            json!({
                "command": "node server.js",
                "health_check": { "type": "http", "data": { "timeout": 90, "endpoint": "/health" } },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{process}");
    assert_eq!(
        process["health_check"],
        json!({
            "type": "http",
            "data": { "timeout": 90, "invocation_timeout": null, "interval": null, "endpoint": "/health" },
        })
    );
    sim.patch(
        &format!("/v3/apps/{guid}"),
        json!({ "lifecycle": { "data": { "buildpacks": ["go_buildpack"], "stack": "cflinuxfs3" } } }),
    )
    .await;

    let v2 = sim.get(&format!("/v2/apps/{guid}")).await;
    let entity = &v2["entity"];
    assert_eq!(entity["name"], "modern");
    assert_eq!(entity["space_guid"], DEFAULT_CF_SPACE_GUID);
    assert_eq!(entity["environment_json"], json!({ "MODE": "v3" }));
    assert_eq!(entity["instances"], 3);
    assert_eq!(entity["memory"], 512);
    assert_eq!(entity["disk_quota"], 2048);
    assert_eq!(entity["command"], "node server.js");
    assert_eq!(entity["health_check_type"], "http");
    assert_eq!(entity["health_check_timeout"], 90);
    assert_eq!(entity["health_check_http_endpoint"], "/health");
    assert_eq!(entity["buildpack"], "go_buildpack");
    assert_eq!(entity["stack_guid"], CFLINUXFS3_STACK_GUID);
    assert_eq!(entity["package_state"], "PENDING");
    let listed = sim
        .get(&format!(
            "/v2/apps?q=name:modern&q=space_guid:{DEFAULT_CF_SPACE_GUID}"
        ))
        .await;
    assert_eq!(listed["total_results"], 1);

    // A droplet staged through v3 and started through v3 is STAGED and running for v2.
    sim.staged(&guid, &zip(&[("main.go", b"package main")]))
        .await;
    sim.post(&format!("/v3/apps/{guid}/actions/start"), json!({}))
        .await;
    sim.wait_for_instances(&guid, "RUNNING").await;
    let entity = sim.get(&format!("/v2/apps/{guid}")).await["entity"].clone();
    assert_eq!(entity["state"], "STARTED");
    assert_eq!(entity["package_state"], "STAGED");
    let instances = sim.get(&format!("/v2/apps/{guid}/instances")).await;
    assert_eq!(instances["2"]["state"], "RUNNING");
}

#[tokio::test]
async fn names_are_unique_per_space_and_bad_bodies_are_422s() {
    let sim = Cf::start(quick()).await;
    let guid = sim.create_app("web").await;
    let space = json!({ "space": { "data": { "guid": DEFAULT_CF_SPACE_GUID } } });
    let (status, taken) = sim
        .post("/v3/apps", json!({ "name": "web", "relationships": space }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error(&taken), ("CF-UniquenessError", 10_016));
    assert_eq!(detail(&taken), "App with the name 'web' already exists.");
    let other = sim.create_app("api").await;
    let (status, renamed) = sim
        .patch(&format!("/v3/apps/{other}"), json!({ "name": "web" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error(&renamed), ("CF-UnprocessableEntity", 10_008));

    let cases = [
        (
            json!({ "name": "x", "relationships": { "space": { "data": { "guid": "55821877-4e20-4af4-b0e5-9d376964b027" } } } }),
            "Invalid space. Ensure that the space exists and you have access to it.",
        ),
        (
            json!({ "name": "x", "relationships": space, "color": "blue" }),
            "Unknown field(s): 'color'",
        ),
        (
            json!({ "name": "x", "relationships": space, "lifecycle": { "type": "buildpack", "data": { "stack": "windows" } } }),
            "Stack must be an existing stack",
        ),
        (
            json!({ "name": "x", "relationships": space, "environment_variables": { "PORT": "1" } }),
            "Environment variables cannot set PORT",
        ),
    ];
    for (body, want) in cases {
        let (status, answer) = sim.post("/v3/apps", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(detail(&answer), want, "{body}");
    }
    let (status, changed) = sim
        .patch(
            &format!("/v3/apps/{guid}"),
            json!({ "lifecycle": { "type": "docker", "data": {} } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        detail(&changed),
        "Lifecycle type cannot be changed from buildpack to docker"
    );

    // Labels and annotations merge; null removes.
    let (_, labelled) = sim
        .patch(
            &format!("/v3/apps/{guid}"),
            json!({ "metadata": { "labels": { "team": "a", "tier": "web" }, "annotations": { "note": "x" } } }),
        )
        .await;
    assert_eq!(
        labelled["metadata"]["labels"],
        json!({ "team": "a", "tier": "web" })
    );
    let (_, relabelled) = sim
        .patch(
            &format!("/v3/apps/{guid}"),
            json!({ "metadata": { "labels": { "team": null, "tier": "api" } } }),
        )
        .await;
    assert_eq!(relabelled["metadata"]["labels"], json!({ "tier": "api" }));
    assert_eq!(
        relabelled["metadata"]["annotations"],
        json!({ "note": "x" })
    );
}

#[tokio::test]
async fn environment_variables_merge_and_null_deletes() {
    let sim = Cf::start(quick()).await;
    let guid = sim.create_app("web").await;
    let path = format!("/v3/apps/{guid}/environment_variables");
    let (status, first) = sim
        .patch(&path, json!({ "var": { "A": "1", "B": "2" } }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["var"], json!({ "A": "1", "B": "2" }));
    assert_eq!(
        first["links"]["app"]["href"],
        format!("{}/v3/apps/{guid}", sim.handle.cf_url())
    );
    let (_, merged) = sim
        .patch(&path, json!({ "var": { "B": null, "C": "3" } }))
        .await;
    assert_eq!(merged["var"], json!({ "A": "1", "C": "3" }));
    assert_eq!(sim.get(&path).await["var"], json!({ "A": "1", "C": "3" }));
    let (status, refused) = sim.patch(&path, json!({ "var": { "N": 1 } })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        detail(&refused),
        "Non-string value in environment variable for key 'N', value '1'"
    );
    let (status, refused) = sim.patch(&path, json!({ "var": { "VCAP_X": "1" } })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(detail(&refused), "Var cannot start with VCAP_");

    // ssh: the feature and whether it is enabled.
    let feature = format!("/v3/apps/{guid}/features/ssh");
    assert_eq!(sim.get(&feature).await["enabled"], true);
    let (status, off) = sim.patch(&feature, json!({ "enabled": false })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        off,
        json!({ "name": "ssh", "description": "Enable SSHing into the app.", "enabled": false })
    );
    let enabled = sim.get(&format!("/v3/apps/{guid}/ssh_enabled")).await;
    assert_eq!(
        enabled,
        json!({ "enabled": false, "reason": "ssh is disabled for app" })
    );
    assert_eq!(
        sim.get(&format!("/v2/apps/{guid}")).await["entity"]["enable_ssh"],
        false
    );
}

#[tokio::test]
async fn scaling_and_process_changes_are_checked() {
    let sim = Cf::start(quick()).await;
    let guid = sim.create_app("web").await;
    let scale = format!("/v3/apps/{guid}/processes/web/actions/scale");
    let (status, scaled) = sim.post(&scale, json!({ "instances": 0 })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(scaled["instances"], 0);
    for (body, want) in [
        (
            json!({ "instances": -1 }),
            "Instances must be greater than or equal to 0",
        ),
        (
            json!({ "memory_in_mb": 0 }),
            "Memory in mb must be greater than 0",
        ),
        (json!({ "instances": "two" }), "Instances is not a number"),
        (json!({ "replicas": 2 }), "Unknown field(s): 'replicas'"),
    ] {
        let (status, answer) = sim.post(&scale, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(detail(&answer), want, "{body}");
    }
    let process = format!("/v3/processes/{guid}");
    for body in [
        json!({ "health_check": { "type": "none" } }),
        json!({ "health_check": { "type": "port", "data": { "timeout": 0 } } }),
        json!({ "command": "" }),
    ] {
        let (status, _) = sim.patch(&process, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let (status, _) = sim
        .send(
            Method::GET,
            &format!("/v3/apps/{guid}/processes/worker"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let processes = sim.get(&format!("/v3/apps/{guid}/processes")).await;
    assert_eq!(processes["resources"][0]["type"], "web");
    let (status, nested) = sim
        .patch(
            &format!("/v3/apps/{guid}/processes/web"),
            json!({ "user": "app", "metadata": { "labels": { "role": "front" } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{nested}");
    assert_eq!(nested["user"], "app");
    assert_eq!(nested["metadata"]["labels"], json!({ "role": "front" }));
    let (status, _) = sim
        .patch(&format!("/v3/apps/{guid}/processes/worker"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn errors_have_the_v3_shape() {
    let sim = Cf::start(quick()).await;
    let url = format!("{}/v3/apps", sim.handle.cf_url());
    let none = sim.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        error(&none.json().await.unwrap()),
        ("CF-NotAuthenticated", 10_002)
    );
    let wrong = sim
        .client
        .get(&url)
        .header("authorization", "bearer wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(error(&body), ("CF-InvalidAuthToken", 1000));
    assert_eq!(detail(&body), "Invalid Auth Token");

    let (status, missing) = sim
        .send(
            Method::GET,
            "/v3/apps/5f0b8a5e-0000-4000-8000-000000000000",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error(&missing), ("CF-ResourceNotFound", 10_010));
    assert_eq!(detail(&missing), "App not found");
    let (status, unknown) = sim.send(Method::GET, "/v3/nothing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error(&unknown), ("CF-NotFound", 10_000));
    let broken = sim
        .api(Method::POST, "/v3/apps")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error(&broken.json().await.unwrap()),
        ("CF-MessageParseError", 1001)
    );

    // What stands in front of the Cloud Controller answers in v3's shape too.
    sim.handle.inject(Fault {
        status: 403,
        path_prefix: Some("/cf/v3/".to_owned()),
        ..Fault::default()
    });
    let (status, forbidden) = sim.send(Method::GET, "/v3/apps", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error(&forbidden), ("CF-NotAuthorized", 10_003));

    // Warnings ride on v3 answers as on v2's.
    sim.handle.set_options(|options| {
        options.cf_warnings = Some("Endpoint deprecated, really".to_owned());
    });
    let response = sim.api(Method::GET, "/v3/apps").send().await.unwrap();
    assert_eq!(
        response.headers()["x-cf-warnings"],
        "Endpoint+deprecated%2C+really"
    );
}

#[tokio::test]
async fn lists_page_with_absolute_links_and_filters() {
    let sim = Cf::start(quick()).await;
    for name in ["a", "b", "c", "d", "e"] {
        sim.create_app(name).await;
    }
    let first = sim
        .get(&format!(
            "/v3/apps?space_guids={DEFAULT_CF_SPACE_GUID}&per_page=2"
        ))
        .await;
    let pagination = &first["pagination"];
    assert_eq!(pagination["total_results"], 5);
    assert_eq!(pagination["total_pages"], 3);
    assert_eq!(pagination["previous"], Value::Null);
    let cf = sim.handle.cf_url();
    assert_eq!(
        pagination["first"]["href"],
        format!("{cf}/v3/apps?page=1&per_page=2&space_guids={DEFAULT_CF_SPACE_GUID}")
    );
    assert_eq!(
        pagination["last"]["href"],
        format!("{cf}/v3/apps?page=3&per_page=2&space_guids={DEFAULT_CF_SPACE_GUID}")
    );
    let mut names = Vec::new();
    let mut page = first;
    for _ in 0..5 {
        for app in page["resources"].as_array().unwrap() {
            names.push(app["name"].as_str().unwrap().to_owned());
        }
        let Some(next) = page["pagination"]["next"]["href"].as_str() else {
            break;
        };
        page = sim.get(next).await;
    }
    assert_eq!(names, ["a", "b", "c", "d", "e"]);

    let some = sim.get("/v3/apps?names=b,d&order_by=-name").await;
    let names: Vec<&str> = some["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|app| app["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["d", "b"]);
    assert_eq!(
        some["pagination"]["first"]["href"],
        format!("{cf}/v3/apps?names=b%2Cd&order_by=-name&page=1&per_page=50")
    );
    let none = sim.get("/v3/apps?names=zzz").await;
    assert_eq!(none["pagination"]["total_results"], 0);
    assert_eq!(none["pagination"]["total_pages"], 1);

    for query in [
        "per_page=0",
        "per_page=5001",
        "page=x",
        "color=blue",
        "order_by=size",
    ] {
        let (status, body) = sim
            .send(Method::GET, &format!("/v3/apps?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error(&body), ("CF-BadQueryParameter", 10_005), "{query}");
    }

    // The page cap and ignored filters apply to v3 lists too.
    sim.handle.set_options(|options| {
        options.cf_page_cap = Some(1);
        options.cf_list_ignores_filters = true;
    });
    let capped = sim.get("/v3/apps?names=c&per_page=50").await;
    assert_eq!(capped["pagination"]["total_results"], 5);
    assert_eq!(capped["pagination"]["total_pages"], 5);
    assert!(
        capped["pagination"]["next"]["href"]
            .as_str()
            .unwrap()
            .contains("names=c&page=2&per_page=1")
    );
}

#[tokio::test]
async fn orgs_spaces_and_stacks_are_found_by_name() {
    let sim = Cf::start(quick()).await;
    let orgs = sim
        .get(&format!("/v3/organizations?names={DEFAULT_CF_ORG_NAME}"))
        .await;
    assert_eq!(orgs["resources"][0]["guid"], DEFAULT_CF_ORG_GUID);
    let spaces = sim
        .get(&format!(
            "/v3/spaces?names={DEFAULT_CF_SPACE_NAME}&organization_guids={DEFAULT_CF_ORG_GUID}"
        ))
        .await;
    assert_eq!(spaces["pagination"]["total_results"], 1);
    let space = &spaces["resources"][0];
    assert_eq!(space["guid"], DEFAULT_CF_SPACE_GUID);
    assert_eq!(
        space["relationships"]["organization"]["data"]["guid"],
        DEFAULT_CF_ORG_GUID
    );
    let elsewhere = sim
        .get(&format!(
            "/v3/spaces?names={DEFAULT_CF_SPACE_NAME}&organization_guids={CFLINUXFS3_STACK_GUID}"
        ))
        .await;
    assert_eq!(elsewhere["pagination"]["total_results"], 0);
    let stacks = sim.get("/v3/stacks?names=cflinuxfs3,cflinuxfs4").await;
    assert_eq!(stacks["pagination"]["total_results"], 2);
    assert_eq!(stacks["resources"][0]["name"], "cflinuxfs4");
    assert_eq!(stacks["resources"][0]["default"], true);
    assert_eq!(stacks["resources"][1]["guid"], CFLINUXFS3_STACK_GUID);
    let stack = sim.get(&format!("/v3/stacks/{DEFAULT_STACK_GUID}")).await;
    assert_eq!(stack["name"], "cflinuxfs4");
    let (status, _) = sim
        .send(
            Method::GET,
            &format!("/v3/spaces/{DEFAULT_CF_ORG_GUID}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn with_v2_off_the_root_offers_v3_only_and_v3_works() {
    let sim = Cf::start(SimOptions {
        cf_v2_disabled: true,
        ..quick()
    })
    .await;
    let root: Value = sim
        .client
        .get(sim.handle.cf_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let links = root["links"].as_object().unwrap();
    assert!(!links.contains_key("cloud_controller_v2"));
    assert_eq!(
        links["cloud_controller_v3"]["meta"]["version"],
        API_VERSION_V3
    );
    let v3: Value = sim
        .anonymous("/v3")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v3["links"]["apps"]["href"],
        format!("{}/v3/apps", sim.handle.cf_url())
    );

    let guid = sim.create_app("web").await;
    assert_eq!(sim.get(&format!("/v3/apps/{guid}")).await["name"], "web");
    let v2 = sim.api(Method::GET, "/v2/apps").send().await.unwrap();
    assert_eq!(v2.status(), StatusCode::NOT_FOUND);

    // log-cache, where the root points, reads with the same token.
    let logs: Value = sim
        .client
        .get(format!(
            "{}/api/v1/read/{guid}?envelope_types=LOG",
            links["log_cache"]["href"].as_str().unwrap()
        ))
        .header("authorization", format!("bearer {DEFAULT_TOKEN}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(logs, json!({ "envelopes": { "batch": [] } }));
}

#[tokio::test]
async fn docker_apps_stage_their_image() {
    let sim = Cf::start(quick()).await;
    let (status, app) = sim
        .post(
            "/v3/apps",
            json!({
                "name": "img",
                "relationships": { "space": { "data": { "guid": DEFAULT_CF_SPACE_GUID } } },
                "lifecycle": { "type": "docker", "data": {} },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    assert_eq!(app["lifecycle"], json!({ "type": "docker", "data": {} }));
    let guid = app["guid"].as_str().unwrap();
    let (status, refused) = sim
        .post(
            "/v3/packages",
            json!({ "type": "bits", "relationships": { "app": { "data": { "guid": guid } } } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        detail(&refused),
        "Cannot create bits package for a Docker app."
    );
    let (status, package) = sim
        .post(
            "/v3/packages",
            json!({
                "type": "docker",
                "relationships": { "app": { "data": { "guid": guid } } },
                "data": { "image": "nginx:1.27", "username": "bot", "password": "s3cret" },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{package}");
    assert_eq!(package["state"], "READY");
    assert_eq!(
        package["data"],
        json!({ "image": "nginx:1.27", "username": "bot", "password": "***" })
    );
    let v2 = sim.get(&format!("/v2/apps/{guid}")).await;
    assert_eq!(v2["entity"]["docker_image"], "nginx:1.27");
    let (_, build) = sim
        .post(
            "/v3/builds",
            json!({ "package": { "guid": package["guid"] } }),
        )
        .await;
    let staged = sim
        .wait_for(
            &format!("/v3/builds/{}", build["guid"].as_str().unwrap()),
            "state",
            "STAGED",
        )
        .await;
    let droplet = sim
        .get(&format!(
            "/v3/droplets/{}",
            staged["droplet"]["guid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(droplet["image"], "nginx:1.27");
    assert_eq!(droplet["buildpacks"], Value::Null);
}

#[tokio::test]
async fn deleting_answers_202_with_a_job() {
    let sim = Cf::start(quick()).await;
    let guid = sim.create_app("web").await;
    let response = sim
        .api(Method::DELETE, &format!("/v3/apps/{guid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/v3/jobs/", sim.handle.cf_url())),
        "{location}"
    );
    let job = sim.get(&location).await;
    assert_eq!(job["operation"], "app.delete");
    assert_eq!(job["state"], "PROCESSING");
    sim.wait_for(&location, "state", "COMPLETE").await;
    let (status, _) = sim
        .send(Method::GET, &format!("/v3/apps/{guid}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = sim
        .send(Method::GET, &format!("/v2/apps/{guid}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = sim
        .send(
            Method::GET,
            "/v3/jobs/5f0b8a5e-0000-4000-8000-000000000000",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(detail(&body), "Job not found");
}
