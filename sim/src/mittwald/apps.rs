//! Apps and their versions: the catalogue the simulator knows (real ids where known), and
//! `GET /v2/apps`, `/v2/apps/{id}/versions` and `/v2/apps/{id}/versions/{id}`.

use serde_json::{Map, Value, json};

use super::pages::Page;
use super::*;
use crate::request::{Reply, Request};

/// A runtime an app version depends on, and the version of it an installation desires.
pub(super) struct SystemSoftwareDef {
    pub(super) id: &'static str,
    pub(super) version_id: &'static str,
    /// `name` and `externalVersion` of the installation's `systemSoftware[]` entry, which the
    /// spec requires (the recorded bodies predate that and lack both).
    pub(super) name: &'static str,
    pub(super) external_version: &'static str,
}

/// Node.js (real ids, reference 01; the version number is made up).
const NODE_SYSTEM_SOFTWARE: SystemSoftwareDef = SystemSoftwareDef {
    id: "1d80c3ff-f932-424e-813a-17c49c0fb837",
    version_id: "85e47b2c-5576-424a-a52a-f782e6ff0f57",
    name: "node",
    external_version: "22.14.0",
};
/// Made-up ids: the Python runtime's system software.
const PYTHON_SYSTEM_SOFTWARE: SystemSoftwareDef = SystemSoftwareDef {
    id: "75a387e5-42e3-49d0-b2b0-34cc9d1bbc9d",
    version_id: "f8f94f3e-0041-4e19-b5fa-acc7a864c1b9",
    name: "python",
    external_version: "3.13.2",
};
/// Made-up ids: PHP for WordPress.
const PHP_SYSTEM_SOFTWARE: SystemSoftwareDef = SystemSoftwareDef {
    id: "e25024c6-a761-433e-ba65-4c79ccaeb481",
    version_id: "feac2e43-fcc5-4032-9405-3ff79ef22d4a",
    name: "php",
    external_version: "8.4.7",
};

/// An app of the catalogue.
pub(super) struct AppDef {
    pub(super) id: &'static str,
    pub(super) name: &'static str,
    tags: &'static [&'static str],
}

/// A version of an app: what it runs on, and the user inputs it takes.
pub(super) struct VersionDef {
    pub(super) id: &'static str,
    pub(super) app_id: &'static str,
    pub(super) version: &'static str,
    recommended: bool,
    doc_root_user_editable: bool,
    request_handler: Option<HandlerDef>,
    pub(super) system_software: &'static SystemSoftwareDef,
    pub(super) inputs: &'static [InputDef],
}

/// The request handler of a runtime app's version.
struct HandlerDef {
    name: &'static str,
    example_entrypoint: &'static str,
}

/// A user input a version declares.
pub(super) struct InputDef {
    pub(super) name: &'static str,
    pub(super) default: Option<&'static str>,
    format: Option<&'static str>,
    pub(super) required: bool,
    /// `installation`: fixed once installed; `reconfigure`: a PATCH may change it.
    pub(super) lifecycle: &'static str,
    step: &'static str,
    index: u32,
}

impl InputDef {
    /// Every simulated input is text; these schemas are the ones the real versions carry.
    fn validation_schema(&self) -> &'static str {
        match self.format {
            Some("email") => "{ \"type\": \"string\", \"format\": \"email\" }",
            _ => "{ \"type\": \"string\", \"minLength\": 1 }",
        }
    }

    /// What the validation schema would say about `value`, if anything.
    pub(super) fn problem(&self, value: &str) -> Option<(&'static str, &'static str)> {
        match self.format {
            Some("email") => {
                let plausible = value
                    .split_once('@')
                    .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
                (!plausible).then_some(("format", "must match format \"email\""))
            }
            _ => value
                .is_empty()
                .then_some(("minLength", "must NOT have fewer than 1 characters")),
        }
    }
}

const fn entrypoint(default: &'static str) -> InputDef {
    InputDef {
        name: "entrypoint",
        default: Some(default),
        format: None,
        required: true,
        lifecycle: "reconfigure",
        step: "runtime",
        index: 1,
    }
}

