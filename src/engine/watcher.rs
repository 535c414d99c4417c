//! The per-terminal inbox watcher: `cao _watch ID`, run by tmux `pipe-pane`, so it lives
//! exactly as long as the pane (its stdin is the pane's output and ends when the pane does).
//!
//! Output is only a wake-up hint: when the pane has been quiet for a moment (or every
//! [`BUSY_CHECK`] while output keeps flowing), and messages are waiting, the watcher reads the
//! screen and delivers if the CLI is idle. A slow tick covers a stalled pipe. With an empty
//! inbox it does nothing but block on its pipe and ask SQLite one cheap question per tick.
//! When the pane dies, its undelivered messages are marked failed, and a worker that died
//! before it was ever ready is reported to the terminal that created it.

use std::io::Read;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::{Engine, EngineError};
use crate::env;
use crate::mux::shell_quote;
use crate::providers;
use crate::store::TerminalRecord;

/// Quiet time after output before the screen is read.
const SETTLE: Duration = Duration::from_millis(12);
/// Longest a stream of output (a spinner) can delay a check while messages wait.
const BUSY_CHECK: Duration = Duration::from_millis(150);
/// Tick while messages wait (covers a stalled pipe).
const PENDING_TICK: Duration = Duration::from_millis(500);
/// Least time between two rings of the waiters (handoffs, `cao launch`) while output keeps
/// flowing (a spinner): the last output is always rung, at most this long after it.
const WAITER_RING_GAP: Duration = Duration::from_millis(300);
/// Tick with an empty inbox: only a safety net, since new mail rings the watcher's doorbell
/// and the receiver's output wakes it. Each tick costs ~0.15 ms of CPU (a wake-up and one
/// SQLite query), so it is kept slow: 50 idle terminals cost well under 0.1% of a core.
const IDLE_TICK: Duration = Duration::from_secs(10);

/// Starts (or restarts) the watcher of a terminal through `pipe-pane`.
pub fn arm(engine: &Engine, record: &TerminalRecord) -> Result<(), EngineError> {
    let exe = std::env::current_exe().map_err(|source| EngineError::Io {
        what: "cannot find the cao executable".into(),
        source,
    })?;
    let mut command = format!(
        "{}={} ",
        env::CAO_HOME,
        shell_quote(&engine.home().display().to_string())
    );
    if let Some(socket) = engine.mux.socket() {
        command.push_str(&format!(
            "{}={} ",
            env::CAO_TMUX_SOCKET,
            shell_quote(socket)
        ));
    }
    if let Some(filter) = env::non_empty(env::CAO_LOG) {
        command.push_str(&format!("{}={} ", env::CAO_LOG, shell_quote(&filter)));
    }
    command.push_str(&format!(
        "exec {} _watch {}",
        shell_quote(&exe.display().to_string()),
        record.id
    ));
    // The new watcher writes its pid when it starts; until then it counts as alive.
    let _ = std::fs::remove_file(pid_file(engine, &record.id));
    engine.mux.pipe_pane(&record.pane_id, &command)?;
    Ok(())
}

fn pid_file(engine: &Engine, id: &str) -> std::path::PathBuf {
    engine.run.watch_pid(id)
}

/// The doorbell of the watcher with process id `pid`: a FIFO in the terminal's run directory
/// (named by pid, so a watcher that replaces another never shares or removes its FIFO).
fn doorbell(engine: &Engine, id: &str, pid: u32) -> std::path::PathBuf {
    engine.run.terminal(id).join(format!("watch-{pid}.fifo"))
}

/// Asks the live watcher of `id` to look at its inbox now. Returns `false` when no watcher is
/// listening (none yet, or one that died): the caller then delivers itself, and the watcher
/// that `ensure_watcher` starts checks its inbox as it starts anyway.
///
/// This is how `send_message` hands the typing to the receiver's watcher, a process that lives
/// as long as the pane: an MCP server can be killed at any moment by its CLI, and one killed
/// between paste and Enter would leave a half-submitted message behind.
pub fn ring(engine: &Engine, id: &str) -> bool {
    use std::io::Write;
    let Some(mut fifo) = open_doorbell(engine, id) else {
        return false;
    };
    match fifo.write_all(b"!") {
        Ok(()) => true,
        // A full FIFO holds rings the watcher has not read yet: it will look anyway.
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    }
}

