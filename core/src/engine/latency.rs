//! The latency monitor (LATENCY LATEST / HISTORY / RESET / GRAPH / DOCTOR, Redis's
//! `latency-monitor-threshold`) and the per-command latency histograms (LATENCY HISTOGRAM,
//! INFO latencystats, Redis 7.0's `latency-tracking`).
//!
//! Events are what Redis names (`command`, `fast-command`, `expire-cycle`) and Respite's own
//! (`commit`: a group commit with its journal append; `write-behind-flush`; `merge`: the redo
//! journal merged into the tables between batches; `backpressure`: writes held back by a full
//! journal; `checkpoint`: a WAL checkpoint on its own thread, which the executor does not
//! wait for). Each keeps its last 160 samples of at
//! least the threshold, one per second (the highest), and its all-time maximum.

use std::collections::{BTreeMap, VecDeque};

/// Samples kept per event (Redis's LATENCY_TS_LEN).
pub const HISTORY_LEN: usize = 160;

/// One latency sample: Unix seconds and milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// When, in Unix seconds.
    pub time: i64,
    /// How long, in milliseconds.
    pub ms: u64,
}

/// One event's samples.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Oldest first.
    pub samples: VecDeque<Sample>,
    /// The highest latency ever recorded.
    pub max: u64,
}

/// Sub-buckets per power of two in a command's histogram: values are kept within about 6%.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets: 64 powers of two of SUB sub-buckets each.
const BUCKETS: usize = 64 * SUB as usize;

/// A command's latencies in nanoseconds, log-linear buckets (HDR-like, 1/16 of each power of
/// two).
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
        }
    }
}

impl Histogram {
    fn index(ns: u64) -> usize {
        if ns < SUB {
            return ns as usize;
        }
        let exp = 63 - ns.leading_zeros(); // >= SUB_BITS
        let sub = (ns >> (exp - SUB_BITS)) & (SUB - 1);
        ((exp - SUB_BITS + 1) as u64 * SUB + sub) as usize
    }

    /// The highest value bucket `i` holds.
    fn upper(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB {
            return i;
        }
        let exp = i / SUB + SUB_BITS as u64 - 1;
        let sub = i % SUB;
        let low = (1u64 << exp) + (sub << (exp - SUB_BITS as u64));
        low + (1u64 << (exp - SUB_BITS as u64)) - 1
    }

    /// Records one call of `ns` nanoseconds.
    pub fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.total += 1;
    }

    /// Calls recorded.
    pub fn calls(&self) -> u64 {
        self.total
    }

    /// The latency (nanoseconds, a bucket's upper bound) below which `pct` percent of the
    /// calls fall.
    pub fn percentile(&self, pct: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let want = ((pct / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Self::upper(i);
            }
        }
        Self::upper(BUCKETS - 1)
    }

    /// Cumulative counts at powers of two of microseconds (1, 2, 4, ...), listing only the
    /// powers where calls were added, as LATENCY HISTOGRAM reports them.
    pub fn cumulative_usec(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut seen = 0;
        let mut i = 0;
        let mut bound_us = 1u64;
        while seen < self.total {
            let bound_ns = bound_us * 1000;
            let before = seen;
            while i < BUCKETS && Self::upper(i) < bound_ns {
                seen += self.counts[i];
                i += 1;
            }
            if seen > before {
                out.push((bound_us, seen));
            }
            bound_us = match bound_us.checked_mul(2) {
                Some(b) if b < u64::MAX / 1000 => b,
                _ => {
                    out.push((bound_us, self.total));
                    break;
                }
            };
        }
        out
    }
}

/// The monitor and the histograms.
#[derive(Default)]
pub struct Latency {
    /// `latency-monitor-threshold` in milliseconds; 0: the monitor is off.
    pub threshold_ms: u64,
    /// `latency-tracking`: whether commands' histograms are kept.
    pub tracking: bool,
    events: BTreeMap<&'static str, Series>,
    /// By the command table's statistics index.
    histograms: Vec<Option<Histogram>>,
    /// The store's checkpoint count last seen (a new one is a `checkpoint` sample).
    pub checkpoints_seen: u64,
}

