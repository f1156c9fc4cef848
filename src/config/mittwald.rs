//! The mittwald part of the configuration: the project, the app and its version, the
//! installation's description, user inputs and update policy.

use super::{Problems, Raw, Secret, UpdatePolicy, is_uuid};
use crate::mittwald::deploy::{known_hosts::KnownHosts, ssh::Endpoint};
use russh::keys::PrivateKey;
use std::{
    fmt,
    path::{Path, PathBuf},
};

/// Node.js's app id on mittwald.
pub const MITTWALD_NODE_APP_ID: &str = "3e7f920b-a711-4d2f-9871-661e1b41a2f0";
/// Python's app id on mittwald.
pub const MITTWALD_PYTHON_APP_ID: &str = "be57d166-dae9-4480-bae2-da3f3c6f0a2e";
/// The mittwald API's base URL.
pub const MITTWALD_API_URL: &str = "https://api.mittwald.de";

/// Which app to install (`BERTH_APP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppRef {
    /// An app id (UUID), including the well-known Node.js and Python ones.
    Id(String),
    /// An app name as listed by `GET /v2/apps`, compared case-insensitively.
    Name(String),
}

/// Which version to install (`BERTH_APP_VERSION`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRef {
    /// The version the platform recommends (the highest of them if several are).
    Recommended,
    /// The highest version.
    Latest,
    /// An external version such as `1.0.0`.
    Exact(String),
    /// A version id (UUID).
    Id(String),
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Recommended => f.write_str("recommended"),
            Self::Latest => f.write_str("latest"),
            Self::Exact(v) | Self::Id(v) => f.write_str(v),
        }
    }
}

/// The mittwald part of the configuration.
#[derive(Debug, Clone)]
pub struct MittwaldTarget {
    /// `BERTH_API_TOKEN`.
    pub token: Secret,
    /// `BERTH_PROJECT_ID`: a UUID or a short id `p-xxxxxx`.
    pub project_id: String,
    /// `BERTH_APP`.
    pub app: AppRef,
    /// `BERTH_APP_VERSION`; `None` when not given: `recommended` for a new installation, and an
    /// existing one keeps its version.
    pub version: Option<VersionRef>,
    /// `BERTH_DESCRIPTION`.
    pub description: String,
    /// `BERTH_ENTRYPOINT` and `BERTH_USER_INPUTS` together, in the order given; `entrypoint`
    /// first when set.
    pub user_inputs: Vec<UserInput>,
    /// `BERTH_UPDATE_POLICY`: `none`, `patchLevel` or `all`; `None` when not given: `none` for
    /// a new installation, and an existing one keeps its policy.
    pub update_policy: Option<UpdatePolicy>,
    /// `BERTH_INSTALLATION_PATH`.
    pub installation_path: Option<String>,
    /// `BERTH_PATH` and what goes with it: the code to deploy over SSH.
    pub deploy: Option<Box<Deploy>>,
}

/// What `BERTH_PATH` and its companions ask for: the code deployed into the installation's
/// directory over SSH, then installed and restarted.
#[derive(Debug, Clone)]
pub struct Deploy {
    /// `BERTH_PATH`: a directory.
    pub path: PathBuf,
    /// `BERTH_EXCLUDE`: gitignore patterns (default `.git`).
    pub exclude: Vec<String>,
    /// `BERTH_DELETE`.
    pub delete: bool,
    /// `BERTH_INSTALL_COMMAND`.
    pub install_command: Option<String>,
    /// `BERTH_RESTART`.
    pub restart: bool,
    /// `BERTH_SSH_USER` + `BERTH_SSH_PRIVATE_KEY`; `None`: a temporary SSH user.
    pub login: Option<SshLogin>,
    /// `BERTH_SSH_HOST`, checked; `None`: from the project.
    pub host: Option<Endpoint>,
    /// `BERTH_SSH_KNOWN_HOSTS`, checked; `None`: mittwald's published host keys.
    pub known_hosts: Option<KnownHosts>,
}

/// A given SSH user and its key.
#[derive(Clone)]
pub struct SshLogin {
    /// The user name as given (`ssh-abc123`, or a whole login with `@`).
    pub user: String,
    /// The parsed private key (never printed: see the `Debug`).
    pub key: std::sync::Arc<PrivateKey>,
}

impl fmt::Debug for SshLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshLogin")
            .field("user", &self.user)
            .field("key", &"<secret>")
            .finish()
    }
}

/// A user input given by the user, and the variable it came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInput {
    /// The input's name as the app version declares it.
    pub name: String,
    /// Its value.
    pub value: String,
    /// `BERTH_ENTRYPOINT` or `BERTH_USER_INPUTS`.
    pub var: &'static str,
}

