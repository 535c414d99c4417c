//! `cao send ID MESSAGE`: queue a message; it is typed as soon as the terminal is idle.

use std::process::ExitCode;

use cao::engine::{Engine, USER_SENDER};
use cao::store::MessageStatus;

/// Arguments of `cao send`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Terminal id (8 hex characters, from `cao list`).
    terminal_id: String,
    /// The text to type; `-` reads it from stdin.
    message: String,
}

/// Sends as `user` (or as the calling cao terminal) and says whether it was typed yet.
pub fn run(engine: &Engine, args: Args) -> anyhow::Result<ExitCode> {
    let body = if args.message == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        args.message
    };
    let sender = engine.caller()?.map_or(USER_SENDER.to_string(), |t| t.id);
    let message = engine.post(&sender, &args.terminal_id, &body)?;
    if let Some((_, host)) = engine.remote_terminal(&args.terminal_id)? {
        println!(
            "message {} queued for {} on host {}: it is typed as soon as the terminal is idle",
            message.id, args.terminal_id, host.name
        );
        return Ok(ExitCode::SUCCESS);
    }
    // An idle terminal's watcher types within a few ms: a moment's patience tells which it
    // was (a busy terminal keeps it queued far longer).
    let status = engine.wait_delivered(message.id, std::time::Duration::from_millis(500))?;
    match status {
        MessageStatus::Delivered => {
            println!("message {} delivered to {}", message.id, args.terminal_id)
        }
        _ => println!(
            "message {} queued for {}: it is typed as soon as the terminal is idle",
            message.id, args.terminal_id
        ),
    }
    Ok(ExitCode::SUCCESS)
}
