//! Logging in: the platform's `/v2/info` (which also tells whether v2 is switched on, and where
//! UAA is), then a token from UAA unless one was given.

use super::v2_disabled_error;
use crate::{
    api::{ApiError, Policy, call, cloudfoundry::Client, retry},
    ci,
    config::{CfAuth, Secret},
};
use anyhow::{Context, anyhow};
use serde::Deserialize;

/// UAA's `cf` client, which the cf CLI uses for the password grant: `cf:` in Basic form.
const CF_CLIENT_BASIC: &str = "Basic Y2Y6";

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

/// Reads `/v2/info`: refuses a foundation with v2 switched off and answers the token endpoint.
pub async fn token_endpoint(client: &Client) -> anyhow::Result<Option<String>> {
    let info = call(client.get_info().send()).await.map_err(|e| {
        if super::is_v2_disabled(&e) {
            v2_disabled_error()
        } else {
            anyhow::Error::new(e).context("reading /v2/info")
        }
    })?;
    let disabled_text = [&info.support, &info.description]
        .into_iter()
        .flatten()
        .map(|t| t.to_ascii_lowercase())
        .any(|t| t.contains("v2") && t.contains("disabled"));
    if info.api_version.as_deref().is_some_and(str::is_empty) || disabled_text {
        return Err(v2_disabled_error());
    }
    Ok(info.token_endpoint.filter(|e| !e.is_empty()))
}

/// The access token: the given one, or one from UAA.
pub async fn token(
    http: &reqwest::Client,
    policy: &Policy,
    auth: &CfAuth,
    endpoint: Option<&str>,
) -> anyhow::Result<Secret> {
    let (form, who): (Vec<(&str, &str)>, String) = match auth {
        CfAuth::Token(token) => return Ok(token.clone()),
        CfAuth::Password { username, password } => (
            vec![
                ("grant_type", "password"),
                ("username", username),
                ("password", password.expose()),
            ],
            format!("as {username}"),
        ),
        CfAuth::Client { id, secret } => (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret.expose()),
            ],
            format!("as client {id}"),
        ),
    };
    let endpoint =
        endpoint.ok_or_else(|| anyhow!("/v2/info names no token_endpoint to log in at"))?;
    let url = format!("{}/oauth/token", endpoint.trim_end_matches('/'));
    let mut request = http
        .post(&url)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form);
    if matches!(auth, CfAuth::Password { .. }) {
        request = request.header(reqwest::header::AUTHORIZATION, CF_CLIENT_BASIC);
    }
    let context = || format!("logging in to UAA at {url} {who}");
    let response = async { retry::send(http, request.build()?, policy).await }
        .await
        .map_err(|e: reqwest::Error| ApiError {
            status: None,
            kind: None,
            message: format!("could not reach UAA: {e}"),
        })
        .with_context(context)?;
    if let Some(message) = retry::synthetic_error(&response) {
        return Err(anyhow!(message).context(context()));
    }
    if !response.status().is_success() {
        return Err(anyhow::Error::new(ApiError::from_response(response).await).context(context()));
    }
    let body: TokenResponse = response
        .json()
        .await
        .context("UAA answered without an access_token")
        .with_context(context)?;
    let token = Secret::new(body.access_token);
    ci::mask(&token);
    Ok(token)
}
