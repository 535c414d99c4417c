//! `cao worktrees`: the git worktrees cao made for workers and their state; `cao worktrees
//! clean` removes those whose terminals are gone and that hold nothing.

use std::process::ExitCode;

use cao::engine::{Engine, WorktreeOutcome};

/// Arguments of `cao worktrees`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Remove the worktrees whose terminals are gone and that hold nothing (no uncommitted
    /// change, no commit of their own); list what was kept and why.
    Clean,
}

/// Lists the worktrees, or cleans them.
pub fn run(engine: &Engine, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(Action::Clean) = args.action {
        let done = engine.clean_worktrees()?;
        if args.json {
            let rows: Vec<_> = done
                .iter()
                .map(|(row, outcome)| serde_json::json!({"terminal_id": row.terminal_id, "result": outcome}))
                .collect();
            super::print_json(&rows)?;
        } else if done.is_empty() {
            println!("nothing to clean: every worktree's terminal is still running");
        } else {
            for (row, outcome) in &done {
                match outcome {
                    WorktreeOutcome::Removed { path, .. } => println!("removed {path}"),
                    WorktreeOutcome::Kept { path, reason, .. } => {
                        println!("kept    {path} (terminal {}): {reason}", row.terminal_id)
                    }
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let listings = engine.worktrees()?;
    if args.json {
        super::print_json(&listings)?;
        return Ok(ExitCode::SUCCESS);
    }
    if listings.is_empty() {
        println!("no worktrees; handoff and assign make one per worker with use_worktree");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<10} {:<9} {:<40} PATH", "TERMINAL", "STATE", "BRANCH");
    for l in listings {
        let state = match &l.state {
            Some(state) => state.label(),
            None => format!("{} (folder gone)", l.row.branch),
        };
        let running = if l.running { "running" } else { "ended" };
        println!(
            "{:<10} {:<9} {:<40} {}",
            l.row.terminal_id, running, state, l.row.path
        );
    }
    Ok(ExitCode::SUCCESS)
}
