//! Domains and routes through v2, over the same domains and routes v3 shows: shared and
//! private domains (`/v2/shared_domains`, `/v2/private_domains`, an organization's private
//! domains, one by guid), routes (list, create), an app mapped to a route, and an app's routes. A route made
//! here is seen through v3 (a v2 mapping is a v3 destination of the app's web process), and one
//! made through v3 here.
//!
//! Bodies follow the v2 docs' examples ("List all Routes", "Creating a Route", "Filtering
//! Shared Domains by name", ...) key for key. Creating follows `RoutesController` and the
//! `Route` model of cloud_controller_ng: a taken host is 400 `CF-RouteHostTaken` (the host as
//! detail), a taken path `CF-RoutePathTaken` (the path), a taken port `CF-RoutePortTaken`
//! (the router group's message), checked in `translate_validation_exception`'s order; other
//! problems are `CF-RouteInvalid`, `CF-PathInvalid` or `CF-InvalidRelation`.

use serde_json::{Map, Value, json};

use super::CloudFoundry;
use super::errors::{
    APP_NOT_FOUND, DOMAIN_NOT_FOUND, INVALID_RELATION, MESSAGE_PARSE_ERROR, ORGANIZATION_NOT_FOUND,
    PATH_INVALID, ROUTE_HOST_TAKEN, ROUTE_INVALID, ROUTE_NOT_FOUND, ROUTE_PATH_TAKEN,
    ROUTE_PORT_TAKEN,
};
use super::foundation::{CfDomain, SEEDED_AT, domain, space};
use super::lists::list;
use super::messages::parse_body;
use super::routes::{DEFAULT_APP_PORT, Route, TCP_PORTS};
use crate::options::SimOptions;
use crate::request::{Reply, Request};

/// `Domain::MAXIMUM_DOMAIN_LABEL_LENGTH` and `MAXIMUM_FQDN_DOMAIN_LENGTH`.
const MAX_HOST: usize = 63;
const MAX_FQDN: usize = 253;
/// `Route`'s path limit.
const MAX_PATH: usize = 128;

/// The attributes `RoutesController` filters on (`query_parameters`).
const ROUTE_ATTRIBUTES: [&str; 5] = ["host", "domain_guid", "organization_guid", "path", "port"];

/// `/v2/shared_domains/{guid}` or `/v2/private_domains/{guid}`.
fn domain_url(domain: &CfDomain) -> String {
    let kind = if domain.shared() {
        "shared_domains"
    } else {
        "private_domains"
    };
    format!("/v2/{kind}/{}", domain.guid)
}

/// A domain as v2 shows it: a shared domain's router group, or a private domain's owner.
fn domain_json(domain: &CfDomain) -> Value {
    let guid = &domain.guid;
    let entity = match &domain.organization_guid {
        None => json!({
            "name": domain.name,
            "internal": domain.internal,
            "router_group_guid": domain.router_group_guid,
            "router_group_type": domain.router_group_guid.as_ref().map(|_| "tcp"),
        }),
        Some(org) => json!({
            "name": domain.name,
            "owning_organization_guid": org,
            "owning_organization_url": format!("/v2/organizations/{org}"),
            "shared_organizations_url": format!("/v2/private_domains/{guid}/shared_organizations"),
        }),
    };
    json!({
        "metadata": {
            "guid": guid,
            "url": domain_url(domain),
            "created_at": SEEDED_AT,
            "updated_at": SEEDED_AT,
        },
        "entity": entity,
    })
}

