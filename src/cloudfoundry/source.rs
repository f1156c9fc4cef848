//! The fingerprint of what a run would upload: SHA-256 over each file's path, mode and contents
//! (and each link's target), in the walk's stable order. It does not depend on timestamps or on
//! how a zip is laid out, so the same tree gives the same fingerprint on every machine; recorded
//! on the app once the droplet built from it is current, it lets a re-run with nothing changed
//! send nothing (Cloud Controller re-packs uploads, so its own package checksum cannot serve).

use anyhow::{Context, Result};
use std::{io::Read, path::Path};

/// The annotation that holds the fingerprint of the current droplet's source.
pub const SOURCE_ANNOTATION: &str = "berth/source-sha256";
/// The annotation that holds the droplet the fingerprint belongs to: a droplet set by anyone
/// else (a `cf push` by hand) makes the fingerprint stale.
pub const DROPLET_ANNOTATION: &str = "berth/droplet-guid";

/// The fingerprint of `path` (a directory, without what `exclude` and its `.cfignore` leave
/// out, or a .zip, over its entries), as lowercase hex.
pub fn fingerprint(path: &Path, exclude: &[String]) -> Result<String> {
    let mut digest = Digest::new();
    if path.is_file() {
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
            .with_context(|| format!("reading the zip archive {}", path.display()))?;
        let mut names = zip
            .file_names()
            .map(|n| n.map(|n| n.into_owned()))
            .collect::<Result<Vec<String>, _>>()?;
        names.sort();
        for name in names {
            let mut entry = zip.by_name(&name)?;
            let kind = if entry.is_dir() {
                b'd'
            } else if entry.is_symlink() {
                b'l'
            } else {
                b'f'
            };
            digest.entry(
                kind,
                name.trim_end_matches('/'),
                entry.unix_mode().unwrap_or(0),
            );
            digest.contents(&mut entry)?;
        }
        return Ok(digest.finish());
    }
    let excluded = crate::files::exclusions(path, exclude)?;
    for entry in crate::files::walk(path, &excluded) {
        let entry = entry.with_context(|| format!("reading {}", path.display()))?;
        let relative = entry.path().strip_prefix(path).unwrap_or(entry.path());
        let name = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let kind = entry.file_type();
        if kind.is_dir() {
            digest.entry(b'd', &name, mode(&entry));
        } else if kind.is_symlink() {
            let target = std::fs::read_link(entry.path())
                .with_context(|| format!("reading the link {}", entry.path().display()))?;
            digest.entry(b'l', &name, 0);
            digest.contents(&mut target.to_string_lossy().as_bytes())?;
        } else if kind.is_file() {
            digest.entry(b'f', &name, mode(&entry));
            let mut file = std::fs::File::open(entry.path())
                .with_context(|| format!("reading {}", entry.path().display()))?;
            digest.contents(&mut file)?;
        }
    }
    Ok(digest.finish())
}

/// Each entry framed so that no two trees hash the same bytes: kind, name, mode, then the
/// contents' length and bytes.
struct Digest(ring::digest::Context);

impl Digest {
    fn new() -> Self {
        Self(ring::digest::Context::new(&ring::digest::SHA256))
    }

    fn entry(&mut self, kind: u8, name: &str, mode: u32) {
        self.0.update(&[kind]);
        self.0.update(&(name.len() as u64).to_le_bytes());
        self.0.update(name.as_bytes());
        // Only the permission bits: the file type is `kind`.
        self.0.update(&(mode & 0o777).to_le_bytes());
    }

    fn contents(&mut self, reader: &mut impl Read) -> Result<()> {
        let mut buffer = vec![0; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = reader.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            self.0.update(&buffer[..n]);
        }
        self.0.update(&total.to_le_bytes());
        Ok(())
    }

    fn finish(self) -> String {
        self.0
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(unix)]
fn mode(entry: &walkdir::DirEntry) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    entry.metadata().map_or(0o644, |m| m.permissions().mode())
}

#[cfg(not(unix))]
fn mode(entry: &walkdir::DirEntry) -> u32 {
    if entry.file_type().is_dir() {
        0o755
    } else {
        0o644
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("server.js"), "console.log(1)").unwrap();
        std::fs::write(dir.path().join("lib/a.js"), "a").unwrap();
        dir
    }

    #[test]
    fn the_same_tree_gives_the_same_fingerprint_whatever_its_timestamps() {
        let (a, b) = (tree(), tree());
        let file = std::fs::File::options()
            .write(true)
            .open(b.path().join("server.js"))
            .unwrap();
        file.set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(
            fingerprint(a.path(), &[]).unwrap(),
            fingerprint(b.path(), &[]).unwrap()
        );
    }

    #[test]
    fn contents_names_modes_and_excluded_files_count_as_they_should() {
        let dir = tree();
        let before = fingerprint(dir.path(), &[]).unwrap();
        std::fs::write(dir.path().join("lib/a.js"), "b").unwrap();
        let changed = fingerprint(dir.path(), &[]).unwrap();
        assert_ne!(before, changed, "contents count");
        std::fs::rename(dir.path().join("lib/a.js"), dir.path().join("lib/b.js")).unwrap();
        let renamed = fingerprint(dir.path(), &[]).unwrap();
        assert_ne!(changed, renamed, "names count");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let script = dir.path().join("server.js");
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
            assert_ne!(
                renamed,
                fingerprint(dir.path(), &[]).unwrap(),
                "modes count"
            );
        }
        let now = fingerprint(dir.path(), &[]).unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), "x").unwrap();
        assert_eq!(
            now,
            fingerprint(dir.path(), &[".git".into()]).unwrap(),
            "excluded files do not count"
        );
    }

    #[test]
    fn a_zip_of_the_tree_fingerprints_its_entries_not_its_layout() {
        let dir = tree();
        let zip_at = |level: i64| {
            let out = tempfile::NamedTempFile::with_suffix(".zip").unwrap();
            let mut zip = zip::ZipWriter::new(std::fs::File::create(out.path()).unwrap());
            let options = zip::write::SimpleFileOptions::default()
                .compression_level(Some(level))
                .unix_permissions(0o644);
            zip.start_file("server.js", options).unwrap();
            std::io::Write::write_all(&mut zip, b"console.log(1)").unwrap();
            zip.finish().unwrap();
            out
        };
        let (fast, small) = (zip_at(1), zip_at(9));
        assert_eq!(
            fingerprint(fast.path(), &[]).unwrap(),
            fingerprint(small.path(), &[]).unwrap()
        );
        assert_ne!(
            fingerprint(fast.path(), &[]).unwrap(),
            fingerprint(dir.path(), &[]).unwrap()
        );
    }
}
