//! Kiro CLI (`kiro-cli chat`, a vendor download). Not runnable on the test machines: its
//! screen patterns are reconstructed from published descriptions, not recorded here.
//!
//! Two screens are understood. The legacy UI is the line-oriented chat shared with Q CLI
//! (see `amazon_chat`). The default TUI, bottom up: ` Ask a question or describe a task ↵`
//! (replaced by `Kiro is working` / `Thinking...` during a turn), a header
//! `agent · model · ◔ 4%`, a rule, and above it the turn: the user's text, a blank line, the
//! answer (both indented two spaces) and a `▸ Credits: 0.24 • Time: 3s` line. A permission
//! request offers `Yes`, `Trust`/`Always allow` and `No`; `--trust-all-tools` first shows a
//! consent menu (`❯ No, exit` / `Yes, I accept`).
//!
//! The profile becomes a Kiro agent file `~/.kiro/agents/cao-<profile>.json` (system
//! prompt, model, MCP servers with cao's own), started with `--agent`.

use std::time::Duration;

use super::amazon_chat;
use super::question;
use super::screen::{self, dedent, is_rule};
use super::{LaunchSpec, Provider, ProviderError, ProviderId, Question, Status, Submit};

/// The Kiro CLI provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct KiroCli;

const NAME: &str = ProviderId::KiroCli.name();
const PLACEHOLDER: &str = "describe a task";

impl Provider for KiroCli {
    fn id(&self) -> ProviderId {
        ProviderId::KiroCli
    }

    fn args(&self, spec: &LaunchSpec<'_>) -> Result<Vec<String>, ProviderError> {
        amazon_chat::args(NAME, spec)
    }

    fn status(&self, screen: &str) -> Status {
        let lines = screen::lines(screen);
        if let Some(status) = amazon_chat::legacy_status(&lines) {
            return status;
        }
        let tail = screen::bottom_region(&lines, 6);
        if tail
            .iter()
            .any(|l| l.contains("Initializing") || l.contains("mcp servers initialized"))
        {
            return Status::Processing;
        }
        if tail
            .iter()
            .any(|l| l.contains("Kiro is working") || l.contains("Thinking..."))
        {
            return Status::Processing;
        }
        if consent_menu(&lines) || permission_menu(&lines) {
            return Status::WaitingUserAnswer;
        }
        let Some(idle) = lines.iter().rposition(|l| l.contains(PLACEHOLDER)) else {
            return Status::Processing;
        };
        if lines.len() - idle > 3 {
            return Status::Processing;
        }
        let Some((start, end)) = tui_turn(&lines[..idle]) else {
            return Status::Idle;
        };
        let turn = &lines[start..end];
        if turn
            .iter()
            .any(|l| l.contains("is having trouble responding right now"))
        {
            return Status::Error;
        }
        if turn.iter().any(|l| credits_line(l)) || answer_lines(turn).is_some() {
            Status::Completed
        } else {
            Status::Idle
        }
    }

    fn last_response(&self, screen: &str) -> Result<String, ProviderError> {
        let lines = screen::lines(screen);
        if let Some(answer) = amazon_chat::legacy_last_response(&lines) {
            return Ok(answer);
        }
        let end = lines
            .iter()
            .rposition(|l| l.contains(PLACEHOLDER))
            .unwrap_or(lines.len());
        tui_turn(&lines[..end])
            .and_then(|(start, end)| answer_lines(&lines[start..end]))
            .ok_or(ProviderError::NoAnswer { provider: NAME })
    }

    fn question(&self, screen: &str) -> Option<Question> {
        let lines = screen::lines(screen);
        if amazon_chat::legacy_status(&lines).is_some() {
            return amazon_chat::legacy_question(&lines);
        }
        if !(consent_menu(&lines) || permission_menu(&lines)) {
            return None;
        }
        // Unnumbered choices from the first `Yes`/`No` line down (`❯` on the selected one).
        let from = lines.len().saturating_sub(15);
        let first = from
            + lines[from..].iter().position(|l| {
                let t = l.trim_start().trim_start_matches('❯').trim_start();
                t.starts_with("Yes") || t.starts_with("No,")
            })?;
        Some(question::listed_menu(&lines, first, question::no_top))
    }

    fn startup_keys(&self, screen: &str) -> Option<&'static [&'static str]> {
        let lines = screen::lines(screen);
        if !consent_menu(&lines) {
            return None;
        }
        let region = screen::bottom_region(&lines, 15);
        let on_no = region.iter().any(|l| {
            l.trim_start()
                .strip_prefix('❯')
                .is_some_and(|r| r.trim_start().starts_with("No, exit"))
        });
        // Down lands on "Yes, I accept" (this session only, nothing persisted).
        on_no.then_some(&["Down", "Enter"][..])
    }

    fn submit(&self) -> Submit {
        // The TUI finalises a bracketed paste on the first Enter and submits on the second.
        Submit {
            enters: 2,
            pause: Duration::from_millis(800),
        }
    }
}

/// The `--trust-all-tools` consent menu shown at start-up.
fn consent_menu(lines: &[&str]) -> bool {
    let region = screen::bottom_region(lines, 15);
    region.iter().any(|l| l.contains("trust all tools mode"))
        && region.iter().any(|l| l.contains("Yes, I accept"))
}

/// A tool permission request in the TUI.
fn permission_menu(lines: &[&str]) -> bool {
    let region = screen::bottom_region(lines, 12).join("\n");
    (region.contains("Yes") && region.contains("Always allow") && region.contains("No"))
        || (region.contains("Yes, single permission") && region.contains("Trust, always allow"))
}

fn credits_line(line: &str) -> bool {
    line.trim_start().starts_with('▸') && line.contains("Credits:")
}

/// The last turn above the header: between the last two rules, and after the previous
/// turn's credits line when several turns share that space.
fn tui_turn(lines: &[&str]) -> Option<(usize, usize)> {
    let close = lines.iter().rposition(|l| is_rule(l))?;
    let mut open = lines[..close]
        .iter()
        .rposition(|l| is_rule(l))
        .map_or(0, |i| i + 1);
    let credits: Vec<usize> = (open..close).filter(|i| credits_line(lines[*i])).collect();
    if credits.len() >= 2 {
        open = credits[credits.len() - 2] + 1;
    }
    Some((open, close))
}

/// The answer of one TUI turn: everything after the user's paragraph, without the credits
/// line.
fn answer_lines(turn: &[&str]) -> Option<String> {
    let first = turn.iter().position(|l| !l.trim().is_empty())?;
    let blank = turn[first..].iter().position(|l| l.trim().is_empty())? + first;
    let body: Vec<String> = turn[blank..]
        .iter()
        .filter(|l| !credits_line(l))
        .map(|l| dedent(l, 2).to_string())
        .collect();
    let answer = screen::join_trimmed(&body);
    (!answer.is_empty()).then_some(answer)
}
