//! `berth demo`: the built-in simulator on a free loopback port, and each provider's job run
//! against it twice, printing what a real run prints: mittwald (with a code deploy over SSH),
//! Cloud Foundry through v3 (as
//! `BERTH_CF_API=auto` picks it), and Cloud Foundry through v2.

use crate::{
    ci,
    config::{Config, Provider},
    job::{Exit, execute},
};
use berth_sim::{self as sim, SimOptions};
use std::time::Duration;

/// `berth demo`: the simulator on a free loopback port, then each provider's job twice against
/// it: the first run installs or creates, the second finds it and changes nothing. Cloud Foundry
/// runs through v3, then once more through v2 for an app of its own.
pub async fn run() -> Exit {
    let options = SimOptions {
        time_to_ready: Duration::from_secs(3),
        ..SimOptions::default()
    };
    let token = options.token.clone();
    let started = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => sim::serve(listener, options).await,
        Err(e) => Err(e),
    };
    let sim = match started {
        Ok(sim) => sim,
        Err(e) => {
            ci::error(format_args!("starting the simulator: {e}"));
            return Exit::Failed;
        }
    };
    ci::info(format_args!("demo: simulator at {}", sim.url()));

    // A tiny Node.js app: deployed into the mittwald installation over SSH, and uploaded as
    // the Cloud Foundry app's bits; removed afterwards.
    let app = std::env::temp_dir().join(format!("berth-demo-{}", std::process::id()));
    let written = std::fs::create_dir_all(&app).and_then(|()| {
        std::fs::write(
            app.join("package.json"),
            r#"{"scripts":{"start":"node server.js"}}"#,
        )?;
        std::fs::write(
            app.join("server.js"),
            "require('http').createServer((q, s) => s.end('hi')).listen(process.env.PORT)\n",
        )
    });
    if let Err(e) = written {
        ci::error(format_args!(
            "writing the demo app to {}: {e}",
            app.display()
        ));
        return Exit::Failed;
    }

    let ssh_host = sim.ssh_addr().to_string();
    let known_hosts = sim.ssh_known_hosts();
    let mittwald = [
        ("BERTH_PROVIDER", Provider::Mittwald.as_str()),
        ("BERTH_API_URL", &sim.url()),
        ("BERTH_API_TOKEN", &token),
        ("BERTH_PROJECT_ID", "p-demo42"),
        ("BERTH_APP", "node"),
        ("BERTH_DESCRIPTION", "berth demo"),
        ("BERTH_ENTRYPOINT", "node server.js"),
        // The code, deployed over SSH into the simulator's endpoint, whose host key is the
        // one trusted here (a real run checks mittwald's published keys).
        ("BERTH_PATH", &app.to_string_lossy()),
        ("BERTH_SSH_HOST", &ssh_host),
        ("BERTH_SSH_KNOWN_HOSTS", &known_hosts),
        // `npm ci --omit=dev` in a real pipeline; the simulator's host may have no npm.
        ("BERTH_INSTALL_COMMAND", "ls -l"),
    ];
    let exit = demo_runs(&sim, "mittwald", &mittwald).await;
    if exit != Exit::Ok {
        let _ = std::fs::remove_dir_all(&app);
        return exit;
    }

    let cloudfoundry = [
        ("BERTH_PROVIDER", Provider::CloudFoundry.as_str()),
        ("BERTH_API_URL", &sim.cf_url()),
        ("BERTH_CF_USERNAME", sim::cloudfoundry::DEFAULT_CF_USER),
        ("BERTH_CF_PASSWORD", sim::cloudfoundry::DEFAULT_CF_PASSWORD),
        ("BERTH_SPACE_GUID", "6f0a3d1e-5b7c-4e2a-9f10-2d3c4b5a6e7f"),
        ("BERTH_NAME", "berth-demo"),
        ("BERTH_MEMORY", "256M"),
        ("BERTH_STATE", "STARTED"),
        ("BERTH_PATH", &app.to_string_lossy()),
    ];
    let mut exit = demo_runs(&sim, "Cloud Foundry (v3)", &cloudfoundry).await;
    if exit == Exit::Ok {
        let mut v2 = cloudfoundry.to_vec();
        v2.retain(|(k, _)| *k != "BERTH_NAME");
        v2.extend([("BERTH_NAME", "berth-demo-v2"), ("BERTH_CF_API", "v2")]);
        exit = demo_runs(&sim, "Cloud Foundry (v2)", &v2).await;
    }
    let _ = std::fs::remove_dir_all(&app);
    exit
}

/// Runs one provider's job twice and says how many requests each run made.
async fn demo_runs(sim: &sim::SimHandle, provider: &str, vars: &[(&str, &str)]) -> Exit {
    crate::redact::register_from_env(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    });
    let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let config = match Config::from_vars(vars) {
        Ok(c) => c,
        Err(e) => {
            ci::error(&e);
            return Exit::Config;
        }
    };
    for (n, title) in [
        (1, "first run"),
        (2, "run again: reuses what the first run made"),
    ] {
        ci::info(format_args!("demo: {provider}, {title}"));
        let before = sim.requests().len();
        let exit = execute(&config).await;
        let made = &sim.requests()[before..];
        // Logging in at UAA is a POST that changes nothing on the platform.
        let writes = made
            .iter()
            .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"))
            .filter(|r| !r.path.starts_with(sim::cloudfoundry::UAA_PREFIX))
            .count();
        ci::info(format_args!(
            "demo: {provider} run {n} made {} requests, {writes} of them changes",
            made.len()
        ));
        if exit != Exit::Ok {
            return exit;
        }
    }
    Exit::Ok
}
