//! `cao install SOURCE`: install an agent profile by name, file path or https URL, and write
//! the agent file of a CLI that needs one (Kiro, Q, Copilot).

use std::process::ExitCode;

use cao::config::Config;
use cao::profiles::agent_files::FileAction;
use cao::profiles::install::{self, InstallRequest};

/// Arguments of `cao install`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A profile name (`developer`), a Markdown file (`./agent.md`) or an https:// URL.
    source: String,
    /// Write the agent file for this CLI (default: the profile's `provider`, else the
    /// configured default provider).
    #[arg(long)]
    provider: Option<String>,
    /// Replace a different installed profile of the same name, or an agent file cao did not write.
    #[arg(long)]
    force: bool,
    /// Allow a URL on this machine's loopback address (127.0.0.0/8, ::1), over http too; for
    /// local test servers.
    #[arg(long)]
    allow_http_loopback: bool,
    /// Print what was done as JSON.
    #[arg(long)]
    json: bool,
}

/// Installs the profile and reports what changed.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cao::engine::home_dir())?;
    let report = install::install(
        &config,
        &InstallRequest {
            source: args.source,
            provider: args.provider,
            force: args.force,
            allow_http_loopback: args.allow_http_loopback,
        },
    )?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if args.json {
        super::print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let from = &report.origin;
    match report.action {
        FileAction::Unchanged => println!(
            "profile '{}' is already installed at {} (unchanged)",
            report.name,
            report.stored.display()
        ),
        action => println!(
            "installed profile '{}' from {from}: {} ({})",
            report.name,
            report.stored.display(),
            action.done()
        ),
    }
    for f in &report.agent_files {
        println!(
            "{} agent file: {} ({})",
            f.provider,
            f.path.display(),
            f.action.done()
        );
    }
    Ok(ExitCode::SUCCESS)
}
