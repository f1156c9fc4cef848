//! Log lines for people: stderr only, as stdout carries the one JSON line of outputs.

use std::fmt::Display;

/// A progress or information line.
pub fn info(message: impl Display) {
    eprintln!("berth: {message}");
}

/// Something the user should look at; the run goes on.
pub fn warn(message: impl Display) {
    eprintln!("berth: warning: {message}");
}

/// Why the run failed.
pub fn error(message: impl Display) {
    eprintln!("berth: error: {message}");
}

/// Tells GitHub Actions to hide a secret that berth obtained itself (a UAA token) from every
/// log line of the job. The runner reads workflow commands from stderr too, and drops the
/// command line itself from the log; elsewhere nothing is printed.
pub fn mask(secret: &crate::config::Secret) {
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        eprintln!("::add-mask::{}", secret.expose());
    }
}
