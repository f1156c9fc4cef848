//! The simulated Cloud Foundry: the Cloud Controller API v2 under [`CF_PREFIX`] and its UAA under
//! [`UAA_PREFIX`].
//!
//! mittwald already owns `/v2/apps` at the root, so Cloud Foundry lives under a prefix: a client's
//! API base URL is `{sim}/cf` and it discovers UAA at `{sim}/uaa` from `GET /cf/` or
//! `GET /cf/v2/info`. Like the real platform, URLs inside bodies (`metadata.url`, `next_url`,
//! `Location`) are relative to that API base.
//!
//! Bodies follow the recorded responses in `shared/reference/cloudfoundry-v2/examples` key for
//! key; errors follow the Cloud Controller's catalogue (`errors-v2.yml`). Where the docs are
//! silent, behaviour follows cloud_controller_ng: starting an app without bits answers
//! `CF-AppPackageInvalid`, `/instances` checks a failed staging before a pending one before a
//! stopped app, a finished (or unknown) job answers the "null job", a missing token is
//! `CF-NotAuthenticated` and a wrong one `CF-InvalidAuthToken`.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::{Reply, Request, SimOptions};

/// Path prefix of the Cloud Controller API: its base URL is `{sim}/cf`.
pub const CF_PREFIX: &str = "/cf";
/// Path prefix of UAA: the token endpoint is `{sim}/uaa/oauth/token`.
pub const UAA_PREFIX: &str = "/uaa";
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
/// `cloud_controller_v3.meta.version` of the root document (v3 itself is not simulated).
pub const API_VERSION_V3: &str = "3.128.0";

/// Issued tokens beyond this many push out the oldest, so a long `berth sim` stays bounded.
const MAX_TOKENS: usize = 10_000;
/// Jobs kept for `GET /v2/jobs/{guid}` beyond this many push out the oldest.
const MAX_JOBS: usize = 10_000;
/// `results-per-page` when the caller gives none, and the most it may ask for.
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 100;
const HEALTH_CHECK_TYPES: [&str; 4] = ["port", "process", "http", "none"];
/// Ports of a Diego buildpack app that asked for none, as the real platform fills them in.
const DEFAULT_PORT: i64 = 8080;
const SSH_ENDPOINT: &str = "ssh.sim.invalid:2222";
const SSH_FINGERPRINT: &str = "47:0d:d1:c8:c3:3d:0a:36:d1:49:2f:f2:90:27:31:d0";
/// Why a crashed instance crashed, in Diego's words.
const CRASH_DETAILS: &str = "Instance never healthy after 1m0s: Failed to make TCP connection to port 8080: connection refused";
const PASSWORD_GRANT_SCOPE: &str =
    "scim.userids openid cloud_controller.read password.write cloud_controller.write";
const CLIENT_GRANT_SCOPE: &str =
    "cloud_controller.admin cloud_controller.read cloud_controller.write uaa.none";

/// One entry of the Cloud Controller's error catalogue (`errors-v2.yml`).
struct CfError {
    code: u32,
    name: &'static str,
    status: u16,
    /// The catalogue's text; `%s` is replaced by the detail.
    message: &'static str,
}

const INVALID_AUTH_TOKEN: CfError = catalogue(1000, "InvalidAuthToken", 401, "Invalid Auth Token");
const MESSAGE_PARSE_ERROR: CfError = catalogue(
    1001,
    "MessageParseError",
    400,
    "Request invalid due to parse error: %s",
);
const INVALID_RELATION: CfError = catalogue(1002, "InvalidRelation", 400, "%s");
const BAD_REQUEST: CfError = catalogue(1004, "BadRequest", 400, "Bad request: %s");
const NOT_FOUND: CfError = catalogue(10000, "NotFound", 404, "Unknown request");
const SERVER_ERROR: CfError = catalogue(10001, "ServerError", 500, "Server error");
const NOT_AUTHENTICATED: CfError =
    catalogue(10002, "NotAuthenticated", 401, "Authentication error");
const NOT_AUTHORIZED: CfError = catalogue(
    10003,
    "NotAuthorized",
    403,
    "You are not authorized to perform the requested action",
);
const INVALID_REQUEST: CfError = catalogue(10004, "InvalidRequest", 400, "The request is invalid");
const BAD_QUERY_PARAMETER: CfError = catalogue(
    10005,
    "BadQueryParameter",
    400,
    "The query parameter is invalid: %s",
);
const UNPROCESSABLE_ENTITY: CfError = catalogue(10008, "UnprocessableEntity", 422, "%s");
const RATE_LIMIT_EXCEEDED: CfError =
    catalogue(10013, "RateLimitExceeded", 429, "Rate Limit Exceeded");
const SERVICE_UNAVAILABLE: CfError = catalogue(10015, "ServiceUnavailable", 503, "%s");
const APP_INVALID: CfError = catalogue(100001, "AppInvalid", 400, "The app is invalid: %s");
const APP_NAME_TAKEN: CfError = catalogue(100002, "AppNameTaken", 400, "The app name is taken: %s");
const APP_NOT_FOUND: CfError =
    catalogue(100004, "AppNotFound", 404, "The app could not be found: %s");
const APP_MEMORY_INVALID: CfError = catalogue(
    100006,
    "AppMemoryInvalid",
    400,
    "You have specified an invalid amount of memory for your application.",
);
const APP_PACKAGE_INVALID: CfError = catalogue(
    150001,
    "AppPackageInvalid",
    400,
    "The app package is invalid: %s",
);
const APP_BITS_UPLOAD_INVALID: CfError = catalogue(
    160001,
    "AppBitsUploadInvalid",
    400,
    "The app upload is invalid: %s",
);
const STAGING_ERROR: CfError = catalogue(170001, "StagingError", 400, "Staging error: %s");
const NOT_STAGED: CfError = catalogue(170002, "NotStaged", 400, "App has not finished staging");
const INSTANCES_ERROR: CfError = catalogue(220001, "InstancesError", 400, "Instances error: %s");

const fn catalogue(code: u32, name: &'static str, status: u16, message: &'static str) -> CfError {
    CfError {
        code,
        name,
        status,
        message,
    }
}

impl CfError {
    fn description(&self, detail: &str) -> String {
        self.message.replace("%s", detail)
    }

    /// The error body `{description, error_code, code}` (reference 13's key order).
    fn details(&self, detail: &str) -> Value {
        json!({
            "description": self.description(detail),
            "error_code": format!("CF-{}", self.name),
            "code": self.code,
        })
    }

    fn reply(&self, detail: &str) -> Reply {
        Reply::json(self.status, &self.details(detail))
    }
}

/// Whether `request` is for the Cloud Controller (under [`CF_PREFIX`]).
pub(crate) fn is_cloud_controller(request: &Request) -> bool {
    request.segments.first().is_some_and(|first| first == "cf")
}

/// Whether `request` is for UAA (under [`UAA_PREFIX`]).
pub(crate) fn is_uaa(request: &Request) -> bool {
    request.segments.first().is_some_and(|first| first == "uaa")
}

