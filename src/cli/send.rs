//! `cao send ID MESSAGE`: queue a message and type it at once if the terminal is idle.

use std::process::ExitCode;

use crate::engine::{Engine, USER_SENDER};
use crate::store::MessageStatus;

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
    let message = engine.send_message(&sender, &args.terminal_id, &body)?;
    let status = engine
        .message(message.id)?
        .map_or(message.status, |m| m.status);
    match status {
        MessageStatus::Delivered => {
            println!("message {} delivered to {}", message.id, args.terminal_id)
        }
        _ => println!(
            "message {} queued for {}: it will be typed when the terminal is idle",
            message.id, args.terminal_id
        ),
    }
    Ok(ExitCode::SUCCESS)
}