/// `GET /v2/shared_domains` (`q=name:`), or `/v2/private_domains` when not `shared`; with
/// `org`, `/v2/organizations/{org}/private_domains`.
pub(super) fn list_domains(
    options: &SimOptions,
    request: &Request,
    shared: bool,
    org: Option<&str>,
) -> Reply {
    if let Some(org) = org
        && !options
            .cf_orgs
            .iter()
            .any(|known| known.guid.eq_ignore_ascii_case(org))
    {
        return ORGANIZATION_NOT_FOUND.reply(org);
    }
    let path = match (shared, org) {
        (true, _) => "/v2/shared_domains".to_owned(),
        (false, None) => "/v2/private_domains".to_owned(),
        (false, Some(org)) => format!("/v2/organizations/{org}/private_domains"),
    };
    let domains = options
        .cf_domains
        .iter()
        .filter(|domain| domain.shared() == shared && org.is_none_or(|org| domain.usable_by(org)));
    list(
        options,
        request,
        &path,
        &["name"],
        domains,
        |domain, attribute| (attribute == "name").then(|| domain.name.clone()),
        |domain| domain_json(domain),
    )
}

/// `GET /v2/shared_domains/{guid}`, or `/v2/private_domains/{guid}` when not `shared`: 404
/// `CF-DomainNotFound` for a domain of the other kind, as each is its own model.
pub(super) fn get_domain(options: &SimOptions, guid: &str, shared: bool) -> Reply {
    domain(options, guid)
        .filter(|domain| domain.shared() == shared)
        .map_or_else(
            || DOMAIN_NOT_FOUND.reply(guid),
            |domain| Reply::json(200, &domain_json(domain)),
        )
}

/// A route as v2 shows it ("Retrieve a Particular Route").
fn route_json(options: &SimOptions, route: &Route) -> Value {
    let guid = &route.guid;
    let domain_url = domain(options, &route.domain_guid)
        .map_or_else(|| format!("/v2/domains/{}", route.domain_guid), domain_url);
    json!({
        "metadata": {
            "guid": guid,
            "url": format!("/v2/routes/{guid}"),
            "created_at": route.created_at,
            "updated_at": route.updated_at,
        },
        "entity": {
            "host": route.host,
            "path": route.path,
            "domain_guid": route.domain_guid,
            "space_guid": route.space_guid,
            "service_instance_guid": null,
            "port": route.port,
            "domain_url": domain_url,
            "space_url": format!("/v2/spaces/{}", route.space_guid),
            "apps_url": format!("/v2/routes/{guid}/apps"),
            "route_mappings_url": format!("/v2/routes/{guid}/route_mappings"),
        },
    })
}

/// A route's value of a filter attribute.
fn route_field(options: &SimOptions, route: &Route, attribute: &str) -> Option<String> {
    Some(match attribute {
        "host" => route.host.clone(),
        "path" => route.path.clone(),
        "domain_guid" => route.domain_guid.clone(),
        "port" => route.port.map(|port| port.to_string()).unwrap_or_default(),
        "organization_guid" => space(options, &route.space_guid)
            .map(|space| space.organization_guid.clone())
            .unwrap_or_default(),
        _ => return None,
    })
}

/// A `POST /v2/routes` body, type-checked like `RoutesController::CreateMessage`.
struct NewRoute {
    host: String,
    path: String,
    port: Option<i64>,
    domain_guid: String,
    space_guid: String,
}

fn parse_new_route(body: &Map<String, Value>) -> Result<NewRoute, Reply> {
    let mut problems = Vec::new();
    let mut text = |field: &str, required: bool| match body.get(field) {
        Some(Value::String(value)) => Some(value.clone()),
        None | Some(Value::Null) if !required => None,
        None | Some(Value::Null) => {
            problems.push(format!("Field: {field}, Error: Missing field {field}"));
            None
        }
        Some(_) => {
            problems.push(format!(
                "Field: {field}, Error: Expected instance of String"
            ));
            None
        }
    };
    let host = text("host", false).unwrap_or_default();
    let path = text("path", false).unwrap_or_default();
    let domain_guid = text("domain_guid", true).unwrap_or_default();
    let space_guid = text("space_guid", true).unwrap_or_default();
    let port = match body.get("port") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_i64() {
            Some(port) => Some(port),
            None => {
                problems.push("Field: port, Error: Expected instance of Integer".to_owned());
                None
            }
        },
    };
    if !problems.is_empty() {
        return Err(MESSAGE_PARSE_ERROR.reply(&problems.join(", ")));
    }
    Ok(NewRoute {
        host,
        path,
        port,
        domain_guid,
        space_guid,
    })
}

