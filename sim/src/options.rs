//! How the simulated platforms behave ([`SimOptions`]), and the options as the control API
//! shows them (`GET /__sim/options`) and changes them (`PATCH /__sim/options`: the body laid
//! over the options as JSON).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use crate::cloudfoundry::{self, CfDomain, CfOrg, CfSpace, CfStack};

/// The API token the simulator accepts unless [`SimOptions::token`] says otherwise.
pub const DEFAULT_TOKEN: &str = "sim-token";

/// [`SimOptions::seed`] unless given: the same faults hit the same requests on every run.
pub const DEFAULT_SEED: u64 = 0x6265_7274_6873_696d;

/// [`SimOptions::cf_max_package_bytes`] unless given: 1 GiB, Cloud Controller's default
/// `packages.max_package_size`.
pub const DEFAULT_CF_MAX_PACKAGE_BYTES: u64 = 1024 * 1024 * 1024;

/// How the simulated platform behaves. Change it while running with
/// [`SimHandle::set_options`](crate::SimHandle::set_options) or `PATCH /__sim/options`.
///
/// As JSON (the control API's `/__sim/options`), durations are whole milliseconds under their
/// name with `_ms` appended (`time_to_ready_ms`), so any language can send them; keys left out
/// take the default.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimOptions {
    /// The accepted API token (`X-Access-Token: …` or `Authorization: Bearer …`).
    pub token: String,
    /// How long a new installation, or one changed by an upgrading or reconfiguring PATCH,
    /// takes to become ready. Zero means ready at once.
    #[serde(rename = "time_to_ready_ms", with = "millis")]
    pub time_to_ready: Duration,
    /// Phases a new installation shows before `ready`, each for an equal share of
    /// `time_to_ready`.
    pub phases: Vec<String>,
    /// After a write, a GET of that installation without an `if-event-reached` header answers
    /// 404 for this long, like the real platform's eventual consistency.
    #[serde(rename = "consistency_delay_ms", with = "millis")]
    pub consistency_delay: Duration,
    /// mittwald: the installation list answers at most this many per page (at least 1),
    /// whatever `limit` asks for, and says so in `X-Pagination-Limit`, as an API whose
    /// largest page is smaller than a client's request does. `None`: `limit` is taken as asked.
    pub installation_page_cap: Option<usize>,
    /// mittwald: the installation list leaves `X-Pagination-TotalCount` out (a gateway that
    /// drops it), so a client learns the end of the list only from a short or empty page.
    pub installation_total_hidden: bool,
    /// mittwald: every project's `directories["Web"]`, the directory the web root and each
    /// installation's `installationPath` live under (the docs always show `/html`; clients must
    /// read it from `GET /v2/projects/{id}`, not assume it).
    pub web_dir: String,
    /// mittwald: how long a new SSH user (or one whose `publicKeys` a PATCH replaced) is refused
    /// at login after the API answered, as the platform activates users asynchronously
    /// (deployer-recipes retries 10 times 5 s apart).
    #[serde(rename = "ssh_activation_ms", with = "millis")]
    pub ssh_activation: Duration,
    /// mittwald: how long an app's process stays `stopped` after `mittnitectl job restart`
    /// before it runs again (or exits, see [`SimOptions::app_exit_code`]).
    #[serde(rename = "app_restart_ms", with = "millis")]
    pub app_restart: Duration,
    /// mittwald: after the next restarts the app's process exits with this code instead of
    /// running (`state: exited`, `lastExitCode`), as an app whose new code crashes at start.
    /// `None`: it runs.
    pub app_exit_code: Option<i32>,
    /// Requests allowed per window (`X-RateLimit-Limit`).
    pub rate_limit: u32,
    /// Length of one rate-limit window.
    #[serde(rename = "rate_window_ms", with = "millis")]
    pub rate_window: Duration,
    /// Cloud Foundry: `(username, password)` pairs UAA's password grant accepts (with the cf CLI's
    /// client `cf` and its empty secret, or any of `cf_clients`).
    #[serde(deserialize_with = "deserialize_credentials")]
    pub cf_users: Vec<(String, String)>,
    /// Cloud Foundry: `(client_id, client_secret)` pairs UAA's client-credentials grant accepts.
    /// [`SimOptions::token`] is accepted as a Cloud Controller bearer token too.
    #[serde(deserialize_with = "deserialize_credentials")]
    pub cf_clients: Vec<(String, String)>,
    /// Cloud Foundry: how long staging takes once an app is started (`package_state` PENDING,
    /// then STAGED or FAILED).
    #[serde(rename = "cf_staging_time_ms", with = "millis")]
    pub cf_staging_time: Duration,
    /// Cloud Foundry: how long instances stay STARTING after staging before they are RUNNING
    /// (or CRASHED).
    #[serde(rename = "cf_startup_time_ms", with = "millis")]
    pub cf_startup_time: Duration,
    /// Cloud Foundry: how long a bits upload job takes (queued for the first half, then
    /// running, then finished or failed).
    #[serde(rename = "cf_job_time_ms", with = "millis")]
    pub cf_job_time: Duration,
    /// Cloud Foundry: how long a token UAA issues is accepted (its `expires_in`); after that the
    /// Cloud Controller answers 401 `CF-InvalidAuthToken`, as for a token that expired.
    #[serde(rename = "cf_token_lifetime_ms", with = "millis")]
    pub cf_token_lifetime: Duration,
    /// Cloud Foundry: staging ends FAILED with `staging_failed_reason` `StagingError`.
    pub cf_staging_fails: bool,
    /// Cloud Foundry: instances end CRASHED instead of RUNNING.
    pub cf_crashes: bool,
    /// Cloud Foundry: v2 is switched off, as by default since CAPI 1.201.0: `/v2/info` answers
    /// with an empty `api_version`, every other `/v2/*` route 404 "V2 endpoints disabled".
    pub cf_v2_disabled: bool,
    /// Cloud Foundry: lists answer at most this many results per page (at least 1), whatever
    /// `results-per-page` (v2) or `per_page` (v3) asks for; the page counts and links follow
    /// the smaller page, as the Cloud Controller writes them. `None`: as asked (up to 100 in
    /// v2, 5000 in v3).
    pub cf_page_cap: Option<usize>,
    /// Cloud Foundry: lists ignore their filters (v2 `q`, v3 `names`, `space_guids`, ...) and
    /// list every item, e.g. apps of every name and space (the filters are still validated,
    /// and kept in the page links), as a misbehaving proxy or an older Cloud Controller
    /// might: a client has to check what it was given.
    pub cf_list_ignores_filters: bool,
    /// Cloud Foundry: the organizations (`[{"guid", "name"}]`). By default one,
    /// [`DEFAULT_CF_ORG_NAME`](crate::cloudfoundry::DEFAULT_CF_ORG_NAME).
    pub cf_orgs: Vec<CfOrg>,
    /// Cloud Foundry: the spaces (`[{"guid", "name", "organization_guid"}]`). By default one,
    /// [`DEFAULT_CF_SPACE_GUID`](crate::cloudfoundry::DEFAULT_CF_SPACE_GUID) named `dev` in
    /// the default organization. v3 creates apps only in these; v2 takes any space guid.
    pub cf_spaces: Vec<CfSpace>,
    /// Cloud Foundry: the stacks (`[{"guid", "name", "description"}]`); the first is the
    /// default of v3 apps that name none. By default `cflinuxfs4`
    /// ([`DEFAULT_STACK_GUID`](crate::cloudfoundry::DEFAULT_STACK_GUID)) and `cflinuxfs3`
    /// ([`CFLINUXFS3_STACK_GUID`](crate::cloudfoundry::CFLINUXFS3_STACK_GUID)).
    pub cf_stacks: Vec<CfStack>,
    /// Cloud Foundry: the shared domains (`[{"guid", "name", "internal", "router_group_guid"}]`),
    /// usable by every organization; the first HTTP one that is not internal is each
    /// organization's default domain. By default
    /// [`DEFAULT_CF_DOMAIN_NAME`](crate::cloudfoundry::DEFAULT_CF_DOMAIN_NAME) (HTTP) and
    /// [`TCP_CF_DOMAIN_NAME`](crate::cloudfoundry::TCP_CF_DOMAIN_NAME) (TCP, with a router
    /// group).
    pub cf_domains: Vec<CfDomain>,
    /// Cloud Foundry log-cache: a line becomes readable only this long after its timestamp,
    /// as log-cache's delivery lags behind the platform.
    #[serde(rename = "cf_log_lag_ms", with = "millis")]
    pub cf_log_lag: Duration,
    /// Cloud Foundry log-cache: the share of log lines (0 to 1) that never arrive, drawn once
    /// per line when it is written from [`SimOptions::seed`], as loggregator drops lines under
    /// load.
    pub cf_log_gaps: f64,
    /// Cloud Foundry log-cache: out of order. `"unavailable"`: every read answers 503;
    /// `"reset"`: the connection is closed without an answer. `None`: serving.
    pub cf_log_cache_outage: Option<LogCacheOutage>,
    /// Cloud Foundry: every Cloud Controller response carries this in `X-Cf-Warnings`
    /// (form-encoded; each line one warning, comma-separated like the platform does).
    pub cf_warnings: Option<String>,
    /// Cloud Foundry: the largest package upload accepted (`PUT /v2/apps/{guid}/bits`,
    /// `POST /v3/packages/{guid}/upload`), in bytes of the whole multipart body; by default
    /// [`DEFAULT_CF_MAX_PACKAGE_BYTES`], Cloud Controller's `packages.max_package_size`.
    /// Uploads are streamed to disk, so any size up to this keeps the simulator's memory flat;
    /// a larger one is answered 413 as soon as its `Content-Length` (or the bytes counted so
    /// far) says so, as the foundation's nginx does.
    pub cf_max_package_bytes: u64,
    /// Seed of the random draws of faults with a
    /// [`Fault::probability`](crate::Fault::probability): one seed, one sequence of faulted
    /// requests.
    pub seed: u64,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            token: DEFAULT_TOKEN.to_owned(),
            time_to_ready: Duration::from_secs(3),
            phases: vec!["pending".to_owned(), "installing".to_owned()],
            consistency_delay: Duration::from_secs(1),
            installation_page_cap: None,
            installation_total_hidden: false,
            web_dir: "/html".to_owned(),
            ssh_activation: Duration::from_millis(1500),
            app_restart: Duration::from_millis(1000),
            app_exit_code: None,
            rate_limit: 600,
            rate_window: Duration::from_secs(60),
            cf_users: vec![(
                cloudfoundry::DEFAULT_CF_USER.to_owned(),
                cloudfoundry::DEFAULT_CF_PASSWORD.to_owned(),
            )],
            cf_clients: vec![(
                cloudfoundry::DEFAULT_CF_CLIENT.to_owned(),
                cloudfoundry::DEFAULT_CF_CLIENT_SECRET.to_owned(),
            )],
            cf_staging_time: Duration::from_secs(2),
            cf_startup_time: Duration::from_secs(1),
            cf_job_time: Duration::from_millis(300),
            // UAA's default: 12 hours less a second.
            cf_token_lifetime: Duration::from_secs(43_199),
            cf_staging_fails: false,
            cf_crashes: false,
            cf_v2_disabled: false,
            cf_page_cap: None,
            cf_list_ignores_filters: false,
            cf_orgs: cloudfoundry::default_orgs(),
            cf_spaces: cloudfoundry::default_spaces(),
            cf_stacks: cloudfoundry::default_stacks(),
            cf_domains: cloudfoundry::default_domains(),
            cf_log_lag: Duration::ZERO,
            cf_log_gaps: 0.0,
            cf_log_cache_outage: None,
            cf_warnings: None,
            cf_max_package_bytes: DEFAULT_CF_MAX_PACKAGE_BYTES,
            seed: DEFAULT_SEED,
        }
    }
}

