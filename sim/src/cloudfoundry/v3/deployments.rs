//! Rolling deployments through v3: create, get, list, cancel (cloud_controller_ng's
//! `DeploymentsController`, `DeploymentCreate`, `DeploymentCancel` and `DeploymentPresenter`).
//!
//! Creating one makes its droplet the app's current droplet at once and rolls the instances
//! over as [`rollout`](super::super::rollout) describes; it is ACTIVE/DEPLOYING until every
//! instance is new and RUNNING, then FINALIZED/DEPLOYED. On a stopped app it starts the app and
//! is FINALIZED/DEPLOYED at once. A new deployment of the same app supersedes an active one
//! (FINALIZED/SUPERSEDED, its `state` DEPLOYED). Cancelling puts the previous droplet back
//! (CANCELING) and, once the old instances run again, is FINALIZED/CANCELED; only a DEPLOYING
//! or CANCELING deployment can be cancelled. New instances that crash
//! ([`SimOptions::cf_crashes`](crate::SimOptions::cf_crashes) when the deployment is made)
//! keep it ACTIVE/DEPLOYING with the old instances serving, as the Cloud Controller's updater
//! does, until it is cancelled. Stopping or restarting the app ends an active deployment
//! CANCELED. Only `rolling` is simulated; revisions are not.

use std::time::{Instant, SystemTime};

use serde_json::{Map, Value, json};

use super::super::apps::Run;
use super::super::rollout::Rollout;
use super::super::staging::BuildState;
use super::super::{CloudFoundry, new_guid, rfc3339};
use super::pages::{ListQuery, Row};
use super::{
    Ctx, Problems, check_metadata, merge_metadata, not_found, parse_object, unknown_fields,
    unprocessable,
};
use crate::request::Reply;

/// Deployments kept beyond this many push out the oldest.
const MAX_DEPLOYMENTS: usize = 10_000;

/// A deployment's `status.reason` (its `status.value` follows).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(in super::super) enum Reason {
    Deploying,
    Canceling,
    Deployed,
    Canceled,
    Superseded,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Deploying => "DEPLOYING",
            Self::Canceling => "CANCELING",
            Self::Deployed => "DEPLOYED",
            Self::Canceled => "CANCELED",
            Self::Superseded => "SUPERSEDED",
        }
    }

    fn active(self) -> bool {
        matches!(self, Self::Deploying | Self::Canceling)
    }
}

/// A deployment as the Cloud Controller keeps it.
pub(in super::super) struct Deployment {
    pub(in super::super) guid: String,
    pub(in super::super) app_guid: String,
    droplet: String,
    previous_droplet: Option<String>,
    created_at: String,
    created: Instant,
    created_wall: SystemTime,
    max_in_flight: i64,
    web_instances: Option<i64>,
    memory_in_mb: Option<i64>,
    disk_in_mb: Option<i64>,
    log_rate_limit: Option<i64>,
    pub(in super::super) reason: Reason,
    /// The deprecated `state`: DEPLOYING, DEPLOYED, CANCELING or CANCELED.
    state: &'static str,
    /// When `status` last changed.
    changed: SystemTime,
    /// When its instances were last healthy.
    healthy: SystemTime,
    labels: Map<String, Value>,
    annotations: Map<String, Value>,
}

impl Deployment {
    /// Moves it to `reason` at `at` (an instant of the simulator's clock).
    pub(in super::super) fn finish(&mut self, reason: Reason, at: Instant) {
        let wall = self.created_wall + at.saturating_duration_since(self.created);
        self.state = match (reason, self.state) {
            (Reason::Deployed, _) | (Reason::Superseded, "DEPLOYING") => "DEPLOYED",
            (Reason::Canceling, _) => "CANCELING",
            (Reason::Deploying, _) => "DEPLOYING",
            _ => "CANCELED",
        };
        if reason == Reason::Deployed {
            self.healthy = wall;
        }
        self.reason = reason;
        self.changed = wall;
    }
}

