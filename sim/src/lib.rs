//! The platform simulator behind `berth sim`, `berth demo` and the tests.
//!
//! One HTTP/1 server answers the platforms' routes (mittwald mStudio API v2 at the root, see
//! [`mittwald`]; Cloud Foundry's Cloud Controller v2 under `/cf` and its UAA under `/uaa`, see
//! [`cloudfoundry`]) and a control API under `/__sim/`. This crate owns what every simulated
//! platform shares: the server, the request recorder, injected faults, rate limiting and the
//! control API; each platform lives in its own module and only turns a `Request` into a
//! `Reply`.
//!
//! The simulator shares no code with berth's own provider flows on purpose: a shared
//! misunderstanding of the platform would otherwise pass every test. That is why it is a crate
//! of its own that depends on nothing of berth: the compiler keeps the rule.
//!
//! Injected [`Fault`]s stand for what lies between a client and the platform: a busy gateway
//! (a status, `Retry-After`), a slow network (`delay_ms`), a connection lost after the platform
//! acted (`drop_after_processing`), a proxy's HTML page or a broken body (`garbage`), and a
//! few of each at random (`probability`, seeded by [`SimOptions::seed`]). [`serve_tls`] serves
//! the same over HTTPS.

pub mod cloudfoundry;
pub mod mittwald;
mod tls;

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

/// The API token the simulator accepts unless [`SimOptions::token`] says otherwise.
pub const DEFAULT_TOKEN: &str = "sim-token";

/// Recorded requests beyond this many push out the oldest, so a long `berth sim` stays bounded.
pub const MAX_RECORDED_REQUESTS: usize = 100_000;

/// Request bodies larger than this are refused with 413 (and recorded without their body).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Prefix of the control API; requests under it need no token and are not recorded.
const CONTROL_PREFIX: &str = "/__sim/";

/// [`SimOptions::seed`] unless given: the same faults hit the same requests on every run.
pub const DEFAULT_SEED: u64 = 0x6265_7274_6873_696d;

/// Size of the body a [`Fault`] with `garbage: "huge"` answers with: larger than any body a
/// client should read whole.
pub const HUGE_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The kinds of [`Fault::garbage`].
pub const GARBAGE_KINDS: [&str; 4] = ["html", "json", "huge", "missing-fields"];

/// The kinds of [`Fault::echo`].
pub const ECHO_KINDS: [&str; 3] = ["json", "headers", "html"];

