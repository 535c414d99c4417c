//! The command line: one file per subcommand, each a thin caller of the engine.
//! `anyhow` lives here, at the edge; errors print as one clear line and exit non-zero.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cao::engine::{self, Engine};

mod answer;
mod config;
mod hosts;
mod inbox;
mod install;
mod internal;
mod launch;
mod list;
mod mcp_server;
mod output;
mod profiles;
mod remote;
mod send;
mod shutdown;
mod status;
mod tui;
mod worktrees;

/// cao — CLI Agent Orchestrator: supervise AI coding agents in tmux over MCP.
#[derive(Debug, Parser)]
#[command(name = "cao", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the stdio MCP server (register this in your agent's MCP config).
    McpServer,
    /// Start a supervisor agent in a new tmux session and attach to it.
    Launch(launch::Args),
    /// List cao's terminals with their live status.
    #[command(alias = "ls")]
    List(list::Args),
    /// Show one terminal's live status.
    Status(TerminalArgs),
    /// Send a message to a terminal (typed when it is idle).
    Send(send::Args),
    /// Answer a terminal that is asking its user something (waiting_user_answer).
    Answer(answer::Args),
    /// Print a terminal's last answer or full output.
    Output(output::Args),
    /// Show the messages sent to a terminal and whether each was delivered.
    Inbox(TerminalArgs),
    /// Exit agents and kill cao's tmux sessions.
    Shutdown(shutdown::Args),
    /// List the agent profiles cao can find.
    Profiles(profiles::Args),
    /// Install an agent profile by name, file path or https URL.
    Install(install::Args),
    /// List the git worktrees cao made for workers (`clean` removes the empty ones).
    Worktrees(worktrees::Args),
    /// See and steer every terminal from one screen (a terminal UI).
    Tui(tui::Args),
    /// Show the effective configuration and where each value comes from.
    Config(config::Args),
    /// List the hosts workers can run on (`check NAME` says what one is missing).
    Hosts(hosts::Args),
    /// Answer another machine's cao over ssh (run by its `ssh`).
    #[command(name = "_remote", hide = true, subcommand)]
    Remote(remote::Command),
    /// Bring a remote worker's replies to this machine (started by `assign` with a host).
    #[command(name = "_collect", hide = true)]
    Collect {
        /// The host.
        host: String,
        /// The terminal here the replies are for.
        relay: String,
    },
    /// Become an agent CLI from a launch spec (run by tmux).
    #[command(name = "_exec", hide = true)]
    Exec(internal::ExecArgs),
    /// Watch a pane and deliver its inbox (run by tmux pipe-pane).
    #[command(name = "_watch", hide = true)]
    Watch(internal::WatchArgs),
    /// Record a CLI's hook or notify event (run by the agent CLI at the end of a turn).
    #[command(name = "_hook", hide = true)]
    Hook(internal::HookArgs),
}

/// The arguments of a command about one terminal (`cao status`, `cao inbox`).
#[derive(Debug, clap::Args)]
pub struct TerminalArgs {
    /// Terminal id (8 hex characters, from `cao list`).
    terminal_id: String,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

/// Runs a parsed command line and maps errors to a message on stderr and exit code 1.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::McpServer => mcp_server::serve(),
        Command::Exec(args) => internal::exec(args),
        Command::Hook(args) => Ok(internal::hook(args)),
        Command::Install(args) => install::run(args),
        Command::Config(args) => config::run(args),
        command => engine_command(command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn engine_command(command: Command) -> anyhow::Result<ExitCode> {
    cao::logging::init(&engine::home_dir());
    let engine = Engine::from_env()?;
    match command {
        Command::Launch(args) => launch::run(&engine, args),
        Command::List(args) => list::run(&engine, args),
        Command::Status(args) => status::run(&engine, args),
        Command::Send(args) => send::run(&engine, args),
        Command::Answer(args) => answer::run(&engine, args),
        Command::Output(args) => output::run(&engine, args),
        Command::Inbox(args) => inbox::run(&engine, args),
        Command::Worktrees(args) => worktrees::run(&engine, args),
        Command::Hosts(args) => hosts::run(&engine, args),
        Command::Remote(command) => remote::run(&engine, command),
        Command::Collect { host, relay } => {
            engine.run_collector(&host, &relay)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Shutdown(args) => shutdown::run(&engine, args),
        Command::Profiles(args) => profiles::run(&engine, args),
        Command::Tui(args) => tui::run(&engine, args),
        Command::Watch(args) => internal::watch(&engine, args),
        Command::McpServer
        | Command::Exec(_)
        | Command::Hook(_)
        | Command::Install(_)
        | Command::Config(_) => {
            unreachable!("dispatched in run")
        }
    }
}

/// Prints a value as pretty JSON on stdout.
fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
