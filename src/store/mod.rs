//! Shared state of all cao processes: one SQLite database under `CAO_HOME` (WAL mode, a busy
//! timeout, short transactions). Holds the terminals cao created and the inbox of messages
//! waiting to be typed into them. tmux stays the truth for liveness; this is the record.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde::Serialize;

/// What can go wrong with the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state directory could not be created or written.
    #[error(
        "cannot use the state directory {path}: {source}; set CAO_HOME to a writable directory"
    )]
    Home {
        path: PathBuf,
        source: std::io::Error,
    },
    /// SQLite refused an operation.
    #[error("state database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer cao.
    #[error(
        "the state database has schema version {found}, newer than this cao understands ({supported}); upgrade cao or use another CAO_HOME"
    )]
    TooNew { found: i64, supported: i64 },
}

/// A terminal cao created: one agent CLI in one tmux window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalRecord {
    /// 8 lowercase hex chars; exported to the pane as `CAO_TERMINAL_ID`.
    pub id: String,
    /// tmux session name.
    pub session: String,
    /// tmux window id (`@N`).
    pub window_id: String,
    /// tmux pane id (`%N`).
    pub pane_id: String,
    /// Provider (CLI) running in it.
    pub provider: String,
    /// Agent profile it was started with.
    pub profile: String,
    /// Terminal that created it (`None` for one started from a shell).
    pub created_by: Option<String>,
    /// Directory the CLI started in.
    pub working_dir: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last input cao typed into it.
    pub last_active: i64,
    /// Whether cao started it, adopted it, or it is a caller's mailbox.
    pub kind: TerminalKind,
    /// For a mailbox: the process (an MCP server) whose caller it is; it lives as long.
    pub owner_pid: Option<u32>,
    /// The cao tools this terminal's MCP server offers (its profile's `caoTools`); `None`:
    /// all of them. Kept here, where the agent cannot change it.
    pub cao_tools: Option<Vec<String>>,
}

impl TerminalRecord {
    /// A terminal with no tmux pane (a caller's mailbox, a remote creator's relay), made now.
    pub fn paneless(
        id: String,
        kind: TerminalKind,
        provider: String,
        profile: String,
        working_dir: String,
        owner_pid: Option<u32>,
    ) -> TerminalRecord {
        let now = now_ms();
        TerminalRecord {
            id,
            session: String::new(),
            window_id: String::new(),
            pane_id: String::new(),
            provider,
            profile,
            created_by: None,
            working_dir,
            created_at: now,
            last_active: now,
            kind,
            owner_pid,
            cao_tools: None,
        }
    }
}

/// A terminal this machine started on another host (`[hosts.NAME]`): the host's own store
/// holds it; this row is how `cao list` and the forwarding commands find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RemoteTerminal {
    /// Its id (the remote store's).
    pub id: String,
    /// The host's name in the config.
    pub host: String,
    /// Agent profile.
    pub profile: String,
    /// Provider it runs.
    pub provider: String,
    /// The local terminal that created it, if any.
    pub created_by: Option<String>,
    /// Its working directory there.
    pub working_dir: String,
    /// Unix ms.
    pub created_at: i64,
}

/// A git worktree cao made for a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct WorktreeRow {
    /// The worker's terminal.
    pub terminal_id: String,
    /// The repository's top folder (its main checkout).
    pub repo: String,
    /// The worktree's folder.
    pub path: String,
    /// Its branch.
    pub branch: String,
    /// The commit it started from.
    pub base: String,
    /// What the caller was told when it was made (a dirty main checkout, submodules).
    pub notes: Vec<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// When its terminal ended, for a worktree kept because it holds work.
    pub ended_at: Option<i64>,
}

