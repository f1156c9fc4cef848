//! The simulated Cloud Foundry: the Cloud Controller API v2 and v3 under [`CF_PREFIX`], its UAA
//! under [`UAA_PREFIX`], and log-cache under [`LOG_CACHE_PREFIX`].
//!
//! mittwald already owns `/v2/apps` at the root, so Cloud Foundry lives under a prefix: a client's
//! API base URL is `{sim}/cf` and it discovers UAA at `{sim}/uaa` from `GET /cf/` or
//! `GET /cf/v2/info`. Like the real platform, URLs inside v2 bodies (`metadata.url`, `next_url`,
//! `Location`) are relative to that API base, v3's links absolute.
//!
//! v2 and v3 are two views of one state, as on a real foundation: an app created through either
//! is listed, changed, staged and started through both (v2's `instances`, `memory`,
//! `environment_json` or `buildpack` are v3's web process, environment variables and
//! lifecycle; a v2 upload is a package, a v2 start stages it in a build whose droplet becomes
//! current). [`SimOptions::cf_v2_disabled`](crate::SimOptions::cf_v2_disabled) switches v2
//! off, as foundations are by default since CAPI 1.201.0.
//!
//! v2 bodies follow the recorded responses in `shared/reference/cloudfoundry-v2/examples` key
//! for key; errors follow the Cloud Controller's catalogue (`errors/v2.yml`). Where the docs are
//! silent, behaviour follows cloud_controller_ng: starting an app without bits answers
//! `CF-AppPackageInvalid`, `/instances` checks a failed staging before a pending one before a
//! stopped app, a finished (or unknown) job answers the "null job", a missing token is
//! `CF-NotAuthenticated` and a wrong one `CF-InvalidAuthToken`. v3 is described in its module.
//!
//! Each resource has its module: `info` (discovery), `uaa` (tokens), `foundation`
//! (organizations, spaces, stacks), `apps` (the model both versions share, v2's bodies, with
//! `messages`, the create and update bodies, and `lists`), `staging` (packages and builds),
//! `bits` (v2 uploads and their jobs), `routes` (the routes both versions share, with
//! `v2_routes`, their v2 bodies), `errors`, and `v3`.

mod apps;
mod bits;
mod errors;
mod foundation;
mod info;
mod lists;
mod logs;
mod messages;
mod rollout;
mod routes;
mod sha256;
mod staging;
mod uaa;
mod v2_routes;
mod v3;

pub(crate) use errors::{cf_error_for_status, uaa_error_for_status};
pub use foundation::{
    CFLINUXFS3_STACK_GUID, CfDomain, CfOrg, CfSpace, CfStack, DEFAULT_CF_DOMAIN_GUID,
    DEFAULT_CF_DOMAIN_NAME, DEFAULT_CF_ORG_GUID, DEFAULT_CF_ORG_NAME, DEFAULT_CF_SPACE_GUID,
    DEFAULT_CF_SPACE_NAME, TCP_CF_DOMAIN_GUID, TCP_CF_DOMAIN_NAME, TCP_ROUTER_GROUP_GUID,
};
pub(crate) use foundation::{default_domains, default_orgs, default_spaces, default_stacks};

use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::options::SimOptions;
use crate::request::{Reply, Request};
use apps::{App, instances};
use bits::{Job, apply_bits, null_job};
use errors::{APP_NOT_FOUND, NOT_FOUND, ORGANIZATION_NOT_FOUND, SPACE_NOT_FOUND, STACK_NOT_FOUND};
use info::{info, root, v3_root};
use lists::{list_orgs, list_spaces, list_stacks};
use uaa::Issued;

