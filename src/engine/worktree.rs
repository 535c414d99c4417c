//! A git worktree per worker (`use_worktree`): parallel workers on one repository each edit
//! their own checkout, on their own branch, and nothing a worker did is ever thrown away.
//!
//! A worktree lives in the repository under `.cao/worktrees/<profile>-<terminal>` (kept out of
//! `git status` through the repository's own `info/exclude`, not the user's `.gitignore`), on
//! branch `cao/<profile>-<terminal>` from the repository's HEAD. When its terminal ends, a
//! worktree with no uncommitted changes is removed, and its branch too when it has no commits
//! of its own; anything else is kept and reported.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Serialize;

use crate::store::WorktreeRow;

/// Folder of the repository, relative to its top level, that holds cao's worktrees.
pub const WORKTREES_DIR: &str = ".cao/worktrees";
/// How often a git command that lost a race for one of git's lock files is tried.
const LOCK_ATTEMPTS: u32 = 40;
/// Most uncommitted paths listed in a report.
const LISTED_PATHS: usize = 20;

/// What can go wrong with a worktree.
#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    /// The working directory is not inside a git repository.
    #[error(
        "{} is not inside a git repository, so there is nothing to make a worktree of; leave use_worktree out, or start the worker in a repository",
        .0.display()
    )]
    NotARepository(PathBuf),
    /// The repository has no commit to start from.
    #[error(
        "the repository at {} has no commits yet; commit something first, or leave use_worktree out",
        .0.display()
    )]
    NoCommit(PathBuf),
    /// git is not installed.
    #[error("git is not installed (or not on PATH); install git to use worktrees")]
    NoGit(#[source] std::io::Error),
    /// A file of cao's in the repository's git folder could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What cao was doing.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A git command failed.
    #[error("git {command} failed in {}: {stderr}", .dir.display())]
    Git {
        /// The git subcommand and its arguments.
        command: String,
        /// Where it ran.
        dir: PathBuf,
        /// What git said.
        stderr: String,
    },
}

/// A worktree just made for a new worker.
#[derive(Debug, Clone)]
pub struct NewWorktree {
    /// What the store keeps of it.
    pub row: WorktreeRow,
    /// Where the worker starts: the worktree, or the same sub-folder of it as the directory
    /// asked for.
    pub start_dir: PathBuf,
}

/// A worktree's state now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct WorktreeState {
    /// The worktree's folder.
    pub path: String,
    /// Its branch.
    pub branch: String,
    /// Whether it holds uncommitted changes (untracked files included).
    pub dirty: bool,
    /// Commits on its branch since the worker started.
    pub ahead: u32,
}

impl WorktreeState {
    /// The branch as `cao list` and `cao tui` show it (`cao/developer-1a2b3c4d*+2`): `*`
    /// for uncommitted changes, `+N` for the commits since the worker started.
    pub fn label(&self) -> String {
        let dirty = if self.dirty { "*" } else { "" };
        let ahead = if self.ahead > 0 {
            format!("+{}", self.ahead)
        } else {
            String::new()
        };
        format!("{}{dirty}{ahead}", self.branch)
    }
}

/// What became of a worktree when its terminal ended (or `cao worktrees clean` looked at it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WorktreeOutcome {
    /// It held nothing: removed, and its branch deleted when it had no commits of its own.
    Removed {
        /// Its folder (gone).
        path: String,
        /// Its branch.
        branch: String,
        /// Whether the branch was deleted too (it had no commits of its own).
        branch_deleted: bool,
    },
    /// It holds work: left where it is.
    Kept {
        /// Its folder.
        path: String,
        /// Its branch.
        branch: String,
        /// Commits on the branch since the worker started.
        ahead: u32,
        /// Uncommitted paths, as `git status --porcelain` lists them (at most 20).
        uncommitted: Vec<String>,
        /// Why it was kept, in a sentence.
        reason: String,
    },
}

