//! Drawing the [`App`]: the tree of terminals, the selected one's details, its screen and
//! last answer, the footer of keys, and the views opened on top (help, composer, inbox, ...).
//! Columns that do not fit the width are left out, least useful first, so 80x24 works.

use ansi_to_tui::IntoText;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use super::app::{App, Mode};
use crate::engine::TerminalView;
use crate::providers::Status;

/// The keys of the footer (the help view lists them all).
const FOOTER: &str =
    "Enter go  s send  a answer  i inbox  o output  x close  / filter  ? help  q quit";

/// Every key, for `?`.
const HELP: &[(&str, &str)] = &[
    ("Up/Down, j/k", "select a terminal (g/G: first/last)"),
    (
        "Enter",
        "switch the tmux client to its window (attach when outside tmux)",
    ),
    (
        "s",
        "write a message: typed in when the agent is idle (Ctrl-J or Alt-Enter: new line, Enter: send)",
    ),
    ("a", "answer a terminal that asks its user something"),
    ("i", "its inbox: every message and what became of it"),
    ("o", "its whole last answer (j/k, PgUp/PgDn scroll)"),
    ("x", "close a worker (asks first)"),
    ("/", "filter by id, profile, provider, status or folder"),
    ("Esc", "close a view, clear the filter"),
    ("q, Ctrl-C", "quit (the agents keep running)"),
];

/// Draws the whole screen.
pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let tree_height = (app.rows.len() as u16 + 3).clamp(4, (area.height / 2).max(4));
    let [header, tree, details, preview, notice, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(tree_height),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(frame, app, header);
    render_tree(frame, app, tree);
    render_details(frame, app, details);
    render_preview(frame, app, preview);
    if let Some(text) = &app.notice {
        frame.render_widget(
            Paragraph::new(text.as_str()).style(Style::new().fg(Color::Yellow)),
            notice,
        );
    }
    render_footer(frame, app, footer);
    render_mode(frame, app, area);
}

fn render_header(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans = vec![
        Span::styled("cao", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(match app.terminals.len() {
            1 => "  1 terminal".to_string(),
            n => format!("  {n} terminals"),
        }),
    ];
    let waiting = app.waiting_count();
    if waiting > 0 {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            format!(" {waiting} waiting for an answer "),
            status_style(Status::WaitingUserAnswer),
        ));
    }
    if !app.filter.is_empty() {
        spans.push(Span::raw(format!("  filter: {}", app.filter)));
    }
    if app.server_down {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            "tmux server not running: no agents (start one with `cao launch`)",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    frame.render_widget(Line::from(spans), area);
}

/// A column of the tree table: its title, width and cell.
struct Column {
    title: &'static str,
    width: u16,
    cell: fn(&App, &TerminalView) -> Cell<'static>,
}

/// The columns in order of importance; those that do not fit are dropped from the end.
fn columns() -> Vec<Column> {
    vec![
        Column {
            title: "STATUS",
            width: 19,
            cell: |_, t| Cell::from(t.status.as_str()).style(status_style(t.status)),
        },
        Column {
            title: "PROFILE",
            width: 15,
            cell: |_, t| Cell::from(t.profile.clone()),
        },
        Column {
            title: "PROVIDER",
            width: 11,
            cell: |_, t| Cell::from(t.provider.clone()),
        },
        Column {
            title: "AGE",
            width: 4,
            cell: |app, t| Cell::from(age(app.now_ms - t.created_at)),
        },
        Column {
            title: "INBOX",
            width: 5,
            cell: |_, t| Cell::from(format!("{:>5}", t.pending_messages)),
        },
        Column {
            title: "TOKENS",
            width: 13,
            cell: |_, t| Cell::from(tokens(t)),
        },
        Column {
            title: "BRANCH",
            width: 24,
            cell: |_, t| Cell::from(branch(t)),
        },
        Column {
            title: "DIR",
            width: 40,
            cell: |_, t| Cell::from(t.working_dir.clone()),
        },
    ]
}

fn render_tree(frame: &mut Frame, app: &App, area: Rect) {
    let depth = app.rows.iter().map(|r| r.depth).max().unwrap_or(0) as u16;
    let id_width = 8 + 3 * depth;
    // Borders, the highlight symbol, the id column.
    let mut room = area.width.saturating_sub(2 + 2 + id_width);
    let mut shown = Vec::new();
    for column in columns() {
        if room < column.width + 1 {
            break;
        }
        room -= column.width + 1;
        shown.push(column);
    }
    // The last column takes what is left.
    let mut widths = vec![Constraint::Length(id_width)];
    widths.extend(shown.iter().enumerate().map(|(i, c)| {
        if i + 1 == shown.len() {
            Constraint::Min(c.width)
        } else {
            Constraint::Length(c.width)
        }
    }));
    let header = Row::new(
        std::iter::once("TERMINAL")
            .chain(shown.iter().map(|c| c.title))
            .map(Cell::from),
    )
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = app.rows.iter().map(|row| {
        let t = &app.terminals[row.index];
        let branch = match row.depth {
            0 => String::new(),
            d => format!(
                "{}{} ",
                "   ".repeat(d - 1),
                if row.last { "└─" } else { "├─" }
            ),
        };
        let mut cells = vec![Cell::from(format!("{branch}{}", t.id))];
        cells.extend(shown.iter().map(|c| (c.cell)(app, t)));
        Row::new(cells)
    });
    let mut state = TableState::default().with_selected(
        app.rows
            .iter()
            .position(|r| Some(app.terminals[r.index].id.as_str()) == app.selected.as_deref()),
    );
    let empty = app.rows.is_empty();
    let title = if empty && !app.filter.is_empty() {
        " terminals: none match the filter (Esc clears it) "
    } else if empty {
        " terminals: none yet (start one with `cao launch`) "
    } else {
        " terminals "
    };
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(title))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    frame.render_stateful_widget(table, area, &mut state);
}

