//! The TUI's state and what each key does to it: pure (no tmux, no store, no terminal), so
//! every key is unit-tested. A key that needs the engine returns an [`Effect`] that the
//! event loop carries out and reports back with [`App::notify`] or a refresh.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::engine::TerminalView;
use crate::providers::Status;
use crate::store::Message;

/// One line of the tree: a terminal and where it sits under the terminal that created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeRow {
    /// Index into [`App::terminals`].
    pub index: usize,
    /// 0 for a supervisor (created by nobody listed), 1 for its workers, ...
    pub depth: usize,
    /// Whether it is the last child of its parent (drawn `└` instead of `├`).
    pub last: bool,
}

/// Text typed into a prompt: the composer (multi-line), an answer, the filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextInput {
    /// What was typed so far (the cursor is at its end).
    pub text: String,
}

impl TextInput {
    /// Applies an editing key; `false` when the key is not an editing key.
    fn edit(&mut self, key: KeyEvent, multi_line: bool) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            // Ctrl-J (a bare line feed) and Alt-Enter: a new line without sending.
            KeyCode::Char('j') if ctrl && multi_line => self.text.push('\n'),
            KeyCode::Enter if alt && multi_line => self.text.push('\n'),
            KeyCode::Char('u') if ctrl => self.text.clear(),
            KeyCode::Char(c) if !ctrl => self.text.push(c),
            KeyCode::Tab if multi_line => self.text.push('\t'),
            KeyCode::Backspace => {
                self.text.pop();
            }
            _ => return false,
        }
        true
    }
}

/// What the screen shows on top of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The tree and the preview; the keys of the footer.
    Browse,
    /// The key list.
    Help,
    /// Typing a filter (`/`).
    Filter(TextInput),
    /// Writing a message to a terminal (`s`).
    Compose { to: String, input: TextInput },
    /// Answering a terminal that asks its user something (`a`).
    Answer {
        to: String,
        question: String,
        input: TextInput,
    },
    /// A terminal's inbox (`i`).
    Inbox {
        of: String,
        messages: Vec<Message>,
        scroll: u16,
    },
    /// A terminal's whole last answer (`o`).
    Output {
        of: String,
        text: String,
        scroll: u16,
    },
    /// Asking before a worker is closed (`x`).
    ConfirmClose { id: String },
}

/// Work for the event loop: things only the engine or the terminal can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Leave the TUI.
    Quit,
    /// Bring the terminal's window in front (switch the tmux client, or attach).
    Show(String),
    /// Queue a message through the inbox (typed when the terminal is idle).
    Send { to: String, body: String },
    /// Answer the terminal's question.
    Answer { to: String, text: String },
    /// Close the worker.
    Close(String),
    /// Read the terminal's inbox and show it.
    OpenInbox(String),
    /// Read the terminal's last answer and show it.
    OpenOutput(String),
    /// The selection moved: read the new terminal's screen and answer.
    Preview(String),
}

/// The selected terminal's screen and last answer, as last read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preview {
    /// Whose they are.
    pub id: String,
    /// The visible screen with its colours (SGR escapes); `None` before the first read.
    pub screen: Option<String>,
    /// The last answer (empty when there is none yet).
    pub answer: String,
}

/// Everything the TUI shows.
#[derive(Debug, Clone)]
pub struct App {
    /// The terminals as the engine listed them, oldest first.
    pub terminals: Vec<TerminalView>,
    /// The tree as shown: filtered, in tree order.
    pub rows: Vec<TreeRow>,
    /// The selected terminal's id (kept across refreshes, so the cursor follows it).
    pub selected: Option<String>,
    /// What is on top of the tree.
    pub mode: Mode,
    /// The filter in force (`/`): rows whose id, profile, provider, status or folder holds it.
    pub filter: String,
    /// The selected terminal's screen and answer.
    pub preview: Preview,
    /// The last outcome or error, shown above the footer until the next key.
    pub notice: Option<String>,
    /// Whether cao's tmux server is down (the TUI says so and keeps running).
    pub server_down: bool,
    /// Unix milliseconds of the last refresh, for ages.
    pub now_ms: i64,
}

impl App {
    /// An empty TUI, before the first list.
    pub fn new() -> App {
        App {
            terminals: Vec::new(),
            rows: Vec::new(),
            selected: None,
            mode: Mode::Browse,
            filter: String::new(),
            preview: Preview::default(),
            notice: None,
            server_down: false,
            now_ms: 0,
        }
    }