/// How the simulated platform behaves. Change it while running with [`SimHandle::set_options`]
/// or `PATCH /__sim/options`.
///
/// As JSON (the control API's `/__sim/options`), durations are whole milliseconds under their
/// name with `_ms` appended (`time_to_ready_ms`), so any language can send them; keys left out
/// take the default.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimOptions {
    /// The accepted API token (`X-Access-Token: …` or `Authorization: Bearer …`).
    pub token: String,
    /// How long a new installation, or one changed by an upgrading or reconfiguring PATCH,
    /// takes to become ready. Zero means ready at once.
    #[serde(rename = "time_to_ready_ms", with = "millis")]
    pub time_to_ready: Duration,
    /// Phases a new installation shows before `ready`, each for an equal share of
    /// `time_to_ready`.
    pub phases: Vec<String>,
    /// After a write, a GET of that installation without an `if-event-reached` header answers
    /// 404 for this long, like the real platform's eventual consistency.
    #[serde(rename = "consistency_delay_ms", with = "millis")]
    pub consistency_delay: Duration,
    /// mittwald: the installation list answers at most this many per page (at least 1),
    /// whatever `limit` asks for, and says so in `X-Pagination-Limit`, as an API whose
    /// largest page is smaller than a client's request does. `None`: `limit` is taken as asked.
    pub installation_page_cap: Option<usize>,
    /// mittwald: the installation list leaves `X-Pagination-TotalCount` out (a gateway that
    /// drops it), so a client learns the end of the list only from a short or empty page.
    pub installation_total_hidden: bool,
    /// Requests allowed per window (`X-RateLimit-Limit`).
    pub rate_limit: u32,
    /// Length of one rate-limit window.
    #[serde(rename = "rate_window_ms", with = "millis")]
    pub rate_window: Duration,
    /// Cloud Foundry: `(username, password)` pairs UAA's password grant accepts (with the cf CLI's
    /// client `cf` and its empty secret, or any of `cf_clients`).
    #[serde(deserialize_with = "deserialize_credentials")]
    pub cf_users: Vec<(String, String)>,
    /// Cloud Foundry: `(client_id, client_secret)` pairs UAA's client-credentials grant accepts.
    /// [`SimOptions::token`] is accepted as a Cloud Controller bearer token too.
    #[serde(deserialize_with = "deserialize_credentials")]
    pub cf_clients: Vec<(String, String)>,
    /// Cloud Foundry: how long staging takes once an app is started (`package_state` PENDING,
    /// then STAGED or FAILED).
    #[serde(rename = "cf_staging_time_ms", with = "millis")]
    pub cf_staging_time: Duration,
    /// Cloud Foundry: how long instances stay STARTING after staging before they are RUNNING
    /// (or CRASHED).
    #[serde(rename = "cf_startup_time_ms", with = "millis")]
    pub cf_startup_time: Duration,
    /// Cloud Foundry: how long a bits upload job takes (queued for the first half, then
    /// running, then finished or failed).
    #[serde(rename = "cf_job_time_ms", with = "millis")]
    pub cf_job_time: Duration,
    /// Cloud Foundry: how long a token UAA issues is accepted (its `expires_in`); after that the
    /// Cloud Controller answers 401 `CF-InvalidAuthToken`, as for a token that expired.
    #[serde(rename = "cf_token_lifetime_ms", with = "millis")]
    pub cf_token_lifetime: Duration,
    /// Cloud Foundry: staging ends FAILED with `staging_failed_reason` `StagingError`.
    pub cf_staging_fails: bool,
    /// Cloud Foundry: instances end CRASHED instead of RUNNING.
    pub cf_crashes: bool,
    /// Cloud Foundry: v2 is switched off, as by default since CAPI 1.201.0: `/v2/info` answers
    /// with an empty `api_version`, every other `/v2/*` route 404 "V2 endpoints disabled".
    pub cf_v2_disabled: bool,
    /// Cloud Foundry: app lists answer at most this many results per page (at least 1),
    /// whatever `results-per-page` asks for; `total_pages`, `next_url` and `prev_url` follow
    /// the smaller page, as the Cloud Controller writes them. `None`: as asked (up to 100).
    pub cf_page_cap: Option<usize>,
    /// Cloud Foundry: app lists ignore their `q` filters and list apps of every name and space
    /// (still validated, and kept in `next_url`), as a misbehaving proxy or an older Cloud
    /// Controller might: a client has to check what it was given.
    pub cf_list_ignores_filters: bool,
    /// Cloud Foundry: every Cloud Controller response carries this in `X-Cf-Warnings`
    /// (form-encoded; each line one warning, comma-separated like the platform does).
    pub cf_warnings: Option<String>,
    /// Seed of the random draws of faults with a [`Fault::probability`]: one seed, one
    /// sequence of faulted requests.
    pub seed: u64,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            token: DEFAULT_TOKEN.to_owned(),
            time_to_ready: Duration::from_secs(3),
            phases: vec!["pending".to_owned(), "installing".to_owned()],
            consistency_delay: Duration::from_secs(1),
            installation_page_cap: None,
            installation_total_hidden: false,
            rate_limit: 600,
            rate_window: Duration::from_secs(60),
            cf_users: vec![(
                cloudfoundry::DEFAULT_CF_USER.to_owned(),
                cloudfoundry::DEFAULT_CF_PASSWORD.to_owned(),
            )],
            cf_clients: vec![(
                cloudfoundry::DEFAULT_CF_CLIENT.to_owned(),
                cloudfoundry::DEFAULT_CF_CLIENT_SECRET.to_owned(),
            )],
            cf_staging_time: Duration::from_secs(2),
            cf_startup_time: Duration::from_secs(1),
            cf_job_time: Duration::from_millis(300),
            // UAA's default: 12 hours less a second.
            cf_token_lifetime: Duration::from_secs(43_199),
            cf_staging_fails: false,
            cf_crashes: false,
            cf_v2_disabled: false,
            cf_page_cap: None,
            cf_list_ignores_filters: false,
            cf_warnings: None,
            seed: DEFAULT_SEED,
        }
    }
}

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
    /// drawing from a generator seeded with [`SimOptions::seed`]; every request when absent.
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

    fn matches(&self, request: &Request) -> bool {
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

/// An installation to place straight into the simulator's state, bypassing validation and the
/// consistency delay (it is visible at once).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SeedInstallation {
    /// Project id, a UUID or a short id `p-xxxxxx` (a new short id stands for a project with a
    /// new UUID); the installation's `projectId` is always the project's UUID.
    pub project_id: String,
    /// App id; must be one the simulator knows (see the constants in [`mittwald`]).
    pub app_id: String,
    /// Version id; must belong to `app_id`.
    pub app_version_id: String,
    /// The installation's description.
    pub description: String,
    /// User inputs as `(name, value)`; the version's defaults fill in the rest. JSON accepts
    /// `[{"name": .., "value": ..}]` as well as `[[name, value]]`.
    #[serde(default, deserialize_with = "deserialize_user_inputs")]
    pub user_inputs: Vec<(String, String)>,
    /// Phase to start in; `ready` when absent. `disabled` stays so for good; any other
    /// non-ready phase turns `ready` after the `time_to_ready` in force when seeding.
    #[serde(default)]
    pub phase: Option<String>,
    /// `none` when absent.
    #[serde(default)]
    pub update_policy: Option<String>,
    /// `customDocumentRoot`, e.g. `/public`; absent from the body when not set.
    #[serde(default)]
    pub custom_document_root: Option<String>,
}