/// A deployment as `DeploymentPresenter` shows it.
fn deployment_json(ctx: &Ctx<'_>, deployment: &Deployment) -> Value {
    let guid = &deployment.guid;
    let mut options = Map::new();
    options.insert("max_in_flight".into(), json!(deployment.max_in_flight));
    for (key, value) in [
        ("web_instances", deployment.web_instances),
        ("memory_in_mb", deployment.memory_in_mb),
        ("disk_in_mb", deployment.disk_in_mb),
        (
            "log_rate_limit_in_bytes_per_second",
            deployment.log_rate_limit,
        ),
    ] {
        if let Some(value) = value {
            options.insert(key.into(), json!(value));
        }
    }
    let mut links = Map::new();
    links.insert("self".into(), ctx.href(&format!("/v3/deployments/{guid}")));
    links.insert(
        "app".into(),
        ctx.href(&format!("/v3/apps/{}", deployment.app_guid)),
    );
    links.insert(
        "cancel".into(),
        ctx.action(&format!("/v3/deployments/{guid}/actions/cancel"), "POST"),
    );
    json!({
        "guid": guid,
        "created_at": deployment.created_at,
        "updated_at": rfc3339(deployment.changed),
        "state": deployment.state,
        "status": {
            "value": if deployment.reason.active() { "ACTIVE" } else { "FINALIZED" },
            "reason": deployment.reason.as_str(),
            "details": {
                "last_successful_healthcheck": rfc3339(deployment.healthy),
                "last_status_change": rfc3339(deployment.changed),
            },
        },
        "strategy": "rolling",
        "options": options,
        "droplet": { "guid": deployment.droplet },
        "previous_droplet": { "guid": deployment.previous_droplet },
        // The simulator's app has one web process, whose guid is the app's.
        "new_processes": [{ "guid": deployment.app_guid, "type": "web" }],
        "revision": null,
        "relationships": { "app": { "data": { "guid": deployment.app_guid } } },
        "metadata": { "labels": deployment.labels, "annotations": deployment.annotations },
        "links": links,
    })
}

/// A checked `POST /v3/deployments` body.
struct NewDeployment {
    app_guid: Option<String>,
    droplet_guid: Option<String>,
    revision: bool,
    max_in_flight: i64,
    web_instances: Option<i64>,
    memory_in_mb: Option<i64>,
    disk_in_mb: Option<i64>,
    log_rate_limit: Option<i64>,
}

/// A positive integer option.
fn option(
    options: &Map<String, Value>,
    key: &str,
    min: i64,
    problems: &mut Problems,
) -> Option<i64> {
    match options.get(key)? {
        Value::Null => None,
        value => match value.as_i64() {
            Some(number) if number >= min => Some(number),
            _ => {
                let bound = if min == 1 {
                    "greater than 0".to_owned()
                } else {
                    format!("greater than or equal to {min}")
                };
                problems.add(format!("{key} must be an integer {bound}"));
                None
            }
        },
    }
}