/// The Cloud Controller's body for `status` when nothing more specific is known.
pub(crate) fn cf_error_for_status(status: u16) -> Reply {
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("request failed");
    let (error, detail) = match status {
        status if status < 400 => return Reply::empty(status),
        400 => (&INVALID_REQUEST, ""),
        401 => (&INVALID_AUTH_TOKEN, ""),
        403 => (&NOT_AUTHORIZED, ""),
        404 => (&NOT_FOUND, ""),
        413 => (&BAD_REQUEST, "request body too large"),
        409 | 422 => (&UNPROCESSABLE_ENTITY, reason),
        429 => (&RATE_LIMIT_EXCEEDED, ""),
        502..=504 => (&SERVICE_UNAVAILABLE, reason),
        status if status >= 500 => (&SERVER_ERROR, ""),
        _ => (&BAD_REQUEST, reason),
    };
    Reply::json(status, &error.details(detail))
}

/// UAA's body for `status` when nothing more specific is known.
pub(crate) fn uaa_error_for_status(status: u16) -> Reply {
    let (error, description) = match status {
        status if status < 400 => return Reply::empty(status),
        400 => ("invalid_request", "The request is invalid"),
        401 => ("unauthorized", "Bad credentials"),
        403 => ("access_denied", "Access is denied"),
        404 => ("not_found", "Not Found"),
        413 => ("invalid_request", "request body too large"),
        429 => ("too_many_requests", "Too many requests"),
        status if status >= 500 => ("server_error", "Internal Server Error"),
        _ => ("invalid_request", "request failed"),
    };
    uaa_error(status, error, description)
}

fn uaa_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        &json!({ "error": error, "error_description": description }),
    )
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

/// What [`query_encode`] leaves as it is: letters, digits and `-._~:`.
const QUERY_KEEPS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

