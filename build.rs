//! Generates the API clients from the specs in `spec/`.
//!
//! mittwald's spec (`spec/mittwald-v2.json`, verbatim) has ~670 operations and shapes progenitor
//! rejects, so this script derives the subset berth uses before generating:
//! - only the operations in [`MITTWALD_OPERATIONS`];
//! - one success response per operation (error bodies are read by berth itself, see `src/api`);
//! - the schemas those operations reach, made *open*: enums become plain strings, `format`s
//!   that would pull in more crates or reject values become plain strings, `pattern` and
//!   `additionalProperties: false` go, and only the fields in [`MITTWALD_REQUIRED`] stay required
//!   (real responses lack fields the spec calls required, and the platform grows its enums);
//! - an `if-event-reached` header on the reads that follow a write (documented by mittwald,
//!   absent from the spec).
//!
//! Cloud Controller v3's own spec (`spec/cloudfoundry-v3.json`, verbatim) is OpenAPI 3.1, which
//! progenitor does not read: [`derive_cloudfoundry_v3`] keeps [`CLOUDFOUNDRY_V3_OPERATIONS`] and
//! writes what they reach as OpenAPI 3.0, opened the same way. The Cloud Controller v2 spec is
//! hand-written for progenitor and generated as it is.
//!
//! Upgrading a vendor spec is: replace the file, rebuild. Each derived document is written next
//! to its client (`OUT_DIR/<client>.json`), for reading and for the tests.

use serde_json::{Map, Value, json};
use std::{env, fs, path::Path};

const MITTWALD_SPEC: &str = "spec/mittwald-v2.json";
/// Hand-written (Cloud Controller v2 has no official OpenAPI document); generated as it is.
const CLOUDFOUNDRY_SPEC: &str = "spec/cloudfoundry-v2.json";
/// Cloud Controller's own OpenAPI 3.1 document (marked experimental), bundled from
/// cloud_controller_ng `docs/openapi`.
const CLOUDFOUNDRY_V3_SPEC: &str = "spec/cloudfoundry-v3.json";

/// The operations berth calls, by operationId.
const MITTWALD_OPERATIONS: &[&str] = &[
    "app-list-apps",
    "app-list-appversions",
    "app-request-appinstallation",
    "app-get-appinstallation",
    "app-list-appinstallations",
    "app-patch-appinstallation",
    "app-uninstall-appinstallation",
    // The deploy (issue 14): where to, who, and whether the app runs again.
    "project-get-project",
    "ssh-user-create-ssh-user",
    "ssh-user-list-ssh-users",
    "ssh-user-delete-ssh-user",
    "app-retrieve-status",
];

/// Operations that may be the first read after a write: they accept `if-event-reached`.
const EVENT_CONSISTENT_READS: &[&str] = &["app-get-appinstallation", "app-list-appinstallations"];

/// The only fields kept required, per schema: those berth cannot work without. Every other
/// field of a response schema becomes optional.
const MITTWALD_REQUIRED: &[(&str, &[&str])] = &[
    ("de.mittwald.v1.app.App", &["id", "name"]),
    (
        "de.mittwald.v1.app.AppVersion",
        &["id", "appId", "externalVersion"],
    ),
    (
        "de.mittwald.v1.app.AppInstallation",
        &["id", "appId", "description"],
    ),
    ("de.mittwald.v1.app.VersionStatus", &["desired"]),
    ("de.mittwald.v1.app.SavedUserInput", &["name", "value"]),
    ("de.mittwald.v1.app.UserInput", &["name"]),
];

