//! Routes as the Cloud Controller keeps them, shared by v2 and v3: a host (and path) on one of
//! the foundation's shared domains, or a port on a TCP domain, owned by a space, with its
//! destinations (v2's route mappings): the apps it sends traffic to.

use std::time::SystemTime;

use super::foundation::CfDomain;
use super::{new_guid, rfc3339};

/// The port a destination gets unless it names one (`ProcessModel::DEFAULT_HTTP_PORT`).
pub(super) const DEFAULT_APP_PORT: i64 = 8080;

/// Ports the simulated TCP router group reserves for routes that ask for none.
pub(super) const TCP_PORTS: std::ops::RangeInclusive<i64> = 1024..=1123;

/// A route.
pub(super) struct Route {
    pub(super) guid: String,
    /// Empty for none (a TCP route, or a private domain's bare route).
    pub(super) host: String,
    /// Empty for none, else begins with `/`.
    pub(super) path: String,
    /// A TCP route's port; `None` for HTTP.
    pub(super) port: Option<i64>,
    pub(super) domain_guid: String,
    pub(super) space_guid: String,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    /// Oldest first.
    pub(super) destinations: Vec<Destination>,
}

/// Where a route sends traffic: an app's process on a port.
pub(super) struct Destination {
    pub(super) guid: String,
    pub(super) app_guid: String,
    pub(super) process_type: String,
    pub(super) port: i64,
    /// `http1` (or `http2`) on an HTTP route, `tcp` on a TCP route.
    pub(super) protocol: String,
    pub(super) created_at: String,
}

impl Route {
    pub(super) fn new(
        host: String,
        path: String,
        port: Option<i64>,
        domain: &CfDomain,
        space_guid: String,
    ) -> Self {
        let now = rfc3339(SystemTime::now());
        Self {
            guid: new_guid(),
            host,
            path,
            port,
            domain_guid: domain.guid.clone(),
            space_guid,
            created_at: now.clone(),
            updated_at: now,
            destinations: Vec::new(),
        }
    }

    /// The route's address as `RoutePresenter#build_url` writes it: `domain:port` for TCP,
    /// `host.domain/path`, or `domain/path` without a host.
    pub(super) fn url(&self, domain: &CfDomain) -> String {
        match self.port {
            Some(port) if port > 0 => format!("{}:{port}", domain.name),
            _ if self.host.is_empty() => format!("{}{}", domain.name, self.path),
            _ => format!("{}.{}{}", self.host, domain.name, self.path),
        }
    }

    /// Whether the app is one of its destinations.
    pub(super) fn maps(&self, app_guid: &str) -> bool {
        self.destinations
            .iter()
            .any(|destination| destination.app_guid == app_guid)
    }

    /// Adds a destination unless one with the same app, process and port is there; never
    /// removes one (`UpdateRouteDestinations.add`).
    pub(super) fn insert(&mut self, app_guid: &str, process_type: &str, port: i64, protocol: &str) {
        let present = self.destinations.iter().any(|destination| {
            destination.app_guid == app_guid
                && destination.process_type == process_type
                && destination.port == port
        });
        if present {
            return;
        }
        let now = rfc3339(SystemTime::now());
        self.destinations.push(Destination {
            guid: new_guid(),
            app_guid: app_guid.to_owned(),
            process_type: process_type.to_owned(),
            port,
            protocol: protocol.to_owned(),
            created_at: now.clone(),
        });
        self.updated_at = now;
    }
}
