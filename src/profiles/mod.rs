//! Agent profiles: Markdown with YAML front matter. The front matter says who the agent is
//! (name, description, provider, model, MCP servers, tool permissions); the body is its system
//! prompt.
//!
//! Profiles are looked up in a fixed order, first match wins: installed (`CAO_HOME/profiles`),
//! the CLIs' own agent directories (`~/.kiro/agents`, `~/.claude/agents`, ...), extra
//! directories from the config file, then the built-in profiles embedded in the binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::config::{Config, ConfigError};
use crate::providers::AgentSpec;

pub mod agent_files;
mod discover;
pub mod fetch;
pub mod install;
mod parse;
pub mod review;

pub use discover::{Discovery, Found, Scan};
pub use parse::{KNOWN_KEYS, MAX_DEPTH, MAX_NODES, MAX_PROFILE_BYTES, parse};

/// What can go wrong finding or reading a profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The name is not a plain name.
    #[error(
        "invalid profile name {0:?}: use 1-64 letters, digits, '-', '_' or '.' (no '/', '\\', '..' or control characters)"
    )]
    InvalidName(String),
    /// No profile has this name.
    #[error(
        "unknown agent profile '{name}'; available: {available}. Install one with `cao install`"
    )]
    NotFound {
        /// The name asked for.
        name: String,
        /// Every name cao can find, comma-separated.
        available: String,
    },
    /// The file is not valid profile Markdown.
    #[error("invalid profile {origin}{}: {reason}", at(*.line, .key.as_deref()))]
    Invalid {
        /// The file or URL.
        origin: String,
        /// 1-based line in the file, when known.
        line: Option<usize>,
        /// The front-matter key at fault, when known.
        key: Option<String>,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Reading the file failed.
    #[error("cannot read profile {path}: {source}; check the file's permissions")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file (which names extra profile directories) is broken.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

fn at(line: Option<usize>, key: Option<&str>) -> String {
    match (line, key) {
        (Some(l), Some(k)) => format!(" line {l}, key `{k}`"),
        (Some(l), None) => format!(" line {l}"),
        (None, Some(k)) => format!(", key `{k}`"),
        (None, None) => String::new(),
    }
}

/// Where a profile was found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProfileSource {
    /// Installed under `CAO_HOME/profiles`.
    Installed(PathBuf),
    /// In a CLI's own agent directory (e.g. `~/.claude/agents`).
    ProviderDir {
        /// The CLI whose directory it is.
        provider: String,
        /// The file.
        path: PathBuf,
    },
    /// In an extra directory named by the config file.
    ExtraDir(PathBuf),
    /// Embedded in the cao binary.
    #[default]
    BuiltIn,
}

impl ProfileSource {
    /// Short name of the kind of place (`installed`, `claude_code`, `extra`, `built-in`).
    pub fn label(&self) -> &str {
        match self {
            ProfileSource::Installed(_) => "installed",
            ProfileSource::ProviderDir { provider, .. } => provider,
            ProfileSource::ExtraDir(_) => "extra",
            ProfileSource::BuiltIn => "built-in",
        }
    }

    /// The file, for every source but the built-in one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            ProfileSource::Installed(p) | ProfileSource::ExtraDir(p) => Some(p),
            ProfileSource::ProviderDir { path, .. } => Some(path),
            ProfileSource::BuiltIn => None,
        }
    }
}

/// JSON shape: `{"kind": "installed", "path": ...}`, `{"kind": "provider_dir", "provider": ...,
/// "path": ...}`, `{"kind": "extra_dir", "path": ...}`, `{"kind": "built_in"}`.
impl Serialize for ProfileSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        let kind = match self {
            ProfileSource::Installed(_) => "installed",
            ProfileSource::ProviderDir { .. } => "provider_dir",
            ProfileSource::ExtraDir(_) => "extra_dir",
            ProfileSource::BuiltIn => "built_in",
        };
        map.serialize_entry("kind", kind)?;
        if let ProfileSource::ProviderDir { provider, .. } = self {
            map.serialize_entry("provider", provider)?;
        }
        if let Some(path) = self.path() {
            map.serialize_entry("path", path)?;
        }
        map.end()
    }
}

