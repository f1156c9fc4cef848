//! Behaviour of the simulated Cloud Foundry (Cloud Controller v2 under `/cf`, UAA under `/uaa`)
//! over real HTTP on loopback.

mod support;

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use berth_sim::cloudfoundry::*;
use berth_sim::*;
use support::Cf;

const SPACE: &str = "be1f9c1d-e629-488e-a560-a35b545f0ad7";
const OTHER_SPACE: &str = "55821877-4e20-4af4-b0e5-9d376964b027";

/// The entity keys of reference 05 (`POST /v2/apps`), in order.
const ENTITY_KEYS: [&str; 36] = [
    "name",
    "production",
    "space_guid",
    "stack_guid",
    "buildpack",
    "detected_buildpack",
    "detected_buildpack_guid",
    "environment_json",
    "memory",
    "instances",
    "disk_quota",
    "state",
    "version",
    "command",
    "console",
    "debug",
    "staging_task_id",
    "package_state",
    "health_check_http_endpoint",
    "health_check_type",
    "health_check_timeout",
    "staging_failed_reason",
    "staging_failed_description",
    "diego",
    "docker_image",
    "docker_credentials",
    "package_updated_at",
    "detected_start_command",
    "enable_ssh",
    "ports",
    "space_url",
    "stack_url",
    "routes_url",
    "events_url",
    "service_bindings_url",
    "route_mappings_url",
];

impl Cf {
    async fn get(&self, path: &str) -> Response {
        self.api(Method::GET, path).send().await.unwrap()
    }

