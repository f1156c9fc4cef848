//! The one place requests are sent and retried: the generated clients' `exec` hook and berth's
//! few plain requests (UAA, bits upload) all go through [`send`].
//!
//! What is retried, and why:
//! - a connection that could not be made: nothing reached the server, any request is safe;
//! - 429: the platform refused to process it; wait for `X-RateLimit-Reset` / `Retry-After`;
//! - 502, 503, 504 and timeouts or resets after sending: only requests that are safe to repeat
//!   (GET, HEAD, PUT, DELETE, and berth's PATCHes, which set absolute values). A POST with an
//!   unknown outcome is *not* repeated: the provider looks the resource up instead, so a retry
//!   can never create a duplicate.
//!
//! Every retry stays inside the run's deadline and prints one line saying why.

use super::budget::Budget;
use crate::{ci, outputs::Activity};
use reqwest::{Method, Request, Response, StatusCode, header::HeaderMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub use super::attempts::{Attempts, MAX_ATTEMPTS, backoff};
/// The longest wait for a rate-limit window to end.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// A response body larger than this is not read: no real answer of these APIs comes close.
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;
/// A token given as an input: sent as it is, never renewed; when the platform refuses it, the
/// message names the input.
#[derive(Debug)]
pub struct GivenToken {
    header: reqwest::header::HeaderName,
    value: reqwest::header::HeaderValue,
    refused: String,
}

impl GivenToken {
    /// `value` (the whole header value, `bearer …` where needed) goes in `header`; `refused`
    /// is what to tell the user when the platform answers 401.
    pub fn new(
        header: &'static str,
        value: &crate::config::Secret,
        refused: impl Into<String>,
    ) -> Result<Self, String> {
        let mut value = reqwest::header::HeaderValue::from_str(value.expose())
            .map_err(|_| "the token contains characters that cannot be sent in a header")?;
        value.set_sensitive(true);
        Ok(Self {
            header: reqwest::header::HeaderName::from_static(header),
            value,
            refused: refused.into(),
        })
    }
}

impl Credentials for GivenToken {
    fn header(
        &self,
    ) -> CredentialsFuture<'_, (reqwest::header::HeaderName, reqwest::header::HeaderValue)> {
        Box::pin(std::future::ready((
            self.header.clone(),
            self.value.clone(),
        )))
    }
    fn renew(&self) -> CredentialsFuture<'_, Result<(), String>> {
        Box::pin(std::future::ready(Err(self.refused.clone())))
    }
}

/// A request's own time limit when nothing shorter applies (the run's time left may be).
pub use crate::http::REQUEST_TIMEOUT;
/// Marks a response berth made up itself because the real one could not be used.
pub const SYNTHETIC_HEADER: &str = "x-berth-error";

/// What the generated clients carry along: the run's deadline, the rate-limit budget every
/// response updates and every wait paces itself by, where to note the request in flight, and
/// the credentials when they can change during the run.
#[derive(Debug, Clone)]
pub struct Policy {
    /// No request starts, and no request or retry pause lasts, past this.
    pub deadline: Instant,
    /// The platform's last word on its rate limit.
    pub budget: Arc<Budget>,
    /// What the run is doing: each request notes itself here.
    pub activity: Activity,
    /// A token that expires: set on every request, renewed ahead of expiry and once on a 401.
    pub credentials: Option<Arc<dyn Credentials>>,
}

impl Policy {
    /// A policy with this deadline, a budget not known yet, and activity noted in `activity`.
    pub fn until(deadline: Instant, activity: Activity) -> Self {
        Self {
            deadline,
            budget: Arc::default(),
            activity,
            credentials: None,
        }
    }

    /// The same policy (the budget shared), sending these credentials.
    pub fn with_credentials(&self, credentials: Arc<dyn Credentials>) -> Self {
        Self {
            credentials: Some(credentials),
            ..self.clone()
        }
    }
}

