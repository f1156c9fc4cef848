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