/// Ruby's `CGI.escape`: unreserved characters stay, a space becomes `+`, the rest `%XX`.
fn form_encode(text: &str) -> String {
    text.split(' ')
        .map(|words| utf8_percent_encode(words, FORM_KEEPS).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// Percent-encodes a query value for `next_url`, keeping `:` readable as the platform does.
fn query_encode(text: &str) -> String {
    utf8_percent_encode(text, QUERY_KEEPS).to_string()
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn is_guid(text: &str) -> bool {
    text.len() == 36 && uuid::Uuid::try_parse(text).is_ok()
}

/// The simulated platform state: issued tokens, apps and bits-upload jobs.
#[derive(Default)]
pub(crate) struct CloudFoundry {
    tokens: VecDeque<Issued>,
    apps: Vec<App>,
    jobs: VecDeque<Job>,
}

/// A token UAA handed out.
struct Issued {
    access: String,
    refresh: Option<String>,
    /// The user, or the client for client-credentials tokens.
    subject: String,
    /// After this the Cloud Controller refuses it.
    expires_at: Instant,
}

#[derive(Clone)]
struct App {
    guid: String,
    name: String,
    space_guid: String,
    stack_guid: String,
    buildpack: Option<String>,
    environment_json: Value,
    memory: i64,
    instances: i64,
    disk_quota: i64,
    /// Desired state: `STARTED` when true.
    started: bool,
    version: String,
    command: Option<String>,
    console: bool,
    debug: Option<String>,
    health_check_type: String,
    health_check_timeout: Option<i64>,
    health_check_http_endpoint: Option<String>,
    diego: bool,
    docker_image: Option<String>,
    docker_credentials: (Option<String>, Option<String>),
    enable_ssh: bool,
    ports: Option<Vec<i64>>,
    production: bool,
    created_at: String,
    updated_at: String,
    package_updated_at: Option<String>,
    /// Uploaded bits, once an upload finished.
    bits: Option<Bits>,
    /// The latest staging; its outcome and timing are fixed when it starts.
    staging: Option<Staging>,
    /// Set while the app is `STARTED`: when, and how its instances will fare.
    run: Option<Run>,
}

#[derive(Clone)]
struct Bits {
    bytes: usize,
    files: Vec<String>,
}

#[derive(Clone)]
struct Staging {
    task_id: String,
    started: Instant,
    started_wall: SystemTime,
    duration: Duration,
    fails: bool,
}

#[derive(Clone)]
struct Run {
    since: Instant,
    since_wall: SystemTime,
    startup: Duration,
    crashes: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PackageState {
    Pending,
    Staged,
    Failed,
}

impl PackageState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Staged => "STAGED",
            Self::Failed => "FAILED",
        }
    }
}

/// One instance as `/instances` reports it.
struct Instance {
    state: &'static str,
    since: SystemTime,
    uptime: u64,
}

impl App {
    fn package_available(&self) -> bool {
        self.bits.is_some() || self.docker_image.is_some()
    }

    fn staging_done(&self) -> Option<(Instant, SystemTime)> {
        self.staging
            .as_ref()
            .map(|s| (s.started + s.duration, s.started_wall + s.duration))
    }

    fn package_state(&self, now: Instant) -> PackageState {
        match (&self.staging, self.staging_done()) {
            (Some(staging), Some((done, _))) if now >= done => {
                if staging.fails {
                    PackageState::Failed
                } else {
                    PackageState::Staged
                }
            }
            _ => PackageState::Pending,
        }
    }

    fn staging_in_progress(&self, now: Instant) -> bool {
        self.staging_done().is_some_and(|(done, _)| now < done)
    }

    /// The buildpack staging would detect from the uploaded file names.
    fn detected_buildpack(&self) -> &'static str {
        let files = self.bits.as_ref().map(|bits| bits.files.as_slice());
        let has = |name: &str| {
            files.is_some_and(|files| {
                files
                    .iter()
                    .any(|file| file == name || file.ends_with(&format!("/{name}")))
            })
        };
        if has("package.json") {
            "nodejs"
        } else if has("requirements.txt") || has("pyproject.toml") {
            "python"
        } else if has("Gemfile") {
            "ruby"
        } else if has("go.mod") {
            "go"
        } else if has("composer.json") || has("index.php") {
            "php"
        } else if has("index.html") {
            "staticfile"
        } else {
            "binary"
        }
    }

    fn detected_start_command(&self) -> String {
        if let Some(command) = &self.command {
            return command.clone();
        }
        match self.detected_buildpack() {
            "nodejs" => "npm start",
            "python" => "python app.py",
            "ruby" => "bundle exec rackup config.ru -p $PORT",
            "go" => "./bin/app",
            "staticfile" | "php" => "$HOME/boot.sh",
            _ => "",
        }
        .to_owned()
    }

    /// Instances while the app is started and staged; `None` otherwise.
    fn instances(&self, now: Instant) -> Option<Vec<Instance>> {
        let run = self.run.as_ref()?;
        if !self.started || self.package_state(now) != PackageState::Staged {
            return None;
        }
        let (staged, staged_wall) = self.staging_done()?;
        // Instances start once both the start request and the staging are behind them.
        let (start, start_wall) = if run.since >= staged {
            (run.since, run.since_wall)
        } else {
            (staged, staged_wall)
        };
        let elapsed = now.saturating_duration_since(start);
        let instance = if elapsed < run.startup {
            Instance {
                state: "STARTING",
                since: start_wall,
                uptime: 0,
            }
        } else {
            Instance {
                state: if run.crashes { "CRASHED" } else { "RUNNING" },
                since: start_wall + run.startup,
                uptime: (elapsed - run.startup).as_secs(),
            }
        };
        let count = usize::try_from(self.instances).unwrap_or(0);
        Some(
            (0..count)
                .map(|_| Instance {
                    state: instance.state,
                    since: instance.since,
                    uptime: instance.uptime,
                })
                .collect(),
        )
    }

    /// STARTING and RUNNING instances, as the summary's `running_instances` counts them.
    fn running_instances(&self, now: Instant) -> usize {
        self.instances(now).map_or(0, |instances| {
            instances
                .iter()
                .filter(|instance| instance.state != "CRASHED")
                .count()
        })
    }

    fn metadata(&self) -> Value {
        json!({
            "guid": self.guid,
            "url": format!("/v2/apps/{}", self.guid),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The `entity` of an app, keys in the order of reference 05.
    fn entity(&self, now: Instant) -> Map<String, Value> {
        let package_state = self.package_state(now);
        let staged = package_state == PackageState::Staged;
        let buildpack_app = self.docker_image.is_none();
        let detected_buildpack = match (staged && buildpack_app, &self.buildpack) {
            (false, _) => Value::Null,
            // Real bodies show an empty detection when the buildpack was named (reference 07).
            (true, Some(_)) => json!(""),
            (true, None) => json!(self.detected_buildpack()),
        };
        let detected_buildpack_guid = if staged && buildpack_app {
            json!(detected_buildpack_guid(self.detected_buildpack()))
        } else {
            Value::Null
        };
        let failed = package_state == PackageState::Failed;
        let body = json!({
            "name": self.name,
            "production": self.production,
            "space_guid": self.space_guid,
            "stack_guid": self.stack_guid,
            "buildpack": self.buildpack,
            "detected_buildpack": detected_buildpack,
            "detected_buildpack_guid": detected_buildpack_guid,
            "environment_json": self.environment_json,
            "memory": self.memory,
            "instances": self.instances,
            "disk_quota": self.disk_quota,
            "state": if self.started { "STARTED" } else { "STOPPED" },
            "version": self.version,
            "command": self.command,
            "console": self.console,
            "debug": self.debug,
            "staging_task_id": self.staging.as_ref().map(|s| s.task_id.as_str()),
            "package_state": package_state.as_str(),
            "health_check_http_endpoint": self.health_check_http_endpoint,
            "health_check_type": self.health_check_type,
            "health_check_timeout": self.health_check_timeout,
            "staging_failed_reason": failed.then_some(STAGING_ERROR.name),
            "staging_failed_description": failed.then(|| STAGING_ERROR.description("staging failed")),
            "diego": self.diego,
            "docker_image": self.docker_image,
            "docker_credentials": {
                "username": self.docker_credentials.0,
                "password": self.docker_credentials.1,
            },
            "package_updated_at": self.package_updated_at,
            "detected_start_command": if staged { self.detected_start_command() } else { String::new() },
            "enable_ssh": self.enable_ssh,
            "ports": self.ports,
            "space_url": format!("/v2/spaces/{}", self.space_guid),
            "stack_url": format!("/v2/stacks/{}", self.stack_guid),
            "routes_url": format!("/v2/apps/{}/routes", self.guid),
            "events_url": format!("/v2/apps/{}/events", self.guid),
            "service_bindings_url": format!("/v2/apps/{}/service_bindings", self.guid),
            "route_mappings_url": format!("/v2/apps/{}/route_mappings", self.guid),
        });
        match body {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn resource(&self, now: Instant) -> Value {
        json!({ "metadata": self.metadata(), "entity": self.entity(now) })
    }

    /// `GET /v2/apps/{guid}/summary`: the docs' key order, without the `*_url` links.
    fn summary(&self, now: Instant) -> Value {
        let mut body = Map::new();
        body.insert("guid".into(), json!(self.guid));
        body.insert("name".into(), json!(self.name));
        body.insert("routes".into(), json!([]));
        body.insert(
            "running_instances".into(),
            json!(self.running_instances(now)),
        );
        body.insert("services".into(), json!([]));
        body.insert("available_domains".into(), json!([]));
        for (key, value) in self.entity(now) {
            if key != "name" && !key.ends_with("_url") {
                body.insert(key, value);
            }
        }
        Value::Object(body)
    }

    /// Starts staging with the options in force now.
    fn stage(&mut self, options: &SimOptions, now: Instant) {
        self.staging = Some(Staging {
            task_id: new_guid(),
            started: now,
            started_wall: SystemTime::now(),
            duration: options.cf_staging_time,
            fails: options.cf_staging_fails,
        });
    }
}

/// Made-up, stable guids of the buildpacks the simulator "detects".
fn detected_buildpack_guid(buildpack: &str) -> &'static str {
    match buildpack {
        "nodejs" => "0c4f3b4a-6c52-4c3e-9a0e-1f2d3c4b5a61",
        "python" => "1d5a4c5b-7d63-4d4f-8b1f-2a3e4d5c6b72",
        "ruby" => "2e6b5d6c-8e74-4e5a-9c2a-3b4f5e6d7c83",
        "go" => "3f7c6e7d-9f85-4f6b-8d3b-4c5a6f7e8d94",
        "php" => "4a8d7f8e-a096-4a7c-9e4c-5d6b7a8f9ea5",
        "staticfile" => "5b9e8a9f-b1a7-4b8d-8f5d-6e7c8b9a0fb6",
        _ => "6caf9bab-c2b8-4c9e-9a6e-7f8d9cab1ac7",
    }
}

/// A bits upload; it takes effect when it finishes.
struct Job {
    guid: String,
    created_at: String,
    created: Instant,
    duration: Duration,
    app_guid: String,
    outcome: Result<Bits, Value>,
    /// Whether a successful upload has reached its app.
    applied: bool,
}

impl Job {
    fn finished(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.created) >= self.duration
    }

    fn body(&self, now: Instant) -> Value {
        let elapsed = now.saturating_duration_since(self.created);
        let status = if elapsed >= self.duration {
            match &self.outcome {
                // A finished job is gone; the platform answers its null job (reference 09).
                Ok(_) => return null_job(),
                Err(details) => {
                    return json!({
                        "metadata": self.metadata(),
                        "entity": {
                            "guid": self.guid,
                            "status": "failed",
                            "error": "Use of entity>error is deprecated in favor of entity>error_details.",
                            "error_details": details,
                        },
                    });
                }
            }
        } else if elapsed < self.duration / 2 {
            "queued"
        } else {
            "running"
        };
        json!({
            "metadata": self.metadata(),
            "entity": { "guid": self.guid, "status": status },
        })
    }

    fn metadata(&self) -> Value {
        json!({
            "guid": self.guid,
            "created_at": self.created_at,
            "url": format!("/v2/jobs/{}", self.guid),
        })
    }
}

fn null_job() -> Value {
    json!({
        "metadata": { "guid": "0", "created_at": "1970-01-01T00:00:00Z", "url": "/v2/jobs/0" },
        "entity": { "guid": "0", "status": "finished" },
    })
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
        _ => return None,
    })
}

impl CloudFoundry {
    /// Answers `request` if it is under `/cf` or `/uaa`. `base_url` is the simulator's URL as
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
        } else {
            None
        }
    }

    /// Every app's body as `GET /v2/apps/{guid}` shows it, plus `_bits`: the uploaded byte count
    /// and file names, or null.
    pub(crate) fn app_bodies(&mut self, now: Instant) -> Vec<Value> {
        self.settle(now);
        self.apps
            .iter()
            .map(|app| {
                let mut body = app.resource(now);
                body["_bits"] = match &app.bits {
                    Some(bits) => json!({ "bytes": bits.bytes, "files": bits.files }),
                    None => Value::Null,
                };
                body
            })
            .collect()
    }

    /// Lets finished uploads reach their apps, oldest first.
    fn settle(&mut self, now: Instant) {
        for job in self.jobs.iter_mut() {
            if job.applied || !job.finished(now) {
                continue;
            }
            job.applied = true;
            if let Ok(bits) = &job.outcome
                && let Some(app) = self.apps.iter_mut().find(|app| app.guid == job.app_guid)
            {
                apply_bits(app, bits.clone());
            }
        }
        // A finished successful job answers the null job, like an unknown one: forget it.
        self.jobs
            .retain(|job| !(job.applied && job.outcome.is_ok()));
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
            ("GET", []) => return Reply::json(200, &root(base_url)),
            ("GET", ["v2", "info"]) => return Reply::json(200, &info(options, base_url)),
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
        }
    }

    fn authorize(&self, options: &SimOptions, request: &Request) -> Result<(), Reply> {
        let Some(header) = request.header("authorization") else {
            return Err(NOT_AUTHENTICATED.reply(""));
        };
        let token = header
            .trim()
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        match token {
            Some(token)
                if token == options.token
                    || self.tokens.iter().any(|issued| {
                        issued.access == token && Instant::now() < issued.expires_at
                    }) =>
            {
                Ok(())
            }
            _ => Err(INVALID_AUTH_TOKEN.reply("")),
        }
    }

    fn find(&self, guid: &str) -> Option<usize> {
        self.apps.iter().position(|app| app.guid == guid)
    }

    fn with_app(&self, guid: &str, answer: impl FnOnce(&App) -> Reply) -> Reply {
        match self.find(guid) {
            Some(index) => answer(&self.apps[index]),
            None => APP_NOT_FOUND.reply(guid),
        }
    }

    fn name_taken(&self, name: &str, space_guid: &str, except: Option<&str>) -> bool {
        self.apps.iter().any(|app| {
            app.name == name && app.space_guid == space_guid && Some(app.guid.as_str()) != except
        })
    }

    fn list_apps(
        &self,
        options: &SimOptions,
        request: &Request,
        space: Option<&str>,
        now: Instant,
    ) -> Reply {
        let mut filters = match parse_filters(request) {
            Ok(filters) => filters,
            Err(reply) => return reply,
        };
        if options.cf_list_ignores_filters {
            // Checked above like any request, then dropped: the list has every app.
            filters.clear();
        }
        let page = match Page::from_query(request, options.cf_page_cap) {
            Ok(page) => page,
            Err(reply) => return reply,
        };
        let mut matching: Vec<&App> = self
            .apps
            .iter()
            .filter(|app| space.is_none_or(|space| app.space_guid == space))
            .filter(|app| filters.iter().all(|filter| filter.matches(app)))
            .collect();
        if page.descending {
            matching.reverse();
        }
        let total = matching.len();
        let total_pages = total.div_ceil(page.size).max(1);
        let resources: Vec<Value> = matching
            .iter()
            .skip((page.number - 1).saturating_mul(page.size))
            .take(page.size)
            .map(|app| app.resource(now))
            .collect();
        let path = match space {
            Some(space) => format!("/v2/spaces/{space}/apps"),
            None => "/v2/apps".to_owned(),
        };
        let link = |number: usize| page.url(&path, number, request);
        let prev_url = (page.number > 1).then(|| link(page.number - 1));
        let next_url = (page.number < total_pages).then(|| link(page.number + 1));
        Reply::json(
            200,
            &json!({
                "total_results": total,
                "total_pages": total_pages,
                "prev_url": prev_url,
                "next_url": next_url,
                "resources": resources,
            }),
        )
    }

    fn create_app(&mut self, options: &SimOptions, request: &Request, now: Instant) -> Reply {
        let body = match parse_body(request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let changes = match Changes::parse(&body, true) {
            Ok(changes) => changes,
            Err(reply) => return reply,
        };
        if let Err(reply) = changes.validate() {
            return reply;
        }
        let name = changes.name.clone().unwrap_or_default();
        let space_guid = changes.space_guid.clone().unwrap_or_default();
        if self.name_taken(&name, &space_guid, None) {
            return APP_NAME_TAKEN.reply(&name);
        }
        let created = rfc3339(SystemTime::now());
        let docker_image = changes.docker_image.clone().flatten();
        let diego = changes.diego.unwrap_or(true);
        let mut app = App {
            guid: new_guid(),
            name,
            space_guid,
            stack_guid: DEFAULT_STACK_GUID.to_owned(),
            buildpack: None,
            environment_json: json!({}),
            memory: 1024,
            instances: 1,
            disk_quota: 1024,
            started: false,
            version: new_guid(),
            command: None,
            console: false,
            debug: None,
            health_check_type: "port".to_owned(),
            health_check_timeout: None,
            health_check_http_endpoint: Some(String::new()),
            diego,
            package_updated_at: docker_image.is_some().then(|| created.clone()),
            docker_image: None,
            docker_credentials: (None, None),
            enable_ssh: true,
            ports: (diego && docker_image.is_none()).then(|| vec![DEFAULT_PORT]),
            production: false,
            created_at: created.clone(),
            updated_at: created,
            bits: None,
            staging: None,
            run: None,
        };
        changes.apply(&mut app);
        if let Err(reply) = self.start_or_stop(options, &mut app, &changes, now) {
            return reply;
        }
        let location = format!("/v2/apps/{}", app.guid);
        let reply = Reply::json(201, &app.resource(now)).with_header("location", location);
        self.apps.push(app);
        reply
    }

    fn update_app(
        &mut self,
        options: &SimOptions,
        request: &Request,
        guid: &str,
        now: Instant,
    ) -> Reply {
        let Some(index) = self.find(guid) else {
            return APP_NOT_FOUND.reply(guid);
        };
        if request.body.iter().all(u8::is_ascii_whitespace) {
            return INVALID_REQUEST.reply("");
        }
        let body = match parse_body(request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let changes = match Changes::parse(&body, false) {
            Ok(changes) => changes,
            Err(reply) => return reply,
        };
        if let Err(reply) = changes.validate() {
            return reply;
        }
        let current = &self.apps[index];
        let name = changes.name.as_deref().unwrap_or(&current.name);
        let space = changes.space_guid.as_deref().unwrap_or(&current.space_guid);
        if (changes.name.is_some() || changes.space_guid.is_some())
            && self.name_taken(name, space, Some(guid))
        {
            return APP_NAME_TAKEN.reply(name);
        }
        let docker_app = current.docker_image.is_some();
        let wants_docker = matches!(changes.docker_image, Some(Some(_)));
        let wants_buildpack = changes.buildpack.is_some() || changes.stack_guid.is_some();
        if (docker_app && wants_buildpack) || (!docker_app && wants_docker) {
            return APP_INVALID.reply("Lifecycle type cannot be changed");
        }
        // Work on a copy so a refused start leaves the app as it was, like the real transaction.
        let mut app = current.clone();
        let docker_changed = changes.docker_image.as_ref().is_some_and(|image| {
            !image
                .as_deref()
                .unwrap_or("")
                .eq_ignore_ascii_case(app.docker_image.as_deref().unwrap_or(""))
        });
        changes.apply(&mut app);
        if docker_changed {
            // A new image is a new package: it needs staging again.
            app.staging = None;
            app.package_updated_at = Some(rfc3339(SystemTime::now()));
        }
        app.updated_at = rfc3339(SystemTime::now());
        if let Err(reply) = self.start_or_stop(options, &mut app, &changes, now) {
            return reply;
        }
        let reply = Reply::json(201, &app.resource(now));
        self.apps[index] = app;
        reply
    }

    /// Applies a requested `state`: refuses to start without a package, begins instances and
    /// staging on start, and cancels both on stop.
    fn start_or_stop(
        &self,
        options: &SimOptions,
        app: &mut App,
        changes: &Changes,
        now: Instant,
    ) -> Result<(), Reply> {
        let Some(state) = changes.state.as_deref() else {
            return Ok(());
        };
        if state == "STARTED" {
            if !app.package_available() {
                return Err(APP_PACKAGE_INVALID.reply("bits have not been uploaded"));
            }
            if !app.started || app.run.is_none() {
                app.started = true;
                app.version = new_guid();
                app.run = Some(Run {
                    since: now,
                    since_wall: SystemTime::now(),
                    startup: options.cf_startup_time,
                    crashes: options.cf_crashes,
                });
            }
            let needs_staging = app.package_state(now) != PackageState::Staged
                && !app.staging_in_progress(now)
                && app.instances > 0;
            if needs_staging {
                app.stage(options, now);
            }
        } else {
            app.started = false;
            app.run = None;
            if app.staging_in_progress(now) {
                // Stopping cancels the staging under way.
                app.staging = None;
            }
        }
        Ok(())
    }

    fn upload_bits(
        &mut self,
        options: &SimOptions,
        request: &Request,
        guid: &str,
        now: Instant,
    ) -> Reply {
        let Some(index) = self.find(guid) else {
            return APP_NOT_FOUND.reply(guid);
        };
        if self.apps[index].docker_image.is_some() {
            return UNPROCESSABLE_ENTITY.reply("cannot upload bits to a docker app");
        }
        let part = |name: &str| request.parts.iter().find(|part| part.name == name);
        let Some(resources) = part("resources") else {
            return APP_BITS_UPLOAD_INVALID.reply("missing :resources");
        };
        let Ok(Value::Array(resources)) = serde_json::from_slice::<Value>(&resources.body) else {
            return APP_BITS_UPLOAD_INVALID.reply("invalid :resources");
        };
        let outcome =
            match part("application") {
                Some(application) => match zip_entries(&application.body) {
                    Ok(files) => Ok(Bits {
                        bytes: application.body.len(),
                        files,
                    }),
                    Err(problem) => Err(APP_BITS_UPLOAD_INVALID
                        .details(&format!("Unzipping had errors: {problem}"))),
                },
                // Every file already known to the resource cache: the package is the resources.
                None if !resources.is_empty() => Ok(Bits {
                    bytes: resources
                        .iter()
                        .filter_map(|resource| resource["size"].as_u64())
                        .map(|size| usize::try_from(size).unwrap_or(usize::MAX))
                        .fold(0, usize::saturating_add),
                    files: resources
                        .iter()
                        .filter_map(|resource| resource["fn"].as_str().map(str::to_owned))
                        .collect(),
                }),
                None => return APP_BITS_UPLOAD_INVALID.reply("missing :application"),
            };
        let asynchronous = request.query_param("async") == Some("true")
            || part("async").is_some_and(|part| part.body.as_ref() == b"true");
        if !asynchronous {
            return match outcome {
                Ok(bits) => {
                    apply_bits(&mut self.apps[index], bits);
                    Reply::json(201, &json!({}))
                }
                Err(details) => Reply::json(APP_BITS_UPLOAD_INVALID.status, &details),
            };
        }
        let job = Job {
            guid: new_guid(),
            created_at: rfc3339(SystemTime::now()),
            created: now,
            duration: options.cf_job_time,
            app_guid: guid.to_owned(),
            outcome,
            applied: false,
        };
        // The answer is always the queued job (reference 08), however short the job is.
        let reply = Reply::json(
            201,
            &json!({
                "metadata": job.metadata(),
                "entity": { "guid": job.guid, "status": "queued" },
            }),
        );
        if self.jobs.len() >= MAX_JOBS {
            self.jobs.pop_front();
        }
        self.jobs.push_back(job);
        // A zero job time finishes at once.
        self.settle(now);
        reply
    }

    fn uaa(&mut self, options: &SimOptions, request: &Request, segments: &[&str]) -> Reply {
        if segments != ["oauth", "token"] {
            return uaa_error(404, "not_found", "Not Found");
        }
        if request.method != "POST" {
            return uaa_error(
                405,
                "method_not_allowed",
                &format!("Request method '{}' is not supported", request.method),
            );
        }
        let form = super::parse_query(&String::from_utf8_lossy(&request.body));
        let field = |key: &str| {
            form.iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let client =
            match authenticate_client(options, request, field("client_id"), field("client_secret"))
            {
                Ok(client) => client,
                Err(reply) => return reply,
            };
        let (subject, refresh, scope) = match field("grant_type") {
            None | Some("") => return uaa_error(400, "invalid_request", "Missing grant type"),
            Some("password") => {
                let username = field("username").unwrap_or_default();
                let password = field("password").unwrap_or_default();
                let known = options
                    .cf_users
                    .iter()
                    .any(|(user, secret)| user == username && secret == password);
                if !known {
                    return uaa_error(401, "unauthorized", "Bad credentials");
                }
                (username.to_owned(), true, PASSWORD_GRANT_SCOPE)
            }
            Some("client_credentials") => {
                if client == CF_CLI_CLIENT {
                    return uaa_error(
                        401,
                        "invalid_client",
                        "Unauthorized grant type: client_credentials",
                    );
                }
                (client, false, CLIENT_GRANT_SCOPE)
            }
            Some("refresh_token") => {
                let given = field("refresh_token").unwrap_or_default();
                let Some(issued) = self
                    .tokens
                    .iter()
                    .find(|issued| issued.refresh.as_deref() == Some(given))
                else {
                    return uaa_error(
                        401,
                        "invalid_token",
                        &format!("Invalid refresh token: {given}"),
                    );
                };
                (issued.subject.clone(), true, PASSWORD_GRANT_SCOPE)
            }
            Some(other) => {
                return uaa_error(
                    400,
                    "unsupported_grant_type",
                    &format!("Unsupported grant type: {other}"),
                );
            }
        };
        let access = uuid::Uuid::new_v4().simple().to_string();
        let refresh = refresh.then(|| format!("{access}-r"));
        let mut body = Map::new();
        body.insert("access_token".into(), json!(access));
        body.insert("token_type".into(), json!("bearer"));
        if let Some(refresh) = &refresh {
            body.insert("refresh_token".into(), json!(refresh));
        }
        body.insert(
            "expires_in".into(),
            json!(options.cf_token_lifetime.as_secs()),
        );
        body.insert("scope".into(), json!(scope));
        body.insert("jti".into(), json!(access));
        if self.tokens.len() >= MAX_TOKENS {
            self.tokens.pop_front();
        }
        self.tokens.push_back(Issued {
            access,
            refresh,
            subject,
            expires_at: Instant::now() + options.cf_token_lifetime,
        });
        Reply::json(200, &Value::Object(body))
            .with_header("cache-control", "no-store")
            .with_header("pragma", "no-cache")
    }
}

fn apply_bits(app: &mut App, bits: Bits) {
    app.bits = Some(bits);
    app.package_updated_at = Some(rfc3339(SystemTime::now()));
    // New bits are a new package: whatever was staged no longer matches it.
    app.staging = None;
}

/// `GET /v2/apps/{guid}/instances`, with the Cloud Controller's checks in its order.
fn instances(app: &App, now: Instant) -> Reply {
    match app.package_state(now) {
        PackageState::Failed => {
            return STAGING_ERROR.reply("cannot get instances since staging failed");
        }
        PackageState::Pending => return NOT_STAGED.reply(""),
        PackageState::Staged => {}
    }
    if !app.started {
        return INSTANCES_ERROR.reply(&format!(
            "Request failed for app: {} as the app is in stopped state.",
            app.name
        ));
    }
    let mut body = Map::new();
    for (index, instance) in app.instances(now).unwrap_or_default().iter().enumerate() {
        let since = instance
            .since
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let mut entry = Map::new();
        if instance.state == "CRASHED" {
            entry.insert("details".into(), json!(CRASH_DETAILS));
        }
        entry.insert("state".into(), json!(instance.state));
        entry.insert("since".into(), json!(since));
        entry.insert("uptime".into(), json!(instance.uptime));
        body.insert(index.to_string(), Value::Object(entry));
    }
    Reply::json(200, &Value::Object(body))
}

/// `GET /cf/`: the links a client discovers the platform from (`null` = not offered).
fn root(base_url: &str) -> Value {
    let api = format!("{base_url}{CF_PREFIX}");
    let uaa = format!("{base_url}{UAA_PREFIX}");
    json!({
        "links": {
            "self": { "href": api },
            "bits_service": null,
            "cloud_controller_v2": {
                "href": format!("{api}/v2"),
                "meta": { "version": API_VERSION_V2 },
            },
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
            "log_cache": null,
            "log_stream": null,
            "app_ssh": {
                "href": SSH_ENDPOINT,
                "meta": { "host_key_fingerprint": SSH_FINGERPRINT, "oauth_client": "ssh-proxy" },
            },
        }
    })
}

/// `GET /cf/v2/info`, keys as in reference 01.
fn info(options: &SimOptions, base_url: &str) -> Value {
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

/// Who is asking for a token: the client from the Basic header or the form. UAA always knows
/// the cf CLI's client `cf` with its empty secret.
fn authenticate_client(
    options: &SimOptions,
    request: &Request,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<String, Reply> {
    let basic = request.header("authorization").and_then(|value| {
        let (scheme, encoded) = value.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("basic")
            // Standard base64 with the padding optional, as UAA's (Java's) decoder reads it.
            .then(|| STANDARD_PAD_INDIFFERENT.decode(encoded.trim()).ok())
    });
    let (id, secret) = match (basic, form_id) {
        (Some(decoded), _) => {
            let decoded = decoded.and_then(|bytes| String::from_utf8(bytes).ok());
            let Some((id, secret)) = decoded.as_deref().and_then(|text| text.split_once(':'))
            else {
                return Err(client_error("Bad credentials"));
            };
            (id.to_owned(), secret.to_owned())
        }
        (None, Some(id)) => (id.to_owned(), form_secret.unwrap_or_default().to_owned()),
        (None, None) => {
            return Err(client_error(
                "Full authentication is required to access this resource",
            ));
        }
    };
    let known = (id == CF_CLI_CLIENT && secret.is_empty())
        || options
            .cf_clients
            .iter()
            .any(|(client, client_secret)| *client == id && *client_secret == secret);
    if known {
        Ok(id)
    } else {
        Err(client_error("Bad credentials"))
    }
}

/// UAA's answer to a client it cannot authenticate.
fn client_error(description: &str) -> Reply {
    uaa_error(401, "unauthorized", description).with_header(
        "www-authenticate",
        format!(
            "Basic realm=\"UAA/client\", error=\"unauthorized\", error_description=\"{description}\""
        ),
    )
}

/// One `q` filter of a list request.
struct Filter {
    attribute: String,
    values: Vec<String>,
}

impl Filter {
    fn matches(&self, app: &App) -> bool {
        let actual = match self.attribute.as_str() {
            "name" => app.name.clone(),
            "space_guid" => app.space_guid.clone(),
            "stack_guid" => app.stack_guid.clone(),
            "diego" => app.diego.to_string(),
            // The simulator has no organizations: every space belongs to whichever is asked for.
            _ => return true,
        };
        self.values.contains(&actual)
    }
}

/// `q=name:NAME` (repeatable, or joined with `;`), also `q=name IN a,b`.
fn parse_filters(request: &Request) -> Result<Vec<Filter>, Reply> {
    const ATTRIBUTES: [&str; 5] = [
        "name",
        "space_guid",
        "organization_guid",
        "diego",
        "stack_guid",
    ];
    let mut filters = Vec::new();
    for (key, value) in &request.query {
        if key != "q" {
            continue;
        }
        for raw in value.split(';').filter(|raw| !raw.is_empty()) {
            let (attribute, values) = if let Some((attribute, list)) = raw.split_once(" IN ") {
                (attribute, list.split(',').map(str::to_owned).collect())
            } else if let Some((attribute, value)) = raw.split_once(':') {
                (attribute, vec![value.to_owned()])
            } else {
                return Err(BAD_QUERY_PARAMETER.reply(raw));
            };
            if !ATTRIBUTES.contains(&attribute) {
                return Err(BAD_QUERY_PARAMETER.reply(attribute));
            }
            filters.push(Filter {
                attribute: attribute.to_owned(),
                values,
            });
        }
    }
    Ok(filters)
}

struct Page {
    number: usize,
    size: usize,
    descending: bool,
}

impl Page {
    /// The page `page` and `results-per-page` ask for; a `cap` (at least 1) makes pages smaller
    /// than asked, and the links then carry the smaller size.
    fn from_query(request: &Request, cap: Option<usize>) -> Result<Self, Reply> {
        let number = |key: &str, default: usize| -> Result<usize, Reply> {
            match request.query_param(key) {
                None | Some("") => Ok(default),
                Some(value) => value
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| BAD_QUERY_PARAMETER.reply(&format!("{key} must be > 0"))),
            }
        };
        let size = number("results-per-page", DEFAULT_PAGE_SIZE)?;
        if size > MAX_PAGE_SIZE {
            return Err(
                BAD_QUERY_PARAMETER.reply(&format!("results_per_page must be <= {MAX_PAGE_SIZE}"))
            );
        }
        let descending = match request.query_param("order-direction") {
            None | Some("" | "asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(BAD_QUERY_PARAMETER.reply(&format!("order-direction {other}")));
            }
        };
        Ok(Self {
            number: number("page", 1)?,
            size: size.min(cap.unwrap_or(MAX_PAGE_SIZE).max(1)),
            descending,
        })
    }

    /// A page link as the platform writes it: parameters in alphabetical order, `q` repeated.
    fn url(&self, path: &str, number: usize, request: &Request) -> String {
        let mut params = vec![
            format!(
                "order-direction={}",
                if self.descending { "desc" } else { "asc" }
            ),
            format!("page={number}"),
        ];
        params.extend(
            request
                .query
                .iter()
                .filter(|(key, _)| key == "q")
                .map(|(_, value)| format!("q={}", query_encode(value))),
        );
        params.push(format!("results-per-page={}", self.size));
        format!("{path}?{}", params.join("&"))
    }
}

fn parse_body(request: &Request) -> Result<Map<String, Value>, Reply> {
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(body)) => Ok(body),
        Ok(_) | Err(_) => Err(MESSAGE_PARSE_ERROR.reply("invalid request body")),
    }
}

/// The Ruby class name the Cloud Controller's messages use for a JSON value.
fn ruby_class(value: &Value) -> &'static str {
    match value {
        Value::Null => "NilClass",
        Value::Bool(true) => "TrueClass",
        Value::Bool(false) => "FalseClass",
        Value::Number(number) if number.is_f64() => "Float",
        Value::Number(_) => "Integer",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Hash",
    }
}

