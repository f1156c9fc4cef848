//! The `berth` command: arguments to subcommand; the job itself is [`berth::job`], the demo
//! [`berth::demo`].

use berth::{
    ci,
    help::{help, usage, version},
    job::Exit,
};
use std::process::ExitCode;

/// Whether this binary carries the simulator (`berth sim`, `berth demo`).
const SIMULATOR: bool = cfg!(feature = "sim");

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] => block_on(berth::job::main()).into(),
        ["--help" | "-h" | "help"] => {
            print!("{}", help(SIMULATOR));
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
                "berth was built without the simulator (cargo feature `sim`): `berth {command}` is not available\n{}",
                usage(SIMULATOR)
            ));
            Exit::Config.into()
        }
        _ => {
            ci::error(format_args!(
                "unknown arguments {args:?}\n{}",
                usage(SIMULATOR)
            ));
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
            ci::error(format_args!("{e}\n{}", usage(SIMULATOR)));
            Exit::Config.into()
        }
    }
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    // One thread: berth waits on the network, it does not compute.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("starting the async runtime");
    let output = runtime.block_on(future);
    // A blocking task cut off by a signal or the deadline (zipping a large tree) is not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    output
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
