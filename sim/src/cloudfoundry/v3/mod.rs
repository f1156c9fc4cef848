//! The Cloud Controller API v3 under `/cf/v3`, over the same apps, packages and builds as v2:
//! an app created through either is seen and changed through both, as on a real foundation.
//!
//! Bodies follow Cloud Controller's presenters (key order included) and its OpenAPI document
//! (`spec/cloudfoundry-v3.json`); errors are `{"errors": [{detail, title, code}]}`; links are
//! absolute, built from the host the client reached; lists page as `pagination` says.
//!
//! One module per resource: `places` (organizations, spaces, stacks), `apps` (with their
//! environment variables, ssh feature and current droplet), `processes` (the web process, its
//! scaling and stats), `packages` (and their upload), `builds` (and droplets), `routes`
//! (domains, routes and their destinations), `deployments` (rolling); `pages` is the
//! list query and pagination, `jobs` the asynchronous operations.

mod apps;
mod builds;
mod deployments;
mod jobs;
mod packages;
mod pages;
mod places;
mod processes;
mod routes;

pub(super) use deployments::Deployment;
pub(super) use jobs::V3Job;

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::errors::{MESSAGE_PARSE_ERROR, NOT_FOUND, UNPROCESSABLE_ENTITY};
use super::{CF_PREFIX, CloudFoundry};
use crate::options::SimOptions;
use crate::request::{Reply, Request};

/// What every v3 handler needs: the request, the time, where links point, and who asks.
pub(super) struct Ctx<'a> {
    pub(super) options: &'a SimOptions,
    pub(super) request: &'a Request,
    pub(super) now: Instant,
    /// `{sim}/cf` as the client reached it: v3 links are absolute.
    api: String,
    /// Who the token stands for (a user or a client).
    pub(super) subject: String,
}

impl Ctx<'_> {
    /// The absolute URL of a Cloud Controller `path` (`/v3/apps/...`).
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// `{"href": ...}` for `path`.
    pub(super) fn href(&self, path: &str) -> Value {
        json!({ "href": self.url(path) })
    }

    /// `{"href": ..., "method": ...}` for an action at `path`.
    pub(super) fn action(&self, path: &str, method: &str) -> Value {
        json!({ "href": self.url(path), "method": method })
    }
}