fn render_details(frame: &mut Frame, app: &App, area: Rect) {
    let Some(t) = app.selected_view() else {
        return;
    };
    let mut parts = vec![format!("{} in {}", t.id, t.session)];
    parts.push(format!("dir {}", t.working_dir));
    if t.worktree.is_some() {
        parts.push(format!("branch {}", branch(t)));
    }
    parts.push(format!("tokens {}", tokens(t)));
    let mut line = vec![Span::raw(parts.join("  "))];
    if let Some(question) = &t.question {
        let first = question.lines().next().unwrap_or_default();
        line.push(Span::raw("  "));
        line.push(Span::styled(
            format!("asks: {first}"),
            status_style(Status::WaitingUserAnswer),
        ));
    }
    frame.render_widget(Line::from(line), area);
}

fn render_preview(frame: &mut Frame, app: &App, area: Rect) {
    if app.selected.is_none() {
        frame.render_widget(Block::bordered().title(" screen "), area);
        return;
    }
    let wide = area.width >= 120;
    let [screen_area, answer_area] = if wide {
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(area)
    } else {
        let answer_height = if area.height >= 12 { 5 } else { 3 };
        Layout::vertical([Constraint::Min(3), Constraint::Length(answer_height)]).areas(area)
    };
    let inner_height = screen_area.height.saturating_sub(2) as usize;
    let screen = match &app.preview.screen {
        Some(screen) => bottom_lines(styled(screen), inner_height),
        None => Text::raw("reading the screen..."),
    };
    frame.render_widget(
        Paragraph::new(screen).block(Block::bordered().title(" screen ")),
        screen_area,
    );
    let answer = if app.preview.answer.trim().is_empty() {
        "(no answer yet)"
    } else {
        app.preview.answer.as_str()
    };
    frame.render_widget(
        Paragraph::new(answer)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" last answer (o: all of it) ")),
        answer_area,
    );
}

fn render_footer(frame: &mut Frame, app: &App, area: Rect) {
    let text = match &app.mode {
        Mode::Filter(input) => format!("/{}_   Enter: keep  Esc: clear", input.text),
        _ => FOOTER.to_string(),
    };
    frame.render_widget(
        Paragraph::new(text).style(Style::new().add_modifier(Modifier::DIM)),
        area,
    );
}

/// The view on top of the tree, if any.
fn render_mode(frame: &mut Frame, app: &App, area: Rect) {
    match &app.mode {
        Mode::Browse | Mode::Filter(_) => {}
        Mode::Help => {
            let lines: Vec<Line> = HELP
                .iter()
                .map(|(keys, what)| {
                    Line::from(vec![
                        Span::styled(
                            format!("{keys:<14}"),
                            Style::new().add_modifier(Modifier::BOLD),
                        ),
                        Span::raw(*what),
                    ])
                })
                .collect();
            popup(
                frame,
                area,
                " keys (any key closes) ",
                Text::from(lines),
                None,
            );
        }
        Mode::Compose { to, input } => {
            let text = format!("{}_", input.text);
            popup(
                frame,
                area,
                &format!(" message to {to}: Enter sends, Ctrl-J new line, Esc cancels "),
                Text::raw(text),
                None,
            );
        }
        Mode::Answer {
            to,
            question,
            input,
        } => {
            let text = format!("{question}\n\nanswer: {}_", input.text);
            popup(
                frame,
                area,
                &format!(" answer {to}: a number, y/n or text; Enter sends, Esc cancels "),
                Text::raw(text),
                None,
            );
        }
        Mode::Inbox {
            of,
            messages,
            scroll,
        } => {
            let lines: Vec<Line> = if messages.is_empty() {
                vec![Line::raw("no messages")]
            } else {
                messages
                    .iter()
                    .map(|m| {
                        let first = m.body.lines().next().unwrap_or_default();
                        let reason = m
                            .error
                            .as_deref()
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default();
                        Line::from(vec![
                            Span::raw(format!("{:>5} {:<10} ", m.id, m.sender_id)),
                            Span::styled(
                                format!("{:<10} ", m.status.as_str()),
                                message_style(m.status),
                            ),
                            Span::raw(format!("{first}{reason}")),
                        ])
                    })
                    .collect()
            };
            popup(
                frame,
                area,
                &format!(" inbox of {of} (Esc closes) "),
                Text::from(lines),
                Some(*scroll),
            );
        }
        Mode::Output { of, text, scroll } => {
            let body = if text.trim().is_empty() {
                "(no answer yet)"
            } else {
                text.as_str()
            };
            popup(
                frame,
                area,
                &format!(" last answer of {of} (j/k PgUp/PgDn scroll, Esc closes) "),
                Text::raw(body),
                Some(*scroll),
            );
        }
        Mode::ConfirmClose { id } => {
            let what = app
                .terminals
                .iter()
                .find(|t| &t.id == id)
                .map(|t| format!("{} ({}, {})", t.id, t.profile, t.status))
                .unwrap_or_else(|| id.clone());
            popup(
                frame,
                area,
                " close a worker ",
                Text::raw(format!(
                    "Close {what}?\nIts CLI is asked to exit and its window closed.\n\ny: close   any other key: keep"
                )),
                None,
            );
        }
    }
}

