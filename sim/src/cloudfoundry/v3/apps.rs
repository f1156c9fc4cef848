//! Apps through v3: the body (`AppPresenter`), list, create, update, delete, start, stop and
//! restart, environment variables, and the ssh feature.

use serde_json::{Map, Value, json};

use super::super::apps::{App, Run};
use super::super::errors::UNIQUENESS_ERROR;
use super::super::foundation::{default_stack, space, stack_by_guid, stack_by_name};
use super::super::{CloudFoundry, new_guid, rfc3339};
use super::jobs::V3Job;
use super::pages::{ListQuery, Row};
use super::{
    Ctx, Problems, check_metadata, merge, merge_metadata, not_found, parse_object, unknown_fields,
    unprocessable,
};
use crate::request::Reply;

/// Ports of a buildpack app, as v2 shows them.
const DEFAULT_PORT: i64 = 8080;

/// The longest app name the Cloud Controller takes.
const MAX_NAME: usize = 255;

/// An app as `AppPresenter` shows it.
pub(super) fn app_json(ctx: &Ctx<'_>, app: &App) -> Value {
    let guid = &app.guid;
    let path = format!("/v3/apps/{guid}");
    let link = |tail: &str| ctx.href(&format!("{path}{tail}"));
    json!({
        "guid": guid,
        "created_at": app.created_at,
        "updated_at": app.updated_at,
        "name": app.name,
        "state": if app.started { "STARTED" } else { "STOPPED" },
        "lifecycle": app.lifecycle(ctx.options).body(),
        "relationships": {
            "space": { "data": { "guid": app.space_guid } },
            "current_droplet": { "data": { "guid": app.current_droplet } },
        },
        "metadata": { "labels": app.labels, "annotations": app.annotations },
        "links": {
            "self": link(""),
            "environment_variables": link("/environment_variables"),
            "space": ctx.href(&format!("/v3/spaces/{}", app.space_guid)),
            "processes": link("/processes"),
            "packages": link("/packages"),
            "current_droplet": link("/droplets/current"),
            "droplets": link("/droplets"),
            "tasks": link("/tasks"),
            "start": ctx.action(&format!("{path}/actions/start"), "POST"),
            "stop": ctx.action(&format!("{path}/actions/stop"), "POST"),
            "clear_buildpack_cache": ctx.action(&format!("{path}/actions/clear_buildpack_cache"), "POST"),
            "revisions": link("/revisions"),
            "deployed_revisions": link("/revisions/deployed"),
            "features": link("/features"),
        },
    })
}

/// `GET /v3/apps/{guid}`.
pub(super) fn body(ctx: &Ctx<'_>, app: &App) -> Reply {
    Reply::json(200, &app_json(ctx, app))
}

/// `GET /v3/apps/{guid}/environment_variables`.
pub(super) fn environment(ctx: &Ctx<'_>, app: &App) -> Reply {
    Reply::json(200, &environment_json(ctx, app))
}

fn environment_json(ctx: &Ctx<'_>, app: &App) -> Value {
    json!({
        "var": app.environment_json,
        "links": {
            "self": ctx.href(&format!("/v3/apps/{}/environment_variables", app.guid)),
            "app": ctx.href(&format!("/v3/apps/{}", app.guid)),
        },
    })
}

/// `GET /v3/apps/{guid}/ssh_enabled`: ssh is allowed on the foundation and in every space,
/// so only the app's own setting counts.
pub(super) fn ssh_enabled(_ctx: &Ctx<'_>, app: &App) -> Reply {
    let reason = if app.enable_ssh {
        ""
    } else {
        "ssh is disabled for app"
    };
    Reply::json(200, &json!({ "enabled": app.enable_ssh, "reason": reason }))
}

fn ssh_feature(app: &App) -> Value {
    json!({
        "name": "ssh",
        "description": "Enable SSHing into the app.",
        "enabled": app.enable_ssh,
    })
}

