//! `CAO_HOME/run/`: the files cao keeps per terminal while it lives, named in one place.
//! Per terminal: a folder `run/ID/` (the CLI's private configuration, hook events, record
//! set-up, doorbells) and, beside it, the delivery lock, the watcher's pid, the start-up
//! dialog note and the launch spec.

use std::path::{Path, PathBuf};

/// The run directory of one `CAO_HOME`.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory under `home`.
    pub fn new(home: &Path) -> RunDir {
        RunDir {
            root: home.join("run"),
        }
    }

    /// The run directory itself, created when missing.
    pub fn ensure(&self) -> std::io::Result<&Path> {
        std::fs::create_dir_all(&self.root)?;
        Ok(&self.root)
    }

    /// A terminal's own folder.
    pub fn terminal(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// The lock whoever types into a terminal holds.
    pub fn lock(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}.lock"))
    }

    /// The pid of a terminal's watcher.
    pub fn watch_pid(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}.watch.pid"))
    }

    /// The note of the start-up dialog last answered in a terminal.
    pub fn dialog_note(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}.dialog"))
    }

    /// The launch spec `cao _exec` reads (deleted once the CLI has started).
    pub fn exec_spec(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}.exec.json"))
    }

    /// Removes everything kept for a terminal.
    pub fn remove(&self, id: &str) {
        for file in [
            self.lock(id),
            self.watch_pid(id),
            self.dialog_note(id),
            self.exec_spec(id),
        ] {
            let _ = std::fs::remove_file(file);
        }
        let _ = std::fs::remove_dir_all(self.terminal(id));
    }
}
