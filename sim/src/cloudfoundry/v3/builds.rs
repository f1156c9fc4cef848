//! Builds and droplets through v3: a build stages a READY package for
//! [`SimOptions::cf_staging_time`](crate::SimOptions::cf_staging_time) and ends STAGED with a
//! droplet, or FAILED when [`SimOptions::cf_staging_fails`](crate::SimOptions::cf_staging_fails);
//! the app's current droplet is set by hand (v2's start sets it itself).

use serde_json::{Map, Value, json};

use super::super::apps::App;
use super::super::errors::STAGING_IN_PROGRESS;
use super::super::sha256::sha256_hex;
use super::super::staging::{Build, BuildState, PackageState};
use super::super::{CloudFoundry, rfc3339, stable_guid};
use super::{
    Ctx, Problems, check_metadata, empty_metadata, not_found, parse_object, unknown_fields,
    unprocessable,
};
use crate::request::Reply;

/// Staging memory and disk when a build asks for none (the Cloud Controller's defaults).
const STAGING_MEMORY_MB: i64 = 1024;
const STAGING_DISK_MB: i64 = 4096;

/// Buildpack versions the simulator's droplets report (made up).
const BUILDPACK_VERSION: &str = "1.8.40";

/// A build as `BuildPresenter` shows it.
fn build_json(ctx: &Ctx<'_>, app: &App, build: &Build) -> Value {
    let guid = &build.guid;
    let state = build.state(ctx.now);
    let staged = state == BuildState::Staged;
    let mut links = Map::new();
    links.insert("self".into(), ctx.href(&format!("/v3/builds/{guid}")));
    links.insert("app".into(), ctx.href(&format!("/v3/apps/{}", app.guid)));
    if staged {
        links.insert(
            "droplet".into(),
            ctx.href(&format!("/v3/droplets/{}", build.droplet_guid)),
        );
    }
    json!({
        "guid": guid,
        "created_at": build.created_at,
        "updated_at": build.updated_at(ctx.now),
        "state": match state {
            BuildState::Staging => "STAGING",
            BuildState::Staged => "STAGED",
            BuildState::Failed | BuildState::Cancelled => "FAILED",
        },
        "staging_memory_in_mb": build.staging_memory_mb,
        "staging_disk_in_mb": build.staging_disk_mb,
        "staging_log_rate_limit_bytes_per_second": -1,
        "error": build.error(ctx.now),
        "lifecycle": build.lifecycle.body(),
        "package": { "guid": build.package_guid },
        "droplet": staged.then(|| json!({ "guid": build.droplet_guid })),
        "created_by": {
            "guid": stable_guid(&build.created_by),
            "name": build.created_by,
            "email": null,
        },
        "relationships": { "app": { "data": { "guid": app.guid } } },
        "metadata": empty_metadata(),
        "links": links,
    })
}

