//! Codex (`codex`, npm `@openai/codex`).
//!
//! Its screen, bottom up: a footer (`model · cwd`, `? for shortcuts`), the composer (`› `
//! with placeholder or typed text, always drawn, even while busy), and above it the
//! conversation: user turns `› text` at column 0, answers `• text` with two-space indented
//! lines and a `Worked for 3s` line, tool calls `• Called server.tool` / `• Ran cmd` with
//! `└` output lines, a `Working (3s • esc to interrupt)` line while busy (hidden while the
//! answer text streams, 0.169), `■ ...` for errors and interruptions. Every finished turn
//! ends with `Worked for ...`. Approval prompts put a numbered menu (`› 1. Yes, proceed`)
//! above a `Press enter to confirm` footer.
//!
//! The session record (`records::codex`): each terminal gets `-c notify=[...]`, cao's hook
//! (followed by the user's own top-level `notify`, which the override would otherwise
//! drop), so every finished turn reports its thread id; the `CODEX_HOME` the terminal runs
//! with is noted in its run directory, and the reader opens that thread's rollout there.
//!
//! Codex gives an MCP server only a whitelist of its own environment; cao's server gets the
//! rest through `env_vars`, so the workers it starts inherit what the supervisor had.

use std::time::Duration;

use super::question;
use super::screen::{self, Blocks, Piece, toml_string};
use super::{Exit, LaunchSpec, Provider, ProviderError, ProviderId, Question, Status, Submit};
use crate::env;
use crate::records::codex as record;
use crate::records::{RecordError, RecordFiles, Transcript, hooks};

/// The Codex provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct Codex;

const NAME: &str = ProviderId::Codex.name();

/// First words of bullets that report tool activity rather than answer text.
const TOOL_VERBS: &[&str] = &[
    "Called",
    "Calling",
    "Ran",
    "Running",
    "Explored",
    "Exploring",
    "Edited",
    "Editing",
    "Added",
    "Adding",
    "Deleted",
    "Deleting",
    "Updated",
    "Searched",
    "Searching",
    "Read",
    "Reading",
    "Listed",
    "Listing",
    "Viewed",
    "Viewing",
    "Waiting",
    "Interacted",
    "Proposed",
    "Applied",
    "Change",
];

/// What an empty composer shows, dimmed (0.169): the main one, and a side conversation's.
/// capture-pane drops the dimming, so a composer holding exactly these words reads as empty.
const PLACEHOLDERS: &[&str] = &["Ask Codex to do anything", "Ask a follow-up question"];

impl Provider for Codex {
    fn id(&self) -> ProviderId {
        ProviderId::Codex
    }

    fn args(&self, spec: &LaunchSpec<'_>) -> Result<Vec<String>, ProviderError> {
        // A worker must not start (or leave behind) the shared background daemon.
        let mut argv = vec!["--no-daemon".to_string()];
        // The session record: Codex runs `notify` at the end of every finished turn with a
        // payload naming the thread, whose rollout the reader then opens.
        let codex_home = record::default_codex_home(None);
        screen::write_scratch(
            NAME,
            spec.scratch_dir,
            record::HOME_FILE,
            &codex_home.display().to_string(),
        )?;
        let hook = hooks::hook_argv(spec.cao_home, spec.terminal_id, record::NOTIFY_EVENT);
        let user = std::fs::read_to_string(codex_home.join("config.toml"))
            .ok()
            .and_then(|text| user_notify(&text));
        let notify: Vec<String> = notify_argv(hook, user)
            .iter()
            .map(|a| toml_string(a))
            .collect();
        argv.extend(["-c".into(), format!("notify=[{}]", notify.join(", "))]);
        let prompt = spec.agent.system_prompt.trim();
        if !prompt.is_empty() {
            argv.extend([
                "-c".into(),
                format!("developer_instructions={}", toml_string(prompt)),
            ]);
        }
        for (name, server) in &spec.mcp_servers {
            // Codex splits override keys at dots; keep the server name a bare TOML key.
            let key: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let prefix = format!("mcp_servers.{key}");
            argv.extend([
                "-c".into(),
                format!("{prefix}.command={}", toml_string(&server.command)),
            ]);
            let args: Vec<String> = server.args.iter().map(|a| toml_string(a)).collect();
            argv.extend(["-c".into(), format!("{prefix}.args=[{}]", args.join(", "))]);
            if !server.env.is_empty() {
                let env: Vec<String> = server
                    .env
                    .iter()
                    .map(|(k, v)| format!("{}={}", toml_string(k), toml_string(v)))
                    .collect();
                argv.extend(["-c".into(), format!("{prefix}.env={{{}}}", env.join(", "))]);
            }
            if name == "cao" {
                // Codex gives MCP servers only a short whitelist of its environment (HOME,
                // PATH, ...). The workers cao's server starts need the rest: API keys, the
                // CLIs' own settings, CAO_* switches. Pass it through by name.
                let names: Vec<String> = forwarded_env_names(&server.env)
                    .iter()
                    .map(|n| toml_string(n))
                    .collect();
                argv.extend([
                    "-c".into(),
                    format!("{prefix}.env_vars=[{}]", names.join(", ")),
                ]);
            }
        }
        Ok(argv)
    }

