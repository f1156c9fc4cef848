//! The fault modes (delays, dropped connections, garbage, headers, random faults) and HTTPS.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode, redirect};
use serde_json::{Value, json};

use berth_sim::mittwald::NODE_VERSION_1_0_0_ID;
use berth_sim::*;
use support::serve_for_test;

const PROJECT: &str = "p-fault1";

struct Sim {
    handle: SimHandle,
    client: Client,
}

impl Sim {
    async fn start() -> Self {
        Self::with(SimOptions::default()).await
    }

    async fn with(options: SimOptions) -> Self {
        let handle = serve_for_test(SimOptions {
            time_to_ready: Duration::ZERO,
            consistency_delay: Duration::ZERO,
            ..options
        })
        .await;
        Self {
            handle,
            // Redirect faults are looked at, not followed.
            client: Client::builder()
                .redirect(redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.client
            .get(format!("{}{path}", self.handle.url()))
            .header("x-access-token", DEFAULT_TOKEN)
            .send()
            .await
    }

    async fn install(&self) -> reqwest::Result<reqwest::Response> {
        self.client
            .post(format!(
                "{}/v2/projects/{PROJECT}/app-installations",
                self.handle.url()
            ))
            .header("x-access-token", DEFAULT_TOKEN)
            .json(&json!({
                "appVersionId": NODE_VERSION_1_0_0_ID,
                "description": "faulted",
                "updatePolicy": "none",
                "userInputs": [],
            }))
            .send()
            .await
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .request(method, format!("{}/__sim/{path}", self.handle.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn on(method: &str, path_prefix: &str) -> Fault {
    Fault {
        method: Some(method.to_owned()),
        path_prefix: Some(path_prefix.to_owned()),
        ..Fault::default()
    }
}

fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

#[tokio::test]
async fn a_delay_without_a_status_answers_the_platform_late() {
    let sim = Sim::start().await;
    sim.handle.inject(Fault {
        delay_ms: Some(300),
        ..on("POST", "/v2/projects/")
    });
    let started = Instant::now();
    let response = sim.install().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(response.status(), StatusCode::CREATED, "processed as usual");
    assert_eq!(sim.handle.installations().len(), 1);
    let started = Instant::now();
    assert_eq!(sim.install().await.unwrap().status(), StatusCode::CREATED);
    assert!(started.elapsed() < Duration::from_millis(300), "only once");
    assert_eq!(sim.handle.faults_injected(), 1);
}

#[tokio::test]
async fn a_delay_with_a_status_answers_it_late_and_changes_nothing() {
    let sim = Sim::start().await;
    sim.handle.inject(Fault {
        status: 504,
        delay_ms: Some(200),
        ..on("POST", "/v2/projects/")
    });
    let started = Instant::now();
    let response = sim.install().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        response.json::<Value>().await.unwrap()["type"],
        "GatewayTimeoutError"
    );
    assert!(sim.handle.installations().is_empty());
}

#[tokio::test]
async fn a_dropped_answer_leaves_the_change_made_and_the_client_without_a_response() {
    let sim = Sim::start().await;
    sim.handle.inject(Fault {
        drop_after_processing: true,
        ..on("POST", "/v2/projects/")
    });
    let error = sim.install().await.expect_err("no answer comes");
    assert!(!error.is_timeout(), "{error:?}");
    assert_eq!(
        sim.handle.installations().len(),
        1,
        "the platform created it all the same"
    );
    assert_eq!(sim.handle.requests().len(), 1, "and it was recorded");
    // The next request, on a new connection, is answered as usual.
    assert_eq!(sim.install().await.unwrap().status(), StatusCode::CREATED);

    // With a status, the request is dropped before the platform sees it.
    sim.handle.inject(Fault {
        status: 503,
        drop_after_processing: true,
        ..on("POST", "/v2/projects/")
    });
    sim.install().await.expect_err("no answer comes");
    assert_eq!(sim.handle.installations().len(), 2);
}

#[tokio::test]
async fn an_html_page_stands_in_for_json_with_its_status() {
    let sim = Sim::start().await;
    sim.handle.inject(Fault {
        garbage: Some("html".to_owned()),
        count: 2,
        ..Fault::default()
    });
    let response = sim.get("/v2/apps").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert!(
        !response.headers().contains_key("x-ratelimit-limit"),
        "not the platform"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("<title>502 Bad Gateway</title>"), "{page}");

    sim.handle.inject(Fault {
        status: 504,
        garbage: Some("html".to_owned()),
        ..Fault::default()
    });
    // The first fault still has one use left and comes first.
    assert_eq!(
        sim.get("/v2/apps").await.unwrap().status(),
        StatusCode::BAD_GATEWAY
    );
    let response = sim.get("/v2/apps").await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("504 Gateway Timeout")
    );
}

#[tokio::test]
async fn broken_json_and_empty_objects_answer_200_without_processing() {
    let sim = Sim::start().await;
    sim.handle.inject(Fault {
        garbage: Some("json".to_owned()),
        ..on("POST", "/v2/projects/")
    });
    let response = sim.install().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    sim.handle.inject(Fault {
        garbage: Some("missing-fields".to_owned()),
        ..on("GET", "/v2/apps")
    });
    let response = sim.get("/v2/apps").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));
    assert!(
        sim.handle.installations().is_empty(),
        "nothing was processed"
    );
}

#[tokio::test]
async fn a_huge_body_is_valid_json_of_eight_mebibytes() {
    let sim = Sim::start().await;
    sim.handle.inject(Fault {
        garbage: Some("huge".to_owned()),
        ..on("GET", "/v2/apps")
    });
    let response = sim.get("/v2/apps").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().await.unwrap();
    assert!(body.len() >= HUGE_BODY_BYTES, "{}", body.len());
    assert!(body.len() < HUGE_BODY_BYTES + 4096);
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    assert!(parsed.as_array().unwrap().len() > 8000);
}

#[tokio::test]
async fn fault_headers_replace_the_platforms_and_ride_on_real_answers_too() {
    let sim = Sim::start().await;
    sim.handle.inject(Fault {
        status: 429,
        headers: headers(&[("Retry-After", "7"), ("X-RateLimit-Reset", "7")]),
        ..on("GET", "/v2/apps")
    });
    let response = sim.get("/v2/apps").await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    let resets: Vec<_> = response
        .headers()
        .get_all("x-ratelimit-reset")
        .iter()
        .collect();
    assert_eq!(resets, ["7"], "the fault's value replaces the platform's");
    assert_eq!(
        response.json::<Value>().await.unwrap()["type"],
        "RateLimitError"
    );

    sim.handle.inject(Fault {
        status: 307,
        headers: headers(&[("Location", "https://elsewhere.invalid/v2/apps")]),
        ..on("GET", "/v2/apps")
    });
    let response = sim.get("/v2/apps").await.unwrap();
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        response.headers()["location"],
        "https://elsewhere.invalid/v2/apps"
    );

    sim.handle.inject(Fault {
        headers: headers(&[("X-Extra", "yes")]),
        ..on("GET", "/v2/apps")
    });
    let response = sim.get("/v2/apps").await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "status 0: the real answer"
    );
    assert_eq!(response.headers()["x-extra"], "yes");
    assert!(response.json::<Value>().await.unwrap().is_array());
}

