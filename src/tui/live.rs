//! Keeping the [`App`] current at little cost: a full `list` (one screen capture per
//! terminal) only when the store changed or on a slow tick; otherwise one look at a terminal
//! whose doorbell rang (its watcher rings when the pane's output settles), and nothing at all
//! while every agent is quiet.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::app::{App, Effect};
use crate::engine::watcher::Waiter;
use crate::engine::{Engine, EngineError, OutputMode};

/// The slow tick: a full list even when nothing rang, for what rings nothing (a pane killed
/// from outside, a tmux server gone, a worktree that got dirty). A list costs ~3 ms of CPU
/// per terminal (one capture-pane each), so the tick grows with the terminals listed
/// ([`PER_TERMINAL_TICK`] each) to keep an idle TUI near 0.2 % of a core from lists.
const FULL_LIST_TICK: Duration = Duration::from_secs(30);
/// How much the slow tick grows per listed terminal (20 terminals: 30 s; 50: 75 s).
const PER_TERMINAL_TICK: Duration = Duration::from_millis(1500);
/// Least time between two looks at one terminal while its output streams (a spinner).
const LOOK_GAP: Duration = Duration::from_millis(250);

/// The change signals of the terminals on screen.
pub struct Live {
    /// One doorbell per listed terminal.
    doorbells: HashMap<String, Waiter>,
    /// The store's version at the last full list.
    store_version: Option<i64>,
    /// When the last full list ran (`None`: never, or one is wanted now).
    listed_at: Option<Instant>,
    /// When each terminal was last looked at, and whether a ring is still owed a look.
    looked_at: HashMap<String, (Instant, bool)>,
}

impl Live {
    /// Signals for an empty screen; the first [`Live::refresh`] lists everything.
    pub fn new() -> Live {
        Live {
            doorbells: HashMap::new(),
            store_version: None,
            listed_at: None,
            looked_at: HashMap::new(),
        }
    }

    /// Asks for a full list at the next refresh (after the TUI changed something itself:
    /// its own writes do not move the store's version).
    pub fn relist(&mut self) {
        self.listed_at = None;
    }

    /// Brings `app` up to date with what changed; returns whether anything on screen did.
    pub fn refresh(&mut self, engine: &Engine, app: &mut App) -> bool {
        let version = engine.store_version().ok();
        let tick = FULL_LIST_TICK.max(PER_TERMINAL_TICK * app.terminals.len() as u32);
        let due = self.listed_at.is_none_or(|at| at.elapsed() >= tick);
        if due || version != self.store_version {
            self.store_version = version;
            self.full_list(engine, app);
            return true;
        }
        let mut changed = false;
        let now = Instant::now();
        let ids: Vec<String> = self.doorbells.keys().cloned().collect();
        for id in ids {
            let rang = self
                .doorbells
                .get_mut(&id)
                .is_some_and(|bell| bell.wait(Duration::ZERO));
            let (last, owed) = self
                .looked_at
                .get(&id)
                .copied()
                .unwrap_or((now - LOOK_GAP, false));
            if !(rang || owed) {
                continue;
            }
            if now.duration_since(last) < LOOK_GAP {
                self.looked_at.insert(id, (last, true));
                continue;
            }
            self.looked_at.insert(id.clone(), (now, false));
            changed |= self.look(engine, app, &id);
        }
        changed
    }

    /// One look at a terminal whose doorbell rang: its row, and its preview when selected.
    fn look(&mut self, engine: &Engine, app: &mut App, id: &str) -> bool {
        match engine.view(id) {
            Ok(view) => {
                app.update_terminal(view);
                if app.selected.as_deref() == Some(id) {
                    read_preview(engine, app, id);
                }
            }
            Err(EngineError::UnknownTerminal(_)) => {
                self.doorbells.remove(id);
                if let Some(Effect::Preview(next)) = app.remove_terminal(id) {
                    read_preview(engine, app, &next);
                }
            }
            Err(e) => app.notify(format!("cannot read {id}: {e}")),
        }
        true
    }

    fn full_list(&mut self, engine: &Engine, app: &mut App) {
        self.listed_at = Some(Instant::now());
        app.now_ms = crate::store::now_ms();
        app.server_down = !engine.server_running().unwrap_or(false);
        let terminals = match engine.list() {
            Ok(terminals) => terminals,
            Err(e) => {
                app.notify(format!("cannot list the terminals: {e}"));
                return;
            }
        };
        self.doorbells
            .retain(|id, _| terminals.iter().any(|t| &t.id == id));
        self.looked_at
            .retain(|id, _| terminals.iter().any(|t| &t.id == id));
        for t in &terminals {
            if !self.doorbells.contains_key(&t.id)
                && let Ok(bell) = engine.screen_doorbell(&t.id)
            {
                self.doorbells.insert(t.id.clone(), bell);
            }
        }
        let moved = app.set_terminals(terminals);
        let selected = match moved {
            Some(Effect::Preview(id)) => Some(id),
            _ => app.selected.clone(),
        };
        if let Some(id) = selected {
            read_preview(engine, app, &id);
        }
    }
}

impl Default for Live {
    fn default() -> Live {
        Live::new()
    }
}

/// Reads the selected terminal's screen and last answer into the preview.
pub fn read_preview(engine: &Engine, app: &mut App, id: &str) {
    if app.selected.as_deref() != Some(id) {
        return;
    }
    app.preview.id = id.to_string();
    app.preview.screen = match engine.styled_screen(id) {
        Ok(Some(screen)) => Some(screen),
        Ok(None) | Err(EngineError::UnknownTerminal(_)) => {
            Some(format!("terminal {id} has exited"))
        }
        Err(e) => Some(format!("cannot read the screen: {e}")),
    };
    app.preview.answer = engine.output(id, OutputMode::Last).unwrap_or_default();
}
