//! Provider status and answer extraction on screens, with no tmux: every recorded screen in
//! `tests/fixtures/screens/` (real CLIs, see `pane_titles.txt` and the READMEs there; each
//! `.txt` as cao captures it, most with a coloured `.ansi` twin that must read the same), then
//! hand-made screens for the tricky cases of every provider. Kiro, Kimi and Q have no
//! recordings; their screens here are reconstructed from published descriptions.

use std::path::PathBuf;

use cao::providers::{self, Layout, Provider, Question, Reply, Status};

const IDLE: Status = Status::Idle;
const BUSY: Status = Status::Processing;
const DONE: Status = Status::Completed;
const ASK: Status = Status::WaitingUserAnswer;
const ERROR: Status = Status::Error;

fn provider(name: &str) -> &'static dyn Provider {
    providers::get(name).unwrap()
}

fn fixture(cli: &str, name: &str) -> String {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests/fixtures/screens",
        cli,
        name,
    ]
    .iter()
    .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One screen: its status, and the answer (`None`: no answer can be extracted).
fn check(p: &dyn Provider, label: &str, screen: &str, status: Status, answer: Option<&str>) {
    assert_eq!(p.status(screen), status, "{}: status of {label}", p.name());
    match (p.last_response(screen), answer) {
        (Ok(got), Some(want)) => assert_eq!(got, want, "{}: answer of {label}", p.name()),
        (Err(_), None) => {}
        (got, want) => panic!(
            "{}: answer of {label}: got {got:?}, want {want:?}",
            p.name()
        ),
    }
}

fn recorded(name: &str, cli: &str, cases: &[(&str, Status, Option<&str>)]) {
    let p = provider(name);
    for (file, status, answer) in cases {
        check(p, file, &fixture(cli, file), *status, *answer);
    }
}

/// The session every CLI was recorded through (`../shared/fixtures/screens/<cli>/01..07`):
/// idle, text typed, busy, answered `hello`, busy on an MCP call (twice), answered `tool`;
/// then the CLI's own further screens in `more`.
fn recorded_session(
    name: &str,
    cli: &str,
    hello: &str,
    tool: &str,
    more: &[(&str, Status, Option<&str>)],
) {
    recorded(
        name,
        cli,
        &[
            ("01-idle.txt", IDLE, None),
            ("02-typed.txt", IDLE, None),
            ("03-processing.txt", BUSY, None),
            ("04-completed.txt", DONE, Some(hello)),
            ("05-mcp-processing.txt", BUSY, None),
            ("06-mcp-toolcall.txt", BUSY, None),
            ("07-mcp-completed.txt", DONE, Some(tool)),
        ],
    );
    recorded(name, cli, more);
}

/// The mock's first answer, as the recorded CLIs render it.
fn mock_reply(n: u32, said: &str) -> String {
    format!("MOCK REPLY #{n}: you said: {said}\n\nThis is line two of the mock answer.\nDone.")
}

// ---------------------------------------------------------------------------------------
// Recorded screens
// ---------------------------------------------------------------------------------------

#[test]
fn claude_code_recorded_screens() {
    let hello = mock_reply(1, "Hello mock, please say something");
    let echo = "MOCK: tool result received: ECHO: hello from mock";
    recorded_session(
        "claude_code",
        "claude",
        &hello,
        echo,
        &[
            ("10-everything-idle.txt", IDLE, None),
            ("11-pasted-multiline.txt", IDLE, None),
            ("12-after-enter.txt", BUSY, None),
            (
                "13-everything-completed.txt",
                DONE,
                Some("MOCK: tool result received: Echo: hello from mock"),
            ),
            ("20-perms-idle.txt", IDLE, None),
            ("21-perms-dialog.txt", ASK, None),
            ("22-perms-approved.txt", DONE, Some(echo)),
            ("30-long-paste.txt", IDLE, None),
            ("31-long-paste-processing.txt", BUSY, None),
            ("32-interrupted.txt", IDLE, None),
            ("fresh-00-no-onboarding-flag-exits.txt", BUSY, None),
            ("fresh-01-dialog.txt", ASK, None),
            ("fresh-02-after-trust.txt", ASK, None),
            ("fresh-03-after-apikey.txt", ASK, None),
            ("fresh-04-after-bypass-accept.txt", IDLE, None),
        ],
    );
}

#[test]
fn claude_code_answers_its_startup_dialogs_only() {
    let p = provider("claude_code");
    let keys = |f: &str| p.startup_keys(&fixture("claude", f));
    assert_eq!(keys("fresh-01-dialog.txt"), Some(&["Enter"][..]));
    assert_eq!(keys("fresh-02-after-trust.txt"), Some(&["Up", "Enter"][..]));
    assert_eq!(
        keys("fresh-03-after-apikey.txt"),
        Some(&["Down", "Enter"][..])
    );
    for f in [
        "fresh-04-after-bypass-accept.txt",
        "21-perms-dialog.txt",
        "04-completed.txt",
    ] {
        assert_eq!(keys(f), None, "{f}");
    }
}

#[test]
fn codex_recorded_screens() {
    let hello = mock_reply(1, "Hello mock, please say something");
    let tool = |secs: &str| {
        format!(
            "MOCK: tool result received: Wall time: {secs} seconds\nOutput:\nECHO: hello from mock"
        )
    };
    recorded_session(
        "codex",
        "codex",
        &hello,
        &tool("0.0030"),
        &[
            // Enter right after typing became a newline: still at the prompt, text unsent.
            (
                "08-fast-enter-newline-gotcha.txt",
                DONE,
                Some(&tool("0.0060")),
            ),
            ("08b-cleared.txt", DONE, Some(&tool("0.0060"))),
            ("09-paste-then-enter.txt", BUSY, None),
            (
                "10-paste-completed.txt",
                DONE,
                Some(&mock_reply(4, "bracketed paste prompt")),
            ),
        ],
    );
}

#[test]
fn gemini_cli_recorded_screens() {
    let hello = mock_reply(2, "Hello mock, please say something");
    let tool = r#"MOCK: tool result received: {"output": "<untrusted_context>\nECHO: hello from mock\n</untrusted_context>"}"#;
    recorded_session(
        "gemini_cli",
        "gemini",
        &hello,
        tool,
        &[
            ("08-fast-enter.txt", DONE, Some(tool)),
            ("09-paste-then-enter.txt", BUSY, None),
        ],
    );
}

#[test]
fn opencode_recorded_screens() {
    let hello = mock_reply(1, "Hello mock, please say something");
    let echo = "MOCK: tool result received: ECHO: hello from mock";
    recorded_session(
        "opencode",
        "opencode",
        &hello,
        echo,
        &[
            ("08-fast-enter.txt", BUSY, None),
            ("09-paste-then-enter.txt", BUSY, None),
            (
                "09a-pasted.txt",
                DONE,
                Some(&mock_reply(3, "fast typed then Enter")),
            ),
            (
                "10-paste-completed.txt",
                DONE,
                Some(&mock_reply(4, "bracketed paste second line")),
            ),
        ],
    );
}

#[test]
fn copilot_cli_recorded_screens() {
    let hello =
        "MOCK REPLY: you said: 6+00:00\n\nHello mock, please say something\n\nSecond paragraph.";
    let plan = "Here is the plan for your request.\n\n1. Read the file\n2. Change the code\n\n\
                fn main() {\n    println!(\"hi\");\n}\n\n• first point\n• second point\n\nDone.";
    let long = "MOCK REPLY: you said: r text\nline 29 of a long pasted prompt with some filler text\n\nSecond paragraph.";
    recorded(
        "copilot_cli",
        "copilot",
        &[
            ("00-trust-dialog.txt", ASK, None),
            ("01-idle.txt", IDLE, None),
            ("02-typed.txt", IDLE, None),
            ("03-processing.txt", BUSY, None),
            ("04-completed.txt", DONE, Some(hello)),
            ("05-plan-completed.txt", DONE, Some(plan)),
            ("06-error.txt", BUSY, None),
            ("07-error-final.txt", ERROR, None),
            ("08-slow-processing.txt", BUSY, None),
            ("09-single-escape-still-busy.txt", BUSY, None),
            ("10-long-paste.txt", BUSY, None),
            ("11-long-paste-processing.txt", BUSY, None),
            ("12-queued-while-busy.txt", BUSY, None),
            ("13-fast-double-escape-still-busy.txt", BUSY, None),
            ("15-long-paste-completed.txt", DONE, Some(long)),
            ("16-scrollback-completed.txt", DONE, Some(long)),
            ("17-interrupted-text-restored.txt", DONE, Some(long)),
        ],
    );
    let p = provider("copilot_cli");
    assert_eq!(
        p.startup_keys(&fixture("copilot", "00-trust-dialog.txt")),
        Some(&["Enter"][..])
    );
    assert_eq!(p.startup_keys(&fixture("copilot", "01-idle.txt")), None);
}