/// The write end of the current watcher's doorbell, if a watcher holds it open.
fn open_doorbell(engine: &Engine, id: &str) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let pid = std::fs::read_to_string(pid_file(engine, id))
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())?;
    // Non-blocking: opening a FIFO nobody reads fails at once (ENXIO) instead of waiting.
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(doorbell(engine, id, pid))
        .ok()
}

/// Creates this watcher's doorbell and forwards each ring as an event. Without one (the FIFO
/// cannot be made) senders deliver themselves, as before.
fn listen_for_rings(
    engine: &Engine,
    id: &str,
    tx: mpsc::Sender<Event>,
) -> Option<std::path::PathBuf> {
    let path = doorbell(engine, id, std::process::id());
    std::fs::create_dir_all(path.parent()?).ok()?;
    let _ = std::fs::remove_file(&path);
    if let Err(e) = make_fifo(&path) {
        tracing::warn!("cannot create {}: {e}", path.display());
        return None;
    }
    // Read and write: the FIFO never reports end-of-file when a ringer closes it.
    let mut fifo = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .ok()?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while matches!(fifo.read(&mut buf), Ok(n) if n > 0) {
            if tx.send(Event::Ring).is_err() {
                return;
            }
        }
    });
    Some(path)
}

/// Whether the watcher that last started for `id` has died. tmux only notices a dead pipe
/// reader when the pane next prints, so the pid is checked as well as the pane's pipe flag.
pub fn is_dead(engine: &Engine, id: &str) -> bool {
    match std::fs::read_to_string(pid_file(engine, id)) {
        Ok(pid) => pid
            .trim()
            .parse::<u32>()
            .map_or(true, |pid| !super::callers::process_alive(pid)),
        Err(_) => false,
    }
}

enum Event {
    Output,
    /// Someone queued mail and rang the doorbell.
    Ring,
    Closed,
}

/// Runs the watcher loop for `id` until the pane's output stream ends.
pub fn run(engine: &Engine, id: &str) -> Result<(), EngineError> {
    let record = engine.terminal(id)?;
    let (tx, rx) = mpsc::channel();
    // The doorbell exists before the pid file names this watcher, so a ringer that finds the
    // pid finds the FIFO too.
    let bell = listen_for_rings(engine, id, tx.clone());
    let _ = std::fs::write(pid_file(engine, id), std::process::id().to_string());
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 8192];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Event::Closed);
                    return;
                }
                Ok(_) => {
                    if tx.send(Event::Output).is_err() {
                        return;
                    }
                }
            }
        }
    });

    let run_dir = engine.run.terminal(id);
    let mut ready = false;
    let mut dirty_since: Option<Instant> = None;
    // Output not yet reported to the waiters, and when they were last rung.
    let mut waiters_owed = false;
    let mut waiters_rung = Instant::now();
    // Check at once: the CLI may have drawn its prompt before the pipe was attached.
    let mut check_now = true;
    loop {
        if check_now {
            check_now = false;
            dirty_since = None;
            ready |= check(engine, &record, ready);
        }
        let pending = engine.store().has_undelivered(id).unwrap_or(false);
        let wait = match dirty_since {
            Some(since) if pending || !ready => {
                SETTLE.min(BUSY_CHECK.saturating_sub(since.elapsed()))
            }
            _ if waiters_owed => SETTLE.max(WAITER_RING_GAP.saturating_sub(waiters_rung.elapsed())),
            Some(_) => IDLE_TICK,
            None if pending || !ready => PENDING_TICK,
            None => IDLE_TICK,
        };
        let event = rx.recv_timeout(wait);
        // Waiters hear of output when it settles, and at most every WAITER_RING_GAP while
        // it flows: a handoff then looks at the record and screen when something changed.
        match event {
            Ok(Event::Output) => {
                waiters_owed = true;
                if waiters_rung.elapsed() >= WAITER_RING_GAP {
                    ring_waiters(&run_dir);
                    waiters_owed = false;
                    waiters_rung = Instant::now();
                }
            }
            Err(RecvTimeoutError::Timeout) if waiters_owed => {
                ring_waiters(&run_dir);
                waiters_owed = false;
                waiters_rung = Instant::now();
            }
            _ => {}
        }
        match event {
            Ok(Event::Output) => {
                dirty_since.get_or_insert_with(Instant::now);
                if dirty_since.is_some_and(|s| s.elapsed() >= BUSY_CHECK) && (pending || !ready) {
                    check_now = true;
                }
            }
            Ok(Event::Ring) => check_now = true,
            Ok(Event::Closed) | Err(RecvTimeoutError::Disconnected) => break,
            // A tick reads the screen only when there is work: mail waiting (a stalled pipe
            // must not strand it) or a CLI not yet seen ready. An idle terminal with an empty
            // inbox then costs one SQLite query per tick and no tmux call (a capture on every
            // tick made 10 idle terminals cost ~1% of a core). Mail that arrives during an idle
            // wait is seen by the query at the top of the loop and checked a PENDING_TICK later.
            Err(RecvTimeoutError::Timeout) => check_now = pending || !ready,
        }
    }
    if let Some(bell) = bell {
        let _ = std::fs::remove_file(bell);
    }
    // A waiting handoff learns at once that the pane is gone.
    ring_waiters(&run_dir);
    on_pane_closed(engine, &record, ready)
}

