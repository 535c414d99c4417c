//! The input line being composed: typed characters, pastes, Backspace, and the rule for how
//! many Enter presses submit it.
//!
//! Pure state, so the Enter-counting contract (`CAO_FAKE_ENTERS=2`: the first Enter after text
//! is swallowed, the second submits, any other key in between starts over) is unit-tested.

/// What an Enter press did to the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnterOutcome {
    /// The line is complete; here is its exact text (the line is now empty).
    Submit(String),
    /// More Enter presses are needed before the line is submitted.
    Swallowed,
    /// The line was empty: nothing to submit.
    Empty,
}

/// The text the user is composing, plus how many Enter presses have been seen in a row.
#[derive(Debug, Default)]
pub struct Editor {
    text: String,
    enters: u8,
}

impl Editor {
    /// The exact text composed so far (pasted newlines included).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Appends a typed character.
    pub fn push_char(&mut self, c: char) {
        self.enters = 0;
        self.text.push(c);
    }

    /// Appends pasted text as-is.
    pub fn push_paste(&mut self, text: &str) {
        self.enters = 0;
        self.text.push_str(text);
    }

    /// Deletes the last character, returning it (None on an empty line).
    pub fn backspace(&mut self) -> Option<char> {
        self.enters = 0;
        self.text.pop()
    }

    /// Drops the whole line (Ctrl-C at the prompt).
    pub fn clear(&mut self) {
        self.enters = 0;
        self.text.clear();
    }

    /// Forgets Enter presses seen so far, so a new prompt starts counting from zero.
    pub fn reset_enters(&mut self) {
        self.enters = 0;
    }

    /// Registers an Enter press; `required` is how many in a row submit a non-empty line.
    pub fn enter(&mut self, required: u8) -> EnterOutcome {
        if self.text.is_empty() {
            self.enters = 0;
            return EnterOutcome::Empty;
        }
        self.enters += 1;
        if self.enters >= required.max(1) {
            self.enters = 0;
            EnterOutcome::Submit(std::mem::take(&mut self.text))
        } else {
            EnterOutcome::Swallowed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_enter_submits() {
        let mut editor = Editor::default();
        editor.push_char('h');
        editor.push_char('i');
        assert_eq!(editor.enter(1), EnterOutcome::Submit("hi".into()));
        assert_eq!(editor.text(), "");
    }

    #[test]
    fn empty_line_never_submits() {
        let mut editor = Editor::default();
        assert_eq!(editor.enter(1), EnterOutcome::Empty);
        assert_eq!(editor.enter(2), EnterOutcome::Empty);
    }

    #[test]
    fn two_enters_needed() {
        let mut editor = Editor::default();
        editor.push_paste("a\nb");
        assert_eq!(editor.enter(2), EnterOutcome::Swallowed);
        assert_eq!(editor.text(), "a\nb");
        assert_eq!(editor.enter(2), EnterOutcome::Submit("a\nb".into()));
    }

    #[test]
    fn another_key_resets_the_enter_count() {
        let mut editor = Editor::default();
        editor.push_char('a');
        assert_eq!(editor.enter(2), EnterOutcome::Swallowed);
        editor.push_char('b');
        assert_eq!(editor.enter(2), EnterOutcome::Swallowed);
        assert_eq!(editor.enter(2), EnterOutcome::Submit("ab".into()));

        editor.push_char('c');
        assert_eq!(editor.enter(2), EnterOutcome::Swallowed);
        editor.backspace();
        editor.push_char('d');
        assert_eq!(editor.enter(2), EnterOutcome::Swallowed);
        editor.reset_enters();
        assert_eq!(editor.enter(2), EnterOutcome::Swallowed);
        assert_eq!(editor.enter(2), EnterOutcome::Submit("d".into()));
    }

    #[test]
    fn backspace_and_clear() {
        let mut editor = Editor::default();
        editor.push_paste("ab\n");
        assert_eq!(editor.backspace(), Some('\n'));
        assert_eq!(editor.text(), "ab");
        editor.clear();
        assert_eq!(editor.backspace(), None);
        assert_eq!(editor.enter(1), EnterOutcome::Empty);
    }
}