    fn transcript(&self, files: &RecordFiles) -> Option<Result<Transcript, RecordError>> {
        Some(record::read(files))
    }

    fn status(&self, screen: &str) -> Status {
        let lines = screen::lines(screen);
        if approval_prompt(&lines) {
            return Status::WaitingUserAnswer;
        }
        let Some(prompt) = composer(&lines) else {
            return Status::Processing;
        };
        let above = &lines[..prompt];
        if above
            .iter()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .any(|l| busy_line(l))
        {
            return Status::Processing;
        }
        // A finished turn always ends with `Worked for ...` (or a `■` notice). While the
        // answer streams, Codex hides its `Working` row, so turn output below the last user
        // turn with no `Worked for` under it means the turn is still running.
        let mut output = false;
        for line in above.iter().rev().filter(|l| !l.trim().is_empty()) {
            if let Some(notice) = line.strip_prefix("■ ") {
                return if notice.starts_with("Conversation interrupted") {
                    Status::Idle
                } else {
                    Status::Error
                };
            }
            if worked_for(line) {
                return Status::Completed;
            }
            if line.starts_with('›') {
                // The user's turn with nothing finished under it: the turn is starting or
                // streaming.
                return Status::Processing;
            }
            if line.trim_start_matches([' ', '│']).starts_with(">_ ")
                || line.trim_start().starts_with('╭')
            {
                // The start-up banner: no turn yet (notices under it are not answers).
                return Status::Idle;
            }
            if line.starts_with("• ") {
                output = true;
            }
        }
        // The top of the screen: a long answer still streaming, or a bare start-up screen.
        if output {
            Status::Processing
        } else {
            Status::Idle
        }
    }

    fn question(&self, screen: &str) -> Option<Question> {
        let lines = screen::lines(screen);
        if !approval_prompt(&lines) {
            return None;
        }
        // The question runs up to the turn's last bullet (`• Running ...`) or user line.
        question::numbered_menu(&lines, |l| l.starts_with("• ") || l.starts_with('›'))
    }

    fn input_is_empty(&self, screen: &str) -> bool {
        let lines = screen::lines(screen);
        let Some(prompt) = composer(&lines) else {
            return false;
        };
        let text = lines[prompt].trim_start_matches('›').trim();
        // The composer's further lines run down to the blank row above the footer.
        let end = lines[prompt + 1..]
            .iter()
            .rposition(|l| l.trim().is_empty())
            .map_or(prompt + 1, |i| prompt + 1 + i);
        (text.is_empty() || PLACEHOLDERS.contains(&text))
            && lines[prompt + 1..end].iter().all(|l| l.trim().is_empty())
    }

    fn last_response(&self, screen: &str) -> Result<String, ProviderError> {
        let lines = screen::lines(screen);
        let end = composer(&lines).unwrap_or(lines.len());
        let turn = &lines[..end];
        let start = turn
            .iter()
            .rposition(|l| l.starts_with('›'))
            .map_or(0, |i| i + 1);
        let blocks = BLOCKS.final_answer(&turn[start..]);
        screen::join_answer(&blocks, NAME)
    }

