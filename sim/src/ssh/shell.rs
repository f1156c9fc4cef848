//! The command language of the simulated SSH endpoint: not a shell, but what a deploy client
//! sends, with the options of the GNU tools a real mittwald host (and any Debian) has, so that
//! the same client works against both.
//!
//! A line is split into words (POSIX quoting: `'…'`, `"…"`, `\`) and into commands joined by
//! `&&` (the next runs only if the last exited 0). A command whose name is one of the
//! simulator's built-ins runs inside the project's files (see `builtins.rs`: `cd`, `mkdir`,
//! `rm`, `mv`, `tar`, `find`, `sha256sum`, `cat`, `tail`, `true`, `mittnitectl`); a built-in
//! with other shell syntax (`;`, `|`, `>`, `$…`, globs) is refused (exit 2), never guessed.
//! At the first command that is not a built-in, the rest of the line runs in a real `sh -c`
//! in the working directory on the host (the install command: `npm ci`, `pip install …`;
//! absolute paths there are the host's). Its stdin is empty; closing the channel kills its
//! process group.

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::Receiver;

use super::builtins;
use super::jail::Jail;
use crate::mittwald::SshLogin;
use crate::state::Shared;

/// What a command runs with.
pub(crate) struct Context {
    pub(crate) shared: Arc<Shared>,
    pub(crate) login: SshLogin,
    pub(crate) jail: Jail,
}

/// The names the simulator runs itself.
const BUILTINS: &[&str] = &[
    "cd",
    "mkdir",
    "rm",
    "mv",
    "tar",
    "find",
    "sha256sum",
    "cat",
    "tail",
    "true",
    "mittnitectl",
];

/// One word or operator of a line, and where it starts.
#[derive(Debug, PartialEq, Eq)]
struct Token {
    kind: Kind,
    start: usize,
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// A word after quote removal; `plain` when it held no expansion (`$`, backquote, glob,
    /// leading `~`) outside single quotes.
    Word {
        text: String,
        plain: bool,
    },
    And,
    /// Any other operator: `;`, `|`, `||`, `&`, `<`, `>`, `(`, `)`, a newline.
    Other(String),
}

/// Splits `line` into words and operators; the error names a quote left open.
fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c == ' ' || c == '\t' {
            chars.next();
            continue;
        }
        if matches!(c, ';' | '|' | '&' | '<' | '>' | '(' | ')' | '\n') {
            chars.next();
            let mut op = c.to_string();
            if let Some(&(_, next)) = chars.peek()
                && ((c == '&' || c == '|' || c == '>' || c == '<') && next == c)
            {
                op.push(next);
                chars.next();
            }
            let kind = if op == "&&" {
                Kind::And
            } else {
                Kind::Other(op)
            };
            tokens.push(Token { kind, start });
            continue;
        }
        let mut text = String::new();
        let mut plain = true;
        let mut first = true;
        while let Some(&(_, c)) = chars.peek() {
            match c {
                ' ' | '\t' | ';' | '|' | '&' | '<' | '>' | '(' | ')' | '\n' => break,
                '\'' => {
                    chars.next();
                    loop {
                        match chars.next() {
                            Some((_, '\'')) => break,
                            Some((_, c)) => text.push(c),
                            None => return Err("unterminated single quote".to_owned()),
                        }
                    }
                }
                '"' => {
                    chars.next();
                    loop {
                        match chars.next() {
                            Some((_, '"')) => break,
                            Some((_, '\\')) => match chars.next() {
                                Some((_, c @ ('"' | '\\' | '$' | '`'))) => text.push(c),
                                Some((_, '\n')) => {}
                                Some((_, c)) => {
                                    text.push('\\');
                                    text.push(c);
                                }
                                None => return Err("unterminated double quote".to_owned()),
                            },
                            Some((_, c)) => {
                                if c == '$' || c == '`' {
                                    plain = false;
                                }
                                text.push(c);
                            }
                            None => return Err("unterminated double quote".to_owned()),
                        }
                    }
                }
                '\\' => {
                    chars.next();
                    match chars.next() {
                        Some((_, '\n')) => {}
                        Some((_, c)) => text.push(c),
                        None => text.push('\\'),
                    }
                }
                c => {
                    chars.next();
                    if matches!(c, '$' | '`' | '*' | '?' | '[') || (first && c == '~') {
                        plain = false;
                    }
                    text.push(c);
                }
            }
            first = false;
        }
        tokens.push(Token {
            kind: Kind::Word { text, plain },
            start,
        });
    }
    Ok(tokens)
}

