//! `cao-fake-agent`: a scripted stand-in for an AI coding CLI, used by cao's tests and demos.
//!
//! It behaves like a TUI agent in a tmux pane (banner, `fake> ` prompt, a working line, marked
//! answers, `/exit`) and is an MCP client, so scripted inputs can drive cao's tools — whole
//! orchestration loops with no model and no network. The screen grammar is in [`screen`].

mod agent;
mod config;
mod directives;
mod editor;
mod keys;
mod mcp;
mod scenario;
mod screen;
mod session;
mod tty;

use config::Settings;

/// Parses the settings, takes the terminal, runs the agent and gives the terminal back.
fn main() {
    let settings = match Settings::load(std::env::args().skip(1)) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("cao-fake-agent: {e:#}");
            std::process::exit(2);
        }
    };
    tty::enter_raw_mode();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tty::restore();
        default_hook(info);
    }));
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(agent::Agent::new(settings).run()));
    tty::restore();
    let code = result.unwrap_or_else(|e| {
        eprintln!("cao-fake-agent: {e:#}");
        1
    });
    // Exit without waiting for the stdin reader thread or MCP children: they go with us.
    std::process::exit(code);
}
