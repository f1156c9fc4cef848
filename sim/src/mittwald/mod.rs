//! The simulated mittwald mStudio API v2: apps and versions, app installations with their
//! phases, projects, and the platform's error bodies.
//!
//! Bodies follow the real responses in `shared/reference/mittwald-examples` and add the fields
//! the spec now requires that those older examples leave out (`appName`, `updateAvailable`, ...
//! and `name`, `externalVersion`, `updateAvailable` in `systemSoftware[]`): every body passes
//! Prism's check against the full vendor spec (`fidelity/prism.sh`).
//!
//! Each resource has its module: `apps` (and their versions), `projects`, `installations`
//! (with `inputs`, `validation` and `pages`), `runtime` (the app's process and its status),
//! `ssh_users` (and the login check of the SSH server, `crate::ssh`), and `seed` for the
//! control API.

mod apps;
mod inputs;
mod installations;
mod pages;
mod projects;
mod runtime;
mod seed;
mod ssh_users;
mod validation;

pub use projects::{CLUSTER_DOMAIN, CLUSTER_ID};
pub(crate) use runtime::AppState;
pub use seed::SeedInstallation;
pub(crate) use ssh_users::SshLogin;

use std::time::{Instant, SystemTime};

use serde_json::{Value, json};

use crate::options::SimOptions;
use crate::request::{Reply, Request};
use apps::{get_version, list_apps, list_versions};
use installations::Installation;
use projects::Project;

/// The Node.js app (real id).
pub const NODE_APP_ID: &str = "3e7f920b-a711-4d2f-9871-661e1b41a2f0";
/// Node.js app version 1.0.0, recommended (real id).
pub const NODE_VERSION_1_0_0_ID: &str = "97fb8684-3fe3-4720-86fb-fb0524ae88d1";
/// Node.js app version 1.1.0, newer and not recommended (made-up id).
pub const NODE_VERSION_1_1_0_ID: &str = "1374284c-6634-4ebe-b3f5-7b0919724cae";
/// The Python app (real id).
pub const PYTHON_APP_ID: &str = "be57d166-dae9-4480-bae2-da3f3c6f0a2e";
/// Python app version 1.0.0, recommended (made-up id).
pub const PYTHON_VERSION_1_0_0_ID: &str = "c5db9b31-a80f-4f0f-aa8a-fbcf3f8c89a9";
/// Python app version 1.1.0, newer and not recommended (made-up id).
pub const PYTHON_VERSION_1_1_0_ID: &str = "47f1aa59-4dcf-4d80-bec6-a75af84c4e91";
/// The WordPress app (the id the mittwald CLI uses).
pub const WORDPRESS_APP_ID: &str = "da3aa3ae-4b6b-4398-a4a8-ee8def827876";
/// WordPress 6.8.1, recommended (made-up id). It requires `site_title`, `admin_user` and
/// `admin_email`, which have no defaults, and takes an optional `language`.
pub const WORDPRESS_VERSION_6_8_1_ID: &str = "9cc8936f-bac0-4259-9862-7d02dd47e1f0";

/// The simulated platform state: projects met so far and app installations.
#[derive(Default)]
pub(crate) struct Mittwald {
    projects: Vec<Project>,
    installations: Vec<Installation>,
    ssh_users: Vec<ssh_users::SshUser>,
    /// Last event id handed out in an `etag`.
    events: u64,
}

