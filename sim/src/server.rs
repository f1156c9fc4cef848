//! Serving: on a listener of the caller's runtime, from a thread of its own, or until a signal
//! (`berth sim`); over plain HTTP/1 or TLS, one task per connection, each body read whole but a
//! package upload's, which is streamed to disk (spool.rs).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::cloudfoundry;
use crate::control::{CONTROL_PREFIX, control};
use crate::handle::SimHandle;
use crate::options::SimOptions;
use crate::platform::platform;
use crate::request::{Reply, Request, multipart_parts};
use crate::state::{Shared, State};
use crate::{spool, tls};

/// Request bodies larger than this are refused with 413 (and recorded without their body);
/// package uploads have their own, larger limit
/// ([`SimOptions::cf_max_package_bytes`](crate::SimOptions::cf_max_package_bytes)) and are
/// streamed to disk.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Serves the simulator on `listener` from a task on the current tokio runtime and returns at
/// once; the server lives as long as that runtime.
pub async fn serve(
    listener: tokio::net::TcpListener,
    options: SimOptions,
) -> std::io::Result<SimHandle> {
    serve_with(listener, options, false, None)
}

/// Like [`serve`], over TLS with the certificate chain and private key given as PEM (the key
/// PKCS#8, PKCS#1 or SEC1). [`SimHandle::url`] is then `https://127.0.0.1:PORT`: for a client
/// to verify the name, the certificate must name the IP address `127.0.0.1` (an IP SAN, e.g.
/// rcgen's `generate_simple_self_signed(["localhost", "127.0.0.1"])`).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    options: SimOptions,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> std::io::Result<SimHandle> {
    let acceptor = tls::acceptor(cert_pem, key_pem)?;
    serve_with(listener, options, false, Some(acceptor))
}

fn serve_with(
    listener: tokio::net::TcpListener,
    options: SimOptions,
    log_requests: bool,
    tls: Option<tls::Acceptor>,
) -> std::io::Result<SimHandle> {
    let mut addr = listener.local_addr()?;
    // A server bound to every interface is still reached over loopback by its users.
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    // The SSH endpoint listens beside the API, on the same address and a port of its own.
    let ssh_listener = std::net::TcpListener::bind((listener.local_addr()?.ip(), 0))?;
    ssh_listener.set_nonblocking(true)?;
    let mut ssh_addr = ssh_listener.local_addr()?;
    if ssh_addr.ip().is_unspecified() {
        ssh_addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let ssh_listener = tokio::net::TcpListener::from_std(ssh_listener)?;
    let shared = Arc::new(Shared {
        addr,
        log_requests,
        tls: tls.is_some(),
        state: Mutex::new(State::new(options)),
        ssh: crate::ssh::SshShared::new(ssh_addr)?,
    });
    tokio::spawn(accept_loop(listener, Arc::clone(&shared), tls));
    crate::ssh::serve(ssh_listener, Arc::clone(&shared));
    Ok(SimHandle { shared })
}

/// Binds `127.0.0.1:0` and serves from a thread with its own runtime, for callers without a
/// runtime (e.g. tests that run the berth binary as a child process). The server lives until
/// the process ends.
pub fn start_background(options: SimOptions) -> std::io::Result<SimHandle> {
    start_background_with(options, None)
}

/// [`start_background`] over TLS; see [`serve_tls`] for the certificate.
pub fn start_background_tls(
    options: SimOptions,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> std::io::Result<SimHandle> {
    let acceptor = tls::acceptor(cert_pem, key_pem)?;
    start_background_with(options, Some(acceptor))
}

fn start_background_with(
    options: SimOptions,
    tls: Option<tls::Acceptor>,
) -> std::io::Result<SimHandle> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("berth-sim".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let started = tokio::net::TcpListener::from_std(listener)
                    .and_then(|listener| serve_with(listener, options, false, tls));
                let running = started.is_ok();
                // The receiver only goes away if the caller has already given up.
                let _ = sender.send(started);
                if running {
                    std::future::pending::<()>().await;
                }
            });
        })?;
    receiver
        .recv()
        .map_err(|_| std::io::Error::other("simulator thread ended before it started"))?
}