/// How a terminal came to be, which decides what cao may do with it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TerminalKind {
    /// cao started the CLI in a tmux window: cao may type into it, exit it and close it.
    #[default]
    Created,
    /// A tmux pane cao did not start (a supervisor the user runs and registered cao in):
    /// cao types messages into it when its input box is empty, and never exits or kills it.
    Adopted,
    /// A caller outside tmux (an IDE, a desktop app): no pane; its messages wait in its inbox
    /// until it collects them with `wait_for_messages`.
    Mailbox,
    /// A terminal on another machine that started workers here (`assign` with `host`):
    /// no pane; the messages its workers send it wait here until that machine collects them
    /// over ssh and acknowledges them.
    Relay,
}

impl TerminalKind {
    /// The lowercase name used in the database, JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            TerminalKind::Created => "created",
            TerminalKind::Adopted => "adopted",
            TerminalKind::Mailbox => "mailbox",
            TerminalKind::Relay => "relay",
        }
    }

    /// Whether it is a tmux pane (one cao started or adopted); a mailbox and a relay have
    /// none: their messages are collected, never typed.
    pub fn has_pane(self) -> bool {
        matches!(self, TerminalKind::Created | TerminalKind::Adopted)
    }

    fn parse(s: &str) -> TerminalKind {
        match s {
            "adopted" => TerminalKind::Adopted,
            "mailbox" => TerminalKind::Mailbox,
            "relay" => TerminalKind::Relay,
            _ => TerminalKind::Created,
        }
    }
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Stored, waiting for the receiver to become idle.
    Pending,
    /// Claimed by a deliverer that is typing it right now.
    Delivering,
    /// Typed into the receiver.
    Delivered,
    /// Could not be delivered; `error` says why.
    Failed,
}

impl MessageStatus {
    /// The lowercase name used in the database, JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Delivering => "delivering",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> MessageStatus {
        match s {
            "pending" => MessageStatus::Pending,
            "delivering" => MessageStatus::Delivering,
            "delivered" => MessageStatus::Delivered,
            _ => MessageStatus::Failed,
        }
    }
}

/// One inbox message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Message {
    /// Increasing id: the delivery order per receiver.
    pub id: i64,
    /// Sending terminal id, or `user`.
    pub sender_id: String,
    /// Receiving terminal id.
    pub receiver_id: String,
    /// The text to type.
    pub body: String,
    /// Delivery state.
    pub status: MessageStatus,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last state change.
    pub updated_at: i64,
    /// Why delivery failed.
    pub error: Option<String>,
}

impl Message {
    /// A message just stored, waiting for delivery.
    pub fn pending(id: i64, sender: &str, receiver: &str, body: &str, at: i64) -> Message {
        Message {
            id,
            sender_id: sender.to_string(),
            receiver_id: receiver.to_string(),
            body: body.to_string(),
            status: MessageStatus::Pending,
            created_at: at,
            updated_at: at,
            error: None,
        }
    }
}

/// Schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 6;

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS terminals (
    id          TEXT PRIMARY KEY,
    session     TEXT NOT NULL,
    window_id   TEXT NOT NULL,
    pane_id     TEXT NOT NULL,
    provider    TEXT NOT NULL,
    profile     TEXT NOT NULL,
    created_by  TEXT,
    working_dir TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    last_active INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS inbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_id   TEXT NOT NULL,
    receiver_id TEXT NOT NULL,
    body        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending','delivering','delivered','failed')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    claimed_by  INTEGER,
    error       TEXT
);
CREATE INDEX IF NOT EXISTS inbox_by_receiver ON inbox (receiver_id, status, id);
";

/// Version 2: whether typing of a claimed message may have started. A claim whose deliverer
/// died before typing goes back to the queue instead of being marked failed. Only a claim made
/// by this version sets it to 0 (and `mark_typing` back to 1), so a row claimed by an older cao
/// still running — or left `delivering` before the upgrade — counts as "may be typed".
const SCHEMA_V2: &str = "
ALTER TABLE inbox ADD COLUMN typing_started INTEGER NOT NULL DEFAULT 1;
UPDATE inbox SET typing_started = 1;
";

