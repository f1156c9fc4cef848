//! What `--help` and `--version` print: made from the inputs table and the specs, so that
//! they cannot drift from what berth reads and speaks.

use crate::config::INPUTS;

/// The one usage line; `simulator`: whether the binary carries `demo` and `sim`.
pub fn usage(simulator: bool) -> &'static str {
    if simulator {
        "usage: berth [--help | --version | demo | sim [--listen ADDR]]"
    } else {
        "usage: berth [--help | --version]"
    }
}

/// `berth --version`: berth's version and the versions of the specs its clients come from.
pub fn version() -> String {
    format!(
        "berth {} (mittwald API {} from spec/mittwald-v2.json, Cloud Foundry API {} from spec/cloudfoundry-v2.json and v3 {} from spec/cloudfoundry-v3.json)",
        env!("CARGO_PKG_VERSION"),
        crate::api::mittwald::spec_version(),
        crate::api::cloudfoundry::spec_version(),
        crate::api::cloudfoundry_v3::spec_version(),
    )
}

/// `berth --help`: the subcommands, then every input with its default and meaning.
pub fn help(simulator: bool) -> String {
    let subcommands = if simulator {
        "berth demo      run the job against the built-in simulator\n\
         berth sim       serve the simulator (mittwald v2, Cloud Foundry v2 + UAA) until stopped; --listen ADDR (default 127.0.0.1:8080)\n"
    } else {
        ""
    };
    let mut text = format!(
        "berth {}: install or create an app on a platform-as-a-service from one CI step, and wait until it is ready.\n\n\
         {}\n\n\
         berth           read the inputs below from the environment, do the job, print one JSON line of outputs\n\
         {subcommands}\n\
         Inputs (environment variables; an empty value counts as not set):\n",
        env!("CARGO_PKG_VERSION"),
        usage(simulator),
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
