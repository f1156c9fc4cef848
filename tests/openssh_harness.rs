//! The OpenSSH harness (`support::openssh`) against the system `ssh` and `rsync`: the login
//! shaped like mittwald's works with the test key, the known_hosts line is the RSA host key the
//! server presents (strict checking passes, and a wrong key fails), commands run in the web root,
//! the fake mittnitectl records its arguments, `rsync -a` over ssh uploads a tree (what the
//! benchmark compares berth with), and dropping the server leaves nothing behind.

mod support;

use std::{
    fs,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
    process::{Command, Output},
};
use support::openssh::{self, HostKey, Sshd};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `command`, failing the test with its output and the server's log when it fails.
fn ok(sshd: &Sshd, command: &mut Command) -> Output {
    let output = command.output().expect("running the command");
    assert!(
        output.status.success(),
        "{command:?}: {}\nstdout: {}\nstderr: {}\nsshd log:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr),
        sshd.log()
    );
    output
}

#[test]
fn the_mittwald_shaped_login_runs_commands_in_the_web_root_over_rsa() {
    let Some(sshd) = openssh::start() else { return };
    assert!(
        sshd.login.starts_with("ssh-") && sshd.login.contains("@a-"),
        "{}",
        sshd.login
    );
    assert!(
        sshd.known_hosts
            .starts_with(&format!("[127.0.0.1]:{} ssh-rsa AAAA", sshd.port)),
        "{}",
        sshd.known_hosts
    );
    assert!(sshd.client_key.contains("BEGIN OPENSSH PRIVATE KEY"));

    let root = sshd.web_root.display();
    let output = ok(
        &sshd,
        Command::new("ssh")
            .arg("-v")
            .args(sshd.ssh_options())
            .arg("127.0.0.1")
            .arg(format!("cd {root} && echo ok > f && cat f && id -un")),
    );
    assert_eq!(text(&output.stdout), format!("ok\n{}\n", sshd.login));
    // The host key the client checked against known_hosts was the RSA one.
    let debug = text(&output.stderr);
    assert!(
        debug.contains("Server host key: ssh-rsa SHA256:"),
        "{debug}"
    );
    assert!(debug.contains("Host '[127.0.0.1]:"), "{debug}");

    let written = sshd.web_root.join("f");
    assert_eq!(fs::read_to_string(&written).unwrap(), "ok\n");
    let meta = fs::metadata(&written).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (sshd.uid, sshd.gid));
    let log = sshd.log();
    assert!(
        log.contains("Accepted publickey for ssh-brt001@a-b1c2d3"),
        "{log}"
    );
}

#[test]
fn a_host_key_other_than_the_known_one_is_refused() {
    // The server presents the ed25519 key; known_hosts has the RSA one for its address.
    let Some(sshd) = openssh::start_with(HostKey::Ed25519) else {
        return;
    };
    assert!(
        sshd.known_hosts.contains(" ssh-ed25519 "),
        "{}",
        sshd.known_hosts
    );
    let rsa = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ssh/host_rsa_TEST_ONLY.pub"),
    )
    .unwrap();
    let rsa: Vec<&str> = rsa.split_whitespace().take(2).collect();
    fs::write(
        &sshd.known_hosts_file,
        format!("[127.0.0.1]:{} {}\n", sshd.port, rsa.join(" ")),
    )
    .unwrap();
    let output = sshd.ssh("echo reached").output().unwrap();
    assert!(!output.status.success());
    assert!(!text(&output.stdout).contains("reached"));
    assert!(
        text(&output.stderr).contains("Host key verification failed"),
        "{}",
        text(&output.stderr)
    );

    // With its own line it is accepted.
    fs::write(&sshd.known_hosts_file, format!("{}\n", sshd.known_hosts)).unwrap();
    let output = ok(&sshd, &mut sshd.ssh("echo reached"));
    assert_eq!(text(&output.stdout), "reached\n");
}

#[test]
fn the_fake_mittnitectl_records_its_arguments() {
    let Some(sshd) = openssh::start() else { return };
    let output = sshd.ssh("command -v mittnitectl").output().unwrap();
    assert!(
        !output.status.success(),
        "no mittnitectl before it is faked"
    );

    sshd.fake_mittnitectl();
    let output = ok(
        &sshd,
        &mut sshd.ssh("mittnitectl job restart 'a b' && mittnitectl && echo done"),
    );
    assert_eq!(text(&output.stdout), "done\n");
    assert_eq!(
        sshd.mittnitectl_calls(),
        vec![vec!["job", "restart", "a b"], vec![]]
    );

    sshd.fake_mittnitectl_exiting(3);
    let output = sshd.ssh("mittnitectl job start").output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(sshd.mittnitectl_calls().len(), 3);
}

#[test]
fn rsync_over_ssh_uploads_a_tree_into_the_web_root() {
    let Some(sshd) = openssh::start() else { return };
    let src = tempfile::tempdir().unwrap();
    let s = src.path();
    fs::create_dir_all(s.join("public/css")).unwrap();
    fs::write(s.join("package.json"), "{\"name\":\"app\"}\n").unwrap();
    fs::write(s.join("public/css/site.css"), "body{}\n").unwrap();
    fs::write(s.join("start.sh"), "#!/bin/sh\nexec node .\n").unwrap();
    fs::set_permissions(s.join("start.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("public/css/site.css", s.join("site.css")).unwrap();

    let target = sshd.web_root.join("app");
    ok(
        &sshd,
        Command::new("rsync")
            .args(["-a", "-e", &sshd.ssh_command_line()])
            .arg(format!("{}/", s.display()))
            .arg(format!("{}@127.0.0.1:{}/", sshd.login, target.display())),
    );
    assert_eq!(
        fs::read_to_string(target.join("public/css/site.css")).unwrap(),
        "body{}\n"
    );
    assert_eq!(
        fs::read_to_string(target.join("package.json")).unwrap(),
        "{\"name\":\"app\"}\n"
    );
    let start = fs::metadata(target.join("start.sh")).unwrap();
    assert_eq!(start.mode() & 0o777, 0o755);
    assert_eq!(start.uid(), sshd.uid);
    assert_eq!(
        fs::read_link(target.join("site.css")).unwrap(),
        Path::new("public/css/site.css")
    );

    // A second run with nothing changed sends no file again.
    let output = ok(
        &sshd,
        Command::new("rsync")
            .args(["-a", "--itemize-changes", "-e", &sshd.ssh_command_line()])
            .arg(format!("{}/", s.display()))
            .arg(format!("{}@127.0.0.1:{}/", sshd.login, target.display())),
    );
    assert_eq!(text(&output.stdout), "");
}

/// Whether `pid` still runs (a zombie waiting for init to reap it does not).
fn running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

#[test]
fn dropping_the_server_leaves_nothing_behind() {
    let Some(sshd) = openssh::start() else { return };
    ok(&sshd, &mut sshd.ssh("true"));
    // A session still running when the server is dropped.
    let mut client = sshd
        .ssh("echo $$; exec sleep 300")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(client.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let remote: u32 = line.trim().parse().unwrap_or_else(|_| panic!("{line:?}"));
    assert!(running(remote));

    let (pid, dir, port) = (sshd.pid(), sshd.dir().to_path_buf(), sshd.port);
    assert!(running(pid));
    drop(sshd);
    assert!(!running(pid), "sshd {pid} still runs");
    assert!(!dir.exists(), "{} is still there", dir.display());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    // The session's command is gone (killed with the server) and its client has ended.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running(remote) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!running(remote), "the session's sleep {remote} still runs");
    assert!(!client.wait().unwrap().success());
}
