//! The Cloud Foundry part of the configuration.

use super::{
    AppState, CfApi, HealthCheck, Problems, Raw, Secret, Strategy, is_uuid, parse_duration,
};
use serde_json::{Map, Value};
use std::{collections::BTreeMap, path::PathBuf, time::Duration};

/// The longest start command the Cloud Controller takes.
pub const MAX_COMMAND_LEN: usize = 4096;
/// The cf CLI's staging timeout when `CF_STAGING_TIMEOUT` is not set.
pub const CF_STAGING_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The cf CLI's start timeout when `CF_STARTUP_TIMEOUT` is not set.
pub const CF_STARTUP_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How berth gets a Cloud Foundry access token; exactly one is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CfAuth {
    /// `BERTH_API_TOKEN`: an OAuth access token, used as it is.
    Token(Secret),
    /// `BERTH_CF_USERNAME` + `BERTH_CF_PASSWORD`: UAA password grant, client `cf`.
    Password {
        /// The user.
        username: String,
        /// The password.
        password: Secret,
    },
    /// `BERTH_CF_CLIENT_ID` + `BERTH_CF_CLIENT_SECRET`: UAA client-credentials grant.
    Client {
        /// The client id.
        id: String,
        /// The client secret.
        secret: Secret,
    },
}

/// The app's settings as given; `None` means "not given": the platform's default for a new
/// app, and left as it is on an existing one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppSettings {
    /// `BERTH_MEMORY`, in MB.
    pub memory: Option<i64>,
    /// `BERTH_INSTANCES`.
    pub instances: Option<i64>,
    /// `BERTH_DISK_QUOTA`, in MB.
    pub disk_quota: Option<i64>,
    /// `BERTH_STACK_GUID`.
    pub stack_guid: Option<String>,
    /// `BERTH_STACK`: the stack by name (v3 names stacks; v2 looks the guid up).
    pub stack: Option<String>,
    /// `BERTH_COMMAND`.
    pub command: Option<String>,
    /// `BERTH_BUILDPACK`: one, or on v3 several in order.
    pub buildpacks: Option<Vec<String>>,
    /// `BERTH_HEALTH_CHECK_TYPE`.
    pub health_check_type: Option<HealthCheck>,
    /// `BERTH_HEALTH_CHECK_TIMEOUT`, in seconds.
    pub health_check_timeout: Option<i64>,
    /// `BERTH_HEALTH_CHECK_HTTP_ENDPOINT`.
    pub health_check_http_endpoint: Option<String>,
    /// `BERTH_DOCKER_IMAGE`.
    pub docker_image: Option<String>,
    /// `BERTH_ENVIRONMENT`.
    pub environment: Option<Map<String, Value>>,
    /// `BERTH_DIEGO`.
    pub diego: Option<bool>,
    /// `BERTH_ENABLE_SSH`.
    pub enable_ssh: Option<bool>,
    /// `BERTH_CONSOLE`.
    pub console: Option<bool>,
    /// `BERTH_DEBUG`.
    pub debug: Option<bool>,
}

/// The space: by guid, or by org and space name (looked up with reads only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpaceRef {
    /// `BERTH_SPACE_GUID`.
    Guid(String),
    /// `BERTH_CF_ORG` + `BERTH_CF_SPACE`.
    Named {
        /// The org's name.
        org: String,
        /// The space's name in that org.
        space: String,
    },
}

/// `BERTH_DOCKER_USERNAME` + `BERTH_DOCKER_PASSWORD`: a private registry's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerCredentials {
    /// The user.
    pub username: String,
    /// The password.
    pub password: Secret,
}

