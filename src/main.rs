//! The `cao` binary: parse the command line and hand over to the command.

use clap::Parser;

fn main() -> std::process::ExitCode {
    cao::cli::run(cao::cli::Cli::parse())
}
