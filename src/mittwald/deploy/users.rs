//! The temporary SSH user a deploy makes when no `BERTH_SSH_USER` is given: created through
//! the API with a key made for this run, deleted at the end (a registered cleanup covers
//! failures, timeouts and signals), and expiring by itself shortly after the run's deadline in
//! case even that fails. Users that earlier runs left behind are known by their description
//! and removed once expired.

use super::ssh;
use crate::{
    api::{
        self, call,
        mittwald::{
            Client,
            types::{Authentication, PublicKey, SshUser, SshUserCreateSshUserBody},
        },
    },
    ci,
    cleanup::CleanupId,
    outputs::Progress,
};
use anyhow::{Context, anyhow};
use russh::keys::PrivateKey;
use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};
use tokio::time::Instant;

/// How every temporary user's description starts: how a later run knows it as berth's.
pub const DESCRIPTION_PREFIX: &str = "berth: temporary deploy user";
/// How long after the run's deadline a temporary user expires by itself.
const EXPIRY_AFTER_DEADLINE: Duration = Duration::from_secs(15 * 60);
/// mittwald's limit, and the contract's: within a day.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// At most this many expired leftovers are removed in one run.
const MAX_SWEEP: usize = 20;

/// A temporary user this run made, and its cleanup.
pub struct TemporaryUser {
    /// The API's id, for the delete.
    pub id: String,
    /// `ssh-xxxxxx`.
    pub user_name: String,
    /// The key made for this run; it exists only in memory.
    pub key: Arc<PrivateKey>,
    /// When the platform removes it by itself.
    pub expires_at: String,
    cleanup: CleanupId,
}

/// Creates a temporary user for `short_id` with a key made now, and registers its deletion.
pub async fn create(
    client: &Client,
    policy: &api::Policy,
    progress: &Progress,
    project: &str,
    short_id: &str,
) -> anyhow::Result<TemporaryUser> {
    let key = Arc::new(ssh::generate_key());
    let left = policy.deadline.saturating_duration_since(Instant::now());
    let expires_at = humantime::format_rfc3339_seconds(
        SystemTime::now() + (left + EXPIRY_AFTER_DEADLINE).min(MAX_LIFETIME),
    )
    .to_string();
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let body = SshUserCreateSshUserBody {
        authentication: Authentication::Variant1 {
            public_keys: vec![PublicKey {
                comment: Some(format!("berth-{run}")),
                key: Some(ssh::public_line(&key)),
            }],
        },
        description: format!(
            "{DESCRIPTION_PREFIX} for {short_id} (run {run}); removed when the run ends, expires {expires_at}"
        ),
        expires_at: Some(expires_at.clone()),
    };
    let user = call(
        client
            .ssh_user_create_ssh_user()
            .project_id(project)
            .body(body)
            .send(),
    )
    .await
    .with_context(|| format!("creating a temporary SSH user in project {project}"))?;
    let (Some(id), Some(user_name)) = (user.id.clone(), user.user_name.clone()) else {
        return Err(anyhow!(
            "the API created a temporary SSH user but did not say its id and name; it expires by itself at {expires_at}"
        ));
    };
    let cleanup = progress.cleanups().add(
        format!("temporary SSH user {user_name} (it expires by itself at {expires_at})"),
        {
            let client = client_until(client, policy, None);
            let policy = policy.clone();
            let id = id.clone();
            move |grace_end| async move {
                let client = client_until(&client, &policy, Some(grace_end));
                delete(&client, &id).await
            }
        },
    );
    ci::info(format_args!(
        "created temporary SSH user {user_name}; it is removed when the run ends and expires by itself at {expires_at}"
    ));
    Ok(TemporaryUser {
        id,
        user_name,
        key,
        expires_at,
        cleanup,
    })
}

/// Deletes the user now (the end of a run that got this far); a failure is a warning, since
/// the user expires by itself.
pub async fn remove(client: &Client, progress: &Progress, user: TemporaryUser) {
    progress.cleanups().dismiss(user.cleanup);
    match delete(client, &user.id).await {
        Ok(()) => ci::info(format_args!(
            "removed temporary SSH user {}",
            user.user_name
        )),
        Err(e) => ci::warn(format_args!(
            "could not remove temporary SSH user {} ({e:#}); it expires by itself at {}",
            user.user_name, user.expires_at
        )),
    }
}

/// Removes temporary users that earlier runs left behind once they have expired: known by the
/// description berth gives them, and checked one by one (the list is the platform's answer).
/// Reads and deletes only; every problem is a warning, never the run's failure.
pub async fn sweep(client: &Client, project: &str) {
    let users: Vec<SshUser> = match call(
        client.ssh_user_list_ssh_users().project_id(project).send(),
    )
    .await
    {
        Ok(users) => users,
        Err(e) => {
            ci::warn(format_args!(
                "could not list the SSH users of project {project} to remove expired temporary ones: {e}"
            ));
            return;
        }
    };
    let now = SystemTime::now();
    let expired = users.into_iter().filter(|u| {
        u.description
            .as_deref()
            .is_some_and(|d| d.starts_with(DESCRIPTION_PREFIX))
            && u.expires_at
                .as_deref()
                .and_then(|at| humantime::parse_rfc3339_weak(at).ok())
                .is_some_and(|at| at < now)
    });
    for user in expired.take(MAX_SWEEP) {
        let (Some(id), name) = (user.id.as_deref(), user.user_name.as_deref().unwrap_or("?"))
        else {
            continue;
        };
        match delete(client, id).await {
            Ok(()) => ci::info(format_args!(
                "removed expired temporary SSH user {name} of an earlier run"
            )),
            Err(e) => ci::warn(format_args!(
                "could not remove expired temporary SSH user {name}: {e:#}"
            )),
        }
    }
}

async fn delete(client: &Client, id: &str) -> anyhow::Result<()> {
    match call(client.ssh_user_delete_ssh_user().ssh_user_id(id).send()).await {
        Ok(_) => Ok(()),
        // Gone already (expired, or removed by hand): what the delete wanted.
        Err(e) if e.status == Some(404) => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("deleting SSH user {id}"))),
    }
}

/// The same client, with the run's policy or one that ends at `deadline` (the cleanup's grace:
/// the run's deadline may have passed by then).
fn client_until(client: &Client, policy: &api::Policy, deadline: Option<Instant>) -> Client {
    let mut policy = policy.clone();
    if let Some(deadline) = deadline {
        policy.deadline = deadline;
        policy.budget = Arc::default();
    }
    Client::new_with_client(&client.baseurl, client.client.clone(), policy)
}