/// The Cloud Controller v3 operations berth calls, by operationId. Not here: the root document
/// `GET /` (not in the spec; berth reads its links by hand), the bits upload `uploadPackageBits`
/// (multipart, which progenitor cannot send: hand-written), log-cache (another API).
const CLOUDFOUNDRY_V3_OPERATIONS: &[&str] = &[
    // Where the app lives: the organization and space by name, the stack a buildpack app names.
    "listOrganizations",
    "listSpaces",
    "listStacks",
    // The app: find by name, create, change (name, lifecycle, metadata.annotations: the source
    // fingerprint), start, stop, restart.
    "listApps",
    "createApp",
    "getApp",
    "updateApp",
    "startApp",
    "stopApp",
    "restartApp",
    // Its environment variables (merged; null deletes) and ssh: the feature's answers have no
    // schema in the spec, `ssh_enabled` has one.
    "getEnvironmentVariablesForApp",
    "updateEnvironmentVariablesForApp",
    "getAppFeature",
    "updateAppFeature",
    "getSshEnabledForApp",
    // The web process: command and health check, scale, the instances' states.
    "getProcessForApp",
    "updateProcess",
    "scaleProcess",
    "getProcessStats",
    // Staging: a package (its bits go up by hand), a build, its droplet, the app's current one.
    "createPackage",
    "getPackage",
    "createBuild",
    "getBuild",
    "getDroplet",
    "getCurrentDropletForApp",
    "setCurrentDropletForApp",
    // Asynchronous operations answer with a job.
    "getJob",
    // Rolling deployments. (Cancelling one is sent by hand: Cloud Controller answers 200 with
    // no body where the spec promises the deployment.)
    "createDeployment",
    "getDeployment",
    // Routes: the domain (by name, or the organization's default), find or create the route,
    // map it to the app, the app's routes.
    "listDomains",
    "getDefaultDomainForOrganization",
    "listRoutes",
    "createRoute",
    "insertDestinationsForRoute",
    "listAppRoutes",
];

/// Schemas kept although no kept operation answers with them: berth reads error bodies itself,
/// and `Errors` is their shape (`{"errors": [{code, title, detail}]}`).
const CLOUDFOUNDRY_V3_EXTRA_SCHEMAS: &[&str] = &["Errors"];

/// The only fields kept required, per schema (every other field becomes optional): the ones
/// berth cannot work without. `BaseSchema` is every resource's `guid`, `created_at`, `updated_at`.
const CLOUDFOUNDRY_V3_REQUIRED: &[(&str, &[&str])] = &[
    ("BaseSchema", &["guid"]),
    ("Link", &["href"]),
    ("Relationship", &["guid"]),
    ("Organization", &["name"]),
    ("Space", &["name"]),
    ("Stack", &["name"]),
    ("App", &["name", "state"]),
    ("AppSshEnabled", &["enabled"]),
    ("Process", &["type"]),
    ("Package", &["type", "state"]),
    ("Build", &["state"]),
    ("Droplet", &["state"]),
    ("Job", &["state"]),
    ("Deployment", &["status"]),
    ("Domain", &["name"]),
];

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let specs: [(&str, &str, Prepare); 3] = [
        (MITTWALD_SPEC, "mittwald.rs", derive_subset),
        (
            CLOUDFOUNDRY_SPEC,
            "cloudfoundry.rs",
            |spec| Ok(spec.clone()),
        ),
        (
            CLOUDFOUNDRY_V3_SPEC,
            "cloudfoundry_v3.rs",
            derive_cloudfoundry_v3,
        ),
    ];
    for (spec, file, prepare) in specs {
        println!("cargo:rerun-if-changed={spec}");
        if let Err(e) = generate(spec, prepare, &Path::new(&out_dir).join(file)) {
            panic!("generating the client from {spec}: {e}");
        }
    }
}

/// Turns the spec file into the document progenitor generates from.
type Prepare = fn(&Value) -> Result<Value, String>;

fn generate(spec_path: &str, prepare: Prepare, out: &Path) -> Result<(), String> {
    let text = fs::read_to_string(spec_path).map_err(|e| format!("reading: {e}"))?;
    let full: Value = serde_json::from_str(&text).map_err(|e| format!("parsing JSON: {e}"))?;
    let prepared = prepare(&full)?;
    let derived = serde_json::to_string_pretty(&prepared).map_err(|e| e.to_string())?;
    let derived_path = out.with_extension("json");
    fs::write(&derived_path, derived).map_err(|e| format!("writing {derived_path:?}: {e}"))?;
    let api: openapiv3::OpenAPI = serde_json::from_value(prepared)
        .map_err(|e| format!("not an OpenAPI 3.0 document: {e}"))?;
    let mut settings = progenitor::GenerationSettings::default();
    settings.with_interface(progenitor::InterfaceStyle::Builder);
    // The generated clients carry the run's retry policy; `src/api` implements their `exec` hook.
    let policy: proc_macro2::TokenStream = "crate::api::Policy"
        .parse()
        .map_err(|e| format!("inner type: {e}"))?;
    settings.with_inner_type(policy);
    // Plans hold request bodies, and their unit tests compare them.
    settings.with_derive("PartialEq");
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator
        .generate_tokens(&api)
        .map_err(|e| format!("progenitor: {e}"))?;
    let file: syn::File = syn::parse2(tokens).map_err(|e| format!("generated code: {e}"))?;
    fs::write(out, prettyplease::unparse(&file)).map_err(|e| format!("writing {out:?}: {e}"))
}

