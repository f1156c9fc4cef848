//! A real OpenSSH server (`/usr/sbin/sshd`) on 127.0.0.1, started by a test for itself: the
//! server mittwald's deploy talks to, as close as a test machine gets to it.
//!
//! - The login is named the way mittwald's are, `ssh-…@a-…` (the `@` is part of the user name),
//!   a local account created once per machine with a home and `/bin/bash`.
//! - The host key is the committed RSA test key (`tests/fixtures/ssh/host_rsa_TEST_ONLY`) and the
//!   server offers only RSA host key algorithms, as mittwald's servers do; [`Sshd::known_hosts`]
//!   is its known_hosts line.
//! - The client key is the committed ed25519 test key; it is the only authorized key.
//! - [`Sshd::web_root`] is a fresh directory owned by the login, standing for mittwald's `/html`.
//! - [`Sshd::fake_mittnitectl`] puts a `mittnitectl` on the login's PATH that records its
//!   arguments ([`Sshd::mittnitectl_calls`]).
//!
//! Everything lives in a temp dir of the test's own; dropping the [`Sshd`] kills the server and
//! its sessions and removes the dir. Needs root (an account, and a server that logs other users in). Without sshd
//! or root, [`start`] prints why and returns `None` so that a developer's `cargo test` passes;
//! with `CI` set it panics instead, so CI cannot pass without having run the test.

use std::{
    fs,
    io::{self, Read},
    net::TcpListener,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    thread,
    time::{Duration, Instant},
};

/// The server binary; sshd re-executes itself, so it must be started by its absolute path.
pub const SSHD: &str = "/usr/sbin/sshd";
/// The login every harness server accepts, shaped like mittwald's (`ssh-abc123@a-b1c2d3`).
pub const LOGIN: &str = "ssh-brt001@a-b1c2d3";
/// How long the server may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Which committed host key the server presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKey {
    /// `host_rsa_TEST_ONLY`, offered as rsa-sha2-512, rsa-sha2-256 and ssh-rsa (mittwald's kind).
    Rsa,
    /// `host_ed25519_TEST_ONLY`, offered as ssh-ed25519.
    Ed25519,
}

impl HostKey {
    fn file(self) -> &'static str {
        match self {
            HostKey::Rsa => "host_rsa_TEST_ONLY",
            HostKey::Ed25519 => "host_ed25519_TEST_ONLY",
        }
    }

    fn algorithms(self) -> &'static str {
        match self {
            HostKey::Rsa => "rsa-sha2-512,rsa-sha2-256,ssh-rsa",
            HostKey::Ed25519 => "ssh-ed25519",
        }
    }
}

/// A running sshd; killed, and its temp dir removed, on drop.
pub struct Sshd {
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The user name to log in as ([`LOGIN`]).
    pub login: String,
    /// The server's known_hosts line: `[127.0.0.1]:PORT ssh-rsa AAAA…`.
    pub known_hosts: String,
    /// A file holding just [`Sshd::known_hosts`].
    pub known_hosts_file: PathBuf,
    /// The client's private key (OpenSSH format, ed25519, no passphrase).
    pub client_key: String,
    /// The client's private key as a file of mode 0600, for `ssh -i`.
    pub client_key_file: PathBuf,
    /// A fresh directory owned by the login: the app's files go here (mittwald's `/html`).
    pub web_root: PathBuf,
    /// The login's uid and gid.
    pub uid: u32,
    pub gid: u32,
    child: Child,
    dir: tempfile::TempDir,
}

/// A server with the RSA host key, or `None` (with the reason printed) when this machine cannot
/// run one and `CI` is not set.
pub fn start() -> Option<Sshd> {
    start_with(HostKey::Rsa)
}

/// A server presenting `host_key`; see [`start`].
pub fn start_with(host_key: HostKey) -> Option<Sshd> {
    if let Err(reason) = can_run() {
        if std::env::var_os("CI").is_some() {
            panic!("the OpenSSH harness cannot run: {reason} (CI is set, so this is an error)");
        }
        eprintln!("skipping the OpenSSH test: {reason}");
        return None;
    }
    Some(Sshd::start(host_key).unwrap_or_else(|e| panic!("starting sshd: {e}")))
}

fn can_run() -> Result<(), String> {
    if !Path::new(SSHD).exists() {
        return Err(format!(
            "{SSHD} is not installed (apt-get install openssh-server)"
        ));
    }
    let euid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if euid != 0 {
        return Err("not running as root (the harness creates an account and runs sshd)".into());
    }
    Ok(())
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ssh")
        .join(name)
}

fn other(message: String) -> io::Error {
    io::Error::other(message)
}

