//! The one scrubbing point: every line berth prints (log lines, annotations, groups) and the
//! free text it writes (the `error` output, in every sink) pass through [`scrub`], which
//! replaces every secret berth knows with `***`. Ids, names and states in the outputs are the
//! platform's own fields and stay as they are.
//!
//! A secret is known from the moment it is [`register`]ed: the secret inputs and the parts of
//! other inputs that are secret ([`register_from_env`]: userinfo of `BERTH_API_URL`, the values
//! of `BERTH_ENVIRONMENT`) before anything else happens, tokens from UAA as they arrive. A
//! platform may echo a secret back in any form, so each is also known URL-encoded (both hex
//! cases, `+` for spaces), JSON- and HTML-escaped, without a `bearer ` prefix and, for userinfo,
//! as the Basic header that carries it.
//!
//! GitHub's `::add-mask::` covers only the log; this covers the outputs too, and every platform.

use std::{
    fmt,
    sync::{PoisonError, RwLock},
};

/// What replaces a secret in anything berth prints or writes.
pub const REDACTED: &str = "***";

/// Values shorter than this are not scrubbed: replacing every `1` or `on` in the output would
/// garble it, and a two-character value hides nothing anyway. (GitHub's own masking has a
/// similar floor in practice: it skips values it deems too short to be secrets.)
pub const MIN_SECRET_LEN: usize = 4;

/// The inputs whose whole value is a secret.
pub const SECRET_VARS: &[&str] = &[
    "BERTH_API_TOKEN",
    "BERTH_CF_PASSWORD",
    "BERTH_CF_CLIENT_SECRET",
    "BERTH_DOCKER_PASSWORD",
    "BERTH_SSH_PRIVATE_KEY",
];

/// Every known form of every registered secret, longest first, so that a longer form is
/// replaced before a shorter one inside it.
static FORMS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Makes `secret` (and its encoded forms) known to [`scrub`]. Multi-line values are known
/// line by line too (a private key's lines, say).
pub fn register(secret: &str) {
    let mut new = Vec::new();
    let trimmed = secret.trim();
    let mut values = vec![trimmed];
    // A token given as `bearer …` (as `cf oauth-token` prints it) is sent without the prefix.
    if let Some(bare) = trimmed
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("bearer "))
        .map(|_| trimmed[7..].trim_start())
    {
        values.push(bare);
    }
    if trimmed.contains(['\n', '\r']) {
        values.extend(trimmed.lines().map(str::trim));
    }
    for value in values
        .into_iter()
        .filter(|v| v.chars().count() >= MIN_SECRET_LEN)
    {
        new.extend(forms(value));
    }
    if new.is_empty() {
        return;
    }
    let mut known = FORMS.write().unwrap_or_else(PoisonError::into_inner);
    for form in new {
        if !known.contains(&form) {
            known.push(form);
        }
    }
    known.sort_by_key(|f| std::cmp::Reverse(f.len()));
}

/// The encodings a platform or a library may echo a value back in.
fn forms(value: &str) -> Vec<String> {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let upper = utf8_percent_encode(value, NON_ALPHANUMERIC).to_string();
    let lower = lower_hex(&upper);
    let form: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let json = serde_json::to_string(value).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or(value)
        .to_string();
    // As an HTML page (a proxy's error page) writes it.
    let html = value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let mut all = vec![value.to_string(), upper, lower, form, json, html];
    all.dedup();
    all
}

/// `%2F` -> `%2f`: some servers encode in lower case.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let end = (i + 3).min(rest.len());
        out.push_str(&rest[i..end].to_ascii_lowercase());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The text with every known secret replaced by [`REDACTED`].
pub fn scrub(text: &str) -> String {
    let known = FORMS.read().unwrap_or_else(PoisonError::into_inner);
    let mut text = text.to_string();
    for form in known.iter() {
        if text.contains(form.as_str()) {
            text = text.replace(form.as_str(), REDACTED);
        }
    }
    text
}

/// Registers the secrets of the environment, before the configuration is even read (so a
/// configuration error cannot echo one either): the [`SECRET_VARS`], the userinfo of
/// `BERTH_API_URL` (also as the Basic header it becomes), and each value of
/// `BERTH_ENVIRONMENT` (a JSON object or `KEY=VALUE` lines; text that is neither is secret
/// line by line).
pub fn register_from_env(get: impl Fn(&str) -> Option<String>) {
    for secret in secrets_in_env(get) {
        register(&secret);
    }
}

/// What [`register_from_env`] registers, also used for GitHub's `::add-mask::`.
pub fn secrets_in_env(get: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut secrets: Vec<String> = SECRET_VARS.iter().filter_map(|v| get(v)).collect();
    if let Some(url) = get("BERTH_API_URL") {
        secrets.extend(userinfo(url.trim()));
    }
    if let Some(environment) = get("BERTH_ENVIRONMENT") {
        secrets.extend(environment_values(&environment));
    }
    secrets.retain(|s| !s.trim().is_empty());
    secrets
}