fn derive_subset(full: &Value) -> Result<Value, String> {
    let schemas = full
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .ok_or("no components.schemas")?;
    let responses = full
        .pointer("/components/responses")
        .and_then(Value::as_object);

    let mut paths = Map::new();
    let mut found = Vec::new();
    for (path, item) in full["paths"].as_object().ok_or("no paths")? {
        let mut kept = Map::new();
        for (method, op) in item.as_object().into_iter().flatten() {
            let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            if !HTTP_METHODS.contains(&method.as_str()) || !MITTWALD_OPERATIONS.contains(&id) {
                continue;
            }
            found.push(id.to_string());
            kept.insert(method.clone(), reduce_operation(id, op, responses)?);
        }
        if !kept.is_empty() {
            if let Some(params) = item.get("parameters") {
                kept.insert("parameters".into(), params.clone());
            }
            paths.insert(path.clone(), Value::Object(kept));
        }
    }
    let missing: Vec<_> = MITTWALD_OPERATIONS
        .iter()
        .filter(|id| !found.iter().any(|f| f == *id))
        .collect();
    if !missing.is_empty() {
        return Err(format!("operations not in the spec: {missing:?}"));
    }

    // Keep only the schemas the kept operations reach, then open them up.
    let mut reached = Vec::new();
    collect_refs(&Value::Object(paths.clone()), schemas, &mut reached);
    let mut kept_schemas = Map::new();
    for name in reached {
        let mut schema = schemas[&name].clone();
        open_schema(&mut schema);
        let keep: &[&str] = MITTWALD_REQUIRED
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(&[], |(_, fields)| fields);
        set_required(&mut schema, keep);
        kept_schemas.insert(name, schema);
    }
    let mut paths = Value::Object(paths);
    open_schema(&mut paths);

    // `de.mittwald.v1.app.AppInstallation` -> `AppInstallation`: readable Rust type names.
    let mut short = Map::new();
    for (name, schema) in &kept_schemas {
        let last = name.rsplit('.').next().unwrap_or(name);
        if short.insert(last.to_string(), schema.clone()).is_some() {
            return Err(format!("two kept schemas are both named {last}"));
        }
    }
    let mut kept_schemas = Value::Object(short);
    shorten_refs(&mut kept_schemas);
    shorten_refs(&mut paths);

    Ok(json!({
        "openapi": full["openapi"],
        "info": full["info"],
        "paths": paths,
        "components": { "schemas": kept_schemas },
    }))
}

/// One success response, no security requirement, the event header where it applies.
fn reduce_operation(
    id: &str,
    op: &Value,
    responses: Option<&Map<String, Value>>,
) -> Result<Value, String> {
    let mut op = op.clone();
    let obj = op.as_object_mut().ok_or("operation is not an object")?;
    obj.remove("security");
    let all = obj
        .get("responses")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{id}: no responses"))?;
    let (code, response) = all
        .iter()
        .filter(|(code, _)| code.starts_with('2'))
        .min_by_key(|(code, _)| code.as_str())
        .ok_or_else(|| format!("{id}: no success response"))?;
    let mut response = match response.get("$ref").and_then(Value::as_str) {
        Some(r) => responses
            .and_then(|rs| rs.get(r.rsplit('/').next().unwrap_or_default()))
            .cloned()
            .ok_or_else(|| format!("{id}: unresolved {r}"))?,
        None => response.clone(),
    };
    if let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) {
        content.retain(|media, _| media == "application/json");
    }
    obj.insert("responses".into(), json!({ code.clone(): response }));
    if EVENT_CONSISTENT_READS.contains(&id) {
        let params = obj
            .entry("parameters")
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .ok_or_else(|| format!("{id}: parameters is not a list"))?;
        params.push(json!({
            "in": "header",
            "name": "if-event-reached",
            "required": false,
            "description": "Wait until the event (an etag of a write) is processed.",
            "schema": { "type": "string" }
        }));
    }
    Ok(op)
}

