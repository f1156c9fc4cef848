//! The file side of the mittwald deploy, without any I/O on the connection: the local tree of
//! `BERTH_PATH`, the listing of the installation's directory D, the delta between them, the tar
//! stream of what is sent and the command strings that list, hash, extract, commit and delete.
//!
//! Every command string runs on either a real Debian host (bash, GNU find, tar, coreutils) or
//! berth's simulator, whose SSH endpoint only knows a few built-ins (`cd`, `mkdir`, `rm`, `mv`,
//! `tar`, `find`, `sha256sum`, …) joined by `&&`, with POSIX quoting and no other shell
//! syntax. So the strings here use only those built-ins with the options both accept, join
//! them with ` && `, single-quote every path and stay below [`MAX_COMMAND`] bytes (a longer
//! list becomes several commands).
//!
//! The upload is two-phase so that an interrupted transfer never leaves a partly written file
//! under its final name: the tar stream is extracted into a staging directory inside D, and
//! only then are its entries renamed into place (a rename within one file system is atomic).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use ignore::gitignore::Gitignore;
use tokio::io::{AsyncRead, AsyncWriteExt as _, DuplexStream};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// The longest command string produced: below 64 KiB, half of what Linux allows for one
/// argument (the login shell gets the whole line as the argument of `-c`).
pub const MAX_COMMAND: usize = 60 * 1024;

/// The bytes the tar stream buffers between the blocking writer and the SSH channel.
const STREAM_BUFFER: usize = 256 * 1024;

/// The local tree of `BERTH_PATH`: what is deployed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Local {
    /// In walk order: siblings by name, each directory before what is in it.
    pub entries: Vec<LocalEntry>,
}

/// One file, directory or symlink below `BERTH_PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEntry {
    /// Relative to `BERTH_PATH`, `/`-separated, never empty.
    pub path: String,
    pub kind: Kind,
}

/// What a local entry is, with what the remote copy must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory; `mode` holds the permission bits (`0o7777`).
    Dir { mode: u32 },
    /// A regular file of `size` bytes; `mode` holds the permission bits (`0o7777`).
    File { size: u64, mode: u32 },
    /// A symbolic link, kept as a link (never followed) with its target as written.
    Symlink { target: String },
}

impl Local {
    /// How many regular files the tree holds.
    pub fn files(&self) -> u64 {
        self.entries
            .iter()
            .filter(|entry| matches!(entry.kind, Kind::File { .. }))
            .count() as u64
    }

    /// The sum of the sizes of the regular files.
    pub fn bytes(&self) -> u64 {
        self.entries
            .iter()
            .map(|entry| match entry.kind {
                Kind::File { size, .. } => size,
                _ => 0,
            })
            .sum()
    }
}

/// Walks `dir` without what `excluded` names (see [`crate::files::walk`]). A name that is not
/// UTF-8 (it could not be named in a command) and a special file (socket, FIFO, device: tar
/// cannot carry it) are errors naming the path, found before anything is sent.
pub fn scan(dir: &Path, excluded: &Gitignore) -> Result<Local> {
    let mut entries = Vec::new();
    for entry in crate::files::walk(dir, excluded) {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let Some(path) = relative.to_str() else {
            bail!(
                "{}: the name is not UTF-8, which the deploy cannot name on the remote host; rename it or exclude it (BERTH_EXCLUDE)",
                entry.path().display()
            );
        };
        let meta = entry
            .metadata()
            .with_context(|| format!("reading {}", entry.path().display()))?;
        let kind = meta.file_type();
        let mode = meta.permissions().mode() & 0o7777;
        let kind = if kind.is_dir() {
            Kind::Dir { mode }
        } else if kind.is_file() {
            Kind::File {
                size: meta.len(),
                mode,
            }
        } else if kind.is_symlink() {
            let target = std::fs::read_link(entry.path())
                .with_context(|| format!("reading the link {}", entry.path().display()))?;
            let Some(target) = target.to_str() else {
                bail!(
                    "{}: the link's target is not UTF-8; change it or exclude the link (BERTH_EXCLUDE)",
                    entry.path().display()
                );
            };
            Kind::Symlink {
                target: target.to_owned(),
            }
        } else {
            let what = if kind.is_socket() {
                "a socket"
            } else if kind.is_fifo() {
                "a FIFO"
            } else {
                "a device"
            };
            bail!(
                "{}: {what} cannot be deployed; exclude it (BERTH_EXCLUDE)",
                entry.path().display()
            );
        };
        entries.push(LocalEntry {
            path: path.to_owned(),
            kind,
        });
    }
    Ok(Local { entries })
}

/// `s` as one shell word in single quotes (`it's` → `'it'\''s'`), read the same by a POSIX
/// shell and the simulator: nothing inside is expanded.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `dir/name` of a remote absolute directory and a relative name.
fn remote_join(dir: &str, name: &str) -> String {
    let dir = dir.trim_end_matches('/');
    format!("{dir}/{name}")
}

/// Joins `items` with `sep` after `prefix` into as few command strings as keep each below
/// [`MAX_COMMAND`] bytes; every string starts with `prefix`. No items, no commands.
fn chunked(prefix: &str, sep: &str, items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for item in items {
        if current.len() > prefix.len() && current.len() + sep.len() + item.len() >= MAX_COMMAND {
            commands.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.push_str(prefix);
        }
        current.push_str(sep);
        current.push_str(&item);
    }
    if !current.is_empty() {
        commands.push(current);
    }
    commands
}

// ---------------------------------------------------------------------------------------------
// The remote listing

/// What [`listing_command`] lists of each entry: type, mode, size, path, link target, each
/// field ended by a NUL (the one byte no file name holds).
const LISTING_FORMAT: &str = r"%y\0%m\0%s\0%P\0%l\0";

/// Makes D if it is missing and lists everything below it, one entry per five NUL-terminated
/// fields (see [`parse_listing`]). GNU find and the simulator's agree on this format.
pub fn listing_command(deploy_path: &str) -> String {
    let dir = quote(deploy_path);
    format!(
        "mkdir -p -- {dir} && cd {dir} && find . -mindepth 1 -printf {}",
        quote(LISTING_FORMAT)
    )
}

/// The remote tree below D, by path relative to D.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remote {
    pub entries: BTreeMap<String, RemoteEntry>,
}

/// One entry of the remote listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    pub kind: RemoteKind,
    /// The permission bits (`0o7777`).
    pub mode: u32,
    /// In bytes, as `stat` gives it (for a directory or link: whatever the file system says).
    pub size: u64,
    /// A symlink's target; `None` for anything else.
    pub target: Option<String>,
}

/// The type of a remote entry: what the delta tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteKind {
    Dir,
    File,
    Symlink,
    /// A socket, FIFO or device: never equal to anything deployed.
    Other,
}