/// Which of `n` GETs a sim with `seed` faults at probability `p`.
async fn faulted(seed: u64, p: f64, n: usize) -> (Vec<usize>, SimHandle) {
    let sim = Sim::with(SimOptions {
        seed,
        ..SimOptions::default()
    })
    .await;
    sim.handle.inject(Fault {
        status: 503,
        count: 1000,
        probability: Some(p),
        ..on("GET", "/v2/apps")
    });
    let mut hit = Vec::new();
    for index in 0..n {
        if sim.get("/v2/apps").await.unwrap().status() == StatusCode::SERVICE_UNAVAILABLE {
            hit.push(index);
        }
    }
    (hit, sim.handle)
}

#[tokio::test]
async fn random_faults_hit_about_their_share_the_same_way_for_the_same_seed() {
    let (first, handle) = faulted(DEFAULT_SEED, 0.05, 400).await;
    assert!((8..=40).contains(&first.len()), "{} of 400", first.len());
    assert_eq!(handle.faults_injected(), first.len() as u64);
    assert_eq!(handle.requests_received(), 400);
    let (again, _) = faulted(DEFAULT_SEED, 0.05, 400).await;
    assert_eq!(first, again, "one seed, one sequence");
    let (other, _) = faulted(7, 0.05, 400).await;
    assert_ne!(first, other, "another seed, another sequence");
}

