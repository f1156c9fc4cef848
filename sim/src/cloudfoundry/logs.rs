//! What an app logs, and log-cache's read endpoint over it.
//!
//! Staging (a v2 start's build or a v3 build) writes `STG` lines spread over the staging time,
//! as Diego's stager streams them: the buildpack download, the container, the buildpack's
//! own output, then the droplet upload, or on failure the error lines and the exit status. An
//! instance that starts writes `CELL` and `APP/PROC/WEB` lines; one that crashes writes its
//! error, the exit and the Cloud Controller's `API` line about it. Each line carries the time
//! it is "written", which may lie in the future: it is readable once that time (plus
//! [`SimOptions::cf_log_lag`]) has passed, so a client polling while an app stages sees the
//! lines arrive. [`SimOptions::cf_log_gaps`] drops some lines for good when they are written.
//!
//! The read endpoint is log-cache's gateway (`GET /api/v1/read/{source_id}`, go-log-cache's
//! `Read`): `start_time` (ns, inclusive), `end_time` (ns, exclusive, default now),
//! `envelope_types` (repeatable; only `LOG` envelopes exist here), `limit` (default 100, at
//! most 1000), `descending`; the answer is `{"envelopes": {"batch": [...]}}` with each
//! envelope as loggregator's v2 JSON writes it (int64 as strings, the payload base64).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::apps::App;
use super::staging::Build;
use super::{sha256, stable_guid};
use crate::options::SimOptions;
use crate::request::{Reply, Request};

/// Lines an app keeps; beyond this many the oldest go, as log-cache's per-source cap does.
const MAX_LINES: usize = 10_000;

/// Instances that log their start (of however many an app runs).
const MAX_INSTANCES_LOGGED: usize = 10;

/// `limit` unless given, and the most log-cache returns at once.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// One log envelope.
#[derive(Clone)]
pub(super) struct LogLine {
    pub(super) timestamp: SystemTime,
    pub(super) source_type: String,
    pub(super) instance_id: String,
    pub(super) text: String,
    /// `ERR` rather than `OUT`.
    pub(super) err: bool,
}

/// The lines one event writes, before their times are spread and gaps drawn.
struct Lines {
    source_type: String,
    instance_id: String,
    items: Vec<(String, bool)>,
}

impl Lines {
    fn new(source_type: &str, instance_id: &str) -> Self {
        Self {
            source_type: source_type.to_owned(),
            instance_id: instance_id.to_owned(),
            items: Vec::new(),
        }
    }

    fn out(&mut self, text: impl Into<String>) -> &mut Self {
        self.items.push((text.into(), false));
        self
    }

    fn err(&mut self, text: impl Into<String>) -> &mut Self {
        self.items.push((text.into(), true));
        self
    }
}

/// A buildpack's title as its first line shows it (`nodejs` -> `Nodejs`).
fn title(buildpack: &str) -> String {
    let mut chars = buildpack.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// A byte count as Diego's stager prints sizes (`512B`, `1.2K`, `45.1M`).
fn size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss, reason = "a size shown to one decimal")]
    let value = bytes as f64;
    if bytes < 1024 {
        format!("{bytes}B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1}K", value / 1024.0)
    } else {
        format!("{:.1}M", value / (1024.0 * 1024.0))
    }
}