    /// The selected terminal, if it is still listed.
    pub fn selected_view(&self) -> Option<&TerminalView> {
        let id = self.selected.as_deref()?;
        self.terminals.iter().find(|t| t.id == id)
    }

    /// Takes a new list of terminals; returns the preview to read when the selection had
    /// to move (the selected terminal vanished, or nothing was selected yet).
    pub fn set_terminals(&mut self, terminals: Vec<TerminalView>) -> Option<Effect> {
        let old_position = self.position();
        self.terminals = terminals;
        self.rebuild_rows();
        if self.position().is_some() {
            return None;
        }
        // The selected terminal is gone (or was filtered out): stay at the same height.
        let next = old_position
            .unwrap_or(0)
            .min(self.rows.len().saturating_sub(1));
        self.select_row(next)
    }

    /// Replaces one terminal's row after a look at it (its doorbell rang).
    pub fn update_terminal(&mut self, view: TerminalView) {
        match self.terminals.iter_mut().find(|t| t.id == view.id) {
            Some(slot) => *slot = view,
            None => self.terminals.push(view),
        }
        self.rebuild_rows();
    }

    /// Drops a terminal that has gone; returns the preview to read for the new selection.
    pub fn remove_terminal(&mut self, id: &str) -> Option<Effect> {
        let rest = self
            .terminals
            .iter()
            .filter(|t| t.id != id)
            .cloned()
            .collect();
        self.set_terminals(rest)
    }

    /// Shows the outcome of an effect (or an error) until the next key.
    pub fn notify(&mut self, text: impl Into<String>) {
        self.notice = Some(text.into());
    }

    /// How many terminals ask their user something: the header shouts it.
    pub fn waiting_count(&self) -> usize {
        self.terminals
            .iter()
            .filter(|t| t.status == Status::WaitingUserAnswer)
            .count()
    }

    fn position(&self) -> Option<usize> {
        let id = self.selected.as_deref()?;
        self.rows
            .iter()
            .position(|r| self.terminals.get(r.index).is_some_and(|t| t.id == id))
    }

    fn select_row(&mut self, row: usize) -> Option<Effect> {
        let id = self
            .rows
            .get(row)
            .map(|r| self.terminals[r.index].id.clone());
        if id == self.selected {
            return None;
        }
        self.selected = id.clone();
        self.preview = Preview::default();
        id.map(Effect::Preview)
    }

    fn rebuild_rows(&mut self) {
        self.rows = tree(&self.terminals, &self.filter);
    }

