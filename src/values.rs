//! The closed sets of values some inputs take. They stay typed from the moment they are read;
//! text appears only where JSON is read or written ([`as_str`](AppState::as_str), `parse`).

/// Defines an enum of known values, each with the text the platform and the user write.
macro_rules! values {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal $(| $alias:literal)*,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in the order users read them.
            pub const ALL: &[Self] = &[$(Self::$variant),*];

            /// The text the platform speaks.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }

            /// The value `text` names (any case, trimmed; a few spellings accepted).
            pub fn parse(text: &str) -> Option<Self> {
                let text = text.trim();
                $(
                    if text.eq_ignore_ascii_case($text) $(|| text.eq_ignore_ascii_case($alias))* {
                        return Some(Self::$variant);
                    }
                )*
                None
            }

            /// `a, b, c`: for messages that list what is accepted.
            pub fn accepted() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

values! {
    /// The platform to deploy to (`BERTH_PROVIDER`, and the `provider` output).
    Provider {
        /// mittwald mStudio API v2.
        Mittwald = "mittwald",
        /// Cloud Foundry's Cloud Controller.
        CloudFoundry = "cloudfoundry" | "cf",
    }
}

values! {
    /// A Cloud Foundry app's desired state (`BERTH_STATE`).
    AppState {
        /// Stopped: no instances run.
        Stopped = "STOPPED",
        /// Started: its instances run.
        Started = "STARTED",
    }
}

values! {
    /// Which Cloud Controller API a Cloud Foundry run speaks (`BERTH_CF_API`).
    CfApi {
        /// v3 where the root document offers it, else v2.
        Auto = "auto",
        /// Cloud Controller v3.
        V3 = "v3",
        /// Cloud Controller v2 (switched off by default since CAPI 1.201.0).
        V2 = "v2",
    }
}

values! {
    /// How new code or settings go live on a running Cloud Foundry app (`BERTH_STRATEGY`).
    Strategy {
        /// Stop, then start: a short downtime.
        Restart = "restart",
        /// A v3 rolling deployment: the old instances serve until the new ones run.
        Rolling = "rolling",
    }
}

values! {
    /// How Cloud Foundry checks an instance is healthy (`BERTH_HEALTH_CHECK_TYPE`).
    HealthCheck {
        /// A TCP connection to the app's port.
        Port = "port",
        /// The process is alive.
        Process = "process",
        /// An HTTP GET answers 200.
        Http = "http",
        /// No check (v2's name for process).
        None = "none",
    }
}

values! {
    /// Which new versions mittwald installs by itself (`BERTH_UPDATE_POLICY`).
    UpdatePolicy {
        /// Never.
        None = "none",
        /// Patch levels only.
        PatchLevel = "patchLevel" | "patch-level" | "patch_level",
        /// Every new version.
        All = "all",
    }
}

values! {
    /// A mittwald installation's phase. The list has grown before: a phase not listed here
    /// reads as `None`, "not ready yet".
    Phase {
        /// Requested, not started.
        Pending = "pending",
        /// Being installed.
        Installing = "installing",
        /// Moving to another version.
        Upgrading = "upgrading",
        /// Taking changed user inputs.
        Reconfiguring = "reconfiguring",
        /// Done.
        Ready = "ready",
        /// Switched off: never becomes ready.
        Disabled = "disabled",
    }
}

values! {
    /// A Cloud Foundry v2 package's state.
    PackageState {
        /// Not staged (yet).
        Pending = "PENDING",
        /// Staged: a droplet exists.
        Staged = "STAGED",
        /// Staging failed.
        Failed = "FAILED",
    }
}

values! {
    /// A Cloud Foundry instance's state; anything else reads as `None`, not running yet.
    InstanceState {
        /// Serving.
        Running = "RUNNING",
        /// Starting.
        Starting = "STARTING",
        /// Crashed.
        Crashed = "CRASHED",
        /// Crashing over and over (v2).
        Flapping = "FLAPPING",
        /// Stopped or lost.
        Down = "DOWN",
    }
}

values! {
    /// A Cloud Foundry v2 job's status.
    JobStatus {
        /// Waiting to run.
        Queued = "queued",
        /// Running.
        Running = "running",
        /// Done.
        Finished = "finished",
        /// Failed: see its error details.
        Failed = "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_in_any_case_and_write_as_the_platform_does() {
        assert_eq!(AppState::parse(" started "), Some(AppState::Started));
        assert_eq!(AppState::Started.as_str(), "STARTED");
        assert_eq!(
            UpdatePolicy::parse("PATCH-LEVEL"),
            Some(UpdatePolicy::PatchLevel)
        );
        assert_eq!(UpdatePolicy::PatchLevel.to_string(), "patchLevel");
        assert_eq!(HealthCheck::parse("tcp"), None);
        assert_eq!(HealthCheck::accepted(), "port, process, http, none");
    }
}
