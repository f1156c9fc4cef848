//! A small SSH client (russh) for the deploy: log in with a key, run commands, stream a
//! command's input and output.
//!
//! The server's host key is checked against [`KnownHosts`] during the key exchange, before
//! anything of the login is sent. Each command runs on its own session channel; several may
//! run at once on one [`Session`]. A command whose [`Session::exec`] future is dropped (a
//! timeout, a signal) is sent a `TERM` signal request and its channel closed, which ends it on
//! the server (OpenSSH does not end a command without a terminal on the close alone; russh
//! itself sends nothing when a channel is dropped, so [`exec`](Session::exec) holds a guard
//! that does).

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use russh::client::{self, Msg};
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{Algorithm, HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, ChannelWriteHalf, Disconnect, Sig};
use tokio::io::{AsyncRead, AsyncReadExt as _};

use super::known_hosts::{HostKeyError, KnownHosts};

/// How often a keepalive goes to a server that has been silent; after three unanswered ones
/// the connection counts as lost.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The chunk in which a command's input is read and sent.
const INPUT_CHUNK: usize = 32 * 1024;

/// [`Session::output`] refuses more stdout than this.
pub const MAX_STDOUT: usize = 256 * 1024 * 1024;

/// [`Session::output`] keeps the last this many bytes of stderr.
pub const MAX_STDERR: usize = 64 * 1024;

/// Where an SSH server listens: `host` (port 22), `host:port`, `[v6addr]` or `[v6addr]:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// A host name or IP address (an IPv6 address without brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

impl Endpoint {
    /// Parses `host`, `host:port`, `[v6addr]:port` or `[v6addr]`; the port defaults to 22.
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let Some((host, after)) = rest.split_once(']') else {
                return Err("an opening `[` without its `]`".to_owned());
            };
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err("only `:port` may follow `[address]`".to_owned()),
                },
            }
        } else {
            match s.matches(':').count() {
                0 => (s, None),
                1 => s
                    .split_once(':')
                    .map(|(host, port)| (host, Some(port)))
                    .unwrap_or((s, None)),
                _ => {
                    return Err(
                        "an IPv6 address goes in brackets: [2001:db8::1] or [2001:db8::1]:22"
                            .to_owned(),
                    );
                }
            }
        };
        if host.is_empty() {
            return Err("no host".to_owned());
        }
        if host
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '@' | '/' | '[' | ']'))
        {
            return Err(
                "the host has a character no host name has (whitespace, `@`, `/` or brackets)"
                    .to_owned(),
            );
        }
        let port = match port {
            None => 22,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => return Err("the port is not a number from 1 to 65535".to_owned()),
            },
        };
        Ok(Endpoint {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A fresh ed25519 key, in memory only, from the operating system's randomness: the deploy's
/// own key for a temporary SSH user.
pub fn generate_key() -> PrivateKey {
    use ring::rand::SecureRandom as _;
    let mut seed = [0u8; 32];
    // The OS's randomness failing leaves nothing sensible to do: no key can be made safely.
    ring::rand::SystemRandom::new()
        .fill(&mut seed)
        .expect("randomness from the operating system for an SSH key");
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    seed.fill(0);
    key
}

/// The public half of `key` as one line without comment, `ssh-ed25519 AAAA…`: what the
/// mittwald API takes for an SSH user's key.
pub fn public_line(key: &PrivateKey) -> String {
    let line = key
        .public_key()
        .to_openssh()
        .expect("an in-memory public key encodes");
    line.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

/// Parses an unencrypted private key in the OpenSSH format (`-----BEGIN OPENSSH PRIVATE
/// KEY-----`), as given in a CI secret: `\r\n` line ends and surrounding whitespace are fine.
///
/// The error is a short reason to follow the key's name ("BERTH_SSH_KEY has a passphrase; …")
/// and never holds any part of the text.
pub fn parse_private_key(text: &str) -> Result<PrivateKey, String> {
    let text = text.trim().replace("\r\n", "\n");
    if !text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
        return Err(
            if text.starts_with("-----BEGIN ") && text.contains(" PRIVATE KEY-----") {
                "is a PEM private key, not one in the OpenSSH format; convert it with \
                 `ssh-keygen -p -f FILE` (which writes the OpenSSH format)"
            } else {
                "is not an OpenSSH private key (it begins with -----BEGIN OPENSSH PRIVATE KEY-----)"
            }
            .to_owned(),
        );
    }
    let key = PrivateKey::from_openssh(&text).map_err(|error| {
        // ssh-key's messages hold no key material, but a fixed set of reasons is sure not to.
        use russh::keys::ssh_key::Error;
        match error {
            Error::AlgorithmUnknown | Error::AlgorithmUnsupported { .. } => {
                "is of a key type berth does not support"
            }
            _ => "does not decode as an OpenSSH private key (damaged or cut short)",
        }
        .to_owned()
    })?;
    if key.is_encrypted() {
        return Err("has a passphrase; give a key without one".to_owned());
    }
    Ok(key)
}

/// Why [`Session::connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server's host key is not a known one: nothing of the login was sent.
    #[error(transparent)]
    HostKey(HostKeyError),
    /// The server refused the key: a wrong key, or (for a freshly created mittwald SSH user)
    /// one not activated yet, which is worth retrying for a while.
    #[error("the SSH server refused the login")]
    Rejected,
    /// Anything else: no connection, a timeout, a broken handshake.
    #[error("{0:#}")]
    Io(anyhow::Error),
}

/// Which output stream a chunk came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The command's stdout.
    Out,
    /// The command's stderr.
    Err,
}