/// Version 3: terminals cao did not start (adopted panes, callers' mailboxes), and the
/// process that owns a mailbox. Every older row is a terminal cao created.
const SCHEMA_V3: &str = "
ALTER TABLE terminals ADD COLUMN kind TEXT NOT NULL DEFAULT 'created';
ALTER TABLE terminals ADD COLUMN owner_pid INTEGER;
";

/// Version 4: the cao tools a terminal may use (a JSON list; NULL: all). Every older
/// terminal keeps all of them, as before.
const SCHEMA_V4: &str = "
ALTER TABLE terminals ADD COLUMN cao_tools TEXT;
";

/// Version 5: the git worktrees cao made for workers (`use_worktree`); a row outlives its
/// terminal while the worktree is kept.
const SCHEMA_V5: &str = "
CREATE TABLE IF NOT EXISTS worktrees (
    terminal_id TEXT PRIMARY KEY,
    repo        TEXT NOT NULL,
    path        TEXT NOT NULL,
    branch      TEXT NOT NULL,
    base        TEXT NOT NULL,
    notes       TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    ended_at    INTEGER
);
";

/// Version 6: terminals started on other hosts, and a message's delivery key: a message
/// that crosses machines carries one, so a sender that retries after a dropped connection
/// stores it once.
const SCHEMA_V6: &str = "
CREATE TABLE IF NOT EXISTS remote_terminals (
    id          TEXT PRIMARY KEY,
    host        TEXT NOT NULL,
    profile     TEXT NOT NULL,
    provider    TEXT NOT NULL,
    created_by  TEXT,
    working_dir TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
ALTER TABLE inbox ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS inbox_by_key ON inbox (receiver_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
";

/// The columns of a terminal row, in the order `terminal_from_row` reads them.
const TERMINAL_COLUMNS: &str = "id, session, window_id, pane_id, provider, profile, created_by, working_dir, created_at, last_active, kind, owner_pid, cao_tools";

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A connection to the state database. Cheap to open; each cao process holds one.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating and migrating when needed) the database in `home`.
    pub fn open(home: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(home).map_err(|source| StoreError::Home {
            path: home.to_path_buf(),
            source,
        })?;
        let conn = Connection::open(home.join("cao.db"))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let mut store = Store { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read again inside the write lock: another process may have migrated meanwhile.
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < 1 {
            tx.execute_batch(SCHEMA_V1)?;
        }
        if version < 2 {
            tx.execute_batch(SCHEMA_V2)?;
        }
        if version < 3 {
            tx.execute_batch(SCHEMA_V3)?;
        }
        if version < 4 {
            tx.execute_batch(SCHEMA_V4)?;
        }
        if version < 5 {
            tx.execute_batch(SCHEMA_V5)?;
        }
        if version < 6 {
            tx.execute_batch(SCHEMA_V6)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(())
    }

    /// Records a worktree made for a worker.
    pub fn insert_worktree(&self, w: &WorktreeRow) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO worktrees (terminal_id, repo, path, branch, base, notes, created_at, ended_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![w.terminal_id, w.repo, w.path, w.branch, w.base, serde_json::to_string(&w.notes).expect("notes serialize"), w.created_at, w.ended_at],
        )?;
        Ok(())
    }

    /// The worktree of a terminal, if it has one.
    pub fn worktree(&self, terminal_id: &str) -> Result<Option<WorktreeRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT terminal_id, repo, path, branch, base, notes, created_at, ended_at FROM worktrees WHERE terminal_id = ?1",
                [terminal_id],
                worktree_from_row,
            )
            .optional()?)
    }

    /// Every worktree cao made and still knows, oldest first.
    pub fn worktrees(&self) -> Result<Vec<WorktreeRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT terminal_id, repo, path, branch, base, notes, created_at, ended_at FROM worktrees ORDER BY created_at, terminal_id",
        )?;
        let rows = stmt.query_map([], worktree_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Takes a worktree's row out of the store, so that exactly one process (of a handoff,
    /// a close and the worker's watcher noticing its end) goes on to finish the worktree.
    pub fn take_worktree(&mut self, terminal_id: &str) -> Result<Option<WorktreeRow>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = tx
            .query_row(
                "SELECT terminal_id, repo, path, branch, base, notes, created_at, ended_at FROM worktrees WHERE terminal_id = ?1",
                [terminal_id],
                worktree_from_row,
            )
            .optional()?;
        tx.execute(
            "DELETE FROM worktrees WHERE terminal_id = ?1",
            [terminal_id],
        )?;
        tx.commit()?;
        Ok(row)
    }

    /// Forgets a worktree that is gone.
    pub fn delete_worktree(&self, terminal_id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM worktrees WHERE terminal_id = ?1",
            [terminal_id],
        )?;
        Ok(())
    }

    /// Records a new terminal.
    pub fn insert_terminal(&self, t: &TerminalRecord) -> Result<(), StoreError> {
        self.conn.execute(
            &format!("INSERT INTO terminals ({TERMINAL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
            params![t.id, t.session, t.window_id, t.pane_id, t.provider, t.profile, t.created_by, t.working_dir, t.created_at, t.last_active, t.kind.as_str(), t.owner_pid, cao_tools_json(&t.cao_tools)],
        )?;
        Ok(())
    }

    /// One terminal by id.
    pub fn terminal(&self, id: &str) -> Result<Option<TerminalRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {TERMINAL_COLUMNS} FROM terminals WHERE id = ?1"),
                [id],
                terminal_from_row,
            )
            .optional()?)
    }

    /// The terminal running in a tmux pane (maps `TMUX_PANE` back to a terminal).
    pub fn terminal_by_pane(&self, pane_id: &str) -> Result<Option<TerminalRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {TERMINAL_COLUMNS} FROM terminals WHERE pane_id = ?1"),
                [pane_id],
                terminal_from_row,
            )
            .optional()?)
    }

    /// All terminals, oldest first.
    pub fn terminals(&self) -> Result<Vec<TerminalRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {TERMINAL_COLUMNS} FROM terminals ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map([], terminal_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forgets a terminal; its undelivered messages are marked failed with `reason`.
    pub fn delete_terminal(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        let now = now_ms();
        self.conn.execute(
            "UPDATE inbox SET status = 'failed', error = ?2, updated_at = ?3
             WHERE receiver_id = ?1 AND status IN ('pending', 'delivering')",
            params![id, reason, now],
        )?;
        self.conn
            .execute("DELETE FROM terminals WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Notes that cao just typed into a terminal.
    pub fn touch_terminal(&self, id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE terminals SET last_active = ?2 WHERE id = ?1",
            params![id, now_ms()],
        )?;
        Ok(())
    }

    /// Stores a message as pending and returns it.
    pub fn enqueue(&self, sender: &str, receiver: &str, body: &str) -> Result<Message, StoreError> {
        let now = now_ms();
        self.conn.execute(
            "INSERT INTO inbox (sender_id, receiver_id, body, status, created_at, updated_at) VALUES (?1, ?2, ?3, 'pending', ?4, ?4)",
            params![sender, receiver, body, now],
        )?;
        Ok(Message::pending(
            self.conn.last_insert_rowid(),
            sender,
            receiver,
            body,
            now,
        ))
    }

    /// Stores a message under its delivery `key` unless one with that key is stored for
    /// `receiver` already; that one is returned then, with `true` (a retried send).
    pub fn enqueue_once(
        &mut self,
        sender: &str,
        receiver: &str,
        body: &str,
        key: &str,
    ) -> Result<(Message, bool), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = now_ms();
        let inserted = tx.execute(
            "INSERT INTO inbox (sender_id, receiver_id, body, status, created_at, updated_at, dedupe_key) VALUES (?1, ?2, ?3, 'pending', ?4, ?4, ?5) ON CONFLICT DO NOTHING",
            params![sender, receiver, body, now, key],
        )?;
        let id: i64 = tx.query_row(
            "SELECT id FROM inbox WHERE receiver_id = ?1 AND dedupe_key = ?2",
            params![receiver, key],
            |r| r.get(0),
        )?;
        tx.commit()?;
        let message = self
            .message(id)?
            .expect("the message was just stored or found");
        Ok((message, inserted == 0))
    }

    /// Records a terminal started on another host.
    pub fn insert_remote(&self, t: &RemoteTerminal) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR REPLACE INTO remote_terminals (id, host, profile, provider, created_by, working_dir, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![t.id, t.host, t.profile, t.provider, t.created_by, t.working_dir, t.created_at],
        )?;
        Ok(())
    }

    /// The remote terminal `id`, if this machine started it.
    pub fn remote(&self, id: &str) -> Result<Option<RemoteTerminal>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, host, profile, provider, created_by, working_dir, created_at FROM remote_terminals WHERE id = ?1",
                [id],
                remote_from_row,
            )
            .optional()?)
    }

    /// Every remote terminal this machine started, oldest first.
    pub fn remotes(&self) -> Result<Vec<RemoteTerminal>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, host, profile, provider, created_by, working_dir, created_at FROM remote_terminals ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([], remote_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forgets a remote terminal that has ended.
    pub fn delete_remote(&self, id: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM remote_terminals WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Whether a receiver has messages not yet delivered: waiting, or claimed by a deliverer
    /// (which may have died). Cheap: the watcher asks on every screen change.
    pub fn has_undelivered(&self, receiver: &str) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM inbox WHERE receiver_id = ?1 AND status IN ('pending', 'delivering'))",
            [receiver],
            |r| r.get(0),
        )?)
    }

    /// A number that changes whenever another connection commits a write (SQLite's
    /// `PRAGMA data_version`): one cheap query tells a display (`cao tui`) whether any
    /// terminal or message changed since it last looked, with no need to re-read them.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "data_version", |r| r.get(0))?)
    }

    /// How many messages wait for a receiver (`cao list` shows it for every terminal).
    pub fn pending_count(&self, receiver: &str) -> Result<u32, StoreError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM inbox WHERE receiver_id = ?1 AND status = 'pending'",
            [receiver],
            |r| r.get(0),
        )?)
    }

    /// Atomically moves every pending message of `receiver` to `delivering`, oldest first, and
    /// returns them. Whoever gets a message here is the only one who may type it.
    pub fn claim_pending(&mut self, receiver: &str) -> Result<Vec<Message>, StoreError> {
        self.move_pending(receiver, MessageStatus::Delivering)
    }

    /// Hands out every pending message of `receiver` (a caller collecting its mail rather
    /// than having it typed): marked delivered in the same transaction, so each message is
    /// handed out exactly once, oldest first, whoever else collects at the same time.
    pub fn take_pending(&mut self, receiver: &str) -> Result<Vec<Message>, StoreError> {
        self.move_pending(receiver, MessageStatus::Delivered)
    }

    /// Moves every pending message of `receiver` to `to` (delivering: claimed by this
    /// process; delivered: handed out) in one immediate transaction, and returns them.
    fn move_pending(
        &mut self,
        receiver: &str,
        to: MessageStatus,
    ) -> Result<Vec<Message>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let messages = pending_in(&tx, receiver)?;
        let now = now_ms();
        for m in &messages {
            match to {
                MessageStatus::Delivering => tx.execute(
                    "UPDATE inbox SET status = 'delivering', claimed_by = ?2, updated_at = ?3, typing_started = 0 WHERE id = ?1",
                    params![m.id, std::process::id(), now],
                )?,
                _ => tx.execute(
                    "UPDATE inbox SET status = ?2, updated_at = ?3 WHERE id = ?1",
                    params![m.id, to.as_str(), now],
                )?,
            };
        }
        tx.commit()?;
        Ok(messages
            .into_iter()
            .map(|m| Message {
                status: to,
                updated_at: now,
                ..m
            })
            .collect())
    }

    /// Notes that typing of claimed messages is about to start: from here on, a deliverer that
    /// dies leaves them `failed` (they may be partly typed) rather than back in the queue.
    pub fn mark_typing(&mut self, ids: &[i64]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for id in ids {
            tx.execute(
                "UPDATE inbox SET typing_started = 1 WHERE id = ?1 AND status = 'delivering'",
                [id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks the messages `ids` for `receiver` delivered, if they are still waiting: another
    /// machine has stored them (a relay's collector). An id acknowledged twice, or not
    /// waiting, is left as it is.
    pub fn acknowledge(&self, receiver: &str, ids: &[i64]) -> Result<usize, StoreError> {
        let now = now_ms();
        let mut done = 0;
        for id in ids {
            done += self.conn.execute(
                "UPDATE inbox SET status = 'delivered', updated_at = ?3 WHERE id = ?1 AND receiver_id = ?2 AND status = 'pending'",
                params![id, receiver, now],
            )?;
        }
        Ok(done)
    }

    /// Records the outcome of typing claimed messages.
    pub fn finish_delivery(&self, ids: &[i64], error: Option<&str>) -> Result<(), StoreError> {
        let status = if error.is_some() {
            MessageStatus::Failed
        } else {
            MessageStatus::Delivered
        };
        let now = now_ms();
        for id in ids {
            self.conn.execute(
                "UPDATE inbox SET status = ?2, error = ?3, updated_at = ?4 WHERE id = ?1 AND status = 'delivering'",
                params![id, status.as_str(), error, now],
            )?;
        }
        Ok(())
    }

    /// Messages left `delivering` by an earlier deliverer that died or gave up before
    /// recording the outcome. Call it holding the receiver's delivery lock: every claim is
    /// made and settled under that lock, and the kernel releases it when its holder dies, so
    /// whatever is still `delivering` then was left behind. Claims whose typing had not begun
    /// go back to the queue (same id, so same place in the order); the others may be partly
    /// typed, so they are marked failed (never retyped, never hidden). Returns how many were
    /// requeued and how many failed.
    pub fn recover_interrupted_claims(
        &mut self,
        receiver: &str,
    ) -> Result<(usize, usize), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = now_ms();
        // Back in the queue, "may be typed" again until a new claim says otherwise.
        let requeued = tx.execute(
            "UPDATE inbox SET status = 'pending', claimed_by = NULL, typing_started = 1, updated_at = ?2
             WHERE receiver_id = ?1 AND status = 'delivering' AND typing_started = 0",
            params![receiver, now],
        )?;
        let failed = tx.execute(
            "UPDATE inbox SET status = 'failed', error = 'the deliverer died while typing it; it may be partly typed', updated_at = ?2
             WHERE receiver_id = ?1 AND status = 'delivering'",
            params![receiver, now],
        )?;
        tx.commit()?;
        Ok((requeued, failed))
    }

    /// Every message to `receiver`, oldest first.
    pub fn inbox(&self, receiver: &str) -> Result<Vec<Message>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, sender_id, receiver_id, body, status, created_at, updated_at, error FROM inbox
             WHERE receiver_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([receiver], message_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One message by id.
    pub fn message(&self, id: i64) -> Result<Option<Message>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, sender_id, receiver_id, body, status, created_at, updated_at, error FROM inbox WHERE id = ?1",
                [id],
                message_from_row,
            )
            .optional()?)
    }
}