/// Reads the output of [`listing_command`]. A name that is not UTF-8 is an error naming it (it
/// could be neither compared nor removed).
pub fn parse_listing(out: &[u8]) -> Result<Remote> {
    let mut fields = out.split(|&b| b == 0);
    let mut entries = BTreeMap::new();
    while let Some(kind) = fields.next() {
        if kind.is_empty() {
            // The end: the last field's NUL leaves one empty piece.
            if fields.next().is_none() {
                break;
            }
            bail!("the remote listing is garbled (an empty type field)");
        }
        let (Some(mode), Some(size), Some(path), Some(target)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            bail!("the remote listing ends in the middle of an entry");
        };
        let text = |field: &[u8], what: &str| {
            std::str::from_utf8(field).map(str::to_owned).map_err(|_| {
                anyhow!(
                    "the remote {what} {:?} is not UTF-8; rename or remove it on the host",
                    String::from_utf8_lossy(field)
                )
            })
        };
        let path = text(path, "path")?;
        let number = |field: &[u8], radix: u32| {
            std::str::from_utf8(field)
                .ok()
                .and_then(|text| u64::from_str_radix(text, radix).ok())
                .ok_or_else(|| anyhow!("the remote listing of {path:?} is garbled"))
        };
        let kind = match kind {
            b"d" => RemoteKind::Dir,
            b"f" => RemoteKind::File,
            b"l" => RemoteKind::Symlink,
            _ => RemoteKind::Other,
        };
        let target = if kind == RemoteKind::Symlink {
            Some(text(target, "link target")?)
        } else {
            None
        };
        let entry = RemoteEntry {
            kind,
            mode: u32::try_from(number(mode, 8)?).unwrap_or(u32::MAX) & 0o7777,
            size: number(size, 10)?,
            target,
        };
        if path.is_empty() {
            bail!("the remote listing holds an empty path");
        }
        entries.insert(path, entry);
    }
    Ok(Remote { entries })
}

// ---------------------------------------------------------------------------------------------
// Content check

/// `cd 'D' && sha256sum -- 'a' 'b' …`, chunked: the remote hashes of `paths` (relative to D),
/// read with [`parse_hashes`]. A path holding a newline is left out (its output line could not
/// be told apart), and so is `-` (sha256sum would read stdin): those files are just sent.
/// sha256sum exits 1 when a file vanished meanwhile; the output still holds the others.
pub fn hash_commands(deploy_path: &str, paths: &[&str]) -> Vec<String> {
    let prefix = format!("cd {} && sha256sum --", quote(deploy_path));
    chunked(
        &prefix,
        " ",
        paths
            .iter()
            .filter(|path| !path.contains('\n') && **path != "-")
            .map(|path| quote(path)),
    )
}

/// Reads sha256sum's `<hex>  <name>` lines. A line starting with `\` is GNU's escaped form of
/// a name holding `\` or a newline: skipped, so that file is sent again; so is anything else
/// that is not a hash line.
pub fn parse_hashes(out: &[u8]) -> HashMap<String, [u8; 32]> {
    let mut hashes = HashMap::new();
    for line in out.split(|&b| b == b'\n') {
        if line.len() < 67 || line[0] == b'\\' {
            continue;
        }
        let (hex, rest) = line.split_at(64);
        // Two spaces in text mode, ` *` in binary mode.
        if rest[0] != b' ' || !(rest[1] == b' ' || rest[1] == b'*') {
            continue;
        }
        let (Some(digest), Ok(name)) = (parse_hex(hex), std::str::from_utf8(&rest[2..])) else {
            continue;
        };
        hashes.insert(name.to_owned(), digest);
    }
    hashes
}

fn parse_hex(hex: &[u8]) -> Option<[u8; 32]> {
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(digest)
}

/// The SHA-256 of the file at `path`, read in blocks.
pub fn local_hash(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = File::open(path)?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        context.update(&buf[..n]);
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(context.finish().as_ref());
    Ok(digest)
}

// ---------------------------------------------------------------------------------------------
// The delta

/// What a deploy changes on the remote side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// Indexes into [`Local::entries`] of what goes into the tar stream and is moved into
    /// place: changed or new files and symlinks, and directories missing remotely (with
    /// everything in them). In the local order, so parents come first.
    pub send: Vec<usize>,
    /// Remote paths whose type must change (a directory where a file or link goes, or the
    /// other way round): removed right before the entries are moved into place.
    pub replace: Vec<String>,
    /// Remote paths that are not in the local tree, only the top-most of a removed subtree:
    /// empty unless the delta was asked to delete.
    pub delete: Vec<String>,
    /// How many regular files `send` holds.
    pub files: u64,
    /// The sum of the sizes of those files.
    pub bytes: u64,
}

impl Delta {
    /// Whether the remote side is already what the local tree says.
    pub fn is_empty(&self) -> bool {
        self.send.is_empty() && self.replace.is_empty() && self.delete.is_empty()
    }
}

/// Whether `path` or one of its ancestors is in `set`.
fn at_or_below_any(path: &str, set: &HashSet<&str>) -> bool {
    let mut current = path;
    loop {
        if set.contains(current) {
            return true;
        }
        match current.rfind('/') {
            Some(slash) => current = &current[..slash],
            None => return false,
        }
    }
}

/// Local files worth hashing: a local name that is not escaped by GNU sha256sum (no `\` or
/// newline) whose remote counterpart is a regular file of the same size and mode.
pub fn candidates<'a>(local: &'a Local, remote: &Remote) -> Vec<&'a str> {
    local
        .entries
        .iter()
        .filter(|entry| {
            let Kind::File { size, mode } = entry.kind else {
                return false;
            };
            !entry.path.contains(['\\', '\n'])
                && remote.entries.get(&entry.path).is_some_and(|theirs| {
                    theirs.kind == RemoteKind::File && theirs.size == size && theirs.mode == mode
                })
        })
        .map(|entry| entry.path.as_str())
        .collect()
}

