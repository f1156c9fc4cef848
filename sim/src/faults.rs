//! Injected faults ([`Fault`]): what lies between a client and the platform, which requests
//! they strike (seeded draws for a `probability`), and the answers they give instead of the
//! platform's (a proxy's garbage, an echo of the request).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use crate::request::{Reply, Request};

/// Size of the body a [`Fault`] with `garbage: "huge"` answers with: larger than any body a
/// client should read whole.
pub const HUGE_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The kinds of [`Fault::garbage`].
pub const GARBAGE_KINDS: [&str; 4] = ["html", "json", "huge", "missing-fields"];

/// The kinds of [`Fault::echo`].
pub const ECHO_KINDS: [&str; 3] = ["json", "headers", "html"];

/// A canned failure for the next `count` platform requests that match.
///
/// What the platform does: with a `status` (or `garbage`) the request never reaches it and
/// that is the answer; with `status: 0` (no status override, the JSON default) it is processed
/// as usual. How the answer leaves: after `delay_ms`, with the extra `headers`, or not at all
/// when `drop_after_processing` closes the connection instead. Examples as JSON for
/// `POST /__sim/faults`:
///
/// - `{"status": 503, "headers": {"Retry-After": "2"}}`: a busy gateway, once;
/// - `{"status": 307, "headers": {"Location": "https://elsewhere.invalid/"}}`: a redirect;
/// - `{"delay_ms": 3000, "count": 5}`: the platform's answers, 3 s late, five times;
/// - `{"drop_after_processing": true, "method": "POST"}`: the installation is created, then
///   the connection closes without an answer;
/// - `{"garbage": "html"}`: a proxy's 502 page instead of JSON;
/// - `{"echo": "json", "status": 500}`: an error body that repeats the request, secrets and all;
/// - `{"status": 503, "probability": 0.05, "count": 1000}`: about one request in twenty.
#[derive(Clone, Debug, Deserialize)]
pub struct Fault {
    /// HTTP status to answer instead of the platform; 0 for none (the request is processed).
    #[serde(default)]
    pub status: u16,
    /// How many matching requests are faulted; 0 makes the fault inert. Defaults to 1 in JSON.
    #[serde(default = "one")]
    pub count: u32,
    /// Only requests with this method (any case) match; any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Only requests whose path starts with this match; any path when absent.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Raw body to answer instead of the platform's error body for `status`.
    #[serde(default)]
    pub body: Option<String>,
    /// Wait this long before answering (after the platform acted, if it does).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Close the connection instead of answering: the client sees a reset or an incomplete
    /// message although (with `status: 0`) the platform did what was asked.
    #[serde(default)]
    pub drop_after_processing: bool,
    /// Answer one of [`GARBAGE_KINDS`] instead of the platform: `"html"`, a proxy's HTML error
    /// page (`text/html`, `status` or 502); `"json"`, a cut-off JSON body; `"huge"`, a
    /// [`HUGE_BODY_BYTES`] JSON array; `"missing-fields"`, `{}`. The last three are `200`
    /// unless `status` says otherwise, with `application/json`.
    #[serde(default)]
    pub garbage: Option<String>,
    /// Answer with the request echoed back, headers (the token among them) and body (a
    /// password among them), as careless servers do, in one of [`ECHO_KINDS`]: `"json"`, the
    /// platform's own error shape (mittwald's `message`, Cloud Foundry's `description`, UAA's
    /// `error_description`) holding the request as text; `"headers"`, a plain-text dump of
    /// `name: value` lines; `"html"`, a proxy's error page with the request in a `<pre>`.
    /// `status` or 500 (502 for `"html"`).
    #[serde(default)]
    pub echo: Option<String>,
    /// Extra response headers on the faulted answer (replacing ones of the same name), e.g.
    /// `Retry-After`, `X-RateLimit-Reset`, or `Location` with a 3xx `status`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Fault each matching request with this probability (0 to 1) while `count` lasts,
    /// drawing from a generator seeded with [`SimOptions::seed`](crate::SimOptions::seed);
    /// every request when absent.
    #[serde(default)]
    pub probability: Option<f64>,
}

fn one() -> u32 {
    1
}

/// Strikes once (`count` 1, as in JSON), every request, and does nothing yet: set at least a
/// status, a delay, a drop, garbage or headers.
impl Default for Fault {
    fn default() -> Self {
        Self {
            status: 0,
            count: 1,
            method: None,
            path_prefix: None,
            body: None,
            delay_ms: None,
            drop_after_processing: false,
            garbage: None,
            echo: None,
            headers: BTreeMap::new(),
            probability: None,
        }
    }
}

