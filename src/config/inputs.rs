//! The inputs: one table gives each input's variable, default, meaning and the field it fills,
//! and from it come [`INPUTS`] (behind `--help`, the README check and the unknown-variable
//! warning) and `Raw`, the reader's view of the variables. A name written once cannot drift.

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

/// Rows of `field "VARIABLE" "default" "meaning";` in groups; generates [`INPUTS`] in the
/// table's order, and `Raw` with one field per row, read from that row's variable.
macro_rules! inputs {
    ($( $group:ident { $( $field:ident $var:literal $default:literal $meaning:literal ; )* } )*) => {
        /// Every input berth reads, in the order `--help` shows them.
        pub const INPUTS: &[Input] = &[$($(
            Input { var: $var, default: $default, meaning: $meaning, group: stringify!($group) },
        )*)*];

        /// The inputs as given, one field per row of the table. Empty values were removed before,
        /// so `Some` always holds text.
        #[derive(Debug)]
        pub(super) struct Raw {
            $($(
                #[doc = concat!("`", $var, "`: ", $meaning)]
                pub(super) $field: Option<String>,
            )*)*
        }

        impl Raw {
            /// The inputs among `vars`, each by its exact name, as the unknown-variable warning
            /// compares them: what it calls ignored is not read.
            pub(super) fn read(vars: &BTreeMap<String, String>) -> Raw {
                Raw { $($( $field: vars.get($var).cloned(), )*)* }
            }

            /// Each field's name and value, in the table's order.
            #[cfg(test)]
            fn fields(&self) -> Vec<(&'static str, Option<&str>)> {
                vec![$($( (stringify!($field), self.$field.as_deref()), )*)*]
            }
        }
    };
}