/// A parsed agent profile.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Profile {
    /// Plain name, unique per lookup.
    pub name: String,
    /// One line on what the agent is for.
    pub description: String,
    /// CLI this agent must run in, when it cares.
    pub provider: Option<String>,
    /// Model to ask the CLI for.
    pub model: Option<String>,
    /// The profile's own MCP servers (`{name: {command, args, env}}` or `{name: {url}}`).
    pub mcp_servers: BTreeMap<String, serde_json::Value>,
    /// The system prompt (the `prompt` key when set, else the Markdown body).
    pub system_prompt: String,
    /// Where it came from.
    pub source: ProfileSource,
    /// Tools the agent may use (`tools`); `None` leaves the CLI's default.
    pub tools: Option<Vec<String>>,
    /// Tools usable without asking (`allowedTools`); `None` lets cao pick a safe default.
    pub allowed_tools: Option<Vec<String>>,
    /// cao's own tools this agent's terminals get (`caoTools`); `None`: all of them.
    pub cao_tools: Option<Vec<String>>,
    /// Renamed tools (`toolAliases`), for CLIs that support them.
    pub tool_aliases: BTreeMap<String, String>,
    /// Per-tool settings (`toolsSettings`), passed through to CLIs that support them.
    pub tools_settings: BTreeMap<String, serde_json::Value>,
    /// The raw `prompt` key, kept apart from the body for CLIs with both (Kiro).
    pub prompt: Option<String>,
    /// Lifecycle hooks (`hooks`), passed through to CLIs that support them.
    pub hooks: BTreeMap<String, serde_json::Value>,
    /// Context files (`resources`, e.g. `file://README.md`).
    pub resources: Vec<String>,
    /// Front-matter keys cao does not know, kept so nothing a user wrote is lost.
    pub extra: BTreeMap<String, serde_json::Value>,
    /// Non-fatal problems found while reading (unknown keys, an unknown provider).
    pub warnings: Vec<String>,
}

impl Profile {
    /// What a provider needs of this profile to start its CLI as this agent.
    pub fn agent(&self) -> AgentSpec {
        AgentSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            system_prompt: self.system_prompt.clone(),
            model: self.model.clone(),
            tools: self.tools.clone(),
            allowed_tools: self.allowed_tools.clone(),
            tool_aliases: self.tool_aliases.clone(),
            tools_settings: self.tools_settings.clone(),
            hooks: self.hooks.clone(),
            resources: self.resources.clone(),
        }
    }
}

/// cao's MCP tools, the names a profile's `caoTools` may list.
pub const CAO_TOOLS: &[&str] = &[
    "handoff",
    "assign",
    "send_message",
    "wait_for_messages",
    "list_terminals",
    "get_terminal_output",
    "close_terminal",
    "list_profiles",
    "answer_user_prompt",
];

/// Built-in profiles, embedded at compile time.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "code_supervisor",
        include_str!("../../profiles/code_supervisor.md"),
    ),
    ("developer", include_str!("../../profiles/developer.md")),
    ("reviewer", include_str!("../../profiles/reviewer.md")),
];

/// Refuses anything but a plain name, so a profile name can never become a path.
pub fn validate_name(name: &str) -> Result<(), ProfileError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(ProfileError::InvalidName(name.to_string()))
    }
}

/// Directory of installed profiles.
pub fn installed_dir(home: &Path) -> PathBuf {
    home.join("profiles")
}

/// Finds a profile by name in lookup order (installed, CLI agent dirs, extra dirs, built-in).
pub fn load(home: &Path, name: &str) -> Result<Profile, ProfileError> {
    validate_name(name)?;
    let config = Config::load(home)?;
    Ok(Discovery::new(&config).find(name)?.profile)
}

/// Every profile cao can find (first match per name wins); broken files are left out — see
/// [`scan`] for them.
pub fn list(home: &Path) -> Vec<Profile> {
    scan(home).profiles
}

/// Every profile cao can find, plus the files it could not use (and a broken config file),
/// so `cao profiles` can show both.
pub fn scan(home: &Path) -> Scan {
    match Config::load(home) {
        Ok(config) => Discovery::new(&config).scan(),
        Err(e) => {
            let mut scan = Discovery::new(&Config::defaults(home)).scan();
            scan.problems.insert(0, ProfileError::Config(e));
            scan
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_parse() {
        for (name, text) in BUILT_IN {
            let p = parse(text, name, ProfileSource::BuiltIn).unwrap();
            assert_eq!(&p.name, name);
            assert!(!p.system_prompt.is_empty());
            assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        }
    }

    #[test]
    fn names_with_paths_are_refused() {
        for bad in [
            "../x",
            "a/b",
            "a\\b",
            "",
            "..",
            ".",
            "a\0b",
            "a\nb",
            "a\u{7}b",
            "a..b",
            &"x".repeat(65),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        for good in ["developer", "code_supervisor", "a.b", "A-1"] {
            validate_name(good).unwrap();
        }
    }

    #[test]
    fn source_serializes_flat() {
        let s = ProfileSource::ProviderDir {
            provider: "claude_code".into(),
            path: "/h/.claude/agents/a.md".into(),
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"kind": "provider_dir", "provider": "claude_code", "path": "/h/.claude/agents/a.md"})
        );
        assert_eq!(
            serde_json::to_value(ProfileSource::BuiltIn).unwrap(),
            serde_json::json!({"kind": "built_in"})
        );
    }

    #[test]
    fn invalid_error_names_file_line_and_key() {
        let e = ProfileError::Invalid {
            origin: "/p/x.md".into(),
            line: Some(3),
            key: Some("tools".into()),
            reason: "expected a list".into(),
        };
        assert_eq!(
            e.to_string(),
            "invalid profile /p/x.md line 3, key `tools`: expected a list"
        );
    }
}
