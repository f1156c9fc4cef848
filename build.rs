//! Generates the mittwald API client from the vendor's spec, verbatim in `spec/mittwald-v2.json`.
//!
//! The vendor spec has ~670 operations and shapes progenitor rejects, so this script derives the
//! subset berth uses before generating:
//! - only the operations in [`MITTWALD_OPERATIONS`];
//! - one success response per operation (error bodies are read by berth itself, see `src/api`);
//! - the schemas those operations reach, made *open*: enums become plain strings, `format`s
//!   that would pull in more crates or reject values become plain strings, `pattern` and
//!   `additionalProperties: false` go, and only the fields in [`MITTWALD_REQUIRED`] stay required
//!   (real responses lack fields the spec calls required, and the platform grows its enums);
//! - an `if-event-reached` header on the reads that follow a write (documented by mittwald,
//!   absent from the spec).
//!
//! Upgrading the vendor spec is: replace the file, rebuild.

use serde_json::{Map, Value, json};
use std::{env, fs, path::Path};

const MITTWALD_SPEC: &str = "spec/mittwald-v2.json";
/// Hand-written (Cloud Controller v2 has no official OpenAPI document); generated as it is.
const CLOUDFOUNDRY_SPEC: &str = "spec/cloudfoundry-v2.json";

/// The operations berth calls, by operationId.
const MITTWALD_OPERATIONS: &[&str] = &[
    "app-list-apps",
    "app-list-appversions",
    "app-request-appinstallation",
    "app-get-appinstallation",
    "app-list-appinstallations",
    "app-patch-appinstallation",
    "app-uninstall-appinstallation",
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

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={MITTWALD_SPEC}");
    println!("cargo:rerun-if-changed={CLOUDFOUNDRY_SPEC}");
    let out_dir = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let specs: [(&str, &str, Prepare); 2] = [
        (MITTWALD_SPEC, "mittwald.rs", derive_subset),
        (
            CLOUDFOUNDRY_SPEC,
            "cloudfoundry.rs",
            |spec| Ok(spec.clone()),
        ),
    ];
    for (spec, file, prepare) in specs {
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
    let api: openapiv3::OpenAPI = serde_json::from_value(prepare(&full)?)
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

/// Makes a schema accept what the platform may send tomorrow.
fn open_schema(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("string") {
                map.remove("enum");
                map.remove("pattern");
                map.remove("format");
            }
            if map.get("additionalProperties") == Some(&Value::Bool(false)) {
                map.remove("additionalProperties");
            }
            map.remove("uniqueItems");
            map.values_mut().for_each(open_schema);
        }
        Value::Array(items) => items.iter_mut().for_each(open_schema),
        _ => {}
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