/// Path prefix of the Cloud Controller API: its base URL is `{sim}/cf`.
pub const CF_PREFIX: &str = "/cf";
/// Path prefix of UAA: the token endpoint is `{sim}/uaa/oauth/token`.
pub const UAA_PREFIX: &str = "/uaa";
/// Path prefix of log-cache (the root document's `links.log_cache`): an app's staging and
/// instance lines, `GET {sim}/log-cache/api/v1/read/{app_guid}`.
pub const LOG_CACHE_PREFIX: &str = "/log-cache";
/// The user the password grant accepts unless [`SimOptions::cf_users`] says otherwise.
pub const DEFAULT_CF_USER: &str = "admin";
/// [`DEFAULT_CF_USER`]'s password.
pub const DEFAULT_CF_PASSWORD: &str = "admin-password";
/// The client the client-credentials grant accepts unless [`SimOptions::cf_clients`] says
/// otherwise.
pub const DEFAULT_CF_CLIENT: &str = "berth-ci";
/// [`DEFAULT_CF_CLIENT`]'s secret.
pub const DEFAULT_CF_CLIENT_SECRET: &str = "berth-ci-secret";
/// The client the cf CLI logs users in with (`Authorization: Basic Y2Y6`, empty secret); UAA
/// always knows it.
pub const CF_CLI_CLIENT: &str = "cf";
/// Stack of apps created without `stack_guid` (made up; it stands for `cflinuxfs4`).
pub const DEFAULT_STACK_GUID: &str = "6f5d2c1e-3b2a-4c7e-9f0d-8a1b2c3d4e5f";
/// `api_version` of `/v2/info` and `cloud_controller_v2.meta.version` of the root document.
pub const API_VERSION_V2: &str = "2.293.0";
/// `cloud_controller_v3.meta.version` of the root document.
pub const API_VERSION_V3: &str = "3.128.0";

/// The simulated platform state: issued tokens, apps (with their packages and builds), v2's
/// bits-upload jobs and v3's jobs.
#[derive(Default)]
pub(crate) struct CloudFoundry {
    tokens: VecDeque<Issued>,
    apps: Vec<App>,
    jobs: VecDeque<Job>,
    v3_jobs: VecDeque<v3::V3Job>,
    /// Routes of every space, oldest first.
    routes: Vec<routes::Route>,
    /// v3 deployments, oldest first.
    deployments: Vec<v3::Deployment>,
}

