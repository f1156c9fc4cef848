//! The web process through v3: an app's run settings (the process has the app's guid), its
//! update (command, health check), scaling, and its instances' stats. v2's `instances`,
//! `memory`, `disk_quota`, `command` and `health_check_*` are the same settings.

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::super::apps::{App, CRASH_DETAILS, MAX_INSTANCES_LISTED};
use super::super::{CloudFoundry, rfc3339, stable_guid};
use super::pages::{ListQuery, Row};
use super::{
    Ctx, Problems, check_metadata, merge_metadata, not_found, parse_object, unknown_fields,
};
use crate::request::Reply;

/// The only process type the simulator's apps have.
const WEB: &str = "web";

/// Bytes in a MiB: quotas in stats are bytes, settings MiB.
const MIB: i64 = 1024 * 1024;

/// The largest integers the Cloud Controller's database columns take.
const MAX_DB_INT: i64 = (1 << 31) - 1;
const MAX_DB_BIGINT: i64 = i64::MAX;

/// At least 1 (timeouts, memory, disk), at least 0 (instances), at least -1 (a log rate).
const POSITIVE: (i64, i64) = (1, MAX_DB_INT);
const COUNT: (i64, i64) = (0, MAX_DB_INT);
const LOG_RATE: (i64, i64) = (-1, MAX_DB_BIGINT);

/// File descriptors each instance may open (Diego's default).
const FDS_QUOTA: i64 = 16_384;

/// The web process's command: the one given, else the one staging detected for the current
/// droplet, else none.
fn command(app: &App) -> Option<String> {
    app.command.clone().or_else(|| {
        app.current_droplet_build()
            .map(|build| build.start_command.clone())
            .filter(|command| !command.is_empty())
    })
}

/// The web process as `ProcessPresenter` shows it.
pub(super) fn process_json(ctx: &Ctx<'_>, app: &App) -> Value {
    let guid = &app.guid;
    // v2's `none` is v3's `process`.
    let kind = match app.health_check_type.as_str() {
        "none" => "process",
        other => other,
    };
    let mut data = Map::new();
    data.insert("timeout".into(), json!(app.health_check_timeout));
    data.insert(
        "invocation_timeout".into(),
        json!(app.health_check_invocation_timeout),
    );
    data.insert("interval".into(), Value::Null);
    if kind == "http" {
        data.insert("endpoint".into(), json!(app.health_check_http_endpoint));
    }
    let user = app.user.clone().unwrap_or_else(|| {
        // Who the process runs as unless told: Diego's defaults.
        if app.is_docker() { "root" } else { "vcap" }.to_owned()
    });
    json!({
        "guid": guid,
        "created_at": app.created_at,
        "updated_at": app.updated_at,
        "version": app.version,
        "type": WEB,
        "command": command(app),
        "user": user,
        "instances": app.instances,
        "memory_in_mb": app.memory,
        "disk_in_mb": app.disk_quota,
        "log_rate_limit_in_bytes_per_second": app.log_rate_limit,
        "health_check": { "type": kind, "data": data },
        "readiness_health_check": {
            "type": "process",
            "data": { "invocation_timeout": null, "interval": null },
        },
        "relationships": {
            "app": { "data": { "guid": guid } },
            "revision": null,
        },
        "metadata": { "labels": app.process_labels, "annotations": app.process_annotations },
        "links": {
            "self": ctx.href(&format!("/v3/processes/{guid}")),
            "scale": ctx.action(&format!("/v3/processes/{guid}/actions/scale"), "POST"),
            "app": ctx.href(&format!("/v3/apps/{guid}")),
            "space": ctx.href(&format!("/v3/spaces/{}", app.space_guid)),
            "stats": ctx.href(&format!("/v3/processes/{guid}/stats")),
            "process_instances": ctx.href(&format!("/v3/processes/{guid}/process_instances")),
        },
    })
}

/// `GET /v3/processes/{guid}` and `GET /v3/apps/{guid}/processes/web`.
pub(super) fn body(ctx: &Ctx<'_>, app: &App) -> Reply {
    Reply::json(200, &process_json(ctx, app))
}

