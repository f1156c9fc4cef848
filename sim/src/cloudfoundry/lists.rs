//! v2 lists (apps; organizations, spaces and stacks): `q` filters, pages, and the `next_url` and
//! `prev_url` links as the Cloud Controller writes them.

use std::time::Instant;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::CloudFoundry;
use super::apps::App;
use super::errors::BAD_QUERY_PARAMETER;
use super::foundation::{v2_org, v2_space, v2_stack};
use crate::options::SimOptions;
use crate::request::{Reply, Request};

/// `results-per-page` when the caller gives none, and the most it may ask for.
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 100;

/// What [`query_encode`] leaves as it is: letters, digits and `-._~:`.
const QUERY_KEEPS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

/// Percent-encodes a query value for `next_url`, keeping `:` readable as the platform does.
fn query_encode(text: &str) -> String {
    utf8_percent_encode(text, QUERY_KEEPS).to_string()
}

/// One `q` filter of a list request.
struct Filter {
    attribute: String,
    values: Vec<String>,
}

impl Filter {
    /// Whether an item passes, `field` giving the item's value of an attribute; attributes an
    /// item has no value for let it pass.
    fn matches(&self, field: impl Fn(&str) -> Option<String>) -> bool {
        field(&self.attribute).is_none_or(|actual| self.values.contains(&actual))
    }
}

/// `q=name:NAME` (repeatable, or joined with `;`), also `q=name IN a,b`; only `attributes`
/// may be filtered on.
fn parse_filters(request: &Request, attributes: &[&str]) -> Result<Vec<Filter>, Reply> {
    let mut filters = Vec::new();
    for (key, value) in &request.query {
        if key != "q" {
            continue;
        }
        for raw in value.split(';').filter(|raw| !raw.is_empty()) {
            let (attribute, values) = if let Some((attribute, list)) = raw.split_once(" IN ") {
                (attribute, list.split(',').map(str::to_owned).collect())
            } else if let Some((attribute, value)) = raw.split_once(':') {
                (attribute, vec![value.to_owned()])
            } else {
                return Err(BAD_QUERY_PARAMETER.reply(raw));
            };
            if !attributes.contains(&attribute) {
                return Err(BAD_QUERY_PARAMETER.reply(attribute));
            }
            filters.push(Filter {
                attribute: attribute.to_owned(),
                values,
            });
        }
    }
    Ok(filters)
}

/// The page a list request asks for.
struct Page {
    number: usize,
    size: usize,
    descending: bool,
}

impl Page {
    /// The page `page` and `results-per-page` ask for; a `cap` (at least 1) makes pages smaller
    /// than asked, and the links then carry the smaller size.
    fn from_query(request: &Request, cap: Option<usize>) -> Result<Self, Reply> {
        let number = |key: &str, default: usize| -> Result<usize, Reply> {
            match request.query_param(key) {
                None | Some("") => Ok(default),
                Some(value) => value
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| BAD_QUERY_PARAMETER.reply(&format!("{key} must be > 0"))),
            }
        };
        let size = number("results-per-page", DEFAULT_PAGE_SIZE)?;
        if size > MAX_PAGE_SIZE {
            return Err(
                BAD_QUERY_PARAMETER.reply(&format!("results_per_page must be <= {MAX_PAGE_SIZE}"))
            );
        }
        let descending = match request.query_param("order-direction") {
            None | Some("" | "asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(BAD_QUERY_PARAMETER.reply(&format!("order-direction {other}")));
            }
        };
        Ok(Self {
            number: number("page", 1)?,
            size: size.min(cap.unwrap_or(MAX_PAGE_SIZE).max(1)),
            descending,
        })
    }

    /// A page link as the platform writes it: parameters in alphabetical order, `q` repeated.
    fn url(&self, path: &str, number: usize, request: &Request) -> String {
        let mut params = vec![
            format!(
                "order-direction={}",
                if self.descending { "desc" } else { "asc" }
            ),
            format!("page={number}"),
        ];
        params.extend(
            request
                .query
                .iter()
                .filter(|(key, _)| key == "q")
                .map(|(_, value)| format!("q={}", query_encode(value))),
        );
        params.push(format!("results-per-page={}", self.size));
        format!("{path}?{}", params.join("&"))
    }
}

