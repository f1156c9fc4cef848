//! The environment, read once into a validated [`Config`].
//!
//! Every problem is collected, so one failed run shows the user all of them at once. Nothing
//! here touches the network; problems only the platform can reveal (an unknown app name, say)
//! are reported by the providers with the same [`ConfigError`] type.

use serde::Deserialize;
use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};
use thiserror::Error;

mod cloudfoundry;
pub use crate::outputs::Sinks;
pub use crate::redact::Secret;
pub use crate::values::{AppState, HealthCheck, Provider, UpdatePolicy};
pub use cloudfoundry::{AppSettings, CfAuth, CloudFoundry};

/// Node.js's app id on mittwald.
pub const MITTWALD_NODE_APP_ID: &str = "3e7f920b-a711-4d2f-9871-661e1b41a2f0";
/// Python's app id on mittwald.
pub const MITTWALD_PYTHON_APP_ID: &str = "be57d166-dae9-4480-bae2-da3f3c6f0a2e";
/// The mittwald API's base URL.
pub const MITTWALD_API_URL: &str = "https://api.mittwald.de";

/// One input problem, naming the variable it is about.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is missing or empty.
    #[error("{var} is required: {meaning}")]
    Missing {
        /// The variable.
        var: &'static str,
        /// What it is for and what it takes.
        meaning: &'static str,
    },
    /// A variable has a value berth cannot use.
    #[error("{var}: {problem}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong and what is accepted.
        problem: String,
    },
}

impl ConfigError {
    /// The variable the problem is about.
    pub fn var(&self) -> &'static str {
        match self {
            Self::Missing { var, .. } | Self::Invalid { var, .. } => var,
        }
    }

    fn invalid(var: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            var,
            problem: problem.into(),
        }
    }
}

/// All problems found in the configuration; never empty.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "invalid configuration ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

/// What to do when the installation or app already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// Bring it to the given settings.
    Update,
    /// Leave it as it is.
    Reuse,
    /// Stop with an error.
    Fail,
}

/// Settings every provider shares.
#[derive(Debug, Clone)]
pub struct Common {
    /// `BERTH_API_URL`, without a trailing slash.
    pub api_url: String,
    /// `BERTH_WAIT`.
    pub wait: bool,
    /// `BERTH_WAIT_TIMEOUT`.
    pub wait_timeout: Duration,
    /// `BERTH_ON_EXISTING`.
    pub on_existing: OnExisting,
    /// `BERTH_DRY_RUN`.
    pub dry_run: bool,
    /// `BERTH_CA_CERT`, read and parsed.
    pub ca_cert: Option<Vec<u8>>,
    /// `BERTH_INSECURE_SKIP_TLS_VERIFY`.
    pub insecure_skip_tls_verify: bool,
}

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
pub struct Mittwald {
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

/// The provider-specific part.
#[derive(Debug, Clone)]
pub enum Target {
    /// Install on mittwald.
    Mittwald(Mittwald),
    /// Create on Cloud Foundry.
    CloudFoundry(Box<CloudFoundry>),
}

/// The whole, validated configuration of one run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Shared settings.
    pub common: Common,
    /// What to deploy where.
    pub target: Target,
    /// Where outputs go.
    pub sinks: Sinks,
    /// Things worth telling the user that do not stop the run (an unknown `BERTH_` variable).
    pub warnings: Vec<String>,
}

impl Config {
    /// How long the whole run may take, counted from its start: `BERTH_WAIT_TIMEOUT`, or on
    /// Cloud Foundry the cf CLI's staging and start-up timeouts together when they are longer.
    pub fn time_limit(&self) -> Duration {
        match &self.target {
            Target::CloudFoundry(cf) => self.common.wait_timeout.max(
                cf.staging_timeout.unwrap_or_default() + cf.startup_timeout.unwrap_or_default(),
            ),
            Target::Mittwald(_) => self.common.wait_timeout,
        }
    }

    /// The provider this run deploys to.
    pub fn provider(&self) -> Provider {
        match self.target {
            Target::Mittwald(_) => Provider::Mittwald,
            Target::CloudFoundry(_) => Provider::CloudFoundry,
        }
    }
}

