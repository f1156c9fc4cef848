//! Cloud Foundry (Cloud Controller v2): log in, find the app by name in the space, then create
//! it, bring it to the given settings, or leave it; upload its bits; start it and wait until one
//! instance runs.

mod auth;
mod bits;
mod logs;
pub mod plan;
mod resolve;
mod routes;
mod source;
mod v2_routes;
mod v3;

use crate::{
    Failure,
    api::{
        self, ApiError,
        attempts::Created,
        cloudfoundry::{
            Client,
            types::{AppCreate, AppEntity, AppResource, AppUpdate},
        },
    },
    ci,
    config::{
        AppSettings, AppState, CfApi, CloudFoundryTarget, Common, ConfigError, ConfigErrors,
        HealthCheck, Strategy,
    },
    http,
    outputs::{Progress, Status},
    values::{InstanceState, JobStatus, PackageState},
    wait::{self, Poll},
};
use anyhow::{Context, anyhow};
use api::call;
use plan::{Current, Refusal, Step, StopFor};
use std::{num::NonZeroU64, time::Duration};
use tokio::time::Instant;

/// How the Cloud Controller says "v2 is switched off" on its routes.
const V2_DISABLED_TEXT: &str = "V2 endpoints disabled";
/// Apps are listed this many at a time (v2's largest page; a server may give fewer).
const PAGE_SIZE: u64 = 100;
/// No list berth asks for has more pages than this; one that goes on longer is an error, not
/// a partial answer.
const MAX_PAGES: u32 = 50;

/// Runs the Cloud Foundry job until `deadline` (with the cf CLI's per-phase timeouts, the run
/// may take as long as both phases together: [`crate::config::Config::time_limit`]); what it
/// learns goes into `progress` as it goes.
pub async fn run(
    common: &Common,
    target: &CloudFoundryTarget,
    progress: &Progress,
    deadline: Instant,
) -> Result<(), Failure> {
    let policy = api::Policy::until(deadline, progress.activity().clone());
    progress.update(|o| o.app_name = Some(target.name.clone()));
    // Logging in needs no token; everything after it does.
    let plain = http::client(common)?;
    let root = match target.api {
        CfApi::V2 => None,
        CfApi::Auto | CfApi::V3 => Root::read(&plain, &policy, &common.api_url).await?,
    };
    let api = choose(target.api, root.as_ref())?;
    progress.update(|o| o.api_version = Some(api.as_str().into()));
    if api == CfApi::V3 {
        let root = root.unwrap_or_default();
        let token = auth::TokenSource::login(
            plain.clone(),
            policy.clone(),
            &target.auth,
            root.uaa.clone(),
        )
        .await?;
        let policy = policy.with_credentials(std::sync::Arc::new(token));
        return v3::run(common, target, progress, policy, plain, &root).await;
    }
    if target.strategy == Strategy::Rolling {
        return Err(ConfigErrors(vec![ConfigError::Invalid {
            var: "BERTH_STRATEGY",
            problem: "rolling needs Cloud Controller v3 (a deployment), and this foundation \
                      serves v2 only"
                .into(),
        }])
        .into());
    }
    if target
        .settings
        .buildpacks
        .as_ref()
        .is_some_and(|b| b.len() > 1)
    {
        return Err(ConfigErrors(vec![ConfigError::Invalid {
            var: "BERTH_BUILDPACK",
            problem: "lists several buildpacks, which only Cloud Controller v3 takes, and this \
                      foundation serves v2 only"
                .into(),
        }])
        .into());
    }
    // v2 has no log-cache link of its own: the root document names it, read only for the
    // staging log, and best-effort (an old foundation may have none).
    let mut logs = None;
    if target.logs {
        // Read once: `auto` has read it already.
        let read = match root {
            Some(root) => Ok(Some(root)),
            None => Root::read(&plain, &policy, &common.api_url).await,
        };
        logs = match read {
            Ok(root) => Some(root.and_then(|r| r.log_cache)),
            Err(e) => {
                ci::warn(format_args!(
                    "the foundation's root document could not be read ({e}); the staging log \
                     is not shown"
                ));
                None
            }
        };
    }
    let endpoint = auth::token_endpoint(&Client::new_with_client(
        &common.api_url,
        plain.clone(),
        policy.clone(),
    ))
    .await?;
    let token =
        auth::TokenSource::login(plain.clone(), policy.clone(), &target.auth, endpoint).await?;
    // The token goes on each request (see `api::retry::send`), so it can be renewed mid-run.
    let policy = policy.with_credentials(std::sync::Arc::new(token));
    let http = plain;
    let client = Client::new_with_client(&common.api_url, http.clone(), policy.clone());
    // Names the user gave are looked up with reads only: an unknown one is exit 2.
    let space_guid = resolve::space(&client, &target.space).await?;
    let mut target = target.clone();
    if let Some(stack) = target.settings.stack.take() {
        target.settings.stack_guid = Some(resolve::stack(&client, &stack).await?);
    }
    // Routes are resolved before anything is written: an unknown domain is exit 2.
    let routes = match &target.routes {
        Some(specs) => v2_routes::resolve(&client, specs, &target.name, &space_guid).await?,
        None => Vec::new(),
    };
    let logs = logs::Follower::new(http.clone(), policy.clone(), logs);
    let flow = Pusher {
        policy,
        client,
        http,
        common,
        target: &target,
        space_guid,
        progress,
        routes,
        logs,
    };
    flow.run().await
}