/// `DeploymentCreateMessage`'s checks.
fn parse_new(body: &Map<String, Value>) -> Result<NewDeployment, Reply> {
    let mut problems = Problems::default();
    let allowed = [
        "relationships",
        "droplet",
        "revision",
        "strategy",
        "options",
        "metadata",
    ];
    if let Some(unknown) = unknown_fields(body, &allowed) {
        problems.add(unknown);
    }
    match body.get("strategy") {
        None | Some(Value::Null) => {}
        Some(Value::String(strategy)) if strategy == "rolling" => {}
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            problems.add(format!(
                "Strategy '{shown}' is not a supported deployment strategy"
            ));
        }
    }
    let droplet_guid = body
        .get("droplet")
        .and_then(|droplet| droplet.get("guid"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let revision = body.get("revision").is_some_and(|value| !value.is_null());
    if revision && droplet_guid.is_some() {
        problems.add("Droplet Cannot set both fields 'droplet' and 'revision'");
    }
    let mut new = NewDeployment {
        app_guid: body
            .get("relationships")
            .and_then(|relationships| relationships.get("app"))
            .and_then(|app| app.get("data"))
            .and_then(|data| data.get("guid"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        droplet_guid,
        revision,
        max_in_flight: 1,
        web_instances: None,
        memory_in_mb: None,
        disk_in_mb: None,
        log_rate_limit: None,
    };
    match body.get("options") {
        None | Some(Value::Null) => {}
        Some(Value::Object(options)) => {
            let keys = [
                "max_in_flight",
                "web_instances",
                "memory_in_mb",
                "disk_in_mb",
                "log_rate_limit_in_bytes_per_second",
                "canary",
            ];
            let extra: Vec<&str> = options
                .keys()
                .map(String::as_str)
                .filter(|key| !keys.contains(key))
                .collect();
            if !extra.is_empty() {
                problems.add(format!(
                    "Options has unsupported key(s): {}",
                    extra.join(", ")
                ));
            }
            if options
                .get("canary")
                .is_some_and(|canary| !canary.is_null())
            {
                problems.add("Options canary are only valid for Canary deployments");
            }
            if let Some(max) = option(options, "max_in_flight", 1, &mut problems) {
                new.max_in_flight = max;
            }
            new.web_instances = option(options, "web_instances", 1, &mut problems);
            new.memory_in_mb = option(options, "memory_in_mb", 1, &mut problems);
            new.disk_in_mb = option(options, "disk_in_mb", 1, &mut problems);
            new.log_rate_limit = option(
                options,
                "log_rate_limit_in_bytes_per_second",
                -1,
                &mut problems,
            );
        }
        Some(_) => problems.add("Options must be an object"),
    }
    check_metadata(body.get("metadata"), &mut problems);
    problems.check()?;
    Ok(new)
}

impl CloudFoundry {
    fn push_deployment(&mut self, deployment: Deployment) {
        if self.deployments.len() >= MAX_DEPLOYMENTS {
            self.deployments.remove(0);
        }
        self.deployments.push(deployment);
    }

    /// `POST /v3/deployments`: 201.
    pub(super) fn v3_create_deployment(&mut self, ctx: &Ctx<'_>) -> Reply {
        let body = match parse_object(ctx.request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let new = match parse_new(&body) {
            Ok(new) => new,
            Err(reply) => return reply,
        };
        let Some(index) = new.app_guid.as_deref().and_then(|guid| self.find(guid)) else {
            return unprocessable(
                "Unable to use app. Ensure that the app exists and you have access to it.",
            );
        };
        if new.revision {
            return unprocessable(
                "Cannot create deployment from a revision for an app without revisions enabled",
            );
        }
        let now = ctx.now;
        let app = &self.apps[index];
        let droplet = match new.droplet_guid.clone() {
            Some(guid) => {
                let staged = app.builds.iter().any(|build| {
                    build.droplet_guid == guid && build.state(now) == BuildState::Staged
                });
                if !staged {
                    return unprocessable(
                        "Unable to assign current droplet. Ensure the droplet exists and belongs to this app.",
                    );
                }
                guid
            }
            None => match app.current_droplet.clone() {
                Some(guid) => guid,
                None => {
                    return unprocessable(
                        "Invalid droplet. Please specify a droplet in the request or set a current droplet for the app.",
                    );
                }
            },
        };
        let wall = SystemTime::now();
        let guid = new_guid();
        let mut deployment = Deployment {
            guid: guid.clone(),
            app_guid: app.guid.clone(),
            droplet: droplet.clone(),
            previous_droplet: app.current_droplet.clone(),
            created_at: rfc3339(wall),
            created: now,
            created_wall: wall,
            max_in_flight: new.max_in_flight,
            web_instances: new.web_instances,
            memory_in_mb: new.memory_in_mb,
            disk_in_mb: new.disk_in_mb,
            log_rate_limit: new.log_rate_limit,
            reason: Reason::Deploying,
            state: "DEPLOYING",
            changed: wall,
            healthy: wall,
            labels: Map::new(),
            annotations: Map::new(),
        };
        merge_metadata(
            body.get("metadata"),
            &mut deployment.labels,
            &mut deployment.annotations,
        );
        // An active deployment of the app is superseded.
        for previous in &mut self.deployments {
            if previous.app_guid == deployment.app_guid && previous.reason.active() {
                previous.finish(Reason::Superseded, now);
            }
        }
        let options = ctx.options;
        let app = &mut self.apps[index];
        app.close_epoch(now);
        if let Some(instances) = new.web_instances {
            app.instances = instances;
        }
        if let Some(memory) = new.memory_in_mb {
            app.memory = memory;
        }
        if let Some(disk) = new.disk_in_mb {
            app.disk_quota = disk;
        }
        if let Some(rate) = new.log_rate_limit {
            app.log_rate_limit = rate;
        }
        let previous_rollout = app.rollout.take();
        let old_run = app.run.clone();
        let old_version = app.version.clone();
        app.current_droplet = Some(droplet);
        app.version = new_guid();
        app.run = Some(Run::now(options, now));
        app.updated_at = rfc3339(wall);
        match (app.started, old_run) {
            (true, Some(old_run)) => {
                // The old instances are those of the rollout superseded, if one was under way.
                let (old_run, old_droplet, old_version) = match previous_rollout {
                    Some(previous) => {
                        (previous.old_run, previous.old_droplet, previous.old_version)
                    }
                    None => (old_run, deployment.previous_droplet.clone(), old_version),
                };
                let total = usize::try_from(app.instances).unwrap_or(0);
                if let Some(new_run) = app.run.clone() {
                    app.rollout = Some(Rollout {
                        deployment: guid,
                        old_run,
                        old_droplet,
                        old_version,
                        new_run,
                        new_version: app.version.clone(),
                        total,
                        max_in_flight: usize::try_from(new.max_in_flight).unwrap_or(1),
                        canceled: None,
                    });
                }
                if total == 0 {
                    app.rollout = None;
                    deployment.finish(Reason::Deployed, now);
                }
            }
            _ => {
                // A stopped app is started on the droplet, and the deployment is done.
                app.started = true;
                deployment.finish(Reason::Deployed, now);
            }
        }
        app.log_run(options);
        let reply = Reply::json(201, &deployment_json(ctx, &deployment));
        self.push_deployment(deployment);
        self.settle_rollouts(now);
        reply
    }

    /// `GET /v3/deployments/{guid}`.
    pub(super) fn v3_get_deployment(&self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        self.deployments
            .iter()
            .find(|deployment| deployment.guid == guid)
            .map_or_else(
                || not_found("Deployment"),
                |deployment| Reply::json(200, &deployment_json(ctx, deployment)),
            )
    }

    /// `GET /v3/deployments` (filters `app_guids`, `states`, `status_values`,
    /// `status_reasons`).
    pub(super) fn v3_list_deployments(&self, ctx: &Ctx<'_>) -> Reply {
        let filters = ["app_guids", "states", "status_values", "status_reasons"];
        let query = match ListQuery::parse(ctx, &filters, &[]) {
            Ok(query) => query,
            Err(reply) => return reply,
        };
        let rows = self
            .deployments
            .iter()
            .filter(|deployment| {
                let value = if deployment.reason.active() {
                    "ACTIVE"
                } else {
                    "FINALIZED"
                };
                query.passes("app_guids", &deployment.app_guid)
                    && query.passes("states", deployment.state)
                    && query.passes("status_values", value)
                    && query.passes("status_reasons", deployment.reason.as_str())
            })
            .map(|deployment| Row {
                created_at: deployment.created_at.clone(),
                updated_at: rfc3339(deployment.changed),
                name: deployment.guid.clone(),
                body: deployment_json(ctx, deployment),
            })
            .collect();
        query.respond(ctx, "/v3/deployments", rows)
    }

    /// `POST /v3/deployments/{guid}/actions/cancel`: 200 with no body.
    pub(super) fn v3_cancel_deployment(&mut self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        let Some(deployment) = self
            .deployments
            .iter_mut()
            .find(|deployment| deployment.guid == guid)
        else {
            return not_found("Deployment");
        };
        if !deployment.reason.active() {
            return unprocessable(&format!("Cannot cancel a {} deployment", deployment.state));
        }
        if deployment.reason == Reason::Canceling {
            return Reply::empty(200);
        }
        deployment.finish(Reason::Canceling, ctx.now);
        let previous = deployment.previous_droplet.clone();
        let app_guid = deployment.app_guid.clone();
        if let Some(index) = self.find(&app_guid) {
            let app = &mut self.apps[index];
            app.close_epoch(ctx.now);
            if previous.is_some() {
                app.current_droplet = previous;
            }
            app.forget_future_logs(SystemTime::now());
            if let Some(rollout) = &mut app.rollout {
                rollout.canceled = Some(ctx.now);
            }
        }
        self.settle_rollouts(ctx.now);
        Reply::empty(200)
    }

    /// Ends the rollouts whose time has come (DEPLOYED, or CANCELED after a cancel), and
    /// deployments whose app no longer rolls them out (stopped, restarted or deleted) as
    /// CANCELED.
    pub(in super::super) fn settle_rollouts(&mut self, now: Instant) {
        for app in &mut self.apps {
            let Some(rollout) = app.rollout.clone() else {
                continue;
            };
            let (at, reason) = if let Some(at) = rollout.canceled_by() {
                (at, Reason::Canceled)
            } else if let Some(at) = rollout.finishes() {
                (at, Reason::Deployed)
            } else {
                continue;
            };
            if now < at {
                continue;
            }
            app.close_epoch(at);
            if reason == Reason::Canceled {
                app.run = Some(rollout.old_run.clone());
                app.version = rollout.old_version.clone();
            }
            app.rollout = None;
            if let Some(deployment) = self
                .deployments
                .iter_mut()
                .find(|deployment| deployment.guid == rollout.deployment)
            {
                deployment.finish(reason, at);
            }
        }
        for deployment in &mut self.deployments {
            if !deployment.reason.active() {
                continue;
            }
            let rolling = self.apps.iter().any(|app| {
                app.rollout
                    .as_ref()
                    .is_some_and(|rollout| rollout.deployment == deployment.guid)
            });
            if !rolling {
                deployment.finish(Reason::Canceled, now);
            }
        }
    }
}
