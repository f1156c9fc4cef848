//! mittwald: from repository to running app (issue 14). berth installs, deploys `BERTH_PATH`
//! over SSH into the simulator's SSH endpoint, runs the install command, restarts the app and
//! waits until it runs; a temporary SSH user is made and removed again, whatever happens.

mod support;

use berth_sim::{SimHandle, SimOptions};
use serde_json::Value;
use std::{
    os::unix::fs::PermissionsExt as _,
    path::Path,
    time::{Duration, Instant},
};
use support::*;

/// A simulator with quick installs, activations and restarts.
fn deploy_sim(f: impl FnOnce(&mut SimOptions)) -> SimHandle {
    sim_with(|o| {
        o.time_to_ready = Duration::from_millis(200);
        o.consistency_delay = Duration::from_millis(100);
        o.ssh_activation = Duration::from_millis(600);
        o.app_restart = Duration::from_millis(300);
        f(o);
    })
}

/// A mittwald run that deploys `app` into the simulator's SSH endpoint, trusting only its key.
fn deploy_env(sim: &SimHandle, description: &str, app: &Path) -> Vec<(String, String)> {
    let mut env = mittwald_env(sim, description);
    set(&mut env, "BERTH_PATH", &app.to_string_lossy());
    set(&mut env, "BERTH_SSH_HOST", &sim.ssh_addr().to_string());
    set(&mut env, "BERTH_SSH_KNOWN_HOSTS", &sim.ssh_known_hosts());
    env
}

