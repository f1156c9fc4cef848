//! The simulator's state behind one lock: the options, the request recorder, the faults, the
//! rate window and each platform's state.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::faults::Fault;
use crate::options::SimOptions;
use crate::rate::RateWindow;
use crate::request::Request;
use crate::{cloudfoundry, mittwald};

/// Recorded requests beyond this many push out the oldest, so a long `berth sim` stays bounded.
pub const MAX_RECORDED_REQUESTS: usize = 100_000;

/// One platform request as the simulator received it (control API requests are not recorded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// Path as sent, without the query.
    pub path: String,
    /// Raw query string without `?`; empty when there was none.
    pub query: String,
    /// Headers with lower-case names; repeated headers are joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// Body as text (invalid UTF-8 replaced); empty when the body was refused as too large.
    pub body: String,
}

/// What the server's tasks and every [`SimHandle`](crate::SimHandle) share.
pub(crate) struct Shared {
    pub(crate) addr: SocketAddr,
    pub(crate) log_requests: bool,
    pub(crate) tls: bool,
    pub(crate) state: Mutex<State>,
    /// The simulated mittwald SSH endpoint: its address, host key, files and record.
    pub(crate) ssh: crate::ssh::SshShared,
}

impl Shared {
    pub(crate) fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Everything that changes, behind [`Shared`]'s one lock: a request is answered whole
/// under it, so the platforms never see each other half-way.
pub(crate) struct State {
    pub(crate) options: SimOptions,
    pub(crate) requests: VecDeque<RecordedRequest>,
    pub(crate) requests_received: u64,
    pub(crate) faults: Vec<Fault>,
    pub(crate) faults_injected: u64,
    pub(crate) random: fastrand::Rng,
    pub(crate) rate: RateWindow,
    pub(crate) mittwald: mittwald::Mittwald,
    pub(crate) cloudfoundry: cloudfoundry::CloudFoundry,
}

impl State {
    pub(crate) fn new(options: SimOptions) -> Self {
        Self {
            random: fastrand::Rng::with_seed(options.seed),
            options,
            requests: VecDeque::new(),
            requests_received: 0,
            faults: Vec::new(),
            faults_injected: 0,
            rate: RateWindow {
                started: Instant::now(),
                used: 0,
            },
            mittwald: mittwald::Mittwald::default(),
            cloudfoundry: cloudfoundry::CloudFoundry::default(),
        }
    }

    pub(crate) fn record(&mut self, request: &Request) {
        self.requests_received += 1;
        if self.requests.len() >= MAX_RECORDED_REQUESTS {
            self.requests.pop_front();
        }
        self.requests.push_back(RecordedRequest {
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.raw_query.clone(),
            headers: request.headers.clone(),
            body: String::from_utf8_lossy(&request.body).into_owned(),
        });
    }

    /// Takes one use of the first matching fault that strikes, if any. A fault with a
    /// probability draws once per matching request; when it spares one, later faults may
    /// still strike.
    pub(crate) fn take_fault(&mut self, request: &Request) -> Option<Fault> {
        let Self { faults, random, .. } = self;
        let fault = faults.iter_mut().find(|fault| {
            fault.matches(request)
                && fault
                    .probability
                    .is_none_or(|probability| random.f64() < probability)
        })?;
        fault.count -= 1;
        let taken = fault.clone();
        self.faults.retain(|fault| fault.count > 0);
        self.faults_injected += 1;
        Some(taken)
    }
}