/// The Cloud Foundry part of the configuration.
#[derive(Debug, Clone)]
pub struct CloudFoundryTarget {
    /// `BERTH_CF_API`.
    pub api: CfApi,
    /// `BERTH_ROUTES` (`None`: not given; an existing app keeps its routes).
    pub routes: Option<Vec<RouteSpec>>,
    /// `BERTH_STRATEGY`.
    pub strategy: Strategy,
    /// `BERTH_LOGS`.
    pub logs: bool,
    /// How to get a token.
    pub auth: CfAuth,
    /// The space the app lives in.
    pub space: SpaceRef,
    /// `BERTH_NAME`.
    pub name: String,
    /// The app's settings.
    pub settings: AppSettings,
    /// `BERTH_STATE`; `None`: stopped for a new app, and an existing one keeps its state.
    pub state: Option<AppState>,
    /// `BERTH_PATH`: a directory or .zip to upload as the app's bits.
    pub path: Option<PathBuf>,
    /// `BERTH_EXCLUDE`: gitignore patterns of what not to upload (default `.git`).
    pub exclude: Vec<String>,
    /// `BERTH_DOCKER_USERNAME` + `BERTH_DOCKER_PASSWORD`.
    pub docker_credentials: Option<DockerCredentials>,
    /// How long staging may take: `CF_STAGING_TIMEOUT` (minutes) when `BERTH_WAIT_TIMEOUT` is
    /// not set and it is; `None`: the run's deadline alone.
    pub staging_timeout: Option<Duration>,
    /// Likewise `CF_STARTUP_TIMEOUT`, for the instances to start once staged.
    pub startup_timeout: Option<Duration>,
}

