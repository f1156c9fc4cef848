//! The simulator over HTTPS: a rustls server configuration from PEM, with ring as its crypto
//! provider (what berth's client uses too), whatever provider the process installed.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub(crate) type Acceptor = tokio_rustls::TlsAcceptor;

/// How long a client may take to finish its TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS acceptor serving `cert_pem` (the server certificate first, then any intermediates)
/// with the private key in `key_pem`; HTTP/1.1 only, as the server speaks nothing else.
pub(crate) fn acceptor(cert_pem: &[u8], key_pem: &[u8]) -> io::Result<Acceptor> {
    let invalid = |what: &str, error: &dyn std::fmt::Display| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {error}"))
    };
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("reading the certificate PEM", &e))?;
    if chain.is_empty() {
        return Err(invalid(
            "reading the certificate PEM",
            &"no CERTIFICATE block",
        ));
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| invalid("reading the key PEM", &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("choosing TLS versions", &e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid("the certificate and key", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
