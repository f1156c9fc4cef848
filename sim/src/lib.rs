//! The platform simulator behind `berth sim`, `berth demo` and the tests.
//!
//! One HTTP/1 server answers the platforms' routes (mittwald mStudio API v2 at the root, see
//! [`mittwald`]; Cloud Foundry's Cloud Controller v2 and v3 under `/cf`, its UAA under `/uaa`
//! and log-cache under `/log-cache`, see [`cloudfoundry`]) and a control API under `/__sim/`. This crate owns what every simulated
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
//!
//! Beside the HTTP server, an SSH server on loopback stands for mittwald's SSH endpoint (see
//! `ssh/`): logins of the SSH users the API created, each in its installation's directory
//! of a project file system under a temporary directory, a small command language for
//! deploys (tar, find, mkdir, rm, mv, ...), the install command in a real `sh -c`, and a
//! `mittnitectl` that restarts the simulated app process behind
//! `GET /v2/app-installations/{id}/status`.

pub mod cloudfoundry;
mod control;
mod faults;
mod handle;
pub mod mittwald;
mod options;
mod platform;
mod rate;
mod request;
mod server;
mod spool;
mod ssh;
mod state;
mod tls;

pub use faults::{ECHO_KINDS, Fault, GARBAGE_KINDS, HUGE_BODY_BYTES};
pub use handle::SimHandle;
pub use mittwald::SeedInstallation;
pub use options::{
    DEFAULT_CF_MAX_PACKAGE_BYTES, DEFAULT_SEED, DEFAULT_TOKEN, LogCacheOutage, SimOptions,
};
pub use server::{MAX_BODY_BYTES, run, serve, serve_tls, start_background, start_background_tls};
pub use spool::RECORDED_UPLOAD_BYTES;
pub use ssh::SshEvent;
pub use state::{MAX_RECORDED_REQUESTS, RecordedRequest};
