//! The mittwald deploy against a real OpenSSH server (Debian's `sshd`, started by the test on
//! loopback with an RSA host key, as mittwald's are) and the simulator's API: berth logs in as
//! a mittwald-shaped user with a given key, sends the tree, skips it when unchanged, removes
//! what the source lacks, runs the install command in a real shell and the restart through the
//! host's `mittnitectl` (a fake that records its arguments).

mod support;

use berth_sim::SimHandle;
use std::{os::unix::fs::PermissionsExt as _, path::Path, time::Duration};
use support::{openssh::Sshd, *};

fn app_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("src/routes")).unwrap();
    std::fs::write(
        root.join("package.json"),
        r#"{"scripts":{"start":"node index.js"}}"#,
    )
    .unwrap();
    std::fs::write(root.join("index.js"), "require('./src/app')\n").unwrap();
    std::fs::write(root.join("src/app.js"), "module.exports = 'app'\n").unwrap();
    std::fs::write(root.join("src/routes/a b.js"), "// a name with a space\n").unwrap();
    std::fs::write(root.join("src/routes/it's.js"), "// and a quote\n").unwrap();
    std::fs::write(root.join("start.sh"), "#!/bin/sh\nexec node index.js\n").unwrap();
    std::fs::set_permissions(
        root.join("start.sh"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    std::os::unix::fs::symlink("src/app.js", root.join("app.js")).unwrap();
    // Big enough to take more than one write on the channel.
    std::fs::write(root.join("data.bin"), vec![7u8; 3 * 1024 * 1024]).unwrap();
    dir
}

/// The simulator as the mittwald API, its project's web directory the server's `web_root`.
fn api_for(sshd: &Sshd) -> SimHandle {
    let web = sshd.web_root.to_string_lossy().to_string();
    sim_with(|o| {
        o.time_to_ready = Duration::from_millis(100);
        o.consistency_delay = Duration::ZERO;
        o.web_dir = web;
    })
}

fn env_for(sim: &SimHandle, sshd: &Sshd, app: &Path) -> Vec<(String, String)> {
    let mut env = mittwald_env(sim, "real-sshd");
    set(&mut env, "BERTH_PATH", &app.to_string_lossy());
    set(
        &mut env,
        "BERTH_SSH_HOST",
        &format!("127.0.0.1:{}", sshd.port),
    );
    set(&mut env, "BERTH_SSH_KNOWN_HOSTS", &sshd.known_hosts);
    // The login holds `@` already: used as it is.
    set(&mut env, "BERTH_SSH_USER", &sshd.login);
    set(&mut env, "BERTH_SSH_PRIVATE_KEY", &sshd.client_key);
    // The simulator's API does not see the real host's restart, so the app is not waited on.
    set(&mut env, "BERTH_WAIT", "false");
    env
}

#[test]
fn berth_deploys_into_a_real_openssh_server() {
    let Some(sshd) = support::openssh::start() else {
        return;
    };
    sshd.fake_mittnitectl();
    let sim = api_for(&sshd);
    let app = app_tree();
    let mut env = env_for(&sim, &sshd, app.path());
    set(
        &mut env,
        "BERTH_INSTALL_COMMAND",
        "test -x start.sh && echo installed > .installed",
    );

    let first = run(&env);
    assert_eq!(first.code, 0, "{}\nsshd log:\n{}", first.stderr, sshd.log());
    let dir = Path::new(first.out("deploy_path")).to_path_buf();
    assert!(dir.starts_with(&sshd.web_root), "{}", dir.display());
    assert_eq!(first.json["files_deployed"], "7", "{}", first.stdout);
    for file in [
        "package.json",
        "index.js",
        "src/app.js",
        "src/routes/a b.js",
        "src/routes/it's.js",
        "data.bin",
    ] {
        assert_eq!(
            std::fs::read(dir.join(file)).unwrap(),
            std::fs::read(app.path().join(file)).unwrap(),
            "{file}"
        );
    }
    let mode = std::fs::metadata(dir.join("start.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750);
    assert_eq!(
        std::fs::read_link(dir.join("app.js")).unwrap(),
        Path::new("src/app.js")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(".installed")).unwrap(),
        "installed\n"
    );
    assert_eq!(sshd.mittnitectl_calls(), vec![vec!["job", "restart"]]);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(".berth-upload")),
        "{names:?}"
    );
    assert!(!first.everything().contains("PRIVATE KEY"));

    // Unchanged: nothing sent, no install command, no restart.
    std::fs::remove_file(dir.join(".installed")).unwrap();
    let again = run(&env);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json["files_deployed"], "0", "{}", again.stdout);
    assert!(!dir.join(".installed").exists(), "no install command");
    assert_eq!(sshd.mittnitectl_calls().len(), 1, "no restart");

    // A file removed from the source goes with BERTH_DELETE; excluded ones stay.
    std::fs::remove_file(app.path().join("src/routes/a b.js")).unwrap();
    std::fs::create_dir_all(dir.join("node_modules/x")).unwrap();
    std::fs::write(dir.join("node_modules/x/i.js"), "x").unwrap();
    set(&mut env, "BERTH_DELETE", "true");
    set(&mut env, "BERTH_EXCLUDE", ".git\nnode_modules\n.installed");
    let pruned = run(&env);
    assert_eq!(pruned.code, 0, "{}", pruned.stderr);
    assert!(!dir.join("src/routes/a b.js").exists());
    assert!(dir.join("node_modules/x/i.js").exists());
    assert!(dir.join(".installed").exists(), "excluded: kept");
    assert_eq!(sshd.mittnitectl_calls().len(), 2);
}