/// What [`Session::output`] collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit status.
    pub status: u32,
    /// All of stdout.
    pub stdout: Vec<u8>,
    /// The last [`MAX_STDERR`] bytes of stderr.
    pub stderr: Vec<u8>,
}

/// A logged-in SSH connection.
pub struct Session {
    /// Shared with the guards of running commands: a dropped command's signal and close need
    /// the connection to stay up until they are sent.
    handle: Arc<client::Handle<Client>>,
    bytes_sent: AtomicU64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("bytes_sent", &self.bytes_sent())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects to `endpoint`, checks the server's host key against `known` (for
    /// `endpoint.host` and `endpoint.port`, before anything else is sent) and logs in as
    /// `user` with `key`. `timeout` bounds the TCP connect, the handshake and the login
    /// together.
    pub async fn connect(
        endpoint: &Endpoint,
        known: &KnownHosts,
        user: &str,
        key: Arc<PrivateKey>,
        timeout: Duration,
    ) -> Result<Session, ConnectError> {
        let config = Arc::new(client::Config {
            keepalive_interval: Some(KEEPALIVE),
            keepalive_max: 3,
            // Commands such as `npm ci` can be silent for many minutes; the keepalives find a
            // lost connection instead.
            inactivity_timeout: None,
            nodelay: true,
            preferred: russh::Preferred {
                key: host_key_order(&known.key_algorithms(&endpoint.host, endpoint.port)).into(),
                ..russh::Preferred::default()
            },
            ..client::Config::default()
        });
        let handler = Client {
            known: known.clone(),
            host: endpoint.host.clone(),
            port: endpoint.port,
        };
        let login = async {
            let mut handle =
                client::connect(config, (endpoint.host.as_str(), endpoint.port), handler)
                    .await
                    .map_err(|error| match error {
                        ClientError::HostKey(error) => ConnectError::HostKey(error),
                        ClientError::Ssh(error) => ConnectError::Io(
                            anyhow::Error::new(error)
                                .context(format!("no SSH connection to {endpoint}")),
                        ),
                    })?;
            let hash = if key.algorithm().is_rsa() {
                // rsa-sha2-512 or -256 as the server announces; a server without the
                // announcement is most likely a modern OpenSSH all the same.
                handle
                    .best_supported_rsa_hash()
                    .await
                    .map_err(|error| io(error, "the SSH login"))?
                    .unwrap_or(Some(HashAlg::Sha256))
            } else {
                None
            };
            let auth = handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
                .await
                .map_err(|error| io(error, "the SSH login"))?;
            if auth.success() {
                Ok(handle)
            } else {
                Err(ConnectError::Rejected)
            }
        };
        let handle = tokio::time::timeout(timeout, login).await.map_err(|_| {
            ConnectError::Io(anyhow!(
                "no SSH session with {endpoint} within {}",
                humantime::format_duration(timeout)
            ))
        })??;
        Ok(Session {
            handle: Arc::new(handle),
            bytes_sent: AtomicU64::new(0),
        })
    }

    /// Runs `command` on its own channel: sends `stdin` (if any) then EOF, hands every chunk
    /// of stdout and stderr to `output` as it comes, and returns the exit status. A command
    /// ended by a signal, or a channel that closes without an exit status, is an error.
    ///
    /// Dropping the future closes the channel, which ends the command on the server.
    pub async fn exec(
        &self,
        command: &str,
        stdin: Option<Pin<Box<dyn AsyncRead + Send>>>,
        output: &mut (dyn FnMut(Stream, &[u8]) + Send),
    ) -> anyhow::Result<u32> {
        self.run(command, stdin, &mut |stream, data| {
            output(stream, data);
            Ok(())
        })
        .await
    }

