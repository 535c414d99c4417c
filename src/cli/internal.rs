//! Hidden subcommands that tmux runs on cao's behalf.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::engine::{self, Engine};

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
