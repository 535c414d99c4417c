//! `cao profiles`: every agent profile cao can find, with where it comes from.

use std::process::ExitCode;

use crate::engine::Engine;
use crate::profiles::ProfileSource;

/// Arguments of `cao profiles`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

/// Prints name, source and description of each profile.
pub fn run(engine: &Engine, args: Args) -> anyhow::Result<ExitCode> {
    let profiles = engine.profiles();
    if args.json {
        super::print_json(&profiles)?;
        return Ok(ExitCode::SUCCESS);
    }
    for p in profiles {
        let source = match &p.source {
            ProfileSource::BuiltIn => "built-in".to_string(),
            ProfileSource::Installed(path) => path.display().to_string(),
        };
        println!("{:<20} {:<30} {}", p.name, source, p.description);
    }
    Ok(ExitCode::SUCCESS)
}
