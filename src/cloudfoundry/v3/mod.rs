//! Cloud Foundry through Cloud Controller v3: the plan of [`super::plan`], applied the way
//! `cf push` v8 does it. The app is created with its lifecycle and environment; its web process
//! carries command, health check and scale; new bits go up as a package, are built into a
//! droplet while the old one keeps running, and only then does the app restart on it. The
//! source's fingerprint is recorded on the app, so that a re-run with nothing changed sends
//! nothing.

#[macro_use]
mod lists;
mod routes;

use super::{
    Root, logs, phase_deadline, phase_timeout,
    plan::{self, Current, Refusal, Step},
    source,
};
use crate::{
    Failure,
    api::{
        self,
        attempts::Created,
        call,
        cloudfoundry_v3::{
            Client,
            types::{
                App, CreateAppBody, CreateAppBodyRelationships, CreateBuildBody,
                CreateDeploymentBody, CreateDeploymentBodyOptions, CreatePackageBody,
                CreatePackageBodyData, CreatePackageBodyRelationships,
                HealthCheck as HealthCheckBody, HealthCheckData, Lifecycle, LifecycleData,
                Metadata, Process, Relationship, RelationshipToOne, ScaleProcessBody,
                SetCurrentDropletForAppBody, UpdateAppBody, UpdateAppFeatureBody,
                UpdateEnvironmentVariablesForAppBody, UpdateProcessBody,
            },
        },
    },
    ci,
    config::{
        AppSettings, AppState, CloudFoundryTarget, Common, ConfigError, ConfigErrors, HealthCheck,
        Strategy,
    },
    outputs::{Progress, Status},
    wait::{self, Poll},
};
use anyhow::{Context, anyhow};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The lifecycle types berth deploys.
const BUILDPACK: &str = "buildpack";
const DOCKER: &str = "docker";

/// The v3 flow, logged in (`policy` carries the token) and with the space known.
pub(super) async fn run(
    common: &Common,
    target: &CloudFoundryTarget,
    progress: &Progress,
    policy: api::Policy,
    http: reqwest::Client,
    root: &Root,
) -> Result<(), Failure> {
    let client = Client::new_with_client(&common.api_url, http.clone(), policy.clone());
    let space_guid = lists::space(&client, &target.space).await?;
    let mut target = for_v3(target);
    let (stack, stack_guid) = (
        target.settings.stack.take(),
        target.settings.stack_guid.take(),
    );
    if stack.is_some() || stack_guid.is_some() {
        target.settings.stack =
            Some(lists::stack(&client, stack.as_deref(), stack_guid.as_deref()).await?);
    }
    // Routes are resolved before anything is written: an unknown domain is exit 2.
    let routes = match &target.routes {
        Some(specs) => routes::resolve(&client, specs, &target.name, &space_guid).await?,
        None => Vec::new(),
    };
    // Fingerprinting a large tree takes a while: off the one async thread.
    let fingerprint = match target.path.clone() {
        Some(path) => {
            let exclude = target.exclude.clone();
            Some(
                tokio::task::spawn_blocking(move || source::fingerprint(&path, &exclude))
                    .await
                    .map_err(|e| anyhow!("reading BERTH_PATH stopped: {e}"))?
                    .context("reading BERTH_PATH")?,
            )
        }
        None => None,
    };
    let logs = logs::Follower::new(
        http.clone(),
        policy.clone(),
        target.logs.then(|| root.log_cache.clone()),
    );
    Pusher {
        policy,
        client,
        http,
        common,
        target: &target,
        space_guid,
        progress,
        fingerprint,
        routes,
        logs,
    }
    .run()
    .await
}

/// The target in v3's terms: `none` is `process`, the environment is text, and the inputs v3
/// has no place for are said to be ignored.
fn for_v3(target: &CloudFoundryTarget) -> CloudFoundryTarget {
    let mut target = target.clone();
    let s = &mut target.settings;
    for (var, given) in [
        ("BERTH_DIEGO", s.diego.take()),
        ("BERTH_CONSOLE", s.console.take()),
        ("BERTH_DEBUG", s.debug.take()),
    ] {
        if given.is_some() {
            ci::warn(format_args!(
                "{var} is a Cloud Controller v2 setting that v3 does not have; it is ignored"
            ));
        }
    }
    if s.health_check_type == Some(HealthCheck::None) {
        s.health_check_type = Some(HealthCheck::Process);
    }
    if let Some(env) = &mut s.environment {
        for value in env.values_mut() {
            *value = Value::String(env_text(value));
        }
    }
    target
}

/// An environment value as v3 keeps it: text (a JSON value that is not text, as JSON).
fn env_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The app as the flow knows it, kept up to date with what the platform answers.
#[derive(Debug, Clone)]
struct Known {
    app: App,
    /// Its web process (`None` until read).
    web: Option<Process>,
    /// Its environment variables.
    env: Map<String, Value>,
}

/// What the next start must build first.
#[derive(Debug, Clone, PartialEq)]
enum Build {
    /// A bits package, uploaded this run, and the fingerprint of its source.
    Bits { package: String, source: String },
    /// A Docker image (its package is made when it is built).
    Docker(String),
    /// The current droplet's package again: the lifecycle (buildpacks, stack) changed.
    Restage,
}

/// The Cloud Foundry v3 flow of one run.
struct Pusher<'a> {
    policy: api::Policy,
    client: Client,
    http: reqwest::Client,
    common: &'a Common,
    target: &'a CloudFoundryTarget,
    space_guid: String,
    progress: &'a Progress,
    /// The fingerprint of `BERTH_PATH`.
    fingerprint: Option<String>,
    /// The routes of `BERTH_ROUTES`, their domains known.
    routes: Vec<routes::Wanted>,
    /// The app's log, read from before its first build or start.
    logs: logs::Follower,
}

