//! Installations placed straight into the state ([`SeedInstallation`], from
//! `SimHandle::seed_installation` or `POST /__sim/installations`), bypassing validation and the
//! consistency delay.

use std::time::Instant;

use serde::{Deserialize, Deserializer};

use super::Mittwald;
use super::apps::{find_app, find_version};
use super::inputs::{merge_inputs, with_defaults};
use super::installations::{Change, Installation, derive_installation_path};
use super::now_rfc3339;
use crate::options::SimOptions;

/// An installation to place straight into the simulator's state, bypassing validation and the
/// consistency delay (it is visible at once).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SeedInstallation {
    /// Project id, a UUID or a short id `p-xxxxxx` (a new short id stands for a project with a
    /// new UUID); the installation's `projectId` is always the project's UUID.
    pub project_id: String,
    /// App id; must be one the simulator knows (see the constants in
    /// [`mittwald`](crate::mittwald)).
    pub app_id: String,
    /// Version id; must belong to `app_id`.
    pub app_version_id: String,
    /// The installation's description.
    pub description: String,
    /// User inputs as `(name, value)`; the version's defaults fill in the rest. JSON accepts
    /// `[{"name": .., "value": ..}]` as well as `[[name, value]]`.
    #[serde(default, deserialize_with = "deserialize_user_inputs")]
    pub user_inputs: Vec<(String, String)>,
    /// Phase to start in; `ready` when absent. `disabled` stays so for good; any other
    /// non-ready phase turns `ready` after the `time_to_ready` in force when seeding.
    #[serde(default)]
    pub phase: Option<String>,
    /// `none` when absent.
    #[serde(default)]
    pub update_policy: Option<String>,
    /// `customDocumentRoot`, e.g. `/public`; absent from the body when not set.
    #[serde(default)]
    pub custom_document_root: Option<String>,
}

fn deserialize_user_inputs<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<(String, String)>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Input {
        Pair(String, String),
        Named { name: String, value: String },
    }
    let inputs = Vec::<Input>::deserialize(deserializer)?;
    Ok(inputs
        .into_iter()
        .map(|input| match input {
            Input::Pair(name, value) | Input::Named { name, value } => (name, value),
        })
        .collect())
}

impl Mittwald {
    /// Places an installation straight into the state; the error names what is wrong.
    pub(crate) fn seed(
        &mut self,
        options: &SimOptions,
        now: Instant,
        seed: SeedInstallation,
    ) -> Result<String, String> {
        let app = find_app(&seed.app_id).ok_or_else(|| format!("unknown app {}", seed.app_id))?;
        let version = find_version(&seed.app_version_id)
            .filter(|version| version.app_id == app.id)
            .ok_or_else(|| format!("app {} has no version {}", app.name, seed.app_version_id))?;
        let project = self.resolve_project(&seed.project_id).ok_or_else(|| {
            format!(
                "project id {:?} is neither a UUID nor a short id p-xxxxxx",
                seed.project_id
            )
        })?;
        let phase = seed.phase.unwrap_or_else(|| "ready".to_owned());
        let ready_at = match phase.as_str() {
            "ready" | "disabled" => now,
            _ => now + options.time_to_ready,
        };
        let change = match phase.as_str() {
            "ready" | "disabled" => None,
            other => Some(Change {
                phases: vec![other.to_owned()],
                started: now,
                duration: options.time_to_ready,
                current: (!matches!(other, "pending" | "installing"))
                    .then(|| version.id.to_owned()),
            }),
        };
        let mut user_inputs = with_defaults(version, Vec::new());
        merge_inputs(&mut user_inputs, seed.user_inputs);
        let installation = Installation {
            id: uuid::Uuid::new_v4().to_string(),
            short_id: self.new_short_id(),
            project,
            app,
            version,
            installation_path: derive_installation_path(&seed.description),
            description: seed.description,
            custom_document_root: seed.custom_document_root,
            update_policy: seed.update_policy.unwrap_or_else(|| "none".to_owned()),
            user_inputs,
            created_at: now_rfc3339(),
            disabled: phase == "disabled",
            change,
            last_write: None,
            ready_at,
            restart: None,
        };
        let id = installation.id.clone();
        self.installations.push(installation);
        Ok(id)
    }
}