pub(super) fn parse(
    raw: Raw,
    vars: &BTreeMap<String, String>,
    p: &mut Problems,
) -> Option<CloudFoundryTarget> {
    let auth = auth(&raw, p);

    let space = space(&raw, p);
    let name = p
        .required("BERTH_NAME", raw.name)
        .map(|n| n.trim().to_string());
    if name.as_deref().is_some_and(|n| n.contains(['\n', '\r'])) {
        p.invalid("BERTH_NAME", "must be one line");
    }

    let settings = AppSettings {
        memory: raw
            .memory
            .as_deref()
            .and_then(|v| megabytes("BERTH_MEMORY", v, p)),
        instances: raw
            .instances
            .as_deref()
            .and_then(|v| count("BERTH_INSTANCES", v, p)),
        disk_quota: raw
            .disk_quota
            .as_deref()
            .and_then(|v| megabytes("BERTH_DISK_QUOTA", v, p)),
        stack_guid: raw
            .stack_guid
            .map(|g| g.trim().to_ascii_lowercase())
            .inspect(|g| {
                if !is_uuid(g) {
                    p.invalid("BERTH_STACK_GUID", format!("{g:?} is not a GUID"));
                }
            }),
        command: raw.command.inspect(|c| {
            if c.chars().count() > MAX_COMMAND_LEN {
                p.invalid(
                    "BERTH_COMMAND",
                    format!(
                        "is {} characters long; at most {MAX_COMMAND_LEN}",
                        c.chars().count()
                    ),
                );
            }
        }),
        stack: raw.stack.map(|s| s.trim().to_string()),
        buildpacks: raw.buildpack.map(|b| {
            b.split(',')
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .map(str::to_string)
                .collect()
        }),
        health_check_http_endpoint: raw.health_check_http_endpoint.map(|e| e.trim().to_string()),
        health_check_type: raw.health_check_type.and_then(|t| {
            let parsed = HealthCheck::parse(&t);
            if parsed.is_none() {
                p.invalid(
                    "BERTH_HEALTH_CHECK_TYPE",
                    format!(
                        "{:?} is not accepted (accepted: {})",
                        t.trim(),
                        HealthCheck::accepted()
                    ),
                );
            }
            parsed
        }),
        health_check_timeout: raw.health_check_timeout.as_deref().and_then(
            |v| match parse_duration(v).map(|d| d.as_secs()) {
                Some(secs) if secs > 0 => i64::try_from(secs).ok(),
                _ => {
                    p.invalid(
                        "BERTH_HEALTH_CHECK_TIMEOUT",
                        format!("{v:?} is not a number of seconds above 0 (e.g. 60, 90s, 2m)"),
                    );
                    None
                }
            },
        ),
        docker_image: raw.docker_image.map(|d| d.trim().to_string()),
        environment: raw.environment.as_deref().and_then(|v| environment(v, p)),
        diego: raw
            .diego
            .as_deref()
            .map(|v| p.bool("BERTH_DIEGO", Some(v), false)),
        enable_ssh: raw
            .enable_ssh
            .as_deref()
            .map(|v| p.bool("BERTH_ENABLE_SSH", Some(v), false)),
        console: raw
            .console
            .as_deref()
            .map(|v| p.bool("BERTH_CONSOLE", Some(v), false)),
        debug: raw
            .debug
            .as_deref()
            .map(|v| p.bool("BERTH_DEBUG", Some(v), false)),
    };

    let state = raw.state.and_then(|s| {
        let parsed = AppState::parse(&s);
        if parsed.is_none() {
            p.invalid(
                "BERTH_STATE",
                format!("{s:?} is not accepted (accepted: STOPPED, STARTED)"),
            );
        }
        parsed
    });

    let exclude = raw
        .exclude
        .as_deref()
        .map_or_else(|| vec![".git".to_string()], patterns);
    let path = raw.path.map(PathBuf::from).inspect(|path| {
        let zip = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        let problem = if path.is_dir() {
            unreadable_in(path, crate::files::exclusions(path, &exclude))
        } else if zip && path.is_file() {
            not_a_zip(path)
        } else {
            Some(format!(
                "{} is neither a directory nor a .zip file",
                path.display()
            ))
        };
        if let Some(problem) = problem {
            p.invalid("BERTH_PATH", problem);
        }
    });
    if let Some(image) = &settings.docker_image {
        if path.is_some() {
            p.invalid(
                "BERTH_DOCKER_IMAGE",
                format!("{image:?} and BERTH_PATH exclude each other: a Docker app has no bits to upload"),
            );
        }
        if settings.buildpacks.is_some() {
            p.invalid(
                "BERTH_DOCKER_IMAGE",
                "and BERTH_BUILDPACK exclude each other: a Docker app is not built by a buildpack",
            );
        }
    }

    if settings.stack.is_some() && settings.stack_guid.is_some() {
        p.invalid(
            "BERTH_STACK",
            "and BERTH_STACK_GUID exclude each other: name the stack one way",
        );
    }
    if let Some(endpoint) = &settings.health_check_http_endpoint {
        if !endpoint.starts_with('/') {
            p.invalid(
                "BERTH_HEALTH_CHECK_HTTP_ENDPOINT",
                format!("{endpoint:?} must be a path starting with /"),
            );
        }
        if settings
            .health_check_type
            .is_some_and(|t| t != HealthCheck::Http)
        {
            p.invalid(
                "BERTH_HEALTH_CHECK_HTTP_ENDPOINT",
                "applies to BERTH_HEALTH_CHECK_TYPE=http only",
            );
        }
    }
    let api = raw.cf_api.as_deref().map_or(Some(CfApi::Auto), |a| {
        let parsed = CfApi::parse(a);
        if parsed.is_none() {
            p.invalid(
                "BERTH_CF_API",
                format!(
                    "{:?} is not accepted (accepted: {})",
                    a.trim(),
                    CfApi::accepted()
                ),
            );
        }
        parsed
    });
    if api == Some(CfApi::V2) && settings.buildpacks.as_ref().is_some_and(|b| b.len() > 1) {
        p.invalid(
            "BERTH_BUILDPACK",
            "lists several buildpacks, which only Cloud Controller v3 takes, and BERTH_CF_API is v2",
        );
    }
    let docker_credentials = pair(
        p,
        ("BERTH_DOCKER_USERNAME", &raw.docker_username),
        ("BERTH_DOCKER_PASSWORD", &raw.docker_password),
    )
    .map(|(username, password)| DockerCredentials {
        username,
        password: Secret::new(password),
    });
    if docker_credentials.is_some() && settings.docker_image.is_none() {
        p.invalid(
            "BERTH_DOCKER_USERNAME",
            "registry credentials need BERTH_DOCKER_IMAGE",
        );
    }
    // The cf CLI's variables count only where berth's own deadline is not set.
    let minutes = |var: &'static str, p: &mut Problems| -> Option<Duration> {
        let text = vars.get(var)?;
        match text.trim().parse::<u64>() {
            Ok(m) if m > 0 && m <= 7 * 24 * 60 => Some(Duration::from_secs(m * 60)),
            _ => {
                p.invalid(
                    var,
                    format!("{text:?} is not a whole number of minutes from 1 to 10080 (a week)"),
                );
                None
            }
        }
    };
    let staging = minutes("CF_STAGING_TIMEOUT", p);
    let startup = minutes("CF_STARTUP_TIMEOUT", p);
    let (staging_timeout, startup_timeout) = match (&raw.wait_timeout, staging, startup) {
        (None, None, None) | (Some(_), _, _) => (None, None),
        (None, staging, startup) => (
            Some(staging.unwrap_or(CF_STAGING_TIMEOUT)),
            Some(startup.unwrap_or(CF_STARTUP_TIMEOUT)),
        ),
    };

    let strategy = raw
        .strategy
        .as_deref()
        .map_or(Some(Strategy::Restart), |v| {
            let parsed = Strategy::parse(v);
            if parsed.is_none() {
                p.invalid(
                    "BERTH_STRATEGY",
                    format!(
                        "{:?} is not accepted (accepted: {})",
                        v.trim(),
                        Strategy::accepted()
                    ),
                );
            }
            parsed
        });
    if strategy == Some(Strategy::Rolling) && api == Some(CfApi::V2) {
        p.invalid(
            "BERTH_STRATEGY",
            "rolling needs Cloud Controller v3 (a deployment), and BERTH_CF_API is v2",
        );
    }
    let routes = raw.routes.as_deref().map(|r| routes(r, p));
    let logs = p.bool("BERTH_LOGS", raw.logs.as_deref(), true);

    Some(CloudFoundryTarget {
        api: api?,
        routes,
        strategy: strategy?,
        logs,
        auth: auth?,
        space: space?,
        name: name?,
        settings,
        state,
        path,
        exclude,
        docker_credentials,
        staging_timeout,
        startup_timeout,
    })
}