fn collect_refs(value: &Value, schemas: &Map<String, Value>, acc: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                && !acc.iter().any(|a| a == name)
            {
                acc.push(name.to_string());
                if let Some(schema) = schemas.get(name) {
                    collect_refs(schema, schemas, acc);
                }
            }
            map.values().for_each(|v| collect_refs(v, schemas, acc));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, schemas, acc)),
        _ => {}
    }
}

fn shorten_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/components/schemas/")
            {
                *r = format!(
                    "#/components/schemas/{}",
                    name.rsplit('.').next().unwrap_or(name)
                );
            }
            map.values_mut().for_each(shorten_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(shorten_refs),
        _ => {}
    }
}

/// Makes a schema accept what the platform may send tomorrow, at every depth.
fn open_schema(value: &mut Value) {
    match value {
        Value::Object(map) => {
            open_node(map);
            map.values_mut().for_each(open_schema);
        }
        Value::Array(items) => items.iter_mut().for_each(open_schema),
        _ => {}
    }
}

/// progenitor's types are closed: an enum value the spec does not list, a string its `format`
/// or `pattern` rejects, or a field `additionalProperties: false` forbids fails the whole
/// response. Platforms add values and fields, so one schema object is opened: string enums,
/// patterns and formats (which would also pull in `chrono` and `uuid` types) become plain
/// strings, and unknown fields are allowed.
fn open_node(map: &mut Map<String, Value>) {
    if map.get("type").and_then(Value::as_str) == Some("string") {
        map.remove("enum");
        map.remove("pattern");
        map.remove("format");
    }
    if map.get("additionalProperties") == Some(&Value::Bool(false)) {
        map.remove("additionalProperties");
    }
    map.remove("uniqueItems");
    drop_deprecated_twins(map);
}

/// A deprecated property whose name differs from a current one's only in case (mittwald's
/// project has `clusterID`, deprecated by `clusterId`) would collide once snake_cased: the
/// deprecated one goes, so that the field keeps the name the spec recommends.
fn drop_deprecated_twins(map: &mut Map<String, Value>) {
    let Some(Value::Object(properties)) = map.get_mut("properties") else {
        return;
    };
    let deprecated = |p: &Value| p.get("deprecated") == Some(&Value::Bool(true));
    let twins: Vec<String> = properties
        .iter()
        .filter(|(name, schema)| {
            deprecated(schema)
                && properties.iter().any(|(other, s)| {
                    other != *name && !deprecated(s) && other.eq_ignore_ascii_case(name)
                })
        })
        .map(|(name, _)| name.clone())
        .collect();
    for name in twins {
        properties.remove(&name);
    }
}

/// Response schemas keep only the required fields berth relies on, at every depth.
fn set_required(schema: &mut Value, keep: &[&str]) {
    if let Some(map) = schema.as_object_mut() {
        if let Some(Value::Array(required)) = map.get_mut("required") {
            required.retain(|f| f.as_str().is_some_and(|f| keep.contains(&f)));
            if required.is_empty() {
                map.remove("required");
            }
        }
        for (key, child) in map.iter_mut() {
            match key.as_str() {
                "properties" => child
                    .as_object_mut()
                    .into_iter()
                    .flat_map(|m| m.values_mut())
                    .for_each(|c| set_required(c, &[])),
                "items" | "additionalProperties" => set_required(child, &[]),
                "allOf" | "oneOf" | "anyOf" => child
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                    .for_each(|c| set_required(c, keep)),
                _ => {}
            }
        }
    }
}

// Cloud Controller v3: Cloud Controller's own OpenAPI 3.1 document -> the 3.0 subset
// progenitor 0.15 (through the `openapiv3` crate and typify) reads.