/// The attributes an app list filters on.
const APP_ATTRIBUTES: [&str; 5] = [
    "name",
    "space_guid",
    "organization_guid",
    "diego",
    "stack_guid",
];

/// An app's value of a filter attribute.
fn app_field(app: &App, attribute: &str) -> Option<String> {
    Some(match attribute {
        "name" => app.name.clone(),
        "space_guid" => app.space_guid.clone(),
        "stack_guid" => app.stack_guid.clone(),
        "diego" => app.diego.to_string(),
        // Apps are not matched by organization: every space belongs to whichever is asked for.
        _ => return None,
    })
}

/// One page of `items` that pass the request's filters, as the v2 list at `path`.
pub(super) fn list<T>(
    options: &SimOptions,
    request: &Request,
    path: &str,
    attributes: &[&str],
    items: impl Iterator<Item = T>,
    field: impl Fn(&T, &str) -> Option<String>,
    body: impl Fn(&T) -> Value,
) -> Reply {
    let mut filters = match parse_filters(request, attributes) {
        Ok(filters) => filters,
        Err(reply) => return reply,
    };
    if options.cf_list_ignores_filters {
        // Checked above like any request, then dropped: the list has every item.
        filters.clear();
    }
    let page = match Page::from_query(request, options.cf_page_cap) {
        Ok(page) => page,
        Err(reply) => return reply,
    };
    let mut matching: Vec<T> = items
        .filter(|item| {
            filters
                .iter()
                .all(|filter| filter.matches(|attribute| field(item, attribute)))
        })
        .collect();
    if page.descending {
        matching.reverse();
    }
    let total = matching.len();
    let total_pages = total.div_ceil(page.size).max(1);
    let resources: Vec<Value> = matching
        .iter()
        .skip((page.number - 1).saturating_mul(page.size))
        .take(page.size)
        .map(body)
        .collect();
    let link = |number: usize| page.url(path, number, request);
    let prev_url = (page.number > 1).then(|| link(page.number - 1));
    let next_url = (page.number < total_pages).then(|| link(page.number + 1));
    Reply::json(
        200,
        &json!({
            "total_results": total,
            "total_pages": total_pages,
            "prev_url": prev_url,
            "next_url": next_url,
            "resources": resources,
        }),
    )
}

impl CloudFoundry {
    pub(super) fn list_apps(
        &self,
        options: &SimOptions,
        request: &Request,
        space: Option<&str>,
        now: Instant,
    ) -> Reply {
        let path = match space {
            Some(space) => format!("/v2/spaces/{space}/apps"),
            None => "/v2/apps".to_owned(),
        };
        let apps = self
            .apps
            .iter()
            .filter(|app| space.is_none_or(|space| app.space_guid == space));
        list(
            options,
            request,
            &path,
            &APP_ATTRIBUTES,
            apps,
            |app, attribute| app_field(app, attribute),
            |app| app.resource(now),
        )
    }
}

/// `GET /v2/organizations`, filtered by `name`.
pub(super) fn list_orgs(options: &SimOptions, request: &Request) -> Reply {
    list(
        options,
        request,
        "/v2/organizations",
        &["name"],
        options.cf_orgs.iter(),
        |org, attribute| (attribute == "name").then(|| org.name.clone()),
        |org| v2_org(org),
    )
}

/// `GET /v2/spaces`, filtered by `name` and `organization_guid`.
pub(super) fn list_spaces(options: &SimOptions, request: &Request) -> Reply {
    list(
        options,
        request,
        "/v2/spaces",
        &["name", "organization_guid"],
        options.cf_spaces.iter(),
        |space, attribute| match attribute {
            "name" => Some(space.name.clone()),
            _ => Some(space.organization_guid.clone()),
        },
        |space| v2_space(space),
    )
}

/// `GET /v2/stacks`, filtered by `name`.
pub(super) fn list_stacks(options: &SimOptions, request: &Request) -> Reply {
    list(
        options,
        request,
        "/v2/stacks",
        &["name"],
        options.cf_stacks.iter(),
        |stack, attribute| (attribute == "name").then(|| stack.name.clone()),
        |stack| v2_stack(stack),
    )
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn page_links_keep_colons_readable() {
        assert_eq!(query_encode("name:web app/ü"), "name:web%20app%2F%C3%BC");
    }
}
