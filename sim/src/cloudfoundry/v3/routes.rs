//! Domains and routes through v3: the foundation's shared domains (`GET /v3/domains`, an
//! organization's domains and its default), routes (list, get, create) and their destinations
//! (list, insert), and an app's routes.
//!
//! Bodies follow `DomainPresenter`, `RoutePresenter` and `RouteDestinationsPresenter`;
//! creating follows `RouteCreateMessage` and `RouteCreate` (cloud_controller_ng), whose
//! messages are kept word for word: a taken route is a 422 `CF-UnprocessableEntity` ("Route
//! already exists with host 'h' for domain 'd'."), as `RoutesController#create` answers every
//! `RouteCreate::Error`.

use serde_json::{Map, Value, json};

use super::super::CloudFoundry;
use super::super::foundation::{CfDomain, SEEDED_AT, domain, space};
use super::super::routes::{DEFAULT_APP_PORT, Route, TCP_PORTS};
use super::pages::{ListQuery, Row};
use super::{
    Ctx, Problems, check_metadata, empty_metadata, not_found, parse_object, unknown_fields,
    unprocessable,
};
use crate::request::Reply;

/// `RouteCreateMessage`'s limits.
const MAX_HOST: usize = 63;
const MAX_PATH: usize = 128;
/// The longest `host.domain` (RFC 1035).
const MAX_FQDN: usize = 253;

/// A domain as `DomainPresenter` shows it.
fn domain_json(ctx: &Ctx<'_>, domain: &CfDomain) -> Value {
    let guid = &domain.guid;
    let mut links = Map::new();
    links.insert("self".into(), ctx.href(&format!("/v3/domains/{guid}")));
    links.insert(
        "route_reservations".into(),
        ctx.href(&format!("/v3/domains/{guid}/route_reservations")),
    );
    if let Some(group) = &domain.router_group_guid {
        links.insert(
            "router_group".into(),
            ctx.href(&format!("/routing/v1/router_groups/{group}")),
        );
    }
    json!({
        "guid": guid,
        "created_at": SEEDED_AT,
        "updated_at": SEEDED_AT,
        "name": domain.name,
        "internal": domain.internal,
        "router_group": domain.router_group_guid.as_ref().map(|group| json!({ "guid": group })),
        "supported_protocols": [domain.protocol()],
        "metadata": empty_metadata(),
        "relationships": {
            "organization": {
                "data": domain.organization_guid.as_ref().map(|org| json!({ "guid": org })),
            },
            "shared_organizations": { "data": [] },
        },
        "links": links,
    })
}

fn domain_row(ctx: &Ctx<'_>, domain: &CfDomain) -> Row {
    Row {
        created_at: SEEDED_AT.to_owned(),
        updated_at: SEEDED_AT.to_owned(),
        name: domain.name.clone(),
        body: domain_json(ctx, domain),
    }
}

/// `GET /v3/domains` (and `/v3/organizations/{guid}/domains`: every domain is shared).
pub(super) fn list_domains(ctx: &Ctx<'_>, org: Option<&str>) -> Reply {
    if let Some(org) = org
        && !ctx
            .options
            .cf_orgs
            .iter()
            .any(|known| known.guid.eq_ignore_ascii_case(org))
    {
        return not_found("Organization");
    }
    let query = match ListQuery::parse(ctx, &["names", "guids", "organization_guids"], &["name"]) {
        Ok(query) => query,
        Err(reply) => return reply,
    };
    let rows = ctx
        .options
        .cf_domains
        .iter()
        // A shared domain has no owning organization: an `organization_guids` filter leaves
        // only private domains. An organization's domains are the shared ones and its own.
        .filter(|domain| {
            org.is_none_or(|org| domain.usable_by(org))
                && query.passes("names", &domain.name)
                && query.passes("guids", &domain.guid)
                && query.passes(
                    "organization_guids",
                    domain.organization_guid.as_deref().unwrap_or(""),
                )
        })
        .map(|domain| domain_row(ctx, domain))
        .collect();
    let path = org.map_or_else(
        || "/v3/domains".to_owned(),
        |org| format!("/v3/organizations/{org}/domains"),
    );
    query.respond(ctx, &path, rows)
}

