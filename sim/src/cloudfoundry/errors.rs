//! The Cloud Controller's error catalogue (`errors/v2.yml`, and `errors/v3.yml` for the few
//! v3-only errors), its v2 and v3 bodies, and UAA's error bodies.

use serde_json::{Value, json};

use crate::request::Reply;

/// One entry of the Cloud Controller's error catalogue (`errors-v2.yml`).
pub(super) struct CfError {
    code: u32,
    pub(super) name: &'static str,
    pub(super) status: u16,
    /// The catalogue's text; `%s` is replaced by the detail.
    message: &'static str,
}

pub(super) const INVALID_AUTH_TOKEN: CfError =
    catalogue(1000, "InvalidAuthToken", 401, "Invalid Auth Token");
pub(super) const MESSAGE_PARSE_ERROR: CfError = catalogue(
    1001,
    "MessageParseError",
    400,
    "Request invalid due to parse error: %s",
);
pub(super) const INVALID_RELATION: CfError = catalogue(1002, "InvalidRelation", 400, "%s");
const BAD_REQUEST: CfError = catalogue(1004, "BadRequest", 400, "Bad request: %s");
pub(super) const NOT_FOUND: CfError = catalogue(10000, "NotFound", 404, "Unknown request");
const SERVER_ERROR: CfError = catalogue(10001, "ServerError", 500, "Server error");
pub(super) const NOT_AUTHENTICATED: CfError =
    catalogue(10002, "NotAuthenticated", 401, "Authentication error");
pub(super) const NOT_AUTHORIZED: CfError = catalogue(
    10003,
    "NotAuthorized",
    403,
    "You are not authorized to perform the requested action",
);
pub(super) const INVALID_REQUEST: CfError =
    catalogue(10004, "InvalidRequest", 400, "The request is invalid");
pub(super) const BAD_QUERY_PARAMETER: CfError = catalogue(
    10005,
    "BadQueryParameter",
    400,
    "The query parameter is invalid: %s",
);
pub(super) const UNPROCESSABLE_ENTITY: CfError = catalogue(10008, "UnprocessableEntity", 422, "%s");
pub(super) const RESOURCE_NOT_FOUND: CfError = catalogue(10010, "ResourceNotFound", 404, "%s");
const RATE_LIMIT_EXCEEDED: CfError =
    catalogue(10013, "RateLimitExceeded", 429, "Rate Limit Exceeded");
const SERVICE_UNAVAILABLE: CfError = catalogue(10015, "ServiceUnavailable", 503, "%s");
pub(super) const ORGANIZATION_NOT_FOUND: CfError = catalogue(
    30003,
    "OrganizationNotFound",
    404,
    "The organization could not be found: %s",
);
pub(super) const SPACE_NOT_FOUND: CfError = catalogue(
    40004,
    "SpaceNotFound",
    404,
    "The app space could not be found: %s",
);
/// v3 only (`errors/v3.yml`); v2's catalogue has another error under this code.
pub(super) const UNIQUENESS_ERROR: CfError = catalogue(10016, "UniquenessError", 422, "%s");
pub(super) const APP_INVALID: CfError =
    catalogue(100001, "AppInvalid", 400, "The app is invalid: %s");
pub(super) const APP_NAME_TAKEN: CfError =
    catalogue(100002, "AppNameTaken", 400, "The app name is taken: %s");
pub(super) const APP_NOT_FOUND: CfError =
    catalogue(100004, "AppNotFound", 404, "The app could not be found: %s");
pub(super) const APP_MEMORY_INVALID: CfError = catalogue(
    100006,
    "AppMemoryInvalid",
    400,
    "You have specified an invalid amount of memory for your application.",
);
pub(super) const APP_PACKAGE_INVALID: CfError = catalogue(
    150001,
    "AppPackageInvalid",
    400,
    "The app package is invalid: %s",
);
pub(super) const PACKAGE_BITS_ALREADY_UPLOADED: CfError = catalogue(
    150004,
    "PackageBitsAlreadyUploaded",
    400,
    "Bits may be uploaded only once. Create a new package to upload different bits.",
);
pub(super) const APP_BITS_UPLOAD_INVALID: CfError = catalogue(
    160001,
    "AppBitsUploadInvalid",
    400,
    "The app upload is invalid: %s",
);
pub(super) const DOMAIN_NOT_FOUND: CfError = catalogue(
    130002,
    "DomainNotFound",
    404,
    "The domain could not be found: %s",
);
pub(super) const PATH_INVALID: CfError =
    catalogue(130004, "PathInvalid", 400, "The path is invalid: %s");
pub(super) const ROUTE_INVALID: CfError =
    catalogue(210001, "RouteInvalid", 400, "The route is invalid: %s");