// ---------------------------------------------------------------------------------------
// Hand-made tricky screens
// ---------------------------------------------------------------------------------------

const RULE: &str =
    "────────────────────────────────────────────────────────────────────────────────";

/// A multi-paragraph answer with a heading, lists and a code block, as plain text.
const RICH: &str = "Summary of the change.\n\n\
Steps:\n\
1. Parse the input\n\
2. Validate it\n\
- a bullet\n\
- another bullet\n\n\
fn main() {\n    println!(\"hi\");\n}\n\n\
The end.";

/// `RICH` with every line but the first indented by `n` spaces, under `bullet`.
fn rendered(bullet: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    let mut lines = RICH.lines();
    let mut out = format!("{bullet}{}\n", lines.next().unwrap());
    for l in lines {
        if l.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&format!("{pad}{l}\n"));
        }
    }
    out
}

fn claude_box(input: &str, footer: &str) -> String {
    format!("{RULE}\n❯\u{a0}{input}\n{RULE}\n  {footer}\n\n\n")
}

#[test]
fn claude_code_tricky_screens() {
    let p = provider("claude_code");

    let old = "❯ first task\n\n● Old answer that must not count.\n\n✻ Worked for 2s\n\n";
    let busy = format!(
        "{old}❯ second task\n\n✶ Pondering…\n\n{}",
        claude_box("", "⏵⏵ bypass permissions on · esc to interrupt")
    );
    check(p, "old answer above a busy turn", &busy, BUSY, None);
    let spinner_only = format!(
        "{old}❯ second task\n\n✶ Pondering… (3s)\n\n{}",
        claude_box("", "? for shortcuts")
    );
    check(p, "spinner without footer hint", &spinner_only, BUSY, None);

    let interrupted = format!(
        "{old}❯ second task\n  ⎿  Interrupted · What should Claude do instead?\n\n{}",
        claude_box("", "? for shortcuts")
    );
    check(p, "interrupted turn", &interrupted, IDLE, None);

    let error = format!(
        "{old}❯ second task\n  ⎿  API Error: 500 {{\"type\":\"error\"}}\n\n{}",
        claude_box("", "? for shortcuts")
    );
    check(p, "API error", &error, ERROR, None);

    let collapsed = format!(
        "{old}{}",
        claude_box("[Pasted text #1 +30 lines]", "paste again to expand")
    );
    check(
        p,
        "collapsed paste over an old answer",
        &collapsed,
        DONE,
        Some("Old answer that must not count."),
    );

    let rich = format!(
        "{old}❯ do the work\n\n● I'll read the file first.\n\n● Read(src/main.rs)\n  ⎿  Read 12 lines\n\n\
         ● Bash(cargo test)\n  ⎿  test result: ok\n\n{}\n✻ Churned for 12s\n\n{}",
        rendered("● ", 2),
        claude_box("", "? for shortcuts")
    );
    check(p, "rich answer after tool calls", &rich, DONE, Some(RICH));

    let quoting = format!(
        "❯ show me the prompt\n\n● The prompt looks like this:\n\n  ❯ type here\n  ● a bullet\n  {RULE}\n  esc to interrupt\n\n✻ Worked for 1s\n\n{}",
        claude_box("", "? for shortcuts")
    );
    check(
        p,
        "answer quoting the prompt",
        &quoting,
        DONE,
        Some(&format!(
            "The prompt looks like this:\n\n❯ type here\n● a bullet\n{RULE}\nesc to interrupt"
        )),
    );

    let permission = format!(
        "❯ clean up\n\n● Bash(rm -rf build)\n\n{RULE}\n Bash command\n\n   rm -rf build\n\n Do you want to proceed?\n ❯ 1. Yes\n   2. No\n\n Esc to cancel\n"
    );
    check(p, "bash permission", &permission, ASK, None);
    assert_eq!(p.startup_keys(&permission), None);
}

fn codex_bottom(composer: &str) -> String {
    format!("\n› {composer}\n\n  gpt-5 default · ~/project\n  ? for shortcuts\n")
}

#[test]
fn codex_tricky_screens() {
    let p = provider("codex");

    let old = "› first task\n\n\n• Old answer.\n\n  Worked for 2s\n\n\n";
    let busy = format!(
        "{old}› second task\n\n\n• Working (4s • esc to interrupt)\n{}",
        codex_bottom("Ask Codex to do anything")
    );
    check(p, "old answer above a busy turn", &busy, BUSY, None);

    let approval = format!(
        "{old}› delete the build\n\n• Running rm -rf build\n\n  Would you like to run the following command?\n\n  $ rm -rf build\n\n\
         › 1. Yes, proceed (y)\n  2. No, and tell Codex what to do differently (esc)\n\n  Press enter to confirm or esc to cancel\n"
    );
    check(p, "approval", &approval, ASK, None);
    assert_eq!(p.startup_keys(&approval), None);

    let interrupted = format!(
        "{old}› second task\n\n■ Conversation interrupted - tell the model what to do differently.\n{}",
        codex_bottom("Ask Codex to do anything")
    );
    check(p, "interrupted", &interrupted, IDLE, None);

    let error = format!(
        "{old}› second task\n\n■ stream disconnected before completion: error sending request\n{}",
        codex_bottom("Ask Codex to do anything")
    );
    check(p, "error", &error, ERROR, None);

    let collapsed = format!("{old}{}", codex_bottom("[Pasted Content 2410 chars]"));
    check(
        p,
        "collapsed paste over an old answer",
        &collapsed,
        DONE,
        Some("Old answer."),
    );

    let rich = format!(
        "{old}› do the work\n\n\n• Read the notes first: they matter.\n\n• Ran cargo test\n  └ test result: ok\n\n• Explored\n  └ Read main.rs\n\n{}\n  Worked for 9s • 10:02\n{}",
        rendered("• ", 2),
        codex_bottom("Ask Codex to do anything")
    );
    check(p, "rich answer after tool calls", &rich, DONE, Some(RICH));

    let quoting = format!(
        "› show the prompt\n\n\n• It looks like:\n\n  › type here\n  • Working (0s • esc to interrupt)\n\n  Worked for 1s\n{}",
        codex_bottom("Ask Codex to do anything")
    );
    check(
        p,
        "answer quoting the prompt",
        &quoting,
        DONE,
        Some("It looks like:\n\n› type here\n• Working (0s • esc to interrupt)"),
    );

    let trust = "  Do you trust the contents of this directory?\n\n› 1. Yes, continue\n  2. No, quit\n\n  Press enter to continue\n";
    assert_eq!(p.status(trust), ASK);
    assert_eq!(p.startup_keys(trust), Some(&["Enter"][..]));
}

fn gemini_bottom(input: &str, busy: bool) -> String {
    let top = "▄".repeat(60);
    let bottom = "▀".repeat(60);
    let status = if busy {
        " ⠇ Thinking... (esc to cancel, 2s)                     ? for shortcuts"
    } else {
        "                                                        ? for shortcuts"
    };
    format!(
        "\n{status}\n{RULE}\n YOLO Ctrl+Y                                 1 MCP server\n{top}\n {input}\n{bottom}\n workspace (/directory)      sandbox     /model\n ~/project                   no sandbox  Auto\n"
    )
}

fn gemini_user(text: &str) -> String {
    format!("{}\n > {text}\n{}\n", "▄".repeat(60), "▀".repeat(60))
}

