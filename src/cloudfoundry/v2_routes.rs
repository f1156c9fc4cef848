//! Routes (`BERTH_ROUTES`) on v2, as on v3: each entry resolved to a domain the space can use,
//! with reads only and before anything is written (the longest shared or private domain name
//! that matches; none is exit 2); then, once the app exists, created in the space when missing
//! (`POST /v2/routes`; a taken route means another run made it first) and mapped to the app
//! (`PUT /v2/routes/{guid}/apps/{app}`). Routes already mapped and not listed are left alone;
//! mapping a route adds the app and removes no other app's.

use super::routes::{Wanted, candidates, host_of, link, unknown};
use crate::{
    Failure,
    api::{
        ApiError, call,
        cloudfoundry::{
            Client,
            types::{DomainPage, DomainResource, RouteCreate, RoutePage, RouteResource},
        },
    },
    ci,
    config::RouteSpec,
};
use anyhow::Context;
use std::{collections::HashMap, num::NonZeroU64};

/// Whether a v2 domain is a TCP one (a shared domain of a TCP router group).
fn is_tcp(domain: &DomainResource) -> bool {
    domain.entity.router_group_type.as_deref() == Some("tcp")
}

fn name_of(domain: &DomainResource) -> String {
    domain.entity.name.clone().unwrap_or_default()
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
                let domain = longest_domain(client, &candidates(name))
                    .await?
                    .ok_or_else(|| {
                        unknown(format!(
                            "{spec}: no domain this foundation offers matches {name:?}"
                        ))
                    })?;
                if is_tcp(&domain) {
                    return Err(unknown(format!(
                        "{spec}: {:?} is a TCP domain (it takes domain:port routes)",
                        name_of(&domain)
                    )));
                }
                Wanted::http(
                    name,
                    (domain.metadata.guid.clone(), name_of(&domain)),
                    path.as_deref(),
                )
            }
            RouteSpec::Tcp { domain, port } => {
                let found = longest_domain(client, std::slice::from_ref(domain))
                    .await?
                    .ok_or_else(|| {
                        unknown(format!("{spec}: the foundation has no domain {domain:?}"))
                    })?;
                if !is_tcp(&found) {
                    return Err(unknown(format!(
                        "{spec}: {domain:?} is not a TCP domain (it takes host.domain routes)"
                    )));
                }
                Wanted::tcp((found.metadata.guid.clone(), name_of(&found)), *port)
            }
            RouteSpec::Default => {
                let domain = default_domain(client, space).await?;
                Wanted {
                    host: host_of(app_name),
                    domain: (domain.metadata.guid.clone(), name_of(&domain)),
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

/// The domain `default` takes, as the cf CLI v6 picked it for `cf push` on v2 (pushaction's
/// `DefaultDomain`): the shared domains (`GET /v2/shared_domains`, in the platform's order)
/// and then the organization's private ones (`GET /v2/organizations/{org}/private_domains`),
/// the first that is not internal. berth passes over a TCP domain too, which takes no
/// `host.domain` route (v3's default domain is likewise the first shared HTTP one).
async fn default_domain(client: &Client, space: &str) -> Result<DomainResource, Failure> {
    let org = call(client.get_space().guid(space).send())
        .await
        .with_context(|| format!("reading space {space}"))?
        .entity
        .organization_guid
        .with_context(|| format!("space {space} names no organization"))?;
    let usable = |d: &DomainResource| d.entity.internal != Some(true) && !is_tcp(d);
    let shared = all(
        |page| {
            let mut request = client.list_shared_domains().results_per_page(page_size());
            if let Some(page) = page {
                request = request.page(page);
            }
            async move { call(request.send()).await.map(domain_page) }
        },
        "the shared domains",
    )
    .await?;
    if let Some(found) = shared.into_iter().find(usable) {
        return Ok(found);
    }
    let private = all(
        |page| {
            let mut request = client
                .list_organization_private_domains()
                .guid(&org)
                .results_per_page(page_size());
            if let Some(page) = page {
                request = request.page(page);
            }
            async move { call(request.send()).await.map(domain_page) }
        },
        "the organization's private domains",
    )
    .await?;
    private.into_iter().find(usable).ok_or_else(|| {
        unknown(format!(
            "default: organization {org} has no shared or private HTTP domain to make the app's \
             default route on"
        ))
    })
}

fn domain_page(page: DomainPage) -> (Vec<DomainResource>, Option<String>) {
    (page.resources, page.next_url)
}

fn route_page(page: RoutePage) -> (Vec<RouteResource>, Option<String>) {
    (page.resources, page.next_url)
}

fn page_size() -> NonZeroU64 {
    NonZeroU64::new(super::PAGE_SIZE).unwrap_or(NonZeroU64::MIN)
}

/// The longest of `names` that is a shared or private domain the user can see (`q=name IN`).
async fn longest_domain(
    client: &Client,
    names: &[String],
) -> anyhow::Result<Option<DomainResource>> {
    let q = vec![format!("name IN {}", names.join(","))];
    let mut found = Vec::new();
    for shared in [true, false] {
        let listed = if shared {
            all(
                |page| {
                    let mut request = client
                        .list_shared_domains()
                        .q(q.clone())
                        .results_per_page(page_size());
                    if let Some(page) = page {
                        request = request.page(page);
                    }
                    async move { call(request.send()).await.map(domain_page) }
                },
                "the shared domains",
            )
            .await
        } else {
            all(
                |page| {
                    let mut request = client
                        .list_private_domains()
                        .q(q.clone())
                        .results_per_page(page_size());
                    if let Some(page) = page {
                        request = request.page(page);
                    }
                    async move { call(request.send()).await.map(domain_page) }
                },
                "the private domains",
            )
            .await
        }
        .with_context(|| format!("looking for domain {}", names.join(" or ")))?;
        // Only a domain that really has one of the names counts, whatever the list holds.
        found.extend(listed.into_iter().filter(|d| {
            let name = name_of(d);
            names.iter().any(|n| n.eq_ignore_ascii_case(&name))
        }));
    }
    Ok(found.into_iter().max_by_key(|d| name_of(d).len()))
}

/// Every item of a v2 list, page by page (its `next_url`, forward only), bounded by
/// [`super::MAX_PAGES`]: a longer list is an error, not a partial answer.
async fn all<T, F, Fut>(mut fetch: F, what: &str) -> anyhow::Result<Vec<T>>
where
    F: FnMut(Option<NonZeroU64>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), ApiError>>,
{
    let mut items = Vec::new();
    let mut page = None;
    for _ in 0..super::MAX_PAGES {
        let (listed, next) = fetch(page).await?;
        items.extend(listed);
        let Some(next) = next.filter(|u| !u.is_empty()) else {
            return Ok(items);
        };
        let current = page.unwrap_or(NonZeroU64::MIN);
        match super::next_page(&next) {
            Some((number, _)) if number > current => page = Some(number),
            _ => anyhow::bail!(
                "the list of {what}: next_url {next:?} does not lead past page {current}; berth \
                 stops rather than act on a partial list"
            ),
        }
    }
    anyhow::bail!(
        "the list of {what} goes on beyond {} pages",
        super::MAX_PAGES
    )
}

fn is(wanted: &Wanted, route: &RouteResource) -> bool {
    let e = &route.entity;
    wanted.matches(
        e.domain_guid.as_deref().unwrap_or(""),
        e.host.as_deref().unwrap_or(""),
        e.path.as_deref().unwrap_or(""),
        e.port.filter(|p| *p != 0),
    )
}

/// Maps each wanted route to the app: the route found or created in the space, then the app
/// mapped to it. Answers every route mapped to the app afterwards, as URLs (with whether each
/// is TCP), in the order the platform lists them.
pub(super) async fn map(
    client: &Client,
    wanted: &[Wanted],
    app: &str,
    space: &str,
) -> Result<Vec<(String, bool)>, Failure> {
    let mut mapped = app_routes(client, app).await?;
    // Domain names by guid: those of the wanted routes, the rest read when needed.
    let mut domains: HashMap<String, (String, bool)> = wanted
        .iter()
        .map(|w| {
            (
                w.domain.0.to_ascii_lowercase(),
                (w.domain.1.clone(), w.port.is_some()),
            )
        })
        .collect();
    for route in wanted {
        if mapped.iter().any(|m| is(route, m)) {
            continue;
        }
        let url = route.url();
        let found = match find_route(client, route).await? {
            Some(r) => r,
            None => create(client, route, space).await?,
        };
        ci::info(format_args!("mapping route {url} to the app"));
        call(
            client
                .map_route_app()
                .guid(&found.metadata.guid)
                .app_guid(app)
                .send(),
        )
        .await
        .with_context(|| format!("mapping route {url} to app {app}"))?;
        mapped.push(found);
    }
    let mut urls = Vec::new();
    for route in &mapped {
        let e = &route.entity;
        let Some(guid) = e.domain_guid.as_deref() else {
            continue;
        };
        let key = guid.to_ascii_lowercase();
        if !domains.contains_key(&key) {
            let domain = domain_by_guid(client, guid).await?;
            domains.insert(key.clone(), (name_of(&domain), is_tcp(&domain)));
        }
        let (name, tcp) = domains[&key].clone();
        let route = Wanted {
            host: e.host.clone().unwrap_or_default(),
            domain: (guid.to_string(), name),
            path: e.path.clone().unwrap_or_default(),
            port: e.port.filter(|p| *p != 0),
        };
        urls.push((route.url(), tcp || route.port.is_some()));
    }
    Ok(urls)
}

/// A domain by guid: shared, else private (as the cf CLI v6's `GetDomain` looks).
async fn domain_by_guid(client: &Client, guid: &str) -> anyhow::Result<DomainResource> {
    match call(client.get_shared_domain().guid(guid).send()).await {
        Ok(domain) => Ok(domain),
        Err(e) if e.status == Some(404) => call(client.get_private_domain().guid(guid).send())
            .await
            .with_context(|| format!("reading domain {guid}")),
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading domain {guid}"))),
    }
}

/// The routes mapped to the app, every page.
async fn app_routes(client: &Client, app: &str) -> anyhow::Result<Vec<RouteResource>> {
    all(
        |page| {
            let mut request = client
                .list_app_routes()
                .guid(app)
                .results_per_page(page_size());
            if let Some(page) = page {
                request = request.page(page);
            }
            async move { call(request.send()).await.map(route_page) }
        },
        "the app's routes",
    )
    .await
    .with_context(|| format!("reading the routes of app {app}"))
}

/// The route itself, if it exists (in any space the user can see), as the cf CLI v6 looks it
/// up: `q=domain_guid:`, `q=host:`, `q=path:` (and `q=port:` for TCP).
async fn find_route(client: &Client, route: &Wanted) -> anyhow::Result<Option<RouteResource>> {
    let mut q = vec![
        format!("domain_guid:{}", route.domain.0),
        format!("host:{}", route.host),
        format!("path:{}", route.path),
    ];
    if let Some(port) = route.port {
        q.push(format!("port:{port}"));
    }
    let listed = all(
        |page| {
            let mut request = client
                .list_routes()
                .q(q.clone())
                .results_per_page(page_size());
            if let Some(page) = page {
                request = request.page(page);
            }
            async move { call(request.send()).await.map(route_page) }
        },
        "routes",
    )
    .await
    .with_context(|| format!("looking for route {}", route.url()))?;
    Ok(listed.into_iter().find(|r| is(route, r)))
}

/// `POST /v2/routes` in the space; a taken route means another run made it first.
async fn create(client: &Client, route: &Wanted, space: &str) -> Result<RouteResource, Failure> {
    let url = route.url();
    ci::info(format_args!("creating route {url}"));
    let body = RouteCreate {
        domain_guid: route.domain.0.clone(),
        space_guid: space.to_string(),
        host: route.port.is_none().then(|| route.host.clone()),
        path: (!route.path.is_empty()).then(|| route.path.clone()),
        port: route.port,
    };
    match call(client.create_route().body(body).send()).await {
        Ok(made) => Ok(made),
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

/// Another run (or user) made the route first: Cloud Controller v2 says which part is taken.
fn is_taken(e: &ApiError) -> bool {
    matches!(
        e.kind.as_deref(),
        Some("CF-RouteHostTaken" | "CF-RoutePathTaken" | "CF-RoutePortTaken")
    )
}

/// The `url` output: the first route of `BERTH_ROUTES`, else the first the platform lists.
pub(super) fn url(wanted: &[Wanted], mapped: &[(String, bool)]) -> Option<String> {
    wanted
        .first()
        .map(Wanted::link)
        .or_else(|| mapped.first().map(|(url, tcp)| link(url, *tcp)))
}
