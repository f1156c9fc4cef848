//! mittwald: resolve the app and version, find the installation this pipeline made before,
//! then create it, bring it to the given settings, or leave it; and wait until it is ready.

pub mod deploy;
pub mod plan;
mod resolve;

use crate::{
    Failure,
    api::{
        self, ApiError,
        attempts::Attempts,
        mittwald::{
            Client,
            types::{
                App, AppInstallation, AppPatchAppinstallationBody, AppRequestAppinstallationBody,
                AppVersion,
            },
        },
    },
    ci,
    config::{
        AppRef, Common, ConfigError, ConfigErrors, MITTWALD_NODE_APP_ID, MITTWALD_PYTHON_APP_ID,
        MittwaldTarget, OnExisting, VersionRef,
    },
    http,
    outputs::{Progress, Status},
    values::Phase,
    wait::{self, Poll},
};
use anyhow::{Context, anyhow};
use api::call;
use plan::{Changes, Step, Wanted};
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
/// The pause between looks when two installations have one description (looked at again up
/// to [`api::attempts::MAX_ATTEMPTS`] times before berth calls it an error): a racing run
/// removes its twin within a second.
const TWIN_PAUSE: Duration = Duration::from_secs(1);
/// The header that carries the token.
const TOKEN_HEADER: &str = "x-access-token";

/// Runs the mittwald job until `deadline`; what it learns goes into `progress` as it goes.
pub async fn run(
    common: &Common,
    target: &MittwaldTarget,
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
    let flow = Installer {
        client,
        common,
        target,
        progress,
        policy,
    };
    flow.run().await
}

/// The mittwald flow of one run: what it reads and writes, and where it reports.
struct Installer<'a> {
    client: Client,
    common: &'a Common,
    target: &'a MittwaldTarget,
    progress: &'a Progress,
    /// The run's deadline and rate-limit budget (the client carries the same).
    policy: api::Policy,
}

