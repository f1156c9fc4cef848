//! Cloud Controller v3 lists, and the names the user wrote looked up in them (reads only). A list
//! is read page by page, following `pagination.next.href` forward only, until the first item
//! that really matches (whatever the filter answered) or its end, bounded by
//! [`super::super::MAX_PAGES`]: berth never acts on a partial list.

use crate::{
    Failure,
    api::{
        ApiError,
        cloudfoundry_v3::{
            Client,
            types::{App, Pagination},
        },
    },
    config::{ConfigError, ConfigErrors, SpaceRef},
};
use anyhow::{Context, bail};
use serde_json::Value;

/// Items asked for per page (Cloud Controller allows up to 5000; a server may give fewer).
pub(super) const PER_PAGE: i64 = 100;

/// A page fetcher for [`find`] and [`all`]: the list request at berth's page size, at the page asked for.
/// (A macro: each list has its own generated builder type.)
macro_rules! paged {
    ($request:expr) => {
        |page: Option<i64>| {
            let mut request = $request.per_page(super::lists::PER_PAGE);
            if let Some(page) = page {
                request = request.page(page);
            }
            async move {
                $crate::api::call(request.send())
                    .await
                    .map(|list| (list.resources, list.pagination))
            }
        }
    };
}

/// The first listed item that `is_match`, reading the list to its end if need be.
pub(super) async fn find<T, F, Fut>(
    fetch: F,
    is_match: impl Fn(&T) -> bool,
) -> anyhow::Result<Option<T>>
where
    F: FnMut(Option<i64>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<Pagination>), ApiError>>,
{
    pages(fetch, |items| items.into_iter().find(|i| is_match(i))).await
}

/// Every listed item, the list read to its end.
pub(super) async fn all<T, F, Fut>(fetch: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(Option<i64>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<Pagination>), ApiError>>,
{
    let mut everything = Vec::new();
    pages(fetch, |items| {
        everything.extend(items);
        None::<()>
    })
    .await?;
    Ok(everything)
}

/// Hands each page to `take` until it answers something or the list ends (`None`), following
/// `next.href` forward only, at most [`super::super::MAX_PAGES`] pages.
async fn pages<T, R, F, Fut>(
    mut fetch: F,
    mut take: impl FnMut(Vec<T>) -> Option<R>,
) -> anyhow::Result<Option<R>>
where
    F: FnMut(Option<i64>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<Pagination>), ApiError>>,
{
    let mut page = None;
    for _ in 0..super::super::MAX_PAGES {
        let (items, pagination) = fetch(page).await?;
        if let Some(found) = take(items) {
            return Ok(Some(found));
        }
        let Some(next) = pagination.and_then(|p| p.next).map(|l| l.href) else {
            return Ok(None);
        };
        page = Some(next_page(&next, page.unwrap_or(1))?);
    }
    bail!(
        "the list goes on beyond {} pages; berth stops rather than act on a partial list, \
         which could make it create a duplicate or miss what it looks for",
        super::super::MAX_PAGES
    )
}

/// The page a list's `next.href` leads to: only forward, as a link back (or to itself) would
/// never end.
pub(super) fn next_page(next: &str, current: i64) -> anyhow::Result<i64> {
    match page_of(next) {
        Some(number) if number > current => Ok(number),
        _ => bail!(
            "the list's next link {next:?} does not lead past page {current}; berth stops \
             rather than act on a partial list"
        ),
    }
}

/// The `page` of a `next.href` (absolute, as Cloud Controller writes it). The next request goes
/// through the generated client with this number, to the API berth was given with the filters
/// berth chose, not to the address as it is.
fn page_of(href: &str) -> Option<i64> {
    let base = reqwest::Url::parse("http://cloud-controller.invalid/").ok()?;
    let url = base.join(href).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse::<i64>().ok())
        .filter(|p| *p > 0)
}

/// The guid of a to-one relationship (`relationships.space.data.guid`), when given.
pub(super) fn related<'a>(
    relationships: Option<&'a serde_json::Map<String, Value>>,
    name: &str,
) -> Option<&'a str> {
    relationships?.get(name)?.get("data")?.get("guid")?.as_str()
}