fn is_short_id(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The mittwald inputs; `None` when a required one is missing (the problem is recorded).
pub(super) fn parse(raw: Raw, p: &mut Problems) -> Option<MittwaldTarget> {
    // Read first, while `raw` is whole; its problems are reported after the others'.
    let mut deploy_problems = Problems::default();
    let deploy = deploy(&raw, &mut deploy_problems);
    let token = p.required("BERTH_API_TOKEN", raw.api_token);
    if token
        .as_deref()
        .is_some_and(|t| t.trim() != t || t.contains(char::is_whitespace))
    {
        // Never echo the token itself.
        p.invalid(
            "BERTH_API_TOKEN",
            "contains white space; check how the secret is passed",
        );
    }

    let project_id = p
        .required("BERTH_PROJECT_ID", raw.project_id)
        .map(|s| s.trim().to_string());
    if let Some(id) = &project_id
        && !is_uuid(id)
        && !is_short_id(id, "p-")
    {
        p.invalid(
            "BERTH_PROJECT_ID",
            format!("{id:?} is neither a project UUID nor a short id like p-abc123"),
        );
    }

    let app = p.required("BERTH_APP", raw.app).map(|a| {
        let a = a.trim();
        match a.to_ascii_lowercase().as_str() {
            "node" | "nodejs" | "node.js" => AppRef::Id(MITTWALD_NODE_APP_ID.into()),
            "python" => AppRef::Id(MITTWALD_PYTHON_APP_ID.into()),
            _ if is_uuid(a) => AppRef::Id(a.to_ascii_lowercase()),
            _ => AppRef::Name(a.to_string()),
        }
    });

    let version = raw.app_version.as_deref().map(str::trim).map(|v| match v {
        _ if v.eq_ignore_ascii_case("recommended") => VersionRef::Recommended,
        _ if v.eq_ignore_ascii_case("latest") => VersionRef::Latest,
        _ if is_uuid(v) => VersionRef::Id(v.to_ascii_lowercase()),
        _ if v.chars().any(char::is_whitespace) => {
            p.invalid(
                "BERTH_APP_VERSION",
                format!(
                    "{v:?} is not a version (accepted: recommended, latest, 1.2.3, a version UUID)"
                ),
            );
            VersionRef::Recommended
        }
        _ => VersionRef::Exact(v.trim_start_matches(['v', 'V']).to_string()),
    });

    let description = p.required("BERTH_DESCRIPTION", raw.description);
    if description
        .as_deref()
        .is_some_and(|d| d.contains(['\n', '\r']))
    {
        p.invalid("BERTH_DESCRIPTION", "must be one line");
    }

    let mut user_inputs = Vec::new();
    if let Some(entrypoint) = raw.entrypoint {
        user_inputs.push(UserInput {
            name: "entrypoint".into(),
            value: entrypoint,
            var: "BERTH_ENTRYPOINT",
        });
    }
    if let Some(text) = raw.user_inputs.as_deref() {
        parse_user_inputs(text, &mut user_inputs, p);
    }

    let update_policy = raw.update_policy.as_deref().and_then(|v| {
        let parsed = UpdatePolicy::parse(v);
        if parsed.is_none() {
            p.invalid(
                "BERTH_UPDATE_POLICY",
                format!(
                    "{:?} is not accepted (accepted: {})",
                    v.trim(),
                    UpdatePolicy::accepted()
                ),
            );
        }
        parsed
    });

    let installation_path = raw
        .installation_path
        .as_deref()
        .map(|s| s.trim().to_string());
    if let Some(path) = &installation_path
        && Path::new(path)
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        p.invalid(
            "BERTH_INSTALLATION_PATH",
            format!(
                "{path:?} must not contain `..`; give a path inside the project's web directory"
            ),
        );
    }

    p.extend(deploy_problems);

    Some(MittwaldTarget {
        token: Secret::new(token?),
        project_id: project_id?,
        app: app?,
        version,
        description: description?,
        user_inputs,
        update_policy,
        installation_path,
        deploy: deploy.map(Box::new),
    })
}

/// One line naming an existing file: what a GitLab variable of type File holds.
fn looks_like_a_path(value: &str) -> bool {
    let value = value.trim();
    !value.contains('\n') && !value.contains("-----") && Path::new(value).is_file()
}

