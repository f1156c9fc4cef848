//! The built-in commands of the simulated SSH endpoint, each the subset of its GNU namesake a
//! deploy needs, with the same output and exit statuses; an option outside the subset is
//! refused (exit 2) rather than ignored:
//!
//! - `cd DIR`
//! - `mkdir [-p] [-m MODE] [--] DIR…`
//! - `rm [-r|-R|--recursive] [-f|--force] [--] PATH…` (bundles like `-rf`; never `/`)
//! - `mv [-f] [-T] [--] SRC… DST` (a rename; into DST when it is a directory, unless `-T`)
//! - `tar` extracting from stdin: `-x`/`--extract`, `-z`/`--gzip`, `-f -`, `-C DIR`/
//!   `--directory=DIR`, `-v`, `-p`/`--preserve-permissions` (else modes lose the umask 022),
//!   `-m`/`--touch`, `-o`/`--no-same-owner`, `--overwrite`, `-U`/`--unlink-first`; bundled
//!   (`-xzf -`) or old style (`xzf -`). Plain or gzip (only with `-z`, as GNU tar reading a
//!   pipe); regular files, directories, symlinks and hard links; modes and mtimes kept;
//!   an existing file is unlinked before it is written.
//! - `find [PATH…] [-mindepth N] [-maxdepth N] [-type f|d|l[,…]] [-printf FMT | -print |
//!   -print0 | -exec sha256sum {} + | -exec sha256sum {} ;]`, never following symlinks, each
//!   directory's entries in name order (GNU find's order is the file system's: do not rely on
//!   it). `-printf` knows `%p %P %f %h %s %m %y %l %d %T@ %%` and `\n \t \0 \\`.
//! - `sha256sum FILE…` (`<hex>  <name>`), `cat [--] FILE…`, `tail [-n N|-N|--lines=N] [--] FILE…`,
//!   `true`
//! - `mittnitectl job restart|start [-w|--wait] [--wait-for DURATION] [JOB]`, as mittnite's
//!   own (cmd/mittnitectl/job_actions.go): the job is the app's (`node`, `python`, `php`),
//!   optional; only with `--wait` does it wait, polling every 100 ms for up to `--wait-for`
//!   (a Go duration, default 5s), and a job that is not running by then is exit 1.

use std::io::Read;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::Receiver;

use super::jail::{Jail, append_log, normalize};
use super::shell::Context;
use crate::mittwald::AppState;

/// What a synchronous built-in leaves: its exit status and output.
#[derive(Default)]
struct Output {
    status: u32,
    out: Vec<u8>,
    err: Vec<u8>,
}

impl Output {
    fn fail(status: u32, message: impl AsRef<str>) -> Self {
        Self {
            status,
            out: Vec::new(),
            err: format!("{}\n", message.as_ref()).into_bytes(),
        }
    }

    fn error(&mut self, status: u32, message: impl AsRef<str>) {
        self.status = status;
        self.err.extend_from_slice(message.as_ref().as_bytes());
        self.err.push(b'\n');
    }
}

/// Runs built-in `args[0]`.
pub(super) async fn run<O, E>(
    context: &mut Context,
    args: &[String],
    stdin: &mut Option<Receiver<Bytes>>,
    out: &mut O,
    err: &mut E,
) -> u32
where
    O: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let name = args[0].as_str();
    let rest = args[1..].to_vec();
    let output = match name {
        "cd" => cd(&mut context.jail, &rest),
        "true" => Output::default(),
        "mittnitectl" => return mittnitectl(context, &rest, out, err).await,
        "tar" => {
            let input = stdin.take();
            let jail = context.jail.clone();
            blocking(move || tar(&jail, &rest, input)).await
        }
        _ => {
            let jail = context.jail.clone();
            let name = name.to_owned();
            blocking(move || match name.as_str() {
                "mkdir" => mkdir(&jail, &rest),
                "rm" => rm(&jail, &rest),
                "mv" => mv(&jail, &rest),
                "find" => find(&jail, &rest),
                "sha256sum" => sha256sum(&jail, &rest),
                "cat" => cat(&jail, &rest),
                "tail" => tail(&jail, &rest),
                other => Output::fail(127, format!("berth-sim: {other}: not a built-in")),
            })
            .await
        }
    };
    let _ = out.write_all(&output.out).await;
    let _ = err.write_all(&output.err).await;
    output.status
}

