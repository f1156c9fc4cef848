//! Names the user wrote -> the guids the Cloud Controller knows: the org and space
//! (`BERTH_CF_ORG` + `BERTH_CF_SPACE`) and the stack (`BERTH_STACK`). Reads only; a name that
//! matches nothing is a configuration problem (exit 2) naming its variable, and only an exact
//! match counts, whatever the list holds.

use crate::{
    Failure,
    api::{
        call,
        cloudfoundry::{Client, types::NamedResource},
    },
    config::{ConfigError, ConfigErrors, SpaceRef},
};
use anyhow::Context;

/// The space's guid.
pub async fn space(client: &Client, space: &SpaceRef) -> Result<String, Failure> {
    let (org, name) = match space {
        SpaceRef::Guid(guid) => return Ok(guid.clone()),
        SpaceRef::Named { org, space } => (org, space),
    };
    let orgs = call(
        client
            .list_organizations()
            .q(vec![format!("name:{org}")])
            .send(),
    )
    .await
    .with_context(|| format!("looking for org {org:?}"))?;
    let org_guid = exact(&orgs.resources, org, None).ok_or_else(|| {
        unknown(
            "BERTH_CF_ORG",
            format!("no org named {org:?} is visible to this user"),
        )
    })?;
    let spaces = call(
        client
            .list_spaces()
            .q(vec![
                format!("name:{name}"),
                format!("organization_guid:{org_guid}"),
            ])
            .send(),
    )
    .await
    .with_context(|| format!("looking for space {name:?} in org {org:?}"))?;
    exact(&spaces.resources, name, Some(&org_guid)).ok_or_else(|| {
        unknown(
            "BERTH_CF_SPACE",
            format!("org {org:?} has no space named {name:?} that this user can see"),
        )
    })
}

/// The stack's guid.
pub async fn stack(client: &Client, name: &str) -> Result<String, Failure> {
    let stacks = call(client.list_stacks().q(vec![format!("name:{name}")]).send())
        .await
        .with_context(|| format!("looking for stack {name:?}"))?;
    exact(&stacks.resources, name, None).ok_or_else(|| {
        unknown(
            "BERTH_STACK",
            format!("the foundation has no stack named {name:?}"),
        )
    })
}

/// The guid of the one listed item with exactly this name (and, for a space, this org).
fn exact(listed: &[NamedResource], name: &str, org: Option<&str>) -> Option<String> {
    listed
        .iter()
        .find(|r| {
            r.entity.name.as_deref() == Some(name)
                && org.is_none_or(|org| {
                    r.entity
                        .organization_guid
                        .as_deref()
                        .is_some_and(|o| o.eq_ignore_ascii_case(org))
                })
        })
        .map(|r| r.metadata.guid.clone())
}

fn unknown(var: &'static str, problem: String) -> Failure {
    ConfigErrors(vec![ConfigError::Invalid { var, problem }]).into()
}
