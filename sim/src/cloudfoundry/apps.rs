//! Apps: the model (settings, desired state, instances) v2 and v3 share, its v2 bodies (the
//! resource, the summary, the instances), and creating, updating, starting and stopping one
//! through v2.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::errors::{
    APP_INVALID, APP_NAME_TAKEN, APP_NOT_FOUND, APP_PACKAGE_INVALID, INSTANCES_ERROR,
    INVALID_REQUEST, NOT_STAGED, STAGING_ERROR,
};
use super::foundation::stack_by_guid;
use super::logs::LogLine;
use super::messages::{Changes, parse_body};
use super::rollout::{Downtime, Rollout};
use super::staging::{
    self, Build, BuildState, DockerImage, Lifecycle, Package, PackageKind, detect_buildpack,
    detected_start_command,
};
use super::{CloudFoundry, DEFAULT_STACK_GUID, new_guid, rfc3339};
use crate::options::SimOptions;
use crate::request::{Reply, Request};

/// Ports of a Diego buildpack app that asked for none, as the real platform fills them in.
const DEFAULT_PORT: i64 = 8080;

/// Instances listed at most (v2's `/instances`, v3's stats), however many an app asks for.
pub(super) const MAX_INSTANCES_LISTED: usize = 10_000;

/// Who a v2 start's build says created it (v2 stages on the platform's behalf).
const V2_STAGER: &str = "cloud_controller";

/// Why a crashed instance crashed, in Diego's words.
pub(super) const CRASH_DETAILS: &str = "Instance never healthy after 1m0s: Failed to make TCP connection to port 8080: connection refused";

/// An app as the Cloud Controller keeps it: its settings (v3 splits them between the app and
/// its web process, which has the app's guid), packages, builds and desired state. v2 and v3
/// read and change the same apps.
#[derive(Clone)]
pub(super) struct App {
    pub(super) guid: String,
    pub(super) name: String,
    pub(super) space_guid: String,
    pub(super) stack_guid: String,
    /// v3's `lifecycle.data.buildpacks`; v2's `buildpack` is the first.
    pub(super) buildpacks: Vec<String>,
    pub(super) environment_json: Value,
    pub(super) memory: i64,
    pub(super) instances: i64,
    pub(super) disk_quota: i64,
    /// Desired state: `STARTED` when true.
    pub(super) started: bool,
    /// Changes on every start (v2 `version`, the web process's `version`).
    pub(super) version: String,
    pub(super) command: Option<String>,
    pub(super) console: bool,
    pub(super) debug: Option<String>,
    pub(super) health_check_type: String,
    pub(super) health_check_timeout: Option<i64>,
    /// v3 only: `health_check.data.invocation_timeout`.
    pub(super) health_check_invocation_timeout: Option<i64>,
    pub(super) health_check_http_endpoint: Option<String>,
    /// v3 only: the web process's `user`.
    pub(super) user: Option<String>,
    /// v3 only: the web process's `log_rate_limit_in_bytes_per_second` (-1: unlimited).
    pub(super) log_rate_limit: i64,
    pub(super) diego: bool,
    pub(super) docker_image: Option<String>,
    pub(super) docker_credentials: (Option<String>, Option<String>),
    /// A docker app by its v3 lifecycle, before any image is known.
    pub(super) docker_lifecycle: bool,
    pub(super) enable_ssh: bool,
    pub(super) ports: Option<Vec<i64>>,
    pub(super) production: bool,
    /// v3 `metadata.labels` and `metadata.annotations`, of the app and of its web process.
    pub(super) labels: Map<String, Value>,
    pub(super) annotations: Map<String, Value>,
    pub(super) process_labels: Map<String, Value>,
    pub(super) process_annotations: Map<String, Value>,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    /// Oldest first; the newest is what v2 stages.
    pub(super) packages: Vec<Package>,
    /// Oldest first.
    pub(super) builds: Vec<Build>,
    /// The droplet instances run.
    pub(super) current_droplet: Option<String>,
    /// Set while the app is `STARTED`: when, and how its instances will fare.
    pub(super) run: Option<Run>,
    /// What it logged (and will log), oldest first, for log-cache.
    pub(super) logs: Vec<LogLine>,
    /// The rolling deployment under way.
    pub(super) rollout: Option<Rollout>,
    /// How long it had no RUNNING instance.
    pub(super) downtime: Downtime,
}

#[derive(Clone)]
pub(super) struct Run {
    pub(super) since: Instant,
    pub(super) since_wall: SystemTime,
    pub(super) startup: Duration,
    pub(super) crashes: bool,
}

