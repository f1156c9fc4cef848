//! A project's SSH users (`ssh-user-*` operations of the spec): create, list, get, update and
//! delete, and the check the SSH server makes at login.
//!
//! As the platform: the 201 comes before the login works (activation is asynchronous:
//! [`SimOptions::ssh_activation`]; deployer-recipes retries `/bin/true` 10 times 5 s apart, the
//! Terraform provider polls GET for 30 s), a GET right after a write may answer 404 for
//! [`SimOptions::consistency_delay`] (the Terraform provider polls for it), keys are
//! `<type> <base64>` without a trailing comment (the Terraform provider's documentation of
//! `public_keys.key`), and the login name is `<userName>@<installation shortId>` (API-NOTES).

use std::time::{Duration, Instant, SystemTime};

use russh::keys::PublicKey;
use serde_json::{Map, Value, json};

use super::pages::Page;
use super::validation::{
    Invalid, optional_string, parse_object, required_string, validation_failed,
};
use super::{Mittwald, not_found, now_rfc3339, random_alnum};
use crate::options::SimOptions;
use crate::request::{Reply, Request};

/// An SSH user as the platform keeps it.
pub(super) struct SshUser {
    id: String,
    /// `ssh-xxxxxx`, the platform's pattern (`ssh-uhqs6v` in API-NOTES).
    user_name: String,
    project: usize,
    description: String,
    keys: Vec<RegisteredKey>,
    has_password: bool,
    /// As the client sent it, and the instant it stands for.
    expires_at: Option<(String, SystemTime)>,
    active: bool,
    created_at: String,
    updated_at: String,
    auth_updated_at: String,
    /// The login works from this instant on (activation).
    usable_from: Instant,
    /// The last write; a GET answers 404 until the consistency delay has passed.
    written: Instant,
}

struct RegisteredKey {
    comment: String,
    key: String,
    parsed: PublicKey,
}

/// What a login may do, as the SSH server needs it: whose project, which installation.
#[derive(Clone, Debug)]
pub(crate) struct SshLogin {
    pub(crate) project_short_id: String,
    pub(crate) installation_id: String,
    /// `directories["Web"]` + `installationPath`: where the login starts.
    pub(crate) installation_dir: String,
    /// The app's mittnite job (`node`, `python`, `php`).
    pub(crate) job: String,
    /// The installation status's `logFileLocation`.
    pub(crate) log_file: String,
}

impl SshUser {
    fn body(&self, project_id: &str) -> Value {
        let mut body = json!({
            "active": self.active,
            "authUpdatedAt": self.auth_updated_at,
            "createdAt": self.created_at,
            "description": self.description,
            "hasPassword": self.has_password,
            "id": self.id,
            "projectId": project_id,
            "publicKeys": self.keys.iter()
                .map(|key| json!({ "comment": key.comment, "key": key.key }))
                .collect::<Vec<_>>(),
            "updatedAt": self.updated_at,
            "userName": self.user_name,
        });
        if let Some((expires, _)) = &self.expires_at {
            body["expiresAt"] = json!(expires);
        }
        body
    }
}

impl Mittwald {
    fn find_ssh_user(&self, id: &str) -> Option<usize> {
        self.ssh_users
            .iter()
            .position(|user| user.id.eq_ignore_ascii_case(id))
    }

    fn new_ssh_user_name(&self) -> String {
        loop {
            let candidate = format!("ssh-{}", random_alnum(6));
            if !self.ssh_users.iter().any(|u| u.user_name == candidate) {
                return candidate;
            }
        }
    }