/// A small Node.js app with a nested file, an executable, a symlink and a `.git` directory.
fn app_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("lib")).unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(
        root.join("package.json"),
        r#"{"scripts":{"start":"node server.js"}}"#,
    )
    .unwrap();
    std::fs::write(root.join("server.js"), "console.log('v1')\n").unwrap();
    std::fs::write(root.join("lib/util.js"), "module.exports = 1\n").unwrap();
    std::fs::write(root.join("bin/run.sh"), "#!/bin/sh\nexec node server.js\n").unwrap();
    std::fs::set_permissions(
        root.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("server.js", root.join("index.js")).unwrap();
    std::fs::write(root.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    dir
}

/// The SSH command lines the simulator ran, oldest first.
fn commands(sim: &SimHandle) -> Vec<String> {
    sim.ssh_log()
        .into_iter()
        .filter(|e| e.kind == "exec")
        .map(|e| e.detail)
        .collect()
}

fn requests(sim: &SimHandle) -> Vec<String> {
    sim.requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn installation_dir(sim: &SimHandle, run: &Run) -> std::path::PathBuf {
    sim.installation_dir(run.out("id"))
        .expect("the installation's directory")
}

#[test]
fn a_deploy_sends_the_tree_restarts_the_app_and_removes_its_temporary_user() {
    let sim = deploy_sim(|_| {});
    let app = app_tree();
    let env = deploy_env(&sim, "shop", app.path());
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Where the files went: the project's Web directory + the installation's path.
    let path = run.out("installation_path").to_string();
    assert_eq!(run.out("deploy_path"), format!("/html{path}"));
    assert_eq!(
        run.json["files_deployed"], "4",
        "regular files; the symlink goes too: {}",
        run.stdout
    );
    let bytes: u64 = ["package.json", "server.js", "lib/util.js", "bin/run.sh"]
        .iter()
        .map(|f| std::fs::metadata(app.path().join(f)).unwrap().len())
        .sum();
    assert_eq!(run.json["bytes_deployed"], bytes.to_string().as_str());
    assert_eq!(run.out("app_status"), "running");
    assert!(
        run.github_output.contains("deploy-path=/html"),
        "{}",
        run.github_output
    );
    assert!(
        run.dotenv.contains("BERTH_FILES_DEPLOYED=4"),
        "{}",
        run.dotenv
    );

    // What arrived: contents, modes and the symlink; `.git` is excluded by default.
    let dir = installation_dir(&sim, &run);
    for file in ["package.json", "server.js", "lib/util.js", "bin/run.sh"] {
        assert_eq!(
            std::fs::read(dir.join(file)).unwrap(),
            std::fs::read(app.path().join(file)).unwrap(),
            "{file}"
        );
    }
    let mode = std::fs::metadata(dir.join("bin/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        std::fs::read_link(dir.join("index.js")).unwrap(),
        Path::new("server.js")
    );
    assert!(!dir.join(".git").exists(), "excluded by default");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".berth-upload"))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");

    // The restart, and the temporary user made, used and removed again.
    let ran = commands(&sim);
    assert!(
        ran.iter()
            .any(|c| c == "mittnitectl job restart --wait --wait-for 60s"),
        "{ran:#?}"
    );
    let sent = requests(&sim);
    assert!(
        sent.iter()
            .any(|r| r == "POST /v2/projects/p-test01/ssh-users"),
        "{sent:#?}"
    );
    assert!(
        sent.iter().any(|r| r.starts_with("DELETE /v2/ssh-users/")),
        "{sent:#?}"
    );
    assert!(sim.ssh_users().is_empty(), "left: {:?}", sim.ssh_users());
    assert!(sent.iter().any(|r| r.ends_with("/status")), "{sent:#?}");
    assert!(!run.everything().contains("PRIVATE KEY"));
    assert!(!run.everything().contains(TOKEN));

    // Unchanged: nothing sent, no restart, no install command.
    let before = commands(&sim).len();
    let again = support::run(&env);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json["files_deployed"], "0", "{}", again.stdout);
    assert_eq!(
        again.out("status"),
        "ready",
        "the installation was ready and stays so"
    );
    let ran: Vec<String> = commands(&sim).split_off(before);
    assert!(
        !ran.iter()
            .any(|c| c.contains("mittnitectl") || c.contains("tar")),
        "{ran:#?}"
    );
    assert!(sim.ssh_users().is_empty());

    // One file changed: that file alone is sent, and the app restarted.
    std::fs::write(app.path().join("server.js"), "console.log('v2')\n").unwrap();
    let before = commands(&sim).len();
    let changed = support::run(&env);
    assert_eq!(changed.code, 0, "{}", changed.stderr);
    assert_eq!(changed.json["files_deployed"], "1", "{}", changed.stdout);
    assert_eq!(
        std::fs::read_to_string(dir.join("server.js")).unwrap(),
        "console.log('v2')\n"
    );
    let ran: Vec<String> = commands(&sim).split_off(before);
    assert!(
        ran.iter().any(|c| c.starts_with("mittnitectl job restart")),
        "{ran:#?}"
    );
}

#[test]
fn a_slow_activation_is_waited_for() {
    let sim = deploy_sim(|o| o.ssh_activation = Duration::from_millis(3000));
    let app = app_tree();
    let run = run(&deploy_env(&sim, "slow", app.path()));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("to be activated"), "{}", run.stderr);
    let refused = sim.ssh_log().iter().filter(|e| e.kind == "refused").count();
    assert!(refused >= 1, "the first logins came before the activation");
    assert!(sim.ssh_users().is_empty());
}

