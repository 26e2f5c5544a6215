//! `MAX-RPS`: keys read from the source per second, averaged from the start of the phase so
//! that a pause in between does not bank a burst larger than one second's worth.

use std::time::{Duration, Instant};

/// A rate limit on keys read.
pub struct Throttle {
    rps: u32,
    window_start: Instant,
    taken: u64,
}

impl Throttle {
    /// `rps` keys per second; 0 is unlimited.
    pub fn new(rps: u32) -> Throttle {
        Throttle {
            rps,
            window_start: Instant::now(),
            taken: 0,
        }
    }

    /// Changes the rate (MIGRATION.SET MAX-RPS), from now on.
    pub fn set_rps(&mut self, rps: u32) {
        if rps != self.rps {
            *self = Throttle::new(rps);
        }
    }

    /// How long to wait before reading `n` more keys.
    pub fn delay_for(&mut self, n: u64, now: Instant) -> Duration {
        if self.rps == 0 {
            return Duration::ZERO;
        }
        // A fresh window each second or so keeps an idle spell from banking credit.
        if now.duration_since(self.window_start) > Duration::from_secs(1) && self.taken > 0 {
            let allowed_at =
                self.window_start + Duration::from_secs_f64(self.taken as f64 / self.rps as f64);
            if allowed_at <= now {
                self.window_start = now;
                self.taken = 0;
            }
        }
        self.taken += n;
        let due = self.window_start + Duration::from_secs_f64(self.taken as f64 / self.rps as f64);
        // The first second's worth goes at once.
        due.saturating_duration_since(now)
            .saturating_sub(Duration::from_secs_f64(
                n.min(self.rps as u64) as f64 / self.rps as f64,
            ))
    }

    /// Waits until `n` more keys may be read.
    pub async fn acquire(&mut self, n: u64) {
        let d = self.delay_for(n, Instant::now());
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits_and_limits_spread_reads() {
        let now = Instant::now();
        let mut t = Throttle::new(0);
        assert_eq!(t.delay_for(1_000_000, now), Duration::ZERO);
        let mut t = Throttle::new(100);
        t.window_start = now;
        // 100 keys: the first second's worth, at once.
        assert_eq!(t.delay_for(100, now), Duration::ZERO);
        // 100 more: about one second later.
        let d = t.delay_for(100, now);
        assert!(
            d >= Duration::from_millis(900) && d <= Duration::from_millis(1100),
            "{d:?}"
        );
    }
}
