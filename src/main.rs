//! The `berth` command: arguments to subcommand; the job itself is [`berth::job`], the demo
//! [`berth::demo`].

use berth::{ci, config::INPUTS, job::Exit};
use std::process::ExitCode;

#[cfg(feature = "sim")]
const USAGE: &str = "usage: berth [--help | --version | demo | sim [--listen ADDR]]";
#[cfg(not(feature = "sim"))]
const USAGE: &str = "usage: berth [--help | --version]";

/// The subcommands under `--help`, after the job itself.
#[cfg(feature = "sim")]
const SUBCOMMANDS: &str = "\
         berth demo      run the job against the built-in simulator\n\
         berth sim       serve the simulator (mittwald v2, Cloud Foundry v2 + UAA) until stopped; --listen ADDR (default 127.0.0.1:8080)\n";
#[cfg(not(feature = "sim"))]
const SUBCOMMANDS: &str = "";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] => block_on(berth::job::main()).into(),
        ["--help" | "-h" | "help"] => {
            print!("{}", help());
            ExitCode::SUCCESS
        }
        ["--version" | "-V" | "version"] => {
            println!("{}", version());
            ExitCode::SUCCESS
        }
        #[cfg(feature = "sim")]
        ["demo"] => block_on(berth::demo::run()).into(),
        #[cfg(feature = "sim")]
        ["sim", rest @ ..] => simulator(rest),
        #[cfg(not(feature = "sim"))]
        [command @ ("demo" | "sim"), ..] => {
            ci::error(format_args!(
                "berth was built without the simulator (cargo feature `sim`): `berth {command}` is not available\n{USAGE}"
            ));
            Exit::Config.into()
        }
        _ => {
            ci::error(format_args!("unknown arguments {args:?}\n{USAGE}"));
            Exit::Config.into()
        }
    }
}

/// `berth sim [--listen ADDR]`: serves the simulator until stopped.
#[cfg(feature = "sim")]
fn simulator(args: &[&str]) -> ExitCode {
    match listen_address(args) {
        Ok(addr) => match block_on(berth_sim::run(addr, berth_sim::SimOptions::default())) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                ci::error(format_args!("{e:#}"));
                Exit::Failed.into()
            }
        },
        Err(e) => {
            ci::error(format_args!("{e}\n{USAGE}"));
            Exit::Config.into()
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
        "berth {} (mittwald API {} from spec/mittwald-v2.json, Cloud Foundry API {} from spec/cloudfoundry-v2.json and v3 {} from spec/cloudfoundry-v3.json)",
        env!("CARGO_PKG_VERSION"),
        berth::api::mittwald::spec_version(),
        berth::api::cloudfoundry::spec_version(),
        berth::api::cloudfoundry_v3::spec_version(),
    )
}

fn help() -> String {
    let mut text = format!(
        "berth {}: install or create an app on a platform-as-a-service from one CI step, and wait until it is ready.\n\n\
         {USAGE}\n\n\
         berth           read the inputs below from the environment, do the job, print one JSON line of outputs\n\
         {SUBCOMMANDS}\n\
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

#[cfg(feature = "sim")]
fn listen_address(args: &[&str]) -> Result<std::net::SocketAddr, String> {
    let text = match args {
        [] => "127.0.0.1:8080",
        ["--listen", addr] => addr,
        [flag] if flag.starts_with("--listen=") => &flag["--listen=".len()..],
        _ => return Err(format!("unknown sim arguments {args:?}")),
    };
    text.parse()
        .map_err(|e| format!("--listen {text:?} is not an address like 127.0.0.1:8080 ({e})"))
}