/// A future the credentials answer with.
pub type CredentialsFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An access token that may expire during the run (UAA's live 10 to 20 minutes on many
/// foundations, less than staging and start-up may take).
pub trait Credentials: std::fmt::Debug + Send + Sync {
    /// The header that carries the token, and its value now (renewed first when it is about to
    /// expire).
    fn header(
        &self,
    ) -> CredentialsFuture<'_, (reqwest::header::HeaderName, reqwest::header::HeaderValue)>;
    /// The platform refused the token (401): get a new one. `Err` says why none can be had,
    /// in words for the user (a token given as an input cannot be renewed).
    fn renew(&self) -> CredentialsFuture<'_, Result<(), String>>;
}

/// Sends `request`, retrying as described in the module docs, and reads the body (bounded).
pub async fn send(
    http: &reqwest::Client,
    request: Request,
    policy: &Policy,
) -> reqwest::Result<Response> {
    let method = request.method().clone();
    let what = format!("{method} {}", request.url().path());
    let repeatable = matches!(
        method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::PATCH
    );
    let mut spare = request.try_clone();
    let mut current = request;
    let mut attempts = Attempts::new(what.clone(), policy.deadline);
    let mut renewed = false;
    loop {
        // No request starts after the run's deadline, and none outlives it.
        let left = policy.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(synthetic(
                StatusCode::GATEWAY_TIMEOUT,
                &format!("{what} was not sent: the run's time limit was reached"),
            ));
        }
        let timeout = current.timeout().copied().unwrap_or(REQUEST_TIMEOUT);
        *current.timeout_mut() = Some(timeout.min(left));
        policy.activity.set(what.as_str());
        if let Some(credentials) = &policy.credentials {
            let (name, mut value) = credentials.header().await;
            value.set_sensitive(true);
            current.headers_mut().insert(name, value);
        }
        let outcome = http.execute(current).await;
        if let Ok(response) = &outcome {
            policy.budget.observe(response.headers());
        }
        // A token that expired (or was revoked) early: renew it once and send again.
        if let (Ok(response), Some(credentials)) = (&outcome, &policy.credentials)
            && response.status() == StatusCode::UNAUTHORIZED
            && !renewed
        {
            renewed = true;
            match credentials.renew().await {
                Ok(()) => {
                    if let Some(next) = spare.take() {
                        ci::info(format_args!(
                            "{what}: the token was refused (401); sending again with a new one"
                        ));
                        spare = next.try_clone();
                        current = next;
                        continue;
                    }
                }
                Err(why) => {
                    let said = match outcome {
                        Ok(response) => super::ApiError::from_response(response).await,
                        Err(e) => return Err(e),
                    };
                    return Ok(synthetic(
                        StatusCode::UNAUTHORIZED,
                        &format!("{why} (the platform said: {said})"),
                    ));
                }
            }
        }
        let (why, wait) = match &outcome {
            Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => (
                "429 Too Many Requests".to_string(),
                rate_limit_wait(response.headers()),
            ),
            Ok(response) if repeatable && is_busy(response.status()) => {
                (response.status().to_string(), None)
            }
            Ok(_) => return bounded(outcome?).await,
            // A certificate problem does not go away by asking again.
            Err(e) if is_certificate_problem(e) => return outcome,
            // Refused before anything was sent: safe for every method.
            Err(e) if e.is_connect() => (format!("connection failed ({})", root_cause(e)), None),
            Err(e) if repeatable && (e.is_timeout() || e.is_request() || e.is_body()) => {
                (format!("no complete answer ({})", root_cause(e)), None)
            }
            Err(_) => return outcome,
        };
        let Some(next) = spare.take() else {
            return outcome;
        };
        if !attempts.pause(why, wait).await {
            return match outcome {
                Ok(response) => bounded(response).await,
                Err(e) => Err(e),
            };
        }
        spare = next.try_clone();
        current = next;
    }
}

fn is_busy(status: StatusCode) -> bool {
    matches!(status.as_u16(), 502..=504)
}

/// mittwald's `X-RateLimit-Reset` (seconds until the window ends) or a `Retry-After` in seconds.
fn rate_limit_wait(headers: &HeaderMap) -> Option<Duration> {
    ["retry-after", "x-ratelimit-reset"]
        .iter()
        .find_map(|name| {
            let secs: f64 = headers.get(*name)?.to_str().ok()?.trim().parse().ok()?;
            (secs.is_finite() && secs >= 0.0)
                .then(|| Duration::from_secs_f64(secs).min(MAX_RATE_LIMIT_WAIT))
        })
}

/// Reads the body up to [`BODY_LIMIT`] and hands the response on; a longer body is replaced by
/// a marked error answer (see [`synthetic_error`]), so nothing downstream reads without bound.
async fn bounded(mut response: Response) -> reqwest::Result<Response> {
    if response
        .content_length()
        .is_some_and(|n| n as usize > BODY_LIMIT)
    {
        return Ok(too_large(&response));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > BODY_LIMIT {
            return Ok(too_large(&response));
        }
    }
    let mut rebuilt = http_response(response.status(), response.headers().clone(), body);
    *rebuilt.version_mut() = response.version();
    Ok(Response::from(rebuilt))
}

fn too_large(original: &Response) -> Response {
    let message = format!(
        "the answer to {} is larger than {} MiB; berth stopped reading it",
        original.url().path(),
        BODY_LIMIT / 1024 / 1024
    );
    synthetic(original.status(), &message)
}

/// An answer berth makes up itself, carrying `message` (see [`synthetic_error`]).
fn synthetic(status: StatusCode, message: &str) -> Response {
    let mut headers = HeaderMap::new();
    // A header holds visible ASCII only; the message is for people, so `?` will do. Scrubbed
    // first: a secret with a replaced character would no longer be known.
    let message: String = crate::redact::scrub(message)
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if let Ok(value) = message.parse() {
        headers.insert(SYNTHETIC_HEADER, value);
    }
    Response::from(http_response(status, headers, Vec::new()))
}

fn http_response(status: StatusCode, headers: HeaderMap, body: Vec<u8>) -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The message of a response berth made up (an oversized body), if this is one.
pub fn synthetic_error(response: &Response) -> Option<String> {
    Some(
        response
            .headers()
            .get(SYNTHETIC_HEADER)?
            .to_str()
            .ok()?
            .to_string(),
    )
}

/// Whether TLS refused the server's certificate (rustls says "invalid peer certificate").
pub fn is_certificate_problem(e: &(dyn std::error::Error + 'static)) -> bool {
    super::causes(e).any(|c| c.to_string().to_ascii_lowercase().contains("certificate"))
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    super::causes(e)
        .last()
        .map(ToString::to_string)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_headers_tell_how_long_to_wait() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-reset", "3".parse().unwrap());
        assert_eq!(rate_limit_wait(&headers), Some(Duration::from_secs(3)));
        headers.insert("retry-after", "1.5".parse().unwrap());
        assert_eq!(rate_limit_wait(&headers), Some(Duration::from_millis(1500)));
        headers.insert("retry-after", "3600".parse().unwrap());
        assert_eq!(rate_limit_wait(&headers), Some(MAX_RATE_LIMIT_WAIT));
    }
}
