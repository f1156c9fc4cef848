//! mittwald's `ValidationError` body, and the checks of a request body that lead to it.

use serde_json::{Map, Value, json};

use crate::request::{Reply, Request};

const UPDATE_POLICIES: [&str; 3] = ["none", "patchLevel", "all"];

/// One entry of `validationErrors`.
pub(super) struct Invalid {
    pub(super) path: String,
    pub(super) kind: &'static str,
    pub(super) message: String,
    pub(super) context: Option<(&'static str, String)>,
}

impl Invalid {
    pub(super) fn new(
        path: impl Into<String>,
        kind: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            kind,
            message: message.into(),
            context: None,
        }
    }

    /// `appVersionId` names no version the platform knows.
    pub(super) fn unknown_version(id: &str) -> Self {
        Self::new(
            ".appVersionId",
            "notFound",
            format!("app version {id} not found"),
        )
    }

    pub(super) fn required(field: &str) -> Self {
        Self {
            context: Some(("missingProperty", field.to_owned())),
            ..Self::new(
                format!(".{field}"),
                "required",
                format!("must have required property '{field}'"),
            )
        }
    }
}

pub(super) fn validation_failed(problems: Vec<Invalid>) -> Reply {
    let errors: Vec<Value> = problems
        .into_iter()
        .map(|problem| {
            let mut body =
                json!({ "message": problem.message, "path": problem.path, "type": problem.kind });
            if let Some((key, value)) = problem.context {
                body["context"] = json!({ key: value });
            }
            body
        })
        .collect();
    Reply::json(
        400,
        &json!({ "type": "ValidationError", "message": "Validation failed", "validationErrors": errors }),
    )
}

pub(super) fn parse_object(request: &Request) -> Result<Map<String, Value>, Reply> {
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(body)) => Ok(body),
        Ok(_) => Err(validation_failed(vec![Invalid::new(
            "",
            "type",
            "must be object",
        )])),
        Err(error) => Err(validation_failed(vec![Invalid::new(
            "",
            "json",
            format!("request body is not valid JSON: {error}"),
        )])),
    }
}

pub(super) fn required_string<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    problems: &mut Vec<Invalid>,
) -> Option<&'a str> {
    if !body.contains_key(field) {
        problems.push(Invalid::required(field));
        return None;
    }
    optional_string(body, field, problems)
}

pub(super) fn optional_string<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    problems: &mut Vec<Invalid>,
) -> Option<&'a str> {
    match body.get(field)? {
        Value::String(value) => Some(value),
        _ => {
            problems.push(Invalid::new(format!(".{field}"), "type", "must be string"));
            None
        }
    }
}

pub(super) fn check_update_policy(policy: Option<&str>, problems: &mut Vec<Invalid>) {
    if let Some(policy) = policy
        && !UPDATE_POLICIES.contains(&policy)
    {
        problems.push(Invalid {
            context: Some(("allowedValues", UPDATE_POLICIES.join(", "))),
            ..Invalid::new(
                ".updatePolicy",
                "enum",
                "must be equal to one of the allowed values",
            )
        });
    }
}