/// Derives from Cloud Controller's spec the document the v3 client is generated from: the
/// operations in [`CLOUDFOUNDRY_V3_OPERATIONS`] and the schemas they reach, written as OpenAPI
/// 3.0 and opened like mittwald's.
fn derive_cloudfoundry_v3(full: &Value) -> Result<Value, String> {
    let components = full.get("components").ok_or("no components")?;
    let mut paths = select_operations(full, CLOUDFOUNDRY_V3_OPERATIONS)?;
    for (id, op) in operations_mut(&mut paths) {
        inline_component_refs(op, components).map_err(|e| format!("{id}: {e}"))?;
        one_success_response(op).map_err(|e| format!("{id}: {e}"))?;
        json_request_bodies_only(op);
        query_lists_as_text(op);
        op_without_include(op);
    }
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": full["info"],
        "paths": paths,
        "components": { "schemas": components["schemas"] },
    });
    for_each_schema(&mut doc, &mut |schema| {
        schema_without_included(schema);
        drop_examples(schema);
        const_to_enum(schema);
        nullable_refs(schema);
        nullable_type_arrays(schema);
        bare_refs(schema);
        open_node(schema);
    });
    named_answers(&mut doc);
    keep_reached_schemas(&mut doc, CLOUDFOUNDRY_V3_EXTRA_SCHEMAS)?;
    let schemas = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .ok_or("no components.schemas")?;
    // An app's environment values are any JSON (Cloud Controller checks only that the
    // environment is an object: app_create_message.rb, and v2's environment_json), not only
    // text as the spec says: read them as they come.
    if let Some(var) = schemas
        .get_mut("AppEnvironmentVariables")
        .and_then(|s| s.pointer_mut("/properties/var"))
    {
        var["additionalProperties"] = json!({});
    }
    for (name, schema) in schemas.iter_mut() {
        set_required(schema, &[]);
        let fields = CLOUDFOUNDRY_V3_REQUIRED
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[][..], |(_, fields)| fields);
        require(schema, fields).map_err(|e| format!("{name}: {e}"))?;
    }
    if let Some((name, _)) = CLOUDFOUNDRY_V3_REQUIRED
        .iter()
        .find(|(name, _)| !schemas.contains_key(*name))
    {
        return Err(format!(
            "{name} is in CLOUDFOUNDRY_V3_REQUIRED but not kept"
        ));
    }
    check_snake_case_names(&doc)?;
    Ok(doc)
}

/// An answer written inline that is, but for its description, a named schema answers with that
/// schema, so that one shape is one type (`listRoutes` and `listAppRoutes` both answer
/// `RouteList`, rather than the first with a type of its own).
fn named_answers(doc: &mut Value) {
    let without_description = |schema: &Value| {
        let mut schema = schema.clone();
        if let Some(map) = schema.as_object_mut() {
            map.remove("description");
        }
        schema
    };
    let named: Vec<(String, Value)> = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, schema)| (name.clone(), without_description(schema)))
        .collect();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (_, op) in operations_mut(paths) {
        let answers = op
            .get_mut("responses")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|r| r.values_mut());
        for schema in answers.filter_map(|r| r.pointer_mut("/content/application~1json/schema")) {
            let inline = without_description(schema);
            if let Some((name, _)) = named.iter().find(|(_, s)| *s == inline) {
                *schema = json!({ "$ref": format!("#/components/schemas/{name}") });
            }
        }
    }
}

/// Keeps the component schemas the paths (and `extra`) reach, following references.
fn keep_reached_schemas(doc: &mut Value, extra: &[&str]) -> Result<(), String> {
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .ok_or("no components.schemas")?;
    let mut reached: Vec<String> = Vec::new();
    collect_refs(&doc["paths"], schemas, &mut reached);
    for name in extra {
        let schema = schemas
            .get(*name)
            .ok_or_else(|| format!("no schema {name}"))?;
        reached.push(name.to_string());
        collect_refs(schema, schemas, &mut reached);
    }
    if let Some(missing) = reached.iter().find(|name| !schemas.contains_key(*name)) {
        return Err(format!("unresolved schema {missing}"));
    }
    let kept: Map<String, Value> = schemas
        .iter()
        .filter(|(name, _)| reached.contains(name))
        .map(|(name, schema)| (name.clone(), schema.clone()))
        .collect();
    doc["components"]["schemas"] = Value::Object(kept);
    Ok(())
}

/// Makes `fields` required, on the schema itself or on its inline `allOf` member that declares
/// the property (a referenced member, such as `BaseSchema`, has its own entry in the table).
/// A field nothing declares fails the build: the spec changed under the table.
fn require(schema: &mut Value, fields: &[&str]) -> Result<(), String> {
    for field in fields {
        let declares = |s: &Value| s.pointer(&format!("/properties/{field}")).is_some();
        let target = if declares(schema) {
            Some(&mut *schema)
        } else {
            schema
                .get_mut("allOf")
                .and_then(Value::as_array_mut)
                .and_then(|members| members.iter_mut().find(|m| declares(m)))
        };
        let target = target.ok_or_else(|| format!("no property {field} to require"))?;
        let required = target
            .as_object_mut()
            .ok_or("not an object")?
            .entry("required")
            .or_insert_with(|| json!([]));
        if let Some(list) = required.as_array_mut() {
            list.push(json!(field));
        }
    }
    Ok(())
}

