//! Uploading the app's bits: zip the directory (or take the .zip) into a temporary file and
//! stream it as multipart to `PUT /v2/apps/{guid}/bits` or `POST /v3/packages/{guid}/upload`
//! (progenitor does not generate multipart bodies, so this one call is plain reqwest).

use anyhow::{Context, Result};
use bytes::Bytes;
use serde::Deserialize;
use std::{
    io::{Seek, SeekFrom},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};
use zip::{ZipWriter, write::SimpleFileOptions};

/// The job the upload answers with.
#[derive(Debug, Deserialize)]
pub struct Job {
    /// Its guid, for `GET /v2/jobs/{guid}`.
    pub guid: String,
    /// queued, running, finished, failed.
    pub status: String,
}

#[derive(Deserialize)]
struct JobResource {
    entity: Job,
}

/// The app's bits, ready to send: a zip archive in a file (a temporary one, gone when this is
/// dropped, or the user's own .zip), so that memory stays flat whatever the app's size.
pub struct Archive {
    file: std::fs::File,
    /// Its size in bytes.
    pub len: u64,
}

/// The app's bits as a zip archive: the .zip itself, or the directory zipped with relative
/// paths and unix permissions (start scripts must stay executable), without what `exclude`
/// (gitignore patterns) or a `.cfignore` in the directory names.
pub fn archive(path: &Path, exclude: &[String]) -> Result<Archive> {
    if path.is_file() {
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let len = file.metadata()?.len();
        return Ok(Archive { file, len });
    }
    let excluded = crate::files::exclusions(path, exclude)?;
    let mut zip = ZipWriter::new(tempfile::tempfile().context("making a temporary file")?);
    let walk = crate::files::walk(path, &excluded);
    for entry in walk {
        let entry = entry.with_context(|| format!("reading {}", path.display()))?;
        let relative = entry.path().strip_prefix(path).unwrap_or(entry.path());
        let name = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let options = SimpleFileOptions::default()
            .unix_permissions(mode(&entry))
            .large_file(true);
        if entry.file_type().is_dir() {
            zip.add_directory(format!("{name}/"), options)?;
        } else if entry.file_type().is_file() {
            zip.start_file(name, options)?;
            let mut file = std::fs::File::open(entry.path())
                .with_context(|| format!("reading {}", entry.path().display()))?;
            std::io::copy(&mut file, &mut zip)
                .with_context(|| format!("reading {}", entry.path().display()))?;
        } else if entry.file_type().is_symlink() {
            // Kept as links (node_modules/.bin is full of them), as `cf push` does.
            let target = std::fs::read_link(entry.path())
                .with_context(|| format!("reading the link {}", entry.path().display()))?;
            zip.add_symlink(name, target.to_string_lossy(), options)?;
        } else {
            crate::ci::warn(format_args!(
                "{} is neither a file, a directory nor a link; it is not uploaded",
                entry.path().display()
            ));
        }
    }
    let mut file = zip.finish().context("writing the zip archive")?;
    let len = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    Ok(Archive { file, len })
}