/// What to send, replace and delete so that D holds the local tree.
///
/// A file is sent unless the remote has a regular file of the same size and mode and
/// `same_content(path)` (the hashes matched; asked only for such files); a symlink unless the
/// remote has a symlink with the same target; a directory only if it is missing remotely or
/// something else is in its place (a directory's mode is not updated). With `delete`, remote
/// paths the local tree lacks are deleted, except what `excluded` names (matched relative to
/// D as to `BERTH_PATH`, with everything below an excluded directory) and what `keep` names
/// (the staging directory), each with everything below it.
pub fn delta(
    local: &Local,
    remote: &Remote,
    same_content: &dyn Fn(&str) -> bool,
    delete: bool,
    excluded: &Gitignore,
    keep: &dyn Fn(&str) -> bool,
) -> Delta {
    let mut out = Delta::default();
    for (index, entry) in local.entries.iter().enumerate() {
        let theirs = remote.entries.get(&entry.path);
        let local_is_dir = matches!(entry.kind, Kind::Dir { .. });
        if let Some(theirs) = theirs
            && local_is_dir != (theirs.kind == RemoteKind::Dir)
        {
            out.replace.push(entry.path.clone());
        }
        let unchanged = theirs.is_some_and(|theirs| match &entry.kind {
            Kind::Dir { .. } => theirs.kind == RemoteKind::Dir,
            Kind::File { size, mode } => {
                theirs.kind == RemoteKind::File
                    && theirs.size == *size
                    && theirs.mode == *mode
                    && same_content(&entry.path)
            }
            Kind::Symlink { target } => {
                theirs.kind == RemoteKind::Symlink && theirs.target.as_ref() == Some(target)
            }
        });
        if !unchanged {
            out.send.push(index);
            if let Kind::File { size, .. } = entry.kind {
                out.files += 1;
                out.bytes += size;
            }
        }
    }
    if delete {
        let present: HashSet<&str> = local.entries.iter().map(|e| e.path.as_str()).collect();
        // Anything below these goes with them, or stays with them.
        let mut gone: HashSet<&str> = out.replace.iter().map(String::as_str).collect();
        let mut kept: HashSet<&str> = HashSet::new();
        // Sorted by path, so an ancestor is decided before what is below it.
        for (path, theirs) in &remote.entries {
            let path = path.as_str();
            if present.contains(path) || at_or_below_any(path, &gone) {
                continue;
            }
            if at_or_below_any(path, &kept)
                || keep(path)
                || excluded
                    .matched_path_or_any_parents(path, theirs.kind == RemoteKind::Dir)
                    .is_ignore()
            {
                kept.insert(path);
                continue;
            }
            gone.insert(path);
            out.delete.push(path.to_owned());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The stream

/// `mkdir -p 'D/STAGE' && tar -x -p -f - -C 'D/STAGE'`: extracts the tar stream of
/// [`tar_stream`] from stdin into the staging directory, modes as in the archive.
pub fn extract_command(deploy_path: &str, stage: &str) -> String {
    let dir = quote(&remote_join(deploy_path, stage));
    format!("mkdir -p -- {dir} && tar -x -p -f - -C {dir}")
}

/// What the blocking writer puts into the tar: owned, so that it outlives the caller's borrow.
struct Item {
    path: String,
    kind: Kind,
}

/// A tar (GNU headers, long names and link targets as GNU extensions) of the entries in
/// `delta.send`, read from below `root`: files with their mode and size, directories,
/// symlinks with their target, mtimes as on disk. It is written by a blocking task into a
/// bounded pipe, so memory stays flat whatever the tree's size; the handle yields the file
/// bytes written.
///
/// A file that is no longer what the scan saw (another size, or it changes size while it is
/// read) or that cannot be read ends the stream with an error: the handle yields it, and the
/// stream ends with a block no tar accepts, so the remote extraction fails too. The caller
/// must only commit when both the extraction and the handle succeeded. Call from within a
/// tokio runtime.
pub fn tar_stream(
    root: PathBuf,
    local: &Local,
    delta: &Delta,
) -> (
    impl AsyncRead + Unpin + Send + 'static,
    JoinHandle<std::io::Result<u64>>,
) {
    let items: Vec<Item> = delta
        .send
        .iter()
        .map(|&index| {
            let entry = &local.entries[index];
            Item {
                path: entry.path.clone(),
                kind: entry.kind.clone(),
            }
        })
        .collect();
    let (reader, writer) = tokio::io::duplex(STREAM_BUFFER);
    let bridge = BlockingWriter {
        writer,
        runtime: Handle::current(),
    };
    let task = tokio::task::spawn_blocking(move || {
        let out = Guarded {
            inner: BufWriter::with_capacity(64 * 1024, bridge),
            poisoned: false,
        };
        let mut builder = tar::Builder::new(out);
        match write_items(&mut builder, &root, &items) {
            Ok(bytes) => {
                let mut out = builder.into_inner()?;
                out.inner.flush()?;
                let bridge = out.inner.get_mut();
                bridge.runtime.block_on(bridge.writer.shutdown())?;
                Ok(bytes)
            }
            Err(error) => {
                // Not a valid end: a block whose checksum fails, then no end-of-archive blocks
                // (dropping the builder would otherwise write them).
                let out = builder.get_mut();
                let _ = out.inner.write_all(&[0xff; 512]);
                let _ = out.inner.flush();
                out.poisoned = true;
                Err(error)
            }
        }
    });
    (reader, task)
}

/// The pipe's writing end for a blocking thread (what `tokio_util::io::SyncIoBridge` does,
/// which needs a feature of tokio-util this crate does not enable).
struct BlockingWriter {
    writer: DuplexStream,
    runtime: Handle,
}

impl Write for BlockingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.runtime.block_on(self.writer.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.runtime.block_on(self.writer.flush())
    }
}

/// The tar's writer; once poisoned it takes nothing more.
struct Guarded<W: Write> {
    inner: BufWriter<W>,
    poisoned: bool,
}

impl<W: Write> Write for Guarded<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.poisoned {
            return Err(std::io::Error::other("the tar stream has failed"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.poisoned {
            return Err(std::io::Error::other("the tar stream has failed"));
        }
        self.inner.flush()
    }
}

fn write_items<W: Write>(
    builder: &mut tar::Builder<W>,
    root: &Path,
    items: &[Item],
) -> std::io::Result<u64> {
    let mut bytes = 0;
    for item in items {
        let on_disk = root.join(&item.path);
        let mut header = tar::Header::new_gnu();
        let meta = std::fs::symlink_metadata(&on_disk).map_err(|e| named(&item.path, e))?;
        header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        match &item.kind {
            Kind::Dir { mode } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                builder.append_data(&mut header, &item.path, std::io::empty())?;
            }
            Kind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, &item.path, target)?;
            }
            Kind::File { size, mode } => {
                let file = File::open(&on_disk).map_err(|e| named(&item.path, e))?;
                let opened = file.metadata().map_err(|e| named(&item.path, e))?;
                if !opened.is_file() || opened.len() != *size {
                    return Err(changed(&item.path));
                }
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(*size);
                let exact = Exact {
                    file,
                    left: *size,
                    path: &item.path,
                };
                builder.append_data(&mut header, &item.path, exact)?;
                bytes += size;
            }
        }
    }
    builder.finish()?;
    Ok(bytes)
}

fn named(path: &str, error: std::io::Error) -> std::io::Error {
    std::io::Error::new(error.kind(), format!("{path}: {error}"))
}