async fn blocking(work: impl FnOnce() -> Output + Send + 'static) -> Output {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|_| Output::fail(2, "berth-sim: the command panicked"))
}

fn cd(jail: &mut Jail, args: &[String]) -> Output {
    let [dir] = args else {
        return Output::fail(2, "cd: usage: cd DIR");
    };
    if jail.real(dir).is_dir() {
        jail.cwd = jail.resolve(dir);
        Output::default()
    } else {
        Output::fail(1, format!("cd: {dir}: No such file or directory"))
    }
}

/// Splits `args` into single-letter flags (bundled `-rf`; long ones mapped by `long`) and
/// operands (everything after `--` or not starting with `-`).
fn flags(
    command: &str,
    args: &[String],
    known: &str,
    long: &[(&str, char)],
) -> Result<(Vec<char>, Vec<String>), Output> {
    let mut found = Vec::new();
    let mut operands = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            operands.extend(rest.cloned());
            break;
        }
        if let Some(name) = arg.strip_prefix("--") {
            match long.iter().find(|(long, _)| *long == name) {
                Some((_, short)) => found.push(*short),
                None => {
                    return Err(Output::fail(
                        2,
                        format!("{command}: unrecognized option '{arg}' (not simulated)"),
                    ));
                }
            }
        } else if let Some(letters) = arg.strip_prefix('-').filter(|l| !l.is_empty()) {
            for letter in letters.chars() {
                if !known.contains(letter) {
                    return Err(Output::fail(
                        2,
                        format!("{command}: invalid option -- '{letter}' (not simulated)"),
                    ));
                }
                found.push(letter);
            }
        } else {
            operands.push(arg.clone());
        }
    }
    Ok((found, operands))
}

fn mkdir(jail: &Jail, args: &[String]) -> Output {
    // `-m MODE` takes a value: pull it out first.
    let mut mode = None;
    let mut rest = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "-m" {
            match iter.next().and_then(|m| u32::from_str_radix(m, 8).ok()) {
                Some(m) => mode = Some(m),
                None => return Output::fail(2, "mkdir: -m takes an octal mode"),
            }
        } else {
            rest.push(arg.clone());
        }
    }
    let (found, dirs) = match flags("mkdir", &rest, "p", &[("parents", 'p')]) {
        Ok(parsed) => parsed,
        Err(output) => return output,
    };
    if dirs.is_empty() {
        return Output::fail(2, "mkdir: missing operand");
    }
    let parents = found.contains(&'p');
    let mut output = Output::default();
    for dir in &dirs {
        let real = jail.real(dir);
        let made = if parents {
            std::fs::create_dir_all(&real)
        } else {
            std::fs::create_dir(&real)
        };
        let made = made.and_then(|()| match mode {
            Some(mode) => std::fs::set_permissions(&real, std::fs::Permissions::from_mode(mode)),
            None => Ok(()),
        });
        if let Err(error) = made {
            output.error(
                1,
                format!(
                    "mkdir: cannot create directory '{dir}': {}",
                    describe(&error)
                ),
            );
        }
    }
    output
}

fn rm(jail: &Jail, args: &[String]) -> Output {
    let (found, paths) = match flags("rm", args, "rRf", &[("recursive", 'r'), ("force", 'f')]) {
        Ok(parsed) => parsed,
        Err(output) => return output,
    };
    let recursive = found.contains(&'r') || found.contains(&'R');
    let force = found.contains(&'f');
    if paths.is_empty() && !force {
        return Output::fail(1, "rm: missing operand");
    }
    let mut output = Output::default();
    for path in &paths {
        let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if jail.resolve(path) == "/" {
            output.error(1, "rm: it is dangerous to operate recursively on '/'");
            continue;
        }
        if last == "." || last == ".." {
            output.error(
                1,
                format!("rm: refusing to remove '.' or '..' directory: skipping '{path}'"),
            );
            continue;
        }
        let real = jail.real(path);
        let removed = match std::fs::symlink_metadata(&real) {
            Err(error) if force && error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error),
            Ok(meta) if meta.is_dir() && !recursive => {
                output.error(1, format!("rm: cannot remove '{path}': Is a directory"));
                continue;
            }
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&real),
            Ok(_) => std::fs::remove_file(&real),
        };
        if let Err(error) = removed {
            output.error(
                1,
                format!("rm: cannot remove '{path}': {}", describe(&error)),
            );
        }
    }
    output
}