/// Writes `contents` to `path` with `mode`, whatever git or the umask made of it.
fn write_mode(path: &Path, contents: impl AsRef<[u8]>, mode: u32) -> io::Result<()> {
    fs::write(path, contents)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Runs a command to completion; its output on failure.
fn run(command: &mut Command) -> io::Result<String> {
    let output = command.stdin(Stdio::null()).output()?;
    if !output.status.success() {
        return Err(other(format!(
            "{command:?}: {}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The login's uid and gid, creating the account on first use on this machine. Tests run in
/// parallel threads and processes: an flock serializes the check-then-create across both.
fn ensure_login() -> io::Result<(u32, u32)> {
    static IDS: OnceLock<(u32, u32)> = OnceLock::new();
    if let Some(ids) = IDS.get() {
        return Ok(*ids);
    }
    let lock = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(std::env::temp_dir().join("berth-openssh-login.lock"))?;
    lock.lock()?;
    let lookup = || -> io::Result<Option<(u32, u32)>> {
        let output = Command::new("getent")
            .args(["passwd", LOGIN])
            .stdin(Stdio::null())
            .output()?;
        if !output.status.success() {
            return Ok(None); // 2: no such user
        }
        let line = String::from_utf8_lossy(&output.stdout);
        let fields: Vec<&str> = line.trim().split(':').collect();
        let id = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| other(format!("getent passwd {LOGIN}: {line:?}")))
        };
        Ok(Some((id(2)?, id(3)?)))
    };
    let ids = match lookup()? {
        Some(ids) => ids,
        None => {
            // --badname: the `@` (mittwald's logins have one). Password `*`: none, but not
            // locked (`!`), which sshd without PAM would refuse even for a key.
            run(Command::new("useradd").args([
                "--badname",
                "--create-home",
                "--shell",
                "/bin/bash",
                "--password",
                "*",
                "--comment",
                "berth OpenSSH test login",
                LOGIN,
            ]))?;
            lookup()?.ok_or_else(|| other(format!("useradd did not create {LOGIN}")))?
        }
    };
    drop(lock);
    Ok(*IDS.get_or_init(|| ids))
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Sshd {
    fn start(host_key: HostKey) -> io::Result<Sshd> {
        // sshd's privilege separation directory; it refuses to start without it.
        fs::create_dir_all("/run/sshd")?;
        let (uid, gid) = ensure_login()?;

        let dir = tempfile::Builder::new().prefix("berth-sshd-").tempdir()?;
        let d = dir.path();
        // The login reads its authorized_keys, runs bin/mittnitectl and writes web_root in here.
        fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;

        let host_key_file = d.join(host_key.file());
        write_mode(&host_key_file, fs::read(fixture(host_key.file()))?, 0o600)?;
        let host_public = fs::read_to_string(fixture(&format!("{}.pub", host_key.file())))?;
        let client_key = fs::read_to_string(fixture("client_ed25519_TEST_ONLY"))?;
        let client_key_file = d.join("client_ed25519_TEST_ONLY");
        write_mode(&client_key_file, &client_key, 0o600)?;
        let authorized_keys = d.join("authorized_keys");
        write_mode(
            &authorized_keys,
            fs::read(fixture("client_ed25519_TEST_ONLY.pub"))?,
            0o644,
        )?;

        let bin = d.join("bin");
        fs::create_dir(&bin)?;
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755))?;
        let calls = d.join("mittnitectl.calls");
        write_mode(&calls, "", 0o644)?;
        std::os::unix::fs::chown(&calls, Some(uid), Some(gid))?;

        let web_root = d.join("html");
        fs::create_dir(&web_root)?;
        fs::set_permissions(&web_root, fs::Permissions::from_mode(0o755))?;
        std::os::unix::fs::chown(&web_root, Some(uid), Some(gid))?;

        // The port is free when picked but another process may take it before sshd binds:
        // then sshd exits at once and another port is tried.
        let log = d.join("sshd.log");
        let config = d.join("sshd_config");
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
            write_mode(
                &config,
                format!(
                    "\
ListenAddress 127.0.0.1
Port {port}
HostKey {host_key_file}
HostKeyAlgorithms {algorithms}
PidFile {pid}
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PubkeyAuthentication yes
AuthenticationMethods publickey
AuthorizedKeysFile {authorized_keys}
StrictModes no
PermitRootLogin no
LogLevel VERBOSE
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
PermitUserEnvironment no
SetEnv PATH={path}
Subsystem sftp internal-sftp
",
                    host_key_file = host_key_file.display(),
                    algorithms = host_key.algorithms(),
                    pid = d.join("sshd.pid").display(),
                    authorized_keys = authorized_keys.display(),
                ),
                0o644,
            )?;
            let log_file = fs::File::create(&log)?;
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone()?)
                .stderr(log_file)
                .spawn()?;
            match wait_listening(&mut child, &log, port) {
                Ok(()) => {
                    let known_hosts = format!(
                        "[127.0.0.1]:{port} {}",
                        host_public
                            .split_whitespace()
                            .take(2)
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                    let known_hosts_file = d.join("known_hosts");
                    write_mode(&known_hosts_file, format!("{known_hosts}\n"), 0o644)?;
                    return Ok(Sshd {
                        port,
                        login: LOGIN.into(),
                        known_hosts,
                        known_hosts_file,
                        client_key,
                        client_key_file,
                        web_root,
                        uid,
                        gid,
                        child,
                        dir,
                    });
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = e;
                    if !last_error.contains("Address already in use") {
                        break;
                    }
                }
            }
        }
        Err(other(last_error))
    }

    /// The server's log (`-e`, LogLevel VERBOSE): logins, keys, commands' sessions.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The test's temp dir (config, keys, log, `bin/`, `html/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The listening sshd's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The system `ssh` client's options for this server, up to the destination: no user or
    /// system config, only the test key, strict host key checking against
    /// [`Sshd::known_hosts_file`], the port and the login.
    pub fn ssh_options(&self) -> Vec<String> {
        [
            "-F",
            "/dev/null",
            "-i",
            &self.client_key_file.display().to_string(),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            &format!("UserKnownHostsFile={}", self.known_hosts_file.display()),
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ConnectTimeout=10",
            "-p",
            &self.port.to_string(),
            "-l",
            &self.login,
        ]
        .map(String::from)
        .to_vec()
    }

    /// `ssh` with [`Sshd::ssh_options`] as one command line, for `rsync -e` (the temp dir's
    /// paths have no spaces).
    pub fn ssh_command_line(&self) -> String {
        format!("ssh {}", self.ssh_options().join(" "))
    }

    /// The system `ssh` client running `remote_command` as the login.
    pub fn ssh(&self, remote_command: &str) -> Command {
        let mut command = Command::new("ssh");
        command
            .args(self.ssh_options())
            .arg("127.0.0.1")
            .arg(remote_command)
            .stdin(Stdio::null());
        command
    }

    /// Puts a `mittnitectl` on the login's PATH that records its arguments and exits 0.
    pub fn fake_mittnitectl(&self) {
        self.fake_mittnitectl_exiting(0);
    }

    /// Like [`Sshd::fake_mittnitectl`], exiting with `code` (after saying so on stderr when it
    /// is not 0).
    pub fn fake_mittnitectl_exiting(&self, code: u8) {
        let calls = self.dir.path().join("mittnitectl.calls");
        let script = format!(
            "#!/bin/sh\n\
             # berth's OpenSSH test harness: records one call a line, arguments tab-separated.\n\
             {{ sep=''; for a in \"$@\"; do printf '%s%s' \"$sep\" \"$a\"; sep='\t'; done; \
             printf '\\n'; }} >> '{calls}'\n\
             if [ {code} -ne 0 ]; then echo 'mittnitectl (fake): failing with {code}' >&2; fi\n\
             exit {code}\n",
            calls = calls.display(),
        );
        write_mode(&self.dir.path().join("bin/mittnitectl"), script, 0o755)
            .expect("writing the fake mittnitectl");
    }

    /// The fake mittnitectl's calls so far, each its list of arguments.
    pub fn mittnitectl_calls(&self) -> Vec<Vec<String>> {
        fs::read_to_string(self.dir.path().join("mittnitectl.calls"))
            .unwrap_or_default()
            .lines()
            .map(|line| {
                if line.is_empty() {
                    Vec::new()
                } else {
                    line.split('\t').map(String::from).collect()
                }
            })
            .collect()
    }
}

/// Until sshd says it listens on `port` (it says so after listen(), so the port then accepts
/// connections), it exits, or [`START_TIMEOUT`] passes.
fn wait_listening(child: &mut Child, log: &Path, port: u16) -> Result<(), String> {
    let listening = format!("Server listening on 127.0.0.1 port {port}.");
    let read_log = || {
        let mut text = String::new();
        if let Ok(mut f) = fs::File::open(log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if read_log().contains(&listening) {
            return Ok(());
        }
        match child.try_wait() {
            Ok(Some(status)) => return Err(format!("sshd exited ({status}):\n{}", read_log())),
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for sshd: {e}")),
        }
        if Instant::now() > deadline {
            return Err(format!(
                "sshd did not listen on port {port} within {START_TIMEOUT:?}:\n{}",
                read_log()
            ));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // The listener and every process under it: a connection's monitor, its unprivileged
        // child, the login's shell and commands (they run in sessions of their own, so a process
        // group would not reach them). The shell's kill: minimal Debian has no /usr/bin/kill.
        let mut pids = descendants(self.child.id());
        pids.push(self.child.id());
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -KILL {} 2>/dev/null", pids.join(" "))])
            .stdin(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `dir` (keys, config, log, web_root) is removed when the fields drop.
    }
}

/// The processes under `root`, from /proc's parent links.
fn descendants(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses, so after the last `)`.
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found.remove(0);
    found
}
