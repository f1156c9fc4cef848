//! A rolling deployment's instances, and how long an app had none running.
//!
//! A rolling deployment (cloud_controller_ng's `DeploymentUpdater::Actions::Scale`) starts
//! `max_in_flight` instances of the new droplet; each time a batch is RUNNING, as many old
//! instances stop and the next batch starts, until every instance is new: the app always has
//! a running instance. New instances that crash never become routable, so the deployment never
//! moves on (it stays ACTIVE/DEPLOYING with the old instances serving, as the Cloud Controller
//! does) until it is cancelled. Cancelling brings the old instances back (those already
//! stopped start again) before the deployment is CANCELED.
//!
//! The simulator computes states from the time, as everywhere: a batch `k` starts at
//! `since + k * startup` and runs from `since + (k + 1) * startup`.
//!
//! Downtime is counted in epochs: between two changes of what an app runs (a start, a stop, a
//! scale, a deployment's start and end), whether it has a RUNNING instance is known in advance
//! (from some instant on, or never), so the time without one is added up when the epoch
//! closes. It counts once the app has had a RUNNING instance: from then on, any time without
//! one is downtime for its users, whether the app is STARTED (a restart, a crash) or was
//! stopped (a stop and start counts from the stop). A new app's first start is not downtime.

use std::time::{Duration, Instant, SystemTime};

use super::apps::{App, Instance, Run};

/// A rolling deployment under way on an app.
#[derive(Clone)]
pub(super) struct Rollout {
    /// The deployment's guid.
    pub(super) deployment: String,
    /// What ran before: its run, droplet and version.
    pub(super) old_run: Run,
    pub(super) old_droplet: Option<String>,
    pub(super) old_version: String,
    /// The new instances' run (`since` is when the deployment began).
    pub(super) new_run: Run,
    pub(super) new_version: String,
    /// Instances wanted, and how many start at once.
    pub(super) total: usize,
    pub(super) max_in_flight: usize,
    /// When it was cancelled.
    pub(super) canceled: Option<Instant>,
}

/// How long an app had no RUNNING instance (see the module).
#[derive(Clone)]
pub(super) struct Downtime {
    /// Closed epochs' total.
    pub(super) total: Duration,
    /// When the open epoch began.
    pub(super) epoch: Instant,
    /// Whether the app ever had a RUNNING instance.
    pub(super) ever_ran: bool,
}

impl Downtime {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            total: Duration::ZERO,
            epoch: now,
            ever_ran: false,
        }
    }
}

impl Rollout {
    fn batches(&self) -> u32 {
        u32::try_from(self.total.div_ceil(self.max_in_flight.max(1))).unwrap_or(u32::MAX)
    }

    /// When every instance is new and RUNNING; `None` while new instances crash.
    pub(super) fn finishes(&self) -> Option<Instant> {
        (!self.new_run.crashes).then(|| self.new_run.since + self.new_run.startup * self.batches())
    }

    /// When it is CANCELED after a cancel: once the old instances that were stopped run again.
    pub(super) fn canceled_by(&self) -> Option<Instant> {
        self.canceled.map(|at| at + self.new_run.startup)
    }

    /// New instances RUNNING at `now` (none once cancelled).
    fn new_running(&self, now: Instant) -> usize {
        if self.new_run.crashes {
            return 0;
        }
        let now = self.canceled.map_or(now, |at| now.min(at));
        let elapsed = now.saturating_duration_since(self.new_run.since);
        let startup = self.new_run.startup;
        let batches = if startup.is_zero() {
            self.total
        } else {
            usize::try_from(elapsed.as_nanos() / startup.as_nanos()).unwrap_or(usize::MAX)
        };
        batches.saturating_mul(self.max_in_flight).min(self.total)
    }

    /// The new instances that exist at `now`, with their states: the RUNNING batches and the
    /// one starting (or crashed).
    fn new_instances(&self, now: Instant) -> Vec<Instance> {
        if self.canceled.is_some() {
            return Vec::new();
        }
        let running = self.new_running(now);
        let startup = self.new_run.startup;
        let mut instances = Vec::new();
        for index in 0..running {
            let batch = u32::try_from(index / self.max_in_flight.max(1)).unwrap_or(u32::MAX);
            let ready = self.new_run.since + startup * (batch + 1);
            let ready_wall = self.new_run.since_wall + startup * (batch + 1);
            instances.push(Instance {
                state: "RUNNING",
                since: ready_wall,
                uptime: now.saturating_duration_since(ready).as_secs(),
            });
        }
        let starting = self.max_in_flight.min(self.total.saturating_sub(running));
        let batch = u32::try_from(running / self.max_in_flight.max(1)).unwrap_or(u32::MAX);
        let batch_start = (
            self.new_run.since + startup * batch,
            self.new_run.since_wall + startup * batch,
        );
        for _ in 0..starting {
            instances.push(self.new_run.instance(batch_start, now));
        }
        instances
    }
}

