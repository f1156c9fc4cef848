//! mittwald: resolve the app and version, find the installation this pipeline made before,
//! then create it, bring it to the given settings, or leave it; and wait until it is ready.

mod resolve;

use crate::{
    Failure,
    api::{
        self, ApiError,
        mittwald::{
            Client,
            types::{
                App, AppInstallation, AppPatchAppinstallationBody, AppRequestAppinstallationBody,
                AppUpdatePolicy, AppVersion, SavedUserInput,
            },
        },
    },
    ci,
    config::{
        AppRef, Common, ConfigError, ConfigErrors, MITTWALD_NODE_APP_ID, MITTWALD_PYTHON_APP_ID,
        Mittwald, OnExisting, VersionRef,
    },
    http,
    outputs::{Progress, Status},
    wait::{self, Poll},
};
use anyhow::{Context, anyhow};
use api::call;
use std::time::Duration;
use tokio::time::Instant;

pub use resolve::compare_versions;

/// Installations are listed this many at a time (the server may give fewer per page).
const PAGE_SIZE: u64 = 100;
/// No project has more installations of one app than this many pages; a list that goes on
/// longer is an error, not a partial answer.
const MAX_PAGES: u64 = 50;
/// For this long after a write, a 403 or 404 on reading the installation means "not visible
/// yet" (the platform is eventually consistent), not "gone".
const CONSISTENCY_GRACE: Duration = Duration::from_secs(15);
/// How often two installations with one description are looked at again before berth calls
/// it an error, and the pause between looks: a racing run removes its twin within a second.
const TWIN_LOOKS: u32 = 3;
const TWIN_PAUSE: Duration = Duration::from_secs(1);
/// The header that carries the token.
const TOKEN_HEADER: &str = "x-access-token";

/// Runs the mittwald job until `deadline`; what it learns goes into `progress` as it goes.
pub async fn run(
    common: &Common,
    target: &Mittwald,
    progress: &Progress,
    deadline: Instant,
) -> Result<(), Failure> {
    let http = http::client(common)?;
    let token = api::retry::GivenToken::new(
        TOKEN_HEADER,
        &target.token,
        "the mittwald API refused BERTH_API_TOKEN (401): it is wrong, has expired or was revoked; \
         create an API token in mStudio (profile, API tokens) and pass it",
    )
    .map_err(|e| anyhow!("BERTH_API_TOKEN: {e}"))?;
    let policy = api::Policy::until(deadline, progress.activity().clone())
        .with_credentials(std::sync::Arc::new(token));
    let client = Client::new_with_client(&common.api_url, http, policy.clone());
    let job = Job {
        client,
        common,
        target,
        progress,
        policy,
    };
    job.run().await
}

struct Job<'a> {
    client: Client,
    common: &'a Common,
    target: &'a Mittwald,
    progress: &'a Progress,
    /// The run's deadline and rate-limit budget (the client carries the same).
    policy: api::Policy,
}

/// What the run will do to an existing installation.
struct Changes {
    body: AppPatchAppinstallationBody,
    what: Vec<String>,
}

