//! The `berth` command: subcommands, the one JSON line on stdout, exit codes.

use berth::{
    Failure, ci,
    config::{Config, INPUTS, Provider, Sinks},
    outputs::{Outputs, Progress, Status},
    sim::{self, SimOptions},
};
use std::{net::SocketAddr, process::ExitCode, time::Duration};

const USAGE: &str = "usage: berth [--help | --version | demo | sim [--listen ADDR]]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] => ExitCode::from(block_on(job())),
        ["--help" | "-h" | "help"] => {
            print!("{}", help());
            ExitCode::SUCCESS
        }
        ["--version" | "-V" | "version"] => {
            println!("{}", version());
            ExitCode::SUCCESS
        }
        ["demo"] => ExitCode::from(block_on(demo())),
        ["sim", rest @ ..] => match listen_address(rest) {
            Ok(addr) => match block_on(sim::run(addr, SimOptions::default())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    ci::error(format_args!("{e:#}"));
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                ci::error(format_args!("{e}\n{USAGE}"));
                ExitCode::from(2)
            }
        },
        _ => {
            ci::error(format_args!("unknown arguments {args:?}\n{USAGE}"));
            ExitCode::from(2)
        }
    }
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    // One thread: berth waits on the network, it does not compute.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("starting the async runtime")
        .block_on(future)
}

fn version() -> String {
    format!(
        "berth {} (mittwald API {} from spec/mittwald-v2.json, Cloud Foundry API {} from spec/cloudfoundry-v2.json)",
        env!("CARGO_PKG_VERSION"),
        berth::api::mittwald::spec_version(),
        berth::api::cloudfoundry::spec_version(),
    )
}

fn help() -> String {
    let mut text = format!(
        "berth {}: install or create an app on a platform-as-a-service from one CI step, and wait until it is ready.\n\n\
         {USAGE}\n\n\
         berth           read the inputs below from the environment, do the job, print one JSON line of outputs\n\
         berth demo      run the job against the built-in simulator\n\
         berth sim       serve the simulator (mittwald v2, Cloud Foundry v2 + UAA) until stopped; --listen ADDR (default 127.0.0.1:8080)\n\n\
         Inputs (environment variables; an empty value counts as not set):\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut group = "";
    for input in INPUTS {
        if input.group != group {
            group = input.group;
            text.push_str(&format!("\n  {group}:\n"));
        }
        text.push_str(&format!(
            "    {:<32} {}\n    {:<32} default: {}\n",
            input.var, input.meaning, "", input.default
        ));
    }
    text.push_str(
        "\nOutputs go to stdout (one JSON line), $GITHUB_OUTPUT, BERTH_DOTENV and $GITHUB_STEP_SUMMARY.\n\
         Exit codes: 0 done, 1 the platform refused or the operation failed, 2 invalid configuration,\n\
         3 timed out waiting, 130/143 interrupted.\n",
    );
    text
}

fn listen_address(args: &[&str]) -> Result<SocketAddr, String> {
    let text = match args {
        [] => "127.0.0.1:8080",
        ["--listen", addr] => addr,
        [flag] if flag.starts_with("--listen=") => &flag["--listen=".len()..],
        _ => return Err(format!("unknown sim arguments {args:?}")),
    };
    text.parse()
        .map_err(|e| format!("--listen {text:?} is not an address like 127.0.0.1:8080 ({e})"))
}

/// `berth`: the job as CI runs it.
async fn job() -> u8 {
    ci::mask_env_secrets();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(errors) => {
            // Still tell the next step what happened, wherever it reads.
            let vars: Vec<(String, String)> = berth::config::env_vars().collect();
            let outputs = Outputs {
                provider: std::env::var("BERTH_PROVIDER").unwrap_or_default(),
                status: Status::Failed,
                error: Some(errors.to_string()),
                ..Outputs::default()
            };
            return report(
                outputs,
                &Sinks::from_vars(vars),
                Err(Failure::Config(errors)),
            );
        }
    };
    execute(&config).await
}

/// Runs a validated config to the end, reports, and answers the exit code.
async fn execute(config: &Config) -> u8 {
    for warning in &config.warnings {
        ci::warn(warning);
    }
    let progress = Progress::new(Outputs {
        provider: config.provider().as_str().into(),
        ..Outputs::default()
    });
    let result = tokio::select! {
        result = berth::run(config, &progress) => result.map(|()| 0),
        code = interrupted() => {
            ci::error(format_args!("interrupted; the outputs hold what was done so far"));
            progress.update(|o| o.error = Some("interrupted".into()));
            Ok(code)
        }
    };
    report(progress.snapshot(), &config.sinks, result)
}

/// Writes the outputs everywhere and picks the exit code.
fn report(mut outputs: Outputs, sinks: &Sinks, result: Result<u8, Failure>) -> u8 {
    let code = match result {
        Ok(code) => code,
        Err(failure) => {
            ci::failure(&failure);
            outputs.status = match failure {
                Failure::Timeout(_) => Status::Pending,
                _ => Status::Failed,
            };
            outputs.error = Some(failure.to_string());
            failure.exit_code()
        }
    };
    println!("{}", outputs.json_line());
    match outputs.write_files(sinks) {
        Ok(()) => code,
        Err(e) => {
            ci::error(format_args!("{e:#}"));
            if code == 0 { 1 } else { code }
        }
    }
}

/// Resolves with the exit code of CONTRACT.md when SIGINT (130) or SIGTERM (143) arrives.
async fn interrupted() -> u8 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => 130,
            Err(_) => std::future::pending().await,
        }
    }
}

/// `berth demo`: the simulator on a free loopback port, then each provider's job twice against
/// it: the first run installs or creates, the second finds it and changes nothing.
async fn demo() -> u8 {
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
            return 1;
        }
    };
    ci::info(format_args!("demo: simulator at {}", sim.url()));

    let mittwald = [
        ("BERTH_PROVIDER", Provider::Mittwald.as_str()),
        ("BERTH_API_URL", &sim.url()),
        ("BERTH_API_TOKEN", &token),
        ("BERTH_PROJECT_ID", "p-demo42"),
        ("BERTH_APP", "node"),
        ("BERTH_DESCRIPTION", "berth demo"),
        ("BERTH_ENTRYPOINT", "node server.js"),
    ];
    let code = demo_runs(&sim, "mittwald", &mittwald).await;
    if code != 0 {
        return code;
    }

    // A tiny app to upload as the bits, removed afterwards.
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
        return 1;
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
    let code = demo_runs(&sim, "Cloud Foundry", &cloudfoundry).await;
    let _ = std::fs::remove_dir_all(&app);
    code
}

/// Runs one provider's job twice and says how many requests each run made.
async fn demo_runs(sim: &sim::SimHandle, provider: &str, vars: &[(&str, &str)]) -> u8 {
    berth::redact::register_from_env(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    });
    let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let config = match Config::from_vars(vars) {
        Ok(c) => c,
        Err(e) => {
            ci::error(&e);
            return 2;
        }
    };
    for (n, title) in [
        (1, "first run"),
        (2, "run again: reuses what the first run made"),
    ] {
        ci::info(format_args!("demo: {provider}, {title}"));
        let before = sim.requests().len();
        let code = execute(&config).await;
        ci::info(format_args!(
            "demo: {provider} run {n} made {} requests",
            sim.requests().len() - before
        ));
        if code != 0 {
            return code;
        }
    }
    0
}