impl Fault {
    /// Why the fault cannot work as given, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.status != 0 && !(100..=599).contains(&self.status) {
            return Some(format!("status {} is not an HTTP status", self.status));
        }
        if let Some(kind) = &self.garbage
            && !GARBAGE_KINDS.contains(&kind.as_str())
        {
            return Some(format!(
                "garbage {kind:?} is not one of {}",
                GARBAGE_KINDS.join(", ")
            ));
        }
        if let Some(kind) = &self.echo
            && !ECHO_KINDS.contains(&kind.as_str())
        {
            return Some(format!(
                "echo {kind:?} is not one of {}",
                ECHO_KINDS.join(", ")
            ));
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Some(format!("probability {p} is not between 0 and 1"));
        }
        for (name, value) in &self.headers {
            if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || hyper::header::HeaderValue::from_str(value).is_err()
            {
                return Some(format!("header {name:?}: {value:?} is not a valid header"));
            }
        }
        let does_something = self.status != 0
            || self.delay_ms.is_some()
            || self.drop_after_processing
            || self.garbage.is_some()
            || self.echo.is_some()
            || !self.headers.is_empty();
        (!does_something).then(|| {
            "a fault needs a status, delay_ms, drop_after_processing, garbage, echo or headers"
                .to_owned()
        })
    }

    pub(crate) fn matches(&self, request: &Request) -> bool {
        self.count > 0
            && self
                .method
                .as_deref()
                .is_none_or(|method| method.eq_ignore_ascii_case(&request.method))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|prefix| request.path.starts_with(prefix))
    }
}

/// The fault's headers on `reply`, each replacing any of the same name.
pub(crate) fn with_fault_headers(mut reply: Reply, fault: Option<&Fault>) -> Reply {
    for (name, value) in fault.map(|fault| &fault.headers).into_iter().flatten() {
        reply
            .headers
            .retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
        reply = reply.with_header(name, value.clone());
    }
    reply
}

/// What a [`Fault::echo`] answers: the request, headers and body, repeated back.
pub(crate) fn echo(kind: &str, status: u16, request: &Request) -> Reply {
    let or = |default: u16| if status == 0 { default } else { status };
    let mut dump = format!("{} {}", request.method, request.path);
    if !request.raw_query.is_empty() {
        dump.push_str(&format!("?{}", request.raw_query));
    }
    for (name, value) in &request.headers {
        dump.push_str(&format!("\n{name}: {value}"));
    }
    dump.push_str(&format!("\n\n{}", String::from_utf8_lossy(&request.body)));
    match kind {
        "headers" => Reply::raw(or(500), dump).with_header("content-type", "text/plain"),
        "html" => Reply::raw(
            or(502),
            format!(
                "<html><head><title>Bad Gateway</title></head><body><h1>Bad Gateway</h1>\
                 <p>The upstream refused this request:</p><pre>{dump}</pre></body></html>"
            ),
        )
        .with_header("content-type", "text/html"),
        _ => {
            let text = format!("cannot process request: {dump}");
            Reply::raw(
                or(500),
                json!({
                    "type": "InternalError",
                    "message": text,
                    "error_code": "CF-ServerError",
                    "description": text,
                    "error": "server_error",
                    "error_description": text,
                })
                .to_string(),
            )
            .with_header("content-type", "application/json")
        }
    }
}

/// What a [`Fault::garbage`] answers; `status` 0 takes the kind's own.
pub(crate) fn garbage(kind: &str, status: u16) -> Reply {
    let or = |default: u16| if status == 0 { default } else { status };
    match kind {
        "html" => {
            let status = or(502);
            let title = match hyper::StatusCode::from_u16(status)
                .ok()
                .and_then(|code| code.canonical_reason())
            {
                Some(reason) => format!("{status} {reason}"),
                None => status.to_string(),
            };
            // nginx's own error page, as a load balancer in front of an API sends it.
            Reply::raw(
                status,
                format!(
                    "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
                ),
            )
            .with_header("content-type", "text/html")
        }
        "json" => Reply::raw(
            or(200),
            r#"{"id":"3f28d4f7-1dc3-43a2-97d3-84ee81e49bcc","phase":"rea"#.to_owned(),
        ),
        "huge" => Reply {
            status: or(200),
            headers: Vec::new(),
            body: Some(huge_body()),
        },
        _ => Reply::raw(or(200), "{}".to_owned()),
    }
}

/// A JSON array of [`HUGE_BODY_BYTES`] or a little more, made once.
fn huge_body() -> Bytes {
    static BODY: OnceLock<Bytes> = OnceLock::new();
    BODY.get_or_init(|| {
        let padding = "x".repeat(1000);
        let mut body = String::with_capacity(HUGE_BODY_BYTES + 2048);
        body.push('[');
        let mut index = 0u64;
        while body.len() < HUGE_BODY_BYTES {
            if index > 0 {
                body.push(',');
            }
            body.push_str(&format!(r#"{{"index":{index},"padding":"{padding}"}}"#));
            index += 1;
        }
        body.push(']');
        Bytes::from(body)
    })
    .clone()
}