/// `BERTH_PATH` and its companions, checked before any request; `None` without `BERTH_PATH`
/// (the companions are then warned about as unused).
fn deploy(raw: &Raw, p: &mut Problems) -> Option<Deploy> {
    let delete = p.bool("BERTH_DELETE", raw.delete.as_deref(), false);
    let restart = p.bool("BERTH_RESTART", raw.restart.as_deref(), true);
    let login = match (&raw.ssh_user, &raw.ssh_private_key) {
        (Some(user), Some(key)) => {
            let user = user.trim().to_string();
            if user.contains(char::is_whitespace) {
                p.invalid("BERTH_SSH_USER", format!("{user:?} contains white space"));
            }
            match crate::mittwald::deploy::ssh::parse_private_key(key) {
                Ok(key) => Some(SshLogin {
                    user,
                    key: std::sync::Arc::new(key),
                }),
                Err(_) if looks_like_a_path(key) => {
                    p.invalid(
                        "BERTH_SSH_PRIVATE_KEY",
                        "holds the path of a file, not a key (a GitLab variable of type File?); give the key itself (a variable of type Variable, or `BERTH_SSH_PRIVATE_KEY: $(cat \"$FILE\")` in a script)",
                    );
                    None
                }
                Err(problem) => {
                    // Never echo the key: the problem names what is wrong, not the text.
                    p.invalid("BERTH_SSH_PRIVATE_KEY", format!("the key {problem}"));
                    None
                }
            }
        }
        (Some(_), None) => {
            p.invalid(
                "BERTH_SSH_USER",
                "needs BERTH_SSH_PRIVATE_KEY (that user's private key); leave both out and berth makes a temporary SSH user",
            );
            None
        }
        (None, Some(_)) => {
            p.invalid(
                "BERTH_SSH_PRIVATE_KEY",
                "needs BERTH_SSH_USER (the SSH user the key belongs to)",
            );
            None
        }
        (None, None) => None,
    };
    let host = raw.ssh_host.as_deref().and_then(|h| {
        Endpoint::parse(h.trim())
            .map_err(|problem| p.invalid("BERTH_SSH_HOST", problem))
            .ok()
    });
    let known_hosts = raw.ssh_known_hosts.as_deref().and_then(|text| {
        KnownHosts::parse(text, "BERTH_SSH_KNOWN_HOSTS")
            .map_err(|problem| p.invalid("BERTH_SSH_KNOWN_HOSTS", problem))
            .ok()
    });
    let install_command = raw
        .install_command
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let path = PathBuf::from(raw.path.as_deref()?);
    let exclude = raw
        .exclude
        .as_deref()
        .map_or_else(|| vec![".git".to_string()], super::cloudfoundry::patterns);
    let problem = if path.is_dir() {
        super::cloudfoundry::unreadable_in(&path, crate::files::exclude_patterns(&path, &exclude))
    } else if path.is_file() {
        Some(format!(
            "{} is a file; on mittwald BERTH_PATH is a directory whose files are deployed (a .zip is not unpacked)",
            path.display()
        ))
    } else {
        Some(format!("{} is not a directory", path.display()))
    };
    if let Some(problem) = problem {
        p.invalid("BERTH_PATH", problem);
        return None;
    }
    Some(Deploy {
        path,
        exclude,
        delete,
        install_command,
        restart,
        login,
        host,
        known_hosts,
    })
}

fn parse_user_inputs(text: &str, into: &mut Vec<UserInput>, p: &mut Problems) {
    const VAR: &str = "BERTH_USER_INPUTS";
    // One a line; `;` separates too when the value is a single line.
    let items: Vec<&str> = if text.contains('\n') {
        text.lines().collect()
    } else {
        text.split(';').collect()
    };
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        let Some((name, value)) = item.split_once('=') else {
            p.invalid(VAR, format!("{item:?} is not name=value"));
            continue;
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            p.invalid(
                VAR,
                format!("{name:?} is not a user input name (letters, digits, _ - .)"),
            );
            continue;
        }
        if let Some(earlier) = into.iter().find(|u| u.name == name) {
            let also = if earlier.var == VAR {
                String::new()
            } else {
                format!(" (also set by {})", earlier.var)
            };
            p.invalid(VAR, format!("{name:?} is given twice{also}"));
            continue;
        }
        into.push(UserInput {
            name: name.to_string(),
            value: value.trim().to_string(),
            var: VAR,
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{
        Config, Target,
        tests::{BASE, vars},
    };

    #[test]
    fn user_inputs_split_on_lines_or_semicolons_and_reject_duplicates() {
        let mut v = vars(BASE);
        v.push(("BERTH_ENTRYPOINT".into(), "node server.js".into()));
        v.push(("BERTH_USER_INPUTS".into(), "a=1;b = two words".into()));
        let Target::Mittwald(m) = Config::from_vars(v).unwrap().target else {
            panic!("not mittwald")
        };
        let got: Vec<_> = m
            .user_inputs
            .iter()
            .map(|u| (u.name.as_str(), u.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("entrypoint", "node server.js"),
                ("a", "1"),
                ("b", "two words")
            ]
        );

        let mut v = vars(BASE);
        v.push(("BERTH_ENTRYPOINT".into(), "x".into()));
        v.push(("BERTH_USER_INPUTS".into(), "entrypoint=y\nc".into()));
        let errs = Config::from_vars(v).unwrap_err();
        assert_eq!(errs.0.len(), 2, "{errs}");
        assert!(
            errs.to_string().contains("also set by BERTH_ENTRYPOINT"),
            "{errs}"
        );
    }

    #[test]
    fn the_token_is_never_echoed() {
        let mut v = vars(BASE);
        v.retain(|(k, _)| k != "BERTH_API_TOKEN");
        v.push(("BERTH_API_TOKEN".into(), "sec ret".into()));
        let errs = Config::from_vars(v).unwrap_err().to_string();
        assert!(errs.contains("BERTH_API_TOKEN"));
        assert!(!errs.contains("sec ret"));
    }
}
