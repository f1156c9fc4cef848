//! A project's file system on the host: absolute paths of the project (`/html/app-x`) map to
//! `<files root>/<project short id>/html/app-x`; `..` stops at the project's root.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::mittwald::SshLogin;
use crate::state::Shared;

/// A login's view of its project's files: the project's directory and the working directory.
#[derive(Clone)]
pub(crate) struct Jail {
    root: PathBuf,
    /// The working directory, a path of the project's file system (`/html/app-x`).
    pub(crate) cwd: String,
}

impl Jail {
    /// The files of `login`'s project, starting in its installation's directory (made if it is
    /// not there yet, as the platform made it when installing), with the app's log file.
    pub(crate) fn for_login(shared: &Arc<Shared>, login: &SshLogin) -> std::io::Result<Self> {
        let root = shared.ssh.files_root()?.join(&login.project_short_id);
        let jail = Self {
            root,
            cwd: login.installation_dir.clone(),
        };
        std::fs::create_dir_all(jail.real(&login.installation_dir))?;
        ensure_log_file(&jail.real(&login.log_file), &login.job)?;
        Ok(jail)
    }

    /// `path` (absolute, or relative to the working directory) as a normalized absolute path
    /// of the project's file system.
    pub(crate) fn resolve(&self, path: &str) -> String {
        normalize(&self.cwd, path)
    }

    /// Where `path` (absolute, or relative to the working directory) is on the host.
    pub(crate) fn real(&self, path: &str) -> PathBuf {
        host_path(&self.root, &self.resolve(path))
    }
}

/// `/a/../b/./c` relative to `cwd` → `/b/c`; never above `/`.
pub(crate) fn normalize(cwd: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The host path of normalized absolute `path` in the project directory `root`.
pub(crate) fn host_path(root: &Path, path: &str) -> PathBuf {
    let mut real = root.to_path_buf();
    real.extend(path.split('/').filter(|part| !part.is_empty()));
    real
}

/// The app's log file, with a first line when it is new (the process has run since ready).
pub(crate) fn ensure_log_file(path: &Path, job: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if !path.exists() {
        std::fs::write(path, format!("[berth-sim] job {job} started\n"))?;
    }
    Ok(())
}

/// Appends `lines` to the log file at `path`.
pub(crate) fn append_log(path: &Path, lines: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(lines.as_bytes())
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn paths_stay_inside_the_project() {
        assert_eq!(normalize("/html/app", "a/./b/../c"), "/html/app/a/c");
        assert_eq!(normalize("/html/app", "../../../../etc"), "/etc");
        assert_eq!(normalize("/html/app", "/"), "/");
        assert_eq!(normalize("/html/app", "."), "/html/app");
        assert_eq!(
            host_path(Path::new("/tmp/x/p-1"), "/etc"),
            PathBuf::from("/tmp/x/p-1/etc")
        );
    }
}