fn mv(jail: &Jail, args: &[String]) -> Output {
    let (found, operands) = match flags(
        "mv",
        args,
        "fT",
        &[("force", 'f'), ("no-target-directory", 'T')],
    ) {
        Ok(parsed) => parsed,
        Err(output) => return output,
    };
    let Some((target, sources)) = operands.split_last().filter(|(_, s)| !s.is_empty()) else {
        return Output::fail(1, "mv: missing destination file operand");
    };
    let into = !found.contains(&'T') && jail.real(target).is_dir();
    if sources.len() > 1 && !into {
        return Output::fail(1, format!("mv: target '{target}' is not a directory"));
    }
    let mut output = Output::default();
    for source in sources {
        let destination = if into {
            let name = source
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("");
            format!("{}/{name}", jail.resolve(target))
        } else {
            jail.resolve(target)
        };
        if let Err(error) = std::fs::rename(jail.real(source), jail.real(&destination)) {
            output.error(
                1,
                format!(
                    "mv: cannot move '{source}' to '{destination}': {}",
                    describe(&error)
                ),
            );
        }
    }
    output
}

/// The client's stream as a blocking reader (tar runs on a blocking thread).
struct StreamReader {
    input: Option<Receiver<Bytes>>,
    pending: Bytes,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.is_empty() {
            match self.input.as_mut().and_then(Receiver::blocking_recv) {
                Some(chunk) => self.pending = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending.split_to(n));
        Ok(n)
    }
}

fn tar(jail: &Jail, args: &[String], input: Option<Receiver<Bytes>>) -> Output {
    let mut args: Vec<String> = args.to_vec();
    // Old style: a first word without `-` is a bundle of letters (`tar xzf - -C dir`).
    if let Some(first) = args.first_mut()
        && !first.starts_with('-')
    {
        first.insert(0, '-');
    }
    let (mut extract, mut gzip, mut verbose, mut keep_modes, mut touch) =
        (false, false, false, false, false);
    let mut file: Option<String> = None;
    let mut directory: Option<String> = None;
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (long, None),
            };
            match name {
                "extract" | "get" => extract = true,
                "gzip" | "gunzip" | "ungzip" => gzip = true,
                "verbose" => verbose = true,
                "preserve-permissions" | "same-permissions" => keep_modes = true,
                "touch" => touch = true,
                "no-same-owner" | "overwrite" | "unlink-first" | "no-same-permissions" => {}
                "file" | "directory" => {
                    let Some(value) = value.or_else(|| iter.next()) else {
                        return Output::fail(
                            2,
                            format!("tar: option '--{name}' requires an argument"),
                        );
                    };
                    if name == "file" {
                        file = Some(value);
                    } else {
                        directory = Some(value);
                    }
                }
                _ => {
                    return Output::fail(
                        2,
                        format!("tar: unrecognized option '--{name}' (not simulated)"),
                    );
                }
            }
        } else if let Some(letters) = arg.strip_prefix('-').filter(|l| !l.is_empty()) {
            for letter in letters.chars() {
                match letter {
                    'x' => extract = true,
                    'z' => gzip = true,
                    'v' => verbose = true,
                    'p' => keep_modes = true,
                    'm' => touch = true,
                    'o' | 'U' => {}
                    'f' | 'C' => {
                        let Some(value) = iter.next() else {
                            return Output::fail(
                                2,
                                format!("tar: option requires an argument -- '{letter}'"),
                            );
                        };
                        if letter == 'f' {
                            file = Some(value);
                        } else {
                            directory = Some(value);
                        }
                    }
                    other => {
                        return Output::fail(
                            2,
                            format!("tar: invalid option -- '{other}' (not simulated)"),
                        );
                    }
                }
            }
        } else {
            return Output::fail(
                2,
                format!(
                    "tar: {arg}: member names are not simulated (the whole archive is extracted)"
                ),
            );
        }
    }
    if !extract {
        return Output::fail(2, "tar: only extraction (-x) from stdin is simulated");
    }
    if file.as_deref().is_some_and(|file| file != "-") {
        return Output::fail(2, "tar: only -f - (stdin) is simulated");
    }
    let target = directory.map_or_else(|| jail.cwd.clone(), |dir| jail.resolve(&dir));
    let real = jail.real(&target);
    if !real.is_dir() {
        return Output::fail(
            2,
            format!(
                "tar: {target}: Cannot open: No such file or directory\ntar: Error is not recoverable: exiting now"
            ),
        );
    }
    let stream = StreamReader {
        input,
        pending: Bytes::new(),
    };
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(stream))
    } else {
        Box::new(stream)
    };
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(keep_modes);
    // GNU tar as a user: the modes lose the umask unless -p.
    archive.set_mask(if keep_modes { 0 } else { 0o022 });
    archive.set_preserve_mtime(!touch);
    archive.set_overwrite(true);
    let mut output = Output::default();
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(error) => return Output::fail(2, format!("tar: {error}")),
    };
    for entry in entries {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                output.error(
                    2,
                    format!("tar: {error}\ntar: Error is not recoverable: exiting now"),
                );
                return output;
            }
        };
        let name = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        match entry.unpack_in(&real) {
            Ok(true) => {
                if verbose {
                    output.out.extend_from_slice(name.as_bytes());
                    output.out.push(b'\n');
                }
            }
            Ok(false) => output.error(2, format!("tar: {name}: Member name contains '..'")),
            Err(error) => {
                output.error(2, format!("tar: {name}: Cannot extract: {error}"));
                // A broken stream leaves nothing more to read.
                if error.kind() == std::io::ErrorKind::UnexpectedEof {
                    return output;
                }
            }
        }
    }
    output
}

