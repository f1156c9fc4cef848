//! Routes (`BERTH_ROUTES`) on v3: each entry resolved to a domain the space can use, with reads
//! only and before anything is written (the longest domain name that matches; none is exit 2);
//! then, once the app exists, created in the space when missing and mapped to the app. Routes
//! already mapped and not listed are left alone; mapping a shared route adds berth's app as a
//! destination and removes no other app's.

use super::lists::{self, find, related};
pub(super) use crate::cloudfoundry::routes::{Wanted, link};
use crate::cloudfoundry::routes::{candidates, host_of, unknown};
use crate::{
    Failure,
    api::{
        call,
        cloudfoundry_v3::{
            Client,
            types::{
                CreateRouteBody, CreateRouteBodyRelationships, Domain,
                InsertDestinationsForRouteBody, Relationship, RelationshipToOne, Route,
                RouteDestination, RouteDestinationApp,
            },
        },
    },
    ci,
    config::RouteSpec,
};
use anyhow::Context;

impl Wanted {
    fn is(&self, route: &Route) -> bool {
        self.matches(
            related(route.relationships.as_deref(), "domain").unwrap_or(""),
            route.host.as_deref().unwrap_or(""),
            route.path.as_deref().unwrap_or(""),
            route.port,
        )
    }
}

/// The routes of `BERTH_ROUTES`, their domains looked up (reads only).
pub(super) async fn resolve(
    client: &Client,
    specs: &[RouteSpec],
    app_name: &str,
    space: &str,
) -> Result<Vec<Wanted>, Failure> {
    let mut wanted = Vec::new();
    for spec in specs {
        let route = match spec {
            RouteSpec::Http { name, path } => {
                // Every suffix of the name that could be a domain; the longest known one wins.
                let domain = longest_domain(client, &candidates(name))
                    .await?
                    .ok_or_else(|| {
                        unknown(format!(
                            "{spec}: no domain this foundation offers matches {name:?}"
                        ))
                    })?;
                Wanted::http(name, (domain.guid, domain.name), path.as_deref())
            }
            RouteSpec::Tcp { domain, port } => {
                let found = longest_domain(client, std::slice::from_ref(domain))
                    .await?
                    .ok_or_else(|| {
                        unknown(format!("{spec}: the foundation has no domain {domain:?}"))
                    })?;
                if !found.supported_protocols.iter().any(|p| p == "tcp") {
                    return Err(unknown(format!(
                        "{spec}: {domain:?} is not a TCP domain (it takes host.domain routes)"
                    )));
                }
                Wanted::tcp((found.guid, found.name), *port)
            }
            RouteSpec::Default => {
                let org = lists::org_of(client, space).await?;
                let domain = call(
                    client
                        .get_default_domain_for_organization()
                        .guid(&org)
                        .send(),
                )
                .await
                .with_context(|| format!("reading the default domain of org {org}"))?;
                Wanted {
                    host: host_of(app_name),
                    domain: (domain.guid, domain.name),
                    path: String::new(),
                    port: None,
                }
            }
        };
        if !wanted.contains(&route) {
            wanted.push(route);
        }
    }
    Ok(wanted)
}

/// The longest of `names` that is a domain the user can see.
async fn longest_domain(client: &Client, names: &[String]) -> anyhow::Result<Option<Domain>> {
    let listed = lists::all(paged!(client.list_domains().names(names.join(","))))
        .await
        .with_context(|| format!("looking for domain {}", names.join(" or ")))?;
    Ok(listed
        .into_iter()
        .filter(|d| names.iter().any(|n| d.name.eq_ignore_ascii_case(n)))
        .max_by_key(|d| d.name.len()))
}