#[cfg(unix)]
fn mode(entry: &walkdir::DirEntry) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    entry
        .metadata()
        .map_or(0o644, |m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode(entry: &walkdir::DirEntry) -> u32 {
    if entry.file_type().is_dir() {
        0o755
    } else {
        0o644
    }
}

/// Where an archive goes: the v2 app's bits or a v3 package's upload, each with its own method
/// and multipart field.
pub struct Destination {
    /// PUT (v2) or POST (v3).
    pub method: reqwest::Method,
    /// The full URL.
    pub url: String,
    /// The multipart field of the zip: `application` (v2) or `bits` (v3).
    pub field: &'static str,
    /// The file name the zip is sent under (the cf CLI's).
    pub file_name: &'static str,
}

impl Destination {
    /// `PUT /v2/apps/{guid}/bits?async=true`, field `application`.
    pub fn v2_app(api_url: &str, guid: &str) -> Self {
        Self {
            method: reqwest::Method::PUT,
            url: format!("{api_url}/v2/apps/{guid}/bits?async=true"),
            field: "application",
            file_name: "application.zip",
        }
    }

    /// `POST /v3/packages/{guid}/upload`, field `bits`.
    pub fn v3_package(api_url: &str, guid: &str) -> Self {
        Self {
            method: reqwest::Method::POST,
            url: format!("{api_url}/v3/packages/{guid}/upload"),
            field: "bits",
            file_name: "package.zip",
        }
    }
}

/// Sends the archive, streamed from its file, as multipart with an empty `resources` (no file is
/// taken as already known); answers the platform's response. A streamed body cannot be replayed
/// by the retry layer, so a 401 (the token expired during the upload; it has been renewed by
/// then) is answered here: the file is rewound and sent once more.
///
/// The platform may answer before the whole package is sent: nginx in front of Cloud
/// Controller refuses a package over its limit with 413 as soon as `Content-Length` says so,
/// and a token refused (401) or a bad request is answered from the headers alone. hyper's
/// HTTP/1 client reads while it writes and hands that answer on as soon as its head arrives
/// (`dispatch.rs`: the response goes to the caller even while the request body is still being
/// written), and the platform keeps reading a while so the client sees it. The answer is then
/// read, and the rest of the package is not sent: the body stream ends with an error once the
/// answer is in, which makes hyper drop that connection instead of uploading up to a GiB
/// nobody reads.
pub async fn send(
    http: &reqwest::Client,
    policy: &crate::api::Policy,
    to: &Destination,
    archive: &Archive,
) -> Result<reqwest::Response> {
    let mut sent = 0;
    loop {
        sent += 1;
        let mut file = archive
            .file
            .try_clone()
            .context("reading the zip archive")?;
        file.seek(SeekFrom::Start(0))?;
        let answered = Answered::default();
        let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
        let stream = answered.cuts(stream);
        let bits = reqwest::multipart::Part::stream_with_length(
            reqwest::Body::wrap_stream(stream),
            archive.len,
        )
        .file_name(to.file_name)
        .mime_str("application/zip")?;
        let form = reqwest::multipart::Form::new()
            .text("resources", "[]")
            .part(to.field, bits);
        // A large archive on a slow link may take the rest of the run's time rather than the
        // usual per-request limit.
        let time_left = policy
            .deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(crate::http::REQUEST_TIMEOUT);
        let request = http
            .request(to.method.clone(), &to.url)
            .timeout(time_left)
            .multipart(form)
            .build()?;
        let outcome = crate::api::send_plain(http, request, policy, "the API").await;
        // The answer (and its body) is in: whatever is left of the package stays here.
        drop(answered);
        match outcome {
            Err(e) if e.status == Some(401) && sent == 1 && policy.credentials.is_some() => {
                crate::ci::info("the upload's token was refused; sending the bits again");
            }
            Err(e) if e.status == Some(413) => return Err(too_large(archive.len)),
            other => return Ok(other?),
        }
    }
}

/// What berth says when the platform refuses a package as too large (413): the size, the usual
/// limit, and what to do. The answer itself is nginx's HTML page, which says nothing more.
fn too_large(len: u64) -> anyhow::Error {
    anyhow::anyhow!(
        "the package is {:.1} MB; the foundation refused it as too large (HTTP 413): Cloud \
         Controller accepts at most 1 GiB by default, its operators may have set less; leave \
         files out with BERTH_EXCLUDE or a .cfignore",
        len as f64 / 1e6
    )
}

/// Set once the platform's answer to an upload is in (when this is dropped): the body stream
/// made by [`Answered::cuts`] then ends with an error instead of sending the rest.
#[derive(Default)]
struct Answered(Arc<AtomicBool>);

impl Answered {
    fn cuts<S>(
        &self,
        stream: S,
    ) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + use<S>
    where
        S: futures_util::Stream<Item = std::io::Result<Bytes>>,
    {
        let answered = Arc::clone(&self.0);
        futures_util::StreamExt::map(stream, move |chunk| {
            if answered.load(Ordering::Relaxed) {
                Err(std::io::Error::other(
                    "the platform answered before the upload ended",
                ))
            } else {
                chunk
            }
        })
    }
}

impl Drop for Answered {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// `PUT /v2/apps/{guid}/bits`: answers the job to follow.
pub async fn upload_v2(
    http: &reqwest::Client,
    policy: &crate::api::Policy,
    api_url: &str,
    guid: &str,
    archive: Archive,
) -> Result<Job> {
    let response = send(http, policy, &Destination::v2_app(api_url, guid), &archive).await?;
    let job: JobResource = response
        .json()
        .await
        .context("the upload answered without a job")?;
    Ok(job.entity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(archive: Archive) -> Vec<String> {
        let zip = zip::ZipArchive::new(archive.file).unwrap();
        let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_directory_is_zipped_with_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("server.js"), "console.log(1)").unwrap();
        std::fs::write(dir.path().join("lib/a.js"), "x").unwrap();
        let archive = archive(dir.path(), &[]).unwrap();
        assert_eq!(archive.len, archive.file.metadata().unwrap().len());
        let mut zip = zip::ZipArchive::new(archive.file).unwrap();
        let mut content = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("server.js").unwrap(), &mut content)
            .unwrap();
        assert_eq!(content, "console.log(1)");
        let dir_archive = super::archive(dir.path(), &[]).unwrap();
        assert_eq!(names(dir_archive), ["lib/", "lib/a.js", "server.js"]);
    }

    #[test]
    fn excluded_paths_and_the_cfignore_s_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        for d in [".git", "node_modules/x", "src", "logs"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        for f in [
            ".git/HEAD",
            "node_modules/x/i.js",
            "src/a.js",
            "src/a.test.js",
            "logs/today.log",
            "server.js",
        ] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        std::fs::write(dir.path().join(".cfignore"), "logs/\n*.test.js\n").unwrap();
        let archive = archive(dir.path(), &[".git".into(), "node_modules".into()]).unwrap();
        assert_eq!(
            names(archive),
            [".cfignore", "server.js", "src/", "src/a.js"],
            "the default .git, the given node_modules, and the .cfignore's patterns"
        );
    }

    #[tokio::test]
    async fn the_body_stops_once_the_answer_is_in() {
        use futures_util::StreamExt;
        let answered = Answered::default();
        let chunks = futures_util::stream::iter(["a", "b"].map(|c| Ok(Bytes::from(c))));
        let mut body = std::pin::pin!(answered.cuts(chunks));
        assert_eq!(body.next().await.unwrap().unwrap(), "a");
        drop(answered);
        let cut = body.next().await.unwrap().unwrap_err();
        assert_eq!(
            cut.to_string(),
            "the platform answered before the upload ended"
        );
    }

    #[cfg(unix)]
    #[test]
    fn links_are_kept_as_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cli.js"), "x").unwrap();
        std::os::unix::fs::symlink("cli.js", dir.path().join("cli")).unwrap();
        let mut zip = zip::ZipArchive::new(archive(dir.path(), &[]).unwrap().file).unwrap();
        let link = zip.by_name("cli").unwrap();
        assert!(link.is_symlink(), "stored as a link");
    }
}
