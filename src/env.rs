//! Every environment variable cao reads or sets, in one place, so the contract is easy to audit.

/// State directory: database, logs, installed profiles. Tests point it at a temp dir.
pub const CAO_HOME: &str = "CAO_HOME";
/// Name of a private tmux server (`tmux -L`); unset means the user's default server.
pub const CAO_TMUX_SOCKET: &str = "CAO_TMUX_SOCKET";
/// Provider used when neither the profile nor the caller decides one.
pub const CAO_PROVIDER: &str = "CAO_PROVIDER";
/// Set inside every terminal cao creates; how a cao process learns who is calling.
pub const CAO_TERMINAL_ID: &str = "CAO_TERMINAL_ID";
/// `true` exposes `working_directory` on the handoff/assign tools.
pub const CAO_ENABLE_WORKING_DIRECTORY: &str = "CAO_ENABLE_WORKING_DIRECTORY";
/// `true` appends the sender's id and reply instructions to assign / send_message text.
pub const CAO_ENABLE_SENDER_ID_INJECTION: &str = "CAO_ENABLE_SENDER_ID_INJECTION";
/// `false` stops cao from adopting the tmux pane of a supervisor it did not start (its
/// caller then gets a mailbox and collects replies with `wait_for_messages`). Default: on.
pub const CAO_ADOPT: &str = "CAO_ADOPT";
/// Tracing filter; logs go to a file under `CAO_HOME`, never to stdout (the MCP channel).
pub const CAO_LOG: &str = "CAO_LOG";
/// Overrides where the `fake` provider finds the fake agent binary.
pub const CAO_FAKE_AGENT: &str = "CAO_FAKE_AGENT";
/// The fake agent's program name (built next to `cao` by `cargo build --workspace`).
pub const FAKE_AGENT_PROGRAM: &str = "cao-fake-agent";
/// Number of Enter presses the fake agent needs to submit (the `fake` provider mirrors it).
pub const CAO_FAKE_ENTERS: &str = "CAO_FAKE_ENTERS";
/// Pause between paste and Enter when typing into the fake agent, in ms (tests: models the
/// CLIs that need one, such as Codex and Gemini CLI).
pub const CAO_FAKE_SUBMIT_PAUSE_MS: &str = "CAO_FAKE_SUBMIT_PAUSE_MS";
/// Absolute path of the Claude Code executable (`claude`), overriding the `PATH` lookup.
pub const CAO_CLAUDE_CODE_BIN: &str = "CAO_CLAUDE_CODE_BIN";
/// Absolute path of the Codex executable (`codex`), overriding the `PATH` lookup.
pub const CAO_CODEX_BIN: &str = "CAO_CODEX_BIN";
/// Absolute path of the Gemini CLI executable (`gemini`), overriding the `PATH` lookup.
pub const CAO_GEMINI_CLI_BIN: &str = "CAO_GEMINI_CLI_BIN";
/// Absolute path of the OpenCode executable (`opencode`), overriding the `PATH` lookup.
pub const CAO_OPENCODE_BIN: &str = "CAO_OPENCODE_BIN";
/// Absolute path of the Kiro CLI executable (`kiro-cli`), overriding the `PATH` lookup.
pub const CAO_KIRO_CLI_BIN: &str = "CAO_KIRO_CLI_BIN";
/// Absolute path of the Kimi CLI executable (`kimi`), overriding the `PATH` lookup.
pub const CAO_KIMI_CLI_BIN: &str = "CAO_KIMI_CLI_BIN";
/// Absolute path of the Copilot CLI executable (`copilot`), overriding the `PATH` lookup.
pub const CAO_COPILOT_CLI_BIN: &str = "CAO_COPILOT_CLI_BIN";
/// Absolute path of the Amazon Q CLI executable (`q`), overriding the `PATH` lookup.
pub const CAO_Q_CLI_BIN: &str = "CAO_Q_CLI_BIN";
/// Set by tmux inside a pane (`socket,pid,session`); tells `cao tui` whether it runs inside
/// a client of cao's tmux server (Enter then switches that client instead of attaching).
pub const TMUX: &str = "TMUX";
/// Set by tmux inside a pane; lets a cao process without `CAO_TERMINAL_ID` find its terminal.
pub const TMUX_PANE: &str = "TMUX_PANE";
/// The user's home: base of the CLIs' own agent directories (`~/.kiro/agents`, ...) and of
/// `~` in the config file. Tests point it at a temp dir so nothing touches the real home.
pub const HOME: &str = "HOME";
/// Base of the per-user config file (`$XDG_CONFIG_HOME/cao/config.toml`); default `~/.config`.
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";

/// Variables that make a CLI believe it runs nested inside another agent or tmux client;
/// a worker must not inherit them from its caller.
pub const NESTING_MARKERS: &[&str] = &[
    TMUX,
    "TMUX_PANE",
    "CLAUDECODE",
    "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDE_CODE_SSE_PORT",
    "GEMINI_CLI",
    "CODEX_SANDBOX",
    "CODEX_SANDBOX_NETWORK_DISABLED",
    "OPENCODE",
    // A CI marker makes some CLIs (Gemini CLI) skip their interactive UI and exit; an agent
    // in a tmux window is interactive even when cao itself runs under CI.
    "CI",
    "CONTINUOUS_INTEGRATION",
    CAO_TERMINAL_ID,
];

/// True when the variable is set to `true` or `1` (case-insensitive).
pub fn flag(name: &str) -> bool {
    std::env::var(name)
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
        .unwrap_or(false)
}

/// A boolean variable: `default` when unset or empty, else whether it is `true`/`1`/`yes`.
pub fn flag_or(name: &str, default: bool) -> bool {
    match non_empty(name) {
        None => default,
        Some(_) => flag(name),
    }
}

/// The value of a variable when set and not empty.
pub fn non_empty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Set to `1` inside terminals launched with `--yolo`: their workers skip permission prompts too.
pub const CAO_YOLO: &str = "CAO_YOLO";

/// Seconds a handoff waits on a worker that asks its user something (`waiting_user_answer`)
/// before it fails with the question, leaving the worker running to be answered with
/// `answer_user_prompt` (default 30; `0` fails at once).
pub const CAO_ANSWER_GRACE: &str = "CAO_ANSWER_GRACE";
