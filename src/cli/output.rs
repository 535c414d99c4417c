//! `cao output ID`: a terminal's last answer or its full scrollback.

use std::process::ExitCode;

use cao::engine::{Engine, OutputMode};

/// Arguments of `cao output`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Terminal id (8 hex characters, from `cao list`).
    terminal_id: String,
    /// `last`: the last answer without UI chrome; `full`: everything on the screen and above.
    #[arg(long, value_enum, default_value = "last")]
    mode: Mode,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Mode {
    Last,
    Full,
}

/// Prints the output.
pub fn run(engine: &Engine, args: Args) -> anyhow::Result<ExitCode> {
    let mode = match args.mode {
        Mode::Last => OutputMode::Last,
        Mode::Full => OutputMode::Full,
    };
    println!("{}", engine.output(&args.terminal_id, mode)?);
    Ok(ExitCode::SUCCESS)
}