/// A checked `lifecycle`: its type, and the buildpack data it gives.
struct LifecycleChange {
    docker: bool,
    buildpacks: Option<Vec<String>>,
    stack: Option<String>,
}

/// Checks a `lifecycle` (`{type, data}`); without a type it keeps `current` (buildpack for a
/// new app).
fn parse_lifecycle(value: &Value, current: bool, problems: &mut Problems) -> LifecycleChange {
    let mut change = LifecycleChange {
        docker: current,
        buildpacks: None,
        stack: None,
    };
    let Value::Object(lifecycle) = value else {
        problems.add("Lifecycle must be an object");
        return change;
    };
    match lifecycle.get("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(kind)) if kind == "buildpack" => change.docker = false,
        Some(Value::String(kind)) if kind == "docker" => change.docker = true,
        Some(Value::String(_)) => {
            problems.add("Lifecycle type is not included in the list: buildpack, docker, cnb");
        }
        Some(_) => problems.add("Lifecycle type must be a string"),
    }
    let Some(Value::Object(data)) = lifecycle.get("data") else {
        problems.add("Lifecycle data must be an object");
        return change;
    };
    if change.docker {
        if let Some(unknown) = unknown_fields(data, &[]) {
            problems.add(format!("Lifecycle {unknown}"));
        }
        return change;
    }
    if let Some(unknown) = unknown_fields(data, &["buildpacks", "stack", "credentials"]) {
        problems.add(format!("Lifecycle {unknown}"));
    }
    match data.get("buildpacks") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            let names: Vec<String> = items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect();
            if names.len() != items.len() {
                problems.add("Buildpacks can only contain strings");
            } else if names.iter().any(|name| name.trim().is_empty()) {
                problems.add("Buildpacks entries must be between 1 and 4096 characters");
            }
            change.buildpacks = Some(names);
        }
        Some(_) => problems.add("Buildpacks must be an array"),
    }
    match data.get("stack") {
        None | Some(Value::Null) => {}
        Some(Value::String(stack)) => change.stack = Some(stack.clone()),
        Some(_) => problems.add("Stack must be a string"),
    }
    change
}

/// Checks environment variables' names (and, with `strings`, that values are strings or null).
fn check_environment(value: &Value, field: &str, strings: bool, problems: &mut Problems) {
    let Value::Object(variables) = value else {
        problems.add(format!("{field} must be an object"));
        return;
    };
    for (key, value) in variables {
        let upper = key.to_ascii_uppercase();
        if key.is_empty() {
            problems.add(format!("{field} key must be a minimum length of 1"));
        } else if upper.starts_with("VCAP_") {
            problems.add(format!("{field} cannot start with VCAP_"));
        } else if upper.starts_with("VMC") {
            problems.add(format!("{field} cannot start with VMC_"));
        } else if upper == "PORT" {
            problems.add(format!("{field} cannot set PORT"));
        } else if strings && !(value.is_string() || value.is_null()) {
            problems.add(format!(
                "Non-string value in environment variable for key '{key}', value '{value}'"
            ));
        }
    }
}

/// The stack guid for a lifecycle's stack name, or the 422 for a stack the foundation lacks.
fn stack_guid(ctx: &Ctx<'_>, name: &str) -> Result<String, Reply> {
    stack_by_name(ctx.options, name)
        .map(|stack| stack.guid.clone())
        .ok_or_else(|| unprocessable("Stack must be an existing stack"))
}

fn check_name(
    body: &Map<String, Value>,
    required: bool,
    problems: &mut Problems,
) -> Option<String> {
    match body.get("name") {
        None if !required => None,
        Some(Value::String(name)) if name.chars().count() > MAX_NAME => {
            problems.add("Name is too long (maximum is 255 characters)");
            None
        }
        // Names are stripped, as the Cloud Controller's model does.
        Some(Value::String(name)) => Some(name.trim().to_owned()),
        _ => {
            problems.add("Name must be a string");
            None
        }
    }
}