fn deserialize_user_inputs<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<(String, String)>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Input {
        Pair(String, String),
        Named { name: String, value: String },
    }
    let inputs = Vec::<Input>::deserialize(deserializer)?;
    Ok(inputs
        .into_iter()
        .map(|input| match input {
            Input::Pair(name, value) | Input::Named { name, value } => (name, value),
        })
        .collect())
}

/// A cheap, cloneable handle on a running simulator.
#[derive(Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// Base URL, `http://127.0.0.1:PORT`, or `https://127.0.0.1:PORT` when serving TLS (no
    /// trailing slash).
    pub fn url(&self) -> String {
        format!("{}://{}", self.shared.scheme(), self.shared.addr)
    }

    /// The Cloud Foundry API base URL, `{url}/cf`: what a client targets
    /// (`GET {cf_url}/v2/info`, `{cf_url}/v2/apps`, ...).
    pub fn cf_url(&self) -> String {
        format!("{}{}", self.url(), cloudfoundry::CF_PREFIX)
    }

    /// The UAA base URL, `{url}/uaa` (tokens from `{uaa_url}/oauth/token`).
    pub fn uaa_url(&self) -> String {
        format!("{}{}", self.url(), cloudfoundry::UAA_PREFIX)
    }

    /// Every platform request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.iter().cloned().collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Adds a fault; faults are consulted in the order they were injected.
    ///
    /// # Panics
    /// When [`Fault::problem`] finds one: a test injecting it is broken.
    pub fn inject(&self, fault: Fault) {
        if let Some(problem) = fault.problem() {
            panic!("inject: {problem}");
        }
        self.shared.lock().faults.push(fault);
    }

    /// How many requests a fault has hit so far.
    pub fn faults_injected(&self) -> u64 {
        self.shared.lock().faults_injected
    }

    /// How many platform requests arrived so far (control API requests not counted), also
    /// beyond [`MAX_RECORDED_REQUESTS`].
    pub fn requests_received(&self) -> u64 {
        self.shared.lock().requests_received
    }

    /// Changes the options in place; installations already changing keep the timing they
    /// started with. A new [`SimOptions::seed`] restarts the random draws.
    pub fn set_options(&self, f: impl FnOnce(&mut SimOptions)) {
        let mut state = self.shared.lock();
        let seed = state.options.seed;
        f(&mut state.options);
        if state.options.seed != seed {
            state.random = SplitMix64(state.options.seed);
        }
    }

    /// Places an installation into the state and returns its id.
    ///
    /// # Panics
    /// When the app or version is unknown to the simulator: a test seeding one is broken.
    pub fn seed_installation(&self, seed: SeedInstallation) -> String {
        let mut state = self.shared.lock();
        let State {
            options, mittwald, ..
        } = &mut *state;
        match mittwald.seed(options, Instant::now(), seed) {
            Ok(id) => id,
            Err(message) => panic!("seed_installation: {message}"),
        }
    }

    /// Current installation bodies as `GET /v2/app-installations/{id}` would return them
    /// (ignoring the consistency delay).
    pub fn installations(&self) -> Vec<Value> {
        self.shared
            .lock()
            .mittwald
            .installation_bodies(Instant::now())
    }

    /// Current Cloud Foundry apps as `GET /cf/v2/apps/{guid}` would return them, each with an
    /// extra `_bits`: `{"bytes": n, "files": [...]}` of the last upload, or null.
    pub fn cf_apps(&self) -> Vec<Value> {
        self.shared.lock().cloudfoundry.app_bodies(Instant::now())
    }
}