    /// `POST /v2/projects/{projectId}/ssh-users` → 201 with the SshUser.
    pub(super) fn create_ssh_user(
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
        let description = required_string(&body, "description", &mut problems);
        let expires_at = expires_at(&body, &mut problems);
        let (keys, has_password) = match body.get("authentication") {
            None => {
                problems.push(Invalid::required("authentication"));
                (Vec::new(), false)
            }
            Some(Value::Object(auth)) => match (auth.get("publicKeys"), auth.get("password")) {
                (Some(keys), None) => (
                    public_keys(keys, ".authentication.publicKeys", &mut problems),
                    false,
                ),
                (None, Some(Value::String(password))) if password.len() <= 72 => (Vec::new(), true),
                _ => {
                    problems.push(Invalid::new(
                        ".authentication",
                        "oneOf",
                        "must have either publicKeys or password (at most 72 characters)",
                    ));
                    (Vec::new(), false)
                }
            },
            Some(_) => {
                problems.push(Invalid::new(".authentication", "type", "must be object"));
                (Vec::new(), false)
            }
        };
        let (Some(description), true) = (description, problems.is_empty()) else {
            return validation_failed(problems);
        };
        let created = now_rfc3339();
        let user = SshUser {
            id: uuid::Uuid::new_v4().to_string(),
            user_name: self.new_ssh_user_name(),
            project,
            description: description.to_owned(),
            keys,
            has_password,
            expires_at,
            active: true,
            created_at: created.clone(),
            updated_at: created.clone(),
            auth_updated_at: created,
            usable_from: now + options.ssh_activation,
            written: now,
        };
        let body = user.body(&self.projects[project].id);
        self.ssh_users.push(user);
        Reply::json(201, &body)
    }

    /// `GET /v2/projects/{projectId}/ssh-users`: a page of the project's users, oldest first.
    pub(super) fn list_ssh_users(&mut self, request: &Request, project_id: &str) -> Reply {
        let Some(project) = self.resolve_project(project_id) else {
            return not_found("project", project_id);
        };
        let users: Vec<&SshUser> = self
            .ssh_users
            .iter()
            .filter(|user| user.project == project)
            .collect();
        let page = match Page::from_query(request, users.len(), None) {
            Ok(page) => page,
            Err(reply) => return reply,
        };
        let project_id = &self.projects[project].id;
        let bodies: Vec<Value> = users
            .iter()
            .skip(page.skip)
            .take(page.limit)
            .map(|user| user.body(project_id))
            .collect();
        page.headers(Reply::json(200, &Value::Array(bodies)), true)
    }

    /// `GET /v2/ssh-users/{sshUserId}`; 404 for a while after a write.
    pub(super) fn get_ssh_user(&self, options: &SimOptions, id: &str, now: Instant) -> Reply {
        match self.find_ssh_user(id) {
            Some(index)
                if now.saturating_duration_since(self.ssh_users[index].written)
                    >= options.consistency_delay =>
            {
                let user = &self.ssh_users[index];
                Reply::json(200, &user.body(&self.projects[user.project].id))
            }
            _ => not_found("ssh user", id),
        }
    }

    /// `PATCH /v2/ssh-users/{sshUserId}` → 204: `active`, `description`, `expiresAt`,
    /// `password`, `publicKeys` (which replaces the list, and takes the activation delay again).
    pub(super) fn patch_ssh_user(
        &mut self,
        options: &SimOptions,
        request: &Request,
        id: &str,
        now: Instant,
    ) -> Reply {
        let Some(index) = self.find_ssh_user(id) else {
            return not_found("ssh user", id);
        };
        // The spec makes the body optional.
        let body = if request.body.is_empty() {
            Map::new()
        } else {
            match parse_object(request) {
                Ok(body) => body,
                Err(reply) => return reply,
            }
        };
        let mut problems = Vec::new();
        let description = optional_string(&body, "description", &mut problems);
        let expires = body
            .contains_key("expiresAt")
            .then(|| expires_at(&body, &mut problems));
        let keys = body
            .get("publicKeys")
            .map(|keys| public_keys(keys, ".publicKeys", &mut problems));
        let active = match body.get("active") {
            None => None,
            Some(Value::Bool(active)) => Some(*active),
            Some(_) => {
                problems.push(Invalid::new(".active", "type", "must be boolean"));
                None
            }
        };
        let password = optional_string(&body, "password", &mut problems);
        if password.is_some_and(|password| password.len() > 72) {
            problems.push(Invalid::new(
                ".password",
                "maxLength",
                "must NOT have more than 72 characters",
            ));
        }
        if !problems.is_empty() {
            return validation_failed(problems);
        }
        let stamp = now_rfc3339();
        let user = &mut self.ssh_users[index];
        if let Some(description) = description {
            description.clone_into(&mut user.description);
        }
        if let Some(expires) = expires {
            user.expires_at = expires;
        }
        if let Some(active) = active {
            user.active = active;
        }
        if password.is_some() {
            user.has_password = true;
            user.auth_updated_at.clone_from(&stamp);
        }
        if let Some(keys) = keys {
            user.keys = keys;
            user.auth_updated_at.clone_from(&stamp);
            user.usable_from = now + options.ssh_activation;
        }
        user.updated_at = stamp;
        user.written = now;
        Reply::empty(204)
    }

