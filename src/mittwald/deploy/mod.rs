//! mittwald: deploy the code of `BERTH_PATH` into the installation's directory over SSH, run
//! the install command, restart the app and wait until it runs again.
//!
//! There is no REST endpoint that copies code or restarts an app, so after the installation is
//! ready berth logs in over SSH (a given user, or a temporary one it makes and removes), lists
//! what the directory holds, sends the files that differ as one tar stream into a staging
//! directory inside it, moves them into place, runs `BERTH_INSTALL_COMMAND`, restarts the app
//! with `mittnitectl` and polls the API's app status until the app runs again.

pub mod known_hosts;
pub mod ssh;
pub mod tree;
mod users;

use crate::{
    Failure,
    api::{
        self, call,
        mittwald::{
            Client,
            types::{AppInstallation, AppInstallationStatus},
        },
    },
    ci,
    config::Deploy,
    outputs::Progress,
    platform_text::{TAIL_LINES, printable, with_tail},
    wait::{self, Poll},
};
use anyhow::{Context, anyhow};
use known_hosts::KnownHosts;
use ssh::{ConnectError, Endpoint, Session, Stream};
use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};
use tokio::time::Instant;

/// The file in the installation's directory that records a finished deploy (files, install
/// command, restart): written last; removed before any file is sent and before the install
/// command or restart runs. Without it, unchanged files still get the install command and the
/// restart.
const MARKER: &str = ".berth-deployed";
/// How long one SSH connection (TCP, handshake, authentication) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a temporary user's activation is waited for (deployer-recipes waits 50 s, the
/// Terraform provider 30 s; a busy cluster can take longer).
const ACTIVATION_LIMIT: Duration = Duration::from_secs(120);
/// How long `mittnitectl` waits for the restarted job, and so how long a `stopped` app right
/// after the restart is waited through.
const RESTART_WAIT: Duration = Duration::from_secs(60);
/// A running app whose uptime began this much before the restart was sent still counts as
/// restarted (the clocks of the API and the host differ a little).
const UPTIME_SLACK: Duration = Duration::from_secs(2);

/// What a deploy needs from the mittwald flow.
pub struct Deployer<'a> {
    pub client: &'a Client,
    pub policy: &'a api::Policy,
    pub progress: &'a Progress,
    /// `BERTH_PROJECT_ID`.
    pub project: &'a str,
    pub deploy: &'a Deploy,
    /// `BERTH_WAIT`: whether the app is waited on after the restart.
    pub wait: bool,
}

/// Where the files go and how to get there.
struct Target {
    /// The absolute directory: the project's `Web` directory + the installation's path.
    dir: String,
    /// The project's `Web` directory.
    web: String,
    endpoint: Endpoint,
    short_id: String,
}