/// The user name and password of a URL, decoded and as the Basic credentials they become.
fn userinfo(url: &str) -> Vec<String> {
    use base64::Engine;
    let Ok(url) = reqwest::Url::parse(url) else {
        return Vec::new();
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = decode(url.username());
    let password = url.password().map(decode);
    let mut out = Vec::new();
    if user.is_empty() && password.is_none() {
        return out;
    }
    let basic = format!("{user}:{}", password.clone().unwrap_or_default());
    out.push(base64::engine::general_purpose::STANDARD.encode(basic));
    out.push(user);
    out.extend(password);
    out
}

/// The values of `BERTH_ENVIRONMENT`, however it is written.
fn environment_values(text: &str) -> Vec<String> {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text) {
        // Every value, and every string inside a nested one (a JSON credential, say).
        fn strings(value: &serde_json::Value, into: &mut Vec<String>) {
            match value {
                serde_json::Value::String(s) => into.push(s.clone()),
                serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, into)),
                serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, into)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        for value in map.values() {
            if !value.is_string() {
                found.push(value.to_string());
            }
            strings(value, &mut found);
        }
        return found;
    }
    text.lines()
        .map(|line| match line.split_once('=') {
            Some((_, value)) => value.trim().to_string(),
            None => line.trim().to_string(),
        })
        .collect()
}

/// A value that must never be printed; `Debug` shows `***`. Register it ([`register`]) as
/// soon as it is known, so that [`scrub`] also hides it wherever a platform echoes it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The registry is process-wide: each test uses values no other test registers.

    #[test]
    fn a_secret_is_replaced_wherever_it_stands_and_however_it_is_encoded() {
        register("pa ss/wörd+1");
        let text = "raw pa ss/wörd+1, in a url pa%20ss%2Fw%C3%B6rd%2B1, lower pa%20ss%2fw%c3%b6rd%2b1, \
                    form pa+ss%2Fw%C3%B6rd%2B1, glued xxpa ss/wörd+1yy";
        let scrubbed = scrub(text);
        assert!(!scrubbed.contains("ss/w"), "{scrubbed}");
        assert!(
            !scrubbed.to_ascii_lowercase().contains("%2fw"),
            "{scrubbed}"
        );
        assert_eq!(scrubbed.matches(REDACTED).count(), 5, "{scrubbed}");
        assert!(scrubbed.contains("xx***yy"), "{scrubbed}");
    }

    #[test]
    fn json_escaped_values_are_found_too() {
        register(r#"quote"back\slash"#);
        let body = serde_json::json!({"echo": r#"quote"back\slash"#}).to_string();
        assert_eq!(scrub(&body), r#"{"echo":"***"}"#);
    }

    #[test]
    fn a_bearer_token_is_known_without_its_prefix_and_html_escaped() {
        register("Bearer tok-a<b>&c");
        assert_eq!(
            scrub("authorization: bearer tok-a<b>&c"),
            "authorization: bearer ***"
        );
        assert_eq!(scrub("<pre>tok-a&lt;b&gt;&amp;c</pre>"), "<pre>***</pre>");
    }

    #[test]
    fn short_values_are_left_alone() {
        register("on");
        assert_eq!(scrub("turn it on"), "turn it on");
    }

    #[test]
    fn multi_line_secrets_are_known_line_by_line() {
        register("-----BEGIN KEY-----\nAAAAB3NzaC1yc2EAAAADAQAB\n-----END KEY-----\n");
        assert_eq!(scrub("line AAAAB3NzaC1yc2EAAAADAQAB"), "line ***");
    }

    #[test]
    fn the_environment_names_its_secrets() {
        use crate::testing::env;
        let found = secrets_in_env(env(&[
            ("BERTH_API_TOKEN", "tok-123456"),
            ("BERTH_API_URL", "https://ci%40corp:p%40ss@api.example.com"),
            ("BERTH_ENVIRONMENT", r#"{"A": "alpha-1", "B": 42}"#),
            ("BERTH_NAME", "not-secret"),
        ]));
        assert!(found.contains(&"tok-123456".to_string()));
        assert!(found.contains(&"ci@corp".to_string()));
        assert!(found.contains(&"p@ss".to_string()));
        // base64("ci@corp:p@ss"), as reqwest sends URL userinfo.
        assert!(found.contains(&"Y2lAY29ycDpwQHNz".to_string()), "{found:?}");
        assert!(found.contains(&"alpha-1".to_string()));
        assert!(found.contains(&"42".to_string()));
        let nested = secrets_in_env(env(&[(
            "BERTH_ENVIRONMENT",
            r#"{"CREDS": {"user": "u-1", "keys": ["key-one"]}}"#,
        )]));
        assert!(nested.contains(&"key-one".to_string()), "{nested:?}");
        assert!(!found.iter().any(|s| s == "not-secret"));
        let lines = secrets_in_env(env(&[("BERTH_ENVIRONMENT", "A=one-1\nB = two-2")]));
        assert_eq!(lines, ["one-1", "two-2"]);
    }
}