impl Job<'_> {
    async fn run(&self) -> Result<(), Failure> {
        let app = self.app().await?;
        let versions = self.versions(&app).await?;
        let wanted = self
            .target
            .version
            .clone()
            .unwrap_or(VersionRef::Recommended);
        let version = resolve::version(&versions, &wanted, &app)?;
        let inputs = resolve::user_inputs(&version, &self.target.user_inputs)?;
        self.progress.update(|o| {
            o.app_version_id = Some(version.id.clone());
            o.app_version = Some(version.external_version.clone());
        });

        match self.find(&app).await? {
            None => self.create(&app, &version, inputs).await,
            Some(existing) => {
                self.record(&existing, &versions);
                let name = display_name(&existing);
                match self.common.on_existing {
                    OnExisting::Fail => Err(anyhow!(
                        "installation {name} with description {:?} exists already and BERTH_ON_EXISTING is fail",
                        self.target.description
                    )
                    .into()),
                    OnExisting::Reuse => {
                        ci::info(format_args!("reusing installation {name} as it is (BERTH_ON_EXISTING=reuse)"));
                        self.finish(&existing, &versions).await
                    }
                    OnExisting::Update => self.update(existing, &version, &versions).await,
                }
            }
        }
    }

    /// The app: a well-known or given id needs no request; a name is looked up in the list.
    async fn app(&self) -> Result<App, Failure> {
        let known = |id: &str, name: &str| App {
            id: id.into(),
            name: name.into(),
            action_capabilities: None,
            tags: Vec::new(),
        };
        match &self.target.app {
            AppRef::Id(id) if id == MITTWALD_NODE_APP_ID => Ok(known(id, "Node.js")),
            AppRef::Id(id) if id == MITTWALD_PYTHON_APP_ID => Ok(known(id, "Python")),
            AppRef::Id(id) => Ok(known(id, id)),
            wanted @ AppRef::Name(_) => {
                let apps = call(self.client.app_list_apps().send())
                    .await
                    .context("listing apps")?;
                Ok(resolve::app(&apps, wanted)?)
            }
        }
    }

    async fn versions(&self, app: &App) -> Result<Vec<AppVersion>, Failure> {
        match call(self.client.app_list_appversions().app_id(&app.id).send()).await {
            Ok(versions) => Ok(versions),
            Err(e) if e.status == Some(404) => Err(ConfigErrors(vec![ConfigError::Invalid {
                var: "BERTH_APP",
                problem: format!("no app has the id {} (the platform answered 404)", app.id),
            }])
            .into()),
            Err(e) => Err(anyhow::Error::new(e)
                .context(format!("listing the versions of {}", app.name))
                .into()),
        }
    }

    /// The installation of this app in the project with exactly this description.
    async fn find(&self, app: &App) -> Result<Option<AppInstallation>, Failure> {
        let project = &self.target.project_id;
        let mut matching = self.find_all(app, None).await?;
        // Two at once may be a racing run's twin that it is about to remove: look again shortly.
        for _ in 0..TWIN_LOOKS {
            if matching.len() < 2 || Instant::now() + TWIN_PAUSE >= self.policy.deadline {
                break;
            }
            tokio::time::sleep(TWIN_PAUSE).await;
            matching = self.find_all(app, None).await?;
        }
        match matching.len() {
            0 | 1 => Ok(matching.pop()),
            n => {
                let list: Vec<_> = matching.iter().map(display_name).collect();
                Err(anyhow!(
                    "{n} installations of {} in project {project} have the description {:?}: {}; \
                     berth cannot tell which one is meant: remove the extra ones or change BERTH_DESCRIPTION",
                    app.name,
                    self.target.description,
                    list.join(", ")
                )
                .into())
            }
        }
    }

    /// Every installation of this app in the project with exactly this description, from
    /// every page of the list; after our own write, `etag` makes the list include it.
    ///
    /// A partial list would make berth create a duplicate, so it reads until the list ends
    /// (see [`list_goes_on`]) and fails rather than stop early at [`MAX_PAGES`].
    async fn find_all(
        &self,
        app: &App,
        etag: Option<&str>,
    ) -> Result<Vec<AppInstallation>, Failure> {
        let project = &self.target.project_id;
        let mut matching = Vec::new();
        let mut skip = 0u64;
        for _ in 0..MAX_PAGES {
            let mut request = self
                .client
                .app_list_appinstallations()
                .project_id(project)
                .app_ids(vec![app.id.clone()])
                .limit(PAGE_SIZE)
                .skip(skip as i64);
            if let Some(etag) = etag {
                request = request.if_event_reached(etag.to_string());
            }
            let (batch, headers) = api::call_with_headers(request.send())
                .await
                .with_context(|| format!("listing the app installations of project {project}"))?;
            let count = batch.len() as u64;
            skip += count;
            // The list is filtered by app already, but what came back is checked all the same.
            matching.extend(batch.into_iter().filter(|i| {
                // One being removed (a racing run's twin, or by hand) no longer counts.
                i.app_id.eq_ignore_ascii_case(&app.id)
                    && i.description == self.target.description
                    && !i.deletion_requested
            }));
            let number = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            };
            let page = Page {
                count,
                read: skip,
                limit: number("x-pagination-limit"),
                total: number("x-pagination-totalcount"),
            };
            if !list_goes_on(&page) {
                return Ok(matching);
            }
        }
        Err(anyhow!(
            "the list of app installations of project {project} goes on beyond {MAX_PAGES} pages \
             ({skip} installations read); berth stops rather than act on a partial list, which \
             could make it create a duplicate"
        )
        .into())
    }

    async fn create(
        &self,
        app: &App,
        version: &AppVersion,
        inputs: Vec<SavedUserInput>,
    ) -> Result<(), Failure> {
        let project = &self.target.project_id;
        let body = AppRequestAppinstallationBody {
            app_version_id: version.id.clone(),
            description: self.target.description.clone(),
            installation_path: self.target.installation_path.clone(),
            system_software: Default::default(),
            update_policy: AppUpdatePolicy(
                self.target
                    .update_policy
                    .clone()
                    .unwrap_or_else(|| "none".into()),
            ),
            user_inputs: inputs,
        };
        if self.common.dry_run {
            plan(
                "POST",
                &format!("/v2/projects/{project}/app-installations"),
                &body,
                version,
            );
            self.progress.update(|o| o.dry_run = true);
            return Ok(());
        }
        ci::info(format_args!(
            "installing {} {} in project {project} as {:?}",
            app.name, version.external_version, self.target.description
        ));
        // In flight until its id is in the outputs: a signal meanwhile waits for the answer.
        let write = self.progress.writing();
        let (id, etag) = self.request_installation(app, body).await?;
        self.progress.update(|o| {
            o.id = Some(id.clone());
            o.created = true;
        });
        drop(write);
        ci::info(format_args!("created installation {id}"));
        let versions = std::slice::from_ref(version);
        if let Some(older) = self.older_twin(app, &id, etag.as_deref()).await? {
            return self.yield_to(older, &id, versions).await;
        }
        self.after_write(&id, etag.as_deref(), versions).await
    }

    /// POSTs the installation. When the outcome is unknown (no answer, or a gateway error), it
    /// looks before anything else: an installation that exists is taken; only when none does is
    /// the POST sent again, within the attempts and the deadline.
    async fn request_installation(
        &self,
        app: &App,
        body: AppRequestAppinstallationBody,
    ) -> Result<(String, Option<String>), Failure> {
        let project = &self.target.project_id;
        let mut attempt = 1;
        loop {
            let response = self
                .client
                .app_request_appinstallation()
                .project_id(project)
                .body(body.clone())
                .send()
                .await;
            let e = match response {
                Ok(r) => {
                    let etag = etag_of(&r);
                    return Ok((r.into_inner().id, etag));
                }
                Err(e) => ApiError::from_client(e).await,
            };
            let unknown = matches!(e.status, None | Some(502..=504));
            if unknown && let Some(found) = self.lost_answer(app, &e).await? {
                return Ok((found, None));
            }
            let pause = api::retry::FIRST_BACKOFF * attempt;
            if !unknown
                || self.progress.stopping()
                || attempt >= api::retry::MAX_ATTEMPTS
                || Instant::now() + pause >= self.policy.deadline
            {
                return Err(anyhow::Error::new(e)
                    .context(format!("creating an app installation in project {project}"))
                    .into());
            }
            ci::info(format_args!(
                "no installation was made; sending the request again in {:.1}s",
                pause.as_secs_f64()
            ));
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    /// The POST's answer was lost: the installation exists if the platform made it.
    async fn lost_answer(&self, app: &App, e: &ApiError) -> Result<Option<String>, Failure> {
        ci::warn(format_args!(
            "creating the installation had no clear outcome ({e}); looking it up before anything else"
        ));
        let found = self.find_all(app, None).await?;
        Ok(found.into_iter().map(|i| i.id).next())
    }

    /// Another run with the same description may have created its installation at the same
    /// time. The oldest one wins everywhere, so racing runs agree; answers it if it is not ours.
    async fn older_twin(
        &self,
        app: &App,
        ours: &str,
        etag: Option<&str>,
    ) -> Result<Option<AppInstallation>, Failure> {
        let all = self.find_all(app, etag).await?;
        let oldest = all.into_iter().min_by(|a, b| {
            // A missing createdAt sorts last; the id breaks ties the same way in every run.
            let key =
                |i: &AppInstallation| (i.created_at.is_none(), i.created_at.clone(), i.id.clone());
            key(a).cmp(&key(b))
        });
        Ok(oldest.filter(|o| o.id != ours))
    }

    /// Removes the installation this run just created (and only that) in favour of the older
    /// twin, and continues with the twin.
    async fn yield_to(
        &self,
        older: AppInstallation,
        ours: &str,
        versions: &[AppVersion],
    ) -> Result<(), Failure> {
        ci::info(format_args!(
            "another run created installation {} first; removing the one this run created ({ours}) and continuing with it",
            display_name(&older)
        ));
        // A duplicate left half-removed would fail every later run: let the DELETE finish.
        let write = self.progress.writing();
        call(
            self.client
                .app_uninstall_appinstallation()
                .app_installation_id(ours)
                .send(),
        )
        .await
        .with_context(|| format!("removing the duplicate installation {ours} this run created"))?;
        self.progress.update(|o| {
            o.created = false;
            o.id = Some(older.id.clone());
        });
        drop(write);
        self.record(&older, versions);
        self.finish(&older, versions).await
    }

    async fn update(
        &self,
        existing: AppInstallation,
        version: &AppVersion,
        versions: &[AppVersion],
    ) -> Result<(), Failure> {
        let name = display_name(&existing);
        let Some(changes) = self.changes(&existing, version, versions) else {
            ci::info(format_args!(
                "installation {name} already has the given settings"
            ));
            return self.finish(&existing, versions).await;
        };
        if self.common.dry_run {
            plan(
                "PATCH",
                &format!("/v2/app-installations/{}", existing.id),
                &changes.body,
                version,
            );
            self.progress.update(|o| o.dry_run = true);
            return Ok(());
        }
        // The platform takes changes only in phase ready; what differs is looked at again then.
        let (existing, changes) = if is_ready(&existing) {
            (existing, changes)
        } else {
            ci::info(format_args!(
                "installation {name} is busy; waiting until it is ready to change it"
            ));
            let ready = self.wait_ready(&existing.id, None, versions).await?;
            match self.changes(&ready, version, versions) {
                Some(changes) => (ready, changes),
                None => return self.finish(&ready, versions).await,
            }
        };
        ci::info(format_args!(
            "updating installation {name}: {}",
            changes.what.join(", ")
        ));
        let etag = self.patch(&existing.id, changes.body).await?;
        self.after_write(&existing.id, etag.as_deref(), versions)
            .await
    }

    /// After our own write: wait until ready, or (not waiting) read once for the outputs. The
    /// event tag makes the first read see the write.
    async fn after_write(
        &self,
        id: &str,
        etag: Option<&str>,
        versions: &[AppVersion],
    ) -> Result<(), Failure> {
        if self.common.wait {
            self.wait_ready(id, etag, versions).await?;
            self.progress.update(|o| o.status = Status::Ready);
            return Ok(());
        }
        let installation = self.read(id, etag).await?;
        self.record(&installation, versions);
        if is_ready(&installation) {
            self.progress.update(|o| o.status = Status::Ready);
        }
        Ok(())
    }

    /// PATCH, waiting out "expected phase APP_PHASE_READY" (the installation became busy
    /// between our read and our write) within the deadline.
    async fn patch(
        &self,
        id: &str,
        body: AppPatchAppinstallationBody,
    ) -> Result<Option<String>, Failure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .app_patch_appinstallation()
                .app_installation_id(id)
                .body(body.clone())
                .send()
                .await;
            let e = match result {
                Ok(r) => return Ok(etag_of(&r)),
                Err(e) => ApiError::from_client(e).await,
            };
            let pause = api::retry::backoff(attempt);
            let busy = e.message.contains("APP_PHASE_READY");
            if busy
                && attempt < api::retry::MAX_ATTEMPTS
                && Instant::now() + pause < self.policy.deadline
            {
                ci::info("the installation is busy; waiting until it is ready to change it");
                // Reads may say ready a moment before writes are accepted: pause either way.
                tokio::time::sleep(pause).await;
                self.wait_ready(id, None, &[]).await?;
                continue;
            }
            return Err(anyhow::Error::new(e)
                .context(format!("updating app installation {id}"))
                .into());
        }
    }

    /// What differs between the installation and the given settings; only what the user gave
    /// counts (an input not set leaves the installation's value alone).
    fn changes(
        &self,
        existing: &AppInstallation,
        version: &AppVersion,
        versions: &[AppVersion],
    ) -> Option<Changes> {
        let mut body = AppPatchAppinstallationBody::default();
        let mut what = Vec::new();

        let desired = existing.app_version.as_ref().map(|v| v.desired.as_str());
        if let Some(wanted) = &self.target.version
            && desired != Some(version.id.as_str())
        {
            let installed = desired.and_then(|d| versions.iter().find(|v| v.id == d));
            let floating = matches!(wanted, VersionRef::Recommended | VersionRef::Latest);
            let newer_installed = installed.is_some_and(|i| {
                compare_versions(&i.external_version, &version.external_version).is_gt()
            });
            if floating && newer_installed {
                // `recommended` must not downgrade what an update policy already upgraded.
                ci::info(format_args!(
                    "keeping version {} (newer than the {wanted} {})",
                    installed.map_or("?", |i| i.external_version.as_str()),
                    version.external_version
                ));
            } else {
                body.app_version_id = Some(version.id.clone());
                what.push(format!(
                    "version {} -> {}",
                    installed.map_or_else(
                        || desired.unwrap_or("?").to_string(),
                        |i| i.external_version.clone()
                    ),
                    version.external_version
                ));
            }
        }

        let differing: Vec<_> = self
            .target
            .user_inputs
            .iter()
            .filter(|given| {
                existing
                    .user_inputs
                    .iter()
                    .find(|s| s.name == given.name)
                    .map(|s| &s.value)
                    != Some(&given.value)
            })
            .collect();
        if !differing.is_empty() {
            // The whole list, so the result is the same whether the platform merges or replaces.
            let mut inputs = existing.user_inputs.clone();
            for given in &differing {
                match inputs.iter_mut().find(|s| s.name == given.name) {
                    Some(saved) => saved.value = given.value.clone(),
                    None => inputs.push(SavedUserInput {
                        name: given.name.clone(),
                        value: given.value.clone(),
                    }),
                }
                what.push(format!("user input {}", given.name));
            }
            body.user_inputs = inputs;
        }

        if let Some(policy) = &self.target.update_policy
            && existing.update_policy.as_ref().map(|p| p.0.as_str()) != Some(policy.as_str())
        {
            body.update_policy = Some(AppUpdatePolicy(policy.clone()));
            what.push(format!("update policy -> {policy}"));
        }
        (!what.is_empty()).then_some(Changes { body, what })
    }

    /// Waits (when asked) and sets the final status.
    async fn finish(
        &self,
        installation: &AppInstallation,
        versions: &[AppVersion],
    ) -> Result<(), Failure> {
        if is_ready(installation) {
            self.progress.update(|o| o.status = Status::Ready);
            return Ok(());
        }
        if !self.common.wait {
            return Ok(());
        }
        self.wait_ready(&installation.id, None, versions).await?;
        self.progress.update(|o| o.status = Status::Ready);
        Ok(())
    }

    /// Reads once; a 403 or 404 early on is waited out (see [`not_visible_yet`]).
    async fn read(&self, id: &str, etag: Option<&str>) -> Result<AppInstallation, Failure> {
        let since = Instant::now();
        wait::until(
            &format!("installation {id} to become visible"),
            self.policy.deadline,
            &self.policy.budget,
            || async move {
                Ok(match self.get_visible(id, etag, since).await? {
                    Some(installation) => Poll::Ready(installation),
                    None => Poll::Pending("not visible yet".into()),
                })
            },
        )
        .await
        .map_err(Failure::from)
    }

    async fn wait_ready(
        &self,
        id: &str,
        etag: Option<&str>,
        versions: &[AppVersion],
    ) -> Result<AppInstallation, Failure> {
        let what = format!("installation {id}");
        let since = Instant::now();
        wait::until(
            &what,
            self.policy.deadline,
            &self.policy.budget,
            || async move {
                let Some(installation) = self.get_visible(id, etag, since).await? else {
                    return Ok(Poll::Pending("not visible yet".into()));
                };
                self.record(&installation, versions);
                let phase = phase(&installation);
                if is_ready(&installation) {
                    return Ok(Poll::Ready(installation));
                }
                if phase == "disabled" || installation.disabled {
                    return Err(anyhow!(
                        "installation {} is disabled: it will not become ready",
                        display_name(&installation)
                    ));
                }
                let mut state = format!("phase {phase}");
                if let Some(error) = installation.last_error.as_deref().filter(|e| !e.is_empty()) {
                    state.push_str(&format!(", last error: {error}"));
                }
                Ok(Poll::Pending(state))
            },
        )
        .await
        .map_err(Failure::from)
    }

    /// One read; `None` while a 403 or 404 is still the platform's eventual consistency.
    async fn get_visible(
        &self,
        id: &str,
        etag: Option<&str>,
        since: Instant,
    ) -> anyhow::Result<Option<AppInstallation>> {
        match self.get(id, etag).await {
            Ok(installation) => Ok(Some(installation)),
            Err(e) if not_visible_yet(&e, since) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("reading app installation {id}"))),
        }
    }

    async fn get(&self, id: &str, etag: Option<&str>) -> Result<AppInstallation, ApiError> {
        let mut request = self
            .client
            .app_get_appinstallation()
            .app_installation_id(id);
        if let Some(etag) = etag {
            request = request.if_event_reached(etag.to_string());
        }
        call(request.send()).await
    }

    /// Copies what the installation tells into the outputs.
    fn record(&self, installation: &AppInstallation, versions: &[AppVersion]) {
        let desired = installation.app_version.as_ref().map(|v| v.desired.clone());
        let external = desired
            .as_deref()
            .and_then(|d| versions.iter().find(|v| v.id == d))
            .map(|v| v.external_version.clone())
            .or_else(|| installation.app_external_version.clone());
        self.progress.update(|o| {
            o.id = Some(installation.id.clone());
            o.short_id = installation.short_id.clone().or(o.short_id.take());
            o.installation_path = installation
                .installation_path
                .clone()
                .or(o.installation_path.take());
            o.phase = installation
                .phase
                .as_ref()
                .map(|p| p.0.clone())
                .or(o.phase.take());
            if desired.is_some() {
                o.app_version_id = desired;
                o.app_version = external.or(o.app_version.take());
            }
        });
    }
}

