//! The simulated mittwald mStudio API v2: apps and versions, app installations with their
//! phases, projects, and the platform's error bodies.
//!
//! Bodies follow the real responses in `shared/reference/mittwald-examples` and add the fields
//! the spec now requires that those older examples leave out (`appName`, `updateAvailable`, ...
//! and `name`, `externalVersion`, `updateAvailable` in `systemSoftware[]`): every body passes
//! Prism's check against the full vendor spec (`fidelity/prism.sh`).

use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value, json};

use super::{Reply, Request, SeedInstallation, SimOptions};

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

/// A runtime an app version depends on, and the version of it an installation desires.
struct SystemSoftwareDef {
    id: &'static str,
    version_id: &'static str,
    /// `name` and `externalVersion` of the installation's `systemSoftware[]` entry, which the
    /// spec requires (the recorded bodies predate that and lack both).
    name: &'static str,
    external_version: &'static str,
}

/// Node.js (real ids, reference 01; the version number is made up).
const NODE_SYSTEM_SOFTWARE: SystemSoftwareDef = SystemSoftwareDef {
    id: "1d80c3ff-f932-424e-813a-17c49c0fb837",
    version_id: "85e47b2c-5576-424a-a52a-f782e6ff0f57",
    name: "node",
    external_version: "22.14.0",
};
/// Made-up ids: the Python runtime's system software.
const PYTHON_SYSTEM_SOFTWARE: SystemSoftwareDef = SystemSoftwareDef {
    id: "75a387e5-42e3-49d0-b2b0-34cc9d1bbc9d",
    version_id: "f8f94f3e-0041-4e19-b5fa-acc7a864c1b9",
    name: "python",
    external_version: "3.13.2",
};
/// Made-up ids: PHP for WordPress.
const PHP_SYSTEM_SOFTWARE: SystemSoftwareDef = SystemSoftwareDef {
    id: "e25024c6-a761-433e-ba65-4c79ccaeb481",
    version_id: "feac2e43-fcc5-4032-9405-3ff79ef22d4a",
    name: "php",
    external_version: "8.4.7",
};
const CUSTOMER_ID: &str = "984c16d6-7bee-4f4c-9ba2-c17930ad8d4c";
const SERVER_GROUP_ID: &str = "b448ef59-9b10-4968-ae28-bbb08ee8d765";

/// The real platform answers a GET with `if-event-reached` for an event it never reaches with
/// 412 after this long; the simulator knows at once and only quotes it.
const EVENT_WAIT_LIMIT: &str = "10s";

/// `X-Pagination-Limit` when the caller gives none.
const DEFAULT_PAGE_LIMIT: usize = 1000;

const UPDATE_POLICIES: [&str; 3] = ["none", "patchLevel", "all"];

struct AppDef {
    id: &'static str,
    name: &'static str,
    tags: &'static [&'static str],
}

struct VersionDef {
    id: &'static str,
    app_id: &'static str,
    version: &'static str,
    recommended: bool,
    doc_root_user_editable: bool,
    request_handler: Option<HandlerDef>,
    system_software: &'static SystemSoftwareDef,
    inputs: &'static [InputDef],
}

struct HandlerDef {
    name: &'static str,
    example_entrypoint: &'static str,
}

struct InputDef {
    name: &'static str,
    default: Option<&'static str>,
    format: Option<&'static str>,
    required: bool,
    /// `installation`: fixed once installed; `reconfigure`: a PATCH may change it.
    lifecycle: &'static str,
    step: &'static str,
    index: u32,
}

impl InputDef {
    /// Every simulated input is text; these schemas are the ones the real versions carry.
    fn validation_schema(&self) -> &'static str {
        match self.format {
            Some("email") => "{ \"type\": \"string\", \"format\": \"email\" }",
            _ => "{ \"type\": \"string\", \"minLength\": 1 }",
        }
    }

    /// What the validation schema would say about `value`, if anything.
    fn problem(&self, value: &str) -> Option<(&'static str, &'static str)> {
        match self.format {
            Some("email") => {
                let plausible = value
                    .split_once('@')
                    .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
                (!plausible).then_some(("format", "must match format \"email\""))
            }
            _ => value
                .is_empty()
                .then_some(("minLength", "must NOT have fewer than 1 characters")),
        }
    }
}

const fn entrypoint(default: &'static str) -> InputDef {
    InputDef {
        name: "entrypoint",
        default: Some(default),
        format: None,
        required: true,
        lifecycle: "reconfigure",
        step: "runtime",
        index: 1,
    }
}

const NODE_INPUTS: &[InputDef] = &[entrypoint("yarn start")];
const PYTHON_INPUTS: &[InputDef] = &[entrypoint("python app.py")];
const WORDPRESS_INPUTS: &[InputDef] = &[
    InputDef {
        name: "site_title",
        default: None,
        format: None,
        required: true,
        lifecycle: "installation",
        step: "general",
        index: 1,
    },
    InputDef {
        name: "admin_user",
        default: None,
        format: None,
        required: true,
        lifecycle: "installation",
        step: "admin",
        index: 1,
    },
    InputDef {
        name: "admin_email",
        default: None,
        format: Some("email"),
        required: true,
        lifecycle: "installation",
        step: "admin",
        index: 2,
    },
    InputDef {
        name: "language",
        default: Some("en_US"),
        format: None,
        required: false,
        lifecycle: "installation",
        step: "general",
        index: 2,
    },
];

