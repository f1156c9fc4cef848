//! The environment, read once into a validated [`Config`].
//!
//! Every problem is collected, so one failed run shows the user all of them at once. Nothing
//! here touches the network; problems only the platform can reveal (an unknown app name, say)
//! are reported by the providers with the same [`ConfigError`] type.
//!
//! One part per concern, each reading its inputs from `Raw`: `inputs` (the one
//! table of inputs), `env` (the variables as berth sees them), `problems` (what is wrong, and
//! the shared parsers), `common`, `mittwald` and `cloudfoundry`. This module wires them.

use std::time::Duration;

mod cloudfoundry;
mod common;
mod env;
mod inputs;
mod mittwald;
mod problems;

pub use crate::outputs::Sinks;
pub use crate::redact::Secret;
pub use crate::values::{AppState, CfApi, HealthCheck, Provider, Strategy, UpdatePolicy};
pub use cloudfoundry::{
    AppSettings, CfAuth, CloudFoundryTarget, DockerCredentials, RouteSpec, SpaceRef,
};
pub use common::{Common, MAX_WAIT_TIMEOUT, OnExisting};
pub use env::env_vars;
pub use inputs::{INPUTS, Input};
pub use mittwald::{
    AppRef, Deploy, MITTWALD_API_URL, MITTWALD_NODE_APP_ID, MITTWALD_PYTHON_APP_ID, MittwaldTarget,
    SshLogin, UserInput, VersionRef,
};
pub use problems::{ConfigError, ConfigErrors, parse_bool, parse_duration};

use inputs::Raw;
use problems::{Problems, is_uuid};

/// The provider-specific part.
#[derive(Debug, Clone)]
pub enum Target {
    /// Install on mittwald.
    Mittwald(MittwaldTarget),
    /// Create on Cloud Foundry.
    CloudFoundry(Box<CloudFoundryTarget>),
}

/// The whole, validated configuration of one run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Shared settings.
    pub common: Common,
    /// What to deploy where.
    pub target: Target,
    /// Where outputs go.
    pub sinks: Sinks,
    /// Things worth telling the user that do not stop the run (an unknown `BERTH_` variable).
    pub warnings: Vec<String>,
}

impl Config {
    /// How long the whole run may take, counted from its start: `BERTH_WAIT_TIMEOUT`, or on
    /// Cloud Foundry the cf CLI's staging and start-up timeouts together when they are longer.
    pub fn time_limit(&self) -> Duration {
        match &self.target {
            Target::CloudFoundry(cf) => self.common.wait_timeout.max(
                cf.staging_timeout.unwrap_or_default() + cf.startup_timeout.unwrap_or_default(),
            ),
            Target::Mittwald(_) => self.common.wait_timeout,
        }
    }

    /// The provider this run deploys to.
    pub fn provider(&self) -> Provider {
        match self.target {
            Target::Mittwald(_) => Provider::Mittwald,
            Target::CloudFoundry(_) => Provider::CloudFoundry,
        }
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigErrors> {
        Self::from_vars(env_vars())
    }

    /// Reads the configuration from the given variables (the whole environment, unfiltered).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigErrors> {
        let vars = env::non_empty(vars);
        let mut p = Problems::default();
        let mut warnings = env::unknown_variables(&vars);
        let raw = Raw::read(&vars);

        let provider = common::provider(&raw, &mut p);
        let common = common::parse(&raw, provider, &mut p);
        let sinks = common::sinks(&raw, &vars, &mut p);

        let target = match provider {
            Some(Provider::Mittwald) => {
                warnings.extend(env::other_provider_variables(
                    &vars,
                    "cloudfoundry",
                    "mittwald",
                ));
                mittwald::parse(raw, &mut p).map(Target::Mittwald)
            }
            Some(Provider::CloudFoundry) => {
                warnings.extend(env::other_provider_variables(
                    &vars,
                    "mittwald",
                    "cloudfoundry",
                ));
                cloudfoundry::parse(raw, &vars, &mut p).map(|c| Target::CloudFoundry(Box::new(c)))
            }
            None => None,
        };

        let problems = p.into_list();
        match (target, problems.is_empty()) {
            (Some(target), true) => Ok(Config {
                common,
                target,
                sinks,
                warnings,
            }),
            _ => Err(ConfigErrors(problems)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pairs as `Config::from_vars` takes them.
    pub(super) fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The required mittwald inputs.
    pub(super) const BASE: &[(&str, &str)] = &[
        ("BERTH_PROVIDER", "mittwald"),
        ("BERTH_API_TOKEN", "tok"),
        ("BERTH_PROJECT_ID", "p-abc123"),
        ("BERTH_APP", "node"),
        ("BERTH_DESCRIPTION", "shop"),
    ];

    #[test]
    fn minimal_mittwald_config_gets_the_contract_defaults() {
        let c = Config::from_vars(vars(BASE)).unwrap();
        assert_eq!(c.common.api_url, MITTWALD_API_URL);
        assert!(c.common.wait);
        assert_eq!(c.common.wait_timeout, Duration::from_secs(600));
        assert_eq!(c.common.on_existing, OnExisting::Update);
        let Target::Mittwald(m) = c.target else {
            panic!("not mittwald")
        };
        assert_eq!(m.app, AppRef::Id(MITTWALD_NODE_APP_ID.into()));
        assert_eq!(m.version, None);
        assert_eq!(m.update_policy, None);
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let errs = Config::from_vars(vars(&[
            ("BERTH_PROVIDER", "mittwald"),
            ("BERTH_WAIT", "sometimes"),
            ("BERTH_ON_EXISTING", "replace"),
        ]))
        .unwrap_err();
        let named: Vec<_> = errs.0.iter().map(ConfigError::var).collect();
        for var in [
            "BERTH_WAIT",
            "BERTH_ON_EXISTING",
            "BERTH_API_TOKEN",
            "BERTH_PROJECT_ID",
            "BERTH_APP",
            "BERTH_DESCRIPTION",
        ] {
            assert!(named.contains(&var), "{var} not in {named:?}");
        }
    }

    #[test]
    fn every_problem_names_a_variable_of_the_table() {
        // The parts name their variables in text; this keeps those names to the table's (and
        // the cf CLI's two), so that a message never points at a variable berth does not read.
        let cf_cli = ["CF_STAGING_TIMEOUT", "CF_STARTUP_TIMEOUT"];
        let odd = ["x y", "-1", "0", "{", "../..", "maybe", "two\nlines"];
        let vars_to_try = INPUTS.iter().map(|i| i.var).chain(cf_cli);
        for var in vars_to_try {
            for provider in ["mittwald", "cloudfoundry"] {
                for value in odd {
                    let mut v = vars(&[("BERTH_PROVIDER", provider)]);
                    v.push((var.into(), value.into()));
                    let Err(errs) = Config::from_vars(v) else {
                        continue;
                    };
                    for e in errs.0 {
                        let row = INPUTS.iter().find(|i| i.var == e.var());
                        assert!(row.is_some() || cf_cli.contains(&e.var()), "{var}: {e}");
                        if let ConfigError::Missing { meaning, .. } = e {
                            assert!(!meaning.is_empty(), "{var}: {e}");
                        }
                    }
                }
            }
        }
    }
}