/// One page of a list, as the server answered it.
struct Page {
    /// Items on this page.
    count: u64,
    /// Items on this and the earlier pages.
    read: u64,
    /// `X-Pagination-Limit`: the page size the server used, when it says.
    limit: Option<u64>,
    /// `X-Pagination-TotalCount`, when the server says.
    total: Option<u64>,
}

/// Whether another page may follow. An empty page ends the list. The total, when the server
/// says it, decides (it also covers pages shorter than their size). Without it, a page shorter
/// than its size ends the list: the size is the server's limit when it reports one smaller than
/// berth asked for (it caps pages), else berth's own.
fn list_goes_on(page: &Page) -> bool {
    if page.count == 0 {
        return false;
    }
    if let Some(total) = page.total {
        return page.read < total;
    }
    let size = page
        .limit
        .filter(|&l| l > 0)
        .map_or(PAGE_SIZE, |l| l.min(PAGE_SIZE));
    page.count >= size
}

/// Ready = phase `ready` and the current version is the desired one (the Terraform provider's
/// rule; a PATCH of the version leaves phase `ready` for a moment before `upgrading`).
fn is_ready(installation: &AppInstallation) -> bool {
    let versions_match = installation
        .app_version
        .as_ref()
        .is_some_and(|v| v.current.as_deref() == Some(v.desired.as_str()));
    phase(installation) == "ready" && versions_match
}