    /// Applies pasted text (bracketed paste) to the prompt that has the focus.
    pub fn on_paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        match &mut self.mode {
            Mode::Compose { input, .. } => input.text.push_str(&text),
            Mode::Answer { input, .. } | Mode::Filter(input) => {
                input.text.push_str(text.lines().next().unwrap_or_default())
            }
            _ => {}
        }
    }

    /// Applies a key; returns what the engine must do, if anything.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Effect> {
        self.notice = None;
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return Some(Effect::Quit);
        }
        let mode = std::mem::replace(&mut self.mode, Mode::Browse);
        let (mode, effect) = match mode {
            Mode::Browse => return self.browse_key(key),
            Mode::Help => (Mode::Browse, None),
            Mode::Filter(mut input) => match key.code {
                KeyCode::Esc => {
                    self.filter.clear();
                    (Mode::Browse, self.refilter())
                }
                KeyCode::Enter => (Mode::Browse, None),
                _ => {
                    input.edit(key, false);
                    self.filter = input.text.clone();
                    let effect = self.refilter();
                    (Mode::Filter(input), effect)
                }
            },
            Mode::Compose { to, mut input } => match key.code {
                KeyCode::Esc => (Mode::Browse, None),
                KeyCode::Enter if !key.modifiers.contains(KeyModifiers::ALT) => {
                    if input.text.trim().is_empty() {
                        self.notify("the message is empty: type some text, or Esc to cancel");
                        (Mode::Compose { to, input }, None)
                    } else {
                        let body = std::mem::take(&mut input.text);
                        (Mode::Browse, Some(Effect::Send { to, body }))
                    }
                }
                _ => {
                    input.edit(key, true);
                    (Mode::Compose { to, input }, None)
                }
            },
            Mode::Answer {
                to,
                question,
                mut input,
            } => match key.code {
                KeyCode::Esc => (Mode::Browse, None),
                KeyCode::Enter if !input.text.trim().is_empty() => {
                    let text = std::mem::take(&mut input.text);
                    (Mode::Browse, Some(Effect::Answer { to, text }))
                }
                _ => {
                    input.edit(key, false);
                    (
                        Mode::Answer {
                            to,
                            question,
                            input,
                        },
                        None,
                    )
                }
            },
            Mode::Inbox {
                of,
                messages,
                scroll,
            } => match scrolled(key, scroll) {
                Some(scroll) => (
                    Mode::Inbox {
                        of,
                        messages,
                        scroll,
                    },
                    None,
                ),
                None => (Mode::Browse, None),
            },
            Mode::Output { of, text, scroll } => match scrolled(key, scroll) {
                Some(scroll) => (Mode::Output { of, text, scroll }, None),
                None => (Mode::Browse, None),
            },
            Mode::ConfirmClose { id } => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => (Mode::Browse, Some(Effect::Close(id))),
                _ => {
                    self.notify(format!("kept {id}"));
                    (Mode::Browse, None)
                }
            },
        };
        self.mode = mode;
        effect
    }

    fn refilter(&mut self) -> Option<Effect> {
        self.set_terminals(self.terminals.clone())
    }

    fn browse_key(&mut self, key: KeyEvent) -> Option<Effect> {
        let position = self.position();
        let last = self.rows.len().saturating_sub(1);
        match key.code {
            KeyCode::Char('q') => return Some(Effect::Quit),
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Char('/') => {
                self.mode = Mode::Filter(TextInput {
                    text: self.filter.clone(),
                })
            }
            KeyCode::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                return self.refilter();
            }
            KeyCode::Down | KeyCode::Char('j') => {
                return self.select_row(position.map_or(0, |p| (p + 1).min(last)));
            }
            KeyCode::Up | KeyCode::Char('k') => {
                return self.select_row(position.map_or(0, |p| p.saturating_sub(1)));
            }
            KeyCode::Home | KeyCode::Char('g') => return self.select_row(0),
            KeyCode::End | KeyCode::Char('G') => return self.select_row(last),
            _ => return self.on_selected(key),
        }
        None
    }

    /// The keys about the selected terminal.
    fn on_selected(&mut self, key: KeyEvent) -> Option<Effect> {
        let Some(view) = self.selected_view() else {
            if matches!(
                key.code,
                KeyCode::Enter | KeyCode::Char('s' | 'a' | 'i' | 'o' | 'x')
            ) {
                self.notify("no terminal selected");
            }
            return None;
        };
        let id = view.id.clone();
        match key.code {
            KeyCode::Enter => Some(Effect::Show(id)),
            KeyCode::Char('s') => {
                self.mode = Mode::Compose {
                    to: id,
                    input: TextInput::default(),
                };
                None
            }
            KeyCode::Char('a') => {
                if view.status == Status::WaitingUserAnswer {
                    self.mode = Mode::Answer {
                        to: id,
                        question: view.question.clone().unwrap_or_default(),
                        input: TextInput::default(),
                    };
                } else {
                    self.notify(format!(
                        "{id} is {}, not asking anything: nothing to answer",
                        view.status
                    ));
                }
                None
            }
            KeyCode::Char('i') => Some(Effect::OpenInbox(id)),
            KeyCode::Char('o') => Some(Effect::OpenOutput(id)),
            KeyCode::Char('x') => {
                if view.created_by.is_none() {
                    self.notify(format!(
                        "{id} is a supervisor: cao tui closes workers only (use `cao shutdown`)"
                    ));
                } else {
                    self.mode = Mode::ConfirmClose { id };
                }
                None
            }
            _ => None,
        }
    }
}

impl Default for App {
    fn default() -> App {
        App::new()
    }
}

/// A scrolling key's new offset, or `None` for a key that closes the view.
fn scrolled(key: KeyEvent, scroll: u16) -> Option<u16> {
    match key.code {
        KeyCode::Down | KeyCode::Char('j') => Some(scroll.saturating_add(1)),
        KeyCode::Up | KeyCode::Char('k') => Some(scroll.saturating_sub(1)),
        KeyCode::PageDown | KeyCode::Char(' ') => Some(scroll.saturating_add(10)),
        KeyCode::PageUp => Some(scroll.saturating_sub(10)),
        KeyCode::Home | KeyCode::Char('g') => Some(0),
        _ => None,
    }
}