#[test]
fn the_install_command_runs_in_the_directory_and_its_failure_is_exit_1_with_its_last_lines() {
    let sim = deploy_sim(|_| {});
    let app = app_tree();
    let mut env = deploy_env(&sim, "install", app.path());
    set(
        &mut env,
        "BERTH_INSTALL_COMMAND",
        "ls package.json && echo installed > marker",
    );
    set(&mut env, "GITHUB_ACTIONS", "true");
    let ok = run(&env);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let dir = installation_dir(&sim, &ok);
    assert_eq!(
        std::fs::read_to_string(dir.join("marker")).unwrap(),
        "installed\n"
    );
    // Its output is folded and cannot act as a workflow command.
    assert!(ok.stderr.contains("::group::"), "{}", ok.stderr);
    assert!(ok.stderr.contains("::stop-commands::"), "{}", ok.stderr);

    std::fs::write(app.path().join("server.js"), "changed").unwrap();
    set(
        &mut env,
        "BERTH_INSTALL_COMMAND",
        "echo 'npm ERR! missing: left-pad' && echo '::error::not a command' && exit 3",
    );
    let before = commands(&sim).len();
    let failed = run(&env);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let error = failed.out("error");
    assert!(error.contains("exit 3"), "{error}");
    assert!(error.contains("npm ERR! missing: left-pad"), "{error}");
    assert_eq!(failed.out("status"), "failed");
    let ran: Vec<String> = commands(&sim).split_off(before);
    assert!(
        !ran.iter().any(|c| c.contains("mittnitectl")),
        "no restart after a failed install"
    );
    assert!(
        sim.ssh_users().is_empty(),
        "the temporary user is removed after a failure"
    );
    assert!(
        failed.stderr.contains("removed temporary SSH user"),
        "{}",
        failed.stderr
    );

    // The job re-run with a fixed command: the files are there already, but the deploy did
    // not finish, so the install command and the restart run.
    set(&mut env, "BERTH_INSTALL_COMMAND", "echo fixed > marker");
    let before = commands(&sim).len();
    let rerun = run(&env);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert_eq!(rerun.json["files_deployed"], "0");
    assert_eq!(
        std::fs::read_to_string(dir.join("marker")).unwrap(),
        "fixed\n"
    );
    let ran: Vec<String> = commands(&sim).split_off(before);
    assert!(ran.iter().any(|c| c.contains("mittnitectl")), "{ran:#?}");

    // A multi-line command stops at its first failing line, as a CI script does.
    std::fs::write(app.path().join("server.js"), "changed again").unwrap();
    set(
        &mut env,
        "BERTH_INSTALL_COMMAND",
        "false\necho reached > reached",
    );
    let stopped = run(&env);
    assert_eq!(stopped.code, 1, "{}", stopped.stderr);
    assert!(
        !dir.join("reached").exists(),
        "the second line must not run"
    );
}

#[test]
fn an_app_that_does_not_come_back_is_exit_1_naming_its_log() {
    let sim = deploy_sim(|o| o.app_exit_code = Some(1));
    let app = app_tree();
    let run = run(&deploy_env(&sim, "crash", app.path()));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.out("app_status"), "exited");
    let error = run.out("error");
    assert!(error.contains("did not come back"), "{error}");
    assert!(error.contains("log"), "{error}");
    // What was deployed stays in the outputs.
    assert_eq!(run.json["files_deployed"], "4");
    assert!(sim.ssh_users().is_empty());
    // Re-run once the cause is fixed (here: on the platform's side): the files are
    // unchanged, but the deploy did not finish, so the app is restarted, not reported fine.
    sim.set_options(|o| o.app_exit_code = None);
    let before = commands(&sim).len();
    let again = support::run(&deploy_env(&sim, "crash", app.path()));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json["files_deployed"], "0");
    assert_eq!(again.out("app_status"), "running");
    let ran: Vec<String> = commands(&sim).split_off(before);
    assert!(
        ran.iter().any(|c| c.starts_with("mittnitectl job restart")),
        "{ran:#?}"
    );
}

#[test]
fn restart_false_and_wait_false_do_what_they_say() {
    let sim = deploy_sim(|_| {});
    let app = app_tree();
    let mut env = deploy_env(&sim, "norestart", app.path());
    set(&mut env, "BERTH_RESTART", "false");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!commands(&sim).iter().any(|c| c.contains("mittnitectl")));
    assert!(run.json.get("app_status").is_none(), "{}", run.stdout);
    assert_eq!(run.out("status"), "ready");

    let sim = deploy_sim(|o| o.app_restart = Duration::from_secs(20));
    let mut env = deploy_env(&sim, "nowait", app.path());
    set(&mut env, "BERTH_WAIT", "false");
    let start = Instant::now();
    let run = support::run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        commands(&sim)
            .iter()
            .any(|c| c.contains("mittnitectl job restart"))
    );
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "did not wait for the app"
    );
}

