//! v3 lists: the query (`page`, `per_page`, `order_by` and comma-separated filters, unknown
//! parameters refused) and the `pagination` object with its absolute links, as Cloud
//! Controller's list messages and `PaginatedListPresenter` write them.

use serde_json::{Value, json};

use super::super::errors::BAD_QUERY_PARAMETER;
use super::super::form_encode;
use super::Ctx;
use crate::request::Reply;

/// `per_page` when the caller gives none, and the most it may ask for.
const PER_PAGE_DEFAULT: usize = 50;
const PER_PAGE_MAX: usize = 5000;

/// What a list request asks for.
pub(super) struct ListQuery {
    page: usize,
    per_page: usize,
    /// As given (`name`, `-created_at`), for the links.
    order_by: Option<String>,
    /// Each filter with its values, in the order given.
    filters: Vec<(String, Vec<String>)>,
    /// [`SimOptions::cf_list_ignores_filters`](crate::SimOptions::cf_list_ignores_filters):
    /// the filters are checked and linked but match everything.
    ignore_filters: bool,
}

/// One listed item: its body and what it may be ordered by.
pub(super) struct Row {
    pub(super) created_at: String,
    pub(super) updated_at: String,
    pub(super) name: String,
    pub(super) body: Value,
}

impl ListQuery {
    /// Reads the request's query: `filters` are the filter parameters the list takes (besides
    /// `page`, `per_page`, `order_by`), `order_by` what it may be ordered by besides
    /// `created_at` and `updated_at`.
    pub(super) fn parse(ctx: &Ctx<'_>, filters: &[&str], order_by: &[&str]) -> Result<Self, Reply> {
        let mut problems = Vec::new();
        let mut unknown = Vec::new();
        let mut query = Self {
            page: 1,
            per_page: PER_PAGE_DEFAULT,
            order_by: None,
            filters: Vec::new(),
            ignore_filters: ctx.options.cf_list_ignores_filters,
        };
        for (key, value) in &ctx.request.query {
            match key.as_str() {
                "page" => match value.parse::<usize>() {
                    Ok(page) if page > 0 => query.page = page,
                    _ => problems.push("Page must be a positive integer".to_owned()),
                },
                "per_page" => match value.parse::<usize>() {
                    Ok(size) if (1..=PER_PAGE_MAX).contains(&size) => query.per_page = size,
                    Ok(size) if size > PER_PAGE_MAX => {
                        problems.push(format!("Per page must be between 1 and {PER_PAGE_MAX}"));
                    }
                    _ => problems.push("Per page must be a positive integer".to_owned()),
                },
                "order_by" => {
                    let column = value.strip_prefix(['-', '+']).unwrap_or(value);
                    let valid = ["created_at", "updated_at"]
                        .iter()
                        .chain(order_by)
                        .any(|allowed| *allowed == column);
                    if valid {
                        query.order_by = Some(value.clone());
                    } else {
                        let allowed: Vec<String> = ["created_at", "updated_at"]
                            .iter()
                            .chain(order_by)
                            .map(|allowed| format!("'{allowed}'"))
                            .collect();
                        problems.push(format!("Order by can only be: {}", allowed.join(", ")));
                    }
                }
                key if filters.contains(&key) => {
                    // A repeated parameter: the last one counts, as Rails reads a query.
                    query.filters.retain(|(filter, _)| filter != key);
                    query.filters.push((key.to_owned(), split_values(value)));
                }
                key => unknown.push(key.to_owned()),
            }
        }
        if !unknown.is_empty() {
            let valid: Vec<&str> = ["page", "per_page", "order_by"]
                .iter()
                .chain(filters)
                .copied()
                .collect();
            problems.insert(
                0,
                format!(
                    "Unknown query parameter(s): '{}'. Valid parameters are: '{}'",
                    unknown.join("', '"),
                    valid.join("', '")
                ),
            );
        }
        if !problems.is_empty() {
            return Err(BAD_QUERY_PARAMETER.v3(&problems.join(", ")));
        }
        if let Some(cap) = ctx.options.cf_page_cap {
            query.per_page = query.per_page.min(cap.max(1));
        }
        Ok(query)
    }