/// The Cloud Foundry flow of one run (named after `cf push`, whose work it does).
struct Pusher<'a> {
    policy: api::Policy,
    client: Client,
    http: reqwest::Client,
    common: &'a Common,
    target: &'a CloudFoundryTarget,
    /// The space's guid, given or looked up by name.
    space_guid: String,
    progress: &'a Progress,
    /// The routes of `BERTH_ROUTES`, their domains known.
    routes: Vec<routes::Wanted>,
    /// The app's log, started before the start request.
    logs: logs::Follower,
}

impl Pusher<'_> {
    async fn run(&self) -> Result<(), Failure> {
        let existing = self.find().await?;
        if let Some(app) = &existing {
            self.record(app);
        }
        let current = existing.as_ref().map(as_current);
        let steps = self.plan(current.as_ref())?;
        if self.common.dry_run {
            self.progress.update(|o| o.dry_run = true);
            self.print_plan(current.as_ref(), &steps);
            return Ok(());
        }
        let mut app = existing;
        // Routes are mapped once the app has its settings, before it starts.
        let mut mapped = false;
        for (n, step) in steps.iter().enumerate() {
            if let Step::Create(settings) = step {
                match self.create(settings).await? {
                    Created::New(made) => app = Some(made),
                    Created::Existing(found) => {
                        // Another run was faster: plan again from the app it made.
                        let current = as_current(&found);
                        let rest = self.plan(Some(&current))?;
                        let mut app = found;
                        for step in &rest {
                            self.map_before(step, &app, &mut mapped).await?;
                            self.apply(step, &mut app).await?;
                        }
                        if !mapped {
                            self.map_routes(&app.metadata.guid).await?;
                        }
                        return self.finish(&app, rest.contains(&Step::WaitRunning));
                    }
                }
                continue;
            }
            let Some(app) = app.as_mut() else {
                unreachable!("every plan for a missing app starts with Create (step {n})");
            };
            self.map_before(step, app, &mut mapped).await?;
            self.apply(step, app).await?;
        }
        match &app {
            Some(app) => {
                if !mapped {
                    self.map_routes(&app.metadata.guid).await?;
                }
                self.finish(app, steps.contains(&Step::WaitRunning))
            }
            None => Ok(()),
        }
    }

    /// Maps the routes before the app starts (or is waited on), once.
    async fn map_before(
        &self,
        step: &Step,
        app: &AppResource,
        mapped: &mut bool,
    ) -> Result<(), Failure> {
        if !*mapped && matches!(step, Step::Start | Step::WaitRunning) {
            self.map_routes(&app.metadata.guid).await?;
            *mapped = true;
        }
        Ok(())
    }

    /// Maps the routes of `BERTH_ROUTES` to the app; records `url` and `app-routes` (without
    /// `BERTH_ROUTES`, from the routes the app has).
    async fn map_routes(&self, app: &str) -> Result<(), Failure> {
        let mapped = match v2_routes::map(&self.client, &self.routes, app, &self.space_guid).await {
            Ok(mapped) => mapped,
            Err(e) if self.routes.is_empty() => {
                // Only the `url` output needed them: not worth failing a deploy for.
                ci::warn(format_args!(
                    "the app's routes are not known ({e}); no url output"
                ));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let url = v2_routes::url(&self.routes, &mapped);
        self.progress.update(|o| {
            o.url = url;
            o.app_routes = Some(mapped.into_iter().map(|(url, _)| url).collect());
        });
        Ok(())
    }

    /// The plan for this app, or why there is none.
    fn plan(&self, current: Option<&Current>) -> Result<Vec<Step>, Failure> {
        plan::plan(current, self.target, self.common.on_existing, self.common.wait, None).map_err(
            |refusal| match refusal {
                Refusal::Exists => anyhow!(
                    "app {:?} ({}) exists already in space {} and BERTH_ON_EXISTING is fail",
                    self.target.name,
                    current.map_or("?", |c| c.guid.as_str()),
                    self.space_guid
                )
                .into(),
                // The platform would refuse the start (CF-AppPackageInvalid) and leave a
                // stopped app behind.
                Refusal::NothingToRun => ConfigErrors(vec![ConfigError::Invalid {
                    var: "BERTH_STATE",
                    problem: format!(
                        "STARTED needs something to run: app {:?} does not exist yet, so give BERTH_PATH (bits to upload) or BERTH_DOCKER_IMAGE",
                        self.target.name
                    ),
                }])
                .into(),
            },
        )
    }

    /// One step of the plan, on the v2 API; `app` follows what the platform answers.
    async fn apply(&self, step: &Step, app: &mut AppResource) -> Result<(), Failure> {
        let guid = app.metadata.guid.clone();
        let name = &self.target.name;
        let entity = match step {
            Step::Create(_) => unreachable!("applied by run"),
            Step::Update {
                changes,
                what,
                stop,
            } => {
                if what.is_empty() && *stop {
                    ci::info(format_args!("stopping app {name:?} (BERTH_STATE=STOPPED)"));
                } else {
                    ci::info(format_args!("updating app {name:?}: {step}"));
                }
                self.put(&guid, update_body(changes, *stop), "updating it")
                    .await?
            }
            Step::Stop(why) => {
                let (line, context) = match why {
                    StopFor::Upload => (None, "stopping it to upload new bits"),
                    StopFor::Settings => (
                        Some(format!("restarting app {name:?} so the new settings apply")),
                        "stopping it to apply new settings",
                    ),
                };
                if let Some(line) = line {
                    ci::info(line);
                }
                self.put(&guid, state(AppState::Stopped), context).await?
            }
            Step::Upload(path) => {
                self.upload(&guid, path).await?;
                return Ok(());
            }
            Step::Start => {
                self.logs.follow(&guid).await;
                ci::info(format_args!("starting app {name:?}"));
                self.put(&guid, state(AppState::Started), "starting it")
                    .await?
            }
            Step::WaitRunning => {
                self.wait_running(&guid).await?;
                return Ok(());
            }
        };
        app.entity = entity;
        Ok(())
    }

    /// Sets the final status: ready when stopped (it has its settings), when started with no
    /// instances (nothing to wait for), or once waited on; else pending (not waited on).
    fn finish(&self, app: &AppResource, waited: bool) -> Result<(), Failure> {
        let started = app.entity.state.as_deref() == Some(AppState::Started.as_str());
        if started && app.entity.instances == Some(0) {
            ci::info(format_args!(
                "app {:?} is started with 0 instances",
                self.target.name
            ));
        }
        if !started || app.entity.instances == Some(0) || waited {
            self.progress.update(|o| o.status = Status::Ready);
        }
        Ok(())
    }

    /// A dry run: the plan, and the requests it would send (secret values hidden).
    fn print_plan(&self, current: Option<&Current>, steps: &[Step]) {
        if steps.is_empty() {
            ci::info(format_args!(
                "dry run: app {:?} already has the given settings; nothing to do",
                self.target.name
            ));
            return;
        }
        api::print_steps(steps);
        let guid = current.map_or("{new guid}", |c| c.guid.as_str());
        for route in &self.routes {
            api::print_plan(
                "PUT",
                &format!("/v2/routes/{{route}}/apps/{guid} (unless mapped already)"),
                &serde_json::json!({"route": route.url()}),
            );
        }
        for step in steps {
            match step {
                Step::Create(settings) => {
                    print_request("POST", "/v2/apps", &self.create_body(settings))
                }
                Step::Update { changes, stop, .. } => print_request(
                    "PUT",
                    &format!("/v2/apps/{guid}"),
                    &update_body(changes, *stop),
                ),
                Step::Stop(_) => print_request(
                    "PUT",
                    &format!("/v2/apps/{guid}"),
                    &state(AppState::Stopped),
                ),
                Step::Upload(path) => print_request(
                    "PUT",
                    &format!("/v2/apps/{guid}/bits?async=true"),
                    &format!("the bits of {}", path.display()),
                ),
                Step::Start => print_request(
                    "PUT",
                    &format!("/v2/apps/{guid}"),
                    &state(AppState::Started),
                ),
                Step::WaitRunning => {}
            }
        }
    }

    /// The app with this name in this space. The list is asked for exactly that, but only an
    /// app that really has the name and the space is taken, whatever the server answered: an
    /// app of a space the user did not name must never be changed. Pages are followed by their
    /// `next_url` until the app turns up or the list ends.
    async fn find(&self) -> Result<Option<AppResource>, Failure> {
        let (name, space) = (&self.target.name, &self.space_guid);
        let q = vec![format!("name:{name}"), format!("space_guid:{space}")];
        let context = || format!("looking for app {name:?} in space {space}");
        let mut page: Option<NonZeroU64> = None;
        let mut size = NonZeroU64::new(PAGE_SIZE).unwrap_or(NonZeroU64::MIN);
        for _ in 0..MAX_PAGES {
            let mut request = self.client.list_apps().q(q.clone()).results_per_page(size);
            if let Some(page) = page {
                request = request.page(page);
            }
            let listed = call(request.send()).await.with_context(context)?;
            // Names are unique in a space: the first that matches is the one.
            if let Some(app) = listed.resources.into_iter().find(|a| self.is_ours(a)) {
                return Ok(Some(app));
            }
            let Some(next) = listed.next_url.as_deref().filter(|u| !u.is_empty()) else {
                return Ok(None);
            };
            let current = page.unwrap_or(NonZeroU64::MIN);
            match next_page(next) {
                // Only forward: a link back (or to itself) would never end.
                Some((number, given)) if number > current => {
                    page = Some(number);
                    size = given.unwrap_or(size);
                }
                _ => {
                    return Err(anyhow!(
                        "the app list's next_url {next:?} does not lead past page {current}; \
                         berth stops rather than act on a partial list"
                    )
                    .context(context())
                    .into());
                }
            }
        }
        Err(anyhow!(
            "the app list goes on beyond {MAX_PAGES} pages; berth stops rather than act on a \
             partial list, which could make it create a duplicate or miss the app"
        )
        .context(context())
        .into())
    }

    /// Exactly the configured name, in exactly the configured space (guids in any case).
    fn is_ours(&self, app: &AppResource) -> bool {
        app.entity.name.as_deref() == Some(self.target.name.as_str())
            && app
                .entity
                .space_guid
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(&self.space_guid))
    }

    fn create_body(&self, s: &AppSettings) -> AppCreate {
        AppCreate {
            name: self.target.name.clone(),
            space_guid: self.space_guid.clone(),
            memory: s.memory,
            instances: s.instances,
            disk_quota: s.disk_quota,
            stack_guid: s.stack_guid.clone(),
            // Created stopped: bits go up and the start comes after.
            state: Some(AppState::Stopped.as_str().into()),
            command: s.command.clone(),
            buildpack: one_buildpack(s),
            health_check_type: s.health_check_type.map(|h| h.as_str().into()),
            health_check_timeout: s.health_check_timeout,
            health_check_http_endpoint: s.health_check_http_endpoint.clone(),
            diego: s.diego,
            docker_image: s.docker_image.clone(),
            docker_credentials: self.target.docker_credentials.as_ref().map(|c| {
                serde_json::Map::from_iter([
                    ("username".to_string(), c.username.clone().into()),
                    ("password".to_string(), c.password.expose().into()),
                ])
            }),
            environment_json: s.environment.clone(),
            enable_ssh: s.enable_ssh,
            console: s.console,
            debug: debug(s),
            production: None,
            ports: None,
        }
    }

    /// `POST /v2/apps`, never twice: names are unique in a space, so after an unclear outcome
    /// it is looked up, and a `CF-AppNameTaken` answer means another run was faster.
    async fn create(&self, settings: &AppSettings) -> Result<Created<AppResource>, Failure> {
        let body = self.create_body(settings);
        let (name, space) = (&self.target.name, &self.space_guid);
        ci::info(format_args!("creating app {name:?} in space {space}"));
        // In flight until its guid is in the outputs: a signal meanwhile waits for the answer.
        let _write = self.progress.writing();
        let created = api::attempts::create_once(
            &format!("creating app {name:?} in space {space}"),
            self.policy.deadline,
            || self.progress.stopping(),
            |e| e.kind.as_deref() == Some("CF-AppNameTaken"),
            || call(self.client.create_app().body(body.clone()).send()),
            || self.find(),
        )
        .await?;
        match &created {
            Created::New(app) => {
                self.record(app);
                self.progress.update(|o| o.created = true);
                ci::info(format_args!("created app {}", app.metadata.guid));
            }
            Created::Existing(app) => self.record(app),
        }
        Ok(created)
    }

    async fn put(&self, guid: &str, body: AppUpdate, why: &str) -> Result<AppEntity, Failure> {
        let app = call(self.client.update_app().guid(guid).body(body).send())
            .await
            .with_context(|| format!("app {:?} ({guid}): {why}", self.target.name))?;
        self.record(&app);
        Ok(app.entity)
    }

    async fn upload(&self, guid: &str, path: &std::path::Path) -> Result<(), Failure> {
        // Zipping a large tree takes a while: off the one async thread, so that signals and the
        // deadline are still seen meanwhile.
        let (dir, exclude) = (path.to_path_buf(), self.target.exclude.clone());
        let zip = tokio::task::spawn_blocking(move || bits::archive(&dir, &exclude))
            .await
            .map_err(|e| anyhow!("packing BERTH_PATH stopped: {e}"))?
            .with_context(|| format!("packing BERTH_PATH {}", path.display()))?;
        let size = zip.len;
        ci::info(format_args!(
            "uploading {} ({} KiB)",
            path.display(),
            size.div_ceil(1024)
        ));
        let context = || {
            format!(
                "uploading the bits of app {:?} ({:.1} MB)",
                self.target.name,
                size as f64 / 1e6
            )
        };
        let job = bits::upload_v2(&self.http, &self.policy, &self.common.api_url, guid, zip)
            .await
            .with_context(context)?;
        if JobStatus::parse(&job.status) == Some(JobStatus::Finished) {
            return Ok(());
        }
        let what = format!("upload job {}", job.guid);
        wait::until(&what, self.policy.deadline, &self.policy, || async {
            let job = call(self.client.get_job().guid(&job.guid).send())
                .await
                .with_context(|| format!("reading upload job {}", job.guid))?;
            let status = job.entity.status.as_deref().unwrap_or("unknown");
            match JobStatus::parse(status) {
                Some(JobStatus::Finished) => Ok(Poll::Ready(())),
                Some(JobStatus::Failed) => {
                    let details = job.entity.error_details.map_or_else(
                        || job.entity.error.clone().unwrap_or_default(),
                        |d| {
                            format!(
                                "{} {}",
                                d.error_code.unwrap_or_default(),
                                d.description.unwrap_or_default()
                            )
                        },
                    );
                    Err(anyhow!("the upload job failed: {}", details.trim()))
                }
                _ => Ok(Poll::Pending(format!("job {status}"))),
            }
        })
        .await
        .map_err(Failure::from)
        .map_err(|f| with_context(f, &context()))
    }

    /// Waits for a started app: staged, then one instance running.
    async fn wait_running(&self, guid: &str) -> Result<(), Failure> {
        let staging_deadline = phase_deadline(&self.policy, self.target.staging_timeout);
        let failed = std::cell::RefCell::new(None);
        let staged = wait::until(
            &format!("app {:?} to stage", self.target.name),
            staging_deadline,
            &self.policy,
            || async {
                self.logs.show().await;
                let app = call(self.client.get_app().guid(guid).send())
                    .await
                    .with_context(|| format!("reading app {guid}"))?;
                self.record(&app);
                let state = app.entity.package_state.as_deref();
                match state.and_then(PackageState::parse) {
                    Some(PackageState::Staged) => Ok(Poll::Ready(())),
                    Some(PackageState::Failed) => {
                        let reason = format!(
                            "staging failed: {}: {}",
                            app.entity
                                .staging_failed_reason
                                .as_deref()
                                .unwrap_or("no reason given"),
                            app.entity
                                .staging_failed_description
                                .as_deref()
                                .unwrap_or("no description")
                        );
                        failed.replace(Some(reason.clone()));
                        Err(anyhow!(reason))
                    }
                    _ => Ok(Poll::Pending(format!(
                        "package {}",
                        state.unwrap_or("unknown")
                    ))),
                }
            },
        )
        .await;
        match (staged, failed.take()) {
            (Ok(()), _) => self.logs.flush().await,
            (Err(_), Some(reason)) => {
                return Err(anyhow!(
                    "{}",
                    self.logs.with_tail(reason, "STG", "staging log").await
                )
                .into());
            }
            (Err(e), None) => {
                return Err(phase_timeout(
                    e,
                    self.target.staging_timeout,
                    "CF_STAGING_TIMEOUT",
                ));
            }
        }

        let startup_deadline = phase_deadline(&self.policy, self.target.startup_timeout);
        let crashed = std::cell::Cell::new(false);
        let started = wait::until(
            &format!("app {:?} to start", self.target.name),
            startup_deadline,
            &self.policy,
            || async {
                self.logs.show().await;
                let instances = match call(self.client.get_app_instances().guid(guid).send()).await
                {
                    Ok(i) => i,
                    // Staged, but the instances are not known yet.
                    Err(e) if e.kind.as_deref() == Some("CF-NotStaged") => {
                        return Ok(Poll::Pending("not staged yet".into()));
                    }
                    Err(e) => {
                        return Err(anyhow::Error::new(e)
                            .context(format!("reading the instances of app {guid}")));
                    }
                };
                let mut states: Vec<(String, &str, Option<&str>)> = instances
                    .iter()
                    .map(|(index, i)| {
                        (
                            index.clone(),
                            i.state.as_deref().unwrap_or("UNKNOWN"),
                            i.details.as_deref(),
                        )
                    })
                    .collect();
                states.sort();
                let is = |s: &str, wanted: &[InstanceState]| {
                    InstanceState::parse(s).is_some_and(|s| wanted.contains(&s))
                };
                if states
                    .iter()
                    .any(|(_, s, _)| is(s, &[InstanceState::Running]))
                {
                    return Ok(Poll::Ready(()));
                }
                if let Some((index, state, details)) = states
                    .iter()
                    .find(|(_, s, _)| is(s, &[InstanceState::Crashed, InstanceState::Flapping]))
                {
                    crashed.set(true);
                    return Err(anyhow!(
                        "instance {index} {}{}",
                        state.to_ascii_lowercase(),
                        details.map(|d| format!(": {d}")).unwrap_or_default()
                    ));
                }
                let summary: Vec<String> =
                    states.iter().map(|(i, s, _)| format!("{i}:{s}")).collect();
                Ok(Poll::Pending(format!("instances {}", summary.join(" "))))
            },
        )
        .await;
        match started {
            Ok(()) => {
                self.logs.show().await;
                Ok(())
            }
            Err(wait::WaitError::Failed(e)) if crashed.get() => Err(anyhow!(
                "{}",
                self.logs
                    .with_tail(
                        format!("app {:?}: {e:#}", self.target.name),
                        "APP",
                        "app's log"
                    )
                    .await
            )
            .into()),
            Err(e) => Err(phase_timeout(
                e,
                self.target.startup_timeout,
                "CF_STARTUP_TIMEOUT",
            )),
        }
    }

    fn record(&self, app: &AppResource) {
        self.progress.update(|o| {
            o.id = Some(app.metadata.guid.clone());
            o.app_name = app.entity.name.clone().or(o.app_name.take());
            o.state = app.entity.state.clone().or(o.state.take());
            o.package_state = app.entity.package_state.clone().or(o.package_state.take());
        });
    }
}

