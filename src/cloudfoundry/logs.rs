//! The app's log from log-cache (the root document's `log_cache` link), for v2 and v3 alike: the
//! staging log shown while the app stages, and the last lines kept for the error when staging
//! fails or every instance crashes. Reading starts at a cursor taken before staging (the
//! server's newest timestamp), each line is printed once and in order, and a log-cache that fails
//! is one warning: the run never fails because of it.

use crate::{
    api::Policy,
    ci,
    platform_text::{TAIL_LINES, printable, with_tail},
};
use base64::Engine;
use serde::Deserialize;
use std::collections::{HashSet, VecDeque};

/// Lines younger than this are read only on the last look: log-cache's nodes deliver out of
/// order (the cf CLI's ADR 0008 holds back 2 s too).
const HOLD_BACK: std::time::Duration = std::time::Duration::from_secs(2);
/// Envelopes asked for per read (log-cache's most).
const LIMIT: u32 = 1000;
/// Reads per poll at most, so that a chatty build cannot hold the wait.
const MAX_READS: u32 = 5;

#[derive(Deserialize)]
struct Read {
    #[serde(default)]
    envelopes: Batch,
}

#[derive(Deserialize, Default)]
struct Batch {
    #[serde(default)]
    batch: Vec<Envelope>,
}

#[derive(Deserialize)]
struct Envelope {
    /// Nanoseconds, as a string (or a number, from some servers).
    timestamp: serde_json::Value,
    /// The instance (`"0"`), joined to the source type as the cf CLI prints it.
    #[serde(default)]
    instance_id: String,
    #[serde(default)]
    tags: std::collections::HashMap<String, String>,
    log: Option<Log>,
}

#[derive(Deserialize)]
struct Log {
    #[serde(default)]
    payload: String,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Nanoseconds since the epoch.
    pub at: i64,
    /// `STG`, `APP/PROC/WEB/0` (source type and instance), `CELL`, ...
    pub source: String,
    /// The text.
    pub text: String,
}

/// Reads one app's log from log-cache.
pub struct LogCache {
    http: reqwest::Client,
    policy: Policy,
    url: String,
    /// Read from here (inclusive).
    cursor: i64,
    /// Lines at the cursor's timestamp already printed (several may share one).
    seen_at_cursor: HashSet<(String, String)>,
    /// The last lines read, for errors.
    tail: VecDeque<Line>,
    /// Set once log-cache failed: warned about once, not read again.
    broken: bool,
}

impl LogCache {
    /// Starts reading `app`'s log at log-cache's newest line (or now): what comes after is
    /// this run's. `None` when log-cache is not known.
    pub async fn start(
        http: reqwest::Client,
        policy: Policy,
        log_cache: Option<&str>,
        app: &str,
    ) -> Option<Self> {
        let Some(base) = log_cache else {
            ci::warn("the foundation names no log-cache; the staging log is not shown");
            return None;
        };
        let now = now_ns();
        let mut cache = Self {
            http,
            policy,
            url: format!("{}/api/v1/read/{app}", base.trim_end_matches('/')),
            cursor: now,
            seen_at_cursor: HashSet::new(),
            tail: VecDeque::new(),
            broken: false,
        };
        match cache
            .read(&[("limit", "1".into()), ("descending", "true".into())])
            .await
        {
            Ok(newest) => {
                // The newest line the server has; none (a new app): from the start, rather
                // than from this machine's clock, which may run ahead of the platform's.
                cache.cursor = newest.first().map_or(0, |last| last.at + 1);
            }
            Err(e) => cache.fail(&e),
        }
        Some(cache)
    }

    /// The lines that arrived since the last poll, in order, each once; printed with
    /// [`ci::platform_lines`] and kept for [`Self::tail`].
    pub async fn poll(&mut self) {
        self.read_new(true).await;
    }

    /// [`Self::poll`] up to this moment: for the last look (the end of staging, an error), when
    /// lines held back would otherwise never be shown.
    pub async fn flush(&mut self) {
        self.read_new(false).await;
    }

    /// Reads what is new. `hold_back`: not the last [`HOLD_BACK`], as log-cache's nodes deliver
    /// out of order and a line stamped earlier may still arrive (the cf CLI does the same).
    async fn read_new(&mut self, hold_back: bool) {
        for _ in 0..MAX_READS {
            if self.broken {
                return;
            }
            let mut query = vec![
                ("start_time", self.cursor.to_string()),
                ("limit", LIMIT.to_string()),
            ];
            if hold_back {
                let until = now_ns().saturating_sub(HOLD_BACK.as_nanos() as i64);
                if until <= self.cursor {
                    return;
                }
                query.push(("end_time", until.to_string()));
            }
            let lines = match self.read(&query).await {
                Ok(lines) => lines,
                Err(e) => return self.fail(&e),
            };
            let full = lines.len() >= LIMIT as usize;
            let mut new = Vec::new();
            for line in lines {
                if line.at < self.cursor {
                    continue;
                }
                let key = (line.source.clone(), line.text.clone());
                if line.at == self.cursor && !self.seen_at_cursor.insert(key.clone()) {
                    continue;
                }
                if line.at > self.cursor {
                    self.cursor = line.at;
                    self.seen_at_cursor = HashSet::from([key]);
                }
                new.push(line);
            }
            let printed: Vec<String> = new
                .iter()
                .map(|l| format!("[{}] {}", l.source, l.text))
                .collect();
            ci::platform_lines("   ", &printed);
            for line in new {
                // Room for every source's last lines: the tail is filtered by source after.
                if self.tail.len() == TAIL_LINES * 5 {
                    self.tail.pop_front();
                }
                self.tail.push_back(line);
            }
            if !full {
                return;
            }
        }
    }

