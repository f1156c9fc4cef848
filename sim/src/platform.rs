//! A platform request's way through the simulator: recorded, counted against the rate limit,
//! faulted, then answered by the platform that owns its path.

use std::time::{Duration, Instant};

use crate::faults::{echo, garbage, with_fault_headers};
use crate::request::{Reply, Request};
use crate::state::{Shared, State};
use crate::{cloudfoundry, mittwald};

/// A platform request's answer and how it leaves.
pub(crate) struct Outcome {
    pub(crate) reply: Reply,
    pub(crate) delay: Option<Duration>,
    pub(crate) drop: bool,
}

/// Answers a platform request (anything outside the control API).
pub(crate) fn platform(shared: &Shared, request: &Request, too_large: bool) -> Outcome {
    let now = Instant::now();
    let mut state = shared.lock();
    state.record(request);
    let limit = state.options.rate_limit;
    let window = state.options.rate_window;
    let verdict = state.rate.admit(limit, window, now);
    // Faults come first: a test that injects one wants exactly that answer.
    let fault = state.take_fault(request);
    let outcome = |reply: Reply| Outcome {
        reply,
        delay: fault
            .as_ref()
            .and_then(|fault| fault.delay_ms)
            .map(Duration::from_millis),
        drop: fault
            .as_ref()
            .is_some_and(|fault| fault.drop_after_processing),
    };
    if let Some(kind) = fault.as_ref().and_then(|fault| fault.garbage.as_deref()) {
        // Something in between answered: none of the platform's headers.
        let reply = garbage(kind, fault.as_ref().map_or(0, |fault| fault.status));
        return outcome(with_fault_headers(reply, fault.as_ref()));
    }
    if let Some(kind) = fault.as_ref().and_then(|fault| fault.echo.as_deref()) {
        let reply = echo(
            kind,
            fault.as_ref().map_or(0, |fault| fault.status),
            request,
        );
        return outcome(with_fault_headers(reply, fault.as_ref()));
    }
    let mut reply = match &fault {
        Some(fault) if fault.status != 0 => match &fault.body {
            Some(body) => Reply::raw(fault.status, body.clone()),
            None => platform_error(request, fault.status),
        },
        _ if !verdict.allowed => platform_error(request, 429),
        _ if too_large && cloudfoundry::is_package_upload(request) => {
            cloudfoundry::package_too_large()
        }
        _ if too_large => platform_error(request, 413),
        _ => {
            let base_url = match request.header("host") {
                Some(host) if !host.is_empty() => format!("{}://{host}", shared.scheme()),
                _ => shared_url(shared),
            };
            dispatch(&mut state, request, now, &base_url)
        }
    };
    for (name, value) in verdict.headers {
        reply = reply.with_header(name, value);
    }
    if cloudfoundry::is_cloud_controller(request) {
        reply = reply.with_header("x-vcap-request-id", uuid::Uuid::new_v4().to_string());
        if let Some(warnings) = &state.options.cf_warnings {
            let encoded = cloudfoundry::encode_warnings(warnings);
            if !encoded.is_empty() {
                reply = reply.with_header("x-cf-warnings", encoded);
            }
        }
    }
    let mut out = outcome(with_fault_headers(reply, fault.as_ref()));
    // log-cache out of order with connection resets: the request never gets an answer.
    if cloudfoundry::is_log_cache(request)
        && state.options.cf_log_cache_outage == Some(crate::options::LogCacheOutage::Reset)
    {
        out.drop = true;
    }
    out
}

fn shared_url(shared: &Shared) -> String {
    format!("{}://{}", shared.scheme(), shared.addr)
}

/// Routes a platform request to the simulated platform that owns its path; `base_url` is the
/// simulator as the client reached it, for the absolute URLs of discovery documents.
fn dispatch(state: &mut State, request: &Request, now: Instant, base_url: &str) -> Reply {
    let State {
        options,
        mittwald,
        cloudfoundry,
        ..
    } = state;
    if let Some(reply) = cloudfoundry.handle(options, request, now, base_url) {
        return reply;
    }
    if let Some(reply) = mittwald.handle(options, request, now) {
        return reply;
    }
    mittwald::error(404, "NotFoundError", "route not found")
}

/// The error body the platform owning `request`'s path answers with for `status`.
fn platform_error(request: &Request, status: u16) -> Reply {
    if cloudfoundry::is_cloud_controller(request) {
        let v3 = request
            .segments
            .get(1)
            .is_some_and(|segment| segment == "v3");
        cloudfoundry::cf_error_for_status(status, v3)
    } else if cloudfoundry::is_uaa(request) {
        cloudfoundry::uaa_error_for_status(status)
    } else {
        mittwald::error_for_status(status)
    }
}
