//! Turns the raw bytes a terminal sends into key events.
//!
//! The decoder is a pure, incremental state machine so that split reads, bracketed pastes and
//! escape sequences can be unit-tested without a terminal. The only time-dependent rule — a
//! lone ESC becomes the Escape key once nothing follows it for a short while — is left to the
//! caller, which asks [`Decoder::awaiting_escape`] and then calls [`Decoder::escape_timeout`].

/// How long a lone ESC byte may wait for the rest of a sequence before it counts as the Escape
/// key; terminals send a whole sequence in one write, so a short window is enough.
pub const ESCAPE_WINDOW_MS: u64 = 30;

/// Marks the start of a bracketed paste (`ESC[200~`), sent only after we ask for `ESC[?2004h`.
const PASTE_END: &[u8] = b"\x1b[201~";

/// Longest parameter run we accept inside a CSI sequence before deciding it is garbage.
const MAX_CSI_LEN: usize = 32;

/// One user action decoded from the byte stream, at the level the line editor cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A printable character (or a tab) typed outside a paste.
    Char(char),
    /// Carriage return or line feed outside a paste.
    Enter,
    /// DEL (0x7f) or BS (0x08).
    Backspace,
    /// A lone ESC, or ESC ESC.
    Escape,
    /// 0x03: interrupt while working, clear the line at the prompt.
    CtrlC,
    /// 0x04: quit at an empty prompt.
    CtrlD,
    /// The text between `ESC[200~` and `ESC[201~`, with every CR turned into `\n`.
    Paste(String),
}

/// Where the decoder is inside the byte grammar.
#[derive(Debug)]
enum State {
    /// Plain bytes.
    Ground,
    /// Saw ESC; the next byte decides what it was.
    Esc,
    /// Inside `ESC [`: collecting parameter bytes until a final byte.
    Csi(Vec<u8>),
    /// Inside `ESC O`: the next byte ends the sequence.
    Ss3,
    /// Inside a bracketed paste: collecting raw bytes until `ESC[201~`.
    Paste(Vec<u8>),
}

/// Incremental decoder from terminal input bytes to [`Key`]s; keeps partial sequences (and
/// partial UTF-8 characters) across reads.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    /// Bytes of a UTF-8 character that has not been completed yet.
    utf8: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder in its initial state.
    pub fn new() -> Self {
        Self {
            state: State::Ground,
            utf8: Vec::new(),
        }
    }

    /// Decodes `bytes`, appending the keys they complete to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Key>) {
        for &byte in bytes {
            self.byte(byte, out);
        }
    }

    /// True when the last byte seen was a lone ESC, so the caller should start the escape
    /// window and call [`Decoder::escape_timeout`] if nothing arrives within it.
    pub fn awaiting_escape(&self) -> bool {
        matches!(self.state, State::Esc)
    }

    /// Resolves a pending lone ESC as the Escape key (the window passed with no more bytes).
    pub fn escape_timeout(&mut self) -> Option<Key> {
        if self.awaiting_escape() {
            self.state = State::Ground;
            Some(Key::Escape)
        } else {
            None
        }
    }

    /// Advances the state machine by one byte.
    fn byte(&mut self, byte: u8, out: &mut Vec<Key>) {
        match &mut self.state {
            State::Ground => self.ground(byte, out),
            State::Esc => match byte {
                b'[' => self.state = State::Csi(Vec::new()),
                b'O' => self.state = State::Ss3,
                0x1b => {
                    self.state = State::Ground;
                    out.push(Key::Escape);
                }
                _ => {
                    // An ESC followed by something that starts no sequence: the user pressed
                    // Escape and then typed; keep both rather than guessing at Alt chords.
                    self.state = State::Ground;
                    out.push(Key::Escape);
                    self.ground(byte, out);
                }
            },
            State::Csi(params) => match byte {
                0x20..=0x3f if params.len() < MAX_CSI_LEN => params.push(byte),
                0x40..=0x7e => {
                    let paste = byte == b'~' && params.as_slice() == b"200";
                    self.state = if paste {
                        State::Paste(Vec::new())
                    } else {
                        State::Ground
                    };
                }
                _ => {
                    // Not a well-formed sequence: drop what we collected, keep the byte.
                    self.state = State::Ground;
                    self.ground(byte, out);
                }
            },
            State::Ss3 => self.state = State::Ground,
            State::Paste(buf) => {
                buf.push(byte);
                if buf.ends_with(PASTE_END) {
                    buf.truncate(buf.len() - PASTE_END.len());
                    let text = String::from_utf8_lossy(buf).replace('\r', "\n");
                    self.state = State::Ground;
                    if !text.is_empty() {
                        out.push(Key::Paste(text));
                    }
                }
            }
        }
    }

    /// Handles a byte outside any sequence.
    fn ground(&mut self, byte: u8, out: &mut Vec<Key>) {
        if !(0x80..=0xbf).contains(&byte) && !self.utf8.is_empty() {
            // A character was cut short by something that cannot continue it.
            self.utf8.clear();
            out.push(Key::Char(char::REPLACEMENT_CHARACTER));
        }
        match byte {
            0x1b => self.state = State::Esc,
            b'\r' | b'\n' => out.push(Key::Enter),
            0x7f | 0x08 => out.push(Key::Backspace),
            0x03 => out.push(Key::CtrlC),
            0x04 => out.push(Key::CtrlD),
            b'\t' => out.push(Key::Char('\t')),
            0x00..=0x1f => {}
            0x20..=0x7e => out.push(Key::Char(byte as char)),
            0x80..=0xbf => {
                if self.utf8.is_empty() {
                    out.push(Key::Char(char::REPLACEMENT_CHARACTER));
                } else {
                    self.utf8.push(byte);
                    if self.utf8.len() == utf8_len(self.utf8[0]) {
                        let c = std::str::from_utf8(&self.utf8)
                            .ok()
                            .and_then(|s| s.chars().next())
                            .unwrap_or(char::REPLACEMENT_CHARACTER);
                        self.utf8.clear();
                        out.push(Key::Char(c));
                    }
                }
            }
            0xc2..=0xf4 => self.utf8.push(byte),
            _ => out.push(Key::Char(char::REPLACEMENT_CHARACTER)),
        }
    }
}