/// The app as plan sees it: the v2 entity in berth's terms.
fn as_current(app: &AppResource) -> Current {
    let e = &app.entity;
    Current {
        guid: app.metadata.guid.clone(),
        state: e
            .state
            .as_deref()
            .and_then(AppState::parse)
            .unwrap_or(AppState::Stopped),
        settings: AppSettings {
            memory: e.memory,
            instances: e.instances,
            disk_quota: e.disk_quota,
            stack_guid: e.stack_guid.clone(),
            stack: None,
            command: e.command.clone(),
            buildpacks: e.buildpack.clone().map(|b| vec![b]),
            health_check_type: e.health_check_type.as_deref().and_then(HealthCheck::parse),
            health_check_timeout: e.health_check_timeout,
            health_check_http_endpoint: e.health_check_http_endpoint.clone(),
            docker_image: e.docker_image.clone(),
            environment: e.environment_json.clone(),
            diego: e.diego,
            enable_ssh: e.enable_ssh,
            console: e.console,
            debug: Some(e.debug.is_some()),
        },
        source: None,
    }
}

/// The cf CLI's per-phase timeout (when configured); the run's deadline covers both phases.
fn phase_deadline(policy: &api::Policy, phase: Option<Duration>) -> Instant {
    match phase {
        Some(timeout) => (Instant::now() + timeout).min(policy.deadline),
        None => policy.deadline,
    }
}