/// `GET /v3/domains/{guid}`.
pub(super) fn get_domain(ctx: &Ctx<'_>, guid: &str) -> Reply {
    domain(ctx.options, guid).map_or_else(
        || not_found("Domain"),
        |domain| Reply::json(200, &domain_json(ctx, domain)),
    )
}

/// `GET /v3/organizations/{guid}/domains/default`: the first shared HTTP domain that is not
/// internal, else the organization's first private one.
pub(super) fn default_domain(ctx: &Ctx<'_>, org: &str) -> Reply {
    if !ctx
        .options
        .cf_orgs
        .iter()
        .any(|known| known.guid.eq_ignore_ascii_case(org))
    {
        return not_found("Organization");
    }
    let usable = |shared: bool| {
        ctx.options.cf_domains.iter().find(move |domain| {
            domain.shared() == shared
                && domain.usable_by(org)
                && !domain.internal
                && domain.router_group_guid.is_none()
        })
    };
    usable(true).or_else(|| usable(false)).map_or_else(
        || not_found("Domain"),
        |domain| Reply::json(200, &domain_json(ctx, domain)),
    )
}

/// One destination as `RouteDestinationPresenter#destination_hash` shows it.
fn destination_json(destination: &super::super::routes::Destination) -> Value {
    json!({
        "guid": destination.guid,
        "app": {
            "guid": destination.app_guid,
            "process": { "type": destination.process_type },
        },
        "weight": null,
        "port": destination.port,
        "protocol": destination.protocol,
        "created_at": destination.created_at,
        "updated_at": destination.created_at,
    })
}

/// A route as `RoutePresenter` shows it.
fn route_json(ctx: &Ctx<'_>, route: &Route) -> Value {
    let guid = &route.guid;
    let domain = domain(ctx.options, &route.domain_guid);
    json!({
        "guid": guid,
        "created_at": route.created_at,
        "updated_at": route.updated_at,
        "protocol": domain.map_or("http", CfDomain::protocol),
        "host": route.host,
        "path": route.path,
        "port": route.port,
        "url": domain.map(|domain| route.url(domain)),
        "destinations": route.destinations.iter().map(destination_json).collect::<Vec<_>>(),
        "metadata": empty_metadata(),
        "relationships": {
            "space": { "data": { "guid": route.space_guid } },
            "domain": { "data": { "guid": route.domain_guid } },
        },
        "links": {
            "self": ctx.href(&format!("/v3/routes/{guid}")),
            "space": ctx.href(&format!("/v3/spaces/{}", route.space_guid)),
            "destinations": ctx.href(&format!("/v3/routes/{guid}/destinations")),
            "domain": ctx.href(&format!("/v3/domains/{}", route.domain_guid)),
        },
    })
}

/// `{destinations, links}` as `RouteDestinationsPresenter` shows them.
fn destinations_json(ctx: &Ctx<'_>, route: &Route, app_guids: Option<&[String]>) -> Value {
    let destinations: Vec<Value> = route
        .destinations
        .iter()
        .filter(|destination| app_guids.is_none_or(|guids| guids.contains(&destination.app_guid)))
        .map(destination_json)
        .collect();
    json!({
        "destinations": destinations,
        "links": {
            "self": ctx.href(&format!("/v3/routes/{}/destinations", route.guid)),
            "route": ctx.href(&format!("/v3/routes/{}", route.guid)),
        },
    })
}

/// A route's checked `POST /v3/routes` body.
struct NewRoute {
    host: String,
    path: String,
    port: Option<i64>,
    space_guid: String,
    domain_guid: String,
}

