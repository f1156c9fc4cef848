//! The SSH host keys berth trusts: OpenSSH known_hosts text (mittwald's published keys, bundled,
//! or `BERTH_SSH_KNOWN_HOSTS`), and the check of the key a server offers against it.
//!
//! The lines are read as OpenSSH reads them: comma-separated host patterns with `*` and `?`
//! wildcards and `!` negation, `[host]:port` for a port other than 22, and hashed host names
//! (`|1|salt|hmac`, as `ssh-keygen -H` writes them). ssh-key parses the host field and the key;
//! the matching is here, since ssh-key has none. Marker lines (`@cert-authority`, `@revoked`)
//! are refused rather than half understood: a `@revoked` line read as a plain one would trust
//! the very key it revokes.

use std::fmt;
use std::str::FromStr as _;

use russh::keys::ssh_key::known_hosts::HostPatterns;
use russh::keys::{Algorithm, HashAlg, PublicKey};

/// mittwald's published SSH host keys (all `ssh-rsa`), one line per cluster's SSH endpoint.
const MITTWALD: &str = include_str!("mittwald-ssh-known-hosts");

/// Key types longer than this are not echoed in errors: such a field is rather a key or
/// garbage than a type name.
const MAX_ECHOED_TYPE: usize = 40;

/// Parsed known_hosts text: which hosts have which keys.
#[derive(Clone)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

/// One key line.
#[derive(Clone)]
struct Entry {
    hosts: HostPatterns,
    key: PublicKey,
}

/// The server's host key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostKeyError {
    /// No line of the known hosts names this host (and port).
    #[error("the SSH host {} has no known host key", host_port(host, *port))]
    Unknown {
        /// The host as connected to.
        host: String,
        /// The port as connected to.
        port: u16,
    },
    /// Lines name this host, but none has the key it offered: another server, or a changed
    /// key.
    #[error(
        "the SSH host {} offered the host key {offered}, which is not among its known host keys",
        host_port(host, *port)
    )]
    Mismatch {
        /// The host as connected to.
        host: String,
        /// The port as connected to.
        port: u16,
        /// The offered key's type and SHA-256 fingerprint, as `ssh-keygen -l` prints it
        /// (`ssh-rsa SHA256:…`).
        offered: String,
    },
}

impl fmt::Debug for KnownHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnownHosts")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl KnownHosts {
    /// Parses OpenSSH known_hosts `text`. `source` names where it came from
    /// (`BERTH_SSH_KNOWN_HOSTS`): every error names it and the 1-based line, and says what is
    /// wrong without echoing the line. Text without any key line is an error too: it would
    /// trust no host at all.
    pub fn parse(text: &str, source: &str) -> Result<KnownHosts, String> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry =
                parse_line(line).map_err(|what| format!("{source} line {}: {what}", index + 1))?;
            entries.push(entry);
        }
        if entries.is_empty() {
            return Err(format!(
                "{source}: no host keys (only blank lines or comments)"
            ));
        }
        Ok(KnownHosts { entries })
    }

    /// mittwald's published SSH host keys, bundled with berth (`mittwald-ssh-known-hosts`).
    pub fn mittwald() -> KnownHosts {
        // A unit test parses the bundled file, so this cannot fail in a build that passed it.
        KnownHosts::parse(MITTWALD, "the bundled mittwald known_hosts")
            .expect("the bundled mittwald known_hosts parses")
    }

    /// How many key lines there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Never true: [`KnownHosts::parse`] refuses text without keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `key` is a known host key of `host` on `port`. Keys compare by their key data
    /// (algorithm and key), not by comment.
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> Result<(), HostKeyError> {
        let mut applies = false;
        for entry in self.applying(host, port) {
            applies = true;
            if entry.key.key_data() == key.key_data() {
                return Ok(());
            }
        }
        if applies {
            Err(HostKeyError::Mismatch {
                host: host.to_owned(),
                port,
                offered: describe(key),
            })
        } else {
            Err(HostKeyError::Unknown {
                host: host.to_owned(),
                port,
            })
        }
    }

    /// The algorithms of the keys known for `host` on `port`, in file order without repeats.
    /// The SSH client asks the server for these host key types first (as OpenSSH does), so
    /// that a server with several host keys offers one that can be checked.
    pub fn key_algorithms(&self, host: &str, port: u16) -> Vec<Algorithm> {
        let mut algorithms: Vec<Algorithm> = Vec::new();
        for entry in self.applying(host, port) {
            let algorithm = entry.key.algorithm();
            if !algorithms.contains(&algorithm) {
                algorithms.push(algorithm);
            }
        }
        algorithms
    }

    /// The entries whose host patterns name `host` on `port`.
    fn applying(&self, host: &str, port: u16) -> impl Iterator<Item = &Entry> {
        // OpenSSH lowercases the host name, and writes `[host]:port` for a port other than 22.
        let name = host_port_name(&host.to_ascii_lowercase(), port);
        self.entries
            .iter()
            .filter(move |entry| hosts_match(&entry.hosts, &name))
    }
}