pub(super) const ROUTE_NOT_FOUND: CfError = catalogue(
    210002,
    "RouteNotFound",
    404,
    "The route could not be found: %s",
);
pub(super) const ROUTE_HOST_TAKEN: CfError =
    catalogue(210003, "RouteHostTaken", 400, "The host is taken: %s");
pub(super) const ROUTE_PATH_TAKEN: CfError =
    catalogue(210004, "RoutePathTaken", 400, "The path is taken: %s");
pub(super) const ROUTE_PORT_TAKEN: CfError =
    catalogue(210005, "RoutePortTaken", 400, "The port is taken: %s");
pub(super) const STAGING_ERROR: CfError =
    catalogue(170001, "StagingError", 400, "Staging error: %s");
pub(super) const NOT_STAGED: CfError =
    catalogue(170002, "NotStaged", 400, "App has not finished staging");
pub(super) const STAGING_IN_PROGRESS: CfError = catalogue(
    170017,
    "StagingInProgress",
    422,
    "Only one build can be STAGING at a time per application.",
);
pub(super) const INSTANCES_ERROR: CfError =
    catalogue(220001, "InstancesError", 400, "Instances error: %s");
pub(super) const STACK_NOT_FOUND: CfError = catalogue(
    250003,
    "StackNotFound",
    404,
    "The stack could not be found: %s",
);

const fn catalogue(code: u32, name: &'static str, status: u16, message: &'static str) -> CfError {
    CfError {
        code,
        name,
        status,
        message,
    }
}

impl CfError {
    pub(super) fn description(&self, detail: &str) -> String {
        self.message.replace("%s", detail)
    }

    /// The error body `{description, error_code, code}` (reference 13's key order).
    pub(super) fn details(&self, detail: &str) -> Value {
        json!({
            "description": self.description(detail),
            "error_code": format!("CF-{}", self.name),
            "code": self.code,
        })
    }

    pub(super) fn reply(&self, detail: &str) -> Reply {
        Reply::json(self.status, &self.details(detail))
    }

    /// The v3 body `{"errors": [{detail, title, code}]}` (the Cloud Controller's key order).
    pub(super) fn v3_body(&self, detail: &str) -> Value {
        json!({
            "errors": [{
                "detail": self.description(detail),
                "title": format!("CF-{}", self.name),
                "code": self.code,
            }]
        })
    }

    /// The error as v3 answers it.
    pub(super) fn v3(&self, detail: &str) -> Reply {
        Reply::json(self.status, &self.v3_body(detail))
    }
}

/// The Cloud Controller's body for `status` when nothing more specific is known, in v3's shape
/// for a v3 request.
pub(crate) fn cf_error_for_status(status: u16, v3: bool) -> Reply {
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("request failed");
    let (error, detail) = match status {
        status if status < 400 => return Reply::empty(status),
        400 => (&INVALID_REQUEST, ""),
        401 => (&INVALID_AUTH_TOKEN, ""),
        403 => (&NOT_AUTHORIZED, ""),
        404 => (&NOT_FOUND, ""),
        413 => (&BAD_REQUEST, "request body too large"),
        409 | 422 => (&UNPROCESSABLE_ENTITY, reason),
        429 => (&RATE_LIMIT_EXCEEDED, ""),
        502..=504 => (&SERVICE_UNAVAILABLE, reason),
        status if status >= 500 => (&SERVER_ERROR, ""),
        _ => (&BAD_REQUEST, reason),
    };
    let body = if v3 {
        error.v3_body(detail)
    } else {
        error.details(detail)
    };
    Reply::json(status, &body)
}

/// UAA's body for `status` when nothing more specific is known.
pub(crate) fn uaa_error_for_status(status: u16) -> Reply {
    let (error, description) = match status {
        status if status < 400 => return Reply::empty(status),
        400 => ("invalid_request", "The request is invalid"),
        401 => ("unauthorized", "Bad credentials"),
        403 => ("access_denied", "Access is denied"),
        404 => ("not_found", "Not Found"),
        413 => ("invalid_request", "request body too large"),
        429 => ("too_many_requests", "Too many requests"),
        status if status >= 500 => ("server_error", "Internal Server Error"),
        _ => ("invalid_request", "request failed"),
    };
    uaa_error(status, error, description)
}

pub(super) fn uaa_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn error_bodies_follow_the_catalogue() {
        assert_eq!(
            NOT_STAGED.details(""),
            json!({ "description": "App has not finished staging", "error_code": "CF-NotStaged", "code": 170002 })
        );
        assert_eq!(
            APP_NAME_TAKEN.details("web").to_string(),
            r#"{"description":"The app name is taken: web","error_code":"CF-AppNameTaken","code":100002}"#
        );
    }
}