#[test]
fn gemini_cli_tricky_screens() {
    let p = provider("gemini_cli");

    let old = format!("{}✦ Old answer.\n\n", gemini_user("first task"));
    let busy = format!(
        "{old}{}{}",
        gemini_user("second task"),
        gemini_bottom("*   Type your message or @path/to/file", true)
    );
    check(p, "old answer above a busy turn", &busy, BUSY, None);

    let confirm = format!(
        "{old}{}╭──────────────────────────────────────────╮\n│ ?  Shell rm -rf build                    │\n│                                          │\n\
         │ Allow execution of: 'rm'?                │\n│                                          │\n│ ● 1. Allow once                          │\n\
         │   2. Allow for this session              │\n│   3. No, suggest changes (esc)           │\n╰──────────────────────────────────────────╯\n",
        gemini_user("delete the build")
    );
    check(p, "tool confirmation", &confirm, ASK, None);

    let cancelled = format!(
        "{old}{}ℹ Request cancelled.\n{}",
        gemini_user("second"),
        gemini_bottom("*   Type your message or @path/to/file", false)
    );
    check(p, "interrupted", &cancelled, IDLE, None);

    let error = format!(
        "{old}{}✕ [API Error: got status: 500 Internal Server Error]\n{}",
        gemini_user("second"),
        gemini_bottom("*   Type your message or @path/to/file", false)
    );
    check(p, "error", &error, ERROR, None);

    let collapsed = format!("{old}{}", gemini_bottom("* [Pasted Text: 30 lines]", false));
    check(
        p,
        "collapsed paste over an old answer",
        &collapsed,
        DONE,
        Some("Old answer."),
    );

    let rich = format!(
        "{old}{}✦ I'll check first.\n\n╭──────────────────────────╮\n│ ✓  ReadFile main.rs      │\n╰──────────────────────────╯\n\n{}{}",
        gemini_user("do the work"),
        rendered("✦ ", 2),
        gemini_bottom("*   Type your message or @path/to/file", false)
    );
    check(p, "rich answer after a tool call", &rich, DONE, Some(RICH));

    let quoting = format!(
        "{}✦ The prompt looks like:\n\n   > typed\n  ✦ a reply\n  Thinking... (esc to cancel, 1s)\n{}",
        gemini_user("show the prompt"),
        gemini_bottom("*   Type your message or @path/to/file", false)
    );
    check(
        p,
        "answer quoting the prompt",
        &quoting,
        DONE,
        Some("The prompt looks like:\n\n > typed\n✦ a reply\nThinking... (esc to cancel, 1s)"),
    );
}

fn opencode_bottom(input: &str, busy: bool) -> String {
    let footer = if busy {
        "   ■■⬝⬝⬝⬝⬝⬝  esc interrupt                                   tab agents  ctrl+p commands"
    } else {
        "   ~/project                                        120 (0%)  ctrl+p commands"
    };
    format!(
        "\n  ┃\n  ┃  {input}\n  ┃\n  ┃  Build · Mock Model Mock LLM\n  ╹{}\n{footer}\n",
        "▀".repeat(60)
    )
}

fn opencode_user(text: &str) -> String {
    format!("  ┃\n  ┃  {text}\n  ┃\n\n")
}

#[test]
fn opencode_tricky_screens() {
    let p = provider("opencode");

    let old = format!(
        "{}     Old answer.\n\n     ▣  Build · Mock Model · 2.1s\n\n",
        opencode_user("first task")
    );
    let busy = format!(
        "{old}{}     ▣  Build · Mock Model\n{}",
        opencode_user("second task"),
        opencode_bottom("", true)
    );
    check(p, "old answer above a busy turn", &busy, BUSY, None);
    let marker_only = format!(
        "{old}{}     ▣  Build · Mock Model\n{}",
        opencode_user("second task"),
        opencode_bottom("", false)
    );
    check(
        p,
        "unfinished message, idle footer",
        &marker_only,
        BUSY,
        None,
    );

    let permission = format!(
        "{old}{}     ⚙ bash [command=rm -rf build]\n\n  △  Permission required\n     $ rm -rf build\n\n   Allow once   Allow always   Reject\n{}",
        opencode_user("delete the build"),
        opencode_bottom("", true)
    );
    check(p, "permission", &permission, ASK, None);

    let collapsed = format!("{old}{}", opencode_bottom("[Pasted ~30 lines]", false));
    check(
        p,
        "collapsed paste over an old answer",
        &collapsed,
        DONE,
        Some("Old answer."),
    );

    let rich = format!(
        "{old}{}  ┃  Thinking: the user wants a summary.\n  ┃\n\n     Let me look.\n\n     ⚙ mock_echo [message=hi]\n\n{}\n     ▣  Build · Mock Model · 6.4s\n{}",
        opencode_user("do the work"),
        rendered("     ", 5),
        opencode_bottom("", false)
    );
    check(
        p,
        "rich answer after reasoning and a tool call",
        &rich,
        DONE,
        Some(RICH),
    );

    let quoting = format!(
        "{}     The footer says:\n\n     esc interrupt\n     › not a prompt\n\n     ▣  Build · Mock Model · 1.0s\n{}",
        opencode_user("what does the footer say"),
        opencode_bottom("", false)
    );
    check(
        p,
        "answer quoting the footer",
        &quoting,
        DONE,
        Some("The footer says:\n\nesc interrupt\n› not a prompt"),
    );

    let wide = format!(
        "{}     Answer with a sidebar.                                          Context\n\n     ▣  Build · Mock Model · 1.0s                                    12% used\n{}",
        opencode_user("hi"),
        opencode_bottom("", false)
    );
    check(
        p,
        "sidebar on a wide pane",
        &wide,
        DONE,
        Some("Answer with a sidebar."),
    );
}

fn copilot_bottom(input: &str, busy: bool) -> String {
    let footer = if busy {
        " ◎ Working esc esc interrupt                                                   mock"
    } else {
        " ← open sidebar · Interactive · Manual Approval · / commands · ? help          mock"
    };
    format!("\n /tmp/project\n{RULE}\n❯ {input}\n{RULE}\n{footer}\n")
}

#[test]
fn copilot_cli_tricky_screens() {
    let p = provider("copilot_cli");

    let old = " ❯ first task                                        04:10\n\n ● Old answer.\n\n";
    let busy = format!(
        "{old} ❯ second task                                04:11\n{}",
        copilot_bottom("", true)
    );
    check(p, "old answer above a busy turn", &busy, BUSY, None);

    let collapsed = format!("{old}{}", copilot_bottom("[Paste #1 - 30 lines]", false));
    check(
        p,
        "collapsed paste over an old answer",
        &collapsed,
        DONE,
        Some("Old answer."),
    );

    let rich = format!(
        "{old} ❯ do the work                                  04:12\n\n ● Let me look.\n\n ● Read src/main.rs\n   └ 12 lines read\n\n{}\n{}",
        rendered(" ● ", 3),
        copilot_bottom("", false)
    );
    check(p, "rich answer after a tool call", &rich, DONE, Some(RICH));

    let quoting = format!(
        " ❯ show the prompt                                 04:12\n\n ● It looks like:\n\n   ❯ typed\n   ◎ Working esc esc interrupt\n{}",
        copilot_bottom("", false)
    );
    check(
        p,
        "answer quoting the prompt",
        &quoting,
        DONE,
        Some("It looks like:\n\n❯ typed\n◎ Working esc esc interrupt"),
    );

    let question = "│ Allow Copilot to run rm -rf build?                │\n│ ❯ 1. Yes                                          │\n│   2. No (Esc)                                     │\n│ ↑/↓ to navigate · enter to select · esc to cancel │\n";
    check(p, "permission question", question, ASK, None);
    assert_eq!(p.startup_keys(question), None);
}

// Reconstructed screens (no recording possible here).

