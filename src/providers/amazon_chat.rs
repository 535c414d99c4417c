//! The line-oriented chat screen shared by Amazon Q CLI (`q chat`) and Kiro CLI's legacy UI
//! (`kiro-cli chat --legacy-ui`), plus the agent-file plumbing both CLIs need.
//!
//! The screen: a prompt `[agent] > ` (optionally `[agent] 12% λ !> `) where the user types;
//! answers start with `> ` at column 0 (green) and run on as plain lines; tool use shows
//! `🛠️  Using tool: name` with `⋮` / `●` / `↳` detail lines; a permission question ends with
//! `[y/n/t]:` and is followed by a fresh prompt; a spinner line (`⠋ Thinking...`) replaces
//! the prompt while a turn runs.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::screen;
use super::{AgentSpec, CAO_SERVER, LaunchSpec, ProviderError, Question, Status};
use crate::env;

/// The `[agent] > ` prompt (with optional usage percentage, `λ` and `!` markers).
pub(crate) fn prompt_text(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('[')?;
    let close = rest.find(']')?;
    let name = &rest[..close];
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    let mut tail = rest[close + 1..].trim_start();
    if let Some(pct) = tail.find('%')
        && tail[..pct].chars().all(|c| c.is_ascii_digit())
        && pct > 0
    {
        tail = tail[pct + 1..].trim_start();
    }
    tail = tail.trim_start_matches('λ').trim_start();
    tail = tail.strip_prefix('!').unwrap_or(tail);
    let typed = tail.strip_prefix('>')?;
    Some(typed.trim())
}

/// A permission question: `Allow this action? ... [y/n/t]:`.
fn permission_line(line: &str) -> bool {
    line.contains("[y/n/t]") || line.contains("Allow this action?")
}

fn error_line(line: &str) -> bool {
    line.contains("is having trouble responding right now")
}

/// Tool-use chrome between answer segments.
pub(crate) fn tool_line(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("🛠") || t.starts_with('⋮') || t.starts_with("● ") || t.starts_with('↳')
}

/// Status of a legacy chat screen, or `None` when the screen is not in that layout.
pub(crate) fn legacy_status(lines: &[&str]) -> Option<Status> {
    let last = lines.iter().rposition(|l| !l.trim().is_empty())?;
    if prompt_text(lines[last]).is_none() {
        // No prompt at the bottom: a turn (or start-up) is running — if this is a legacy
        // screen at all.
        return lines
            .iter()
            .any(|l| prompt_text(l).is_some())
            .then_some(Status::Processing);
    }
    for line in lines[..last].iter().rev().filter(|l| !l.trim().is_empty()) {
        if permission_line(line) {
            return Some(Status::WaitingUserAnswer);
        }
        if error_line(line) {
            return Some(Status::Error);
        }
        if line.starts_with("> ") || *line == ">" {
            return Some(Status::Completed);
        }
        if prompt_text(line).is_some() {
            return Some(Status::Idle);
        }
    }
    Some(Status::Idle)
}

/// The permission question of a legacy chat screen (answered by typing `y`, `n` or `t` at
/// the prompt under it): the `[y/n/t]` line with the tool-use lines above it.
pub(crate) fn legacy_question(lines: &[&str]) -> Option<Question> {
    if legacy_status(lines)? != Status::WaitingUserAnswer {
        return None;
    }
    let at = lines.iter().rposition(|l| permission_line(l))?;
    let start = lines[..at]
        .iter()
        .rposition(|l| l.trim_start().starts_with("🛠"))
        .filter(|s| at - s <= 8)
        .unwrap_or(at);
    let text: Vec<&str> = lines[start..=at]
        .iter()
        .map(|l| l.trim().trim_start_matches(['●', '⋮']).trim())
        .filter(|l| !l.is_empty())
        .collect();
    Some(Question::line(&text.join("\n")))
}

/// The last answer of a legacy chat screen: the `> ` segments after the last tool use of
/// the last turn.
pub(crate) fn legacy_last_response(lines: &[&str]) -> Option<String> {
    let last_prompt = lines.iter().rposition(|l| prompt_text(l).is_some())?;
    let at_prompt = lines[last_prompt + 1..].iter().all(|l| l.trim().is_empty());
    let (start, end) = if at_prompt {
        let start = lines[..last_prompt]
            .iter()
            .rposition(|l| prompt_text(l).is_some())
            .map_or(0, |i| i + 1);
        (start, last_prompt)
    } else {
        // A turn is running: what it has answered so far.
        (last_prompt + 1, lines.len())
    };
    let mut body: Vec<String> = Vec::new();
    let mut in_answer = false;
    for line in &lines[start..end] {
        if tool_line(line) {
            body.clear();
            in_answer = false;
            continue;
        }
        if permission_line(line) {
            continue;
        }
        if let Some(text) = line.strip_prefix("> ") {
            if in_answer {
                body.push(String::new());
            }
            in_answer = true;
            body.push(text.to_string());
        } else if in_answer {
            body.push(line.to_string());
        }
    }
    let answer = screen::join_trimmed(&body);
    (!answer.is_empty()).then_some(answer)
}

/// The arguments both CLIs share: `chat --agent cao-<profile>` after writing that agent into
/// the CLI's agent directory.
pub(crate) fn args(
    provider: &'static str,
    spec: &LaunchSpec<'_>,
) -> Result<Vec<String>, ProviderError> {
    let dir = spec.agents_dir.as_ref().ok_or(ProviderError::Config {
        provider,
        reason: "cannot find the home directory to write the agent file into; set HOME or \
                 `agents_dir` in cao's config file"
            .into(),
    })?;
    let agent = write_agent_file(provider, dir, spec)?;
    Ok(vec!["chat".into(), "--agent".into(), agent])
}