/// What `find` prints for each entry it keeps.
enum Action {
    Print(&'static str),
    Printf(String),
    Sha256,
}

fn find(jail: &Jail, args: &[String]) -> Output {
    let split = args
        .iter()
        .position(|arg| arg.starts_with('-') || arg == "(" || arg == "!")
        .unwrap_or(args.len());
    let mut starts: Vec<String> = args[..split].to_vec();
    if starts.is_empty() {
        starts.push(".".to_owned());
    }
    let (mut min_depth, mut max_depth) = (0usize, usize::MAX);
    let mut types: Option<Vec<char>> = None;
    let mut actions = Vec::new();
    let mut iter = args[split..].iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| Output::fail(1, format!("find: missing argument to `{name}'")))
        };
        let parsed: Result<(), Output> = (|| {
            match arg.as_str() {
                "-mindepth" | "-maxdepth" => {
                    let text = value(arg)?;
                    let depth = text.parse().map_err(|_| {
                        Output::fail(1, format!("find: Expected a positive decimal integer argument to {arg}, but got `{text}'"))
                    })?;
                    if arg == "-mindepth" {
                        min_depth = depth;
                    } else {
                        max_depth = depth;
                    }
                }
                "-type" => {
                    let text = value(arg)?;
                    let letters: Vec<char> =
                        text.split(',').filter_map(|t| t.chars().next()).collect();
                    if letters.iter().any(|l| !matches!(l, 'f' | 'd' | 'l')) {
                        return Err(Output::fail(
                            1,
                            format!("find: -type {text} is not simulated (f, d, l)"),
                        ));
                    }
                    types = Some(letters);
                }
                "-print" => actions.push(Action::Print("\n")),
                "-print0" => actions.push(Action::Print("\0")),
                "-printf" => actions.push(Action::Printf(value(arg)?)),
                "-exec" => {
                    let program = value(arg)?;
                    let braces = value(arg)?;
                    let end = value(arg)?;
                    if program != "sha256sum" || braces != "{}" || !(end == "+" || end == ";") {
                        return Err(Output::fail(
                            1,
                            "find: only -exec sha256sum {} + (or ;) is simulated",
                        ));
                    }
                    actions.push(Action::Sha256);
                }
                other => {
                    return Err(Output::fail(1, format!("find: {other} is not simulated")));
                }
            }
            Ok(())
        })();
        if let Err(output) = parsed {
            return output;
        }
    }
    if actions.is_empty() {
        actions.push(Action::Print("\n"));
    }
    let mut output = Output::default();
    for start in &starts {
        let real = jail.real(start);
        if let Err(error) = std::fs::symlink_metadata(&real) {
            output.error(1, format!("find: '{start}': {}", describe(&error)));
            continue;
        }
        let mut visit = |path: &Path, shown: &str, relative: &str, depth: usize| {
            let Ok(meta) = std::fs::symlink_metadata(path) else {
                return;
            };
            if depth < min_depth {
                return;
            }
            let kind = type_letter(&meta);
            if types.as_ref().is_some_and(|types| !types.contains(&kind)) {
                return;
            }
            for action in &actions {
                match action {
                    Action::Print(end) => {
                        output.out.extend_from_slice(shown.as_bytes());
                        output.out.extend_from_slice(end.as_bytes());
                    }
                    Action::Printf(format) => {
                        match printf(format, path, &meta, shown, relative, depth) {
                            Ok(line) => output.out.extend_from_slice(&line),
                            Err(message) => {
                                output.error(1, message);
                                return;
                            }
                        }
                    }
                    Action::Sha256 => match sha256_file(path) {
                        Ok(hex) => output
                            .out
                            .extend_from_slice(format!("{hex}  {shown}\n").as_bytes()),
                        Err(error) => {
                            output.error(1, format!("sha256sum: {shown}: {}", describe(&error)))
                        }
                    },
                }
            }
        };
        walk(&real, start, "", 0, max_depth, &mut visit);
    }
    output
}