    fn startup_keys(&self, screen: &str) -> Option<&'static [&'static str]> {
        let lines = screen::lines(screen);
        let region = screen::bottom_region(&lines, 20);
        let has = |s: &str| region.iter().any(|l| l.contains(s));
        let cursor_on = |s: &str| {
            region
                .iter()
                .any(|l| l.trim_start().starts_with('›') && l.contains(s))
        };
        if has("Press enter to continue") {
            if has("Do you trust the contents of this directory")
                || has("allow Codex to work in this folder")
            {
                // The first option (trust) is preselected.
                return cursor_on("1.").then_some(&["Enter"][..]);
            }
            if has("Update available") && cursor_on("Update now") {
                return Some(&["Down", "Enter"][..]);
            }
        }
        None
    }

    fn submit(&self) -> Submit {
        // An Enter that follows typed text too closely becomes a newline (paste-burst
        // detection), so wait before submitting.
        Submit {
            enters: 1,
            pause: Duration::from_millis(500),
        }
    }

    fn exit(&self) -> Exit {
        // Typed `/exit` would need the paste pause before Enter; Ctrl-C twice quits at once.
        Exit::Keys(&["C-c", "C-c"])
    }
}

/// The notify program: cao's hook, then the user's own `notify` (which the `-c` override
/// would otherwise replace) through `sh`, each given Codex's payload as its last argument.
fn notify_argv(hook: Vec<String>, user: Option<Vec<String>>) -> Vec<String> {
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        return hook;
    };
    let line = |argv: &[String]| -> String {
        let mut words: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
        words.push("\"$1\"".into());
        words.join(" ")
    };
    vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("{}; {}", line(&hook), line(&user)),
        "cao-codex-notify".into(),
    ]
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// The user's top-level `notify = [...]` from Codex's `config.toml` (a plain array of
/// strings before the first table); `None` when there is none or it is not that simple.
fn user_notify(config: &str) -> Option<Vec<String>> {
    let mut rest = None;
    let mut offset = 0;
    for line in config.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with('[') {
            break;
        }
        if let Some(after) = t.strip_prefix("notify")
            && let Some(value) = after.trim_start().strip_prefix('=')
        {
            let start = offset + (line.len() - value.len());
            rest = Some(&config[start..]);
            break;
        }
        offset += line.len();
    }
    let mut chars = rest?.chars().peekable();
    let skip_blank = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
            } else if c == '#' {
                while chars.next_if(|c| *c != '\n').is_some() {}
            } else {
                break;
            }
        }
    };
    skip_blank(&mut chars);
    if chars.next()? != '[' {
        return None;
    }
    let mut words = Vec::new();
    loop {
        skip_blank(&mut chars);
        match chars.next()? {
            ']' => return Some(words),
            '\'' => words.push(chars.by_ref().take_while(|c| *c != '\'').collect()),
            '"' => {
                let mut word = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            'n' => word.push('\n'),
                            't' => word.push('\t'),
                            'r' => word.push('\r'),
                            '"' => word.push('"'),
                            '\\' => word.push('\\'),
                            _ => return None,
                        },
                        '\n' => return None,
                        c => word.push(c),
                    }
                }
                words.push(word);
            }
            _ => return None,
        }
        skip_blank(&mut chars);
        match chars.next()? {
            ',' => {}
            ']' => return Some(words),
            _ => return None,
        }
    }
}

/// Names of this process's environment variables that the CLI will also have (nesting
/// markers and `TERM` are not passed on), minus those the server's config sets itself.
fn forwarded_env_names(own: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| {
            !k.is_empty()
                && k != "TERM"
                && !env::NESTING_MARKERS.contains(&k.as_str())
                && !own.contains_key(k)
        })
        .collect();
    names.sort();
    names
}

/// The composer line: the last `›` at column 0 (it is always drawn, placeholder included).
fn composer(lines: &[&str]) -> Option<usize> {
    lines.iter().rposition(|l| l.starts_with('›'))
}