/// Maps each wanted route to the app: the route found or created in the space, then the app
/// added as a destination. Answers every route mapped to the app afterwards, as URLs.
pub(super) async fn map(
    client: &Client,
    wanted: &[Wanted],
    app: &str,
    space: &str,
) -> Result<Vec<(String, bool)>, Failure> {
    let mut mapped = app_routes(client, app).await?;
    for route in wanted {
        if mapped.iter().any(|m| route.is(m)) {
            continue;
        }
        let url = route.url();
        let existing = find_route(client, route).await?;
        let found = match existing {
            Some(r) => r,
            None => create(client, route, space).await?,
        };
        ci::info(format_args!("mapping route {url} to the app"));
        call(
            client
                .insert_destinations_for_route()
                .guid(&found.guid)
                .body(InsertDestinationsForRouteBody {
                    destinations: vec![RouteDestination {
                        app: Some(RouteDestinationApp {
                            guid: Some(app.to_string()),
                            process: None,
                        }),
                        ..RouteDestination::default()
                    }],
                })
                .send(),
        )
        .await
        .with_context(|| format!("mapping route {url} to app {app}"))?;
        mapped.push(found);
    }
    Ok(mapped
        .iter()
        .map(|r| {
            let tcp = r.port.is_some() || r.protocol.as_deref() == Some("tcp");
            (r.url.clone().unwrap_or_default(), tcp)
        })
        .filter(|(u, _)| !u.is_empty())
        .collect())
}

/// The routes mapped to the app, every page.
async fn app_routes(client: &Client, app: &str) -> anyhow::Result<Vec<Route>> {
    lists::all(paged!(client.list_app_routes().guid(app)))
        .await
        .with_context(|| format!("reading the routes of app {app}"))
}

/// The route itself, if it exists (in any space the user can see).
async fn find_route(client: &Client, route: &Wanted) -> anyhow::Result<Option<Route>> {
    let domain = route.domain.0.clone();
    let (host, path, port) = (route.host.clone(), route.path.clone(), route.port);
    find(
        |page: Option<i64>| {
            let mut request = client
                .list_routes()
                .domain_guids(domain.clone())
                .per_page(lists::PER_PAGE);
            request = match port {
                Some(port) => request.ports(port.to_string()),
                None => request.hosts(host.clone()).paths(path.clone()),
            };
            if let Some(page) = page {
                request = request.page(page);
            }
            async move {
                call(request.send())
                    .await
                    .map(|list| (list.resources, list.pagination))
            }
        },
        |r: &Route| route.is(r),
    )
    .await
    .with_context(|| format!("looking for route {}", route.url()))
}

/// `POST /v3/routes` in the space; a taken route means another run made it first.
async fn create(client: &Client, route: &Wanted, space: &str) -> Result<Route, Failure> {
    let url = route.url();
    ci::info(format_args!("creating route {url}"));
    let to_one = |guid: &str| {
        Some(RelationshipToOne {
            data: Some(Relationship {
                guid: guid.to_string(),
            }),
            links: None,
        })
    };
    let body = CreateRouteBody {
        host: (route.port.is_none()).then(|| route.host.clone()),
        path: (!route.path.is_empty()).then(|| route.path.clone()),
        port: route.port,
        metadata: None,
        relationships: CreateRouteBodyRelationships {
            domain: to_one(&route.domain.0),
            space: to_one(space),
        },
    };
    match call(client.create_route().body(body).send()).await {
        Ok(made) => Ok(made),
        // Cloud Controller answers a taken route with 422 CF-UnprocessableEntity ("Route
        // already exists ..."); older versions said CF-UniquenessError.
        Err(e) if is_taken(&e) => find_route(client, route).await?.ok_or_else(|| {
            anyhow::Error::new(e)
                .context(format!(
                    "creating route {url}: taken, but not visible to this user"
                ))
                .into()
        }),
        Err(e) => Err(anyhow::Error::new(e)
            .context(format!("creating route {url}"))
            .into()),
    }
}

/// Another run (or user) made the route first.
fn is_taken(e: &crate::api::ApiError) -> bool {
    match e.kind.as_deref() {
        Some("CF-UniquenessError") => true,
        Some("CF-UnprocessableEntity") => e.message.contains("already exists"),
        _ => false,
    }
}
