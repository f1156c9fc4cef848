//! The foundation's fixed furniture: organizations, spaces, stacks and domains (shared, or
//! private to an organization). They come from [`SimOptions`] (so a test or `PATCH
//! /__sim/options` can lay out its own), are never created or deleted through the API, and are
//! listed by v2 (`/v2/organizations`, `/v2/spaces`, `/v2/stacks`, `/v2/shared_domains`,
//! `/v2/private_domains`) and v3 alike.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::DEFAULT_STACK_GUID;
use crate::options::SimOptions;

/// When every seeded organization, space and stack was "created" (made up, fixed).
pub(super) const SEEDED_AT: &str = "2025-01-06T09:00:00Z";

/// The organization of [`DEFAULT_CF_SPACE_GUID`] (made up).
pub const DEFAULT_CF_ORG_GUID: &str = "3c1e5a7b-9d2f-4e6a-8b0c-1d2e3f4a5b6c";
/// [`DEFAULT_CF_ORG_GUID`]'s name.
pub const DEFAULT_CF_ORG_NAME: &str = "berth-org";
/// The space berth's tests and demo deploy to.
pub const DEFAULT_CF_SPACE_GUID: &str = "6f0a3d1e-5b7c-4e2a-9f10-2d3c4b5a6e7f";
/// [`DEFAULT_CF_SPACE_GUID`]'s name.
pub const DEFAULT_CF_SPACE_NAME: &str = "dev";
/// The older stack's guid (made up); the newer, `cflinuxfs4`, is
/// [`DEFAULT_STACK_GUID`].
pub const CFLINUXFS3_STACK_GUID: &str = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b";
/// A quota definition every seeded organization points at (made up).
pub(super) const QUOTA_GUID: &str = "dcb680a9-b190-4838-a3d2-b84aa17517a6";

/// An organization ([`SimOptions::cf_orgs`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CfOrg {
    /// Its guid.
    pub guid: String,
    /// Its name, unique on the foundation.
    pub name: String,
}

/// A space ([`SimOptions::cf_spaces`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CfSpace {
    /// Its guid.
    pub guid: String,
    /// Its name, unique within its organization.
    pub name: String,
    /// The guid of its organization.
    pub organization_guid: String,
}

/// A stack ([`SimOptions::cf_stacks`]); the first listed is the foundation's default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CfStack {
    /// Its guid.
    pub guid: String,
    /// Its name, as a v3 lifecycle names it (`cflinuxfs4`).
    pub name: String,
    /// What it is.
    pub description: String,
}

/// The foundation's default shared domain (made up): apps get routes `host.apps.sim.example`.
pub const DEFAULT_CF_DOMAIN_GUID: &str = "7a1c3e5f-2b4d-4f6a-8c0e-9d1b3f5a7c2e";
/// [`DEFAULT_CF_DOMAIN_GUID`]'s name.
pub const DEFAULT_CF_DOMAIN_NAME: &str = "apps.sim.example";
/// A shared TCP domain (made up), routed through [`TCP_ROUTER_GROUP_GUID`].
pub const TCP_CF_DOMAIN_GUID: &str = "8b2d4f6a-3c5e-4a7b-9d1f-0e2c4a6b8d3f";
/// [`TCP_CF_DOMAIN_GUID`]'s name.
pub const TCP_CF_DOMAIN_NAME: &str = "tcp.sim.example";
/// The router group of [`TCP_CF_DOMAIN_GUID`] (made up, like the routing API's `default-tcp`).
pub const TCP_ROUTER_GROUP_GUID: &str = "9c3e5a7b-4d6f-4b8c-8e2a-1f3d5b7c9e4a";

/// A domain ([`SimOptions::cf_domains`]): shared (every organization may use it), or private to
/// the organization in `organization_guid`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CfDomain {
    /// Its guid.
    pub guid: String,
    /// Its name (`apps.example.com`).
    pub name: String,
    /// Only for container-to-container traffic (`apps.internal`).
    #[serde(default)]
    pub internal: bool,
    /// A TCP domain's router group; `None` for an HTTP domain.
    #[serde(default)]
    pub router_group_guid: Option<String>,
    /// The organization a private domain belongs to; `None` for a shared domain.
    #[serde(default)]
    pub organization_guid: Option<String>,
}