/// One input: its variable, default and meaning. The single list behind `--help`, the README
/// check and the unknown-variable warning.
pub struct Input {
    /// Variable name.
    pub var: &'static str,
    /// Default, as users read it.
    pub default: &'static str,
    /// What it does.
    pub meaning: &'static str,
    /// `common`, `mittwald` or `cloudfoundry`.
    pub group: &'static str,
}

macro_rules! inputs {
    ($( $group:literal $var:literal $default:literal $meaning:literal ;)*) => {
        /// Every input berth reads, in the order `--help` shows them.
        pub const INPUTS: &[Input] = &[$(Input { var: $var, default: $default, meaning: $meaning, group: $group }),*];
    };
}

inputs! {
    "common" "BERTH_PROVIDER" "(required)" "`mittwald` or `cloudfoundry`";
    "common" "BERTH_API_URL" "https://api.mittwald.de for mittwald; required for cloudfoundry" "API base URL";
    "common" "BERTH_API_TOKEN" "(required for mittwald)" "mittwald API token; for Cloud Foundry an OAuth access token";
    "common" "BERTH_WAIT" "true" "wait until ready (true/false/1/0/yes/no)";
    "common" "BERTH_WAIT_TIMEOUT" "10m" "give up waiting after this long (90, 90s, 10m, 1h30m)";
    "common" "BERTH_ON_EXISTING" "update" "when it already exists: `update` (bring it to the given settings), `reuse` (leave it), `fail`";
    "common" "BERTH_DRY_RUN" "false" "read and plan only; print what would be sent; send no POST/PUT/PATCH/DELETE";
    "common" "BERTH_DOTENV" "(none)" "also write the outputs as a dotenv file at this path (GitLab artifacts:reports:dotenv)";
    "common" "BERTH_CA_CERT" "(none)" "PEM file with extra CA certificates to trust";
    "common" "BERTH_INSECURE_SKIP_TLS_VERIFY" "false" "skip TLS verification (warns every run)";
    "mittwald" "BERTH_PROJECT_ID" "(required)" "project id (UUID) or short id (p-xxxxxx)";
    "mittwald" "BERTH_APP" "(required)" "`node`, `python`, an app UUID, or an app name as listed by GET /v2/apps (case-insensitive)";
    "mittwald" "BERTH_APP_VERSION" "recommended" "`recommended`, `latest` (highest version), an exact version (1.0.0), or a version UUID";
    "mittwald" "BERTH_DESCRIPTION" "(required)" "the installation's description; with the app and project it identifies the installation on later runs";
    "mittwald" "BERTH_ENTRYPOINT" "the version's default" "value of the `entrypoint` user input";
    "mittwald" "BERTH_USER_INPUTS" "(none)" "more user inputs, name=value, one a line (or separated by `;`)";
    "mittwald" "BERTH_UPDATE_POLICY" "none" "`none`, `patchLevel`, `all`";
    "mittwald" "BERTH_INSTALLATION_PATH" "chosen by the platform" "installation path for a new installation";
    "cloudfoundry" "BERTH_CF_USERNAME" "(none)" "UAA password grant: user name (with BERTH_CF_PASSWORD)";
    "cloudfoundry" "BERTH_CF_PASSWORD" "(none)" "UAA password grant: password";
    "cloudfoundry" "BERTH_CF_CLIENT_ID" "(none)" "UAA client-credentials grant: client id (with BERTH_CF_CLIENT_SECRET)";
    "cloudfoundry" "BERTH_CF_CLIENT_SECRET" "(none)" "UAA client-credentials grant: client secret";
    "cloudfoundry" "BERTH_SPACE_GUID" "(required)" "space";
    "cloudfoundry" "BERTH_NAME" "(required)" "app name; with the space it identifies the app on later runs";
    "cloudfoundry" "BERTH_MEMORY" "platform default" "MB, or with unit: 512M, 1G";
    "cloudfoundry" "BERTH_INSTANCES" "platform default" "number of instances";
    "cloudfoundry" "BERTH_DISK_QUOTA" "platform default" "MB, or with unit";
    "cloudfoundry" "BERTH_STACK_GUID" "platform default" "stack";
    "cloudfoundry" "BERTH_STATE" "STOPPED" "`STOPPED` or `STARTED`";
    "cloudfoundry" "BERTH_COMMAND" "(none)" "start command (at most 4096 characters)";
    "cloudfoundry" "BERTH_BUILDPACK" "autodetect" "buildpack name or git URL";
    "cloudfoundry" "BERTH_HEALTH_CHECK_TYPE" "port" "`port`, `process`, `http`, `none`";
    "cloudfoundry" "BERTH_HEALTH_CHECK_TIMEOUT" "platform default" "seconds";
    "cloudfoundry" "BERTH_DOCKER_IMAGE" "(none)" "Docker image to run";
    "cloudfoundry" "BERTH_ENVIRONMENT" "(none)" "app environment: a JSON object, or KEY=VALUE one a line";
    "cloudfoundry" "BERTH_DIEGO" "platform default" "boolean of the create-app API";
    "cloudfoundry" "BERTH_ENABLE_SSH" "platform default" "boolean of the create-app API";
    "cloudfoundry" "BERTH_CONSOLE" "platform default" "boolean of the create-app API";
    "cloudfoundry" "BERTH_DEBUG" "platform default" "boolean of the create-app API";
    "cloudfoundry" "BERTH_PATH" "(none)" "a directory or .zip to upload as the app's bits before starting";
}