/// The root document's links (`GET /`, no token needed): which APIs the foundation serves, and
/// where UAA and log-cache are.
#[derive(Debug, Clone, Default)]
pub struct Root {
    /// `cloud_controller_v2` is listed (only while v2 is switched on).
    pub v2: bool,
    /// `cloud_controller_v3` is listed.
    pub v3: bool,
    /// UAA (`uaa`, else `login`), where tokens come from.
    pub uaa: Option<String>,
    /// log-cache, where staging logs are read.
    pub log_cache: Option<String>,
}

impl Root {
    /// Reads the root document once. `None` when the foundation has none (404: an old Cloud
    /// Controller, which serves v2).
    async fn read(
        http: &reqwest::Client,
        policy: &api::Policy,
        api_url: &str,
    ) -> Result<Option<Self>, Failure> {
        let request = http
            .get(format!("{api_url}/"))
            .build()
            .map_err(anyhow::Error::new)?;
        let response = match api::send_plain(http, request, policy, "the API").await {
            Ok(r) => r,
            Err(e) if e.status == Some(404) => return Ok(None),
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context("reading the root document (GET /)")
                    .into());
            }
        };
        let body: serde_json::Value = response
            .json()
            .await
            .context("reading the root document (GET /): not JSON")?;
        let href = |name: &str| {
            body.pointer(&format!("/links/{name}/href"))
                .and_then(|h| h.as_str())
                .filter(|h| !h.is_empty())
                .map(|h| h.trim_end_matches('/').to_string())
        };
        Ok(Some(Self {
            v2: href("cloud_controller_v2").is_some(),
            v3: href("cloud_controller_v3").is_some(),
            uaa: href("uaa").or_else(|| href("login")),
            log_cache: href("log_cache"),
        }))
    }
}

