//! The one HTTP client of a run: timeouts, a user agent naming berth, TLS options. (The token
//! header, marked sensitive so it never shows in debug output, is set per request by
//! `api::retry::send`.)

use crate::config::Common;
use anyhow::{Context, Result};
use std::{sync::Once, time::Duration};

/// Connecting must succeed within this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// One request, response body included, must finish within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The server may stay silent this long between two reads.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);
/// `berth/0.1.0`.
pub const USER_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));

/// Redirects are followed within the same scheme, host and port only: the token header must
/// never be sent to another host (reqwest strips `Authorization` across hosts, but not
/// mittwald's `X-Access-Token`). A redirect elsewhere is answered to berth as it is, which then
/// reports it as an error.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(reqwest::Url::origin);
        if attempt.previous().len() > 5 {
            attempt.error("more than 5 redirects")
        } else if first == Some(attempt.url().origin()) {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// rustls needs a process-wide crypto provider; berth ships ring's.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err only means another provider is installed already, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Builds the client. The token is not part of it: it goes on each request in
/// [`crate::api::retry::send`], so that it can be renewed during the run.
pub fn client(common: &Common) -> Result<reqwest::Client> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .redirect(same_origin_redirects());
    if let Some(pem) = &common.ca_cert {
        for cert in reqwest::Certificate::from_pem_bundle(pem).context("reading BERTH_CA_CERT")? {
            builder = builder.add_root_certificate(cert);
        }
    }
    if common.insecure_skip_tls_verify {
        crate::ci::warn(
            "BERTH_INSECURE_SKIP_TLS_VERIFY is set: the server's certificate is not checked",
        );
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder.build().context("setting up the HTTP client")
}
