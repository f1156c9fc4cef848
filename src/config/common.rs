//! The settings every provider shares: the provider itself, the API URL, waiting, what to do
//! with an existing app, dry runs, TLS, and where outputs go.

use super::{MITTWALD_API_URL, Problems, Provider, Raw, Sinks, parse_duration};
use std::{collections::BTreeMap, path::PathBuf, time::Duration};

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

/// Waits longer than this are surely a mistake (and would overflow the clock).
pub const MAX_WAIT_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// `BERTH_PROVIDER`, required; `None` (with a problem) when missing or unknown.
pub(super) fn provider(raw: &Raw, p: &mut Problems) -> Option<Provider> {
    match p
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
    }
}

/// The shared settings; the API URL's default depends on the provider.
pub(super) fn parse(raw: &Raw, provider: Option<Provider>, p: &mut Problems) -> Common {
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

/// Where outputs go: `BERTH_DOTENV`, and the CI's own files found in `vars`.
pub(super) fn sinks(raw: &Raw, vars: &BTreeMap<String, String>, p: &mut Problems) -> Sinks {
    Sinks {
        dotenv: raw.dotenv.as_deref().map(|d| dotenv_path(d, p)),
        ..Sinks::from_vars(vars.clone())
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