/// Visits `path` and, for a directory (not through a symlink), its entries in name order.
fn walk(
    path: &Path,
    shown: &str,
    relative: &str,
    depth: usize,
    max_depth: usize,
    visit: &mut dyn FnMut(&Path, &str, &str, usize),
) {
    visit(path, shown, relative, depth);
    let is_dir = std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir());
    if !is_dir || depth >= max_depth {
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let child_shown = if shown.ends_with('/') {
            format!("{shown}{name}")
        } else {
            format!("{shown}/{name}")
        };
        let child_relative = if relative.is_empty() {
            name.clone()
        } else {
            format!("{relative}/{name}")
        };
        walk(
            &path.join(&name),
            &child_shown,
            &child_relative,
            depth + 1,
            max_depth,
            visit,
        );
    }
}

fn type_letter(meta: &std::fs::Metadata) -> char {
    let kind = meta.file_type();
    if kind.is_symlink() {
        'l'
    } else if kind.is_dir() {
        'd'
    } else if kind.is_file() {
        'f'
    } else {
        'p'
    }
}

/// GNU find's `-printf` for one entry.
fn printf(
    format: &str,
    path: &Path,
    meta: &std::fs::Metadata,
    shown: &str,
    relative: &str,
    depth: usize,
) -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => line.push(b'\n'),
                Some('t') => line.push(b'\t'),
                Some('0') => line.push(0),
                Some('\\') => line.push(b'\\'),
                other => {
                    return Err(format!(
                        "find: unrecognized escape `\\{}'",
                        other.unwrap_or(' ')
                    ));
                }
            },
            '%' => {
                let directive = chars.next();
                let text = match directive {
                    Some('%') => "%".to_owned(),
                    Some('p') => shown.to_owned(),
                    Some('P') => relative.to_owned(),
                    Some('f') => shown.rsplit('/').next().unwrap_or(shown).to_owned(),
                    Some('h') => match shown.rsplit_once('/') {
                        Some((head, _)) => head.to_owned(),
                        None => ".".to_owned(),
                    },
                    Some('s') => meta.len().to_string(),
                    Some('m') => format!("{:o}", meta.permissions().mode() & 0o7777),
                    Some('y') => type_letter(meta).to_string(),
                    Some('l') => std::fs::read_link(path)
                        .map(|target| target.display().to_string())
                        .unwrap_or_default(),
                    Some('d') => depth.to_string(),
                    Some('T') => {
                        if chars.next() != Some('@') {
                            return Err(
                                "find: only %T@ of the %T directives is simulated".to_owned()
                            );
                        }
                        let mtime = meta
                            .modified()
                            .ok()
                            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
                            .unwrap_or_default();
                        // GNU find prints ten decimals.
                        format!("{}.{:09}0", mtime.as_secs(), mtime.subsec_nanos())
                    }
                    other => {
                        return Err(format!(
                            "find: the -printf directive %{} is not simulated",
                            other.unwrap_or(' ')
                        ));
                    }
                };
                line.extend_from_slice(text.as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                line.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Ok(line)
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(std::io::Error::other("Is a directory"));
    }
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        context.update(&buf[..n]);
    }
    Ok(context
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn sha256sum(jail: &Jail, args: &[String]) -> Output {
    let (_, files) = match flags("sha256sum", args, "", &[]) {
        Ok(parsed) => parsed,
        Err(output) => return output,
    };
    let mut output = Output::default();
    for file in &files {
        match sha256_file(&jail.real(file)) {
            Ok(hex) => output
                .out
                .extend_from_slice(format!("{hex}  {file}\n").as_bytes()),
            Err(error) => output.error(1, format!("sha256sum: {file}: {}", describe(&error))),
        }
    }
    output
}

fn cat(jail: &Jail, args: &[String]) -> Output {
    let mut output = Output::default();
    // `--` ends the options (cat has none the simulator takes).
    let files = match args.first() {
        Some(first) if first == "--" => &args[1..],
        _ => args,
    };
    for file in files {
        match std::fs::read(jail.real(file)) {
            Ok(bytes) => output.out.extend_from_slice(&bytes),
            Err(error) => output.error(1, format!("cat: {file}: {}", describe(&error))),
        }
    }
    output
}

fn tail(jail: &Jail, args: &[String]) -> Output {
    let mut lines = 10usize;
    let mut files = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--" {
            files.extend(iter.by_ref().cloned());
            break;
        }
        let count = if arg == "-n" {
            iter.next().cloned()
        } else if let Some(count) = arg.strip_prefix("--lines=") {
            Some(count.to_owned())
        } else if let Some(count) = arg.strip_prefix("-n").filter(|c| !c.is_empty()) {
            Some(count.to_owned())
        } else if let Some(count) = arg.strip_prefix('-').filter(|c| !c.is_empty()) {
            Some(count.to_owned())
        } else {
            files.push(arg.clone());
            continue;
        };
        match count.and_then(|count| count.parse().ok()) {
            Some(count) => lines = count,
            None => return Output::fail(1, format!("tail: invalid number of lines: {arg}")),
        }
    }
    let mut output = Output::default();
    for file in &files {
        match std::fs::read(jail.real(file)) {
            Ok(bytes) => {
                let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
                let starts: Vec<usize> = std::iter::once(0)
                    .chain(
                        body.iter()
                            .enumerate()
                            .filter(|(_, b)| **b == b'\n')
                            .map(|(i, _)| i + 1),
                    )
                    .collect();
                let from = if lines == 0 {
                    bytes.len()
                } else {
                    starts[starts.len().saturating_sub(lines)]
                };
                output
                    .out
                    .extend_from_slice(&bytes[from.min(bytes.len())..]);
            }
            Err(error) => output.error(
                1,
                format!(
                    "tail: cannot open '{file}' for reading: {}",
                    describe(&error)
                ),
            ),
        }
    }
    output
}