#[test]
fn excluded_paths_are_kept_and_berth_delete_removes_the_rest() {
    let sim = deploy_sim(|_| {});
    let app = app_tree();
    let mut env = deploy_env(&sim, "delete", app.path());
    let first = run(&env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let dir = installation_dir(&sim, &first);
    // What the host has beside the deploy: installed modules, an upload, an old file.
    std::fs::create_dir_all(dir.join("node_modules/left-pad")).unwrap();
    std::fs::write(dir.join("node_modules/left-pad/index.js"), "x").unwrap();
    std::fs::create_dir_all(dir.join("uploads")).unwrap();
    std::fs::write(dir.join("uploads/a.png"), "png").unwrap();
    std::fs::write(dir.join("old.js"), "old").unwrap();
    std::fs::write(app.path().join("local.log"), "not deployed").unwrap();

    set(&mut env, "BERTH_DELETE", "true");
    set(
        &mut env,
        "BERTH_EXCLUDE",
        ".git\nnode_modules/\nuploads\n*.log",
    );
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!dir.join("old.js").exists(), "not in BERTH_PATH: removed");
    assert!(
        dir.join("node_modules/left-pad/index.js").exists(),
        "excluded: kept"
    );
    assert!(dir.join("uploads/a.png").exists(), "excluded: kept");
    assert!(!dir.join("local.log").exists(), "excluded: not sent");
    assert!(dir.join("server.js").exists());
}

#[test]
fn berth_delete_refuses_the_web_root_and_a_directory_holding_another_installation() {
    let sim = deploy_sim(|_| {});
    let app = app_tree();
    let mut inner = deploy_env(&sim, "api", app.path());
    set(&mut inner, "BERTH_INSTALLATION_PATH", "/shop/api");
    let made = run(&inner);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let inner_dir = installation_dir(&sim, &made);
    std::fs::write(inner_dir.join("keep.txt"), "keep").unwrap();

    let mut outer = deploy_env(&sim, "shop", app.path());
    set(&mut outer, "BERTH_INSTALLATION_PATH", "/shop");
    set(&mut outer, "BERTH_DELETE", "true");
    let before = commands(&sim).len();
    let refused = run(&outer);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.out("error").contains("another installation"),
        "{}",
        refused.stderr
    );
    assert!(inner_dir.join("keep.txt").exists());
    assert_eq!(commands(&sim).len(), before, "nothing ran over SSH");
    assert!(sim.ssh_users().is_empty());

    let mut root = deploy_env(&sim, "root", app.path());
    set(&mut root, "BERTH_INSTALLATION_PATH", "/");
    set(&mut root, "BERTH_DELETE", "true");
    let refused = run(&root);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.out("error").contains("web root"),
        "{}",
        refused.stderr
    );
    assert!(inner_dir.join("keep.txt").exists());
}

#[test]
fn a_wrong_host_key_is_exit_1_before_any_login_or_ssh_user() {
    let sim = deploy_sim(|_| {});
    let app = app_tree();
    let mut env = deploy_env(&sim, "impostor", app.path());
    // Another ed25519 key for the same host and port.
    let other = "AAAAC3NzaC1lZDI1NTE5AAAAIBw1+Gq9n/9+2xLqAQ/d0H0XeNLpQ8h1P0KzAHIV7x2e";
    set(
        &mut env,
        "BERTH_SSH_KNOWN_HOSTS",
        &format!(
            "[127.0.0.1]:{} ssh-ed25519 {other}\n",
            sim.ssh_addr().port()
        ),
    );
    let run = run(&env);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let error = run.out("error");
    assert!(error.contains("BERTH_SSH_KNOWN_HOSTS"), "{error}");
    assert!(error.contains("nothing was sent"), "{error}");
    assert!(
        sim.ssh_log()
            .iter()
            .all(|e| e.kind != "login" && e.kind != "exec"),
        "{:?}",
        sim.ssh_log()
    );
    assert!(
        !requests(&sim).iter().any(|r| r.contains("ssh-users")),
        "no SSH user is made for a host that is not the one: {:#?}",
        requests(&sim)
    );
}