/// Serves until Ctrl-C or SIGTERM, logging one line per request to stderr, for `berth sim`.
pub async fn run(listen: SocketAddr, options: SimOptions) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the simulator to {listen}"))?;
    let token = options.token.clone();
    let handle = serve_with(listener, options, true, None)?;
    eprintln!(
        "berth sim: mittwald API v2 at {} (send X-Access-Token: {token}; control API under {}/__sim/)",
        handle.url(),
        handle.url()
    );
    eprintln!(
        "berth sim: Cloud Foundry API v2 and v3 at {} (UAA at {}: user {} / {}, client {} / {}, or bearer {token}; space {} in org {})",
        handle.cf_url(),
        handle.uaa_url(),
        cloudfoundry::DEFAULT_CF_USER,
        cloudfoundry::DEFAULT_CF_PASSWORD,
        cloudfoundry::DEFAULT_CF_CLIENT,
        cloudfoundry::DEFAULT_CF_CLIENT_SECRET,
        cloudfoundry::DEFAULT_CF_SPACE_GUID,
        cloudfoundry::DEFAULT_CF_ORG_NAME,
    );
    eprintln!(
        "berth sim: mittwald SSH at {} (users from POST /v2/projects/{{id}}/ssh-users, login <user>@<installation short id>; host key: {}/__sim/ssh/known_hosts)",
        handle.ssh_addr(),
        handle.url()
    );
    shutdown_signal().await;
    eprintln!("berth sim: stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    tls: Option<tls::Acceptor>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Usually out of file descriptors: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, shared).await,
                Some(acceptor) => {
                    // A client that never finishes its handshake must not hold a task forever.
                    let handshake =
                        tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    if let Ok(Ok(stream)) = handshake.await {
                        serve_connection(stream, shared).await;
                    }
                }
            }
        });
    }
}

/// The service's error: drop the connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

async fn serve_connection<S>(stream: S, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { handle(&shared, request).await }
    });
    // A client hanging up mid-request is its own business; a dropped answer ends up here too.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn handle(
    shared: &Shared,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let (parts, body) = request.into_parts();
    let mut request = Request::from_parts(&parts, Bytes::new());
    if cloudfoundry::is_package_upload(&request) {
        // Up to a GiB: streamed to disk, not read whole (spool.rs).
        let limit = shared.lock().options.cf_max_package_bytes;
        let too_large = match spool::receive(&mut request, body, limit).await {
            Ok(received) => received == spool::Received::TooLarge,
            Err(error) => {
                let reply = Reply::raw(500, format!("storing the upload failed: {error}"))
                    .with_header("content-type", "text/plain");
                return Ok(to_response(reply));
            }
        };
        return answer(shared, &request, too_large).await;
    }
    let (body, too_large) = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => (collected.to_bytes(), false),
        Err(error) => {
            let too_large = error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            if !too_large {
                // The connection broke while sending the body; nobody is left to answer.
                return Ok(to_response(Reply::empty(400)));
            }
            (Bytes::new(), true)
        }
    };
    request.body = body;
    // Read here, where waiting is allowed: the platforms answer under the state's lock.
    request.parts = multipart_parts(request.header("content-type"), &request.body).await;
    if request.path.starts_with(CONTROL_PREFIX) || request.path == "/__sim" {
        return Ok(to_response(control(shared, &request, too_large)));
    }
    answer(shared, &request, too_large).await
}

/// A platform request's answer, once its body is read.
async fn answer(
    shared: &Shared,
    request: &Request,
    too_large: bool,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let outcome = platform(shared, request, too_large);
    if let Some(delay) = outcome.delay {
        tokio::time::sleep(delay).await;
    }
    if shared.log_requests {
        // Method, path and status only: headers carry the token.
        let status = if outcome.drop {
            "dropped".to_owned()
        } else {
            outcome.reply.status.to_string()
        };
        eprintln!("{} {} {status}", request.method, request.path);
    }
    if outcome.drop {
        return Err(Dropped);
    }
    Ok(to_response(outcome.reply))
}

fn to_response(reply: Reply) -> hyper::Response<Full<Bytes>> {
    let status = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = hyper::Response::builder().status(status);
    let has_content_type = reply
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    if reply.body.is_some() && !has_content_type {
        builder = builder.header("content-type", "application/json");
    }
    for (name, value) in &reply.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = reply.body.unwrap_or_default();
    builder.body(Full::new(body)).unwrap_or_else(|_| {
        // Only a header value with control characters gets here; answer without the headers.
        let mut response = hyper::Response::new(Full::new(Bytes::new()));
        *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        response
    })
}
