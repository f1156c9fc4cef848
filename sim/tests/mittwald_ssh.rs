//! The simulated mittwald deploy path over real loopback: the project's directories and
//! cluster, SSH users through the API, the SSH endpoint (login, activation, expiry, the command
//! language, a tar stream) and the app's status around `mittnitectl job restart`.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::{Client, Method, StatusCode};
use russh::client;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use russh::{ChannelMsg, Disconnect};
use serde_json::{Value, json};

use berth_sim::mittwald::*;
use berth_sim::*;
use support::serve_for_test;

const PROJECT: &str = "p-sshtest";
const OTHER_PROJECT: &str = "p-others";

struct Sim {
    handle: SimHandle,
    client: Client,
}

impl Sim {
    async fn start(options: SimOptions) -> Self {
        Self {
            handle: serve_for_test(options).await,
            client: Client::builder().build().unwrap(),
        }
    }

    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.handle.url()))
            .header("x-access-token", DEFAULT_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A ready Node.js installation in `project`; returns (id, short id).
    fn node_installation(&self, project: &str) -> (String, String) {
        let id = self.handle.seed_installation(SeedInstallation {
            project_id: project.to_owned(),
            app_id: NODE_APP_ID.to_owned(),
            app_version_id: NODE_VERSION_1_0_0_ID.to_owned(),
            description: "my node app".to_owned(),
            ..SeedInstallation::default()
        });
        let body = self
            .handle
            .installations()
            .into_iter()
            .find(|i| i["id"] == id.as_str())
            .unwrap();
        (id, body["shortId"].as_str().unwrap().to_owned())
    }

    /// Creates an SSH user of `project` with `key`; returns its body.
    async fn ssh_user(&self, project: &str, key: &PrivateKey, expires_at: Option<&str>) -> Value {
        let mut body = json!({
            "description": "made by a test",
            "authentication": { "publicKeys": [{ "comment": "test", "key": openssh(key) }] },
        });
        if let Some(at) = expires_at {
            body["expiresAt"] = json!(at);
        }
        let (status, user) = self
            .api(
                Method::POST,
                &format!("/v2/projects/{project}/ssh-users"),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        user
    }

    async fn status(&self, installation: &str) -> Value {
        let (status, body) = self
            .api(
                Method::GET,
                &format!("/v2/app-installations/{installation}/status"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

fn quick() -> SimOptions {
    SimOptions {
        ssh_activation: Duration::ZERO,
        consistency_delay: Duration::ZERO,
        app_restart: Duration::from_millis(300),
        ..SimOptions::default()
    }
}

/// A fixed ed25519 key per `n`: no key generation in tests.
fn key(n: u8) -> PrivateKey {
    PrivateKey::from(Ed25519Keypair::from_seed(&[n; 32]))
}

/// `<type> <base64>`, as the API wants it (no comment).
fn openssh(key: &PrivateKey) -> String {
    let line = key.public_key().to_openssh().unwrap();
    line.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

/// A client that trusts only the simulator's host key.
struct Trust(PublicKey);

impl client::Handler for Trust {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(
            matches!(key, russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } if key.key_data() == self.0.key_data()),
        )
    }
}

/// Logs in as `login` with `key`; `None` when refused.
async fn login(sim: &Sim, login: &str, key: &PrivateKey) -> Option<client::Handle<Trust>> {
    let host_key = PublicKey::from_openssh(&sim.handle.ssh_host_key()).unwrap();
    let mut session = client::connect(
        Arc::new(client::Config::default()),
        sim.handle.ssh_addr(),
        Trust(host_key),
    )
    .await
    .unwrap();
    let auth = session
        .authenticate_publickey(
            login,
            PrivateKeyWithHashAlg::new(Arc::new(key.clone()), None),
        )
        .await
        .unwrap();
    auth.success().then_some(session)
}

/// What one exec gave: exit status, stdout, stderr.
#[derive(Debug)]
struct Ran {
    status: Option<u32>,
    out: String,
    err: String,
}

async fn exec(session: &client::Handle<Trust>, command: &str, input: &[u8]) -> Ran {
    let mut channel = session.channel_open_session().await.unwrap();
    channel.exec(true, command).await.unwrap();
    if !input.is_empty() {
        channel.data(input).await.unwrap();
    }
    channel.eof().await.unwrap();
    let (mut out, mut err, mut status) = (Vec::new(), Vec::new(), None);
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => out.extend_from_slice(&data),
            ChannelMsg::ExtendedData { data, ext: 1 } => err.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    Ran {
        status,
        out: String::from_utf8_lossy(&out).into_owned(),
        err: String::from_utf8_lossy(&err).into_owned(),
    }
}

#[tokio::test]
async fn the_project_names_its_directories_and_cluster() {
    let sim = Sim::start(SimOptions {
        web_dir: "/var/www".to_owned(),
        ..quick()
    })
    .await;
    let (status, project) = sim
        .api(Method::GET, &format!("/v2/projects/{PROJECT}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(project["directories"]["Web"], "/var/www");
    assert_eq!(project["directories"]["Home"], format!("/home/{PROJECT}"));
    assert_eq!(project["clusterId"], CLUSTER_ID);
    assert_eq!(project["clusterID"], CLUSTER_ID);
    assert_eq!(project["clusterDomain"], CLUSTER_DOMAIN);
    // By UUID too, the same project.
    let id = project["id"].as_str().unwrap();
    let (_, again) = sim
        .api(Method::GET, &format!("/v2/projects/{id}"), None)
        .await;
    assert_eq!(again["shortId"], PROJECT);
}

#[tokio::test]
async fn ssh_users_are_created_listed_changed_and_deleted_through_the_api() {
    let sim = Sim::start(SimOptions {
        consistency_delay: Duration::from_millis(300),
        ..quick()
    })
    .await;
    let user = sim
        .ssh_user(PROJECT, &key(1), Some("2099-01-01T00:00:00+01:00"))
        .await;
    let name = user["userName"].as_str().unwrap();
    assert!(
        name.starts_with("ssh-") && name.len() == 10,
        "userName {name}"
    );
    assert_eq!(user["description"], "made by a test");
    assert_eq!(user["expiresAt"], "2098-12-31T23:00:00.000Z");
    assert_eq!(user["hasPassword"], false);
    assert_eq!(user["publicKeys"][0]["key"], openssh(&key(1)));
    let id = user["id"].as_str().unwrap();
    // Right after the write the platform may not find it yet.
    let (status, _) = sim
        .api(Method::GET, &format!("/v2/ssh-users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, got) = sim
        .api(Method::GET, &format!("/v2/ssh-users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["userName"], name);

    let (status, list) = sim
        .api(
            Method::GET,
            &format!("/v2/projects/{PROJECT}/ssh-users"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);

    let (status, _) = sim
        .api(
            Method::PATCH,
            &format!("/v2/ssh-users/{id}"),
            Some(json!({ "description": "renamed", "publicKeys": [{ "comment": "two", "key": openssh(&key(2)) }] })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let changed = &sim.handle.ssh_users()[0];
    assert_eq!(changed["description"], "renamed");
    assert_eq!(changed["publicKeys"][0]["comment"], "two");

    // A key with a trailing comment, or no key at all, is a validation error.
    let with_comment = format!("{} me@laptop", openssh(&key(3)));
    for authentication in [
        json!({ "publicKeys": [{ "comment": "c", "key": with_comment }] }),
        json!({ "publicKeys": [{ "comment": "c", "key": "ssh-ed25519 notbase64" }] }),
        json!({}),
    ] {
        let (status, body) = sim
            .api(
                Method::POST,
                &format!("/v2/projects/{PROJECT}/ssh-users"),
                Some(json!({ "description": "x", "authentication": authentication })),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["type"], "ValidationError");
    }

    let (status, _) = sim
        .api(Method::DELETE, &format!("/v2/ssh-users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = sim
        .api(Method::DELETE, &format!("/v2/ssh-users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(sim.handle.ssh_users().is_empty());
}

#[tokio::test]
async fn only_a_registered_key_logs_in_and_only_to_its_projects_installations() {
    let sim = Sim::start(quick()).await;
    let (_, short_id) = sim.node_installation(PROJECT);
    let (_, other_short_id) = sim.node_installation(OTHER_PROJECT);
    let user = sim.ssh_user(PROJECT, &key(1), None).await;
    let name = user["userName"].as_str().unwrap();

    assert!(
        login(&sim, &format!("{name}@{short_id}"), &key(2))
            .await
            .is_none()
    );
    assert!(
        login(&sim, &format!("ssh-nobody@{short_id}"), &key(1))
            .await
            .is_none()
    );
    assert!(
        login(&sim, &format!("{name}@a-nothere"), &key(1))
            .await
            .is_none()
    );
    assert!(
        login(&sim, &format!("{name}@{other_short_id}"), &key(1))
            .await
            .is_none()
    );
    assert!(login(&sim, name, &key(1)).await.is_none());

    let session = login(&sim, &format!("{name}@{short_id}"), &key(1))
        .await
        .unwrap();
    let ran = exec(&session, "true", b"").await;
    assert_eq!(ran.status, Some(0), "{ran:?}");

    let log = sim.handle.ssh_log();
    let refused: Vec<&SshEvent> = log.iter().filter(|e| e.kind == "refused").collect();
    assert!(refused.len() >= 5, "{log:?}");
    assert!(
        log.iter()
            .any(|e| e.kind == "login" && e.login == format!("{name}@{short_id}"))
    );
    assert!(
        log.iter()
            .any(|e| e.kind == "exec" && e.detail == "true" && e.exit_status == Some(0))
    );
    session
        .disconnect(Disconnect::ByApplication, "", "en")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_new_user_logs_in_only_after_its_activation() {
    let sim = Sim::start(SimOptions {
        ssh_activation: Duration::from_millis(700),
        ..quick()
    })
    .await;
    let (_, short_id) = sim.node_installation(PROJECT);
    let created = Instant::now();
    let user = sim.ssh_user(PROJECT, &key(1), None).await;
    let login_name = format!("{}@{short_id}", user["userName"].as_str().unwrap());
    assert!(login(&sim, &login_name, &key(1)).await.is_none());
    let refusal = sim.handle.ssh_log().pop().unwrap();
    assert!(refusal.detail.contains("not activated yet"), "{refusal:?}");
    let mut attempts = 1;
    let session = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        attempts += 1;
        if let Some(session) = login(&sim, &login_name, &key(1)).await {
            break session;
        }
        assert!(
            created.elapsed() < Duration::from_secs(5),
            "never activated"
        );
    };
    assert!(created.elapsed() >= Duration::from_millis(700));
    assert!(attempts > 2);
    assert_eq!(exec(&session, "true", b"").await.status, Some(0));
}

#[tokio::test]
async fn an_expired_deleted_or_deactivated_user_cannot_log_in() {
    let sim = Sim::start(quick()).await;
    let (_, short_id) = sim.node_installation(PROJECT);
    let soon = humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_millis(800))
        .to_string();
    let expiring = sim.ssh_user(PROJECT, &key(1), Some(&soon)).await;
    let expiring_login = format!("{}@{short_id}", expiring["userName"].as_str().unwrap());
    assert!(login(&sim, &expiring_login, &key(1)).await.is_some());
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(login(&sim, &expiring_login, &key(1)).await.is_none());
    assert!(
        sim.handle
            .ssh_log()
            .pop()
            .unwrap()
            .detail
            .contains("expired")
    );

    let deleted = sim.ssh_user(PROJECT, &key(2), None).await;
    let deleted_login = format!("{}@{short_id}", deleted["userName"].as_str().unwrap());
    assert!(login(&sim, &deleted_login, &key(2)).await.is_some());
    let id = deleted["id"].as_str().unwrap();
    let (status, _) = sim
        .api(Method::DELETE, &format!("/v2/ssh-users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(login(&sim, &deleted_login, &key(2)).await.is_none());

    let paused = sim.ssh_user(PROJECT, &key(3), None).await;
    let paused_login = format!("{}@{short_id}", paused["userName"].as_str().unwrap());
    let id = paused["id"].as_str().unwrap();
    let (status, _) = sim
        .api(
            Method::PATCH,
            &format!("/v2/ssh-users/{id}"),
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(login(&sim, &paused_login, &key(3)).await.is_none());
}

/// A gzip tar of: `bin/start.sh` (0755), `index.js` (0644), `public/` with `logo.txt`, a
/// symlink `current -> public/logo.txt`.
fn archive() -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    let mut add = |path: &str, mode: u32, body: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(mode);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder.append_data(&mut header, path, body).unwrap();
    };
    add("bin/start.sh", 0o755, b"#!/bin/sh\nexec node index.js\n");
    add("index.js", 0o644, b"console.log('hello');\n");
    add("public/logo.txt", 0o600, b"logo");
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    link.set_mode(0o777);
    link.set_mtime(1_700_000_000);
    link.set_cksum();
    builder
        .append_link(&mut link, "current", "public/logo.txt")
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

#[tokio::test]
async fn a_tar_stream_lands_in_the_installation_directory_with_modes_and_symlinks() {
    let sim = Sim::start(quick()).await;
    let (id, short_id) = sim.node_installation(PROJECT);
    let user = sim.ssh_user(PROJECT, &key(1), None).await;
    let session = login(
        &sim,
        &format!("{}@{short_id}", user["userName"].as_str().unwrap()),
        &key(1),
    )
    .await
    .unwrap();
    let installation = sim
        .handle
        .installations()
        .into_iter()
        .find(|i| i["id"] == id.as_str())
        .unwrap();
    let deploy_path = format!(
        "/html{}",
        installation["installationPath"].as_str().unwrap()
    );

    // Into a staging directory, then renamed: what a careful client does.
    let ran = exec(
        &session,
        &format!("mkdir -p '{deploy_path}/.staging' && tar -xzpf - -C '{deploy_path}/.staging'"),
        &archive(),
    )
    .await;
    assert_eq!(ran.status, Some(0), "{ran:?}");
    let ran = exec(&session, "mv .staging/index.js index.js && mv .staging/bin .staging/public .staging/current . && rm -r .staging", b"").await;
    assert_eq!(ran.status, Some(0), "{ran:?}");

    let dir = sim.handle.installation_dir(&short_id).unwrap();
    assert!(dir.ends_with(format!("{PROJECT}{deploy_path}")), "{dir:?}");
    let mode = |path: &str| {
        std::fs::symlink_metadata(dir.join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("bin/start.sh"), 0o755);
    assert_eq!(mode("index.js"), 0o644);
    assert_eq!(mode("public/logo.txt"), 0o600);
    assert_eq!(
        std::fs::read_link(dir.join("current")).unwrap(),
        std::path::Path::new("public/logo.txt")
    );
    assert!(!dir.join(".staging").exists());

    let ran = exec(&session, r"find . -mindepth 1 -printf '%y %m %P %l\n'", b"").await;
    assert_eq!(ran.status, Some(0), "{ran:?}");
    assert_eq!(
        ran.out,
        "d 755 bin \nf 755 bin/start.sh \nl 777 current public/logo.txt\nf 644 index.js \nd 755 public \nf 600 public/logo.txt \n"
    );
    let ran = exec(&session, r"find . -type f,l -printf '%s %T@ %p\n'", b"").await;
    assert_eq!(
        ran.out,
        "29 1700000000.0000000000 ./bin/start.sh\n15 1700000000.0000000000 ./current\n22 1700000000.0000000000 ./index.js\n4 1700000000.0000000000 ./public/logo.txt\n",
        "{ran:?}"
    );
    let ran = exec(&session, "find . -type f -exec sha256sum {} +", b"").await;
    assert_eq!(ran.status, Some(0), "{ran:?}");
    assert!(
        ran.out.contains("  ./index.js\n") && ran.out.lines().count() == 3,
        "{}",
        ran.out
    );
    let ran = exec(&session, r"find . -type f -name x", b"").await;
    assert_eq!(ran.status, Some(1));
    assert!(ran.err.contains("-name is not simulated"), "{ran:?}");

    // Plain tar too, and without -p the umask applies.
    let mut plain = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(2);
    header.set_mode(0o666);
    header.set_cksum();
    plain
        .append_data(&mut header, "plain.txt", &b"hi"[..])
        .unwrap();
    let ran = exec(&session, "tar xf -", &plain.into_inner().unwrap()).await;
    assert_eq!(ran.status, Some(0), "{ran:?}");
    assert_eq!(mode("plain.txt"), 0o644);

    // gzip without -z is not a tar archive; `..` never leaves the project.
    let ran = exec(&session, "tar -xf -", &archive()).await;
    assert_eq!(ran.status, Some(2), "{ran:?}");
    let ran = exec(
        &session,
        "cd ../../../.. && find . -maxdepth 1 -printf '%P\n'",
        b"",
    )
    .await;
    assert_eq!(ran.out, "\nhome\nhtml\n", "{ran:?}");
    let ran = exec(&session, "rm -rf /", b"").await;
    assert_eq!(ran.status, Some(1));
}

#[tokio::test]
async fn the_install_command_runs_in_a_real_shell_and_closing_the_channel_ends_it() {
    let sim = Sim::start(quick()).await;
    let (_, short_id) = sim.node_installation(PROJECT);
    let user = sim.ssh_user(PROJECT, &key(1), None).await;
    let session = login(
        &sim,
        &format!("{}@{short_id}", user["userName"].as_str().unwrap()),
        &key(1),
    )
    .await
    .unwrap();
    let ran = exec(
        &session,
        "mkdir -p lib && cd lib && echo installed > done.txt && echo to-err >&2 && exit 3",
        b"",
    )
    .await;
    assert_eq!(ran.status, Some(3), "{ran:?}");
    assert_eq!(ran.err, "to-err\n");
    let dir = sim.handle.installation_dir(&short_id).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("lib/done.txt")).unwrap(),
        "installed\n"
    );
    // A built-in with shell syntax is refused rather than guessed.
    let ran = exec(&session, "rm -rf lib; true", b"").await;
    assert_eq!(ran.status, Some(2));
    assert!(ran.err.contains("operator `;`"), "{ran:?}");

    let channel = session.channel_open_session().await.unwrap();
    channel
        .exec(true, "sleep 30 && touch late.txt")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    channel.close().await.unwrap();
    let closed = Instant::now();
    loop {
        let log = sim.handle.ssh_log();
        let event = log
            .iter()
            .find(|e| e.detail.starts_with("sleep 30"))
            .unwrap();
        if event.ended {
            assert_eq!(event.exit_status, None);
            break;
        }
        assert!(closed.elapsed() < Duration::from_secs(5), "still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!dir.join("late.txt").exists());
}

#[tokio::test]
async fn a_restart_stops_the_app_then_runs_it_with_a_fresh_uptime_or_it_exits() {
    let sim = Sim::start(quick()).await;
    let (id, short_id) = sim.node_installation(PROJECT);
    let user = sim.ssh_user(PROJECT, &key(1), None).await;
    let session = login(
        &sim,
        &format!("{}@{short_id}", user["userName"].as_str().unwrap()),
        &key(1),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = sim.status(&id).await;
    assert_eq!(before["state"], "running", "{before}");
    assert!(before["uptimeSeconds"].as_f64().unwrap() >= 0.3);
    let log_file = before["logFileLocation"].as_str().unwrap().to_owned();
    assert_eq!(
        log_file,
        format!("/home/{PROJECT}/logs/{short_id}/node.log")
    );

    // Without --wait mittnitectl returns at once; the app is stopped for a while.
    let ran = exec(&session, "mittnitectl job restart", b"").await;
    assert_eq!(ran.status, Some(0), "{ran:?}");
    assert!(ran.out.contains("restarting job node"), "{ran:?}");
    let stopped = sim.status(&id).await;
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    assert!(stopped.get("uptimeSeconds").is_none());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = sim.status(&id).await;
    assert_eq!(after["state"], "running");
    assert!(after["uptimeSeconds"].as_f64().unwrap() < 0.3, "{after}");

    let ran = exec(
        &session,
        "mittnitectl job restart node --wait --wait-for 5s",
        b"",
    )
    .await;
    assert_eq!(ran.status, Some(0), "{ran:?}");
    assert!(ran.out.contains("job node restarted"), "{ran:?}");
    assert_eq!(sim.status(&id).await["state"], "running");

    let ran = exec(&session, "mittnitectl job restart python", b"").await;
    assert_eq!(ran.status, Some(1), "{ran:?}");
    let ran = exec(
        &session,
        "mittnitectl job restart --wait --wait-for 60",
        b"",
    )
    .await;
    assert_eq!(ran.status, Some(1), "a Go duration needs its unit: {ran:?}");

    sim.handle
        .set_options(|options| options.app_exit_code = Some(3));
    let ran = exec(&session, "mittnitectl job restart -w --wait-for=1s", b"").await;
    assert_eq!(ran.status, Some(1), "{ran:?}");
    assert!(ran.out.contains("timeout waiting for job node"), "{ran:?}");
    let exited = sim.status(&id).await;
    assert_eq!(exited["state"], "exited", "{exited}");
    assert_eq!(exited["lastExitCode"], 3);
    let ran = exec(&session, &format!("tail -n 1 {log_file}"), b"").await;
    assert_eq!(
        ran.out, "[berth-sim] job node exited with code 3\n",
        "{ran:?}"
    );

    // A restart starts an exited app again.
    sim.handle
        .set_options(|options| options.app_exit_code = None);
    let ran = exec(&session, "mittnitectl job restart --wait", b"").await;
    assert_eq!(ran.status, Some(0), "{ran:?}");
    assert_eq!(sim.status(&id).await["state"], "running");
}

#[tokio::test]
async fn the_control_api_gives_the_ssh_endpoint_and_its_record() {
    let sim = Sim::start(quick()).await;
    let url = |path: &str| format!("{}/__sim/{path}", sim.handle.url());
    let known = sim
        .client
        .get(url("ssh/known_hosts"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(known, sim.handle.ssh_known_hosts());
    assert!(
        known.starts_with(&format!(
            "[127.0.0.1]:{} ssh-ed25519 ",
            sim.handle.ssh_addr().port()
        )),
        "{known}"
    );
    let ssh: Value = sim
        .client
        .get(url("ssh"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ssh["addr"], sim.handle.ssh_addr().to_string());
    let log: Value = sim
        .client
        .get(url("ssh/log"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log, json!([]));
}