#[test]
fn q_cli_reconstructed_screens() {
    let p = provider("q_cli");

    check(
        p,
        "idle",
        "Welcome to Amazon Q!\n\n[developer] > \n",
        IDLE,
        None,
    );
    check(p, "typed", "[developer] > fix the bug\n", IDLE, None);
    check(
        p,
        "busy",
        "[developer] > fix the bug\n\n⠋ Thinking...\n",
        BUSY,
        None,
    );
    let old = "[developer] > first\n\n> Old answer.\n\n";
    check(
        p,
        "old answer above a busy turn",
        &format!("{old}[developer] > second\n⠙ Thinking...\n"),
        BUSY,
        None,
    );
    let rich = format!(
        "{old}[developer] 12% λ > do the work\n\n> I'll read it.\n\n🛠️  Using tool: fs_read (trusted)\n ⋮\n ● Reading file: main.rs\n ● Completed in 0.0s\n\n{}\n[developer] 13% λ > \n",
        rendered("> ", 0)
    );
    check(p, "rich answer after a tool", &rich, DONE, Some(RICH));
    let permission = format!(
        "{old}[developer] > delete build\n\n> I'll delete it.\n\n🛠️  Using tool: execute_bash\n ⋮\n ● I will run: rm -rf build\n\nAllow this action? Use 't' to trust (always allow) this tool for the session. [y/n/t]:\n\n[developer] > \n"
    );
    // Text before a tool call is narration, not the answer.
    check(p, "permission", &permission, ASK, None);
    let answered = format!("{permission}[developer] > y\n\n> Deleted.\n\n[developer] > \n");
    check(
        p,
        "permission answered, turn done",
        &answered,
        DONE,
        Some("Deleted."),
    );
    let error = "[developer] > hi\nAmazon Q is having trouble responding right now. Please try again later.\n\n[developer] > \n";
    check(p, "error", error, ERROR, None);
    let quoting = "[developer] > show the prompt\n\n> It looks like:\n  [developer] > typed\n  > nested\n\n[developer] > \n";
    check(
        p,
        "answer quoting the prompt",
        quoting,
        DONE,
        Some("It looks like:\n  [developer] > typed\n  > nested"),
    );
}

#[test]
fn kiro_cli_reconstructed_screens() {
    let p = provider("kiro_cli");

    // The legacy UI is Q's chat.
    check(p, "legacy idle", "[developer] > \n", IDLE, None);
    check(
        p,
        "legacy done",
        "[developer] > hi\n\n> Hello.\n\n[developer] > \n",
        DONE,
        Some("Hello."),
    );
    let error = "[developer] > hi\nKiro is having trouble responding right now. Please try again later.\n\n[developer] > \n";
    check(p, "legacy error", error, ERROR, None);

    let header = "developer · claude-sonnet-4.5 · ◔ 4%              ~/project · (main)";
    let idle_tail = format!(
        "{RULE}\n{header}\n\n Ask a question or describe a task ↵  ctrl+g: agent monitor\n"
    );
    check(p, "tui idle", &idle_tail, IDLE, None);
    let busy =
        format!("{RULE}\n  What files are here?\n\n  Looking...\n\n{header}\n\n Kiro is working\n");
    check(p, "tui busy", &busy, BUSY, None);
    let done = format!(
        "{RULE}\n  Do the work\n\n{}\n▸ Credits: 0.24 • Time: 3s\n\n{idle_tail}",
        rendered("  ", 2)
    );
    check(p, "tui rich answer", &done, DONE, Some(RICH));
    let init =
        format!("{RULE}\n{header}\n\n● Initializing...\n Ask a question or describe a task ↵\n");
    check(p, "tui still starting", &init, BUSY, None);
    let consent = " Warning: Kiro is running in trust all tools mode\n\n ❯ No, exit\n   Yes, I accept\n   Yes, and don't ask again\n\n esc to cancel · ↑↓ to navigate · ↵ to select\n";
    check(p, "trust-all-tools consent", consent, ASK, None);
    assert_eq!(p.startup_keys(consent), Some(&["Down", "Enter"][..]));
    let permission = format!(
        "{RULE}\n  delete the build\n\n  I'll run rm -rf build.\n\n shell requires approval\n Yes, single permission\n Trust, always allow in this session\n No (Tab to edit)\n"
    );
    check(p, "tui permission", &permission, ASK, None);
}

#[test]
fn kimi_cli_reconstructed_screens() {
    let p = provider("kimi_cli");

    let banner = "╭──────────────────────────────────────────╮\n│   Welcome to Kimi Code CLI!              │\n╰──────────────────────────────────────────╯\n";
    let bar = "\n23:15  yolo  agent (kimi-for-coding, thinking)  ctrl-x: toggle mode        context: 5.0%\n";
    check(p, "idle", &format!("{banner}💫\n{bar}"), IDLE, None);
    // While a turn runs, what it has written so far is the answer.
    check(
        p,
        "busy",
        &format!("{banner}💫 analyze the code\n• Reading files...\n"),
        BUSY,
        Some("Reading files..."),
    );
    let old = format!("{banner}💫 first\n• Old answer.\n");
    check(
        p,
        "old answer above a busy turn",
        &format!("{old}💫 second\n• Thinking about it...\n"),
        BUSY,
        Some("Thinking about it..."),
    );
    let rich = format!("{old}✨ do the work\n{}✨\n{bar}", rendered("• ", 0));
    check(p, "rich answer", &rich, DONE, Some(RICH));
    let error = format!("{banner}user@app💫 do something\nError: API connection failed\n💫\n{bar}");
    check(
        p,
        "error",
        &error,
        ERROR,
        Some("Error: API connection failed"),
    );

    let input_box = "── input ──────────────────────────────────────\n \n\n───────────────────────────────────────────────\nyolo  agent (Kimi-k2.6 ●)  /tmp/work  ctrl-x: toggle mode\n                                   context: 4.4% (11.4k/262.1k)\n";
    check(
        p,
        "new tui idle",
        &format!("{banner}\n{input_box}"),
        IDLE,
        None,
    );
    let busy_new = format!("{banner} ✨ Create a greet function\n\n🌓\n{input_box}");
    check(p, "new tui busy", &busy_new, BUSY, None);
    let done_new = format!(
        "{banner} ✨ Create a greet function\n\n• def greet(name):\n      return f\"Hello, {{name}}!\"\n\n{input_box}"
    );
    check(
        p,
        "new tui done",
        &done_new,
        DONE,
        Some("def greet(name):\n    return f\"Hello, {name}!\""),
    );
    let connecting = format!("{banner}⠧ cao (connecting)\n{input_box}");
    check(p, "new tui connecting MCP", &connecting, BUSY, None);
    let upgrade = "A new version is available.\n[Enter] Upgrade now  [q] Not now  [s] Skip reminders for version 1.53\n";
    assert_eq!(p.startup_keys(upgrade), Some(&["s"][..]));
}

// ---------------------------------------------------------------------------------------
// Command lines
// ---------------------------------------------------------------------------------------

fn spec_profile() -> cao::profiles::Profile {
    cao::profiles::parse(
        "---\nname: reviewer\ndescription: Reviews code\nmodel: test-model\n---\nYou review code.\nSay \"done\" when done; -- never --flag.\n",
        "test",
        cao::profiles::ProfileSource::BuiltIn,
    )
    .unwrap()
}

fn mcp() -> std::collections::BTreeMap<String, providers::McpServer> {
    let mut env = std::collections::BTreeMap::new();
    env.insert("CAO_TERMINAL_ID".to_string(), "0a1b2c3d".to_string());
    let mut servers = std::collections::BTreeMap::new();
    servers.insert(
        "cao".to_string(),
        providers::McpServer {
            command: "/opt/cao bin/cao".into(),
            args: vec!["mcp-server".into()],
            env,
        },
    );
    servers
}

fn command_for(name: &str, yolo: bool) -> (Vec<String>, Vec<(String, String)>, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let profile = spec_profile();
    let spec = providers::LaunchSpec {
        terminal_id: "0a1b2c3d",
        agent: &profile.agent(),
        mcp_servers: mcp(),
        yolo,
        working_dir: std::path::Path::new("/tmp"),
        scratch_dir: scratch.path(),
        cao_home: scratch.path(),
        agents_dir: Some(scratch.path().join("agents")),
    };
    let p = provider(name);
    let argv = p
        .command(std::path::Path::new("/usr/bin/cli"), &spec)
        .unwrap();
    let env = p.env(&spec);
    (argv, env, scratch)
}

fn read(dir: &tempfile::TempDir, name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.path().join(name)).unwrap()).unwrap()
}

#[test]
fn claude_code_command() {
    let (argv, _, dir) = command_for("claude_code", true);
    assert_eq!(argv[0], "/usr/bin/cli");
    assert!(argv.contains(&"--dangerously-skip-permissions".to_string()));
    let i = argv
        .iter()
        .position(|a| a == "--append-system-prompt")
        .unwrap();
    assert!(argv[i + 1].starts_with("You review code."));
    let i = argv.iter().position(|a| a == "--model").unwrap();
    assert_eq!(argv[i + 1], "test-model");
    let mcp = argv
        .iter()
        .find_map(|a| a.strip_prefix("--mcp-config="))
        .unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(mcp).unwrap()).unwrap();
    assert_eq!(config["mcpServers"]["cao"]["command"], "/opt/cao bin/cao");
    assert_eq!(
        config["mcpServers"]["cao"]["env"]["CAO_TERMINAL_ID"],
        "0a1b2c3d"
    );
    drop(dir);
    let (argv, _, _dir) = command_for("claude_code", false);
    assert!(!argv.contains(&"--dangerously-skip-permissions".to_string()));
}