/// The routes this module answers, found before authentication so unknown paths answer 404.
enum Route<'a> {
    ListApps,
    ListVersions(&'a str),
    GetVersion(&'a str, &'a str),
    Install(&'a str),
    ListInstallations(&'a str),
    GetInstallation(&'a str),
    PatchInstallation(&'a str),
    DeleteInstallation(&'a str),
    GetProject(&'a str),
    AppStatus(&'a str),
    CreateSshUser(&'a str),
    ListSshUsers(&'a str),
    GetSshUser(&'a str),
    PatchSshUser(&'a str),
    DeleteSshUser(&'a str),
    /// A deprecated spelling; the platform redirects with 308.
    Moved(String),
}

fn route<'a>(method: &str, segments: &[&'a str]) -> Option<Route<'a>> {
    Some(match (method, segments) {
        ("GET", ["v2", "apps"]) => Route::ListApps,
        ("GET", ["v2", "apps", app, "versions"]) => Route::ListVersions(app),
        ("GET", ["v2", "apps", app, "versions", version]) => Route::GetVersion(app, version),
        ("POST", ["v2", "projects", project, "app-installations"]) => Route::Install(project),
        ("GET", ["v2", "projects", project, "app-installations"]) => {
            Route::ListInstallations(project)
        }
        ("GET", ["v2", "projects", project]) => Route::GetProject(project),
        ("GET", ["v2", "app-installations", id, "status"]) => Route::AppStatus(id),
        ("POST", ["v2", "projects", project, "ssh-users"]) => Route::CreateSshUser(project),
        ("GET", ["v2", "projects", project, "ssh-users"]) => Route::ListSshUsers(project),
        ("GET", ["v2", "ssh-users", id]) => Route::GetSshUser(id),
        ("PATCH", ["v2", "ssh-users", id]) => Route::PatchSshUser(id),
        ("DELETE", ["v2", "ssh-users", id]) => Route::DeleteSshUser(id),
        ("GET", ["v2", "app-installations", id]) => Route::GetInstallation(id),
        ("PATCH", ["v2", "app-installations", id]) => Route::PatchInstallation(id),
        ("DELETE", ["v2", "app-installations", id]) => Route::DeleteInstallation(id),
        (_, ["v2", "projects", project, "appinstallations"]) => {
            Route::Moved(format!("/v2/projects/{project}/app-installations"))
        }
        (_, ["v2", "appinstallations", id]) => Route::Moved(format!("/v2/app-installations/{id}")),
        _ => return None,
    })
}

impl Mittwald {
    /// Answers `request` if it is one of mittwald's routes.
    pub(crate) fn handle(
        &mut self,
        options: &SimOptions,
        request: &Request,
        now: Instant,
    ) -> Option<Reply> {
        let segments = request.segments();
        let route = route(&request.method, &segments)?;
        if !matches!(route, Route::ListApps | Route::Moved(_))
            && let Err(reply) = authorize(request, &options.token)
        {
            return Some(reply);
        }
        Some(match route {
            Route::ListApps => list_apps(request),
            Route::ListVersions(app) => list_versions(request, app),
            Route::GetVersion(app, version) => get_version(app, version),
            Route::Install(project) => self.install(options, request, project, now),
            Route::ListInstallations(project) => self.list(options, request, project, now),
            Route::GetInstallation(id) => self.get(options, request, id, now),
            Route::PatchInstallation(id) => self.patch(options, request, id, now),
            Route::DeleteInstallation(id) => self.delete(id),
            Route::GetProject(project) => self.get_project(options, project),
            Route::AppStatus(id) => self.app_status(id, now),
            Route::CreateSshUser(project) => self.create_ssh_user(options, request, project, now),
            Route::ListSshUsers(project) => self.list_ssh_users(request, project),
            Route::GetSshUser(id) => self.get_ssh_user(options, id, now),
            Route::PatchSshUser(id) => self.patch_ssh_user(options, request, id, now),
            Route::DeleteSshUser(id) => self.delete_ssh_user(id),
            Route::Moved(path) => {
                let location = if request.raw_query.is_empty() {
                    path
                } else {
                    format!("{path}?{}", request.raw_query)
                };
                Reply::empty(308).with_header("location", location)
            }
        })
    }

    /// Every installation's body, oldest first.
    pub(crate) fn installation_bodies(&self, now: Instant) -> Vec<Value> {
        self.installations
            .iter()
            .map(|installation| installation.body(&self.projects[installation.project], now))
            .collect()
    }

    fn next_event(&mut self) -> u64 {
        self.events += 1;
        self.events
    }
}

fn authorize(request: &Request, token: &str) -> Result<(), Reply> {
    let given = request.header("x-access-token").or_else(|| {
        request.header("authorization").and_then(|value| {
            let (scheme, credentials) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| credentials.trim())
        })
    });
    match given {
        Some(given) if given == token => Ok(()),
        Some(_) => Err(error(
            401,
            "UnauthorizedError",
            "access token is invalid or expired",
        )),
        None => Err(error(
            401,
            "UnauthorizedError",
            "no access token provided: send X-Access-Token or Authorization: Bearer",
        )),
    }
}

/// mittwald's error body `{type, message}` with `status`.
pub(crate) fn error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::json(status, &json!({ "type": kind, "message": message }))
}

/// The body mittwald answers with for `status` when nothing more specific is known.
pub(crate) fn error_for_status(status: u16) -> Reply {
    let (kind, message) = match status {
        400 => {
            return Reply::json(
                400,
                &json!({ "type": "ValidationError", "message": "Validation failed", "validationErrors": [] }),
            );
        }
        401 => ("UnauthorizedError", "access token missing or invalid"),
        403 => ("PermissionDeniedError", "permission denied"),
        404 => ("NotFoundError", "resource not found"),
        409 => ("ConflictError", "conflict"),
        412 => ("PreconditionFailedError", "precondition failed"),
        413 => ("PayloadTooLargeError", "request body too large"),
        429 => ("RateLimitError", "too many requests"),
        502 => ("BadGatewayError", "bad gateway"),
        503 => ("ServiceUnavailableError", "service unavailable"),
        504 => ("GatewayTimeoutError", "gateway timeout"),
        status if status >= 500 => ("InternalServerError", "Something went wrong"),
        // Non-error statuses carry no body.
        status if status < 400 => return Reply::empty(status),
        _ => ("Error", "request failed"),
    };
    error(status, kind, message)
}

fn not_found(what: &str, id: &str) -> Reply {
    error(404, "NotFoundError", &format!("{what} {id} not found"))
}

/// `len` random lower-case letters and digits, the alphabet of the platform's short ids.
fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}