    async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    async fn create(&self, body: Value) -> Response {
        self.api(Method::POST, "/v2/apps")
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Creates an app and returns its guid.
    async fn create_app(&self, name: &str) -> String {
        let response = self
            .create(json!({ "name": name, "space_guid": SPACE }))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["metadata"]["guid"].as_str().unwrap().to_owned()
    }

    async fn update(&self, guid: &str, body: Value) -> Response {
        self.api(Method::PUT, &format!("/v2/apps/{guid}"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn upload(&self, guid: &str, query: &str, parts: &[(&str, &[u8])]) -> Response {
        let (content_type, body) = multipart(parts);
        self.api(Method::PUT, &format!("/v2/apps/{guid}/bits{query}"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Uploads `files` as a zip synchronously, so the app has bits at once.
    async fn upload_now(&self, guid: &str, files: &[(&str, &[u8])]) {
        let archive = zip(files);
        let response = self
            .upload(guid, "", &[("resources", b"[]"), ("application", &archive)])
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    async fn token(&self, form: &[(&str, &str)], basic: Option<&str>) -> Response {
        let body: Vec<String> = form
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        let mut request = self
            .client
            .post(format!("{}/oauth/token", self.handle.uaa_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body.join("&"));
        if let Some(basic) = basic {
            request = request.header("authorization", format!("Basic {basic}"));
        }
        request.send().await.unwrap()
    }

    async fn instances(&self, guid: &str) -> (StatusCode, Value) {
        let response = self.get(&format!("/v2/apps/{guid}/instances")).await;
        (response.status(), response.json().await.unwrap())
    }
}

fn quick() -> SimOptions {
    SimOptions {
        cf_staging_time: Duration::from_millis(150),
        cf_startup_time: Duration::from_millis(400),
        cf_job_time: Duration::from_millis(400),
        ..SimOptions::default()
    }
}

fn header(response: &Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

fn error_code(body: &Value) -> (&str, u64) {
    (
        body["error_code"].as_str().unwrap_or_default(),
        body["code"].as_u64().unwrap_or_default(),
    )
}

fn keys(body: &Value) -> Vec<&str> {
    body.as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

/// A real zip archive with `files` stored uncompressed, as the cf CLI makes them.
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

fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A `multipart/form-data` body as the cf CLI sends it; `application` is sent as a zip file.
fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "berth-sim-boundary-4f7c";
    let mut body = Vec::new();
    for (name, content) in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
        );
        if *name == "application" {
            body.extend_from_slice(
                b"; filename=\"application.zip\"\r\nContent-Type: application/zip",
            );
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[test]
fn the_test_zip_is_one_the_simulator_reads() {
    let archive = zip(&[("package.json", b"{}"), ("src/index.js", b"console.log(1)")]);
    assert!(archive.starts_with(b"PK\x03\x04"));
}

#[tokio::test]
async fn uaa_password_grant_issues_tokens_the_cloud_controller_accepts() {
    let sim = Cf::start(quick()).await;
    let login = [
        ("grant_type", "password"),
        ("username", DEFAULT_CF_USER),
        ("password", DEFAULT_CF_PASSWORD),
    ];
    let response = sim.token(&login, Some("Y2Y6")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        keys(&body),
        [
            "access_token",
            "token_type",
            "refresh_token",
            "expires_in",
            "scope",
            "jti"
        ]
    );
    assert_eq!(body["token_type"], "bearer");
    assert!(body["expires_in"].is_u64());
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(access.len(), 32, "{access}");

    let apps = sim
        .anonymous("/v2/apps")
        .header("authorization", format!("Bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(apps.status(), StatusCode::OK, "issued tokens are accepted");

    let refreshed = sim
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            Some("Y2Y6"),
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_ne!(refreshed["access_token"], access.as_str());

    let wrong = sim
        .token(
            &[
                ("grant_type", "password"),
                ("username", DEFAULT_CF_USER),
                ("password", "nope"),
            ],
            Some("Y2Y6"),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.json::<Value>().await.unwrap(),
        json!({ "error": "unauthorized", "error_description": "Bad credentials" })
    );

    let no_client = sim.token(&login, None).await;
    assert_eq!(no_client.status(), StatusCode::UNAUTHORIZED);
    assert!(no_client.headers().contains_key("www-authenticate"));
    let body: Value = no_client.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert!(body["error_description"].is_string());

    // "cf:wrong"
    let wrong_client = sim.token(&login, Some("Y2Y6d3Jvbmc=")).await;
    assert_eq!(wrong_client.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong_client.json::<Value>().await.unwrap()["error_description"],
        "Bad credentials"
    );
}

#[tokio::test]
async fn uaa_client_credentials_grant_takes_the_client_in_the_form_or_a_basic_header() {
    let sim = Cf::start(quick()).await;
    let response = sim
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", DEFAULT_CF_CLIENT),
                ("client_secret", DEFAULT_CF_CLIENT_SECRET),
            ],
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        keys(&body),
        ["access_token", "token_type", "expires_in", "scope", "jti"],
        "no refresh token for clients"
    );
    let token = body["access_token"].as_str().unwrap();
    let info = sim
        .anonymous("/v2/apps")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::OK);

    // "berth-ci:berth-ci-secret"
    let basic = sim
        .token(
            &[("grant_type", "client_credentials")],
            Some("YmVydGgtY2k6YmVydGgtY2ktc2VjcmV0"),
        )
        .await;
    assert_eq!(basic.status(), StatusCode::OK);
    let malformed = sim
        .token(&[("grant_type", "client_credentials")], Some("not base64!"))
        .await;
    assert_eq!(malformed.status(), StatusCode::UNAUTHORIZED);

    let wrong = sim
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", DEFAULT_CF_CLIENT),
                ("client_secret", "nope"),
            ],
            None,
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.json::<Value>().await.unwrap(),
        json!({ "error": "unauthorized", "error_description": "Bad credentials" })
    );

    let unsupported = sim.token(&[("grant_type", "implicit")], Some("Y2Y6")).await;
    assert_eq!(unsupported.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        unsupported.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let missing = sim.token(&[], Some("Y2Y6")).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn root_and_info_point_clients_at_uaa_without_a_token() {
    let sim = Cf::start(quick()).await;
    let info: Value = sim
        .anonymous("/v2/info")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        keys(&info),
        [
            "name",
            "build",
            "support",
            "version",
            "description",
            "authorization_endpoint",
            "token_endpoint",
            "min_cli_version",
            "min_recommended_cli_version",
            "api_version",
            "app_ssh_endpoint",
            "app_ssh_host_key_fingerprint",
            "app_ssh_oauth_client",
            "routing_endpoint",
            "logging_endpoint"
        ],
        "the keys of reference 01"
    );
    assert_eq!(info["authorization_endpoint"], sim.handle.uaa_url());
    assert_eq!(info["token_endpoint"], sim.handle.uaa_url());
    assert!(info["api_version"].as_str().unwrap().starts_with("2."));
    assert_eq!(info["version"], 2);

    for path in ["/", ""] {
        let root: Value = sim
            .anonymous(path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let links = &root["links"];
        assert_eq!(links["self"]["href"], sim.handle.cf_url());
        assert_eq!(
            links["cloud_controller_v2"]["href"],
            format!("{}/v2", sim.handle.cf_url())
        );
        assert_eq!(
            links["cloud_controller_v2"]["meta"]["version"],
            API_VERSION_V2
        );
        assert!(links["cloud_controller_v3"]["meta"]["version"].is_string());
        assert_eq!(links["uaa"]["href"], sim.handle.uaa_url());
        assert_eq!(links["login"]["href"], sim.handle.uaa_url());
        assert!(links["network_policy_v1"]["href"].is_string());
        assert!(links.get("logging").is_some());
        assert!(links["log_cache"]["href"].is_string());
    }
}

#[tokio::test]
async fn created_apps_have_the_reference_shape_and_a_location() {
    let sim = Cf::start(quick()).await;
    let response = sim
        .create(json!({ "name": "web", "space_guid": SPACE, "memory": 256 }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = header(&response, "location");
    assert!(response.headers().contains_key("x-vcap-request-id"));
    let body: Value = response.json().await.unwrap();
    let guid = body["metadata"]["guid"].as_str().unwrap();
    assert_eq!(location, format!("/v2/apps/{guid}"));
    assert_eq!(
        keys(&body["metadata"]),
        ["guid", "url", "created_at", "updated_at"]
    );
    assert_eq!(body["metadata"]["url"], location.as_str());
    assert_eq!(keys(&body["entity"]), ENTITY_KEYS);
    let entity = &body["entity"];
    assert_eq!(entity["name"], "web");
    assert_eq!(entity["space_guid"], SPACE);
    assert_eq!(entity["stack_guid"], DEFAULT_STACK_GUID);
    assert_eq!(entity["memory"], 256);
    assert_eq!(entity["instances"], 1);
    assert_eq!(entity["disk_quota"], 1024);
    assert_eq!(entity["state"], "STOPPED");
    assert_eq!(entity["package_state"], "PENDING");
    assert_eq!(entity["health_check_type"], "port");
    assert_eq!(entity["health_check_http_endpoint"], "");
    assert_eq!(entity["environment_json"], json!({}));
    assert_eq!(entity["diego"], true);
    assert_eq!(entity["enable_ssh"], true);
    assert_eq!(entity["console"], false);
    assert_eq!(
        entity["docker_credentials"],
        json!({ "username": null, "password": null })
    );
    assert_eq!(entity["ports"], json!([8080]));
    assert_eq!(entity["detected_start_command"], "");
    assert!(entity["package_updated_at"].is_null());
    assert_eq!(entity["version"].as_str().unwrap().len(), 36);
    assert_eq!(entity["space_url"], format!("/v2/spaces/{SPACE}"));
    let created_at = body["metadata"]["created_at"].as_str().unwrap();
    assert!(
        created_at.ends_with('Z') && created_at.len() == 20,
        "{created_at}"
    );

    let fetched = sim.get_json(&location).await;
    assert_eq!(fetched, body);

    let taken = sim
        .create(json!({ "name": "web", "space_guid": SPACE }))
        .await;
    assert_eq!(taken.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        taken.json::<Value>().await.unwrap(),
        json!({
            "description": "The app name is taken: web",
            "error_code": "CF-AppNameTaken",
            "code": 100002
        })
    );
    let elsewhere = sim
        .create(json!({ "name": "web", "space_guid": OTHER_SPACE }))
        .await;
    assert_eq!(
        elsewhere.status(),
        StatusCode::CREATED,
        "names are per space"
    );

    let all = sim.handle.cf_apps();
    assert_eq!(all.len(), 2);
    assert!(all[0]["_bits"].is_null());
}

#[tokio::test]
async fn invalid_app_requests_answer_the_catalogue_errors() {
    let sim = Cf::start(quick()).await;
    let cases = [
        (json!({}), "CF-MessageParseError", 1001),
        (
            json!({ "name": "a", "space_guid": SPACE, "memory": "big" }),
            "CF-MessageParseError",
            1001,
        ),
        (
            json!({ "name": "a", "space_guid": SPACE, "diego": "yes" }),
            "CF-MessageParseError",
            1001,
        ),
        (
            json!({ "name": "a", "space_guid": SPACE, "memory": 0 }),
            "CF-AppMemoryInvalid",
            100006,
        ),
        (
            json!({ "name": "a", "space_guid": SPACE, "instances": -1 }),
            "CF-AppInvalid",
            100001,
        ),
        (
            json!({ "name": "a", "space_guid": SPACE, "state": "RUNNING" }),
            "CF-AppInvalid",
            100001,
        ),
        (
            json!({ "name": "a", "space_guid": SPACE, "health_check_type": "tcp" }),
            "CF-AppInvalid",
            100001,
        ),
        (
            json!({ "name": "a", "space_guid": "my-space" }),
            "CF-InvalidRelation",
            1002,
        ),
        (
            json!({ "name": "a", "space_guid": SPACE, "state": "STARTED" }),
            "CF-AppPackageInvalid",
            150001,
        ),
    ];
    for (body, expected_code, expected_number) in cases {
        let response = sim.create(body.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            error_code(&answer),
            (expected_code, expected_number),
            "{body} -> {answer}"
        );
    }
    let missing: Value = sim.create(json!({})).await.json().await.unwrap();
    let description = missing["description"].as_str().unwrap();
    assert!(
        description.contains("name") && description.contains("space_guid"),
        "{description}"
    );

    let not_json = sim
        .api(Method::POST, "/v2/apps")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(&not_json.json().await.unwrap()),
        ("CF-MessageParseError", 1001)
    );
    assert!(sim.handle.cf_apps().is_empty(), "nothing was created");
}

#[tokio::test]
async fn apps_are_listed_by_name_and_space_with_pagination() {
    let sim = Cf::start(quick()).await;
    let web = sim.create_app("web").await;
    sim.create_app("worker").await;
    sim.create_app("docs").await;
    let elsewhere = sim
        .create(json!({ "name": "web", "space_guid": OTHER_SPACE }))
        .await;
    assert_eq!(elsewhere.status(), StatusCode::CREATED);

    let guids = |page: &Value| -> Vec<String> {
        page["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|app| app["metadata"]["guid"].as_str().unwrap().to_owned())
            .collect()
    };

    let found = sim
        .get_json(&format!("/v2/apps?q=name:web&q=space_guid:{SPACE}"))
        .await;
    assert_eq!(
        keys(&found),
        [
            "total_results",
            "total_pages",
            "prev_url",
            "next_url",
            "resources"
        ]
    );
    assert_eq!(found["total_results"], 1);
    assert_eq!(found["total_pages"], 1);
    assert!(found["prev_url"].is_null() && found["next_url"].is_null());
    assert_eq!(guids(&found), [web.as_str()]);
    assert_eq!(keys(&found["resources"][0]), ["metadata", "entity"]);

    let encoded = sim
        .get_json(&format!("/v2/apps?q=name%3Aweb&q=space_guid%3A{SPACE}"))
        .await;
    assert_eq!(guids(&encoded), [web.as_str()]);
    let joined = sim
        .get_json(&format!("/v2/apps?q=name:web;space_guid:{SPACE}"))
        .await;
    assert_eq!(guids(&joined), [web.as_str()]);
    let by_space = sim
        .get_json(&format!("/v2/spaces/{SPACE}/apps?q=name:web"))
        .await;
    assert_eq!(guids(&by_space), [web.as_str()]);

    let none = sim.get_json("/v2/apps?q=name:nothing").await;
    assert_eq!(none["total_results"], 0);
    assert_eq!(none["total_pages"], 1);
    assert_eq!(none["resources"], json!([]));

    let first = sim
        .get_json(&format!("/v2/apps?q=space_guid:{SPACE}&results-per-page=2"))
        .await;
    assert_eq!(first["total_results"], 3);
    assert_eq!(first["total_pages"], 2);
    assert_eq!(guids(&first).len(), 2);
    let next = first["next_url"].as_str().unwrap();
    assert!(next.starts_with("/v2/apps?"), "{next}");
    assert!(
        next.contains("page=2") && next.contains("results-per-page=2"),
        "{next}"
    );
    let second = sim.get_json(next).await;
    assert_eq!(guids(&second).len(), 1);
    assert!(second["next_url"].is_null());
    assert!(second["prev_url"].as_str().unwrap().contains("page=1"));

    let descending = sim.get_json("/v2/apps?order-direction=desc").await;
    assert_eq!(guids(&descending).len(), 4);
    assert_eq!(
        descending["resources"][0]["entity"]["space_guid"],
        OTHER_SPACE
    );

    for bad in [
        "/v2/apps?results-per-page=101",
        "/v2/apps?page=0",
        "/v2/apps?q=colour:blue",
    ] {
        let response = sim.get(bad).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            error_code(&response.json().await.unwrap()),
            ("CF-BadQueryParameter", 10005)
        );
    }
}

#[tokio::test]
async fn a_capped_app_list_links_its_pages_and_may_ignore_filters() {
    let sim = Cf::start(SimOptions {
        cf_page_cap: Some(2),
        ..quick()
    })
    .await;
    let elsewhere = sim
        .create(json!({ "name": "web", "space_guid": OTHER_SPACE }))
        .await;
    assert_eq!(elsewhere.status(), StatusCode::CREATED);
    let mut ours = Vec::new();
    for name in ["api", "docs", "web", "worker", "admin"] {
        ours.push(sim.create_app(name).await);
    }
    let guids = |page: &Value| -> Vec<String> {
        page["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|app| app["metadata"]["guid"].as_str().unwrap().to_owned())
            .collect()
    };

    // Asked for 50, given 2; the links carry the smaller size and lead through every page.
    let mut url = format!("/v2/apps?q=space_guid:{SPACE}&results-per-page=50");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = sim.get_json(&url).await;
        pages += 1;
        assert_eq!(page["total_results"], 5);
        assert_eq!(page["total_pages"], 3);
        assert!(guids(&page).len() <= 2, "{page}");
        seen.extend(guids(&page));
        match page["next_url"].as_str() {
            Some(next) => {
                assert!(next.contains("results-per-page=2"), "{next}");
                assert!(next.contains(&format!("q=space_guid:{SPACE}")), "{next}");
                url = next.to_owned();
            }
            None => break,
        }
        assert!(pages < 10, "next_url never ends");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ours);
    let second = sim.get_json("/v2/apps?page=2").await;
    assert_eq!(second["total_pages"], 3, "six apps in all");
    assert_eq!(guids(&second), ours[1..3]);

    let control = |body: Value| {
        sim.client
            .patch(format!("{}/__sim/options", sim.handle.url()))
            .json(&body)
            .send()
    };
    let options: Value = control(json!({ "cf_list_ignores_filters": true, "cf_page_cap": null }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(options["cf_list_ignores_filters"], true);
    assert!(options["cf_page_cap"].is_null());
    // Every app, of every name and space, whatever q says; the links keep the q.
    let unfiltered = sim
        .get_json(&format!(
            "/v2/apps?q=name:web&q=space_guid:{SPACE}&results-per-page=4"
        ))
        .await;
    assert_eq!(unfiltered["total_results"], 6);
    assert_eq!(
        unfiltered["resources"][0]["entity"]["space_guid"],
        OTHER_SPACE
    );
    assert_eq!(unfiltered["resources"][1]["entity"]["name"], "api");
    let next = unfiltered["next_url"].as_str().unwrap();
    assert!(
        next.contains("q=name:web") && next.contains("page=2"),
        "{next}"
    );
    // A broken filter is still refused.
    let bad = sim.get("/v2/apps?q=colour:blue").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    control(json!({ "cf_list_ignores_filters": false }))
        .await
        .unwrap();
    let filtered = sim
        .get_json(&format!("/v2/apps?q=name:web&q=space_guid:{SPACE}"))
        .await;
    assert_eq!(guids(&filtered), ours[2..3]);
}

#[tokio::test]
async fn updates_answer_201_and_deletes_204() {
    let sim = Cf::start(quick()).await;
    let guid = sim.create_app("web").await;
    let other = sim.create_app("api").await;
    let response = sim
        .update(
            &guid,
            json!({ "memory": 512, "instances": 2, "environment_json": { "A": "1" }, "command": "npm start" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["entity"]["memory"], 512);
    assert_eq!(body["entity"]["instances"], 2);
    assert_eq!(body["entity"]["environment_json"], json!({ "A": "1" }));
    assert_eq!(body["entity"]["command"], "npm start");
    assert_eq!(keys(&body["entity"]), ENTITY_KEYS);
    let fetched = sim.get_json(&format!("/v2/apps/{guid}")).await;
    assert_eq!(fetched["entity"]["memory"], 512);

    let taken = sim.update(&other, json!({ "name": "web" })).await;
    assert_eq!(taken.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(&taken.json().await.unwrap()),
        ("CF-AppNameTaken", 100002)
    );
    let refused = sim.update(&guid, json!({ "state": "STARTED" })).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({
            "description": "The app package is invalid: bits have not been uploaded",
            "error_code": "CF-AppPackageInvalid",
            "code": 150001
        })
    );
    assert_eq!(
        sim.get_json(&format!("/v2/apps/{guid}")).await["entity"]["state"],
        "STOPPED",
        "a refused start changes nothing"
    );

    let unknown = "00000000-0000-4000-8000-000000000000";
    let missing = sim.update(unknown, json!({ "memory": 1 })).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({
            "description": format!("The app could not be found: {unknown}"),
            "error_code": "CF-AppNotFound",
            "code": 100004
        })
    );

    let deleted = sim
        .api(Method::DELETE, &format!("/v2/apps/{guid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        sim.get(&format!("/v2/apps/{guid}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(sim.handle.cf_apps().len(), 1);
}

#[tokio::test]
async fn bits_upload_job_goes_from_queued_through_running_to_the_null_job() {
    let sim = Cf::start(quick()).await;
    let guid = sim.create_app("web").await;
    let archive = zip(&[
        ("package.json", b"{\"name\":\"web\"}"),
        ("src/", b""),
        ("src/index.js", b"console.log('hi')"),
    ]);
    let response = sim
        .upload(
            &guid,
            "?async=true",
            &[("resources", b"[]"), ("application", &archive)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let job: Value = response.json().await.unwrap();
    assert_eq!(keys(&job["metadata"]), ["guid", "created_at", "url"]);
    assert_eq!(keys(&job["entity"]), ["guid", "status"]);
    assert_eq!(job["entity"]["status"], "queued");
    let url = job["metadata"]["url"].as_str().unwrap().to_owned();
    assert_eq!(
        url,
        format!("/v2/jobs/{}", job["metadata"]["guid"].as_str().unwrap())
    );

    assert_eq!(sim.get_json(&url).await["entity"]["status"], "queued");
    assert!(
        sim.handle.cf_apps()[0]["_bits"].is_null(),
        "bits arrive when the job finishes"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.get_json(&url).await["entity"]["status"], "running");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        sim.get_json(&url).await,
        json!({
            "metadata": { "guid": "0", "created_at": "1970-01-01T00:00:00Z", "url": "/v2/jobs/0" },
            "entity": { "guid": "0", "status": "finished" }
        })
    );

    let apps = sim.handle.cf_apps();
    assert_eq!(
        apps[0]["_bits"],
        json!({
            "bytes": archive.len(),
            "files": ["package.json", "src/index.js"],
            "sha256": sha256_hex(&archive),
        })
    );
    assert!(apps[0]["entity"]["package_updated_at"].is_string());
    assert_eq!(apps[0]["entity"]["package_state"], "PENDING");
    let over_http: Value = sim
        .client
        .get(format!("{}/__sim/cf/apps", sim.handle.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http[0]["_bits"]["bytes"], archive.len());

    let synchronous = sim
        .upload(
            &guid,
            "",
            &[("resources", b"[]"), ("application", &archive)],
        )
        .await;
    assert_eq!(synchronous.status(), StatusCode::CREATED);
    assert_eq!(synchronous.json::<Value>().await.unwrap(), json!({}));
}

#[tokio::test]
async fn broken_uploads_fail_the_job_or_are_refused() {
    let sim = Cf::start(SimOptions {
        cf_job_time: Duration::from_millis(100),
        ..quick()
    })
    .await;
    let guid = sim.create_app("web").await;
    let response = sim
        .upload(
            &guid,
            "?async=true",
            &[("resources", b"[]"), ("application", b"not a zip at all")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let job: Value = response.json().await.unwrap();
    let url = job["metadata"]["url"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let failed = sim.get_json(url).await;
    assert_eq!(failed["metadata"]["guid"], job["metadata"]["guid"]);
    assert_eq!(
        keys(&failed["entity"]),
        ["guid", "status", "error", "error_details"]
    );
    assert_eq!(failed["entity"]["status"], "failed");
    let details = &failed["entity"]["error_details"];
    assert_eq!(error_code(details), ("CF-AppBitsUploadInvalid", 160001));
    assert!(
        details["description"]
            .as_str()
            .unwrap()
            .starts_with("The app upload is invalid: ")
    );
    assert!(sim.handle.cf_apps()[0]["_bits"].is_null());

    let no_application = sim
        .upload(&guid, "?async=true", &[("resources", b"[]")])
        .await;
    assert_eq!(no_application.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(&no_application.json().await.unwrap()),
        ("CF-AppBitsUploadInvalid", 160001)
    );
    let no_resources = sim
        .upload(&guid, "?async=true", &[("application", &zip(&[]))])
        .await;
    assert_eq!(no_resources.status(), StatusCode::BAD_REQUEST);
    let not_multipart = sim
        .api(Method::PUT, &format!("/v2/apps/{guid}/bits?async=true"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(not_multipart.status(), StatusCode::BAD_REQUEST);
    let unknown = sim
        .upload(
            "00000000-0000-4000-8000-000000000000",
            "?async=true",
            &[("resources", b"[]"), ("application", &zip(&[]))],
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn starting_stages_then_instances_go_from_starting_to_running() {
    let sim = Cf::start(quick()).await;
    let guid = sim.create_app("web").await;
    let (status, body) = sim.instances(&guid).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({ "description": "App has not finished staging", "error_code": "CF-NotStaged", "code": 170002 }),
        "an app never staged is not staged, stopped or not"
    );
    sim.upload_now(&guid, &[("package.json", b"{}")]).await;
    sim.update(&guid, json!({ "instances": 2 })).await;

    let response = sim.update(&guid, json!({ "state": "STARTED" })).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let started: Value = response.json().await.unwrap();
    assert_eq!(started["entity"]["state"], "STARTED");
    assert_eq!(started["entity"]["package_state"], "PENDING");
    assert!(started["entity"]["staging_task_id"].is_string());
    let (status, body) = sim.instances(&guid).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), ("CF-NotStaged", 170002));
    let summary = sim.get_json(&format!("/v2/apps/{guid}/summary")).await;
    assert_eq!(summary["running_instances"], 0);

    tokio::time::sleep(Duration::from_millis(250)).await;
    let staged = sim.get_json(&format!("/v2/apps/{guid}")).await;
    assert_eq!(staged["entity"]["package_state"], "STAGED");
    assert_eq!(staged["entity"]["detected_buildpack"], "nodejs");
    assert_eq!(staged["entity"]["detected_start_command"], "npm start");
    assert!(staged["entity"]["staging_failed_reason"].is_null());
    let (status, body) = sim.instances(&guid).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&body), ["0", "1"]);
    assert_eq!(body["0"]["state"], "STARTING");
    assert!(body["0"]["since"].is_f64());
    assert_eq!(body["0"]["uptime"], 0);

    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, body) = sim.instances(&guid).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&body["0"]), ["state", "since", "uptime"]);
    assert_eq!(body["0"]["state"], "RUNNING");
    assert_eq!(body["1"]["state"], "RUNNING");
    let summary = sim.get_json(&format!("/v2/apps/{guid}/summary")).await;
    assert_eq!(summary["running_instances"], 2);
    assert_eq!(summary["guid"], guid.as_str());
    assert_eq!(
        keys(&summary)[..6],
        [
            "guid",
            "name",
            "routes",
            "running_instances",
            "services",
            "available_domains"
        ]
    );
    assert!(summary.get("space_url").is_none());
    assert_eq!(summary["package_state"], "STAGED");

    let stopped = sim.update(&guid, json!({ "state": "STOPPED" })).await;
    assert_eq!(stopped.status(), StatusCode::CREATED);
    let (status, body) = sim.instances(&guid).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({
            "description": "Instances error: Request failed for app: web as the app is in stopped state.",
            "error_code": "CF-InstancesError",
            "code": 220001
        })
    );
    // Restarting a staged app starts instances without staging again.
    sim.update(&guid, json!({ "state": "STARTED" })).await;
    let (status, body) = sim.instances(&guid).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["0"]["state"], "STARTING");
}

#[tokio::test]
async fn failed_staging_reports_the_reason_and_instances_say_so() {
    let sim = Cf::start(SimOptions {
        cf_staging_fails: true,
        ..quick()
    })
    .await;
    let guid = sim.create_app("web").await;
    sim.upload_now(&guid, &[("main.go", b"package main")]).await;
    sim.update(&guid, json!({ "state": "STARTED" })).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let app = sim.get_json(&format!("/v2/apps/{guid}")).await;
    assert_eq!(app["entity"]["package_state"], "FAILED");
    assert_eq!(app["entity"]["staging_failed_reason"], "StagingError");
    assert!(app["entity"]["staging_failed_description"].is_string());
    let (status, body) = sim.instances(&guid).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), ("CF-StagingError", 170001));

    // Starting again stages again, with the options now in force.
    sim.handle
        .set_options(|options| options.cf_staging_fails = false);
    sim.update(&guid, json!({ "state": "STARTED" })).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let app = sim.get_json(&format!("/v2/apps/{guid}")).await;
    assert_eq!(app["entity"]["package_state"], "STAGED");
}

#[tokio::test]
async fn crashing_instances_end_crashed_with_details() {
    let sim = Cf::start(SimOptions {
        cf_crashes: true,
        cf_startup_time: Duration::from_millis(100),
        ..quick()
    })
    .await;
    let guid = sim.create_app("web").await;
    sim.upload_now(&guid, &[("index.html", b"<p>hi</p>")]).await;
    sim.update(&guid, json!({ "state": "STARTED" })).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, body) = sim.instances(&guid).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&body["0"]), ["details", "state", "since", "uptime"]);
    assert_eq!(body["0"]["state"], "CRASHED");
    assert!(body["0"]["details"].is_string());
    let summary = sim.get_json(&format!("/v2/apps/{guid}/summary")).await;
    assert_eq!(summary["running_instances"], 0);
}

#[tokio::test]
async fn docker_apps_start_without_bits() {
    let sim = Cf::start(SimOptions {
        cf_staging_time: Duration::ZERO,
        cf_startup_time: Duration::ZERO,
        ..quick()
    })
    .await;
    let response = sim
        .create(json!({
            "name": "nginx",
            "space_guid": SPACE,
            "docker_image": "nginx:1.27",
            "state": "STARTED",
            "health_check_type": "http",
            "health_check_http_endpoint": "/healthz",
        }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["entity"]["docker_image"], "nginx:1.27");
    assert_eq!(body["entity"]["state"], "STARTED");
    assert_eq!(body["entity"]["health_check_http_endpoint"], "/healthz");
    let guid = body["metadata"]["guid"].as_str().unwrap();
    let (status, instances) = sim.instances(guid).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(instances["0"]["state"], "RUNNING");
    let bits = sim
        .upload(
            guid,
            "",
            &[("resources", b"[]"), ("application", &zip(&[]))],
        )
        .await;
    assert_eq!(bits.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let switch = sim
        .update(guid, json!({ "buildpack": "nodejs_buildpack" }))
        .await;
    assert_eq!(switch.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        switch.json::<Value>().await.unwrap()["description"],
        "The app is invalid: Lifecycle type cannot be changed"
    );
}

#[tokio::test]
async fn tokens_are_required_and_checked() {
    let sim = Cf::start(quick()).await;
    let url = format!("{}/v2/apps", sim.handle.cf_url());
    let none = sim.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        error_code(&none.json().await.unwrap()),
        ("CF-NotAuthenticated", 10002)
    );
    for header in ["bearer wrong", "Basic Y2Y6", "bearer"] {
        let wrong = sim
            .client
            .get(&url)
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(
            wrong.json::<Value>().await.unwrap(),
            json!({ "description": "Invalid Auth Token", "error_code": "CF-InvalidAuthToken", "code": 1000 })
        );
    }
    let mittwald_style = sim
        .client
        .get(&url)
        .header("x-access-token", DEFAULT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(mittwald_style.status(), StatusCode::UNAUTHORIZED);
    let upper = sim
        .client
        .get(&url)
        .header("authorization", format!("BEARER {DEFAULT_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(upper.status(), StatusCode::OK);

    let unknown = sim.anonymous("/v2/nothing").send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json::<Value>().await.unwrap(),
        json!({ "description": "Unknown request", "error_code": "CF-NotFound", "code": 10000 })
    );
    let unknown_job = sim
        .get_json("/v2/jobs/5f0b8a5e-0000-4000-8000-000000000000")
        .await;
    assert_eq!(unknown_job["entity"]["status"], "finished");
}

#[tokio::test]
async fn disabled_v2_answers_an_empty_api_version_and_plain_404s() {
    let sim = Cf::start(SimOptions {
        cf_v2_disabled: true,
        ..quick()
    })
    .await;
    let info: Value = sim.get_json("/v2/info").await;
    assert_eq!(info["api_version"], "");
    assert!(info["description"].as_str().unwrap().contains("disabled"));
    assert!(info["support"].as_str().unwrap().contains("disabled"));
    let apps = sim.get("/v2/apps").await;
    assert_eq!(apps.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&apps, "content-type"), "text/plain");
    assert_eq!(apps.text().await.unwrap(), "V2 endpoints disabled");
    let root = sim.get("/").await;
    assert_eq!(root.status(), StatusCode::OK, "the root document stays");
    let root: Value = root.json().await.unwrap();
    let links = root["links"].as_object().unwrap();
    assert!(
        !links.contains_key("cloud_controller_v2"),
        "v2 is not offered: {links:?}"
    );
    assert_eq!(
        links["cloud_controller_v3"]["href"],
        format!("{}/v3", sim.handle.cf_url())
    );
    assert_eq!(links["uaa"]["href"], sim.handle.uaa_url());
    assert_eq!(
        links["log_cache"]["href"],
        format!("{}/log-cache", sim.handle.url())
    );
    let orgs = sim.get("/v2/organizations").await;
    assert_eq!(orgs.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn orgs_spaces_and_stacks_are_listed_by_name() {
    let sim = Cf::start(quick()).await;
    let orgs = sim
        .get_json(&format!("/v2/organizations?q=name:{DEFAULT_CF_ORG_NAME}"))
        .await;
    assert_eq!(orgs["total_results"], 1);
    let org = &orgs["resources"][0];
    assert_eq!(org["metadata"]["guid"], DEFAULT_CF_ORG_GUID);
    assert_eq!(
        org["metadata"]["url"],
        format!("/v2/organizations/{DEFAULT_CF_ORG_GUID}")
    );
    assert_eq!(org["entity"]["name"], DEFAULT_CF_ORG_NAME);
    assert_eq!(org["entity"]["status"], "active");
    let none = sim.get_json("/v2/organizations?q=name:nope").await;
    assert_eq!(none["total_results"], 0);
    assert_eq!(none["resources"], json!([]));

    let spaces = sim
        .get_json(&format!(
            "/v2/spaces?q=name:{DEFAULT_CF_SPACE_NAME}&q=organization_guid:{DEFAULT_CF_ORG_GUID}"
        ))
        .await;
    assert_eq!(spaces["total_results"], 1);
    assert_eq!(
        spaces["resources"][0]["metadata"]["guid"],
        DEFAULT_CF_SPACE_GUID
    );
    assert_eq!(
        spaces["resources"][0]["entity"]["organization_guid"],
        DEFAULT_CF_ORG_GUID
    );
    let elsewhere = sim
        .get_json(&format!(
            "/v2/spaces?q=name:{DEFAULT_CF_SPACE_NAME}&q=organization_guid:{OTHER_SPACE}"
        ))
        .await;
    assert_eq!(elsewhere["total_results"], 0);

    let stacks = sim.get_json("/v2/stacks").await;
    assert_eq!(stacks["total_results"], 2);
    let fs3 = sim.get_json("/v2/stacks?q=name:cflinuxfs3").await;
    assert_eq!(
        fs3["resources"][0]["metadata"]["guid"],
        CFLINUXFS3_STACK_GUID
    );
    assert_eq!(fs3["resources"][0]["entity"]["name"], "cflinuxfs3");
    let fs4 = sim
        .get_json(&format!("/v2/stacks/{DEFAULT_STACK_GUID}"))
        .await;
    assert_eq!(fs4["entity"]["name"], "cflinuxfs4");

    let missing = sim.get(&format!("/v2/spaces/{OTHER_SPACE}")).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        error_code(&missing.json().await.unwrap()),
        ("CF-SpaceNotFound", 40004)
    );
    let bad = sim.get("/v2/stacks?q=color:blue").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    // The layout is the options': a foundation of its own, paged like app lists.
    sim.handle.set_options(|options| {
        options.cf_stacks.push(CfStack {
            guid: "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6".to_owned(),
            name: "windows".to_owned(),
            description: "Windows Server".to_owned(),
        });
        options.cf_page_cap = Some(2);
    });
    let first = sim.get_json("/v2/stacks").await;
    assert_eq!(first["total_results"], 3);
    assert_eq!(first["total_pages"], 2);
    let next = first["next_url"].as_str().unwrap();
    assert!(next.starts_with("/v2/stacks?"), "{next}");
    let second = sim.get_json(next).await;
    assert_eq!(second["resources"][0]["entity"]["name"], "windows");
}

#[tokio::test]
async fn warnings_ride_on_every_cloud_controller_response_only() {
    let sim = Cf::start(SimOptions {
        cf_warnings: Some("Endpoint deprecated".to_owned()),
        ..quick()
    })
    .await;
    for response in [
        sim.get("/v2/apps").await,
        sim.get("/v2/info").await,
        sim.get("/v2/apps/00000000-0000-4000-8000-000000000000")
            .await,
    ] {
        assert_eq!(header(&response, "x-cf-warnings"), "Endpoint+deprecated");
    }
    let mittwald = sim
        .client
        .get(format!("{}/v2/apps", sim.handle.url()))
        .send()
        .await
        .unwrap();
    assert!(!mittwald.headers().contains_key("x-cf-warnings"));

    let control = |body: Value| {
        sim.client
            .patch(format!("{}/__sim/options", sim.handle.url()))
            .json(&body)
            .send()
    };
    let options: Value = control(json!({
        "cf_warnings": "first, second\nthird",
        "cf_staging_time_ms": 10,
        "cf_v2_disabled": false,
        "cf_users": [["ci", "s3cret"]],
        "cf_clients": [{ "client_id": "deployer", "client_secret": "x" }],
    }))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(options["cf_staging_time_ms"], 10);
    assert_eq!(options["cf_users"], json!(["ci"]), "secrets stay out");
    assert_eq!(options["cf_clients"], json!(["deployer"]));
    assert_eq!(
        header(&sim.get("/v2/apps").await, "x-cf-warnings"),
        "first%2C+second,third"
    );
    let login = sim
        .token(
            &[
                ("grant_type", "password"),
                ("username", "ci"),
                ("password", "s3cret"),
            ],
            Some("Y2Y6"),
        )
        .await;
    assert_eq!(login.status(), StatusCode::OK);

    let cleared = control(json!({ "cf_warnings": null })).await.unwrap();
    assert_eq!(cleared.status(), StatusCode::OK);
    assert!(
        !sim.get("/v2/apps")
            .await
            .headers()
            .contains_key("x-cf-warnings")
    );
}

#[tokio::test]
async fn faults_rate_limits_and_recording_apply_to_cloud_foundry_too() {
    let sim = Cf::start(SimOptions {
        rate_limit: 4,
        ..quick()
    })
    .await;
    sim.handle.inject(Fault {
        status: 503,
        count: 1,
        method: Some("POST".to_owned()),
        path_prefix: Some("/cf/v2/apps".to_owned()),
        ..Fault::default()
    });
    let faulted = sim
        .create(json!({ "name": "web", "space_guid": SPACE }))
        .await;
    assert_eq!(faulted.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        error_code(&faulted.json().await.unwrap()),
        ("CF-ServiceUnavailable", 10015)
    );
    let created = sim
        .create(json!({ "name": "web", "space_guid": SPACE }))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(header(&created, "x-ratelimit-remaining"), "2");

    sim.handle.inject(Fault {
        status: 500,
        count: 1,
        method: None,
        path_prefix: Some("/uaa/".to_owned()),
        ..Fault::default()
    });
    let uaa = sim
        .token(&[("grant_type", "client_credentials")], Some("Y2Y6"))
        .await;
    assert_eq!(uaa.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(uaa.json::<Value>().await.unwrap()["error"], "server_error");

    sim.get("/v2/apps").await;
    let limited = sim.get("/v2/apps").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited.json::<Value>().await.unwrap(),
        json!({ "description": "Rate Limit Exceeded", "error_code": "CF-RateLimitExceeded", "code": 10013 })
    );

    let recorded = sim.handle.requests();
    assert_eq!(recorded.len(), 5);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path, "/cf/v2/apps");
    assert_eq!(recorded[2].path, "/uaa/oauth/token");
    assert!(recorded[0].body.contains("\"space_guid\""));
}