impl Run {
    /// How an instance of this run fares at `now` on a droplet `staged` then: it starts once
    /// both the run and the droplet are there, is STARTING for the startup time, then RUNNING
    /// (or CRASHED).
    pub(super) fn instance(&self, staged: (Instant, SystemTime), now: Instant) -> Instance {
        let (start, start_wall) = self.starts(staged);
        let elapsed = now.saturating_duration_since(start);
        if elapsed < self.startup {
            Instance {
                state: "STARTING",
                since: start_wall,
                uptime: 0,
            }
        } else {
            Instance {
                state: if self.crashes { "CRASHED" } else { "RUNNING" },
                since: start_wall + self.startup,
                uptime: (elapsed - self.startup).as_secs(),
            }
        }
    }

    /// When its instances start on a droplet `staged` then.
    pub(super) fn starts(&self, staged: (Instant, SystemTime)) -> (Instant, SystemTime) {
        if self.since >= staged.0 {
            (self.since, self.since_wall)
        } else {
            staged
        }
    }

    /// When its instances are first RUNNING on a droplet `staged` then; `None` if they crash.
    pub(super) fn running_from(&self, staged: (Instant, SystemTime)) -> Option<Instant> {
        (!self.crashes).then(|| self.starts(staged).0 + self.startup)
    }

    /// A start now, with the options in force now.
    pub(super) fn now(options: &SimOptions, now: Instant) -> Self {
        Self {
            since: now,
            since_wall: SystemTime::now(),
            startup: options.cf_startup_time,
            crashes: options.cf_crashes,
        }
    }
}

/// v2's `package_state`, which follows the staging of the newest package.
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

/// One instance's state; every instance of an app fares alike.
#[derive(Clone, Copy)]
pub(super) struct Instance {
    pub(super) state: &'static str,
    pub(super) since: SystemTime,
    pub(super) uptime: u64,
}

impl App {
    /// A new, stopped app with the platform's defaults.
    pub(super) fn new(name: String, space_guid: String, stack_guid: String) -> Self {
        let created = rfc3339(SystemTime::now());
        Self {
            guid: new_guid(),
            name,
            space_guid,
            stack_guid,
            buildpacks: Vec::new(),
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
            health_check_invocation_timeout: None,
            health_check_http_endpoint: Some(String::new()),
            user: None,
            log_rate_limit: -1,
            diego: true,
            docker_image: None,
            docker_credentials: (None, None),
            docker_lifecycle: false,
            enable_ssh: true,
            ports: None,
            production: false,
            labels: Map::new(),
            annotations: Map::new(),
            process_labels: Map::new(),
            process_annotations: Map::new(),
            created_at: created.clone(),
            updated_at: created,
            packages: Vec::new(),
            builds: Vec::new(),
            current_droplet: None,
            run: None,
            logs: Vec::new(),
            rollout: None,
            downtime: Downtime::new(Instant::now()),
        }
    }

    /// Whether it runs docker images (by its v2 image or its v3 lifecycle).
    pub(super) fn is_docker(&self) -> bool {
        self.docker_lifecycle || self.docker_image.is_some()
    }

    /// The app's lifecycle as a build fixes it.
    pub(super) fn lifecycle(&self, options: &SimOptions) -> Lifecycle {
        Lifecycle {
            docker: self.is_docker(),
            buildpacks: self.buildpacks.clone(),
            stack: (!self.is_docker())
                .then(|| stack_by_guid(options, &self.stack_guid).map(|stack| stack.name.clone()))
                .flatten(),
        }
    }

    /// Whether v2 can start it: its newest package is ready.
    fn package_available(&self, now: Instant) -> bool {
        self.latest_package()
            .is_some_and(|package| package.state(now) == staging::PackageState::Ready)
    }

    fn package_state(&self, now: Instant) -> PackageState {
        match self.current_staging().map(|build| build.state(now)) {
            Some(BuildState::Staged) => PackageState::Staged,
            Some(BuildState::Failed) => PackageState::Failed,
            _ => PackageState::Pending,
        }
    }

    fn staging_in_progress(&self, now: Instant) -> bool {
        self.current_staging()
            .is_some_and(|build| build.state(now) == BuildState::Staging)
    }

