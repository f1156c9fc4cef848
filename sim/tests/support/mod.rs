//! What the simulator's own tests share: a simulator on a free loopback port.

use berth_sim::{SimHandle, SimOptions, serve};

/// A simulator serving on `127.0.0.1` from the test's runtime.
pub async fn serve_for_test(options: SimOptions) -> SimHandle {
    // reqwest is built without a default TLS provider; plain HTTP still wants one installed.
    // Err only means another test of this binary installed it already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve(listener, options).await.unwrap()
}
