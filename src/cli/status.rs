//! `cao status ID`: one terminal's live status.

use std::process::ExitCode;

use cao::engine::Engine;

/// Arguments of `cao status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Terminal id (8 hex characters, from `cao list`).
    terminal_id: String,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

/// Prints the status (just the word, or JSON).
pub fn run(engine: &Engine, args: Args) -> anyhow::Result<ExitCode> {
    let view = engine.view(&args.terminal_id)?;
    if args.json {
        super::print_json(&view)?;
    } else {
        println!("{}", view.status);
    }
    Ok(ExitCode::SUCCESS)
}
