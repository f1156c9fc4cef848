//! Routes (`BERTH_ROUTES`), the part both APIs share: a route berth will map once its domain is
//! known, how it is written (as Cloud Controller writes a route's `url`, and as a user visits
//! it), the candidates for its domain (the longest known one wins), the host `default` takes
//! from the app's name, and the exit-2 problem of a domain nothing matches. Each API finds
//! domains and routes its own way: `v3/routes.rs`, `v2_routes.rs`.

use crate::{
    Failure,
    config::{ConfigError, ConfigErrors},
};

/// A route berth will map, its domain known.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Wanted {
    /// The host (empty for a route on the domain itself, and for TCP).
    pub host: String,
    /// The domain's guid and name.
    pub domain: (String, String),
    /// `/path`, or empty.
    pub path: String,
    /// The TCP port.
    pub port: Option<i64>,
}

impl Wanted {
    /// A `host.domain[/path]` route: `name` split at the domain that matched it.
    pub fn http(name: &str, domain: (String, String), path: Option<&str>) -> Self {
        Self {
            host: host_in(name, &domain.1),
            domain,
            path: path.unwrap_or_default().to_string(),
            port: None,
        }
    }

    /// A `domain:port` route.
    pub fn tcp(domain: (String, String), port: u16) -> Self {
        Self {
            host: String::new(),
            domain,
            path: String::new(),
            port: Some(i64::from(port)),
        }
    }

    /// As Cloud Controller writes a route's `url`: `host.domain/path` or `domain:port`.
    pub fn url(&self) -> String {
        let domain = &self.domain.1;
        match self.port {
            Some(port) => format!("{domain}:{port}"),
            None if self.host.is_empty() => format!("{domain}{}", self.path),
            None => format!("{}.{domain}{}", self.host, self.path),
        }
    }

    /// As a user visits it: `https://host.domain/path` or `tcp://domain:port`.
    pub fn link(&self) -> String {
        link(&self.url(), self.port.is_some())
    }

    /// Whether a route the platform lists is this one: its domain (by guid), host (any case),
    /// path and port.
    pub fn matches(&self, domain_guid: &str, host: &str, path: &str, port: Option<i64>) -> bool {
        domain_guid.eq_ignore_ascii_case(&self.domain.0)
            && host.eq_ignore_ascii_case(&self.host)
            && path == self.path
            && port == self.port
    }
}

/// `https://` for an HTTP route, `tcp://` for a TCP one.
pub(super) fn link(url: &str, tcp: bool) -> String {
    if tcp {
        format!("tcp://{url}")
    } else {
        format!("https://{url}")
    }
}

/// Every suffix of `host.domain` that could be its domain, longest first: the longest one the
/// foundation knows is the domain, the rest the host.
pub(super) fn candidates(name: &str) -> Vec<String> {
    let labels: Vec<&str> = name.split('.').collect();
    (0..labels.len()).map(|i| labels[i..].join(".")).collect()
}

/// The host of `name` on `domain` (empty when `name` is the domain).
fn host_in(name: &str, domain: &str) -> String {
    let lower = name.to_ascii_lowercase();
    lower
        .strip_suffix(&domain.to_ascii_lowercase())
        .map(|h| h.trim_end_matches('.'))
        .unwrap_or("")
        .to_string()
}

/// The app's name as a host name, as `cf push` makes its default route: lower case, what is
/// not a letter, digit or dash made a dash.
pub(super) fn host_of(app_name: &str) -> String {
    let host: String = app_name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    host.trim_matches('-').to_string()
}

/// `BERTH_ROUTES` names something the foundation does not have: exit 2.
pub(super) fn unknown(problem: String) -> Failure {
    ConfigErrors(vec![ConfigError::Invalid {
        var: "BERTH_ROUTES",
        problem,
    }])
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_name_becomes_a_host_as_cf_push_makes_it() {
        assert_eq!(host_of("Shop_API v2"), "shop-api-v2");
        assert_eq!(host_of("-web-"), "web");
    }

    #[test]
    fn urls_are_written_as_cloud_controller_writes_them() {
        let route = |host: &str, path: &str, port| Wanted {
            host: host.into(),
            domain: ("d".into(), "apps.example.com".into()),
            path: path.into(),
            port,
        };
        assert_eq!(
            route("shop", "/api", None).link(),
            "https://shop.apps.example.com/api"
        );
        assert_eq!(route("", "", None).url(), "apps.example.com");
        assert_eq!(
            route("", "", Some(1024)).link(),
            "tcp://apps.example.com:1024"
        );
    }

    #[test]
    fn a_name_is_split_at_the_domain_that_matched() {
        assert_eq!(
            candidates("shop.apps.example.com"),
            [
                "shop.apps.example.com",
                "apps.example.com",
                "example.com",
                "com"
            ]
        );
        let domain = || ("d".to_string(), "apps.example.com".to_string());
        let shop = Wanted::http("shop.apps.example.com", domain(), Some("/api"));
        assert_eq!((shop.host.as_str(), shop.path.as_str()), ("shop", "/api"));
        assert!(shop.matches("D", "SHOP", "/api", None));
        assert!(!shop.matches("d", "shop", "", None));
        assert_eq!(Wanted::http("apps.example.com", domain(), None).host, "");
        assert_eq!(Wanted::tcp(domain(), 1030).url(), "apps.example.com:1030");
    }
}