/// One entry of `BERTH_ROUTES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteSpec {
    /// `host.domain[/path]`: the host and domain are told apart by the domains the space can
    /// use (the longest that matches).
    Http {
        /// `host.domain`, lower case.
        name: String,
        /// `/path`, when given.
        path: Option<String>,
    },
    /// `domain:port`, on a TCP domain.
    Tcp {
        /// The domain, lower case.
        domain: String,
        /// The port.
        port: u16,
    },
    /// `default`: `<app name>.<the organization's default domain>`, as `cf push` picks it.
    Default,
}

impl std::fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http { name, path } => write!(f, "{name}{}", path.as_deref().unwrap_or("")),
            Self::Tcp { domain, port } => write!(f, "{domain}:{port}"),
            Self::Default => f.write_str("default"),
        }
    }
}

/// `BERTH_ROUTES`: entries one a line or comma-separated.
fn routes(text: &str, p: &mut Problems) -> Vec<RouteSpec> {
    let mut routes = Vec::new();
    for entry in text
        .split(['\n', ','])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        match route(entry) {
            Ok(r) if !routes.contains(&r) => routes.push(r),
            Ok(_) => {}
            Err(problem) => p.invalid("BERTH_ROUTES", format!("{entry:?}: {problem}")),
        }
    }
    routes
}