impl CfDomain {
    /// `tcp` for a domain with a router group, else `http` (`supported_protocols`).
    pub(super) fn protocol(&self) -> &'static str {
        if self.router_group_guid.is_some() {
            "tcp"
        } else {
            "http"
        }
    }

    /// Whether every organization may use it (it has no owner).
    pub(super) fn shared(&self) -> bool {
        self.organization_guid.is_none()
    }

    /// Whether organization `org` may use it: shared, or its own.
    pub(super) fn usable_by(&self, org: &str) -> bool {
        self.organization_guid
            .as_deref()
            .is_none_or(|owner| owner.eq_ignore_ascii_case(org))
    }
}

/// [`SimOptions::cf_domains`] unless given: [`DEFAULT_CF_DOMAIN_NAME`] (HTTP, the organizations'
/// default) and [`TCP_CF_DOMAIN_NAME`] (TCP).
pub(crate) fn default_domains() -> Vec<CfDomain> {
    vec![
        CfDomain {
            guid: DEFAULT_CF_DOMAIN_GUID.to_owned(),
            name: DEFAULT_CF_DOMAIN_NAME.to_owned(),
            internal: false,
            router_group_guid: None,
            organization_guid: None,
        },
        CfDomain {
            guid: TCP_CF_DOMAIN_GUID.to_owned(),
            name: TCP_CF_DOMAIN_NAME.to_owned(),
            internal: false,
            router_group_guid: Some(TCP_ROUTER_GROUP_GUID.to_owned()),
            organization_guid: None,
        },
    ]
}

/// The domain with `guid` (any case).
pub(super) fn domain<'a>(options: &'a SimOptions, guid: &str) -> Option<&'a CfDomain> {
    options
        .cf_domains
        .iter()
        .find(|domain| domain.guid.eq_ignore_ascii_case(guid))
}

/// [`SimOptions::cf_orgs`] unless given: one organization.
pub(crate) fn default_orgs() -> Vec<CfOrg> {
    vec![CfOrg {
        guid: DEFAULT_CF_ORG_GUID.to_owned(),
        name: DEFAULT_CF_ORG_NAME.to_owned(),
    }]
}

/// [`SimOptions::cf_spaces`] unless given: the space the tests use.
pub(crate) fn default_spaces() -> Vec<CfSpace> {
    vec![CfSpace {
        guid: DEFAULT_CF_SPACE_GUID.to_owned(),
        name: DEFAULT_CF_SPACE_NAME.to_owned(),
        organization_guid: DEFAULT_CF_ORG_GUID.to_owned(),
    }]
}

/// [`SimOptions::cf_stacks`] unless given: `cflinuxfs4` (the default) and `cflinuxfs3`.
pub(crate) fn default_stacks() -> Vec<CfStack> {
    vec![
        CfStack {
            guid: DEFAULT_STACK_GUID.to_owned(),
            name: "cflinuxfs4".to_owned(),
            description: "Cloud Foundry Linux-based filesystem - Ubuntu Jammy 22.04 LTS".to_owned(),
        },
        CfStack {
            guid: CFLINUXFS3_STACK_GUID.to_owned(),
            name: "cflinuxfs3".to_owned(),
            description: "Cloud Foundry Linux-based filesystem - Ubuntu Bionic 18.04 LTS"
                .to_owned(),
        },
    ]
}

/// The space with `guid` (any case), if the foundation has it.
pub(super) fn space<'a>(options: &'a SimOptions, guid: &str) -> Option<&'a CfSpace> {
    options
        .cf_spaces
        .iter()
        .find(|space| space.guid.eq_ignore_ascii_case(guid))
}

