//! The files of `BERTH_PATH` that go up: the directory walked in a stable order, without what
//! `BERTH_EXCLUDE` (gitignore patterns) or a `.cfignore` in it names. One walk for the check
//! before any request and for the archive, so that they agree on what is uploaded.

use anyhow::{Context, Result};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use std::path::Path;

/// What is not uploaded: `exclude` (gitignore patterns relative to `dir`), and the patterns of
/// a `.cfignore` in it, as `cf push` reads it.
pub fn exclusions(dir: &Path, exclude: &[String]) -> Result<Gitignore> {
    let mut builder = patterns(dir, exclude)?;
    let cfignore = dir.join(".cfignore");
    if cfignore.is_file()
        && let Some(e) = builder.add(&cfignore)
    {
        return Err(anyhow::Error::new(e).context(format!("reading {}", cfignore.display())));
    }
    Ok(builder.build()?)
}

/// What is not deployed to mittwald: `exclude` alone (a `.cfignore` is Cloud Foundry's).
pub fn exclude_patterns(dir: &Path, exclude: &[String]) -> Result<Gitignore> {
    Ok(patterns(dir, exclude)?.build()?)
}

fn patterns(dir: &Path, exclude: &[String]) -> Result<GitignoreBuilder> {
    let mut builder = GitignoreBuilder::new(dir);
    for pattern in exclude {
        builder
            .add_line(None, pattern)
            .with_context(|| format!("BERTH_EXCLUDE pattern {pattern:?}"))?;
    }
    Ok(builder)
}

/// The entries below `dir` that go up, sorted by name, excluded directories not entered.
pub fn walk<'a>(
    dir: &'a Path,
    excluded: &'a Gitignore,
) -> impl Iterator<Item = walkdir::Result<walkdir::DirEntry>> + 'a {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter()
        .filter_entry(move |entry| {
            let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
            !excluded
                .matched_path_or_any_parents(relative, entry.file_type().is_dir())
                .is_ignore()
        })
}
