//! The Dockerfile, checked by reading it, as no Docker engine runs here (ci-tools/run.sh also
//! lints it with hadolint and parses it with BuildKit's parser; the CI workflow builds it).

use std::path::{Path, PathBuf};

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// One instruction: its keyword (upper case), flags (`--from=x`) and the rest.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    flags: Vec<String>,
    args: String,
}

/// The instructions, continuation lines joined, comments and blank lines dropped.
fn instructions(text: &str) -> Vec<Instruction> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part.trim_end());
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    assert!(current.is_empty(), "a continuation line at the end");
    joined
        .into_iter()
        .map(|line| {
            let (keyword, rest) = line.split_once(' ').unwrap_or((&line, ""));
            let mut flags = Vec::new();
            let mut rest = rest.trim();
            while let Some(flag) = rest.strip_prefix("--") {
                let (flag, tail) = flag.split_once(' ').unwrap_or((flag, ""));
                flags.push(flag.to_string());
                rest = tail.trim();
            }
            Instruction {
                keyword: keyword.to_ascii_uppercase(),
                flags,
                args: rest.to_string(),
            }
        })
        .collect()
}

/// The stages: (FROM arguments, instructions after it).
fn stages(all: &[Instruction]) -> Vec<(&str, Vec<&Instruction>)> {
    let mut stages: Vec<(&str, Vec<&Instruction>)> = Vec::new();
    for instruction in all {
        if instruction.keyword == "FROM" {
            stages.push((instruction.args.as_str(), Vec::new()));
        } else if let Some((_, body)) = stages.last_mut() {
            body.push(instruction);
        }
    }
    stages
}

fn arg_default<'a>(all: &'a [Instruction], name: &str) -> &'a str {
    all.iter()
        .take_while(|i| i.keyword != "FROM")
        .filter(|i| i.keyword == "ARG")
        .find_map(|i| i.args.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no global ARG {name}=... before the first FROM"))
}

#[test]
fn the_image_is_the_static_binary_on_alpine_with_berth_as_its_command() {
    let text = read("Dockerfile");
    assert!(
        text.starts_with("# syntax=docker/dockerfile:1\n"),
        "BuildKit's frontend for --chmod and cache mounts"
    );
    let all = instructions(&text);
    let stages = stages(&all);
    let (final_from, final_body) = stages.last().expect("a final stage");
    assert_eq!(*final_from, "alpine:${ALPINE_VERSION}");
    let alpine = arg_default(&all, "ALPINE_VERSION");
    assert!(
        alpine.split('.').count() == 2 && alpine.split('.').all(|n| n.parse::<u32>().is_ok()),
        "pin an Alpine release: {alpine}"
    );
    // Nothing runs in the final stage: building it for another architecture needs no emulator.
    assert!(
        final_body.iter().all(|i| i.keyword != "RUN"),
        "{final_body:?}"
    );
    let copy = final_body
        .iter()
        .find(|i| i.keyword == "COPY")
        .expect("the binary is copied in");
    assert_eq!(copy.flags, ["from=binary", "chmod=0755"]);
    assert_eq!(copy.args, "/berth /usr/local/bin/berth");
    let cmd: Vec<_> = final_body.iter().filter(|i| i.keyword == "CMD").collect();
    assert_eq!(cmd.len(), 1);
    assert_eq!(cmd[0].args, r#"["berth"]"#, "exec form");
    // No entrypoint, so GitLab can start its shell in the image; root, as job containers expect.
    for keyword in ["ENTRYPOINT", "USER"] {
        assert!(
            all.iter().all(|i| i.keyword != keyword),
            "{keyword} in the Dockerfile"
        );
    }
    assert!(all.iter().all(|i| i.keyword != "ADD"), "COPY, not ADD");
    assert!(!text.contains(":latest"), "pinned images only");
}

#[test]
fn the_binary_comes_from_source_or_from_the_release_binaries() {
    let all = instructions(&read("Dockerfile"));
    let stages = stages(&all);
    let named = |name: &str| {
        stages
            .iter()
            .find(|(from, _)| from.ends_with(&format!(" AS {name}")))
            .unwrap_or_else(|| panic!("no stage {name}"))
    };
    assert_eq!(
        arg_default(&all, "BERTH_BINARY"),
        "source",
        "docker build ."
    );
    assert_eq!(named("binary").0, "binary-${BERTH_BINARY} AS binary");
    for choice in ["source", "prebuilt"] {
        named(&format!("binary-{choice}"));
    }

    let (from, body) = named("binary-source");
    assert_eq!(
        *from,
        "rust:${RUST_VERSION}-alpine${ALPINE_VERSION} AS binary-source"
    );
    let run = body
        .iter()
        .find(|i| i.keyword == "RUN")
        .expect("a RUN that builds");
    assert!(
        run.args
            .starts_with("cargo build --release --locked && cp target/release/berth /berth"),
        "{run:?}"
    );

    let (from, body) = named("binary-prebuilt");
    assert_eq!(*from, "scratch AS binary-prebuilt");
    assert!(
        body.iter()
            .any(|i| i.keyword == "ARG" && i.args == "TARGETARCH")
    );
    assert!(
        body.iter()
            .any(|i| i.keyword == "COPY" && i.args == "dist/linux/${TARGETARCH}/berth /berth")
    );
}

#[test]
fn the_build_context_keeps_what_the_build_reads() {
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "src",
        "sim",
        "spec",
        "dist",
    ] {
        assert!(
            !ignored
                .iter()
                .any(|i| i == needed || i == "*" || needed.starts_with(&format!("{i}/"))),
            "{needed} is ignored"
        );
    }
    for left_out in ["target", ".git"] {
        assert!(ignored.iter().any(|i| i == left_out), "{left_out}");
    }
    for file in ["Cargo.lock", "build.rs", "spec/mittwald-v2.json"] {
        assert!(repo_file(file).exists(), "{file}");
    }
}