/// The pending messages of `receiver`, oldest first, read inside `tx`.
fn pending_in(tx: &rusqlite::Transaction<'_>, receiver: &str) -> rusqlite::Result<Vec<Message>> {
    let mut stmt = tx.prepare(
        "SELECT id, sender_id, receiver_id, body, status, created_at, updated_at, error FROM inbox
         WHERE receiver_id = ?1 AND status = 'pending' ORDER BY id",
    )?;
    let rows = stmt.query_map([receiver], message_from_row)?;
    rows.collect()
}

fn terminal_from_row(r: &Row<'_>) -> rusqlite::Result<TerminalRecord> {
    Ok(TerminalRecord {
        id: r.get(0)?,
        session: r.get(1)?,
        window_id: r.get(2)?,
        pane_id: r.get(3)?,
        provider: r.get(4)?,
        profile: r.get(5)?,
        created_by: r.get(6)?,
        working_dir: r.get(7)?,
        created_at: r.get(8)?,
        last_active: r.get(9)?,
        kind: TerminalKind::parse(&r.get::<_, String>(10)?),
        owner_pid: r.get(11)?,
        // An unreadable list grants nothing rather than everything.
        cao_tools: r
            .get::<_, Option<String>>(12)?
            .map(|text| serde_json::from_str(&text).unwrap_or_default()),
    })
}

