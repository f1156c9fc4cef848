//! Problems found while reading the configuration, and the parsers every part shares.

use std::{fmt, time::Duration};
use thiserror::Error;

use super::INPUTS;

/// One input problem, naming the variable it is about.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is missing or empty.
    #[error("{var} is required: {meaning}")]
    Missing {
        /// The variable.
        var: &'static str,
        /// What it is for and what it takes.
        meaning: &'static str,
    },
    /// A variable has a value berth cannot use.
    #[error("{var}: {problem}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong and what is accepted.
        problem: String,
    },
}

impl ConfigError {
    /// The variable the problem is about.
    pub fn var(&self) -> &'static str {
        match self {
            Self::Missing { var, .. } | Self::Invalid { var, .. } => var,
        }
    }

    fn invalid(var: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            var,
            problem: problem.into(),
        }
    }
}

/// All problems found in the configuration; never empty.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "invalid configuration ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

/// Collects problems while the config is read, so that all of them are reported at once.
#[derive(Default)]
pub(super) struct Problems(Vec<ConfigError>);

impl Problems {
    /// A required variable is not set; its meaning comes from [`INPUTS`].
    pub(super) fn missing(&mut self, var: &'static str) {
        let meaning = INPUTS
            .iter()
            .find(|i| i.var == var)
            .map_or("", |i| i.meaning);
        self.0.push(ConfigError::Missing { var, meaning });
    }
    /// A variable has a value berth cannot use.
    pub(super) fn invalid(&mut self, var: &'static str, problem: impl Into<String>) {
        self.0.push(ConfigError::invalid(var, problem));
    }
    /// A required value, or a problem.
    pub(super) fn required(&mut self, var: &'static str, value: Option<String>) -> Option<String> {
        if value.is_none() {
            self.missing(var);
        }
        value
    }
    /// A boolean, `default` when not given (and, with a problem, when it is not a boolean).
    pub(super) fn bool(&mut self, var: &'static str, value: Option<&str>, default: bool) -> bool {
        match value.map(parse_bool) {
            None => default,
            Some(Some(b)) => b,
            Some(None) => {
                self.invalid(
                    var,
                    format!(
                        "{:?} is not a boolean (accepted: true, false, 1, 0, yes, no)",
                        value.unwrap_or_default()
                    ),
                );
                default
            }
        }
    }

    /// Adds the problems another reader found.
    pub(super) fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
    }

    /// The problems found, in the order they were found.
    pub(super) fn into_list(self) -> Vec<ConfigError> {
        self.0
    }
}

/// `true/false/1/0/yes/no`, any case.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// `90` (seconds), `90s`, `10m`, `1h30m`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).ok()
}

/// A UUID in any of the forms the platforms print.
pub(super) fn is_uuid(text: &str) -> bool {
    uuid::Uuid::try_parse(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_booleans_take_every_documented_form() {
        for (text, secs) in [("90", 90), ("90s", 90), ("10m", 600), ("1h30m", 5400)] {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for (text, b) in [
            ("TRUE", true),
            ("yes", true),
            ("1", true),
            ("No", false),
            ("0", false),
        ] {
            assert_eq!(parse_bool(text), Some(b), "{text}");
        }
        assert_eq!(parse_bool("maybe"), None);
    }
}
