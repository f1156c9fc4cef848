//! Log lines for people: stderr only, as stdout carries the one JSON line of outputs.
//!
//! The CI platform is told apart by its own variable, and gets its own niceties:
//! - GitHub Actions (`GITHUB_ACTIONS=true`): secrets are masked with `::add-mask::`, waits are
//!   folded into a `::group::`, warnings and errors become `::warning`/`::error` annotations.
//!   The runner reads workflow commands from stderr as well as stdout, and shows an annotation's
//!   message in the log in place of the command line.
//! - GitLab CI (`GITLAB_CI=true`): waits are folded into a collapsible section.
//! - Anywhere else: plain `berth: ...` lines.
//!
//! Every line goes through [`emit`], which scrubs known secrets ([`crate::redact`]); only the
//! `::add-mask::` commands, whose job is to name a secret to the runner, bypass it.

use crate::redact::{self, Secret};
use std::{
    fmt::Display,
    sync::atomic::{AtomicUsize, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

pub use redact::SECRET_VARS;

/// Prints one line (or several) on stderr, with every known secret replaced.
fn emit(text: &str) {
    eprintln!("{}", redact::scrub(text));
}

/// The CI platform berth runs on, as far as its log lines care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// GitHub Actions: workflow commands.
    GitHub,
    /// GitLab CI: collapsible sections.
    GitLab,
    /// Anything else: plain lines.
    Plain,
}

impl Platform {
    /// The platform named by the environment of this process.
    pub fn current() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The platform named by these variables: `GITHUB_ACTIONS=true` or `GITLAB_CI=true`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let is_true = |name| get(name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if is_true("GITHUB_ACTIONS") {
            Self::GitHub
        } else if is_true("GITLAB_CI") {
            Self::GitLab
        } else {
            Self::Plain
        }
    }
}

/// A progress or information line.
pub fn info(message: impl Display) {
    emit(&format!("berth: {message}"));
}

/// Something the user should look at; the run goes on.
pub fn warn(message: impl Display) {
    match Platform::current() {
        Platform::GitHub => emit(&github_command("warning", "berth", &message)),
        _ => emit(&format!("berth: warning: {message}")),
    }
}

/// Why the run failed.
pub fn error(message: impl Display) {
    annotate_error("berth", message);
}

/// Why the run failed, titled by the kind of failure ("berth: timed out").
pub fn failure(title: &str, message: impl Display) {
    annotate_error(title, message);
}

fn annotate_error(title: &str, message: impl Display) {
    match Platform::current() {
        Platform::GitHub => emit(&github_command("error", title, &message)),
        _ => emit(&format!("berth: error: {message}")),
    }
}

/// Prints lines that come from the platform or the app (a staging log, a command's output) so
/// that none of them can act as a command to the CI platform: on GitHub between
/// `::stop-commands::` and the resume marker, with a token made fresh for each block; on GitLab
/// without the carriage returns and erase sequences its section markers need. Each line gets
/// `prefix`; secrets are scrubbed as everywhere.
pub fn platform_lines(prefix: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let platform = Platform::current();
    let token = uuid::Uuid::new_v4().simple().to_string();
    if platform == Platform::GitHub {
        eprintln!("::stop-commands::{token}");
    }
    for line in lines {
        emit(&format!("{prefix}{}", defuse(platform, line)));
    }
    if platform == Platform::GitHub {
        eprintln!("::{token}::");
    }
}

/// One line of platform text made inert for `platform`.
fn defuse(platform: Platform, line: &str) -> String {
    let line: String = line.chars().filter(|c| *c != '\r').collect();
    match platform {
        Platform::GitLab => line
            .replace("\x1b[0K", "")
            .replace("section_start:", "section start:")
            .replace("section_end:", "section end:"),
        _ => line,
    }
}

/// Keeps a secret that berth obtained itself (a UAA token) out of everything: scrubbed from
/// berth's own lines and outputs, and on GitHub Actions masked in every log line of the job
/// (the runner drops the `::add-mask::` line itself from the log).
pub fn mask(secret: &Secret) {
    redact::register(secret.expose());
    if Platform::current() == Platform::GitHub {
        for line in mask_commands(secret.expose()) {
            eprintln!("{line}");
        }
    }
}

/// Registers the secrets of the environment for scrubbing and, on GitHub Actions, masks them:
/// call first, before any other line. GitHub masks `${{ secrets.X }}` values itself; this
/// covers secrets that reach berth another way (a value computed in an earlier step, a
/// job-level `env:`, the userinfo of a URL, the app's environment).
pub fn mask_env_secrets() {
    let get = |name: &str| std::env::var(name).ok();
    redact::register_from_env(get);
    if Platform::current() != Platform::GitHub {
        return;
    }
    for value in redact::secrets_in_env(get) {
        for line in mask_commands(&value) {
            eprintln!("{line}");
        }
    }
}

/// The `::add-mask::` lines for a secret: the whole value, and each of its lines, as GitHub
/// masks line by line. Nothing for an empty value.
pub fn mask_commands(secret: &str) -> Vec<String> {
    let mut values = vec![secret.trim()];
    if secret.contains(['\n', '\r']) {
        values.extend(secret.lines().map(str::trim));
    }
    let mut lines: Vec<String> = Vec::new();
    for value in values.into_iter().filter(|v| !v.is_empty()) {
        let line = format!("::add-mask::{}", escape_data(value));
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines
}

/// A GitHub workflow command with a title: `::error title=T::MESSAGE`, escaped.
pub fn github_command(command: &str, title: &str, message: &impl Display) -> String {
    format!(
        "::{command} title={}::{}",
        escape_property(title),
        escape_data(&message.to_string())
    )
}

/// Escapes a workflow command's message: `%`, CR and LF.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value: as [`escape_data`], and `:` and `,`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// A folded part of the log, open while this value lives: a `::group::` on GitHub, a
/// collapsible section on GitLab, nothing elsewhere. Dropping it (also when the future that
/// holds it is dropped on Ctrl-C) ends the part.
#[must_use = "the section ends when this value is dropped"]
pub struct Section {
    platform: Platform,
    name: String,
}

/// Starts a folded part of the log with this header.
pub fn section(header: impl Display) -> Section {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let platform = Platform::current();
    let name = format!("berth_wait_{}", COUNT.fetch_add(1, Ordering::Relaxed) + 1);
    match platform {
        Platform::GitHub => emit(&format!("::group::{}", escape_data(&header.to_string()))),
        Platform::GitLab => emit(&gitlab_section_start(unix_now(), &name, &header)),
        Platform::Plain => {}
    }
    Section { platform, name }
}

impl Drop for Section {
    fn drop(&mut self) {
        match self.platform {
            Platform::GitHub => eprintln!("::endgroup::"),
            Platform::GitLab => eprintln!("{}", gitlab_section_end(unix_now(), &self.name)),
            Platform::Plain => {}
        }
    }
}

/// `section_start:TS:NAME\r\e[0KHEADER`: GitLab folds the lines up to the matching end.
pub fn gitlab_section_start(unix_ts: u64, name: &str, header: &impl Display) -> String {
    // The header is one line; a line break would end the section's title early.
    let header = header.to_string().replace(['\r', '\n'], " ");
    format!("section_start:{unix_ts}:{name}\r\x1b[0K{header}")
}

/// `section_end:TS:NAME\r\e[0K`.
pub fn gitlab_section_end(unix_ts: u64, name: &str) -> String {
    format!("section_end:{unix_ts}:{name}\r\x1b[0K")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_comes_from_its_own_variable() {
        use crate::testing::env;
        assert_eq!(
            Platform::from_lookup(env(&[("GITHUB_ACTIONS", "true")])),
            Platform::GitHub
        );
        assert_eq!(
            Platform::from_lookup(env(&[("GITLAB_CI", "true")])),
            Platform::GitLab
        );
        assert_eq!(
            Platform::from_lookup(env(&[("GITHUB_ACTIONS", "false"), ("CI", "true")])),
            Platform::Plain
        );
        assert_eq!(Platform::from_lookup(env(&[])), Platform::Plain);
    }

    #[test]
    fn platform_text_cannot_act_as_a_gitlab_section_marker() {
        let marker = "section_start:1700000000:evil\r\x1b[0Khidden";
        let defused = defuse(Platform::GitLab, marker);
        assert!(
            !defused.contains('\r') && !defused.contains("\x1b[0K"),
            "{defused:?}"
        );
        assert!(!defused.contains("section_start:"));
        assert_eq!(defuse(Platform::Plain, "a\r"), "a");
    }

    #[test]
    fn commands_escape_their_message_and_properties() {
        assert_eq!(
            github_command("error", "berth: failed, twice", &"100% sure\r\nno: really"),
            "::error title=berth%3A failed%2C twice::100%25 sure%0D%0Ano: really"
        );
        assert_eq!(escape_data("a%0Ab"), "a%250Ab");
    }

    #[test]
    fn multi_line_secrets_are_masked_whole_and_line_by_line() {
        assert_eq!(
            mask_commands("line one\nline%two\n"),
            [
                "::add-mask::line one%0Aline%25two",
                "::add-mask::line one",
                "::add-mask::line%25two"
            ]
        );
        assert_eq!(mask_commands("tok"), ["::add-mask::tok"]);
        assert!(mask_commands("  ").is_empty());
    }

    #[test]
    fn gitlab_sections_have_the_documented_shape() {
        assert_eq!(
            gitlab_section_start(1700000000, "berth_wait_1", &"waiting\nfor x"),
            "section_start:1700000000:berth_wait_1\r\x1b[0Kwaiting for x"
        );
        assert_eq!(
            gitlab_section_end(1700000001, "berth_wait_1"),
            "section_end:1700000001:berth_wait_1\r\x1b[0K"
        );
    }

    #[test]
    fn every_secret_variable_is_an_input() {
        for var in SECRET_VARS {
            assert!(crate::config::INPUTS.iter().any(|i| i.var == *var), "{var}");
        }
    }
}