/// `include=space,...` asks Cloud Controller for related resources in the same answer, under
/// `included`. berth never asks, and `IncludedResources` alone would pull in service instances,
/// service offerings and users: the parameter goes ...
fn op_without_include(op: &mut Map<String, Value>) {
    if let Some(Value::Array(params)) = op.get_mut("parameters") {
        params.retain(|p| !(p["in"] == "query" && p["name"] == "include"));
    }
}

/// ... and so does the property.
fn schema_without_included(schema: &mut Map<String, Value>) {
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        properties.remove("included");
    }
}

/// The allowlisted operations, each under its path and with the path's parameters (none in
/// today's spec) among its own; fails naming those the spec lacks.
fn select_operations(full: &Value, allowlist: &[&str]) -> Result<Map<String, Value>, String> {
    let mut paths = Map::new();
    let mut found = Vec::new();
    for (path, item) in full["paths"].as_object().ok_or("no paths")? {
        let shared = item.get("parameters").and_then(Value::as_array);
        let mut kept = Map::new();
        for (method, op) in item.as_object().into_iter().flatten() {
            let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            if !HTTP_METHODS.contains(&method.as_str()) || !allowlist.contains(&id) {
                continue;
            }
            found.push(id);
            let mut op = op
                .as_object()
                .cloned()
                .ok_or("an operation is not an object")?;
            // progenitor ignores security requirements: the token is set per request.
            op.remove("security");
            if let Some(shared) = shared {
                let own = op.entry("parameters").or_insert_with(|| json!([]));
                if let Some(own) = own.as_array_mut() {
                    own.splice(0..0, shared.iter().cloned());
                }
            }
            kept.insert(method.clone(), Value::Object(op));
        }
        if !kept.is_empty() {
            paths.insert(path.clone(), Value::Object(kept));
        }
    }
    let missing: Vec<_> = allowlist.iter().filter(|id| !found.contains(id)).collect();
    if !missing.is_empty() {
        return Err(format!("operations not in the spec: {missing:?}"));
    }
    Ok(paths)
}

/// Every kept operation with its operationId.
fn operations_mut(paths: &mut Map<String, Value>) -> Vec<(String, &mut Map<String, Value>)> {
    paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.iter_mut())
        .filter(|(method, _)| HTTP_METHODS.contains(&method.as_str()))
        .filter_map(|(_, op)| op.as_object_mut())
        .map(|op| {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            (id, op)
        })
        .collect()
}

/// Replaces references to `components.parameters`, `requestBodies` and `responses` with what
/// they name (following chains such as `GUID` -> `Guid`), so that the derived document needs no
/// components but its schemas.
fn inline_component_refs(op: &mut Map<String, Value>, components: &Value) -> Result<(), String> {
    fn resolve(value: &mut Value, components: &Value, kind: &str) -> Result<(), String> {
        for _ in 0..8 {
            let Some(r) = value.get("$ref").and_then(Value::as_str) else {
                return Ok(());
            };
            let name = r
                .strip_prefix(&format!("#/components/{kind}/"))
                .ok_or_else(|| format!("unexpected reference {r}"))?;
            *value = components[kind]
                .get(name)
                .cloned()
                .ok_or_else(|| format!("unresolved {r}"))?;
        }
        Err(format!("a chain of {kind} references too long"))
    }
    for param in op
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        resolve(param, components, "parameters")?;
    }
    if let Some(body) = op.get_mut("requestBody") {
        resolve(body, components, "requestBodies")?;
    }
    for response in op
        .get_mut("responses")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|r| r.values_mut())
    {
        resolve(response, components, "responses")?;
    }
    Ok(())
}

/// progenitor refuses an operation with more than one response type among its success codes or
/// among its error codes; Cloud Controller's error responses mix `Errors`, the 502 response's
/// `Error` and the 429 response's inline schema. berth reads error bodies itself, one way for the
/// generated and the hand-written requests (`api::ApiError`), so only the success response stays,
/// with its JSON schema: the lowest 2xx code (none of the allowlisted operations has two).
fn one_success_response(op: &mut Map<String, Value>) -> Result<(), String> {
    let responses = op
        .get("responses")
        .and_then(Value::as_object)
        .ok_or("no responses")?;
    let (code, response) = responses
        .iter()
        .filter(|(code, _)| code.starts_with('2'))
        .min_by_key(|(code, _)| code.as_str())
        .ok_or("no success response")?;
    let mut kept = json!({ "description": response["description"] });
    if let Some(schema) = response.pointer("/content/application~1json/schema") {
        kept["content"] = json!({ "application/json": { "schema": schema } });
    }
    let code = code.clone();
    op.insert("responses".into(), json!({ code: kept }));
    Ok(())
}

