//! What an app is built from and into, shared by v2 and v3 as on a real foundation: packages
//! (uploaded bits, or a docker image) and builds (a package staged into a droplet). A v2 upload
//! is a package; a v2 start stages the newest package in a build whose droplet becomes the
//! app's current droplet once staged; v3 does each step by hand.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::apps::App;
use super::bits::Bits;
use super::errors::STAGING_ERROR;
use super::{new_guid, rfc3339};
use crate::options::SimOptions;

/// Packages and builds an app keeps; beyond this many the oldest go (never the build of the
/// current droplet), so a long `berth sim` stays bounded.
pub(super) const MAX_PER_APP: usize = 100;

/// An app's package: what a build stages.
#[derive(Clone)]
pub(super) struct Package {
    pub(super) guid: String,
    pub(super) created_at: String,
    pub(super) kind: PackageKind,
}

#[derive(Clone)]
pub(super) enum PackageKind {
    /// Bits, once an upload began.
    Bits(Option<Upload>),
    Docker(DockerImage),
}

/// A docker package's image and registry credentials.
#[derive(Clone)]
pub(super) struct DockerImage {
    pub(super) image: String,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
}

/// An upload of bits: processed for `duration`, then ready (or failed).
#[derive(Clone)]
pub(super) struct Upload {
    started: Instant,
    started_wall: SystemTime,
    duration: Duration,
    pub(super) outcome: Result<Bits, String>,
}

/// A package's `state`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum PackageState {
    AwaitingUpload,
    ProcessingUpload,
    Ready,
    Failed,
}

impl PackageState {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingUpload => "AWAITING_UPLOAD",
            Self::ProcessingUpload => "PROCESSING_UPLOAD",
            Self::Ready => "READY",
            Self::Failed => "FAILED",
        }
    }
}

impl Upload {
    pub(super) fn new(now: Instant, duration: Duration, outcome: Result<Bits, String>) -> Self {
        Self {
            started: now,
            started_wall: SystemTime::now(),
            duration,
            outcome,
        }
    }

    fn done(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) >= self.duration
    }
}

impl Package {
    fn new(kind: PackageKind) -> Self {
        Self {
            guid: new_guid(),
            created_at: rfc3339(SystemTime::now()),
            kind,
        }
    }

    /// A bits package waiting for its upload (v3's `POST /v3/packages`).
    pub(super) fn awaiting_bits() -> Self {
        Self::new(PackageKind::Bits(None))
    }

    /// A bits package whose upload is done (v2's upload, once taken).
    pub(super) fn uploaded(bits: Bits, now: Instant) -> Self {
        Self::new(PackageKind::Bits(Some(Upload::new(
            now,
            Duration::ZERO,
            Ok(bits),
        ))))
    }

    /// A docker package: ready at once.
    pub(super) fn docker(image: DockerImage) -> Self {
        Self::new(PackageKind::Docker(image))
    }

    pub(super) fn state(&self, now: Instant) -> PackageState {
        match &self.kind {
            PackageKind::Docker(_) => PackageState::Ready,
            PackageKind::Bits(None) => PackageState::AwaitingUpload,
            PackageKind::Bits(Some(upload)) if !upload.done(now) => PackageState::ProcessingUpload,
            PackageKind::Bits(Some(upload)) => match upload.outcome {
                Ok(_) => PackageState::Ready,
                Err(_) => PackageState::Failed,
            },
        }
    }

    /// The uploaded bits, once ready.
    pub(super) fn ready_bits(&self, now: Instant) -> Option<&Bits> {
        match &self.kind {
            PackageKind::Bits(Some(upload)) if upload.done(now) => upload.outcome.as_ref().ok(),
            _ => None,
        }
    }

    pub(super) fn docker_image(&self) -> Option<&DockerImage> {
        match &self.kind {
            PackageKind::Docker(image) => Some(image),
            PackageKind::Bits(_) => None,
        }
    }

    /// When it was last changed: created, the upload began, or the upload ended.
    pub(super) fn updated_at(&self, now: Instant) -> String {
        match &self.kind {
            PackageKind::Bits(Some(upload)) if upload.done(now) => {
                rfc3339(upload.started_wall + upload.duration)
            }
            PackageKind::Bits(Some(upload)) => rfc3339(upload.started_wall),
            _ => self.created_at.clone(),
        }
    }