impl Deployer<'_> {
    /// Deploys into `installation` (ready by now). `others` are the paths of the project's
    /// other installations, which `BERTH_DELETE` must never reach into.
    pub async fn run(
        &self,
        installation: &AppInstallation,
        others: &[String],
    ) -> Result<(), Failure> {
        let target = self.target(installation).await?;
        self.progress
            .update(|o| o.deploy_path = Some(target.dir.clone()));
        if self.deploy.delete {
            refuse_delete(&target, others)?;
        }
        let excluded = crate::files::exclude_patterns(&self.deploy.path, &self.deploy.exclude)?;
        let local = {
            let path = self.deploy.path.clone();
            let excluded = excluded.clone();
            tokio::task::spawn_blocking(move || tree::scan(&path, &excluded))
                .await
                .map_err(|e| anyhow!("reading BERTH_PATH stopped: {e}"))?
                .context("reading BERTH_PATH")?
        };
        // berth's own names in the directory are never sent from BERTH_PATH (a copy of a
        // deployed directory would bring its record along).
        let mut local = local;
        local
            .entries
            .retain(|e| e.path != MARKER && !is_staging(&e.path));
        let known = self
            .deploy
            .known_hosts
            .clone()
            .unwrap_or_else(KnownHosts::mittwald);

        let (session, temporary) = match &self.deploy.login {
            Some(login) => {
                let user = if login.user.contains('@') {
                    login.user.clone()
                } else {
                    format!("{}@{}", login.user, target.short_id)
                };
                let session = self
                    .connect(&target.endpoint, &known, &user, login.key.clone(), false)
                    .await?;
                (session, None)
            }
            None => {
                // The host is checked before a user is made for it: an impostor gets nothing.
                self.probe(&target.endpoint, &known, &target.short_id)
                    .await?;
                users::sweep(self.client, self.project).await;
                let user = users::create(
                    self.client,
                    self.policy,
                    self.progress,
                    self.project,
                    &target.short_id,
                )
                .await?;
                let login = format!("{}@{}", user.user_name, target.short_id);
                match self
                    .connect(&target.endpoint, &known, &login, user.key.clone(), true)
                    .await
                {
                    Ok(session) => (session, Some(user)),
                    Err(e) => {
                        users::remove(self.client, self.progress, user).await;
                        return Err(e);
                    }
                }
            }
        };
        let result = self
            .deploy_over(&session, &target, &local, &excluded, installation)
            .await;
        session.close().await;
        if let Some(user) = temporary {
            users::remove(self.client, self.progress, user).await;
        }
        result
    }

    /// Prints what a deploy would do, without an SSH connection or user.
    pub async fn dry_run(&self, installation: Option<&AppInstallation>) -> Result<(), Failure> {
        let excluded = crate::files::exclude_patterns(&self.deploy.path, &self.deploy.exclude)?;
        let local = tree::scan(&self.deploy.path, &excluded).context("reading BERTH_PATH")?;
        let dir = match installation {
            Some(installation) => self.target(installation).await?.dir,
            None => "<the project's Web directory>/<the new installation's path>".to_string(),
        };
        let login = match &self.deploy.login {
            Some(login) => format!("as SSH user {}", login.user),
            None => "as a temporary SSH user made for the run (none is made in a dry run)".into(),
        };
        let mut lines = vec![
            format!(
                "deploy {} into {dir} over SSH {login}",
                self.deploy.path.display()
            ),
            format!(
                "send up to {} files, {} bytes (unchanged files are skipped)",
                local.files(),
                local.bytes()
            ),
        ];
        if self.deploy.delete {
            lines.push("remove files the directory holds that BERTH_PATH lacks".into());
        }
        if let Some(command) = &self.deploy.install_command {
            lines.push(format!("run in {dir}: {command}"));
        }
        if self.deploy.restart {
            lines.push(format!("run: {}", restart_command(self.wait)));
            if self.wait {
                lines.push("wait until the app runs again".into());
            }
        }
        ci::info(format_args!(
            "dry run: the deploy\n  {}",
            lines.join("\n  ")
        ));
        Ok(())
    }

    /// The deploy directory and SSH endpoint, from the project.
    async fn target(&self, installation: &AppInstallation) -> Result<Target, Failure> {
        let project = call(
            self.client
                .project_get_project()
                .project_id(self.project)
                .send(),
        )
        .await
        .with_context(|| format!("reading project {}", self.project))?;
        let web = project
            .directories
            .get("Web")
            .filter(|w| w.starts_with('/'))
            .ok_or_else(|| {
                anyhow!(
                    "project {} names no Web directory (directories[\"Web\"]), so berth cannot tell where the installation's files are",
                    self.project
                )
            })?
            .trim_end_matches('/')
            .to_string();
        let short_id = installation.short_id.clone().ok_or_else(|| {
            anyhow!(
                "installation {} has no short id, which the SSH login needs",
                installation.id
            )
        })?;
        let path = installation.installation_path.as_deref().unwrap_or("");
        if path.split('/').any(|p| p == "..") {
            return Err(anyhow!(
                "installation {} has the path {path:?}, which leaves the project's web directory; berth deploys nowhere outside it",
                installation.id
            )
            .into());
        }
        let dir = join(&web, path);
        let endpoint = match &self.deploy.host {
            Some(host) => host.clone(),
            None => match (
                project.cluster_id.as_deref(),
                project.cluster_domain.as_deref(),
            ) {
                (Some(cluster), Some(domain)) if !cluster.is_empty() && !domain.is_empty() => {
                    Endpoint {
                        host: format!("ssh.{cluster}.{domain}"),
                        port: 22,
                    }
                }
                _ => {
                    return Err(anyhow!(
                        "project {} names no cluster (clusterId, clusterDomain), so berth cannot tell its SSH host; give BERTH_SSH_HOST",
                        self.project
                    )
                    .into());
                }
            },
        };
        Ok(Target {
            dir,
            web: if web.is_empty() { "/".into() } else { web },
            endpoint,
            short_id,
        })
    }

    /// Checks the endpoint's host key with a throwaway key that no user has: a refused login
    /// is the expected answer, from the right host.
    async fn probe(
        &self,
        endpoint: &Endpoint,
        known: &KnownHosts,
        short_id: &str,
    ) -> Result<(), Failure> {
        let key = Arc::new(ssh::generate_key());
        match self
            .connect(
                endpoint,
                known,
                &format!("berth-check@{short_id}"),
                key,
                false,
            )
            .await
        {
            Ok(session) => {
                session.close().await;
                Ok(())
            }
            Err(Failure::Platform(e)) if e.downcast_ref::<Refused>().is_some() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Logs in; a temporary user's key is retried while the platform activates the user.
    async fn connect(
        &self,
        endpoint: &Endpoint,
        known: &KnownHosts,
        user: &str,
        key: Arc<russh::keys::PrivateKey>,
        activating: bool,
    ) -> Result<Session, Failure> {
        let start = Instant::now();
        let limit = (start + ACTIVATION_LIMIT).min(self.policy.deadline);
        let mut pause = Duration::from_millis(250);
        let mut said = false;
        for attempt in 1u32.. {
            self.progress
                .activity()
                .set(format!("logging in to {endpoint} as {user} over SSH"));
            match Session::connect(endpoint, known, user, key.clone(), CONNECT_TIMEOUT).await {
                Ok(session) => {
                    if said {
                        ci::info(format_args!(
                            "SSH user {user} is active after {:.1}s",
                            start.elapsed().as_secs_f64()
                        ));
                    }
                    return Ok(session);
                }
                Err(ConnectError::HostKey(e)) => {
                    let source = if self.deploy.known_hosts.is_some() {
                        "BERTH_SSH_KNOWN_HOSTS"
                    } else {
                        "mittwald's published host keys (give BERTH_SSH_KNOWN_HOSTS for another endpoint)"
                    };
                    return Err(anyhow!(
                        "the SSH endpoint {endpoint} is not the host it claims to be: {e}, checked against {source}; nothing was sent"
                    )
                    .into());
                }
                Err(ConnectError::Rejected) if activating && Instant::now() + pause < limit => {
                    if !said {
                        ci::info(format_args!(
                            "waiting for temporary SSH user {user} to be activated"
                        ));
                        said = true;
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(ConnectError::Rejected) if activating => {
                    return Err(anyhow!(
                        "temporary SSH user {user} was still not accepted after {:.0}s ({attempt} attempts)",
                        start.elapsed().as_secs_f64()
                    )
                    .into());
                }
                Err(ConnectError::Rejected) => {
                    return Err(anyhow::Error::new(Refused)
                        .context(format!(
                            "the SSH endpoint {endpoint} refused the key of BERTH_SSH_PRIVATE_KEY for user {user}: is it the user's key, and the user's project this one?"
                        ))
                        .into());
                }
                Err(ConnectError::Io(e)) => {
                    return Err(e
                        .context(format!("connecting to the SSH endpoint {endpoint}"))
                        .into());
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// Everything that happens over the connection.
    async fn deploy_over(
        &self,
        session: &Session,
        target: &Target,
        local: &tree::Local,
        excluded: &ignore::gitignore::Gitignore,
        installation: &AppInstallation,
    ) -> Result<(), Failure> {
        let dir = &target.dir;
        self.progress
            .activity()
            .set(format!("listing {dir} over SSH"));
        let listing = checked(
            session,
            &tree::listing_command(dir),
            "listing the directory",
        )
        .await?;
        let remote = tree::parse_listing(&listing)?;

        // Unchanged files: same size and mode, and the same SHA-256 on both sides.
        let candidates = tree::candidates(local, &remote);
        let mut remote_hashes = std::collections::HashMap::new();
        for command in tree::hash_commands(dir, &candidates) {
            let out = session.output(&command).await?;
            remote_hashes.extend(tree::parse_hashes(&out.stdout));
        }
        let local_hashes = {
            let root = self.deploy.path.clone();
            let paths: Vec<String> = candidates.iter().map(|p| p.to_string()).collect();
            tokio::task::spawn_blocking(move || {
                paths
                    .into_iter()
                    .filter_map(|p| Some((tree::local_hash(&root.join(&p)).ok()?, p)))
                    .map(|(h, p)| (p, h))
                    .collect::<std::collections::HashMap<_, _>>()
            })
            .await
            .map_err(|e| anyhow!("hashing BERTH_PATH stopped: {e}"))?
        };
        let same = |path: &str| {
            local_hashes
                .get(path)
                .is_some_and(|h| remote_hashes.get(path) == Some(h))
        };
        let stage = format!(
            ".berth-upload-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        // berth's own: its staging directories and the record of a finished deploy.
        let ours = |path: &str| is_staging(path) || path == MARKER;
        let delta = tree::delta(local, &remote, &same, self.deploy.delete, excluded, &ours);
        // Staging directories of interrupted earlier runs are always removed.
        let leftovers: Vec<String> = remote
            .entries
            .keys()
            .filter(|p| is_staging(p) && **p != stage)
            .cloned()
            .collect();

        let changed =
            !delta.send.is_empty() || !delta.delete.is_empty() || !delta.replace.is_empty();
        self.progress.update(|o| {
            o.files_deployed = Some(delta.files);
            o.bytes_deployed = Some(delta.bytes);
        });
        for command in tree::delete_commands(dir, &leftovers) {
            checked(
                session,
                &command,
                "removing an earlier run's staging directory",
            )
            .await?;
        }
        let record = marker_text(self.deploy);
        if !changed {
            // Unchanged files are not enough: the last deploy must also have finished its
            // install command and restart (a re-run of a failed job must not turn green).
            let finished = remote.entries.contains_key(MARKER)
                && session
                    .output(&format!(
                        "cat -- {}",
                        tree::quote(&format!("{dir}/{MARKER}"))
                    ))
                    .await
                    .is_ok_and(|out| out.status == 0 && out.stdout == record.as_bytes());
            if finished {
                ci::info(format_args!(
                    "{dir} already holds the {} files of BERTH_PATH and the last deploy finished: nothing sent, no install command, no restart",
                    local.files()
                ));
                if self.deploy.restart && self.wait {
                    let status = self.status(&installation.id).await?;
                    self.record(&status);
                }
                return Ok(());
            }
            ci::info(format_args!(
                "{dir} already holds the files of BERTH_PATH, but the last deploy did not finish (or ran another install command): running the rest"
            ));
        }
        // From here the directory is not what a finished deploy left: the record goes first,
        // so that a failure from now on is redone by the next run whatever it is given.
        if remote.entries.contains_key(MARKER) {
            let gone = format!("cd {} && rm -f -- {MARKER}", tree::quote(dir));
            checked(session, &gone, "clearing the record of the last deploy").await?;
        }
        if changed {
            self.send(session, dir, &stage, local, &delta).await?;
        }

        if let Some(command) = &self.deploy.install_command {
            self.install(session, dir, command).await?;
        }
        if self.deploy.restart && !self.restart(session, &installation.id).await? {
            // Not waited on, and mittnitectl said no: no record, so the next run restarts.
            return Ok(());
        }
        let write = format!(
            "cd {} && printf %s {} > {MARKER}",
            tree::quote(dir),
            tree::quote(&record)
        );
        checked(session, &write, "recording the finished deploy").await?;
        Ok(())
    }

    /// The files: one tar stream into the staging directory, then moved into place; the
    /// staging directory is removed on the way out, also on failure.
    async fn send(
        &self,
        session: &Session,
        dir: &str,
        stage: &str,
        local: &tree::Local,
        delta: &tree::Delta,
    ) -> Result<(), Failure> {
        ci::info(format_args!(
            "sending {} files ({} bytes) to {dir}",
            delta.files, delta.bytes
        ));
        self.progress
            .activity()
            .set(format!("sending {} files to {dir} over SSH", delta.files));
        let result = self.send_staged(session, dir, stage, local, delta).await;
        if result.is_err() {
            let remove = tree::delete_commands(dir, &[stage.to_string()]).join(" && ");
            if !matches!(session.output(&remove).await, Ok(out) if out.status == 0) {
                ci::warn(format_args!(
                    "could not remove the staging directory {dir}/{stage}; the next deploy removes it"
                ));
            }
        }
        result
    }

    async fn send_staged(
        &self,
        session: &Session,
        dir: &str,
        stage: &str,
        local: &tree::Local,
        delta: &tree::Delta,
    ) -> Result<(), Failure> {
        let (stream, written) = tree::tar_stream(self.deploy.path.clone(), local, delta);
        let mut err = Vec::new();
        let status = session
            .exec(
                &tree::extract_command(dir, stage),
                Some(Box::pin(stream)),
                &mut |which, bytes| {
                    if which == Stream::Err && err.len() < 64 * 1024 {
                        err.extend_from_slice(bytes);
                    }
                },
            )
            .await;
        let packed = written
            .await
            .map_err(|e| anyhow!("packing BERTH_PATH stopped: {e}"))?;
        if let Err(e) = packed {
            return Err(anyhow!("reading BERTH_PATH while sending it: {e}").into());
        }
        match status {
            Ok(0) => {}
            Ok(code) => {
                let message = format!("unpacking the files in {dir} failed (exit {code})");
                return Err(anyhow!(with_tail(&message, "error output", &lines_of(&err))).into());
            }
            Err(e) => return Err(e.context(format!("sending the files to {dir}")).into()),
        }
        for command in tree::commit_commands(dir, stage, local, delta) {
            checked(session, &command, "moving the files into place").await?;
        }
        if !delta.delete.is_empty() {
            ci::info(format_args!(
                "removing {} paths that BERTH_PATH lacks (BERTH_DELETE)",
                delta.delete.len()
            ));
            for command in tree::delete_commands(dir, &delta.delete) {
                checked(session, &command, "removing files BERTH_PATH lacks").await?;
            }
        }
        Ok(())
    }

    /// Runs `BERTH_INSTALL_COMMAND` in the directory, its output folded.
    async fn install(&self, session: &Session, dir: &str, command: &str) -> Result<(), Failure> {
        self.progress
            .activity()
            .set(format!("running BERTH_INSTALL_COMMAND in {dir}"));
        ci::info(format_args!("running in {dir}: {command}"));
        let section = ci::section(format_args!("berth: {command}"));
        let mut lines = Lines::default();
        let status = session
            .exec(&install_line(dir, command), None, &mut |_, bytes| {
                lines.push(bytes)
            })
            .await;
        lines.finish();
        drop(section);
        match status {
            Ok(0) => Ok(()),
            Ok(code) => {
                let message = format!("BERTH_INSTALL_COMMAND failed (exit {code}) in {dir}");
                let last: Vec<String> = lines.last.into_iter().collect();
                Err(anyhow!(with_tail(&message, "install command's output", &last)).into())
            }
            Err(e) => Err(e.context("running BERTH_INSTALL_COMMAND").into()),
        }
    }

    /// Restarts the app's job and, with `BERTH_WAIT`, waits until the API says it runs again
    /// since the restart. `mittnitectl` waits for the job itself (with `--wait`); meanwhile the
    /// API's status is read, so that an app that exits at start fails the run at once rather
    /// than after the whole wait.
    async fn restart(&self, session: &Session, id: &str) -> Result<bool, Failure> {
        let command = restart_command(self.wait);
        ci::info(format_args!("restarting the app: {command}"));
        self.progress.activity().set("restarting the app over SSH");
        // While mittnitectl waits, `exited` ends the run at once, unless the app had exited
        // before the restart (then only the state after mittnitectl's wait counts).
        let exited_before = self.wait && self.status(id).await?.state.as_deref() == Some("exited");
        let sent = Instant::now();
        let sent_at = SystemTime::now();
        let restarted = session.output(&command);
        tokio::pin!(restarted);
        let out = loop {
            tokio::select! {
                out = &mut restarted => break out?,
                () = tokio::time::sleep(Duration::from_millis(500)), if self.wait && !exited_before => {
                    let status = self.status(id).await?;
                    if status.state.as_deref() == Some("exited") {
                        self.record(&status);
                        return Err(self.app_down(session, status).await);
                    }
                }
            }
        };
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if !said.trim().is_empty() {
            ci::platform_lines("   ", &said.lines().map(printable).collect::<Vec<_>>());
        }
        if !self.wait {
            if out.status != 0 {
                ci::warn(format_args!(
                    "{command} exited {}; BERTH_WAIT=false, so berth does not wait for the app (the next run restarts it again)",
                    out.status
                ));
            }
            return Ok(out.status == 0);
        }
        let since_restart = || sent_at.elapsed().unwrap_or_default() + UPTIME_SLACK;
        let is_fresh = |status: &AppInstallationStatus| {
            status.uptime_seconds.is_none_or(|up| {
                Duration::try_from_secs_f64(up.max(0.0)).unwrap_or_default() <= since_restart()
            })
        };
        if out.status != 0 {
            // mittnitectl gave up (no such job, or it did not run within its wait): unless the
            // API already says the app runs since the restart, that is the answer.
            let status = self.status(id).await?;
            self.record(&status);
            if !(status.state.as_deref() == Some("running") && is_fresh(&status)) {
                let down = self.app_down(session, status).await;
                let message = format!("{command} failed (exit {}); {down}", out.status);
                let said = lines_of(said.as_bytes());
                return Err(anyhow!(with_tail(&message, "output of mittnitectl", &said)).into());
            }
        }
        let window_end = sent + RESTART_WAIT + Duration::from_secs(10);
        let result = wait::until(
            &format!("the app of installation {id} to run again"),
            self.policy.deadline,
            self.policy,
            || async {
                let status = self.status(id).await?;
                self.record(&status);
                let state = status.state.clone().unwrap_or_default();
                let fresh = is_fresh(&status);
                match state.as_str() {
                    "running" if fresh => Ok(Poll::Ready(status)),
                    "exited" => Err(AppDown(status).into()),
                    _ if Instant::now() >= window_end => Err(AppDown(status).into()),
                    "running" => Ok(Poll::Pending("running since before the restart".into())),
                    other => Ok(Poll::Pending(format!("app {other}"))),
                }
            },
        )
        .await;
        match result {
            Ok(_) => {
                ci::info("the app runs again");
                Ok(true)
            }
            Err(wait::WaitError::Failed(e)) => match e.downcast::<AppDown>() {
                Ok(AppDown(status)) => Err(self.app_down(session, status).await),
                Err(e) => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    fn record(&self, status: &AppInstallationStatus) {
        self.progress
            .update(|o| o.app_status = status.state.clone());
    }

    /// The error for an app that did not come back: its state, where its log is, and the
    /// log's last lines when they can be read.
    async fn app_down(&self, session: &Session, status: AppInstallationStatus) -> Failure {
        let state = status.state.as_deref().unwrap_or("unknown");
        let mut message = format!("the app did not come back after the restart: it is {state}");
        if let Some(code) = status.last_exit_code {
            message.push_str(&format!(" (last exit code {code})"));
        }
        if let Some(log) = status
            .log_file_location
            .as_deref()
            .filter(|l| !l.is_empty())
        {
            message.push_str(&format!("; its log is {log}"));
            if let Ok(out) = session
                .output(&format!("tail -n {TAIL_LINES} -- {}", tree::quote(log)))
                .await
                && out.status == 0
                && !out.stdout.is_empty()
            {
                message = with_tail(&message, "app's log", &lines_of(&out.stdout));
            }
        }
        anyhow!(message).into()
    }

    async fn status(&self, id: &str) -> anyhow::Result<AppInstallationStatus> {
        call(
            self.client
                .app_retrieve_status()
                .app_installation_id(id)
                .send(),
        )
        .await
        .with_context(|| format!("reading the app status of installation {id}"))
    }
}

/// A login the endpoint refused.
#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the login was refused")
    }
}

impl std::error::Error for Refused {}

/// An app that is `exited`, or not running when the restart's wait is over.
#[derive(Debug)]
struct AppDown(AppInstallationStatus);

impl std::fmt::Display for AppDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the app is {}",
            self.0.state.as_deref().unwrap_or("unknown")
        )
    }
}

impl std::error::Error for AppDown {}

/// What the record of a finished deploy says: what ran after the files, as a SHA-256 (the
/// install command may hold a secret; the record must not).
fn marker_text(deploy: &Deploy) -> String {
    let ran = format!(
        "install command: {}\nrestart: {}\n",
        deploy.install_command.as_deref().unwrap_or("(none)"),
        deploy.restart
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, ran.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("deployed by berth {hex}\n")
}

/// How `BERTH_INSTALL_COMMAND` runs: in the directory, with the login's shell and `set -e` (as
/// a CI step's script runs), and in the background of a shell that ends the whole process
/// group when berth's end of the channel signals it (on a timeout or a signal): sshd itself
/// leaves a command without a terminal running when its channel closes, and a shell defers a
/// trap while it waits for a command in the foreground.
fn install_line(dir: &str, command: &str) -> String {
    // The trap clears itself first: `kill 0` signals its own shell too.
    let script =
        format!("trap 'trap - TERM HUP; kill -TERM 0' TERM HUP; (set -e\n{command}\n) & wait $!");
    format!(
        "cd {} && exec \"${{SHELL:-sh}}\" -c {}",
        tree::quote(dir),
        tree::quote(&script)
    )
}

/// The restart. `mittnitectl` waits for the job only with `--wait`, and by default 5 s; without
/// `BERTH_WAIT` nothing waits.
fn restart_command(wait: bool) -> String {
    if wait {
        format!(
            "mittnitectl job restart --wait --wait-for {}s",
            RESTART_WAIT.as_secs()
        )
    } else {
        "mittnitectl job restart".to_string()
    }
}

/// Runs `command` and answers its stdout; a non-zero exit is an error with `what` and stderr.
async fn checked(session: &Session, command: &str, what: &str) -> Result<Vec<u8>, Failure> {
    let out = session
        .output(command)
        .await
        .with_context(|| what.to_string())?;
    if out.status != 0 {
        let message = format!("{what} failed (exit {})", out.status);
        return Err(anyhow!(with_tail(&message, "error output", &lines_of(&out.stderr))).into());
    }
    Ok(out.stdout)
}

/// `BERTH_DELETE` removes what the directory holds beyond `BERTH_PATH`: never the web root
/// itself, nor a directory that holds another installation (exit 1, before anything is sent).
fn refuse_delete(target: &Target, others: &[String]) -> Result<(), Failure> {
    let dir = target.dir.trim_end_matches('/');
    let web = target.web.trim_end_matches('/');
    let problem = if dir == web || dir.is_empty() {
        Some(format!(
            "the installation's directory {} is the project's web root; BERTH_DELETE would remove everything else there",
            target.dir
        ))
    } else {
        others
            .iter()
            .map(|path| join(web, path))
            .find(|other| other.trim_end_matches('/') == dir || other.starts_with(&format!("{dir}/")))
            .map(|other| {
                format!(
                    "{} holds another installation's directory ({other}); BERTH_DELETE would remove it",
                    target.dir
                )
            })
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(anyhow!("{problem}; nothing was removed or sent").into()),
    }
}

/// `web` + `path`, one slash between.
/// `web` + `path`, one slash between, without empty or `.` parts (`..` never reaches here: see
/// [`Deployer::target`]).
fn join(web: &str, path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() {
        web.to_string()
    } else {
        format!("{}/{}", web.trim_end_matches('/'), parts.join("/"))
    }
}

/// A staging directory berth makes inside the installation's directory.
fn is_staging(path: &str) -> bool {
    path.starts_with(".berth-upload-") && !path.contains('/')
}

/// The lines of a remote command's output, printable, without empty ones.
fn lines_of(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(printable)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// A remote command's output, printed line by line as it comes (inert for the CI platform)
/// and its last lines kept for an error.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
    last: std::collections::VecDeque<String>,
}

impl Lines {
    fn push(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        let complete: Vec<u8> = self.partial.drain(..=end).collect();
        let lines: Vec<String> = String::from_utf8_lossy(&complete)
            .lines()
            .map(printable)
            .collect();
        self.show(lines);
    }

    fn finish(&mut self) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.show(vec![printable(&String::from_utf8_lossy(&rest))]);
        }
    }

    fn show(&mut self, lines: Vec<String>) {
        ci::platform_lines("   ", &lines);
        for line in lines {
            if self.last.len() == TAIL_LINES {
                self.last.pop_front();
            }
            self.last.push_back(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dir: &str) -> Target {
        Target {
            dir: dir.into(),
            web: "/html".into(),
            endpoint: Endpoint {
                host: "ssh.example".into(),
                port: 22,
            },
            short_id: "a-1".into(),
        }
    }

    #[test]
    fn the_directory_is_the_web_directory_and_the_path_without_empty_or_dot_parts() {
        assert_eq!(join("/html", "/shop"), "/html/shop");
        assert_eq!(join("/html/", "shop/api/"), "/html/shop/api");
        assert_eq!(join("/html", "/./shop//"), "/html/shop");
        assert_eq!(join("/html", "/"), "/html");
        assert_eq!(join("/html", "."), "/html");
    }

    #[test]
    fn delete_is_refused_for_the_web_root_and_a_directory_holding_another_installation() {
        let refused = |dir: &str, others: &[&str]| {
            let others: Vec<String> = others.iter().map(|o| o.to_string()).collect();
            refuse_delete(&target(dir), &others).is_err()
        };
        assert!(refused("/html", &[]));
        assert!(refused(&join("/html", "."), &[]));
        assert!(refused("/html/shop", &["/shop/api"]));
        assert!(refused("/html/shop", &["/shop"]), "the same directory");
        assert!(!refused("/html/shop", &["/shopping", "/other"]));
        assert!(
            !refused("/html/shop/api", &["/shop"]),
            "inside another is its business"
        );
    }

    #[test]
    fn the_install_command_stops_at_its_first_failing_line_and_its_group_ends_on_term() {
        let line = install_line("/html/it's", "npm ci\nnpm run build");
        assert!(
            line.starts_with("cd '/html/it'\\''s' && exec \"${SHELL:-sh}\" -c "),
            "{line}"
        );
        assert!(line.contains("set -e"), "{line}");
        assert!(line.contains("trap - TERM HUP; kill -TERM 0"), "{line}");
        let ran = std::process::Command::new("sh")
            .arg("-c")
            .arg(install_line("/", "false\necho reached"))
            .output()
            .unwrap();
        assert!(!ran.status.success());
        assert!(!String::from_utf8_lossy(&ran.stdout).contains("reached"));
    }
}