/// What applying the steps has left to do at the next start.
#[derive(Debug, Default)]
struct Pending {
    /// Build this before starting.
    build: Option<Build>,
    /// The app runs and must restart (it keeps running until the new droplet is ready).
    restart: bool,
    /// The fingerprint the current droplet was built from, when recorded: a restage of its
    /// package keeps it.
    source: Option<String>,
    /// New memory and disk of a running app, held until it goes over: scaling them at once
    /// would restart every instance (a new process version), before the new droplet is ready
    /// or without the rolling deployment asked for.
    resize: Option<(Option<i64>, Option<i64>)>,
}

impl Pusher<'_> {
    async fn run(&self) -> Result<(), Failure> {
        let existing = lists::app(&self.client, &self.target.name, &self.space_guid).await?;
        let mut known = None;
        let mut current = None;
        if let Some(app) = existing {
            self.record(&app);
            let (k, c) = self.read(app).await?;
            self.check_lifecycle(&k)?;
            known = Some(k);
            current = Some(c);
        }
        let steps = self.plan(current.as_ref())?;
        if self.common.dry_run {
            self.progress.update(|o| o.dry_run = true);
            self.print_plan(current.as_ref(), &steps);
            return Ok(());
        }
        if current.is_some() && steps.iter().all(|s| *s == Step::WaitRunning) {
            ci::info(format_args!(
                "app {:?} already has the given settings{}; nothing to change",
                self.target.name,
                if self.target.path.is_some() {
                    " and runs a droplet built from these bits"
                } else {
                    ""
                }
            ));
        }
        if let Some(k) = &known {
            self.map_routes(&k.app.guid).await?;
        }
        let mut pending = Pending {
            source: current.as_ref().and_then(|c| c.source.clone()),
            ..Pending::default()
        };
        for (n, step) in steps.iter().enumerate() {
            if let Step::Create(settings) = step {
                match self.create(settings).await? {
                    Created::New(app) => {
                        self.map_routes(&app.guid).await?;
                        let (k, c) = self.read(app).await?;
                        // What POST /v3/apps does not take: the process, scale and ssh.
                        let (changes, what) = plan::changes(settings, &c.settings);
                        let mut k = k;
                        if !what.is_empty() {
                            self.update(&mut k, &changes, &mut pending).await?;
                        }
                        if let Some(image) = &settings.docker_image {
                            pending.build = Some(Build::Docker(image.clone()));
                        }
                        known = Some(k);
                    }
                    Created::Existing(app) => {
                        // Another run was faster: plan again from the app it made.
                        self.map_routes(&app.guid).await?;
                        let (k, c) = self.read(app).await?;
                        self.check_lifecycle(&k)?;
                        let rest = self.plan(Some(&c))?;
                        let mut k = k;
                        let mut pending = Pending {
                            source: c.source.clone(),
                            ..Pending::default()
                        };
                        for step in &rest {
                            self.apply(step, &mut k, &mut pending).await?;
                        }
                        self.settle(&mut k, &mut pending).await?;
                        return self.finish(&k, rest.contains(&Step::WaitRunning));
                    }
                }
                continue;
            }
            let Some(k) = known.as_mut() else {
                unreachable!("every plan for a missing app starts with Create (step {n})");
            };
            self.apply(step, k, &mut pending).await?;
        }
        match known.as_mut() {
            Some(k) => {
                self.settle(k, &mut pending).await?;
                self.finish(k, steps.contains(&Step::WaitRunning))
            }
            None => Ok(()),
        }
    }

    /// Maps the routes of `BERTH_ROUTES` to the app; records `url` and `app-routes`.
    async fn map_routes(&self, app: &str) -> Result<(), Failure> {
        let mapped = match routes::map(&self.client, &self.routes, app, &self.space_guid).await {
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
        let url = self
            .routes
            .first()
            .map(routes::Wanted::link)
            .or_else(|| mapped.first().map(|(url, tcp)| routes::link(url, *tcp)));
        self.progress.update(|o| {
            o.url = url;
            o.app_routes = Some(mapped.into_iter().map(|(url, _)| url).collect());
        });
        Ok(())
    }

    /// The plan for this app, or why there is none.
    fn plan(&self, current: Option<&Current>) -> Result<Vec<Step>, Failure> {
        plan::plan(
            current,
            self.target,
            self.common.on_existing,
            self.common.wait,
            self.fingerprint.as_deref(),
        )
        .map_err(|refusal| match refusal {
            Refusal::Exists => anyhow!(
                "app {:?} ({}) exists already in space {} and BERTH_ON_EXISTING is fail",
                self.target.name,
                current.map_or("?", |c| c.guid.as_str()),
                self.space_guid
            )
            .into(),
            Refusal::NothingToRun => config_error(
                "BERTH_STATE",
                format!(
                    "STARTED needs something to run: app {:?} does not exist yet, so give \
                     BERTH_PATH (bits to upload) or BERTH_DOCKER_IMAGE",
                    self.target.name
                ),
            ),
        })
    }

    /// An app's lifecycle type cannot change on v3: a buildpack app stays one, a Docker app too.
    fn check_lifecycle(&self, known: &Known) -> Result<(), Failure> {
        let kind = lifecycle_type(&known.app);
        let s = &self.target.settings;
        let name = &self.target.name;
        if kind == DOCKER
            && (self.target.path.is_some() || s.buildpacks.is_some() || s.stack.is_some())
        {
            let var = if self.target.path.is_some() {
                "BERTH_PATH"
            } else if s.buildpacks.is_some() {
                "BERTH_BUILDPACK"
            } else {
                "BERTH_STACK"
            };
            return Err(config_error(
                var,
                format!(
                    "app {name:?} runs a Docker image; Cloud Foundry cannot turn it into a \
                     buildpack app: delete it first, or give BERTH_DOCKER_IMAGE"
                ),
            ));
        }
        if kind != DOCKER && s.docker_image.is_some() {
            return Err(config_error(
                "BERTH_DOCKER_IMAGE",
                format!(
                    "app {name:?} is a {kind} app; Cloud Foundry cannot turn it into a Docker \
                     app: delete it first, or give BERTH_PATH"
                ),
            ));
        }
        Ok(())
    }

    /// The app's environment, web process, ssh and current droplet: the app as the plan sees it.
    async fn read(&self, app: App) -> Result<(Known, Current), Failure> {
        let guid = app.guid.clone();
        let context = |what: &str| format!("reading the {what} of app {guid}");
        let env = call(
            self.client
                .get_environment_variables_for_app()
                .guid(&guid)
                .send(),
        )
        .await
        .with_context(|| context("environment variables"))?;
        let web = call(
            self.client
                .get_process_for_app()
                .guid(&guid)
                .type_("web")
                .send(),
        )
        .await
        .with_context(|| context("web process"))?;
        let ssh = call(self.client.get_ssh_enabled_for_app().guid(&guid).send())
            .await
            .with_context(|| context("ssh setting"))?;
        let droplet = match call(self.client.get_current_droplet_for_app().guid(&guid).send()).await
        {
            Ok(d) => Some(d),
            // No droplet yet: never staged.
            Err(e) if e.status == Some(404) => None,
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(context("current droplet"))
                    .into());
            }
        };
        let env: Map<String, Value> = env
            .var
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, Value::String(env_text(&v))))
            .collect();
        let data = app.lifecycle.as_ref().and_then(|l| l.data.as_ref());
        let health = web.health_check.as_ref();
        let health_data = health.and_then(|h| h.data.as_ref());
        let docker = lifecycle_type(&app) == DOCKER;
        if let Some(d) = &droplet {
            self.progress.update(|o| {
                o.droplet_guid = Some(d.guid.clone());
                o.package_guid = droplet_package(d);
                o.package_state = Some(d.state.clone());
            });
        }
        // The recorded fingerprint counts only while the droplet it was recorded with is current.
        let annotations = app.metadata.as_ref().map(|m| &m.annotations);
        let annotation = |key: &str| annotations.and_then(|a| a.get(key).cloned().flatten());
        let source = annotation(source::SOURCE_ANNOTATION).filter(|_| {
            droplet.as_ref().is_some_and(|d| {
                annotation(source::DROPLET_ANNOTATION).as_deref() == Some(d.guid.as_str())
            })
        });
        let current = Current {
            guid: guid.clone(),
            state: AppState::parse(&app.state).unwrap_or(AppState::Stopped),
            settings: AppSettings {
                memory: web.memory_in_mb,
                instances: web.instances,
                disk_quota: web.disk_in_mb,
                stack: data.and_then(|d| d.stack.clone()),
                buildpacks: data.map(|d| d.buildpacks.clone()).filter(|b| !b.is_empty()),
                command: web.command.clone(),
                health_check_type: health
                    .and_then(|h| h.type_.as_deref())
                    .and_then(HealthCheck::parse),
                health_check_timeout: health_data.and_then(|d| d.timeout),
                health_check_http_endpoint: health_data.and_then(|d| d.endpoint.clone()),
                docker_image: droplet
                    .as_ref()
                    .filter(|_| docker)
                    .and_then(|d| d.image.clone()),
                environment: Some(env.clone()),
                enable_ssh: Some(ssh.enabled),
                ..AppSettings::default()
            },
            source,
        };
        Ok((
            Known {
                app,
                web: Some(web),
                env,
            },
            current,
        ))
    }

    /// One step of the plan. Stops and starts wait for [`Self::settle`], which builds first: the
    /// old droplet keeps serving until the new one is staged.
    async fn apply(
        &self,
        step: &Step,
        known: &mut Known,
        pending: &mut Pending,
    ) -> Result<(), Failure> {
        let name = &self.target.name;
        match step {
            Step::Create(_) => unreachable!("applied by run"),
            Step::Update {
                changes,
                what,
                stop,
            } => {
                if !what.is_empty() {
                    ci::info(format_args!("updating app {name:?}: {}", what.join(", ")));
                    self.update(known, changes, pending).await?;
                }
                if *stop {
                    ci::info(format_args!("stopping app {name:?} (BERTH_STATE=STOPPED)"));
                    self.action(known, "stop").await?;
                    pending.restart = false;
                }
            }
            Step::Stop(_) => pending.restart = true,
            Step::Upload(path) => {
                let package = self.upload(&known.app.guid, path).await?;
                let source = self.fingerprint.clone().unwrap_or_default();
                pending.build = Some(Build::Bits { package, source });
            }
            Step::Start => self.start(known, pending).await?,
            Step::WaitRunning => self.wait_running(known).await?,
        }
        Ok(())
    }

    /// What is left after the last step: a stop that no start followed.
    async fn settle(&self, known: &mut Known, pending: &mut Pending) -> Result<(), Failure> {
        self.resize(known, pending).await?;
        if std::mem::take(&mut pending.restart) {
            self.action(known, "stop").await?;
        }
        if let Some(Build::Bits { package, .. }) = &pending.build {
            ci::info(format_args!(
                "package {package} is uploaded; it is staged when the app starts \
                 (BERTH_STATE=STARTED)"
            ));
        }
        Ok(())
    }

    /// Builds what is pending, makes it the current droplet, then starts (or restarts) the app.
    async fn start(&self, known: &mut Known, pending: &mut Pending) -> Result<(), Failure> {
        let name = &self.target.name;
        let guid = known.app.guid.clone();
        self.logs.follow(&guid).await;
        if let Some(build) = pending.build.take() {
            let (package, source) = match build {
                Build::Bits { package, source } => (package, Some(source)),
                Build::Docker(image) => (self.docker_package(&guid, &image).await?, None),
                Build::Restage => match self.current_package(&guid).await? {
                    // The same source again: its fingerprint stays true of the new droplet.
                    Some(package) => (package, pending.source.clone()),
                    None => {
                        ci::warn(format_args!(
                            "app {name:?} has no package to stage again; its new buildpacks or \
                             stack apply with its next bits"
                        ));
                        return self.start_or_restart(known, pending.restart).await;
                    }
                },
            };
            let droplet = self.build(&package).await?;
            // A running app goes over to the new droplet through a rolling deployment, which
            // makes it current itself once the new instances run.
            let deployed = self.rolling(pending);
            if deployed {
                pending.restart = false;
                let resize = pending.resize.take();
                self.deploy(known, Some(&droplet), resize).await?;
            } else {
                call(
                    self.client
                        .set_current_droplet_for_app()
                        .guid(&guid)
                        .body(SetCurrentDropletForAppBody {
                            data: Relationship {
                                guid: droplet.clone(),
                            },
                        })
                        .send(),
                )
                .await
                .with_context(|| {
                    format!("app {name:?} ({guid}): making droplet {droplet} current")
                })?;
            }
            self.progress.update(|o| {
                o.droplet_guid = Some(droplet.clone());
                o.package_guid = Some(package.clone());
            });
            if let Some(source) = source.filter(|s| !s.is_empty()) {
                self.annotate(known, &source, &droplet).await?;
            }
            if deployed {
                // Running on the new droplet already: nothing to start.
                return Ok(());
            }
        }
        if self.rolling(pending) {
            // New settings on the current droplet.
            pending.restart = false;
            let resize = pending.resize.take();
            return self.deploy(known, None, resize).await;
        }
        self.resize(known, pending).await?;
        let restart = std::mem::take(&mut pending.restart);
        self.start_or_restart(known, restart).await
    }

    /// Whether what is pending goes live through a rolling deployment: `BERTH_STRATEGY=rolling`
    /// and a running app that would otherwise restart.
    fn rolling(&self, pending: &Pending) -> bool {
        self.target.strategy == Strategy::Rolling && pending.restart
    }

    /// `POST /v3/deployments` (rolling) of `droplet` (`None`: the current one, with the new
    /// settings), waited on until it is `FINALIZED` with reason `DEPLOYED`: the old instances
    /// serve until the new ones run. On a timeout or a signal the job cancels it within the
    /// cleanup grace, so that the old droplet stays live.
    async fn deploy(
        &self,
        known: &mut Known,
        droplet: Option<&str>,
        resize: Option<(Option<i64>, Option<i64>)>,
    ) -> Result<(), Failure> {
        let name = &self.target.name;
        let app = known.app.guid.clone();
        ci::info(format_args!(
            "deploying app {name:?} without downtime (rolling deployment{})",
            droplet
                .map(|d| format!(" of droplet {d}"))
                .unwrap_or_default()
        ));
        let relationships = serde_json::Map::from_iter([(
            "app".to_string(),
            serde_json::json!({"data": {"guid": app}}),
        )]);
        let body = CreateDeploymentBody {
            droplet: droplet.map(|d| Relationship {
                guid: d.to_string(),
            }),
            strategy: Some("rolling".into()),
            relationships: Some(relationships.into()),
            metadata: None,
            // New memory and disk go with the new instances, not onto the running ones.
            options: resize.map(|(memory_in_mb, disk_in_mb)| CreateDeploymentBodyOptions {
                max_in_flight: std::num::NonZeroU64::MIN,
                memory_in_mb,
                disk_in_mb,
                canary: None,
                log_rate_limit_in_bytes_per_second: None,
                web_instances: None,
            }),
            revision: None,
        };
        let deployment = {
            let _write = self.progress.writing();
            let made = call(self.client.create_deployment().body(body).send())
                .await
                .with_context(|| format!("app {name:?} ({app}): creating a rolling deployment"))?;
            self.progress
                .update(|o| o.deployment_guid = Some(made.guid.clone()));
            made.guid
        };
        let cleanup = self.progress.cleanups().add(
            format!("rolling deployment {deployment} of app {name:?} (cancel it: `cf cancel-deployment {name}`)"),
            {
                let http = self.http.clone();
                let api_url = self.common.api_url.clone();
                let policy = self.policy.clone();
                let deployment = deployment.clone();
                move |grace_end| async move {
                    let mut policy = api::Policy {
                        deadline: grace_end,
                        ..policy
                    };
                    policy.budget = std::sync::Arc::default();
                    // Sent by hand: Cloud Controller answers 200 with no body, where the
                    // spec promises the deployment (its generated call cannot read that).
                    let request = http
                        .post(format!("{api_url}/v3/deployments/{deployment}/actions/cancel"))
                        .build()?;
                    api::send_plain(&http, request, &policy, "the API")
                        .await
                        .with_context(|| format!("cancelling deployment {deployment}"))?;
                    ci::info(format_args!(
                        "cancelled rolling deployment {deployment}: the old instances keep serving"
                    ));
                    Ok(())
                }
            },
        );
        let polls = std::cell::Cell::new(0);
        // Set once the platform says the deployment is over: only then is there nothing left
        // to cancel.
        let finalized = std::cell::Cell::new(false);
        // New instances that never run keep a deployment going: the cf CLI's start timeout
        // bounds it, as it bounds a start.
        let deadline = phase_deadline(&self.policy, self.target.startup_timeout);
        let outcome = wait::until(
            &format!("rolling deployment {deployment}"),
            deadline,
            &self.policy,
            || async {
                self.show_log_in_wait(&polls).await;
                let d = call(self.client.get_deployment().guid(&deployment).send())
                    .await
                    .with_context(|| format!("reading deployment {deployment}"))?;
                let value = d.status.value.as_deref().unwrap_or("UNKNOWN");
                let reason = d.status.reason.as_deref().unwrap_or("");
                finalized.set(value == "FINALIZED");
                match (value, reason) {
                    ("FINALIZED", "DEPLOYED") => Ok(Poll::Ready(())),
                    ("FINALIZED", reason) => Err(anyhow!(
                        "the rolling deployment ended {reason}: the old instances keep serving \
                         (a newer deployment supersedes an older one; a cancelled one keeps the \
                         old droplet)"
                    )),
                    (value, reason) => Ok(Poll::Pending(
                        format!("{value} {reason}").trim().to_string(),
                    )),
                }
            },
        )
        .await;
        match outcome {
            Ok(()) => {
                self.progress.cleanups().dismiss(cleanup);
                let app = call(self.client.get_app().guid(&app).send())
                    .await
                    .with_context(|| format!("reading app {app}"))?;
                // The deployment's process has become the web process: a guid of its own.
                let web = call(
                    self.client
                        .get_process_for_app()
                        .guid(&app.guid)
                        .type_("web")
                        .send(),
                )
                .await
                .with_context(|| format!("reading the web process of app {}", app.guid))?;
                self.record(&app);
                known.app = app;
                known.web = Some(web);
                Ok(())
            }
            // It ended by itself: nothing to cancel.
            Err(wait::WaitError::Failed(e)) if finalized.get() => {
                self.progress.cleanups().dismiss(cleanup);
                Err(e.into())
            }
            // Unreadable, or out of time: the job cancels it, so the old droplet stays live.
            Err(e) => Err(phase_timeout(
                e,
                self.target.startup_timeout,
                "CF_STARTUP_TIMEOUT",
            )),
        }
    }

    async fn start_or_restart(&self, known: &mut Known, restart: bool) -> Result<(), Failure> {
        let name = &self.target.name;
        if restart {
            ci::info(format_args!("restarting app {name:?}"));
            self.action(known, "restart").await
        } else {
            ci::info(format_args!("starting app {name:?}"));
            self.action(known, "start").await
        }
    }

    /// `POST /v3/apps/{guid}/actions/{start,stop,restart}`.
    async fn action(&self, known: &mut Known, action: &str) -> Result<(), Failure> {
        let guid = known.app.guid.clone();
        let c = &self.client;
        let sent = match action {
            "start" => call(c.start_app().guid(&guid).send()).await,
            "stop" => call(c.stop_app().guid(&guid).send()).await,
            _ => call(c.restart_app().guid(&guid).send()).await,
        };
        let app = sent.with_context(|| format!("app {:?} ({guid}): {action}", self.target.name))?;
        self.record(&app);
        known.app = app;
        Ok(())
    }

    /// Changes the given settings that differ: environment (merged, with the variables no
    /// longer given removed), lifecycle, the web process's command and health check, its scale,
    /// ssh. A new Docker image or lifecycle is built at the next start.
    async fn update(
        &self,
        known: &mut Known,
        changes: &AppSettings,
        pending: &mut Pending,
    ) -> Result<(), Failure> {
        let guid = known.app.guid.clone();
        let context = |what: &str| format!("app {:?} ({guid}): changing {what}", self.target.name);
        if let Some(env) = &changes.environment {
            // Only the variables that differ; those no longer given are removed (null).
            let mut var: HashMap<String, Option<String>> = env
                .iter()
                .filter(|(k, v)| known.env.get(*k).map(env_text) != Some(env_text(v)))
                .map(|(k, v)| (k.clone(), Some(env_text(v))))
                .collect();
            for key in known.env.keys().filter(|k| !env.contains_key(*k)) {
                var.insert(key.clone(), None);
            }
            let answer = call(
                self.client
                    .update_environment_variables_for_app()
                    .guid(&guid)
                    .body(UpdateEnvironmentVariablesForAppBody { var })
                    .send(),
            )
            .await
            .with_context(|| context("its environment"))?;
            known.env = answer
                .var
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, Value::String(env_text(&v))))
                .collect();
        }
        if changes.buildpacks.is_some() || changes.stack.is_some() {
            let app = call(
                self.client
                    .update_app()
                    .guid(&guid)
                    .body(UpdateAppBody {
                        lifecycle: Some(self.lifecycle(known)),
                        ..UpdateAppBody::default()
                    })
                    .send(),
            )
            .await
            .with_context(|| context("its buildpacks and stack"))?;
            known.app = app;
            if pending.build.is_none() {
                pending.build = Some(Build::Restage);
            }
        }
        let web = known
            .web
            .as_ref()
            .map(|w| w.guid.clone())
            .ok_or_else(|| anyhow!("app {guid} has no web process"))?;
        if changes.command.is_some()
            || changes.health_check_type.is_some()
            || changes.health_check_timeout.is_some()
            || changes.health_check_http_endpoint.is_some()
        {
            let process = call(
                self.client
                    .update_process()
                    .guid(&web)
                    .body(UpdateProcessBody {
                        command: changes.command.clone(),
                        health_check: self.health_check(changes, known),
                        ..UpdateProcessBody::default()
                    })
                    .send(),
            )
            .await
            .with_context(|| context("its command and health check"))?;
            known.web = Some(process);
        }
        let (mut memory, mut disk) = (changes.memory, changes.disk_quota);
        if known.app.state == AppState::Started.as_str() && (memory.is_some() || disk.is_some()) {
            pending.resize = Some((memory.take(), disk.take()));
        }
        if memory.is_some() || changes.instances.is_some() || disk.is_some() {
            self.scale(known, changes.instances, memory, disk).await?;
        }
        if let Some(enabled) = changes.enable_ssh {
            call(
                self.client
                    .update_app_feature()
                    .guid(&guid)
                    .name("ssh")
                    .body(UpdateAppFeatureBody {
                        enabled: Some(enabled),
                    })
                    .send(),
            )
            .await
            .with_context(|| context("ssh"))?;
        }
        if let Some(image) = &changes.docker_image {
            pending.build = Some(Build::Docker(image.clone()));
        }
        Ok(())
    }

    /// `POST /v3/processes/{guid}/actions/scale` of the web process.
    async fn scale(
        &self,
        known: &mut Known,
        instances: Option<i64>,
        memory_in_mb: Option<i64>,
        disk_in_mb: Option<i64>,
    ) -> Result<(), Failure> {
        let web = known
            .web
            .as_ref()
            .map(|w| w.guid.clone())
            .ok_or_else(|| anyhow!("app {} has no web process", known.app.guid))?;
        let process = call(
            self.client
                .scale_process()
                .guid(&web)
                .body(ScaleProcessBody {
                    instances,
                    memory_in_mb,
                    disk_in_mb,
                    ..ScaleProcessBody::default()
                })
                .send(),
        )
        .await
        .with_context(|| format!("app {:?}: changing its scale", self.target.name))?;
        known.web = Some(process);
        Ok(())
    }

    /// Memory and disk held back for a running app: scaled now (as the app restarts or stops).
    async fn resize(&self, known: &mut Known, pending: &mut Pending) -> Result<(), Failure> {
        match pending.resize.take() {
            Some((memory, disk)) => self.scale(known, None, memory, disk).await,
            None => Ok(()),
        }
    }

    /// The buildpack lifecycle with the given buildpacks and stack (the app's own where not
    /// given).
    fn lifecycle(&self, known: &Known) -> Lifecycle {
        let s = &self.target.settings;
        let had = known.app.lifecycle.as_ref().and_then(|l| l.data.clone());
        Lifecycle {
            type_: Some(BUILDPACK.into()),
            data: Some(LifecycleData {
                buildpacks: s
                    .buildpacks
                    .clone()
                    .or_else(|| had.as_ref().map(|d| d.buildpacks.clone()))
                    .unwrap_or_default(),
                stack: s.stack.clone().or_else(|| had.and_then(|d| d.stack)),
                ..LifecycleData::default()
            }),
        }
    }

    /// The health check as it will be: the given parts over the process's own.
    fn health_check(&self, changes: &AppSettings, known: &Known) -> Option<HealthCheckBody> {
        if changes.health_check_type.is_none()
            && changes.health_check_timeout.is_none()
            && changes.health_check_http_endpoint.is_none()
        {
            return None;
        }
        let s = &self.target.settings;
        let had = known.web.as_ref().and_then(|w| w.health_check.clone());
        let had_data = had
            .as_ref()
            .and_then(|h| h.data.clone())
            .unwrap_or_default();
        let type_ = s
            .health_check_type
            .map(|t| t.as_str().to_string())
            .or_else(|| had.and_then(|h| h.type_));
        let http = type_.as_deref() == Some(HealthCheck::Http.as_str());
        Some(HealthCheckBody {
            type_,
            data: Some(HealthCheckData {
                timeout: s.health_check_timeout.or(had_data.timeout),
                // The endpoint belongs to http checks only.
                endpoint: if http {
                    s.health_check_http_endpoint.clone().or(had_data.endpoint)
                } else {
                    None
                },
                ..HealthCheckData::default()
            }),
        })
    }

    fn create_body(&self, s: &AppSettings) -> CreateAppBody {
        let lifecycle = if s.docker_image.is_some() {
            Some(Lifecycle {
                type_: Some(DOCKER.into()),
                data: Some(LifecycleData::default()),
            })
        } else if s.buildpacks.is_some() || s.stack.is_some() {
            Some(Lifecycle {
                type_: Some(BUILDPACK.into()),
                data: Some(LifecycleData {
                    buildpacks: s.buildpacks.clone().unwrap_or_default(),
                    stack: s.stack.clone(),
                    ..LifecycleData::default()
                }),
            })
        } else {
            None
        };
        CreateAppBody {
            name: self.target.name.clone(),
            relationships: CreateAppBodyRelationships {
                space: to_one(&self.space_guid),
            },
            lifecycle,
            environment_variables: s
                .environment
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), env_text(v)))
                .collect(),
            metadata: None,
        }
    }

    /// `POST /v3/apps`, never twice: names are unique in a space, so after an unclear outcome
    /// it is looked up, and a `CF-UniquenessError` answer means another run was faster.
    async fn create(&self, settings: &AppSettings) -> Result<Created<App>, Failure> {
        let body = self.create_body(settings);
        let (name, space) = (&self.target.name, &self.space_guid);
        ci::info(format_args!("creating app {name:?} in space {space}"));
        let _write = self.progress.writing();
        let created = api::attempts::create_once(
            &format!("creating app {name:?} in space {space}"),
            self.policy.deadline,
            || self.progress.stopping(),
            |e| e.kind.as_deref() == Some("CF-UniquenessError"),
            || call(self.client.create_app().body(body.clone()).send()),
            || async {
                lists::app(&self.client, name, space)
                    .await
                    .map_err(Failure::from)
            },
        )
        .await?;
        match &created {
            Created::New(app) => {
                self.record(app);
                self.progress.update(|o| o.created = true);
                ci::info(format_args!("created app {}", app.guid));
            }
            Created::Existing(app) => self.record(app),
        }
        Ok(created)
    }

    /// A bits package with the archive of `path`: created, uploaded, `READY`. Answers its guid.
    async fn upload(&self, app: &str, path: &std::path::Path) -> Result<String, Failure> {
        let (dir, exclude) = (path.to_path_buf(), self.target.exclude.clone());
        let zip = tokio::task::spawn_blocking(move || super::bits::archive(&dir, &exclude))
            .await
            .map_err(|e| anyhow!("packing BERTH_PATH stopped: {e}"))?
            .with_context(|| format!("packing BERTH_PATH {}", path.display()))?;
        let package = self.create_package(app, "bits", None).await?;
        // In the outputs from now on: a failure later must not lose it.
        self.progress
            .update(|o| o.package_guid = Some(package.clone()));
        ci::info(format_args!(
            "uploading {} ({} KiB) to package {package}",
            path.display(),
            zip.len.div_ceil(1024)
        ));
        let size = zip.len;
        let context = || {
            format!(
                "uploading the bits of app {:?} ({:.1} MB) to package {package}",
                self.target.name,
                size as f64 / 1e6
            )
        };
        let to = super::bits::Destination::v3_package(&self.common.api_url, &package);
        super::bits::send(&self.http, &self.policy, &to, &zip)
            .await
            .with_context(context)?;
        drop(zip);
        wait::until(
            &format!("package {package}"),
            self.policy.deadline,
            &self.policy,
            || async {
                let p = call(self.client.get_package().guid(&package).send())
                    .await
                    .with_context(|| format!("reading package {package}"))?;
                match p.state.as_str() {
                    "READY" => Ok(Poll::Ready(())),
                    "FAILED" | "EXPIRED" => Err(anyhow!(
                        "package {package} is {}{}",
                        p.state,
                        p.data
                            .and_then(|d| d.error)
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    )),
                    other => Ok(Poll::Pending(format!("package {other}"))),
                }
            },
        )
        .await
        .map_err(Failure::from)
        .map_err(|f| super::with_context(f, &context()))?;
        Ok(package)
    }

    /// A Docker package for `image` (with the registry credentials, if given): `READY` at once.
    async fn docker_package(&self, app: &str, image: &str) -> Result<String, Failure> {
        let credentials = self.target.docker_credentials.as_ref();
        let data = CreatePackageBodyData {
            image: Some(image.to_string()),
            username: credentials.map(|c| c.username.clone()),
            password: credentials.map(|c| c.password.expose().to_string()),
        };
        ci::info(format_args!("making a package of Docker image {image}"));
        let package = self.create_package(app, DOCKER, Some(data)).await?;
        self.progress
            .update(|o| o.package_guid = Some(package.clone()));
        Ok(package)
    }

    async fn create_package(
        &self,
        app: &str,
        kind: &str,
        data: Option<CreatePackageBodyData>,
    ) -> Result<String, Failure> {
        let package = call(
            self.client
                .create_package()
                .body(CreatePackageBody {
                    type_: Some(kind.to_string()),
                    data,
                    relationships: CreatePackageBodyRelationships { app: to_one(app) },
                    metadata: None,
                })
                .send(),
        )
        .await
        .with_context(|| {
            format!(
                "app {:?} ({app}): creating a {kind} package",
                self.target.name
            )
        })?;
        Ok(package.guid)
    }

    /// The package the current droplet was staged from.
    async fn current_package(&self, app: &str) -> Result<Option<String>, Failure> {
        match call(self.client.get_current_droplet_for_app().guid(app).send()).await {
            Ok(droplet) => Ok(droplet_package(&droplet)),
            Err(e) if e.status == Some(404) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e)
                .context(format!("reading the current droplet of app {app}"))
                .into()),
        }
    }

    /// `POST /v3/builds` of `package`, waited on until `STAGED`: answers the droplet's guid.
    async fn build(&self, package: &str) -> Result<String, Failure> {
        let name = &self.target.name;
        ci::info(format_args!("staging app {name:?} from package {package}"));
        let build = call(
            self.client
                .create_build()
                .body(CreateBuildBody {
                    package: Relationship {
                        guid: package.to_string(),
                    },
                    lifecycle: None,
                    metadata: None,
                    staging_disk_in_mb: None,
                    staging_log_rate_limit_bytes_per_second: None,
                    staging_memory_in_mb: None,
                })
                .send(),
        )
        .await
        .with_context(|| format!("app {name:?}: staging package {package}"))?;
        let guid = build.guid.clone();
        self.progress
            .update(|o| o.package_state = Some(build.state.clone()));
        let deadline = phase_deadline(&self.policy, self.target.staging_timeout);
        let failed = std::cell::RefCell::new(None);
        let polls = std::cell::Cell::new(0);
        let staged = wait::until(
            &format!("app {name:?} to stage"),
            deadline,
            &self.policy,
            || async {
                self.show_log_in_wait(&polls).await;
                let build = call(self.client.get_build().guid(&guid).send())
                    .await
                    .with_context(|| format!("reading build {guid}"))?;
                if build.state == "STAGED" {
                    // The last lines, still inside the wait's fold.
                    self.logs.flush().await;
                }
                self.progress
                    .update(|o| o.package_state = Some(build.state.clone()));
                match build.state.as_str() {
                    "STAGED" => build
                        .droplet
                        .and_then(|d| d.guid)
                        .map(Poll::Ready)
                        .ok_or_else(|| anyhow!("build {guid} is STAGED but names no droplet")),
                    "FAILED" => {
                        let reason = format!(
                            "staging failed: {}",
                            build.error.as_deref().unwrap_or("no reason given")
                        );
                        failed.replace(Some(reason.clone()));
                        Err(anyhow!(reason))
                    }
                    other => Ok(Poll::Pending(format!("build {other}"))),
                }
            },
        )
        .await;
        match (staged, failed.take()) {
            (Ok(droplet), _) => Ok(droplet),
            (Err(_), Some(reason)) => Err(anyhow!(
                "{}",
                self.logs.with_tail(reason, "STG", "staging log").await
            )
            .into()),
            (Err(e), None) => Err(phase_timeout(
                e,
                self.target.staging_timeout,
                "CF_STAGING_TIMEOUT",
            )),
        }
    }

    /// [`logs::Follower::show`] from a wait's second poll on: the wait folds its lines only once the
    /// first poll found it not ready yet, and the log belongs inside that fold.
    async fn show_log_in_wait(&self, polls: &std::cell::Cell<u32>) {
        let n = polls.get();
        polls.set(n + 1);
        if n > 0 {
            self.logs.show().await;
        }
    }

    /// Records on the app the fingerprint of the source its current droplet was built from.
    async fn annotate(
        &self,
        known: &mut Known,
        source: &str,
        droplet: &str,
    ) -> Result<(), Failure> {
        let guid = known.app.guid.clone();
        let annotations = HashMap::from([
            (
                source::SOURCE_ANNOTATION.to_string(),
                Some(source.to_string()),
            ),
            (
                source::DROPLET_ANNOTATION.to_string(),
                Some(droplet.to_string()),
            ),
        ]);
        let app = call(
            self.client
                .update_app()
                .guid(&guid)
                .body(UpdateAppBody {
                    metadata: Some(Metadata {
                        annotations,
                        ..Metadata::default()
                    }),
                    ..UpdateAppBody::default()
                })
                .send(),
        )
        .await
        .with_context(|| {
            format!(
                "app {:?} ({guid}): recording its source's fingerprint",
                self.target.name
            )
        })?;
        known.app = app;
        Ok(())
    }

    /// Waits until every instance of the web process runs. `STARTING`, `DOWN`, `UNKNOWN` are
    /// waited through; some `CRASHED` beside others is a warning; all `CRASHED` is a failure.
    async fn wait_running(&self, known: &Known) -> Result<(), Failure> {
        let Some(web) = known.web.as_ref().map(|w| w.guid.clone()) else {
            return Ok(());
        };
        let name = &self.target.name;
        let deadline = phase_deadline(&self.policy, self.target.startup_timeout);
        let warned = std::cell::Cell::new(false);
        let crashed_all = std::cell::Cell::new(false);
        let polls = std::cell::Cell::new(0);
        let started = wait::until(
            &format!("app {name:?} to start"),
            deadline,
            &self.policy,
            || async {
                self.show_log_in_wait(&polls).await;
                let stats = call(self.client.get_process_stats().guid(&web).send())
                    .await
                    .with_context(|| format!("reading the instances of process {web}"))?;
                let states: Vec<(i64, String)> = stats
                    .resources
                    .iter()
                    .map(|i| {
                        (
                            i.index.unwrap_or(-1),
                            i.state.clone().unwrap_or_else(|| "UNKNOWN".into()),
                        )
                    })
                    .collect();
                let count = |state: &str| states.iter().filter(|(_, s)| s == state).count();
                let summary = || {
                    states
                        .iter()
                        .map(|(i, s)| format!("{i}:{s}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                if !states.is_empty() && count("RUNNING") == states.len() {
                    return Ok(Poll::Ready(()));
                }
                let crashed = count("CRASHED");
                if !states.is_empty() && crashed == states.len() {
                    crashed_all.set(true);
                    return Err(anyhow!("every instance crashed ({})", summary()));
                }
                if crashed > 0 && !warned.replace(true) {
                    ci::warn(format_args!(
                        "app {name:?}: {crashed} of {} instances crashed; waiting for the others ({})",
                        states.len(),
                        summary()
                    ));
                }
                Ok(Poll::Pending(format!("instances {}", summary())))
            },
        )
        .await;
        match started {
            Ok(()) => Ok(()),
            Err(wait::WaitError::Failed(e)) if crashed_all.get() => Err(anyhow!(
                "{}",
                self.logs
                    .with_tail(format!("app {name:?}: {e:#}"), "APP", "app's log")
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

    /// Sets the final status: ready when stopped, when started with no instances, or once waited
    /// on; else pending.
    fn finish(&self, known: &Known, waited: bool) -> Result<(), Failure> {
        let started = known.app.state == AppState::Started.as_str();
        let instances = known.web.as_ref().and_then(|w| w.instances);
        if started && instances == Some(0) {
            ci::info(format_args!(
                "app {:?} is started with 0 instances",
                self.target.name
            ));
        }
        if !started || instances == Some(0) || waited {
            self.progress.update(|o| o.status = Status::Ready);
        }
        Ok(())
    }

    /// A dry run: the plan, and the requests it would send (secret values hidden).
    fn print_plan(&self, current: Option<&Current>, steps: &[Step]) {
        if steps.iter().all(|s| *s == Step::WaitRunning) {
            ci::info(format_args!(
                "dry run: app {:?} already has the given settings{}; nothing to do",
                self.target.name,
                if self.target.path.is_some() {
                    " and its droplet was built from these bits"
                } else {
                    ""
                }
            ));
            return;
        }
        api::print_steps(steps);
        let guid = current.map_or("{new guid}", |c| c.guid.as_str());
        for route in &self.routes {
            api::print_plan(
                "POST",
                "/v3/routes/{route}/destinations (unless mapped already)",
                &serde_json::json!({"route": route.url(), "destinations": [{"app": {"guid": guid}}]}),
            );
        }
        for step in steps {
            match step {
                Step::Create(settings) => {
                    let mut body =
                        serde_json::to_value(self.create_body(settings)).unwrap_or_default();
                    if let Some(env) = body
                        .get_mut("environment_variables")
                        .and_then(Value::as_object_mut)
                    {
                        env.values_mut().for_each(|v| *v = api::REDACTED.into());
                    }
                    api::print_plan("POST", "/v3/apps", &body);
                }
                Step::Update { what, stop, .. } => {
                    for field in what {
                        api::print_plan(
                            "PATCH",
                            &format!("/v3/apps/{guid} ({field})"),
                            &Value::Null,
                        );
                    }
                    if *stop {
                        api::print_plan(
                            "POST",
                            &format!("/v3/apps/{guid}/actions/stop"),
                            &Value::Null,
                        );
                    }
                }
                Step::Stop(_) => {}
                Step::Upload(path) => {
                    api::print_plan("POST", "/v3/packages", &serde_json::json!({"type": "bits"}));
                    api::print_plan(
                        "POST",
                        "/v3/packages/{package}/upload",
                        &Value::String(format!("the bits of {}", path.display())),
                    );
                }
                Step::Start => {
                    api::print_plan(
                        "POST",
                        "/v3/builds",
                        &serde_json::json!({"package": {"guid": "{package}"}}),
                    );
                    api::print_plan(
                        "POST",
                        &format!("/v3/apps/{guid}/actions/start (or restart)"),
                        &Value::Null,
                    );
                }
                Step::WaitRunning => {}
            }
        }
    }

    fn record(&self, app: &App) {
        self.progress.update(|o| {
            o.id = Some(app.guid.clone());
            o.app_name = Some(app.name.clone());
            o.state = Some(app.state.clone());
        });
    }
}

fn lifecycle_type(app: &App) -> &str {
    app.lifecycle
        .as_ref()
        .and_then(|l| l.type_.as_deref())
        .unwrap_or(BUILDPACK)
}

/// The package guid at the end of a droplet's `links.package`.
fn droplet_package(droplet: &crate::api::cloudfoundry_v3::types::Droplet) -> Option<String> {
    let href = &droplet.links.as_ref()?.package.as_ref()?.href;
    href.trim_end_matches('/')
        .rsplit('/')
        .next()
        .map(str::to_string)
}

fn to_one(guid: &str) -> RelationshipToOne {
    RelationshipToOne {
        data: Some(Relationship {
            guid: guid.to_string(),
        }),
        links: None,
    }
}

fn config_error(var: &'static str, problem: String) -> Failure {
    ConfigErrors(vec![ConfigError::Invalid { var, problem }]).into()
}
