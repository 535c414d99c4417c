//! Raw mode for the pane's terminal, so keys arrive one by one (Ctrl-C as a byte, no echo by
//! the line discipline), and its restoration on every way out.

use std::io::Write;
use std::sync::Mutex;

use crate::screen::{BRACKETED_PASTE_OFF, BRACKETED_PASTE_ON};

/// The terminal settings found at start, restored on exit; None when stdin is not a terminal
/// (pipes in tests) or they were already restored.
static SAVED: Mutex<Option<libc::termios>> = Mutex::new(None);

/// Puts stdin's terminal in raw mode (when it is a terminal) and asks for bracketed pastes.
pub fn enter_raw_mode() {
    // SAFETY: termios is plain data; tcgetattr fills it or fails without touching memory else.
    unsafe {
        let mut original: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(libc::STDIN_FILENO, &mut original) == 0 {
            let mut raw = original;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) == 0 {
                *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(original);
            }
        }
    }
    let mut out = std::io::stdout();
    let _ = out.write_all(BRACKETED_PASTE_ON.as_bytes());
    let _ = out.flush();
}

/// Turns bracketed paste off and gives the terminal back its original settings; safe to call
/// more than once (from the normal exit, an early `exit` and the panic hook).
pub fn restore() {
    let mut out = std::io::stdout();
    let _ = out.write_all(BRACKETED_PASTE_OFF.as_bytes());
    let _ = out.flush();
    if let Some(original) = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take() {
        // SAFETY: `original` came from tcgetattr on the same descriptor.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &original);
        }
    }
}

/// Width of the terminal in columns (80 when it cannot be asked), for redrawing wrapped input.
pub fn columns() -> usize {
    // SAFETY: winsize is plain data; the ioctl fills it or fails.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) == 0 && size.ws_col > 0 {
            usize::from(size.ws_col)
        } else {
            80
        }
    }
}