/// `relationships.{name}.data.guid`, or a problem.
fn relationship_guid(
    relationships: &Map<String, Value>,
    name: &str,
    label: &str,
    problems: &mut Problems,
) -> Option<String> {
    let guid = relationships
        .get(name)
        .and_then(|relationship| relationship.get("data"))
        .and_then(|data| data.get("guid"))
        .and_then(Value::as_str);
    if guid.is_none() {
        problems.add(format!(
            "Relationships {label} must be structured like this: \"{name}: {{\"data\": {{\"guid\": \"valid-guid\"}}}}\""
        ));
    }
    guid.map(str::to_owned)
}

/// `RouteCreateMessage`'s checks, its messages as `errors.full_messages` writes them.
fn parse_new_route(body: &Map<String, Value>) -> Result<NewRoute, Reply> {
    let mut problems = Problems::default();
    let allowed = [
        "host",
        "path",
        "port",
        "relationships",
        "options",
        "metadata",
    ];
    if let Some(unknown) = unknown_fields(body, &allowed) {
        problems.add(unknown);
    }
    let host = match body.get("host") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(host)) => {
            if host.chars().count() > MAX_HOST {
                problems.add(format!(
                    "Host is too long (maximum is {MAX_HOST} characters)"
                ));
            }
            let valid = host == "*"
                || host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                problems.add(
                    "Host must be either \"*\" or contain only alphanumeric characters, \"_\", or \"-\"",
                );
            }
            host.clone()
        }
        Some(_) => {
            problems.add("Host must be a string");
            String::new()
        }
    };
    let path = match body.get("path") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(path)) => {
            if path.chars().count() > MAX_PATH {
                problems.add(format!(
                    "Path is too long (maximum is {MAX_PATH} characters)"
                ));
            }
            if !(path.is_empty() || path.starts_with('/')) {
                problems.add("Path must begin with /");
            }
            if path.contains('?') {
                problems.add("Path cannot contain ?");
            }
            if path == "/" {
                problems.add("Path cannot be exactly /");
            }
            path.clone()
        }
        Some(_) => {
            problems.add("Path must be a string");
            String::new()
        }
    };
    let port = match body.get("port") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_i64() {
            Some(port) if port < 0 => {
                problems.add("Port must be greater than or equal to 0");
                None
            }
            Some(port) if port > 65_535 => {
                problems.add("Port must be less than or equal to 65535");
                None
            }
            Some(port) => Some(port),
            None => {
                problems.add("Port must be an integer");
                None
            }
        },
    };
    let (space_guid, domain_guid) = match body.get("relationships") {
        Some(Value::Object(relationships)) => {
            if let Some(unknown) = unknown_fields(relationships, &["space", "domain"]) {
                problems.add(format!("Relationships {unknown}"));
            }
            (
                relationship_guid(relationships, "space", "Space", &mut problems),
                relationship_guid(relationships, "domain", "Domain", &mut problems),
            )
        }
        None | Some(Value::Null) => {
            problems.add("Relationships can't be blank");
            (None, None)
        }
        Some(_) => {
            problems.add("Relationships must be an object");
            (None, None)
        }
    };
    check_metadata(body.get("metadata"), &mut problems);
    problems.check()?;
    match (space_guid, domain_guid) {
        (Some(space_guid), Some(domain_guid)) => Ok(NewRoute {
            host,
            path,
            port,
            space_guid,
            domain_guid,
        }),
        _ => Err(unprocessable("Relationships can't be blank")),
    }
}

impl CloudFoundry {
    fn find_route(&self, guid: &str) -> Option<usize> {
        self.routes.iter().position(|route| route.guid == guid)
    }