/// `GET /v3/apps/{guid}/processes`: the web process.
pub(super) fn list(ctx: &Ctx<'_>, app: &App) -> Reply {
    let query = match ListQuery::parse(ctx, &["types", "guids"], &[]) {
        Ok(query) => query,
        Err(reply) => return reply,
    };
    let mut rows = Vec::new();
    if query.passes("types", WEB) && query.passes("guids", &app.guid) {
        rows.push(Row {
            created_at: app.created_at.clone(),
            updated_at: app.updated_at.clone(),
            name: WEB.to_owned(),
            body: process_json(ctx, app),
        });
    }
    query.respond(ctx, &format!("/v3/apps/{}/processes", app.guid), rows)
}

/// `GET /v3/processes/{guid}/stats`: one entry per desired instance. They are DOWN while the
/// app is stopped or has no staged current droplet to run; then STARTING for the startup
/// time, then RUNNING (or CRASHED), as v2's instances. During a rolling deployment the old
/// instances still serving come first, then the new ones (the simulator keeps one web
/// process where the Cloud Controller has a second, deploying one). A DOWN instance has
/// `uptime` 0, as the Cloud Controller fills the instances Diego did not report
/// (lib/cloud_controller/diego/reporters/reporter_mixins.rb).
pub(super) fn stats(ctx: &Ctx<'_>, app: &App) -> Reply {
    let resources: Vec<Value> = app
        .instances_at(ctx.now)
        .into_iter()
        .take(MAX_INSTANCES_LISTED)
        .enumerate()
        .map(|(index, (instance, version))| match instance {
            None => json!({
                "type": WEB,
                "index": index,
                "state": "DOWN",
                "routable": null,
                "uptime": 0,
                "isolation_segment": null,
                "details": null,
            }),
            Some(instance) => {
                let running = instance.state == "RUNNING";
                let usage = if running {
                    json!({
                        "time": rfc3339(SystemTime::now()),
                        "cpu": 0.0031,
                        "cpu_entitlement": 0.0125,
                        "mem": 64 * MIB,
                        "disk": 128 * MIB,
                        "log_rate": 0,
                    })
                } else {
                    json!({})
                };
                json!({
                    "type": WEB,
                    "index": index,
                    "instance_guid": stable_guid(&format!("{version}/{index}")),
                    "state": instance.state,
                    "routable": running,
                    "host": format!("10.0.16.{}", 10 + index % 200),
                    "instance_internal_ip": format!("10.255.{}.{}", index / 200, 2 + index % 200),
                    "uptime": instance.uptime,
                    "mem_quota": app.memory.saturating_mul(MIB),
                    "disk_quota": app.disk_quota.saturating_mul(MIB),
                    "log_rate_limit": app.log_rate_limit,
                    "fds_quota": FDS_QUOTA,
                    "isolation_segment": null,
                    "details": (instance.state == "CRASHED").then_some(CRASH_DETAILS),
                    "instance_ports": [{
                        "external": 61000 + index,
                        "internal": 8080,
                        "external_tls_proxy_port": 61500 + index,
                        "internal_tls_proxy_port": 61001,
                    }],
                    "usage": usage,
                })
            }
        })
        .collect();
    Reply::json(200, &json!({ "resources": resources }))
}

/// An integer field of a message, checked against `min` and `max`; `null` and absent are
/// `None`.
fn integer(
    body: &Map<String, Value>,
    key: &str,
    label: &str,
    (min, max): (i64, i64),
    problems: &mut Problems,
) -> Option<i64> {
    match body.get(key)? {
        Value::Null => None,
        value => match value.as_i64() {
            Some(number) if number < min => {
                let bound = if min == 1 {
                    "greater than 0".to_owned()
                } else {
                    format!("greater than or equal to {min}")
                };
                problems.add(format!("{label} must be {bound}"));
                None
            }
            Some(number) if number > max => {
                problems.add(format!("{label} must be less than or equal to {max}"));
                None
            }
            Some(number) => Some(number),
            None if value.is_number() => {
                problems.add(format!("{label} must be an integer"));
                None
            }
            None => {
                problems.add(format!("{label} is not a number"));
                None
            }
        },
    }
}