/// The fields of a create or update request, type-checked like the Cloud Controller's message
/// schema; `Some(None)` is an explicit `null`.
#[derive(Default)]
struct Changes {
    name: Option<String>,
    space_guid: Option<String>,
    stack_guid: Option<Option<String>>,
    buildpack: Option<Option<String>>,
    command: Option<Option<String>>,
    console: Option<bool>,
    debug: Option<Option<String>>,
    diego: Option<bool>,
    docker_image: Option<Option<String>>,
    docker_credentials: Option<(Option<String>, Option<String>)>,
    disk_quota: Option<Option<i64>>,
    environment_json: Option<Value>,
    enable_ssh: Option<bool>,
    health_check_type: Option<String>,
    health_check_timeout: Option<Option<i64>>,
    health_check_http_endpoint: Option<Option<String>>,
    instances: Option<i64>,
    memory: Option<Option<i64>>,
    production: Option<bool>,
    state: Option<String>,
    ports: Option<Option<Vec<i64>>>,
}

/// Collects schema problems as `Field: x, Error: ...` like the Cloud Controller's messages.
struct Fields<'a> {
    body: &'a Map<String, Value>,
    problems: Vec<String>,
}

impl Fields<'_> {
    fn mismatch(&mut self, key: &str, expected: &str, value: &Value) {
        self.problems.push(format!(
            "Field: {key}, Error: Expected instance of {expected}, given an instance of {}",
            ruby_class(value)
        ));
    }

    fn string(&mut self, key: &str, required: bool) -> Option<String> {
        match self.body.get(key) {
            None if required => {
                self.problems
                    .push(format!("Field: {key}, Error: Missing field {key}"));
                None
            }
            None => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => {
                let other = other.clone();
                self.mismatch(key, "String", &other);
                None
            }
        }
    }

    fn nullable_string(&mut self, key: &str) -> Option<Option<String>> {
        match self.body.get(key)? {
            Value::Null => Some(None),
            _ => self.string(key, false).map(Some),
        }
    }

    fn integer(&mut self, key: &str) -> Option<i64> {
        let value = self.body.get(key)?;
        match value.as_i64() {
            Some(number) => Some(number),
            None => {
                let value = value.clone();
                self.mismatch(key, "Integer", &value);
                None
            }
        }
    }

    fn nullable_integer(&mut self, key: &str) -> Option<Option<i64>> {
        match self.body.get(key)? {
            Value::Null => Some(None),
            _ => self.integer(key).map(Some),
        }
    }

    fn boolean(&mut self, key: &str) -> Option<bool> {
        match self.body.get(key)? {
            Value::Bool(flag) => Some(*flag),
            // Unset flags take their defaults.
            Value::Null => None,
            other => {
                let other = other.clone();
                self.mismatch(key, "true or false", &other);
                None
            }
        }
    }

    fn object(&mut self, key: &str) -> Option<Value> {
        match self.body.get(key)? {
            Value::Object(map) => Some(Value::Object(map.clone())),
            Value::Null => Some(json!({})),
            other => {
                let other = other.clone();
                self.mismatch(key, "Hash", &other);
                None
            }
        }
    }

    fn integers(&mut self, key: &str) -> Option<Option<Vec<i64>>> {
        match self.body.get(key)? {
            Value::Null => Some(None),
            Value::Array(items) => {
                let numbers: Vec<Option<i64>> = items.iter().map(Value::as_i64).collect();
                if let Some(position) = numbers.iter().position(Option::is_none) {
                    let item = items[position].clone();
                    self.problems.push(format!(
                        "Field: {key}, Error: At index {position}: Expected instance of Integer, given an instance of {}",
                        ruby_class(&item)
                    ));
                    return None;
                }
                Some(Some(numbers.into_iter().flatten().collect()))
            }
            other => {
                let other = other.clone();
                self.mismatch(key, "Array", &other);
                None
            }
        }
    }

    fn credentials(&mut self, key: &str) -> Option<(Option<String>, Option<String>)> {
        match self.body.get(key)? {
            Value::Null => Some((None, None)),
            Value::Object(map) => {
                let field = |name: &str| map.get(name).and_then(Value::as_str).map(str::to_owned);
                Some((field("username"), field("password")))
            }
            other => {
                let other = other.clone();
                self.mismatch(key, "Hash", &other);
                None
            }
        }
    }
}