/// One look at the terminal: answer start-up dialogs, note readiness, deliver waiting mail.
/// Returns whether the CLI has been seen ready.
fn check(engine: &Engine, record: &TerminalRecord, was_ready: bool) -> bool {
    let Ok(provider) = providers::get(&record.provider) else {
        return was_ready;
    };
    let Ok(screen) = engine.mux.capture(&record.pane_id) else {
        return was_ready;
    };
    if provider.startup_keys(&screen).is_some() {
        if let Err(e) = engine.answer_dialog(record, provider) {
            tracing::warn!(terminal = %record.id, "cannot answer a start-up dialog: {e}");
        }
        return was_ready;
    }
    let ready = was_ready || provider.status(&screen).accepts_input();
    if ready {
        match engine.deliver(&record.id) {
            Ok(_) => {}
            Err(e) => tracing::warn!(terminal = %record.id, "delivery failed: {e}"),
        }
    }
    ready
}

/// The pipe ended: either the pane died (clean up, report) or the pipe was replaced.
fn on_pane_closed(
    engine: &Engine,
    record: &TerminalRecord,
    ready: bool,
) -> Result<(), EngineError> {
    if engine.mux.pane(&record.pane_id)?.is_some() {
        return Ok(()); // Re-armed by someone else; the new watcher takes over.
    }
    let task = engine
        .store()
        .inbox(&record.id)?
        .into_iter()
        .find(|m| m.status == crate::store::MessageStatus::Pending);
    engine.forget(record, "exited")?;
    if !ready && let Some(creator) = &record.created_by {
        let mut note = format!(
            "[cao] worker {} ({} on {}) exited during start-up, before it could take its task.",
            record.id, record.profile, record.provider
        );
        if let Some(task) = task {
            let preview: String = task.body.chars().take(200).collect();
            note.push_str(&format!(" Its task was not delivered: {preview}"));
        }
        note.push_str(" Check that the CLI starts in a terminal, then assign the task again.");
        match engine.post(&record.id, creator, &note) {
            Ok(_) => {}
            Err(e) => tracing::warn!("could not tell {creator} about {}: {e}", record.id),
        }
    }
    Ok(())
}

/// Prefix of the doorbells of processes waiting on a terminal's turn (a handoff): each
/// waiter owns one FIFO in the terminal's run directory, rung by hook events and by the
/// watcher when the pane's output settles.
const WAITER_PREFIX: &str = "waiter-";

