//! Per-CLI agent files: some CLIs only take an agent's prompt, tools and MCP servers from a file
//! of their own. `cao install` writes one for them, from the installed profile:
//!
//! - Kiro CLI and Q CLI: `<agents dir>/NAME.json`, the CLI's agent JSON, with `resources`
//!   pointing at the installed profile, cao's MCP server added, and a cautious default
//!   `allowedTools` (read files and talk to cao; everything else asks).
//! - Copilot CLI: `<agents dir>/NAME.agent.md`, Markdown with `name`/`description` front matter
//!   and the system prompt as body.
//!
//! Those directories belong to the user, so cao never silently replaces a file it did not
//! write: it records a fingerprint of each file it writes (`CAO_HOME/agent-files.json`) and
//! asks for `--force` when a file is foreign or was edited since.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Profile;
use crate::config::Config;
use crate::env;
use crate::providers::{KiroAgent, McpServer};

use crate::providers::CAO_SERVER;
/// File in `CAO_HOME` recording the agent files cao wrote.
pub const MANIFEST: &str = "agent-files.json";

/// What can go wrong producing an agent file.
#[derive(Debug, thiserror::Error)]
pub enum AgentFileError {
    /// The CLI's format needs a system prompt and the profile has none.
    #[error(
        "profile '{name}' has an empty system prompt, which {provider} agents need; add a Markdown body (or a `prompt:` key) and install again"
    )]
    NoPrompt {
        /// The profile.
        name: String,
        /// The CLI.
        provider: String,
    },
    /// A file cao did not write (or that was edited since) is in the way.
    #[error("{} already exists and was not written by cao (or was edited since); pass --force to replace it, or move it away", .path.display())]
    NotOurs {
        /// The file.
        path: PathBuf,
    },
    /// The CLI's agent directory is unknown (no home directory and no config override).
    #[error(
        "cannot tell where {provider} keeps its agents: set HOME, or `agents_dir` under [providers.{provider}] in the config file"
    )]
    NoDir {
        /// The CLI.
        provider: String,
    },
    /// Reading or writing failed.
    #[error("{what}: {source}")]
    Io {
        /// What cao was doing.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// Rendering the CLI's format failed.
    #[error("{what}: {source}")]
    Render {
        /// What cao was doing.
        what: String,
        /// Why it failed.
        source: serde_norway::Error,
    },
}

/// An agent file ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFile {
    /// The CLI it is for.
    pub provider: String,
    /// Where it goes.
    pub path: PathBuf,
    /// Its full content.
    pub content: String,
}

/// What writing an agent file will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    /// No file there yet.
    Create,
    /// The same content is there already.
    Unchanged,
    /// A file cao wrote earlier gets the new content.
    Update,
    /// A foreign or edited file is replaced (`--force`).
    Overwrite,
}

impl FileAction {
    /// The past-tense word shown to the user.
    pub fn done(self) -> &'static str {
        match self {
            FileAction::Create => "written",
            FileAction::Unchanged => "unchanged",
            FileAction::Update => "updated",
            FileAction::Overwrite => "overwritten (--force)",
        }
    }
}

/// The file format a CLI needs, when it needs one.
pub fn needs_file(provider: &str) -> bool {
    matches!(provider, "kiro_cli" | "q_cli" | "copilot_cli")
}

/// The agent file for `provider`, or `None` when that CLI takes everything on its command line.
pub fn render(
    provider: &str,
    profile: &Profile,
    stored: &Path,
    config: &Config,
) -> Result<Option<AgentFile>, AgentFileError> {
    if !needs_file(provider) {
        return Ok(None);
    }
    let dir = config
        .agents_dir(provider)
        .ok_or_else(|| AgentFileError::NoDir {
            provider: provider.to_string(),
        })?
        .value;
    let model = profile.model.clone().or_else(|| {
        config
            .provider(provider)
            .and_then(|p| p.model.as_ref())
            .map(|m| m.value.clone())
    });
    let (file_name, content) = match provider {
        "copilot_cli" => (format!("{}.agent.md", profile.name), copilot(profile)?),
        _ => (
            format!("{}.json", profile.name),
            kiro(profile, stored, &config.home, model)?,
        ),
    };
    Ok(Some(AgentFile {
        provider: provider.to_string(),
        path: dir.join(file_name),
        content,
    }))
}