/// Serves the simulator on `listener` from a task on the current tokio runtime and returns at
/// once; the server lives as long as that runtime.
pub async fn serve(
    listener: tokio::net::TcpListener,
    options: SimOptions,
) -> std::io::Result<SimHandle> {
    serve_with(listener, options, false, None)
}

/// Like [`serve`], over TLS with the certificate chain and private key given as PEM (the key
/// PKCS#8, PKCS#1 or SEC1). [`SimHandle::url`] is then `https://127.0.0.1:PORT`: for a client
/// to verify the name, the certificate must name the IP address `127.0.0.1` (an IP SAN, e.g.
/// rcgen's `generate_simple_self_signed(["localhost", "127.0.0.1"])`).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    options: SimOptions,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> std::io::Result<SimHandle> {
    let acceptor = tls::acceptor(cert_pem, key_pem)?;
    serve_with(listener, options, false, Some(acceptor))
}

fn serve_with(
    listener: tokio::net::TcpListener,
    options: SimOptions,
    log_requests: bool,
    tls: Option<tls::Acceptor>,
) -> std::io::Result<SimHandle> {
    let mut addr = listener.local_addr()?;
    // A server bound to every interface is still reached over loopback by its users.
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let shared = Arc::new(Shared {
        addr,
        log_requests,
        tls: tls.is_some(),
        state: Mutex::new(State::new(options)),
    });
    tokio::spawn(accept_loop(listener, Arc::clone(&shared), tls));
    Ok(SimHandle { shared })
}

/// Binds `127.0.0.1:0` and serves from a thread with its own runtime, for callers without a
/// runtime (e.g. tests that run the berth binary as a child process). The server lives until
/// the process ends.
pub fn start_background(options: SimOptions) -> std::io::Result<SimHandle> {
    start_background_with(options, None)
}

/// [`start_background`] over TLS; see [`serve_tls`] for the certificate.
pub fn start_background_tls(
    options: SimOptions,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> std::io::Result<SimHandle> {
    let acceptor = tls::acceptor(cert_pem, key_pem)?;
    start_background_with(options, Some(acceptor))
}

fn start_background_with(
    options: SimOptions,
    tls: Option<tls::Acceptor>,
) -> std::io::Result<SimHandle> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("berth-sim".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let started = tokio::net::TcpListener::from_std(listener)
                    .and_then(|listener| serve_with(listener, options, false, tls));
                let running = started.is_ok();
                // The receiver only goes away if the caller has already given up.
                let _ = sender.send(started);
                if running {
                    std::future::pending::<()>().await;
                }
            });
        })?;
    receiver
        .recv()
        .map_err(|_| std::io::Error::other("simulator thread ended before it started"))?
}

