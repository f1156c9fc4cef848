//! berth against the simulator over HTTPS, with a certificate from a private CA for
//! `localhost` and `127.0.0.1`: trusted through BERTH_CA_CERT, refused without it.

mod support;

use berth_sim::{self as sim, SimHandle, SimOptions};
use std::time::Duration;
use support::*;

/// A CA's PEM, and a server chain and key it signed for `localhost` and `127.0.0.1`.
fn certificates() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "berth fidelity CA");
    let ca_cert = ca.self_signed(&ca_key).expect("the CA certificate");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().expect("a server key");
    let server = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("server parameters")
        .signed_by(&key, &issuer)
        .expect("the server certificate");
    (ca_cert.pem(), server.pem(), key.serialize_pem())
}

fn https_sim(chain: &str, key: &str) -> SimHandle {
    let options = SimOptions {
        token: TOKEN.into(),
        time_to_ready: Duration::from_millis(200),
        consistency_delay: Duration::from_millis(200),
        cf_users: vec![(CF_USER.into(), CF_PASSWORD.into())],
        cf_staging_time: Duration::from_millis(200),
        cf_startup_time: Duration::from_millis(100),
        cf_job_time: Duration::from_millis(100),
        ..SimOptions::default()
    };
    sim::start_background_tls(options, chain.as_bytes(), key.as_bytes()).expect("an HTTPS sim")
}

#[test]
fn mittwald_and_cloud_foundry_over_https_with_a_private_ca() {
    let (ca, chain, key) = certificates();
    let sim = https_sim(&chain, &key);
    assert!(sim.url().starts_with("https://127.0.0.1:"), "{}", sim.url());
    let dir = tempfile::tempdir().expect("a temp dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).expect("writing the CA");
    let ca_file = ca_file.to_string_lossy().into_owned();

    let mut env = mittwald_env(&sim, "over https");
    set(&mut env, "BERTH_CA_CERT", &ca_file);
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out("status"), "ready");

    // Cloud Foundry discovers UAA from /v2/info: its URL must be https too.
    let mut env = cf_env(&sim, "over-https");
    set(&mut env, "BERTH_CA_CERT", &ca_file);
    let run = support::run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        sim.requests().iter().any(|r| r.path == "/uaa/oauth/token"),
        "logged in over https"
    );
}

#[test]
fn an_untrusted_certificate_fails_at_once_and_names_berth_ca_cert() {
    let (_, chain, key) = certificates();
    let sim = https_sim(&chain, &key);
    let started = std::time::Instant::now();
    let run = run(&mittwald_env(&sim, "untrusted"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("BERTH_CA_CERT"), "{}", run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "not retried for long"
    );
    assert!(sim.requests().is_empty(), "nothing got through");
}

#[test]
fn skipping_verification_works_and_warns_every_run() {
    let (_, chain, key) = certificates();
    let sim = https_sim(&chain, &key);
    let mut env = mittwald_env(&sim, "insecure");
    set(&mut env, "BERTH_INSECURE_SKIP_TLS_VERIFY", "true");
    let run = run(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("warning: BERTH_INSECURE_SKIP_TLS_VERIFY is set"),
        "{}",
        run.stderr
    );
}