/// The raw variables, as envy reads them (prefix `BERTH_` stripped). Empty values were removed
/// before, so `Some` always holds text.
#[derive(Debug, Default, Deserialize)]
struct Raw {
    provider: Option<String>,
    api_url: Option<String>,
    api_token: Option<String>,
    wait: Option<String>,
    wait_timeout: Option<String>,
    on_existing: Option<String>,
    dry_run: Option<String>,
    dotenv: Option<String>,
    ca_cert: Option<String>,
    insecure_skip_tls_verify: Option<String>,
    project_id: Option<String>,
    app: Option<String>,
    app_version: Option<String>,
    description: Option<String>,
    entrypoint: Option<String>,
    user_inputs: Option<String>,
    update_policy: Option<String>,
    installation_path: Option<String>,
    cf_username: Option<String>,
    cf_password: Option<String>,
    cf_client_id: Option<String>,
    cf_client_secret: Option<String>,
    space_guid: Option<String>,
    name: Option<String>,
    memory: Option<String>,
    instances: Option<String>,
    disk_quota: Option<String>,
    stack_guid: Option<String>,
    state: Option<String>,
    command: Option<String>,
    buildpack: Option<String>,
    health_check_type: Option<String>,
    health_check_timeout: Option<String>,
    docker_image: Option<String>,
    environment: Option<String>,
    diego: Option<String>,
    enable_ssh: Option<String>,
    console: Option<String>,
    debug: Option<String>,
    path: Option<String>,
}

/// Collects problems while the config is read.
#[derive(Default)]
struct Problems(Vec<ConfigError>);

impl Problems {
    fn missing(&mut self, var: &'static str) {
        let meaning = INPUTS
            .iter()
            .find(|i| i.var == var)
            .map_or("", |i| i.meaning);
        self.0.push(ConfigError::Missing { var, meaning });
    }
    fn invalid(&mut self, var: &'static str, problem: impl Into<String>) {
        self.0.push(ConfigError::invalid(var, problem));
    }
    /// A required value, or a problem.
    fn required(&mut self, var: &'static str, value: Option<String>) -> Option<String> {
        if value.is_none() {
            self.missing(var);
        }
        value
    }
    fn bool(&mut self, var: &'static str, value: Option<&str>, default: bool) -> bool {
        match value.map(parse_bool) {
            None => default,
            Some(Some(b)) => b,
            Some(None) => {
                self.invalid(
                    var,
                    format!(
                        "{:?} is not a boolean (accepted: true, false, 1, 0, yes, no)",
                        value.unwrap_or_default()
                    ),
                );
                default
            }
        }
    }
}

/// `true/false/1/0/yes/no`, any case.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// `90` (seconds), `90s`, `10m`, `1h30m`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).ok()
}

fn is_uuid(text: &str) -> bool {
    uuid::Uuid::try_parse(text).is_ok()
}