fn route(entry: &str) -> Result<RouteSpec, String> {
    if entry.eq_ignore_ascii_case("default") {
        return Ok(RouteSpec::Default);
    }
    let entry = entry
        .strip_prefix("https://")
        .or_else(|| entry.strip_prefix("http://"))
        .unwrap_or(entry);
    let (name, path) = match entry.find('/') {
        Some(i) => (&entry[..i], Some(&entry[i..])),
        None => (entry, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*')
    };
    if let Some((domain, port)) = name.rsplit_once(':') {
        if path.is_some() {
            return Err("a TCP route (domain:port) has no path".into());
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or("the port must be a number from 1 to 65535")?;
        if !domain.split('.').all(label_ok) || !domain.contains('.') {
            return Err("is not a domain name".into());
        }
        return Ok(RouteSpec::Tcp {
            domain: domain.to_ascii_lowercase(),
            port,
        });
    }
    if !name.contains('.') || !name.split('.').all(label_ok) {
        return Err("is not host.domain[/path], domain:port or default".into());
    }
    let path = path
        .map(|p| p.trim_end_matches('/').to_string())
        .filter(|p| !p.is_empty());
    if path.as_deref().is_some_and(|p| p.contains(['?', '#', ' '])) {
        return Err("a route's path has no query, fragment or space".into());
    }
    Ok(RouteSpec::Http {
        name: name.to_ascii_lowercase(),
        path,
    })
}

/// `BERTH_SPACE_GUID`, or `BERTH_CF_ORG` + `BERTH_CF_SPACE`: exactly one way.
fn space(raw: &Raw, p: &mut Problems) -> Option<SpaceRef> {
    let guid = raw
        .space_guid
        .as_deref()
        .map(|s| s.trim().to_ascii_lowercase());
    if let Some(guid) = &guid
        && !is_uuid(guid)
    {
        p.invalid("BERTH_SPACE_GUID", format!("{guid:?} is not a GUID"));
        return None;
    }
    let named = pair(
        p,
        ("BERTH_CF_ORG", &raw.cf_org),
        ("BERTH_CF_SPACE", &raw.cf_space),
    );
    match (guid, named) {
        (Some(guid), None) => Some(SpaceRef::Guid(guid)),
        (None, Some((org, space))) => Some(SpaceRef::Named { org, space }),
        (Some(_), Some(_)) => {
            p.invalid(
                "BERTH_SPACE_GUID",
                "and BERTH_CF_ORG + BERTH_CF_SPACE exclude each other: name the space one way",
            );
            None
        }
        (None, None) => {
            if raw.cf_org.is_none() && raw.cf_space.is_none() {
                p.invalid(
                    "BERTH_SPACE_GUID",
                    "is required (or BERTH_CF_ORG + BERTH_CF_SPACE, the space by name)",
                );
            }
            None
        }
    }
}

/// Patterns one a line or comma-separated, trimmed, empty ones dropped.
/// `BERTH_EXCLUDE`'s patterns: one a line or comma-separated.
pub(super) fn patterns(text: &str) -> Vec<String> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn auth(raw: &Raw, p: &mut Problems) -> Option<CfAuth> {
    // `cf oauth-token` prints "bearer <token>": take that as it is.
    let token = raw.api_token.as_ref().map(|t| {
        let t = t.trim();
        let t = match t.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => t[7..].trim_start(),
            _ => t,
        };
        if t.contains(char::is_whitespace) {
            p.invalid(
                "BERTH_API_TOKEN",
                "contains white space; check how the secret is passed",
            );
        }
        CfAuth::Token(Secret::new(t))
    });
    let password = pair(
        p,
        ("BERTH_CF_USERNAME", &raw.cf_username),
        ("BERTH_CF_PASSWORD", &raw.cf_password),
    )
    .map(|(username, password)| CfAuth::Password {
        username,
        password: Secret::new(password),
    });
    let client = pair(
        p,
        ("BERTH_CF_CLIENT_ID", &raw.cf_client_id),
        ("BERTH_CF_CLIENT_SECRET", &raw.cf_client_secret),
    )
    .map(|(id, secret)| CfAuth::Client {
        id,
        secret: Secret::new(secret),
    });
    let given: Vec<CfAuth> = [token, password, client].into_iter().flatten().collect();
    let partial = raw.cf_username.is_some() != raw.cf_password.is_some()
        || raw.cf_client_id.is_some() != raw.cf_client_secret.is_some();
    match given.len() {
        1 => given.into_iter().next(),
        0 if partial => None,
        0 => {
            p.invalid(
                "BERTH_API_TOKEN",
                "Cloud Foundry needs one way to authenticate: BERTH_API_TOKEN, or \
                 BERTH_CF_USERNAME + BERTH_CF_PASSWORD, or BERTH_CF_CLIENT_ID + BERTH_CF_CLIENT_SECRET",
            );
            None
        }
        _ => {
            let names: Vec<&str> = given
                .iter()
                .map(|a| match a {
                    CfAuth::Token(_) => "BERTH_API_TOKEN",
                    CfAuth::Password { .. } => "BERTH_CF_USERNAME + BERTH_CF_PASSWORD",
                    CfAuth::Client { .. } => "BERTH_CF_CLIENT_ID + BERTH_CF_CLIENT_SECRET",
                })
                .collect();
            p.invalid(
                "BERTH_API_TOKEN",
                format!(
                    "give exactly one way to authenticate; got {}",
                    names.join(" and ")
                ),
            );
            None
        }
    }
}

/// Both halves of a credential, or a problem naming the missing one.
fn pair(
    p: &mut Problems,
    (a_var, a): (&'static str, &Option<String>),
    (b_var, b): (&'static str, &Option<String>),
) -> Option<(String, String)> {
    match (a, b) {
        (Some(a), Some(b)) => Some((a.trim().to_string(), b.clone())),
        (Some(_), None) => {
            p.invalid(b_var, format!("is required with {a_var}"));
            None
        }
        (None, Some(_)) => {
            p.invalid(a_var, format!("is required with {b_var}"));
            None
        }
        (None, None) => None,
    }
}

/// Why the directory cannot be uploaded whole, if it cannot: the first entry that goes up but
/// cannot be listed or opened. Checked before any request, so that no app is created for bits
/// that never go up; what `exclude` leaves out is not looked at.
pub(super) fn unreadable_in(
    dir: &std::path::Path,
    excluded: anyhow::Result<ignore::gitignore::Gitignore>,
) -> Option<String> {
    let excluded = match excluded {
        Ok(excluded) => excluded,
        Err(e) => return Some(format!("{e:#}")),
    };
    for entry in crate::files::walk(dir, &excluded) {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let at = e.path().unwrap_or(dir).display().to_string();
                let why = e
                    .io_error()
                    .map_or_else(|| e.to_string(), ToString::to_string);
                return Some(format!("{at} cannot be read: {why}"));
            }
        };
        if entry.file_type().is_file()
            && let Err(e) = std::fs::File::open(entry.path())
        {
            return Some(format!("{} cannot be read: {e}", entry.path().display()));
        }
    }
    None
}

/// Why the file is not a zip archive the platform would take, if it is not.
fn not_a_zip(path: &std::path::Path) -> Option<String> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => return Some(format!("{} cannot be read: {e}", path.display())),
    };
    match zip::ZipArchive::new(std::io::BufReader::new(file)) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "{} ends in .zip but is not a zip archive ({e})",
            path.display()
        )),
    }
}

