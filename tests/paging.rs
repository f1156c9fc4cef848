//! Lists are never trusted to be what was asked: berth pages on when a server gives smaller
//! pages than asked (with or without a total), and takes only the items that really match.

mod support;

use berth_sim::{
    RecordedRequest, SeedInstallation, SimHandle,
    mittwald::{NODE_APP_ID, NODE_VERSION_1_0_0_ID},
};
use serde_json::{Value, json};
use support::*;

/// The description of "our" installation in the mittwald tests.
const OURS: &str = "shop frontend";
/// A space the runs are never told about.
const OTHER_SPACE: &str = "0b7e5c4d-3a29-4f18-8e07-f6d5c4b3a291";

/// Places a Node.js installation with `description` into the test project.
fn seed(sim: &SimHandle, description: &str) -> String {
    sim.seed_installation(SeedInstallation {
        project_id: PROJECT.into(),
        app_id: NODE_APP_ID.into(),
        app_version_id: NODE_VERSION_1_0_0_ID.into(),
        description: description.into(),
        ..SeedInstallation::default()
    })
}

/// 25 installations of the same app in the project whose descriptions are not ours, one of
/// them only by a trailing space.
fn seed_others(sim: &SimHandle) {
    seed(sim, &format!("{OURS} "));
    for n in 1..25 {
        seed(sim, &format!("preview {n}"));
    }
}

fn posts(sim: &SimHandle) -> Vec<RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect()
}

fn ours(sim: &SimHandle) -> Vec<Value> {
    sim.installations()
        .into_iter()
        .filter(|i| i["description"] == OURS)
        .collect()
}

/// A server whose installation pages hold 10, whatever berth asks for, and which never says
/// how many there are in all.
fn capped_without_total() -> SimHandle {
    sim_with(|o| {
        o.time_to_ready = std::time::Duration::ZERO;
        o.installation_page_cap = Some(10);
        o.installation_total_hidden = true;
    })
}

#[test]
fn mittwald_finds_its_installation_on_the_third_capped_page() {
    let sim = capped_without_total();
    seed_others(&sim);
    let id = seed(&sim, OURS);
    sim.clear_requests();

    let run = run(&mittwald_env(&sim, OURS));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out("id"), id);
    assert_eq!(run.json["created"], false);
    assert!(writes(&sim.requests()).is_empty(), "{:?}", posts(&sim));
    let skips: Vec<String> = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/app-installations"))
        .map(|r| r.query.clone())
        .collect();
    assert!(
        skips.iter().any(|q| q.contains("skip=20")),
        "the third page was read: {skips:?}"
    );
}

#[test]
fn mittwald_creates_one_installation_behind_capped_pages_and_then_finds_it() {
    let sim = capped_without_total();
    seed_others(&sim);
    let env = mittwald_env(&sim, OURS);

    let first = run(&env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.json["created"], true);
    assert_eq!(posts(&sim).len(), 1, "{:?}", posts(&sim));
    assert_eq!(ours(&sim).len(), 1);
    sim.clear_requests();

    let second = run(&env);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.json["created"], false);
    assert_eq!(second.out("id"), first.out("id"));
    assert!(posts(&sim).is_empty(), "{:?}", posts(&sim));
    assert_eq!(ours(&sim).len(), 1, "no duplicate");
}

#[test]
fn mittwald_refuses_to_act_on_a_list_longer_than_it_reads() {
    let sim = sim_with(|o| {
        o.time_to_ready = std::time::Duration::ZERO;
        o.installation_page_cap = Some(1);
        o.installation_total_hidden = true;
    });
    for n in 0..60 {
        seed(&sim, &format!("preview {n}"));
    }
    sim.clear_requests();

    let run = run(&mittwald_env(&sim, OURS));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(posts(&sim).is_empty(), "no create on a partial list");
    assert!(run.stderr.contains("pages"), "{}", run.stderr);
    assert_eq!(run.out("status"), "failed");
}

/// Creates an app through the simulator's Cloud Controller API, as another user would, and
/// answers its guid.
fn cf_app(sim: &SimHandle, name: &str, space: &str) -> String {
    berth::http::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/v2/apps", sim.cf_url()))
            .header("authorization", format!("bearer {TOKEN}"))
            .json(&json!({ "name": name, "space_guid": space }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["metadata"]["guid"].as_str().unwrap().to_owned()
    })
}

fn cf_writes(sim: &SimHandle) -> Vec<RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/cf/") && !matches!(r.method.as_str(), "GET" | "HEAD"))
        .collect()
}

/// A Cloud Controller whose app lists hold 2 per page and ignore their `q` filters.
fn cf_unfiltered() -> SimHandle {
    cf_sim(|o| {
        o.cf_page_cap = Some(2);
        o.cf_list_ignores_filters = true;
    })
}

#[test]
fn cloud_foundry_never_touches_an_app_of_another_space() {
    let sim = cf_unfiltered();
    let decoy = cf_app(&sim, "shop", OTHER_SPACE);
    cf_app(&sim, "blog", SPACE);
    cf_app(&sim, "shop-worker", SPACE);
    cf_app(&sim, "Shop", SPACE);
    sim.clear_requests();
    let mut env = cf_env(&sim, "shop");
    set(&mut env, "BERTH_MEMORY", "256");

    let first = run(&env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.json["created"], true);
    let created = first.out("id").to_owned();
    assert_ne!(created, decoy);
    let writes = cf_writes(&sim);
    assert!(
        writes.iter().all(|w| !w.path.contains(&decoy)),
        "the other space's app was written to: {writes:?}"
    );
    assert_eq!(
        writes.iter().filter(|w| w.method == "POST").count(),
        1,
        "{writes:?}"
    );
    sim.clear_requests();

    // Ours now sits on the third page, behind the decoy and two others with other names.
    set(&mut env, "BERTH_MEMORY", "512");
    let second = run(&env);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.out("id"), created);
    let writes = cf_writes(&sim);
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.as_str()),
        ("PUT", format!("/cf/v2/apps/{created}").as_str())
    );
    let apps = sim.cf_apps();
    let decoy_now = apps
        .iter()
        .find(|a| a["metadata"]["guid"] == decoy.as_str())
        .unwrap();
    assert_eq!(decoy_now["entity"]["memory"], 1024, "untouched");
}

#[test]
fn cloud_foundry_follows_next_url_to_its_app_on_page_two() {
    let sim = cf_unfiltered();
    cf_app(&sim, "blog", SPACE);
    cf_app(&sim, "docs", OTHER_SPACE);
    let guid = cf_app(&sim, "shop", SPACE);
    cf_app(&sim, "wiki", SPACE);
    sim.clear_requests();

    let run = run(&cf_env(&sim, "shop"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out("id"), guid);
    assert_eq!(run.json["created"], false);
    assert!(cf_writes(&sim).is_empty(), "{:?}", cf_writes(&sim));
    let lists: Vec<String> = sim
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/cf/v2/apps")
        .map(|r| r.query.clone())
        .collect();
    assert!(
        lists.iter().any(|q| q.contains("page=2")),
        "page 2 was read: {lists:?}"
    );
}
