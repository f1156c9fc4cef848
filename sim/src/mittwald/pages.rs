//! Pages of mittwald's lists: `limit`, then `skip` or `page`, and the `X-Pagination-*` headers.

use super::validation::{Invalid, validation_failed};
use crate::request::{Reply, Request};

/// `X-Pagination-Limit` when the caller gives none.
const DEFAULT_PAGE_LIMIT: usize = 1000;

pub(super) struct Page {
    pub(super) limit: usize,
    pub(super) skip: usize,
    total: usize,
}

impl Page {
    /// The page `limit` and `skip` (or `page`) ask for; a `cap` (at least 1) lowers the limit,
    /// and `X-Pagination-Limit` then says the lower one.
    pub(super) fn from_query(
        request: &Request,
        total: usize,
        cap: Option<usize>,
    ) -> Result<Self, Reply> {
        let number = |key: &str| -> Result<Option<usize>, Reply> {
            match request.query_param(key) {
                None | Some("") => Ok(None),
                Some(value) => value.parse().map(Some).map_err(|_| {
                    validation_failed(vec![Invalid::new(
                        format!(".{key}"),
                        "type",
                        "must be integer",
                    )])
                }),
            }
        };
        let limit = number("limit")?
            .filter(|&limit| limit > 0)
            .unwrap_or(DEFAULT_PAGE_LIMIT)
            .min(cap.unwrap_or(usize::MAX).max(1));
        // `skip` wins over `page` when both are given, as the spec says.
        let skip = match (number("skip")?, number("page")?) {
            (Some(skip), _) => skip,
            (None, Some(page)) => page.saturating_sub(1).saturating_mul(limit),
            (None, None) => 0,
        };
        Ok(Self { limit, skip, total })
    }

    /// The `X-Pagination-*` headers; `X-Pagination-TotalCount` only `with_total`.
    pub(super) fn headers(&self, reply: Reply, with_total: bool) -> Reply {
        let reply = reply
            .with_header("x-pagination-limit", self.limit.to_string())
            .with_header("x-pagination-skip", self.skip.to_string())
            .with_header(
                "x-pagination-page",
                (self.skip / self.limit + 1).to_string(),
            );
        if with_total {
            reply.with_header("x-pagination-totalcount", self.total.to_string())
        } else {
            reply
        }
    }
}
