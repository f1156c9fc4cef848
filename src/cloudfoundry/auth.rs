//! Logging in: the platform's `/v2/info` (which also tells whether v2 is switched on, and where
//! UAA is), then a token from UAA unless one was given.

use super::v2_disabled_error;
use crate::{
    api::{
        self, Policy, call,
        cloudfoundry::Client,
        retry::{Credentials, CredentialsFuture},
    },
    ci,
    config::{CfAuth, Secret},
};
use anyhow::{Context, anyhow};
use serde::Deserialize;
use std::time::Duration;
use tokio::time::Instant;

/// UAA's `cf` client, which the cf CLI uses for the password grant: `cf:` in Basic form.
const CF_CLIENT_BASIC: &str = "Basic Y2Y6";

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

/// How long before its expiry a token from UAA is renewed: a minute, or a third of its life
/// when it lives less than three minutes.
const RENEW_AHEAD: Duration = Duration::from_secs(60);

/// A UAA token answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The token the run holds now.
struct Held {
    access: Secret,
    refresh: Option<Secret>,
    /// When to renew it; `None` when it is not known to expire.
    renew_at: Option<Instant>,
}

/// The run's access token: the given one (`BERTH_API_TOKEN`, never renewed), or one from UAA,
/// renewed before it expires (with the refresh token UAA gave, else by logging in again) and
/// once when the Cloud Controller refuses it.
pub struct TokenSource {
    http: reqwest::Client,
    policy: Policy,
    auth: CfAuth,
    endpoint: Option<String>,
    held: tokio::sync::Mutex<Held>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSource(***)")
    }
}

impl TokenSource {
    /// Logs in (unless a token was given) and holds the token. `http` is a client without a
    /// token; `policy` carries no credentials (UAA is asked with none).
    pub async fn login(
        http: reqwest::Client,
        policy: Policy,
        auth: &CfAuth,
        endpoint: Option<String>,
    ) -> anyhow::Result<Self> {
        let source = Self {
            http,
            policy,
            auth: auth.clone(),
            endpoint,
            held: tokio::sync::Mutex::new(Held {
                access: Secret::new(""),
                refresh: None,
                renew_at: None,
            }),
        };
        let held = match auth {
            CfAuth::Token(token) => Held {
                access: token.clone(),
                refresh: None,
                renew_at: None,
            },
            _ => source.grant(None).await?,
        };
        *source.held.lock().await = held;
        Ok(source)
    }

    /// A new token from UAA: the refresh grant when `refresh` is given, else the configured one.
    async fn grant(&self, refresh: Option<&Secret>) -> anyhow::Result<Held> {
        let (form, who): (Vec<(&str, &str)>, String) = match (&self.auth, refresh) {
            (CfAuth::Token(_), _) => return Err(anyhow!(given_token_refused())),
            (CfAuth::Password { username, .. }, Some(refresh)) => (
                vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.expose()),
                ],
                format!("as {username}, refreshing the token"),
            ),
            (CfAuth::Password { username, password }, None) => (
                vec![
                    ("grant_type", "password"),
                    ("username", username),
                    ("password", password.expose()),
                ],
                format!("as {username}"),
            ),
            (CfAuth::Client { id, secret }, _) => (
                vec![
                    ("grant_type", "client_credentials"),
                    ("client_id", id),
                    ("client_secret", secret.expose()),
                ],
                format!("as client {id}"),
            ),
        };
        let endpoint = self
            .endpoint
            .as_deref()
            .ok_or_else(|| anyhow!("/v2/info names no token_endpoint to log in at"))?;
        let url = format!("{}/oauth/token", endpoint.trim_end_matches('/'));
        let mut request = self
            .http
            .post(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form);
        if matches!(self.auth, CfAuth::Password { .. }) {
            request = request.header(reqwest::header::AUTHORIZATION, CF_CLIENT_BASIC);
        }
        let context = || format!("logging in to UAA at {url} {who}");
        let response = api::send_plain(&self.http, request.build()?, &self.policy, "UAA")
            .await
            .with_context(context)?;
        let body: TokenResponse = response
            .json()
            .await
            .context("UAA answered without an access_token")
            .with_context(context)?;
        let access = Secret::new(body.access_token);
        ci::mask(&access);
        let refresh = body
            .refresh_token
            .filter(|r| !r.is_empty())
            .map(Secret::new);
        if let Some(refresh) = &refresh {
            ci::mask(refresh);
        }
        let renew_at = body.expires_in.filter(|secs| *secs > 0).map(|secs| {
            let life = Duration::from_secs(secs);
            Instant::now() + life - RENEW_AHEAD.min(life / 3)
        });
        Ok(Held {
            access,
            refresh,
            renew_at,
        })
    }

    /// Renews the held token: the refresh grant first, logging in again when that fails.
    async fn renew_held(&self, held: &mut Held) -> anyhow::Result<()> {
        let renewed = match &held.refresh {
            Some(refresh) => match self.grant(Some(refresh)).await {
                Ok(new) => Ok(new),
                Err(e) => {
                    ci::info(format_args!(
                        "refreshing the token failed ({e:#}); logging in again"
                    ));
                    self.grant(None).await
                }
            },
            None => self.grant(None).await,
        }?;
        *held = renewed;
        Ok(())
    }
}

impl Credentials for TokenSource {
    fn header(
        &self,
    ) -> CredentialsFuture<'_, (reqwest::header::HeaderName, reqwest::header::HeaderValue)> {
        Box::pin(async move {
            let mut held = self.held.lock().await;
            if held.renew_at.is_some_and(|at| Instant::now() >= at) {
                ci::info("the UAA token is about to expire; renewing it");
                if let Err(e) = self.renew_held(&mut held).await {
                    // Sent as it is: it may still be valid, and a 401 renews once more.
                    ci::warn(format_args!("renewing the UAA token failed: {e:#}"));
                    held.renew_at = None;
                }
            }
            (reqwest::header::AUTHORIZATION, bearer(&held.access))
        })
    }

    fn renew(&self) -> CredentialsFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if matches!(self.auth, CfAuth::Token(_)) {
                return Err(given_token_refused());
            }
            let mut held = self.held.lock().await;
            self.renew_held(&mut held)
                .await
                .map_err(|e| format!("the Cloud Controller refused the UAA token, and getting a new one failed: {e:#}"))
        })
    }
}

fn bearer(token: &Secret) -> reqwest::header::HeaderValue {
    reqwest::header::HeaderValue::from_str(&format!("bearer {}", token.expose()))
        .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("bearer -"))
}

/// What to tell the user when the Cloud Controller refuses the token of `BERTH_API_TOKEN`.
pub fn given_token_refused() -> String {
    "the Cloud Controller refused the token given in BERTH_API_TOKEN (401): it has expired or \
     was revoked, and berth cannot renew a token it was given; pass a fresh one (cf oauth-token), \
     or give BERTH_CF_USERNAME + BERTH_CF_PASSWORD or BERTH_CF_CLIENT_ID + \
     BERTH_CF_CLIENT_SECRET so that berth logs in and renews the token itself"
        .to_string()
}
