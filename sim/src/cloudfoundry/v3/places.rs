//! Organizations, spaces and stacks through v3: the foundation's seeded ones, listed with
//! `names`, `guids` and `organization_guids` filters.

use serde_json::{Value, json};

use super::super::foundation::{
    CfOrg, CfSpace, CfStack, QUOTA_GUID, SEEDED_AT, space, stack_by_guid,
};
use super::pages::{ListQuery, Row};
use super::{Ctx, empty_metadata, not_found};
use crate::request::Reply;

fn row(name: &str, body: Value) -> Row {
    Row {
        created_at: SEEDED_AT.to_owned(),
        updated_at: SEEDED_AT.to_owned(),
        name: name.to_owned(),
        body,
    }
}

/// An organization as `OrganizationPresenter` shows it.
fn org_body(ctx: &Ctx<'_>, org: &CfOrg) -> Value {
    let guid = &org.guid;
    json!({
        "guid": guid,
        "created_at": SEEDED_AT,
        "updated_at": SEEDED_AT,
        "name": org.name,
        "suspended": false,
        "relationships": { "quota": { "data": { "guid": QUOTA_GUID } } },
        "metadata": empty_metadata(),
        "links": {
            "self": ctx.href(&format!("/v3/organizations/{guid}")),
            "domains": ctx.href(&format!("/v3/organizations/{guid}/domains")),
            "default_domain": ctx.href(&format!("/v3/organizations/{guid}/domains/default")),
            "quota": ctx.href(&format!("/v3/organization_quotas/{QUOTA_GUID}")),
        },
    })
}

/// A space as `SpacePresenter` shows it.
fn space_body(ctx: &Ctx<'_>, space: &CfSpace) -> Value {
    let guid = &space.guid;
    json!({
        "guid": guid,
        "created_at": SEEDED_AT,
        "updated_at": SEEDED_AT,
        "name": space.name,
        "suspended": false,
        "relationships": {
            "organization": { "data": { "guid": space.organization_guid } },
            "quota": { "data": null },
        },
        "metadata": empty_metadata(),
        "links": {
            "self": ctx.href(&format!("/v3/spaces/{guid}")),
            "organization": ctx.href(&format!("/v3/organizations/{}", space.organization_guid)),
            "features": ctx.href(&format!("/v3/spaces/{guid}/features")),
            "apply_manifest": ctx.action(&format!("/v3/spaces/{guid}/actions/apply_manifest"), "POST"),
        },
    })
}

/// A stack as `StackPresenter` shows it; the first seeded stack is the default.
fn stack_body(ctx: &Ctx<'_>, stack: &CfStack) -> Value {
    let default = ctx
        .options
        .cf_stacks
        .first()
        .is_some_and(|first| first.guid == stack.guid);
    json!({
        "guid": stack.guid,
        "created_at": SEEDED_AT,
        "updated_at": SEEDED_AT,
        "name": stack.name,
        "description": stack.description,
        "state": "ACTIVE",
        "state_reason": null,
        "run_rootfs_image": stack.name,
        "build_rootfs_image": stack.name,
        "default": default,
        "metadata": empty_metadata(),
        "links": { "self": ctx.href(&format!("/v3/stacks/{}", stack.guid)) },
    })
}

/// `GET /v3/organizations`.
pub(super) fn list_orgs(ctx: &Ctx<'_>) -> Reply {
    let query = match ListQuery::parse(ctx, &["names", "guids"], &["name"]) {
        Ok(query) => query,
        Err(reply) => return reply,
    };
    let rows = ctx
        .options
        .cf_orgs
        .iter()
        .filter(|org| query.passes("names", &org.name) && query.passes("guids", &org.guid))
        .map(|org| row(&org.name, org_body(ctx, org)))
        .collect();
    query.respond(ctx, "/v3/organizations", rows)
}

/// `GET /v3/organizations/{guid}`.
pub(super) fn get_org(ctx: &Ctx<'_>, guid: &str) -> Reply {
    ctx.options
        .cf_orgs
        .iter()
        .find(|org| org.guid.eq_ignore_ascii_case(guid))
        .map_or_else(
            || not_found("Organization"),
            |org| Reply::json(200, &org_body(ctx, org)),
        )
}

/// `GET /v3/spaces`.
pub(super) fn list_spaces(ctx: &Ctx<'_>) -> Reply {
    let filters = ["names", "guids", "organization_guids"];
    let query = match ListQuery::parse(ctx, &filters, &["name"]) {
        Ok(query) => query,
        Err(reply) => return reply,
    };
    let rows = ctx
        .options
        .cf_spaces
        .iter()
        .filter(|space| {
            query.passes("names", &space.name)
                && query.passes("guids", &space.guid)
                && query.passes("organization_guids", &space.organization_guid)
        })
        .map(|space| row(&space.name, space_body(ctx, space)))
        .collect();
    query.respond(ctx, "/v3/spaces", rows)
}

/// `GET /v3/spaces/{guid}`.
pub(super) fn get_space(ctx: &Ctx<'_>, guid: &str) -> Reply {
    space(ctx.options, guid).map_or_else(
        || not_found("Space"),
        |space| Reply::json(200, &space_body(ctx, space)),
    )
}

/// `GET /v3/stacks`.
pub(super) fn list_stacks(ctx: &Ctx<'_>) -> Reply {
    let query = match ListQuery::parse(ctx, &["names", "guids"], &["name"]) {
        Ok(query) => query,
        Err(reply) => return reply,
    };
    let rows = ctx
        .options
        .cf_stacks
        .iter()
        .filter(|stack| query.passes("names", &stack.name) && query.passes("guids", &stack.guid))
        .map(|stack| row(&stack.name, stack_body(ctx, stack)))
        .collect();
    query.respond(ctx, "/v3/stacks", rows)
}

/// `GET /v3/stacks/{guid}`.
pub(super) fn get_stack(ctx: &Ctx<'_>, guid: &str) -> Reply {
    stack_by_guid(ctx.options, guid).map_or_else(
        || not_found("Stack"),
        |stack| Reply::json(200, &stack_body(ctx, stack)),
    )
}
