//! The SSH endpoint of the simulated mittwald (`ssh.<clusterId>.<clusterDomain>` on the real
//! platform), pure Rust (russh): it listens on loopback beside the HTTP server
//! ([`SimHandle::ssh_addr`](crate::SimHandle::ssh_addr)), with an ed25519 host key made at start
//! ([`SimHandle::ssh_known_hosts`](crate::SimHandle::ssh_known_hosts), `GET
//! /__sim/ssh/known_hosts`).
//!
//! **Login**: `<ssh user name>@<installation short id>` (API-NOTES: the `@` is part of the
//! user) with a public key registered through `POST /v2/projects/{id}/ssh-users`; only an
//! active user past its activation delay and expiry, and only for an installation of the
//! user's project. Public keys only: no password, no keyboard-interactive.
//!
//! **Files**: each project's file system is a directory under a temporary directory the
//! simulator owns (made at the first login, removed when the simulator is dropped); absolute
//! paths in commands are paths of that file system (`/html/app-x` is
//! `<project dir>/html/app-x`), and `..` never leaves it. A login starts in
//! `directories["Web"]` + `installationPath`
//! ([`SimHandle::installation_dir`](crate::SimHandle::installation_dir) is the same directory
//! on the host).
//!
//! **Commands**: exec channels run a small command language (`shell.rs`), not a real shell;
//! no interactive shell and no SFTP subsystem (both refused). Closing the channel ends a
//! running command. Every login and command is recorded
//! ([`SimHandle::ssh_log`](crate::SimHandle::ssh_log), `GET /__sim/ssh/log`).

mod builtins;
mod jail;
mod shell;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelMsg};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::mittwald::SshLogin;
use crate::state::Shared;

pub(crate) use jail::{Jail, ensure_log_file, host_path};

/// Recorded SSH events beyond this many push out the oldest.
const MAX_SSH_EVENTS: usize = 10_000;

/// One thing that happened on the simulated SSH endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshEvent {
    /// The login name as the client sent it (`ssh-xxxxxx@a-xxxxxx`).
    pub login: String,
    /// `login` (accepted), `refused` (a key the login may not use now; `detail` says why) or
    /// `exec` (a command line; `detail` is the line).
    pub kind: String,
    /// The reason of a refusal or the command line.
    pub detail: String,
    /// An `exec`'s exit status once it ended; `None` while running or when closing the
    /// channel ended it.
    pub exit_status: Option<u32>,
    /// Whether the command has ended (by itself or by the channel closing).
    pub ended: bool,
}

/// The SSH side of [`Shared`]: where it listens, its host key, the files, the record.
pub(crate) struct SshShared {
    pub(crate) addr: SocketAddr,
    host_key: PrivateKey,
    files: Mutex<Option<tempfile::TempDir>>,
    log: Mutex<Vec<SshEvent>>,
}

impl SshShared {
    /// A fresh ed25519 host key for a server on `addr`.
    pub(crate) fn new(addr: SocketAddr) -> std::io::Result<Self> {
        use ring::rand::SecureRandom as _;
        let mut seed = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| std::io::Error::other("no randomness for the SSH host key"))?;
        Ok(Self {
            addr,
            host_key: PrivateKey::from(Ed25519Keypair::from_seed(&seed)),
            files: Mutex::new(None),
            log: Mutex::new(Vec::new()),
        })
    }

    /// The host's public key, `ssh-ed25519 AAAA…`.
    pub(crate) fn host_public_key(&self) -> String {
        self.host_key.public_key().to_openssh().unwrap_or_default()
    }

    /// One OpenSSH known_hosts line for the server: `[127.0.0.1]:PORT ssh-ed25519 AAAA…`.
    pub(crate) fn known_hosts(&self) -> String {
        format!(
            "[{}]:{} {}\n",
            self.addr.ip(),
            self.addr.port(),
            self.host_public_key()
        )
    }

    /// The temporary directory holding every project's file system, made on first use.
    pub(crate) fn files_root(&self) -> std::io::Result<PathBuf> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if files.is_none() {
            *files = Some(
                tempfile::Builder::new()
                    .prefix("berth-sim-files-")
                    .tempdir()?,
            );
        }
        Ok(files
            .as_ref()
            .map(|dir| dir.path().to_path_buf())
            .unwrap_or_default())
    }

    pub(crate) fn log(&self) -> MutexGuard<'_, Vec<SshEvent>> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event and returns its number, for [`SshShared::ended`].
    fn record(&self, login: &str, kind: &str, detail: &str) -> usize {
        let mut log = self.log();
        if log.len() >= MAX_SSH_EVENTS {
            log.remove(0);
        }
        log.push(SshEvent {
            login: login.to_owned(),
            kind: kind.to_owned(),
            detail: detail.to_owned(),
            exit_status: None,
            ended: kind != "exec",
        });
        log.len() - 1
    }

    fn ended(&self, index: usize, exit_status: Option<u32>) {
        if let Some(event) = self.log().get_mut(index) {
            event.exit_status = exit_status;
            event.ended = true;
        }
    }
}