#[test]
fn codex_command() {
    let (argv, _, _dir) = command_for("codex", true);
    assert!(argv.contains(&"--dangerously-bypass-approvals-and-sandbox".to_string()));
    assert!(argv.contains(&"mcp_servers.cao.command=\"/opt/cao bin/cao\"".to_string()));
    assert!(argv.contains(&"mcp_servers.cao.args=[\"mcp-server\"]".to_string()));
    assert!(argv.contains(&"mcp_servers.cao.env={\"CAO_TERMINAL_ID\"=\"0a1b2c3d\"}".to_string()));
    // Codex hands MCP servers only a whitelist of its environment; cao's server gets the
    // rest by name (PATH is always set under cargo test), never the nesting markers.
    let passed = argv
        .iter()
        .find(|a| a.starts_with("mcp_servers.cao.env_vars=["))
        .expect("env_vars for cao's server");
    assert!(passed.contains("\"PATH\""), "{passed}");
    assert!(!passed.contains("\"TMUX\"") && !passed.contains("\"CAO_TERMINAL_ID\""));
    let dev = argv
        .iter()
        .find(|a| a.starts_with("developer_instructions="))
        .unwrap();
    assert_eq!(
        dev,
        "developer_instructions=\"You review code.\\nSay \\\"done\\\" when done; -- never --flag.\""
    );
    let (argv, _, _dir) = command_for("codex", false);
    assert!(!argv.iter().any(|a| a.contains("dangerously")));
}

#[test]
fn gemini_cli_command() {
    let (argv, env, dir) = command_for("gemini_cli", true);
    assert!(argv.contains(&"--yolo".to_string()));
    let i = argv
        .iter()
        .position(|a| a == "--include-directories")
        .unwrap();
    let memory = std::path::Path::new(&argv[i + 1]).join("GEMINI.md");
    assert!(
        std::fs::read_to_string(memory)
            .unwrap()
            .starts_with("You review code.")
    );
    let (key, home) = &env[0];
    assert_eq!(key, "GEMINI_CLI_HOME");
    let path = std::path::Path::new(home).join(".gemini/settings.json");
    let settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(settings["mcpServers"]["cao"]["trust"], true);
    assert_eq!(settings["mcpServers"]["cao"]["args"][0], "mcp-server");
    drop(dir);
}

#[test]
fn opencode_command() {
    let (argv, env, dir) = command_for("opencode", true);
    assert!(argv.contains(&"--auto".to_string()));
    assert_eq!(env[0].0, "OPENCODE_CONFIG");
    let config = read(&dir, "opencode.json");
    assert_eq!(config["mcp"]["cao"]["type"], "local");
    assert_eq!(config["mcp"]["cao"]["command"][0], "/opt/cao bin/cao");
    assert_eq!(config["mcp"]["cao"]["command"][1], "mcp-server");
    assert_eq!(
        config["mcp"]["cao"]["environment"]["CAO_TERMINAL_ID"],
        "0a1b2c3d"
    );
    assert!(
        config["instructions"][0]
            .as_str()
            .unwrap()
            .ends_with("system-prompt.md")
    );
}

#[test]
fn copilot_cli_command() {
    let (argv, env, dir) = command_for("copilot_cli", true);
    assert!(argv.contains(&"--yolo".to_string()));
    assert!(argv.contains(&"--allow-tool=cao".to_string()));
    let config = argv
        .iter()
        .find_map(|a| a.strip_prefix("--additional-mcp-config=@"))
        .unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(config).unwrap()).unwrap();
    assert_eq!(config["mcpServers"]["cao"]["tools"][0], "*");
    assert_eq!(env[0].0, "COPILOT_CUSTOM_INSTRUCTIONS_DIRS");
    let agents = std::path::Path::new(&env[0].1).join("AGENTS.md");
    assert!(
        std::fs::read_to_string(agents)
            .unwrap()
            .starts_with("You review code.")
    );
    drop(dir);
}

#[test]
fn kimi_cli_command() {
    let (argv, env, dir) = command_for("kimi_cli", true);
    assert!(argv.contains(&"--yolo".to_string()));
    assert!(env.contains(&("TERM".to_string(), "xterm-256color".to_string())));
    let i = argv.iter().position(|a| a == "--mcp-config").unwrap();
    let config: serde_json::Value = serde_json::from_str(&argv[i + 1]).unwrap();
    assert_eq!(
        config["mcpServers"]["cao"]["env"]["CAO_TERMINAL_ID"],
        "0a1b2c3d"
    );
    assert!(
        std::fs::read_to_string(dir.path().join("agent.yaml"))
            .unwrap()
            .contains("system_prompt_path")
    );
}