/// GNU's wording of an I/O error.
fn describe(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::NotFound => "No such file or directory".to_owned(),
        ErrorKind::AlreadyExists => "File exists".to_owned(),
        ErrorKind::PermissionDenied => "Permission denied".to_owned(),
        ErrorKind::DirectoryNotEmpty => "Directory not empty".to_owned(),
        ErrorKind::NotADirectory => "Not a directory".to_owned(),
        ErrorKind::IsADirectory => "Is a directory".to_owned(),
        _ => error.to_string(),
    }
}

/// `mittnitectl job restart|start [-w|--wait] [--wait-for DURATION] [JOB]`.
async fn mittnitectl<O, E>(context: &Context, args: &[String], out: &mut O, err: &mut E) -> u32
where
    O: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let (Some("job"), Some(action)) = (args.first().map(String::as_str), args.get(1)) else {
        return failed(
            err,
            "only `mittnitectl job restart|start` is simulated".to_owned(),
        )
        .await;
    };
    if action != "restart" && action != "start" {
        return failed(
            err,
            format!("mittnitectl job {action} is not simulated (restart, start)"),
        )
        .await;
    }
    let mut wait = false;
    let mut wait_for = Duration::from_secs(5);
    let mut job = None;
    let mut iter = args[2..].iter();
    while let Some(arg) = iter.next() {
        let duration = if arg == "-w" || arg == "--wait" {
            wait = true;
            continue;
        } else if arg == "--wait-for" {
            iter.next().cloned()
        } else if let Some(value) = arg.strip_prefix("--wait-for=") {
            Some(value.to_owned())
        } else if arg.starts_with('-') {
            return failed(err, format!("unknown flag: {arg}")).await;
        } else if job.is_none() {
            job = Some(arg.clone());
            continue;
        } else {
            return failed(
                err,
                format!("accepts at most 1 arg(s), received {}", args.len() - 2),
            )
            .await;
        };
        // Go's time.ParseDuration: a unit is required ("60s", "1m30s", "500ms").
        match duration.as_deref().map(humantime::parse_duration) {
            Some(Ok(duration)) => wait_for = duration,
            _ => {
                return failed(
                    err,
                    format!(
                        "invalid argument {:?} for \"--wait-for\" flag: time: invalid duration",
                        duration.unwrap_or_default()
                    ),
                )
                .await;
            }
        }
    }
    let name = context.login.job.clone();
    if let Some(job) = job
        && job != name
    {
        return failed(err, format!("job {job} does not exist")).await;
    }
    let start_message = if action == "restart" {
        format!("🔄  restarting job {name}\n")
    } else {
        format!("▶️  starting job {name}\n")
    };
    let _ = out.write_all(start_message.as_bytes()).await;
    let id = &context.login.installation_id;
    let restarted = {
        let mut state = context.shared.lock();
        let crate::state::State {
            options, mittwald, ..
        } = &mut *state;
        let now = Instant::now();
        let running = matches!(mittwald.app_state_of(id, now), Some(AppState::Running(_)));
        if action == "start" && running {
            Some(None)
        } else {
            mittwald.restart_app(options, id, now).map(Some)
        }
    };
    let Some(restarted) = restarted else {
        return failed(err, format!("job {name}: the app installation is gone")).await;
    };
    if let Some((_, exit_code)) = restarted {
        let mut lines = format!("[berth-sim] job {name} stopped ({action})\n");
        match exit_code {
            Some(code) => {
                lines.push_str(&format!("[berth-sim] job {name} exited with code {code}\n"))
            }
            None => lines.push_str(&format!("[berth-sim] job {name} started\n")),
        }
        let log = context.jail.real(&normalize("/", &context.login.log_file));
        if let Err(error) = append_log(&log, &lines) {
            let _ = err
                .write_all(format!("berth-sim: writing the app's log: {error}\n").as_bytes())
                .await;
        }
    }
    if !wait {
        return 0;
    }
    let verb = if action == "restart" {
        "restart"
    } else {
        "start"
    };
    let _ = out
        .write_all(format!("🕑 waiting for job {name} to {verb}\n").as_bytes())
        .await;
    let _ = out.flush().await;
    let began = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let state = context
            .shared
            .lock()
            .mittwald
            .app_state_of(id, Instant::now());
        if matches!(state, Some(AppState::Running(_))) {
            let done = if action == "restart" {
                format!("🥳 job {name} restarted\n")
            } else {
                format!("🚀 job {name} started\n")
            };
            let _ = out.write_all(done.as_bytes()).await;
            return 0;
        }
        if began.elapsed() > wait_for {
            let _ = out
                .write_all(
                    format!("❌ timeout waiting for job {name} to reach desired state\n")
                        .as_bytes(),
                )
                .await;
            return 1;
        }
    }
}

