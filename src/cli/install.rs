//! `cao install SOURCE`: install an agent profile by name, file path or https URL, and write
//! the agent file of a CLI that needs one (Kiro, Q, Copilot).

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use cao::config::Config;
use cao::profiles::agent_files::FileAction;
use cao::profiles::install::{self, InstallRequest, SourceKind};

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
    /// Install without asking, after you have read what the profile grants (printed first).
    /// Needed when cao cannot ask: no terminal on stdin.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Print what was done as JSON.
    #[arg(long)]
    json: bool,
}

/// Shows what the profile grants, asks (or needs `--yes`), installs it and reports what
/// changed.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cao::engine::home_dir())?;
    let plan = install::plan(
        &config,
        &InstallRequest {
            source: args.source,
            provider: args.provider,
            force: args.force,
            allow_http_loopback: args.allow_http_loopback,
        },
    )?;
    let from_url = matches!(plan.source(), SourceKind::Url(_));
    if plan.needs_confirmation() || from_url {
        eprintln!("{} from {} would grant:", plan.review.name, plan.origin());
        for line in plan.review.lines().iter().skip(1) {
            eprintln!("{line}");
        }
        if let Some(previous) = &plan.previous {
            eprintln!("it replaces the installed profile; what changes:");
            for line in plan.review.changes_from(previous) {
                eprintln!("  {line}");
            }
        }
    }
    if plan.needs_confirmation() && !args.yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            anyhow::bail!(
                "not installed: cao cannot ask for confirmation without a terminal; read what the profile grants (above) and pass --yes to install it"
            );
        }
        eprint!("install it? [y/N] ");
        let mut answer = String::new();
        stdin.lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES") {
            eprintln!("not installed");
            return Ok(ExitCode::FAILURE);
        }
    }
    let report = plan.apply()?;
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