#[test]
fn every_provider_is_registered_in_detection_order() {
    assert_eq!(
        providers::ProviderId::names(),
        [
            "claude_code",
            "codex",
            "gemini_cli",
            "kiro_cli",
            "opencode",
            "kimi_cli",
            "copilot_cli",
            "q_cli",
            "fake"
        ]
    );
    for id in providers::ProviderId::ALL {
        assert_eq!(provider(id.name()).id(), id);
    }
    let err = providers::get("nope").err().unwrap().to_string();
    assert!(err.contains("unknown provider 'nope'"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Screens recorded by the real-CLI tests (`CAO_E2E_RECORD`, 220x50 panes started by cao)
// ---------------------------------------------------------------------------------------

/// The drift check's plain three-paragraph answer (`real_clis.rs`).
const DRIFT_ANSWER: &str = "Drift check answer, first paragraph.\n\nSecond paragraph, still the same answer.\n\nThird and last paragraph.";
const TOOL_ANSWER: &str = "Tool turn answered.";

/// The screens the drift check records for every CLI, with the status and answer each shows.
const RECORDED: &[(&str, Status, Option<&str>)] = &[
    ("40-e2e-streaming.txt", BUSY, None),
    ("40-e2e-completed.txt", DONE, Some(DRIFT_ANSWER)),
    ("40-e2e-tool-completed.txt", DONE, Some(TOOL_ANSWER)),
    ("40-e2e-error.txt", ERROR, None),
    ("40-e2e-interrupted.txt", IDLE, None),
];

#[test]
fn e2e_recorded_screens() {
    let clis = [
        ("claude_code", "claude"),
        ("codex", "codex"),
        ("gemini_cli", "gemini"),
        ("opencode", "opencode"),
        ("copilot_cli", "copilot"),
    ];
    let mut failures = Vec::new();
    for (name, dir) in clis {
        let p = provider(name);
        for (file, status, answer) in RECORDED {
            let screen = fixture(dir, file);
            let got_status = p.status(&screen);
            let got_answer = p.last_response(&screen).ok();
            let answer_ok = answer.is_none_or(|a| got_answer.as_deref() == Some(a));
            if got_status != *status || !answer_ok {
                failures.push(format!(
                    "{name} {file}: status {got_status} (want {status}), answer {got_answer:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Cases the real-CLI runs turned up that the recordings above do not pin on their own.
#[test]
fn e2e_found_cases() {
    // Copilot CLI: the footer glyph cycles through `●` too, and `Cancelling` is busy.
    let copilot = provider("copilot_cli");
    let turn = " ❯ do it\n\n ● Hello f\n";
    for footer in [" ● Working esc esc interrupt", " ● Cancelling"] {
        let screen = format!("{turn}\n /tmp/project\n{RULE}\n❯\n{RULE}\n{footer}\n");
        assert_eq!(copilot.status(&screen), BUSY, "{footer}");
    }
    // Its one-line MCP tool call and its notices are not the answer.
    let answered = format!(
        " ❯ do it\n\n ● MCP Servers reloaded: 1 server connected\n\n ● list_profiles (MCP: cao) {{\"profiles\":[]}}\n\n ● Done.\n{}",
        copilot_bottom("", false)
    );
    check(copilot, "tool one-liner", &answered, DONE, Some("Done."));
    let cancelled = format!(
        " ❯ do it\n\n ● Operation cancelled by user\n{}",
        copilot_bottom("", false)
    );
    check(copilot, "cancelled", &cancelled, IDLE, None);

    // OpenCode: a stderr line printed over the message marker does not hide it.
    let opencode = provider("opencode");
    let garbled = format!(
        "{}     Answer text.\nunkno▣  Build · Mock Model · 90ms in schema at path \"#/x\"\n{}",
        opencode_user("task"),
        opencode_bottom("", false)
    );
    check(
        opencode,
        "marker under stderr",
        &garbled,
        DONE,
        Some("Answer text."),
    );
    // A failed turn: its own `┃` block under the user's, and a marker without a duration.
    let failed = format!(
        "{}  ┃\n  ┃  scripted failure 400\n  ┃\n\n     ▣  Build · Mock Model\n{}",
        opencode_user("task"),
        opencode_bottom("", false)
    );
    check(opencode, "failed turn", &failed, ERROR, None);
    // The sidebar of a wide pane, on rows of its own and beside the answer.
    let pad = " ".repeat(150);
    let wide = format!(
        "{}     First line.{pad}Context\n{pad}               15 tokens\n     Second line.\n{pad}               MCP\n     ▣  Build · Mock Model · 1.2s{pad}• cao Connected\n{}",
        opencode_user("task"),
        opencode_bottom("", false)
    );
    check(
        opencode,
        "sidebar",
        &wide,
        DONE,
        Some("First line.\n\nSecond line."),
    );

    // Claude Code: answer text starting with "Interrupted" is not an interrupted turn.
    let claude = provider("claude_code");
    let screen = format!(
        "❯ list them\n\n● Interrupted jobs:\n  Interrupted job 1.\n\n✻ Worked for 1s\n\n{}",
        claude_box("", "? for shortcuts")
    );
    check(
        claude,
        "answer about interruptions",
        &screen,
        DONE,
        Some("Interrupted jobs:\nInterrupted job 1."),
    );
}

/// Kiro and Q load their agent by name: cao writes it into the CLI's agent directory (the one
/// the launch resolved from the config file or the default) and names it on the command line.
#[test]
fn kiro_and_q_write_their_agent_where_the_launch_says() {
    for name in ["kiro_cli", "q_cli"] {
        let (argv, _, scratch) = command_for(name, true);
        let agent = format!("cao-{}", spec_profile().name);
        assert_eq!(
            argv[1..4],
            ["chat", "--agent", agent.as_str()],
            "{name}: {argv:?}"
        );
        assert!(
            argv.contains(&"--trust-all-tools".to_string()),
            "{name}: {argv:?}"
        );
        let file = scratch.path().join("agents").join(format!("{agent}.json"));
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(written["name"], agent.as_str());
        assert!(written["mcpServers"].get("cao").is_some(), "{written:#}");
    }
}

/// Gemini CLI in a terminal without true color (a plain tmux with no `COLORTERM`, as most
/// users run it): it warns about the colors above its prompt, and pads its input box and the
/// user's turns with blank colored rows instead of `▄`/`▀` rows. Recorded through cao with the
/// real CLI 0.61.0, 220x50, `COLORTERM` unset; the later screens keep the
/// `Executing Hook: cao-turn-end` row Gemini shows for 3 s after cao's turn-end hook ran.
#[test]
fn gemini_cli_without_true_color_recorded_screens() {
    let p = provider("gemini_cli");
    let cases: &[(&str, Status, Option<&str>)] = &[
        ("50-no-truecolor-idle.txt", IDLE, None),
        ("50-no-truecolor-streaming.txt", BUSY, None),
        ("50-no-truecolor-completed.txt", DONE, Some(DRIFT_ANSWER)),
        ("50-no-truecolor-markdown.txt", DONE, None),
        (
            "50-no-truecolor-tool-completed.txt",
            DONE,
            Some("After the tool: done\n\n - one\n - two"),
        ),
        ("50-no-truecolor-error.txt", ERROR, None),
        ("50-no-truecolor-interrupted.txt", IDLE, None),
    ];
    for (file, status, answer) in cases {
        let screen = fixture("gemini_cli", file);
        assert!(!screen.contains("▀▀▀▀▀▀▀▀▀▀"), "{file} has half-block rows");
        assert_eq!(p.status(&screen), *status, "status of {file}");
        if let Some(answer) = answer {
            assert_eq!(
                p.last_response(&screen).unwrap(),
                *answer,
                "answer of {file}"
            );
        }
    }
    let idle = fixture("gemini_cli", "50-no-truecolor-idle.txt");
    assert!(idle.contains("True color (24-bit) support not detected"));
    // An interrupted or failed turn has no answer, not the text before the interrupt.
    for file in [
        "50-no-truecolor-interrupted.txt",
        "50-no-truecolor-error.txt",
    ] {
        assert!(
            p.last_response(&fixture("gemini_cli", file)).is_err(),
            "{file}"
        );
    }
}

/// The input box of a supervisor cao adopted is typed into only when empty: each CLI's box
/// recorded through cao (220x50, `COLORTERM` unset; Gemini CLI also with true color, in
/// `gemini/`) at its prompt with nothing typed (a dim placeholder where the CLI draws one:
/// capture-pane drops the dimming, as in what cao reads), one character typed, a line typed,
/// two more lines pasted under it, then after an answer: empty again, one character, a line.
/// Typed with `tmux send-keys -l` (the paste with `paste-buffer -p`), never submitted.
#[test]
fn input_box_recorded_screens() {
    let cases: &[(&str, &str)] = &[
        ("claude_code", "claude"),
        ("codex", "codex"),
        ("copilot_cli", "copilot"),
        ("gemini_cli", "gemini_cli"),
        ("gemini_cli", "gemini"),
        ("opencode", "opencode"),
    ];
    let screens: &[(&str, bool, bool)] = &[
        // (file, empty, after the answer)
        ("60-input-empty.txt", true, false),
        ("61-input-one-char.txt", false, false),
        ("62-input-typed.txt", false, false),
        ("63-input-multiline.txt", false, false),
        ("64-input-empty-after-answer.txt", true, true),
        ("65-input-one-char-after-answer.txt", false, true),
        ("66-input-typed-after-answer.txt", false, true),
    ];
    for (name, dir) in cases {
        let p = provider(name);
        for (file, empty, answered) in screens {
            let screen = fixture(dir, file);
            assert_eq!(
                p.input_is_empty(&screen),
                *empty,
                "{name}: input_is_empty of {dir}/{file}"
            );
            // Typed text never changes the status: the inbox then asks input_is_empty.
            let status = if *answered { DONE } else { IDLE };
            assert_eq!(p.status(&screen), status, "{name}: status of {dir}/{file}");
        }
    }
    // The older recordings agree: the start-up screen is empty, the typed one is not.
    for (name, dir) in cases.iter().filter(|(_, dir)| *dir != "gemini_cli") {
        let p = provider(name);
        assert!(
            p.input_is_empty(&fixture(dir, "01-idle.txt")),
            "{dir}/01-idle"
        );
        assert!(
            !p.input_is_empty(&fixture(dir, "02-typed.txt")),
            "{dir}/02-typed"
        );
    }
    // The placeholders are there as plain text.
    for (dir, text) in [
        ("codex", "› Ask Codex to do anything"),
        ("gemini_cli", " *   Type your message or @path/to/file"),
        ("gemini", " *   Type your message or @path/to/file"),
        (
            "opencode",
            "Ask anything… \"What is the tech stack of this project?\"",
        ),
    ] {
        assert!(fixture(dir, "60-input-empty.txt").contains(text), "{dir}");
    }
}

/// Claude Code's dim `Try "..."` hint on a fresh session (prompt suggestions on, here with
/// `CLAUDE_CODE_ENABLE_PROMPT_SUGGESTION=1`), recorded 120x30 from the real 2.1.197 in tmux:
/// an empty box. Typing the very same words gives the same text (only the colors differ, and
/// capture-pane drops them), so that reads as empty too: the one input cao cannot tell.
#[test]
fn claude_code_input_placeholder() {
    let p = provider("claude_code");
    let hint = fixture("claude", "67-input-placeholder.txt");
    assert!(hint.contains("❯\u{a0}Try \"edit <filepath> to...\""));
    assert!(p.input_is_empty(&hint));
    assert_eq!(p.status(&hint), IDLE);
    let typed = fixture("claude", "68-input-typed-like-placeholder.txt");
    assert!(typed.contains("❯\u{a0}Try \"fix lint errors\""));
    assert!(p.input_is_empty(&typed));
    let box_with = |input: &str| format!("{RULE}\n{input}\n{RULE}\n  ⏵⏵ bypass permissions on\n\n");
    for hint in [
        "❯\u{a0}Try \"refactor src/main.rs\"",
        "❯ Try \"how does <filepath> work?\"",
        "❯ Try \"write a test for lib.rs\"",
        "❯ Try \"create a util logging.py that...\"",
        "❯ Press up to edit queued messages",
        "❯ Message @reviewer…",
        "> Try \"fix typecheck errors\"",
        "❯\u{a0}",
        "❯",
    ] {
        assert!(p.input_is_empty(&box_with(hint)), "{hint:?}");
    }
    for typed in [
        "❯ Try \"something else\"",
        "❯ Try \"refactor two words\"",
        "❯ Try",
        "❯ x",
        "> x",
        "❯\n  second line",
        "❯ [Pasted text #1 +30 lines]",
    ] {
        assert!(!p.input_is_empty(&box_with(typed)), "{typed:?}");
    }
    // No input box at all (a dialog): nothing says it is empty.
    assert!(!p.input_is_empty(&fixture("claude", "21-perms-dialog.txt")));
}

/// Hand-made input boxes for the other CLIs: placeholders, typed text, pastes.
#[test]
fn input_box_tricky_screens() {
    let codex = provider("codex");
    for (composer, empty) in [
        ("Ask Codex to do anything", true),
        ("Ask a follow-up question", true),
        ("", true),
        ("Ask Codex to do anything else", false),
        ("x", false),
        ("[Pasted Content 1200 chars]", false),
        ("\n  second line", false),
    ] {
        assert_eq!(
            codex.input_is_empty(&codex_bottom(composer)),
            empty,
            "codex: {composer:?}"
        );
    }
    let gemini = provider("gemini_cli");
    for (input, empty) in [
        ("*   Type your message or @path/to/file", true),
        (">   Type your message or @path/to/file", true),
        ("!   Type your shell command", true),
        ("*   Press 'i' for INSERT mode.", true),
        ("* *", false),
        ("> Type your message", false),
        ("! ls", false),
    ] {
        assert_eq!(
            gemini.input_is_empty(&gemini_bottom(input, false)),
            empty,
            "gemini_cli: {input:?}"
        );
    }
    let opencode = provider("opencode");
    for (input, empty) in [
        ("Ask anything… \"Fix broken tests\"", true),
        ("Run a command… \"git status\"", true),
        ("", true),
        ("Ask anything", false),
        ("x", false),
        ("[Pasted ~30 lines]", false),
        ("x\n  ┃  second line", false),
    ] {
        assert_eq!(
            opencode.input_is_empty(&opencode_bottom(input, false)),
            empty,
            "opencode: {input:?}"
        );
    }
    let copilot = provider("copilot_cli");
    for (input, empty) in [
        ("", true),
        ("x", false),
        ("[Paste #1 - 30 lines]", false),
        ("\n  second line", false),
    ] {
        assert_eq!(
            copilot.input_is_empty(&copilot_bottom(input, false)),
            empty,
            "copilot_cli: {input:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Questions to the user (`Provider::question`) and the keys that answer them
// ---------------------------------------------------------------------------------------

/// The keys an answer presses (an answer typed on a line panics).
fn keys(q: &Question, answer: &str) -> Vec<&'static str> {
    match q.reply(answer) {
        Ok(Reply::Keys { keys, .. }) => keys,
        other => panic!("{answer}: {other:?}"),
    }
}

fn question(p: &dyn Provider, label: &str, screen: &str) -> Question {
    assert_eq!(p.status(screen), ASK, "{}: status of {label}", p.name());
    p.question(screen)
        .unwrap_or_else(|| panic!("{}: no question read on {label}", p.name()))
}

/// Each folder of recorded screens and the provider that reads it.
const SCREEN_DIRS: [(&str, &str); 6] = [
    ("claude_code", "claude"),
    ("codex", "codex"),
    ("gemini_cli", "gemini"),
    ("gemini_cli", "gemini_cli"),
    ("opencode", "opencode"),
    ("copilot_cli", "copilot"),
];

/// The recorded screens of folder `cli` whose name ends in `.ext`, in name order.
fn recordings(cli: &str, ext: &str) -> Vec<PathBuf> {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/screens", cli]
        .iter()
        .collect();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == ext))
        .collect();
    paths.sort();
    paths
}

/// On every recorded screen, a question is read exactly where the status says one is
/// asked: never on a working, idle or answered screen.
#[test]
fn recorded_screens_have_a_question_exactly_when_waiting() {
    let mut asked = 0;
    for (name, cli) in SCREEN_DIRS {
        let p = provider(name);
        for path in recordings(cli, "txt") {
            let screen = std::fs::read_to_string(&path).unwrap();
            let waiting = p.status(&screen) == ASK;
            assert_eq!(
                p.question(&screen).is_some(),
                waiting,
                "{name}: {}",
                path.display()
            );
            asked += usize::from(waiting);
        }
    }
    assert_eq!(
        asked, 11,
        "the recorded dialogs: claude 21, fresh-01..03, copilot 00, each CLI's 70, opencode 71"
    );
}

/// Every `.ansi` recording (`capture-pane -e`, taken with its `.txt` by `CAO_E2E_RECORD`) is
/// the same screen as its `.txt` once its colours are stripped, and every provider reads it
/// the same: status, answer, question, input box, start-up keys. A coloured capture keeps the
/// blanks at the end of styled lines, which `capture-pane -p` drops; none of that may change
/// what cao reads.
#[test]
fn recorded_ansi_screens_read_as_their_plain_recordings() {
    let sgr = regex::Regex::new("\x1b\\[[0-9;:]*m").unwrap();
    let lines = |text: &str| -> Vec<String> {
        let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        lines
    };
    let mut compared = 0;
    for (name, cli) in SCREEN_DIRS {
        let p = provider(name);
        let reading = |screen: &str| {
            format!(
                "{:?}",
                (
                    p.status(screen),
                    p.last_response(screen).ok(),
                    p.question(screen),
                    p.input_is_empty(screen),
                    p.startup_keys(screen),
                )
            )
        };
        for ansi in recordings(cli, "ansi") {
            let label = ansi.display();
            let coloured = std::fs::read_to_string(&ansi).unwrap();
            let stripped = sgr.replace_all(&coloured, "").into_owned();
            assert!(
                !stripped.contains('\x1b'),
                "{label}: an escape that is not SGR"
            );
            let plain = std::fs::read_to_string(ansi.with_extension("txt"))
                .unwrap_or_else(|e| panic!("{label}: no plain recording beside it: {e}"));
            assert_eq!(
                lines(&stripped),
                lines(&plain),
                "{label}: not the screen of its .txt"
            );
            assert_eq!(
                reading(&stripped),
                reading(&plain),
                "{name}: reading of {label}"
            );
            compared += 1;
        }
    }
    assert_eq!(
        compared, 139,
        "the .ansi recordings under tests/fixtures/screens/"
    );
}

#[test]
fn claude_code_permission_question_from_a_recorded_screen() {
    let p = provider("claude_code");
    let q = question(
        p,
        "21-perms-dialog",
        &fixture("claude", "21-perms-dialog.txt"),
    );
    assert_eq!(
        q.text,
        "Tool use\nmock - echo(message: \"hello from mock\") (MCP)\nEchoes back the input message.\nDo you want to proceed?"
    );
    assert_eq!(
        q.options,
        [
            "Yes",
            "Yes, and don't ask again for mock - echo commands in /home/agent1/ws-claude",
            "No"
        ]
    );
    assert_eq!(q.layout, Layout::Vertical);
    assert_eq!(keys(&q, "y"), ["Enter"]);
    assert_eq!(keys(&q, "2"), ["Down", "Enter"]);
    assert_eq!(keys(&q, "no"), ["Down", "Down", "Enter"]);
    assert!(q.summary().ends_with("Do you want to proceed? [1. Yes | 2. Yes, and don't ask again for mock - echo commands in /home/agent1/ws-claude | 3. No]"));
    // A start-up dialog with the cursor on its second choice.
    let q = question(
        p,
        "fresh-02",
        &fixture("claude", "fresh-02-after-trust.txt"),
    );
    assert_eq!(q.options, ["Yes", "No (recommended)"]);
    assert_eq!(q.selected, 1);
    assert_eq!(keys(&q, "yes"), ["Up", "Enter"]);
}

#[test]
fn copilot_cli_trust_question_from_a_recorded_screen() {
    let p = provider("copilot_cli");
    let q = question(
        p,
        "00-trust-dialog",
        &fixture("copilot", "00-trust-dialog.txt"),
    );
    assert!(
        q.text.ends_with("Do you trust the files in this folder?"),
        "{}",
        q.text
    );
    assert!(!q.text.contains('│'), "frames are dropped: {}", q.text);
    assert_eq!(
        q.options,
        [
            "Yes",
            "Yes, and remember this folder for future sessions",
            "No (Esc)"
        ]
    );
    assert_eq!(keys(&q, "n"), ["Down", "Down", "Enter"]);
}

#[test]
fn questions_on_reconstructed_screens() {
    // Claude Code: a Bash permission (see claude_code_tricky_screens).
    let claude = format!(
        "❯ clean up\n\n● Bash(rm -rf build)\n\n{RULE}\n Bash command\n\n   rm -rf build\n\n Do you want to proceed?\n ❯ 1. Yes\n   2. No\n\n Esc to cancel\n"
    );
    let q = question(provider("claude_code"), "bash permission", &claude);
    assert_eq!(
        q.text,
        "Bash command\nrm -rf build\nDo you want to proceed?"
    );
    assert_eq!(q.options, ["Yes", "No"]);

    // Codex: the question runs up to the turn's bullet; `(y)` shortcuts stay in the labels.
    let codex = "› delete the build\n\n• Running rm -rf build\n\n  Would you like to run the following command?\n\n  $ rm -rf build\n\n\
                 › 1. Yes, proceed (y)\n  2. No, and tell Codex what to do differently (esc)\n\n  Press enter to confirm or esc to cancel\n";
    let q = question(provider("codex"), "approval", codex);
    assert_eq!(
        q.text,
        "Would you like to run the following command?\n$ rm -rf build"
    );
    assert_eq!(
        q.options,
        [
            "Yes, proceed (y)",
            "No, and tell Codex what to do differently (esc)"
        ]
    );
    assert_eq!(keys(&q, "n"), ["Down", "Enter"]);

    // Gemini CLI: a framed box, `●` on the selected choice.
    let gemini = "╭──────────────────────────────────────────╮\n│ ?  Shell rm -rf build                    │\n│                                          │\n\
                  │ Allow execution of: 'rm'?                │\n│                                          │\n│ ● 1. Allow once                          │\n\
                  │   2. Allow for this session              │\n│   3. No, suggest changes (esc)           │\n╰──────────────────────────────────────────╯\n";
    let q = question(provider("gemini_cli"), "tool confirmation", gemini);
    assert_eq!(q.text, "? Shell rm -rf build\nAllow execution of: 'rm'?");
    assert_eq!(
        q.options,
        [
            "Allow once",
            "Allow for this session",
            "No, suggest changes (esc)"
        ]
    );
    assert_eq!(keys(&q, "y"), ["Enter"]);
    assert_eq!(keys(&q, "allow for"), ["Down", "Enter"]);

    // OpenCode: a row of buttons, moved through with Left/Right.
    let opencode = "  ┃\n  ┃  delete the build\n  ┃\n\n     ⚙ bash [command=rm -rf build]\n\n  △  Permission required\n     $ rm -rf build\n\n   Allow once   Allow always   Reject          ⇆ select   enter confirm\n";
    let q = question(provider("opencode"), "permission", opencode);
    assert_eq!(q.text, "Permission required\n$ rm -rf build");
    assert_eq!(q.options, ["Allow once", "Allow always", "Reject"]);
    assert_eq!(q.layout, Layout::Horizontal);
    assert_eq!(keys(&q, "n"), ["Right", "Right", "Enter"]);
    assert_eq!(keys(&q, "allow always"), ["Right", "Enter"]);

    // Copilot CLI: a permission question.
    let copilot = "│ Allow Copilot to run rm -rf build?                │\n│ ❯ 1. Yes                                          │\n│   2. No (Esc)                                     │\n│ ↑/↓ to navigate · enter to select · esc to cancel │\n";
    let q = question(provider("copilot_cli"), "permission", copilot);
    assert_eq!(q.text, "Allow Copilot to run rm -rf build?");
    assert_eq!(q.options, ["Yes", "No (Esc)"]);

    // Kiro CLI's TUI: unnumbered choices.
    let kiro = format!(
        "{RULE}\n  delete the build\n\n  I'll run rm -rf build.\n\n shell requires approval\n Yes, single permission\n Trust, always allow in this session\n No (Tab to edit)\n"
    );
    let q = question(provider("kiro_cli"), "tui permission", &kiro);
    assert!(q.text.ends_with("shell requires approval"), "{}", q.text);
    assert_eq!(
        q.options,
        [
            "Yes, single permission",
            "Trust, always allow in this session",
            "No (Tab to edit)"
        ]
    );
    assert_eq!(keys(&q, "no"), ["Down", "Down", "Enter"]);

    // Q CLI (and Kiro's legacy UI): typed at the prompt under the question.
    let q_cli = "[developer] > delete build\n\n> I'll delete it.\n\n🛠️  Using tool: execute_bash\n ⋮\n ● I will run: rm -rf build\n\nAllow this action? Use 't' to trust (always allow) this tool for the session. [y/n/t]:\n\n[developer] > \n";
    for name in ["q_cli", "kiro_cli"] {
        let q = question(provider(name), "permission", q_cli);
        assert_eq!(q.layout, Layout::Line, "{name}");
        assert_eq!(
            q.summary(),
            "🛠️ Using tool: execute_bash I will run: rm -rf build Allow this action? Use 't' to trust (always allow) this tool for the session. [y/n/t]:",
            "{name}"
        );
        assert_eq!(q.reply("t"), Ok(Reply::Text("t".into())));
    }

    // Kimi CLI shows no question cao reads.
    assert_eq!(provider("kimi_cli").question("💫 hi\n"), None);
}

/// The permission questions the five CLIs really asked (recorded by
/// `real_clis::*::permission_answered` with `CAO_E2E_RECORD`): each reads as a question with
/// its three choices, and "2" is reached from the cursor with one arrow key.
#[test]
fn permission_questions_from_recorded_screens() {
    let cases = [
        (
            "claude_code",
            "claude",
            "70-permission-question.txt",
            "Do you want to proceed?",
            "Down",
        ),
        (
            "codex",
            "codex",
            "70-permission-question.txt",
            "Would you like to run the following command?",
            "Down",
        ),
        (
            "copilot_cli",
            "copilot",
            "70-permission-question.txt",
            "Do you want to run this command?",
            "Down",
        ),
        (
            "gemini_cli",
            "gemini_cli",
            "70-permission-question.txt",
            "Allow execution of [Shell]?",
            "Down",
        ),
        (
            "opencode",
            "opencode",
            "70-permission-question.txt",
            "Access external directory",
            "Right",
        ),
    ];
    for (name, dir, file, asks, arrow) in cases {
        let p = provider(name);
        let q = question(p, file, &fixture(dir, file));
        assert!(q.text.contains(asks), "{name}: question text {:?}", q.text);
        assert_eq!(q.options.len(), 3, "{name}: choices {:?}", q.options);
        assert_eq!(
            q.selected, 0,
            "{name}: the cursor starts on the first choice"
        );
        assert_eq!(
            q.reply("2"),
            Ok(Reply::Keys {
                keys: vec![arrow, "Enter"],
                choice: 1
            }),
            "{name}"
        );
        assert!(
            matches!(q.reply("yes"), Ok(Reply::Keys { choice: 0, .. })),
            "{name}: yes is the first choice, {:?}",
            q.options
        );
        assert!(
            matches!(q.reply("no"), Ok(Reply::Keys { choice: 2, .. })),
            "{name}: no is the refusing choice, {:?}",
            q.options
        );
    }
    // OpenCode's "Allow always" asks to confirm: "yes" confirms.
    let p = provider("opencode");
    let file = "71-always-allow-confirm.txt";
    let q = question(p, file, &fixture("opencode", file));
    assert_eq!(q.options, ["Confirm", "Cancel"]);
    assert!(matches!(q.reply("yes"), Ok(Reply::Keys { choice: 0, .. })));
    assert!(matches!(q.reply("no"), Ok(Reply::Keys { choice: 1, .. })));
}