    /// The buildpack staging would detect from the uploaded file names.
    fn detected_buildpack(&self, now: Instant) -> &'static str {
        detect_buildpack(
            self.latest_bits(now)
                .map_or(&[], |bits| bits.files.as_slice()),
        )
    }

    fn detected_start_command(&self, now: Instant) -> String {
        if let Some(command) = &self.command {
            return command.clone();
        }
        detected_start_command(self.detected_buildpack(now)).to_owned()
    }

    /// How its instances fare while it is started on a staged current droplet: they start
    /// once both the start and the droplet are there. `None` otherwise.
    pub(super) fn instance(&self, now: Instant) -> Option<Instance> {
        let run = self.run.as_ref()?;
        if !self.started || self.awaits_v2_staging() {
            return None;
        }
        let staged = self.current_droplet_build()?.done_at();
        Some(run.instance(staged, now))
    }

    /// Whether a v2 start waits for its staging: the instances start on the new droplet.
    pub(super) fn awaits_v2_staging(&self) -> bool {
        self.builds.iter().any(|build| build.assign_when_staged)
    }

    /// Logs what the instances of the run under way will do, from when they can start: once
    /// the start and the droplet (a v2 start's staging, else the current one) are there.
    pub(super) fn log_run(&mut self, options: &SimOptions) {
        let Some(run) = self.run.clone() else {
            return;
        };
        let droplet = self
            .builds
            .iter()
            .find(|build| build.assign_when_staged)
            .or_else(|| self.current_droplet_build())
            .map(|build| (build.done_at().1, build.fails()));
        let Some((staged_wall, false)) = droplet else {
            return;
        };
        let since = run.since_wall.max(staged_wall);
        let version = self.version.clone();
        self.log_instances(options, since, run.startup, run.crashes, &version);
    }

    /// v2's instances: while started and the newest package is staged; `None` otherwise.
    fn instances(&self, now: Instant) -> Option<Vec<Instance>> {
        if self.package_state(now) != PackageState::Staged {
            return None;
        }
        let instance = self.instance(now)?;
        let count = usize::try_from(self.instances)
            .unwrap_or(0)
            .min(MAX_INSTANCES_LISTED);
        Some(vec![instance; count])
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
        let detected_buildpack = match (staged && buildpack_app, self.buildpacks.first()) {
            (false, _) => Value::Null,
            // Real bodies show an empty detection when the buildpack was named (reference 07).
            (true, Some(_)) => json!(""),
            (true, None) => json!(self.detected_buildpack(now)),
        };
        let detected_buildpack_guid = if staged && buildpack_app {
            json!(detected_buildpack_guid(self.detected_buildpack(now)))
        } else {
            Value::Null
        };
        let failed = package_state == PackageState::Failed;
        let body = json!({
            "name": self.name,
            "production": self.production,
            "space_guid": self.space_guid,
            "stack_guid": self.stack_guid,
            "buildpack": self.buildpacks.first(),
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
            "staging_task_id": self.current_staging().map(|build| build.guid.as_str()),
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
            "package_updated_at": self.latest_package().and_then(|package| package.ready_at(now)),
            "detected_start_command": if staged { self.detected_start_command(now) } else { String::new() },
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
        let docker_image = changes.docker_image.clone().flatten();
        let diego = changes.diego.unwrap_or(true);
        let mut app = App::new(name, space_guid, DEFAULT_STACK_GUID.to_owned());
        app.diego = diego;
        app.ports = (diego && docker_image.is_none()).then(|| vec![DEFAULT_PORT]);
        changes.apply(&mut app);
        app.docker_lifecycle = app.docker_image.is_some();
        if let Some(image) = &app.docker_image {
            // A v2 docker app's image is its package, ready at once.
            app.push_package(Package::docker(DockerImage {
                image: image.clone(),
                username: app.docker_credentials.0.clone(),
                password: app.docker_credentials.1.clone(),
            }));
        }
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
        app.close_epoch(now);
        let docker_changed = changes.docker_image.as_ref().is_some_and(|image| {
            !image
                .as_deref()
                .unwrap_or("")
                .eq_ignore_ascii_case(app.docker_image.as_deref().unwrap_or(""))
        });
        changes.apply(&mut app);
        let image = app.docker_image.clone().map(|image| DockerImage {
            image,
            username: app.docker_credentials.0.clone(),
            password: app.docker_credentials.1.clone(),
        });
        match image {
            // A new image is a new package: it needs staging again.
            Some(image) if docker_changed => app.push_package(Package::docker(image)),
            // New credentials for the same image: the package's, as v3 shows them.
            Some(image) if changes.docker_credentials_given() => {
                if let Some(Package {
                    kind: PackageKind::Docker(current),
                    ..
                }) = app.packages.last_mut()
                {
                    *current = image;
                }
            }
            _ => {}
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
    /// stages the newest package on start, and cancels both on stop.
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
            if !app.package_available(now) {
                return Err(APP_PACKAGE_INVALID.reply("bits have not been uploaded"));
            }
            let starts = !app.started || app.run.is_none();
            if starts {
                app.started = true;
                app.version = new_guid();
                app.run = Some(Run::now(options, now));
            }
            let needs_staging = app.package_state(now) != PackageState::Staged
                && !app.staging_in_progress(now)
                && app.instances > 0;
            if needs_staging && let Some(package) = app.latest_package() {
                let package = package.guid.clone();
                app.stage(options, now, &package, true, V2_STAGER);
                // A staging time of zero is staged at once, and its droplet current.
                app.settle(now);
            }
            if starts {
                app.log_run(options);
            }
        } else {
            app.started = false;
            app.run = None;
            app.rollout = None;
            app.forget_future_logs(SystemTime::now());
            if let Some(build) = app.builds.last_mut()
                && build.state(now) == BuildState::Staging
            {
                // Stopping cancels the staging under way.
                build.cancelled = true;
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
