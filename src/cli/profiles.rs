//! `cao profiles`: every agent profile cao can find, with where it comes from; files it could
//! not use are reported on stderr.

use std::process::ExitCode;

use cao::engine::Engine;
use cao::profiles::review::Review;

/// Arguments of `cao profiles`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Show what a profile grants: its CLI and model, MCP servers with their full command
    /// lines, tool allowlists, cao tools, hooks and permission settings.
    Show {
        /// The profile's name.
        name: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// Prints name, source and description of each profile, or one profile's review.
pub fn run(engine: &Engine, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(Action::Show { name, json }) = args.action {
        let profile = cao::profiles::load(engine.home(), &name)?;
        let review = Review::of(&profile);
        if json || args.json {
            super::print_json(&review)?;
        } else {
            for line in review.lines() {
                println!("{line}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let scan = cao::profiles::scan(engine.home());
    for problem in &scan.problems {
        eprintln!("warning: skipped: {problem}");
    }
    for warning in scan.profiles.iter().flat_map(|p| &p.warnings) {
        eprintln!("warning: {warning}");
    }
    if args.json {
        super::print_json(&scan.profiles)?;
        return Ok(ExitCode::SUCCESS);
    }
    for p in &scan.profiles {
        let place = p
            .source
            .path()
            .map(|path| path.display().to_string())
            .unwrap_or_default();
        println!(
            "{:<20} {:<12} {}  {}",
            p.name,
            p.source.label(),
            p.description,
            place
        );
    }
    Ok(ExitCode::SUCCESS)
}