#[tokio::test]
async fn a_random_fault_stops_when_its_count_is_spent() {
    let sim = Sim::start().await;
    sim.handle.inject(Fault {
        status: 500,
        count: 3,
        probability: Some(1.0),
        ..Fault::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(sim.get("/v2/apps").await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [500, 500, 500, 200, 200]);
    let (hit, _) = faulted(1, 0.0, 20).await;
    assert!(hit.is_empty(), "probability 0 never strikes");
}

#[tokio::test]
async fn the_control_api_takes_the_new_fields_counts_and_refuses_nonsense() {
    let sim = Sim::start().await;
    let post = |body: Value| sim.control(reqwest::Method::POST, "faults", body);
    assert_eq!(
        post(json!({ "delay_ms": 50, "method": "GET" })).await.0,
        204
    );
    assert_eq!(
        post(json!({ "garbage": "html", "status": 503, "headers": { "Retry-After": "1" } }))
            .await
            .0,
        204
    );
    assert_eq!(
        post(
            json!({ "status": 503, "probability": 0.5, "count": 10, "drop_after_processing": true })
        )
        .await
        .0,
        204
    );
    for (bad, why) in [
        (json!({ "garbage": "xml" }), "garbage \"xml\""),
        (json!({ "status": 503, "probability": 1.5 }), "probability"),
        (json!({ "status": 700 }), "status 700"),
        (json!({ "count": 3 }), "a fault needs"),
        (json!({ "headers": { "Bad Name": "x" } }), "header"),
    ] {
        let (status, body) = post(bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(why), "{bad}: {message}");
    }
    let (_, stats) = sim
        .control(reqwest::Method::GET, "stats", Value::Null)
        .await;
    assert_eq!(stats, json!({ "requests": 0, "faults_injected": 0 }));

    // The delay fault strikes the first GET.
    assert_eq!(sim.get("/v2/apps").await.unwrap().status(), StatusCode::OK);
    let (_, stats) = sim
        .control(reqwest::Method::GET, "stats", Value::Null)
        .await;
    assert_eq!(stats, json!({ "requests": 1, "faults_injected": 1 }));

    assert_eq!(
        sim.control(reqwest::Method::DELETE, "faults", Value::Null)
            .await
            .0,
        204
    );
    assert_eq!(sim.get("/v2/apps").await.unwrap().status(), StatusCode::OK);
    let (_, options) = sim
        .control(reqwest::Method::PATCH, "options", json!({ "seed": 42 }))
        .await;
    assert_eq!(options["seed"], 42);
}

#[test]
#[should_panic(expected = "inject: garbage \"yaml\"")]
fn injecting_an_unknown_garbage_kind_is_a_broken_test() {
    let sim = start_background(SimOptions::default()).unwrap();
    sim.inject(Fault {
        garbage: Some("yaml".to_owned()),
        ..Fault::default()
    });
}

/// A CA and a server certificate it signed for `localhost` and `127.0.0.1`: (CA PEM, server
/// chain PEM, server key PEM).
fn certificates() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "berth test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_cert.pem(), server.pem(), key.serialize_pem())
}

#[tokio::test]
async fn https_serves_the_same_platform_to_clients_that_trust_the_ca() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (ca, chain, key) = certificates();
    let sim =
        start_background_tls(SimOptions::default(), chain.as_bytes(), key.as_bytes()).unwrap();
    let url = sim.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let trusting = Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .build()
        .unwrap();
    let apps = trusting.get(format!("{url}/v2/apps")).send().await.unwrap();
    assert_eq!(apps.status(), StatusCode::OK);
    let localhost = url.replace("127.0.0.1", "localhost");
    let root: Value = trusting
        .get(format!("{localhost}/cf/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        root["links"]["uaa"]["href"],
        format!("{localhost}/uaa"),
        "discovery links keep the scheme and host the client used"
    );

    let doubting = Client::new();
    let error = doubting
        .get(format!("{url}/v2/apps"))
        .send()
        .await
        .expect_err("an unknown CA is refused");
    assert!(error.is_connect(), "{error:?}");
    assert_eq!(
        sim.requests().len(),
        2,
        "the refused client never got through"
    );
}

#[tokio::test]
async fn https_refuses_to_start_without_a_usable_certificate() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = serve_tls(listener, SimOptions::default(), b"no pem here", b"nor here")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("certificate"), "{error}");
    let (_, chain, _) = certificates();
    let error = start_background_tls(SimOptions::default(), chain.as_bytes(), b"").unwrap_err();
    assert!(error.to_string().contains("key"), "{error}");
}

#[tokio::test]
async fn an_echo_fault_repeats_the_request_secrets_and_all_in_each_shape() {
    let sim = Sim::start().await;
    for (kind, status, content_type) in [
        ("json", 500, "application/json"),
        ("headers", 500, "text/plain"),
        ("html", 502, "text/html"),
    ] {
        sim.handle.inject(Fault {
            echo: Some(kind.to_owned()),
            ..on("POST", "/v2/projects/")
        });
        let response = sim.install().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{kind}");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            content_type
        );
        let text = response.text().await.unwrap();
        assert!(
            text.contains(DEFAULT_TOKEN),
            "{kind}: the token header: {text}"
        );
        assert!(text.contains("faulted"), "{kind}: the body: {text}");
        if kind == "json" {
            let json: Value = serde_json::from_str(&text).unwrap();
            assert!(json["message"].as_str().unwrap().contains(DEFAULT_TOKEN));
        }
    }
    assert!(
        sim.handle.installations().is_empty(),
        "nothing was processed"
    );
    let (status, _) = sim
        .control(reqwest::Method::POST, "faults", json!({"echo": "xml"}))
        .await;
    assert_eq!(status, 400, "an unknown echo kind is refused");
}