/// The API this run speaks: as `BERTH_CF_API` asks, from what the root document offers.
fn choose(asked: CfApi, root: Option<&Root>) -> Result<CfApi, Failure> {
    let offers_v3 = root.is_some_and(|r| r.v3);
    match asked {
        CfApi::V2 => Ok(CfApi::V2),
        CfApi::V3 if offers_v3 => Ok(CfApi::V3),
        CfApi::V3 => Err(anyhow!(
            "BERTH_CF_API is v3, but the foundation's root document (GET /) does not offer \
             cloud_controller_v3; use BERTH_CF_API=auto or v2"
        )
        .into()),
        CfApi::Auto if offers_v3 => Ok(CfApi::V3),
        CfApi::Auto => {
            ci::info("the foundation's root document offers no Cloud Controller v3: using v2");
            Ok(CfApi::V2)
        }
    }
}

/// A wait that timed out at a cf CLI phase limit says so: that limit, not the run's, and its
/// variable.
fn phase_timeout(e: wait::WaitError, phase: Option<Duration>, var: &str) -> Failure {
    match (Failure::from(e), phase) {
        (Failure::Timeout(mut timeout), Some(phase)) => {
            timeout.limit = Some(phase);
            timeout.pending.push_str(&format!(" ({var})"));
            Failure::Timeout(timeout)
        }
        (other, _) => other,
    }
}

