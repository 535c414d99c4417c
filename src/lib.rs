//! cao — CLI Agent Orchestrator. One binary that lets an AI coding CLI supervise worker agents
//! running in tmux, over MCP. The [`engine`] holds all the logic; [`mcp`] and the binary's
//! command line are thin fronts over it.

pub mod config;
pub mod engine;
pub mod env;
pub mod logging;
pub mod mcp;
pub mod mux;
pub mod profiles;
pub mod provider_id;
pub mod providers;
pub mod records;
pub mod remote;
pub mod store;
pub mod tui;