/// A fixed ed25519 key (no key generation in tests), in OpenSSH format.
fn fixed_key(seed: u8) -> (String, String) {
    use russh::keys::{PrivateKey, ssh_key::LineEnding, ssh_key::private::Ed25519Keypair};
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&[seed; 32]));
    let private = key.to_openssh(LineEnding::LF).unwrap().to_string();
    let public = key.public_key().to_openssh().unwrap();
    let public = public.split(' ').take(2).collect::<Vec<_>>().join(" ");
    (private, public)
}

/// Creates an SSH user with `public` (and `expiresAt`, when given) through the simulator's
/// API, as a pipeline's own deploy user is made; answers its name.
fn ssh_user(sim: &SimHandle, description: &str, public: &str, expires_at: Option<&str>) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut body = serde_json::json!({
        "description": description,
        "authentication": {"publicKeys": [{"comment": "ci", "key": public}]}
    });
    if let Some(at) = expires_at {
        body["expiresAt"] = at.into();
    }
    let (status, user): (u16, Value) = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/v2/projects/{PROJECT}/ssh-users", sim.url()))
            .header("x-access-token", TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    });
    assert_eq!(status, 201, "{user}");
    user["userName"].as_str().expect("a user name").to_string()
}

#[test]
fn a_given_user_and_key_log_in_and_the_key_is_in_no_output() {
    let sim = deploy_sim(|o| o.ssh_activation = Duration::ZERO);
    let (private, public) = fixed_key(7);
    let user = ssh_user(&sim, "deploy key of the pipeline", &public, None);
    sim.clear_requests();
    let app = app_tree();
    let mut env = deploy_env(&sim, "given", app.path());
    set(&mut env, "BERTH_SSH_USER", &user);
    set(&mut env, "BERTH_SSH_PRIVATE_KEY", &private);
    set(&mut env, "GITHUB_ACTIONS", "true");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let short = run.out("short_id").to_string();
    assert!(
        sim.ssh_log()
            .iter()
            .any(|e| e.kind == "login" && e.login == format!("{user}@{short}")),
        "{:?}",
        sim.ssh_log()
    );
    assert!(
        !requests(&sim).iter().any(|r| r.contains("ssh-users")),
        "{:#?}",
        requests(&sim)
    );
    // On GitHub the key is masked line by line (the runner drops those lines from the log);
    // nothing else carries any line of it.
    let masked: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("::add-mask::"))
        .collect();
    let everything: String = run
        .everything()
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    for line in private.lines().filter(|l| l.len() > 20) {
        assert!(masked.contains(&line), "a line of the key is not masked");
        assert!(!everything.contains(line), "a line of the key leaked");
    }
}