const NODE_INPUTS: &[InputDef] = &[entrypoint("yarn start")];
const PYTHON_INPUTS: &[InputDef] = &[entrypoint("python app.py")];
const WORDPRESS_INPUTS: &[InputDef] = &[
    InputDef {
        name: "site_title",
        default: None,
        format: None,
        required: true,
        lifecycle: "installation",
        step: "general",
        index: 1,
    },
    InputDef {
        name: "admin_user",
        default: None,
        format: None,
        required: true,
        lifecycle: "installation",
        step: "admin",
        index: 1,
    },
    InputDef {
        name: "admin_email",
        default: None,
        format: Some("email"),
        required: true,
        lifecycle: "installation",
        step: "admin",
        index: 2,
    },
    InputDef {
        name: "language",
        default: Some("en_US"),
        format: None,
        required: false,
        lifecycle: "installation",
        step: "general",
        index: 2,
    },
];

pub(super) const APPS: &[AppDef] = &[
    AppDef {
        id: NODE_APP_ID,
        name: "Node.js",
        tags: &["runtime"],
    },
    AppDef {
        id: PYTHON_APP_ID,
        name: "Python",
        tags: &["runtime"],
    },
    AppDef {
        id: WORDPRESS_APP_ID,
        name: "WordPress",
        tags: &["cms"],
    },
];

const VERSIONS: &[VersionDef] = &[
    VersionDef {
        id: NODE_VERSION_1_0_0_ID,
        app_id: NODE_APP_ID,
        version: "1.0.0",
        recommended: true,
        doc_root_user_editable: true,
        request_handler: Some(HandlerDef {
            name: "node-http",
            example_entrypoint: "yarn start",
        }),
        system_software: &NODE_SYSTEM_SOFTWARE,
        inputs: NODE_INPUTS,
    },
    VersionDef {
        id: NODE_VERSION_1_1_0_ID,
        app_id: NODE_APP_ID,
        version: "1.1.0",
        recommended: false,
        doc_root_user_editable: true,
        request_handler: Some(HandlerDef {
            name: "node-http",
            example_entrypoint: "yarn start",
        }),
        system_software: &NODE_SYSTEM_SOFTWARE,
        inputs: NODE_INPUTS,
    },
    VersionDef {
        id: PYTHON_VERSION_1_0_0_ID,
        app_id: PYTHON_APP_ID,
        version: "1.0.0",
        recommended: true,
        doc_root_user_editable: true,
        request_handler: Some(HandlerDef {
            name: "python-http",
            example_entrypoint: "python app.py",
        }),
        system_software: &PYTHON_SYSTEM_SOFTWARE,
        inputs: PYTHON_INPUTS,
    },
    VersionDef {
        id: PYTHON_VERSION_1_1_0_ID,
        app_id: PYTHON_APP_ID,
        version: "1.1.0",
        recommended: false,
        doc_root_user_editable: true,
        request_handler: Some(HandlerDef {
            name: "python-http",
            example_entrypoint: "python app.py",
        }),
        system_software: &PYTHON_SYSTEM_SOFTWARE,
        inputs: PYTHON_INPUTS,
    },
    VersionDef {
        id: WORDPRESS_VERSION_6_8_1_ID,
        app_id: WORDPRESS_APP_ID,
        version: "6.8.1",
        recommended: true,
        doc_root_user_editable: false,
        request_handler: None,
        system_software: &PHP_SYSTEM_SOFTWARE,
        inputs: WORDPRESS_INPUTS,
    },
];

pub(super) fn find_app(id: &str) -> Option<&'static AppDef> {
    APPS.iter().find(|app| app.id.eq_ignore_ascii_case(id))
}

pub(super) fn find_version(id: &str) -> Option<&'static VersionDef> {
    VERSIONS
        .iter()
        .find(|version| version.id.eq_ignore_ascii_case(id))
}

fn app_json(app: &AppDef) -> Value {
    json!({ "id": app.id, "name": app.name, "tags": app.tags })
}

fn version_json(version: &VersionDef) -> Value {
    let inputs: Vec<Value> = version.inputs.iter().map(input_json).collect();
    let mut body = Map::new();
    body.insert("appId".into(), json!(version.app_id));
    body.insert("docRoot".into(), json!("/"));
    body.insert(
        "docRootUserEditable".into(),
        json!(version.doc_root_user_editable),
    );
    body.insert("externalVersion".into(), json!(version.version));
    body.insert("id".into(), json!(version.id));
    body.insert("internalVersion".into(), json!(version.version));
    // Real versions leave `recommended` out unless it is true.
    if version.recommended {
        body.insert("recommended".into(), json!(true));
    }
    if let Some(handler) = &version.request_handler {
        body.insert(
            "requestHandler".into(),
            json!({
                "name": handler.name,
                "namespace": "mittwald-system",
                "parametersTemplate": "{ \"entrypoint\": {{ .ToEntrypoint .entrypoint }}, \"workingDirectory\": \"{{ .WorkingDirectory }}\", \"listenPortEnvVar\": \"PORT\" }",
                "exampleValues": [{ "name": "entrypoint", "value": handler.example_entrypoint }],
            }),
        );
    }
    body.insert(
        "systemSoftwareDependencies".into(),
        json!([{ "systemSoftwareId": version.system_software.id, "versionRange": "*" }]),
    );
    body.insert("userInputs".into(), Value::Array(inputs));
    Value::Object(body)
}