/// Runs one exec line and returns its exit status.
pub(crate) async fn run_line<O, E>(
    mut context: Context,
    line: &str,
    stdin: Receiver<Bytes>,
    out: &mut O,
    err: &mut E,
) -> u32
where
    O: AsyncWrite + Unpin + Send,
    E: AsyncWrite + Unpin + Send,
{
    let tokens = match tokenize(line) {
        Ok(tokens) => tokens,
        Err(problem) => {
            let _ = err
                .write_all(format!("berth-sim: syntax error: {problem}\n").as_bytes())
                .await;
            return 2;
        }
    };
    let mut stdin = Some(stdin);
    let mut status = 0;
    for segment in tokens.split(|token| token.kind == Kind::And) {
        let Some(first) = segment.first() else {
            let _ = err.write_all(b"berth-sim: syntax error near `&&'\n").await;
            return 2;
        };
        let name = match &first.kind {
            Kind::Word { text, .. } if BUILTINS.contains(&text.as_str()) => text.clone(),
            _ => {
                // Not one of ours: the rest of the line is the host shell's.
                drop(stdin.take());
                return builtins::host_shell(&context, &line[first.start..], out, err).await;
            }
        };
        let mut args = Vec::new();
        for token in segment {
            match &token.kind {
                Kind::Word { text, plain: true } => args.push(text.clone()),
                Kind::Word { text, .. } => {
                    return refuse(err, &name, &format!("expansion in {text:?}")).await;
                }
                Kind::Other(op) => return refuse(err, &name, &format!("operator `{op}`")).await,
                Kind::And => {}
            }
        }
        if name == "mittnitectl" {
            // Only tar reads the client's stream; a command that waits must not hold it, or
            // the client's data backs up in front of its close.
            drop(stdin.take());
        }
        status = builtins::run(&mut context, &args, &mut stdin, out, err).await;
        if status != 0 {
            return status;
        }
    }
    status
}

async fn refuse<E: AsyncWrite + Unpin>(err: &mut E, name: &str, what: &str) -> u32 {
    let message = format!(
        "berth-sim: {name}: {what} is not simulated (built-ins take plain words joined by &&)\n"
    );
    let _ = err.write_all(message.as_bytes()).await;
    2
}

#[cfg(test)]
mod unit {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        tokenize(line)
            .unwrap()
            .into_iter()
            .map(|token| match token.kind {
                Kind::Word { text, plain } => format!("{text}{}", if plain { "" } else { "!" }),
                Kind::And => "&&".to_owned(),
                Kind::Other(op) => format!("op:{op}"),
            })
            .collect()
    }

    #[test]
    fn lines_split_into_words_and_operators() {
        assert_eq!(
            words(r#"cd '/html/my app' && find . -printf '%P\t%s\n' -exec sha256sum {} \;"#),
            [
                "cd",
                "/html/my app",
                "&&",
                "find",
                ".",
                "-printf",
                r"%P\t%s\n",
                "-exec",
                "sha256sum",
                "{}",
                ";"
            ]
        );
        assert_eq!(
            words(r#"echo "$HOME" a\ b >x; ls *"#),
            ["echo", "$HOME!", "a b", "op:>", "x", "op:;", "ls", "*!"]
        );
        assert_eq!(words("a||b &"), ["a", "op:||", "b", "op:&"]);
        assert!(tokenize("echo 'open").is_err());
        assert!(tokenize("echo \"open").is_err());
    }
}