fn kiro(
    profile: &Profile,
    stored: &Path,
    home: &Path,
    model: Option<String>,
) -> Result<String, AgentFileError> {
    let mut mcp_servers = profile.mcp_servers.clone();
    if !mcp_servers.contains_key(CAO_SERVER) {
        let env = [(env::CAO_HOME.to_string(), home.display().to_string())].into();
        let server = serde_json::to_value(McpServer::cao(env)).expect("a server serializes");
        mcp_servers.insert(CAO_SERVER.to_string(), server);
    }
    // The body is loaded from the installed profile; an explicit `prompt:` key is inline.
    let agent = profile.agent();
    let resources = vec![format!("file://{}", stored.display())];
    let prompt = profile.prompt.as_deref();
    Ok(KiroAgent::new(
        &profile.name,
        &agent,
        prompt,
        resources,
        mcp_servers,
        model.as_deref(),
    )
    .render())
}

#[derive(Debug, Serialize)]
struct CopilotFrontMatter<'a> {
    name: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a Vec<String>>,
}

fn copilot(profile: &Profile) -> Result<String, AgentFileError> {
    let prompt = profile.system_prompt.trim();
    if prompt.is_empty() {
        return Err(AgentFileError::NoPrompt {
            name: profile.name.clone(),
            provider: "copilot_cli".into(),
        });
    }
    let front = serde_norway::to_string(&CopilotFrontMatter {
        name: &profile.name,
        description: &profile.description,
        tools: profile.tools.as_ref(),
    })
    .map_err(|source| AgentFileError::Render {
        what: format!("cannot render the Copilot agent for '{}'", profile.name),
        source,
    })?;
    Ok(format!("---\n{front}---\n{prompt}\n"))
}

/// Stable 64-bit FNV-1a fingerprint of a file's content (not a security measure: it only tells
/// "the file cao wrote" from "some other file").
fn fingerprint(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The record of agent files cao wrote, keyed by path.
#[derive(Debug, Default)]
pub struct Manifest {
    path: PathBuf,
    entries: BTreeMap<String, String>,
}

impl Manifest {
    /// Reads `CAO_HOME/agent-files.json` (empty when absent or unreadable: then every existing
    /// file counts as foreign, the safe side).
    pub fn load(home: &Path) -> Manifest {
        let path = home.join(MANIFEST);
        let entries = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Manifest { path, entries }
    }

    /// What writing `file` would do; refuses a foreign file unless `force`.
    pub fn plan(&self, file: &AgentFile, force: bool) -> Result<FileAction, AgentFileError> {
        let existing = match std::fs::read(&file.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileAction::Create),
            Err(source) => {
                return Err(AgentFileError::Io {
                    what: format!("cannot read {}", file.path.display()),
                    source,
                });
            }
        };
        if existing == file.content.as_bytes() {
            return Ok(FileAction::Unchanged);
        }
        let key = file.path.display().to_string();
        if self.entries.get(&key) == Some(&fingerprint(&existing)) {
            Ok(FileAction::Update)
        } else if force {
            Ok(FileAction::Overwrite)
        } else {
            Err(AgentFileError::NotOurs {
                path: file.path.clone(),
            })
        }
    }

    /// Writes `file` (atomically) and records it.
    pub fn write(&mut self, file: &AgentFile) -> Result<(), AgentFileError> {
        write_atomic(&file.path, file.content.as_bytes()).map_err(|source| AgentFileError::Io {
            what: format!("cannot write {}", file.path.display()),
            source,
        })?;
        self.entries.insert(
            file.path.display().to_string(),
            fingerprint(file.content.as_bytes()),
        );
        let json = serde_json::to_vec_pretty(&self.entries).unwrap_or_default();
        write_atomic(&self.path, &json).map_err(|source| AgentFileError::Io {
            what: format!("cannot record the agent file in {}", self.path.display()),
            source,
        })
    }
}

