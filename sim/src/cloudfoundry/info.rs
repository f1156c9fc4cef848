//! Discovery: the root document (`GET /cf/`), `GET /cf/v2/info` and `GET /cf/v3`, which point a
//! client at UAA, log-cache and the resources.

use serde_json::{Value, json};

use super::{API_VERSION_V2, API_VERSION_V3, CF_PREFIX, LOG_CACHE_PREFIX, UAA_PREFIX};
use crate::options::SimOptions;

const SSH_ENDPOINT: &str = "ssh.sim.invalid:2222";
const SSH_FINGERPRINT: &str = "47:0d:d1:c8:c3:3d:0a:36:d1:49:2f:f2:90:27:31:d0";

/// `GET /cf/`: the links a client discovers the platform from (`null` = not offered), in the
/// Cloud Controller's order; `cloud_controller_v2` only while v2 is on, appended last as the
/// Cloud Controller does.
pub(super) fn root(options: &SimOptions, base_url: &str) -> Value {
    let api = format!("{base_url}{CF_PREFIX}");
    let uaa = format!("{base_url}{UAA_PREFIX}");
    let mut body = json!({
        "links": {
            "self": { "href": api },
            "cloud_controller_v3": {
                "href": format!("{api}/v3"),
                "meta": { "version": API_VERSION_V3 },
            },
            "network_policy_v0": { "href": format!("{api}/networking/v0/external") },
            "network_policy_v1": { "href": format!("{api}/networking/v1/external") },
            "login": { "href": uaa },
            "uaa": { "href": uaa },
            "credhub": null,
            "routing": null,
            "logging": null,
            "log_cache": { "href": format!("{base_url}{LOG_CACHE_PREFIX}") },
            "log_stream": null,
            "app_ssh": {
                "href": SSH_ENDPOINT,
                "meta": { "host_key_fingerprint": SSH_FINGERPRINT, "oauth_client": "ssh-proxy" },
            },
        }
    });
    if !options.cf_v2_disabled {
        body["links"]["cloud_controller_v2"] = json!({
            "href": format!("{api}/v2"),
            "meta": { "version": API_VERSION_V2 },
        });
    }
    body
}

/// `GET /cf/v2/info`, keys as in reference 01.
pub(super) fn info(options: &SimOptions, base_url: &str) -> Value {
    let uaa = format!("{base_url}{UAA_PREFIX}");
    let (support, description, api_version) = if options.cf_v2_disabled {
        (
            "The CF API v2 is disabled on this foundation: use the v3 API",
            "Cloud Foundry simulated by berth; CF API v2 is disabled (cc.temporary_enable_v2: false)",
            "",
        )
    } else {
        (
            "https://docs.cloudfoundry.org",
            "Cloud Foundry simulated by berth",
            API_VERSION_V2,
        )
    };
    let host = base_url
        .strip_prefix("http://")
        .or_else(|| base_url.strip_prefix("https://"))
        .unwrap_or(base_url);
    json!({
        "name": "vcap",
        "build": "berth-sim",
        "support": support,
        "version": 2,
        "description": description,
        "authorization_endpoint": uaa,
        "token_endpoint": uaa,
        "min_cli_version": null,
        "min_recommended_cli_version": null,
        "api_version": api_version,
        "app_ssh_endpoint": SSH_ENDPOINT,
        "app_ssh_host_key_fingerprint": SSH_FINGERPRINT,
        "app_ssh_oauth_client": null,
        "routing_endpoint": format!("{base_url}{CF_PREFIX}/routing"),
        "logging_endpoint": format!("ws://{host}{CF_PREFIX}/logging"),
    })
}

/// The resources `GET /cf/v3` links to: the ones the simulator serves, in the Cloud
/// Controller's (alphabetical) order.
const V3_RESOURCES: [&str; 8] = [
    "apps",
    "builds",
    "droplets",
    "organizations",
    "packages",
    "processes",
    "spaces",
    "stacks",
];

/// `GET /cf/v3`: links to the v3 resources (no token needed).
pub(super) fn v3_root(base_url: &str) -> Value {
    let v3 = format!("{base_url}{CF_PREFIX}/v3");
    let mut links = serde_json::Map::new();
    links.insert("self".to_owned(), json!({ "href": v3 }));
    for resource in V3_RESOURCES {
        links.insert(
            resource.to_owned(),
            json!({ "href": format!("{v3}/{resource}") }),
        );
    }
    json!({ "links": links })
}
