//! `cao shutdown`: exit agents and kill cao's tmux sessions (only sessions named `cao-*`).

use std::process::ExitCode;

use cao::engine::{self, Engine};

/// Arguments of `cao shutdown`.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct Args {
    /// Every cao session.
    #[arg(long)]
    all: bool,
    /// One session, by name.
    #[arg(long)]
    session: Option<String>,
}

/// Shuts down what was asked and says what it did.
pub fn run(engine: &Engine, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(session) = args.session {
        engine.shutdown_session(&session)?;
        println!("shut down session {}", engine::cao_session_name(&session));
    } else if args.all {
        for remote in engine.list_remote()? {
            match remote {
                Ok(view) => {
                    let host = engine.host(view.host.as_deref().unwrap_or_default())?;
                    engine.close_remote(&host, &view.id)?;
                    println!("closed terminal {} on host {}", view.id, host.name);
                }
                Err((row, why)) => eprintln!(
                    "terminal {} on host {} was not closed: {why}",
                    row.id, row.host
                ),
            }
        }
        let sessions = engine.shutdown_all()?;
        if sessions.is_empty() {
            println!("no cao sessions were running");
        } else {
            println!("shut down {}", sessions.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