// CF_STAGING_TIMEOUT and CF_STARTUP_TIMEOUT are not rows: they are the cf CLI's variables, read
// as it reads them (`cloudfoundry::parse`), neither action inputs nor subject to the
// unknown-variable warning.
inputs! {
    common {
        provider "BERTH_PROVIDER" "(required)" "`mittwald` or `cloudfoundry`";
        api_url "BERTH_API_URL" "https://api.mittwald.de for mittwald; required for cloudfoundry" "API base URL";
        api_token "BERTH_API_TOKEN" "(required for mittwald)" "mittwald API token; for Cloud Foundry an OAuth access token";
        wait "BERTH_WAIT" "true" "wait until ready (true/false/1/0/yes/no)";
        wait_timeout "BERTH_WAIT_TIMEOUT" "10m" "give up waiting after this long (90, 90s, 10m, 1h30m)";
        on_existing "BERTH_ON_EXISTING" "update" "when it already exists: `update` (bring it to the given settings), `reuse` (leave it), `fail`";
        dry_run "BERTH_DRY_RUN" "false" "read and plan only; print what would be sent; send no POST/PUT/PATCH/DELETE";
        dotenv "BERTH_DOTENV" "(none)" "also write the outputs as a dotenv file at this path (GitLab artifacts:reports:dotenv)";
        ca_cert "BERTH_CA_CERT" "(none)" "PEM file with extra CA certificates to trust";
        insecure_skip_tls_verify "BERTH_INSECURE_SKIP_TLS_VERIFY" "false" "skip TLS verification (warns every run)";
        path "BERTH_PATH" "(none)" "the app's code: mittwald: a directory deployed over SSH into the installation's directory, then the app is restarted; Cloud Foundry: a directory or .zip uploaded as the app's bits";
        exclude "BERTH_EXCLUDE" ".git" "paths not to deploy or upload, gitignore patterns relative to BERTH_PATH, one a line or comma-separated (replaces the default; on Cloud Foundry a .cfignore in BERTH_PATH counts too)";
    }
    mittwald {
        project_id "BERTH_PROJECT_ID" "(required)" "project id (UUID) or short id (p-xxxxxx)";
        app "BERTH_APP" "(required)" "`node`, `python`, an app UUID, or an app name as listed by GET /v2/apps (case-insensitive)";
        app_version "BERTH_APP_VERSION" "recommended" "`recommended`, `latest` (highest version), an exact version (1.0.0), or a version UUID";
        description "BERTH_DESCRIPTION" "(required)" "the installation's description; with the app and project it identifies the installation on later runs";
        entrypoint "BERTH_ENTRYPOINT" "the version's default" "value of the `entrypoint` user input";
        user_inputs "BERTH_USER_INPUTS" "(none)" "more user inputs, name=value, one a line (or separated by `;`)";
        update_policy "BERTH_UPDATE_POLICY" "none" "`none`, `patchLevel`, `all`";
        installation_path "BERTH_INSTALLATION_PATH" "chosen by the platform" "installation path for a new installation";
        delete "BERTH_DELETE" "false" "with BERTH_PATH: also remove files in the installation's directory that BERTH_PATH lacks (excluded paths are kept)";
        install_command "BERTH_INSTALL_COMMAND" "(none)" "with BERTH_PATH: a command run in the installation's directory after the upload, before the restart (`npm ci --omit=dev`)";
        restart "BERTH_RESTART" "true" "with BERTH_PATH: restart the app after deploying (`mittnitectl job restart`) and wait until it runs";
        ssh_user "BERTH_SSH_USER" "a temporary SSH user" "an SSH user of the project (ssh-abc123; logs in as <user>@<installation short id>), with BERTH_SSH_PRIVATE_KEY";
        ssh_private_key "BERTH_SSH_PRIVATE_KEY" "a key made for this run" "that user's private key, OpenSSH format, without passphrase (a secret)";
        ssh_host "BERTH_SSH_HOST" "ssh.<clusterId>.<clusterDomain> of the project" "the SSH endpoint, host[:port]";
        ssh_known_hosts "BERTH_SSH_KNOWN_HOSTS" "mittwald's published host keys" "known_hosts lines the SSH endpoint's host key is checked against";
    }
    cloudfoundry {
        cf_username "BERTH_CF_USERNAME" "(none)" "UAA password grant: user name (with BERTH_CF_PASSWORD)";
        cf_password "BERTH_CF_PASSWORD" "(none)" "UAA password grant: password";
        cf_client_id "BERTH_CF_CLIENT_ID" "(none)" "UAA client-credentials grant: client id (with BERTH_CF_CLIENT_SECRET)";
        cf_client_secret "BERTH_CF_CLIENT_SECRET" "(none)" "UAA client-credentials grant: client secret";
        space_guid "BERTH_SPACE_GUID" "(required unless BERTH_CF_ORG + BERTH_CF_SPACE)" "space";
        cf_org "BERTH_CF_ORG" "(none)" "org by name, with BERTH_CF_SPACE, instead of BERTH_SPACE_GUID";
        cf_space "BERTH_CF_SPACE" "(none)" "space by name, with BERTH_CF_ORG";
        cf_api "BERTH_CF_API" "auto" "`auto` (v3 where the root document offers it, else v2), `v3` or `v2`";
        name "BERTH_NAME" "(required)" "app name; with the space it identifies the app on later runs";
        memory "BERTH_MEMORY" "platform default" "MB, or with unit: 512M, 1G";
        instances "BERTH_INSTANCES" "platform default" "number of instances";
        disk_quota "BERTH_DISK_QUOTA" "platform default" "MB, or with unit";
        stack "BERTH_STACK" "platform default" "stack by name (cflinuxfs4)";
        stack_guid "BERTH_STACK_GUID" "platform default" "stack by guid (instead of BERTH_STACK)";
        state "BERTH_STATE" "STOPPED" "`STOPPED` or `STARTED`";
        command "BERTH_COMMAND" "(none)" "start command (at most 4096 characters)";
        buildpack "BERTH_BUILDPACK" "autodetect" "buildpack name or git URL; on v3 several, separated by commas";
        health_check_type "BERTH_HEALTH_CHECK_TYPE" "port" "`port`, `process`, `http`, `none`";
        health_check_timeout "BERTH_HEALTH_CHECK_TIMEOUT" "platform default" "seconds";
        health_check_http_endpoint "BERTH_HEALTH_CHECK_HTTP_ENDPOINT" "(none)" "path for BERTH_HEALTH_CHECK_TYPE=http";
        docker_image "BERTH_DOCKER_IMAGE" "(none)" "Docker image to run";
        docker_username "BERTH_DOCKER_USERNAME" "(none)" "user of a private registry for BERTH_DOCKER_IMAGE (with BERTH_DOCKER_PASSWORD)";
        docker_password "BERTH_DOCKER_PASSWORD" "(none)" "password of that registry (a secret)";
        environment "BERTH_ENVIRONMENT" "(none)" "app environment: a JSON object, or KEY=VALUE one a line";
        diego "BERTH_DIEGO" "platform default" "boolean of the create-app API";
        enable_ssh "BERTH_ENABLE_SSH" "platform default" "boolean of the create-app API";
        console "BERTH_CONSOLE" "platform default" "boolean of the create-app API";
        debug "BERTH_DEBUG" "platform default" "boolean of the create-app API";
        routes "BERTH_ROUTES" "(none)" "routes to map: `host.domain[/path]`, `domain:port` (TCP) or `default`, one a line or comma-separated";
        strategy "BERTH_STRATEGY" "restart" "how new code or settings go live on a running app: `restart` or `rolling` (v3)";
        logs "BERTH_LOGS" "true" "show the staging log (log-cache) and its last lines on failure";
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn each_row_s_variable_fills_its_own_field_and_no_other() {
        let unset = Raw::read(&BTreeMap::new());
        let fields = unset.fields();
        assert_eq!(fields.len(), INPUTS.len());
        for (row, (input, (field, _))) in INPUTS.iter().zip(&fields).enumerate() {
            // The field is named after the variable, so that code reading `raw.x` reads `BERTH_X`.
            assert_eq!(
                format!("BERTH_{}", field.to_ascii_uppercase()),
                input.var,
                "row {row}"
            );
            let sentinel = format!("sentinel {row}");
            let vars = BTreeMap::from([(input.var.to_string(), sentinel.clone())]);
            let raw = Raw::read(&vars);
            for (other, (name, value)) in raw.fields().into_iter().enumerate() {
                let expected = (other == row).then_some(sentinel.as_str());
                assert_eq!(value, expected, "{} read into {name}", input.var);
            }
        }
    }

    #[test]
    fn variables_are_read_by_their_exact_name_only() {
        // What the unknown-variable warning calls ignored must be ignored.
        let vars = BTreeMap::from([
            ("BERTH_Provider".to_string(), "mittwald".to_string()),
            ("BERTH_BERTH_APP".to_string(), "node".to_string()),
            ("berth_name".to_string(), "web".to_string()),
        ]);
        assert!(Raw::read(&vars).fields().iter().all(|(_, v)| v.is_none()));
    }

    #[test]
    fn every_group_is_one_run_of_rows_as_help_prints_them() {
        let mut seen = Vec::new();
        for input in INPUTS {
            if seen.last() != Some(&input.group) {
                assert!(!seen.contains(&input.group), "{} split", input.group);
                seen.push(input.group);
            }
        }
        assert_eq!(seen, ["common", "mittwald", "cloudfoundry"]);
        let vars: BTreeSet<_> = INPUTS.iter().map(|i| i.var).collect();
        assert_eq!(vars.len(), INPUTS.len(), "a variable is listed twice");
    }

    #[test]
    fn the_readme_s_inputs_section_lists_exactly_the_table() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let section = readme
            .split_once("\n## Inputs\n")
            .expect("README has an Inputs section")
            .1;
        let section = section.split("\n## ").next().unwrap_or(section);
        // The variables named in the first column of its tables; a row may name several
        // (`BERTH_CF_USERNAME` + `BERTH_CF_PASSWORD`).
        let documented: BTreeSet<&str> = section
            .lines()
            .filter_map(|line| line.strip_prefix('|')?.split('|').next())
            .flat_map(|cell| cell.split('`').skip(1).step_by(2))
            .filter(|name| name.starts_with("BERTH_"))
            .collect();
        let table: BTreeSet<&str> = INPUTS.iter().map(|i| i.var).collect();
        assert_eq!(
            documented.difference(&table).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "documented in README's Inputs but not in INPUTS"
        );
        assert_eq!(
            table.difference(&documented).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "in INPUTS but not in README's Inputs tables"
        );
    }
}
