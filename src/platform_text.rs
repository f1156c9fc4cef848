//! Text that comes from a platform or a remote command (a staging log, an install command's
//! output, an app's log): made printable, and its last lines carried by an error.

/// Lines kept for an error: about 20 are shown on stderr and in the step summary.
pub const TAIL_LINES: usize = 20;
/// The `error` output (and so the annotation and the one-line dotenv value) keeps about this
/// much: the message and as many last lines as fit.
pub const ERROR_BYTES: usize = 2048;

/// A line without terminal escape sequences or control characters (tabs stay): the text lands
/// in the job's log and in errors, where they could redraw or forge lines.
pub fn printable(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        if c == '\t' || !c.is_control() {
            out.push(c);
        }
    }
    out
}

/// The message with as many of the last lines as fit in [`ERROR_BYTES`] (and at most
/// [`TAIL_LINES`]), newest kept.
pub fn with_tail(message: &str, what: &str, lines: &[String]) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let heading = format!("\nthe last lines of the {what}:");
    let mut size = message.len() + heading.len();
    for line in lines.iter().rev().take(TAIL_LINES) {
        if size + line.len() + 1 > ERROR_BYTES {
            break;
        }
        size += line.len() + 1;
        kept.push(line);
    }
    if kept.is_empty() {
        return message.to_string();
    }
    kept.reverse();
    format!("{message}{heading}\n{}", kept.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_keeps_the_newest_lines_that_fit() {
        let lines: Vec<String> = (0..100)
            .map(|i| format!("line {i:03} {}", "x".repeat(80)))
            .collect();
        let error = with_tail(
            "staging failed: BuildpackCompileFailed",
            "staging log",
            &lines,
        );
        assert!(error.len() <= ERROR_BYTES, "{}", error.len());
        assert!(error.starts_with("staging failed"));
        assert!(error.ends_with(&lines[99]), "the newest line is last");
        assert!(!error.contains("line 079"), "at most 20 lines");
        let few = with_tail("failed", "staging log", &lines[..2]);
        assert_eq!(few.lines().count(), 4);
        assert_eq!(with_tail("failed", "staging log", &[]), "failed");
    }

    #[test]
    fn printable_text_loses_escape_sequences_and_control_characters() {
        assert_eq!(
            printable("\u{1b}[32madded\u{1b}[0m 5 packages\r"),
            "added 5 packages"
        );
        assert_eq!(printable("tab\there\u{7}"), "tab\there");
    }
}