/// The v3 routes, found before authentication so unknown paths answer 404.
enum Route<'a> {
    ListOrgs,
    GetOrg(&'a str),
    ListSpaces,
    GetSpace(&'a str),
    ListStacks,
    GetStack(&'a str),
    ListApps,
    CreateApp,
    GetApp(&'a str),
    UpdateApp(&'a str),
    DeleteApp(&'a str),
    Start(&'a str),
    Stop(&'a str),
    Restart(&'a str),
    GetEnvironment(&'a str),
    PatchEnvironment(&'a str),
    GetFeature(&'a str, &'a str),
    PatchFeature(&'a str, &'a str),
    SshEnabled(&'a str),
    CurrentDroplet(&'a str),
    CurrentDropletRelationship(&'a str),
    SetCurrentDroplet(&'a str),
    AppProcesses(&'a str),
    AppProcess(&'a str, &'a str),
    AppProcessUpdate(&'a str, &'a str),
    AppProcessStats(&'a str, &'a str),
    AppProcessScale(&'a str, &'a str),
    GetProcess(&'a str),
    UpdateProcess(&'a str),
    ScaleProcess(&'a str),
    ProcessStats(&'a str),
    AppPackages(&'a str),
    CreatePackage,
    GetPackage(&'a str),
    UploadPackage(&'a str),
    CreateBuild,
    GetBuild(&'a str),
    GetDroplet(&'a str),
    GetJob(&'a str),
    ListDomains,
    GetDomain(&'a str),
    OrgDomains(&'a str),
    OrgDefaultDomain(&'a str),
    ListRoutes,
    PostRoutes,
    GetRouteByGuid(&'a str),
    Destinations(&'a str),
    InsertDestinations(&'a str),
    AppRoutes(&'a str),
    ListDeployments,
    CreateDeployment,
    GetDeployment(&'a str),
    CancelDeployment(&'a str),
}

fn route<'a>(method: &str, segments: &[&'a str]) -> Option<Route<'a>> {
    Some(match (method, segments) {
        ("GET", ["organizations"]) => Route::ListOrgs,
        ("GET", ["organizations", guid]) => Route::GetOrg(guid),
        ("GET", ["spaces"]) => Route::ListSpaces,
        ("GET", ["spaces", guid]) => Route::GetSpace(guid),
        ("GET", ["stacks"]) => Route::ListStacks,
        ("GET", ["stacks", guid]) => Route::GetStack(guid),
        ("GET", ["apps"]) => Route::ListApps,
        ("POST", ["apps"]) => Route::CreateApp,
        ("GET", ["apps", guid]) => Route::GetApp(guid),
        ("PATCH", ["apps", guid]) => Route::UpdateApp(guid),
        ("DELETE", ["apps", guid]) => Route::DeleteApp(guid),
        ("POST", ["apps", guid, "actions", "start"]) => Route::Start(guid),
        ("POST", ["apps", guid, "actions", "stop"]) => Route::Stop(guid),
        ("POST", ["apps", guid, "actions", "restart"]) => Route::Restart(guid),
        ("GET", ["apps", guid, "environment_variables"]) => Route::GetEnvironment(guid),
        ("PATCH", ["apps", guid, "environment_variables"]) => Route::PatchEnvironment(guid),
        ("GET", ["apps", guid, "features", name]) => Route::GetFeature(guid, name),
        ("PATCH", ["apps", guid, "features", name]) => Route::PatchFeature(guid, name),
        ("GET", ["apps", guid, "ssh_enabled"]) => Route::SshEnabled(guid),
        ("GET", ["apps", guid, "droplets", "current"]) => Route::CurrentDroplet(guid),
        ("GET", ["apps", guid, "relationships", "current_droplet"]) => {
            Route::CurrentDropletRelationship(guid)
        }
        ("PATCH", ["apps", guid, "relationships", "current_droplet"]) => {
            Route::SetCurrentDroplet(guid)
        }
        ("GET", ["apps", guid, "processes"]) => Route::AppProcesses(guid),
        ("GET", ["apps", guid, "processes", kind]) => Route::AppProcess(guid, kind),
        ("PATCH", ["apps", guid, "processes", kind]) => Route::AppProcessUpdate(guid, kind),
        ("GET", ["apps", guid, "processes", kind, "stats"]) => Route::AppProcessStats(guid, kind),
        ("POST", ["apps", guid, "processes", kind, "actions", "scale"]) => {
            Route::AppProcessScale(guid, kind)
        }
        ("GET", ["processes", guid]) => Route::GetProcess(guid),
        ("PATCH", ["processes", guid]) => Route::UpdateProcess(guid),
        ("POST", ["processes", guid, "actions", "scale"]) => Route::ScaleProcess(guid),
        ("GET", ["processes", guid, "stats"]) => Route::ProcessStats(guid),
        ("GET", ["apps", guid, "packages"]) => Route::AppPackages(guid),
        ("POST", ["packages"]) => Route::CreatePackage,
        ("GET", ["packages", guid]) => Route::GetPackage(guid),
        ("POST", ["packages", guid, "upload"]) => Route::UploadPackage(guid),
        ("POST", ["builds"]) => Route::CreateBuild,
        ("GET", ["builds", guid]) => Route::GetBuild(guid),
        ("GET", ["droplets", guid]) => Route::GetDroplet(guid),
        ("GET", ["jobs", guid]) => Route::GetJob(guid),
        ("GET", ["domains"]) => Route::ListDomains,
        ("GET", ["domains", guid]) => Route::GetDomain(guid),
        ("GET", ["organizations", guid, "domains"]) => Route::OrgDomains(guid),
        ("GET", ["organizations", guid, "domains", "default"]) => Route::OrgDefaultDomain(guid),
        ("GET", ["routes"]) => Route::ListRoutes,
        ("POST", ["routes"]) => Route::PostRoutes,
        ("GET", ["routes", guid]) => Route::GetRouteByGuid(guid),
        ("GET", ["routes", guid, "destinations"]) => Route::Destinations(guid),
        ("POST", ["routes", guid, "destinations"]) => Route::InsertDestinations(guid),
        ("GET", ["apps", guid, "routes"]) => Route::AppRoutes(guid),
        ("GET", ["deployments"]) => Route::ListDeployments,
        ("POST", ["deployments"]) => Route::CreateDeployment,
        ("GET", ["deployments", guid]) => Route::GetDeployment(guid),
        ("POST", ["deployments", guid, "actions", "cancel"]) => Route::CancelDeployment(guid),
        _ => return None,
    })
}

impl CloudFoundry {
    /// Answers a request under `/cf/v3/` (`segments` after `v3`). `base_url` is the simulator
    /// as the client reached it.
    pub(super) fn v3(
        &mut self,
        options: &SimOptions,
        request: &Request,
        segments: &[&str],
        now: Instant,
        base_url: &str,
    ) -> Reply {
        let Some(route) = route(&request.method, segments) else {
            return NOT_FOUND.v3("");
        };
        let subject = match self.authenticate(options, request) {
            Ok(subject) => subject,
            Err(error) => return error.v3(""),
        };
        let ctx = Ctx {
            options,
            request,
            now,
            api: format!("{base_url}{CF_PREFIX}"),
            subject,
        };
        match route {
            Route::ListOrgs => places::list_orgs(&ctx),
            Route::GetOrg(guid) => places::get_org(&ctx, guid),
            Route::ListSpaces => places::list_spaces(&ctx),
            Route::GetSpace(guid) => places::get_space(&ctx, guid),
            Route::ListStacks => places::list_stacks(&ctx),
            Route::GetStack(guid) => places::get_stack(&ctx, guid),
            Route::ListApps => self.v3_list_apps(&ctx),
            Route::CreateApp => self.v3_create_app(&ctx),
            Route::GetApp(guid) => self.v3_app(&ctx, guid, apps::body),
            Route::UpdateApp(guid) => self.v3_update_app(&ctx, guid),
            Route::DeleteApp(guid) => self.v3_delete_app(&ctx, guid),
            Route::Start(guid) => self.v3_start(&ctx, guid, false),
            Route::Stop(guid) => self.v3_stop(&ctx, guid),
            Route::Restart(guid) => self.v3_start(&ctx, guid, true),
            Route::GetEnvironment(guid) => self.v3_app(&ctx, guid, apps::environment),
            Route::PatchEnvironment(guid) => self.v3_patch_environment(&ctx, guid),
            Route::GetFeature(guid, name) => self.v3_feature(&ctx, guid, name, false),
            Route::PatchFeature(guid, name) => self.v3_feature(&ctx, guid, name, true),
            Route::SshEnabled(guid) => self.v3_app(&ctx, guid, apps::ssh_enabled),
            Route::CurrentDroplet(guid) => self.v3_app(&ctx, guid, builds::current_droplet),
            Route::CurrentDropletRelationship(guid) => {
                self.v3_app(&ctx, guid, builds::current_droplet_relationship)
            }
            Route::SetCurrentDroplet(guid) => self.v3_set_current_droplet(&ctx, guid),
            Route::AppProcesses(guid) => self.v3_app(&ctx, guid, processes::list),
            Route::AppProcess(guid, kind) => {
                self.v3_process(&ctx, guid, Some(kind), processes::body)
            }
            Route::AppProcessStats(guid, kind) => {
                self.v3_process(&ctx, guid, Some(kind), processes::stats)
            }
            Route::AppProcessScale(guid, kind) => self.v3_scale(&ctx, guid, Some(kind)),
            Route::GetProcess(guid) => self.v3_process(&ctx, guid, None, processes::body),
            Route::AppProcessUpdate(guid, kind) => self.v3_update_process(&ctx, guid, Some(kind)),
            Route::UpdateProcess(guid) => self.v3_update_process(&ctx, guid, None),
            Route::ScaleProcess(guid) => self.v3_scale(&ctx, guid, None),
            Route::ProcessStats(guid) => self.v3_process(&ctx, guid, None, processes::stats),
            Route::AppPackages(guid) => self.v3_app(&ctx, guid, packages::list),
            Route::CreatePackage => self.v3_create_package(&ctx),
            Route::GetPackage(guid) => self.v3_get_package(&ctx, guid),
            Route::UploadPackage(guid) => self.v3_upload(&ctx, guid),
            Route::CreateBuild => self.v3_create_build(&ctx),
            Route::GetBuild(guid) => self.v3_get_build(&ctx, guid),
            Route::GetDroplet(guid) => self.v3_get_droplet(&ctx, guid),
            Route::GetJob(guid) => self.v3_job(&ctx, guid),
            Route::ListDomains => routes::list_domains(&ctx, None),
            Route::GetDomain(guid) => routes::get_domain(&ctx, guid),
            Route::OrgDomains(guid) => routes::list_domains(&ctx, Some(guid)),
            Route::OrgDefaultDomain(guid) => routes::default_domain(&ctx, guid),
            Route::ListRoutes => self.v3_list_routes(&ctx, None),
            Route::PostRoutes => self.v3_create_route(&ctx),
            Route::GetRouteByGuid(guid) => self.v3_get_route(&ctx, guid),
            Route::Destinations(guid) => self.v3_route_destinations(&ctx, guid),
            Route::InsertDestinations(guid) => self.v3_insert_destinations(&ctx, guid),
            Route::AppRoutes(guid) => self.v3_list_routes(&ctx, Some(guid)),
            Route::ListDeployments => self.v3_list_deployments(&ctx),
            Route::CreateDeployment => self.v3_create_deployment(&ctx),
            Route::GetDeployment(guid) => self.v3_get_deployment(&ctx, guid),
            Route::CancelDeployment(guid) => self.v3_cancel_deployment(&ctx, guid),
        }
    }
}

/// `{"labels": {}, "annotations": {}}`: what every resource without its own metadata shows.
pub(super) fn empty_metadata() -> Value {
    json!({ "labels": {}, "annotations": {} })
}

/// `Resource not found`, as v3 names resources (`App not found`).
pub(super) fn not_found(resource: &str) -> Reply {
    super::errors::RESOURCE_NOT_FOUND.v3(&format!("{resource} not found"))
}

/// A 422 with the Cloud Controller's message (several joined with ", ").
pub(super) fn unprocessable(message: &str) -> Reply {
    UNPROCESSABLE_ENTITY.v3(message)
}

/// The JSON object a write sends; a body that is not JSON is a parse error, as the Cloud
/// Controller's body parser answers. An empty body is an empty object.
pub(super) fn parse_object(request: &Request) -> Result<Map<String, Value>, Reply> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(body)) => Ok(body),
        _ => Err(MESSAGE_PARSE_ERROR.v3("invalid request body")),
    }
}

/// The Cloud Controller's check that a message has no other fields than `allowed`.
pub(super) fn unknown_fields(body: &Map<String, Value>, allowed: &[&str]) -> Option<String> {
    let extra: Vec<&str> = body
        .keys()
        .map(String::as_str)
        .filter(|key| !allowed.contains(key))
        .collect();
    (!extra.is_empty()).then(|| format!("Unknown field(s): '{}'", extra.join("', '")))
}

/// Problems found in a message, reported together as one 422.
#[derive(Default)]
pub(super) struct Problems(Vec<String>);

impl Problems {
    pub(super) fn add(&mut self, problem: impl Into<String>) {
        self.0.push(problem.into());
    }

    /// `Err` with all problems, if there are any.
    pub(super) fn check(self) -> Result<(), Reply> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(unprocessable(&self.0.join(", ")))
        }
    }
}

/// Checks `metadata`: `labels` and `annotations`, objects of strings (`null` removes a key
/// when updating).
pub(super) fn check_metadata(value: Option<&Value>, problems: &mut Problems) {
    let Some(value) = value else {
        return;
    };
    let Value::Object(metadata) = value else {
        problems.add("Metadata must be an object");
        return;
    };
    if let Some(unknown) = unknown_fields(metadata, &["labels", "annotations"]) {
        problems.add(format!("Metadata {unknown}"));
    }
    for key in ["labels", "annotations"] {
        match metadata.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(entries)) => {
                if entries
                    .values()
                    .any(|value| !(value.is_string() || value.is_null()))
                {
                    problems.add(format!("Metadata {key} values must be strings"));
                }
            }
            Some(_) => problems.add(format!("Metadata {key} must be an object")),
        }
    }
}

/// Lays checked `metadata` over `labels` and `annotations`: `null` removes a key.
pub(super) fn merge_metadata(
    value: Option<&Value>,
    labels: &mut Map<String, Value>,
    annotations: &mut Map<String, Value>,
) {
    let Some(Value::Object(metadata)) = value else {
        return;
    };
    for (key, target) in [("labels", labels), ("annotations", annotations)] {
        if let Some(Value::Object(entries)) = metadata.get(key) {
            merge(target, entries);
        }
    }
}

/// `patch` laid over `target`: each key replaces, `null` removes.
pub(super) fn merge(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            target.shift_remove(key);
        } else {
            target.insert(key.clone(), value.clone());
        }
    }
}
