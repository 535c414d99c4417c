//! `cao _remote ...`: what another machine's cao runs here over ssh (see `cao::remote`).
//! Each subcommand answers one JSON value on stdout; errors go to stderr as one line and a
//! non-zero exit, which the caller reports with the host's name. Texts come on stdin.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cao::engine::{CreateRequest, Engine, RemoteAnswer, RemoteSent};

/// How long a remote launch waits for the CLI to be ready (the caller waits a little longer).
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// The operations another cao asks of this one.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// This machine's cao version, tmux and installed CLIs.
    Probe,
    /// Start a terminal (its task, with `--task-on-stdin`, queued as its first message).
    Launch(LaunchArgs),
    /// Queue a message (stdin) under a delivery key.
    Send(SendArgs),
    /// One terminal's live view.
    View(IdArgs),
    /// A terminal's view once its turn has settled (or `--wait` seconds have passed).
    Wait(WaitArgs),
    /// Every terminal's live view.
    List,
    /// A terminal's last answer.
    Answer(IdArgs),
    /// End a terminal.
    Close(IdArgs),
    /// The replies waiting for a relay (not taken: `ack` marks them delivered).
    Collect(CollectArgs),
    /// Mark collected replies delivered.
    Ack(AckArgs),
}

/// Arguments of `_remote wait`.
#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    terminal_id: String,
    /// Longest wait, in seconds.
    #[arg(long, default_value_t = 0)]
    wait: u64,
}

/// Arguments of `_remote collect`.
#[derive(Debug, clap::Args)]
pub struct CollectArgs {
    relay: String,
    /// Seconds to wait for a first reply.
    #[arg(long, default_value_t = 0)]
    wait: u64,
}

/// Arguments of `_remote ack`.
#[derive(Debug, clap::Args)]
pub struct AckArgs {
    relay: String,
    /// Message ids, comma-separated.
    #[arg(long, value_delimiter = ',')]
    ids: Vec<i64>,
}

/// Arguments of `_remote launch`.
#[derive(Debug, clap::Args)]
pub struct LaunchArgs {
    #[arg(long)]
    agents: String,
    #[arg(long)]
    provider: Option<String>,
    #[arg(long)]
    model: Option<String>,
    #[arg(long)]
    working_directory: Option<PathBuf>,
    #[arg(long)]
    yolo: bool,
    #[arg(long)]
    task_on_stdin: bool,
    /// The terminal on the calling machine this one reports to: its replies wait here.
    #[arg(long)]
    reply_to: Option<String>,
    /// The launch's key: a retry with the same key gets the terminal the first try made.
    #[arg(long)]
    key: Option<String>,
}

/// Arguments of `_remote send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    terminal_id: String,
    /// Who sent it (a terminal id on the sending machine, or `user`).
    #[arg(long)]
    sender: String,
    /// The delivery key: a repeat of the same key is stored once.
    #[arg(long)]
    key: String,
}

/// A terminal id.
#[derive(Debug, clap::Args)]
pub struct IdArgs {
    terminal_id: String,
}

/// Runs one remote operation.
pub fn run(engine: &Engine, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Probe => super::print_json(&engine.probe())?,
        Command::Launch(a) => {
            let task = if a.task_on_stdin {
                Some(std::io::read_to_string(std::io::stdin())?)
            } else {
                None
            };
            let dir = match a.working_directory {
                Some(d) => d,
                None => std::env::current_dir()?,
            };
            if let Some(id) = a
                .key
                .as_deref()
                .map(|k| engine.launched_with(k))
                .transpose()?
                .flatten()
            {
                engine.wait_ready(&id, READY_TIMEOUT)?;
                super::print_json(&engine.view(&id)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            let caller = a
                .reply_to
                .as_deref()
                .map(|id| engine.ensure_relay(id))
                .transpose()?;
            let record = engine.create_terminal(CreateRequest {
                caller,
                profile: a.agents,
                provider: a.provider,
                model: a.model,
                working_dir: Some(dir),
                yolo: a.yolo,
                initial_message: task,
                ..Default::default()
            })?;
            if let Some(key) = &a.key {
                engine.remember_launch(key, &record.id)?;
            }
            engine.wait_ready(&record.id, READY_TIMEOUT)?;
            super::print_json(&engine.view(&record.id)?)?;
        }
        Command::Send(a) => {
            let body = std::io::read_to_string(std::io::stdin())?;
            let (message, duplicate) =
                engine.post_once(&a.sender, &a.terminal_id, &body, &a.key)?;
            super::print_json(&RemoteSent {
                message_id: message.id,
                duplicate,
            })?;
        }
        Command::View(a) => super::print_json(&engine.view(&a.terminal_id)?)?,
        Command::Wait(a) => {
            super::print_json(&engine.wait_settled(&a.terminal_id, Duration::from_secs(a.wait))?)?
        }
        Command::List => super::print_json(&engine.list()?)?,
        Command::Answer(a) => {
            super::print_json(&RemoteAnswer::from(engine.answer(&a.terminal_id)?))?
        }
        Command::Collect(a) => {
            super::print_json(&engine.relay_pending(&a.relay, Duration::from_secs(a.wait))?)?
        }
        Command::Ack(a) => {
            let acknowledged = engine.acknowledge(&a.relay, &a.ids)?;
            super::print_json(&serde_json::json!({ "acknowledged": acknowledged }))?;
        }
        Command::Close(a) => {
            engine.exit_terminal(&a.terminal_id)?;
            super::print_json(&serde_json::json!({"closed": a.terminal_id}))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
