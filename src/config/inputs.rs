//! The inputs: the one table behind `--help`, the README check, the reader and the
//! unknown-variable warning.

use super::Problems;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One input: its variable, default and meaning. The single list behind `--help`, the README
/// check and the unknown-variable warning.
pub struct Input {
    /// Variable name.
    pub var: &'static str,
    /// Default, as users read it.
    pub default: &'static str,
    /// What it does.
    pub meaning: &'static str,
    /// `common`, `mittwald` or `cloudfoundry`.
    pub group: &'static str,
}

macro_rules! inputs {
    ($( $group:literal $var:literal $default:literal $meaning:literal ;)*) => {
        /// Every input berth reads, in the order `--help` shows them.
        pub const INPUTS: &[Input] = &[$(Input { var: $var, default: $default, meaning: $meaning, group: $group }),*];
    };
}

inputs! {
    "common" "BERTH_PROVIDER" "(required)" "`mittwald` or `cloudfoundry`";
    "common" "BERTH_API_URL" "https://api.mittwald.de for mittwald; required for cloudfoundry" "API base URL";
    "common" "BERTH_API_TOKEN" "(required for mittwald)" "mittwald API token; for Cloud Foundry an OAuth access token";
    "common" "BERTH_WAIT" "true" "wait until ready (true/false/1/0/yes/no)";
    "common" "BERTH_WAIT_TIMEOUT" "10m" "give up waiting after this long (90, 90s, 10m, 1h30m)";
    "common" "BERTH_ON_EXISTING" "update" "when it already exists: `update` (bring it to the given settings), `reuse` (leave it), `fail`";
    "common" "BERTH_DRY_RUN" "false" "read and plan only; print what would be sent; send no POST/PUT/PATCH/DELETE";
    "common" "BERTH_DOTENV" "(none)" "also write the outputs as a dotenv file at this path (GitLab artifacts:reports:dotenv)";
    "common" "BERTH_CA_CERT" "(none)" "PEM file with extra CA certificates to trust";
    "common" "BERTH_INSECURE_SKIP_TLS_VERIFY" "false" "skip TLS verification (warns every run)";
    "mittwald" "BERTH_PROJECT_ID" "(required)" "project id (UUID) or short id (p-xxxxxx)";
    "mittwald" "BERTH_APP" "(required)" "`node`, `python`, an app UUID, or an app name as listed by GET /v2/apps (case-insensitive)";
    "mittwald" "BERTH_APP_VERSION" "recommended" "`recommended`, `latest` (highest version), an exact version (1.0.0), or a version UUID";
    "mittwald" "BERTH_DESCRIPTION" "(required)" "the installation's description; with the app and project it identifies the installation on later runs";
    "mittwald" "BERTH_ENTRYPOINT" "the version's default" "value of the `entrypoint` user input";
    "mittwald" "BERTH_USER_INPUTS" "(none)" "more user inputs, name=value, one a line (or separated by `;`)";
    "mittwald" "BERTH_UPDATE_POLICY" "none" "`none`, `patchLevel`, `all`";
    "mittwald" "BERTH_INSTALLATION_PATH" "chosen by the platform" "installation path for a new installation";
    "cloudfoundry" "BERTH_CF_USERNAME" "(none)" "UAA password grant: user name (with BERTH_CF_PASSWORD)";
    "cloudfoundry" "BERTH_CF_PASSWORD" "(none)" "UAA password grant: password";
    "cloudfoundry" "BERTH_CF_CLIENT_ID" "(none)" "UAA client-credentials grant: client id (with BERTH_CF_CLIENT_SECRET)";
    "cloudfoundry" "BERTH_CF_CLIENT_SECRET" "(none)" "UAA client-credentials grant: client secret";
    "cloudfoundry" "BERTH_SPACE_GUID" "(required)" "space";
    "cloudfoundry" "BERTH_NAME" "(required)" "app name; with the space it identifies the app on later runs";
    "cloudfoundry" "BERTH_MEMORY" "platform default" "MB, or with unit: 512M, 1G";
    "cloudfoundry" "BERTH_INSTANCES" "platform default" "number of instances";
    "cloudfoundry" "BERTH_DISK_QUOTA" "platform default" "MB, or with unit";
    "cloudfoundry" "BERTH_STACK_GUID" "platform default" "stack";
    "cloudfoundry" "BERTH_STATE" "STOPPED" "`STOPPED` or `STARTED`";
    "cloudfoundry" "BERTH_COMMAND" "(none)" "start command (at most 4096 characters)";
    "cloudfoundry" "BERTH_BUILDPACK" "autodetect" "buildpack name or git URL";
    "cloudfoundry" "BERTH_HEALTH_CHECK_TYPE" "port" "`port`, `process`, `http`, `none`";
    "cloudfoundry" "BERTH_HEALTH_CHECK_TIMEOUT" "platform default" "seconds";
    "cloudfoundry" "BERTH_DOCKER_IMAGE" "(none)" "Docker image to run";
    "cloudfoundry" "BERTH_ENVIRONMENT" "(none)" "app environment: a JSON object, or KEY=VALUE one a line";
    "cloudfoundry" "BERTH_DIEGO" "platform default" "boolean of the create-app API";
    "cloudfoundry" "BERTH_ENABLE_SSH" "platform default" "boolean of the create-app API";
    "cloudfoundry" "BERTH_CONSOLE" "platform default" "boolean of the create-app API";
    "cloudfoundry" "BERTH_DEBUG" "platform default" "boolean of the create-app API";
    "cloudfoundry" "BERTH_PATH" "(none)" "a directory or .zip to upload as the app's bits before starting";
}

