//! `cao list`: every live terminal with its status.

use std::process::ExitCode;

use cao::engine::{Engine, WorktreeState};

/// Arguments of `cao list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

/// Prints the terminals as a table or JSON.
pub fn run(engine: &Engine, args: Args) -> anyhow::Result<ExitCode> {
    let mut terminals = engine.list()?;
    let mut unreachable = Vec::new();
    for remote in engine.list_remote()? {
        match remote {
            Ok(view) => terminals.push(view),
            Err((row, why)) => unreachable.push((row, why)),
        }
    }
    if args.json {
        super::print_json(&terminals)?;
        return Ok(ExitCode::SUCCESS);
    }
    for (row, why) in &unreachable {
        eprintln!(
            "terminal {} on host {} ({} on {}) cannot be reached: {why}",
            row.id, row.host, row.profile, row.provider
        );
    }
    if terminals.is_empty() {
        println!("no cao terminals; start one with `cao launch --agents code_supervisor`");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<10} {:<12} {:<20} {:<18} {:<12} {:<20} {:>7} {:>15}  BRANCH",
        "TERMINAL", "HOST", "SESSION", "PROFILE", "PROVIDER", "STATUS", "INBOX", "TOKENS IN/OUT"
    );
    for t in terminals {
        println!(
            "{:<10} {:<12} {:<20} {:<18} {:<12} {:<20} {:>7} {:>15}  {}",
            t.id,
            t.host.as_deref().unwrap_or("-"),
            t.session,
            t.profile,
            t.provider,
            t.status,
            t.pending_messages,
            cao::records::Usage::label(t.usage.as_ref()),
            t.worktree
                .as_ref()
                .map_or_else(|| "-".to_string(), WorktreeState::label)
        );
        if let Some(question) = &t.question {
            println!("{:<10} asks: {question}", "");
        }
    }
    Ok(ExitCode::SUCCESS)
}
