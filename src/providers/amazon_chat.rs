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

use serde_json::json;

use super::screen;
use super::{LaunchSpec, McpServer, ProviderError, Status};
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
    let servers: BTreeMap<&String, McpServer> = spec
        .mcp_servers
        .iter()
        .map(|(n, s)| {
            let mut s = s.clone();
            s.env.remove(env::CAO_TERMINAL_ID);
            (n, s)
        })
        .collect();
    let mut agent = json!({
        "name": name,
        "description": spec.agent.description,
        "prompt": spec.agent.system_prompt,
        "mcpServers": servers,
        "tools": ["*"],
        // cao's own tools never ask: a worker must always be able to report back.
        "allowedTools": ["@cao"],
    });
    if let Some(model) = spec.agent.model.as_deref().filter(|m| !m.is_empty()) {
        agent["model"] = json!(model);
    }
    let text = serde_json::to_string_pretty(&agent).map_err(|e| ProviderError::Config {
        provider,
        reason: e.to_string(),
    })?;
    screen::write_private(provider, &dir.join(format!("{name}.json")), &text)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts() {
        assert_eq!(prompt_text("[developer] > "), Some(""));
        assert_eq!(prompt_text("[developer] 16% λ > hi"), Some("hi"));
        assert_eq!(prompt_text("[dev]!> "), Some(""));
        assert_eq!(prompt_text("[not a prompt] >"), None);
        assert_eq!(prompt_text("> answer"), None);
    }
}