const APPS: &[AppDef] = &[
    AppDef {
        id: NODE_APP_ID,
        name: "Node.js",
        tags: &["runtime"],
    },
    AppDef {
        id: PYTHON_APP_ID,
        name: "Python",
        tags: &["runtime"],
    },
    AppDef {
        id: WORDPRESS_APP_ID,
        name: "WordPress",
        tags: &["cms"],
    },
];

const VERSIONS: &[VersionDef] = &[
    VersionDef {
        id: NODE_VERSION_1_0_0_ID,
        app_id: NODE_APP_ID,
        version: "1.0.0",
        recommended: true,
        doc_root_user_editable: true,
        request_handler: Some(HandlerDef {
            name: "node-http",
            example_entrypoint: "yarn start",
        }),
        system_software: &NODE_SYSTEM_SOFTWARE,
        inputs: NODE_INPUTS,
    },
    VersionDef {
        id: NODE_VERSION_1_1_0_ID,
        app_id: NODE_APP_ID,
        version: "1.1.0",
        recommended: false,
        doc_root_user_editable: true,
        request_handler: Some(HandlerDef {
            name: "node-http",
            example_entrypoint: "yarn start",
        }),
        system_software: &NODE_SYSTEM_SOFTWARE,
        inputs: NODE_INPUTS,
    },
    VersionDef {
        id: PYTHON_VERSION_1_0_0_ID,
        app_id: PYTHON_APP_ID,
        version: "1.0.0",
        recommended: true,
        doc_root_user_editable: true,
        request_handler: Some(HandlerDef {
            name: "python-http",
            example_entrypoint: "python app.py",
        }),
        system_software: &PYTHON_SYSTEM_SOFTWARE,
        inputs: PYTHON_INPUTS,
    },
    VersionDef {
        id: PYTHON_VERSION_1_1_0_ID,
        app_id: PYTHON_APP_ID,
        version: "1.1.0",
        recommended: false,
        doc_root_user_editable: true,
        request_handler: Some(HandlerDef {
            name: "python-http",
            example_entrypoint: "python app.py",
        }),
        system_software: &PYTHON_SYSTEM_SOFTWARE,
        inputs: PYTHON_INPUTS,
    },
    VersionDef {
        id: WORDPRESS_VERSION_6_8_1_ID,
        app_id: WORDPRESS_APP_ID,
        version: "6.8.1",
        recommended: true,
        doc_root_user_editable: false,
        request_handler: None,
        system_software: &PHP_SYSTEM_SOFTWARE,
        inputs: WORDPRESS_INPUTS,
    },
];

fn find_app(id: &str) -> Option<&'static AppDef> {
    APPS.iter().find(|app| app.id.eq_ignore_ascii_case(id))
}

fn find_version(id: &str) -> Option<&'static VersionDef> {
    VERSIONS
        .iter()
        .find(|version| version.id.eq_ignore_ascii_case(id))
}

fn app_json(app: &AppDef) -> Value {
    json!({ "id": app.id, "name": app.name, "tags": app.tags })
}

fn version_json(version: &VersionDef) -> Value {
    let inputs: Vec<Value> = version.inputs.iter().map(input_json).collect();
    let mut body = Map::new();
    body.insert("appId".into(), json!(version.app_id));
    body.insert("docRoot".into(), json!("/"));
    body.insert(
        "docRootUserEditable".into(),
        json!(version.doc_root_user_editable),
    );
    body.insert("externalVersion".into(), json!(version.version));
    body.insert("id".into(), json!(version.id));
    body.insert("internalVersion".into(), json!(version.version));
    // Real versions leave `recommended` out unless it is true.
    if version.recommended {
        body.insert("recommended".into(), json!(true));
    }
    if let Some(handler) = &version.request_handler {
        body.insert(
            "requestHandler".into(),
            json!({
                "name": handler.name,
                "namespace": "mittwald-system",
                "parametersTemplate": "{ \"entrypoint\": {{ .ToEntrypoint .entrypoint }}, \"workingDirectory\": \"{{ .WorkingDirectory }}\", \"listenPortEnvVar\": \"PORT\" }",
                "exampleValues": [{ "name": "entrypoint", "value": handler.example_entrypoint }],
            }),
        );
    }
    body.insert(
        "systemSoftwareDependencies".into(),
        json!([{ "systemSoftwareId": version.system_software.id, "versionRange": "*" }]),
    );
    body.insert("userInputs".into(), Value::Array(inputs));
    Value::Object(body)
}

