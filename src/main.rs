//! The `cao` binary: parse the command line and hand over to the command.

use clap::Parser;

mod cli;

fn main() -> std::process::ExitCode {
    cli::run(cli::Cli::parse())
}
