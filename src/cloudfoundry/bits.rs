//! Uploading the app's bits: zip the directory (or take the .zip), `PUT /v2/apps/{guid}/bits`
//! as multipart (progenitor does not generate multipart bodies, so this one call is plain
//! reqwest), then follow the job it answers with.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::{
    io::{Cursor, Write},
    path::Path,
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

/// The app's bits as a zip archive: the file itself, or the directory zipped with relative
/// paths and unix permissions (start scripts must stay executable).
pub fn archive(path: &Path) -> Result<Vec<u8>> {
    if path.is_file() {
        return std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    }
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let walk = walkdir::WalkDir::new(path).sort_by_file_name().min_depth(1);
    for entry in walk {
        let entry = entry.with_context(|| format!("reading {}", path.display()))?;
        let relative = entry.path().strip_prefix(path).unwrap_or(entry.path());
        let name = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let options = SimpleFileOptions::default().unix_permissions(mode(&entry));
        if entry.file_type().is_dir() {
            zip.add_directory(format!("{name}/"), options)?;
        } else if entry.file_type().is_file() {
            zip.start_file(name, options)?;
            let bytes = std::fs::read(entry.path())
                .with_context(|| format!("reading {}", entry.path().display()))?;
            zip.write_all(&bytes)?;
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
    Ok(zip
        .finish()
        .context("writing the zip archive")?
        .into_inner())
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

/// Sends the archive; answers the job to follow.
pub async fn upload(
    http: &reqwest::Client,
    policy: &crate::api::Policy,
    api_url: &str,
    guid: &str,
    zip: Vec<u8>,
) -> Result<Job> {
    let url = format!("{api_url}/v2/apps/{guid}/bits?async=true");
    let application = reqwest::multipart::Part::bytes(zip)
        .file_name("application.zip")
        .mime_str("application/zip")?;
    // No resource matching: `resources` lists none of the files as already known.
    let form = reqwest::multipart::Form::new()
        .text("resources", "[]")
        .part("application", application);
    // A multipart body cannot be replayed, so this request is sent once, and a large archive on
    // a slow link may take the rest of the run's time rather than the usual per-request limit.
    let time_left = policy
        .deadline
        .saturating_duration_since(tokio::time::Instant::now())
        .max(crate::http::REQUEST_TIMEOUT);
    let request = http.put(&url).timeout(time_left).multipart(form).build()?;
    let response = crate::api::send_plain(http, request, policy, "the API").await?;
    let job: JobResource = response
        .json()
        .await
        .context("the upload answered without a job")?;
    Ok(job.entity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_zipped_with_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("server.js"), "console.log(1)").unwrap();
        std::fs::write(dir.path().join("lib/a.js"), "x").unwrap();
        let bytes = archive(dir.path()).unwrap();
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
        names.sort();
        assert_eq!(names, ["lib/", "lib/a.js", "server.js"]);
        let mut content = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("server.js").unwrap(), &mut content)
            .unwrap();
        assert_eq!(content, "console.log(1)");
    }

    #[cfg(unix)]
    #[test]
    fn links_are_kept_as_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cli.js"), "x").unwrap();
        std::os::unix::fs::symlink("cli.js", dir.path().join("cli")).unwrap();
        let mut zip = zip::ZipArchive::new(Cursor::new(archive(dir.path()).unwrap())).unwrap();
        let link = zip.by_name("cli").unwrap();
        assert!(link.is_symlink(), "stored as a link");
    }
}