impl App {
    /// The instances of the web process at `now`, each with the version it runs (for its
    /// guid): during a rollout the old ones first, then the new; `None` for an instance that
    /// is DOWN (stopped, or no droplet to run).
    pub(super) fn instances_at(&self, now: Instant) -> Vec<(Option<Instance>, String)> {
        let Some(rollout) = &self.rollout else {
            let count = usize::try_from(self.instances)
                .unwrap_or(0)
                .min(super::apps::MAX_INSTANCES_LISTED);
            let instance = self.instance(now);
            return vec![(instance, self.version.clone()); count];
        };
        let old_staged = self.old_droplet_done(rollout);
        let old = |now: Instant| old_staged.map(|staged| rollout.old_run.instance(staged, now));
        let mut listed = Vec::new();
        let kept = rollout.total - rollout.new_running(now);
        for _ in 0..kept {
            listed.push((old(now), rollout.old_version.clone()));
        }
        if let Some(canceled) = rollout.canceled {
            // The old instances stopped for new ones start again.
            let wall = rollout.new_run.since_wall
                + canceled.saturating_duration_since(rollout.new_run.since);
            let again = Run {
                since: canceled,
                since_wall: wall,
                startup: rollout.new_run.startup,
                crashes: rollout.old_run.crashes,
            };
            for _ in kept..rollout.total {
                listed.push((
                    Some(again.instance((canceled, wall), now)),
                    rollout.old_version.clone(),
                ));
            }
        }
        for instance in rollout.new_instances(now) {
            listed.push((Some(instance), rollout.new_version.clone()));
        }
        listed
    }

    /// When the droplet the old instances run was staged.
    fn old_droplet_done(&self, rollout: &Rollout) -> Option<(Instant, SystemTime)> {
        let guid = rollout.old_droplet.as_deref()?;
        self.builds
            .iter()
            .find(|build| build.droplet_guid == guid)
            .map(super::staging::Build::done_at)
    }

    /// From when the app has a RUNNING instance, as things stand; `None` if it will not.
    fn running_from(&self) -> Option<Instant> {
        if let Some(rollout) = &self.rollout {
            let old = self
                .old_droplet_done(rollout)
                .and_then(|staged| rollout.old_run.running_from(staged));
            let new = (rollout.canceled.is_none() && !rollout.new_run.crashes)
                .then(|| rollout.new_run.since + rollout.new_run.startup);
            return match (old, new) {
                (Some(old), Some(new)) => Some(old.min(new)),
                (old, new) => old.or(new),
            };
        }
        let run = self.run.as_ref()?;
        if !self.started || self.instances <= 0 {
            return None;
        }
        let droplet = self
            .builds
            .iter()
            .find(|build| build.assign_when_staged)
            .or_else(|| self.current_droplet_build())?;
        if droplet.assign_when_staged && droplet.fails() {
            return None;
        }
        run.running_from(droplet.done_at())
    }

    /// The time in `[from, to)` without a RUNNING instance that counts as downtime.
    fn down_between(&self, from: Instant, to: Instant) -> Duration {
        if to <= from || !self.downtime.ever_ran {
            return Duration::ZERO;
        }
        match self.running_from() {
            None => to - from,
            Some(running) => running.clamp(from, to) - from,
        }
    }

    /// Closes the downtime epoch at `at`, before what the app runs changes.
    pub(super) fn close_epoch(&mut self, at: Instant) {
        let at = at.max(self.downtime.epoch);
        self.downtime.total += self.down_between(self.downtime.epoch, at);
        if self.running_from().is_some_and(|running| running <= at) {
            self.downtime.ever_ran = true;
        }
        self.downtime.epoch = at;
    }

    /// The downtime so far.
    pub(super) fn downtime_until(&self, now: Instant) -> Duration {
        self.downtime.total + self.down_between(self.downtime.epoch, now)
    }
}