fn is_short_id(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The process environment; a variable that is not UTF-8 cannot be one of berth's and is
/// passed over (`std::env::vars` would panic on it).
pub fn env_vars() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

/// Waits longer than this are surely a mistake (and would overflow the clock).
pub const MAX_WAIT_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigErrors> {
        Self::from_vars(env_vars())
    }

    /// Reads the configuration from the given variables (the whole environment, unfiltered).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigErrors> {
        // GitHub passes "" for inputs that were not given: empty means unset.
        let vars: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
        let mut p = Problems::default();
        let mut warnings = unknown_variables(&vars);
        let raw: Raw = match envy::prefixed("BERTH_").from_iter(vars.clone()) {
            Ok(raw) => raw,
            Err(e) => {
                // Only strings are read, so this cannot happen short of envy changing.
                p.invalid("BERTH_*", format!("cannot read the environment: {e}"));
                Raw::default()
            }
        };

        let provider = match p
            .required("BERTH_PROVIDER", raw.provider.clone())
            .as_deref()
        {
            None => None,
            Some(v) => {
                let parsed = Provider::parse(v);
                if parsed.is_none() {
                    p.invalid(
                        "BERTH_PROVIDER",
                        format!(
                            "{v:?} is not a provider (accepted: {})",
                            Provider::accepted()
                        ),
                    );
                }
                parsed
            }
        };

        let common = common(&raw, provider, &mut p);
        let sinks = Sinks {
            dotenv: raw.dotenv.as_deref().map(|d| dotenv_path(d, &mut p)),
            ..Sinks::from_vars(vars.clone())
        };

        let target = match provider {
            Some(Provider::Mittwald) => {
                warnings.extend(other_provider_variables(&vars, "cloudfoundry", "mittwald"));
                mittwald(raw, &mut p).map(Target::Mittwald)
            }
            Some(Provider::CloudFoundry) => {
                warnings.extend(other_provider_variables(&vars, "mittwald", "cloudfoundry"));
                cloudfoundry::parse(raw, &vars, &mut p).map(|c| Target::CloudFoundry(Box::new(c)))
            }
            None => None,
        };

        match (target, p.0.is_empty()) {
            (Some(target), true) => Ok(Config {
                common,
                target,
                sinks,
                warnings,
            }),
            _ => Err(ConfigErrors(p.0)),
        }
    }
}

fn common(raw: &Raw, provider: Option<Provider>, p: &mut Problems) -> Common {
    let api_url = match (&raw.api_url, provider) {
        (Some(url), _) => check_url(url, p),
        (None, Some(Provider::CloudFoundry)) => {
            p.missing("BERTH_API_URL");
            String::new()
        }
        (None, _) => MITTWALD_API_URL.to_string(),
    };
    let wait_timeout = match raw.wait_timeout.as_deref() {
        None => Duration::from_secs(600),
        Some(text) => match parse_duration(text) {
            Some(d) if d > MAX_WAIT_TIMEOUT => {
                p.invalid(
                    "BERTH_WAIT_TIMEOUT",
                    format!("{text:?} is longer than a week"),
                );
                Duration::from_secs(600)
            }
            Some(d) if !d.is_zero() => d,
            Some(_) => {
                p.invalid("BERTH_WAIT_TIMEOUT", "must be longer than 0s");
                Duration::from_secs(600)
            }
            None => {
                p.invalid(
                    "BERTH_WAIT_TIMEOUT",
                    format!("{text:?} is not a duration (accepted: 90, 90s, 10m, 1h30m)"),
                );
                Duration::from_secs(600)
            }
        },
    };
    let on_existing = match raw
        .on_existing
        .as_deref()
        .map(|s| s.trim().to_ascii_lowercase())
    {
        None => OnExisting::Update,
        Some(v) => match v.as_str() {
            "update" => OnExisting::Update,
            "reuse" => OnExisting::Reuse,
            "fail" => OnExisting::Fail,
            _ => {
                p.invalid(
                    "BERTH_ON_EXISTING",
                    format!("{v:?} is not accepted (accepted: update, reuse, fail)"),
                );
                OnExisting::Update
            }
        },
    };
    let ca_cert = raw
        .ca_cert
        .as_deref()
        .and_then(|path| read_ca_cert(path, p));
    Common {
        api_url,
        wait: p.bool("BERTH_WAIT", raw.wait.as_deref(), true),
        wait_timeout,
        on_existing,
        dry_run: p.bool("BERTH_DRY_RUN", raw.dry_run.as_deref(), false),
        ca_cert,
        insecure_skip_tls_verify: p.bool(
            "BERTH_INSECURE_SKIP_TLS_VERIFY",
            raw.insecure_skip_tls_verify.as_deref(),
            false,
        ),
    }
}