    /// Runs `command` without input and collects its output: stdout up to [`MAX_STDOUT`]
    /// (more is an error, and ends the command), the last [`MAX_STDERR`] bytes of stderr.
    pub async fn output(&self, command: &str) -> anyhow::Result<Output> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let status = self
            .run(command, None, &mut |stream, data| {
                match stream {
                    Stream::Out => {
                        if stdout.len() + data.len() > MAX_STDOUT {
                            bail!(
                                "the command wrote more than {} MiB to stdout",
                                MAX_STDOUT >> 20
                            );
                        }
                        stdout.extend_from_slice(data);
                    }
                    Stream::Err => {
                        stderr.extend_from_slice(data);
                        // Trimmed now and then rather than on every chunk.
                        if stderr.len() > 2 * MAX_STDERR {
                            stderr.drain(..stderr.len() - MAX_STDERR);
                        }
                    }
                }
                Ok(())
            })
            .await?;
        if stderr.len() > MAX_STDERR {
            stderr.drain(..stderr.len() - MAX_STDERR);
        }
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// The payload bytes sent on channels so far: the commands' input.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent.load(Ordering::Relaxed)
    }

    /// Says goodbye to the server and waits (briefly) until the connection is down.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
        if let Ok(handle) = Arc::try_unwrap(self.handle) {
            let _ = tokio::time::timeout(Duration::from_secs(5), handle).await;
        }
    }

    /// [`Session::exec`] with an `output` that may stop the command (its error is the
    /// result).
    async fn run(
        &self,
        command: &str,
        stdin: Option<Pin<Box<dyn AsyncRead + Send>>>,
        output: &mut (dyn FnMut(Stream, &[u8]) -> anyhow::Result<()> + Send),
    ) -> anyhow::Result<u32> {
        let channel = self
            .handle
            .channel_open_session()
            .await
            .context("opening an SSH channel")?;
        let (mut read, write) = channel.split();
        let guard = CloseOnDrop::new(write, self.handle.clone());
        let write = guard.write();
        write
            .exec(true, command)
            .await
            .context("starting the command over SSH")?;

        let sending = async {
            if let Some(mut input) = stdin {
                let mut buffer = vec![0u8; INPUT_CHUNK];
                loop {
                    let n = input
                        .read(&mut buffer)
                        .await
                        .context("reading the command's input")?;
                    if n == 0 {
                        break;
                    }
                    // A channel that no longer takes data is the command's (or connection's)
                    // end: the reading side reports it.
                    if write
                        .data_bytes(bytes::Bytes::copy_from_slice(&buffer[..n]))
                        .await
                        .is_err()
                    {
                        return Ok(());
                    }
                    self.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
            let _ = write.eof().await;
            anyhow::Ok(())
        };
        let reading = async {
            let (mut status, mut signal) = (None, None);
            loop {
                match read.wait().await {
                    Some(ChannelMsg::Data { data }) => output(Stream::Out, &data)?,
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                        output(Stream::Err, &data)?;
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
                    Some(ChannelMsg::ExitSignal {
                        signal_name,
                        core_dumped,
                        error_message,
                        ..
                    }) => signal = Some((signal_name, core_dumped, error_message)),
                    Some(ChannelMsg::Failure) => bail!("the SSH server refused to run the command"),
                    // The server closed the channel (russh has answered its close), or the
                    // connection is gone.
                    Some(ChannelMsg::Close) | None => break,
                    Some(_) => {}
                }
            }
            anyhow::Ok((status, signal))
        };
        tokio::pin!(sending, reading);
        let mut sent = false;
        let (status, signal) = loop {
            tokio::select! {
                result = &mut sending, if !sent => {
                    sent = true;
                    result?;
                }
                result = &mut reading => break result?,
            }
        };
        // The channel is closed on both sides now: nothing for the guard to do.
        guard.disarm();
        if let Some((signal, core_dumped, message)) = signal {
            let core = if core_dumped { " (core dumped)" } else { "" };
            let message = message.trim();
            let message = if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            };
            bail!(
                "the command was killed by signal {}{core}{message}",
                signal_name(&signal)
            );
        }
        status.ok_or_else(|| anyhow!("the SSH channel closed without the command's exit status"))
    }
}

/// Closes the channel when dropped before the command's end: russh sends no close for a
/// dropped channel, and without one the command would run on.
struct CloseOnDrop {
    /// Always there; taken only by `drop`.
    write: Option<ChannelWriteHalf<Msg>>,
    /// Keeps the connection up until the close is sent.
    connection: Option<Arc<client::Handle<Client>>>,
    armed: AtomicBool,
}

impl CloseOnDrop {
    fn new(write: ChannelWriteHalf<Msg>, connection: Arc<client::Handle<Client>>) -> Self {
        Self {
            write: Some(write),
            connection: Some(connection),
            armed: AtomicBool::new(true),
        }
    }