    /// `DELETE /v2/ssh-users/{sshUserId}` → 204; the login stops working at once.
    pub(super) fn delete_ssh_user(&mut self, id: &str) -> Reply {
        let Some(index) = self.find_ssh_user(id) else {
            return not_found("ssh user", id);
        };
        self.ssh_users.remove(index);
        Reply::empty(204)
    }

    /// Every SSH user's body, oldest first.
    pub(crate) fn ssh_user_bodies(&self) -> Vec<Value> {
        self.ssh_users
            .iter()
            .map(|user| user.body(&self.projects[user.project].id))
            .collect()
    }

    /// Whether `login` (`<userName>@<installation shortId>`) may log in with `key` now; the
    /// error says why not, for the simulator's log (the client only learns "denied").
    pub(crate) fn ssh_login(
        &self,
        options: &SimOptions,
        login: &str,
        key: &PublicKey,
        now: Instant,
    ) -> Result<SshLogin, String> {
        let Some((user_name, short_id)) = login.split_once('@') else {
            return Err(format!(
                "{login:?} is not <ssh user>@<installation short id>"
            ));
        };
        let user = self
            .ssh_users
            .iter()
            .find(|user| user.user_name == user_name)
            .ok_or_else(|| format!("no ssh user {user_name}"))?;
        if !user
            .keys
            .iter()
            .any(|registered| registered.parsed.key_data() == key.key_data())
        {
            return Err(format!("key not registered for {user_name}"));
        }
        if !user.active {
            return Err(format!("{user_name} is not active"));
        }
        if now < user.usable_from {
            return Err(format!(
                "{user_name} is not activated yet ({} ms to go)",
                user.usable_from.duration_since(now).as_millis()
            ));
        }
        if let Some((expires, at)) = &user.expires_at
            && *at <= SystemTime::now()
        {
            return Err(format!("{user_name} expired at {expires}"));
        }
        let installation = self
            .installations
            .iter()
            .find(|installation| installation.short_id == short_id)
            .ok_or_else(|| format!("no app installation {short_id}"))?;
        if installation.project != user.project {
            return Err(format!(
                "app installation {short_id} is not in the project of {user_name}"
            ));
        }
        let project = &self.projects[installation.project];
        let job = installation.version.system_software.name.to_owned();
        Ok(SshLogin {
            project_short_id: project.short_id.clone(),
            installation_id: installation.id.clone(),
            installation_dir: join_virtual(&options.web_dir, &installation.installation_path),
            log_file: installation.log_file(project, &job),
            job,
        })
    }
}

impl Mittwald {
    /// Where installation `id` (or short id) lives: its project's short id, its directory
    /// (`directories["Web"]` + `installationPath`), its log file and its job.
    pub(crate) fn installation_location(
        &self,
        options: &SimOptions,
        id: &str,
    ) -> Option<(String, String, String, String)> {
        let installation = self
            .installations
            .iter()
            .find(|i| i.id.eq_ignore_ascii_case(id) || i.short_id == id)?;
        let project = &self.projects[installation.project];
        let job = installation.version.system_software.name;
        Some((
            project.short_id.clone(),
            join_virtual(&options.web_dir, &installation.installation_path),
            installation.log_file(project, job),
            job.to_owned(),
        ))
    }
}