/// What one buildpack prints while supplying and compiling, and when it fails.
fn buildpack_output(detected: &str, lines: &mut Lines, fails: bool) {
    lines.out(format!(
        "-----> {} Buildpack version 1.8.40",
        title(detected)
    ));
    match detected {
        "nodejs" => {
            lines
                .out("-----> Installing binaries")
                .out("       engines.node (package.json):  unspecified")
                .out("       engines.npm (package.json):   unspecified (use default)")
                .out("-----> Installing node 22.11.0")
                .out("       Copy [/tmp/buildpacks/nodejs/node_22.11.0_linux_x64.tgz]")
                .out("-----> Building dependencies")
                .out("       Installing node modules (package.json)");
            if fails {
                lines
                    .err("npm ERR! code E404")
                    .err("npm ERR! 404 Not Found - GET left-padd - Not found")
                    .err("npm ERR! 404  'left-padd@^1.3.0' is not in this registry.")
                    .err("npm ERR! A complete log of this run can be found in: /tmp/npm-cache/_logs/debug.log");
            } else {
                lines.out("       added 64 packages, and audited 65 packages in 3s");
            }
        }
        "python" => {
            lines
                .out("-----> Installing python 3.12.7")
                .out("       Copy [/tmp/buildpacks/python/python_3.12.7_linux_x64.tgz]")
                .out("-----> Running Pip Install");
            if fails {
                lines
                    .err("ERROR: Could not find a version that satisfies the requirement flask==99.0 (from versions: 3.0.3, 3.1.0)")
                    .err("ERROR: No matching distribution found for flask==99.0");
            } else {
                lines.out("       Successfully installed flask-3.1.0 gunicorn-23.0.0");
            }
        }
        other => {
            lines.out(format!("-----> Supplying {other} dependencies"));
            if fails {
                lines.err(format!("-----> {} compile failed", title(other)));
            }
        }
    }
}

/// The lines of staging `build` of an app named `app_name` (the package `bytes` large).
fn staging_lines(build: &Build, bytes: Option<u64>, fails: bool) -> Lines {
    let mut lines = Lines::new("STG", "0");
    let cell = stable_guid(&format!("cell/{}", build.guid));
    let container = stable_guid(&format!("staging/{}", build.guid));
    if let Some(image) = &build.image {
        lines
            .out(format!(
                "Cell {cell} creating container for instance {container}"
            ))
            .out(format!(
                "Cell {cell} successfully created container for instance {container}"
            ))
            .out("Staging...")
            .out(format!("Staging process started ... (image {image})"));
        if fails {
            lines
                .err(format!(
                    "Failed getting docker image by tag: {image}: manifest unknown"
                ))
                .out("Exit status 1")
                .err("Staging failed: Exited with status 1");
        } else {
            lines
                .out("Staging process finished")
                .out("Exit status 0")
                .out("Staging Complete");
        }
        return lines;
    }
    let detected = build.detected.unwrap_or("binary");
    let buildpacks: Vec<String> = if build.lifecycle.buildpacks.is_empty() {
        vec![format!("{detected}_buildpack")]
    } else {
        build.lifecycle.buildpacks.clone()
    };
    for buildpack in &buildpacks {
        lines.out(format!("Downloading {buildpack}..."));
    }
    for buildpack in &buildpacks {
        lines.out(format!("Downloaded {buildpack}"));
    }
    lines
        .out(format!(
            "Cell {cell} creating container for instance {container}"
        ))
        .out("Security group rules were updated")
        .out(format!(
            "Cell {cell} successfully created container for instance {container}"
        ))
        .out("Downloading app package...")
        .out(format!(
            "Downloaded app package ({})",
            size(bytes.unwrap_or(0))
        ));
    buildpack_output(detected, &mut lines, fails);
    if fails {
        lines
            .out("-----> Build failed")
            .err("Failed to compile droplet: Failed to run all supply scripts: exit status 14")
            .out("Exit status 223")
            .err("Staging failed: Exited with status 223")
            .out(format!("Cell {cell} stopping instance {container}"))
            .out(format!(
                "Cell {cell} destroying container for instance {container}"
            ));
    } else {
        lines
            .out("Exit status 0")
            .out("Uploading droplet, build artifacts cache...")
            .out("Uploading droplet...")
            .out("Uploading build artifacts cache...")
            .out("Uploaded build artifacts cache (215B)")
            .out("Uploaded droplet (42.1M)")
            .out("Uploading complete")
            .out(format!("Cell {cell} stopping instance {container}"))
            .out(format!(
                "Cell {cell} destroying container for instance {container}"
            ));
    }
    lines
}