impl Installer<'_> {
    async fn run(&self) -> Result<(), Failure> {
        let app = self.app().await?;
        let versions = self.versions(&app).await?;
        let asked = self
            .target
            .version
            .clone()
            .unwrap_or(VersionRef::Recommended);
        let version = resolve::version(&versions, &asked, &app)?;
        let inputs = resolve::user_inputs(&version, &self.target.user_inputs)?;
        self.progress.update(|o| {
            o.app_version_id = Some(version.id.clone());
            o.app_version = Some(version.external_version.clone());
        });
        let wanted = Wanted {
            target: self.target,
            version: &version,
            versions: &versions,
            inputs: &inputs,
        };

        let existing = self.find(&app).await?;
        if let Some(existing) = &existing {
            self.record(existing, &versions);
        }
        let (steps, notes) = plan::plan(
            existing.as_ref(),
            &wanted,
            self.common.on_existing,
            self.common.wait,
        )
        .map_err(|plan::Exists| {
            anyhow!(
                "installation {} with description {:?} exists already and BERTH_ON_EXISTING is fail",
                existing.as_ref().map_or_else(String::new, display_name),
                self.target.description
            )
        })?;
        for note in notes {
            ci::info(note);
        }
        if let Some(existing) = &existing {
            let name = display_name(existing);
            match self.common.on_existing {
                OnExisting::Reuse => ci::info(format_args!(
                    "reusing installation {name} as it is (BERTH_ON_EXISTING=reuse)"
                )),
                _ if !steps.iter().any(|s| matches!(s, Step::Change(_))) => ci::info(format_args!(
                    "installation {name} already has the given settings"
                )),
                _ => {}
            }
        }
        if self.common.dry_run {
            // A dry run reports `pending`, whatever it found (CONTRACT).
            self.progress.update(|o| o.dry_run = true);
            self.print_plan(existing.as_ref(), &steps, &version);
            if steps.contains(&Step::Deploy) {
                self.deployer().dry_run(existing.as_ref()).await?;
            }
            return Ok(());
        }
        // Ready and nothing to do: done. (Any write makes it busy again.)
        // (A deploy does not change the installation itself.)
        if steps.iter().all(|s| *s == Step::Deploy) && existing.as_ref().is_some_and(is_ready) {
            self.progress.update(|o| o.status = Status::Ready);
        }

        // The installation the steps apply to, and the event tag of our last write to it.
        let mut id = existing.as_ref().map(|e| e.id.clone());
        let mut existing = existing;
        let mut etag: Option<String> = None;
        // What the last wait read: the deploy goes on from it.
        let mut ready: Option<AppInstallation> = None;
        let mut wrote = false;
        for step in &steps {
            match step {
                Step::Install(body) => {
                    let (made, tag) = self
                        .install(&app, body.clone(), &version, &versions)
                        .await?;
                    id = Some(made);
                    etag = tag;
                    wrote = true;
                }
                Step::Change(changes) => {
                    let Some(installation) = existing.take() else {
                        unreachable!("a change is planned for an existing installation only")
                    };
                    if let Some(tag) = self.change(installation, changes, &wanted).await? {
                        etag = tag;
                        wrote = true;
                    }
                }
                Step::WaitReady => {
                    let Some(id) = &id else { continue };
                    ready = Some(self.wait_ready(id, etag.as_deref(), &versions).await?);
                    self.progress.update(|o| o.status = Status::Ready);
                }
                Step::Deploy => {
                    let Some(id) = &id else { continue };
                    // The installation as last read, when that read found it ready.
                    let known = ready.take().or_else(|| existing.take().filter(is_ready));
                    let installation = match known {
                        Some(installation) => installation,
                        None => self.read(id, etag.as_deref()).await?,
                    };
                    self.deploy(&installation, etag.as_deref()).await?;
                }
            }
        }
        // Not waited on after our own write: read once for the outputs.
        if wrote
            && !steps.contains(&Step::WaitReady)
            && let Some(id) = &id
        {
            let read = self.read(id, etag.as_deref()).await?;
            self.record(&read, &versions);
            if is_ready(&read) {
                self.progress.update(|o| o.status = Status::Ready);
            }
        }
        Ok(())
    }

    /// A dry run: the plan, and the requests it would send (password-type inputs hidden).
    fn print_plan(&self, existing: Option<&AppInstallation>, steps: &[Step], version: &AppVersion) {
        if steps.is_empty() {
            return;
        }
        api::print_steps(steps);
        let project = &self.target.project_id;
        for step in steps {
            match step {
                Step::Install(body) => print_request(
                    "POST",
                    &format!("/v2/projects/{project}/app-installations"),
                    body,
                    version,
                ),
                Step::Change(changes) => print_request(
                    "PATCH",
                    &format!(
                        "/v2/app-installations/{}",
                        existing.map_or("{id}", |e| e.id.as_str())
                    ),
                    &changes.body,
                    version,
                ),
                Step::WaitReady | Step::Deploy => {}
            }
        }
    }

    /// Deploys `BERTH_PATH` into the installation, ready by now.
    async fn deploy(
        &self,
        installation: &AppInstallation,
        etag: Option<&str>,
    ) -> Result<(), Failure> {
        let delete = self.target.deploy.as_ref().is_some_and(|d| d.delete);
        // BERTH_DELETE must not reach into another installation's directory.
        let others: Vec<String> = if delete {
            self.list(None, etag)
                .await?
                .into_iter()
                .filter(|i| i.id != installation.id)
                .filter_map(|i| i.installation_path)
                .collect()
        } else {
            Vec::new()
        };
        self.deployer().run(installation, &others).await
    }

    fn deployer(&self) -> deploy::Deployer<'_> {
        deploy::Deployer {
            client: &self.client,
            policy: &self.policy,
            progress: self.progress,
            project: &self.target.project_id,
            deploy: self
                .target
                .deploy
                .as_deref()
                .expect("a deploy step only with BERTH_PATH"),
            wait: self.common.wait,
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
        let mut looks = Attempts::new("looking for the installation", self.policy.deadline);
        while matching.len() >= 2
            && looks
                .pause(
                    format_args!("{} have its description", matching.len()),
                    Some(TWIN_PAUSE),
                )
                .await
        {
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
    async fn find_all(
        &self,
        app: &App,
        etag: Option<&str>,
    ) -> Result<Vec<AppInstallation>, Failure> {
        let listed = self.list(Some(&app.id), etag).await?;
        // The list is filtered by app already, but what came back is checked all the same.
        Ok(listed
            .into_iter()
            .filter(|i| {
                // One being removed (a racing run's twin, or by hand) no longer counts.
                i.app_id.eq_ignore_ascii_case(&app.id)
                    && i.description == self.target.description
                    && !i.deletion_requested
            })
            .collect())
    }

    /// Every installation of the project (of `app` only, when given), every page.
    ///
    /// A partial list would make berth create a duplicate, so it reads until the list ends
    /// (see [`list_goes_on`]) and fails rather than stop early at [`MAX_PAGES`].
    async fn list(
        &self,
        app: Option<&str>,
        etag: Option<&str>,
    ) -> Result<Vec<AppInstallation>, Failure> {
        let project = &self.target.project_id;
        let mut listed = Vec::new();
        let mut skip = 0u64;
        for _ in 0..MAX_PAGES {
            let mut request = self
                .client
                .app_list_appinstallations()
                .project_id(project)
                .limit(PAGE_SIZE)
                .skip(skip as i64);
            if let Some(app) = app {
                request = request.app_ids(vec![app.to_string()]);
            }
            if let Some(etag) = etag {
                request = request.if_event_reached(etag.to_string());
            }
            let (batch, headers) = api::call_with_headers(request.send())
                .await
                .with_context(|| format!("listing the app installations of project {project}"))?;
            let count = batch.len() as u64;
            skip += count;
            listed.extend(batch);
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
                return Ok(listed);
            }
        }
        Err(anyhow!(
            "the list of app installations of project {project} goes on beyond {MAX_PAGES} pages \
             ({skip} installations read); berth stops rather than act on a partial list, which \
             could make it create a duplicate"
        )
        .into())
    }

    /// Requests the installation (never twice: see [`api::attempts::create_once`]), then makes
    /// sure no racing run made a twin: the oldest one wins. Answers the installation to go on
    /// with, and the event tag of our write when it is ours.
    async fn install(
        &self,
        app: &App,
        body: AppRequestAppinstallationBody,
        version: &AppVersion,
        versions: &[AppVersion],
    ) -> Result<(String, Option<String>), Failure> {
        let project = &self.target.project_id;
        ci::info(format_args!(
            "installing {} {} in project {project} as {:?}",
            app.name, version.external_version, self.target.description
        ));
        // In flight until its id is in the outputs: a signal meanwhile waits for the answer.
        let write = self.progress.writing();
        let created = api::attempts::create_once(
            &format!("creating an app installation in project {project}"),
            self.policy.deadline,
            || self.progress.stopping(),
            // The platform has no "exists already" answer: descriptions need not be unique.
            |_| false,
            || async {
                match self
                    .client
                    .app_request_appinstallation()
                    .project_id(project)
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(r) => Ok((r.headers().clone(), r.into_inner().id)),
                    Err(e) => Err(ApiError::from_client(e).await),
                }
            },
            || async {
                // Ours was made just now: of several, the newest is ours (an older one is a
                // racing run's twin, which the twin check then prefers, removing ours).
                let found = self.find_all(app, None).await?;
                Ok(found
                    .into_iter()
                    .max_by(|a, b| age(a).cmp(&age(b)))
                    .map(|i| (Default::default(), i.id)))
            },
        )
        .await?;
        let (headers, id) = match created {
            api::attempts::Created::New(made) | api::attempts::Created::Existing(made) => made,
        };
        let etag = etag_of(&headers);
        self.progress.update(|o| {
            o.id = Some(id.clone());
            o.created = true;
        });
        drop(write);
        ci::info(format_args!("created installation {id}"));
        if let Some(older) = self.older_twin(app, &id, etag.as_deref()).await? {
            self.yield_to(&older, &id).await?;
            self.record(&older, versions);
            return Ok((older.id, None));
        }
        Ok((id, etag))
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
        let oldest = all.into_iter().min_by(|a, b| age(a).cmp(&age(b)));
        Ok(oldest.filter(|o| o.id != ours))
    }

    /// Removes the installation this run just created (and only that) in favour of the older
    /// twin, which the run goes on with.
    async fn yield_to(&self, older: &AppInstallation, ours: &str) -> Result<(), Failure> {
        ci::info(format_args!(
            "another run created installation {} first; removing the one this run created ({ours}) and continuing with it",
            display_name(older)
        ));
        // A duplicate left half-removed would fail every later run: let the DELETE finish.
        let write = self.progress.writing();
        match call(
            self.client
                .app_uninstall_appinstallation()
                .app_installation_id(ours)
                .send(),
        )
        .await
        {
            // Gone already: an earlier attempt of this DELETE landed though its answer was lost.
            Ok(()) => {}
            Err(e) if e.status == Some(404) => {}
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!(
                        "removing the duplicate installation {ours} this run created"
                    ))
                    .into());
            }
        }
        self.progress.update(|o| {
            o.created = false;
            o.id = Some(older.id.clone());
        });
        drop(write);
        Ok(())
    }

    /// Applies a planned change. The platform takes changes only in phase ready: a busy
    /// installation is waited on first, and what differs is looked at again then. Answers the
    /// event tag of the PATCH (`Some(None)` when it had none), or `None` when nothing was left
    /// to change.
    async fn change(
        &self,
        existing: AppInstallation,
        planned: &Changes,
        wanted: &Wanted<'_>,
    ) -> Result<Option<Option<String>>, Failure> {
        let name = display_name(&existing);
        let changes = if is_ready(&existing) {
            planned.clone()
        } else {
            ci::info(format_args!(
                "installation {name} is busy; waiting until it is ready to change it"
            ));
            let ready = self.wait_ready(&existing.id, None, wanted.versions).await?;
            let mut notes = Vec::new();
            match plan::changes(&ready, wanted, &mut notes) {
                Some(changes) => changes,
                None => {
                    ci::info(format_args!(
                        "installation {name} already has the given settings"
                    ));
                    self.progress.update(|o| o.status = Status::Ready);
                    return Ok(None);
                }
            }
        };
        ci::info(format_args!(
            "updating installation {name}: {}",
            changes.what.join(", ")
        ));
        Ok(Some(self.patch(&existing.id, changes.body).await?))
    }

    /// PATCH, waiting out "expected phase APP_PHASE_READY" (the installation became busy
    /// between our read and our write) within the attempts and the deadline.
    async fn patch(
        &self,
        id: &str,
        body: AppPatchAppinstallationBody,
    ) -> Result<Option<String>, Failure> {
        let mut attempts = Attempts::new(format!("PATCH installation {id}"), self.policy.deadline);
        loop {
            let result = self
                .client
                .app_patch_appinstallation()
                .app_installation_id(id)
                .body(body.clone())
                .send()
                .await;
            let e = match result {
                Ok(r) => return Ok(etag_of(r.headers())),
                Err(e) => ApiError::from_client(e).await,
            };
            // Reads may say ready a moment before writes are accepted: pause either way.
            if e.message.contains("APP_PHASE_READY")
                && attempts
                    .pause("the installation is busy; waiting until it is ready", None)
                    .await
            {
                self.wait_ready(id, None, &[]).await?;
                continue;
            }
            return Err(anyhow::Error::new(e)
                .context(format!("updating app installation {id}"))
                .into());
        }
    }

    /// Reads once; a 403 or 404 early on is waited out (see [`not_visible_yet`]).
    async fn read(&self, id: &str, etag: Option<&str>) -> Result<AppInstallation, Failure> {
        let since = Instant::now();
        wait::until(
            &format!("installation {id} to become visible"),
            self.policy.deadline,
            &self.policy,
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
        wait::until(&what, self.policy.deadline, &self.policy, || async move {
            let Some(installation) = self.get_visible(id, etag, since).await? else {
                return Ok(Poll::Pending("not visible yet".into()));
            };
            self.record(&installation, versions);
            let phase = phase(&installation);
            if is_ready(&installation) {
                return Ok(Poll::Ready(installation));
            }
            if known_phase(&installation) == Some(Phase::Disabled) || installation.disabled {
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
        })
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
/// than its size ends the list, where the size is the server's limit as it reports it (capped
/// at what berth asked for). A server that says neither may cap pages silently: only an empty
/// page ends its list (one more request, against a duplicate).
fn list_goes_on(page: &Page) -> bool {
    if page.count == 0 {
        return false;
    }
    if let Some(total) = page.total {
        return page.read < total;
    }
    match page.limit.filter(|&l| l > 0) {
        Some(limit) => page.count >= limit.min(PAGE_SIZE),
        None => true,
    }
}

/// The order of installations by age, the same in every run: by `createdAt`, a missing one
/// last (newest), the id breaking ties.
fn age(installation: &AppInstallation) -> (bool, Option<String>, String) {
    (
        installation.created_at.is_none(),
        installation.created_at.clone(),
        installation.id.clone(),
    )
}

/// Ready = phase `ready` and the current version is the desired one (the Terraform provider's
/// rule; a PATCH of the version leaves phase `ready` for a moment before `upgrading`).
fn is_ready(installation: &AppInstallation) -> bool {
    let versions_match = installation
        .app_version
        .as_ref()
        .is_some_and(|v| v.current.as_deref() == Some(v.desired.as_str()));
    known_phase(installation) == Some(Phase::Ready) && versions_match
}

/// The phase as the platform wrote it ("unknown" when it did not), for people.
fn phase(installation: &AppInstallation) -> &str {
    installation
        .phase
        .as_ref()
        .map_or("unknown", |p| p.0.as_str())
}

/// The phase, when berth knows it.
fn known_phase(installation: &AppInstallation) -> Option<Phase> {
    Phase::parse(phase(installation))
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

fn etag_of(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// Prints a planned request, with the values of password-type user inputs hidden.
fn print_request(method: &str, path: &str, body: &impl serde::Serialize, version: &AppVersion) {
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
        // Neither said: the server may cap silently, so only an empty page ends the list.
        assert!(list_goes_on(&page(PAGE_SIZE, PAGE_SIZE, None, None)));
        assert!(list_goes_on(&page(10, 10, None, None)));
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