/// A checked `PATCH /v3/processes/{guid}`; `Some(None)` is an explicit `null`.
#[derive(Default)]
struct ProcessChanges {
    command: Option<Option<String>>,
    user: Option<Option<String>>,
    health_check_type: Option<String>,
    timeout: Option<Option<i64>>,
    invocation_timeout: Option<Option<i64>>,
    endpoint: Option<String>,
}

fn nullable_string(
    body: &Map<String, Value>,
    key: &str,
    label: &str,
    max: usize,
    problems: &mut Problems,
) -> Option<Option<String>> {
    match body.get(key)? {
        Value::Null => Some(None),
        Value::String(text) if (1..=max).contains(&text.chars().count()) => {
            Some(Some(text.clone()))
        }
        Value::String(_) => {
            problems.add(format!("{label} must be between 1 and {max} characters"));
            None
        }
        _ => {
            problems.add(format!("{label} must be a string"));
            None
        }
    }
}

/// A checked health check: its type and its data, each if given.
struct HealthCheck<'a> {
    kind: Option<String>,
    data: Option<&'a Map<String, Value>>,
}

/// Checks a `health_check` (or `readiness_health_check`) object.
fn health_check<'a>(
    value: &'a Value,
    label: &str,
    problems: &mut Problems,
) -> Option<HealthCheck<'a>> {
    let Value::Object(check) = value else {
        problems.add(format!("{label} must be an object"));
        return None;
    };
    let kind = match check.get("type") {
        None => None,
        Some(Value::String(kind)) if ["port", "process", "http"].contains(&kind.as_str()) => {
            Some(kind.clone())
        }
        Some(_) => {
            problems.add(format!(
                "{label} type must be \"port\", \"process\", or \"http\""
            ));
            None
        }
    };
    let data = match check.get("data") {
        None | Some(Value::Null) => None,
        Some(Value::Object(data)) => Some(data),
        Some(_) => {
            problems.add(format!("{label} data must be an object"));
            None
        }
    };
    Some(HealthCheck { kind, data })
}

impl ProcessChanges {
    fn parse(body: &Map<String, Value>, problems: &mut Problems) -> Self {
        let allowed = [
            "command",
            "user",
            "health_check",
            "readiness_health_check",
            "metadata",
        ];
        if let Some(unknown) = unknown_fields(body, &allowed) {
            problems.add(unknown);
        }
        let mut changes = Self {
            command: nullable_string(body, "command", "Command", 4096, problems),
            user: nullable_string(body, "user", "User", 255, problems),
            ..Self::default()
        };
        if let Some(value) = body.get("health_check")
            && let Some(check) = health_check(value, "Health check", problems)
        {
            changes.health_check_type = check.kind;
            if let Some(data) = check.data {
                let label = "Health check timeout";
                changes.timeout = data
                    .contains_key("timeout")
                    .then(|| integer(data, "timeout", label, POSITIVE, problems));
                let label = "Health check invocation timeout";
                changes.invocation_timeout = data
                    .contains_key("invocation_timeout")
                    .then(|| integer(data, "invocation_timeout", label, POSITIVE, problems));
                integer(
                    data,
                    "interval",
                    "Health check interval",
                    POSITIVE,
                    problems,
                );
                match data.get("endpoint") {
                    None | Some(Value::Null) => {}
                    Some(Value::String(path)) if path.starts_with('/') && path.len() <= 255 => {
                        changes.endpoint = Some(path.clone());
                    }
                    Some(_) => problems.add("Health check endpoint must be a valid URI path"),
                }
            }
        }
        // Readiness checks are checked like the Cloud Controller does, but not simulated.
        if let Some(value) = body.get("readiness_health_check") {
            health_check(value, "Readiness health check", problems);
        }
        check_metadata(body.get("metadata"), problems);
        changes
    }

