//! Starting a terminal. The CLI is not handed to tmux as a command line: tmux runs
//! `cao _exec SPEC`, which reads the argv and environment from a private file and `exec`s the
//! CLI. No shell, no quoting, no 4 KB line limit, no tmux argument parsing of user text, and
//! the window closes when the CLI exits.

use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    CreateRequest, Engine, EngineError, SESSION_PREFIX, USER_SENDER, check_message,
    mcp_servers_for, new_terminal_id, validate_session_name, watcher, workdir, worktree,
};
use crate::config::{ProviderSettings, Setting};
use crate::env;
use crate::mux::{Mux, WindowSpec};
use crate::providers::{self, LaunchSpec, ProviderError};
use crate::store::{TerminalKind, TerminalRecord, now_ms};

/// The config file's `[providers.NAME]` settings for this provider and its agent directory.
fn provider_settings(engine: &Engine, provider: &str) -> (ProviderSettings, Option<PathBuf>) {
    let config = engine.config();
    let agents_dir = config.agents_dir(provider).map(|s| s.value);
    let overrides = config.providers.get(provider).cloned().unwrap_or_default();
    (overrides, agents_dir)
}

/// A configured `executable`, checked before any window exists. The provider's `CAO_*_BIN`
/// variable still beats it (the environment is the more specific, per-run choice).
fn configured_executable(
    provider: &'static str,
    configured: &Setting<PathBuf>,
) -> Result<PathBuf, EngineError> {
    let path = &configured.value;
    if path.is_absolute() && providers::is_executable(path) {
        return Ok(path.clone());
    }
    Err(ProviderError::Config {
        provider,
        reason: format!(
            "`executable` ({}) is '{}', which is not an absolute path to an executable file; \
             fix it or remove it (see `cao config`)",
            configured.origin,
            path.display()
        ),
    }
    .into())
}

/// A provider that cannot be used (unknown, or its CLI not installed) as an error that names
/// the providers that can.
fn unavailable(engine: &Engine, error: EngineError) -> EngineError {
    match error {
        EngineError::Provider(
            e @ (ProviderError::Unknown(_) | ProviderError::NotInstalled { .. }),
        ) => EngineError::ProviderUnavailable {
            reason: e.to_string(),
            installed: engine.installed_providers(),
        },
        other => other,
    }
}

/// A model name asked for per call, refused when a CLI could read it as a flag (it goes on
/// the CLI's command line) or it holds characters no model name has.
fn checked_model(model: &str) -> Result<&str, EngineError> {
    let ok = model.len() <= 200
        && !model.starts_with('-')
        && model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@'));
    if ok {
        Ok(model)
    } else {
        Err(EngineError::InvalidModel(model.to_string()))
    }
}

/// What `cao _exec` needs to become the agent CLI.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExecSpec {
    /// The CLI's argv; the first element is an absolute path.
    pub argv: Vec<String>,
    /// Environment to set on top of what tmux gives the pane.
    pub env: BTreeMap<String, String>,
}

