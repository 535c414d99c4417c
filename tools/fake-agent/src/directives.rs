//! The `[[...]]` directives a test writes into an input to steer the turn it triggers.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

/// Matches one directive; group 1 is its name, group 2 the seconds of a `sleep`.
static DIRECTIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[\[\s*(sleep|fail|ask|exit)(?:\s+([0-9]+(?:\.[0-9]*)?|\.[0-9]+))?\s*\]\]")
        .expect("directive regex is valid")
});

/// The directives found in one input, anywhere in its text.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Directives {
    /// `[[sleep N]]`: work this long instead of the default delay (the first one wins).
    pub sleep: Option<Duration>,
    /// `[[fail]]`: end the turn with the simulated failure line.
    pub fail: bool,
    /// `[[ask]]`: end the turn with a y/n question and wait for the reply.
    pub ask: bool,
    /// `[[exit]]`: exit at once with status 3, as a crashing CLI would.
    pub exit: bool,
}

impl Directives {
    /// Finds every directive in `input`; malformed ones (e.g. `[[sleep]]`) are plain text.
    pub fn parse(input: &str) -> Self {
        let mut found = Self::default();
        for caps in DIRECTIVE.captures_iter(input) {
            let seconds = caps.get(2).map(|m| m.as_str());
            match (&caps[1], seconds) {
                ("sleep", Some(seconds)) => {
                    let seconds: f64 = seconds.parse().unwrap_or(0.0);
                    found.sleep.get_or_insert(Duration::from_secs_f64(seconds));
                }
                ("fail", None) => found.fail = true,
                ("ask", None) => found.ask = true,
                ("exit", None) => found.exit = true,
                _ => {}
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_input_has_none() {
        assert_eq!(Directives::parse("hello [world]"), Directives::default());
    }

    #[test]
    fn finds_each_directive_anywhere() {
        let d = Directives::parse("do it [[sleep 1.5]]\nthen [[fail]] and [[ask]] [[exit]]");
        assert_eq!(d.sleep, Some(Duration::from_millis(1500)));
        assert!(d.fail && d.ask && d.exit);
    }

    #[test]
    fn first_sleep_wins_and_fractions_parse() {
        assert_eq!(
            Directives::parse("[[sleep .25]] [[sleep 9]]").sleep,
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            Directives::parse("[[ sleep 2 ]]").sleep,
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn malformed_directives_are_text() {
        assert_eq!(
            Directives::parse("[[sleep]] [[sleep x]] [[fail 2]] [[failure]]"),
            Directives::default()
        );
    }
}