impl App {
    /// Appends `lines`, the first at `from` and the last at `to`, evenly between; each may be
    /// dropped (a gap) by the options' draw.
    fn write(&mut self, options: &SimOptions, lines: &Lines, from: SystemTime, to: SystemTime) {
        let span = to.duration_since(from).unwrap_or_default();
        let count = lines.items.len();
        // One seeded draw per line, the same for the same app name and event on every run.
        let seed = sha256::sha256_hex(
            format!(
                "{}/{}/{}/{}",
                options.seed,
                self.name,
                self.builds.len(),
                self.logs.len()
            )
            .as_bytes(),
        );
        let mut random =
            fastrand::Rng::with_seed(u64::from_str_radix(&seed[..16], 16).unwrap_or(0));
        for (index, (text, err)) in lines.items.iter().enumerate() {
            let offset = if count > 1 {
                span.mul_f64(index as f64 / (count - 1) as f64)
            } else {
                Duration::ZERO
            };
            if options.cf_log_gaps > 0.0 && random.f64() < options.cf_log_gaps {
                continue;
            }
            self.logs.push(LogLine {
                // Distinct timestamps keep the order when lines share an instant.
                timestamp: from + offset + Duration::from_nanos(index as u64),
                source_type: lines.source_type.clone(),
                instance_id: lines.instance_id.clone(),
                text: text.clone(),
                err: *err,
            });
        }
        self.logs.sort_by_key(|line| line.timestamp);
        if self.logs.len() > MAX_LINES {
            let extra = self.logs.len() - MAX_LINES;
            self.logs.drain(..extra);
        }
    }

    /// Writes the staging lines of the newest build over its staging time.
    pub(super) fn log_staging(&mut self, options: &SimOptions) {
        let Some(build) = self.builds.last().cloned() else {
            return;
        };
        let bytes = self
            .package(&build.package_guid)
            .and_then(|package| package.ready_bits(build.started_instant()))
            .and_then(|bits| u64::try_from(bits.bytes).ok());
        let lines = staging_lines(&build, bytes, build.fails());
        let (start, end) = (build.started_wall(), build.done_at().1);
        self.write(options, &lines, start, end);
    }

    /// Writes what the instances of a start log: from `since` (when they are placed) their
    /// containers and the app's output, and after `startup` that they are healthy, or their
    /// crash.
    pub(super) fn log_instances(
        &mut self,
        options: &SimOptions,
        since: SystemTime,
        startup: Duration,
        crashes: bool,
        version: &str,
    ) {
        let count = usize::try_from(self.instances)
            .unwrap_or(0)
            .min(MAX_INSTANCES_LOGGED);
        let command = self
            .command
            .clone()
            .or_else(|| {
                self.current_droplet_build()
                    .map(|build| build.start_command.clone())
            })
            .filter(|command| !command.is_empty())
            .unwrap_or_else(|| "./start".to_owned());
        for index in 0..count {
            let instance = stable_guid(&format!("{version}/{index}"));
            let cell = stable_guid(&format!("cell/{version}/{index}"));
            let id = index.to_string();
            let mut cell_lines = Lines::new("CELL", &id);
            cell_lines
                .out(format!(
                    "Cell {cell} creating container for instance {instance}"
                ))
                .out(format!(
                    "Cell {cell} successfully created container for instance {instance}"
                ))
                .out(format!("Downloading droplet for instance {instance}"))
                .out("Starting health check");
            let placed = since + startup.mul_f64(0.1);
            self.write(options, &cell_lines, since, placed);
            let mut app_lines = Lines::new("APP/PROC/WEB", &id);
            app_lines.out(format!("> {command}"));
            if crashes {
                app_lines
                    .err("Error: Cannot find module 'express'")
                    .err("Require stack:")
                    .err("- /home/vcap/app/server.js")
                    .err(
                        "    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)",
                    );
            } else {
                app_lines.out("Listening on port 8080");
            }
            let ready = since + startup;
            self.write(options, &app_lines, placed, since + startup.mul_f64(0.5));
            let mut end = Lines::new("CELL", &id);
            if crashes {
                end.out(format!("Cell {cell} stopping instance {instance}"))
                    .out(format!(
                        "Cell {cell} destroying container for instance {instance}"
                    ));
                self.write(options, &end, ready, ready);
                let mut api = Lines::new("API", "0");
                api.out(format!(
                    "App instance exited with guid {} payload: {{\"instance\"=>\"{instance}\", \"index\"=>{index}, \"cell_id\"=>\"{cell}\", \"reason\"=>\"CRASHED\", \"exit_description\"=>\"APP/PROC/WEB: Exited with status 1\", \"crash_count\"=>1, \"crash_timestamp\"=>{}}}",
                    self.guid,
                    nanos(ready)
                ));
                self.write(options, &api, ready, ready);
            } else {
                end.out("Container became healthy");
                self.write(options, &end, ready, ready);
            }
        }
    }

