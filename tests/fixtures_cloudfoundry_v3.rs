//! The examples Cloud Controller's own spec embeds deserialize into the types generated from the
//! subset build.rs derives of it: every example answer of a schema a kept operation answers with,
//! wherever in the spec it appears (lists of such resources item by item), every error example
//! into `Errors`, and the kept operations' example request bodies into their body types.

use berth::api::cloudfoundry_v3::types;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;

type Check = fn(&Value) -> Result<(), String>;

fn check<T: DeserializeOwned>(value: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(value.clone())
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The generated type of each answer of the kept operations, by the spec's schema name (by
/// operationId where the answer's schema is written inline), and `Errors`, as which berth reads
/// every error answer.
const ANSWERS: &[(&str, Check)] = &[
    ("Errors", check::<types::Errors>),
    ("OrganizationList", check::<types::OrganizationList>),
    ("SpaceList", check::<types::SpaceList>),
    ("StackList", check::<types::StackList>),
    ("AppList", check::<types::AppList>),
    ("App", check::<types::App>),
    (
        "AppEnvironmentVariables",
        check::<types::AppEnvironmentVariables>,
    ),
    ("AppSshEnabled", check::<types::AppSshEnabled>),
    ("Process", check::<types::Process>),
    ("ProcessStats", check::<types::ProcessStats>),
    ("Package", check::<types::Package>),
    ("Build", check::<types::Build>),
    ("Droplet", check::<types::Droplet>),
    ("RelationshipToOne", check::<types::RelationshipToOne>),
    ("Job", check::<types::Job>),
    ("Deployment", check::<types::Deployment>),
    ("Domain", check::<types::Domain>),
    ("DomainList", check::<types::DomainList>),
    ("Route", check::<types::Route>),
    ("RouteList", check::<types::RouteList>),
    ("RouteDestinationList", check::<types::RouteDestinationList>),
];

/// The generated request body type of each kept operation that sends JSON, by operationId.
const BODIES: &[(&str, Check)] = &[
    ("createApp", check::<types::CreateAppBody>),
    ("updateApp", check::<types::UpdateAppBody>),
    (
        "updateEnvironmentVariablesForApp",
        check::<types::UpdateEnvironmentVariablesForAppBody>,
    ),
    ("updateAppFeature", check::<types::UpdateAppFeatureBody>),
    ("updateProcess", check::<types::UpdateProcessBody>),
    ("scaleProcess", check::<types::ScaleProcessBody>),
    ("createPackage", check::<types::CreatePackageBody>),
    ("createBuild", check::<types::CreateBuildBody>),
    (
        "setCurrentDropletForApp",
        check::<types::SetCurrentDropletForAppBody>,
    ),
    ("createDeployment", check::<types::CreateDeploymentBody>),
    ("createRoute", check::<types::CreateRouteBody>),
    (
        "insertDestinationsForRoute",
        check::<types::InsertDestinationsForRouteBody>,
    ),
];

/// Answers the spec gives no example of, anywhere.
const WITHOUT_EXAMPLES: &[&str] = &[];

/// Examples that do not deserialize, with the reason: `(operationId status-or-"request"
/// example-name, reason)`.
const KNOWN_MISMATCHES: &[(&str, &str)] = &[];

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Cloud Controller's spec, verbatim.
fn spec() -> Value {
    read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/cloudfoundry-v3.json"))
}

/// What build.rs derived from it and generated the client from.
fn derived() -> Value {
    read_json(&Path::new(env!("OUT_DIR")).join("cloudfoundry_v3.json"))
}

/// Follows a local `$ref` (`#/components/...`) once; anything else as it is.
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) => spec
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("unresolved {r}")),
        None => value,
    }
}

/// Every operation of a document: `(operationId, operation)`.
fn operations(doc: &Value) -> Vec<(String, &Value)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
        .filter_map(|op| Some((op.get("operationId")?.as_str()?.to_string(), op)))
        .collect()
}

/// The named examples of a media type object: `examples.*.value` and `example`.
fn examples(media: &Value) -> Vec<(String, &Value)> {
    let mut found: Vec<(String, &Value)> = media
        .get("examples")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(name, example)| Some((name.clone(), example.get("value")?)))
        .collect();
    if let Some(example) = media.get("example") {
        found.push(("example".into(), example));
    }
    found
}

fn lookup<'a>(table: &'a [(&str, Check)], key: &str) -> Option<&'a Check> {
    table.iter().find(|(k, _)| *k == key).map(|(_, c)| c)
}

/// The key of an answer's schema in [`ANSWERS`]: its schema name, or the operationId when the
/// schema is written inline.
fn answer_key(id: &str, schema: &Value) -> String {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r.rsplit('/').next().unwrap_or(r).to_string(),
        None => id.to_string(),
    }
}