/// One non-blank, non-comment line: `hosts keytype base64 [comment]`.
fn parse_line(line: &str) -> Result<Entry, String> {
    let mut fields = line.split_whitespace();
    let hosts = fields.next().unwrap_or_default();
    if let Some(marker) = hosts.strip_prefix('@') {
        return Err(match marker {
            "cert-authority" | "revoked" => {
                format!("@{marker} lines are not supported (yet)")
            }
            _ => "an unknown marker (only @cert-authority and @revoked exist)".to_owned(),
        });
    }
    let hosts = HostPatterns::from_str(hosts).map_err(|_| {
        if hosts.starts_with("|1|") {
            "the hashed host name does not decode (|1|<base64 salt>|<base64 hash>)".to_owned()
        } else {
            "no host patterns".to_owned()
        }
    })?;
    let Some(key_type) = fields.next() else {
        return Err("no key type and key after the host patterns".to_owned());
    };
    let Some(base64) = fields.next() else {
        return Err("no key after the key type".to_owned());
    };
    if Algorithm::from_str(key_type).is_err() {
        return Err(if key_type.len() <= MAX_ECHOED_TYPE {
            format!("unknown key type `{key_type}`")
        } else {
            "unknown key type (the field after the host patterns)".to_owned()
        });
    }
    let key = PublicKey::from_openssh(&format!("{key_type} {base64}"))
        .map_err(|_| format!("the {key_type} key does not decode (damaged, or of another type)"))?;
    Ok(Entry { hosts, key })
}

/// The name OpenSSH matches known_hosts patterns against: `host` for port 22, else
/// `[host]:port`.
fn host_port_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

/// `host:port` for messages (`[v6]:port` for an IPv6 address).
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Whether a line's hosts name `name` (lowercase, from [`host_port_name`]), as OpenSSH's
/// `match_hostname`: a negated pattern that matches rules the line out, else any positive one
/// that matches rules it in.
fn hosts_match(hosts: &HostPatterns, name: &str) -> bool {
    match hosts {
        HostPatterns::HashedName { salt, hash } => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
            ring::hmac::verify(&key, name.as_bytes(), hash).is_ok()
        }
        HostPatterns::Patterns(patterns) => {
            let mut positive = false;
            for pattern in patterns {
                let pattern = pattern.to_ascii_lowercase();
                match pattern.strip_prefix('!') {
                    Some(negated) if wildcard_match(negated, name) => return false,
                    Some(_) => {}
                    None => positive |= wildcard_match(&pattern, name),
                }
            }
            positive
        }
    }
}

