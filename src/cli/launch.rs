//! `cao launch`: start a supervisor agent in a new tmux session and attach to it.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use cao::engine::{CreateRequest, Engine};

/// Arguments of `cao launch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Agent profile of the supervisor (see `cao profiles`).
    #[arg(long)]
    agents: String,
    /// CLI to run it in (claude_code, codex, gemini_cli, ..., fake); wins over the profile's.
    #[arg(long)]
    provider: Option<String>,
    /// Name of the new tmux session (prefixed with `cao-` when it is not already).
    #[arg(long)]
    session_name: Option<String>,
    /// Do not attach; print the terminal id once the agent is ready.
    #[arg(long)]
    headless: bool,
    /// Trust the working directory without asking, and let the CLI skip its permission prompts.
    #[arg(long)]
    yolo: bool,
    /// Trust the working directory without asking, but keep the CLI's permission prompts
    /// (answer them with `cao answer`).
    #[arg(long, conflicts_with = "yolo")]
    trust: bool,
    /// Directory the agent works in (default: the current directory; on a host, its
    /// `workdir`).
    #[arg(long)]
    working_directory: Option<PathBuf>,
    /// Run the agent on this host of cao's config (`[hosts.NAME]`, see `cao hosts`);
    /// implies --headless.
    #[arg(long)]
    host: Option<String>,
}

/// How long a headless launch waits for the CLI to be ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Creates the terminal, then waits for it (headless) or attaches.
pub fn run(engine: &Engine, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(host) = &args.host {
        return run_on_host(engine, host, args.clone_request());
    }
    let dir = match &args.working_directory {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    if !args.yolo && !args.trust {
        confirm_trust(&dir)?;
    }
    let record = engine.create_terminal(CreateRequest {
        profile: args.agents,
        provider: args.provider,
        model: None,
        session_name: args.session_name,
        join_caller_session: false,
        working_dir: Some(dir),
        caller: None,
        yolo: args.yolo,
        initial_message: None,
        use_worktree: false,
        host: None,
    })?;
    if args.headless {
        let status = engine.wait_ready(&record.id, READY_TIMEOUT)?;
        println!(
            "terminal {} ({} on {}) is {status} in session {}",
            record.id, record.profile, record.provider, record.session
        );
        return Ok(ExitCode::SUCCESS);
    }
    engine.attach(&record.session).with_context(|| {
        format!(
            "tmux could not attach; the agent is running in session {} (terminal {})",
            record.session, record.id
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

impl Args {
    fn clone_request(&self) -> (CreateRequest, bool) {
        let request = CreateRequest {
            profile: self.agents.clone(),
            provider: self.provider.clone(),
            working_dir: self.working_directory.clone(),
            yolo: self.yolo,
            host: self.host.clone(),
            ..Default::default()
        };
        (request, self.yolo || self.trust)
    }
}

/// Starts the agent on a host (its cao does the work) and says where it runs.
fn run_on_host(
    engine: &Engine,
    host: &str,
    (request, trusted): (CreateRequest, bool),
) -> anyhow::Result<ExitCode> {
    let dir = request
        .working_dir
        .clone()
        .or_else(|| engine.host(host).ok()?.config.workdir.map(PathBuf::from));
    if !trusted {
        let shown = dir
            .as_ref()
            .map_or_else(|| "its login directory".into(), |d| d.display().to_string());
        confirm_trust(std::path::Path::new(&format!("{shown} on host {host}")))?;
    }
    let view = engine.launch_remote(&request)?;
    println!(
        "terminal {} ({} on {}) is {} on host {host} in session {}",
        view.id, view.profile, view.provider, view.status, view.session
    );
    Ok(ExitCode::SUCCESS)
}

/// Asks on a terminal whether the agent may work in `dir`; refuses without one.
fn confirm_trust(dir: &std::path::Path) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "cao launch needs you to trust {} before an agent works there, and there is no terminal to ask on; pass --trust to trust it (or --yolo to also skip the agent's permission prompts)",
            dir.display()
        );
    }
    eprint!(
        "The agent will be able to read and change files in {}. Trust this directory? [y/N] ",
        dir.display()
    );
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        bail!("not trusted; nothing was started")
    }
}
