//! `cao hosts`: the machines of `[hosts.NAME]` and whether each is reachable;
//! `cao hosts check NAME`: what is missing there, and how to fix it.

use std::process::ExitCode;

use cao::engine::Engine;

/// Arguments of `cao hosts`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<HostsCommand>,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum HostsCommand {
    /// Check one host: ssh, its cao and version, tmux, the agent CLIs.
    Check {
        /// The host's name (`[hosts.NAME]` in cao's config).
        name: String,
    },
}

/// Lists or checks hosts.
pub fn run(engine: &Engine, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(HostsCommand::Check { name }) = args.command {
        return check(engine, &name);
    }
    let rows: Vec<serde_json::Value> = engine
        .hosts()
        .iter()
        .map(|h| {
            let probe = engine.probe_host(h);
            serde_json::json!({
                "name": h.name,
                "ssh": h.config.ssh,
                "reachable": probe.is_ok(),
                "cao_version": probe.as_ref().ok().map(|p| p.version.clone()),
                "error": probe.as_ref().err().map(ToString::to_string),
            })
        })
        .collect();
    if args.json {
        super::print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!(
            "no hosts; add one to cao's config (see `cao config`):\n\n[hosts.build1]\nssh = \"me@build1\""
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<16} {:<28} STATE", "HOST", "SSH");
    for row in rows {
        let state = match row["cao_version"].as_str() {
            Some(v) => format!("reachable, cao {v}"),
            None => format!("unreachable: {}", row["error"].as_str().unwrap_or_default()),
        };
        println!(
            "{:<16} {:<28} {state}",
            row["name"].as_str().unwrap_or_default(),
            row["ssh"].as_str().unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks one host line by line; exits 1 when something is missing.
fn check(engine: &Engine, name: &str) -> anyhow::Result<ExitCode> {
    let host = engine.host(name)?;
    println!("host {name}: ssh {}", host.config.ssh);
    let probe = match engine.probe_host(&host) {
        Ok(p) => p,
        Err(e) => {
            println!("  ✗ {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut ok = true;
    println!(
        "  ✓ ssh connects; cao {} is at {:?}",
        probe.version, host.config.cao
    );
    let here = env!("CARGO_PKG_VERSION");
    if probe.version != here {
        println!(
            "  ✗ cao there is {}, here {here}: install the same version there",
            probe.version
        );
        ok = false;
    }
    match &probe.tmux {
        Ok(v) => println!("  ✓ {v}"),
        Err(e) => {
            println!("  ✗ {e}: install tmux there (e.g. `apt-get install tmux`)");
            ok = false;
        }
    }
    if probe.providers.is_empty() {
        println!("  ✗ no agent CLI is installed there: install one (see README, Supported CLIs)");
        ok = false;
    } else {
        println!("  ✓ agent CLIs: {}", probe.providers.join(", "));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