/// `Route#validate_path`'s problems, as `RoutesController.path_errors` words them.
fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return None;
    }
    if path == "/" {
        Some("the path cannot be a single slash")
    } else if !path.starts_with('/') {
        Some("the path must start with a \"/\"")
    } else if path.contains('?') {
        Some("illegal \"?\" character")
    } else if path.chars().count() > MAX_PATH {
        Some("the path exceeds 128 characters")
    } else {
        None
    }
}

impl CloudFoundry {
    /// `GET /v2/routes`, and `GET /v2/apps/{guid}/routes` with `app`.
    pub(super) fn v2_list_routes(
        &self,
        options: &SimOptions,
        request: &Request,
        app: Option<&str>,
    ) -> Reply {
        if let Some(app) = app
            && self.find(app).is_none()
        {
            return APP_NOT_FOUND.reply(app);
        }
        let path = app.map_or_else(
            || "/v2/routes".to_owned(),
            |app| format!("/v2/apps/{app}/routes"),
        );
        let routes = self
            .routes
            .iter()
            .filter(|route| app.is_none_or(|app| route.maps(app)));
        list(
            options,
            request,
            &path,
            &ROUTE_ATTRIBUTES,
            routes,
            |route, attribute| route_field(options, route, attribute),
            |route| route_json(options, route),
        )
    }