/// Keys in the order of the real body (reference 02), which is not alphabetical here.
fn input_json(input: &InputDef) -> Value {
    let mut body = Map::new();
    body.insert("name".into(), json!(input.name));
    body.insert("dataType".into(), json!("text"));
    if let Some(default) = input.default {
        body.insert("defaultValue".into(), json!(default));
    }
    if let Some(format) = input.format {
        body.insert("format".into(), json!(format));
    }
    body.insert("validationSchema".into(), json!(input.validation_schema()));
    body.insert(
        "positionMeta".into(),
        json!({ "step": input.step, "index": input.index }),
    );
    body.insert("lifecycleConstraint".into(), json!(input.lifecycle));
    body.insert("required".into(), json!(input.required));
    Value::Object(body)
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

/// One entry of `validationErrors`.
struct Invalid {
    path: String,
    kind: &'static str,
    message: String,
    context: Option<(&'static str, String)>,
}

impl Invalid {
    fn new(path: impl Into<String>, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            kind,
            message: message.into(),
            context: None,
        }
    }

    fn required(field: &str) -> Self {
        Self {
            context: Some(("missingProperty", field.to_owned())),
            ..Self::new(
                format!(".{field}"),
                "required",
                format!("must have required property '{field}'"),
            )
        }
    }
}

fn validation_failed(problems: Vec<Invalid>) -> Reply {
    let errors: Vec<Value> = problems
        .into_iter()
        .map(|problem| {
            let mut body =
                json!({ "message": problem.message, "path": problem.path, "type": problem.kind });
            if let Some((key, value)) = problem.context {
                body["context"] = json!({ key: value });
            }
            body
        })
        .collect();
    Reply::json(
        400,
        &json!({ "type": "ValidationError", "message": "Validation failed", "validationErrors": errors }),
    )
}

fn not_found(what: &str, id: &str) -> Reply {
    error(404, "NotFoundError", &format!("{what} {id} not found"))
}

/// The simulated platform state: projects met so far and app installations.
#[derive(Default)]
pub(crate) struct Mittwald {
    projects: Vec<Project>,
    installations: Vec<Installation>,
    /// Last event id handed out in an `etag`.
    events: u64,
}

struct Project {
    id: String,
    short_id: String,
    created_at: String,
}

struct Installation {
    id: String,
    short_id: String,
    project: usize,
    app: &'static AppDef,
    version: &'static VersionDef,
    description: String,
    installation_path: String,
    custom_document_root: Option<String>,
    update_policy: String,
    user_inputs: Vec<(String, String)>,
    created_at: String,
    disabled: bool,
    change: Option<Change>,
    /// When and with which event it was last written; a GET waits for it.
    last_write: Option<(Instant, u64)>,
}

/// An installation on its way to `ready`; its timing is fixed when the change starts.
struct Change {
    phases: Vec<String>,
    started: Instant,
    duration: Duration,
    /// `appVersion.current` until ready (absent while installing, the old version while
    /// upgrading).
    current: Option<String>,
}

impl Installation {
    fn phase(&self, now: Instant) -> (String, Option<String>) {
        let desired = Some(self.version.id.to_owned());
        if self.disabled {
            return ("disabled".to_owned(), desired);
        }
        let Some(change) = &self.change else {
            return ("ready".to_owned(), desired);
        };
        let elapsed = now.saturating_duration_since(change.started);
        if elapsed >= change.duration || change.phases.is_empty() {
            return ("ready".to_owned(), desired);
        }
        let share = elapsed.as_nanos() * change.phases.len() as u128 / change.duration.as_nanos();
        let index = (share as usize).min(change.phases.len() - 1);
        (change.phases[index].clone(), change.current.clone())
    }

    fn body(&self, project: &Project, now: Instant) -> Value {
        let (phase, current) = self.phase(now);
        let mut app_version = json!({ "desired": self.version.id });
        if let Some(current) = current {
            app_version["current"] = json!(current);
        }
        let mut body = json!({
            "appExternalVersion": self.version.version,
            "appId": self.app.id,
            "appName": self.app.name,
            "appVersion": app_version,
            "createdAt": self.created_at,
            "deletionRequested": false,
            "description": self.description,
            "disabled": self.disabled,
            "id": self.id,
            "installationPath": self.installation_path,
            "linkedDatabases": [],
            "phase": phase,
            "projectDescription": project_description(project),
            // Always the project's UUID, however the creating request spelled it.
            "projectId": project.id,
            "shortId": self.short_id,
            // Real bodies carry only `desired` here, even when ready.
            "systemSoftware": [{
                "externalVersion": self.version.system_software.external_version,
                "name": self.version.system_software.name,
                "systemSoftwareId": self.version.system_software.id,
                "systemSoftwareVersion": { "desired": self.version.system_software.version_id },
                "updateAvailable": false,
                "updatePolicy": "patchLevel",
            }],
            "updateAvailable": false,
            "updatePolicy": self.update_policy,
            "userInputs": self.user_inputs.iter()
                .map(|(name, value)| json!({ "name": name, "value": value }))
                .collect::<Vec<_>>(),
        });
        if let Some(root) = &self.custom_document_root {
            body["customDocumentRoot"] = json!(root);
        }
        // Real installation bodies list their keys alphabetically.
        if let Value::Object(map) = &mut body {
            map.sort_keys();
        }
        body
    }

    fn matches_search(&self, term: &str) -> bool {
        let term = term.to_lowercase();
        [
            self.description.as_str(),
            self.id.as_str(),
            self.short_id.as_str(),
            self.version.id,
            self.version.version,
        ]
        .iter()
        .any(|field| field.to_lowercase().contains(&term))
    }
}

fn project_description(project: &Project) -> String {
    format!("Simulated project {}", project.short_id)
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
            Route::GetProject(project) => self.get_project(project),
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

    /// Places an installation straight into the state; the error names what is wrong.
    pub(crate) fn seed(
        &mut self,
        options: &SimOptions,
        now: Instant,
        seed: SeedInstallation,
    ) -> Result<String, String> {
        let app = find_app(&seed.app_id).ok_or_else(|| format!("unknown app {}", seed.app_id))?;
        let version = find_version(&seed.app_version_id)
            .filter(|version| version.app_id == app.id)
            .ok_or_else(|| format!("app {} has no version {}", app.name, seed.app_version_id))?;
        let project = self.resolve_project(&seed.project_id).ok_or_else(|| {
            format!(
                "project id {:?} is neither a UUID nor a short id p-xxxxxx",
                seed.project_id
            )
        })?;
        let phase = seed.phase.unwrap_or_else(|| "ready".to_owned());
        let change = match phase.as_str() {
            "ready" | "disabled" => None,
            other => Some(Change {
                phases: vec![other.to_owned()],
                started: now,
                duration: options.time_to_ready,
                current: (!matches!(other, "pending" | "installing"))
                    .then(|| version.id.to_owned()),
            }),
        };
        let mut user_inputs = with_defaults(version, Vec::new());
        merge_inputs(&mut user_inputs, seed.user_inputs);
        let installation = Installation {
            id: uuid::Uuid::new_v4().to_string(),
            short_id: self.new_short_id(),
            project,
            app,
            version,
            installation_path: derive_installation_path(&seed.description),
            description: seed.description,
            custom_document_root: seed.custom_document_root,
            update_policy: seed.update_policy.unwrap_or_else(|| "none".to_owned()),
            user_inputs,
            created_at: now_rfc3339(),
            disabled: phase == "disabled",
            change,
            last_write: None,
        };
        let id = installation.id.clone();
        self.installations.push(installation);
        Ok(id)
    }

    fn next_event(&mut self) -> u64 {
        self.events += 1;
        self.events
    }

    fn new_short_id(&self) -> String {
        loop {
            let candidate = format!("a-{}", random_alnum(6));
            if !self.installations.iter().any(|i| i.short_id == candidate) {
                return candidate;
            }
        }
    }

    /// Finds or registers a project; any well-formed id names a project the token may use.
    fn resolve_project(&mut self, id: &str) -> Option<usize> {
        let is_uuid = id.len() == 36 && uuid::Uuid::try_parse(id).is_ok();
        let is_short = id.strip_prefix("p-").is_some_and(|rest| {
            (1..=16).contains(&rest.len())
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if let Some(index) = self
            .projects
            .iter()
            .position(|p| p.id.eq_ignore_ascii_case(id) || p.short_id == id)
        {
            return Some(index);
        }
        let project = if is_uuid {
            Project {
                id: id.to_ascii_lowercase(),
                short_id: self.new_project_short_id(),
                created_at: now_rfc3339(),
            }
        } else if is_short {
            Project {
                id: uuid::Uuid::new_v4().to_string(),
                short_id: id.to_owned(),
                created_at: now_rfc3339(),
            }
        } else {
            return None;
        };
        self.projects.push(project);
        Some(self.projects.len() - 1)
    }

    fn new_project_short_id(&self) -> String {
        loop {
            let candidate = format!("p-{}", random_alnum(6));
            if !self.projects.iter().any(|p| p.short_id == candidate) {
                return candidate;
            }
        }
    }

    fn find(&self, id: &str) -> Option<usize> {
        self.installations
            .iter()
            .position(|i| i.id.eq_ignore_ascii_case(id) || i.short_id == id)
    }

    fn get_project(&mut self, id: &str) -> Reply {
        let Some(index) = self.resolve_project(id) else {
            return not_found("project", id);
        };
        let project = &self.projects[index];
        Reply::json(
            200,
            &json!({
                "backupStorageUsageInBytes": 0,
                "backupStorageUsageInBytesSetAt": project.created_at,
                "clusterDomain": "project.host",
                "clusterId": "espelkamp",
                "createdAt": project.created_at,
                "customerId": CUSTOMER_ID,
                "description": project_description(project),
                "directories": { "Web": "/html", "Home": format!("/home/{}", project.short_id) },
                "enabled": true,
                "id": project.id,
                "isReady": true,
                "readiness": "ready",
                "serverGroupId": SERVER_GROUP_ID,
                "shortId": project.short_id,
                "status": "ready",
                "statusSetAt": project.created_at,
                "supportedFeatures": ["node", "runtimeApps"],
                "webStorageUsageInBytes": 0,
                "webStorageUsageInBytesSetAt": project.created_at,
            }),
        )
    }

    fn install(
        &mut self,
        options: &SimOptions,
        request: &Request,
        project_id: &str,
        now: Instant,
    ) -> Reply {
        let Some(project) = self.resolve_project(project_id) else {
            return not_found("project", project_id);
        };
        let body = match parse_object(request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let mut problems = Vec::new();
        let version = match required_string(&body, "appVersionId", &mut problems) {
            Some(id) if uuid::Uuid::try_parse(id).is_err() => {
                problems.push(Invalid::new(
                    ".appVersionId",
                    "format",
                    "must match format \"uuid\"",
                ));
                None
            }
            Some(id) => {
                let version = find_version(id);
                if version.is_none() {
                    problems.push(Invalid::new(
                        ".appVersionId",
                        "notFound",
                        format!("app version {id} not found"),
                    ));
                }
                version
            }
            None => None,
        };
        let description = required_string(&body, "description", &mut problems);
        let update_policy = required_string(&body, "updatePolicy", &mut problems);
        check_update_policy(update_policy, &mut problems);
        let given = match body.get("userInputs") {
            None => {
                problems.push(Invalid::required("userInputs"));
                Vec::new()
            }
            Some(value) => parse_user_inputs(value, &mut problems),
        };
        let installation_path = optional_string(&body, "installationPath", &mut problems);
        let user_inputs = version.map(|version| {
            check_input_names(version, &given, &mut problems);
            let merged = with_defaults(version, given.clone());
            check_required_inputs(version, &merged, &mut problems);
            merged
        });
        let (Some(version), Some(description), Some(update_policy), Some(user_inputs), true) = (
            version,
            description,
            update_policy,
            user_inputs,
            problems.is_empty(),
        ) else {
            return validation_failed(problems);
        };
        let app = find_app(version.app_id).unwrap_or(&APPS[0]);
        let installation_path = match installation_path {
            Some(path) if path.starts_with('/') => path.to_owned(),
            Some(path) => format!("/{path}"),
            None => derive_installation_path(description),
        };
        let event = self.next_event();
        let installation = Installation {
            id: uuid::Uuid::new_v4().to_string(),
            short_id: self.new_short_id(),
            project,
            app,
            version,
            description: description.to_owned(),
            installation_path,
            custom_document_root: None,
            update_policy: update_policy.to_owned(),
            user_inputs,
            created_at: now_rfc3339(),
            disabled: false,
            change: Some(Change {
                phases: if options.phases.is_empty() {
                    vec!["pending".to_owned()]
                } else {
                    options.phases.clone()
                },
                started: now,
                duration: options.time_to_ready,
                current: None,
            }),
            last_write: Some((now, event)),
        };
        let id = installation.id.clone();
        self.installations.push(installation);
        Reply::json(201, &json!({ "id": id })).with_header("etag", event.to_string())
    }

    fn list(
        &mut self,
        options: &SimOptions,
        request: &Request,
        project_id: &str,
        now: Instant,
    ) -> Reply {
        let Some(project) = self.resolve_project(project_id) else {
            return not_found("project", project_id);
        };
        let app_ids: Vec<String> = request
            .query
            .iter()
            .filter(|(key, _)| key == "appIds" || key == "appIds[]")
            .flat_map(|(_, value)| value.split(','))
            .map(|id| id.trim().to_ascii_lowercase())
            .filter(|id| !id.is_empty())
            .collect();
        let search = request
            .query_param("searchTerm")
            .filter(|term| !term.is_empty());
        let matching: Vec<&Installation> = self
            .installations
            .iter()
            .filter(|i| i.project == project)
            .filter(|i| app_ids.is_empty() || app_ids.iter().any(|id| id == i.app.id))
            .filter(|i| search.is_none_or(|term| i.matches_search(term)))
            .collect();
        let page = match Page::from_query(request, matching.len(), options.installation_page_cap) {
            Ok(page) => page,
            Err(reply) => return reply,
        };
        let bodies: Vec<Value> = matching
            .iter()
            .skip(page.skip)
            .take(page.limit)
            .map(|i| i.body(&self.projects[i.project], now))
            .collect();
        let total = !options.installation_total_hidden;
        page.headers(Reply::json(200, &Value::Array(bodies)), total)
    }

    fn get(&self, options: &SimOptions, request: &Request, id: &str, now: Instant) -> Reply {
        let reached = request
            .header("if-event-reached")
            .map(|value| value.trim().trim_start_matches("W/").trim_matches('"'))
            .and_then(|value| value.parse::<u64>().ok());
        if let Some(event) = reached
            && event > self.events
        {
            return error(
                412,
                "PreconditionFailedError",
                &format!("event {event} was not reached within {EVENT_WAIT_LIMIT}"),
            );
        }
        let Some(index) = self.find(id) else {
            return not_found("app installation", id);
        };
        let installation = &self.installations[index];
        if let Some((written, event)) = installation.last_write {
            let settled = now.saturating_duration_since(written) >= options.consistency_delay;
            if !settled && reached.is_none_or(|reached| reached < event) {
                return not_found("app installation", id);
            }
        }
        Reply::json(
            200,
            &installation.body(&self.projects[installation.project], now),
        )
    }

    fn patch(&mut self, options: &SimOptions, request: &Request, id: &str, now: Instant) -> Reply {
        let Some(index) = self.find(id) else {
            return not_found("app installation", id);
        };
        let body = match parse_object(request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let installation = &self.installations[index];
        let mut problems = Vec::new();
        let new_version = match optional_string(&body, "appVersionId", &mut problems) {
            Some(version_id) => match find_version(version_id) {
                Some(version) if version.app_id == installation.app.id => Some(version),
                Some(_) => {
                    problems.push(Invalid::new(
                        ".appVersionId",
                        "appMismatch",
                        format!(
                            "app version {version_id} does not belong to app {}",
                            installation.app.name
                        ),
                    ));
                    None
                }
                None => {
                    problems.push(Invalid::new(
                        ".appVersionId",
                        "notFound",
                        format!("app version {version_id} not found"),
                    ));
                    None
                }
            },
            None => None,
        };
        let description = optional_string(&body, "description", &mut problems);
        let update_policy = optional_string(&body, "updatePolicy", &mut problems);
        check_update_policy(update_policy, &mut problems);
        let document_root = optional_string(&body, "customDocumentRoot", &mut problems);
        let target = new_version.unwrap_or(installation.version);
        let mut user_inputs = installation.user_inputs.clone();
        if let Some(value) = body.get("userInputs") {
            let given = parse_user_inputs(value, &mut problems);
            check_input_names(target, &given, &mut problems);
            for (position, (name, value)) in given.iter().enumerate() {
                let fixed = target
                    .inputs
                    .iter()
                    .any(|input| input.name == name && input.lifecycle == "installation");
                let changed = installation
                    .user_inputs
                    .iter()
                    .find(|(old, _)| old == name)
                    .is_none_or(|(_, old)| old != value);
                if fixed && changed {
                    problems.push(Invalid::new(
                        format!(".userInputs[{position}].value"),
                        "lifecycleConstraint",
                        format!("user input '{name}' can only be set at installation"),
                    ));
                }
            }
            merge_inputs(&mut user_inputs, given);
        }
        let user_inputs = with_defaults(target, user_inputs);
        check_required_inputs(target, &user_inputs, &mut problems);
        if !problems.is_empty() {
            return validation_failed(problems);
        }
        let (phase, _) = installation.phase(now);
        if phase != "ready" {
            return error(
                412,
                "PreconditionFailedError",
                &format!(
                    "app installation {} is in phase APP_PHASE_{}, expected phase APP_PHASE_READY",
                    installation.short_id,
                    phase.to_ascii_uppercase()
                ),
            );
        }
        let event = self.next_event();
        let installation = &mut self.installations[index];
        let old_version = installation.version.id;
        let upgrading = target.id != old_version;
        let reconfiguring = user_inputs != installation.user_inputs;
        if upgrading || reconfiguring {
            installation.change = Some(Change {
                phases: vec![
                    if upgrading {
                        "upgrading"
                    } else {
                        "reconfiguring"
                    }
                    .to_owned(),
                ],
                started: now,
                duration: options.time_to_ready,
                current: Some(old_version.to_owned()),
            });
        }
        installation.version = target;
        installation.user_inputs = user_inputs;
        if let Some(description) = description {
            installation.description = description.to_owned();
        }
        if let Some(policy) = update_policy {
            installation.update_policy = policy.to_owned();
        }
        if let Some(root) = document_root {
            installation.custom_document_root = Some(root.to_owned());
        }
        installation.last_write = Some((now, event));
        Reply::empty(204).with_header("etag", event.to_string())
    }

    fn delete(&mut self, id: &str) -> Reply {
        let Some(index) = self.find(id) else {
            return not_found("app installation", id);
        };
        self.installations.remove(index);
        let event = self.next_event();
        Reply::empty(204).with_header("etag", event.to_string())
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

fn list_apps(request: &Request) -> Reply {
    let page = match Page::from_query(request, APPS.len(), None) {
        Ok(page) => page,
        Err(reply) => return reply,
    };
    let apps: Vec<Value> = APPS
        .iter()
        .skip(page.skip)
        .take(page.limit)
        .map(app_json)
        .collect();
    page.headers(Reply::json(200, &Value::Array(apps)), true)
}

fn list_versions(request: &Request, app_id: &str) -> Reply {
    let Some(app) = find_app(app_id) else {
        return not_found("app", app_id);
    };
    // `versionRange` is ignored: the simulator has too few versions for it to matter.
    let only_recommended = request.query_param("recommended") == Some("true");
    let versions: Vec<Value> = VERSIONS
        .iter()
        .filter(|version| version.app_id == app.id)
        .filter(|version| !only_recommended || version.recommended)
        .map(version_json)
        .collect();
    let count = versions.len().to_string();
    Reply::json(200, &Value::Array(versions))
        .with_header("x-pagination-limit", count.clone())
        .with_header("x-pagination-skip", "0")
        .with_header("x-pagination-totalcount", count)
}

fn get_version(app_id: &str, version_id: &str) -> Reply {
    if find_app(app_id).is_none() {
        return not_found("app", app_id);
    }
    match find_version(version_id).filter(|version| version.app_id.eq_ignore_ascii_case(app_id)) {
        Some(version) => Reply::json(200, &version_json(version)),
        None => not_found("app version", version_id),
    }
}

struct Page {
    limit: usize,
    skip: usize,
    total: usize,
}

impl Page {
    /// The page `limit` and `skip` (or `page`) ask for; a `cap` (at least 1) lowers the limit,
    /// and `X-Pagination-Limit` then says the lower one.
    fn from_query(request: &Request, total: usize, cap: Option<usize>) -> Result<Self, Reply> {
        let number = |key: &str| -> Result<Option<usize>, Reply> {
            match request.query_param(key) {
                None | Some("") => Ok(None),
                Some(value) => value.parse().map(Some).map_err(|_| {
                    validation_failed(vec![Invalid::new(
                        format!(".{key}"),
                        "type",
                        "must be integer",
                    )])
                }),
            }
        };
        let limit = number("limit")?
            .filter(|&limit| limit > 0)
            .unwrap_or(DEFAULT_PAGE_LIMIT)
            .min(cap.unwrap_or(usize::MAX).max(1));
        // `skip` wins over `page` when both are given, as the spec says.
        let skip = match (number("skip")?, number("page")?) {
            (Some(skip), _) => skip,
            (None, Some(page)) => page.saturating_sub(1).saturating_mul(limit),
            (None, None) => 0,
        };
        Ok(Self { limit, skip, total })
    }

    /// The `X-Pagination-*` headers; `X-Pagination-TotalCount` only `with_total`.
    fn headers(&self, reply: Reply, with_total: bool) -> Reply {
        let reply = reply
            .with_header("x-pagination-limit", self.limit.to_string())
            .with_header("x-pagination-skip", self.skip.to_string())
            .with_header(
                "x-pagination-page",
                (self.skip / self.limit + 1).to_string(),
            );
        if with_total {
            reply.with_header("x-pagination-totalcount", self.total.to_string())
        } else {
            reply
        }
    }
}

fn parse_object(request: &Request) -> Result<Map<String, Value>, Reply> {
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(body)) => Ok(body),
        Ok(_) => Err(validation_failed(vec![Invalid::new(
            "",
            "type",
            "must be object",
        )])),
        Err(error) => Err(validation_failed(vec![Invalid::new(
            "",
            "json",
            format!("request body is not valid JSON: {error}"),
        )])),
    }
}

fn required_string<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    problems: &mut Vec<Invalid>,
) -> Option<&'a str> {
    if !body.contains_key(field) {
        problems.push(Invalid::required(field));
        return None;
    }
    optional_string(body, field, problems)
}

fn optional_string<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    problems: &mut Vec<Invalid>,
) -> Option<&'a str> {
    match body.get(field)? {
        Value::String(value) => Some(value),
        _ => {
            problems.push(Invalid::new(format!(".{field}"), "type", "must be string"));
            None
        }
    }
}

fn check_update_policy(policy: Option<&str>, problems: &mut Vec<Invalid>) {
    if let Some(policy) = policy
        && !UPDATE_POLICIES.contains(&policy)
    {
        problems.push(Invalid {
            context: Some(("allowedValues", UPDATE_POLICIES.join(", "))),
            ..Invalid::new(
                ".updatePolicy",
                "enum",
                "must be equal to one of the allowed values",
            )
        });
    }
}

fn parse_user_inputs(value: &Value, problems: &mut Vec<Invalid>) -> Vec<(String, String)> {
    let Value::Array(items) = value else {
        problems.push(Invalid::new(".userInputs", "type", "must be array"));
        return Vec::new();
    };
    let mut inputs = Vec::new();
    for (position, item) in items.iter().enumerate() {
        let path = format!(".userInputs[{position}]");
        let Value::Object(item) = item else {
            problems.push(Invalid::new(path, "type", "must be object"));
            continue;
        };
        let mut field = |key: &str| match item.get(key) {
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                problems.push(Invalid::new(
                    format!("{path}.{key}"),
                    "type",
                    "must be string",
                ));
                None
            }
            None => {
                problems.push(Invalid {
                    context: Some(("missingProperty", key.to_owned())),
                    ..Invalid::new(
                        format!("{path}.{key}"),
                        "required",
                        format!("must have required property '{key}'"),
                    )
                });
                None
            }
        };
        if let (Some(name), Some(value)) = (field("name"), field("value")) {
            inputs.push((name, value));
        }
    }
    inputs
}

