//! `cao status ID`: one terminal's live status.

use std::process::ExitCode;

use cao::engine::Engine;

use super::TerminalArgs;

/// Prints the status (the word, and the question under it when the terminal is asking one;
/// or JSON).
pub fn run(engine: &Engine, args: TerminalArgs) -> anyhow::Result<ExitCode> {
    let view = match engine.remote_terminal(&args.terminal_id)? {
        Some((_, host)) => engine.remote_view(&host, &args.terminal_id)?,
        None => engine.view(&args.terminal_id)?,
    };
    if args.json {
        super::print_json(&view)?;
    } else {
        match &view.worktree {
            None => println!("{}", view.status),
            Some(w) => println!("{} ({} in {})", view.status, w.label(), w.path),
        }
        if let Some(question) = &view.question {
            println!("question: {question}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