/// A bordered box over the middle of the screen, as tall as its text once wrapped (within
/// the screen); a view that scrolls takes all the height there is.
fn popup(frame: &mut Frame, area: Rect, title: &str, text: Text<'_>, scroll: Option<u16>) {
    let width = area.width.saturating_sub(4).min(100);
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let wrapped: usize = text
        .lines
        .iter()
        .map(|line| line.width().div_ceil(inner).max(1))
        .sum();
    let wanted = match scroll {
        Some(_) => u16::MAX,
        None => u16::try_from(wrapped + 2).unwrap_or(u16::MAX).max(5),
    };
    let height = wanted.min(area.height.saturating_sub(2));
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .scroll((scroll.unwrap_or(0), 0))
            .block(Block::bordered().title(title.to_string())),
        rect,
    );
}

/// A captured screen as styled text; a screen whose escapes cannot be read is shown plain.
fn styled(screen: &str) -> Text<'static> {
    screen
        .into_text()
        .unwrap_or_else(|_| Text::raw(screen.to_string()))
}

/// The last `n` lines of a screen that are not blank at its bottom (the agent's prompt and
/// the latest output are at the bottom).
fn bottom_lines(mut text: Text<'static>, n: usize) -> Text<'static> {
    while text
        .lines
        .last()
        .is_some_and(|l| l.spans.iter().all(|s| s.content.trim().is_empty()))
    {
        text.lines.pop();
    }
    let skip = text.lines.len().saturating_sub(n);
    text.lines.drain(..skip);
    text
}

/// How old something is, in the coarsest unit that fits (it changes once a minute).
pub fn age(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match minutes {
        0 => "<1m".into(),
        m if m < 60 => format!("{m}m"),
        m if m < 48 * 60 => format!("{}h", m / 60),
        m => format!("{}d", m / (24 * 60)),
    }
}

fn tokens(t: &TerminalView) -> String {
    crate::records::Usage::label(t.usage.as_ref())
}

/// The worker's branch, `*` for uncommitted changes, `+N` for its commits.
fn branch(t: &TerminalView) -> String {
    t.worktree
        .as_ref()
        .map_or_else(|| "-".to_string(), |w| w.label())
}

/// The colour of a status; a terminal waiting for its user's answer stands out.
fn status_style(status: Status) -> Style {
    match status {
        Status::Idle => Style::new().fg(Color::Green),
        Status::Processing => Style::new().fg(Color::Yellow),
        Status::Completed => Style::new().fg(Color::Cyan),
        Status::WaitingUserAnswer => Style::new()
            .fg(Color::Black)
            .bg(Color::Magenta)
            .add_modifier(Modifier::BOLD),
        Status::Error => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

fn message_style(status: crate::store::MessageStatus) -> Style {
    use crate::store::MessageStatus;
    match status {
        MessageStatus::Pending => Style::new().fg(Color::Yellow),
        MessageStatus::Delivering => Style::new().fg(Color::Cyan),
        MessageStatus::Delivered => Style::new().fg(Color::Green),
        MessageStatus::Failed => Style::new().fg(Color::Red),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_change_once_a_minute_at_most() {
        assert_eq!(age(59_999), "<1m");
        assert_eq!(age(-5), "<1m");
        assert_eq!(age(5 * 60_000 + 59_000), "5m");
        assert_eq!(age(3 * 3_600_000), "3h");
        assert_eq!(age(3 * 86_400_000), "3d");
    }

    #[test]
    fn a_screen_shows_its_bottom_and_survives_broken_escapes() {
        let text = bottom_lines(styled("a\nb\n\x1b[31mc\x1b[0m\n\n  \n"), 2);
        let lines: Vec<String> = text.lines.iter().map(|l| l.to_string()).collect();
        assert_eq!(lines, ["b", "c"]);
        // A cut escape and replacement characters (from non-UTF-8 bytes) still draw.
        let text = styled("\x1b[38;5mbroken \u{fffd}\x1b[");
        assert!(text.to_string().contains("broken \u{fffd}"), "{text:?}");
    }
}