/// v2 takes one buildpack (the configuration refuses several).
fn one_buildpack(s: &AppSettings) -> Option<String> {
    s.buildpacks.as_ref().and_then(|b| b.first().cloned())
}

/// The v2 body that changes these settings (and stops the app when `stop`).
fn update_body(changes: &AppSettings, stop: bool) -> AppUpdate {
    AppUpdate {
        memory: changes.memory,
        instances: changes.instances,
        disk_quota: changes.disk_quota,
        stack_guid: changes.stack_guid.clone(),
        command: changes.command.clone(),
        buildpack: one_buildpack(changes),
        health_check_type: changes.health_check_type.map(|h| h.as_str().into()),
        health_check_timeout: changes.health_check_timeout,
        health_check_http_endpoint: changes.health_check_http_endpoint.clone(),
        docker_image: changes.docker_image.clone(),
        environment_json: changes.environment.clone(),
        diego: changes.diego,
        enable_ssh: changes.enable_ssh,
        console: changes.console,
        debug: debug(changes),
        state: stop.then(|| AppState::Stopped.as_str().into()),
        ..AppUpdate::default()
    }
}

/// `debug` is a mode string in the v2 API (deprecated); `BERTH_DEBUG=true` asks for `run`.
fn debug(s: &AppSettings) -> Option<String> {
    s.debug.filter(|d| *d).map(|_| "run".to_string())
}

