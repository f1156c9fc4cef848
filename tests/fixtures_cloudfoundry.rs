//! The recorded Cloud Controller v2 and UAA bodies deserialize into the types generated from
//! berth's hand-written spec, and the recorded errors read as one clear line.

use berth::api::{
    ApiError,
    cloudfoundry::types::{AppPage, AppResource, Info, InstanceInfo, JobResource},
};
use serde::de::DeserializeOwned;
use std::{collections::HashMap, path::Path};

fn fixture<T: DeserializeOwned>(name: &str) -> T {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cloudfoundry")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn info_names_the_token_endpoint() {
    let info: Info = fixture("01_v2_info_200.json");
    assert_eq!(
        info.token_endpoint.as_deref(),
        Some("http://localhost:8080/uaa")
    );
    assert_eq!(info.api_version.as_deref(), Some("2.293.0"));
}

#[test]
fn uaa_tokens_of_both_grants_carry_an_access_token() {
    for name in [
        "02_uaa_token_password_grant_200.json",
        "03_uaa_token_client_credentials_200.json",
    ] {
        let body: serde_json::Value = fixture(name);
        assert!(
            body["access_token"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}"
        );
    }
}

#[test]
fn app_bodies_deserialize_generated_and_real() {
    let page: AppPage = fixture("04_space_apps_list_200_paginated.json");
    assert_eq!(page.resources.len(), 1);
    assert_eq!(
        page.resources[0].entity.package_state.as_deref(),
        Some("PENDING")
    );
    for name in [
        "05_apps_create_201.json",
        "06_apps_get_staged_real_2014_go-cfclient.json",
        "07_apps_update_201_real_2018_go-cfclient.json",
    ] {
        let app: AppResource = fixture(name);
        assert!(!app.metadata.guid.is_empty(), "{name}");
        assert!(
            app.entity.name.is_some() && app.entity.state.is_some(),
            "{name}"
        );
    }
    let staged: AppResource = fixture("06_apps_get_staged_real_2014_go-cfclient.json");
    assert_eq!(staged.entity.package_state.as_deref(), Some("STAGED"));
}

#[test]
fn jobs_deserialize_queued_finished_and_failed() {
    let queued: JobResource = fixture("08_apps_bits_upload_async_201_job_queued.json");
    assert_eq!(queued.entity.status.as_deref(), Some("queued"));
    let finished: JobResource = fixture("09_jobs_get_finished_nulljob_200.json");
    assert_eq!(finished.entity.guid.as_deref(), Some("0"));
    assert_eq!(finished.entity.status.as_deref(), Some("finished"));
    let failed: JobResource = fixture("10_jobs_get_failed_known_200.json");
    let details = failed.entity.error_details.expect("error_details");
    assert_eq!(details.error_code.as_deref(), Some("CF-MessageParseError"));
}

#[test]
fn instances_deserialize_in_every_state() {
    let mixed: HashMap<String, InstanceInfo> = fixture("11_apps_instances_mixed_states_200.json");
    let mut states: Vec<_> = mixed.values().filter_map(|i| i.state.as_deref()).collect();
    states.sort_unstable();
    assert_eq!(states, ["CRASHED", "DOWN", "RUNNING", "STARTING"]);
    let down: HashMap<String, InstanceInfo> =
        fixture("12_apps_instances_down_real_2015_trace.json");
    assert_eq!(down["0"].state.as_deref(), Some("DOWN"));
}

#[test]
fn recorded_errors_read_as_one_line() {
    let text = |name: &str| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/cloudfoundry")
                .join(name),
        )
        .unwrap()
    };
    let not_staged = ApiError::from_body(400, &text("13_error_400_not_staged_real_2017.json"));
    assert_eq!(
        not_staged.to_string(),
        "HTTP 400 CF-NotStaged: App has not finished staging"
    );
    let relation = ApiError::from_body(
        400,
        &text("14_error_400_invalid_relation_route_real_2016.json"),
    );
    assert_eq!(relation.kind.as_deref(), Some("CF-InvalidRelation"));
    let uaa = ApiError::from_body(
        401,
        br#"{"error":"unauthorized","error_description":"Bad credentials"}"#,
    );
    assert_eq!(uaa.to_string(), "HTTP 401 unauthorized: Bad credentials");
    let proxy = ApiError::from_body(502, b"<html><body><h1>502 Bad Gateway</h1>\n</body></html>");
    assert_eq!(
        proxy.to_string(),
        "HTTP 502: <html><body><h1>502 Bad Gateway</h1> </body></html>"
    );
}

#[test]
fn the_shared_domains_list_is_a_v2_page() {
    // Not used by berth yet; kept to show the pagination envelope is the same for every resource.
    let page: serde_json::Value = fixture("15_shared_domains_list_200.json");
    assert!(page["resources"].is_array() && page["total_results"].is_number());
}
