//! Agent profiles: Markdown with YAML front matter. The front matter says who the agent is
//! (name, description, provider, model, MCP servers); the body is its system prompt.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What can go wrong finding or reading a profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The name is not a plain name.
    #[error("invalid profile name {0:?}: use letters, digits, '-', '_' or '.' (no paths)")]
    InvalidName(String),
    /// No profile has this name.
    #[error("unknown agent profile '{name}'; available: {available}. Install one with `cao install`")]
    NotFound { name: String, available: String },
    /// The file is not valid profile Markdown.
    #[error("profile {origin} is invalid: {reason}")]
    Invalid { origin: String, reason: String },
    /// Reading the file failed.
    #[error("cannot read profile {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where a profile was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub enum ProfileSource {
    /// Installed under `CAO_HOME/profiles`.
    Installed(PathBuf),
    /// Embedded in the cao binary.
    BuiltIn,
}

/// A parsed agent profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// Plain name, unique per lookup.
    pub name: String,
    /// One line on what the agent is for.
    pub description: String,
    /// CLI this agent must run in, when it cares.
    pub provider: Option<String>,
    /// Model to ask the CLI for.
    pub model: Option<String>,
    /// The profile's own MCP servers (`{name: {command, args, env}}`).
    pub mcp_servers: BTreeMap<String, serde_json::Value>,
    /// The system prompt (the Markdown body, or the `prompt` key).
    pub system_prompt: String,
    /// Where it came from.
    pub source: ProfileSource,
}

#[derive(Debug, Deserialize)]
struct FrontMatter {
    name: String,
    description: String,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default, rename = "mcpServers")]
    mcp_servers: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    prompt: Option<String>,
}

/// Built-in profiles, embedded at compile time.
const BUILT_IN: &[(&str, &str)] = &[
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
        && name != ".."
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

/// Parses profile Markdown; `origin` names the file in errors.
pub fn parse(text: &str, origin: &str, source: ProfileSource) -> Result<Profile, ProfileError> {
    let invalid = |reason: String| ProfileError::Invalid {
        origin: origin.to_string(),
        reason,
    };
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .ok_or_else(|| invalid("it must start with a '---' line opening the YAML front matter".into()))?;
    let end = rest
        .find("\n---")
        .ok_or_else(|| invalid("the front matter has no closing '---' line".into()))?;
    let yaml = &rest[..end];
    let body = rest[end + 4..].trim_start_matches(['\r', '\n']);
    let fm: FrontMatter = serde_norway::from_str(yaml).map_err(|e| invalid(e.to_string()))?;
    validate_name(&fm.name)?;
    let system_prompt = fm
        .prompt
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| body.trim().to_string());
    Ok(Profile {
        name: fm.name,
        description: fm.description,
        provider: fm.provider,
        model: fm.model,
        mcp_servers: fm.mcp_servers,
        system_prompt,
        source,
    })
}

/// Directory of installed profiles.
pub fn installed_dir(home: &Path) -> PathBuf {
    home.join("profiles")
}

/// Finds a profile by name: installed first, then built-in.
pub fn load(home: &Path, name: &str) -> Result<Profile, ProfileError> {
    validate_name(name)?;
    let path = installed_dir(home).join(format!("{name}.md"));
    if path.is_file() {
        let text = std::fs::read_to_string(&path).map_err(|source| ProfileError::Io {
            path: path.clone(),
            source,
        })?;
        return parse(
            &text,
            &path.display().to_string(),
            ProfileSource::Installed(path.clone()),
        );
    }
    if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name) {
        return parse(text, &format!("built-in:{name}"), ProfileSource::BuiltIn);
    }
    Err(ProfileError::NotFound {
        name: name.to_string(),
        available: list(home)
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Every profile cao can find (first match per name wins); unreadable files are skipped.
pub fn list(home: &Path) -> Vec<Profile> {
    let mut found: Vec<Profile> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(installed_dir(home)) {
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
            if let Ok(text) = std::fs::read_to_string(&path)
                && let Ok(p) = parse(
                    &text,
                    &path.display().to_string(),
                    ProfileSource::Installed(path.clone()),
                )
            {
                found.push(p);
            }
        }
    }
    for (name, text) in BUILT_IN {
        if let Ok(p) = parse(text, &format!("built-in:{name}"), ProfileSource::BuiltIn) {
            found.push(p);
        }
    }
    let mut seen = std::collections::HashSet::new();
    found.retain(|p| seen.insert(p.name.clone()));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_parse() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = list(dir.path()).into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["code_supervisor", "developer", "reviewer"]);
        assert!(!load(dir.path(), "developer").unwrap().system_prompt.is_empty());
    }

    #[test]
    fn names_with_paths_are_refused() {
        for bad in ["../x", "a/b", "a\\b", "", "..", "a\0b", "a\nb"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn installed_shadows_built_in() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(installed_dir(dir.path())).unwrap();
        std::fs::write(
            installed_dir(dir.path()).join("developer.md"),
            "---\nname: developer\ndescription: mine\n---\nBe brief.\n",
        )
        .unwrap();
        let p = load(dir.path(), "developer").unwrap();
        assert_eq!(p.description, "mine");
        assert_eq!(p.system_prompt, "Be brief.");
    }
}