fn remote_from_row(r: &Row<'_>) -> rusqlite::Result<RemoteTerminal> {
    Ok(RemoteTerminal {
        id: r.get(0)?,
        host: r.get(1)?,
        profile: r.get(2)?,
        provider: r.get(3)?,
        created_by: r.get(4)?,
        working_dir: r.get(5)?,
        created_at: r.get(6)?,
    })
}

fn worktree_from_row(r: &Row<'_>) -> rusqlite::Result<WorktreeRow> {
    Ok(WorktreeRow {
        terminal_id: r.get(0)?,
        repo: r.get(1)?,
        path: r.get(2)?,
        branch: r.get(3)?,
        base: r.get(4)?,
        notes: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
        created_at: r.get(6)?,
        ended_at: r.get(7)?,
    })
}

fn cao_tools_json(tools: &Option<Vec<String>>) -> Option<String> {
    tools
        .as_ref()
        .map(|list| serde_json::to_string(list).expect("a list of names serializes"))
}

fn message_from_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    let status: String = r.get(4)?;
    Ok(Message {
        id: r.get(0)?,
        sender_id: r.get(1)?,
        receiver_id: r.get(2)?,
        body: r.get(3)?,
        status: MessageStatus::parse(&status),
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
        error: r.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        (dir, s)
    }

    /// Two connections to one store (as two cao processes have), with two messages for
    /// `receiver` queued through the first.
    fn two_with_queued(receiver: &str, bodies: [&str; 2]) -> (tempfile::TempDir, Store, Store) {
        let (dir, a) = store();
        let b = Store::open(dir.path()).unwrap();
        a.enqueue("s1", receiver, bodies[0]).unwrap();
        a.enqueue("s2", receiver, bodies[1]).unwrap();
        (dir, a, b)
    }

    fn bodies(messages: &[Message]) -> Vec<&str> {
        messages.iter().map(|m| m.body.as_str()).collect()
    }

    #[test]
    fn claim_is_exclusive_and_ordered() {
        let (_dir, mut a, mut b) = two_with_queued("r", ["one", "two"]);
        let got = a.claim_pending("r").unwrap();
        assert_eq!(bodies(&got), ["one", "two"]);
        assert!(b.claim_pending("r").unwrap().is_empty());
        a.finish_delivery(&[got[0].id, got[1].id], None).unwrap();
        assert!(
            b.inbox("r")
                .unwrap()
                .iter()
                .all(|m| m.status == MessageStatus::Delivered)
        );
    }

    #[test]
    fn deleting_a_terminal_fails_its_pending_messages() {
        let (_dir, s) = store();
        let m = s.enqueue("user", "abcd1234", "hi").unwrap();
        s.delete_terminal("abcd1234", "receiver exited").unwrap();
        let m = s.message(m.id).unwrap().unwrap();
        assert_eq!(m.status, MessageStatus::Failed);
        assert_eq!(m.error.as_deref(), Some("receiver exited"));
    }

    #[test]
    fn the_data_version_moves_with_other_processes_writes_only() {
        let (dir, display) = store();
        let writer = Store::open(dir.path()).unwrap();
        let before = display.data_version().unwrap();
        display.pending_count("abcd1234").unwrap();
        assert_eq!(
            display.data_version().unwrap(),
            before,
            "reads do not move it"
        );
        writer.enqueue("user", "abcd1234", "hi").unwrap();
        assert_ne!(
            display.data_version().unwrap(),
            before,
            "another's commit does"
        );
    }

    #[test]
    fn newer_schema_is_refused() {
        let (dir, s) = store();
        s.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(s);
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn a_dead_deliverers_claims_are_requeued_unless_typing_had_started() {
        let (_dir, mut s) = store();
        let untyped = s.enqueue("s", "r", "never typed").unwrap();
        let claimed = s.claim_pending("r").unwrap();
        assert_eq!(claimed.len(), 1);
        let typing = s.enqueue("s", "r", "maybe half typed").unwrap();
        s.claim_pending("r").unwrap();
        s.mark_typing(&[typing.id]).unwrap();

        // The deliverer died (or gave up) holding both claims.
        assert_eq!(s.recover_interrupted_claims("r").unwrap(), (1, 1));
        assert_eq!(s.recover_interrupted_claims("r").unwrap(), (0, 0));
        let m = s.message(untyped.id).unwrap().unwrap();
        assert_eq!(m.status, MessageStatus::Pending);
        let m = s.message(typing.id).unwrap().unwrap();
        assert_eq!(m.status, MessageStatus::Failed);
        assert!(m.error.unwrap().contains("partly typed"));
        // The requeued one is claimed again, in its old place.
        let again = s.claim_pending("r").unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, untyped.id);
    }

    #[test]
    fn a_version_1_database_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("cao.db")).unwrap();
            conn.execute_batch(SCHEMA_V1).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO inbox (sender_id, receiver_id, body, status, created_at, updated_at)
                 VALUES ('s', 'r', 'kept', 'pending', 1, 1)",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO terminals (id, session, window_id, pane_id, provider, profile, created_by, working_dir, created_at, last_active)
                 VALUES ('0a1b2c3d', 'cao-x', '@1', '%1', 'fake', 'developer', NULL, '/tmp', 1, 1)",
                [],
            )
            .unwrap();
        }
        {
            // A claim left by the old version may have been typed: it must not be requeued.
            let conn = Connection::open(dir.path().join("cao.db")).unwrap();
            conn.execute(
                "INSERT INTO inbox (sender_id, receiver_id, body, status, created_at, updated_at, claimed_by)
                 VALUES ('s', 'r', 'old claim', 'delivering', 1, 1, 1)",
                [],
            )
            .unwrap();
        }
        let mut s = Store::open(dir.path()).unwrap();
        assert_eq!(s.recover_interrupted_claims("r").unwrap(), (0, 1));
        let version: i64 = s
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let claimed = s.claim_pending("r").unwrap();
        assert_eq!(claimed[0].body, "kept");
        s.mark_typing(&[claimed[0].id]).unwrap();
        // A terminal of the old version is one cao created.
        let old = s.terminal("0a1b2c3d").unwrap().unwrap();
        assert_eq!((old.kind, old.owner_pid), (TerminalKind::Created, None));
    }

    #[test]
    fn taken_messages_are_handed_out_once_in_order() {
        let (_dir, mut a, mut b) = two_with_queued("mbox", ["first", "second"]);
        let got = a.take_pending("mbox").unwrap();
        assert_eq!(bodies(&got), ["first", "second"]);
        assert!(b.take_pending("mbox").unwrap().is_empty());
        assert_eq!(b.pending_count("mbox").unwrap(), 0);
    }
}