    /// Forgets lines not yet written: what a stopped staging or start would have logged.
    pub(super) fn forget_future_logs(&mut self, now: SystemTime) {
        self.logs.retain(|line| line.timestamp <= now);
    }
}

fn nanos(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

/// An envelope as loggregator's v2 JSON (gRPC gateway, defaults emitted) writes it.
fn envelope(source_id: &str, line: &LogLine) -> Value {
    json!({
        "timestamp": nanos(line.timestamp).to_string(),
        "source_id": source_id,
        "instance_id": line.instance_id,
        "deprecated_tags": {},
        "tags": { "source_type": line.source_type },
        "log": {
            "payload": STANDARD.encode(line.text.as_bytes()),
            "type": if line.err { "ERR" } else { "OUT" },
        },
    })
}

/// The gateway's error body for a bad request (`{"error", "code", "message"}`, gRPC code 3).
fn bad_request(message: &str) -> Reply {
    Reply::json(
        400,
        &json!({ "error": message, "code": 3, "message": message }),
    )
}

/// A query parameter as a signed count of nanoseconds.
fn nanos_param(request: &Request, key: &str) -> Result<Option<i128>, Reply> {
    match request.query_param(key) {
        None | Some("") => Ok(None),
        Some(value) => value
            .parse::<i64>()
            .map(|value| Some(i128::from(value)))
            .map_err(|_| bad_request(&format!("invalid {key}: {value}"))),
    }
}

/// `GET /api/v1/read/{source_id}` over `lines` (those of the app `source_id`, if any), as
/// log-cache answers it at wall time `now`.
pub(super) fn read(
    options: &SimOptions,
    request: &Request,
    source_id: &str,
    lines: &[LogLine],
    now: SystemTime,
) -> Reply {
    let start = match nanos_param(request, "start_time") {
        Ok(start) => start.unwrap_or(0),
        Err(reply) => return reply,
    };
    let visible_until = now.checked_sub(options.cf_log_lag).unwrap_or(UNIX_EPOCH);
    let end = match nanos_param(request, "end_time") {
        Ok(end) => end,
        Err(reply) => return reply,
    };
    let limit = match request.query_param("limit") {
        None | Some("") => DEFAULT_LIMIT,
        Some(value) => match value.parse::<usize>() {
            Ok(limit) if limit <= MAX_LIMIT => limit,
            Ok(_) => return bad_request("Limit must be 1000 or less"),
            Err(_) => return bad_request(&format!("invalid limit: {value}")),
        },
    };
    let mut logs = true;
    for (key, value) in &request.query {
        if key == "envelope_types" {
            match value.as_str() {
                "LOG" | "ANY" => {}
                "COUNTER" | "GAUGE" | "TIMER" | "EVENT" => logs = false,
                other => return bad_request(&format!("invalid envelope_types: {other}")),
            }
        }
    }
    let types: Vec<&str> = request
        .query
        .iter()
        .filter(|(key, _)| key == "envelope_types")
        .map(|(_, value)| value.as_str())
        .collect();
    // Several types: any of them; LOG among them keeps the logs.
    if types.iter().any(|kind| matches!(*kind, "LOG" | "ANY")) {
        logs = true;
    }
    let descending = request
        .query_param("descending")
        .is_some_and(|value| value == "true");
    let mut matching: Vec<&LogLine> = if logs {
        lines
            .iter()
            .filter(|line| line.timestamp <= visible_until)
            .filter(|line| {
                let at = i128::try_from(nanos(line.timestamp)).unwrap_or(i128::MAX);
                at >= start && end.is_none_or(|end| at < end)
            })
            .collect()
    } else {
        Vec::new()
    };
    if descending {
        matching.reverse();
    }
    matching.truncate(limit);
    let batch: Vec<Value> = matching
        .into_iter()
        .map(|line| envelope(source_id, line))
        .collect();
    Reply::json(200, &json!({ "envelopes": { "batch": batch } }))
}