impl Latency {
    /// Records `ms` for `event` if the monitor is on and it reaches the threshold. Two
    /// samples in the same second keep the higher.
    pub fn sample(&mut self, event: &'static str, ms: u64, now_unix: i64) {
        if self.threshold_ms == 0 || ms < self.threshold_ms {
            return;
        }
        let series = self.events.entry(event).or_default();
        series.max = series.max.max(ms);
        match series.samples.back_mut() {
            Some(last) if last.time == now_unix => last.ms = last.ms.max(ms),
            _ => {
                series.samples.push_back(Sample { time: now_unix, ms });
                if series.samples.len() > HISTORY_LEN {
                    series.samples.pop_front();
                }
            }
        }
    }

    /// Whether [`Self::sample`] would keep anything: callers skip measuring otherwise.
    pub fn monitoring(&self) -> bool {
        self.threshold_ms > 0
    }

    /// Records a command's duration in its histogram.
    pub fn record_command(&mut self, index: usize, ns: u64) {
        if !self.tracking {
            return;
        }
        if self.histograms.len() <= index {
            self.histograms.resize_with(index + 1, || None);
        }
        self.histograms[index]
            .get_or_insert_with(Histogram::default)
            .record(ns);
    }

    /// A command's histogram, if it ran since the last reset.
    pub fn histogram(&self, index: usize) -> Option<&Histogram> {
        self.histograms.get(index).and_then(Option::as_ref)
    }

    /// Every event with samples, by name.
    pub fn events(&self) -> &BTreeMap<&'static str, Series> {
        &self.events
    }

    /// Forgets the named events (all without names); returns how many had samples.
    pub fn reset(&mut self, names: &[String]) -> usize {
        if names.is_empty() {
            let n = self.events.len();
            self.events.clear();
            return n;
        }
        let mut n = 0;
        for name in names {
            let key = self.events.keys().copied().find(|k| k == name);
            if let Some(key) = key {
                self.events.remove(key);
                n += 1;
            }
        }
        n
    }

    /// Clears the histograms (CONFIG RESETSTAT).
    pub fn reset_histograms(&mut self) {
        self.histograms.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_values_within_a_sixteenth() {
        for v in [
            0u64,
            1,
            15,
            16,
            17,
            31,
            32,
            1000,
            1023,
            1024,
            123_456,
            10_000_000_000,
        ] {
            let i = Histogram::index(v);
            assert!(Histogram::upper(i) >= v, "{v}");
            if i > 0 {
                assert!(Histogram::upper(i - 1) < v, "{v}");
            }
            assert!(Histogram::upper(i) - v <= v / 16 + 1, "{v}");
        }
    }

    #[test]
    fn percentiles_and_cumulative_counts() {
        let mut h = Histogram::default();
        for _ in 0..90 {
            h.record(1_500); // 1.5 us
        }
        for _ in 0..10 {
            h.record(100_000); // 100 us
        }
        assert!((1_500..1_600).contains(&h.percentile(50.0)));
        assert!((100_000..107_000).contains(&h.percentile(99.0)));
        assert_eq!(h.cumulative_usec(), vec![(2, 90), (128, 100)]);
    }

    #[test]
    fn samples_below_the_threshold_or_with_the_monitor_off_are_dropped() {
        let mut l = Latency::default();
        l.sample("command", 500, 1);
        assert!(l.events().is_empty());
        l.threshold_ms = 100;
        l.sample("command", 50, 1);
        l.sample("command", 150, 1);
        l.sample("command", 300, 1);
        l.sample("command", 120, 2);
        let s = &l.events()["command"];
        assert_eq!(
            s.samples.iter().copied().collect::<Vec<_>>(),
            vec![Sample { time: 1, ms: 300 }, Sample { time: 2, ms: 120 }]
        );
        assert_eq!(s.max, 300);
        for t in 3..400 {
            l.sample("command", 100, t);
        }
        assert_eq!(l.events()["command"].samples.len(), HISTORY_LEN);
        assert_eq!(l.reset(&["command".into(), "nope".into()]), 1);
    }
}