impl Changes {
    /// Type-checks `body`; `name` and `space_guid` are required when creating.
    fn parse(body: &Map<String, Value>, creating: bool) -> Result<Self, Reply> {
        let mut fields = Fields {
            body,
            problems: Vec::new(),
        };
        let changes = Self {
            name: fields.string("name", creating),
            space_guid: fields
                .string("space_guid", creating)
                .map(|guid| guid.to_ascii_lowercase()),
            stack_guid: fields.nullable_string("stack_guid"),
            buildpack: fields.nullable_string("buildpack"),
            command: fields.nullable_string("command"),
            console: fields.boolean("console"),
            debug: fields.nullable_string("debug"),
            diego: fields.boolean("diego"),
            docker_image: fields.nullable_string("docker_image"),
            docker_credentials: fields
                .credentials("docker_credentials")
                .or_else(|| fields.credentials("docker_credentials_json")),
            disk_quota: fields.nullable_integer("disk_quota"),
            environment_json: fields.object("environment_json"),
            enable_ssh: fields.boolean("enable_ssh"),
            health_check_type: fields.string("health_check_type", false),
            health_check_timeout: fields.nullable_integer("health_check_timeout"),
            health_check_http_endpoint: fields.nullable_string("health_check_http_endpoint"),
            instances: fields.integer("instances"),
            memory: fields.nullable_integer("memory"),
            production: fields.boolean("production"),
            state: fields.string("state", false),
            ports: fields.integers("ports"),
        };
        if fields.problems.is_empty() {
            Ok(changes)
        } else {
            Err(MESSAGE_PARSE_ERROR.reply(&fields.problems.join(", ")))
        }
    }

