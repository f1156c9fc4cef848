//! The simulated Cloud Foundry around a deploy, over real HTTP on loopback: domains and
//! routes with their destinations, log-cache's staging and app lines, rolling deployments,
//! and the downtime the simulator counts.

mod support;

use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use berth_sim::cloudfoundry::*;
use berth_sim::*;
use support::Cf;

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

    /// Polls `path` until `pointer` is `want` (or five seconds have passed).
    async fn wait_for(&self, path: &str, pointer: &str, want: &str) -> Value {
        for _ in 0..250 {
            let body = self.get(path).await;
            if body.pointer(pointer).is_some_and(|value| value == want) {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{path} never had {pointer} {want}");
    }

    /// A droplet of `app` staged from a Node.js package (not made current); the build's body.
    async fn build(&self, app: &str) -> Value {
        let (status, package) = self
            .post(
                "/v3/packages",
                json!({ "type": "bits", "relationships": { "app": { "data": { "guid": app } } } }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{package}");
        let package = package["guid"].as_str().unwrap().to_owned();
        let zip = node_zip();
        let boundary = "berth-sim-rollout";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"resources\"\r\n\r\n[]\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"bits\"; filename=\"package.zip\"\r\n\
             Content-Type: application/zip\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&zip);
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
        assert_eq!(response.status(), StatusCode::OK);
        self.wait_for(&format!("/v3/packages/{package}"), "/state", "READY")
            .await;
        let (status, build) = self
            .post("/v3/builds", json!({ "package": { "guid": package } }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{build}");
        build
    }

    /// A staged droplet of `app`.
    async fn droplet(&self, app: &str) -> String {
        let build = self.build(app).await;
        let path = format!("/v3/builds/{}", build["guid"].as_str().unwrap());
        let staged = self.wait_for(&path, "/state", "STAGED").await;
        staged["droplet"]["guid"].as_str().unwrap().to_owned()
    }

    /// An app with `instances` RUNNING instances of a first droplet; its guid and droplet.
    async fn running_app(&self, name: &str, instances: i64) -> (String, String) {
        let app = self.create_app(name).await;
        let droplet = self.droplet(&app).await;
        let (status, _) = self
            .send(
                Method::PATCH,
                &format!("/v3/apps/{app}/relationships/current_droplet"),
                Some(json!({ "data": { "guid": droplet } })),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = self
            .post(
                &format!("/v3/processes/{app}/actions/scale"),
                json!({ "instances": instances }),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let (status, _) = self
            .post(&format!("/v3/apps/{app}/actions/start"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
        self.wait_all_running(&app, instances).await;
        (app, droplet)
    }

    /// Waits until the web process has `count` instances, all RUNNING.
    async fn wait_all_running(&self, app: &str, count: i64) -> Value {
        let path = format!("/v3/processes/{app}/stats");
        for _ in 0..250 {
            let stats = self.get(&path).await;
            let resources = stats["resources"].as_array().unwrap();
            if resources.len() == usize::try_from(count).unwrap()
                && resources
                    .iter()
                    .all(|instance| instance["state"] == "RUNNING")
            {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{app} never had {count} RUNNING instances");
    }

    /// A log-cache read of `app` with `query`: the status and body.
    async fn read_logs(&self, app: &str, query: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(format!(
                "{}/log-cache/api/v1/read/{app}?{query}",
                self.handle.url()
            ))
            .header("authorization", format!("bearer {DEFAULT_TOKEN}"))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The lines a read returns: `(timestamp, source_type, type, text)`.
    async fn lines(&self, app: &str, query: &str) -> Vec<(u128, String, String, String)> {
        let (status, body) = self.read_logs(app, query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["envelopes"]["batch"]
            .as_array()
            .unwrap()
            .iter()
            .map(|envelope| {
                assert_eq!(envelope["source_id"], app);
                let payload = base64::engine::general_purpose::STANDARD
                    .decode(envelope["log"]["payload"].as_str().unwrap())
                    .unwrap();
                (
                    envelope["timestamp"].as_str().unwrap().parse().unwrap(),
                    envelope["tags"]["source_type"].as_str().unwrap().to_owned(),
                    envelope["log"]["type"].as_str().unwrap().to_owned(),
                    String::from_utf8(payload).unwrap(),
                )
            })
            .collect()
    }
}

fn node_zip() -> Vec<u8> {
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in [("package.json", &b"{}"[..]), ("server.js", b"listen()")] {
        archive.start_file(name, stored).unwrap();
        std::io::Write::write_all(&mut archive, data).unwrap();
    }
    archive.finish().unwrap().into_inner()
}

fn quick() -> SimOptions {
    SimOptions {
        cf_staging_time: Duration::from_millis(200),
        cf_startup_time: Duration::from_millis(300),
        cf_job_time: Duration::from_millis(50),
        ..SimOptions::default()
    }
}

fn detail(body: &Value) -> (&str, &str) {
    (
        body["errors"][0]["title"].as_str().unwrap(),
        body["errors"][0]["detail"].as_str().unwrap(),
    )
}

// Domains and routes.

#[tokio::test]
async fn shared_domains_are_listed_and_the_default_is_the_http_one() {
    let sim = Cf::start(quick()).await;
    let domains = sim.get("/v3/domains").await;
    assert_eq!(domains["pagination"]["total_results"], 2);
    let http = &domains["resources"][0];
    assert_eq!(http["name"], DEFAULT_CF_DOMAIN_NAME);
    assert_eq!(http["guid"], DEFAULT_CF_DOMAIN_GUID);
    assert_eq!(http["supported_protocols"], json!(["http"]));
    assert_eq!(http["router_group"], Value::Null);
    assert_eq!(http["relationships"]["organization"]["data"], Value::Null);
    let tcp = &domains["resources"][1];
    assert_eq!(tcp["name"], TCP_CF_DOMAIN_NAME);
    assert_eq!(tcp["supported_protocols"], json!(["tcp"]));
    assert_eq!(tcp["router_group"]["guid"], TCP_ROUTER_GROUP_GUID);

    let named = sim
        .get(&format!("/v3/domains?names={TCP_CF_DOMAIN_NAME}"))
        .await;
    assert_eq!(named["pagination"]["total_results"], 1);
    assert_eq!(named["resources"][0]["guid"], TCP_CF_DOMAIN_GUID);
    let paged = sim.get("/v3/domains?per_page=1").await;
    assert_eq!(paged["pagination"]["total_pages"], 2);
    assert!(paged["pagination"]["next"]["href"].is_string());

    let default = sim
        .get(&format!(
            "/v3/organizations/{DEFAULT_CF_ORG_GUID}/domains/default"
        ))
        .await;
    assert_eq!(default["name"], DEFAULT_CF_DOMAIN_NAME);
    let (status, _) = sim
        .send(
            Method::GET,
            "/v3/organizations/00000000-0000-4000-8000-000000000000/domains/default",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn route_body(host: Option<&str>, path: Option<&str>, domain: &str) -> Value {
    let mut body = json!({
        "relationships": {
            "space": { "data": { "guid": DEFAULT_CF_SPACE_GUID } },
            "domain": { "data": { "guid": domain } },
        },
    });
    if let Some(host) = host {
        body["host"] = json!(host);
    }
    if let Some(path) = path {
        body["path"] = json!(path);
    }
    body
}

#[tokio::test]
async fn a_route_is_created_found_again_and_taken_only_once() {
    let sim = Cf::start(quick()).await;
    let (status, route) = sim
        .post(
            "/v3/routes",
            route_body(Some("shop"), Some("/api"), DEFAULT_CF_DOMAIN_GUID),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    assert_eq!(route["url"], "shop.apps.sim.example/api");
    assert_eq!(route["protocol"], "http");
    assert_eq!(route["host"], "shop");
    assert_eq!(route["path"], "/api");
    assert_eq!(route["port"], Value::Null);
    assert_eq!(route["destinations"], json!([]));
    assert_eq!(
        route["relationships"]["domain"]["data"]["guid"],
        DEFAULT_CF_DOMAIN_GUID
    );
    let guid = route["guid"].as_str().unwrap();
    assert_eq!(sim.get(&format!("/v3/routes/{guid}")).await, route);

    // Found as a client looks one up before creating it.
    let found = sim
        .get(&format!(
            "/v3/routes?hosts=shop&domain_guids={DEFAULT_CF_DOMAIN_GUID}&paths=/api"
        ))
        .await;
    assert_eq!(found["pagination"]["total_results"], 1);
    assert_eq!(found["resources"][0]["guid"], guid);
    for miss in [
        "hosts=other".to_owned(),
        "paths=/other".to_owned(),
        format!("domain_guids={TCP_CF_DOMAIN_GUID}"),
        "space_guids=00000000-0000-4000-8000-000000000000".to_owned(),
    ] {
        let list = sim.get(&format!("/v3/routes?{miss}")).await;
        assert_eq!(list["pagination"]["total_results"], 0, "{miss}");
    }

    // The same host and path again is taken; another path is not.
    let (status, taken) = sim
        .post(
            "/v3/routes",
            route_body(Some("shop"), Some("/api"), DEFAULT_CF_DOMAIN_GUID),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        detail(&taken),
        (
            "CF-UnprocessableEntity",
            "Route already exists with host 'shop' and path '/api' for domain 'apps.sim.example'."
        )
    );
    let (status, bare) = sim
        .post(
            "/v3/routes",
            route_body(Some("shop"), None, DEFAULT_CF_DOMAIN_GUID),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(bare["url"], "shop.apps.sim.example");
    let (status, taken) = sim
        .post(
            "/v3/routes",
            route_body(Some("shop"), None, DEFAULT_CF_DOMAIN_GUID),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        detail(&taken).1,
        "Route already exists with host 'shop' for domain 'apps.sim.example'."
    );
}

#[tokio::test]
async fn route_bodies_are_checked_like_the_cloud_controller() {
    let sim = Cf::start(quick()).await;
    let cases = [
        (
            route_body(Some("a.b"), None, DEFAULT_CF_DOMAIN_GUID),
            "Host must be either \"*\" or contain only alphanumeric characters, \"_\", or \"-\"",
        ),
        (
            route_body(Some("a"), Some("api"), DEFAULT_CF_DOMAIN_GUID),
            "Path must begin with /",
        ),
        (
            route_body(Some("a"), Some("/"), DEFAULT_CF_DOMAIN_GUID),
            "Path cannot be exactly /",
        ),
        (
            route_body(None, None, DEFAULT_CF_DOMAIN_GUID),
            "Missing host. Routes in shared domains must have a host defined.",
        ),
        (
            route_body(Some("a"), None, "00000000-0000-4000-8000-000000000000"),
            "Invalid domain. Ensure that the domain exists and you have access to it.",
        ),
        (
            route_body(Some("a"), None, TCP_CF_DOMAIN_GUID),
            "Hosts are not supported for TCP routes.",
        ),
        (json!({ "host": "a" }), "Relationships can't be blank"),
    ];
    for (body, want) in cases {
        let (status, answer) = sim.post("/v3/routes", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(detail(&answer), ("CF-UnprocessableEntity", want), "{body}");
    }
    let mut with_port = route_body(Some("a"), None, DEFAULT_CF_DOMAIN_GUID);
    with_port["port"] = json!(1234);
    let (_, answer) = sim.post("/v3/routes", with_port).await;
    assert_eq!(
        detail(&answer).1,
        "Routes with protocol 'http' do not support ports."
    );

    // A TCP route gets a free port unless it names one, and a port is taken once.
    let (status, tcp) = sim
        .post("/v3/routes", route_body(None, None, TCP_CF_DOMAIN_GUID))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{tcp}");
    assert_eq!(tcp["protocol"], "tcp");
    assert_eq!(tcp["port"], 1024);
    assert_eq!(tcp["url"], "tcp.sim.example:1024");
    let mut again = route_body(None, None, TCP_CF_DOMAIN_GUID);
    again["port"] = json!(1024);
    let (status, taken) = sim.post("/v3/routes", again).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        detail(&taken).1,
        "Route already exists with port '1024' for domain 'tcp.sim.example'."
    );
    let ports = sim.get("/v3/routes?ports=1024").await;
    assert_eq!(ports["pagination"]["total_results"], 1);
}

#[tokio::test]
async fn inserting_destinations_adds_and_keeps_other_apps() {
    let sim = Cf::start(quick()).await;
    let ours = sim.create_app("ours").await;
    let theirs = sim.create_app("theirs").await;
    let (_, route) = sim
        .post(
            "/v3/routes",
            route_body(Some("shared"), None, DEFAULT_CF_DOMAIN_GUID),
        )
        .await;
    let guid = route["guid"].as_str().unwrap();
    let destinations = format!("/v3/routes/{guid}/destinations");

    let (status, first) = sim
        .post(
            &destinations,
            json!({ "destinations": [{ "app": { "guid": theirs } }] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["destinations"][0]["app"]["guid"], theirs.as_str());
    assert_eq!(first["destinations"][0]["app"]["process"]["type"], "web");
    assert_eq!(first["destinations"][0]["port"], 8080);
    assert_eq!(first["destinations"][0]["protocol"], "http1");
    assert_eq!(
        first["links"]["route"]["href"],
        format!("{}/v3/routes/{guid}", sim.handle.cf_url())
    );

    // Ours is added; theirs stays. Inserting ours again changes nothing.
    for _ in 0..2 {
        let (status, both) = sim
            .post(
                &destinations,
                json!({ "destinations": [{ "app": { "guid": ours, "process": { "type": "web" } } }] }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let apps: Vec<&str> = both["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|destination| destination["app"]["guid"].as_str().unwrap())
            .collect();
        assert_eq!(apps, [theirs.as_str(), ours.as_str()]);
    }
    let listed = sim.get(&destinations).await;
    assert_eq!(listed["destinations"].as_array().unwrap().len(), 2);
    let route = sim.get(&format!("/v3/routes/{guid}")).await;
    assert_eq!(route["destinations"].as_array().unwrap().len(), 2);

    // The app's routes, and the route list by app.
    let app_routes = sim.get(&format!("/v3/apps/{ours}/routes")).await;
    assert_eq!(app_routes["pagination"]["total_results"], 1);
    assert_eq!(app_routes["resources"][0]["url"], "shared.apps.sim.example");
    let by_app = sim.get(&format!("/v3/routes?app_guids={ours}")).await;
    assert_eq!(by_app["resources"][0]["guid"], guid);
    let lonely = sim.create_app("lonely").await;
    let none = sim.get(&format!("/v3/apps/{lonely}/routes")).await;
    assert_eq!(none["pagination"]["total_results"], 0);

    // Unknown apps are refused; a deleted app's destination goes with it.
    let (status, unknown) = sim
        .post(
            &destinations,
            json!({ "destinations": [{ "app": { "guid": "00000000-0000-4000-8000-000000000000" } }] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        detail(&unknown).1,
        "App(s) with guid(s) \"00000000-0000-4000-8000-000000000000\" do not exist."
    );
    let (status, empty) = sim.post(&destinations, json!({ "destinations": [] })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{empty}");
    let (status, _) = sim
        .send(Method::DELETE, &format!("/v3/apps/{theirs}"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let left = sim.get(&destinations).await;
    assert_eq!(left["destinations"].as_array().unwrap().len(), 1);
    assert_eq!(left["destinations"][0]["app"]["guid"], ours.as_str());
}

// log-cache.

#[tokio::test]
async fn staging_writes_stg_lines_over_time_in_order() {
    let sim = Cf::start(SimOptions {
        cf_staging_time: Duration::from_millis(600),
        ..quick()
    })
    .await;
    let app = sim.create_app("logged").await;
    let build = sim.build(&app).await;

    // Early on only the first lines are there; at the end all of them, in order.
    let early = sim.lines(&app, "envelope_types=LOG").await;
    let path = format!("/v3/builds/{}", build["guid"].as_str().unwrap());
    sim.wait_for(&path, "/state", "STAGED").await;
    let all = sim.lines(&app, "envelope_types=LOG&limit=1000").await;
    assert!(early.len() < all.len(), "{} < {}", early.len(), all.len());
    assert!(
        all.iter()
            .all(|(_, source, kind, _)| source == "STG" && kind == "OUT")
    );
    let texts: Vec<&str> = all.iter().map(|(_, _, _, text)| text.as_str()).collect();
    assert_eq!(texts[0], "Downloading nodejs_buildpack...");
    assert!(texts.contains(&"-----> Nodejs Buildpack version 1.8.40"));
    assert!(texts.contains(&"-----> Installing node 22.11.0"));
    assert!(texts.contains(&"Uploading droplet..."));
    assert!(texts.contains(&"Exit status 0"));
    assert!(
        all.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "ascending"
    );

    // start_time is inclusive; descending with a limit gives the newest first.
    let third = all[2].0;
    let from = sim
        .lines(&app, &format!("start_time={third}&limit=1000"))
        .await;
    assert_eq!(from.len(), all.len() - 2);
    assert_eq!(from[0], all[2]);
    let until = sim
        .lines(&app, &format!("end_time={third}&limit=1000"))
        .await;
    assert_eq!(until, all[..2]);
    let newest = sim.lines(&app, "descending=true&limit=1").await;
    assert_eq!(newest, [all[all.len() - 1].clone()]);
    let two = sim.lines(&app, "limit=2").await;
    assert_eq!(two, all[..2]);
    let counters = sim.lines(&app, "envelope_types=COUNTER").await;
    assert!(counters.is_empty());
    let (status, _) = sim.read_logs(&app, "limit=1001").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The envelope as log-cache writes it.
    let (_, body) = sim.read_logs(&app, "limit=1").await;
    let envelope = &body["envelopes"]["batch"][0];
    assert_eq!(envelope["instance_id"], "0");
    assert!(envelope["timestamp"].is_string());
    assert_eq!(
        envelope["log"]["payload"],
        base64::engine::general_purpose::STANDARD.encode("Downloading nodejs_buildpack...")
    );

    // Another source has nothing; a wrong token is refused.
    assert!(sim.lines("no-such-app", "").await.is_empty());
    let refused = sim
        .client
        .get(format!("{}/log-cache/api/v1/read/{app}", sim.handle.url()))
        .header("authorization", "bearer wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_staging_ends_with_error_lines_and_a_crash_logs_before_it_crashes() {
    let sim = Cf::start(SimOptions {
        cf_staging_fails: true,
        ..quick()
    })
    .await;
    let app = sim.create_app("broken").await;
    let build = sim.build(&app).await;
    let path = format!("/v3/builds/{}", build["guid"].as_str().unwrap());
    sim.wait_for(&path, "/state", "FAILED").await;
    let lines = sim.lines(&app, "limit=1000").await;
    let errors: Vec<&str> = lines
        .iter()
        .filter(|(_, _, kind, _)| kind == "ERR")
        .map(|(_, _, _, text)| text.as_str())
        .collect();
    assert_eq!(errors[0], "npm ERR! code E404");
    assert_eq!(
        errors.last().copied(),
        Some("Staging failed: Exited with status 223")
    );
    assert!(
        !lines
            .iter()
            .any(|(_, _, _, text)| text == "Uploading droplet...")
    );

    // An app whose instances crash logs its error before the crash.
    sim.handle.set_options(|options| {
        options.cf_staging_fails = false;
        options.cf_crashes = true;
    });
    let crashing = sim.create_app("crashing").await;
    let droplet = sim.droplet(&crashing).await;
    sim.send(
        Method::PATCH,
        &format!("/v3/apps/{crashing}/relationships/current_droplet"),
        Some(json!({ "data": { "guid": droplet } })),
    )
    .await;
    let (status, _) = sim
        .post(&format!("/v3/apps/{crashing}/actions/start"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    sim.wait_for(
        &format!("/v3/processes/{crashing}/stats"),
        "/resources/0/state",
        "CRASHED",
    )
    .await;
    let lines = sim.lines(&crashing, "limit=1000").await;
    let app_lines: Vec<&(u128, String, String, String)> = lines
        .iter()
        .filter(|(_, source, _, _)| source == "APP/PROC/WEB")
        .collect();
    assert_eq!(app_lines[0].3, "> npm start");
    assert!(
        app_lines.iter().any(
            |(_, _, kind, text)| kind == "ERR" && text == "Error: Cannot find module 'express'"
        )
    );
    let crash = lines
        .iter()
        .find(|(_, source, _, _)| source == "API")
        .expect("the crash event");
    assert!(crash.3.contains("\"reason\"=>\"CRASHED\""), "{}", crash.3);
    assert!(app_lines.iter().all(|line| line.0 <= crash.0));
}

#[tokio::test]
async fn log_lines_arrive_late_with_a_lag_and_some_never_with_gaps() {
    let sim = Cf::start(SimOptions {
        cf_staging_time: Duration::ZERO,
        cf_log_lag: Duration::from_millis(400),
        ..quick()
    })
    .await;
    let app = sim.create_app("lagging").await;
    sim.build(&app).await;
    assert!(sim.lines(&app, "").await.is_empty(), "not yet delivered");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let complete = sim.lines(&app, "limit=1000").await;
    assert!(complete.len() > 15, "{}", complete.len());

    // The same staging with half the lines lost: some arrive, not all, the same ones each run.
    let mut counts = Vec::new();
    for _ in 0..2 {
        let sim = Cf::start(SimOptions {
            cf_staging_time: Duration::ZERO,
            cf_log_gaps: 0.5,
            ..quick()
        })
        .await;
        let app = sim.create_app("lagging").await;
        sim.build(&app).await;
        let lines = sim.lines(&app, "limit=1000").await;
        assert!(
            !lines.is_empty() && lines.len() < complete.len(),
            "{}",
            lines.len()
        );
        counts.push(
            lines
                .into_iter()
                .map(|(_, _, _, text)| text)
                .collect::<Vec<_>>(),
        );
    }
    let texts = |lines: &[String]| {
        lines
            .iter()
            .filter(|text| !text.starts_with("Cell "))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&counts[0]), texts(&counts[1]), "seeded");
}

#[tokio::test]
async fn a_log_cache_outage_answers_503_or_resets_the_connection() {
    let sim = Cf::start(quick()).await;
    let app = sim.create_app("dark").await;
    sim.handle
        .set_options(|options| options.cf_log_cache_outage = Some(LogCacheOutage::Unavailable));
    let (status, _) = sim.read_logs(&app, "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // The Cloud Controller still answers.
    sim.get(&format!("/v3/apps/{app}")).await;

    sim.handle
        .set_options(|options| options.cf_log_cache_outage = Some(LogCacheOutage::Reset));
    let reset = sim
        .client
        .get(format!("{}/log-cache/api/v1/read/{app}", sim.handle.url()))
        .header("authorization", format!("bearer {DEFAULT_TOKEN}"))
        .send()
        .await;
    assert!(reset.is_err(), "{reset:?}");

    sim.handle
        .set_options(|options| options.cf_log_cache_outage = None);
    let (status, body) = sim.read_logs(&app, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "envelopes": { "batch": [] } }));
}

// Deployments and downtime.

/// The states of the web process's instances.
async fn states(sim: &Cf, app: &str) -> Vec<String> {
    sim.get(&format!("/v3/processes/{app}/stats")).await["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|instance| instance["state"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_rolling_deployment_replaces_instances_one_by_one_without_downtime() {
    let sim = Cf::start(quick()).await;
    let (app, old) = sim.running_app("rolled", 3).await;
    let new = sim.droplet(&app).await;
    let (status, deployment) = sim
        .post(
            "/v3/deployments",
            json!({
                "droplet": { "guid": new },
                "strategy": "rolling",
                "relationships": { "app": { "data": { "guid": app } } },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deployment}");
    assert_eq!(deployment["status"]["value"], "ACTIVE");
    assert_eq!(deployment["status"]["reason"], "DEPLOYING");
    assert_eq!(deployment["state"], "DEPLOYING");
    assert_eq!(deployment["strategy"], "rolling");
    assert_eq!(deployment["options"]["max_in_flight"], 1);
    assert_eq!(deployment["droplet"]["guid"], new.as_str());
    assert_eq!(deployment["previous_droplet"]["guid"], old.as_str());
    let guid = deployment["guid"].as_str().unwrap();
    let path = format!("/v3/deployments/{guid}");
    assert_eq!(
        deployment["links"]["cancel"]["href"],
        format!("{}{path}/actions/cancel", sim.handle.cf_url())
    );
    // As on the Cloud Controller, the droplet is current at once.
    let current = sim.get(&format!("/v3/apps/{app}/droplets/current")).await;
    assert_eq!(current["guid"], new.as_str());

    // Old instances serve while the new ones start: there is always one RUNNING.
    let first = states(&sim, &app).await;
    assert_eq!(first, ["RUNNING", "RUNNING", "RUNNING", "STARTING"]);
    let mut seen_mixed = false;
    loop {
        let body = sim.get(&path).await;
        let now = states(&sim, &app).await;
        assert!(now.iter().any(|state| state == "RUNNING"), "{now:?}");
        if body["status"]["value"] == "FINALIZED" {
            assert_eq!(body["status"]["reason"], "DEPLOYED");
            assert_eq!(body["state"], "DEPLOYED");
            break;
        }
        seen_mixed |= now.len() == 4 && now.iter().filter(|state| *state == "RUNNING").count() == 3;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(seen_mixed);
    let stats = sim.wait_all_running(&app, 3).await;
    assert_eq!(stats["resources"].as_array().unwrap().len(), 3);
    let current = sim.get(&format!("/v3/apps/{app}/droplets/current")).await;
    assert_eq!(current["guid"], new.as_str());
    assert_eq!(sim.handle.cf_downtime(&app), Duration::ZERO);
    let listed = sim
        .get(&format!(
            "/v3/deployments?app_guids={app}&status_values=FINALIZED"
        ))
        .await;
    assert_eq!(listed["resources"][0]["guid"], guid);
    // A finished deployment cannot be cancelled.
    let (status, refused) = sim.post(&format!("{path}/actions/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(detail(&refused).1, "Cannot cancel a DEPLOYED deployment");
}

#[tokio::test]
async fn a_restart_has_downtime_and_a_deployment_on_a_stopped_app_starts_it() {
    let sim = Cf::start(quick()).await;
    let (app, droplet) = sim.running_app("restarted", 1).await;
    assert_eq!(sim.handle.cf_downtime(&app), Duration::ZERO, "before");
    let (status, _) = sim
        .post(&format!("/v3/apps/{app}/actions/restart"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    sim.wait_all_running(&app, 1).await;
    let downtime = sim.handle.cf_downtime(&app);
    assert!(
        downtime >= Duration::from_millis(300) && downtime < Duration::from_secs(2),
        "{downtime:?}"
    );
    // A stop and a start counts from the stop.
    sim.post(&format!("/v3/apps/{app}/actions/stop"), json!({}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    sim.post(&format!("/v3/apps/{app}/actions/start"), json!({}))
        .await;
    sim.wait_all_running(&app, 1).await;
    let after = sim.handle.cf_downtime(&app) - downtime;
    assert!(after >= Duration::from_millis(500), "{after:?}");

    let stopped = sim.create_app("stopped").await;
    let new = sim.droplet(&stopped).await;
    let (status, deployment) = sim
        .post(
            "/v3/deployments",
            json!({
                "droplet": { "guid": new },
                "relationships": { "app": { "data": { "guid": stopped } } },
                "options": { "web_instances": 2 },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deployment}");
    assert_eq!(deployment["status"]["value"], "FINALIZED");
    assert_eq!(deployment["status"]["reason"], "DEPLOYED");
    assert_eq!(
        sim.get(&format!("/v3/apps/{stopped}")).await["state"],
        "STARTED"
    );
    sim.wait_all_running(&stopped, 2).await;
    assert_eq!(sim.handle.cf_downtime("no-such-app"), Duration::ZERO);
    let _ = droplet;
}

#[tokio::test]
async fn a_cancelled_deployment_keeps_the_old_droplet_live() {
    let sim = Cf::start(SimOptions {
        cf_startup_time: Duration::from_millis(500),
        ..quick()
    })
    .await;
    let (app, old) = sim.running_app("cancelled", 2).await;
    let new = sim.droplet(&app).await;
    let (_, deployment) = sim
        .post(
            "/v3/deployments",
            json!({
                "droplet": { "guid": new },
                "relationships": { "app": { "data": { "guid": app } } },
            }),
        )
        .await;
    let path = format!("/v3/deployments/{}", deployment["guid"].as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = sim.post(&format!("{path}/actions/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, Value::Null, "no body");
    let canceling = sim.get(&path).await;
    assert_eq!(canceling["status"]["value"], "ACTIVE");
    assert_eq!(canceling["status"]["reason"], "CANCELING");
    let current = sim.get(&format!("/v3/apps/{app}/droplets/current")).await;
    assert_eq!(
        current["guid"],
        old.as_str(),
        "the old droplet is current again"
    );
    let canceled = sim.wait_for(&path, "/status/reason", "CANCELED").await;
    assert_eq!(canceled["status"]["value"], "FINALIZED");
    assert_eq!(canceled["state"], "CANCELED");
    sim.wait_all_running(&app, 2).await;
    assert_eq!(sim.handle.cf_downtime(&app), Duration::ZERO);
}

#[tokio::test]
async fn a_new_deployment_supersedes_one_under_way() {
    let sim = Cf::start(SimOptions {
        cf_startup_time: Duration::from_millis(500),
        ..quick()
    })
    .await;
    let (app, _) = sim.running_app("superseded", 2).await;
    let second = sim.droplet(&app).await;
    let third = sim.droplet(&app).await;
    let deploy = |droplet: String| {
        json!({
            "droplet": { "guid": droplet },
            "relationships": { "app": { "data": { "guid": app } } },
            "options": { "max_in_flight": 2 },
        })
    };
    let (_, first) = sim.post("/v3/deployments", deploy(second.clone())).await;
    let (status, next) = sim.post("/v3/deployments", deploy(third.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(next["previous_droplet"]["guid"], second.as_str());
    assert_eq!(next["options"]["max_in_flight"], 2);
    let old = sim
        .get(&format!(
            "/v3/deployments/{}",
            first["guid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(old["status"]["value"], "FINALIZED");
    assert_eq!(old["status"]["reason"], "SUPERSEDED");
    assert_eq!(old["state"], "DEPLOYED");
    let path = format!("/v3/deployments/{}", next["guid"].as_str().unwrap());
    sim.wait_for(&path, "/status/reason", "DEPLOYED").await;
    let current = sim.get(&format!("/v3/apps/{app}/droplets/current")).await;
    assert_eq!(current["guid"], third.as_str());
    assert_eq!(sim.handle.cf_downtime(&app), Duration::ZERO);
}

#[tokio::test]
async fn a_deployment_whose_instances_crash_stays_deploying_until_cancelled() {
    let sim = Cf::start(quick()).await;
    let (app, old) = sim.running_app("failing", 2).await;
    let new = sim.droplet(&app).await;
    sim.handle.set_options(|options| options.cf_crashes = true);
    let (_, deployment) = sim
        .post(
            "/v3/deployments",
            json!({
                "droplet": { "guid": new },
                "relationships": { "app": { "data": { "guid": app } } },
            }),
        )
        .await;
    let path = format!("/v3/deployments/{}", deployment["guid"].as_str().unwrap());
    sim.wait_for(
        &format!("/v3/processes/{app}/stats"),
        "/resources/2/state",
        "CRASHED",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(states(&sim, &app).await, ["RUNNING", "RUNNING", "CRASHED"]);
    let stuck = sim.get(&path).await;
    assert_eq!(stuck["status"]["value"], "ACTIVE");
    assert_eq!(stuck["status"]["reason"], "DEPLOYING");
    assert_eq!(
        stuck["status"]["details"]["last_successful_healthcheck"],
        deployment["created_at"]
    );
    let (status, _) = sim.post(&format!("{path}/actions/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    sim.wait_for(&path, "/status/reason", "CANCELED").await;
    assert_eq!(states(&sim, &app).await, ["RUNNING", "RUNNING"]);
    let current = sim.get(&format!("/v3/apps/{app}/droplets/current")).await;
    assert_eq!(current["guid"], old.as_str());
    assert_eq!(sim.handle.cf_downtime(&app), Duration::ZERO);
}

#[tokio::test]
async fn deployment_bodies_are_checked() {
    let sim = Cf::start(quick()).await;
    let app = sim.create_app("checked").await;
    let cases = [
        (
            json!({ "relationships": { "app": { "data": { "guid": "00000000-0000-4000-8000-000000000000" } } } }),
            "Unable to use app. Ensure that the app exists and you have access to it.",
        ),
        (
            json!({ "relationships": { "app": { "data": { "guid": app } } } }),
            "Invalid droplet. Please specify a droplet in the request or set a current droplet for the app.",
        ),
        (
            json!({ "droplet": { "guid": "00000000-0000-4000-8000-000000000000" }, "relationships": { "app": { "data": { "guid": app } } } }),
            "Unable to assign current droplet. Ensure the droplet exists and belongs to this app.",
        ),
        (
            json!({ "strategy": "blue-green", "relationships": { "app": { "data": { "guid": app } } } }),
            "Strategy 'blue-green' is not a supported deployment strategy",
        ),
        (
            json!({ "options": { "max_in_flight": 0 }, "relationships": { "app": { "data": { "guid": app } } } }),
            "max_in_flight must be an integer greater than 0",
        ),
    ];
    for (body, want) in cases {
        let (status, answer) = sim.post("/v3/deployments", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(detail(&answer), ("CF-UnprocessableEntity", want), "{body}");
    }
    let (status, _) = sim
        .send(
            Method::GET,
            "/v3/deployments/00000000-0000-4000-8000-000000000000",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// Domains and routes through v2, over the same state.

fn v2_route(host: &str, path: &str, domain: &str) -> Value {
    json!({
        "host": host,
        "path": path,
        "domain_guid": domain,
        "space_guid": DEFAULT_CF_SPACE_GUID,
    })
}

fn v2_error(body: &Value) -> (&str, &str) {
    (
        body["error_code"].as_str().unwrap(),
        body["description"].as_str().unwrap(),
    )
}

const OTHER_ORG: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

#[tokio::test]
async fn v2_lists_shared_and_private_domains_by_name_page_by_page() {
    let mut options = quick();
    options.cf_orgs.push(CfOrg {
        guid: OTHER_ORG.into(),
        name: "elsewhere".into(),
    });
    for (name, org) in [
        ("ours.example", DEFAULT_CF_ORG_GUID),
        ("theirs.example", OTHER_ORG),
    ] {
        options.cf_domains.push(CfDomain {
            guid: format!("5d5d5d5d-0000-4000-8000-{:012}", name.len()),
            name: name.into(),
            internal: false,
            router_group_guid: None,
            organization_guid: Some(org.into()),
        });
    }
    let sim = Cf::start(options).await;
    let shared = sim.get("/v2/shared_domains").await;
    assert_eq!(shared["total_results"], 2);
    let http = &shared["resources"][0];
    assert_eq!(http["metadata"]["guid"], DEFAULT_CF_DOMAIN_GUID);
    assert_eq!(
        http["metadata"]["url"],
        format!("/v2/shared_domains/{DEFAULT_CF_DOMAIN_GUID}")
    );
    assert_eq!(
        http["entity"],
        json!({
            "name": DEFAULT_CF_DOMAIN_NAME,
            "internal": false,
            "router_group_guid": null,
            "router_group_type": null,
        })
    );
    assert_eq!(shared["resources"][1]["entity"]["router_group_type"], "tcp");
    assert_eq!(
        shared["resources"][1]["entity"]["router_group_guid"],
        TCP_ROUTER_GROUP_GUID
    );

    let named = sim
        .get(&format!("/v2/shared_domains?q=name:{TCP_CF_DOMAIN_NAME}"))
        .await;
    assert_eq!(named["total_results"], 1);
    assert_eq!(
        named["resources"][0]["metadata"]["guid"],
        TCP_CF_DOMAIN_GUID
    );
    let paged = sim.get("/v2/shared_domains?results-per-page=1").await;
    assert_eq!(paged["total_pages"], 2);
    let next = paged["next_url"].as_str().unwrap();
    assert!(next.starts_with("/v2/shared_domains?"), "{next}");
    let second = sim.get(next).await;
    assert_eq!(
        second["resources"][0]["metadata"]["guid"],
        TCP_CF_DOMAIN_GUID
    );
    assert_eq!(second["next_url"], Value::Null);
    let one = sim
        .get(&format!("/v2/shared_domains/{DEFAULT_CF_DOMAIN_GUID}"))
        .await;
    assert_eq!(one, *http);
    let (status, body) = sim
        .send(
            Method::GET,
            &format!("/v2/private_domains/{DEFAULT_CF_DOMAIN_GUID}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error_code"], "CF-DomainNotFound");

    // Private domains: every one the user sees, or one organization's.
    let private = sim.get("/v2/private_domains?q=name:ours.example").await;
    assert_eq!(private["total_results"], 1);
    let ours = &private["resources"][0];
    assert_eq!(
        ours["entity"]["owning_organization_guid"],
        DEFAULT_CF_ORG_GUID
    );
    assert!(
        ours["metadata"]["url"]
            .as_str()
            .unwrap()
            .starts_with("/v2/private_domains/")
    );
    assert_eq!(sim.get("/v2/private_domains").await["total_results"], 2);
    let own = sim
        .get(&format!(
            "/v2/organizations/{DEFAULT_CF_ORG_GUID}/private_domains"
        ))
        .await;
    assert_eq!(own["total_results"], 1);
    assert_eq!(own["resources"][0]["entity"]["name"], "ours.example");
    // The same domains through v3: a private one names its organization.
    let v3 = sim.get("/v3/domains?names=ours.example").await;
    assert_eq!(
        v3["resources"][0]["relationships"]["organization"]["data"]["guid"],
        DEFAULT_CF_ORG_GUID
    );
    let v3_org = sim
        .get(&format!("/v3/organizations/{DEFAULT_CF_ORG_GUID}/domains"))
        .await;
    assert_eq!(
        v3_org["pagination"]["total_results"], 3,
        "not theirs.example"
    );
}

#[tokio::test]
async fn a_v2_route_is_created_found_taken_once_and_mapped_as_v3_sees_it() {
    let sim = Cf::start(quick()).await;
    let (status, route) = sim
        .post(
            "/v2/routes",
            v2_route("shop", "/api", DEFAULT_CF_DOMAIN_GUID),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    let guid = route["metadata"]["guid"].as_str().unwrap().to_owned();
    assert_eq!(route["metadata"]["url"], format!("/v2/routes/{guid}"));
    let entity = &route["entity"];
    assert_eq!(entity["host"], "shop");
    assert_eq!(entity["path"], "/api");
    assert_eq!(entity["port"], Value::Null);
    assert_eq!(entity["domain_guid"], DEFAULT_CF_DOMAIN_GUID);
    assert_eq!(entity["space_guid"], DEFAULT_CF_SPACE_GUID);
    assert_eq!(
        entity["domain_url"],
        format!("/v2/shared_domains/{DEFAULT_CF_DOMAIN_GUID}")
    );
    assert_eq!(entity["apps_url"], format!("/v2/routes/{guid}/apps"));

    // Found as the cf CLI looks one up before creating it.
    let found = sim
        .get(&format!(
            "/v2/routes?q=host:shop&q=domain_guid:{DEFAULT_CF_DOMAIN_GUID}&q=path:/api"
        ))
        .await;
    assert_eq!(found["total_results"], 1);
    assert_eq!(found["resources"][0]["metadata"]["guid"], guid.as_str());
    for miss in ["q=host:other", "q=path:", "q=port:1030"] {
        let list = sim.get(&format!("/v2/routes?q=host:shop&{miss}")).await;
        assert_eq!(list["total_results"], 0, "{miss}");
    }
    // Seen through v3 as well.
    let v3 = sim.get(&format!("/v3/routes/{guid}")).await;
    assert_eq!(v3["url"], "shop.apps.sim.example/api");

    // Taken: the same path, the same bare host, the same port; each as v2 names it.
    let (status, body) = sim
        .post(
            "/v2/routes",
            v2_route("shop", "/api", DEFAULT_CF_DOMAIN_GUID),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        v2_error(&body),
        ("CF-RoutePathTaken", "The path is taken: /api")
    );
    assert_eq!(body["code"], 210004);
    let (status, _) = sim
        .post("/v2/routes", v2_route("shop", "", DEFAULT_CF_DOMAIN_GUID))
        .await;
    assert_eq!(status, StatusCode::CREATED, "another path is free");
    let (status, body) = sim
        .post("/v2/routes", v2_route("shop", "", DEFAULT_CF_DOMAIN_GUID))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        v2_error(&body),
        ("CF-RouteHostTaken", "The host is taken: shop")
    );
    let tcp = json!({
        "domain_guid": TCP_CF_DOMAIN_GUID,
        "space_guid": DEFAULT_CF_SPACE_GUID,
        "port": 1030,
    });
    let (status, made) = sim.post("/v2/routes", tcp.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["entity"]["port"], 1030);
    assert_eq!(made["entity"]["host"], "");
    let (status, body) = sim.post("/v2/routes", tcp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (code, description) = v2_error(&body);
    assert_eq!(code, "CF-RoutePortTaken");
    assert!(
        description.starts_with("The port is taken: Port 1030 is not available"),
        "{description}"
    );
    let (_, generated) = sim
        .post(
            "/v2/routes?generate_port=true",
            json!({ "domain_guid": TCP_CF_DOMAIN_GUID, "space_guid": DEFAULT_CF_SPACE_GUID }),
        )
        .await;
    assert_eq!(generated["entity"]["port"], 1024);

    // What a route cannot be.
    for (body, code) in [
        (
            v2_route("shop", "", "00000000-0000-4000-8000-000000000000"),
            "CF-InvalidRelation",
        ),
        (
            json!({ "domain_guid": DEFAULT_CF_DOMAIN_GUID, "space_guid": DEFAULT_CF_SPACE_GUID, "host": "x", "port": 2000 }),
            "CF-RouteInvalid",
        ),
        (v2_route("", "", DEFAULT_CF_DOMAIN_GUID), "CF-RouteInvalid"),
        (
            v2_route("web", "api", DEFAULT_CF_DOMAIN_GUID),
            "CF-PathInvalid",
        ),
        (json!({ "host": "x" }), "CF-MessageParseError"),
    ] {
        let (status, answer) = sim.post("/v2/routes", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error_code"], code, "{body}: {answer}");
    }

    // Mapped to a v2 app: 201 with the route, again 201, listed as the app's; v3 sees a
    // destination of the app's web process.
    let response = sim
        .api(Method::POST, "/v2/apps")
        .json(&json!({ "name": "shop", "space_guid": DEFAULT_CF_SPACE_GUID }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let app: Value = response.json().await.unwrap();
    let app = app["metadata"]["guid"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let (status, mapped) = sim
            .send(Method::PUT, &format!("/v2/routes/{guid}/apps/{app}"), None)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{mapped}");
        assert_eq!(mapped["metadata"]["guid"], guid.as_str());
    }
    let routes = sim.get(&format!("/v2/apps/{app}/routes")).await;
    assert_eq!(routes["total_results"], 1);
    assert_eq!(routes["resources"][0]["metadata"]["guid"], guid.as_str());
    let destinations = sim.get(&format!("/v3/routes/{guid}/destinations")).await;
    assert_eq!(destinations["destinations"].as_array().unwrap().len(), 1);
    assert_eq!(destinations["destinations"][0]["app"]["guid"], app.as_str());
    assert_eq!(
        destinations["destinations"][0]["app"]["process"]["type"],
        "web"
    );
    let v3_routes = sim.get(&format!("/v3/apps/{app}/routes")).await;
    assert_eq!(v3_routes["resources"][0]["guid"], guid.as_str());

    // And back: a route made and mapped through v3 is listed through v2.
    let (status, v3_route) = sim
        .post(
            "/v3/routes",
            route_body(Some("shop-v3"), None, DEFAULT_CF_DOMAIN_GUID),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let v3_guid = v3_route["guid"].as_str().unwrap();
    let (status, _) = sim
        .post(
            &format!("/v3/routes/{v3_guid}/destinations"),
            json!({ "destinations": [{ "app": { "guid": app } }] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let routes = sim.get(&format!("/v2/apps/{app}/routes")).await;
    assert_eq!(routes["total_results"], 2);
    assert_eq!(routes["resources"][1]["entity"]["host"], "shop-v3");

    // Unknown route or app.
    let (status, body) = sim
        .send(
            Method::PUT,
            &format!("/v2/routes/00000000-0000-4000-8000-000000000000/apps/{app}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error_code"], "CF-RouteNotFound");
    let (status, body) = sim
        .send(
            Method::PUT,
            &format!("/v2/routes/{guid}/apps/00000000-0000-4000-8000-000000000000"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error_code"], "CF-AppNotFound");
}