/// OpenSSH's `match_pattern`: `*` matches any run of characters (also none), `?` any one.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Iterative glob with one backtrack point: the last `*` and where its run ended so far.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// A key as `ssh-keygen -l` names it: type and SHA-256 fingerprint (`ssh-rsa SHA256:…`).
pub fn describe(key: &PublicKey) -> String {
    format!(
        "{} {}",
        key.algorithm().as_str(),
        key.fingerprint(HashAlg::Sha256)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::PrivateKey;
    use russh::keys::ssh_key::private::Ed25519Keypair;

    fn key(n: u8) -> PublicKey {
        PrivateKey::from(Ed25519Keypair::from_seed(&[n; 32]))
            .public_key()
            .clone()
    }

    /// `ssh-ed25519 AAAA…` of [`key`].
    fn line(n: u8) -> String {
        key(n).to_openssh().unwrap()
    }

    /// `|1|salt|hmac` of `name` as `ssh-keygen -H` writes it.
    fn hashed(name: &str) -> String {
        use base64::Engine as _;
        let salt = [7u8; 20];
        let hmac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
        let tag = ring::hmac::sign(&hmac_key, name.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD;
        format!("|1|{}|{}", b64.encode(salt), b64.encode(tag.as_ref()))
    }

    #[test]
    fn the_bundled_mittwald_keys_parse() {
        let known = KnownHosts::mittwald();
        assert_eq!(known.len(), 7);
        assert!(
            known
                .entries
                .iter()
                .all(|e| e.key.algorithm() == Algorithm::Rsa { hash: None })
        );
        let fabbenstedt = &known.entries[0].key;
        assert!(
            known
                .check("ssh.fabbenstedt.project.host", 22, fabbenstedt)
                .is_ok()
        );
        assert!(
            known
                .check("SSH.Fabbenstedt.Project.Host", 22, fabbenstedt)
                .is_ok()
        );
        assert!(matches!(
            known.check("ssh.schmalge.project.host", 22, fabbenstedt),
            Err(HostKeyError::Mismatch { .. })
        ));
        assert_eq!(
            known.key_algorithms("ssh.schmalge.project.host", 22),
            vec![Algorithm::Rsa { hash: None }]
        );
    }

    #[test]
    fn plain_hosts_ports_comments_and_blank_lines() {
        let text = format!(
            "# a comment\n\n  \r\nexample.org,other.example {} a comment with # inside\r\n\
             [127.0.0.1]:2222\t{}\n",
            line(1),
            line(2)
        );
        let known = KnownHosts::parse(&text, "TEST").unwrap();
        assert_eq!(known.len(), 2);
        assert_eq!(known.check("example.org", 22, &key(1)), Ok(()));
        assert_eq!(known.check("other.example", 22, &key(1)), Ok(()));
        assert_eq!(known.check("127.0.0.1", 2222, &key(2)), Ok(()));
        // A plain host means port 22 only; a bracketed one only its port.
        assert_eq!(
            known.check("example.org", 2222, &key(1)),
            Err(HostKeyError::Unknown {
                host: "example.org".to_owned(),
                port: 2222
            })
        );
        assert!(matches!(
            known.check("127.0.0.1", 22, &key(2)),
            Err(HostKeyError::Unknown { .. })
        ));
        // The comment does not take part: the key data does.
        let mut renamed = key(1);
        renamed.set_comment("someone else");
        assert_eq!(known.check("example.org", 22, &renamed), Ok(()));
    }

    #[test]
    fn a_mismatch_names_the_offered_key_as_ssh_keygen_does() {
        let known = KnownHosts::parse(&format!("example.org {}\n", line(1)), "TEST").unwrap();
        let error = known.check("example.org", 22, &key(2)).unwrap_err();
        let HostKeyError::Mismatch { offered, .. } = &error else {
            panic!("{error:?}");
        };
        assert!(offered.starts_with("ssh-ed25519 SHA256:"), "{offered}");
        assert_eq!(
            offered,
            &format!("ssh-ed25519 {}", key(2).fingerprint(HashAlg::Sha256))
        );
        assert!(error.to_string().contains("example.org:22"), "{error}");
    }

    #[test]
    fn hashed_hosts_match_their_name_only() {
        let text = format!(
            "{} {}\n{} {}\n",
            hashed("example.org"),
            line(1),
            hashed("[10.0.0.1]:2222"),
            line(2)
        );
        let known = KnownHosts::parse(&text, "TEST").unwrap();
        assert_eq!(known.check("example.org", 22, &key(1)), Ok(()));
        assert_eq!(known.check("Example.ORG", 22, &key(1)), Ok(()));
        assert!(matches!(
            known.check("example.net", 22, &key(1)),
            Err(HostKeyError::Unknown { .. })
        ));
        assert!(matches!(
            known.check("example.org", 2222, &key(1)),
            Err(HostKeyError::Unknown { .. })
        ));
        assert_eq!(known.check("10.0.0.1", 2222, &key(2)), Ok(()));
        assert!(matches!(
            known.check("10.0.0.1", 2222, &key(1)),
            Err(HostKeyError::Mismatch { .. })
        ));
    }

    #[test]
    fn wildcards_and_negation_as_openssh() {
        let text = format!(
            "*.example.org,!bad.example.org {}\n[host-?]:*,*.test {}\n",
            line(1),
            line(2)
        );
        let known = KnownHosts::parse(&text, "TEST").unwrap();
        assert_eq!(known.check("a.example.org", 22, &key(1)), Ok(()));
        assert_eq!(known.check("a.b.example.org", 22, &key(1)), Ok(()));
        assert!(matches!(
            known.check("example.org", 22, &key(1)),
            Err(HostKeyError::Unknown { .. })
        ));
        // A negated match means the line does not apply at all.
        assert!(matches!(
            known.check("bad.example.org", 22, &key(1)),
            Err(HostKeyError::Unknown { .. })
        ));
        assert_eq!(known.check("host-1", 2222, &key(2)), Ok(()));
        assert!(matches!(
            known.check("host-12", 2222, &key(2)),
            Err(HostKeyError::Unknown { .. })
        ));
        assert_eq!(known.check("x.test", 22, &key(2)), Ok(()));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXbYbZc"));
        assert!(!wildcard_match("a*b*c", "aXbYbZ"));
        assert!(wildcard_match("??", "ab"));
        assert!(!wildcard_match("??", "abc"));
    }

    #[test]
    fn key_algorithms_lists_the_known_types_of_a_host() {
        let rsa = KnownHosts::mittwald().entries[0].key.to_openssh().unwrap();
        let text = format!("h {}\nh {rsa}\nh {}\nother {}\n", line(1), line(2), line(3));
        let known = KnownHosts::parse(&text, "TEST").unwrap();
        assert_eq!(
            known.key_algorithms("h", 22),
            vec![Algorithm::Ed25519, Algorithm::Rsa { hash: None }]
        );
        assert!(known.key_algorithms("nowhere", 22).is_empty());
    }

    #[test]
    fn errors_name_the_source_and_line_and_what_is_wrong() {
        let good = format!("example.org {}\n", line(1));
        let error = |text: &str| KnownHosts::parse(text, "BERTH_SSH_KNOWN_HOSTS").unwrap_err();

        let e = error(&format!(
            "{good}@cert-authority *.example.org {}\n",
            line(2)
        ));
        assert_eq!(
            e,
            "BERTH_SSH_KNOWN_HOSTS line 2: @cert-authority lines are not supported (yet)"
        );
        let e = error(&format!("# revoked:\n@revoked * {}\n", line(2)));
        assert_eq!(
            e,
            "BERTH_SSH_KNOWN_HOSTS line 2: @revoked lines are not supported (yet)"
        );
        let e = error(&format!("{good}\nexample.net ssh-ed25519 AAAAnotakey\n"));
        assert!(e.starts_with("BERTH_SSH_KNOWN_HOSTS line 3: "), "{e}");
        assert!(e.contains("ssh-ed25519 key does not decode"), "{e}");
        assert!(!e.contains("AAAAnotakey"), "{e}");
        // The type in the line must be the key's own.
        let rsa_as_ed25519 = line(1).replace("ssh-ed25519", "ssh-rsa");
        let e = error(&format!("example.net {rsa_as_ed25519}\n"));
        assert!(e.contains("line 1: the ssh-rsa key does not decode"), "{e}");
        let e = error("example.net ssh-foo AAAA\n");
        assert!(e.contains("line 1: unknown key type `ssh-foo`"), "{e}");
        // A line without a key type: the key where the type belongs is not echoed.
        let without_type = format!("example.net {}\n", line(1).split(' ').nth(1).unwrap());
        let e = error(&without_type);
        assert!(e.contains("line 1: "), "{e}");
        assert!(!e.contains("AAAA"), "{e}");
        let e = error("example.net ssh-ed25519\n");
        assert_eq!(e, "BERTH_SSH_KNOWN_HOSTS line 1: no key after the key type");
        let e = error("example.net\n");
        assert!(e.contains("line 1: no key type"), "{e}");
        let e = error(&format!("|1|%%%|abc {}\n", line(1)));
        assert!(
            e.contains("line 1: the hashed host name does not decode"),
            "{e}"
        );

        for empty in ["", "\n\n", "# only a comment\n"] {
            assert_eq!(
                error(empty),
                "BERTH_SSH_KNOWN_HOSTS: no host keys (only blank lines or comments)"
            );
        }
    }
}