/// Serves until Ctrl-C or SIGTERM, logging one line per request to stderr, for `berth sim`.
pub async fn run(listen: SocketAddr, options: SimOptions) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the simulator to {listen}"))?;
    let token = options.token.clone();
    let handle = serve_with(listener, options, true, None)?;
    eprintln!(
        "berth sim: mittwald API v2 at {} (send X-Access-Token: {token}; control API under {}/__sim/)",
        handle.url(),
        handle.url()
    );
    eprintln!(
        "berth sim: Cloud Foundry API v2 at {} (UAA at {}: user {} / {}, client {} / {}, or bearer {token})",
        handle.cf_url(),
        handle.uaa_url(),
        cloudfoundry::DEFAULT_CF_USER,
        cloudfoundry::DEFAULT_CF_PASSWORD,
        cloudfoundry::DEFAULT_CF_CLIENT,
        cloudfoundry::DEFAULT_CF_CLIENT_SECRET,
    );
    shutdown_signal().await;
    eprintln!("berth sim: stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

struct Shared {
    addr: SocketAddr,
    log_requests: bool,
    tls: bool,
    state: Mutex<State>,
}

impl Shared {
    fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct State {
    options: SimOptions,
    requests: VecDeque<RecordedRequest>,
    requests_received: u64,
    faults: Vec<Fault>,
    faults_injected: u64,
    random: SplitMix64,
    rate: RateWindow,
    mittwald: mittwald::Mittwald,
    cloudfoundry: cloudfoundry::CloudFoundry,
}

impl State {
    fn new(options: SimOptions) -> Self {
        Self {
            random: SplitMix64(options.seed),
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

    fn record(&mut self, request: &Request) {
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
    fn take_fault(&mut self, request: &Request) -> Option<Fault> {
        let Self { faults, random, .. } = self;
        let fault = faults.iter_mut().find(|fault| {
            fault.matches(request)
                && fault
                    .probability
                    .is_none_or(|probability| random.next_unit() < probability)
        })?;
        fault.count -= 1;
        let taken = fault.clone();
        self.faults.retain(|fault| fault.count > 0);
        self.faults_injected += 1;
        Some(taken)
    }
}

/// SplitMix64: tiny, fast and plenty for deciding which requests a fault hits.
///
/// Not fastrand, unlike the simulator's other random draws: which requests a seed faults is part
/// of the simulator's behaviour (tests and scripts pick their seed for it), and another generator
/// would fault other requests for the same seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_unit(&mut self) -> f64 {
        // The top 53 bits fill a double's mantissa exactly.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A fixed window: simple, and what the `X-RateLimit-Reset` header describes.
struct RateWindow {
    started: Instant,
    used: u32,
}

struct RateVerdict {
    allowed: bool,
    headers: [(&'static str, String); 3],
}

impl RateWindow {
    fn admit(&mut self, limit: u32, window: Duration, now: Instant) -> RateVerdict {
        if now.duration_since(self.started) >= window {
            self.started = now;
            self.used = 0;
        }
        self.used = self.used.saturating_add(1);
        let allowed = self.used <= limit;
        let left = window.saturating_sub(now.duration_since(self.started));
        let reset = left.as_millis().div_ceil(1000);
        RateVerdict {
            allowed,
            headers: [
                ("x-ratelimit-limit", limit.to_string()),
                (
                    "x-ratelimit-remaining",
                    limit.saturating_sub(self.used).to_string(),
                ),
                ("x-ratelimit-reset", reset.to_string()),
            ],
        }
    }
}

/// A request as the platform modules see it: fully read, with the query parsed.
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    /// Percent-decoded path segments, without empty ones.
    pub(crate) segments: Vec<String>,
    pub(crate) raw_query: String,
    /// Percent-decoded `(key, value)` pairs in order, repeats kept.
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Bytes,
    /// The parts of a `multipart/form-data` body, in order; empty for any other body.
    pub(crate) parts: Vec<Part>,
}

/// One named part of a `multipart/form-data` body.
pub(crate) struct Part {
    pub(crate) name: String,
    pub(crate) body: Bytes,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The last value of a query parameter.
    pub(crate) fn query_param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn segments(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }
}

/// An answer from a platform module or the control API.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Bytes>,
}

impl Reply {
    pub(crate) fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(Bytes::from(body.to_string())),
        }
    }

    pub(crate) fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn raw(status: u16, body: String) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(Bytes::from(body)),
        }
    }

    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    tls: Option<tls::Acceptor>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Usually out of file descriptors: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, shared).await,
                Some(acceptor) => {
                    // A client that never finishes its handshake must not hold a task forever.
                    let handshake =
                        tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    if let Ok(Ok(stream)) = handshake.await {
                        serve_connection(stream, shared).await;
                    }
                }
            }
        });
    }
}

/// The service's error: drop the connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