/// The terminals in tree order: each supervisor (a terminal no listed terminal created)
/// followed by the workers it created, depth first, oldest first. With a filter, the rows
/// that match and the rows above them in the tree.
pub fn tree(terminals: &[TerminalView], filter: &str) -> Vec<TreeRow> {
    let listed = |id: &str| terminals.iter().any(|t| t.id == id);
    let mut rows = Vec::new();
    let roots: Vec<usize> = (0..terminals.len())
        .filter(|&i| {
            terminals[i]
                .created_by
                .as_deref()
                .is_none_or(|parent| !listed(parent) || parent == terminals[i].id)
        })
        .collect();
    let count = roots.len();
    for (n, root) in roots.into_iter().enumerate() {
        push_subtree(terminals, root, 0, n + 1 == count, &mut rows);
    }
    if filter.is_empty() {
        return rows;
    }
    let needle = filter.to_lowercase();
    let matches = |t: &TerminalView| {
        [
            t.id.as_str(),
            t.profile.as_str(),
            t.provider.as_str(),
            t.status.as_str(),
            t.working_dir.as_str(),
        ]
        .iter()
        .any(|field| field.to_lowercase().contains(&needle))
    };
    // Keep a row when it matches or a row below it (deeper, before the next shallower) does.
    let keep: Vec<bool> = (0..rows.len())
        .map(|i| {
            matches(&terminals[rows[i].index])
                || rows[i + 1..]
                    .iter()
                    .take_while(|r| r.depth > rows[i].depth)
                    .any(|r| matches(&terminals[r.index]))
        })
        .collect();
    rows.into_iter()
        .zip(keep)
        .filter_map(|(row, keep)| keep.then_some(row))
        .collect()
}