    /// `POST /v2/routes` (`?generate_port=true` picks a free TCP port): 201, or the error
    /// `RoutesController.translate_validation_exception` makes of the model's complaint.
    pub(super) fn v2_create_route(&mut self, options: &SimOptions, request: &Request) -> Reply {
        let body = match parse_body(request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let mut new = match parse_new_route(&body) {
            Ok(new) => new,
            Err(reply) => return reply,
        };
        let Some(space) = space(options, &new.space_guid) else {
            return INVALID_RELATION.reply(&format!(
                "Could not find VCAP::CloudController::Space with guid: {}",
                new.space_guid
            ));
        };
        let Some(domain) = domain(options, &new.domain_guid) else {
            return INVALID_RELATION.reply(&format!(
                "Could not find VCAP::CloudController::Domain with guid: {}",
                new.domain_guid
            ));
        };
        let tcp = domain.router_group_guid.is_some();
        match request.query_param("generate_port") {
            None | Some("false") => {}
            Some("true") if tcp => {
                // `PortGenerator`: a free port of the router group's reservable ones.
                let free = TCP_PORTS
                    .clone()
                    .find(|port| !self.port_taken(options, domain, *port));
                match free {
                    Some(port) => new.port = Some(port),
                    None => return ROUTE_INVALID.reply("There are no more ports available."),
                }
            }
            Some("true") => {
                return ROUTE_INVALID
                    .reply("Port is supported for domains of TCP router groups only.");
            }
            Some(_) => return super::errors::INVALID_REQUEST.reply(""),
        }
        // A port of 0 is none (`Route#port`).
        let port = new.port.filter(|port| *port != 0);
        if let Some(port) = port
            && tcp
            && self.port_taken(options, domain, port)
        {
            return ROUTE_PORT_TAKEN.reply(&format!(
                "Port {port} is not available on this domain's router group. Try a different \
                 port, request an random port, or use a domain of a different router group."
            ));
        }
        if port.is_some() && !tcp {
            return ROUTE_INVALID.reply("Port is supported for domains of TCP router groups only.");
        }
        if tcp && port.is_none() {
            return ROUTE_INVALID
                .reply("For TCP routes you must specify a port or request a random one.");
        }
        if tcp && (!new.host.is_empty() || !new.path.is_empty()) {
            return ROUTE_INVALID.reply(
                "Host and path are not supported, as domain belongs to a TCP router group.",
            );
        }
        let same = |route: &&Route| route.domain_guid == domain.guid && route.host == new.host;
        if port.is_none()
            && new.path.is_empty()
            && self
                .routes
                .iter()
                .filter(same)
                .any(|r| r.path.is_empty() && r.port.is_none())
        {
            return ROUTE_HOST_TAKEN.reply(&new.host);
        }
        if port.is_none()
            && self
                .routes
                .iter()
                .filter(same)
                .any(|r| r.path == new.path && r.port.is_none())
        {
            return ROUTE_PATH_TAKEN.reply(&new.path);
        }
        if !new.host.is_empty()
            && !new
                .host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && new.host != "*"
        {
            return ROUTE_INVALID.reply("host format");
        }
        if new.host.chars().count() > MAX_HOST {
            return ROUTE_INVALID
                .reply(&format!("host must be no more than {MAX_HOST} characters"));
        }
        let fqdn = if new.host.is_empty() {
            domain.name.len()
        } else {
            new.host.len() + 1 + domain.name.len()
        };
        if fqdn > MAX_FQDN {
            return ROUTE_INVALID.reply(&format!(
                "host combined with domain name must be no more than {MAX_FQDN} characters"
            ));
        }
        if !domain.usable_by(&space.organization_guid) {
            return ROUTE_INVALID.reply("domain invalid_relation");
        }
        if domain.shared() && new.host.is_empty() && port.is_none() {
            return ROUTE_INVALID.reply("host is required for shared-domains");
        }
        // `validate_host_and_domain_in_different_space`: on a shared domain a host belongs to
        // one space.
        let elsewhere = domain.shared()
            && port.is_none()
            && self
                .routes
                .iter()
                .filter(same)
                .any(|r| r.port.is_none() && !r.space_guid.eq_ignore_ascii_case(&space.guid));
        if elsewhere {
            return ROUTE_INVALID
                .reply("Routes for this host and domain have been reserved for another space.");
        }
        if let Some(problem) = path_problem(&new.path) {
            return PATH_INVALID.reply(problem);
        }
        let route = Route::new(new.host, new.path, port, domain, space.guid.clone());
        let reply = Reply::json(201, &route_json(options, &route))
            .with_header("location", format!("/v2/routes/{}", route.guid));
        self.routes.push(route);
        reply
    }

    /// Whether a route of `domain`'s router group has `port` (`RouteValidator`).
    fn port_taken(&self, options: &SimOptions, of: &CfDomain, port: i64) -> bool {
        self.routes.iter().any(|route| {
            route.port == Some(port)
                && domain(options, &route.domain_guid).is_some_and(|other| {
                    other.router_group_guid.is_some()
                        && other.router_group_guid == of.router_group_guid
                })
        })
    }

    /// `PUT /v2/routes/{guid}/apps/{app_guid}`: maps the app (its web process, on its port);
    /// a mapping already there is success too. 201 with the route.
    pub(super) fn v2_map_route(
        &mut self,
        options: &SimOptions,
        guid: &str,
        app_guid: &str,
    ) -> Reply {
        let Some(index) = self.routes.iter().position(|route| route.guid == guid) else {
            return ROUTE_NOT_FOUND.reply(guid);
        };
        let Some(app) = self.find(app_guid) else {
            return APP_NOT_FOUND.reply(app_guid);
        };
        let route_domain = domain(options, &self.routes[index].domain_guid);
        if !self.apps[app]
            .space_guid
            .eq_ignore_ascii_case(&self.routes[index].space_guid)
        {
            let uri = route_domain.map_or_else(String::new, |d| self.routes[index].url(d));
            return INVALID_RELATION.reply(&format!(
                "The app cannot be mapped to route {uri} because the route is not in this \
                 space. Apps must be mapped to routes in the same space."
            ));
        }
        let protocol = if route_domain.is_some_and(|d| d.router_group_guid.is_some()) {
            "tcp"
        } else {
            "http1"
        };
        let route = &mut self.routes[index];
        route.insert(app_guid, "web", DEFAULT_APP_PORT, protocol);
        Reply::json(201, &route_json(options, route))
    }
}
