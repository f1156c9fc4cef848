//! Bad configuration: exit 2, a message naming the variable, and not one request.

mod support;

use support::*;

/// (variable to change, value or None to remove it, variable the message must name)
const CASES: &[BadInput] = &[
    ("BERTH_PROVIDER", None, "BERTH_PROVIDER"),
    ("BERTH_PROVIDER", Some("heroku"), "BERTH_PROVIDER"),
    ("BERTH_API_TOKEN", None, "BERTH_API_TOKEN"),
    ("BERTH_API_TOKEN", Some("two words"), "BERTH_API_TOKEN"),
    ("BERTH_PROJECT_ID", None, "BERTH_PROJECT_ID"),
    ("BERTH_PROJECT_ID", Some("my project"), "BERTH_PROJECT_ID"),
    ("BERTH_APP", None, "BERTH_APP"),
    ("BERTH_DESCRIPTION", None, "BERTH_DESCRIPTION"),
    ("BERTH_DESCRIPTION", Some("two\nlines"), "BERTH_DESCRIPTION"),
    ("BERTH_APP_VERSION", Some("1.0 beta"), "BERTH_APP_VERSION"),
    ("BERTH_WAIT", Some("sometimes"), "BERTH_WAIT"),
    (
        "BERTH_WAIT_TIMEOUT",
        Some("ten minutes"),
        "BERTH_WAIT_TIMEOUT",
    ),
    ("BERTH_WAIT_TIMEOUT", Some("0s"), "BERTH_WAIT_TIMEOUT"),
    ("BERTH_ON_EXISTING", Some("replace"), "BERTH_ON_EXISTING"),
    ("BERTH_DRY_RUN", Some("maybe"), "BERTH_DRY_RUN"),
    ("BERTH_UPDATE_POLICY", Some("weekly"), "BERTH_UPDATE_POLICY"),
    ("BERTH_USER_INPUTS", Some("novalue"), "BERTH_USER_INPUTS"),
    (
        "BERTH_USER_INPUTS",
        Some("entrypoint=a;entrypoint=b"),
        "BERTH_USER_INPUTS",
    ),
    ("BERTH_USER_INPUTS", Some("bad name=1"), "BERTH_USER_INPUTS"),
    (
        "BERTH_API_URL",
        Some("ftp://example.invalid"),
        "BERTH_API_URL",
    ),
    ("BERTH_API_URL", Some("not a url"), "BERTH_API_URL"),
    (
        "BERTH_CA_CERT",
        Some("/nonexistent/ca.pem"),
        "BERTH_CA_CERT",
    ),
    ("BERTH_CA_CERT", Some("/proc/version"), "BERTH_CA_CERT"),
    (
        "BERTH_INSECURE_SKIP_TLS_VERIFY",
        Some("perhaps"),
        "BERTH_INSECURE_SKIP_TLS_VERIFY",
    ),
    (
        "BERTH_INSTALLATION_PATH",
        Some("../../etc"),
        "BERTH_INSTALLATION_PATH",
    ),
    (
        "BERTH_DOTENV",
        Some("/nonexistent-dir/out.env"),
        "BERTH_DOTENV",
    ),
];

#[test]
fn each_bad_input_exits_2_naming_its_variable_before_any_request() {
    let sim = sim(0);
    assert!(CASES.len() >= 15);
    assert_bad_inputs(&sim, &mittwald_env(&sim, "config"), CASES, TOKEN);
}

#[test]
fn all_problems_are_listed_in_one_run() {
    let sim = sim(0);
    let mut env = mittwald_env(&sim, "config");
    set(&mut env, "BERTH_WAIT", "sometimes");
    set(&mut env, "BERTH_ON_EXISTING", "replace");
    unset(&mut env, "BERTH_APP");
    let run = run(&env);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("3 problems"), "{}", run.stderr);
    for var in ["BERTH_WAIT", "BERTH_ON_EXISTING", "BERTH_APP "] {
        assert!(run.stderr.contains(var), "{var}: {}", run.stderr);
    }
}

#[test]
fn empty_values_count_as_not_set_as_github_passes_them() {
    let sim = sim(0);
    let mut env = mittwald_env(&sim, "empty inputs");
    for var in [
        "BERTH_APP_VERSION",
        "BERTH_ENTRYPOINT",
        "BERTH_USER_INPUTS",
        "BERTH_WAIT",
        "BERTH_WAIT_TIMEOUT",
        "BERTH_CA_CERT",
    ] {
        set(&mut env, var, "");
    }
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out("status"), "ready");
}

#[test]
fn a_misspelt_variable_is_pointed_out() {
    let sim = sim(0);
    let mut env = mittwald_env(&sim, "typo");
    set(&mut env, "BERTH_ENTRYPIONT", "node x.js");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("BERTH_ENTRYPIONT is not a berth input; did you mean BERTH_ENTRYPOINT?"),
        "{}",
        run.stderr
    );
}

#[test]
fn help_lists_every_input_and_the_readme_documents_them() {
    let help = assert_cmd::Command::cargo_bin("berth")
        .unwrap()
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for input in berth::config::INPUTS {
        assert!(help.contains(input.var), "--help lacks {}", input.var);
        assert!(
            readme.contains(&format!("`{}`", input.var)),
            "README lacks {}",
            input.var
        );
    }
}

#[test]
fn version_names_the_spec_it_was_generated_from() {
    let out = assert_cmd::Command::cargo_bin("berth")
        .unwrap()
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!("berth {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains("mittwald API 2.0"), "{text}");
    assert!(text.contains("Cloud Foundry API 2.0"), "{text}");
}