async fn serve_connection<S>(stream: S, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { handle(&shared, request).await }
    });
    // A client hanging up mid-request is its own business; a dropped answer ends up here too.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn handle(
    shared: &Shared,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let (parts, body) = request.into_parts();
    let (body, too_large) = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => (collected.to_bytes(), false),
        Err(error) => {
            let too_large = error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            if !too_large {
                // The connection broke while sending the body; nobody is left to answer.
                return Ok(to_response(Reply::empty(400)));
            }
            (Bytes::new(), true)
        }
    };
    let mut request = Request::from_parts(&parts, body);
    // Read here, where waiting is allowed: the platforms answer under the state's lock.
    request.parts = multipart_parts(request.header("content-type"), &request.body).await;
    if request.path.starts_with(CONTROL_PREFIX) || request.path == "/__sim" {
        return Ok(to_response(control(shared, &request, too_large)));
    }
    let outcome = platform(shared, &request, too_large);
    if let Some(delay) = outcome.delay {
        tokio::time::sleep(delay).await;
    }
    if shared.log_requests {
        // Method, path and status only: headers carry the token.
        let status = if outcome.drop {
            "dropped".to_owned()
        } else {
            outcome.reply.status.to_string()
        };
        eprintln!("{} {} {status}", request.method, request.path);
    }
    if outcome.drop {
        return Err(Dropped);
    }
    Ok(to_response(outcome.reply))
}

/// A platform request's answer and how it leaves.
struct Outcome {
    reply: Reply,
    delay: Option<Duration>,
    drop: bool,
}

fn platform(shared: &Shared, request: &Request, too_large: bool) -> Outcome {
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
    outcome(with_fault_headers(reply, fault.as_ref()))
}

fn shared_url(shared: &Shared) -> String {
    format!("{}://{}", shared.scheme(), shared.addr)
}

/// The fault's headers on `reply`, each replacing any of the same name.
fn with_fault_headers(mut reply: Reply, fault: Option<&Fault>) -> Reply {
    for (name, value) in fault.map(|fault| &fault.headers).into_iter().flatten() {
        reply
            .headers
            .retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
        reply = reply.with_header(name, value.clone());
    }
    reply
}

/// What a [`Fault::echo`] answers: the request, headers and body, repeated back.
fn echo(kind: &str, status: u16, request: &Request) -> Reply {
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
fn garbage(kind: &str, status: u16) -> Reply {
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
        cloudfoundry::cf_error_for_status(status)
    } else if cloudfoundry::is_uaa(request) {
        cloudfoundry::uaa_error_for_status(status)
    } else {
        mittwald::error_for_status(status)
    }
}

fn control(shared: &Shared, request: &Request, too_large: bool) -> Reply {
    if too_large {
        return control_error(413, "request body too large");
    }
    let segments = request.segments();
    let method = request.method.as_str();
    match (method, &segments[1..]) {
        ("GET", ["requests"]) => {
            let state = shared.lock();
            Reply::json(200, &json!(state.requests))
        }
        ("DELETE", ["requests"]) => {
            shared.lock().requests.clear();
            Reply::empty(204)
        }
        ("POST", ["faults"]) => match serde_json::from_slice::<Fault>(&request.body) {
            Ok(fault) => match fault.problem() {
                None => {
                    shared.lock().faults.push(fault);
                    Reply::empty(204)
                }
                Some(problem) => control_error(400, &problem),
            },
            Err(error) => control_error(400, &format!("invalid fault: {error}")),
        },
        ("DELETE", ["faults"]) => {
            shared.lock().faults.clear();
            Reply::empty(204)
        }
        ("GET", ["stats"]) => {
            let state = shared.lock();
            Reply::json(
                200,
                &json!({
                    "requests": state.requests_received,
                    "faults_injected": state.faults_injected,
                }),
            )
        }
        ("PATCH", ["options"]) => {
            let mut state = shared.lock();
            match patched(&state.options, &request.body) {
                Ok((options, reseed)) => {
                    if reseed {
                        state.random = SplitMix64(options.seed);
                    }
                    state.options = options;
                    Reply::json(200, &options_json(&state.options))
                }
                Err(error) => control_error(400, &format!("invalid options: {error}")),
            }
        }
        ("GET", ["options"]) => Reply::json(200, &options_json(&shared.lock().options)),
        ("POST", ["installations"]) => {
            match serde_json::from_slice::<SeedInstallation>(&request.body) {
                Ok(seed) => {
                    let mut state = shared.lock();
                    let State {
                        options, mittwald, ..
                    } = &mut *state;
                    match mittwald.seed(options, Instant::now(), seed) {
                        Ok(id) => Reply::json(201, &json!({ "id": id })),
                        Err(message) => control_error(400, &message),
                    }
                }
                Err(error) => control_error(400, &format!("invalid installation: {error}")),
            }
        }
        ("GET", ["installations"]) => {
            let bodies = shared.lock().mittwald.installation_bodies(Instant::now());
            Reply::json(200, &Value::Array(bodies))
        }
        ("GET", ["cf", "apps"]) => {
            let bodies = shared.lock().cloudfoundry.app_bodies(Instant::now());
            Reply::json(200, &Value::Array(bodies))
        }
        _ => control_error(404, "route not found"),
    }
}