    fn write(&self) -> &ChannelWriteHalf<Msg> {
        self.write
            .as_ref()
            .expect("the channel's write half until the guard's drop")
    }

    /// The channel is closed on both sides: nothing to do.
    fn disarm(&self) {
        self.armed.store(false, Ordering::Relaxed);
    }
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        // A close needs the session's task; outside a runtime the connection is going away
        // anyway, and the command with it.
        if self.armed.load(Ordering::Relaxed)
            && let Some(write) = self.write.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let connection = self.connection.take();
            runtime.spawn(async move {
                // OpenSSH does not end a command whose channel closes (no terminal, no
                // SIGHUP): it is signalled first (OpenSSH 7.9+ takes `signal` requests and
                // signals the command's process group).
                let _ = write.signal(Sig::TERM).await;
                let _ = write.close().await;
                drop(connection);
            });
        }
    }
}

/// A signal as the server named it (`TERM`, `KILL`, …).
fn signal_name(signal: &Sig) -> String {
    match signal {
        Sig::Custom(name) => name.clone(),
        other => format!("{other:?}"),
    }
}

/// The host key algorithms to ask for: those of the known keys for the host first (the RSA
/// ones with SHA-2 signatures before SHA-1), then russh's defaults. Like OpenSSH, so that a
/// server with several host keys shows one that can be checked.
fn host_key_order(known: &[Algorithm]) -> Vec<Algorithm> {
    let mut order = Vec::new();
    for algorithm in known {
        if algorithm.clone().is_rsa() {
            order.extend(
                [Some(HashAlg::Sha512), Some(HashAlg::Sha256), None]
                    .map(|hash| Algorithm::Rsa { hash }),
            );
        } else {
            order.push(algorithm.clone());
        }
    }
    for algorithm in russh::Preferred::DEFAULT.key.iter() {
        if !order.contains(algorithm) {
            order.push(algorithm.clone());
        }
    }
    order
}

fn io(error: russh::Error, what: &str) -> ConnectError {
    ConnectError::Io(anyhow::Error::new(error).context(format!("{what} failed")))
}

/// russh's side of the connection: the host key check.
struct Client {
    known: KnownHosts,
    host: String,
    port: u16,
}

/// The handler's error: a refused host key is told apart from russh's own errors.
#[derive(Debug)]
enum ClientError {
    HostKey(HostKeyError),
    Ssh(russh::Error),
}

impl From<russh::Error> for ClientError {
    fn from(error: russh::Error) -> Self {
        Self::Ssh(error)
    }
}