fn check_url(url: &str, p: &mut Problems) -> String {
    let trimmed = url.trim().trim_end_matches('/');
    match reqwest::Url::parse(trimmed) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            if u.query().is_some() || u.fragment().is_some() {
                p.invalid(
                    "BERTH_API_URL",
                    format!("{trimmed:?} must not have a query or fragment"),
                );
            }
            trimmed.to_string()
        }
        Ok(_) => {
            p.invalid(
                "BERTH_API_URL",
                format!("{trimmed:?} is not an http(s) URL (example: https://api.mittwald.de)"),
            );
            String::new()
        }
        Err(e) => {
            p.invalid(
                "BERTH_API_URL",
                format!("{trimmed:?} is not a URL ({e}; example: https://api.mittwald.de)"),
            );
            String::new()
        }
    }
}

fn read_ca_cert(path: &str, p: &mut Problems) -> Option<Vec<u8>> {
    let pem = match std::fs::read(path) {
        Ok(pem) => pem,
        Err(e) => {
            p.invalid("BERTH_CA_CERT", format!("cannot read {path:?}: {e}"));
            return None;
        }
    };
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Some(pem),
        _ => {
            p.invalid(
                "BERTH_CA_CERT",
                format!("{path:?} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
            );
            None
        }
    }
}

fn dotenv_path(path: &str, p: &mut Problems) -> PathBuf {
    let path = PathBuf::from(path);
    let parent = path.parent().filter(|d| !d.as_os_str().is_empty());
    if path.is_dir() {
        p.invalid(
            "BERTH_DOTENV",
            format!("{path:?} is a directory; give a file path"),
        );
    } else if parent.is_some_and(|d| !d.is_dir()) {
        p.invalid(
            "BERTH_DOTENV",
            format!("the directory of {path:?} does not exist"),
        );
    }
    path
}