    /// When it became ready, if it is.
    pub(super) fn ready_at(&self, now: Instant) -> Option<String> {
        (self.state(now) == PackageState::Ready).then(|| self.updated_at(now))
    }

    /// Why the upload failed, once it has.
    pub(super) fn error(&self, now: Instant) -> Option<&str> {
        match &self.kind {
            PackageKind::Bits(Some(upload)) if upload.done(now) => upload.outcome.as_ref().err(),
            _ => None,
        }
        .map(String::as_str)
    }
}

/// A build's lifecycle, fixed when it starts.
#[derive(Clone)]
pub(super) struct Lifecycle {
    pub(super) docker: bool,
    pub(super) buildpacks: Vec<String>,
    /// The stack's name; `None` for docker, or a v2 stack guid the foundation does not list.
    pub(super) stack: Option<String>,
}

impl Lifecycle {
    /// `{type, data}` as apps and builds show it.
    pub(super) fn body(&self) -> Value {
        if self.docker {
            json!({ "type": "docker", "data": {} })
        } else {
            json!({
                "type": "buildpack",
                "data": { "buildpacks": self.buildpacks, "stack": self.stack },
            })
        }
    }
}

/// A package staged into a droplet; outcome and timing are fixed when it starts.
#[derive(Clone)]
pub(super) struct Build {
    pub(super) guid: String,
    /// The droplet it makes; it exists once the build is staged.
    pub(super) droplet_guid: String,
    pub(super) package_guid: String,
    pub(super) created_at: String,
    started: Instant,
    started_wall: SystemTime,
    duration: Duration,
    fails: bool,
    /// Stopping a v2 app cancels its staging.
    pub(super) cancelled: bool,
    /// Started by a v2 start: its droplet becomes the app's current droplet once staged.
    pub(super) assign_when_staged: bool,
    pub(super) lifecycle: Lifecycle,
    /// What staging detected from the package's files; `None` for docker.
    pub(super) detected: Option<&'static str>,
    /// The droplet's web start command.
    pub(super) start_command: String,
    /// The docker image staged.
    pub(super) image: Option<String>,
    /// Who asked for it.
    pub(super) created_by: String,
    /// What staging may use, as v3 shows it.
    pub(super) staging_memory_mb: i64,
    pub(super) staging_disk_mb: i64,
}

/// A build's state as v3 shows it; `Cancelled` shows as FAILED.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum BuildState {
    Staging,
    Staged,
    Failed,
    Cancelled,
}

impl Build {
    pub(super) fn state(&self, now: Instant) -> BuildState {
        if self.cancelled {
            BuildState::Cancelled
        } else if now < self.started + self.duration {
            BuildState::Staging
        } else if self.fails {
            BuildState::Failed
        } else {
            BuildState::Staged
        }
    }

    /// When staging began.
    pub(super) fn started_instant(&self) -> Instant {
        self.started
    }

    /// When staging began, on the wall clock.
    pub(super) fn started_wall(&self) -> SystemTime {
        self.started_wall
    }

    /// Whether staging ends FAILED.
    pub(super) fn fails(&self) -> bool {
        self.fails
    }

    /// When staging ends (or ended).
    pub(super) fn done_at(&self) -> (Instant, SystemTime) {
        (
            self.started + self.duration,
            self.started_wall + self.duration,
        )
    }

    /// When it last changed: created, or staging ended.
    pub(super) fn updated_at(&self, now: Instant) -> String {
        match self.state(now) {
            BuildState::Staging => self.created_at.clone(),
            _ => rfc3339(self.done_at().1),
        }
    }

    /// v3's `error`, `"ErrorId - description"`, once it failed.
    pub(super) fn error(&self, now: Instant) -> Option<String> {
        match self.state(now) {
            BuildState::Failed => Some(format!(
                "{} - {}",
                STAGING_ERROR.name,
                STAGING_ERROR.description("staging failed")
            )),
            BuildState::Cancelled => Some(format!(
                "{} - {}",
                STAGING_ERROR.name,
                STAGING_ERROR.description("staging was cancelled")
            )),
            BuildState::Staging | BuildState::Staged => None,
        }
    }
}

