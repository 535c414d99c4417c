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
    if let Some((_, host)) = engine.remote_terminal(&args.terminal_id)? {
        if args.mode != OutputMode::Last {
            anyhow::bail!(
                "terminal {} runs on host {}: only its last answer can be read from here (`cao output {}`); for its full screen, run `cao output --mode full {}` there",
                args.terminal_id,
                host.name,
                args.terminal_id,
                args.terminal_id
            );
        }
        println!("{}", engine.remote_answer(&host, &args.terminal_id)?.text);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", engine.output(&args.terminal_id, args.mode)?);
    Ok(ExitCode::SUCCESS)
}