/// Length of the UTF-8 encoding announced by a lead byte.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Vec<Key> {
        let mut decoder = Decoder::new();
        let mut out = Vec::new();
        for chunk in chunks {
            decoder.feed(chunk, &mut out);
        }
        out
    }

    fn chars(s: &str) -> Vec<Key> {
        s.chars().map(Key::Char).collect()
    }

    #[test]
    fn typed_text_and_enter() {
        let mut want = chars("hi");
        want.push(Key::Enter);
        assert_eq!(decode(&[b"hi\r"]), want);
    }

    #[test]
    fn control_keys() {
        assert_eq!(
            decode(&[b"\x7f\x08\x03\x04\n"]),
            vec![
                Key::Backspace,
                Key::Backspace,
                Key::CtrlC,
                Key::CtrlD,
                Key::Enter
            ]
        );
    }

    #[test]
    fn bracketed_paste_keeps_newlines_and_normalises_cr() {
        assert_eq!(
            decode(&[b"\x1b[200~line one\rline two\nthree\x1b[201~\r"]),
            vec![Key::Paste("line one\nline two\nthree".into()), Key::Enter]
        );
    }

    #[test]
    fn paste_split_across_reads() {
        assert_eq!(
            decode(&[b"\x1b[2", b"00~ab", b"c\x1b[20", b"1~"]),
            vec![Key::Paste("abc".into())]
        );
    }

    #[test]
    fn paste_content_is_not_interpreted() {
        assert_eq!(
            decode(&[b"\x1b[200~a\x03b\x7f\x1b[Ac\x1b[201~"]),
            vec![Key::Paste("a\x03b\x7f\x1b[Ac".into())]
        );
    }

    #[test]
    fn empty_paste_yields_nothing() {
        assert_eq!(decode(&[b"\x1b[200~\x1b[201~"]), vec![]);
    }

    #[test]
    fn utf8_split_across_reads() {
        let bytes = "é✓".as_bytes();
        assert_eq!(
            decode(&[&bytes[..1], &bytes[1..3], &bytes[3..]]),
            chars("é✓")
        );
    }

    #[test]
    fn utf8_in_paste() {
        assert_eq!(
            decode(&["\x1b[200~héllo ●\x1b[201~".as_bytes()]),
            vec![Key::Paste("héllo ●".into())]
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement() {
        assert_eq!(
            decode(&[b"\xffa\xc3b"]),
            vec![
                Key::Char(char::REPLACEMENT_CHARACTER),
                Key::Char('a'),
                Key::Char(char::REPLACEMENT_CHARACTER),
                Key::Char('b')
            ]
        );
    }

    #[test]
    fn arrow_keys_and_other_sequences_are_ignored() {
        assert_eq!(decode(&[b"a\x1b[A\x1b[1;5C\x1bOPb\x1b[I"]), chars("ab"));
    }

    #[test]
    fn lone_escape_waits_for_the_window() {
        let mut decoder = Decoder::new();
        let mut out = Vec::new();
        decoder.feed(b"\x1b", &mut out);
        assert!(out.is_empty());
        assert!(decoder.awaiting_escape());
        assert_eq!(decoder.escape_timeout(), Some(Key::Escape));
        assert!(!decoder.awaiting_escape());
        assert_eq!(decoder.escape_timeout(), None);
    }

    #[test]
    fn escape_completed_by_a_later_read_is_a_sequence() {
        let mut decoder = Decoder::new();
        let mut out = Vec::new();
        decoder.feed(b"\x1b", &mut out);
        decoder.feed(b"[B", &mut out);
        assert!(out.is_empty());
        assert!(!decoder.awaiting_escape());
    }

    #[test]
    fn double_escape_is_one_escape() {
        assert_eq!(decode(&[b"\x1b\x1bx"]), vec![Key::Escape, Key::Char('x')]);
    }

    #[test]
    fn escape_then_typing_keeps_both() {
        let mut want = vec![Key::Escape];
        want.extend(chars("y"));
        want.push(Key::Enter);
        assert_eq!(decode(&[b"\x1by\r"]), want);
    }
}