/// The space guid of `relationships.space.data.guid`.
fn check_relationships(value: Option<&Value>, problems: &mut Problems) -> Option<String> {
    let Some(Value::Object(relationships)) = value else {
        problems.add("Relationships 'relationships' is not an object");
        return None;
    };
    if let Some(unknown) = unknown_fields(relationships, &["space"]) {
        problems.add(format!("Relationships {unknown}"));
    }
    let guid = relationships
        .get("space")
        .and_then(|space| space.get("data"))
        .and_then(|data| data.get("guid"))
        .and_then(Value::as_str);
    if guid.is_none() {
        problems.add(
            "Relationships Space must be structured like this: \"space: {\"data\": {\"guid\": \"valid-guid\"}}\"",
        );
    }
    guid.map(str::to_owned)
}

impl CloudFoundry {
    /// Answers with `answer` about the app `guid`, or 404.
    pub(super) fn v3_app(
        &self,
        ctx: &Ctx<'_>,
        guid: &str,
        answer: impl FnOnce(&Ctx<'_>, &App) -> Reply,
    ) -> Reply {
        match self.find(guid) {
            Some(index) => answer(ctx, &self.apps[index]),
            None => not_found("App"),
        }
    }

    fn v3_name_taken(&self, name: &str, space_guid: &str, except: Option<&str>) -> bool {
        self.apps.iter().any(|app| {
            app.name == name
                && app.space_guid.eq_ignore_ascii_case(space_guid)
                && Some(app.guid.as_str()) != except
        })
    }

    /// `GET /v3/apps`.
    pub(super) fn v3_list_apps(&self, ctx: &Ctx<'_>) -> Reply {
        let filters = [
            "names",
            "guids",
            "space_guids",
            "organization_guids",
            "stacks",
            "lifecycle_type",
        ];
        let query = match ListQuery::parse(ctx, &filters, &["name", "state"]) {
            Ok(query) => query,
            Err(reply) => return reply,
        };
        let rows = self
            .apps
            .iter()
            .filter(|app| {
                let org = space(ctx.options, &app.space_guid)
                    .map_or("", |space| space.organization_guid.as_str());
                let stack = stack_by_guid(ctx.options, &app.stack_guid)
                    .map_or("", |stack| stack.name.as_str());
                let lifecycle = if app.is_docker() {
                    "docker"
                } else {
                    "buildpack"
                };
                query.passes("names", &app.name)
                    && query.passes("guids", &app.guid)
                    && query.passes("space_guids", &app.space_guid)
                    && query.passes("organization_guids", org)
                    && query.passes("stacks", stack)
                    && query.passes("lifecycle_type", lifecycle)
            })
            .map(|app| Row {
                created_at: app.created_at.clone(),
                updated_at: app.updated_at.clone(),
                name: app.name.clone(),
                body: app_json(ctx, app),
            })
            .collect();
        query.respond(ctx, "/v3/apps", rows)
    }

    /// `POST /v3/apps`: a stopped app in one of the foundation's spaces; 201.
    pub(super) fn v3_create_app(&mut self, ctx: &Ctx<'_>) -> Reply {
        let body = match parse_object(ctx.request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let mut problems = Problems::default();
        let allowed = [
            "name",
            "environment_variables",
            "relationships",
            "lifecycle",
            "metadata",
        ];
        if let Some(unknown) = unknown_fields(&body, &allowed) {
            problems.add(unknown);
        }
        let name = check_name(&body, true, &mut problems);
        let space_guid = check_relationships(body.get("relationships"), &mut problems);
        let environment = body.get("environment_variables").filter(|v| !v.is_null());
        if let Some(environment) = environment {
            check_environment(environment, "Environment variables", false, &mut problems);
        }
        let lifecycle = body
            .get("lifecycle")
            .map(|value| parse_lifecycle(value, false, &mut problems));
        check_metadata(body.get("metadata"), &mut problems);
        if let Err(reply) = problems.check() {
            return reply;
        }
        let (Some(name), Some(space_guid)) = (name, space_guid) else {
            return unprocessable("Name must be a string");
        };
        let Some(space) = space(ctx.options, &space_guid) else {
            return unprocessable(
                "Invalid space. Ensure that the space exists and you have access to it.",
            );
        };
        let docker = lifecycle.as_ref().is_some_and(|change| change.docker);
        let stack_guid = match lifecycle
            .as_ref()
            .and_then(|change| change.stack.as_deref())
        {
            Some(name) if !docker => match stack_guid(ctx, name) {
                Ok(guid) => guid,
                Err(reply) => return reply,
            },
            _ => default_stack(ctx.options).0,
        };
        if name.is_empty() {
            return unprocessable("name is not present");
        }
        if self.v3_name_taken(&name, &space.guid, None) {
            return UNIQUENESS_ERROR.v3(&format!("App with the name '{name}' already exists."));
        }
        let mut app = App::new(name, space.guid.clone(), stack_guid);
        app.docker_lifecycle = docker;
        app.ports = (!docker).then(|| vec![DEFAULT_PORT]);
        if let Some(buildpacks) = lifecycle.and_then(|change| change.buildpacks) {
            app.buildpacks = buildpacks;
        }
        if let Some(environment) = environment {
            app.environment_json = environment.clone();
        }
        merge_metadata(body.get("metadata"), &mut app.labels, &mut app.annotations);
        let reply = Reply::json(201, &app_json(ctx, &app));
        self.apps.push(app);
        reply
    }

    /// `PATCH /v3/apps/{guid}`: `name`, `lifecycle` (not its type), `metadata`.
    pub(super) fn v3_update_app(&mut self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        let body = match parse_object(ctx.request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let mut problems = Problems::default();
        if let Some(unknown) = unknown_fields(&body, &["name", "lifecycle", "metadata"]) {
            problems.add(unknown);
        }
        let name = check_name(&body, false, &mut problems);
        let Some(index) = self.find(guid) else {
            // The message is checked first, then the app looked up.
            return problems.check().err().unwrap_or_else(|| not_found("App"));
        };
        let was_docker = self.apps[index].is_docker();
        let lifecycle = body
            .get("lifecycle")
            .map(|value| parse_lifecycle(value, was_docker, &mut problems));
        check_metadata(body.get("metadata"), &mut problems);
        if let Err(reply) = problems.check() {
            return reply;
        }
        if let Some(change) = &lifecycle
            && change.docker != was_docker
        {
            let kind = |docker: bool| if docker { "docker" } else { "buildpack" };
            return unprocessable(&format!(
                "Lifecycle type cannot be changed from {} to {}",
                kind(was_docker),
                kind(change.docker)
            ));
        }
        let stack = match lifecycle
            .as_ref()
            .and_then(|change| change.stack.as_deref())
        {
            Some(name) => match stack_guid(ctx, name) {
                Ok(guid) => Some(guid),
                Err(reply) => return reply,
            },
            None => None,
        };
        let space_guid = self.apps[index].space_guid.clone();
        if let Some(name) = &name {
            if name.is_empty() {
                return unprocessable("name is not present");
            }
            if self.v3_name_taken(name, &space_guid, Some(guid)) {
                // Unlike a create, an update reports the clash as any invalid app.
                return unprocessable(&format!("App with the name '{name}' already exists."));
            }
        }
        let app = &mut self.apps[index];
        if let Some(name) = name {
            app.name = name;
        }
        if let Some(stack) = stack {
            app.stack_guid = stack;
        }
        if let Some(buildpacks) = lifecycle.and_then(|change| change.buildpacks) {
            app.buildpacks = buildpacks;
        }
        merge_metadata(body.get("metadata"), &mut app.labels, &mut app.annotations);
        app.updated_at = rfc3339(std::time::SystemTime::now());
        Reply::json(200, &app_json(ctx, app))
    }

    /// `DELETE /v3/apps/{guid}`: gone at once; 202 with the job that did it.
    pub(super) fn v3_delete_app(&mut self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        let Some(index) = self.find(guid) else {
            return not_found("App");
        };
        self.apps.remove(index);
        self.forget_destinations_of(guid);
        let job = V3Job::new(ctx, "app.delete");
        let location = ctx.url(&format!("/v3/jobs/{}", job.guid));
        self.push_v3_job(job);
        Reply::empty(202).with_header("location", location)
    }

    /// `POST /v3/apps/{guid}/actions/start` (or `restart`): runs the current droplet; v3
    /// never stages on start.
    pub(super) fn v3_start(&mut self, ctx: &Ctx<'_>, guid: &str, restart: bool) -> Reply {
        let Some(index) = self.find(guid) else {
            return not_found("App");
        };
        let app = &mut self.apps[index];
        if app.current_droplet.is_none() {
            return unprocessable("Assign a droplet before starting this app.");
        }
        if restart || !app.started || app.run.is_none() {
            app.close_epoch(ctx.now);
            app.rollout = None;
            app.forget_future_logs(std::time::SystemTime::now());
            app.started = true;
            app.version = new_guid();
            app.run = Some(Run::now(ctx.options, ctx.now));
            app.updated_at = rfc3339(std::time::SystemTime::now());
            app.log_run(ctx.options);
        }
        Reply::json(200, &app_json(ctx, app))
    }

    /// `POST /v3/apps/{guid}/actions/stop`.
    pub(super) fn v3_stop(&mut self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        let Some(index) = self.find(guid) else {
            return not_found("App");
        };
        let app = &mut self.apps[index];
        if app.started {
            app.updated_at = rfc3339(std::time::SystemTime::now());
        }
        app.close_epoch(ctx.now);
        app.started = false;
        app.run = None;
        app.rollout = None;
        app.forget_future_logs(std::time::SystemTime::now());
        Reply::json(200, &app_json(ctx, app))
    }

    /// `PATCH /v3/apps/{guid}/environment_variables`: `var` merged in, `null` deletes.
    pub(super) fn v3_patch_environment(&mut self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        let Some(index) = self.find(guid) else {
            return not_found("App");
        };
        let body = match parse_object(ctx.request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let mut problems = Problems::default();
        if let Some(unknown) = unknown_fields(&body, &["var"]) {
            problems.add(unknown);
        }
        let var = body.get("var").cloned().unwrap_or(Value::Null);
        check_environment(&var, "Var", true, &mut problems);
        if let Err(reply) = problems.check() {
            return reply;
        }
        let app = &mut self.apps[index];
        if !app.environment_json.is_object() {
            app.environment_json = json!({});
        }
        if let (Value::Object(current), Value::Object(patch)) = (&mut app.environment_json, &var) {
            merge(current, patch);
        }
        app.updated_at = rfc3339(std::time::SystemTime::now());
        Reply::json(200, &environment_json(ctx, app))
    }

    /// `GET` and `PATCH /v3/apps/{guid}/features/{name}`: only `ssh` is simulated.
    pub(super) fn v3_feature(
        &mut self,
        ctx: &Ctx<'_>,
        guid: &str,
        name: &str,
        patch: bool,
    ) -> Reply {
        let Some(index) = self.find(guid) else {
            return not_found("App");
        };
        if name != "ssh" {
            return not_found("Feature");
        }
        if patch {
            let body = match parse_object(ctx.request) {
                Ok(body) => body,
                Err(reply) => return reply,
            };
            let mut problems = Problems::default();
            if let Some(unknown) = unknown_fields(&body, &["enabled"]) {
                problems.add(unknown);
            }
            let enabled = body.get("enabled").and_then(Value::as_bool);
            if enabled.is_none() {
                problems.add("Enabled must be a boolean");
            }
            if let Err(reply) = problems.check() {
                return reply;
            }
            if let Some(enabled) = enabled {
                self.apps[index].enable_ssh = enabled;
            }
        }
        Reply::json(200, &ssh_feature(&self.apps[index]))
    }
}