    /// The last lines read whose source starts with `source` (`STG`, `APP`), oldest first.
    pub fn tail(&self, source: &str) -> Vec<String> {
        let lines: Vec<String> = self
            .tail
            .iter()
            .filter(|l| l.source.starts_with(source))
            .map(|l| format!("[{}] {}", l.source, l.text))
            .collect();
        lines[lines.len().saturating_sub(TAIL_LINES)..].to_vec()
    }

    fn fail(&mut self, e: &anyhow::Error) {
        if !self.broken {
            ci::warn(format_args!(
                "reading the app's log from log-cache failed ({e:#}); the run goes on without it"
            ));
        }
        self.broken = true;
    }

    async fn read(&self, query: &[(&str, String)]) -> anyhow::Result<Vec<Line>> {
        let mut url = reqwest::Url::parse(&self.url)?;
        url.query_pairs_mut()
            .append_pair("envelope_types", "LOG")
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        let request = self.http.get(url).build()?;
        let response =
            crate::api::send_plain(&self.http, request, &self.policy, "log-cache").await?;
        let read: Read = response.json().await?;
        let mut lines: Vec<Line> = read
            .envelopes
            .batch
            .into_iter()
            .filter_map(|e| {
                let at = match &e.timestamp {
                    serde_json::Value::String(s) => s.parse().ok()?,
                    serde_json::Value::Number(n) => n.as_i64()?,
                    _ => return None,
                };
                let payload = e.log?.payload;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(payload.as_bytes())
                    .unwrap_or_else(|_| payload.into_bytes());
                // No control characters (escape sequences, carriage returns): the text lands
                // in the log and in the error, where they could redraw or forge lines.
                let text = printable(String::from_utf8_lossy(&bytes).trim_end());
                // `APP/PROC/WEB` and instance `0` read `APP/PROC/WEB/0`, as in `cf logs`.
                let mut source = e.tags.get("source_type").cloned().unwrap_or_default();
                if source.starts_with("APP") && !e.instance_id.is_empty() {
                    source = format!("{source}/{}", e.instance_id);
                }
                Some(Line { at, source, text })
            })
            .collect();
        lines.sort_by_key(|l| l.at);
        Ok(lines)
    }
}

/// Nanoseconds since the epoch, by this machine's clock.
fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// One run's view of the app's log, for either applier: started once, before the first build or
/// start (what comes after is this run's); shown while waiting; its last lines for an error.
pub struct Follower {
    http: reqwest::Client,
    policy: Policy,
    /// Where log-cache is until the reader is started (`None`: off or started; `Some(None)`:
    /// on, but the foundation names none, which the start says once), and the reader.
    state: tokio::sync::Mutex<(Option<Option<String>>, Option<LogCache>)>,
}

impl Follower {
    /// `log_cache`: `None` when the log is not read (`BERTH_LOGS=false`, no root document).
    pub fn new(http: reqwest::Client, policy: Policy, log_cache: Option<Option<String>>) -> Self {
        Self {
            http,
            policy,
            state: tokio::sync::Mutex::new((log_cache, None)),
        }
    }

    /// Starts reading `app`'s log, the first time only.
    pub async fn follow(&self, app: &str) {
        let mut state = self.state.lock().await;
        if let Some(log_cache) = state.0.take() {
            state.1 = LogCache::start(
                self.http.clone(),
                self.policy.clone(),
                log_cache.as_deref(),
                app,
            )
            .await;
        }
    }

    /// Prints the lines that arrived since the last look ([`LogCache::poll`]).
    pub async fn show(&self) {
        if let Some(logs) = self.state.lock().await.1.as_mut() {
            logs.poll().await;
        }
    }

    /// Prints the lines up to this moment ([`LogCache::flush`]): the end of staging.
    pub async fn flush(&self) {
        if let Some(logs) = self.state.lock().await.1.as_mut() {
            logs.flush().await;
        }
    }

    /// `message` with the last lines from `source` (`STG`, `APP`), read once more after a short
    /// wait, as delivery lags.
    pub async fn with_tail(&self, message: String, source: &str, what: &str) -> String {
        let mut state = self.state.lock().await;
        let Some(logs) = state.1.as_mut() else {
            return message;
        };
        let pause = std::time::Duration::from_secs(2);
        if tokio::time::Instant::now() + pause < self.policy.deadline {
            tokio::time::sleep(pause).await;
        }
        logs.flush().await;
        with_tail(&message, what, &logs.tail(source))
    }
}