/// The droplet of a staged build, as `DropletPresenter` shows it.
fn droplet_json(ctx: &Ctx<'_>, app: &App, build: &Build) -> Value {
    let guid = &build.droplet_guid;
    let docker = build.lifecycle.docker;
    let buildpacks = (!docker).then(|| {
        let detected = build.detected.unwrap_or("binary");
        if build.lifecycle.buildpacks.is_empty() {
            // Detected: the system buildpack of that name.
            vec![json!({
                "name": format!("{detected}_buildpack"),
                "detect_output": detected,
                "buildpack_name": detected,
                "version": BUILDPACK_VERSION,
            })]
        } else {
            build
                .lifecycle
                .buildpacks
                .iter()
                .enumerate()
                .map(|(index, name)| {
                    json!({
                        "name": name,
                        // Only the last buildpack (the one that supplies the start) detects.
                        "detect_output": (index + 1 == build.lifecycle.buildpacks.len())
                            .then_some(detected),
                        "buildpack_name": name.trim_end_matches("_buildpack"),
                        "version": BUILDPACK_VERSION,
                    })
                })
                .collect()
        }
    });
    let mut links = Map::new();
    links.insert("self".into(), ctx.href(&format!("/v3/droplets/{guid}")));
    links.insert("app".into(), ctx.href(&format!("/v3/apps/{}", app.guid)));
    links.insert(
        "assign_current_droplet".into(),
        ctx.action(
            &format!("/v3/apps/{}/relationships/current_droplet", app.guid),
            "PATCH",
        ),
    );
    links.insert(
        "package".into(),
        ctx.href(&format!("/v3/packages/{}", build.package_guid)),
    );
    if !docker {
        links.insert(
            "download".into(),
            ctx.href(&format!("/v3/droplets/{guid}/download")),
        );
    }
    json!({
        "guid": guid,
        "created_at": build.created_at,
        "updated_at": rfc3339(build.done_at().1),
        "state": "STAGED",
        "error": null,
        "lifecycle": { "type": if docker { "docker" } else { "buildpack" }, "data": {} },
        // A droplet's checksum is of its tarball, which the simulator does not make.
        "checksum": (!docker).then(|| json!({ "type": "sha256", "value": sha256_hex(guid.as_bytes()) })),
        "buildpacks": buildpacks,
        "stack": build.lifecycle.stack,
        "image": build.image,
        "execution_metadata": "",
        "process_types": { "web": build.start_command },
        "relationships": { "app": { "data": { "guid": app.guid } } },
        "metadata": empty_metadata(),
        "links": links,
    })
}

/// `GET /v3/apps/{guid}/droplets/current`.
pub(super) fn current_droplet(ctx: &Ctx<'_>, app: &App) -> Reply {
    match app.current_droplet_build() {
        Some(build) => Reply::json(200, &droplet_json(ctx, app, build)),
        None => not_found("Droplet"),
    }
}

fn relationship_json(ctx: &Ctx<'_>, app: &App, droplet: &str) -> Value {
    json!({
        "data": { "guid": droplet },
        "links": {
            "self": ctx.href(&format!("/v3/apps/{}/relationships/current_droplet", app.guid)),
            "related": ctx.href(&format!("/v3/apps/{}/droplets/current", app.guid)),
        },
    })
}

/// `GET /v3/apps/{guid}/relationships/current_droplet`.
pub(super) fn current_droplet_relationship(ctx: &Ctx<'_>, app: &App) -> Reply {
    match &app.current_droplet {
        Some(droplet) => Reply::json(200, &relationship_json(ctx, app, droplet)),
        None => not_found("Droplet"),
    }
}

impl CloudFoundry {
    /// The app and index of build `guid`.
    fn find_build(&self, guid: &str) -> Option<(usize, usize)> {
        self.apps.iter().enumerate().find_map(|(app, entry)| {
            entry
                .builds
                .iter()
                .position(|build| build.guid == guid)
                .map(|build| (app, build))
        })
    }

    /// The app and index of the build whose droplet is `guid`, once staged.
    fn find_droplet(&self, ctx: &Ctx<'_>, guid: &str) -> Option<(usize, usize)> {
        self.apps.iter().enumerate().find_map(|(app, entry)| {
            entry
                .builds
                .iter()
                .position(|build| {
                    build.droplet_guid == guid && build.state(ctx.now) == BuildState::Staged
                })
                .map(|build| (app, build))
        })
    }