/// `Working (3s • esc to interrupt)` at column 0, with or without a leading bullet or
/// spinner (an indented copy is answer text).
/// Codex's answer blocks: `• ` bullets, two-space continuation lines up to a `Worked for`
/// footer; a tool call's bullet resets the answer, the animated `• Working (...)` line is
/// not part of it.
const BLOCKS: Blocks = Blocks {
    bullet: |line| line.strip_prefix("• "),
    indent: 2,
    ends_block: worked_for,
    block: |line, body| {
        if busy_line(line) {
            Piece::Skip
        } else if is_tool_bullet(&body[0], body.get(1).map(String::as_str)) {
            Piece::Reset
        } else {
            Piece::Answer
        }
    },
    line: screen::skip_line,
};

fn busy_line(line: &str) -> bool {
    !line.starts_with(' ') && line.contains("esc to interrupt)") && line.contains('(')
}

/// `  Worked for 3s • 02:33`, `  Worked for <1s • 04:28`, `─ Worked for 1m 2s ─────`.
fn worked_for(line: &str) -> bool {
    let t = line.trim_start().trim_start_matches(['─', ' ']);
    t.strip_prefix("Worked for ").is_some_and(|rest| {
        rest.trim_start_matches('<')
            .starts_with(|c: char| c.is_ascii_digit())
    })
}

/// Tool activity bullets, told from prose that happens to start with the same verb by their
/// `└` detail line or their lack of sentence punctuation.
fn is_tool_bullet(first: &str, second: Option<&str>) -> bool {
    let verb = first.split_whitespace().next().unwrap_or("");
    if !TOOL_VERBS.contains(&verb) {
        return false;
    }
    let detail = second.is_some_and(|l| l.trim_start().starts_with('└'));
    detail || !first.trim_end().ends_with(['.', ':', '!', '?'])
}

/// A numbered menu at the bottom of the screen: an approval, or a start-up dialog.
fn approval_prompt(lines: &[&str]) -> bool {
    let region = screen::bottom_region(lines, 20);
    let menu = region.iter().any(|l| {
        l.strip_prefix("› ").is_some_and(|rest| {
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            !n.is_empty() && rest[n.len()..].starts_with(". ")
        })
    });
    let footer = region.iter().any(|l| {
        l.contains("Press enter to confirm")
            || l.contains("to confirm or esc to cancel")
            || l.contains("Press enter to continue")
    });
    let modal = region.iter().any(|l| l.contains("[a] Accept"));
    (menu && footer) || modal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_notify_is_read_from_a_plain_top_level_array() {
        let config = "model = \"o3\"\n# notify = [\"old\"]\nnotify = [\n  \"/usr/bin/say\", # speak\n  'C:\\x',\n  \"a \\\"b\\\"\",\n]\n[tui]\nnotify = [\"no\"]\n";
        assert_eq!(
            user_notify(config),
            Some(vec![
                "/usr/bin/say".to_string(),
                "C:\\x".to_string(),
                "a \"b\"".to_string()
            ])
        );
        assert_eq!(
            user_notify("notify = [\"notify-send\", \"Codex\"]\n"),
            Some(vec!["notify-send".to_string(), "Codex".to_string()])
        );
        assert_eq!(user_notify("[tui]\nnotify = [\"x\"]\n"), None);
        assert_eq!(user_notify("notify_me = [\"x\"]\n"), None);
        assert_eq!(user_notify("notify = \"x\"\n"), None);
        assert_eq!(user_notify("notify = [\"a\", 1]\n"), None);
    }

    #[test]
    fn notify_runs_cao_then_the_users_program_with_the_payload() {
        let hook = vec!["/bin/cao".to_string(), "_hook".to_string()];
        assert_eq!(notify_argv(hook.clone(), None), hook);
        assert_eq!(notify_argv(hook.clone(), Some(Vec::new())), hook);
        let argv = notify_argv(hook, Some(vec!["say".into(), "it's".into()]));
        assert_eq!(argv[..2], ["/bin/sh".to_string(), "-c".to_string()]);
        assert_eq!(
            argv[2],
            "'/bin/cao' '_hook' \"$1\"; 'say' 'it'\\''s' \"$1\""
        );
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .arg("{\"a\": 1}")
            .env("PATH", "/nonexistent")
            .output()
            .unwrap();
        // Both commands were tried (neither exists here), each with the payload.
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("/bin/cao") && err.contains("say"), "{err}");
    }
}