impl client::Handler for Client {
    type Error = ClientError;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self
                .known
                .check(&self.host, self.port, key)
                .map(|()| true)
                .map_err(ClientError::HostKey),
            // Host certificates are not asked for (they would need @cert-authority lines).
            PublicKeyOrCertificate::Certificate(_) => {
                Err(ClientError::HostKey(HostKeyError::Unknown {
                    host: self.host.clone(),
                    port: self.port,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_sim::mittwald::{NODE_APP_ID, NODE_VERSION_1_0_0_ID};
    use berth_sim::{DEFAULT_TOKEN, SeedInstallation, SimHandle, SimOptions};
    use russh::keys::ssh_key::LineEnding;
    use std::time::Instant;

    const PROJECT: &str = "p-sshtest";

    /// A simulator with a Node.js installation and an active SSH user of its project.
    struct Fixture {
        sim: SimHandle,
        endpoint: Endpoint,
        known: KnownHosts,
        login: String,
        key: Arc<PrivateKey>,
    }

    impl Fixture {
        async fn start() -> Fixture {
            crate::http::install_crypto_provider();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let sim = berth_sim::serve(
                listener,
                SimOptions {
                    ssh_activation: Duration::ZERO,
                    consistency_delay: Duration::ZERO,
                    ..SimOptions::default()
                },
            )
            .await
            .unwrap();
            let id = sim.seed_installation(SeedInstallation {
                project_id: PROJECT.to_owned(),
                app_id: NODE_APP_ID.to_owned(),
                app_version_id: NODE_VERSION_1_0_0_ID.to_owned(),
                description: "ssh test".to_owned(),
                ..SeedInstallation::default()
            });
            let short_id = sim
                .installations()
                .into_iter()
                .find(|i| i["id"] == id.as_str())
                .unwrap()["shortId"]
                .as_str()
                .unwrap()
                .to_owned();
            let key = generate_key();
            let user: serde_json::Value = reqwest::Client::new()
                .post(format!("{}/v2/projects/{PROJECT}/ssh-users", sim.url()))
                .header("x-access-token", DEFAULT_TOKEN)
                .json(&serde_json::json!({
                    "description": "berth ssh test",
                    "authentication": { "publicKeys": [{ "comment": "test", "key": public_line(&key) }] },
                }))
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap()
                .json()
                .await
                .unwrap();
            let login = format!("{}@{short_id}", user["userName"].as_str().unwrap());
            let known = KnownHosts::parse(&sim.ssh_known_hosts(), "the simulator").unwrap();
            let endpoint = Endpoint {
                host: "127.0.0.1".to_owned(),
                port: sim.ssh_addr().port(),
            };
            Fixture {
                sim,
                endpoint,
                known,
                login,
                key: Arc::new(key),
            }
        }

        async fn connect(&self) -> Result<Session, ConnectError> {
            Session::connect(
                &self.endpoint,
                &self.known,
                &self.login,
                Arc::clone(&self.key),
                Duration::from_secs(10),
            )
            .await
        }
    }

    #[tokio::test]
    async fn logs_in_and_runs_commands_concurrently() {
        let fixture = Fixture::start().await;
        let session = fixture.connect().await.unwrap();
        let mut chunks = Vec::new();
        let status = session
            .exec("true", None, &mut |stream, data| {
                chunks.push((stream, data.to_vec()))
            })
            .await
            .unwrap();
        assert_eq!(status, 0);
        assert!(chunks.is_empty());

        // Not a built-in of the simulator: a real `sh -c`.
        let (a, b) = tokio::join!(
            session.output("echo out && echo err >&2 && exit 3"),
            session.output("echo second"),
        );
        let a = a.unwrap();
        assert_eq!(
            (a.status, a.stdout.as_slice(), a.stderr.as_slice()),
            (3, &b"out\n"[..], &b"err\n"[..])
        );
        assert_eq!(b.unwrap().stdout, b"second\n");
        assert_eq!(session.bytes_sent(), 0);
        session.close().await;

        let log = fixture.sim.ssh_log();
        assert!(
            log.iter()
                .any(|e| e.kind == "login" && e.login == fixture.login),
            "{log:?}"
        );
        assert!(
            log.iter()
                .any(|e| e.detail == "true" && e.exit_status == Some(0))
        );
    }

    #[tokio::test]
    async fn stdin_goes_to_the_command_then_eof() {
        let fixture = Fixture::start().await;
        let session = fixture.connect().await.unwrap();
        let mut archive = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        let body = b"hello over ssh\n";
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        archive
            .append_data(&mut header, "hello.txt", &body[..])
            .unwrap();
        let archive = archive.into_inner().unwrap();
        let length = archive.len() as u64;
        let status = session
            .exec(
                "tar -xf -",
                Some(Box::pin(std::io::Cursor::new(archive))),
                &mut |_, _| {},
            )
            .await
            .unwrap();
        assert_eq!(status, 0);
        assert_eq!(session.bytes_sent(), length);
        let out = session.output("cat hello.txt").await.unwrap();
        assert_eq!((out.status, out.stdout.as_slice()), (0, &body[..]));
        session.close().await;
    }

    #[tokio::test]
    async fn a_wrong_or_unknown_host_key_is_refused_before_the_login() {
        let fixture = Fixture::start().await;
        let port = fixture.endpoint.port;
        let other = public_line(&generate_key());
        let wrong = KnownHosts::parse(&format!("[127.0.0.1]:{port} {other}\n"), "T").unwrap();
        let unknown = KnownHosts::parse(&format!("example.org {other}\n"), "T").unwrap();
        for (known, mismatch) in [(wrong, true), (unknown, false)] {
            let error = Session::connect(
                &fixture.endpoint,
                &known,
                &fixture.login,
                Arc::clone(&fixture.key),
                Duration::from_secs(10),
            )
            .await
            .unwrap_err();
            match error {
                ConnectError::HostKey(HostKeyError::Mismatch {
                    port: p, offered, ..
                }) if mismatch => {
                    assert_eq!(p, port);
                    assert!(offered.starts_with("ssh-ed25519 SHA256:"), "{offered}");
                }
                ConnectError::HostKey(HostKeyError::Unknown { .. }) if !mismatch => {}
                other => panic!("{other:?}"),
            }
        }
        // Not even a refused login: the user name never reached the server.
        assert_eq!(fixture.sim.ssh_log(), vec![]);
    }

    #[tokio::test]
    async fn an_unknown_user_key_is_rejected() {
        let fixture = Fixture::start().await;
        let error = Session::connect(
            &fixture.endpoint,
            &fixture.known,
            &fixture.login,
            Arc::new(generate_key()),
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, ConnectError::Rejected), "{error:?}");
        let log = fixture.sim.ssh_log();
        assert!(log.iter().all(|e| e.kind == "refused"), "{log:?}");
        assert!(!log.is_empty());
    }

    #[tokio::test]
    async fn no_server_or_a_silent_one_is_an_io_error() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = Endpoint {
            host: "127.0.0.1".to_owned(),
            port: silent.local_addr().unwrap().port(),
        };
        let known = KnownHosts::parse("example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB9dG4kjRhQTtWTVzd2t27+t0DEHBPW7iOD23TUiYLio\n", "T").unwrap();
        let key = Arc::new(generate_key());
        let started = Instant::now();
        let error = Session::connect(
            &endpoint,
            &known,
            "u",
            Arc::clone(&key),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        let ConnectError::Io(error) = error else {
            panic!("{error:?}")
        };
        assert!(error.to_string().contains("within"), "{error:#}");
        drop(silent);
        let error = Session::connect(&endpoint, &known, "u", key, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(error, ConnectError::Io(_)), "{error:?}");
    }

    #[tokio::test]
    async fn dropping_an_exec_ends_the_remote_command() {
        let fixture = Fixture::start().await;
        let session = fixture.connect().await.unwrap();
        let mut ignore = |_: Stream, _: &[u8]| {};
        let running = session.exec("sleep 30", None, &mut ignore);
        assert!(
            tokio::time::timeout(Duration::from_millis(300), running)
                .await
                .is_err()
        );
        let dropped = Instant::now();
        loop {
            let log = fixture.sim.ssh_log();
            let event = log.iter().find(|e| e.detail == "sleep 30").unwrap();
            if event.ended {
                // Ended by the channel's close, not by itself.
                assert_eq!(event.exit_status, None);
                break;
            }
            assert!(dropped.elapsed() < Duration::from_secs(5), "still running");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The session goes on.
        assert_eq!(session.output("true").await.unwrap().status, 0);
        session.close().await;
    }

    #[tokio::test]
    async fn output_keeps_the_end_of_stderr() {
        let fixture = Fixture::start().await;
        let session = fixture.connect().await.unwrap();
        // 200 000 bytes of `x` then `end`, on stderr.
        let out = session
            .output("head -c 200000 /dev/zero | tr '\\0' x >&2 && echo end >&2")
            .await
            .unwrap();
        assert_eq!(out.status, 0);
        assert_eq!(out.stderr.len(), MAX_STDERR);
        assert!(out.stderr.ends_with(b"xxend\n"));
        session.close().await;
    }

    #[test]
    fn endpoints_parse_and_display() {
        let parse = |s: &str| Endpoint::parse(s).map(|e| (e.host.clone(), e.port, e.to_string()));
        assert_eq!(
            parse("ssh.example.org"),
            Ok(("ssh.example.org".into(), 22, "ssh.example.org:22".into()))
        );
        assert_eq!(
            parse("127.0.0.1:2222"),
            Ok(("127.0.0.1".into(), 2222, "127.0.0.1:2222".into()))
        );
        assert_eq!(
            parse("[::1]:2222"),
            Ok(("::1".into(), 2222, "[::1]:2222".into()))
        );
        assert_eq!(
            parse("[2001:db8::1]"),
            Ok(("2001:db8::1".into(), 22, "[2001:db8::1]:22".into()))
        );
        for bad in [
            "",
            ":22",
            "host:",
            "host:0",
            "host:65536",
            "host:x",
            "2001:db8::1",
            "[::1",
            "[::1]x",
            "[]:22",
            "user@host",
            "a b",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_are_generated_written_and_read() {
        let key = generate_key();
        assert_eq!(key.algorithm(), Algorithm::Ed25519);
        assert_ne!(key.public_key(), generate_key().public_key());
        let line = public_line(&key);
        assert!(line.starts_with("ssh-ed25519 AAAA"), "{line}");
        assert_eq!(line.split(' ').count(), 2);

        let text = key.to_openssh(LineEnding::CRLF).unwrap();
        let read = parse_private_key(&format!("\n  {}\r\n\n", text.as_str())).unwrap();
        assert_eq!(read.public_key().key_data(), key.public_key().key_data());
        let lf = key.to_openssh(LineEnding::LF).unwrap();
        assert!(parse_private_key(lf.as_str()).is_ok());
    }

    #[test]
    fn unusable_private_keys_are_refused_without_their_text() {
        // `ssh-keygen -t ed25519 -N secret`: a throwaway key with a passphrase.
        let encrypted = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABAcN++uzn
feaWULzm/F7nFvAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIFQM/wnZnpWY2FhW
T17ng3Wnif6SpeRm7C5+bELn/CvIAAAAkMq0ihMuhhfPhRBSUCwdAaFzxj/p5wdDwq9Pkl
3rBjJb9nrbgL/ugNQZ/2gzcHx//v/9+jVrfRhwiAgQr2S1SBCNjv95qdx7UGkr9masHXcE
w7FmKNvlzYaiLhgqWuYgTl/GEPpg0Iqk5xUvuRK7Yx1RzP+Se5O7j8J69aG+BnRyPS6qyY
UeYcEouzX1/9DTvA==
-----END OPENSSH PRIVATE KEY-----
";
        assert_eq!(
            parse_private_key(encrypted).unwrap_err(),
            "has a passphrase; give a key without one"
        );
        let good = generate_key().to_openssh(LineEnding::LF).unwrap();
        let lines: Vec<&str> = good.lines().collect();
        // Cut short: the last base64 line is gone.
        let cut = [&lines[..lines.len() - 2], &lines[lines.len() - 1..]]
            .concat()
            .join("\n");
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecret\n-----END RSA PRIVATE KEY-----\n";
        for (text, reason) in [
            (cut.as_str(), "does not decode"),
            (pem, "PEM private key"),
            ("AAAAsecret", "not an OpenSSH private key"),
            ("", "not an OpenSSH private key"),
        ] {
            let error = parse_private_key(text).unwrap_err();
            assert!(error.contains(reason), "{error}");
            assert!(
                !error.contains("secret") && !error.contains("AAAA"),
                "{error}"
            );
            for line in text.lines().filter(|l| !l.starts_with("-----")) {
                assert!(!error.contains(line), "{error}");
            }
        }
    }

    #[test]
    fn rsa_host_keys_are_asked_for_with_sha2_first() {
        let order = host_key_order(&[Algorithm::Rsa { hash: None }]);
        assert_eq!(
            &order[..3],
            &[
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha512)
                },
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha256)
                },
                Algorithm::Rsa { hash: None },
            ]
        );
        assert!(order.contains(&Algorithm::Ed25519));
        assert_eq!(order.len(), russh::Preferred::DEFAULT.key.len());
        assert_eq!(host_key_order(&[]), russh::Preferred::DEFAULT.key.to_vec());
    }

    /// A throwaway 2048-bit RSA host key (`ssh-keygen -t rsa -N ""`), for the server below.
    const RSA_HOST_KEY: &str = r"-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAABFwAAAAdzc2gtcn
NhAAAAAwEAAQAAAQEAwX+GwbpbCG01jxy8ggJu+wWY3wWGM1XEBnggTcCX6pTlFrkYrtvY
UCvG2/tJ1Ukfb8xL5gvQMkV0T3q4LnQQXpRU7/PBLqH6OwH95xict77S/seFpT2xoIkbth
aBp5EOSBNmObhAbomb5IZ66MbpRZNSlUwXawysKGAOdey23wFwxKweB6JxfA7kR9PN1xlX
emGaGpzdetmP69nx43iNbt9mbkQjIYB0hGuLkeQngwBpyynwR89ReT010e8w1c2IdGzw6X
eEKAVh76xEhdLPu+HF0bR2uwCLU6O/yXmIbPrk5LIaq/QvOyQhqUILWK7NRR7+Qj8oBuj3
pLoh0DQCswAAA7iu26Lrrtui6wAAAAdzc2gtcnNhAAABAQDBf4bBulsIbTWPHLyCAm77BZ
jfBYYzVcQGeCBNwJfqlOUWuRiu29hQK8bb+0nVSR9vzEvmC9AyRXRPergudBBelFTv88Eu
ofo7Af3nGJy3vtL+x4WlPbGgiRu2FoGnkQ5IE2Y5uEBuiZvkhnroxulFk1KVTBdrDKwoYA
517LbfAXDErB4HonF8DuRH083XGVd6YZoanN162Y/r2fHjeI1u32ZuRCMhgHSEa4uR5CeD
AGnLKfBHz1F5PTXR7zDVzYh0bPDpd4QoBWHvrESF0s+74cXRtHa7AItTo7/JeYhs+uTksh
qr9C87JCGpQgtYrs1FHv5CPygG6PekuiHQNAKzAAAAAwEAAQAAAQAMmq7/fZEiemKrwNZy
rY/nIBU2Kdj1DRgox7hq+CmtKSfHFCWMdluf1Uot2C+WCh5XHPqwsIJOVAHgj4Dh3cOXNZ
hWzQz/aaOwJlAQtqS2v2JlIEAPZHZmm6fHc63caXGBtmnJRrxDtwkFmND2ysY1NwSBHyTD
X17zflZSzimXWxama7+1aoiVZvF6LIymPZfzWBDVjNepOx5TVsCRtGyrcPYDsvrjsuuQLR
f+gTrkTSTmKPysrqHELUHojC7t0H65jYzRZWgEXVarbXsJ9Mt/C5eOwDLnWQXtmg9WUCbp
6t12CyiY6Ei45wk7HsgvvIWf0pzResZqWF6WmEfIV6MBAAAAgQCJKIwDRPXxMseFK83/m4
TChxxTCi5aEC0hDXkmmcl41m2iOt+M7B/BJNiH5MK2sBmlpKPGfSyVg7e9AiClD21dAhIZ
7aOmpp5AvAhNZYIFavhkD7Vduhc435NIvP0Gy9GZfvLtbQB31czYirguEe9xqsgo2Fi36C
93MLZT20R+fQAAAIEA5vKU2xj4URQvWh/cXjSEyS8Xx74KpWqMu4M5trDeFHISw1c9SB06
RF4Jsbhn/DErT+i1vjBGIVPEbIVli3vr7XjPRMs1rq2sSjFkRWVaEtupdDUjFJL1f2OssG
CewVyOBDVboHmlOurCww1CajIX2ONxrhl2EUX+zO5BocFxc4EAAACBANZ8+TXKIUgMRY0W
ZQG6UA/Ttni70YgdkOtJ6wQPdoegpuPvVC2NAsTsPA+5Y55swWt7US9LFt0ab7nmKwyOBv
4bFQt4InI+9YuN0Zflp116RTxNfFsMKaxfQ9Jmi+g4y+cqtpD65+SXZWEeXdHQImqtGf7H
PkVmnfPYTNJLmgAzAAAAAAEC
-----END OPENSSH PRIVATE KEY-----
";

    /// A bare russh server with an RSA host key that signs with SHA-2 only (like mittwald's
    /// OpenSSH): it takes any client key, echoes an exec's command on stdout and answers
    /// with status 7, or with the signal KILL for the command `die`.
    struct RsaServer {
        channels: Vec<russh::Channel<russh::server::Msg>>,
    }

    impl russh::server::Handler for RsaServer {
        type Error = russh::Error;

        async fn auth_publickey(
            &mut self,
            _user: &str,
            _key: russh::server::VerifiedPublicKey<'_>,
        ) -> Result<russh::server::Auth, Self::Error> {
            Ok(russh::server::Auth::Accept)
        }

        async fn channel_open_session(
            &mut self,
            channel: russh::Channel<russh::server::Msg>,
            reply: russh::server::ChannelOpenHandle,
            _session: &mut russh::server::Session,
        ) -> Result<(), Self::Error> {
            self.channels.push(channel);
            reply.accept().await;
            Ok(())
        }

        async fn exec_request(
            &mut self,
            channel: russh::ChannelId,
            data: &[u8],
            session: &mut russh::server::Session,
        ) -> Result<(), Self::Error> {
            session.channel_success(channel)?;
            if data == b"die" {
                session.exit_signal_request(channel, Sig::KILL, false, "", "")?;
            } else {
                session.data(channel, data.to_vec())?;
                session.exit_status_request(channel, 7)?;
            }
            session.eof(channel)?;
            session.close(channel)?;
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_rsa_host_key_is_checked_with_sha2_signatures() {
        let host_key = PrivateKey::from_openssh(RSA_HOST_KEY).unwrap();
        let known_line = host_key.public_key().to_openssh().unwrap();
        let config = Arc::new(russh::server::Config {
            keys: vec![host_key],
            preferred: russh::Preferred {
                key: std::borrow::Cow::Borrowed(&[
                    Algorithm::Rsa {
                        hash: Some(HashAlg::Sha512),
                    },
                    Algorithm::Rsa {
                        hash: Some(HashAlg::Sha256),
                    },
                ]),
                ..russh::Preferred::default()
            },
            auth_rejection_time: Duration::ZERO,
            ..russh::server::Config::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = RsaServer {
                    channels: Vec::new(),
                };
                let config = Arc::clone(&config);
                tokio::spawn(async move {
                    if let Ok(session) = russh::server::run_stream(config, stream, handler).await {
                        let _ = session.await;
                    }
                });
            }
        });
        let endpoint = Endpoint::parse(&format!("127.0.0.1:{port}")).unwrap();
        let known = KnownHosts::parse(&format!("[127.0.0.1]:{port} {known_line}\n"), "T").unwrap();
        let session = Session::connect(
            &endpoint,
            &known,
            "anyone",
            Arc::new(generate_key()),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let out = session.output("hello").await.unwrap();
        assert_eq!((out.status, out.stdout.as_slice()), (7, &b"hello"[..]));
        let error = session.output("die").await.unwrap_err();
        assert!(
            error.to_string().contains("killed by signal KILL"),
            "{error:#}"
        );
        session.close().await;
    }
}
