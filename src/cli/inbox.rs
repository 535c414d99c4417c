//! `cao inbox ID`: the messages sent to a terminal and what became of each.

use std::process::ExitCode;

use cao::engine::Engine;

use super::TerminalArgs;

/// Prints the inbox, oldest first.
pub fn run(engine: &Engine, args: TerminalArgs) -> anyhow::Result<ExitCode> {
    let messages = engine.inbox(&args.terminal_id)?;
    if args.json {
        super::print_json(&messages)?;
        return Ok(ExitCode::SUCCESS);
    }
    for m in messages {
        let first_line = m.body.lines().next().unwrap_or_default();
        let reason = m.error.map(|e| format!(" ({e})")).unwrap_or_default();
        println!(
            "{:>6} {:<10} {:<10} {}{}",
            m.id,
            m.sender_id,
            format!("{:?}", m.status).to_lowercase(),
            first_line,
            reason
        );
    }
    Ok(ExitCode::SUCCESS)
}
