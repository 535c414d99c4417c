//! A question a CLI asks its user (a permission, a y/n, a numbered choice), as read from the
//! screen, and the keys that answer it. Pure functions of text: each provider finds its own
//! dialog, the shapes the CLIs share (a numbered menu with a cursor, a line to type on, a
//! row of buttons) are read here, and [`Question::reply`] turns an answer into key presses.

/// How a question's choices are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The answer is typed on a line and submitted with Enter (`(y/n)`, `[y/n/t]:`).
    Line,
    /// Choices one under the other: the cursor moves with Up/Down, Enter picks.
    Vertical,
    /// Choices side by side: the cursor moves with Left/Right, Enter picks.
    Horizontal,
}

/// A question on a CLI's screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// What is asked, one screen line per line, without frames or the choices.
    pub text: String,
    /// The choices in screen order (empty for a [`Layout::Line`] question).
    pub options: Vec<String>,
    /// The choice the cursor is on (0 when the screen does not show it: where the CLIs put
    /// it when the question appears).
    pub selected: usize,
    /// How the answer is given.
    pub layout: Layout,
}

/// What to type to answer a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// This text, then Enter.
    Text(String),
    /// These keys, one at a time: they pick choice `choice` (0-based).
    Keys {
        /// The keys.
        keys: Vec<&'static str>,
        /// The choice they pick.
        choice: usize,
    },
}

/// Longest question text cao passes on (characters); a dialog showing a whole diff is cut.
const MAX_TEXT: usize = 600;
/// Longest choice label cao passes on (characters).
const MAX_OPTION: usize = 160;
/// Most screen lines above the choices taken as the question.
const MAX_TEXT_LINES: usize = 8;
/// Glyphs CLIs draw in front of the selected choice.
const CURSORS: &[char] = &['❯', '›', '●', '>', '▶', '➤', '▸'];

impl Question {
    /// A question answered by typing on a line.
    pub fn line(text: &str) -> Question {
        Question {
            text: clip(&clean(text), MAX_TEXT),
            options: Vec::new(),
            selected: 0,
            layout: Layout::Line,
        }
    }

    /// The question on one line, choices included: what a progress notification, an error
    /// message and `list_terminals` show.
    pub fn summary(&self) -> String {
        let text = self.text.split('\n').collect::<Vec<_>>().join(" ");
        if self.options.is_empty() {
            return text;
        }
        let options: Vec<String> = self
            .options
            .iter()
            .enumerate()
            .map(|(i, o)| format!("{}. {o}", i + 1))
            .collect();
        format!("{text} [{}]", options.join(" | "))
    }

    /// The keys that give `answer`: for a line question the answer itself; for choices, a
    /// choice's number, `y`/`yes` (the first choice that allows), `n`/`no` (the first that
    /// refuses) or the start of a choice's words, reached from the cursor with the arrow
    /// keys. An answer that names no choice is an error listing the choices.
    pub fn reply(&self, answer: &str) -> Result<Reply, String> {
        let answer = clean(answer).replace('\n', " ");
        let answer = answer.trim();
        if answer.is_empty() {
            return Err("the answer is empty".into());
        }
        if self.layout == Layout::Line {
            return Ok(Reply::Text(answer.to_string()));
        }
        let target = self.choice(answer).ok_or_else(|| {
            format!(
                "'{answer}' is none of the choices {}; answer with a choice's number, y or n, or the start of its words",
                self.choices()
            )
        })?;
        let (back, forward) = match self.layout {
            Layout::Horizontal => ("Left", "Right"),
            _ => ("Up", "Down"),
        };
        let mut keys = if target >= self.selected {
            vec![forward; target - self.selected]
        } else {
            vec![back; self.selected - target]
        };
        keys.push("Enter");
        Ok(Reply::Keys {
            keys,
            choice: target,
        })
    }