/// progenitor cannot send multipart bodies and refuses a request body with more than one media
/// type: only `application/json` stays (an operation with none has no body left).
fn json_request_bodies_only(op: &mut Map<String, Value>) {
    let Some(body) = op.get_mut("requestBody") else {
        return;
    };
    if let Some(content) = body.get_mut("content").and_then(Value::as_object_mut) {
        content.retain(|media, _| media == "application/json");
        for media in content.values_mut().filter_map(Value::as_object_mut) {
            media.remove("examples");
            media.remove("example");
        }
        if !content.is_empty() {
            return;
        }
    }
    op.remove("requestBody");
}

/// Cloud Controller filters take comma-separated lists (`names=a,b`); progenitor sends an array
/// query parameter as the key repeated (`names=a&names=b`), which reads as the last value only.
/// Array query parameters become strings: the caller joins the values.
fn query_lists_as_text(op: &mut Map<String, Value>) {
    for param in op
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if param["in"] == "query" && param.pointer("/schema/type") == Some(&json!("array")) {
            param["schema"] = json!({ "type": "string" });
            if let Some(description) = param.get_mut("description")
                && let Some(text) = description.as_str()
            {
                *description = json!(format!("{text} (comma-separated)"));
            }
        }
    }
}

/// Calls `f` on every schema object of an OpenAPI document, parents before their subschemas:
/// the component schemas and those of parameters, headers, request and response bodies.
fn for_each_schema(doc: &mut Value, f: &mut impl FnMut(&mut Map<String, Value>)) {
    fn schema(value: &mut Value, f: &mut impl FnMut(&mut Map<String, Value>)) {
        let Some(map) = value.as_object_mut() else {
            return;
        };
        f(map);
        for (key, child) in map.iter_mut() {
            match key.as_str() {
                "properties" => child
                    .as_object_mut()
                    .into_iter()
                    .flat_map(|m| m.values_mut())
                    .for_each(|c| schema(c, f)),
                "items" | "additionalProperties" | "not" => schema(child, f),
                "allOf" | "oneOf" | "anyOf" => child
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                    .for_each(|c| schema(c, f)),
                _ => {}
            }
        }
    }
    fn media(content: &mut Value, f: &mut impl FnMut(&mut Map<String, Value>)) {
        for media in content
            .as_object_mut()
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            if let Some(s) = media.get_mut("schema") {
                schema(s, f);
            }
        }
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.values_mut().for_each(|s| schema(s, f));
    }
    for item in doc
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|p| p.values_mut())
        .filter_map(Value::as_object_mut)
    {
        for (key, op) in item.iter_mut() {
            if key == "parameters" {
                for p in op.as_array_mut().into_iter().flatten() {
                    if let Some(s) = p.get_mut("schema") {
                        schema(s, f);
                    }
                }
                continue;
            }
            for p in op
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(s) = p.get_mut("schema") {
                    schema(s, f);
                }
            }
            if let Some(content) = op.pointer_mut("/requestBody/content") {
                media(content, f);
            }
            for response in op
                .get_mut("responses")
                .and_then(Value::as_object_mut)
                .into_iter()
                .flat_map(|r| r.values_mut())
            {
                if let Some(content) = response.get_mut("content") {
                    media(content, f);
                }
            }
        }
    }
}

/// OpenAPI 3.1 schemas carry `examples` (a list), which 3.0 does not know; progenitor reads
/// neither that nor `example`. Dropped (the tests read the examples from the spec itself).
fn drop_examples(schema: &mut Map<String, Value>) {
    schema.remove("examples");
    schema.remove("example");
}

/// `const` is JSON Schema, not OpenAPI 3.0: it becomes a one-value `enum` (opened like the rest).
fn const_to_enum(schema: &mut Map<String, Value>) {
    if let Some(value) = schema.remove("const") {
        if !schema.contains_key("type") {
            let kind = match &value {
                Value::String(_) => Some("string"),
                Value::Bool(_) => Some("boolean"),
                Value::Number(n) if n.is_i64() || n.is_u64() => Some("integer"),
                Value::Number(_) => Some("number"),
                _ => None,
            };
            if let Some(kind) = kind {
                schema.insert("type".into(), json!(kind));
            }
        }
        schema.insert("enum".into(), json!([value]));
    }
}

