//! Waiting, in one place: the engine's clock (injectable, so a test can run a ten-minute
//! handoff in milliseconds) and [`wait_until`], the bounded loop every "look, then pause until
//! the deadline" wait of the engine is made of.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Engine;
use super::watcher::Waiter;

/// Where the engine's time comes from and how it pauses.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;

    /// Pauses for `d`, cut short when `bell` rings first; returns whether it rang.
    fn pause(&self, d: Duration, bell: Option<&mut Waiter>) -> bool;
}

/// The real clock: `Instant::now`, and pauses that sleep (or block on the doorbell).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn pause(&self, d: Duration, bell: Option<&mut Waiter>) -> bool {
        match bell {
            Some(bell) => bell.wait(d),
            None => {
                std::thread::sleep(d);
                false
            }
        }
    }
}

/// The clock of a real process.
pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// Calls `check` until it returns `Some`, pausing `tick` (never past `deadline`) between two
/// calls, cut short by `bell` when one is given. `Ok(None)` once `deadline` has passed; the
/// last call is made at the deadline, so a condition met during the last pause is seen.
pub fn wait_until<T, E>(
    clock: &dyn Clock,
    deadline: Instant,
    tick: Duration,
    mut bell: Option<&mut Waiter>,
    mut check: impl FnMut() -> Result<Option<T>, E>,
) -> Result<Option<T>, E> {
    loop {
        if let Some(done) = check()? {
            return Ok(Some(done));
        }
        let now = clock.now();
        if now >= deadline {
            return Ok(None);
        }
        clock.pause(tick.min(deadline - now), bell.as_deref_mut());
    }
}

impl Engine {
    /// [`wait_until`] on the engine's clock.
    pub(super) fn wait_until<T, E>(
        &self,
        deadline: Instant,
        tick: Duration,
        bell: Option<&mut Waiter>,
        check: impl FnMut() -> Result<Option<T>, E>,
    ) -> Result<Option<T>, E> {
        wait_until(self.clock.as_ref(), deadline, tick, bell, check)
    }
}

/// A clock whose pauses take no real time: each one moves it forward by its length at once.
/// A doorbell that rang is still read (and reported) so waiters behave as with real time.
#[cfg(test)]
#[derive(Debug)]
pub struct FakeClock {
    start: Instant,
    elapsed: std::sync::Mutex<Duration>,
}

#[cfg(test)]
impl FakeClock {
    /// A clock at the real now, that moves only when paused.
    pub fn new() -> FakeClock {
        FakeClock {
            start: Instant::now(),
            elapsed: std::sync::Mutex::new(Duration::ZERO),
        }
    }

    /// How far the clock has moved.
    pub fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap()
    }
}

#[cfg(test)]
impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }

    fn pause(&self, d: Duration, bell: Option<&mut Waiter>) -> bool {
        *self.elapsed.lock().unwrap() += d;
        bell.is_some_and(|bell| bell.wait(Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    #[test]
    fn a_wait_looks_once_per_tick_until_the_deadline_and_once_at_it() {
        let clock = FakeClock::new();
        let deadline = clock.now() + Duration::from_millis(1000);
        let mut looks = 0;
        let Ok(found) = wait_until(&clock, deadline, Duration::from_millis(300), None, || {
            looks += 1;
            Ok::<Option<()>, Infallible>(None)
        });
        assert_eq!(found, None);
        // At 0, 300, 600 and 900 ms, then at the deadline (the last pause is cut to 100 ms).
        assert_eq!(looks, 5);
        assert_eq!(clock.elapsed(), Duration::from_millis(1000));
    }

    #[test]
    fn a_wait_ends_at_the_first_look_that_finds_and_passes_errors_on() {
        let clock = FakeClock::new();
        let deadline = clock.now() + Duration::from_secs(60);
        let mut looks = 0;
        let found = wait_until(&clock, deadline, Duration::from_secs(1), None, || {
            looks += 1;
            Ok::<_, Infallible>((looks == 3).then_some(looks))
        });
        assert!(matches!(found, Ok(Some(3))));
        assert_eq!(clock.elapsed(), Duration::from_secs(2));

        let failed: Result<Option<()>, &str> =
            wait_until(&clock, deadline, Duration::from_secs(1), None, || {
                Err("gone")
            });
        assert_eq!(failed, Err("gone"));
    }

    #[test]
    fn the_system_clock_pauses_for_real_and_a_ring_cuts_a_pause_short() {
        let start = Instant::now();
        assert!(!SystemClock.pause(Duration::from_millis(20), None));
        assert!(start.elapsed() >= Duration::from_millis(20));
        let dir = tempfile::tempdir().unwrap();
        let mut bell = Waiter::new(dir.path());
        super::super::watcher::ring_all(dir.path());
        let start = Instant::now();
        assert!(SystemClock.pause(Duration::from_secs(5), Some(&mut bell)));
        assert!(start.elapsed() < Duration::from_secs(4));
    }
}
