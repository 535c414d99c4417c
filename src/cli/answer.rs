//! `cao answer ID TEXT`: answer a terminal that is asking its user something.

use std::process::ExitCode;

use cao::engine::Engine;

/// Arguments of `cao answer`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Terminal id (8 hex characters, from `cao list`) of a terminal in waiting_user_answer.
    terminal_id: String,
    /// The answer: a choice's number, y or n, the start of a choice's words, or (for a
    /// question typed on a line) the text to type.
    answer: String,
}

/// Types the answer if the terminal is asking, and says what it picked.
pub fn run(engine: &Engine, args: Args) -> anyhow::Result<ExitCode> {
    let caller = engine.caller()?;
    let done = engine.answer_user_prompt(caller.as_ref(), &args.terminal_id, &args.answer)?;
    println!(
        "answered {} to: {}\nterminal {} is now {}",
        done.typed, done.question, done.terminal_id, done.status
    );
    if let Some(next) = &done.next_question {
        println!("it asks next: {next}");
    }
    Ok(ExitCode::SUCCESS)
}