    /// Whether an item whose `key` is `value` passes the filter on `key` (if there is one).
    pub(super) fn passes(&self, key: &str, value: &str) -> bool {
        self.ignore_filters
            || self
                .filters
                .iter()
                .find(|(filter, _)| filter == key)
                .is_none_or(|(_, values)| values.iter().any(|allowed| allowed == value))
    }

    /// Whether an item passes the filter on `key` (if there is one) by one of its values
    /// meeting `accepts`, for items with many values (a route's apps).
    pub(super) fn passes_any(&self, key: &str, accepts: impl Fn(&str) -> bool) -> bool {
        self.ignore_filters
            || self
                .filters
                .iter()
                .find(|(filter, _)| filter == key)
                .is_none_or(|(_, values)| values.iter().any(|value| accepts(value)))
    }

    /// The page of `rows` asked for, as the list at `path` answers it.
    pub(super) fn respond(&self, ctx: &Ctx<'_>, path: &str, mut rows: Vec<Row>) -> Reply {
        if let Some(order_by) = &self.order_by {
            let descending = order_by.starts_with('-');
            let column = order_by.trim_start_matches(['-', '+']);
            // Stable: items made in the same second keep the order they were made in.
            rows.sort_by(|a, b| match column {
                "name" => a.name.cmp(&b.name),
                "updated_at" => a.updated_at.cmp(&b.updated_at),
                _ => a.created_at.cmp(&b.created_at),
            });
            if descending {
                rows.reverse();
            }
        }
        let total = rows.len();
        let last = total.div_ceil(self.per_page).max(1);
        let resources: Vec<Value> = rows
            .into_iter()
            .skip((self.page - 1).saturating_mul(self.per_page))
            .take(self.per_page)
            .map(|row| row.body)
            .collect();
        let link = |page: usize| json!({ "href": self.url(ctx, path, page) });
        Reply::json(
            200,
            &json!({
                "pagination": {
                    "total_results": total,
                    "total_pages": last,
                    "first": link(1),
                    "last": link(last),
                    "next": (self.page < last).then(|| link(self.page + 1)),
                    "previous": (self.page > 1).then(|| link(self.page - 1)),
                },
                "resources": resources,
            }),
        )
    }

    /// A page link: `per_page`, `order_by` and the filters, and `page`, sorted by name and
    /// form-encoded as Rails' `to_query` writes them (a filter's values joined with `,`, a
    /// comma within a value escaped first).
    fn url(&self, ctx: &Ctx<'_>, path: &str, page: usize) -> String {
        let mut params: Vec<(String, String)> = vec![
            ("page".to_owned(), page.to_string()),
            ("per_page".to_owned(), self.per_page.to_string()),
        ];
        if let Some(order_by) = &self.order_by {
            params.push(("order_by".to_owned(), order_by.clone()));
        }
        for (key, values) in &self.filters {
            let joined: Vec<String> = values
                .iter()
                .map(|value| value.replace(',', "%2C"))
                .collect();
            params.push((key.clone(), joined.join(",")));
        }
        params.sort();
        let query: Vec<String> = params
            .iter()
            .map(|(key, value)| format!("{}={}", form_encode(key), form_encode(value)))
            .collect();
        format!("{}?{}", ctx.url(path), query.join("&"))
    }
}

/// A filter's values: split at commas (and the spaces after them), each unescaped once more so
/// that `%2C` stands for a comma within a value.
fn split_values(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|part| {
            percent_encoding::percent_decode_str(part.trim_start())
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn filter_values_split_at_commas_and_keep_escaped_ones() {
        assert_eq!(split_values("a,b, c"), ["a", "b", "c"]);
        assert_eq!(split_values("a%2Cb"), ["a,b"]);
        assert_eq!(split_values(""), [""]);
    }
}