    /// The choices as `1. Yes, 2. No`.
    pub fn choices(&self) -> String {
        self.options
            .iter()
            .enumerate()
            .map(|(i, o)| format!("{}. {o}", i + 1))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Which choice `answer` names.
    fn choice(&self, answer: &str) -> Option<usize> {
        if let Ok(n) = answer.parse::<usize>() {
            return (1..=self.options.len()).contains(&n).then(|| n - 1);
        }
        let lower = answer.to_lowercase();
        let starts = |words: &[&str]| {
            self.options.iter().position(|o| {
                let o = o.to_lowercase();
                words.iter().any(|w| {
                    o == *w || o.starts_with(&format!("{w} ")) || o.starts_with(&format!("{w},"))
                })
            })
        };
        match lower.as_str() {
            "y" | "yes" => {
                return starts(&["yes", "allow", "approve", "accept", "proceed", "confirm"]);
            }
            "n" | "no" => return starts(&["no", "reject", "deny", "don't", "cancel"]),
            _ => {}
        }
        let matching: Vec<usize> = (0..self.options.len())
            .filter(|&i| self.options[i].to_lowercase().starts_with(&lower))
            .collect();
        match matching[..] {
            [only] => Some(only),
            _ => self.options.iter().position(|o| o.to_lowercase() == lower),
        }
    }
}

/// A numbered menu at the bottom of `lines` (choices `1. ...`, `2. ...` numbered from 1,
/// possibly inside a `│` frame, the selected one behind a cursor glyph), with the lines
/// above it back to the dialog's top (a rule, a frame corner, or a line `top` takes) as the
/// question.
pub(crate) fn numbered_menu(lines: &[&str], top: fn(&str) -> bool) -> Option<Question> {
    let region = lines.len().saturating_sub(40);
    let mut options: Vec<String> = Vec::new();
    let mut selected = 0;
    let mut first = None;
    // Bottom up: the last run of choices numbered 1..n.
    let mut found: Vec<(usize, usize, bool, String)> = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(region).rev() {
        let inner = unframe(line);
        if let Some((n, cursor, label)) = numbered(inner) {
            found.push((i, n, cursor, label.to_string()));
            if n == 1 {
                break;
            }
        }
    }
    found.reverse();
    if found.first().is_none_or(|f| f.1 != 1) {
        return None;
    }
    for (k, (i, n, cursor, label)) in found.iter().enumerate() {
        if *n != k + 1 {
            return None;
        }
        first.get_or_insert(*i);
        if *cursor {
            selected = k;
        }
        options.push(clip(&clean(label), MAX_OPTION));
    }
    let text = text_above(lines, first?, top);
    Some(Question {
        text,
        options,
        selected,
        layout: Layout::Vertical,
    })
}

/// A menu of unnumbered choices, one per line from row `first` down to the first blank line,
/// the selected one behind a cursor glyph, with the lines above as the question.
pub(crate) fn listed_menu(lines: &[&str], first: usize, top: fn(&str) -> bool) -> Question {
    let mut options = Vec::new();
    let mut selected = 0;
    for line in lines[first..].iter().map(|l| unframe(l)) {
        if line.is_empty() {
            break;
        }
        if line.starts_with(CURSORS) {
            selected = options.len();
        }
        let label = line.trim_start_matches(CURSORS).trim();
        options.push(clip(&clean(label), MAX_OPTION));
    }
    Question {
        text: text_above(lines, first, top),
        options,
        selected,
        layout: Layout::Vertical,
    }
}

/// The question's lines above row `end`: non-blank, unframed, up to the dialog's top.
pub(crate) fn text_above(lines: &[&str], end: usize, top: fn(&str) -> bool) -> String {
    let mut text: Vec<&str> = Vec::new();
    for line in lines[..end].iter().rev() {
        let inner = unframe(line);
        if is_top(line) || is_top(inner) || top(inner) {
            break;
        }
        if inner.is_empty() {
            continue;
        }
        text.push(inner);
        if text.len() == MAX_TEXT_LINES {
            break;
        }
    }
    text.reverse();
    clip(&clean(&text.join("\n")), MAX_TEXT)
}

/// `1. Yes` or `❯ 1. Yes` (also `1) Yes`): the number, whether the cursor is on it, the label.
fn numbered(line: &str) -> Option<(usize, bool, &str)> {
    let mut rest = line.trim_start();
    let cursor = rest.starts_with(CURSORS);
    if cursor {
        rest = rest.trim_start_matches(CURSORS).trim_start();
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 2 {
        return None;
    }
    let n = rest[..digits].parse().ok()?;
    let label = rest[digits..]
        .strip_prefix(". ")
        .or_else(|| rest[digits..].strip_prefix(") "))?;
    Some((n, cursor, label.trim()))
}

/// A line with the `│` frame of a dialog box taken off both sides, trimmed.
pub(crate) fn unframe(line: &str) -> &str {
    let t = line.trim();
    let t = t.strip_prefix(['│', '┃']).unwrap_or(t);
    let t = t.strip_suffix(['│', '┃']).unwrap_or(t);
    t.trim()
}

/// A dialog's top: a rule or a frame's top edge.
fn is_top(line: &str) -> bool {
    let t = line.trim();
    super::screen::is_rule(t)
        || t.starts_with(['╭', '┌', '╔', '╰', '└'])
        || (t.chars().count() >= 10 && t.chars().all(|c| matches!(c, '▄' | '▀' | '─')))
}

/// Screen text made safe to pass on: control characters dropped (newlines kept; a captured
/// screen holds no escape sequences, an answer's are dropped with their ESC), runs of
/// spaces squeezed, lines trimmed.
pub(crate) fn clean(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|c| *c == '\n' || !c.is_control())
        .collect();
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// `text` cut to `max` characters, with `…` where it was cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// For [`numbered_menu`]: no line other than a rule or a frame ends the question.
pub(crate) fn no_top(_line: &str) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(keys: &[&'static str]) -> Result<Vec<&'static str>, String> {
        Ok(keys.to_vec())
    }

    fn pressed(reply: Result<Reply, String>) -> Result<Vec<&'static str>, String> {
        match reply? {
            Reply::Keys { keys, .. } => Ok(keys),
            Reply::Text(text) => Err(format!("typed {text}")),
        }
    }

    fn menu(screen: &str) -> Question {
        let lines: Vec<&str> = screen.lines().collect();
        numbered_menu(&lines, no_top).expect("a menu")
    }

    #[test]
    fn a_numbered_menu_is_read_with_its_cursor_and_question() {
        let q = menu(
            "● Old answer\n────────────\n Bash command\n\n   rm -rf build\n\n Do you want to proceed?\n   1. Yes\n ❯ 2. Yes, and don't ask again\n   3. No\n\n Esc to cancel\n",
        );
        assert_eq!(
            q.text,
            "Bash command\nrm -rf build\nDo you want to proceed?"
        );
        assert_eq!(q.options, ["Yes", "Yes, and don't ask again", "No"]);
        assert_eq!(q.selected, 1);
        assert_eq!(
            q.summary(),
            "Bash command rm -rf build Do you want to proceed? [1. Yes | 2. Yes, and don't ask again | 3. No]"
        );
    }

    #[test]
    fn framed_menus_and_broken_numbering() {
        let q = menu(
            "╭──────────────╮\n│ Allow it?    │\n│ ● 1. Allow once │\n│   2. No (esc)   │\n╰──────────────╯\n",
        );
        assert_eq!(q.text, "Allow it?");
        assert_eq!(q.options, ["Allow once", "No (esc)"]);
        assert_eq!(q.selected, 0);
        let lines: Vec<&str> = "Pick:\n 2. b\n 3. c\n".lines().collect();
        assert_eq!(numbered_menu(&lines, no_top), None, "no choice 1");
        let lines: Vec<&str> = "Pick:\n 1. a\n 3. c\n".lines().collect();
        assert_eq!(numbered_menu(&lines, no_top), None, "a gap");
    }

    #[test]
    fn answers_become_arrow_keys_from_the_cursor() {
        let mut q = menu(" Proceed?\n ❯ 1. Yes\n   2. Yes, always\n   3. No\n");
        assert_eq!(pressed(q.reply("1")), keys(&["Enter"]));
        assert_eq!(pressed(q.reply("y")), keys(&["Enter"]));
        assert_eq!(pressed(q.reply("NO")), keys(&["Down", "Down", "Enter"]));
        assert_eq!(pressed(q.reply("yes, al")), keys(&["Down", "Enter"]));
        q.selected = 2;
        assert_eq!(pressed(q.reply("yes")), keys(&["Up", "Up", "Enter"]));
        q.layout = Layout::Horizontal;
        assert_eq!(pressed(q.reply("2")), keys(&["Left", "Enter"]));
        let err = q.reply("maybe").unwrap_err();
        assert!(err.contains("1. Yes, 2. Yes, always, 3. No"), "{err}");
        assert!(q.reply("4").is_err());
        assert!(q.reply("yes").is_ok(), "the first of two 'yes' choices");
        assert!(q.reply(" \n").is_err());
    }

    #[test]
    fn a_line_question_types_the_answer_cleaned() {
        let q = Question::line("  Proceed   with the change? (y/n) ");
        assert_eq!(q.text, "Proceed with the change? (y/n)");
        assert_eq!(q.summary(), "Proceed with the change? (y/n)");
        assert_eq!(q.reply(" y\u{7}\n"), Ok(Reply::Text("y".into())));
    }

    #[test]
    fn long_questions_are_cut() {
        let q = Question::line(&"x".repeat(2000));
        assert_eq!(q.text.chars().count(), MAX_TEXT);
        assert!(q.text.ends_with('…'));
    }
}
