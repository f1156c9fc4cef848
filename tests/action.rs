//! action.yml: every contract input is an action input mapped to its variable, every output is
//! declared, and the step that runs berth, run as GitHub's runner runs a composite action's step,
//! writes every declared output.

mod ci_common;
mod support;

use assert_cmd::Command;
use berth::config::INPUTS;
use ci_common::{entries, input_name, read, repo_file, text, yaml};
use serde_norway::Value;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    time::Duration,
};
use support::*;

/// `${{ inputs.NAME }}` -> `NAME`; `None` for anything else.
fn input_reference(value: &str) -> Option<&str> {
    value
        .trim()
        .strip_prefix("${{")?
        .strip_suffix("}}")?
        .trim()
        .strip_prefix("inputs.")
}

fn berth_step(action: &Value) -> &Value {
    action["runs"]["steps"]
        .as_sequence()
        .expect("runs.steps")
        .iter()
        .find(|s| s["id"].as_str() == Some("berth"))
        .expect("a step with id berth")
}

#[test]
fn every_contract_input_is_an_action_input_mapped_to_its_variable() {
    let action = yaml("action.yml");
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let inputs: BTreeMap<&str, &Value> = entries(&action["inputs"], "inputs").into_iter().collect();
    let env: BTreeMap<&str, &Value> = entries(&berth_step(&action)["env"], "the berth step's env")
        .into_iter()
        .collect();

    for input in INPUTS {
        let name = input_name(input.var);
        let declared = inputs
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{} has no action input {name}", input.var));
        let description = declared["description"].as_str().unwrap_or_default();
        assert!(!description.trim().is_empty(), "{name}: no description");
        let default = declared
            .get("default")
            .map(text)
            .unwrap_or_else(|| panic!("{name}: no default"));
        // A non-empty default must be berth's own, so that the action and berth cannot disagree;
        // an empty one leaves the choice to berth.
        if !default.is_empty() {
            assert_eq!(
                default, input.default,
                "{name}: default differs from berth's"
            );
        }
        let mapped = env
            .get(input.var)
            .map(|v| text(v))
            .unwrap_or_else(|| panic!("the berth step does not set {}", input.var));
        assert_eq!(
            input_reference(&mapped),
            Some(name.as_str()),
            "{} is mapped from {mapped:?}",
            input.var
        );
    }
    assert_eq!(inputs.len(), INPUTS.len(), "inputs berth does not know");
    assert_eq!(env.len(), INPUTS.len(), "variables berth does not know");
    assert_eq!(
        inputs["provider"]["required"].as_bool(),
        Some(true),
        "provider is required"
    );
}

#[test]
fn every_output_comes_from_the_berth_step_under_its_own_name() {
    let action = yaml("action.yml");
    for (name, output) in entries(&action["outputs"], "outputs") {
        assert!(
            !output["description"]
                .as_str()
                .unwrap_or_default()
                .trim()
                .is_empty(),
            "{name}: no description"
        );
        assert_eq!(
            output["value"].as_str(),
            Some(format!("${{{{ steps.berth.outputs.{name} }}}}").as_str()),
            "{name}"
        );
    }
}