fn changed(path: &str) -> std::io::Error {
    std::io::Error::other(format!(
        "{path} changed while berth was reading it; deploy a tree nothing else writes to"
    ))
}

/// Exactly `left` bytes of `file`, or an error: never a short or overlong tar member.
struct Exact<'a> {
    file: File,
    left: u64,
    path: &'a str,
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.file.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(changed(self.path)),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 && want > 0 {
            return Err(changed(self.path));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// The commit

/// Moves what [`tar_stream`] sent from the staging directory `stage` (a name inside D) into
/// place, after removing the `replace` paths: `cd 'D'`, then `rm -r -f -- 'p'` for each
/// replaced path and `mv -f -T -- 'STAGE/p' 'p'` for each sent entry, parents first. A
/// directory that was missing moves as a whole with everything in it (all of it was sent), so
/// it keeps its mode and nothing below it needs a command of its own. Chunked, each command
/// starting with `cd 'D'`; the last one removes the staging directory. Run them in order,
/// stopping at the first that fails.
pub fn commit_commands(
    deploy_path: &str,
    stage: &str,
    local: &Local,
    delta: &Delta,
) -> Vec<String> {
    let mut items: Vec<String> = delta
        .replace
        .iter()
        .map(|path| format!("rm -r -f -- {}", quote(path)))
        .collect();
    let mut moved: HashSet<&str> = HashSet::new();
    for &index in &delta.send {
        let entry = &local.entries[index];
        let path = entry.path.as_str();
        if at_or_below_any(path, &moved) {
            continue;
        }
        if matches!(entry.kind, Kind::Dir { .. }) {
            moved.insert(path);
        }
        items.push(format!(
            "mv -f -T -- {} {}",
            quote(&format!("{stage}/{path}")),
            quote(path)
        ));
    }
    items.push(format!("rm -r -f -- {}", quote(stage)));
    chunked(&format!("cd {}", quote(deploy_path)), " && ", items)
}

/// `cd 'D' && rm -r -f -- 'a' 'b' …`, chunked: removes `paths` (relative to D).
pub fn delete_commands(deploy_path: &str, paths: &[String]) -> Vec<String> {
    let prefix = format!("cd {} && rm -r -f --", quote(deploy_path));
    chunked(&prefix, " ", paths.iter().map(|path| quote(path)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ignore::gitignore::GitignoreBuilder;
    use std::os::unix::fs::symlink;
    use tokio::io::AsyncReadExt as _;

    fn excluding(dir: &Path, patterns: &[&str]) -> Gitignore {
        let mut builder = GitignoreBuilder::new(dir);
        for pattern in patterns {
            builder.add_line(None, pattern).unwrap();
        }
        builder.build().unwrap()
    }

    fn write(dir: &Path, path: &str, body: &[u8], mode: u32) {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, body).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The simulator's tokenizer rules (sim/src/ssh/shell.rs) for a line of built-ins: only
    /// plain words (no expansion outside single quotes) joined by `&&`; every command a
    /// built-in. Returns the words of each command.
    fn sim_words(line: &str) -> Vec<Vec<String>> {
        let mut commands = vec![Vec::new()];
        let mut chars = line.chars().peekable();
        while let Some(&c) = chars.peek() {
            if c == ' ' || c == '\t' {
                chars.next();
                continue;
            }
            if matches!(c, ';' | '|' | '&' | '<' | '>' | '(' | ')' | '\n') {
                chars.next();
                assert!(
                    c == '&' && chars.next() == Some('&'),
                    "operator {c:?} in {line:?}"
                );
                commands.push(Vec::new());
                continue;
            }
            let mut word = String::new();
            let mut first = true;
            while let Some(&c) = chars.peek() {
                match c {
                    ' ' | '\t' | ';' | '|' | '&' | '<' | '>' | '(' | ')' | '\n' => break,
                    '\'' => {
                        chars.next();
                        for c in chars.by_ref() {
                            if c == '\'' {
                                break;
                            }
                            word.push(c);
                        }
                    }
                    '\\' => {
                        chars.next();
                        word.push(chars.next().unwrap());
                    }
                    c => {
                        chars.next();
                        assert!(
                            !(matches!(c, '$' | '`' | '*' | '?' | '[' | '"')
                                || (first && c == '~')),
                            "unquoted {c:?} in {line:?}"
                        );
                        word.push(c);
                    }
                }
                first = false;
            }
            commands.last_mut().unwrap().push(word);
        }
        const BUILTINS: &[&str] = &["cd", "mkdir", "rm", "mv", "tar", "find", "sha256sum"];
        for command in &commands {
            assert!(
                command
                    .first()
                    .is_some_and(|name| BUILTINS.contains(&name.as_str())),
                "not a built-in: {command:?} in {line:?}"
            );
        }
        commands
    }

    fn assert_valid(commands: &[String]) {
        for command in commands {
            assert!(command.len() < 64 * 1024, "{} bytes", command.len());
            sim_words(command);
        }
    }

    #[test]
    fn quoting_survives_both_shells() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        let nasty = "a b'c\"d$e`f*g?[h]\\i\nj~k;l|m&&n";
        assert_eq!(sim_words(&format!("cd {}", quote(nasty)))[0][1], nasty);
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(nasty)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), nasty);
    }

    #[test]
    fn scan_walks_without_excluded_paths_with_modes_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "b/run.sh", b"#!/bin/sh\n", 0o755);
        write(root, "a.txt", b"hello", 0o640);
        write(root, "node_modules/x/y.js", b"x", 0o644);
        write(root, "logs/today.log", b"x", 0o644);
        set_mode(&root.join("b"), 0o750);
        symlink("b/run.sh", root.join("link")).unwrap();
        symlink("nowhere", root.join("dangling")).unwrap();
        let local = scan(root, &excluding(root, &["node_modules", "*.log"])).unwrap();
        let got: Vec<(&str, &Kind)> = local
            .entries
            .iter()
            .map(|e| (e.path.as_str(), &e.kind))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "a.txt",
                    &Kind::File {
                        size: 5,
                        mode: 0o640
                    }
                ),
                ("b", &Kind::Dir { mode: 0o750 }),
                (
                    "b/run.sh",
                    &Kind::File {
                        size: 10,
                        mode: 0o755
                    }
                ),
                (
                    "dangling",
                    &Kind::Symlink {
                        target: "nowhere".into()
                    }
                ),
                (
                    "link",
                    &Kind::Symlink {
                        target: "b/run.sh".into()
                    }
                ),
                ("logs", &Kind::Dir { mode: 0o755 }),
            ]
        );
        assert_eq!(local.files(), 2);
        assert_eq!(local.bytes(), 15);
    }

    #[test]
    fn scan_refuses_special_files_by_name() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "ok.txt", b"", 0o644);
        let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("app.sock")).unwrap();
        let error = scan(dir.path(), &excluding(dir.path(), &[])).unwrap_err();
        assert!(
            format!("{error:#}").contains("app.sock: a socket"),
            "{error:#}"
        );
        // Excluded, it is no problem.
        assert!(scan(dir.path(), &excluding(dir.path(), &["*.sock"])).is_ok());
    }

    fn listing(entries: &[(&str, &str, &str, &str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, mode, size, path, target) in entries {
            for field in [kind, mode, size, path, target] {
                out.extend_from_slice(field.as_bytes());
                out.push(0);
            }
        }
        out
    }

    #[test]
    fn listing_parses_any_name() {
        let out = listing(&[
            ("d", "755", "4096", "my dir", ""),
            ("f", "644", "12", "my dir/it's \"new\"\nline.txt", ""),
            ("l", "777", "7", "current", "my dir/x"),
            ("f", "4755", "0", "suid", ""),
            ("p", "644", "0", "fifo", ""),
        ]);
        let remote = parse_listing(&out).unwrap();
        assert_eq!(remote.entries.len(), 5);
        assert_eq!(
            remote.entries["my dir/it's \"new\"\nline.txt"],
            RemoteEntry {
                kind: RemoteKind::File,
                mode: 0o644,
                size: 12,
                target: None
            }
        );
        assert_eq!(
            remote.entries["current"].target.as_deref(),
            Some("my dir/x")
        );
        assert_eq!(remote.entries["suid"].mode, 0o4755);
        assert_eq!(remote.entries["fifo"].kind, RemoteKind::Other);
        assert_eq!(parse_listing(b"").unwrap(), Remote::default());
        assert!(parse_listing(&out[..out.len() - 3]).is_err());
        assert!(
            parse_listing(&listing(&[("f", "644", "1", "\u{fffd}", "")]).replace_bad()).is_err()
        );
    }

    trait ReplaceBad {
        fn replace_bad(self) -> Vec<u8>;
    }

    impl ReplaceBad for Vec<u8> {
        /// The replacement character's bytes become one invalid byte.
        fn replace_bad(self) -> Vec<u8> {
            let text = String::from_utf8(self).unwrap();
            text.split('\u{fffd}')
                .map(str::as_bytes)
                .collect::<Vec<_>>()
                .join(&0xffu8)
        }
    }

    #[test]
    fn hashes_parse_and_skip_escaped_names() {
        let a = "a".repeat(64);
        let out = format!(
            "{a}  plain.txt\n{a}  with  spaces\n\\{a}  back\\\\slash\n{a} *binary\nsha256sum: x: No such file or directory\n"
        );
        let hashes = parse_hashes(out.as_bytes());
        assert_eq!(hashes.len(), 3, "{hashes:?}");
        assert_eq!(hashes["plain.txt"], [0xaa; 32]);
        assert!(hashes.contains_key("with  spaces"));
        assert!(hashes.contains_key("binary"));
        let commands = hash_commands("/html/a b", &["x", "-", "new\nline", "-y"]);
        assert_eq!(commands, ["cd '/html/a b' && sha256sum -- 'x' '-y'"]);
        assert_valid(&commands);
        assert!(hash_commands("/html/a", &[]).is_empty());
    }

    #[test]
    fn local_hash_is_sha256() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "abc", b"abc", 0o644);
        let hex: String = local_hash(&dir.path().join("abc"))
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn local(entries: &[(&str, Kind)]) -> Local {
        Local {
            entries: entries
                .iter()
                .map(|(path, kind)| LocalEntry {
                    path: (*path).to_owned(),
                    kind: kind.clone(),
                })
                .collect(),
        }
    }

    fn remote(entries: &[(&str, RemoteKind, u32, u64, Option<&str>)]) -> Remote {
        Remote {
            entries: entries
                .iter()
                .map(|(path, kind, mode, size, target)| {
                    let entry = RemoteEntry {
                        kind: *kind,
                        mode: *mode,
                        size: *size,
                        target: target.map(str::to_owned),
                    };
                    ((*path).to_owned(), entry)
                })
                .collect(),
        }
    }

    fn file(size: u64, mode: u32) -> Kind {
        Kind::File { size, mode }
    }

    fn dir(mode: u32) -> Kind {
        Kind::Dir { mode }
    }

    fn link(target: &str) -> Kind {
        Kind::Symlink {
            target: target.to_owned(),
        }
    }

    use RemoteKind::{Dir as D, File as F, Other as O, Symlink as L};

    #[test]
    fn delta_sends_only_what_differs() {
        let none = excluding(Path::new("/"), &[]);
        let ours = local(&[
            ("app", dir(0o755)),
            ("app/same.js", file(10, 0o644)),
            ("app/edited.js", file(10, 0o644)),
            ("app/grown.js", file(11, 0o644)),
            ("app/chmod.sh", file(10, 0o755)),
            ("app/new.js", file(3, 0o644)),
            ("current", link("app")),
            ("moved", link("app/new.js")),
            ("conf", file(5, 0o600)),
            ("data", dir(0o700)),
            ("data/x", file(1, 0o644)),
            ("fifo", file(2, 0o644)),
        ]);
        let theirs = remote(&[
            ("app", D, 0o700, 4096, None),
            ("app/same.js", F, 0o644, 10, None),
            ("app/edited.js", F, 0o644, 10, None),
            ("app/grown.js", F, 0o644, 10, None),
            ("app/chmod.sh", F, 0o644, 10, None),
            ("current", L, 0o777, 3, Some("app")),
            ("moved", L, 0o777, 3, Some("app/old.js")),
            ("conf", D, 0o755, 4096, None),
            ("conf/old", F, 0o644, 1, None),
            ("data", F, 0o644, 1, None),
            ("fifo", O, 0o644, 0, None),
        ]);
        assert_eq!(candidates(&ours, &theirs), ["app/same.js", "app/edited.js"]);
        let same = |path: &str| path == "app/same.js";
        let delta = delta(&ours, &theirs, &same, false, &none, &|_| false);
        let sent: Vec<&str> = delta
            .send
            .iter()
            .map(|&i| ours.entries[i].path.as_str())
            .collect();
        assert_eq!(
            sent,
            [
                "app/edited.js",
                "app/grown.js",
                "app/chmod.sh",
                "app/new.js",
                "moved",
                "conf",
                "data",
                "data/x",
                "fifo"
            ]
        );
        assert_eq!(delta.replace, ["conf", "data"]);
        assert!(delta.delete.is_empty());
        assert_eq!(delta.files, 7);
        assert_eq!(delta.bytes, 10 + 11 + 10 + 3 + 5 + 1 + 2);

        let commit = commit_commands("/html/app", ".berth-upload-1", &ours, &delta);
        assert_eq!(
            commit,
            [
                "cd '/html/app' && rm -r -f -- 'conf' && rm -r -f -- 'data' \
                 && mv -f -T -- '.berth-upload-1/app/edited.js' 'app/edited.js' \
                 && mv -f -T -- '.berth-upload-1/app/grown.js' 'app/grown.js' \
                 && mv -f -T -- '.berth-upload-1/app/chmod.sh' 'app/chmod.sh' \
                 && mv -f -T -- '.berth-upload-1/app/new.js' 'app/new.js' \
                 && mv -f -T -- '.berth-upload-1/moved' 'moved' \
                 && mv -f -T -- '.berth-upload-1/conf' 'conf' \
                 && mv -f -T -- '.berth-upload-1/data' 'data' \
                 && mv -f -T -- '.berth-upload-1/fifo' 'fifo' \
                 && rm -r -f -- '.berth-upload-1'"
            ]
        );
        assert_valid(&commit);
    }

    #[test]
    fn an_unchanged_tree_is_an_empty_delta() {
        let none = excluding(Path::new("/"), &[]);
        let ours = local(&[("a", dir(0o755)), ("a/b", file(1, 0o644)), ("l", link("a"))]);
        let theirs = remote(&[
            ("a", D, 0o755, 4096, None),
            ("a/b", F, 0o644, 1, None),
            ("l", L, 0o777, 1, Some("a")),
        ]);
        let delta = delta(&ours, &theirs, &|_| true, true, &none, &|_| false);
        assert!(delta.is_empty(), "{delta:?}");
        assert_eq!((delta.files, delta.bytes), (0, 0));
    }

    #[test]
    fn delete_keeps_excluded_and_kept_paths_and_names_only_the_top() {
        let excluded = excluding(Path::new("/src"), &["node_modules", "*.log", "/uploads/"]);
        let ours = local(&[
            ("a", dir(0o755)),
            ("a/keep.js", file(1, 0o644)),
            ("f", link("a")),
        ]);
        let theirs = remote(&[
            ("a", D, 0o755, 4096, None),
            ("a/gone.js", F, 0o644, 1, None),
            ("a/keep.js", F, 0o644, 1, None),
            ("a/node_modules", D, 0o755, 4096, None),
            ("a/node_modules/x.js", F, 0o644, 1, None),
            ("a/app.log", F, 0o644, 1, None),
            ("old", D, 0o755, 4096, None),
            ("old/deep", D, 0o755, 4096, None),
            ("old/deep/x", F, 0o644, 1, None),
            ("old/y", F, 0o644, 1, None),
            ("uploads", D, 0o755, 4096, None),
            ("uploads/photo.jpg", F, 0o644, 1, None),
            // `/uploads/` names a directory: a file of that name elsewhere is not excluded.
            ("x", D, 0o755, 4096, None),
            ("x/uploads", F, 0o644, 1, None),
            (".berth-upload-9", D, 0o755, 4096, None),
            (".berth-upload-9/a", F, 0o644, 1, None),
            // A directory where a link goes: replaced, and what is in it goes with it.
            ("f", D, 0o755, 4096, None),
            ("f/inner", F, 0o644, 1, None),
        ]);
        let keep = |path: &str| path == ".berth-upload-9";
        let with = delta(&ours, &theirs, &|_| true, true, &excluded, &keep);
        assert_eq!(with.delete, ["a/gone.js", "old", "x"]);
        assert_eq!(with.replace, ["f"]);
        let without = delta(&ours, &theirs, &|_| true, false, &excluded, &keep);
        assert!(without.delete.is_empty());
        let commands = delete_commands("/html/app", &with.delete);
        assert_eq!(
            commands,
            ["cd '/html/app' && rm -r -f -- 'a/gone.js' 'old' 'x'"]
        );
        assert_valid(&commands);
        assert!(delete_commands("/html/app", &[]).is_empty());
    }

    #[test]
    fn long_lists_become_several_commands_below_64_kib() {
        let paths: Vec<String> = (0..5000)
            .map(|i| {
                format!(
                    "some/deeply/nested/directory/{}/file-{i}.js",
                    "x".repeat(120)
                )
            })
            .collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let hashes = hash_commands("/html/app", &refs);
        let deletes = delete_commands("/html/app", &paths);
        let ours = local(
            &paths
                .iter()
                .map(|path| (path.as_str(), file(1, 0o644)))
                .collect::<Vec<_>>(),
        );
        let delta = Delta {
            send: (0..paths.len()).collect(),
            replace: paths[..100].to_vec(),
            ..Delta::default()
        };
        let commits = commit_commands("/html/app", ".berth-upload-1", &ours, &delta);
        for commands in [&hashes, &deletes, &commits] {
            assert!(commands.len() > 3, "{}", commands.len());
            assert_valid(commands);
        }
        // Every path once, in order, each command complete on its own.
        let words = |commands: &[String], skip: usize| -> Vec<String> {
            commands
                .iter()
                .flat_map(|c| sim_words(c)[1].clone().into_iter().skip(skip))
                .collect()
        };
        assert_eq!(words(&hashes, 2), paths);
        assert_eq!(words(&deletes, 4), paths);
        let mut moved = Vec::new();
        for command in &commits {
            let commands = sim_words(command);
            assert_eq!(commands[0], ["cd", "/html/app"]);
            for words in &commands[1..] {
                if words[0] == "mv" {
                    assert_eq!(words[4], format!(".berth-upload-1/{}", words[5]));
                    moved.push(words[5].clone());
                }
            }
        }
        assert_eq!(moved, paths);
        assert!(
            commits
                .last()
                .unwrap()
                .ends_with(" && rm -r -f -- '.berth-upload-1'")
        );
    }

    #[test]
    fn remote_commands_read_as_built_ins() {
        let d = "/html/my app's";
        assert_valid(&[listing_command(d), extract_command(d, ".berth-upload-1")]);
        assert_eq!(
            extract_command("/html/app/", ".berth-upload-1"),
            "mkdir -p -- '/html/app/.berth-upload-1' && tar -x -p -f - -C '/html/app/.berth-upload-1'"
        );
        assert_eq!(
            listing_command("/html/app"),
            r"mkdir -p -- '/html/app' && cd '/html/app' && find . -mindepth 1 -printf '%y\0%m\0%s\0%P\0%l\0'"
        );
    }

    // -----------------------------------------------------------------------------------------
    // End to end: the commands run for real, by /bin/sh with GNU tools and by the simulator.

    /// Where the commands run.
    trait Host {
        /// Runs `command` with `stdin`; exit status, stdout, stderr.
        async fn run(
            &self,
            command: &str,
            stdin: Box<dyn AsyncRead + Unpin + Send>,
        ) -> (u32, Vec<u8>, String);
    }

    /// A local directory with `/bin/sh -c`: GNU find, tar, coreutils.
    struct Sh;

    impl Host for Sh {
        async fn run(
            &self,
            command: &str,
            mut stdin: Box<dyn AsyncRead + Unpin + Send>,
        ) -> (u32, Vec<u8>, String) {
            let mut input = Vec::new();
            stdin.read_to_end(&mut input).await.unwrap();
            let command = command.to_owned();
            tokio::task::spawn_blocking(move || {
                use std::process::{Command, Stdio};
                let mut child = Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&command)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut pipe = child.stdin.take().unwrap();
                let writer = std::thread::spawn(move || {
                    let _ = pipe.write_all(&input);
                });
                let out = child.wait_with_output().unwrap();
                writer.join().unwrap();
                let status = out.status.code().map_or(128, |c| c as u32);
                (
                    status,
                    out.stdout,
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )
            })
            .await
            .unwrap()
        }
    }

    fn no_input() -> Box<dyn AsyncRead + Unpin + Send> {
        Box::new(tokio::io::empty())
    }

    /// One deploy of `src` into `deploy_path` on `host`, as the flow composes it; returns the
    /// delta it carried out.
    async fn deploy(
        host: &impl Host,
        src: &Path,
        excluded: &Gitignore,
        deploy_path: &str,
    ) -> Delta {
        let stage = ".berth-upload-0f1e";
        let local = scan(src, excluded).unwrap();
        let command = listing_command(deploy_path);
        assert_valid(std::slice::from_ref(&command));
        let (status, out, err) = host.run(&command, no_input()).await;
        assert_eq!(status, 0, "{command}: {err}");
        let remote = parse_listing(&out).unwrap();

        let mut hashes = HashMap::new();
        let commands = hash_commands(deploy_path, &candidates(&local, &remote));
        assert_valid(&commands);
        for command in commands {
            let (status, out, err) = host.run(&command, no_input()).await;
            assert_eq!(status, 0, "{command}: {err}");
            hashes.extend(parse_hashes(&out));
        }
        let same = |path: &str| {
            hashes
                .get(path)
                .is_some_and(|hash| *hash == local_hash(&src.join(path)).unwrap())
        };
        let delta = delta(&local, &remote, &same, true, excluded, &|p| p == stage);

        if !delta.send.is_empty() || !delta.replace.is_empty() {
            let (stream, writer) = tar_stream(src.to_path_buf(), &local, &delta);
            let command = extract_command(deploy_path, stage);
            assert_valid(std::slice::from_ref(&command));
            let (status, _, err) = host.run(&command, Box::new(stream)).await;
            assert_eq!(status, 0, "{command}: {err}");
            assert_eq!(writer.await.unwrap().unwrap(), delta.bytes);
            let commands = commit_commands(deploy_path, stage, &local, &delta);
            assert_valid(&commands);
            for command in commands {
                let (status, _, err) = host.run(&command, no_input()).await;
                assert_eq!(status, 0, "{command}: {err}");
            }
        }
        let commands = delete_commands(deploy_path, &delta.delete);
        assert_valid(&commands);
        for command in commands {
            let (status, _, err) = host.run(&command, no_input()).await;
            assert_eq!(status, 0, "{command}: {err}");
        }
        delta
    }

    /// What a tree holds, below `root`, without paths `skip` names: kind, mode, body or target.
    fn snapshot(root: &Path, skip: &dyn Fn(&str) -> bool) -> BTreeMap<String, String> {
        let mut tree = BTreeMap::new();
        for entry in walkdir::WalkDir::new(root).min_depth(1) {
            let entry = entry.unwrap();
            let path = entry.path().strip_prefix(root).unwrap().to_str().unwrap();
            if skip(path) {
                continue;
            }
            let meta = entry.path().symlink_metadata().unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let what = if meta.is_dir() {
                format!("dir {mode:o}")
            } else if meta.is_symlink() {
                format!(
                    "link {}",
                    std::fs::read_link(entry.path()).unwrap().display()
                )
            } else {
                let body = std::fs::read(entry.path()).unwrap();
                let hash: String = ring::digest::digest(&ring::digest::SHA256, &body)
                    .as_ref()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                format!("file {mode:o} {} {hash}", body.len())
            };
            tree.insert(path.to_owned(), what);
        }
        tree
    }

    const LONG: &str = "a-name-long-enough-that-the-whole-path-needs-gnu-long-name-headers-in-the-tar-stream-0123456789abcdef";

    /// The source tree of the end-to-end tests and what BERTH_EXCLUDE says.
    fn source(root: &Path) -> Gitignore {
        write(root, "index.js", b"console.log(1)\n", 0o644);
        write(
            root,
            "bin/start.sh",
            b"#!/bin/sh\nexec node index.js\n",
            0o755,
        );
        set_mode(&root.join("bin"), 0o750);
        write(root, "secret.txt", b"s3cr3t", 0o600);
        write(
            root,
            "dir with space/it's \"quoted\" $HOME *.txt",
            b"q",
            0o644,
        );
        write(root, "-dash", b"dash", 0o644);
        // (A file named so is sent each time: GNU sha256sum escapes its name.)
        symlink("index.js", root.join("back\\slash")).unwrap();
        write(root, "empty", b"", 0o644);
        write(root, &format!("deep/{LONG}/{LONG}.txt"), b"long", 0o644);
        let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
        write(root, "assets/big.bin", &big, 0o644);
        // A replaced type: `conf` is a directory remotely.
        write(root, "conf", b"a=1\n", 0o640);
        std::fs::create_dir(root.join("new\nline")).unwrap();
        symlink("bin/start.sh", root.join("current")).unwrap();
        symlink("nowhere", root.join("link\nwith newline")).unwrap();
        write(root, "node_modules/left/out.js", b"not sent", 0o644);
        excluding(root, &["node_modules"])
    }

    /// What the remote side holds before the first deploy.
    fn earlier(deployed: &Path) {
        write(deployed, "stale.txt", b"old", 0o644);
        write(deployed, "olddir/a/b", b"old", 0o644);
        write(deployed, "conf/inner", b"old", 0o644);
        write(deployed, "node_modules/kept/x.js", b"installed", 0o644);
        write(deployed, "index.js", b"console.log(0)\n", 0o644);
    }

    /// Three rounds into `deployed` (the host path of `deploy_path`): the first brings the
    /// tree, the second only the changed file, the third nothing.
    async fn three_rounds(host: &impl Host, deploy_path: &str, deployed: &Path) {
        let src = tempfile::tempdir().unwrap();
        let excluded = source(src.path());
        earlier(deployed);
        let skip_modules = |p: &str| p == "node_modules" || p.starts_with("node_modules/");

        let first = deploy(host, src.path(), &excluded, deploy_path).await;
        assert_eq!(first.delete, ["olddir", "stale.txt"]);
        assert_eq!(first.replace, ["conf"]);
        assert_eq!(
            snapshot(src.path(), &skip_modules),
            snapshot(deployed, &skip_modules)
        );
        assert_eq!(
            std::fs::read(deployed.join("node_modules/kept/x.js")).unwrap(),
            b"installed"
        );
        assert!(!deployed.join(".berth-upload-0f1e").exists());

        // Same size, same mode, other content: only the hash tells.
        write(src.path(), "index.js", b"console.log(2)\n", 0o644);
        let second = deploy(host, src.path(), &excluded, deploy_path).await;
        let local = scan(src.path(), &excluded).unwrap();
        let sent: Vec<&str> = second
            .send
            .iter()
            .map(|&i| local.entries[i].path.as_str())
            .collect();
        assert_eq!(sent, ["index.js"]);
        assert_eq!((second.files, second.bytes), (1, 15));
        assert!(second.replace.is_empty() && second.delete.is_empty());
        assert_eq!(
            snapshot(src.path(), &skip_modules),
            snapshot(deployed, &skip_modules)
        );
        assert!(!deployed.join(".berth-upload-0f1e").exists());

        let third = deploy(host, src.path(), &excluded, deploy_path).await;
        assert!(third.is_empty(), "{third:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deploys_with_gnu_tools_in_a_real_shell() {
        let remote = tempfile::tempdir().unwrap();
        // D does not exist yet: the listing makes it.
        let deployed = remote.path().join("html/my app's");
        let deploy_path = deployed.to_str().unwrap().to_owned();
        std::fs::create_dir_all(&deployed).unwrap();
        three_rounds(&Sh, &deploy_path, &deployed).await;

        let fresh = remote.path().join("html/fresh");
        let (status, out, err) = Sh
            .run(&listing_command(fresh.to_str().unwrap()), no_input())
            .await;
        assert_eq!((status, out.as_slice()), (0, &b""[..]), "{err}");
        assert!(fresh.is_dir());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_file_that_changes_while_streamed_fails_the_stream_and_the_extraction() {
        let src = tempfile::tempdir().unwrap();
        write(src.path(), "a.txt", b"first", 0o644);
        write(src.path(), "b.txt", b"second", 0o644);
        let excluded = excluding(src.path(), &[]);
        let local = scan(src.path(), &excluded).unwrap();
        let delta = delta(
            &local,
            &Remote::default(),
            &|_| false,
            false,
            &excluded,
            &|_| false,
        );
        // Grown after the scan.
        write(src.path(), "b.txt", b"second and more", 0o644);
        let (stream, writer) = tar_stream(src.path().to_path_buf(), &local, &delta);
        let remote = tempfile::tempdir().unwrap();
        let (status, _, err) = Sh
            .run(
                &extract_command(remote.path().to_str().unwrap(), ".stage"),
                Box::new(stream),
            )
            .await;
        assert_ne!(status, 0, "{err}");
        let error = writer.await.unwrap().unwrap_err();
        assert!(error.to_string().contains("b.txt changed"), "{error}");
        assert!(!remote.path().join("b.txt").exists());
    }

    /// A login to berth's simulator: the commands go through its SSH command language.
    struct Sim {
        session: russh::client::Handle<TrustAny>,
    }

    /// The simulator's host key is made up per run; nothing to check in a test.
    struct TrustAny;

    impl russh::client::Handler for TrustAny {
        type Error = russh::Error;

        async fn check_server_key(
            &mut self,
            _key: &russh::keys::PublicKeyOrCertificate,
        ) -> Result<bool, Self::Error> {
            Ok(true)
        }
    }

    impl Host for Sim {
        async fn run(
            &self,
            command: &str,
            stdin: Box<dyn AsyncRead + Unpin + Send>,
        ) -> (u32, Vec<u8>, String) {
            use russh::ChannelMsg;
            let mut channel = self.session.channel_open_session().await.unwrap();
            channel.exec(true, command).await.unwrap();
            channel.data(stdin).await.unwrap();
            channel.eof().await.unwrap();
            let (mut out, mut err, mut status) = (Vec::new(), Vec::new(), None);
            while let Some(message) = channel.wait().await {
                match message {
                    ChannelMsg::Data { data } => out.extend_from_slice(&data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => err.extend_from_slice(&data),
                    ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            let err = String::from_utf8_lossy(&err).into_owned();
            (status.unwrap_or(255), out, err)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deploys_through_the_simulators_command_language() {
        use berth_sim::mittwald::{NODE_APP_ID, NODE_VERSION_1_0_0_ID};
        use russh::keys::PrivateKey;
        use russh::keys::ssh_key::private::Ed25519Keypair;
        use std::sync::Arc;

        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let options = berth_sim::SimOptions {
            ssh_activation: std::time::Duration::ZERO,
            consistency_delay: std::time::Duration::ZERO,
            ..berth_sim::SimOptions::default()
        };
        let sim = berth_sim::serve(listener, options).await.unwrap();
        let id = sim.seed_installation(berth_sim::SeedInstallation {
            project_id: "p-treetest".to_owned(),
            app_id: NODE_APP_ID.to_owned(),
            app_version_id: NODE_VERSION_1_0_0_ID.to_owned(),
            description: "tree".to_owned(),
            ..berth_sim::SeedInstallation::default()
        });
        let installation = sim
            .installations()
            .into_iter()
            .find(|i| i["id"] == id.as_str())
            .unwrap();
        let short_id = installation["shortId"].as_str().unwrap().to_owned();
        let deploy_path = format!(
            "/html{}",
            installation["installationPath"].as_str().unwrap()
        );
        let key = PrivateKey::from(Ed25519Keypair::from_seed(&[7; 32]));
        let public = key.public_key().to_openssh().unwrap();
        let public: Vec<&str> = public.split(' ').take(2).collect();
        let user: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/v2/projects/p-treetest/ssh-users", sim.url()))
            .header("x-access-token", berth_sim::DEFAULT_TOKEN)
            .json(&serde_json::json!({
                "description": "tree test",
                "authentication": { "publicKeys": [{ "comment": "t", "key": public.join(" ") }] },
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let login = format!("{}@{short_id}", user["userName"].as_str().unwrap());
        let mut session = russh::client::connect(
            Arc::new(russh::client::Config::default()),
            sim.ssh_addr(),
            TrustAny,
        )
        .await
        .unwrap();
        let auth = session
            .authenticate_publickey(
                login,
                russh::keys::PrivateKeyWithHashAlg::new(Arc::new(key), None),
            )
            .await
            .unwrap();
        assert!(auth.success());
        let deployed = sim.installation_dir(&short_id).unwrap();
        three_rounds(&Sim { session }, &deploy_path, &deployed).await;
    }
}
