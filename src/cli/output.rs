//! `cao output ID`: a terminal's last answer or its full scrollback.

use std::process::ExitCode;

use cao::engine::{Engine, OutputMode};

/// Arguments of `cao output`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Terminal id (8 hex characters, from `cao list`).
    terminal_id: String,
    /// What to print
    #[arg(long, value_enum, default_value = "last")]
    mode: OutputMode,
}

/// Prints the output.
pub fn run(engine: &Engine, args: Args) -> anyhow::Result<ExitCode> {
    println!("{}", engine.output(&args.terminal_id, args.mode)?);
    Ok(ExitCode::SUCCESS)
}
