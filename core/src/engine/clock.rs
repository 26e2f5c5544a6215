//! The wall clock as the executor reads it for each command: the system clock once a second
//! at most, the monotonic reading the command takes for its duration anyway added to it.
//! Three clock reads per command were a visible share of a small command's time; this leaves
//! two (its start and its end).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long one reading of the system clock serves: its drift against the monotonic clock
/// over that time is microseconds, and a step of the system clock shows within it.
const REREAD: Duration = Duration::from_secs(1);

pub(crate) struct WallClock {
    base: Instant,
    base_us: i64,
}

impl WallClock {
    pub(crate) fn new() -> Self {
        let base = Instant::now();
        let base_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        WallClock { base, base_us }
    }

    /// Unix milliseconds at `at`, an instant the caller has just read.
    pub(crate) fn ms_at(&mut self, at: Instant) -> i64 {
        let since = at.saturating_duration_since(self.base);
        if since >= REREAD {
            *self = WallClock::new();
            return self.base_us / 1000;
        }
        (self.base_us + since.as_micros() as i64) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clock`'s reading lies between two readings of the system clock around it (a
    /// millisecond of rounding either way), however long the thread waits between them.
    fn agrees(clock: &mut WallClock) {
        let before = crate::keyspace::now_ms();
        let at = clock.ms_at(Instant::now());
        let after = crate::keyspace::now_ms();
        assert!(before - 1 <= at && at <= after + 1, "{before} {at} {after}");
    }

    #[test]
    fn follows_the_system_clock() {
        let mut clock = WallClock::new();
        agrees(&mut clock);
        std::thread::sleep(Duration::from_millis(20));
        agrees(&mut clock);
        // Past the re-read interval the system clock is read again.
        clock.base -= REREAD;
        clock.base_us -= 5_000_000;
        agrees(&mut clock);
    }
}