    /// `POST /v3/builds`: stages a READY package; 201 STAGING.
    pub(super) fn v3_create_build(&mut self, ctx: &Ctx<'_>) -> Reply {
        let body = match parse_object(ctx.request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let mut problems = Problems::default();
        let allowed = [
            "staging_memory_in_mb",
            "staging_disk_in_mb",
            "staging_log_rate_limit_bytes_per_second",
            "environment_variables",
            "lifecycle",
            "package",
            "metadata",
        ];
        if let Some(unknown) = unknown_fields(&body, &allowed) {
            problems.add(unknown);
        }
        let package_guid = body
            .get("package")
            .and_then(|package| package.get("guid"))
            .and_then(Value::as_str)
            .filter(|guid| (1..=200).contains(&guid.len()));
        if package_guid.is_none() {
            problems.add(
                "Package guid must be a string, Package guid must be between 1 and 200 characters",
            );
        }
        let mut size = |key: &str, label: &str| match body.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => match value.as_i64() {
                Some(size) if size > 0 => Some(size),
                _ => {
                    problems.add(format!("{label} must be greater than 0"));
                    None
                }
            },
        };
        let memory = size("staging_memory_in_mb", "Staging memory in mb");
        let disk = size("staging_disk_in_mb", "Staging disk in mb");
        check_metadata(body.get("metadata"), &mut problems);
        if let Err(reply) = problems.check() {
            return reply;
        }
        let unusable = || {
            unprocessable(
                "Unable to use package. Ensure that the package exists and you have access to it.",
            )
        };
        let Some(package_guid) = package_guid else {
            return unusable();
        };
        let Some(index) = self
            .apps
            .iter()
            .position(|app| app.package(package_guid).is_some())
        else {
            return unusable();
        };
        let app = &mut self.apps[index];
        if app
            .builds
            .iter()
            .any(|build| build.state(ctx.now) == BuildState::Staging)
        {
            return STAGING_IN_PROGRESS.v3("");
        }
        let ready = app
            .package(package_guid)
            .is_some_and(|package| package.state(ctx.now) == PackageState::Ready);
        if !ready {
            return unprocessable("Cannot stage package whose state is not ready.");
        }
        let build = app.stage(ctx.options, ctx.now, package_guid, false, &ctx.subject);
        build.staging_memory_mb = memory.unwrap_or(STAGING_MEMORY_MB);
        build.staging_disk_mb = disk.unwrap_or(STAGING_DISK_MB);
        let app = &self.apps[index];
        let build = &app.builds[app.builds.len() - 1];
        Reply::json(201, &build_json(ctx, app, build))
    }

    /// `GET /v3/builds/{guid}`.
    pub(super) fn v3_get_build(&self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        match self.find_build(guid) {
            Some((app, build)) => {
                let app = &self.apps[app];
                Reply::json(200, &build_json(ctx, app, &app.builds[build]))
            }
            None => not_found("Build"),
        }
    }

    /// `GET /v3/droplets/{guid}`: a droplet exists once its build is staged.
    pub(super) fn v3_get_droplet(&self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        match self.find_droplet(ctx, guid) {
            Some((app, build)) => {
                let app = &self.apps[app];
                Reply::json(200, &droplet_json(ctx, app, &app.builds[build]))
            }
            None => not_found("Droplet"),
        }
    }

    /// `PATCH /v3/apps/{guid}/relationships/current_droplet`: one of the app's staged
    /// droplets. (A started app's instances then count from the later of its start and that
    /// droplet's staging, which the simulator does not tell apart from a restart.)
    pub(super) fn v3_set_current_droplet(&mut self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        let body = match parse_object(ctx.request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let Some(index) = self.find(guid) else {
            return not_found("App");
        };
        if body.get("data").is_some_and(Value::is_null) {
            return unprocessable(
                "Current droplet cannot be removed. Replace it with a preferred droplet.",
            );
        }
        let droplet = body
            .get("data")
            .and_then(|data| data.get("guid"))
            .and_then(Value::as_str);
        let app = &mut self.apps[index];
        let staged = droplet.is_some_and(|droplet| {
            app.builds.iter().any(|build| {
                build.droplet_guid == droplet && build.state(ctx.now) == BuildState::Staged
            })
        });
        let Some(droplet) = droplet.filter(|_| staged) else {
            return unprocessable(
                "Unable to assign current droplet. Ensure the droplet exists and belongs to this app.",
            );
        };
        app.close_epoch(ctx.now);
        app.current_droplet = Some(droplet.to_owned());
        app.updated_at = rfc3339(std::time::SystemTime::now());
        Reply::json(200, &relationship_json(ctx, app, droplet))
    }
}
