//! App installations and their phases: install, list, get (with the consistency delay and
//! `if-event-reached`), patch (upgrade, reconfigure) and delete.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::apps::{APPS, AppDef, VersionDef, find_app, find_version};
use super::inputs::{
    check_input_names, check_required_inputs, merge_inputs, parse_user_inputs, with_defaults,
};
use super::pages::Page;
use super::projects::{Project, project_description};
use super::validation::{
    Invalid, check_update_policy, optional_string, parse_object, required_string, validation_failed,
};
use super::{Mittwald, error, not_found, now_rfc3339, random_alnum};
use crate::options::SimOptions;
use crate::request::{Reply, Request};

/// The real platform answers a GET with `if-event-reached` for an event it never reaches with
/// 412 after this long; the simulator knows at once and only quotes it.
const EVENT_WAIT_LIMIT: &str = "10s";

/// An app installation as the platform keeps it.
pub(super) struct Installation {
    pub(super) id: String,
    pub(super) short_id: String,
    pub(super) project: usize,
    pub(super) app: &'static AppDef,
    pub(super) version: &'static VersionDef,
    pub(super) description: String,
    pub(super) installation_path: String,
    pub(super) custom_document_root: Option<String>,
    pub(super) update_policy: String,
    pub(super) user_inputs: Vec<(String, String)>,
    pub(super) created_at: String,
    pub(super) disabled: bool,
    pub(super) change: Option<Change>,
    /// When and with which event it was last written; a GET waits for it.
    pub(super) last_write: Option<(Instant, u64)>,
    /// When the app's process first runs: once the installation is ready.
    pub(super) ready_at: Instant,
    /// The last restart `mittnitectl job restart` asked for.
    pub(super) restart: Option<super::runtime::Restart>,
}

/// An installation on its way to `ready`; its timing is fixed when the change starts.
pub(super) struct Change {
    pub(super) phases: Vec<String>,
    pub(super) started: Instant,
    pub(super) duration: Duration,
    /// `appVersion.current` until ready (absent while installing, the old version while
    /// upgrading).
    pub(super) current: Option<String>,
}

impl Installation {
    fn phase(&self, now: Instant) -> (String, Option<String>) {
        let desired = Some(self.version.id.to_owned());
        if self.disabled {
            return ("disabled".to_owned(), desired);
        }
        let Some(change) = &self.change else {
            return ("ready".to_owned(), desired);
        };
        let elapsed = now.saturating_duration_since(change.started);
        if elapsed >= change.duration || change.phases.is_empty() {
            return ("ready".to_owned(), desired);
        }
        let share = elapsed.as_nanos() * change.phases.len() as u128 / change.duration.as_nanos();
        let index = (share as usize).min(change.phases.len() - 1);
        (change.phases[index].clone(), change.current.clone())
    }

    pub(super) fn body(&self, project: &Project, now: Instant) -> Value {
        let (phase, current) = self.phase(now);
        let mut app_version = json!({ "desired": self.version.id });
        if let Some(current) = current {
            app_version["current"] = json!(current);
        }
        let mut body = json!({
            "appExternalVersion": self.version.version,
            "appId": self.app.id,
            "appName": self.app.name,
            "appVersion": app_version,
            "createdAt": self.created_at,
            "deletionRequested": false,
            "description": self.description,
            "disabled": self.disabled,
            "id": self.id,
            "installationPath": self.installation_path,
            "linkedDatabases": [],
            "phase": phase,
            "projectDescription": project_description(project),
            // Always the project's UUID, however the creating request spelled it.
            "projectId": project.id,
            "shortId": self.short_id,
            // Real bodies carry only `desired` here, even when ready.
            "systemSoftware": [{
                "externalVersion": self.version.system_software.external_version,
                "name": self.version.system_software.name,
                "systemSoftwareId": self.version.system_software.id,
                "systemSoftwareVersion": { "desired": self.version.system_software.version_id },
                "updateAvailable": false,
                "updatePolicy": "patchLevel",
            }],
            "updateAvailable": false,
            "updatePolicy": self.update_policy,
            "userInputs": self.user_inputs.iter()
                .map(|(name, value)| json!({ "name": name, "value": value }))
                .collect::<Vec<_>>(),
        });
        if let Some(root) = &self.custom_document_root {
            body["customDocumentRoot"] = json!(root);
        }
        // Real installation bodies list their keys alphabetically.
        if let Value::Object(map) = &mut body {
            map.sort_keys();
        }
        body
    }

    fn matches_search(&self, term: &str) -> bool {
        let term = term.to_lowercase();
        [
            self.description.as_str(),
            self.id.as_str(),
            self.short_id.as_str(),
            self.version.id,
            self.version.version,
        ]
        .iter()
        .any(|field| field.to_lowercase().contains(&term))
    }
}

impl Mittwald {
    pub(super) fn new_short_id(&self) -> String {
        loop {
            let candidate = format!("a-{}", random_alnum(6));
            if !self.installations.iter().any(|i| i.short_id == candidate) {
                return candidate;
            }
        }
    }