/// `512`, `512M`, `512MB`, `1G`, `1GB`, `1T` -> megabytes.
pub fn parse_megabytes(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_uppercase();
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    let (number, unit) = t.split_at(digits);
    let number: i64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" | "M" | "MB" => 1,
        "G" | "GB" => 1024,
        "T" | "TB" => 1024 * 1024,
        _ => return None,
    };
    number.checked_mul(factor).filter(|mb| *mb > 0)
}

fn megabytes(var: &'static str, text: &str, p: &mut Problems) -> Option<i64> {
    let mb = parse_megabytes(text);
    if mb.is_none() {
        p.invalid(
            var,
            format!("{text:?} is not a size above 0 (MB, or with unit: 512M, 1G)"),
        );
    }
    mb
}

fn count(var: &'static str, text: &str, p: &mut Problems) -> Option<i64> {
    match text.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Some(n),
        _ => {
            p.invalid(var, format!("{text:?} is not a whole number of 0 or more"));
            None
        }
    }
}

/// A JSON object, or `KEY=VALUE` one a line.
fn environment(text: &str, p: &mut Problems) -> Option<Map<String, Value>> {
    const VAR: &str = "BERTH_ENVIRONMENT";
    if text.trim_start().starts_with('{') {
        return match serde_json::from_str::<Map<String, Value>>(text) {
            Ok(map) => Some(map),
            Err(e) => {
                p.invalid(VAR, format!("is not a valid JSON object: {e}"));
                None
            }
        };
    }
    let mut map = Map::new();
    let mut ok = true;
    for (number, line) in text
        .lines()
        .map(str::trim)
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
    {
        match line.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() && !key.contains(char::is_whitespace) => {
                map.insert(key.trim().to_string(), Value::from(value));
            }
            _ => {
                // Not the line itself: it may hold a secret.
                p.invalid(
                    VAR,
                    format!(
                        "line {} is not KEY=VALUE (or give a JSON object)",
                        number + 1
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_from_cf_oauth_token_is_taken_as_it_is() {
        let vars = [
            ("BERTH_PROVIDER", "cloudfoundry"),
            ("BERTH_API_URL", "https://api.example.com"),
            ("BERTH_API_TOKEN", "bearer eyJhbGciOi.x.y"),
            ("BERTH_SPACE_GUID", "6f0a3d1e-5b7c-4e2a-9f10-2d3c4b5a6e7f"),
            ("BERTH_NAME", "web"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let config = super::super::Config::from_vars(vars).unwrap();
        let super::super::Target::CloudFoundry(cf) = config.target else {
            panic!("not cf")
        };
        assert_eq!(cf.auth, CfAuth::Token(Secret::new("eyJhbGciOi.x.y")));
    }

    #[test]
    fn routes_are_read_one_a_line_or_comma_separated() {
        let mut p = Problems::default();
        assert_eq!(
            routes(
                "shop.apps.example.com/api/, default\ntcp.example.com:1024,https://Shop.apps.example.com/api",
                &mut p
            ),
            [
                RouteSpec::Http {
                    name: "shop.apps.example.com".into(),
                    path: Some("/api".into())
                },
                RouteSpec::Default,
                RouteSpec::Tcp {
                    domain: "tcp.example.com".into(),
                    port: 1024
                },
            ],
            "the same route twice counts once"
        );
        assert!(p.into_list().is_empty());
        for bad in [
            "localhost",
            "a.b:0",
            "a.b:http",
            "a.b:80/x",
            "a..b",
            "a.b/x?y",
        ] {
            let mut p = Problems::default();
            routes(bad, &mut p);
            assert!(!p.into_list().is_empty(), "{bad}");
        }
    }

    #[test]
    fn sizes_take_megabytes_or_a_unit() {
        for (text, mb) in [
            ("512", 512),
            ("512M", 512),
            ("512mb", 512),
            ("1G", 1024),
            ("2GB", 2048),
        ] {
            assert_eq!(parse_megabytes(text), Some(mb), "{text}");
        }
        for text in ["", "0", "-1", "1.5G", "12 parsecs", "G"] {
            assert_eq!(parse_megabytes(text), None, "{text}");
        }
    }
}
