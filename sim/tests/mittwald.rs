//! Behaviour of the simulator over real HTTP on loopback.

mod support;

use std::time::Duration;

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};

use berth_sim::mittwald::*;
use berth_sim::*;
use support::serve_for_test;

const PROJECT: &str = "ad6f44a6-132e-4c2a-9208-895494bfcd75";

struct Sim {
    handle: SimHandle,
    client: Client,
}

impl Sim {
    async fn start(options: SimOptions) -> Self {
        Self {
            handle: serve_for_test(options).await,
            client: Client::builder().build().unwrap(),
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.handle.url()))
            .header("x-access-token", DEFAULT_TOKEN)
    }

    async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    async fn install(&self, body: Value) -> Response {
        self.request(
            Method::POST,
            &format!("/v2/projects/{PROJECT}/app-installations"),
        )
        .json(&body)
        .send()
        .await
        .unwrap()
    }

    async fn patch(&self, id: &str, body: Value) -> Response {
        self.request(Method::PATCH, &format!("/v2/app-installations/{id}"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// GET of an installation that waits for `etag`, as a careful client does.
    async fn installation(&self, id: &str, etag: &str) -> Value {
        let response = self
            .request(Method::GET, &format!("/v2/app-installations/{id}"))
            .header("if-event-reached", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    fn seed(&self, app_id: &str, version_id: &str, description: &str) -> String {
        self.handle.seed_installation(SeedInstallation {
            project_id: PROJECT.to_owned(),
            app_id: app_id.to_owned(),
            app_version_id: version_id.to_owned(),
            description: description.to_owned(),
            ..SeedInstallation::default()
        })
    }
}

fn quick() -> SimOptions {
    SimOptions {
        time_to_ready: Duration::from_millis(300),
        consistency_delay: Duration::ZERO,
        ..SimOptions::default()
    }
}

fn node_install(description: &str) -> Value {
    json!({
        "appVersionId": NODE_VERSION_1_0_0_ID,
        "description": description,
        "updatePolicy": "none",
        "userInputs": [],
    })
}

fn etag(response: &Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

fn header(response: &Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

fn validation_paths(body: &Value) -> Vec<(String, String)> {
    assert_eq!(body["type"], "ValidationError", "{body}");
    body["validationErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn new_installation_goes_through_pending_and_installing_to_ready() {
    let sim = Sim::start(quick()).await;
    let response = sim.install(node_install("custom Node.js p-p92nri")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let etag = etag(&response);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let pending = sim.installation(&id, &etag).await;
    assert_eq!(pending["phase"], "pending");
    assert_eq!(
        pending["appVersion"],
        json!({ "desired": NODE_VERSION_1_0_0_ID })
    );
    for field in [
        "id",
        "appId",
        "shortId",
        "appVersion",
        "description",
        "installationPath",
        "disabled",
        "createdAt",
        "projectId",
        "systemSoftware",
        "userInputs",
        "updatePolicy",
        "linkedDatabases",
        "phase",
        "appName",
        "updateAvailable",
        "appExternalVersion",
        "projectDescription",
    ] {
        assert!(pending.get(field).is_some(), "missing {field} in {pending}");
    }
    assert_eq!(pending["appName"], "Node.js");
    assert_eq!(pending["projectId"], PROJECT);
    assert_eq!(
        pending["userInputs"],
        json!([{ "name": "entrypoint", "value": "yarn start" }])
    );
    let short_id = pending["shortId"].as_str().unwrap();
    assert!(
        short_id.starts_with("a-") && short_id.len() == 8,
        "{short_id}"
    );
    let path = pending["installationPath"].as_str().unwrap();
    assert!(path.starts_with("/custom-node-js-p-"), "{path}");
    assert_eq!(
        pending["systemSoftware"][0]["systemSoftwareVersion"]
            .as_object()
            .unwrap()
            .len(),
        1
    );

    tokio::time::sleep(Duration::from_millis(170)).await;
    assert_eq!(sim.installation(&id, &etag).await["phase"], "installing");

    tokio::time::sleep(Duration::from_millis(180)).await;
    let ready = sim.installation(&id, &etag).await;
    assert_eq!(ready["phase"], "ready");
    assert_eq!(
        ready["appVersion"]["current"],
        ready["appVersion"]["desired"]
    );
}

#[tokio::test]
async fn zero_time_to_ready_is_ready_at_once() {
    let sim = Sim::start(SimOptions {
        time_to_ready: Duration::ZERO,
        ..quick()
    })
    .await;
    let response = sim.install(node_install("instant")).await;
    let etag = etag(&response);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(sim.installation(&id, &etag).await["phase"], "ready");
}

#[tokio::test]
async fn get_right_after_a_write_is_404_unless_the_event_was_awaited() {
    let sim = Sim::start(SimOptions {
        consistency_delay: Duration::from_millis(300),
        ..quick()
    })
    .await;
    let response = sim.install(node_install("eventually")).await;
    let etag = etag(&response);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let early = sim.get(&format!("/v2/app-installations/{id}")).await;
    assert_eq!(early.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        early.json::<Value>().await.unwrap()["type"],
        "NotFoundError"
    );

    assert_eq!(sim.installation(&id, &etag).await["id"], id.as_str());

    let listed: Value = sim
        .get(&format!("/v2/projects/{PROJECT}/app-installations"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "the list is consistent at once"
    );

    let future = sim
        .request(Method::GET, &format!("/v2/app-installations/{id}"))
        .header("if-event-reached", "999")
        .send()
        .await
        .unwrap();
    assert_eq!(future.status(), StatusCode::PRECONDITION_FAILED);

    tokio::time::sleep(Duration::from_millis(320)).await;
    assert_eq!(
        sim.get(&format!("/v2/app-installations/{id}"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn patch_before_ready_is_refused_and_after_ready_upgrades() {
    let sim = Sim::start(quick()).await;
    let response = sim.install(node_install("too early")).await;
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = sim.patch(&id, json!({ "description": "changed" })).await;
    assert_eq!(refused.status(), StatusCode::PRECONDITION_FAILED);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "PreconditionFailedError");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("expected phase APP_PHASE_READY"),
        "{body}"
    );

    let seeded = sim.seed(NODE_APP_ID, NODE_VERSION_1_0_0_ID, "upgrade me");
    let response = sim
        .patch(&seeded, json!({ "appVersionId": NODE_VERSION_1_1_0_ID }))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let event = etag(&response);
    let upgrading = sim.installation(&seeded, &event).await;
    assert_eq!(upgrading["phase"], "upgrading");
    assert_eq!(
        upgrading["appVersion"],
        json!({ "desired": NODE_VERSION_1_1_0_ID, "current": NODE_VERSION_1_0_0_ID })
    );
    assert_eq!(upgrading["appExternalVersion"], "1.1.0");

    tokio::time::sleep(Duration::from_millis(320)).await;
    let ready = sim.installation(&seeded, &event).await;
    assert_eq!(ready["phase"], "ready");
    assert_eq!(ready["appVersion"]["current"], NODE_VERSION_1_1_0_ID);

    let response = sim
        .patch(
            &seeded,
            json!({ "userInputs": [{ "name": "entrypoint", "value": "node server.js" }] }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let reconfiguring = sim.installation(&seeded, &etag(&response)).await;
    assert_eq!(reconfiguring["phase"], "reconfiguring");
    assert_eq!(
        reconfiguring["userInputs"],
        json!([{ "name": "entrypoint", "value": "node server.js" }])
    );
}

#[tokio::test]
async fn patch_that_changes_nothing_observable_stays_ready() {
    let sim = Sim::start(quick()).await;
    let id = sim.seed(NODE_APP_ID, NODE_VERSION_1_0_0_ID, "quiet");
    let response = sim
        .patch(
            &id,
            json!({ "description": "renamed", "updatePolicy": "patchLevel" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let body = sim.installation(&id, &etag(&response)).await;
    assert_eq!(body["phase"], "ready");
    assert_eq!(body["description"], "renamed");
    assert_eq!(body["updatePolicy"], "patchLevel");
}

#[tokio::test]
async fn invalid_install_requests_answer_400_with_validation_errors() {
    let sim = Sim::start(quick()).await;

    let response = sim
        .install(json!({ "appVersionId": NODE_VERSION_1_0_0_ID }))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let paths = validation_paths(&response.json().await.unwrap());
    for field in [".description", ".updatePolicy", ".userInputs"] {
        assert!(
            paths.contains(&(field.to_owned(), "required".to_owned())),
            "{field}: {paths:?}"
        );
    }

    let response = sim
        .install(json!({
            "appVersionId": NODE_VERSION_1_0_0_ID,
            "description": "x",
            "updatePolicy": "sometimes",
            "userInputs": [{ "name": "entrypoint", "value": "" }, { "name": "colour", "value": "blue" }],
        }))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let paths = validation_paths(&response.json().await.unwrap());
    assert!(
        paths.contains(&(".updatePolicy".to_owned(), "enum".to_owned())),
        "{paths:?}"
    );
    assert!(
        paths.contains(&(".userInputs[0].value".to_owned(), "minLength".to_owned())),
        "{paths:?}"
    );
    assert!(
        paths.contains(&(
            ".userInputs[1].name".to_owned(),
            "unknownUserInput".to_owned()
        )),
        "{paths:?}"
    );

    let response = sim
        .install(json!({
            "appVersionId": WORDPRESS_VERSION_6_8_1_ID,
            "description": "blog",
            "updatePolicy": "all",
            "userInputs": [{ "name": "site_title", "value": "My blog" }],
        }))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    let missing: Vec<&str> = body["validationErrors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "missingUserInput")
        .map(|e| e["context"]["missingUserInput"].as_str().unwrap())
        .collect();
    assert_eq!(missing, ["admin_user", "admin_email"]);

    let response = sim
        .install(json!({
            "appVersionId": "00000000-0000-4000-8000-000000000000",
            "description": "x",
            "updatePolicy": "none",
            "userInputs": [],
        }))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let paths = validation_paths(&response.json().await.unwrap());
    assert_eq!(paths, [(".appVersionId".to_owned(), "notFound".to_owned())]);

    let response = sim
        .request(
            Method::POST,
            &format!("/v2/projects/{PROJECT}/app-installations"),
        )
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let complete = json!({
        "appVersionId": WORDPRESS_VERSION_6_8_1_ID,
        "description": "blog",
        "updatePolicy": "all",
        "userInputs": [
            { "name": "site_title", "value": "My blog" },
            { "name": "admin_user", "value": "admin" },
            { "name": "admin_email", "value": "admin@example.org" },
        ],
    });
    assert_eq!(sim.install(complete).await.status(), StatusCode::CREATED);
    let installed = &sim.handle.installations()[0];
    assert!(
        installed["userInputs"]
            .as_array()
            .unwrap()
            .contains(&json!({ "name": "language", "value": "en_US" })),
        "defaults are filled in: {installed}"
    );
}

#[tokio::test]
async fn invalid_patches_answer_400() {
    let sim = Sim::start(quick()).await;
    let id = sim.seed(NODE_APP_ID, NODE_VERSION_1_0_0_ID, "node");
    let response = sim
        .patch(&id, json!({ "appVersionId": PYTHON_VERSION_1_0_0_ID }))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = sim
        .patch(
            &id,
            json!({ "userInputs": [{ "name": "site_title", "value": "x" }] }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let missing = sim
        .patch("00000000-0000-4000-8000-000000000000", json!({}))
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn requests_without_the_token_answer_401_except_listing_apps() {
    let sim = Sim::start(quick()).await;
    let url = format!(
        "{}/v2/projects/{PROJECT}/app-installations",
        sim.handle.url()
    );

    let response = sim.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["type"],
        "UnauthorizedError"
    );

    let response = sim
        .client
        .get(&url)
        .header("x-access-token", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let response = sim
        .client
        .get(&url)
        .bearer_auth(DEFAULT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let apps = sim
        .client
        .get(format!("{}/v2/apps", sim.handle.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(apps.status(), StatusCode::OK);
    let apps: Value = apps.json().await.unwrap();
    let names: Vec<&str> = apps
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Node.js", "Python", "WordPress"]);
}

#[tokio::test]
async fn versions_can_be_listed_filtered_and_fetched() {
    let sim = Sim::start(quick()).await;
    let all: Value = sim
        .get(&format!("/v2/apps/{NODE_APP_ID}/versions"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let recommended: Value = sim
        .get(&format!("/v2/apps/{NODE_APP_ID}/versions?recommended=true"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(recommended[0]["id"], NODE_VERSION_1_0_0_ID);
    assert_eq!(recommended.as_array().unwrap().len(), 1);

    let one: Value = sim
        .get(&format!(
            "/v2/apps/{PYTHON_APP_ID}/versions/{PYTHON_VERSION_1_1_0_ID}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["externalVersion"], "1.1.0");
    assert!(one.get("recommended").is_none());

    let wrong_app = sim
        .get(&format!(
            "/v2/apps/{NODE_APP_ID}/versions/{PYTHON_VERSION_1_1_0_ID}"
        ))
        .await;
    assert_eq!(wrong_app.status(), StatusCode::NOT_FOUND);
    let unknown = sim
        .get("/v2/apps/00000000-0000-4000-8000-000000000000/versions")
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn injected_faults_answer_before_routing_then_run_out() {
    let sim = Sim::start(quick()).await;
    sim.handle.inject(Fault {
        status: 503,
        count: 2,
        method: Some("post".to_owned()),
        path_prefix: Some("/v2/projects/".to_owned()),
        ..Fault::default()
    });
    for _ in 0..2 {
        let response = sim.install(node_install("flaky")).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("x-ratelimit-remaining"));
        assert!(response.json::<Value>().await.unwrap()["type"].is_string());
    }
    assert_eq!(
        sim.get("/v2/apps").await.status(),
        StatusCode::OK,
        "other methods pass"
    );
    assert_eq!(
        sim.install(node_install("flaky")).await.status(),
        StatusCode::CREATED
    );

    let response = sim
        .client
        .post(format!("{}/__sim/faults", sim.handle.url()))
        .json(&json!({ "status": 500, "body": "upstream exploded" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = sim.get("/v2/apps").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.text().await.unwrap(), "upstream exploded");
    assert_eq!(sim.get("/v2/apps").await.status(), StatusCode::OK);
    assert_eq!(
        sim.handle.requests().len(),
        6,
        "faulted requests are recorded too"
    );
}

#[tokio::test]
async fn requests_beyond_the_rate_limit_answer_429() {
    let sim = Sim::start(SimOptions {
        rate_limit: 3,
        ..quick()
    })
    .await;
    for remaining in ["2", "1", "0"] {
        let response = sim.get("/v2/apps").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "x-ratelimit-limit"), "3");
        assert_eq!(header(&response, "x-ratelimit-remaining"), remaining);
    }
    let response = sim.get("/v2/apps").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let reset: u64 = header(&response, "x-ratelimit-reset").parse().unwrap();
    assert!((1..=60).contains(&reset), "{reset}");
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "type": "RateLimitError", "message": "too many requests" })
    );

    sim.handle
        .set_options(|options| options.rate_window = Duration::from_millis(100));
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        sim.get("/v2/apps").await.status(),
        StatusCode::OK,
        "a new window starts"
    );
}

#[tokio::test]
async fn seeded_installations_are_listed_with_filters_and_pagination() {
    let sim = Sim::start(quick()).await;
    let node = sim.seed(NODE_APP_ID, NODE_VERSION_1_0_0_ID, "Shop frontend");
    let python = sim.seed(PYTHON_APP_ID, PYTHON_VERSION_1_0_0_ID, "Shop backend");
    let other = sim.seed(NODE_APP_ID, NODE_VERSION_1_1_0_ID, "Docs site");
    sim.handle.seed_installation(SeedInstallation {
        project_id: "p-other1".to_owned(),
        app_id: NODE_APP_ID.to_owned(),
        app_version_id: NODE_VERSION_1_0_0_ID.to_owned(),
        description: "elsewhere".to_owned(),
        phase: Some("installing".to_owned()),
        ..SeedInstallation::default()
    });

    let ids = |body: Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |query: String| {
        let sim = &sim;
        async move {
            let response = sim
                .get(&format!("/v2/projects/{PROJECT}/app-installations{query}"))
                .await;
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };

    assert_eq!(
        ids(list(String::new()).await),
        [node.as_str(), python.as_str(), other.as_str()]
    );
    assert_eq!(
        ids(list(format!("?appIds={NODE_APP_ID}")).await),
        [node.as_str(), other.as_str()]
    );
    assert_eq!(
        ids(list(format!("?appIds%5B%5D={PYTHON_APP_ID}")).await),
        [python.as_str()]
    );
    assert_eq!(
        ids(list(format!("?appIds={PYTHON_APP_ID},{NODE_APP_ID}")).await),
        [node.as_str(), python.as_str(), other.as_str()]
    );
    assert_eq!(
        ids(list(format!("?appIds={PYTHON_APP_ID}&appIds={NODE_APP_ID}")).await).len(),
        3
    );
    assert_eq!(
        ids(list("?searchTerm=shop".to_owned()).await),
        [node.as_str(), python.as_str()]
    );
    assert_eq!(
        ids(list("?searchTerm=SHOP+BACK".to_owned()).await),
        [python.as_str()]
    );

    let response = sim
        .get(&format!(
            "/v2/projects/{PROJECT}/app-installations?limit=2&page=2"
        ))
        .await;
    assert_eq!(header(&response, "x-pagination-limit"), "2");
    assert_eq!(header(&response, "x-pagination-skip"), "2");
    assert_eq!(header(&response, "x-pagination-page"), "2");
    assert_eq!(header(&response, "x-pagination-totalcount"), "3");
    assert_eq!(ids(response.json().await.unwrap()), [other.as_str()]);

    let elsewhere: Value = sim
        .get("/v2/projects/p-other1/app-installations")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(elsewhere[0]["phase"], "installing");

    let project: Value = sim.get("/v2/projects/p-other1").await.json().await.unwrap();
    assert_eq!(project["shortId"], "p-other1");
    // An installation names its project by UUID, however the request spelled it (the spec's
    // `format: uuid`).
    assert_eq!(elsewhere[0]["projectId"], project["id"]);
    assert_eq!(project["directories"]["Web"], "/html");
    let by_uuid = project["id"].as_str().unwrap();
    let same: Value = sim
        .get(&format!("/v2/projects/{by_uuid}/app-installations"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        same.as_array().unwrap().len(),
        1,
        "UUID and short id name one project"
    );

    assert_eq!(
        sim.get("/v2/projects/not-a-project").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_capped_installation_list_says_its_limit_and_may_hide_the_total() {
    let sim = Sim::start(SimOptions {
        installation_page_cap: Some(2),
        ..quick()
    })
    .await;
    let seeded: Vec<String> = (0..5)
        .map(|n| sim.seed(NODE_APP_ID, NODE_VERSION_1_0_0_ID, &format!("site {n}")))
        .collect();
    let page = |query: &'static str| {
        let sim = &sim;
        async move {
            let response = sim
                .get(&format!("/v2/projects/{PROJECT}/app-installations{query}"))
                .await;
            assert_eq!(response.status(), StatusCode::OK, "{query}");
            let headers = response.headers().clone();
            let body: Value = response.json().await.unwrap();
            let ids: Vec<String> = body
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned())
                .collect();
            (headers, ids)
        }
    };

    // However many are asked for, two come, and the headers say so.
    let (headers, first) = page("?limit=100").await;
    assert_eq!(first, seeded[..2]);
    assert_eq!(headers["x-pagination-limit"], "2");
    assert_eq!(headers["x-pagination-totalcount"], "5");
    let (headers, third) = page("?limit=100&skip=4").await;
    assert_eq!(third, seeded[4..]);
    assert_eq!(headers["x-pagination-skip"], "4");
    // `page` counts in pages of the capped size.
    let (headers, second) = page("?limit=100&page=2").await;
    assert_eq!(second, seeded[2..4]);
    assert_eq!(headers["x-pagination-page"], "2");
    // A smaller request than the cap is taken as asked.
    assert_eq!(page("?limit=1").await.1, seeded[..1]);

    let control = |body: Value| {
        sim.client
            .patch(format!("{}/__sim/options", sim.handle.url()))
            .json(&body)
            .send()
    };
    let options: Value = control(json!({ "installation_total_hidden": true }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(options["installation_page_cap"], 2);
    assert_eq!(options["installation_total_hidden"], true);
    let (headers, ids) = page("?limit=100&skip=2").await;
    assert_eq!(ids, seeded[2..4]);
    assert!(!headers.contains_key("x-pagination-totalcount"));
    assert_eq!(headers["x-pagination-limit"], "2");
    // Other lists keep their total.
    let apps = sim.get("/v2/apps").await;
    assert!(apps.headers().contains_key("x-pagination-totalcount"));

    let options: Value = control(json!({ "installation_page_cap": null }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(options["installation_page_cap"].is_null());
    let (headers, ids) = page("?limit=100").await;
    assert_eq!(ids, seeded);
    assert_eq!(headers["x-pagination-limit"], "100");
}

#[tokio::test]
async fn delete_removes_an_installation() {
    let sim = Sim::start(quick()).await;
    let id = sim.seed(NODE_APP_ID, NODE_VERSION_1_0_0_ID, "short-lived");
    let response = sim
        .request(Method::DELETE, &format!("/v2/app-installations/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        sim.get(&format!("/v2/app-installations/{id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(sim.handle.installations().is_empty());
}

#[tokio::test]
async fn control_api_records_seeds_and_reconfigures() {
    let sim = Sim::start(quick()).await;
    let control = |method: Method, path: &str| {
        sim.client
            .request(method, format!("{}/__sim/{path}", sim.handle.url()))
    };

    sim.install(node_install("recorded")).await;
    let recorded: Vec<RecordedRequest> = control(Method::GET, "requests")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1, "control requests are not recorded");
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(
        recorded[0].path,
        format!("/v2/projects/{PROJECT}/app-installations")
    );
    assert_eq!(recorded[0].headers["x-access-token"], DEFAULT_TOKEN);
    assert!(recorded[0].body.contains(NODE_VERSION_1_0_0_ID));
    assert_eq!(sim.handle.requests(), recorded);

    assert_eq!(
        control(Method::DELETE, "requests")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert!(sim.handle.requests().is_empty());

    let response = control(Method::POST, "installations")
        .json(&json!({
            "project_id": PROJECT,
            "app_id": PYTHON_APP_ID,
            "app_version_id": PYTHON_VERSION_1_0_0_ID,
            "description": "seeded over HTTP",
            "user_inputs": [{ "name": "entrypoint", "value": "gunicorn app:app" }],
            "update_policy": "all",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let all: Value = control(Method::GET, "installations")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The first installation is the one POSTed above.
    let seeded = &all[1];
    assert_eq!(seeded["id"], id.as_str());
    assert_eq!(
        seeded["userInputs"],
        json!([{ "name": "entrypoint", "value": "gunicorn app:app" }])
    );
    assert_eq!(seeded["updatePolicy"], "all");
    assert_eq!(
        sim.get(&format!("/v2/app-installations/{id}"))
            .await
            .status(),
        StatusCode::OK
    );

    let bad_seed = control(Method::POST, "installations")
        .json(&json!({ "project_id": PROJECT, "app_id": NODE_APP_ID, "app_version_id": PYTHON_VERSION_1_0_0_ID, "description": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_seed.status(), StatusCode::BAD_REQUEST);

    let options: Value = control(Method::PATCH, "options")
        .json(&json!({ "time_to_ready_ms": 0, "phases": ["pending"], "rate_limit": 7 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(options["time_to_ready_ms"], 0);
    assert_eq!(options["rate_limit"], 7);
    assert_eq!(header(&sim.get("/v2/apps").await, "x-ratelimit-limit"), "7");
    let response = sim.install(node_install("instant now")).await;
    let event = etag(&response);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(sim.installation(&id, &event).await["phase"], "ready");

    let typo = control(Method::PATCH, "options")
        .json(&json!({ "time_to_ready": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(typo.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_routes_oversized_bodies_and_old_spellings() {
    let sim = Sim::start(quick()).await;
    let response = sim.get("/v2/nothing-here").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "type": "NotFoundError", "message": "route not found" })
    );

    let response = sim
        .request(
            Method::POST,
            &format!("/v2/projects/{PROJECT}/app-installations"),
        )
        .body(vec![b' '; MAX_BODY_BYTES + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(sim.handle.requests().last().unwrap().body, "");

    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(format!(
            "{}/v2/projects/{PROJECT}/appinstallations?limit=1",
            sim.handle.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        header(&response, "location"),
        format!("/v2/projects/{PROJECT}/app-installations?limit=1")
    );
}

#[test]
fn background_simulator_serves_without_a_runtime() {
    use std::io::{Read, Write};
    let sim = start_background(SimOptions::default()).unwrap();
    let url = sim.url();
    let address = url.strip_prefix("http://").unwrap();
    assert!(address.starts_with("127.0.0.1:"), "{url}");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET /v2/apps HTTP/1.1\r\nhost: sim\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(NODE_APP_ID));
    assert_eq!(sim.requests().len(), 1);
}
