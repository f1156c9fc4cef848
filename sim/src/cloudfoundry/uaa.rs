//! UAA: tokens from the password, client-credentials and refresh-token grants, and whether the
//! Cloud Controller accepts a bearer token.

use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
use serde_json::{Map, Value, json};

use super::errors::{CfError, INVALID_AUTH_TOKEN, NOT_AUTHENTICATED, uaa_error};
use super::{CF_CLI_CLIENT, CloudFoundry};
use crate::options::SimOptions;
use crate::request::{Reply, Request, parse_query};

/// Issued tokens beyond this many push out the oldest, so a long `berth sim` stays bounded.
const MAX_TOKENS: usize = 10_000;

const PASSWORD_GRANT_SCOPE: &str =
    "scim.userids openid cloud_controller.read password.write cloud_controller.write";
/// Who [`SimOptions::token`] stands for, e.g. in a build's `created_by`.
const STATIC_TOKEN_SUBJECT: &str = "berth-sim";

const CLIENT_GRANT_SCOPE: &str =
    "cloud_controller.admin cloud_controller.read cloud_controller.write uaa.none";

/// A token UAA handed out.
pub(super) struct Issued {
    access: String,
    refresh: Option<String>,
    /// The user, or the client for client-credentials tokens.
    subject: String,
    /// After this the Cloud Controller refuses it.
    expires_at: Instant,
}

impl CloudFoundry {
    pub(super) fn uaa(
        &mut self,
        options: &SimOptions,
        request: &Request,
        segments: &[&str],
    ) -> Reply {
        if segments != ["oauth", "token"] {
            return uaa_error(404, "not_found", "Not Found");
        }
        if request.method != "POST" {
            return uaa_error(
                405,
                "method_not_allowed",
                &format!("Request method '{}' is not supported", request.method),
            );
        }
        let form = parse_query(&String::from_utf8_lossy(&request.body));
        let field = |key: &str| {
            form.iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let client =
            match authenticate_client(options, request, field("client_id"), field("client_secret"))
            {
                Ok(client) => client,
                Err(reply) => return reply,
            };
        let (subject, refresh, scope) = match field("grant_type") {
            None | Some("") => return uaa_error(400, "invalid_request", "Missing grant type"),
            Some("password") => {
                let username = field("username").unwrap_or_default();
                let password = field("password").unwrap_or_default();
                let known = options
                    .cf_users
                    .iter()
                    .any(|(user, secret)| user == username && secret == password);
                if !known {
                    return uaa_error(401, "unauthorized", "Bad credentials");
                }
                (username.to_owned(), true, PASSWORD_GRANT_SCOPE)
            }
            Some("client_credentials") => {
                if client == CF_CLI_CLIENT {
                    return uaa_error(
                        401,
                        "invalid_client",
                        "Unauthorized grant type: client_credentials",
                    );
                }
                (client, false, CLIENT_GRANT_SCOPE)
            }
            Some("refresh_token") => {
                let given = field("refresh_token").unwrap_or_default();
                let Some(issued) = self
                    .tokens
                    .iter()
                    .find(|issued| issued.refresh.as_deref() == Some(given))
                else {
                    return uaa_error(
                        401,
                        "invalid_token",
                        &format!("Invalid refresh token: {given}"),
                    );
                };
                (issued.subject.clone(), true, PASSWORD_GRANT_SCOPE)
            }
            Some(other) => {
                return uaa_error(
                    400,
                    "unsupported_grant_type",
                    &format!("Unsupported grant type: {other}"),
                );
            }
        };
        let access = uuid::Uuid::new_v4().simple().to_string();
        let refresh = refresh.then(|| format!("{access}-r"));
        let mut body = Map::new();
        body.insert("access_token".into(), json!(access));
        body.insert("token_type".into(), json!("bearer"));
        if let Some(refresh) = &refresh {
            body.insert("refresh_token".into(), json!(refresh));
        }
        body.insert(
            "expires_in".into(),
            json!(options.cf_token_lifetime.as_secs()),
        );
        body.insert("scope".into(), json!(scope));
        body.insert("jti".into(), json!(access));
        if self.tokens.len() >= MAX_TOKENS {
            self.tokens.pop_front();
        }
        self.tokens.push_back(Issued {
            access,
            refresh,
            subject,
            expires_at: Instant::now() + options.cf_token_lifetime,
        });
        Reply::json(200, &Value::Object(body))
            .with_header("cache-control", "no-store")
            .with_header("pragma", "no-cache")
    }

    /// Who the bearer token of `request` stands for, or why the Cloud Controller refuses it:
    /// none (`NotAuthenticated`), or a wrong or expired one (`InvalidAuthToken`).
    pub(super) fn authenticate(
        &self,
        options: &SimOptions,
        request: &Request,
    ) -> Result<String, &'static CfError> {
        let Some(header) = request.header("authorization") else {
            return Err(&NOT_AUTHENTICATED);
        };
        let token = header
            .trim()
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let Some(token) = token else {
            return Err(&INVALID_AUTH_TOKEN);
        };
        if token == options.token {
            return Ok(STATIC_TOKEN_SUBJECT.to_owned());
        }
        self.tokens
            .iter()
            .find(|issued| issued.access == token && Instant::now() < issued.expires_at)
            .map(|issued| issued.subject.clone())
            .ok_or(&INVALID_AUTH_TOKEN)
    }

    /// [`Self::authenticate`] with v2's error body.
    pub(super) fn authorize(&self, options: &SimOptions, request: &Request) -> Result<(), Reply> {
        self.authenticate(options, request)
            .map(drop)
            .map_err(|error| error.reply(""))
    }
}

/// Who is asking for a token: the client from the Basic header or the form. UAA always knows
/// the cf CLI's client `cf` with its empty secret.
fn authenticate_client(
    options: &SimOptions,
    request: &Request,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<String, Reply> {
    let basic = request.header("authorization").and_then(|value| {
        let (scheme, encoded) = value.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("basic")
            // Standard base64 with the padding optional, as UAA's (Java's) decoder reads it.
            .then(|| STANDARD_PAD_INDIFFERENT.decode(encoded.trim()).ok())
    });
    let (id, secret) = match (basic, form_id) {
        (Some(decoded), _) => {
            let decoded = decoded.and_then(|bytes| String::from_utf8(bytes).ok());
            let Some((id, secret)) = decoded.as_deref().and_then(|text| text.split_once(':'))
            else {
                return Err(client_error("Bad credentials"));
            };
            (id.to_owned(), secret.to_owned())
        }
        (None, Some(id)) => (id.to_owned(), form_secret.unwrap_or_default().to_owned()),
        (None, None) => {
            return Err(client_error(
                "Full authentication is required to access this resource",
            ));
        }
    };
    let known = (id == CF_CLI_CLIENT && secret.is_empty())
        || options
            .cf_clients
            .iter()
            .any(|(client, client_secret)| *client == id && *client_secret == secret);
    if known {
        Ok(id)
    } else {
        Err(client_error("Bad credentials"))
    }
}

/// UAA's answer to a client it cannot authenticate.
fn client_error(description: &str) -> Reply {
    uaa_error(401, "unauthorized", description).with_header(
        "www-authenticate",
        format!(
            "Basic realm=\"UAA/client\", error=\"unauthorized\", error_description=\"{description}\""
        ),
    )
}