/// How log-cache fails while [`SimOptions::cf_log_cache_outage`] says it is out of order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogCacheOutage {
    /// Every read answers 503 with a gateway's JSON error.
    Unavailable,
    /// The connection is closed without an answer.
    Reset,
}

/// `options` with a `PATCH /__sim/options` body laid over them: each key given replaces that
/// option (`null` lifts a cap or clears the warnings), the others stay; and whether the body
/// named a `seed`, which restarts the random draws even when unchanged.
pub(crate) fn patched(options: &SimOptions, body: &[u8]) -> serde_json::Result<(SimOptions, bool)> {
    let patch: Map<String, Value> = serde_json::from_slice(body)?;
    let reseed = patch.contains_key("seed");
    let mut merged = match serde_json::to_value(options)? {
        Value::Object(current) => current,
        _ => Map::new(),
    };
    merged.extend(patch);
    Ok((serde_json::from_value(Value::Object(merged))?, reseed))
}

/// Credentials as `[[name, secret]]`, `[{"username": .., "password": ..}]` or
/// `[{"client_id": .., "client_secret": ..}]`.
fn deserialize_credentials<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<(String, String)>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Credential {
        Pair(String, String),
        User {
            username: String,
            password: String,
        },
        Client {
            client_id: String,
            client_secret: String,
        },
    }
    let credentials = Vec::<Credential>::deserialize(deserializer)?;
    Ok(credentials
        .into_iter()
        .map(|credential| match credential {
            Credential::Pair(name, secret)
            | Credential::User {
                username: name,
                password: secret,
            }
            | Credential::Client {
                client_id: name,
                client_secret: secret,
            } => (name, secret),
        })
        .collect())
}