    /// The model validations that follow the schema, in the Cloud Controller's order.
    fn validate(&self) -> Result<(), Reply> {
        if let Some(space) = self.space_guid.as_deref()
            && !is_guid(space)
        {
            return Err(INVALID_RELATION.reply(&format!(
                "Could not find VCAP::CloudController::Space with guid: {space}"
            )));
        }
        if let Some(Some(stack)) = self.stack_guid.as_ref()
            && !is_guid(stack)
        {
            return Err(INVALID_RELATION.reply(&format!(
                "Could not find VCAP::CloudController::Stack with guid: {stack}"
            )));
        }
        if self
            .name
            .as_deref()
            .is_some_and(|name| name.trim().is_empty())
        {
            return Err(APP_INVALID.reply("name presence"));
        }
        if let Some(Some(memory)) = self.memory
            && memory <= 0
        {
            return Err(APP_MEMORY_INVALID.reply(""));
        }
        if self.instances.is_some_and(|instances| instances < 0) {
            return Err(APP_INVALID.reply("Number of instances less than 0"));
        }
        if let Some(Some(disk)) = self.disk_quota
            && disk <= 0
        {
            return Err(APP_INVALID.reply("disk_quota must be greater than 0"));
        }
        if self
            .state
            .as_deref()
            .is_some_and(|state| state != "STARTED" && state != "STOPPED")
        {
            return Err(APP_INVALID.reply("Invalid app state provided"));
        }
        if let Some(kind) = self.health_check_type.as_deref()
            && !HEALTH_CHECK_TYPES.contains(&kind)
        {
            return Err(APP_INVALID.reply(&format!(
                "health_check_type must be one of: {}",
                HEALTH_CHECK_TYPES.join(", ")
            )));
        }
        if let Some(Some(timeout)) = self.health_check_timeout
            && timeout < 0
        {
            return Err(
                APP_INVALID.reply("health_check_timeout must be greater than or equal to 0")
            );
        }
        if let Some(Some(ports)) = &self.ports
            && ports.iter().any(|port| !(1024..=65535).contains(port))
        {
            return Err(APP_INVALID.reply("Ports must be in the 1024-65535 range."));
        }
        Ok(())
    }