fn control_error(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({ "type": "SimulatorError", "message": message }),
    )
}

/// `options` with a `PATCH /__sim/options` body laid over them: each key given replaces that
/// option (`null` lifts a cap or clears the warnings), the others stay; and whether the body
/// named a `seed`, which restarts the random draws even when unchanged.
fn patched(options: &SimOptions, body: &[u8]) -> serde_json::Result<(SimOptions, bool)> {
    let patch: Map<String, Value> = serde_json::from_slice(body)?;
    let reseed = patch.contains_key("seed");
    let mut merged = match serde_json::to_value(options)? {
        Value::Object(current) => current,
        _ => Map::new(),
    };
    merged.extend(patch);
    Ok((serde_json::from_value(Value::Object(merged))?, reseed))
}

/// Credentials as `[[name, secret]]`, `[{"username": .., "password": ..}]` or
/// `[{"client_id": .., "client_secret": ..}]`.
fn deserialize_credentials<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<(String, String)>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Credential {
        Pair(String, String),
        User {
            username: String,
            password: String,
        },
        Client {
            client_id: String,
            client_secret: String,
        },
    }
    let credentials = Vec::<Credential>::deserialize(deserializer)?;
    Ok(credentials
        .into_iter()
        .map(|credential| match credential {
            Credential::Pair(name, secret)
            | Credential::User {
                username: name,
                password: secret,
            }
            | Credential::Client {
                client_id: name,
                client_secret: secret,
            } => (name, secret),
        })
        .collect())
}

/// Durations as whole milliseconds.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// The options as `GET /__sim/options` shows them.
fn options_json(options: &SimOptions) -> Value {
    let mut body = serde_json::to_value(options).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut body {
        // The token and the Cloud Foundry secrets are left out: the control API needs none, so
        // it must not hand them out either.
        map.shift_remove("token");
        let names = |pairs: &[(String, String)]| -> Value {
            pairs.iter().map(|(name, _)| json!(name)).collect()
        };
        map.insert("cf_users".to_owned(), names(&options.cf_users));
        map.insert("cf_clients".to_owned(), names(&options.cf_clients));
    }
    body
}

impl Request {
    fn from_parts(parts: &hyper::http::request::Parts, body: Bytes) -> Self {
        let path = parts.uri.path().to_owned();
        let raw_query = parts.uri.query().unwrap_or_default().to_owned();
        let mut headers = BTreeMap::new();
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_ascii_lowercase())
                .and_modify(|joined: &mut String| {
                    joined.push_str(", ");
                    joined.push_str(&value);
                })
                .or_insert(value);
        }
        Self {
            method: parts.method.as_str().to_ascii_uppercase(),
            segments: path
                .split('/')
                .filter(|segment| !segment.is_empty())
                .map(|segment| {
                    percent_encoding::percent_decode_str(segment)
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .collect(),
            query: parse_query(&raw_query),
            path,
            raw_query,
            headers,
            body,
            parts: Vec::new(),
        }
    }
}

/// The named parts of a `multipart/form-data` body; none when the body is not one or is
/// malformed, as if nothing had been sent.
async fn multipart_parts(content_type: Option<&str>, body: &Bytes) -> Vec<Part> {
    let Some(boundary) = content_type.and_then(|value| multer::parse_boundary(value).ok()) else {
        return Vec::new();
    };
    // The body is already read whole: one chunk, so no part ever waits.
    let chunks = futures_util::stream::iter([Ok::<_, Infallible>(body.clone())]);
    let mut multipart = multer::Multipart::new(chunks, boundary);
    let mut parts = Vec::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().map(str::to_owned);
                let Ok(body) = field.bytes().await else {
                    return Vec::new();
                };
                if let Some(name) = name {
                    parts.push(Part { name, body });
                }
            }
            Ok(None) => return parts,
            Err(_) => return Vec::new(),
        }
    }
}

