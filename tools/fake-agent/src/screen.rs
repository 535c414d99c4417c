//! The exact text the fake agent draws: the screen grammar that cao's provider for it parses.
//!
//! Everything here is a pure function returning the bytes to write (raw-mode `\r\n` line
//! ends), so the grammar lives in one place and is unit-tested.

use std::time::Duration;

/// The prompt shown when the agent is ready for input.
pub const PROMPT: &str = "fake> ";

/// The start-up dialogs (`CAO_FAKE_DIALOGS=1`), shown one after the other; each is answered by
/// one digit key. They are built so that answering the first one twice is harmful, as with
/// the real CLIs: the second press lands on the next dialog, whose `1` quits.
pub const DIALOGS: [&str; 2] = [
    "Do you trust the files in this folder?\r\n\r\n 1. Yes, I trust this folder\r\n 2. No, exit\r\n\r\nPress 1 or 2\r\n",
    "Run in bypass-permissions mode?\r\n\r\n 1. No, exit\r\n 2. Yes, I accept\r\n\r\nPress 1 or 2\r\n",
];
/// How long a dialog stays on screen after it was answered before the next screen shows
/// (real CLIs take a moment to repaint; keys pressed meanwhile go to the next dialog).
pub const DIALOG_REPAINT: std::time::Duration = std::time::Duration::from_millis(300);
/// Prefix of every further line of a multi-line input at the prompt.
pub const CONTINUATION: &str = "....  ";
/// The one line shown while a turn is being worked on.
pub const WORKING: &str = "* working (esc to interrupt)";
/// The question a `[[ask]]` turn ends with; the agent then waits on that line.
pub const ASK_QUESTION: &str = "? Proceed with the change? (y/n) ";
/// What a `[[fail]]` turn ends with.
pub const FAILURE: &str = "✗ error: simulated failure";
/// What an interrupted turn ends with.
pub const INTERRUPTED: &str = "✗ interrupted";
/// Marks the first line of an answer.
pub const ANSWER_BULLET: &str = "● ";
/// Prefixes every further answer line.
pub const ANSWER_INDENT: &str = "  ";
/// Raw-mode line end.
pub const NL: &str = "\r\n";
/// Returns to column 0 and erases the line (used to take the working line away).
pub const ERASE_LINE: &str = "\r\x1b[2K";
/// Asks the terminal to bracket pastes with `ESC[200~` / `ESC[201~`.
pub const BRACKETED_PASTE_ON: &str = "\x1b[?2004h";
/// Undoes [`BRACKETED_PASTE_ON`] on the way out.
pub const BRACKETED_PASTE_OFF: &str = "\x1b[?2004l";

/// The start-up banner, ending with the empty line before the first prompt.
pub fn banner(profile: Option<&str>) -> String {
    format!(
        "cao fake agent · profile {}{NL}type /exit to quit{NL}{NL}",
        profile.unwrap_or("default")
    )
}

/// How input text is drawn after the prompt: pasted newlines become continuation lines, and
/// control characters that would move the cursor are shown as `�`.
pub fn input_display(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => {
                out.push_str(NL);
                out.push_str(CONTINUATION);
            }
            c => out.push(visible(c)),
        }
    }
    out
}

/// Shows `c` as itself unless the terminal would act on it.
fn visible(c: char) -> char {
    if c != '\t' && c.is_control() {
        char::REPLACEMENT_CHARACTER
    } else {
        c
    }
}

/// The answer block: `● ` + the first line, `  ` + each further line, then the done line, an
/// empty line and a fresh prompt.
pub fn answer(text: &str, elapsed: Duration) -> String {
    let mut out = String::new();
    for (i, line) in text.split('\n').enumerate() {
        out.push_str(if i == 0 { ANSWER_BULLET } else { ANSWER_INDENT });
        out.extend(line.chars().map(visible));
        out.push_str(NL);
    }
    out.push_str(&format!(
        "✓ done in {:.2}s{NL}{NL}{PROMPT}",
        elapsed.as_secs_f64()
    ));
    out
}

/// A turn-ending error line (failure or interruption), then an empty line and a fresh prompt.
pub fn ended_with(line: &str) -> String {
    format!("{line}{NL}{NL}{PROMPT}")
}

/// How many terminal rows the cursor sits below the row where `prefix` started, once
/// `prefix` + the display of `text` has been drawn in a terminal `cols` wide. Used to move
/// back up and redraw the input after a Backspace or a cleared line.
pub fn rows_above_cursor(prefix: &str, text: &str, cols: usize) -> usize {
    let cols = cols.max(1);
    let mut lines = Vec::new();
    let mut first = true;
    for line in text.split('\n') {
        let lead = if first { prefix } else { CONTINUATION };
        first = false;
        lines.push(lead.chars().count() + line.chars().count());
    }
    let rows = |width: usize| width.div_ceil(cols).max(1);
    let last = lines.pop().unwrap_or(0);
    lines.into_iter().map(rows).sum::<usize>() + rows(last) - 1
}

/// Bytes that erase the input drawn so far (the cursor being `rows_above` rows below its
/// start) and draw `prefix` + `text` afresh.
pub fn redraw(rows_above: usize, prefix: &str, text: &str) -> String {
    let mut out = String::from("\r");
    if rows_above > 0 {
        out.push_str(&format!("\x1b[{rows_above}A"));
    }
    out.push_str("\x1b[J");
    out.push_str(prefix);
    out.push_str(&input_display(text));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_names_the_profile() {
        assert_eq!(
            banner(Some("developer")),
            "cao fake agent · profile developer\r\ntype /exit to quit\r\n\r\n"
        );
        assert!(banner(None).starts_with("cao fake agent · profile default\r\n"));
    }

    #[test]
    fn multi_line_input_uses_continuation_lines() {
        assert_eq!(input_display("a\nb\n"), "a\r\n....  b\r\n....  ");
        assert_eq!(input_display("x\x1by\tz"), "x\u{fffd}y\tz");
    }

    #[test]
    fn answer_block_layout() {
        assert_eq!(
            answer("fake answer: a\n\nb", Duration::from_millis(52)),
            "● fake answer: a\r\n  \r\n  b\r\n✓ done in 0.05s\r\n\r\nfake> "
        );
    }

    #[test]
    fn ended_block_layout() {
        assert_eq!(ended_with(INTERRUPTED), "✗ interrupted\r\n\r\nfake> ");
    }

    #[test]
    fn rows_above_cursor_counts_lines_and_wraps() {
        assert_eq!(rows_above_cursor(PROMPT, "", 80), 0);
        assert_eq!(rows_above_cursor(PROMPT, "abc", 80), 0);
        assert_eq!(rows_above_cursor(PROMPT, "a\nb\n", 80), 2);
        // "fake> " + 4 chars = 10 columns: exactly one row, cursor in the pending-wrap spot.
        assert_eq!(rows_above_cursor(PROMPT, "abcd", 10), 0);
        assert_eq!(rows_above_cursor(PROMPT, "abcde", 10), 1);
        assert_eq!(rows_above_cursor(PROMPT, "abcdefghijklmn\nx", 10), 2);
    }

    #[test]
    fn redraw_moves_up_and_clears() {
        assert_eq!(redraw(0, PROMPT, "ab"), "\r\x1b[Jfake> ab");
        assert_eq!(
            redraw(2, PROMPT, "a\nb"),
            "\r\x1b[2A\x1b[Jfake> a\r\n....  b"
        );
    }
}
