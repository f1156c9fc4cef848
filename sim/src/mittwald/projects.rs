//! Projects: any well-formed id names one the token may use (a UUID, or a short id `p-xxxxxx`
//! that stands for a project with a new UUID), and `GET /v2/projects/{id}`
//! (`project-get-project`): its `directories` (`Web` from [`SimOptions::web_dir`]) and its
//! cluster, which make the deploy target and the SSH host `ssh.<clusterId>.<clusterDomain>`.

use serde_json::json;

use super::{Mittwald, not_found, now_rfc3339, random_alnum};
use crate::options::SimOptions;
use crate::request::Reply;

/// The cluster of every simulated project: one whose SSH endpoint `ssh.fiestel.project.host` is
/// among the host keys mittwald's CLI and Terraform provider pin
/// (`shared/reference/mittwald-ssh-known-hosts`), so a client trusting only those keys meets a
/// real name and a host key it does not know (the simulator's own).
pub const CLUSTER_ID: &str = "fiestel";
/// The spec's example and the only domain seen (`ssh.fiestel.project.host`).
pub const CLUSTER_DOMAIN: &str = "project.host";

const CUSTOMER_ID: &str = "984c16d6-7bee-4f4c-9ba2-c17930ad8d4c";
const SERVER_GROUP_ID: &str = "b448ef59-9b10-4968-ae28-bbb08ee8d765";

/// A project met so far, by either of its ids.
pub(super) struct Project {
    pub(super) id: String,
    pub(super) short_id: String,
    created_at: String,
}

/// `directories["Home"]`, the spec's example pattern `/home/p-xxxxxx`.
pub(super) fn home_dir(project: &Project) -> String {
    format!("/home/{}", project.short_id)
}

pub(super) fn project_description(project: &Project) -> String {
    format!("Simulated project {}", project.short_id)
}

impl Mittwald {
    /// Finds or registers a project; any well-formed id names a project the token may use.
    pub(super) fn resolve_project(&mut self, id: &str) -> Option<usize> {
        let is_uuid = id.len() == 36 && uuid::Uuid::try_parse(id).is_ok();
        let is_short = id.strip_prefix("p-").is_some_and(|rest| {
            (1..=16).contains(&rest.len())
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if let Some(index) = self
            .projects
            .iter()
            .position(|p| p.id.eq_ignore_ascii_case(id) || p.short_id == id)
        {
            return Some(index);
        }
        let project = if is_uuid {
            Project {
                id: id.to_ascii_lowercase(),
                short_id: self.new_project_short_id(),
                created_at: now_rfc3339(),
            }
        } else if is_short {
            Project {
                id: uuid::Uuid::new_v4().to_string(),
                short_id: id.to_owned(),
                created_at: now_rfc3339(),
            }
        } else {
            return None;
        };
        self.projects.push(project);
        Some(self.projects.len() - 1)
    }

    fn new_project_short_id(&self) -> String {
        loop {
            let candidate = format!("p-{}", random_alnum(6));
            if !self.projects.iter().any(|p| p.short_id == candidate) {
                return candidate;
            }
        }
    }

    pub(super) fn get_project(&mut self, options: &SimOptions, id: &str) -> Reply {
        let Some(index) = self.resolve_project(id) else {
            return not_found("project", id);
        };
        let project = &self.projects[index];
        Reply::json(
            200,
            &json!({
                "backupStorageUsageInBytes": 0,
                "backupStorageUsageInBytesSetAt": project.created_at,
                "clusterDomain": CLUSTER_DOMAIN,
                // The spec keeps the deprecated spelling beside the new one; the mittwald CLI
                // still reads `clusterID`.
                "clusterID": CLUSTER_ID,
                "clusterId": CLUSTER_ID,
                "createdAt": project.created_at,
                "customerId": CUSTOMER_ID,
                "description": project_description(project),
                "directories": {
                    "Web": options.web_dir,
                    "Home": home_dir(project),
                },
                "enabled": true,
                "id": project.id,
                "isReady": true,
                "readiness": "ready",
                "serverGroupId": SERVER_GROUP_ID,
                "shortId": project.short_id,
                "status": "ready",
                "statusSetAt": project.created_at,
                "supportedFeatures": ["node", "runtimeApps"],
                "webStorageUsageInBytes": 0,
                "webStorageUsageInBytesSetAt": project.created_at,
            }),
        )
    }
}