    fn find(&self, id: &str) -> Option<usize> {
        self.installations
            .iter()
            .position(|i| i.id.eq_ignore_ascii_case(id) || i.short_id == id)
    }

    pub(super) fn install(
        &mut self,
        options: &SimOptions,
        request: &Request,
        project_id: &str,
        now: Instant,
    ) -> Reply {
        let Some(project) = self.resolve_project(project_id) else {
            return not_found("project", project_id);
        };
        let body = match parse_object(request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let mut problems = Vec::new();
        let version = match required_string(&body, "appVersionId", &mut problems) {
            Some(id) if uuid::Uuid::try_parse(id).is_err() => {
                problems.push(Invalid::new(
                    ".appVersionId",
                    "format",
                    "must match format \"uuid\"",
                ));
                None
            }
            Some(id) => {
                let version = find_version(id);
                if version.is_none() {
                    problems.push(Invalid::unknown_version(id));
                }
                version
            }
            None => None,
        };
        let description = required_string(&body, "description", &mut problems);
        let update_policy = required_string(&body, "updatePolicy", &mut problems);
        check_update_policy(update_policy, &mut problems);
        let given = match body.get("userInputs") {
            None => {
                problems.push(Invalid::required("userInputs"));
                Vec::new()
            }
            Some(value) => parse_user_inputs(value, &mut problems),
        };
        let installation_path = optional_string(&body, "installationPath", &mut problems);
        let user_inputs = version.map(|version| {
            check_input_names(version, &given, &mut problems);
            let merged = with_defaults(version, given.clone());
            check_required_inputs(version, &merged, &mut problems);
            merged
        });
        let (Some(version), Some(description), Some(update_policy), Some(user_inputs), true) = (
            version,
            description,
            update_policy,
            user_inputs,
            problems.is_empty(),
        ) else {
            return validation_failed(problems);
        };
        let app = find_app(version.app_id).unwrap_or(&APPS[0]);
        let installation_path = match installation_path {
            Some(path) if path.starts_with('/') => path.to_owned(),
            Some(path) => format!("/{path}"),
            None => derive_installation_path(description),
        };
        let event = self.next_event();
        let installation = Installation {
            id: uuid::Uuid::new_v4().to_string(),
            short_id: self.new_short_id(),
            project,
            app,
            version,
            description: description.to_owned(),
            installation_path,
            custom_document_root: None,
            update_policy: update_policy.to_owned(),
            user_inputs,
            created_at: now_rfc3339(),
            disabled: false,
            change: Some(Change {
                phases: if options.phases.is_empty() {
                    vec!["pending".to_owned()]
                } else {
                    options.phases.clone()
                },
                started: now,
                duration: options.time_to_ready,
                current: None,
            }),
            last_write: Some((now, event)),
            ready_at: now + options.time_to_ready,
            restart: None,
        };
        let id = installation.id.clone();
        self.installations.push(installation);
        Reply::json(201, &json!({ "id": id })).with_header("etag", event.to_string())
    }

    pub(super) fn list(
        &mut self,
        options: &SimOptions,
        request: &Request,
        project_id: &str,
        now: Instant,
    ) -> Reply {
        let Some(project) = self.resolve_project(project_id) else {
            return not_found("project", project_id);
        };
        let app_ids: Vec<String> = request
            .query
            .iter()
            .filter(|(key, _)| key == "appIds" || key == "appIds[]")
            .flat_map(|(_, value)| value.split(','))
            .map(|id| id.trim().to_ascii_lowercase())
            .filter(|id| !id.is_empty())
            .collect();
        let search = request
            .query_param("searchTerm")
            .filter(|term| !term.is_empty());
        let matching: Vec<&Installation> = self
            .installations
            .iter()
            .filter(|i| i.project == project)
            .filter(|i| app_ids.is_empty() || app_ids.iter().any(|id| id == i.app.id))
            .filter(|i| search.is_none_or(|term| i.matches_search(term)))
            .collect();
        let page = match Page::from_query(request, matching.len(), options.installation_page_cap) {
            Ok(page) => page,
            Err(reply) => return reply,
        };
        let bodies: Vec<Value> = matching
            .iter()
            .skip(page.skip)
            .take(page.limit)
            .map(|i| i.body(&self.projects[i.project], now))
            .collect();
        let total = !options.installation_total_hidden;
        page.headers(Reply::json(200, &Value::Array(bodies)), total)
    }

    pub(super) fn get(
        &self,
        options: &SimOptions,
        request: &Request,
        id: &str,
        now: Instant,
    ) -> Reply {
        let reached = request
            .header("if-event-reached")
            .map(|value| value.trim().trim_start_matches("W/").trim_matches('"'))
            .and_then(|value| value.parse::<u64>().ok());
        if let Some(event) = reached
            && event > self.events
        {
            return error(
                412,
                "PreconditionFailedError",
                &format!("event {event} was not reached within {EVENT_WAIT_LIMIT}"),
            );
        }
        let Some(index) = self.find(id) else {
            return not_found("app installation", id);
        };
        let installation = &self.installations[index];
        if let Some((written, event)) = installation.last_write {
            let settled = now.saturating_duration_since(written) >= options.consistency_delay;
            if !settled && reached.is_none_or(|reached| reached < event) {
                return not_found("app installation", id);
            }
        }
        Reply::json(
            200,
            &installation.body(&self.projects[installation.project], now),
        )
    }

    pub(super) fn patch(
        &mut self,
        options: &SimOptions,
        request: &Request,
        id: &str,
        now: Instant,
    ) -> Reply {
        let Some(index) = self.find(id) else {
            return not_found("app installation", id);
        };
        let body = match parse_object(request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let installation = &self.installations[index];
        let mut problems = Vec::new();
        let new_version = match optional_string(&body, "appVersionId", &mut problems) {
            Some(version_id) => match find_version(version_id) {
                Some(version) if version.app_id == installation.app.id => Some(version),
                Some(_) => {
                    problems.push(Invalid::new(
                        ".appVersionId",
                        "appMismatch",
                        format!(
                            "app version {version_id} does not belong to app {}",
                            installation.app.name
                        ),
                    ));
                    None
                }
                None => {
                    problems.push(Invalid::unknown_version(version_id));
                    None
                }
            },
            None => None,
        };
        let description = optional_string(&body, "description", &mut problems);
        let update_policy = optional_string(&body, "updatePolicy", &mut problems);
        check_update_policy(update_policy, &mut problems);
        let document_root = optional_string(&body, "customDocumentRoot", &mut problems);
        let target = new_version.unwrap_or(installation.version);
        let mut user_inputs = installation.user_inputs.clone();
        if let Some(value) = body.get("userInputs") {
            let given = parse_user_inputs(value, &mut problems);
            check_input_names(target, &given, &mut problems);
            for (position, (name, value)) in given.iter().enumerate() {
                let fixed = target
                    .inputs
                    .iter()
                    .any(|input| input.name == name && input.lifecycle == "installation");
                let changed = installation
                    .user_inputs
                    .iter()
                    .find(|(old, _)| old == name)
                    .is_none_or(|(_, old)| old != value);
                if fixed && changed {
                    problems.push(Invalid::new(
                        format!(".userInputs[{position}].value"),
                        "lifecycleConstraint",
                        format!("user input '{name}' can only be set at installation"),
                    ));
                }
            }
            merge_inputs(&mut user_inputs, given);
        }
        let user_inputs = with_defaults(target, user_inputs);
        check_required_inputs(target, &user_inputs, &mut problems);
        if !problems.is_empty() {
            return validation_failed(problems);
        }
        let (phase, _) = installation.phase(now);
        if phase != "ready" {
            return error(
                412,
                "PreconditionFailedError",
                &format!(
                    "app installation {} is in phase APP_PHASE_{}, expected phase APP_PHASE_READY",
                    installation.short_id,
                    phase.to_ascii_uppercase()
                ),
            );
        }
        let event = self.next_event();
        let installation = &mut self.installations[index];
        let old_version = installation.version.id;
        let upgrading = target.id != old_version;
        let reconfiguring = user_inputs != installation.user_inputs;
        if upgrading || reconfiguring {
            installation.change = Some(Change {
                phases: vec![
                    if upgrading {
                        "upgrading"
                    } else {
                        "reconfiguring"
                    }
                    .to_owned(),
                ],
                started: now,
                duration: options.time_to_ready,
                current: Some(old_version.to_owned()),
            });
        }
        installation.version = target;
        installation.user_inputs = user_inputs;
        if let Some(description) = description {
            installation.description = description.to_owned();
        }
        if let Some(policy) = update_policy {
            installation.update_policy = policy.to_owned();
        }
        if let Some(root) = document_root {
            installation.custom_document_root = Some(root.to_owned());
        }
        installation.last_write = Some((now, event));
        Reply::empty(204).with_header("etag", event.to_string())
    }

    pub(super) fn delete(&mut self, id: &str) -> Reply {
        let Some(index) = self.find(id) else {
            return not_found("app installation", id);
        };
        self.installations.remove(index);
        let event = self.next_event();
        Reply::empty(204).with_header("etag", event.to_string())
    }
}

/// Like the platform: `/` + the description's first words as a slug (at most 20 characters)
/// + `-` + 5 random characters, e.g. "custom Node.js p-p92nri" -> `/custom-node-js-p-fha6u`.
pub(super) fn derive_installation_path(description: &str) -> String {
    let words = description
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase);
    let mut slug = String::new();
    for word in words {
        let added = if slug.is_empty() {
            word.len()
        } else {
            word.len() + 1
        };
        if slug.len() + added > 20 {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&word);
    }
    if slug.is_empty() {
        slug.push_str("app");
    }
    format!("/{slug}-{}", random_alnum(5))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn installation_path_follows_the_platform_pattern() {
        let path = derive_installation_path("custom Node.js p-p92nri");
        assert!(path.starts_with("/custom-node-js-p-"), "{path}");
        assert_eq!(path.len(), "/custom-node-js-p-fha6u".len());
        let path = derive_installation_path("Eval App Copy Test 20260217-2");
        assert!(path.starts_with("/eval-app-copy-test-"), "{path}");
        assert!(derive_installation_path("!!!").starts_with("/app-"));
    }
}