/// The stack with `guid` (any case).
pub(super) fn stack_by_guid<'a>(options: &'a SimOptions, guid: &str) -> Option<&'a CfStack> {
    options
        .cf_stacks
        .iter()
        .find(|stack| stack.guid.eq_ignore_ascii_case(guid))
}

/// The stack named `name` (exactly, as the Cloud Controller compares names).
pub(super) fn stack_by_name<'a>(options: &'a SimOptions, name: &str) -> Option<&'a CfStack> {
    options.cf_stacks.iter().find(|stack| stack.name == name)
}

/// The guid and name of the stack a v3 app gets when its lifecycle names none: the first
/// listed, or v2's default guid (named `cflinuxfs4`) when none is.
pub(super) fn default_stack(options: &SimOptions) -> (String, String) {
    options.cf_stacks.first().map_or_else(
        || (DEFAULT_STACK_GUID.to_owned(), "cflinuxfs4".to_owned()),
        |stack| (stack.guid.clone(), stack.name.clone()),
    )
}

fn v2_metadata(kind: &str, guid: &str) -> Value {
    json!({
        "guid": guid,
        "url": format!("/v2/{kind}/{guid}"),
        "created_at": SEEDED_AT,
        "updated_at": SEEDED_AT,
    })
}

/// `GET /v2/organizations/{guid}`, keys as in the v2 docs' "List all Organizations".
pub(super) fn v2_org(org: &CfOrg) -> Value {
    let guid = &org.guid;
    json!({
        "metadata": v2_metadata("organizations", guid),
        "entity": {
            "name": org.name,
            "billing_enabled": false,
            "quota_definition_guid": QUOTA_GUID,
            "status": "active",
            "quota_definition_url": format!("/v2/quota_definitions/{QUOTA_GUID}"),
            "spaces_url": format!("/v2/organizations/{guid}/spaces"),
            "domains_url": format!("/v2/organizations/{guid}/domains"),
            "private_domains_url": format!("/v2/organizations/{guid}/private_domains"),
            "users_url": format!("/v2/organizations/{guid}/users"),
            "managers_url": format!("/v2/organizations/{guid}/managers"),
            "billing_managers_url": format!("/v2/organizations/{guid}/billing_managers"),
            "auditors_url": format!("/v2/organizations/{guid}/auditors"),
            "app_events_url": format!("/v2/organizations/{guid}/app_events"),
            "space_quota_definitions_url": format!("/v2/organizations/{guid}/space_quota_definitions"),
        },
    })
}

/// `GET /v2/spaces/{guid}`, keys as in the v2 docs' "List all Spaces".
pub(super) fn v2_space(space: &CfSpace) -> Value {
    let guid = &space.guid;
    json!({
        "metadata": v2_metadata("spaces", guid),
        "entity": {
            "name": space.name,
            "organization_guid": space.organization_guid,
            "space_quota_definition_guid": null,
            "allow_ssh": true,
            "organization_url": format!("/v2/organizations/{}", space.organization_guid),
            "developers_url": format!("/v2/spaces/{guid}/developers"),
            "managers_url": format!("/v2/spaces/{guid}/managers"),
            "auditors_url": format!("/v2/spaces/{guid}/auditors"),
            "apps_url": format!("/v2/spaces/{guid}/apps"),
            "routes_url": format!("/v2/spaces/{guid}/routes"),
            "domains_url": format!("/v2/spaces/{guid}/domains"),
            "service_instances_url": format!("/v2/spaces/{guid}/service_instances"),
            "app_events_url": format!("/v2/spaces/{guid}/app_events"),
            "events_url": format!("/v2/spaces/{guid}/events"),
            "security_groups_url": format!("/v2/spaces/{guid}/security_groups"),
            "staging_security_groups_url": format!("/v2/spaces/{guid}/staging_security_groups"),
        },
    })
}

/// `GET /v2/stacks/{guid}`, keys as in the v2 docs' "List all Stacks".
pub(super) fn v2_stack(stack: &CfStack) -> Value {
    json!({
        "metadata": v2_metadata("stacks", &stack.guid),
        "entity": { "name": stack.name, "description": stack.description },
    })
}