/// The space's guid: given, or the org and the space looked up by exact name.
pub(super) async fn space(client: &Client, space: &SpaceRef) -> Result<String, Failure> {
    let (org, name) = match space {
        SpaceRef::Guid(guid) => return Ok(guid.clone()),
        SpaceRef::Named { org, space } => (org, space),
    };
    let org_guid = find(
        paged!(client.list_organizations().names(org.clone())),
        |o| o.name == *org,
    )
    .await
    .with_context(|| format!("looking for org {org:?}"))?
    .ok_or_else(|| {
        unknown(
            "BERTH_CF_ORG",
            format!("no org named {org:?} is visible to this user"),
        )
    })?
    .guid;
    find(
        paged!(
            client
                .list_spaces()
                .names(name.clone())
                .organization_guids(org_guid.clone())
        ),
        |s| {
            s.name == *name
                && s.relationships.as_ref().is_some_and(|r| {
                    r.organization
                        .as_ref()
                        .and_then(|o| o.data.as_ref())
                        .is_some_and(|d| d.guid.eq_ignore_ascii_case(&org_guid))
                })
        },
    )
    .await
    .with_context(|| format!("looking for space {name:?} in org {org:?}"))?
    .map(|s| s.guid)
    .ok_or_else(|| {
        unknown(
            "BERTH_CF_SPACE",
            format!("org {org:?} has no space named {name:?} that this user can see"),
        )
    })
}

/// The guid of the org a space belongs to.
pub(super) async fn org_of(client: &Client, space: &str) -> Result<String, Failure> {
    let found = find(paged!(client.list_spaces().guids(space.to_string())), |s| {
        s.guid.eq_ignore_ascii_case(space)
    })
    .await
    .with_context(|| format!("reading space {space}"))?;
    found
        .and_then(|s| s.relationships?.organization?.data)
        .map(|d| d.guid)
        .ok_or_else(|| {
            anyhow::anyhow!("space {space} is not visible to this user or names no org").into()
        })
}

/// The stack's name (v3 names stacks): `BERTH_STACK` checked to exist, or the stack of
/// `BERTH_STACK_GUID`.
pub(super) async fn stack(
    client: &Client,
    name: Option<&str>,
    guid: Option<&str>,
) -> Result<String, Failure> {
    let (found, var, problem) = match (name, guid) {
        (Some(name), _) => (
            find(paged!(client.list_stacks().names(name.to_string())), |s| {
                s.name == name
            })
            .await
            .with_context(|| format!("looking for stack {name:?}"))?,
            "BERTH_STACK",
            format!("the foundation has no stack named {name:?}"),
        ),
        (None, Some(guid)) => (
            find(paged!(client.list_stacks()), |s| {
                s.guid.eq_ignore_ascii_case(guid)
            })
            .await
            .with_context(|| format!("looking for stack {guid}"))?,
            "BERTH_STACK_GUID",
            format!("the foundation has no stack {guid}"),
        ),
        (None, None) => unreachable!("asked only for a given stack"),
    };
    found.map(|s| s.name).ok_or_else(|| unknown(var, problem))
}

/// The app with exactly this name in exactly this space: an app of a space the user did not
/// name must never be changed, whatever the filter answered.
pub(super) async fn app(client: &Client, name: &str, space: &str) -> anyhow::Result<Option<App>> {
    find(
        paged!(
            client
                .list_apps()
                .names(name.to_string())
                .space_guids(space.to_string())
        ),
        |a: &App| {
            a.name == name
                && related(a.relationships.as_deref(), "space")
                    .is_some_and(|s| s.eq_ignore_ascii_case(space))
        },
    )
    .await
    .with_context(|| format!("looking for app {name:?} in space {space}"))
}

fn unknown(var: &'static str, problem: String) -> Failure {
    ConfigErrors(vec![ConfigError::Invalid { var, problem }]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_gives_its_page() {
        assert_eq!(
            page_of("https://api.example.com/v3/apps?names=a&page=2&per_page=100"),
            Some(2)
        );
        assert_eq!(page_of("/v3/apps?page=0"), None);
        assert_eq!(page_of("/v3/apps?per_page=3"), None);
    }
}