/// Durations as whole milliseconds.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// The options as `GET /__sim/options` shows them.
pub(crate) fn options_json(options: &SimOptions) -> Value {
    let mut body = serde_json::to_value(options).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut body {
        // The token and the Cloud Foundry secrets are left out: the control API needs none, so
        // it must not hand them out either.
        map.shift_remove("token");
        let names = |pairs: &[(String, String)]| -> Value {
            pairs.iter().map(|(name, _)| json!(name)).collect()
        };
        map.insert("cf_users".to_owned(), names(&options.cf_users));
        map.insert("cf_clients".to_owned(), names(&options.cf_clients));
    }
    body
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn an_options_patch_replaces_only_the_keys_it_gives() {
        let options = SimOptions::default();
        let body = br#"{"time_to_ready_ms": 250, "cf_page_cap": 3, "token": "t"}"#;
        let (changed, reseed) = patched(&options, body).unwrap();
        assert_eq!(changed.time_to_ready, Duration::from_millis(250));
        assert_eq!(changed.cf_page_cap, Some(3));
        assert_eq!(changed.token, "t");
        assert_eq!(changed.phases, options.phases);
        assert_eq!(changed.cf_users, options.cf_users);
        assert!(!reseed);
        let (lifted, reseed) = patched(&changed, br#"{"cf_page_cap": null, "seed": 7}"#).unwrap();
        assert_eq!(lifted.cf_page_cap, None);
        assert_eq!(lifted.seed, 7);
        assert!(reseed);
        let users = br#"{"cf_users": [{"username": "u", "password": "p"}, ["v", "q"]]}"#;
        let (users, _) = patched(&options, users).unwrap();
        assert_eq!(
            users.cf_users,
            [("u".into(), "p".into()), ("v".into(), "q".into())]
        );
        for wrong in [
            &br#"{"time_to_ready": 5}"#[..],
            br#"{"rate_limit": "7"}"#,
            b"[]",
        ] {
            assert!(patched(&options, wrong).is_err());
        }
    }

    #[test]
    fn the_options_are_shown_without_secrets() {
        let body = options_json(&SimOptions::default());
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "time_to_ready_ms",
                "phases",
                "consistency_delay_ms",
                "installation_page_cap",
                "installation_total_hidden",
                "web_dir",
                "ssh_activation_ms",
                "app_restart_ms",
                "app_exit_code",
                "rate_limit",
                "rate_window_ms",
                "cf_users",
                "cf_clients",
                "cf_staging_time_ms",
                "cf_startup_time_ms",
                "cf_job_time_ms",
                "cf_token_lifetime_ms",
                "cf_staging_fails",
                "cf_crashes",
                "cf_v2_disabled",
                "cf_page_cap",
                "cf_list_ignores_filters",
                "cf_orgs",
                "cf_spaces",
                "cf_stacks",
                "cf_domains",
                "cf_log_lag_ms",
                "cf_log_gaps",
                "cf_log_cache_outage",
                "cf_warnings",
                "cf_max_package_bytes",
                "seed",
            ]
        );
        assert_eq!(body["cf_users"], json!([cloudfoundry::DEFAULT_CF_USER]));
        assert_eq!(body["cf_clients"], json!([cloudfoundry::DEFAULT_CF_CLIENT]));
        assert_eq!(body["time_to_ready_ms"], 3000);
    }
}