/// A nullable reference: 3.1 writes it `oneOf: [{$ref}, {type: "null"}]` (typify: "invalid type:
/// null") or `{$ref, type: [object, "null"]}` (the `openapiv3` crate reads a `$ref` object as the
/// bare reference, silently dropping the null). 3.0 writes it `allOf: [{$ref}], nullable: true`.
fn nullable_refs(schema: &mut Map<String, Value>) {
    let is_null = |s: &Value| s.get("type") == Some(&json!("null"));
    for key in ["oneOf", "anyOf"] {
        let Some(Value::Array(members)) = schema.get(key) else {
            continue;
        };
        if members.len() == 2 && members.iter().any(is_null) {
            let other = members.iter().find(|m| !is_null(m)).cloned();
            schema.remove(key);
            if let Some(other) = other {
                schema.insert("allOf".into(), json!([other]));
            }
            schema.insert("nullable".into(), json!(true));
        }
    }
    let null_in_type = schema
        .get("type")
        .and_then(Value::as_array)
        .is_some_and(|types| types.contains(&json!("null")));
    if let Some(reference) = schema.get("$ref").cloned()
        && null_in_type
    {
        schema.remove("$ref");
        schema.remove("type");
        schema.insert("allOf".into(), json!([{ "$ref": reference }]));
        schema.insert("nullable".into(), json!(true));
    }
}

/// 3.1 type lists: `type: [X, "null"]` becomes `type: X, nullable: true` (the `openapiv3` crate
/// reads `type` as one string and rejects the whole document otherwise).
fn nullable_type_arrays(schema: &mut Map<String, Value>) {
    let Some(Value::Array(types)) = schema.get("type") else {
        return;
    };
    let nullable = types.contains(&json!("null"));
    let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
    match rest.as_slice() {
        [one] => {
            schema.insert("type".into(), one.clone());
        }
        _ => {
            // Several types: any value (progenitor has no union of primitive types).
            schema.remove("type");
        }
    }
    if nullable {
        schema.insert("nullable".into(), json!(true));
    }
}

/// A `$ref` with sibling keywords: the `openapiv3` crate reads the bare reference and drops the
/// siblings without a word. Annotations (`description`...) go; anything else left (none in
/// today's spec) wraps the reference in `allOf`, so that it is kept.
fn bare_refs(schema: &mut Map<String, Value>) {
    const ANNOTATIONS: &[&str] = &[
        "description",
        "title",
        "deprecated",
        "readOnly",
        "writeOnly",
    ];
    let Some(reference) = schema.get("$ref").cloned() else {
        return;
    };
    schema.retain(|key, _| !ANNOTATIONS.contains(&key.as_str()));
    if schema.len() > 1 {
        schema.remove("$ref");
        schema.insert("allOf".into(), json!([{ "$ref": reference }]));
    }
}

/// progenitor stops on names that collide once snake_cased (`clusterID` and `clusterId`): the
/// build fails naming them, so that a spec upgrade that brings one is renamed here on purpose.
fn check_snake_case_names(doc: &Value) -> Result<(), String> {
    fn snake(name: &str) -> String {
        let mut out = String::new();
        let mut previous_lower = false;
        for c in name.chars() {
            if c.is_ascii_uppercase() && previous_lower {
                out.push('_');
            }
            previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            out.push(if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            });
        }
        out
    }
    fn unique<'a>(names: impl Iterator<Item = &'a String>, what: &str) -> Result<(), String> {
        let mut seen: Vec<(String, &String)> = Vec::new();
        for name in names {
            let s = snake(name);
            if let Some((_, other)) = seen.iter().find(|(o, _)| *o == s) {
                return Err(format!("{what}: {other} and {name} are both {s} in Rust"));
            }
            seen.push((s, name));
        }
        Ok(())
    }
    let mut result = Ok(());
    let mut doc = doc.clone();
    if let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        result = unique(schemas.keys(), "schemas");
    }
    for_each_schema(&mut doc, &mut |schema| {
        if let Some(properties) = schema.get("properties").and_then(Value::as_object)
            && result.is_ok()
        {
            result = unique(properties.keys(), "properties");
        }
    });
    result
}
