//! v3 jobs: what a 202 points at in its `Location` (`GET /v3/jobs/{guid}`), PROCESSING for
//! [`SimOptions::cf_job_time`](crate::SimOptions::cf_job_time), then COMPLETE.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::super::{CloudFoundry, new_guid, rfc3339};
use super::{Ctx, not_found};
use crate::request::Reply;

/// Jobs kept for `GET /v3/jobs/{guid}` beyond this many push out the oldest.
const MAX_V3_JOBS: usize = 10_000;

/// An asynchronous operation; what it does is done when it is made, the job only reports.
pub(in super::super) struct V3Job {
    pub(super) guid: String,
    operation: &'static str,
    created: Instant,
    created_wall: SystemTime,
    duration: Duration,
}

impl V3Job {
    pub(super) fn new(ctx: &Ctx<'_>, operation: &'static str) -> Self {
        Self {
            guid: new_guid(),
            operation,
            created: ctx.now,
            created_wall: SystemTime::now(),
            duration: ctx.options.cf_job_time,
        }
    }

    /// As `JobPresenter` shows it.
    fn body(&self, ctx: &Ctx<'_>) -> Value {
        let complete = ctx.now.saturating_duration_since(self.created) >= self.duration;
        let updated = if complete {
            self.created_wall + self.duration
        } else {
            self.created_wall
        };
        json!({
            "guid": self.guid,
            "created_at": rfc3339(self.created_wall),
            "updated_at": rfc3339(updated),
            "operation": self.operation,
            "state": if complete { "COMPLETE" } else { "PROCESSING" },
            "errors": [],
            "warnings": [],
            "links": { "self": ctx.href(&format!("/v3/jobs/{}", self.guid)) },
        })
    }
}

impl CloudFoundry {
    pub(super) fn push_v3_job(&mut self, job: V3Job) {
        if self.v3_jobs.len() >= MAX_V3_JOBS {
            self.v3_jobs.pop_front();
        }
        self.v3_jobs.push_back(job);
    }

    /// `GET /v3/jobs/{guid}`.
    pub(super) fn v3_job(&self, ctx: &Ctx<'_>, guid: &str) -> Reply {
        self.v3_jobs
            .iter()
            .find(|job| job.guid == guid)
            .map_or_else(|| not_found("Job"), |job| Reply::json(200, &job.body(ctx)))
    }
}