/// Serves SSH on `listener` from tasks of the current runtime.
pub(crate) fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let config = Arc::new(russh::server::Config {
        server_id: russh::SshId::Standard("SSH-2.0-berth-sim".into()),
        keys: vec![shared.ssh.host_key.clone()],
        // Nothing secret to protect by slow refusals; clients retrying an activation wait
        // for the platform, not for this.
        auth_rejection_time: Duration::from_millis(10),
        auth_rejection_time_initial: Some(Duration::ZERO),
        inactivity_timeout: Some(Duration::from_secs(600)),
        nodelay: true,
        ..Default::default()
    });
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let handler = Connection {
                shared: Arc::clone(&shared),
                login: None,
                channels: HashMap::new(),
            };
            let config = Arc::clone(&config);
            tokio::spawn(async move {
                // A client going away mid-handshake or mid-session is its own business.
                if let Ok(session) = russh::server::run_stream(config, stream, handler).await {
                    let _ = session.await;
                }
            });
        }
    });
}

/// One client connection.
struct Connection {
    shared: Arc<Shared>,
    /// The login name and what it may do, once authenticated.
    login: Option<(String, SshLogin)>,
    channels: HashMap<ChannelId, Channel<Msg>>,
}

impl Connection {
    fn check(&self, login: &str, key: &PublicKey) -> Result<SshLogin, String> {
        let state = self.shared.lock();
        state
            .mittwald
            .ssh_login(&state.options, login, key, Instant::now())
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        match self.check(user, offer.public_key) {
            Ok(_) => Ok(Auth::Accept),
            Err(reason) => {
                self.shared.ssh.record(user, "refused", &reason);
                Ok(Auth::reject())
            }
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        match self.check(user, key.public_key) {
            Ok(login) => {
                self.shared
                    .ssh
                    .record(user, "login", &login.installation_dir);
                self.login = Some((user.to_owned(), login));
                Ok(Auth::Accept)
            }
            Err(reason) => {
                self.shared.ssh.record(user, "refused", &reason);
                Ok(Auth::reject())
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (Some(open), Some((name, login))) = (self.channels.remove(&channel), &self.login)
        else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        session.channel_success(channel)?;
        let line = String::from_utf8_lossy(data).into_owned();
        let event = self.shared.ssh.record(name, "exec", &line);
        let shared = Arc::clone(&self.shared);
        let login = login.clone();
        tokio::spawn(async move {
            let status = exec(&shared, login, open, &line).await;
            shared.ssh.ended(event, status);
        });
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Exec channels only: an interactive shell is not simulated.
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // No SFTP: the deploy goes as one tar stream over an exec channel.
        session.channel_failure(channel)?;
        Ok(())
    }
}

/// Runs `line` on `channel` and answers with its exit status; `None` when the client closed
/// the channel (or the connection) first, which ends the command.
async fn exec(
    shared: &Arc<Shared>,
    login: SshLogin,
    channel: Channel<Msg>,
    line: &str,
) -> Option<u32> {
    let (mut read, write) = channel.split();
    let (input, stdin) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
    let (closed_tx, mut closed) = tokio::sync::watch::channel(false);
    // The client's side of the channel: data for the command's stdin (dropped once the command
    // no longer reads it), EOF, and the close that ends the command.
    tokio::spawn(async move {
        let mut input = Some(input);
        loop {
            match read.wait().await {
                Some(ChannelMsg::Data { data }) => {
                    if let Some(sender) = &input
                        && sender.send(data).await.is_err()
                    {
                        input = None;
                    }
                }
                Some(ChannelMsg::Eof) => input = None,
                Some(ChannelMsg::Close) | None => break,
                Some(_) => {}
            }
        }
        let _ = closed_tx.send(true);
    });
    let mut stdout = write.make_writer();
    let mut stderr = write.make_writer_ext(Some(1));
    let jail = match Jail::for_login(shared, &login) {
        Ok(jail) => jail,
        Err(error) => {
            let _ = stderr
                .write_all(format!("berth-sim: the project's files: {error}\n").as_bytes())
                .await;
            let _ = stderr.flush().await;
            let _ = write.exit_status(1).await;
            let _ = write.eof().await;
            let _ = write.close().await;
            return Some(1);
        }
    };
    let context = shell::Context {
        shared: Arc::clone(shared),
        login,
        jail,
    };
    let run = shell::run_line(context, line, stdin, &mut stdout, &mut stderr);
    let status = tokio::select! {
        status = run => Some(status),
        _ = closed.wait_for(|closed| *closed) => None,
    };
    if let Some(status) = status {
        let _ = stdout.flush().await;
        let _ = stderr.flush().await;
        let _ = write.exit_status(status).await;
        let _ = write.eof().await;
        let _ = write.close().await;
    }
    status
}