/// The buildpack staging detects from the file names of the bits.
pub(super) fn detect_buildpack(files: &[String]) -> &'static str {
    let has = |name: &str| {
        files
            .iter()
            .any(|file| file == name || file.ends_with(&format!("/{name}")))
    };
    if has("package.json") {
        "nodejs"
    } else if has("requirements.txt") || has("pyproject.toml") {
        "python"
    } else if has("Gemfile") {
        "ruby"
    } else if has("go.mod") {
        "go"
    } else if has("composer.json") || has("index.php") {
        "php"
    } else if has("index.html") {
        "staticfile"
    } else {
        "binary"
    }
}

/// The start command a detected buildpack gives the web process.
pub(super) fn detected_start_command(buildpack: &str) -> &'static str {
    match buildpack {
        "nodejs" => "npm start",
        "python" => "python app.py",
        "ruby" => "bundle exec rackup config.ru -p $PORT",
        "go" => "./bin/app",
        "staticfile" | "php" => "$HOME/boot.sh",
        _ => "",
    }
}

impl App {
    /// The newest package, whatever its state.
    pub(super) fn latest_package(&self) -> Option<&Package> {
        self.packages.last()
    }

    pub(super) fn package(&self, guid: &str) -> Option<&Package> {
        self.packages.iter().find(|package| package.guid == guid)
    }

    /// The newest bits that finished uploading.
    pub(super) fn latest_bits(&self, now: Instant) -> Option<&Bits> {
        self.packages
            .iter()
            .rev()
            .find_map(|package| package.ready_bits(now))
    }

    pub(super) fn push_package(&mut self, package: Package) {
        if self.packages.len() >= MAX_PER_APP {
            self.packages.remove(0);
        }
        self.packages.push(package);
    }

    /// The staging of the newest package, as v2's `package_state` follows it: the newest build,
    /// unless it was cancelled or staged an older package.
    pub(super) fn current_staging(&self) -> Option<&Build> {
        let build = self.builds.last()?;
        let latest = self.latest_package()?;
        (!build.cancelled && build.package_guid == latest.guid).then_some(build)
    }

    /// The build whose droplet is the app's current droplet.
    pub(super) fn current_droplet_build(&self) -> Option<&Build> {
        let guid = self.current_droplet.as_deref()?;
        self.builds.iter().find(|build| build.droplet_guid == guid)
    }

    /// Stages `package_guid` with the app's lifecycle and the options in force now.
    pub(super) fn stage(
        &mut self,
        options: &SimOptions,
        now: Instant,
        package_guid: &str,
        assign_when_staged: bool,
        created_by: &str,
    ) -> &mut Build {
        let package = self.package(package_guid);
        let image = package
            .and_then(Package::docker_image)
            .map(|docker| docker.image.clone());
        let detected = package
            .and_then(|package| package.ready_bits(now))
            .map(|bits| detect_buildpack(&bits.files));
        let start_command = match (&self.command, detected) {
            (Some(command), _) => command.clone(),
            (None, Some(buildpack)) => detected_start_command(buildpack).to_owned(),
            (None, None) => String::new(),
        };
        let build = Build {
            guid: new_guid(),
            droplet_guid: new_guid(),
            package_guid: package_guid.to_owned(),
            created_at: rfc3339(SystemTime::now()),
            started: now,
            started_wall: SystemTime::now(),
            duration: options.cf_staging_time,
            fails: options.cf_staging_fails,
            cancelled: false,
            assign_when_staged,
            lifecycle: self.lifecycle(options),
            detected: if image.is_some() { None } else { detected },
            start_command,
            image,
            created_by: created_by.to_owned(),
            staging_memory_mb: 1024,
            staging_disk_mb: 4096,
        };
        if self.builds.len() >= MAX_PER_APP {
            let current = self.current_droplet.clone();
            let oldest = self
                .builds
                .iter()
                .position(|build| Some(&build.droplet_guid) != current.as_ref());
            if let Some(oldest) = oldest {
                self.builds.remove(oldest);
            }
        }
        self.builds.push(build);
        self.log_staging(options);
        let last = self.builds.len() - 1;
        &mut self.builds[last]
    }

    /// Gives the droplets of finished v2 stagings to the app, oldest first.
    pub(super) fn settle(&mut self, now: Instant) {
        let mut assigned = None;
        for build in &mut self.builds {
            if build.assign_when_staged && build.state(now) != BuildState::Staging {
                build.assign_when_staged = false;
                if build.state(now) == BuildState::Staged {
                    assigned = Some(build.droplet_guid.clone());
                }
            }
        }
        if assigned.is_some() {
            self.current_droplet = assigned;
        }
    }
}
