//! Small helpers shared by the real-CLI providers: reading screen lines, recognising
//! frame pieces, resolving executables and writing per-terminal config files.

use std::path::{Path, PathBuf};

use super::{ProviderError, find_on_path, is_executable};
use crate::env;

/// The screen's lines with trailing whitespace (including the no-break spaces some CLIs
/// pad their prompt with) removed, and trailing blank lines dropped.
pub(crate) fn lines(screen: &str) -> Vec<&str> {
    let mut out: Vec<&str> = screen.lines().map(str::trim_end).collect();
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out
}

/// A horizontal rule drawn with box-drawing characters (at least 10 of them, nothing else).
pub(crate) fn is_rule(line: &str) -> bool {
    let t = line.trim();
    t.chars().count() >= 10 && t.chars().all(|c| matches!(c, '─' | '━' | '═'))
}

/// Whether the line is indented by at least `n` spaces (blank lines are not).
pub(crate) fn indented(line: &str, n: usize) -> bool {
    line.len() > n && line.as_bytes()[..n].iter().all(|b| *b == b' ')
}

/// Removes up to `n` leading spaces.
pub(crate) fn dedent(line: &str, n: usize) -> &str {
    let spaces = line.bytes().take(n).take_while(|b| *b == b' ').count();
    &line[spaces..]
}

/// Joins answer lines, dropping blank lines at both ends.
pub(crate) fn join_trimmed(lines: &[String]) -> String {
    let start = lines.iter().position(|l| !l.trim().is_empty());
    let end = lines.iter().rposition(|l| !l.trim().is_empty());
    match (start, end) {
        (Some(s), Some(e)) => lines[s..=e].join("\n"),
        _ => String::new(),
    }
}

/// The indices of the last `n` non-blank lines (bottom region of a screen).
pub(crate) fn bottom_region<'a>(lines: &[&'a str], n: usize) -> Vec<&'a str> {
    let mut out: Vec<&str> = lines
        .iter()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .copied()
        .collect();
    out.reverse();
    out
}

/// Finds a CLI: an absolute path in `override_var` wins, then `programs` on `PATH`.
pub(crate) fn resolve_executable(
    provider: &'static str,
    override_var: &'static str,
    programs: &[&'static str],
    install_hint: &str,
) -> Result<PathBuf, ProviderError> {
    let program = programs[0];
    if let Some(value) = env::non_empty(override_var) {
        let path = PathBuf::from(&value);
        if path.is_absolute() && is_executable(&path) {
            return Ok(path);
        }
        return Err(ProviderError::NotInstalled {
            provider,
            program,
            hint: format!(
                "; {override_var} is set to '{value}', which is not an absolute path to an executable file. \
                 Fix or unset it"
            ),
        });
    }
    programs
        .iter()
        .find_map(|p| find_on_path(p))
        .ok_or_else(|| ProviderError::NotInstalled {
            provider,
            program,
            hint: format!("; {install_hint}, or set {override_var} to its absolute path"),
        })
}

/// Writes a private (0600) file into the terminal's scratch directory.
pub(crate) fn write_scratch(
    provider: &'static str,
    scratch_dir: &Path,
    name: &str,
    contents: &str,
) -> Result<PathBuf, ProviderError> {
    write_private(provider, &scratch_dir.join(name), contents)
}

/// Writes a private (0600) file, creating its directory.
pub(crate) fn write_private(
    provider: &'static str,
    path: &Path,
    contents: &str,
) -> Result<PathBuf, ProviderError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| ProviderError::Config {
        provider,
        reason: format!("cannot write {}: {e}", path.display()),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.write_all(contents.as_bytes()).map_err(fail)?;
    Ok(path.to_path_buf())
}

/// Whether the process runs as root (some CLIs refuse their skip-permissions flag then).
pub(crate) fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A TOML basic string (quoted, escaped) for `-c key=value` style overrides.
pub(crate) fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What one piece of a turn on the screen is, as a provider reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Text of the answer.
    Answer,
    /// A tool call, an error or an interrupt: what came before it is not the final answer.
    Reset,
    /// Neither (a status line, a notice).
    Skip,
}

/// How a CLI draws the answer blocks of a turn: a block starts at a line `bullet` takes (it
/// returns the text after the bullet) and goes on over blank lines and lines indented by
/// `indent`; the provider's predicates say what each block and each other line is.
pub(crate) struct Blocks {
    /// The text after a block's bullet, when `line` starts a block.
    pub bullet: fn(line: &str) -> Option<&str>,
    /// How far a block's continuation lines are indented.
    pub indent: usize,
    /// A line that ends a block even though it is indented (a footer drawn inside it).
    pub ends_block: fn(line: &str) -> bool,
    /// What a block is, from its first screen line, its text and its dedented body.
    pub block: fn(line: &str, body: &[String]) -> Piece,
    /// What a line outside any block is.
    pub line: fn(line: &str) -> Piece,
}

impl Blocks {
    /// The answer blocks of `turn` after its last reset, each a list of dedented lines.
    pub(crate) fn final_answer(&self, turn: &[&str]) -> Vec<Vec<String>> {
        let mut blocks: Vec<Vec<String>> = Vec::new();
        let mut i = 0;
        while i < turn.len() {
            let line = turn[i];
            let first = match (self.line)(line) {
                Piece::Reset => None,
                _ => (self.bullet)(line),
            };
            let Some(first) = first else {
                if (self.line)(line) == Piece::Reset {
                    blocks.clear();
                }
                i += 1;
                continue;
            };
            let mut body = vec![first.to_string()];
            i += 1;
            while i < turn.len()
                && (turn[i].is_empty() || indented(turn[i], self.indent))
                && !(self.ends_block)(turn[i])
            {
                body.push(dedent(turn[i], self.indent).to_string());
                i += 1;
            }
            match (self.block)(line, &body) {
                Piece::Answer => blocks.push(body),
                Piece::Reset => blocks.clear(),
                Piece::Skip => {}
            }
        }
        blocks
    }
}

/// For [`Blocks`]: no line ends a block early.
pub(crate) fn never(_line: &str) -> bool {
    false
}

/// For [`Blocks`]: every line outside a block is skipped.
pub(crate) fn skip_line(_line: &str) -> Piece {
    Piece::Skip
}

/// Joins an answer's text blocks (each trimmed, empty ones dropped) with blank lines between
/// them; no text at all means the screen holds no answer yet.
pub(crate) fn join_answer(
    blocks: &[Vec<String>],
    provider: &'static str,
) -> Result<String, ProviderError> {
    let answer = blocks
        .iter()
        .map(|b| join_trimmed(b))
        .filter(|b| !b.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    if answer.is_empty() {
        Err(ProviderError::NoAnswer { provider })
    } else {
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_indents() {
        assert!(is_rule("────────────────"));
        assert!(!is_rule("── input ──────────"));
        assert!(!is_rule("───"));
        assert!(indented("  x", 2));
        assert!(!indented(" x", 2));
        assert!(!indented("  ", 2));
        assert_eq!(dedent("    x", 2), "  x");
        assert_eq!(dedent(" x", 2), "x");
    }

    #[test]
    fn lines_drop_padding() {
        assert_eq!(lines("❯\u{a0}\n\n  \n"), vec!["❯"]);
    }

    #[test]
    fn toml_strings_escape() {
        assert_eq!(toml_string("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    }
}
