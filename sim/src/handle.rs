//! [`SimHandle`]: a running simulator as its caller holds it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cloudfoundry;
use crate::faults::Fault;
use crate::mittwald::SeedInstallation;
use crate::options::SimOptions;
use crate::ssh::SshEvent;
use crate::state::{RecordedRequest, Shared, State};

/// A cheap, cloneable handle on a running simulator.
#[derive(Clone)]
pub struct SimHandle {
    pub(crate) shared: Arc<Shared>,
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
    /// beyond [`MAX_RECORDED_REQUESTS`](crate::MAX_RECORDED_REQUESTS).
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
            state.random = fastrand::Rng::with_seed(state.options.seed);
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
    /// extra `_bits`: `{"bytes": n, "files": [...], "sha256": "…"}` of the last upload, or null.
    pub fn cf_apps(&self) -> Vec<Value> {
        self.shared.lock().cloudfoundry.app_bodies(Instant::now())
    }

    /// The zip of the last upload to Cloud Foundry app `guid`, byte for byte as the simulator
    /// stored it (on disk, while the package exists); `None` without one (or when the package is
    /// only resources the platform already had). Read whole into memory: for small packages.
    ///
    /// # Panics
    /// When the stored file cannot be read back.
    pub fn cf_package_zip(&self, guid: &str) -> Option<Vec<u8>> {
        let zip = self
            .shared
            .lock()
            .cloudfoundry
            .latest_zip(guid, Instant::now())?;
        Some(zip.expect("reading the stored package back"))
    }

    /// How long the Cloud Foundry app `app_guid` had no RUNNING instance since it first had
    /// one: a restart counts its instances' startup, a stop and start counts from the stop, a
    /// rolling deployment adds nothing (a new app's first start is not downtime). Zero for an
    /// unknown app.
    pub fn cf_downtime(&self, app_guid: &str) -> Duration {
        self.shared
            .lock()
            .cloudfoundry
            .downtime(app_guid, Instant::now())
    }

    /// The simulated mittwald SSH endpoint, `127.0.0.1:PORT`: what a client connects to
    /// instead of `ssh.<clusterId>.<clusterDomain>:22`.
    pub fn ssh_addr(&self) -> SocketAddr {
        self.shared.ssh.addr
    }

    /// The SSH server's host key, `ssh-ed25519 AAAA…` (made when the simulator started).
    pub fn ssh_host_key(&self) -> String {
        self.shared.ssh.host_public_key()
    }

    /// One OpenSSH known_hosts line for the SSH server, `[127.0.0.1]:PORT ssh-ed25519 AAAA…`
    /// with a newline (also `GET /__sim/ssh/known_hosts`).
    pub fn ssh_known_hosts(&self) -> String {
        self.shared.ssh.known_hosts()
    }

    /// Every SSH login, refusal and command so far, oldest first.
    pub fn ssh_log(&self) -> Vec<SshEvent> {
        self.shared.ssh.log().clone()
    }

    /// Current SSH user bodies as `GET /v2/ssh-users/{id}` would return them (ignoring the
    /// consistency delay).
    pub fn ssh_users(&self) -> Vec<Value> {
        self.shared.lock().mittwald.ssh_user_bodies()
    }

    /// The host directory that stands for installation `id`'s (or short id's) directory,
    /// `directories["Web"]` + `installationPath` of its project's file system, made if
    /// needed; what an SSH login of it starts in. `None` for an unknown installation.
    ///
    /// # Panics
    /// When the simulator's temporary directory cannot be made.
    pub fn installation_dir(&self, id: &str) -> Option<PathBuf> {
        let (project, dir, log_file, job) = {
            let state = self.shared.lock();
            state.mittwald.installation_location(&state.options, id)?
        };
        let root = self
            .shared
            .ssh
            .files_root()
            .expect("making the simulator's file directory")
            .join(project);
        let real = crate::ssh::host_path(&root, &dir);
        std::fs::create_dir_all(&real).expect("making the installation's directory");
        crate::ssh::ensure_log_file(&crate::ssh::host_path(&root, &log_file), &job)
            .expect("making the app's log file");
        Some(real)
    }
}