#[test]
fn berth_is_installed_by_the_installer_where_the_run_step_looks_for_it() {
    let action = yaml("action.yml");
    let steps = action["runs"]["steps"].as_sequence().expect("runs.steps");
    let install = &steps[0];
    assert_eq!(install["shell"].as_str(), Some("bash"));
    assert_eq!(
        install["run"].as_str(),
        Some(r#"bash "$GITHUB_ACTION_PATH/.github/install-berth.sh""#)
    );
    assert_eq!(
        text(&install["env"]["ACTION_REF"]),
        "${{ github.action_ref }}"
    );
    assert_eq!(
        text(&install["env"]["ACTION_REPOSITORY"]),
        "${{ github.action_repository }}"
    );
    assert!(repo_file(".github/install-berth.sh").is_file());
    let installer = read(".github/install-berth.sh");
    assert!(installer.contains(r#"root="$temp/berth""#));
    assert!(installer.contains(r#"bin="$root/bin""#));
    let run = berth_step(&action);
    assert_eq!(run["shell"].as_str(), Some("bash"));
    assert_eq!(
        run["run"].as_str(),
        Some(r#""$RUNNER_TEMP/berth/bin/berth""#)
    );
}

/// What one composite-action run of berth produced.
struct ActionRun {
    code: i32,
    stdout: String,
    stderr: String,
    /// `$GITHUB_OUTPUT`, parsed.
    outputs: BTreeMap<String, String>,
}

/// Runs the berth step as the runner does for `uses: ./` with these `with:` values: inputs not
/// given take their default or the empty string, the step's `env:` is evaluated with them, and
/// its `run:` goes to `bash --noprofile --norc -eo pipefail` with berth where the installer
/// puts it.
fn run_action(with: &[(&str, &str)]) -> ActionRun {
    let action = yaml("action.yml");
    let given: BTreeMap<&str, &str> = with.iter().copied().collect();
    let inputs: BTreeMap<&str, &Value> = entries(&action["inputs"], "inputs").into_iter().collect();
    for name in given.keys() {
        assert!(inputs.contains_key(name), "with: {name} is not an input");
    }
    let step = berth_step(&action);

    let temp = tempfile::tempdir().expect("temp dir");
    let runner_temp = temp.path().join("runner-temp");
    let bin = runner_temp.join("berth/bin");
    std::fs::create_dir_all(&bin).expect("RUNNER_TEMP/berth/bin");
    #[cfg(unix)]
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_berth"), bin.join("berth")).expect("symlink");
    #[cfg(not(unix))]
    std::fs::copy(env!("CARGO_BIN_EXE_berth"), bin.join("berth.exe")).expect("copy");
    let script = temp.path().join("step.sh");
    std::fs::write(&script, step["run"].as_str().expect("run")).expect("script");
    let github_output = temp.path().join("github_output");
    let summary = temp.path().join("step_summary");

    let mut cmd = Command::new("bash");
    cmd.env_clear()
        .args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script)
        .current_dir(temp.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GITHUB_ACTIONS", "true")
        .env("CI", "true")
        .env("RUNNER_TEMP", &runner_temp)
        .env("GITHUB_OUTPUT", &github_output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .timeout(Duration::from_secs(60));
    for (var, value) in entries(&step["env"], "env") {
        let value = text(value);
        let name = input_reference(&value)
            .unwrap_or_else(|| panic!("{var}: {value:?} is not an input reference"));
        let value = match given.get(name) {
            Some(v) => v.to_string(),
            None => inputs[name].get("default").map(text).unwrap_or_default(),
        };
        cmd.env(var, value);
    }
    let output = cmd.output().expect("running the step");
    let written = std::fs::read_to_string(&github_output).unwrap_or_default();
    ActionRun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        outputs: parse_github_output(&written),
    }
}

/// `key=value` lines and `key<<DELIMITER` ... `DELIMITER` blocks, as the runner reads them.
fn parse_github_output(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((key, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            outputs.insert(key.to_string(), value.join("\n"));
        } else if let Some((key, value)) = line.split_once('=') {
            outputs.insert(key.to_string(), value.to_string());
        } else {
            panic!("$GITHUB_OUTPUT line {line:?} is neither key=value nor key<<DELIMITER");
        }
    }
    outputs
}

fn check_one_json_line(run: &ActionRun) {
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout: {}", run.stdout);
    let json: serde_json::Value = serde_json::from_str(lines[0]).expect("stdout is JSON");
    assert!(json.is_object());
}

#[test]
fn every_declared_output_is_written_by_a_mittwald_or_a_cloud_foundry_run() {
    let action = yaml("action.yml");
    let declared: BTreeSet<String> = entries(&action["outputs"], "outputs")
        .into_iter()
        .map(|(k, _)| k.to_string())
        .collect();

    let sim = cf_sim(|o| o.time_to_ready = Duration::from_millis(300));
    let mittwald_url = sim.url();
    let cf_url = sim.cf_url();
    let app = tempfile::tempdir().expect("app dir");
    std::fs::write(app.path().join("index.html"), "<h1>hi</h1>").expect("app file");
    let app_path = app.path().to_string_lossy().into_owned();

    let mittwald = run_action(&[
        ("provider", "mittwald"),
        ("api-url", &mittwald_url),
        ("api-token", TOKEN),
        ("project-id", PROJECT),
        ("app", "node"),
        ("description", "action test"),
        // The code too, over the simulator's SSH endpoint.
        ("path", &app_path),
        ("ssh-host", &sim.ssh_addr().to_string()),
        ("ssh-known-hosts", &sim.ssh_known_hosts()),
        ("install-command", "true"),
    ]);
    assert_eq!(mittwald.code, 0, "{}", mittwald.stderr);
    assert_eq!(mittwald.outputs["files-deployed"], "1");
    assert_eq!(mittwald.outputs["app-status"], "running");
    check_one_json_line(&mittwald);
    assert_eq!(mittwald.outputs["status"], "ready");
    assert!(!mittwald.outputs["installation-id"].is_empty());
    // GITHUB_ACTIONS=true: the token is masked before anything else is printed.
    assert_eq!(
        mittwald.stderr.lines().next(),
        Some(format!("::add-mask::{TOKEN}").as_str()),
        "{}",
        mittwald.stderr
    );

    let cloudfoundry = run_action(&[
        ("provider", "cloudfoundry"),
        ("api-url", &cf_url),
        ("cf-username", CF_USER),
        ("cf-password", CF_PASSWORD),
        ("space-guid", SPACE),
        ("name", "action-test"),
        ("memory", "64M"),
        ("state", "STARTED"),
        ("path", &app_path),
        ("routes", "default"),
    ]);
    assert_eq!(cloudfoundry.code, 0, "{}", cloudfoundry.stderr);
    check_one_json_line(&cloudfoundry);
    assert_eq!(cloudfoundry.outputs["state"], "STARTED");
    assert_eq!(
        cloudfoundry.outputs["url"],
        "https://action-test.apps.sim.example"
    );
    // The same app again, more memory, without downtime: a rolling deployment.
    let rolling = run_action(&[
        ("provider", "cloudfoundry"),
        ("api-url", &cf_url),
        ("cf-username", CF_USER),
        ("cf-password", CF_PASSWORD),
        ("space-guid", SPACE),
        ("name", "action-test"),
        ("memory", "128M"),
        ("strategy", "rolling"),
    ]);
    assert_eq!(rolling.code, 0, "{}", rolling.stderr);
    assert!(!rolling.outputs["deployment-guid"].is_empty());

    // The two outputs that only some runs have: a dry run, and a failed one.
    let dry_run = run_action(&[
        ("provider", "mittwald"),
        ("api-url", &mittwald_url),
        ("api-token", TOKEN),
        ("project-id", PROJECT),
        ("app", "node"),
        ("description", "action dry run"),
        ("dry-run", "true"),
    ]);
    assert_eq!(dry_run.code, 0, "{}", dry_run.stderr);
    let failed = run_action(&[("provider", "mittwald"), ("api-url", &mittwald_url)]);
    assert_eq!(failed.code, 2, "{}", failed.stderr);
    check_one_json_line(&failed);
    assert!(
        failed
            .stderr
            .contains("::error title=berth%3A invalid configuration::")
    );

    let mut written = BTreeSet::new();
    for run in [&mittwald, &cloudfoundry, &rolling, &dry_run, &failed] {
        written.extend(run.outputs.keys().cloned());
    }
    let missing: Vec<_> = declared.difference(&written).collect();
    assert!(
        missing.is_empty(),
        "declared but never written: {missing:?}"
    );
    let undeclared: Vec<_> = written.difference(&declared).collect();
    assert!(
        undeclared.is_empty(),
        "written but not declared in action.yml: {undeclared:?}"
    );
    assert!(
        Path::new(env!("CARGO_BIN_EXE_berth")).is_file(),
        "the binary the steps ran"
    );
}