async fn failed<E: AsyncWrite + Unpin>(err: &mut E, message: String) -> u32 {
    let _ = err
        .write_all(format!("Error: {message}\n").as_bytes())
        .await;
    1
}

/// The rest of the line in a real `sh -c`, in the working directory on the host; its output
/// streamed as it comes. Dropping the future (the channel closed) kills its process group.
pub(super) async fn host_shell<O, E>(context: &Context, line: &str, out: &mut O, err: &mut E) -> u32
where
    O: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let mut child = match tokio::process::Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(context.jail.real("."))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            let _ = err
                .write_all(format!("berth-sim: sh: {error}\n").as_bytes())
                .await;
            return 127;
        }
    };
    let group = GroupGuard(child.id());
    let (Some(mut child_out), Some(mut child_err)) = (child.stdout.take(), child.stderr.take())
    else {
        return 127;
    };
    let (_, _, status) = tokio::join!(
        tokio::io::copy(&mut child_out, out),
        tokio::io::copy(&mut child_err, err),
        child.wait()
    );
    drop(group);
    match status {
        Ok(status) => status
            .code()
            .map_or(128 + 9, |code| u32::try_from(code).unwrap_or(1)),
        Err(_) => 127,
    }
}

/// Kills a process group when dropped: what is left of an install command whose channel was
/// closed (or that left children behind).
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}