/// The Cloud Controller routes, found before authentication so unknown paths answer 404.
enum Route<'a> {
    ListApps(Option<&'a str>),
    CreateApp,
    GetApp(&'a str),
    UpdateApp(&'a str),
    DeleteApp(&'a str),
    UploadBits(&'a str),
    Instances(&'a str),
    Summary(&'a str),
    Job(&'a str),
    ListOrgs,
    GetOrg(&'a str),
    ListSpaces,
    GetSpace(&'a str),
    ListStacks,
    GetStack(&'a str),
    SharedDomains,
    PrivateDomains(Option<&'a str>),
    GetDomain(&'a str, bool),
    ListRoutes(Option<&'a str>),
    PostRoutes,
    MapApp(&'a str, &'a str),
}

fn route<'a>(method: &str, segments: &[&'a str]) -> Option<Route<'a>> {
    Some(match (method, segments) {
        ("GET", ["v2", "apps"]) => Route::ListApps(None),
        ("GET", ["v2", "spaces", space, "apps"]) => Route::ListApps(Some(space)),
        ("POST", ["v2", "apps"]) => Route::CreateApp,
        ("GET", ["v2", "apps", guid]) => Route::GetApp(guid),
        ("PUT", ["v2", "apps", guid]) => Route::UpdateApp(guid),
        ("DELETE", ["v2", "apps", guid]) => Route::DeleteApp(guid),
        ("PUT", ["v2", "apps", guid, "bits"]) => Route::UploadBits(guid),
        ("GET", ["v2", "apps", guid, "instances"]) => Route::Instances(guid),
        ("GET", ["v2", "apps", guid, "summary"]) => Route::Summary(guid),
        ("GET", ["v2", "jobs", guid]) => Route::Job(guid),
        ("GET", ["v2", "organizations"]) => Route::ListOrgs,
        ("GET", ["v2", "organizations", guid]) => Route::GetOrg(guid),
        ("GET", ["v2", "spaces"]) => Route::ListSpaces,
        ("GET", ["v2", "spaces", guid]) => Route::GetSpace(guid),
        ("GET", ["v2", "stacks"]) => Route::ListStacks,
        ("GET", ["v2", "stacks", guid]) => Route::GetStack(guid),
        ("GET", ["v2", "shared_domains"]) => Route::SharedDomains,
        ("GET", ["v2", "private_domains"]) => Route::PrivateDomains(None),
        ("GET", ["v2", "shared_domains", guid]) => Route::GetDomain(guid, true),
        ("GET", ["v2", "private_domains", guid]) => Route::GetDomain(guid, false),
        ("GET", ["v2", "organizations", guid, "private_domains"]) => {
            Route::PrivateDomains(Some(guid))
        }
        ("GET", ["v2", "routes"]) => Route::ListRoutes(None),
        ("GET", ["v2", "apps", guid, "routes"]) => Route::ListRoutes(Some(guid)),
        ("POST", ["v2", "routes"]) => Route::PostRoutes,
        ("PUT", ["v2", "routes", guid, "apps", app]) => Route::MapApp(guid, app),
        _ => return None,
    })
}

impl CloudFoundry {
    /// Answers `request` if it is under `/cf`, `/uaa` or `/log-cache`. `base_url` is the simulator's URL as
    /// the client reached it, for the absolute URLs of discovery documents.
    pub(crate) fn handle(
        &mut self,
        options: &SimOptions,
        request: &Request,
        now: Instant,
        base_url: &str,
    ) -> Option<Reply> {
        if is_cloud_controller(request) {
            let segments = request.segments();
            Some(self.cloud_controller(options, request, &segments[1..], now, base_url))
        } else if is_uaa(request) {
            let segments = request.segments();
            Some(self.uaa(options, request, &segments[1..]))
        } else if is_log_cache(request) {
            let segments = request.segments();
            Some(self.log_cache(options, request, &segments[1..]))
        } else {
            None
        }
    }

    /// Every app's body as `GET /v2/apps/{guid}` shows it, plus `_bits`: the newest uploaded
    /// byte count, file names and SHA-256, or null.
    pub(crate) fn app_bodies(&mut self, now: Instant) -> Vec<Value> {
        self.settle(now);
        self.apps
            .iter()
            .map(|app| {
                let mut body = app.resource(now);
                body["_bits"] = match app.latest_bits(now) {
                    Some(bits) => json!({
                        "bytes": bits.bytes,
                        "files": bits.files,
                        "sha256": bits.sha256,
                    }),
                    None => Value::Null,
                };
                body
            })
            .collect()
    }

    /// The newest uploaded zip of app `guid` as it was stored, if any (its bytes are read from
    /// disk: for tests, with small packages).
    pub(crate) fn latest_zip(
        &mut self,
        guid: &str,
        now: Instant,
    ) -> Option<std::io::Result<Vec<u8>>> {
        self.settle(now);
        let app = self.apps.iter().find(|app| app.guid == guid)?;
        let zip = app.latest_bits(now)?.zip.as_ref()?;
        Some(zip.bytes())
    }

    /// Lets finished v2 uploads reach their apps, oldest first, and finished v2 stagings give
    /// their droplets to their apps.
    fn settle(&mut self, now: Instant) {
        for job in self.jobs.iter_mut() {
            if job.applied || !job.finished(now) {
                continue;
            }
            job.applied = true;
            if let Ok(bits) = &job.outcome
                && let Some(app) = self.apps.iter_mut().find(|app| app.guid == job.app_guid)
            {
                apply_bits(app, bits.clone(), now);
            }
        }
        // A finished successful job answers the null job, like an unknown one: forget it.
        self.jobs
            .retain(|job| !(job.applied && job.outcome.is_ok()));
        for app in &mut self.apps {
            app.settle(now);
        }
        self.settle_rollouts(now);
    }

    /// How long the app `guid` had no RUNNING instance so far (see `rollout`); zero for an
    /// unknown app.
    pub(crate) fn downtime(&mut self, guid: &str, now: Instant) -> std::time::Duration {
        self.settle(now);
        self.find(guid).map_or(std::time::Duration::ZERO, |index| {
            self.apps[index].downtime_until(now)
        })
    }

    fn cloud_controller(
        &mut self,
        options: &SimOptions,
        request: &Request,
        segments: &[&str],
        now: Instant,
        base_url: &str,
    ) -> Reply {
        self.settle(now);
        let method = request.method.as_str();
        match (method, segments) {
            ("GET", []) => return Reply::json(200, &root(options, base_url)),
            ("GET", ["v2", "info"]) => return Reply::json(200, &info(options, base_url)),
            ("GET", ["v3"]) => return Reply::json(200, &v3_root(base_url)),
            (_, ["v3", rest @ ..]) => return self.v3(options, request, rest, now, base_url),
            (_, ["v2", ..]) if options.cf_v2_disabled => {
                // capi-release's nginx blocks v2 with a plain-text 404 before the Cloud Controller.
                return Reply::raw(404, "V2 endpoints disabled".to_owned())
                    .with_header("content-type", "text/plain");
            }
            _ => {}
        }
        let Some(route) = route(method, segments) else {
            return NOT_FOUND.reply("");
        };
        if let Err(reply) = self.authorize(options, request) {
            return reply;
        }
        match route {
            Route::ListApps(space) => self.list_apps(options, request, space, now),
            Route::CreateApp => self.create_app(options, request, now),
            Route::GetApp(guid) => self.with_app(guid, |app| Reply::json(200, &app.resource(now))),
            Route::UpdateApp(guid) => self.update_app(options, request, guid, now),
            Route::DeleteApp(guid) => match self.find(guid) {
                Some(index) => {
                    self.apps.remove(index);
                    self.forget_destinations_of(guid);
                    Reply::empty(204)
                }
                None => APP_NOT_FOUND.reply(guid),
            },
            Route::UploadBits(guid) => self.upload_bits(options, request, guid, now),
            Route::Instances(guid) => self.with_app(guid, |app| instances(app, now)),
            Route::Summary(guid) => self.with_app(guid, |app| Reply::json(200, &app.summary(now))),
            Route::Job(guid) => {
                let body = self
                    .jobs
                    .iter()
                    .find(|job| job.guid == guid)
                    .map_or_else(null_job, |job| job.body(now));
                Reply::json(200, &body)
            }
            Route::ListOrgs => list_orgs(options, request),
            Route::GetOrg(guid) => options
                .cf_orgs
                .iter()
                .find(|org| org.guid.eq_ignore_ascii_case(guid))
                .map_or_else(
                    || ORGANIZATION_NOT_FOUND.reply(guid),
                    |org| Reply::json(200, &foundation::v2_org(org)),
                ),
            Route::ListSpaces => list_spaces(options, request),
            Route::GetSpace(guid) => foundation::space(options, guid).map_or_else(
                || SPACE_NOT_FOUND.reply(guid),
                |space| Reply::json(200, &foundation::v2_space(space)),
            ),
            Route::ListStacks => list_stacks(options, request),
            Route::GetStack(guid) => foundation::stack_by_guid(options, guid).map_or_else(
                || STACK_NOT_FOUND.reply(guid),
                |stack| Reply::json(200, &foundation::v2_stack(stack)),
            ),
            Route::SharedDomains => v2_routes::list_domains(options, request, true, None),
            Route::PrivateDomains(org) => v2_routes::list_domains(options, request, false, org),
            Route::GetDomain(guid, shared) => v2_routes::get_domain(options, guid, shared),
            Route::ListRoutes(app) => self.v2_list_routes(options, request, app),
            Route::PostRoutes => self.v2_create_route(options, request),
            Route::MapApp(guid, app) => self.v2_map_route(options, guid, app),
        }
    }
}

impl CloudFoundry {
    /// log-cache's read endpoint, with the Cloud Controller's token: an app's lines as
    /// [`logs`] describes them; any other source id has none. Out of order
    /// ([`SimOptions::cf_log_cache_outage`]) it answers 503 like its gateway behind a router
    /// (the connection-reset mode is the platform's, see `platform.rs`).
    fn log_cache(&self, options: &SimOptions, request: &Request, segments: &[&str]) -> Reply {
        let source_id = match (request.method.as_str(), segments) {
            ("GET", ["api", "v1", "read", source_id]) => *source_id,
            _ => return Reply::json(404, &json!({ "error": "not found" })),
        };
        if options.cf_log_cache_outage.is_some() {
            return Reply::json(
                503,
                &json!({ "error": "log-cache unavailable", "code": 14, "message": "log-cache unavailable" }),
            );
        }
        if self.authorize(options, request).is_err() {
            return Reply::json(401, &json!({ "error": "Unauthorized" }));
        }
        let lines = self
            .find(source_id)
            .map_or(&[][..], |index| self.apps[index].logs.as_slice());
        logs::read(options, request, source_id, lines, SystemTime::now())
    }
}

/// Whether `request` is for the Cloud Controller (under [`CF_PREFIX`]).
pub(crate) fn is_cloud_controller(request: &Request) -> bool {
    request.segments.first().is_some_and(|first| first == "cf")
}

/// Whether `request` uploads a package's bits (`PUT /cf/v2/apps/{guid}/bits`,
/// `POST /cf/v3/packages/{guid}/upload`): its body is streamed to disk, up to
/// [`SimOptions::cf_max_package_bytes`].
pub(crate) fn is_package_upload(request: &Request) -> bool {
    let segments = request.segments();
    matches!(
        (request.method.as_str(), segments.as_slice()),
        ("PUT", ["cf", "v2", "apps", _, "bits"]) | ("POST", ["cf", "v3", "packages", _, "upload"])
    )
}

/// The answer to a package larger than the foundation takes. On a real foundation the
/// Cloud Controller's nginx (capi-release's `nginx.conf`, `client_max_body_size` from
/// `cc.app_bits_max_body_size` on the bits upload locations) refuses it before Cloud Controller
/// sees anything, with nginx's own HTML page and `Connection: close`, as soon as
/// `Content-Length` is over the limit or the bytes read so far are; it is not a Cloud
/// Controller error body. The simulator's limit is Cloud Controller's own package limit
/// (`packages.max_package_size`, 1 GiB by default), the one users meet.
pub(crate) fn package_too_large() -> Reply {
    Reply::raw(
        413,
        "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n\
         <center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n\
         </body>\r\n</html>\r\n"
            .to_owned(),
    )
    .with_header("content-type", "text/html")
    .with_header("connection", "close")
}

/// Whether `request` is for UAA (under [`UAA_PREFIX`]).
pub(crate) fn is_uaa(request: &Request) -> bool {
    request.segments.first().is_some_and(|first| first == "uaa")
}

/// Whether `request` is for log-cache (under [`LOG_CACHE_PREFIX`]).
pub(crate) fn is_log_cache(request: &Request) -> bool {
    request
        .segments
        .first()
        .is_some_and(|first| first == "log-cache")
}

/// The `X-Cf-Warnings` value for `text`: each line one warning, form-encoded like the Cloud
/// Controller does, joined with commas.
pub(crate) fn encode_warnings(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(form_encode)
        .collect::<Vec<_>>()
        .join(",")
}

/// What [`form_encode`] leaves as it is: letters, digits and `*-._~`.
const FORM_KEEPS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Ruby's `CGI.escape`: unreserved characters stay, a space becomes `+`, the rest `%XX`.
pub(super) fn form_encode(text: &str) -> String {
    text.split(' ')
        .map(|words| utf8_percent_encode(words, FORM_KEEPS).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A guid that is always the same for `seed` (a SHA-256 shaped as a version-4 UUID), for what
/// must not change between reads, e.g. an instance's guid within one start.
fn stable_guid(seed: &str) -> String {
    let hex = sha256::sha256_hex(seed.as_bytes());
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

fn is_guid(text: &str) -> bool {
    text.len() == 36 && uuid::Uuid::try_parse(text).is_ok()
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn warnings_are_form_encoded_one_per_line() {
        assert_eq!(
            encode_warnings("Warning: Warning message may go here."),
            "Warning%3A+Warning+message+may+go+here."
        );
        assert_eq!(encode_warnings("a, b\nc"), "a%2C+b,c");
        assert_eq!(encode_warnings("ü  ~*/"), "%C3%BC++~*%2F");
    }
}
