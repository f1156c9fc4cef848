//! Bits: an app's upload (a zip, and the resources the platform already has), taken at once or
//! as a job that takes effect when it finishes, and `GET /v2/jobs/{guid}`.

use std::io::{Read, Seek};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::apps::App;
use super::errors::{APP_BITS_UPLOAD_INVALID, APP_NOT_FOUND, UNPROCESSABLE_ENTITY};
use super::sha256::sha256_hex;
use super::staging::Package;
use super::{CloudFoundry, new_guid, rfc3339};
use crate::options::SimOptions;
use crate::request::{Part, Reply, Request};
use crate::spool::StoredFile;

/// Jobs kept for `GET /v2/jobs/{guid}` beyond this many push out the oldest.
const MAX_JOBS: usize = 10_000;

/// What an upload holds: its size, its files, and the SHA-256 of what was sent; and the zip
/// itself, on disk, while the package exists.
#[derive(Clone)]
pub(super) struct Bits {
    pub(super) bytes: usize,
    pub(super) files: Vec<String>,
    pub(super) sha256: String,
    pub(super) zip: Option<Arc<StoredFile>>,
}

/// A zip part read: the archive's file names, its size and SHA-256 (of the bytes as sent).
pub(super) fn read_zip(part: &Part) -> Result<Bits, String> {
    match &part.stored {
        Some(stored) => {
            let files = stored
                .read(|file| Ok(zip_entries(file)))
                .map_err(|error| error.to_string())??;
            Ok(Bits {
                bytes: usize::try_from(stored.len).unwrap_or(usize::MAX),
                files,
                sha256: stored.sha256.clone(),
                zip: Some(Arc::clone(stored)),
            })
        }
        None => Ok(Bits {
            bytes: part.body.len(),
            files: zip_entries(std::io::Cursor::new(&part.body))?,
            sha256: sha256_hex(&part.body),
            zip: None,
        }),
    }
}

/// A bits upload; it takes effect when it finishes.
pub(super) struct Job {
    pub(super) guid: String,
    created_at: String,
    created: Instant,
    duration: Duration,
    pub(super) app_guid: String,
    pub(super) outcome: Result<Bits, Value>,
    /// Whether a successful upload has reached its app.
    pub(super) applied: bool,
}

impl Job {
    pub(super) fn finished(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.created) >= self.duration
    }

    pub(super) fn body(&self, now: Instant) -> Value {
        let elapsed = now.saturating_duration_since(self.created);
        let status = if elapsed >= self.duration {
            match &self.outcome {
                // A finished job is gone; the platform answers its null job (reference 09).
                Ok(_) => return null_job(),
                Err(details) => {
                    return json!({
                        "metadata": self.metadata(),
                        "entity": {
                            "guid": self.guid,
                            "status": "failed",
                            "error": "Use of entity>error is deprecated in favor of entity>error_details.",
                            "error_details": details,
                        },
                    });
                }
            }
        } else if elapsed < self.duration / 2 {
            "queued"
        } else {
            "running"
        };
        json!({
            "metadata": self.metadata(),
            "entity": { "guid": self.guid, "status": status },
        })
    }

    fn metadata(&self) -> Value {
        json!({
            "guid": self.guid,
            "created_at": self.created_at,
            "url": format!("/v2/jobs/{}", self.guid),
        })
    }
}

pub(super) fn null_job() -> Value {
    json!({
        "metadata": { "guid": "0", "created_at": "1970-01-01T00:00:00Z", "url": "/v2/jobs/0" },
        "entity": { "guid": "0", "status": "finished" },
    })
}

impl CloudFoundry {
    pub(super) fn upload_bits(
        &mut self,
        options: &SimOptions,
        request: &Request,
        guid: &str,
        now: Instant,
    ) -> Reply {
        let Some(index) = self.find(guid) else {
            return APP_NOT_FOUND.reply(guid);
        };
        if self.apps[index].docker_image.is_some() {
            return UNPROCESSABLE_ENTITY.reply("cannot upload bits to a docker app");
        }
        let part = |name: &str| request.parts.iter().find(|part| part.name == name);
        let Some(resources_part) = part("resources") else {
            return APP_BITS_UPLOAD_INVALID.reply("missing :resources");
        };
        let Ok(Value::Array(resources)) = serde_json::from_slice::<Value>(&resources_part.body)
        else {
            return APP_BITS_UPLOAD_INVALID.reply("invalid :resources");
        };
        let outcome = match part("application") {
            Some(application) => read_zip(application).map_err(|problem| {
                APP_BITS_UPLOAD_INVALID.details(&format!("Unzipping had errors: {problem}"))
            }),
            // Every file already known to the resource cache: the package is the resources.
            None if !resources.is_empty() => Ok(Bits {
                bytes: resources
                    .iter()
                    .filter_map(|resource| resource["size"].as_u64())
                    .map(|size| usize::try_from(size).unwrap_or(usize::MAX))
                    .fold(0, usize::saturating_add),
                files: resources
                    .iter()
                    .filter_map(|resource| resource["fn"].as_str().map(str::to_owned))
                    .collect(),
                // No bytes came: the package is the resources the platform matched.
                sha256: sha256_hex(&resources_part.body),
                zip: None,
            }),
            None => return APP_BITS_UPLOAD_INVALID.reply("missing :application"),
        };
        let asynchronous = request.query_param("async") == Some("true")
            || part("async").is_some_and(|part| part.body.as_ref() == b"true");
        if !asynchronous {
            return match outcome {
                Ok(bits) => {
                    apply_bits(&mut self.apps[index], bits, now);
                    Reply::json(201, &json!({}))
                }
                Err(details) => Reply::json(APP_BITS_UPLOAD_INVALID.status, &details),
            };
        }
        let job = Job {
            guid: new_guid(),
            created_at: rfc3339(SystemTime::now()),
            created: now,
            duration: options.cf_job_time,
            app_guid: guid.to_owned(),
            outcome,
            applied: false,
        };
        // The answer is always the queued job (reference 08), however short the job is.
        let reply = Reply::json(
            201,
            &json!({
                "metadata": job.metadata(),
                "entity": { "guid": job.guid, "status": "queued" },
            }),
        );
        if self.jobs.len() >= MAX_JOBS {
            self.jobs.pop_front();
        }
        self.jobs.push_back(job);
        // A zero job time finishes at once.
        self.settle(now);
        reply
    }
}

/// A finished v2 upload: new bits are a new package, and whatever was staged no longer matches
/// it.
pub(super) fn apply_bits(app: &mut App, bits: Bits, now: Instant) {
    app.push_package(Package::uploaded(bits, now));
}

/// The file names in a zip archive's central directory (directories left out), or why it is
/// not a zip archive. Only the central directory is read, however large the archive.
pub(super) fn zip_entries(data: impl Read + Seek) -> Result<Vec<String>, String> {
    let archive = zip::ZipArchive::new(data).map_err(|error| error.to_string())?;
    let mut files = Vec::with_capacity(archive.len());
    for name in archive.file_names() {
        let name = name.map_err(|error| error.to_string())?;
        if !name.ends_with('/') {
            files.push(name.into_owned());
        }
    }
    Ok(files)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn non_zips_are_told_apart() {
        let entries = |data: &[u8]| zip_entries(std::io::Cursor::new(data.to_vec()));
        assert!(entries(b"hello").is_err());
        assert!(entries(b"PK\x03\x04 but nothing else").is_err());
        let empty = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        assert_eq!(entries(empty).unwrap(), Vec::<String>::new());
    }
}