fn push_subtree(
    terminals: &[TerminalView],
    index: usize,
    depth: usize,
    last: bool,
    rows: &mut Vec<TreeRow>,
) {
    rows.push(TreeRow { index, depth, last });
    // A depth cap: a record that names a descendant as its creator cannot loop forever.
    if depth > 16 {
        return;
    }
    let id = &terminals[index].id;
    let children: Vec<usize> = (0..terminals.len())
        .filter(|&i| terminals[i].created_by.as_deref() == Some(id) && i != index)
        .collect();
    let count = children.len();
    for (n, child) in children.into_iter().enumerate() {
        push_subtree(terminals, child, depth + 1, n + 1 == count, rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TerminalKind;

    fn view(id: &str, created_by: Option<&str>, status: Status) -> TerminalView {
        TerminalView {
            id: id.into(),
            session: "cao-s".into(),
            profile: "developer".into(),
            provider: "fake".into(),
            status,
            created_by: created_by.map(Into::into),
            working_dir: "/w".into(),
            pending_messages: 0,
            usage: None,
            kind: TerminalKind::Created,
            worktree: None,
            question: None,
            created_at: 0,
            host: None,
        }
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typed(app: &mut App, text: &str) {
        for c in text.chars() {
            app.on_key(key(KeyCode::Char(c)));
        }
    }

    /// A supervisor with two workers, one of which has a worker of its own, and a loner.
    fn family() -> App {
        let mut app = App::new();
        app.set_terminals(vec![
            view("aaaaaaaa", None, Status::Idle),
            view("bbbbbbbb", Some("aaaaaaaa"), Status::Processing),
            view("cccccccc", Some("aaaaaaaa"), Status::WaitingUserAnswer),
            view("dddddddd", None, Status::Completed),
            view("eeeeeeee", Some("bbbbbbbb"), Status::Idle),
        ]);
        app
    }

    fn ids(app: &App) -> Vec<(&str, usize)> {
        app.rows
            .iter()
            .map(|r| (app.terminals[r.index].id.as_str(), r.depth))
            .collect()
    }

    #[test]
    fn workers_sit_under_the_terminal_that_created_them() {
        let app = family();
        assert_eq!(
            ids(&app),
            [
                ("aaaaaaaa", 0),
                ("bbbbbbbb", 1),
                ("eeeeeeee", 2),
                ("cccccccc", 1),
                ("dddddddd", 0)
            ]
        );
        assert_eq!(app.selected.as_deref(), Some("aaaaaaaa"));
        assert_eq!(app.waiting_count(), 1);
    }

    #[test]
    fn a_worker_whose_creator_is_gone_is_a_root() {
        let mut app = App::new();
        app.set_terminals(vec![view("bbbbbbbb", Some("ffffffff"), Status::Idle)]);
        assert_eq!(ids(&app), [("bbbbbbbb", 0)]);
    }

    #[test]
    fn the_selection_follows_its_terminal_and_moves_when_it_vanishes() {
        let mut app = family();
        assert_eq!(
            app.on_key(key(KeyCode::Down)),
            Some(Effect::Preview("bbbbbbbb".into()))
        );
        // A new list in another order keeps the cursor on the same terminal.
        let mut reordered = app.terminals.clone();
        reordered.reverse();
        assert_eq!(app.set_terminals(reordered), None);
        assert_eq!(app.selected.as_deref(), Some("bbbbbbbb"));
        // It vanishes: the cursor stays at its height, on the next row.
        let effect = app.remove_terminal("bbbbbbbb");
        assert_eq!(effect, Some(Effect::Preview("cccccccc".into())));
        // All gone: nothing selected, keys about a terminal say so.
        app.set_terminals(Vec::new());
        assert_eq!(app.selected, None);
        assert_eq!(app.on_key(key(KeyCode::Char('s'))), None);
        assert_eq!(app.notice.as_deref(), Some("no terminal selected"));
    }

    #[test]
    fn the_composer_takes_several_lines_and_sends_on_enter() {
        let mut app = family();
        app.on_key(key(KeyCode::Char('s')));
        typed(&mut app, "first");
        app.on_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::CONTROL));
        typed(&mut app, "second");
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
        app.on_paste("pasted\r\nlines");
        app.on_key(key(KeyCode::Backspace));
        assert_eq!(
            app.on_key(key(KeyCode::Enter)),
            Some(Effect::Send {
                to: "aaaaaaaa".into(),
                body: "first\nsecond\npasted\nline".into()
            })
        );
        assert_eq!(app.mode, Mode::Browse);
    }

    #[test]
    fn an_empty_message_is_not_sent_and_esc_cancels() {
        let mut app = family();
        app.on_key(key(KeyCode::Char('s')));
        typed(&mut app, "  ");
        assert_eq!(app.on_key(key(KeyCode::Enter)), None);
        assert!(matches!(app.mode, Mode::Compose { .. }));
        assert_eq!(app.on_key(key(KeyCode::Esc)), None);
        assert_eq!(app.mode, Mode::Browse);
    }

    #[test]
    fn only_a_waiting_terminal_can_be_answered() {
        let mut app = family();
        app.on_key(key(KeyCode::Char('a')));
        assert_eq!(app.mode, Mode::Browse);
        assert!(app.notice.as_deref().unwrap().contains("not asking"));
        app.on_key(key(KeyCode::Down));
        app.on_key(key(KeyCode::Down));
        app.on_key(key(KeyCode::Down));
        assert_eq!(app.selected.as_deref(), Some("cccccccc"));
        app.on_key(key(KeyCode::Char('a')));
        typed(&mut app, "y");
        assert_eq!(
            app.on_key(key(KeyCode::Enter)),
            Some(Effect::Answer {
                to: "cccccccc".into(),
                text: "y".into()
            })
        );
    }

    #[test]
    fn closing_asks_first_and_never_closes_a_supervisor() {
        let mut app = family();
        app.on_key(key(KeyCode::Char('x')));
        assert_eq!(app.mode, Mode::Browse, "a supervisor is not closed");
        app.on_key(key(KeyCode::Down));
        app.on_key(key(KeyCode::Char('x')));
        assert_eq!(
            app.mode,
            Mode::ConfirmClose {
                id: "bbbbbbbb".into()
            }
        );
        assert_eq!(app.on_key(key(KeyCode::Char('n'))), None);
        app.on_key(key(KeyCode::Char('x')));
        assert_eq!(
            app.on_key(key(KeyCode::Char('y'))),
            Some(Effect::Close("bbbbbbbb".into()))
        );
    }

    #[test]
    fn the_filter_keeps_matches_and_their_creators() {
        let mut app = family();
        app.on_key(key(KeyCode::Char('/')));
        typed(&mut app, "eeee");
        assert_eq!(
            ids(&app),
            [("aaaaaaaa", 0), ("bbbbbbbb", 1), ("eeeeeeee", 2)]
        );
        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.filter, "eeee");
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.rows.len(), 5);
    }

    #[test]
    fn views_scroll_and_close_on_other_keys() {
        let mut app = family();
        app.mode = Mode::Output {
            of: "aaaaaaaa".into(),
            text: "x".into(),
            scroll: 0,
        };
        app.on_key(key(KeyCode::PageDown));
        assert!(matches!(app.mode, Mode::Output { scroll: 10, .. }));
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.mode, Mode::Browse);
        assert_eq!(app.on_key(key(KeyCode::Char('q'))), Some(Effect::Quit));
    }
}