#[test]
fn bad_deploy_inputs_are_exit_2_before_any_request() {
    let sim = deploy_sim(|_| {});
    let app = app_tree();
    let zip = app.path().join("app.zip");
    std::fs::write(&zip, "PK").unwrap();
    let zip = zip.to_string_lossy().to_string();
    let zip: &'static str = Box::leak(zip.into_boxed_str());
    let (private, _) = fixed_key(9);
    // A key with a passphrase (ed25519: quick to make) and a file that holds a key.
    let keys = tempfile::tempdir().unwrap();
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "a passphrase", "-f"])
        .arg(keys.path().join("locked"))
        .status()
        .expect("ssh-keygen");
    assert!(made.success());
    let locked = std::fs::read_to_string(keys.path().join("locked")).unwrap();
    let locked: &'static str = Box::leak(locked.into_boxed_str());
    let key_file = keys.path().join("key");
    std::fs::write(&key_file, &private).unwrap();
    let key_file: &'static str = Box::leak(key_file.to_string_lossy().to_string().into_boxed_str());
    let mut base = deploy_env(&sim, "bad", app.path());
    set(&mut base, "BERTH_SSH_USER", "ssh-abc123");
    set(&mut base, "BERTH_SSH_PRIVATE_KEY", &private);
    let cases: &[BadInput] = &[
        ("BERTH_PATH", Some("/nonexistent/berth-app"), "BERTH_PATH"),
        ("BERTH_PATH", Some(zip), "BERTH_PATH"),
        ("BERTH_SSH_PRIVATE_KEY", None, "BERTH_SSH_USER"),
        (
            "BERTH_SSH_PRIVATE_KEY",
            Some(
                "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n",
            ),
            "BERTH_SSH_PRIVATE_KEY",
        ),
        (
            "BERTH_SSH_KNOWN_HOSTS",
            Some(
                "@cert-authority *.project.host ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBw1+Gq9n/9+2xLqAQ/d0H0XeNLpQ8h1P0KzAHIV7x2e",
            ),
            "BERTH_SSH_KNOWN_HOSTS",
        ),
        (
            "BERTH_SSH_KNOWN_HOSTS",
            Some("ssh.example.host ssh-ed25519 !!!"),
            "BERTH_SSH_KNOWN_HOSTS",
        ),
        ("BERTH_SSH_HOST", Some("host:port"), "BERTH_SSH_HOST"),
        ("BERTH_DELETE", Some("maybe"), "BERTH_DELETE"),
        ("BERTH_SSH_PRIVATE_KEY", Some(locked), "passphrase"),
        ("BERTH_SSH_PRIVATE_KEY", Some(key_file), "type File"),
    ];
    assert_bad_inputs(&sim, &base, cases, private.lines().nth(1).unwrap());
}

#[test]
fn a_dry_run_names_the_path_and_what_would_be_sent_and_makes_no_ssh_user() {
    let sim = deploy_sim(|_| {});
    let app = app_tree();
    let mut env = deploy_env(&sim, "dry", app.path());
    let made = run(&env);
    assert_eq!(made.code, 0, "{}", made.stderr);
    sim.clear_requests();
    let logins = sim.ssh_log().len();
    set(&mut env, "BERTH_DRY_RUN", "true");
    set(&mut env, "BERTH_INSTALL_COMMAND", "npm ci --omit=dev");
    let dry = run(&env);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stderr.contains(made.out("deploy_path")),
        "{}",
        dry.stderr
    );
    assert!(dry.stderr.contains("4 files"), "{}", dry.stderr);
    assert!(dry.stderr.contains("npm ci --omit=dev"), "{}", dry.stderr);
    assert!(
        dry.stderr.contains("mittnitectl job restart"),
        "{}",
        dry.stderr
    );
    assert!(writes(&sim.requests()).is_empty(), "{:?}", requests(&sim));
    assert_eq!(sim.ssh_log().len(), logins, "no SSH connection");
}