    fn apply(self, app: &mut App) {
        if let Some(command) = self.command {
            app.command = command;
        }
        if let Some(user) = self.user {
            app.user = user;
        }
        if let Some(kind) = self.health_check_type {
            app.health_check_type = kind;
        }
        if let Some(timeout) = self.timeout {
            app.health_check_timeout = timeout;
        }
        if let Some(timeout) = self.invocation_timeout {
            app.health_check_invocation_timeout = timeout;
        }
        if let Some(endpoint) = self.endpoint {
            app.health_check_http_endpoint = Some(endpoint);
        }
    }
}

impl CloudFoundry {
    /// Answers about the web process: `kind` is the type of an app's process
    /// (`/v3/apps/{guid}/processes/{type}`), `None` for `/v3/processes/{guid}`.
    pub(super) fn v3_process(
        &self,
        ctx: &Ctx<'_>,
        guid: &str,
        kind: Option<&str>,
        answer: impl FnOnce(&Ctx<'_>, &App) -> Reply,
    ) -> Reply {
        match (self.find(guid), kind) {
            (None, Some(_)) => not_found("App"),
            (None, None) => not_found("Process"),
            (Some(_), Some(kind)) if kind != WEB => not_found("Process"),
            (Some(index), _) => answer(ctx, &self.apps[index]),
        }
    }

    /// `PATCH /v3/processes/{guid}` (or `/v3/apps/{guid}/processes/{type}`): command, user,
    /// health check, metadata.
    pub(super) fn v3_update_process(
        &mut self,
        ctx: &Ctx<'_>,
        guid: &str,
        kind: Option<&str>,
    ) -> Reply {
        let found = self.v3_process(ctx, guid, kind, |_, _| Reply::empty(200));
        if found.status != 200 {
            return found;
        }
        let Some(index) = self.find(guid) else {
            return not_found("Process");
        };
        let body = match parse_object(ctx.request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let mut problems = Problems::default();
        let changes = ProcessChanges::parse(&body, &mut problems);
        if let Err(reply) = problems.check() {
            return reply;
        }
        let app = &mut self.apps[index];
        changes.apply(app);
        merge_metadata(
            body.get("metadata"),
            &mut app.process_labels,
            &mut app.process_annotations,
        );
        app.updated_at = rfc3339(SystemTime::now());
        Reply::json(200, &process_json(ctx, app))
    }

    /// `POST /v3/processes/{guid}/actions/scale`: 202 with the process.
    pub(super) fn v3_scale(&mut self, ctx: &Ctx<'_>, guid: &str, kind: Option<&str>) -> Reply {
        let found = self.v3_process(ctx, guid, kind, |_, _| Reply::empty(200));
        if found.status != 200 {
            return found;
        }
        let Some(index) = self.find(guid) else {
            return not_found("Process");
        };
        let body = match parse_object(ctx.request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let mut problems = Problems::default();
        let allowed = [
            "instances",
            "memory_in_mb",
            "disk_in_mb",
            "log_rate_limit_in_bytes_per_second",
        ];
        if let Some(unknown) = unknown_fields(&body, &allowed) {
            problems.add(unknown);
        }
        let instances = integer(&body, "instances", "Instances", COUNT, &mut problems);
        let memory = integer(
            &body,
            "memory_in_mb",
            "Memory in mb",
            POSITIVE,
            &mut problems,
        );
        let disk = integer(&body, "disk_in_mb", "Disk in mb", POSITIVE, &mut problems);
        let log_rate = integer(
            &body,
            "log_rate_limit_in_bytes_per_second",
            "Log rate limit in bytes per second",
            LOG_RATE,
            &mut problems,
        );
        if let Err(reply) = problems.check() {
            return reply;
        }
        let app = &mut self.apps[index];
        app.close_epoch(ctx.now);
        if let Some(instances) = instances {
            app.instances = instances;
        }
        if let Some(memory) = memory {
            app.memory = memory;
        }
        if let Some(disk) = disk {
            app.disk_quota = disk;
        }
        if let Some(log_rate) = log_rate {
            app.log_rate_limit = log_rate;
        }
        app.updated_at = rfc3339(SystemTime::now());
        Reply::json(202, &process_json(ctx, app))
    }
}