    /// Copies the given fields onto `app`; `state` is left to `start_or_stop`.
    fn apply(&self, app: &mut App) {
        if let Some(name) = &self.name {
            app.name.clone_from(name);
        }
        if let Some(space) = &self.space_guid {
            app.space_guid = space.to_ascii_lowercase();
        }
        if let Some(stack) = &self.stack_guid {
            app.stack_guid = stack
                .as_deref()
                .unwrap_or(DEFAULT_STACK_GUID)
                .to_ascii_lowercase();
        }
        if let Some(buildpack) = &self.buildpack {
            app.buildpack.clone_from(buildpack);
        }
        if let Some(command) = &self.command {
            app.command.clone_from(command);
        }
        if let Some(console) = self.console {
            app.console = console;
        }
        if let Some(debug) = &self.debug {
            app.debug.clone_from(debug);
        }
        if let Some(diego) = self.diego {
            app.diego = diego;
        }
        if let Some(image) = &self.docker_image {
            app.docker_image.clone_from(image);
        }
        if let Some(credentials) = &self.docker_credentials {
            app.docker_credentials.clone_from(credentials);
        }
        if let Some(disk) = self.disk_quota {
            app.disk_quota = disk.unwrap_or(1024);
        }
        if let Some(environment) = &self.environment_json {
            app.environment_json.clone_from(environment);
        }
        if let Some(ssh) = self.enable_ssh {
            app.enable_ssh = ssh;
        }
        if let Some(kind) = &self.health_check_type {
            app.health_check_type.clone_from(kind);
        }
        if let Some(timeout) = self.health_check_timeout {
            app.health_check_timeout = timeout;
        }
        if let Some(endpoint) = &self.health_check_http_endpoint {
            app.health_check_http_endpoint.clone_from(endpoint);
        }
        if let Some(instances) = self.instances {
            app.instances = instances;
        }
        if let Some(memory) = self.memory {
            app.memory = memory.unwrap_or(1024);
        }
        if let Some(production) = self.production {
            app.production = production;
        }
        // An empty list keeps the ports, as the platform ignores `"ports": []`.
        if let Some(ports) = &self.ports
            && ports.as_ref().is_none_or(|ports| !ports.is_empty())
        {
            app.ports.clone_from(ports);
        }
    }
}

