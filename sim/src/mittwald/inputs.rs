//! An installation's user inputs: read from a request body, checked against its version's, and
//! merged with the version's defaults.

use serde_json::Value;

use super::apps::VersionDef;
use super::validation::Invalid;

pub(super) fn parse_user_inputs(
    value: &Value,
    problems: &mut Vec<Invalid>,
) -> Vec<(String, String)> {
    let Value::Array(items) = value else {
        problems.push(Invalid::new(".userInputs", "type", "must be array"));
        return Vec::new();
    };
    let mut inputs = Vec::new();
    for (position, item) in items.iter().enumerate() {
        let path = format!(".userInputs[{position}]");
        let Value::Object(item) = item else {
            problems.push(Invalid::new(path, "type", "must be object"));
            continue;
        };
        let mut field = |key: &str| match item.get(key) {
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                problems.push(Invalid::new(
                    format!("{path}.{key}"),
                    "type",
                    "must be string",
                ));
                None
            }
            None => {
                problems.push(Invalid {
                    context: Some(("missingProperty", key.to_owned())),
                    ..Invalid::new(
                        format!("{path}.{key}"),
                        "required",
                        format!("must have required property '{key}'"),
                    )
                });
                None
            }
        };
        if let (Some(name), Some(value)) = (field("name"), field("value")) {
            inputs.push((name, value));
        }
    }
    inputs
}

pub(super) fn check_input_names(
    version: &VersionDef,
    given: &[(String, String)],
    problems: &mut Vec<Invalid>,
) {
    for (position, (name, value)) in given.iter().enumerate() {
        match version.inputs.iter().find(|input| input.name == name) {
            None => problems.push(Invalid::new(
                format!(".userInputs[{position}].name"),
                "unknownUserInput",
                format!(
                    "user input '{name}' is not defined by app version {}; allowed: {}",
                    version.id,
                    version
                        .inputs
                        .iter()
                        .map(|input| input.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            Some(input) => {
                if let Some((kind, message)) = input.problem(value) {
                    problems.push(Invalid::new(
                        format!(".userInputs[{position}].value"),
                        kind,
                        message,
                    ));
                }
            }
        }
    }
}

pub(super) fn check_required_inputs(
    version: &VersionDef,
    inputs: &[(String, String)],
    problems: &mut Vec<Invalid>,
) {
    for input in version.inputs.iter().filter(|input| input.required) {
        if !inputs.iter().any(|(name, _)| name == input.name) {
            problems.push(Invalid {
                context: Some(("missingUserInput", input.name.to_owned())),
                ..Invalid::new(
                    ".userInputs",
                    "missingUserInput",
                    format!("required user input '{}' is missing", input.name),
                )
            });
        }
    }
}

/// `inputs` plus the version's defaults for the ones not given, in the version's order first.
pub(super) fn with_defaults(
    version: &VersionDef,
    inputs: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = version
        .inputs
        .iter()
        .filter_map(|input| {
            let given = inputs.iter().rev().find(|(name, _)| name == input.name);
            match (given, input.default) {
                (Some((_, value)), _) => Some((input.name.to_owned(), value.clone())),
                (None, Some(default)) => Some((input.name.to_owned(), default.to_owned())),
                (None, None) => None,
            }
        })
        .collect();
    // Inputs the version does not declare survive only where validation let them through
    // (seeds); keep them so a test sees what it seeded.
    for (name, value) in inputs {
        if !version.inputs.iter().any(|input| input.name == name) {
            merge_inputs(&mut merged, vec![(name, value)]);
        }
    }
    merged
}

/// Overrides by name, appending new names: a PATCH's `userInputs` merges, it does not replace.
pub(super) fn merge_inputs(inputs: &mut Vec<(String, String)>, changes: Vec<(String, String)>) {
    for (name, value) in changes {
        match inputs.iter_mut().find(|(existing, _)| *existing == name) {
            Some(slot) => slot.1 = value,
            None => inputs.push((name, value)),
        }
    }
}
