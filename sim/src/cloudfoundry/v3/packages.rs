//! Packages through v3: create (bits awaiting their upload, or a docker image ready at once),
//! get, list an app's, and upload bits (multipart `bits` and `resources`), processed for
//! [`SimOptions::cf_job_time`](crate::SimOptions::cf_job_time) before the package is READY
//! with the SHA-256 of what was sent. A v2 upload makes the same kind of package.

use serde_json::{Map, Value, json};

use super::super::CloudFoundry;
use super::super::apps::App;
use super::super::bits::{Bits, read_zip};
use super::super::errors::PACKAGE_BITS_ALREADY_UPLOADED;
use super::super::sha256::sha256_hex;
use super::super::staging::{DockerImage, Package, PackageKind, PackageState, Upload};
use super::pages::{ListQuery, Row};
use super::{
    Ctx, Problems, check_metadata, empty_metadata, not_found, parse_object, unknown_fields,
    unprocessable,
};
use crate::request::{Part, Reply};

/// What the presenter shows instead of a registry password.
const REDACTED: &str = "***";

/// A package as `PackagePresenter` shows it.
pub(super) fn package_json(ctx: &Ctx<'_>, app: &App, package: &Package) -> Value {
    let guid = &package.guid;
    let now = ctx.now;
    let (kind, data) = match &package.kind {
        PackageKind::Docker(docker) => (
            "docker",
            json!({
                "image": docker.image,
                "username": docker.username,
                "password": docker.username.as_ref().map(|_| REDACTED),
            }),
        ),
        PackageKind::Bits(_) => (
            "bits",
            json!({
                "error": package.error(now),
                "checksum": {
                    "type": "sha256",
                    "value": package.ready_bits(now).map(|bits| bits.sha256.as_str()),
                },
            }),
        ),
    };
    let mut links = Map::new();
    links.insert("self".into(), ctx.href(&format!("/v3/packages/{guid}")));
    if kind == "bits" {
        links.insert(
            "upload".into(),
            ctx.action(&format!("/v3/packages/{guid}/upload"), "POST"),
        );
        links.insert(
            "download".into(),
            ctx.href(&format!("/v3/packages/{guid}/download")),
        );
    }
    links.insert("app".into(), ctx.href(&format!("/v3/apps/{}", app.guid)));
    json!({
        "guid": guid,
        "created_at": package.created_at,
        "updated_at": package.updated_at(now),
        "type": kind,
        "data": data,
        "state": package.state(now).as_str(),
        "relationships": { "app": { "data": { "guid": app.guid } } },
        "metadata": empty_metadata(),
        "links": links,
    })
}

/// `GET /v3/apps/{guid}/packages`, oldest first.
pub(super) fn list(ctx: &Ctx<'_>, app: &App) -> Reply {
    let query = match ListQuery::parse(ctx, &["guids", "states", "types"], &[]) {
        Ok(query) => query,
        Err(reply) => return reply,
    };
    let rows = app
        .packages
        .iter()
        .filter(|package| {
            let kind = match package.kind {
                PackageKind::Bits(_) => "bits",
                PackageKind::Docker(_) => "docker",
            };
            query.passes("guids", &package.guid)
                && query.passes("states", package.state(ctx.now).as_str())
                && query.passes("types", kind)
        })
        .map(|package| Row {
            created_at: package.created_at.clone(),
            updated_at: package.updated_at(ctx.now),
            name: package.guid.clone(),
            body: package_json(ctx, app, package),
        })
        .collect();
    query.respond(ctx, &format!("/v3/apps/{}/packages", app.guid), rows)
}

/// A string field of a docker package's `data`.
fn data_string(data: &Map<String, Value>, key: &str, problems: &mut Problems) -> Option<String> {
    match data.get(key)? {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        _ => {
            problems.add(format!("Data {key} must be a string"));
            None
        }
    }
}

/// The uploaded bits of a v3 upload: the zip's files, or the resources the platform already
/// has (`path`/`size_in_bytes`, or v2's `fn`/`size`) when no zip came; or why the zip is not
/// one. The checksum is of what was sent.
fn bits_of(zip: Option<&Part>, resources: &[Value], resources_raw: &[u8]) -> Result<Bits, String> {
    let field = |resource: &Value, v3: &str, v2: &str| {
        resource.get(v3).or_else(|| resource.get(v2)).cloned()
    };
    let mut files: Vec<String> = resources
        .iter()
        .filter_map(|resource| field(resource, "path", "fn"))
        .filter_map(|path| path.as_str().map(str::to_owned))
        .collect();
    let mut bytes = resources
        .iter()
        .filter_map(|resource| field(resource, "size_in_bytes", "size"))
        .filter_map(|size| size.as_u64())
        .map(|size| usize::try_from(size).unwrap_or(usize::MAX))
        .fold(0, usize::saturating_add);
    let (sha256, stored) = match zip {
        Some(zip) => {
            let read =
                read_zip(zip).map_err(|problem| format!("Unzipping had errors: {problem}"))?;
            files.extend(read.files);
            bytes = bytes.saturating_add(read.bytes);
            (read.sha256, read.zip)
        }
        None => (sha256_hex(resources_raw), None),
    };
    Ok(Bits {
        bytes,
        files,
        sha256,
        zip: stored,
    })
}