/// Makes a worktree for terminal `terminal_id` of profile `profile`, from the repository
/// holding `dir`. `notes` get what the caller should know (a dirty main checkout, submodules).
pub fn create(
    dir: &Path,
    profile: &str,
    terminal_id: &str,
    notes: &mut Vec<String>,
) -> Result<NewWorktree, WorktreeError> {
    let top = match git(dir, &["rev-parse", "--show-toplevel"]) {
        Ok(out) => PathBuf::from(out.trim()),
        Err(WorktreeError::Git { .. }) => {
            return Err(WorktreeError::NotARepository(dir.to_path_buf()));
        }
        Err(e) => return Err(e),
    };
    let base = git(&top, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
        .map_err(|_| WorktreeError::NoCommit(top.clone()))?
        .trim()
        .to_string();
    if !git(&top, &["status", "--porcelain", "--untracked-files=no"])?
        .trim()
        .is_empty()
    {
        notes.push(format!(
            "the main checkout has uncommitted changes; the worktree starts from HEAD ({}) without them",
            short(&base)
        ));
    }
    // git itself races when worktrees of one repository are added at the same time (one
    // `worktree add` reads another's half-made admin folder): cao's own take turns.
    let common = common_dir(&top)?;
    let _turn = repo_lock(&common)?;
    exclude_worktrees(&common)?;
    let name = format!("{profile}-{terminal_id}");
    let branch = format!("cao/{name}");
    let path = top.join(WORKTREES_DIR).join(&name);
    let path_arg = path.display().to_string();
    git_retrying_locks(&top, &["worktree", "add", "-b", &branch, &path_arg, &base])?;
    if top.join(".gitmodules").is_file()
        && let Err(e) = git(&path, &["submodule", "update", "--init", "--recursive"])
    {
        notes.push(format!(
            "the repository's submodules could not be checked out in the worktree ({}); they are empty there",
            first_line(&e.to_string())
        ));
    }
    let relative = dir
        .canonicalize()
        .ok()
        .and_then(|d| {
            let top = top.canonicalize().ok()?;
            d.strip_prefix(&top).ok().map(Path::to_path_buf)
        })
        .unwrap_or_default();
    let mut start_dir = if relative.as_os_str().is_empty() {
        path.clone()
    } else {
        path.join(&relative)
    };
    if !start_dir.is_dir() {
        notes.push(format!(
            "{} is not in the repository's HEAD; the worker starts at the worktree's top",
            relative.display()
        ));
        start_dir = path.clone();
    }
    Ok(NewWorktree {
        row: WorktreeRow {
            terminal_id: terminal_id.to_string(),
            repo: top.display().to_string(),
            path: path_arg,
            branch,
            base,
            notes: notes.clone(),
            created_at: crate::store::now_ms(),
            ended_at: None,
        },
        start_dir,
    })
}

/// The worktree's state, or `None` when its folder is gone.
pub fn state(row: &WorktreeRow) -> Option<WorktreeState> {
    let path = Path::new(&row.path);
    let dirty = !uncommitted(path).ok()?.is_empty();
    Some(WorktreeState {
        path: row.path.clone(),
        branch: row.branch.clone(),
        dirty,
        ahead: ahead(row).unwrap_or(0),
    })
}

/// Removes the worktree when it holds nothing (and its branch when it has no commits of
/// its own); otherwise keeps it and says what it holds. Never discards uncommitted work.
pub fn finish(row: &WorktreeRow) -> WorktreeOutcome {
    let path = Path::new(&row.path);
    let repo = Path::new(&row.repo);
    let kept = |ahead: u32, uncommitted: Vec<String>, reason: String| WorktreeOutcome::Kept {
        path: row.path.clone(),
        branch: row.branch.clone(),
        ahead,
        uncommitted,
        reason,
    };
    let ahead = ahead(row).unwrap_or(0);
    if path.is_dir() {
        let changes = match uncommitted(path) {
            Ok(changes) => changes,
            Err(e) => return kept(ahead, Vec::new(), format!("cannot read its state: {e}")),
        };
        if !changes.is_empty() {
            let count = changes.len();
            let listed = changes.into_iter().take(LISTED_PATHS).collect();
            return kept(
                ahead,
                listed,
                format!("it has {count} uncommitted change(s)"),
            );
        }
        let path_arg = row.path.clone();
        // Best effort: a removal without the turn is still git's own, lock-checked one.
        let _turn = common_dir(repo).and_then(|common| repo_lock(&common));
        if let Err(e) = git_retrying_locks(repo, &["worktree", "remove", &path_arg]) {
            return kept(ahead, Vec::new(), format!("it could not be removed: {e}"));
        }
    } else {
        // Gone already (removed by hand): let git forget it too.
        let _ = git(repo, &["worktree", "prune"]);
    }
    let branch_deleted =
        ahead == 0 && git_retrying_locks(repo, &["branch", "-D", &row.branch]).is_ok();
    if ahead > 0 {
        return WorktreeOutcome::Kept {
            path: row.path.clone(),
            branch: row.branch.clone(),
            ahead,
            uncommitted: Vec::new(),
            reason: format!(
                "its folder was removed (nothing uncommitted) but its branch has {ahead} commit(s) of its own"
            ),
        };
    }
    WorktreeOutcome::Removed {
        path: row.path.clone(),
        branch: row.branch.clone(),
        branch_deleted,
    }
}

impl WorktreeOutcome {
    /// Whether anything of it is left (a folder or a branch with work).
    pub fn is_kept(&self) -> bool {
        matches!(self, WorktreeOutcome::Kept { .. })
    }

    /// One sentence for a result message.
    pub fn sentence(&self) -> String {
        match self {
            WorktreeOutcome::Removed { path, branch, .. } => {
                format!("its worktree {path} held nothing and was removed (branch {branch})")
            }
            WorktreeOutcome::Kept {
                path,
                branch,
                reason,
                ..
            } => format!("its worktree {path} (branch {branch}) was kept: {reason}"),
        }
    }
}

/// Uncommitted paths of the worktree at `path` (untracked ones included).
fn uncommitted(path: &Path) -> Result<Vec<String>, WorktreeError> {
    Ok(git(path, &["status", "--porcelain"])?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect())
}

/// Commits on the worktree's branch since its base.
fn ahead(row: &WorktreeRow) -> Result<u32, WorktreeError> {
    let range = format!("{}..{}", row.base, row.branch);
    Ok(git(Path::new(&row.repo), &["rev-list", "--count", &range])?
        .trim()
        .parse()
        .unwrap_or(0))
}

/// The repository's git folder shared by all its worktrees (`.git` of the main checkout).
fn common_dir(top: &Path) -> Result<PathBuf, WorktreeError> {
    let common = git(
        top,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )?;
    Ok(PathBuf::from(common.trim()))
}

/// Holds cao's lock on the repository's worktrees (a file in its git folder) while alive.
fn repo_lock(common: &Path) -> Result<std::fs::File, WorktreeError> {
    let path = common.join("cao-worktrees.lock");
    let io = |source| WorktreeError::Io {
        what: format!("cannot lock {}", path.display()),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    file.lock().map_err(io)?;
    Ok(file)
}

/// Adds `/.cao/` to the repository's own exclude file (shared by all its worktrees), once.
fn exclude_worktrees(common: &Path) -> Result<(), WorktreeError> {
    let exclude = common.join("info").join("exclude");
    let line = "/.cao/";
    let existing = std::fs::read_to_string(&exclude).unwrap_or_default();
    if existing.lines().any(|l| l.trim() == line) {
        return Ok(());
    }
    let io = |source| WorktreeError::Io {
        what: format!("cannot add cao's folder to {}", exclude.display()),
        source,
    };
    if let Some(parent) = exclude.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# cao's worker worktrees\n/.cao/\n");
    std::fs::write(&exclude, text).map_err(io)
}

/// Runs a git command that takes one of git's lock files, trying again while another git
/// process holds it (parallel workers on one repository).
fn git_retrying_locks(dir: &Path, args: &[&str]) -> Result<String, WorktreeError> {
    let mut attempt = 0;
    loop {
        match git(dir, args) {
            Err(WorktreeError::Git { stderr, .. })
                if attempt + 1 < LOCK_ATTEMPTS && stderr.contains(".lock") =>
            {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(25 * u64::from(attempt.min(8))));
            }
            other => return other,
        }
    }
}

/// Runs `git -C dir args...` (no stdin, no prompts) and returns its stdout.
fn git(dir: &Path, args: &[&str]) -> Result<String, WorktreeError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(WorktreeError::NoGit)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(WorktreeError::Git {
            command: args.join(" "),
            dir: dir.to_path_buf(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
