//! `cao tui`: the terminal UI (see `cao::tui`), or `--window` to open it in a cao session.

use std::process::ExitCode;

use cao::engine::Engine;

/// Arguments of `cao tui`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Open the TUI as a new window of a cao tmux session instead of here.
    #[arg(long)]
    window: bool,
    /// The session for `--window` (default: the calling terminal's, else the first cao session).
    #[arg(long, requires = "window")]
    session: Option<String>,
}

/// Runs the TUI until `q`, or opens it in a tmux window and says where.
pub fn run(engine: &Engine, args: Args) -> anyhow::Result<ExitCode> {
    if args.window {
        let session = engine.open_tui_window(args.session.as_deref())?;
        println!("cao tui opened in a new window of {session}");
        return Ok(ExitCode::SUCCESS);
    }
    cao::tui::run(engine)?;
    Ok(ExitCode::SUCCESS)
}