#[cfg(unix)]
#[test]
fn sigterm_during_the_install_command_ends_it_and_removes_the_temporary_user() {
    use std::process::Stdio;
    let sim = deploy_sim(|_| {});
    let app = app_tree();
    let mut env = deploy_env(&sim, "signal", app.path());
    set(&mut env, "BERTH_INSTALL_COMMAND", "sleep 30");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("berth"))
        .env_clear()
        .envs(env.iter().cloned())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting berth");
    let start = Instant::now();
    while !commands(&sim).iter().any(|c| c.contains("sleep 30")) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the install command never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    assert!(
        json["deploy_path"].is_string(),
        "what was done stays in the outputs: {json}"
    );
    assert!(sim.ssh_users().is_empty(), "left: {:?}", sim.ssh_users());
    // The remote command was ended, not left running.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let sleeping = sim
            .ssh_log()
            .into_iter()
            .find(|e| e.kind == "exec" && e.detail.contains("sleep 30"))
            .unwrap();
        if sleeping.ended {
            break;
        }
        assert!(Instant::now() < deadline, "the install command still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn expired_leftovers_are_removed_and_a_user_that_cannot_be_deleted_is_a_warning() {
    let sim = deploy_sim(|_| {});
    let soon =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(1))
            .to_string();
    let (_, public) = fixed_key(3);
    ssh_user(
        &sim,
        "berth: temporary deploy user for a-old123 (run 0badc0de); removed when the run ends",
        &public,
        Some(&soon),
    );
    ssh_user(&sim, "deploy key of another pipeline", &public, Some(&soon));
    std::thread::sleep(Duration::from_millis(2100));
    let app = app_tree();
    let env = deploy_env(&sim, "sweep", app.path());
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("removed expired temporary SSH user"),
        "{}",
        run.stderr
    );
    let left: Vec<String> = sim
        .ssh_users()
        .iter()
        .map(|u| u["description"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        left,
        ["deploy key of another pipeline"],
        "only berth's own expired user goes"
    );

    // The platform refuses the delete: a warning that names the user and its expiry.
    sim.inject(berth_sim::Fault {
        status: 403,
        count: 10,
        method: Some("DELETE".into()),
        path_prefix: Some("/v2/ssh-users/".into()),
        ..Default::default()
    });
    std::fs::write(app.path().join("server.js"), "changed").unwrap();
    let refused = support::run(&env);
    assert_eq!(refused.code, 0, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("could not remove temporary SSH user")
            && refused.stderr.contains("expires by itself at"),
        "{}",
        refused.stderr
    );
    let ours: Vec<Value> = sim
        .ssh_users()
        .into_iter()
        .filter(|u| {
            u["description"]
                .as_str()
                .unwrap_or_default()
                .starts_with("berth: temporary deploy user")
        })
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    let expires = humantime::parse_rfc3339_weak(ours[0]["expiresAt"].as_str().unwrap()).unwrap();
    let left = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(
        left > Duration::from_secs(60) && left < Duration::from_secs(24 * 3600),
        "{left:?}"
    );
}

#[test]
fn a_timeout_during_the_install_command_removes_the_temporary_user() {
    let sim = deploy_sim(|_| {});
    let app = app_tree();
    let mut env = deploy_env(&sim, "timeout", app.path());
    set(&mut env, "BERTH_INSTALL_COMMAND", "sleep 30");
    set(&mut env, "BERTH_WAIT_TIMEOUT", "8s");
    let run = run(&env);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.out("error").contains("timed out"), "{}", run.stderr);
    assert!(run.json["deploy_path"].is_string(), "{}", run.stdout);
    assert!(sim.ssh_users().is_empty(), "left: {:?}", sim.ssh_users());
    let sleeping = sim
        .ssh_log()
        .into_iter()
        .find(|e| e.kind == "exec" && e.detail.contains("sleep 30"))
        .expect("the install command ran");
    assert!(sleeping.ended, "the install command was ended");
}

#[test]
fn a_failed_run_with_other_settings_is_not_taken_for_the_earlier_finished_deploy() {
    let sim = deploy_sim(|_| {});
    let app = app_tree();
    let mut env = deploy_env(&sim, "revert", app.path());
    set(&mut env, "BERTH_INSTALL_COMMAND", "echo a >> installs");
    let first = run(&env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let dir = installation_dir(&sim, &first);
    // The same files, another install command that fails half way.
    set(
        &mut env,
        "BERTH_INSTALL_COMMAND",
        "echo b >> installs && false",
    );
    let failed = run(&env);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    // Back to the first command: the directory is not what it left, so it runs again.
    set(&mut env, "BERTH_INSTALL_COMMAND", "echo a >> installs");
    let back = run(&env);
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("installs")).unwrap(),
        "a\nb\na\n"
    );
    // A copy of the record in BERTH_PATH is never sent.
    std::fs::write(app.path().join(".berth-deployed"), "forged").unwrap();
    let copied = run(&env);
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    assert_ne!(
        std::fs::read_to_string(dir.join(".berth-deployed")).unwrap(),
        "forged"
    );
    assert_eq!(copied.json["files_deployed"], "0", "{}", copied.stdout);
}
