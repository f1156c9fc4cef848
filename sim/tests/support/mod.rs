//! What the simulator's own tests share: a simulator on a free loopback port.
#![allow(dead_code, reason = "each test file uses a different part")]

use berth_sim::{DEFAULT_TOKEN, SimHandle, SimOptions, serve};
use reqwest::{Client, Method, RequestBuilder};

/// A simulator serving on `127.0.0.1` from the test's runtime.
pub async fn serve_for_test(options: SimOptions) -> SimHandle {
    // reqwest is built without a default TLS provider; plain HTTP still wants one installed.
    // Err only means another test of this binary installed it already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve(listener, options).await.unwrap()
}

/// A simulator and a client for its Cloud Controller; each test file adds the requests it needs.
pub struct Cf {
    pub handle: SimHandle,
    pub client: Client,
}

impl Cf {
    pub async fn start(options: SimOptions) -> Self {
        Self {
            handle: serve_for_test(options).await,
            client: Client::builder().build().unwrap(),
        }
    }

    /// A GET under `/cf` without a token, as a client sends before it has logged in.
    pub fn anonymous(&self, path: &str) -> RequestBuilder {
        self.client.get(format!("{}{path}", self.handle.cf_url()))
    }

    /// A Cloud Controller request with the simulator's ready-made token; `path` is under `/cf`,
    /// or an absolute link the simulator gave.
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.handle.cf_url())
        };
        self.client
            .request(method, url)
            .header("authorization", format!("bearer {DEFAULT_TOKEN}"))
    }
}