fn state(state: AppState) -> AppUpdate {
    AppUpdate {
        state: Some(state.as_str().into()),
        ..AppUpdate::default()
    }
}

/// The `page` and `results-per-page` of a list's `next_url`, a path and query relative to the
/// API root (`/v2/apps?order-direction=asc&page=2&q=name:x&results-per-page=50`). The next
/// request is sent through the generated client with these, not to the URL as it is, so that
/// it goes to the API berth was given with the filters berth chose.
fn next_page(next_url: &str) -> Option<(NonZeroU64, Option<NonZeroU64>)> {
    let base = reqwest::Url::parse("http://cloud-controller.invalid/").ok()?;
    let url = base.join(next_url).ok()?;
    let number = |key: &str| {
        url.query_pairs()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.parse::<NonZeroU64>().ok())
    };
    Some((number("page")?, number("results-per-page")))
}

fn with_context(failure: Failure, context: &str) -> Failure {
    match failure {
        Failure::Platform(e) => Failure::Platform(e.context(context.to_string())),
        other => other,
    }
}

/// Prints a planned request, with environment values and Docker credentials hidden.
fn print_request(method: &str, path: &str, body: &impl serde::Serialize) {
    let mut body = serde_json::to_value(body).unwrap_or_default();
    for field in ["environment_json", "docker_credentials"] {
        if let Some(map) = body.get_mut(field).and_then(|v| v.as_object_mut()) {
            map.values_mut().for_each(|v| *v = api::REDACTED.into());
        }
    }
    api::print_plan(method, path, &body);
}

