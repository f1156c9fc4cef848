//! The generated API clients, and turning their errors into one clear line for the user.
//! Only this module touches the generated code's modules.

pub mod cloudfoundry;
pub mod mittwald;
pub mod retry;

pub use retry::Policy;

use std::fmt;

/// How much of an error body is read: enough for any real error, bounded against a proxy that
/// answers with something enormous.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A failed API call, as the user should read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The platform's error type or code (`ValidationError`, `CF-AppNameTaken`), when it said one.
    pub kind: Option<String>,
    /// The platform's message, or what went wrong on the way.
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(status) = self.status {
            write!(f, "HTTP {status}")?;
            if let Some(kind) = &self.kind {
                write!(f, " {kind}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// Reads what the generated client reported, including the body of an error response.
    pub async fn from_client(error: progenitor_client::Error<()>) -> Self {
        use progenitor_client::Error as E;
        match error {
            E::UnexpectedResponse(response) => Self::from_response(response).await,
            E::CommunicationError(e) => {
                let hint = if retry::is_certificate_problem(&e) {
                    "; if the server's certificate comes from a private CA, give that CA's \
                     certificate in BERTH_CA_CERT"
                } else {
                    ""
                };
                Self {
                    status: e.status().map(|s| s.as_u16()),
                    kind: None,
                    message: format!("could not reach the API: {}{hint}", chain(&e)),
                }
            }
            E::InvalidResponsePayload(body, e) => Self {
                status: None,
                kind: None,
                message: format!(
                    "the API answered with a body berth cannot read ({e}): {}",
                    excerpt(&body)
                ),
            },
            E::Custom(message) => Self {
                status: None,
                kind: None,
                message,
            },
            other => Self {
                status: other.status().map(|s| s.as_u16()),
                kind: None,
                message: other.to_string(),
            },
        }
    }

    /// An error response: the platform's `{type, message, validationErrors}` (mittwald) or
    /// `{description, error_code}` (Cloud Foundry) or `{error, error_description}` (UAA), or an
    /// excerpt of whatever else came back (a proxy's HTML page, say).
    pub async fn from_response(mut response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        if response.status().is_redirection() {
            let to = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("another address");
            return Self {
                status: Some(status),
                kind: None,
                message: format!(
                    "the API redirected to {to}; berth follows redirects only within the same \
                     host, so that the token is never sent elsewhere: check BERTH_API_URL"
                ),
            };
        }
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() >= ERROR_BODY_LIMIT {
                body.truncate(ERROR_BODY_LIMIT);
                break;
            }
        }
        Self::from_body(status, &body)
    }

    /// An error response's status and body, read.
    pub fn from_body(status: u16, body: &[u8]) -> Self {
        let (kind, message) = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(json) => describe_json(&json).unwrap_or_else(|| (None, excerpt(body))),
            Err(_) => (None, excerpt(body)),
        };
        let message = if message.is_empty() {
            reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("no message")
                .to_string()
        } else {
            message
        };
        Self {
            status: Some(status),
            kind,
            message,
        }
    }
}

/// Sends a generated client's request, prints the platform's warnings, and turns a failure into
/// an [`ApiError`] the user can read.
pub async fn call<T>(
    request: impl Future<
        Output = Result<progenitor_client::ResponseValue<T>, progenitor_client::Error<()>>,
    >,
) -> Result<T, ApiError> {
    match request.await {
        Ok(response) => {
            print_warnings(response.headers());
            Ok(response.into_inner())
        }
        Err(progenitor_client::Error::UnexpectedResponse(response)) => {
            print_warnings(response.headers());
            Err(ApiError::from_response(response).await)
        }
        Err(e) => Err(ApiError::from_client(e).await),
    }
}

/// `X-Cf-Warnings`: comma-separated, each URL-encoded.
pub fn print_warnings(headers: &reqwest::header::HeaderMap) {
    for value in headers.get_all("x-cf-warnings") {
        for warning in value
            .to_str()
            .unwrap_or_default()
            .split(',')
            .filter(|w| !w.is_empty())
        {
            let text = warning.replace('+', " ");
            crate::ci::warn(format_args!(
                "Cloud Foundry: {}",
                percent_encoding::percent_decode_str(&text).decode_utf8_lossy()
            ));
        }
    }
}

/// Prints a request a dry run would have sent. The caller has replaced secret values (password
/// inputs, environment values) with `***` in `body` already.
pub fn print_plan(method: &str, path: &str, body: &serde_json::Value) {
    let body = serde_json::to_string_pretty(body).unwrap_or_default();
    crate::ci::info(format_args!("dry run: would send {method} {path}\n{body}"));
}

/// What replaces a secret value in anything berth prints.
pub const REDACTED: &str = "***";

/// The generated clients' `post` hook: a response berth replaced (an oversized body) becomes
/// an error with its own message instead of a confusing parse failure.
#[allow(
    clippy::result_large_err,
    reason = "the signature is progenitor's hook's"
)]
fn check<E>(
    result: &reqwest::Result<reqwest::Response>,
) -> Result<(), progenitor_client::Error<E>> {
    match result.as_ref().ok().and_then(retry::synthetic_error) {
        Some(message) => Err(progenitor_client::Error::Custom(message)),
        None => Ok(()),
    }
}

fn describe_json(json: &serde_json::Value) -> Option<(Option<String>, String)> {
    let text = |key: &str| json.get(key).and_then(|v| v.as_str()).map(str::to_string);
    if let Some(message) = text("message") {
        let mut message = message;
        if let Some(list) = json.get("validationErrors").and_then(|v| v.as_array()) {
            for v in list {
                let path = v.get("path").and_then(|p| p.as_str()).unwrap_or("");
                let m = v.get("message").and_then(|p| p.as_str()).unwrap_or("");
                message.push_str(&format!("; {path}: {m}"));
            }
        }
        return Some((text("type"), message));
    }
    if let Some(description) = text("description") {
        return Some((text("error_code"), description));
    }
    if let Some(error) = text("error") {
        return Some((
            Some(error.clone()),
            text("error_description").unwrap_or(error),
        ));
    }
    None
}

/// The start of a body, on one line, for messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
