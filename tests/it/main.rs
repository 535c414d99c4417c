//! cao's integration tests: one test binary (as ripgrep has), one module per capability, all
//! sharing the harness in `util` that runs the real `cao` binary on a private tmux server.
//!
//! `cargo test --workspace` runs them all; `cargo test --test it MODULE::` runs one module
//! (e.g. `cargo test --test it real_clis::`, as `.ci/run` does).

mod util;

mod core;
mod fuzz;
mod hosts;
mod inbox;
mod mcp;
mod profiles;
mod providers;
mod real_clis;
mod records;
mod reliability;
mod snapshots;
mod supervisors;
mod tui;
mod worktrees;