/// Percent-decoded `(key, value)` pairs of a query string or form body (`+` is a space),
/// repeats kept; malformed escapes stay as they are.
fn parse_query(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

fn to_response(reply: Reply) -> hyper::Response<Full<Bytes>> {
    let status = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = hyper::Response::builder().status(status);
    let has_content_type = reply
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    if reply.body.is_some() && !has_content_type {
        builder = builder.header("content-type", "application/json");
    }
    for (name, value) in &reply.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = reply.body.unwrap_or_default();
    builder.body(Full::new(body)).unwrap_or_else(|_| {
        // Only a header value with control characters gets here; answer without the headers.
        let mut response = hyper::Response::new(Full::new(Bytes::new()));
        *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        response
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn an_options_patch_replaces_only_the_keys_it_gives() {
        let options = SimOptions::default();
        let body = br#"{"time_to_ready_ms": 250, "cf_page_cap": 3, "token": "t"}"#;
        let (changed, reseed) = patched(&options, body).unwrap();
        assert_eq!(changed.time_to_ready, Duration::from_millis(250));
        assert_eq!(changed.cf_page_cap, Some(3));
        assert_eq!(changed.token, "t");
        assert_eq!(changed.phases, options.phases);
        assert_eq!(changed.cf_users, options.cf_users);
        assert!(!reseed);
        let (lifted, reseed) = patched(&changed, br#"{"cf_page_cap": null, "seed": 7}"#).unwrap();
        assert_eq!(lifted.cf_page_cap, None);
        assert_eq!(lifted.seed, 7);
        assert!(reseed);
        let users = br#"{"cf_users": [{"username": "u", "password": "p"}, ["v", "q"]]}"#;
        let (users, _) = patched(&options, users).unwrap();
        assert_eq!(
            users.cf_users,
            [("u".into(), "p".into()), ("v".into(), "q".into())]
        );
        for wrong in [
            &br#"{"time_to_ready": 5}"#[..],
            br#"{"rate_limit": "7"}"#,
            b"[]",
        ] {
            assert!(patched(&options, wrong).is_err());
        }
    }

    #[test]
    fn the_options_are_shown_without_secrets() {
        let body = options_json(&SimOptions::default());
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "time_to_ready_ms",
                "phases",
                "consistency_delay_ms",
                "installation_page_cap",
                "installation_total_hidden",
                "rate_limit",
                "rate_window_ms",
                "cf_users",
                "cf_clients",
                "cf_staging_time_ms",
                "cf_startup_time_ms",
                "cf_job_time_ms",
                "cf_token_lifetime_ms",
                "cf_staging_fails",
                "cf_crashes",
                "cf_v2_disabled",
                "cf_page_cap",
                "cf_list_ignores_filters",
                "cf_warnings",
                "seed",
            ]
        );
        assert_eq!(body["cf_users"], json!([cloudfoundry::DEFAULT_CF_USER]));
        assert_eq!(body["cf_clients"], json!([cloudfoundry::DEFAULT_CF_CLIENT]));
        assert_eq!(body["time_to_ready_ms"], 3000);
    }

    #[tokio::test]
    async fn multipart_parts_are_found_by_name() {
        let body = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"resources\"\r\n\r\n[]\r\n--XyZ\r\nContent-Disposition: form-data; name=\"application\"; filename=\"a.zip\"\r\nContent-Type: application/zip\r\n\r\nPK\x03\x04\r\n--XyZ--\r\n",
        );
        let parts = multipart_parts(Some("multipart/form-data; boundary=\"XyZ\""), &body).await;
        let names: Vec<&str> = parts.iter().map(|part| part.name.as_str()).collect();
        assert_eq!(names, ["resources", "application"]);
        assert_eq!(parts[0].body.as_ref(), b"[]");
        assert_eq!(parts[1].body.as_ref(), b"PK\x03\x04");
        assert!(
            multipart_parts(Some("application/json"), &body)
                .await
                .is_empty()
        );
        assert!(multipart_parts(None, &body).await.is_empty());
        let cut = body.slice(..body.len() / 2);
        let cut = multipart_parts(Some("multipart/form-data; boundary=XyZ"), &cut).await;
        assert!(cut.is_empty(), "a body cut short counts as none");
    }
}