/// The file names in a zip archive's central directory (directories left out), or why it is
/// not a zip archive.
fn zip_entries(data: &[u8]) -> Result<Vec<String>, String> {
    let archive =
        zip::ZipArchive::new(std::io::Cursor::new(data)).map_err(|error| error.to_string())?;
    let mut files = Vec::with_capacity(archive.len());
    for name in archive.file_names() {
        let name = name.map_err(|error| error.to_string())?;
        if !name.ends_with('/') {
            files.push(name.into_owned());
        }
    }
    Ok(files)
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

    #[test]
    fn page_links_keep_colons_readable() {
        assert_eq!(query_encode("name:web app/ü"), "name:web%20app%2F%C3%BC");
    }

    #[test]
    fn non_zips_are_told_apart() {
        assert!(zip_entries(b"hello").is_err());
        assert!(zip_entries(b"PK\x03\x04 but nothing else").is_err());
        let empty = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        assert_eq!(zip_entries(empty).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn error_bodies_follow_the_catalogue() {
        assert_eq!(
            NOT_STAGED.details(""),
            json!({ "description": "App has not finished staging", "error_code": "CF-NotStaged", "code": 170002 })
        );
        assert_eq!(
            APP_NAME_TAKEN.details("web").to_string(),
            r#"{"description":"The app name is taken: web","error_code":"CF-AppNameTaken","code":100002}"#
        );
    }
}
