//! `cao config`: the effective configuration — default provider, where profiles are looked
//! up (in order), per-provider overrides — and where each value came from.

use std::process::ExitCode;

use serde::Serialize;

use cao::config::{Config, ConfigFile, Origin, ProviderSettings, Setting};
use cao::profiles::{BUILT_IN, Discovery};

/// Arguments of `cao config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct View<'a> {
    home: &'a std::path::Path,
    files: &'a [ConfigFile],
    default_provider: Option<&'a Setting<String>>,
    profile_lookup: Vec<Setting<String>>,
    providers: &'a std::collections::BTreeMap<String, ProviderSettings>,
    warnings: &'a [String],
}

/// Prints the effective configuration.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let home = cao::engine::home_dir();
    let config = Config::load(&home)?;
    let mut lookup: Vec<Setting<String>> = Discovery::new(&config)
        .lookup()
        .into_iter()
        .map(|(label, dir, origin)| Setting {
            value: format!("{label} {}", dir.display()),
            origin,
        })
        .collect();
    let built_in: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
    lookup.push(Setting {
        value: format!("built-in {}", built_in.join(", ")),
        origin: Origin::Default,
    });

    if args.json {
        super::print_json(&View {
            home: &home,
            files: &config.files,
            default_provider: config.default_provider.as_ref(),
            profile_lookup: lookup,
            providers: &config.providers,
            warnings: &config.warnings,
        })?;
        return Ok(ExitCode::SUCCESS);
    }

    println!("config files (first wins):");
    for f in &config.files {
        let state = if f.loaded { "loaded" } else { "not found" };
        println!("  {}  ({state})", f.path.display());
    }
    match &config.default_provider {
        Some(p) => println!("default_provider = {:?}  ({})", p.value, p.origin),
        None => println!(
            "default_provider: not set (the first supported CLI found on PATH; set {} or `default_provider`)",
            cao::env::CAO_PROVIDER
        ),
    }
    println!("profile lookup order (first match wins):");
    for (i, s) in lookup.iter().enumerate() {
        println!("  {}. {}  ({})", i + 1, s.value, s.origin);
    }
    if !config.providers.is_empty() {
        println!("provider overrides:");
    }
    for (name, p) in &config.providers {
        if let Some(s) = &p.agents_dir {
            println!(
                "  {name}.agents_dir = {}  ({})",
                s.value.display(),
                s.origin
            );
        }
        if let Some(s) = &p.executable {
            println!(
                "  {name}.executable = {}  ({})",
                s.value.display(),
                s.origin
            );
        }
        if let Some(s) = &p.model {
            println!("  {name}.model = {:?}  ({})", s.value, s.origin);
        }
        if let Some(s) = &p.args {
            println!("  {name}.args = {:?}  ({})", s.value, s.origin);
        }
    }
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}