/// `allowedTools` for a Kiro agent whose profile sets none: reading files and cao's own
/// tools run without a prompt; writing, shell and other servers ask first.
pub const DEFAULT_KIRO_ALLOWED_TOOLS: &[&str] = &["fs_read", "@cao"];

/// Kiro CLI's agent JSON (Q CLI reads the same format). The one renderer of it, for the
/// file cao writes at launch and the one `cao install` writes.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KiroAgent<'a> {
    name: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    mcp_servers: BTreeMap<String, serde_json::Value>,
    tools: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tool_aliases: &'a BTreeMap<String, String>,
    allowed_tools: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tools_settings: &'a BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    hooks: &'a BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
}

impl<'a> KiroAgent<'a> {
    /// The agent `name` for `agent`, with its prompt inline (`prompt`) and/or loaded from
    /// `resources` before the profile's own, and `mcp_servers` (cao's own among them). cao's
    /// tools are always allowed: a worker must always be able to report back.
    pub fn new(
        name: &'a str,
        agent: &'a AgentSpec,
        prompt: Option<&'a str>,
        mut resources: Vec<String>,
        mcp_servers: BTreeMap<String, serde_json::Value>,
        model: Option<&'a str>,
    ) -> KiroAgent<'a> {
        let mut allowed_tools: Vec<String> = match &agent.allowed_tools {
            Some(list) => list.clone(),
            None => DEFAULT_KIRO_ALLOWED_TOOLS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        let cao_ref = format!("@{CAO_SERVER}");
        if !allowed_tools.iter().any(|t| t == "*" || t == &cao_ref) {
            allowed_tools.push(cao_ref);
        }
        resources.extend(agent.resources.iter().cloned());
        KiroAgent {
            name,
            description: &agent.description,
            prompt: prompt.filter(|p| !p.trim().is_empty()),
            mcp_servers,
            tools: agent.tools.clone().unwrap_or_else(|| vec!["*".to_string()]),
            tool_aliases: &agent.tool_aliases,
            allowed_tools,
            tools_settings: &agent.tools_settings,
            resources,
            hooks: &agent.hooks,
            model: model.filter(|m| !m.is_empty()),
        }
    }

    /// The file's text (pretty JSON, ending in a newline).
    pub fn render(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("an agent serializes");
        json.push('\n');
        json
    }
}

/// Writes the agent file (`<dir>/cao-<profile>.json`) both CLIs load with `--agent`, and
/// returns the agent name. The file is per profile, not per terminal, so it is simply
/// rewritten on every launch; the terminal's identity is not in it (the CLI's MCP servers
/// inherit `CAO_TERMINAL_ID` from the CLI's own environment).
pub(crate) fn write_agent_file(
    provider: &'static str,
    dir: &Path,
    spec: &LaunchSpec<'_>,
) -> Result<String, ProviderError> {
    let name = format!("cao-{}", spec.agent.name);
    let servers = spec
        .mcp_servers
        .iter()
        .map(|(n, s)| {
            let mut s = s.clone();
            s.env.remove(env::CAO_TERMINAL_ID);
            (
                n.clone(),
                serde_json::to_value(s).expect("a server serializes"),
            )
        })
        .collect();
    let agent = KiroAgent::new(
        &name,
        spec.agent,
        Some(&spec.agent.system_prompt),
        Vec::new(),
        servers,
        spec.agent.model.as_deref(),
    );
    screen::write_private(provider, &dir.join(format!("{name}.json")), &agent.render())?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launch_agent_file_keeps_the_profile_s_tools_and_always_allows_cao() {
        let dir = tempfile::tempdir().unwrap();
        let agent = AgentSpec {
            name: "dev".into(),
            description: "d".into(),
            system_prompt: "Write code.".into(),
            model: Some("m1".into()),
            allowed_tools: Some(vec!["fs_write".into()]),
            tools: Some(vec!["fs_read".into(), "fs_write".into()]),
            ..AgentSpec::default()
        };
        let mut env = BTreeMap::new();
        env.insert(env::CAO_TERMINAL_ID.to_string(), "0a1b2c3d".to_string());
        env.insert(env::CAO_HOME.to_string(), "/h".to_string());
        let spec = LaunchSpec {
            terminal_id: "0a1b2c3d",
            agent: &agent,
            mcp_servers: [(
                CAO_SERVER.to_string(),
                crate::providers::McpServer::cao(env),
            )]
            .into(),
            yolo: false,
            working_dir: Path::new("/tmp"),
            scratch_dir: dir.path(),
            cao_home: Path::new("/h"),
            agents_dir: Some(dir.path().to_path_buf()),
        };
        let name = write_agent_file("kiro_cli", dir.path(), &spec).unwrap();
        assert_eq!(name, "cao-dev");
        let text = std::fs::read_to_string(dir.path().join("cao-dev.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["prompt"], "Write code.");
        assert_eq!(v["model"], "m1");
        assert_eq!(v["tools"], serde_json::json!(["fs_read", "fs_write"]));
        assert_eq!(v["allowedTools"], serde_json::json!(["fs_write", "@cao"]));
        let cao_env = &v["mcpServers"]["cao"]["env"];
        assert_eq!(cao_env[env::CAO_HOME], "/h");
        assert!(cao_env.get(env::CAO_TERMINAL_ID).is_none(), "{text}");
    }

    #[test]
    fn prompts() {
        assert_eq!(prompt_text("[developer] > "), Some(""));
        assert_eq!(prompt_text("[developer] 16% λ > hi"), Some("hi"));
        assert_eq!(prompt_text("[dev]!> "), Some(""));
        assert_eq!(prompt_text("[not a prompt] >"), None);
        assert_eq!(prompt_text("> answer"), None);
    }
}