    /// The rows of the routes that pass the list filters (and, for an app's routes, map it).
    fn route_rows(&self, ctx: &Ctx<'_>, query: &ListQuery, app: Option<&str>) -> Vec<Row> {
        self.routes
            .iter()
            .filter(|route| {
                let org = space(ctx.options, &route.space_guid)
                    .map_or("", |space| space.organization_guid.as_str());
                let port = route.port.map(|port| port.to_string()).unwrap_or_default();
                app.is_none_or(|app| route.maps(app))
                    && query.passes("guids", &route.guid)
                    && query.passes("hosts", &route.host)
                    && query.passes("paths", &route.path)
                    && query.passes("ports", &port)
                    && query.passes("domain_guids", &route.domain_guid)
                    && query.passes("space_guids", &route.space_guid)
                    && query.passes("organization_guids", org)
                    && query.passes_any("app_guids", |wanted| route.maps(wanted))
            })
            .map(|route| Row {
                created_at: route.created_at.clone(),
                updated_at: route.updated_at.clone(),
                name: route.host.clone(),
                body: route_json(ctx, route),
            })
            .collect()
    }

    /// `GET /v3/routes`, and `GET /v3/apps/{guid}/routes` with `app`.
    pub(super) fn v3_list_routes(&self, ctx: &Ctx<'_>, app: Option<&str>) -> Reply {
        if let Some(app) = app
            && self.find(app).is_none()
        {
            return not_found("App");
        }
        let filters = [
            "guids",
            "hosts",
            "paths",
            "ports",
            "domain_guids",
            "space_guids",
            "organization_guids",
            "app_guids",
        ];
        let query = match ListQuery::parse(ctx, &filters, &[]) {
            Ok(query) => query,
            Err(reply) => return reply,
        };
        let rows = self.route_rows(ctx, &query, app);
        let path = app.map_or_else(
            || "/v3/routes".to_owned(),
            |app| format!("/v3/apps/{app}/routes"),
        );
        query.respond(ctx, &path, rows)
    }

    /// `GET /v3/routes/{guid}`.
    pub(super) fn v3_get_route(&self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        self.find_route(guid).map_or_else(
            || not_found("Route"),
            |index| Reply::json(200, &route_json(ctx, &self.routes[index])),
        )
    }

