//! Apps: the model (desired state, staging, instances), its bodies (the resource, the summary,
//! the instances), and creating, updating, starting and stopping one.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::bits::Bits;
use super::errors::{
    APP_INVALID, APP_NAME_TAKEN, APP_NOT_FOUND, APP_PACKAGE_INVALID, INSTANCES_ERROR,
    INVALID_REQUEST, NOT_STAGED, STAGING_ERROR,
};
use super::messages::{Changes, parse_body};
use super::{CloudFoundry, DEFAULT_STACK_GUID, new_guid, rfc3339};
use crate::options::SimOptions;
use crate::request::{Reply, Request};

/// Ports of a Diego buildpack app that asked for none, as the real platform fills them in.
const DEFAULT_PORT: i64 = 8080;

/// Why a crashed instance crashed, in Diego's words.
const CRASH_DETAILS: &str = "Instance never healthy after 1m0s: Failed to make TCP connection to port 8080: connection refused";

/// An app as the Cloud Controller keeps it: its settings, package and desired state.
#[derive(Clone)]
pub(super) struct App {
    pub(super) guid: String,
    pub(super) name: String,
    pub(super) space_guid: String,
    pub(super) stack_guid: String,
    pub(super) buildpack: Option<String>,
    pub(super) environment_json: Value,
    pub(super) memory: i64,
    pub(super) instances: i64,
    pub(super) disk_quota: i64,
    /// Desired state: `STARTED` when true.
    started: bool,
    version: String,
    pub(super) command: Option<String>,
    pub(super) console: bool,
    pub(super) debug: Option<String>,
    pub(super) health_check_type: String,
    pub(super) health_check_timeout: Option<i64>,
    pub(super) health_check_http_endpoint: Option<String>,
    pub(super) diego: bool,
    pub(super) docker_image: Option<String>,
    pub(super) docker_credentials: (Option<String>, Option<String>),
    pub(super) enable_ssh: bool,
    pub(super) ports: Option<Vec<i64>>,
    pub(super) production: bool,
    created_at: String,
    updated_at: String,
    pub(super) package_updated_at: Option<String>,
    /// Uploaded bits, once an upload finished.
    pub(super) bits: Option<Bits>,
    /// The latest staging; its outcome and timing are fixed when it starts.
    pub(super) staging: Option<Staging>,
    /// Set while the app is `STARTED`: when, and how its instances will fare.
    run: Option<Run>,
}

#[derive(Clone)]
pub(super) struct Staging {
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

    pub(super) fn resource(&self, now: Instant) -> Value {
        json!({ "metadata": self.metadata(), "entity": self.entity(now) })
    }

    /// `GET /v2/apps/{guid}/summary`: the docs' key order, without the `*_url` links.
    pub(super) fn summary(&self, now: Instant) -> Value {
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

impl CloudFoundry {
    pub(super) fn find(&self, guid: &str) -> Option<usize> {
        self.apps.iter().position(|app| app.guid == guid)
    }

    pub(super) fn with_app(&self, guid: &str, answer: impl FnOnce(&App) -> Reply) -> Reply {
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

    pub(super) fn create_app(
        &mut self,
        options: &SimOptions,
        request: &Request,
        now: Instant,
    ) -> Reply {
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

    pub(super) fn update_app(
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
}

/// `GET /v2/apps/{guid}/instances`, with the Cloud Controller's checks in its order.
pub(super) fn instances(app: &App, now: Instant) -> Reply {
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
