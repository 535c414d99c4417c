//! Hidden subcommands that tmux runs on cao's behalf.

use std::path::PathBuf;
use std::process::ExitCode;

use cao::engine::{self, Engine};

/// Arguments of `cao _exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The launch spec file written by the engine.
    spec: PathBuf,
}

/// Arguments of `cao _watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The terminal to watch.
    terminal_id: String,
}

/// `cao _exec SPEC`: replaces this process with the agent CLI.
pub fn exec(args: ExecArgs) -> anyhow::Result<ExitCode> {
    let err = engine::launch_exec(&args.spec);
    anyhow::bail!("could not start the agent CLI: {err}")
}

/// `cao _watch ID`: the pane's inbox watcher.
pub fn watch(engine: &Engine, args: WatchArgs) -> anyhow::Result<ExitCode> {
    engine::watcher::run(engine, &args.terminal_id)?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `cao _hook`.
#[derive(Debug, clap::Args)]
pub struct HookArgs {
    /// cao's state directory (given explicitly: some CLIs run hooks with a filtered
    /// environment).
    #[arg(long)]
    home: PathBuf,
    /// What the hook was installed for (`stop`, `notify`, ...).
    #[arg(long)]
    event: String,
    /// The terminal whose CLI runs the hook.
    terminal_id: String,
    /// A payload passed as an argument (Codex's notify); otherwise stdin is read.
    payload: Option<String>,
}

/// `cao _hook ID [PAYLOAD]`: stores the event and wakes whoever waits on the terminal.
/// Always succeeds and prints nothing: a hook's output or failure could reach the CLI's
/// model or its screen.
pub fn hook(args: HookArgs) -> ExitCode {
    cao::logging::init(&args.home);
    if let Err(e) = engine::record_hook(
        &args.home,
        &args.terminal_id,
        &args.event,
        args.payload.as_deref(),
    ) {
        tracing::warn!(terminal = %args.terminal_id, "hook event not recorded: {e}");
    }
    ExitCode::SUCCESS
}