    /// `POST /v3/routes`: 201, or 422 with `RouteCreate`'s message.
    pub(super) fn v3_create_route(&mut self, ctx: &Ctx<'_>) -> Reply {
        let body = match parse_object(ctx.request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let new = match parse_new_route(&body) {
            Ok(new) => new,
            Err(reply) => return reply,
        };
        let Some(space) = space(ctx.options, &new.space_guid) else {
            return unprocessable(
                "Invalid space. Ensure that the space exists and you have access to it.",
            );
        };
        let Some(domain) = domain(ctx.options, &new.domain_guid)
            .filter(|domain| domain.usable_by(&space.organization_guid))
        else {
            return unprocessable(
                "Invalid domain. Ensure that the domain exists and you have access to it.",
            );
        };
        let tcp = domain.router_group_guid.is_some();
        let port = if tcp {
            if !new.host.is_empty() {
                return unprocessable("Hosts are not supported for TCP routes.");
            }
            if !new.path.is_empty() {
                return unprocessable("Paths are not supported for TCP routes.");
            }
            match new.port {
                Some(port) => {
                    let taken = self
                        .routes
                        .iter()
                        .any(|route| route.domain_guid == domain.guid && route.port == Some(port));
                    if taken {
                        return unprocessable(&format!(
                            "Route already exists with port '{port}' for domain '{}'.",
                            domain.name
                        ));
                    }
                    Some(port)
                }
                None => {
                    // `PortGenerator`: a free port of the router group's reservable ones.
                    let free = TCP_PORTS.clone().find(|port| {
                        !self.routes.iter().any(|route| {
                            route.domain_guid == domain.guid && route.port == Some(*port)
                        })
                    });
                    match free {
                        Some(port) => Some(port),
                        None => {
                            return unprocessable(
                                "There are no more ports available for this domain.",
                            );
                        }
                    }
                }
            }
        } else {
            if new.port.is_some() {
                return unprocessable("Routes with protocol 'http' do not support ports.");
            }
            // A shared domain's routes need a host.
            if domain.shared() && new.host.is_empty() {
                return unprocessable(
                    "Missing host. Routes in shared domains must have a host defined.",
                );
            }
            if new.host.len() + 1 + domain.name.len() > MAX_FQDN {
                return unprocessable(
                    "Host combined with domain name must be no more than 253 characters.",
                );
            }
            let taken = self.routes.iter().any(|route| {
                route.domain_guid == domain.guid && route.host == new.host && route.path == new.path
            });
            if taken {
                return unprocessable(&if new.path.is_empty() {
                    format!(
                        "Route already exists with host '{}' for domain '{}'.",
                        new.host, domain.name
                    )
                } else {
                    format!(
                        "Route already exists with host '{}' and path '{}' for domain '{}'.",
                        new.host, new.path, domain.name
                    )
                });
            }
            None
        };
        let route = Route::new(new.host, new.path, port, domain, space.guid.clone());
        let reply = Reply::json(201, &route_json(ctx, &route));
        self.routes.push(route);
        reply
    }

    /// `GET /v3/routes/{guid}/destinations` (filters `guids`, `app_guids`).
    pub(super) fn v3_route_destinations(&self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        let Some(index) = self.find_route(guid) else {
            return not_found("Route");
        };
        let mut app_guids: Option<Vec<String>> = None;
        for (key, value) in &ctx.request.query {
            match key.as_str() {
                "app_guids" => {
                    app_guids = Some(value.split(',').map(str::to_owned).collect());
                }
                "guids" => {}
                other => {
                    return super::super::errors::BAD_QUERY_PARAMETER.v3(&format!(
                        "Unknown query parameter(s): '{other}'. Valid parameters are: 'guids', 'app_guids'"
                    ));
                }
            }
        }
        let route = &self.routes[index];
        let mut body = destinations_json(ctx, route, app_guids.as_deref());
        if let Some(guids) = ctx.request.query_param("guids") {
            let guids: Vec<&str> = guids.split(',').collect();
            if let Some(Value::Array(destinations)) = body.get_mut("destinations") {
                destinations.retain(|destination| {
                    destination["guid"]
                        .as_str()
                        .is_some_and(|guid| guids.contains(&guid))
                });
            }
        }
        Reply::json(200, &body)
    }

    /// `POST /v3/routes/{guid}/destinations`: adds the apps given; the destinations already
    /// there stay, whoever they send traffic to.
    pub(super) fn v3_insert_destinations(&mut self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        let body = match parse_object(ctx.request) {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let wanted = match parse_destinations(&body) {
            Ok(wanted) => wanted,
            Err(reply) => return reply,
        };
        let Some(index) = self.find_route(guid) else {
            return not_found("Route");
        };
        let missing: Vec<&str> = wanted
            .iter()
            .map(|wanted| wanted.app_guid.as_str())
            .filter(|app| self.find(app).is_none())
            .collect();
        if !missing.is_empty() {
            return unprocessable(&format!(
                "App(s) with guid(s) \"{}\" do not exist.",
                missing.join("\", \"")
            ));
        }
        let route_space = self.routes[index].space_guid.clone();
        let elsewhere = wanted.iter().any(|wanted| {
            self.find(&wanted.app_guid)
                .is_some_and(|app| !self.apps[app].space_guid.eq_ignore_ascii_case(&route_space))
        });
        if elsewhere {
            return unprocessable(
                "Routes destinations must be in either the route's space or the route's shared spaces",
            );
        }
        let duplicate = wanted.iter().enumerate().any(|(at, one)| {
            wanted[..at].iter().any(|other| {
                other.app_guid == one.app_guid
                    && other.process_type == one.process_type
                    && other.port == one.port
            })
        });
        if duplicate {
            return unprocessable("Destinations cannot contain duplicate entries");
        }
        let tcp = domain(ctx.options, &self.routes[index].domain_guid)
            .is_some_and(|domain| domain.router_group_guid.is_some());
        let route = &mut self.routes[index];
        for destination in wanted {
            let protocol = match (tcp, destination.protocol) {
                (true, _) => "tcp".to_owned(),
                (false, Some(protocol)) => protocol,
                (false, None) => "http1".to_owned(),
            };
            route.insert(
                &destination.app_guid,
                &destination.process_type,
                destination.port.unwrap_or(DEFAULT_APP_PORT),
                &protocol,
            );
        }
        Reply::json(200, &destinations_json(ctx, route, None))
    }

    /// Routes no longer send traffic to a deleted app (its route mappings go with it).
    pub(in super::super) fn forget_destinations_of(&mut self, app_guid: &str) {
        for route in &mut self.routes {
            route
                .destinations
                .retain(|destination| destination.app_guid != app_guid);
        }
    }
}

/// One destination of a `POST /v3/routes/{guid}/destinations` body.
struct WantedDestination {
    app_guid: String,
    process_type: String,
    port: Option<i64>,
    protocol: Option<String>,
}

/// `RouteUpdateDestinationsMessage`'s checks.
fn parse_destinations(body: &Map<String, Value>) -> Result<Vec<WantedDestination>, Reply> {
    let mut problems = Problems::default();
    if let Some(unknown) = unknown_fields(body, &["destinations"]) {
        problems.add(unknown);
    }
    let items = match body.get("destinations") {
        Some(Value::Array(items)) if (1..=100).contains(&items.len()) => items.as_slice(),
        _ => {
            problems.add(
                "Destinations must be an array containing between 1 and 100 destination objects.",
            );
            &[]
        }
    };
    let mut wanted = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Value::Object(item) = item else {
            problems.add(format!("Destinations[{index}]: must be an object."));
            continue;
        };
        if let Some(unknown) = unknown_fields(item, &["app", "weight", "port", "protocol"]) {
            problems.add(format!("Destinations[{index}]: {unknown}"));
        }
        let app = item.get("app").and_then(Value::as_object);
        let Some(app_guid) = app.and_then(|app| app.get("guid")).and_then(Value::as_str) else {
            problems.add(format!(
                "Destinations[{index}]: app must have the structure {{\"guid\": \"app_guid\"}}"
            ));
            continue;
        };
        let process_type = match app.and_then(|app| app.get("process")) {
            None | Some(Value::Null) => "web".to_owned(),
            Some(process) => match process.get("type").and_then(Value::as_str) {
                Some(kind) if !kind.is_empty() => kind.to_owned(),
                _ => {
                    problems.add(format!(
                        "Destinations[{index}]: process must have the structure {{\"type\": \"process_type\"}}"
                    ));
                    continue;
                }
            },
        };
        if item.get("weight").is_some_and(|weight| !weight.is_null()) {
            problems.add(format!(
                "Destinations[{index}]: weighted destinations can only be used when replacing all destinations."
            ));
        }
        let port = match item.get("port") {
            None | Some(Value::Null) => None,
            Some(value) => match value.as_i64() {
                Some(port) if (1024..=65_535).contains(&port) => Some(port),
                _ => {
                    problems.add(format!(
                        "Destinations[{index}]: port must be a positive integer between 1024 and 65535 inclusive."
                    ));
                    None
                }
            },
        };
        let protocol = match item.get("protocol") {
            None | Some(Value::Null) => None,
            Some(Value::String(protocol))
                if ["http1", "http2", "tcp"].contains(&protocol.as_str()) =>
            {
                Some(protocol.clone())
            }
            Some(_) => {
                problems.add(format!(
                    "Destinations[{index}]: protocol must be 'http1', 'http2' or 'tcp'."
                ));
                None
            }
        };
        wanted.push(WantedDestination {
            app_guid: app_guid.to_owned(),
            process_type,
            port,
            protocol,
        });
    }
    problems.check()?;
    Ok(wanted)
}