impl CloudFoundry {
    /// The app and index of package `guid`.
    fn find_package(&self, guid: &str) -> Option<(usize, usize)> {
        self.apps.iter().enumerate().find_map(|(app, entry)| {
            entry
                .packages
                .iter()
                .position(|package| package.guid == guid)
                .map(|package| (app, package))
        })
    }

    /// `POST /v3/packages`: 201.
    pub(super) fn v3_create_package(&mut self, ctx: &Ctx<'_>) -> Reply {
        let body = match parse_object(ctx.request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let mut problems = Problems::default();
        if let Some(unknown) = unknown_fields(&body, &["relationships", "type", "data", "metadata"])
        {
            problems.add(unknown);
        }
        let docker = match body.get("type").and_then(Value::as_str) {
            Some("bits") => false,
            Some("docker") => true,
            _ => {
                problems.add("Type must be one of 'bits, docker'");
                false
            }
        };
        let app_guid = body
            .get("relationships")
            .and_then(|relationships| relationships.get("app"))
            .and_then(|app| app.get("data"))
            .and_then(|data| data.get("guid"))
            .and_then(Value::as_str);
        if app_guid.is_none() {
            problems.add(
                "Relationships App must be structured like this: \"app: {\"data\": {\"guid\": \"valid-guid\"}}\"",
            );
        }
        let mut image = None;
        match body.get("data") {
            None | Some(Value::Null) if docker => problems.add("Data Image required"),
            None | Some(Value::Null) => {}
            Some(Value::Object(data)) if docker => {
                if let Some(unknown) = unknown_fields(data, &["image", "username", "password"]) {
                    problems.add(format!("Data {unknown}"));
                }
                let username = data_string(data, "username", &mut problems);
                let password = data_string(data, "password", &mut problems);
                if username.is_some() != password.is_some() {
                    problems.add("Data Docker username and password must be given together");
                }
                match data_string(data, "image", &mut problems) {
                    Some(name) if !name.trim().is_empty() => {
                        image = Some(DockerImage {
                            image: name,
                            username,
                            password,
                        });
                    }
                    _ => problems.add("Data Image required"),
                }
            }
            Some(Value::Object(data)) if data.is_empty() => {}
            Some(_) => problems.add("Data must be empty if provided for bits packages"),
        }
        check_metadata(body.get("metadata"), &mut problems);
        if let Err(reply) = problems.check() {
            return reply;
        }
        let Some(index) = app_guid.and_then(|guid| self.find(guid)) else {
            return unprocessable("App is invalid. Ensure it exists and you have access to it.");
        };
        let app = &mut self.apps[index];
        if docker && !app.is_docker() {
            return unprocessable("Cannot create Docker package for a buildpack app.");
        }
        if !docker && app.is_docker() {
            return unprocessable("Cannot create bits package for a Docker app.");
        }
        let package = match image {
            Some(image) => {
                // v2 shows a docker app's newest image and credentials.
                app.docker_image = Some(image.image.clone());
                app.docker_credentials = (image.username.clone(), image.password.clone());
                Package::docker(image)
            }
            None => Package::awaiting_bits(),
        };
        let reply = Reply::json(201, &package_json(ctx, app, &package));
        app.push_package(package);
        reply
    }

    /// `GET /v3/packages/{guid}`.
    pub(super) fn v3_get_package(&self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        match self.find_package(guid) {
            Some((app, package)) => {
                let app = &self.apps[app];
                Reply::json(200, &package_json(ctx, app, &app.packages[package]))
            }
            None => not_found("Package"),
        }
    }

    /// `POST /v3/packages/{guid}/upload`: 200 with the package PROCESSING_UPLOAD; it is READY
    /// (or FAILED, for a broken zip) once the job time has passed.
    pub(super) fn v3_upload(&mut self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        let request = ctx.request;
        let part = |name: &str| request.parts.iter().find(|part| part.name == name);
        let resources_raw = part("resources").map_or(&b""[..], |part| part.body.as_ref());
        let resources = if resources_raw.iter().all(u8::is_ascii_whitespace) {
            Vec::new()
        } else {
            match serde_json::from_slice::<Value>(resources_raw) {
                Ok(Value::Array(resources)) => resources,
                _ => return unprocessable("Resources must be valid JSON."),
            }
        };
        let zip = part("bits");
        if zip.is_none() && resources.is_empty() {
            return unprocessable("Upload must include either resources or bits");
        }
        let Some((app_index, index)) = self.find_package(guid) else {
            return not_found("Package");
        };
        let package = &mut self.apps[app_index].packages[index];
        if !matches!(package.kind, PackageKind::Bits(_)) {
            return unprocessable("Package type must be bits.");
        }
        if package.state(ctx.now) != PackageState::AwaitingUpload {
            return PACKAGE_BITS_ALREADY_UPLOADED.v3("");
        }
        let outcome = bits_of(zip, &resources, resources_raw);
        package.kind =
            PackageKind::Bits(Some(Upload::new(ctx.now, ctx.options.cf_job_time, outcome)));
        let app = &self.apps[app_index];
        Reply::json(200, &package_json(ctx, app, &app.packages[index]))
    }
}