/// The raw variables, as envy reads them (prefix `BERTH_` stripped). Empty values were removed
/// before, so `Some` always holds text.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Raw {
    pub(super) provider: Option<String>,
    pub(super) api_url: Option<String>,
    pub(super) api_token: Option<String>,
    pub(super) wait: Option<String>,
    pub(super) wait_timeout: Option<String>,
    pub(super) on_existing: Option<String>,
    pub(super) dry_run: Option<String>,
    pub(super) dotenv: Option<String>,
    pub(super) ca_cert: Option<String>,
    pub(super) insecure_skip_tls_verify: Option<String>,
    pub(super) project_id: Option<String>,
    pub(super) app: Option<String>,
    pub(super) app_version: Option<String>,
    pub(super) description: Option<String>,
    pub(super) entrypoint: Option<String>,
    pub(super) user_inputs: Option<String>,
    pub(super) update_policy: Option<String>,
    pub(super) installation_path: Option<String>,
    pub(super) cf_username: Option<String>,
    pub(super) cf_password: Option<String>,
    pub(super) cf_client_id: Option<String>,
    pub(super) cf_client_secret: Option<String>,
    pub(super) space_guid: Option<String>,
    pub(super) name: Option<String>,
    pub(super) memory: Option<String>,
    pub(super) instances: Option<String>,
    pub(super) disk_quota: Option<String>,
    pub(super) stack_guid: Option<String>,
    pub(super) state: Option<String>,
    pub(super) command: Option<String>,
    pub(super) buildpack: Option<String>,
    pub(super) health_check_type: Option<String>,
    pub(super) health_check_timeout: Option<String>,
    pub(super) docker_image: Option<String>,
    pub(super) environment: Option<String>,
    pub(super) diego: Option<String>,
    pub(super) enable_ssh: Option<String>,
    pub(super) console: Option<String>,
    pub(super) debug: Option<String>,
    pub(super) path: Option<String>,
}

impl Raw {
    /// The inputs among `vars`; a problem (and nothing read) if envy cannot read them.
    pub(super) fn read(vars: &BTreeMap<String, String>, p: &mut Problems) -> Raw {
        match envy::prefixed("BERTH_").from_iter(vars.clone()) {
            Ok(raw) => raw,
            Err(e) => {
                // Only strings are read, so this cannot happen short of envy changing.
                p.invalid("BERTH_*", format!("cannot read the environment: {e}"));
                Raw::default()
            }
        }
    }
}