#[test]
fn a_host_key_that_is_not_the_servers_is_exit_1_before_a_login() {
    let Some(sshd) = support::openssh::start() else {
        return;
    };
    let sim = api_for(&sshd);
    let app = app_tree();
    let mut env = env_for(&sim, &sshd, app.path());
    let host = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ssh/host_ed25519_TEST_ONLY.pub"),
    )
    .unwrap();
    let key = host
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    set(
        &mut env,
        "BERTH_SSH_KNOWN_HOSTS",
        &format!("[127.0.0.1]:{} {key}", sshd.port),
    );
    let run = run(&env);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.out("error").contains("nothing was sent"),
        "{}",
        run.stderr
    );
    assert!(!sshd.log().contains("Accepted publickey"), "{}", sshd.log());
    assert!(
        std::fs::read_dir(&sshd.web_root).unwrap().next().is_none(),
        "nothing written"
    );
}

#[test]
fn sigterm_ends_the_install_command_on_a_real_openssh_server() {
    use std::process::{Command, Stdio};
    use std::time::Instant;
    let Some(sshd) = support::openssh::start() else {
        return;
    };
    sshd.fake_mittnitectl();
    let sim = api_for(&sshd);
    let app = app_tree();
    let mut env = env_for(&sim, &sshd, app.path());
    // A distinctive duration, to find the process among the machine's.
    set(&mut env, "BERTH_INSTALL_COMMAND", "sleep 37 && echo done");
    let running = || {
        let out = Command::new("pgrep")
            .args(["-u", &sshd.uid.to_string(), "-x", "sleep"])
            .output()
            .expect("pgrep");
        !out.stdout.is_empty()
    };
    let child = Command::new(assert_cmd::cargo::cargo_bin("berth"))
        .env_clear()
        .envs(env.iter().cloned())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting berth");
    let start = Instant::now();
    while !running() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the install command never ran\n{}",
            sshd.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while running() {
        assert!(
            Instant::now() < deadline,
            "the install command still runs on the host"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_failing_mittnitectl_is_exit_1_with_its_output() {
    let Some(sshd) = support::openssh::start() else {
        return;
    };
    sshd.fake_mittnitectl_exiting(1);
    let sim = api_for(&sshd);
    let app = app_tree();
    let mut env = env_for(&sim, &sshd, app.path());
    set(&mut env, "BERTH_RESTART", "false");
    let first = run(&env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // The app has run for a while by now: its uptime began before the next restart.
    std::thread::sleep(Duration::from_millis(2500));
    std::fs::write(app.path().join("index.js"), "// v2\n").unwrap();
    set(&mut env, "BERTH_RESTART", "true");
    set(&mut env, "BERTH_WAIT", "true");
    let failed = run(&env);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let error = failed.out("error");
    assert!(
        error.contains("mittnitectl job restart --wait --wait-for 60s failed (exit 1)"),
        "{error}"
    );
    assert_eq!(sshd.mittnitectl_calls().len(), 1);
}
