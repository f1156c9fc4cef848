//! Names the user wrote -> the guids the Cloud Controller knows: the org and space
//! (`BERTH_CF_ORG` + `BERTH_CF_SPACE`) and the stack (`BERTH_STACK`). Reads only; a name that
//! matches nothing is a configuration problem (exit 2) naming its variable, and only an exact
//! match counts, whatever the list holds.

use crate::{
    Failure,
    api::{
        ApiError, call,
        cloudfoundry::{
            Client,
            types::{NamedPage, NamedResource},
        },
    },
    config::{ConfigError, ConfigErrors, SpaceRef},
};
use anyhow::Context;
use std::num::NonZeroU64;

/// A page fetcher for [`find`]: the list request, at berth's page size, at the page asked for.
/// (A macro: each list has its own generated builder type.)
macro_rules! paged {
    ($request:expr) => {
        |page: Option<NonZeroU64>| {
            let mut request = $request.results_per_page(page_size());
            if let Some(page) = page {
                request = request.page(page);
            }
            call(request.send())
        }
    };
}

/// The space's guid.
pub async fn space(client: &Client, space: &SpaceRef) -> Result<String, Failure> {
    let (org, name) = match space {
        SpaceRef::Guid(guid) => return Ok(guid.clone()),
        SpaceRef::Named { org, space } => (org, space),
    };
    let org_guid = find(
        paged!(client.list_organizations().q(vec![format!("name:{org}")])),
        |r| is_named(r, org, None),
    )
    .await
    .with_context(|| format!("looking for org {org:?}"))?
    .ok_or_else(|| {
        unknown(
            "BERTH_CF_ORG",
            format!("no org named {org:?} is visible to this user"),
        )
    })?;
    let q = vec![
        format!("name:{name}"),
        format!("organization_guid:{org_guid}"),
    ];
    find(paged!(client.list_spaces().q(q.clone())), |r| {
        is_named(r, name, Some(&org_guid))
    })
    .await
    .with_context(|| format!("looking for space {name:?} in org {org:?}"))?
    .ok_or_else(|| {
        unknown(
            "BERTH_CF_SPACE",
            format!("org {org:?} has no space named {name:?} that this user can see"),
        )
    })
}

/// The stack's guid.
pub async fn stack(client: &Client, name: &str) -> Result<String, Failure> {
    find(
        paged!(client.list_stacks().q(vec![format!("name:{name}")])),
        |r| is_named(r, name, None),
    )
    .await
    .with_context(|| format!("looking for stack {name:?}"))?
    .ok_or_else(|| {
        unknown(
            "BERTH_STACK",
            format!("the foundation has no stack named {name:?}"),
        )
    })
}

fn page_size() -> NonZeroU64 {
    NonZeroU64::new(super::PAGE_SIZE).unwrap_or(NonZeroU64::MIN)
}

/// The guid of the first listed item that `is_match`, reading the list page by page (its
/// `next_url`, forward only) to its end, bounded by [`super::MAX_PAGES`].
async fn find<F, Fut>(
    mut fetch: F,
    is_match: impl Fn(&NamedResource) -> bool,
) -> anyhow::Result<Option<String>>
where
    F: FnMut(Option<NonZeroU64>) -> Fut,
    Fut: Future<Output = Result<NamedPage, ApiError>>,
{
    let mut page = None;
    for _ in 0..super::MAX_PAGES {
        let listed = fetch(page).await?;
        if let Some(found) = listed.resources.iter().find(|r| is_match(r)) {
            return Ok(Some(found.metadata.guid.clone()));
        }
        let Some(next) = listed.next_url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let current = page.unwrap_or(NonZeroU64::MIN);
        match super::next_page(next) {
            Some((number, _)) if number > current => page = Some(number),
            _ => anyhow::bail!(
                "the list's next_url {next:?} does not lead past page {current}; berth stops \
                 rather than act on a partial list"
            ),
        }
    }
    anyhow::bail!("the list goes on beyond {} pages", super::MAX_PAGES)
}

/// Exactly this name (and, for a space, this org).
fn is_named(r: &NamedResource, name: &str, org: Option<&str>) -> bool {
    r.entity.name.as_deref() == Some(name)
        && org.is_none_or(|org| {
            r.entity
                .organization_guid
                .as_deref()
                .is_some_and(|o| o.eq_ignore_ascii_case(org))
        })
}

fn unknown(var: &'static str, problem: String) -> Failure {
    ConfigErrors(vec![ConfigError::Invalid { var, problem }]).into()
}