pub(crate) fn is_v2_disabled(e: &ApiError) -> bool {
    e.status == Some(404) && e.message.contains(V2_DISABLED_TEXT)
}

pub(crate) fn v2_disabled_error() -> anyhow::Error {
    anyhow!(
        "this Cloud Foundry foundation has switched the v2 API off (Cloud Controller 1.201.0 and \
         later do by default); berth speaks v2 only: ask the operators to enable it, or use a \
         foundation that offers it"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_url_gives_its_page_and_size() {
        let n = |v: u64| NonZeroU64::new(v).unwrap();
        assert_eq!(
            next_page(
                "/v2/apps?order-direction=asc&page=2&q=name:x&q=space_guid:y&results-per-page=50"
            ),
            Some((n(2), Some(n(50))))
        );
        assert_eq!(next_page("/v2/spaces/s/apps?page=7"), Some((n(7), None)));
        assert_eq!(next_page("/v2/apps?page=0&results-per-page=2"), None);
        assert_eq!(next_page("/v2/apps?results-per-page=2"), None);
        assert_eq!(next_page("/v2/apps?page=two"), None);
    }

    #[test]
    fn a_timeout_at_a_cf_cli_phase_limit_names_that_limit_and_its_variable() {
        let waited = || wait::WaitError::Timeout {
            what: "app \"x\" to stage".into(),
            state: "package PENDING".into(),
            waited: Duration::from_secs(60),
        };
        let Failure::Timeout(timeout) = phase_timeout(
            waited(),
            Some(Duration::from_secs(60)),
            "CF_STAGING_TIMEOUT",
        ) else {
            panic!("not a timeout")
        };
        assert_eq!(timeout.limit, Some(Duration::from_secs(60)));
        assert!(
            timeout.pending.ends_with("(CF_STAGING_TIMEOUT)"),
            "{}",
            timeout.pending
        );
        // Without a phase limit the run's own applies, filled in by the job.
        let Failure::Timeout(timeout) = phase_timeout(waited(), None, "CF_STAGING_TIMEOUT") else {
            panic!("not a timeout")
        };
        assert_eq!(timeout.limit, None);
    }
}