fn check_input_names(
    version: &VersionDef,
    given: &[(String, String)],
    problems: &mut Vec<Invalid>,
) {
    for (position, (name, value)) in given.iter().enumerate() {
        match version.inputs.iter().find(|input| input.name == name) {
            None => problems.push(Invalid::new(
                format!(".userInputs[{position}].name"),
                "unknownUserInput",
                format!(
                    "user input '{name}' is not defined by app version {}; allowed: {}",
                    version.id,
                    version
                        .inputs
                        .iter()
                        .map(|input| input.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            Some(input) => {
                if let Some((kind, message)) = input.problem(value) {
                    problems.push(Invalid::new(
                        format!(".userInputs[{position}].value"),
                        kind,
                        message,
                    ));
                }
            }
        }
    }
}

fn check_required_inputs(
    version: &VersionDef,
    inputs: &[(String, String)],
    problems: &mut Vec<Invalid>,
) {
    for input in version.inputs.iter().filter(|input| input.required) {
        if !inputs.iter().any(|(name, _)| name == input.name) {
            problems.push(Invalid {
                context: Some(("missingUserInput", input.name.to_owned())),
                ..Invalid::new(
                    ".userInputs",
                    "missingUserInput",
                    format!("required user input '{}' is missing", input.name),
                )
            });
        }
    }
}

/// `inputs` plus the version's defaults for the ones not given, in the version's order first.
fn with_defaults(version: &VersionDef, inputs: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = version
        .inputs
        .iter()
        .filter_map(|input| {
            let given = inputs.iter().rev().find(|(name, _)| name == input.name);
            match (given, input.default) {
                (Some((_, value)), _) => Some((input.name.to_owned(), value.clone())),
                (None, Some(default)) => Some((input.name.to_owned(), default.to_owned())),
                (None, None) => None,
            }
        })
        .collect();
    // Inputs the version does not declare survive only where validation let them through
    // (seeds); keep them so a test sees what it seeded.
    for (name, value) in inputs {
        if !version.inputs.iter().any(|input| input.name == name) {
            merge_inputs(&mut merged, vec![(name, value)]);
        }
    }
    merged
}

/// Overrides by name, appending new names: a PATCH's `userInputs` merges, it does not replace.
fn merge_inputs(inputs: &mut Vec<(String, String)>, changes: Vec<(String, String)>) {
    for (name, value) in changes {
        match inputs.iter_mut().find(|(existing, _)| *existing == name) {
            Some(slot) => slot.1 = value,
            None => inputs.push((name, value)),
        }
    }
}

/// Like the platform: `/` + the description's first words as a slug (at most 20 characters)
/// + `-` + 5 random characters, e.g. "custom Node.js p-p92nri" -> `/custom-node-js-p-fha6u`.
fn derive_installation_path(description: &str) -> String {
    let words = description
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase);
    let mut slug = String::new();
    for word in words {
        let added = if slug.is_empty() {
            word.len()
        } else {
            word.len() + 1
        };
        if slug.len() + added > 20 {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&word);
    }
    if slug.is_empty() {
        slug.push_str("app");
    }
    format!("/{slug}-{}", random_alnum(5))
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

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn installation_path_follows_the_platform_pattern() {
        let path = derive_installation_path("custom Node.js p-p92nri");
        assert!(path.starts_with("/custom-node-js-p-"), "{path}");
        assert_eq!(path.len(), "/custom-node-js-p-fha6u".len());
        let path = derive_installation_path("Eval App Copy Test 20260217-2");
        assert!(path.starts_with("/eval-app-copy-test-"), "{path}");
        assert!(derive_installation_path("!!!").starts_with("/app-"));
    }

    #[test]
    fn versions_mirror_the_reference_body() {
        let body = version_json(find_version(NODE_VERSION_1_0_0_ID).unwrap());
        let reference = json!({
            "appId": "3e7f920b-a711-4d2f-9871-661e1b41a2f0",
            "docRoot": "/",
            "docRootUserEditable": true,
            "externalVersion": "1.0.0",
            "id": "97fb8684-3fe3-4720-86fb-fb0524ae88d1",
            "internalVersion": "1.0.0",
            "recommended": true,
            "requestHandler": {
                "name": "node-http",
                "namespace": "mittwald-system",
                "parametersTemplate": "{ \"entrypoint\": {{ .ToEntrypoint .entrypoint }}, \"workingDirectory\": \"{{ .WorkingDirectory }}\", \"listenPortEnvVar\": \"PORT\" }",
                "exampleValues": [{ "name": "entrypoint", "value": "yarn start" }]
            },
            "systemSoftwareDependencies": [
                { "systemSoftwareId": "1d80c3ff-f932-424e-813a-17c49c0fb837", "versionRange": "*" }
            ],
            "userInputs": [{
                "name": "entrypoint",
                "dataType": "text",
                "defaultValue": "yarn start",
                "validationSchema": "{ \"type\": \"string\", \"minLength\": 1 }",
                "positionMeta": { "step": "runtime", "index": 1 },
                "lifecycleConstraint": "reconfigure",
                "required": true
            }]
        });
        assert_eq!(body, reference);
    }
}