pub(super) fn create(engine: &Engine, req: CreateRequest) -> Result<TerminalRecord, EngineError> {
    let mut profile = engine.profile(&req.profile)?;
    let provider = engine
        .resolve_provider(req.provider.as_deref(), &profile, req.caller.as_ref())
        .map_err(|e| unavailable(engine, e))?;
    let (overrides, agents_dir) = provider_settings(engine, provider.name());
    let executable = match (
        &overrides.executable,
        env::non_empty(provider.executable_var()),
    ) {
        (Some(configured), None) => configured_executable(provider.name(), configured)?,
        _ => provider
            .executable()
            .map_err(|e| unavailable(engine, e.into()))?,
    };
    if let Some(model) = req.model.as_deref().filter(|m| !m.is_empty()) {
        profile.model = Some(checked_model(model)?.to_string());
    }
    if profile.model.as_deref().is_none_or(str::is_empty) {
        profile.model = overrides.model.map(|m| m.value);
    }
    let working_dir = match &req.working_dir {
        Some(dir) => workdir::validate(dir)?,
        None => workdir::validate(&default_working_dir(engine, req.caller.as_ref()))?,
    };
    if let Some(message) = &req.initial_message {
        check_message(message)?;
    }
    let id = new_terminal_id();
    // A worktree is the last thing made before the window; if the window cannot be made,
    // the guard removes it again.
    let mut worktree = WorktreeGuard { engine, row: None };
    let working_dir = if req.use_worktree {
        let mut notes = Vec::new();
        let made = worktree::create(&working_dir, &profile.name, &id, &mut notes)?;
        engine.store().insert_worktree(&made.row)?;
        worktree.row = Some(made.row);
        made.start_dir
    } else {
        working_dir
    };

    let mux = engine.mux.as_ref();
    let caller_session = req
        .caller
        .as_ref()
        // Only a session cao made: workers of an adopted supervisor go into a cao session of
        // their own, which `cao shutdown` may end without touching the user's session.
        .filter(|c| req.join_caller_session && c.kind == TerminalKind::Created)
        .map(|c| c.session.clone())
        .filter(|s| mux.has_session(s).unwrap_or(false));
    let session = match (&caller_session, &req.session_name) {
        (Some(s), _) => s.clone(),
        (None, Some(name)) => {
            validate_session_name(name)?;
            let name = super::cao_session_name(name);
            if mux.has_session(&name)? {
                return Err(EngineError::SessionExists(name));
            }
            name
        }
        (None, None) => format!("{SESSION_PREFIX}{id}"),
    };

    let run_dir = engine.run_dir()?;
    let scratch = run_dir.terminal(&id);
    std::fs::create_dir_all(&scratch).map_err(|source| EngineError::Io {
        what: format!("cannot create {}", scratch.display()),
        source,
    })?;
    let spec = LaunchSpec {
        terminal_id: &id,
        agent: &profile.agent(),
        mcp_servers: mcp_servers_for(engine, &id, &profile),
        yolo: req.yolo,
        working_dir: &working_dir,
        scratch_dir: &scratch,
        cao_home: engine.home(),
        agents_dir,
    };
    let mut argv = provider.command(&executable, &spec)?;
    if let Some(args) = overrides.args {
        argv.extend(args.value);
    }
    let mut child_env = inherited_env();
    child_env.insert(env::CAO_TERMINAL_ID.into(), id.clone());
    child_env.insert(env::CAO_HOME.into(), engine.home().display().to_string());
    if let Some(socket) = mux.socket() {
        child_env.insert(env::CAO_TMUX_SOCKET.into(), socket.to_string());
    }
    if req.yolo {
        child_env.insert(env::CAO_YOLO.into(), "1".into());
    }
    child_env.extend(provider.env(&spec));
    let spec_path = run_dir.exec_spec(&id);
    write_private(
        &spec_path,
        &serde_json::to_vec(&ExecSpec {
            argv,
            env: child_env,
        })
        .expect("exec spec serializes"),
    )
    .map_err(|source| EngineError::Io {
        what: format!("cannot write {}", spec_path.display()),
        source,
    })?;

    let cao = std::env::current_exe().map_err(|source| EngineError::Io {
        what: "cannot find the cao executable".into(),
        source,
    })?;
    let tmux_argv = vec![
        cao.display().to_string(),
        "_exec".to_string(),
        spec_path.display().to_string(),
    ];
    let window_name = format!("{}-{}", profile.name, id);
    let cwd = working_dir.display().to_string();
    let window = WindowSpec {
        session: &session,
        name: &window_name,
        cwd: &cwd,
        argv: &tmux_argv,
    };
    let pane = if caller_session.is_some() {
        mux.new_window(&window)
    } else {
        mux.new_session(&window)
    };
    let pane = match pane {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(&spec_path);
            return Err(e.into());
        }
    };
    warn_if_socket_is_shared(mux);
    let now = now_ms();
    let record = TerminalRecord {
        id: id.clone(),
        session,
        window_id: pane.window_id.clone(),
        pane_id: pane.pane_id.clone(),
        provider: provider.name().to_string(),
        profile: profile.name.clone(),
        created_by: req.caller.as_ref().map(|c| c.id.clone()),
        working_dir: cwd,
        created_at: now,
        last_active: now,
        kind: TerminalKind::Created,
        owner_pid: None,
        cao_tools: profile.cao_tools.clone(),
    };
    engine.store().insert_terminal(&record)?;
    // The terminal owns its worktree now: it is finished when the terminal ends.
    worktree.row = None;
    if let Some(message) = &req.initial_message {
        let sender = req
            .caller
            .as_ref()
            .map_or(USER_SENDER.to_string(), |c| c.id.clone());
        engine.store().enqueue(&sender, &id, message)?;
    }
    if let Err(e) = watcher::arm(engine, &record) {
        // The CLI may already have exited and taken its window with it.
        if engine.mux.pane(&record.pane_id)?.is_none() {
            return Err(engine.exited(&record, "while starting"));
        }
        return Err(e);
    }
    tracing::info!(terminal = %id, provider = provider.name(), profile = %profile.name, "terminal created");
    Ok(record)
}