/// A doorbell for one waiting process: block on it with [`Waiter::wait`] instead of
/// polling the screen.
pub struct Waiter {
    path: std::path::PathBuf,
    fifo: Option<std::fs::File>,
}

impl Waiter {
    /// Creates a doorbell in `run_dir` (the terminal's run directory). Without one (the
    /// FIFO cannot be made) `wait` just sleeps, and the caller's ticks still notice changes.
    pub fn new(run_dir: &std::path::Path) -> Waiter {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = run_dir.join(format!(
            "{WAITER_PREFIX}{}-{}.fifo",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::create_dir_all(run_dir);
        let _ = std::fs::remove_file(&path);
        let made = make_fifo(&path).is_ok();
        let fifo = made
            .then(|| {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&path)
                    .ok()
            })
            .flatten();
        Waiter { path, fifo }
    }

    /// Blocks until the doorbell rings or `timeout` passes; returns whether it rang. Rings
    /// that came while nobody waited count: they wait in the FIFO.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec};
        let Some(fifo) = &mut self.fifo else {
            std::thread::sleep(timeout);
            return false;
        };
        // Capped as poll(2)'s millisecond timeout was (about 24 days).
        let timeout = timeout.min(Duration::from_millis(i32::MAX as u64));
        let timeout = Timespec::try_from(timeout).ok();
        let ready =
            rustix::event::poll(&mut [PollFd::new(&*fifo, PollFlags::IN)], timeout.as_ref())
                .is_ok_and(|n| n > 0);
        if ready {
            let mut buf = [0u8; 256];
            while matches!(fifo.read(&mut buf), Ok(n) if n > 0) {}
        }
        ready
    }
}

/// Makes a FIFO readable and writable by this user only (`mkfifo(path, 0600)`).
fn make_fifo(path: &std::path::Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, Mode};
    Ok(rustix::fs::mkfifoat(CWD, path, Mode::RUSR | Mode::WUSR)?)
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Rings every doorbell in a terminal's run directory: its watcher's and its waiters'.
/// Cheap when nobody waits (one directory listing).
pub fn ring_all(run_dir: &std::path::Path) {
    ring_matching(run_dir, |name| name.ends_with(".fifo"));
}

/// Rings only the waiters of a terminal (the watcher's own output is what it reports).
fn ring_waiters(run_dir: &std::path::Path) {
    ring_matching(run_dir, |name| name.starts_with(WAITER_PREFIX));
}

fn ring_matching(run_dir: &std::path::Path, wanted: impl Fn(&str) -> bool) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !wanted(&entry.file_name().to_string_lossy()) {
            continue;
        }
        // Non-blocking: a FIFO whose reader is gone fails at once instead of waiting.
        if let Ok(mut fifo) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(entry.path())
        {
            let _ = fifo.write_all(b"!");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_hears_rings_sent_before_and_while_it_waits() {
        let dir = tempfile::tempdir().unwrap();
        let mut waiter = Waiter::new(dir.path());
        let fifo = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(WAITER_PREFIX))
            .expect("the waiter's FIFO");
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let meta = fifo.metadata().unwrap();
        assert!(meta.file_type().is_fifo());
        assert_eq!(meta.permissions().mode() & 0o077, 0, "private to this user");

        assert!(!waiter.wait(Duration::from_millis(20)), "nobody rang");
        ring_all(dir.path());
        assert!(
            waiter.wait(Duration::from_secs(5)),
            "a ring that waited counts"
        );
        assert!(!waiter.wait(Duration::from_millis(20)), "and is read once");
        let path = dir.path().to_path_buf();
        let ringer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            ring_waiters(&path);
        });
        let start = Instant::now();
        assert!(waiter.wait(Duration::from_secs(5)));
        assert!(start.elapsed() < Duration::from_secs(4));
        ringer.join().unwrap();
        drop(waiter);
        assert!(!fifo.path().exists(), "removed on drop");
    }
}