/// Keys in the order of the real body (reference 02), which is not alphabetical here.
fn input_json(input: &InputDef) -> Value {
    let mut body = Map::new();
    body.insert("name".into(), json!(input.name));
    body.insert("dataType".into(), json!("text"));
    if let Some(default) = input.default {
        body.insert("defaultValue".into(), json!(default));
    }
    if let Some(format) = input.format {
        body.insert("format".into(), json!(format));
    }
    body.insert("validationSchema".into(), json!(input.validation_schema()));
    body.insert(
        "positionMeta".into(),
        json!({ "step": input.step, "index": input.index }),
    );
    body.insert("lifecycleConstraint".into(), json!(input.lifecycle));
    body.insert("required".into(), json!(input.required));
    Value::Object(body)
}

pub(super) fn list_apps(request: &Request) -> Reply {
    let page = match Page::from_query(request, APPS.len(), None) {
        Ok(page) => page,
        Err(reply) => return reply,
    };
    let apps: Vec<Value> = APPS
        .iter()
        .skip(page.skip)
        .take(page.limit)
        .map(app_json)
        .collect();
    page.headers(Reply::json(200, &Value::Array(apps)), true)
}

pub(super) fn list_versions(request: &Request, app_id: &str) -> Reply {
    let Some(app) = find_app(app_id) else {
        return not_found("app", app_id);
    };
    // `versionRange` is ignored: the simulator has too few versions for it to matter.
    let only_recommended = request.query_param("recommended") == Some("true");
    let versions: Vec<Value> = VERSIONS
        .iter()
        .filter(|version| version.app_id == app.id)
        .filter(|version| !only_recommended || version.recommended)
        .map(version_json)
        .collect();
    let count = versions.len().to_string();
    Reply::json(200, &Value::Array(versions))
        .with_header("x-pagination-limit", count.clone())
        .with_header("x-pagination-skip", "0")
        .with_header("x-pagination-totalcount", count)
}

pub(super) fn get_version(app_id: &str, version_id: &str) -> Reply {
    if find_app(app_id).is_none() {
        return not_found("app", app_id);
    }
    match find_version(version_id).filter(|version| version.app_id.eq_ignore_ascii_case(app_id)) {
        Some(version) => Reply::json(200, &version_json(version)),
        None => not_found("app version", version_id),
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn versions_mirror_the_reference_body() {
        let body = version_json(find_version(NODE_VERSION_1_0_0_ID).unwrap());
        let reference = json!({
            "appId": "3e7f920b-a711-4d2f-9871-661e1b41a2f0",
            "docRoot": "/",
            "docRootUserEditable": true,
            "externalVersion": "1.0.0",
            "id": "97fb8684-3fe3-4720-86fb-fb0524ae88d1",
            "internalVersion": "1.0.0",
            "recommended": true,
            "requestHandler": {
                "name": "node-http",
                "namespace": "mittwald-system",
                "parametersTemplate": "{ \"entrypoint\": {{ .ToEntrypoint .entrypoint }}, \"workingDirectory\": \"{{ .WorkingDirectory }}\", \"listenPortEnvVar\": \"PORT\" }",
                "exampleValues": [{ "name": "entrypoint", "value": "yarn start" }]
            },
            "systemSoftwareDependencies": [
                { "systemSoftwareId": "1d80c3ff-f932-424e-813a-17c49c0fb837", "versionRange": "*" }
            ],
            "userInputs": [{
                "name": "entrypoint",
                "dataType": "text",
                "defaultValue": "yarn start",
                "validationSchema": "{ \"type\": \"string\", \"minLength\": 1 }",
                "positionMeta": { "step": "runtime", "index": 1 },
                "lifecycleConstraint": "reconfigure",
                "required": true
            }]
        });
        assert_eq!(body, reference);
    }
}