/// Writes through a temp file in the same directory and a rename, so a reader never sees half a
/// file and a crash never leaves one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // Readable as a file the user wrote would be (the umask decides), not only by its owner.
    let mut tmp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::{ProfileSource, parse};

    fn config(dir: &Path) -> Config {
        Config::load_from(&dir.join("cao"), Some(dir.join("user")), &[], None).unwrap()
    }

    fn profile(text: &str) -> Profile {
        parse(text, "t.md", ProfileSource::BuiltIn).unwrap()
    }

    #[test]
    fn kiro_defaults_and_profile_values() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let p = profile("---\nname: k\ndescription: d\n---\nBody\n");
        let f = render("kiro_cli", &p, Path::new("/s/k.md"), &cfg)
            .unwrap()
            .unwrap();
        assert_eq!(f.path, dir.path().join("user/.kiro/agents/k.json"));
        let v: serde_json::Value = serde_json::from_str(&f.content).unwrap();
        assert_eq!(v["allowedTools"], serde_json::json!(["fs_read", "@cao"]));
        assert_eq!(v["tools"], serde_json::json!(["*"]));
        assert_eq!(v["resources"], serde_json::json!(["file:///s/k.md"]));
        assert_eq!(
            v["mcpServers"]["cao"]["args"],
            serde_json::json!(["mcp-server"])
        );
        assert!(v.get("prompt").is_none() && v.get("model").is_none());

        let p = profile(
            "---\nname: k\ndescription: d\nallowedTools: [fs_write]\nmodel: m\n---\nBody\n",
        );
        let f = render("q_cli", &p, Path::new("/s/k.md"), &cfg)
            .unwrap()
            .unwrap();
        assert_eq!(
            f.path,
            dir.path().join("user/.aws/amazonq/cli-agents/k.json")
        );
        let v: serde_json::Value = serde_json::from_str(&f.content).unwrap();
        assert_eq!(v["allowedTools"], serde_json::json!(["fs_write", "@cao"]));
        assert_eq!(v["model"], "m");
    }

    #[test]
    fn copilot_needs_a_prompt_and_quotes_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let p = profile("---\nname: c\ndescription: \"a: tricky # one\"\n---\n");
        assert!(matches!(
            render("copilot_cli", &p, Path::new("/s"), &cfg),
            Err(AgentFileError::NoPrompt { .. })
        ));
        let p = profile("---\nname: c\ndescription: \"a: tricky # one\"\n---\nDo it.\n");
        let f = render("copilot_cli", &p, Path::new("/s"), &cfg)
            .unwrap()
            .unwrap();
        let back = parse(&f.content, "c.agent.md", ProfileSource::BuiltIn).unwrap();
        assert_eq!(back.description, "a: tricky # one");
        assert_eq!(back.system_prompt, "Do it.");
        assert!(
            render("claude_code", &p, Path::new("/s"), &cfg)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn manifest_tells_ours_from_foreign() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::load(dir.path());
        let mut f = AgentFile {
            provider: "kiro_cli".into(),
            path: dir.path().join("a/x.json"),
            content: "one".into(),
        };
        assert_eq!(m.plan(&f, false).unwrap(), FileAction::Create);
        m.write(&f).unwrap();
        assert_eq!(m.plan(&f, false).unwrap(), FileAction::Unchanged);
        f.content = "two".into();
        assert_eq!(
            Manifest::load(dir.path()).plan(&f, false).unwrap(),
            FileAction::Update
        );
        std::fs::write(&f.path, "edited by hand").unwrap();
        assert!(matches!(
            m.plan(&f, false),
            Err(AgentFileError::NotOurs { .. })
        ));
        assert_eq!(m.plan(&f, true).unwrap(), FileAction::Overwrite);
    }
}