fn default_working_dir(engine: &Engine, caller: Option<&TerminalRecord>) -> PathBuf {
    if let Some(caller) = caller
        && let Ok(Some(pane)) = engine.mux.pane(&caller.pane_id)
    {
        return PathBuf::from(pane.current_path);
    }
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

/// The caller's environment minus the variables that would make the new CLI think it is
/// nested in another agent or tmux client (and minus `TERM`, which tmux sets for the pane).
fn inherited_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| k != "TERM" && !env::NESTING_MARKERS.contains(&k.as_str()))
        .collect()
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

/// `cao _exec SPEC`: becomes the CLI described by the spec file (deleted once read).
/// Returns only on failure.
pub fn exec_from_spec(path: &Path) -> std::io::Error {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let _ = std::fs::remove_file(path);
    let spec: ExecSpec = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => return std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    };
    let Some((program, args)) = spec.argv.split_first() else {
        return std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty argv");
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    for marker in env::NESTING_MARKERS {
        if !matches!(*marker, "TMUX" | "TMUX_PANE") {
            cmd.env_remove(marker);
        }
    }
    cmd.envs(&spec.env);
    cmd.exec()
}

/// Removes a worktree made for a terminal that then failed to start.
struct WorktreeGuard<'a> {
    engine: &'a Engine,
    row: Option<crate::store::WorktreeRow>,
}

impl Drop for WorktreeGuard<'_> {
    fn drop(&mut self) {
        if let Some(row) = self.row.take() {
            let outcome = worktree::finish(&row);
            if !outcome.is_kept() {
                let _ = self.engine.store().delete_worktree(&row.terminal_id);
            }
        }
    }
}

/// Warns once per process (stderr and log) when other users can reach the tmux server's
/// socket: whoever can reach it can type into every agent and read every screen.
fn warn_if_socket_is_shared(mux: &dyn Mux) {
    static CHECKED: std::sync::Once = std::sync::Once::new();
    CHECKED.call_once(|| {
        if let Ok(Some(socket)) = mux.socket_path()
            && let Some(problem) = socket_exposure(&socket)
        {
            eprintln!("warning: {problem}");
            tracing::warn!("{problem}");
        }
    });
}

/// What makes `socket` reachable by other users, if anything: connecting takes search
/// permission on its folder and write permission on the socket (tmux's own default, a 0700
/// folder, keeps a group-writable socket private).
fn socket_exposure(socket: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).ok().map(|m| m.permissions().mode());
    let dir = socket.parent()?;
    let (socket_mode, dir_mode) = (mode(socket)?, mode(dir)?);
    let group = socket_mode & 0o020 != 0 && dir_mode & 0o010 != 0;
    let others = socket_mode & 0o002 != 0 && dir_mode & 0o001 != 0;
    if group || others {
        return Some(format!(
            "the tmux socket {} can be used by other users (socket mode {:o}, folder mode {:o}): they can type into every agent; restrict it (`chmod 700 {}`) or use a private socket (CAO_TMUX_SOCKET)",
            socket.display(),
            socket_mode & 0o777,
            dir_mode & 0o7777,
            dir.display()
        ));
    }
    // In a folder others may write to (unless it is sticky, as /tmp is) they can replace it.
    (dir_mode & 0o022 != 0 && dir_mode & 0o1000 == 0).then(|| {
        format!(
            "the tmux socket's folder {} is writable by other users (mode {:o}): they can replace the socket; make it private (`chmod 700 {}`)",
            dir.display(),
            dir_mode & 0o7777,
            dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_socket_or_folder_other_users_can_reach_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("tmux-1000");
        std::fs::create_dir(&folder).unwrap();
        let socket = folder.join("default");
        std::fs::write(&socket, "").unwrap();
        let set = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set(&folder, 0o700);
        set(&socket, 0o660);
        assert_eq!(
            socket_exposure(&socket),
            None,
            "tmux's own modes are private"
        );
        set(&folder, 0o750);
        let problem = socket_exposure(&socket).unwrap();
        assert!(
            problem.contains("socket mode 660, folder mode 750"),
            "{problem}"
        );
        set(&socket, 0o600);
        assert_eq!(
            socket_exposure(&socket),
            None,
            "the group may look but not connect"
        );
        set(&socket, 0o666);
        set(&folder, 0o711);
        assert!(socket_exposure(&socket).unwrap().contains("other users"));
        set(&socket, 0o600);
        set(&folder, 0o777);
        assert!(
            socket_exposure(&socket)
                .unwrap()
                .contains("writable by other users")
        );
        set(&folder, 0o1777);
        assert_eq!(socket_exposure(&socket), None, "a sticky folder, like /tmp");
        assert_eq!(socket_exposure(&dir.path().join("missing/sock")), None);
    }
}
