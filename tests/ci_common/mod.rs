//! Helpers for the tests of berth's CI files (action.yml, the workflows, the GitLab template,
//! the Dockerfile and the action's installer): reading them, and the names they share.
#![allow(dead_code, reason = "each test file uses a different part")]

use serde_norway::Value;
use std::path::{Path, PathBuf};

/// A file of the repository, by its path from the repository's root.
pub fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A file's text.
pub fn read(path: &str) -> String {
    std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// A YAML file with one document.
pub fn yaml(path: &str) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// A YAML file's documents, in order.
pub fn yaml_documents(path: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_norway::Deserializer::from_str(&read(path))
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("parsing {path}: {e}")))
        .collect()
}

/// `value[key]` as a mapping's entries, in file order.
pub fn entries<'a>(value: &'a Value, what: &str) -> Vec<(&'a str, &'a Value)> {
    value
        .as_mapping()
        .unwrap_or_else(|| panic!("{what} is not a mapping"))
        .iter()
        .map(|(k, v)| {
            let key = k
                .as_str()
                .unwrap_or_else(|| panic!("{what}: key {k:?} is not a string"));
            (key, v)
        })
        .collect()
}

/// A scalar as the text GitHub or GitLab would read (`true` -> "true").
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => panic!("{other:?} is not a scalar"),
    }
}

/// `BERTH_WAIT_TIMEOUT` -> `wait-timeout`: the input's name in action.yml and the template.
pub fn input_name(var: &str) -> String {
    var.strip_prefix("BERTH_")
        .unwrap_or_else(|| panic!("{var} does not start with BERTH_"))
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// The targets the release workflow builds, from its matrix.
pub fn release_targets() -> Vec<String> {
    let release = yaml(".github/workflows/release.yml");
    release["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_sequence()
        .expect("release.yml: jobs.build.strategy.matrix.include")
        .iter()
        .map(|row| text(&row["target"]))
        .collect()
}