/// Deserializes one example (or each of a list's resources) and notes what failed.
struct Run {
    checked: usize,
    failures: Vec<(String, String)>,
    used: Vec<String>,
}

impl Run {
    fn try_one(&mut self, label: String, key: &str, check: &Check, value: &Value) {
        self.checked += 1;
        self.used.push(key.to_string());
        if let Err(e) = check(value) {
            self.failures.push((label, e));
        }
    }
}

#[test]
fn the_spec_examples_deserialize_into_the_generated_types() {
    let spec = spec();
    let mut run = Run {
        checked: 0,
        failures: Vec::new(),
        used: Vec::new(),
    };
    for (id, op) in operations(&spec) {
        let responses = op["responses"].as_object().into_iter().flatten();
        for (status, response) in responses {
            let response = resolve(&spec, response);
            let Some(media) = response.pointer("/content/application~1json") else {
                continue;
            };
            let schema = &media["schema"];
            let key = if status.starts_with('2') {
                answer_key(&id, schema)
            } else {
                // Error answers: whatever the spec calls their schema, berth reads `Errors`.
                "Errors".to_string()
            };
            let whole = lookup(ANSWERS, &key);
            // A list of a kept resource (`ProcessList` of `listProcesses`): item by item.
            let item_key = resolve(&spec, schema)
                .pointer("/properties/resources/items")
                .map(|items| answer_key("", items));
            let item = item_key.as_deref().and_then(|k| lookup(ANSWERS, k));
            for (name, example) in examples(media) {
                let label = format!("{id} {status} {name}");
                if let Some(check) = whole {
                    run.try_one(label.clone(), &key, check, example);
                }
                if let (Some(check), Some(k)) = (item, item_key.as_deref()) {
                    let resources = example["resources"].as_array().into_iter().flatten();
                    for (n, resource) in resources.enumerate() {
                        run.try_one(format!("{label} resources[{n}]"), k, check, resource);
                    }
                }
            }
        }
    }
    for (id, op) in operations(&derived()) {
        let Some(check) = lookup(BODIES, &id) else {
            continue;
        };
        let original = operations(&spec)
            .into_iter()
            .find(|(i, _)| *i == id)
            .map(|(_, op)| op)
            .expect("the derived operation is in the spec");
        let body = resolve(&spec, &original["requestBody"]);
        let media = body
            .pointer("/content/application~1json")
            .unwrap_or_else(|| panic!("{id}: no JSON request body"));
        for (name, example) in examples(media) {
            run.try_one(format!("{id} request {name}"), &id, check, example);
        }
        assert!(
            op.get("requestBody").is_some(),
            "{id}: the derived body went"
        );
    }

    let unexpected: Vec<_> = run
        .failures
        .iter()
        .filter(|(label, _)| !KNOWN_MISMATCHES.iter().any(|(k, _)| k == label))
        .collect();
    assert!(
        unexpected.is_empty(),
        "examples that do not deserialize: {unexpected:#?}"
    );
    let fixed: Vec<_> = KNOWN_MISMATCHES
        .iter()
        .filter(|(k, _)| !run.failures.iter().any(|(label, _)| label == k))
        .collect();
    assert!(
        fixed.is_empty(),
        "known mismatches that now deserialize: {fixed:?}"
    );
    let unexercised: Vec<_> = ANSWERS
        .iter()
        .map(|(k, _)| *k)
        .chain(BODIES.iter().map(|(k, _)| *k))
        .filter(|k| !run.used.iter().any(|u| u == k) && !WITHOUT_EXAMPLES.contains(k))
        .collect();
    assert!(
        unexercised.is_empty(),
        "types no example reached (if the spec has none, say so in WITHOUT_EXAMPLES): \
         {unexercised:?}"
    );
    let mut per_type: Vec<String> = Vec::new();
    for key in &run.used {
        if !per_type.iter().any(|p| p.starts_with(&format!("{key} "))) {
            let n = run.used.iter().filter(|u| *u == key).count();
            per_type.push(format!("{key} {n}"));
        }
    }
    eprintln!(
        "{} examples checked ({}), {} known mismatches",
        run.checked,
        per_type.join(", "),
        run.failures.len()
    );
}

#[test]
fn every_kept_operation_has_its_types_checked() {
    for (id, op) in operations(&derived()) {
        let responses = op["responses"].as_object().expect("responses");
        assert_eq!(responses.len(), 1, "{id}: one answer");
        if let Some(schema) = responses
            .values()
            .next()
            .and_then(|r| r.pointer("/content/application~1json/schema"))
        {
            let key = answer_key(&id, schema);
            assert!(
                lookup(ANSWERS, &key).is_some(),
                "{id}: {key} is not in ANSWERS"
            );
        }
        if op.get("requestBody").is_some() {
            assert!(lookup(BODIES, &id).is_some(), "{id}: not in BODIES");
        }
    }
}