fn mittwald(raw: Raw, p: &mut Problems) -> Option<Mittwald> {
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

    let installation_path = raw.installation_path.map(|s| s.trim().to_string());
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

    Some(Mittwald {
        token: Secret::new(token?),
        project_id: project_id?,
        app: app?,
        version,
        description: description?,
        user_inputs,
        update_policy,
        installation_path,
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

/// `BERTH_*` variables berth does not know: most likely a typo, which would otherwise pass silently.
fn unknown_variables(vars: &BTreeMap<String, String>) -> Vec<String> {
    let output_var = |key: &str| format!("BERTH_{}", key.to_ascii_uppercase());
    let is_input = |var: &str| INPUTS.iter().any(|i| i.var == var);
    let mut warnings = Vec::new();
    // GitLab hands a dotenv report to every later job, and its variables win over the job's own.
    let inherited = ["status", "created"]
        .iter()
        .all(|k| vars.contains_key(&output_var(k)));
    if inherited {
        // Output keys whose dotenv names are inputs too: read as this job's own inputs.
        let shadowed: Vec<String> = crate::outputs::KEYS
            .iter()
            .map(|k| output_var(k))
            .filter(|v| is_input(v) && vars.contains_key(v))
            .collect();
        warnings.push(format!(
            "this job received an earlier berth job's outputs (BERTH_STATUS, BERTH_CREATED...); \
             {} may be that job's values, not this job's inputs: give this job \
             `needs: [{{job: <earlier job>, artifacts: false}}]` or `dependencies: []`",
            if shadowed.is_empty() {
                "nothing berth reads".to_string()
            } else {
                shadowed.join(", ")
            }
        ));
    }
    let is_output = |k: &str| crate::outputs::KEYS.iter().any(|o| output_var(o) == k);
    warnings.extend(
        vars.keys()
            .filter(|k| k.starts_with("BERTH_") && !INPUTS.iter().any(|i| i.var == k.as_str()))
            .filter(|k| !(inherited && is_output(k)))
            .map(|k| {
                let closest = INPUTS
                    .iter()
                    .map(|i| (strsim::levenshtein(k, i.var), i.var))
                    .min()
                    .filter(|(d, _)| *d <= 3);
                match closest {
                    Some((_, known)) => format!("{k} is not a berth input; did you mean {known}?"),
                    None => format!("{k} is not a berth input; it is ignored"),
                }
            }),
    );
    warnings
}

fn other_provider_variables(
    vars: &BTreeMap<String, String>,
    group: &str,
    provider: &str,
) -> Vec<String> {
    INPUTS
        .iter()
        .filter(|i| i.group == group && vars.contains_key(i.var))
        .map(|i| {
            format!(
                "{} is a {group} input; it is ignored with BERTH_PROVIDER={provider}",
                i.var
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const BASE: &[(&str, &str)] = &[
        ("BERTH_PROVIDER", "mittwald"),
        ("BERTH_API_TOKEN", "tok"),
        ("BERTH_PROJECT_ID", "p-abc123"),
        ("BERTH_APP", "node"),
        ("BERTH_DESCRIPTION", "shop"),
    ];

    #[test]
    fn minimal_mittwald_config_gets_the_contract_defaults() {
        let c = Config::from_vars(vars(BASE)).unwrap();
        assert_eq!(c.common.api_url, MITTWALD_API_URL);
        assert!(c.common.wait);
        assert_eq!(c.common.wait_timeout, Duration::from_secs(600));
        assert_eq!(c.common.on_existing, OnExisting::Update);
        let Target::Mittwald(m) = c.target else {
            panic!("not mittwald")
        };
        assert_eq!(m.app, AppRef::Id(MITTWALD_NODE_APP_ID.into()));
        assert_eq!(m.version, None);
        assert_eq!(m.update_policy, None);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let mut v = vars(BASE);
        v.push(("BERTH_WAIT_TIMEOUT".into(), "".into()));
        v.push(("BERTH_APP_VERSION".into(), "".into()));
        let c = Config::from_vars(v).unwrap();
        assert_eq!(c.common.wait_timeout, Duration::from_secs(600));
    }

    #[test]
    fn durations_and_booleans_take_every_documented_form() {
        for (text, secs) in [("90", 90), ("90s", 90), ("10m", 600), ("1h30m", 5400)] {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for (text, b) in [
            ("TRUE", true),
            ("yes", true),
            ("1", true),
            ("No", false),
            ("0", false),
        ] {
            assert_eq!(parse_bool(text), Some(b), "{text}");
        }
        assert_eq!(parse_bool("maybe"), None);
    }

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
    fn every_problem_is_listed_at_once() {
        let errs = Config::from_vars(vars(&[
            ("BERTH_PROVIDER", "mittwald"),
            ("BERTH_WAIT", "sometimes"),
            ("BERTH_ON_EXISTING", "replace"),
        ]))
        .unwrap_err();
        let named: Vec<_> = errs.0.iter().map(ConfigError::var).collect();
        for var in [
            "BERTH_WAIT",
            "BERTH_ON_EXISTING",
            "BERTH_API_TOKEN",
            "BERTH_PROJECT_ID",
            "BERTH_APP",
            "BERTH_DESCRIPTION",
        ] {
            assert!(named.contains(&var), "{var} not in {named:?}");
        }
    }

    #[test]
    fn a_misspelt_variable_is_pointed_out() {
        let mut v = vars(BASE);
        v.push(("BERTH_DESCRIPTON".into(), "x".into()));
        let c = Config::from_vars(v).unwrap();
        assert_eq!(
            c.warnings,
            ["BERTH_DESCRIPTON is not a berth input; did you mean BERTH_DESCRIPTION?"]
        );
    }

    #[test]
    fn an_earlier_berth_job_s_outputs_are_pointed_out_once() {
        let mut v = vars(BASE);
        for (k, val) in [
            ("BERTH_STATUS", "ready"),
            ("BERTH_CREATED", "true"),
            ("BERTH_ID", "x"),
            ("BERTH_STATE", "STARTED"),
        ] {
            v.push((k.into(), val.into()));
        }
        let c = Config::from_vars(v).unwrap();
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(
            c.warnings[0].contains("earlier berth job's outputs")
                && c.warnings[0].contains("BERTH_PROVIDER, BERTH_STATE"),
            "{:?}",
            c.warnings
        );
        assert!(
            c.warnings[1].starts_with("BERTH_STATE is a cloudfoundry input"),
            "{:?}",
            c.warnings
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