fn phase(installation: &AppInstallation) -> &str {
    installation
        .phase
        .as_ref()
        .map_or("unknown", |p| p.0.as_str())
}

fn display_name(installation: &AppInstallation) -> String {
    match &installation.short_id {
        Some(short) => format!("{short} ({})", installation.id),
        None => installation.id.clone(),
    }
}

/// Every installation berth reads was just listed or written by it, so a 403 or 404 early in a
/// wait is the platform's eventual consistency, not a missing installation.
fn not_visible_yet(e: &ApiError, since: Instant) -> bool {
    matches!(e.status, Some(403 | 404)) && since.elapsed() < CONSISTENCY_GRACE
}

fn etag_of<T>(response: &progenitor_client::ResponseValue<T>) -> Option<String> {
    response
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// Prints a planned request, with the values of password-type user inputs hidden.
fn plan(method: &str, path: &str, body: &impl serde::Serialize, version: &AppVersion) {
    let mut body = serde_json::to_value(body).unwrap_or_default();
    let secret = |name: &str| {
        version.user_inputs.iter().any(|d| {
            d.name == name
                && d.data_type.as_ref().is_some_and(|t| {
                    let t = t.0.to_ascii_lowercase();
                    t.contains("password") || t.contains("secret")
                })
        })
    };
    if let Some(inputs) = body.get_mut("userInputs").and_then(|v| v.as_array_mut()) {
        for input in inputs {
            let name = input["name"].as_str().unwrap_or_default().to_string();
            if secret(&name) {
                input["value"] = api::REDACTED.into();
            }
        }
    }
    api::print_plan(method, path, &body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(count: u64, read: u64, limit: Option<u64>, total: Option<u64>) -> Page {
        Page {
            count,
            read,
            limit,
            total,
        }
    }

    #[test]
    fn a_list_ends_on_an_empty_or_short_page_or_at_its_total() {
        // No total: a full page of the server's capped size goes on; a short one ends it.
        assert!(list_goes_on(&page(10, 10, Some(10), None)));
        assert!(!list_goes_on(&page(6, 26, Some(10), None)));
        // No limit said: berth's own page size.
        assert!(list_goes_on(&page(PAGE_SIZE, PAGE_SIZE, None, None)));
        assert!(!list_goes_on(&page(10, 10, None, None)));
        // A limit above what berth asked for changes nothing.
        assert!(list_goes_on(&page(PAGE_SIZE, PAGE_SIZE, Some(1000), None)));
        assert!(!list_goes_on(&page(40, 40, Some(1000), None)));
        assert!(list_goes_on(&page(
            PAGE_SIZE,
            PAGE_SIZE,
            Some(1000),
            Some(150)
        )));
        // The total decides when given, even over a short page.
        assert!(list_goes_on(&page(7, 7, Some(10), Some(30))));
        assert!(!list_goes_on(&page(10, 30, Some(10), Some(30))));
        // An empty page always ends it, whatever the total claims.
        assert!(!list_goes_on(&page(0, 20, Some(10), Some(30))));
        assert!(!list_goes_on(&page(0, 0, Some(0), None)));
    }
}