/// `base` + `path` as absolute paths of the project's file system (`/html` + `/app-x`).
pub(super) fn join_virtual(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    let path = path.trim_start_matches('/');
    if path.is_empty() {
        if base.is_empty() {
            "/".to_owned()
        } else {
            base.to_owned()
        }
    } else {
        format!("{base}/{path}")
    }
}

/// `publicKeys`: `[{comment, key}]`, each key `<type> <base64>` and nothing more.
fn public_keys(value: &Value, path: &str, problems: &mut Vec<Invalid>) -> Vec<RegisteredKey> {
    let Value::Array(items) = value else {
        problems.push(Invalid::new(path, "type", "must be array"));
        return Vec::new();
    };
    let mut keys = Vec::new();
    for (position, item) in items.iter().enumerate() {
        let at = format!("{path}[{position}]");
        let (Some(Value::String(comment)), Some(Value::String(key))) =
            (item.get("comment"), item.get("key"))
        else {
            problems.push(Invalid::new(
                at,
                "required",
                "must have string properties 'comment' and 'key'",
            ));
            continue;
        };
        let fields: Vec<&str> = key.split(' ').collect();
        let parsed = (fields.len() == 2)
            .then(|| PublicKey::from_openssh(key).ok())
            .flatten();
        match parsed {
            Some(parsed) => keys.push(RegisteredKey {
                comment: comment.clone(),
                key: key.clone(),
                parsed,
            }),
            None => problems.push(Invalid::new(
                format!("{at}.key"),
                "format",
                "must be an SSH public key '<key-type> <base64-key>' without a comment or \
                 surrounding whitespace",
            )),
        }
    }
    keys
}

/// `expiresAt`, RFC 3339 (`Z` or an offset); absent is no expiry.
fn expires_at(
    body: &Map<String, Value>,
    problems: &mut Vec<Invalid>,
) -> Option<(String, SystemTime)> {
    let given = optional_string(body, "expiresAt", problems)?;
    match parse_date_time(given) {
        Some(at) => Some((humantime::format_rfc3339_millis(at).to_string(), at)),
        None => {
            problems.push(Invalid::new(
                ".expiresAt",
                "format",
                "must match format \"date-time\"",
            ));
            None
        }
    }
}

/// An RFC 3339 date-time: `2026-02-17T10:00:00Z`, with fractions, or with an offset `+01:00`.
pub(super) fn parse_date_time(text: &str) -> Option<SystemTime> {
    if let Ok(at) = humantime::parse_rfc3339(text) {
        return Some(at);
    }
    // An offset instead of `Z`: parse the local time as UTC, then move by the offset.
    let split = text.len().checked_sub(6)?;
    let (local, offset) = (text.get(..split)?, text.get(split..)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = offset.get(1..)?.split_once(':')?;
    let (hours, minutes): (u64, u64) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 23 || minutes > 59 || !local.contains('T') {
        return None;
    }
    let at = humantime::parse_rfc3339(&format!("{local}Z")).ok()?;
    let shift = Duration::from_secs(hours * 3600 + minutes * 60);
    if sign > 0 {
        at.checked_sub(shift)
    } else {
        at.checked_add(shift)
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn date_times_with_offsets_are_the_same_instant() {
        let utc = parse_date_time("2026-02-17T10:00:00Z").unwrap();
        assert_eq!(parse_date_time("2026-02-17T11:00:00+01:00"), Some(utc));
        assert_eq!(parse_date_time("2026-02-17T09:30:00-00:30"), Some(utc));
        assert_eq!(
            parse_date_time("2026-02-17T10:00:00.250Z"),
            utc.checked_add(Duration::from_millis(250))
        );
        for wrong in ["tomorrow", "2026-02-17", "2026-02-17T10:00:00+1:00", ""] {
            assert_eq!(parse_date_time(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn virtual_paths_join_with_one_slash() {
        assert_eq!(join_virtual("/html", "/app-x"), "/html/app-x");
        assert_eq!(join_virtual("/html/", "app-x"), "/html/app-x");
        assert_eq!(join_virtual("/html", "/"), "/html");
    }
}
