//! The reconcile rules of a replica, as a state machine without I/O: feed it envelopes with
//! their origin, and it says whether to refetch.

use bytes::Bytes;

/// One state of a synced key, as SYNC.GET gives it and SYNC.SUBSCRIBE pushes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The value (`None`: the key is deleted, or is not a string).
    pub value: Option<Bytes>,
    /// The writer's schema version.
    pub schema_version: String,
    /// The key's sequence.
    pub sequence: u64,
}

/// Where an envelope came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The seed a replica starts from.
    Hydration,
    /// A pushed change.
    Receipt,
    /// The answer to a recovery refetch.
    Refetch,
}

/// How current the replica is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The last value applied was accepted; the replica is current as far as it knows.
    Ok,
    /// Not seeded yet, or a refetch failed: the value may be behind.
    Stale,
    /// An inbound value failed the parse gate (malformed, or another schema); the last good
    /// value is kept.
    Skew,
    /// A recovery refetch is in flight.
    Refetching,
}

/// What the replica holds besides the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Schema version of the applied value (`None` before the first).
    pub schema_version: Option<String>,
    /// Sequence of the applied value (`None` before the first).
    pub sequence: Option<u64>,
    /// See [`Status`].
    pub status: Status,
}

/// Counters, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Values applied (baselines and in-order receipts).
    pub applied: u64,
    /// Receipts at or below the current sequence (duplicates, reordering), and baselines
    /// older than the value held.
    pub ignored_stale: u64,
    /// Receipts beyond the current sequence plus one.
    pub gaps: u64,
    /// Values that failed the parse gate.
    pub parse_errors: u64,
    /// Recovery refetches started.
    pub refetches: u64,
}

/// What the caller must do after [`Reconciler::ingest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Fetch the current snapshot and ingest it as [`Origin::Refetch`].
    Refetch,
}

/// The replica's state, generic over the parsed value.
pub struct Reconciler<T> {
    value: Option<T>,
    meta: Meta,
    stats: Stats,
    refetching: bool,
    /// A gap or a bad value arrived while a refetch was in flight: its answer may predate
    /// it, so one more refetch follows.
    refetch_again: bool,
    can_refetch: bool,
}

impl<T> Reconciler<T> {
    /// A replica that has seen nothing; `can_refetch` false means no recovery (a gap leaves
    /// it `stale`).
    pub fn new(can_refetch: bool) -> Self {
        Reconciler {
            value: None,
            meta: Meta {
                schema_version: None,
                sequence: None,
                status: Status::Stale,
            },
            stats: Stats::default(),
            refetching: false,
            refetch_again: false,
            can_refetch,
        }
    }

    /// The value applied last.
    pub fn value(&self) -> Option<&T> {
        self.value.as_ref()
    }

    /// See [`Meta`].
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// See [`Stats`].
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether a refetch is in flight.
    pub fn is_refetching(&self) -> bool {
        self.refetching
    }

    fn commit(&mut self, value: T, env: &Envelope) {
        self.value = Some(value);
        self.meta.schema_version = Some(env.schema_version.clone());
        self.meta.sequence = Some(env.sequence);
        if !self.refetching {
            self.meta.status = Status::Ok;
        }
        self.stats.applied += 1;
    }

    fn start_refetch(&mut self) -> Action {
        if !self.can_refetch {
            self.meta.status = Status::Stale;
            return Action::None;
        }
        if self.refetching {
            self.refetch_again = true;
            return Action::None;
        }
        self.refetching = true;
        self.stats.refetches += 1;
        self.meta.status = Status::Refetching;
        Action::Refetch
    }

    /// Passes `env` through the parse gate `parse` and the reconcile rules.
    pub fn ingest(
        &mut self,
        env: &Envelope,
        origin: Origin,
        parse: impl FnOnce(Option<&[u8]>) -> Result<T, String>,
    ) -> Action {
        if origin == Origin::Refetch {
            self.refetching = false;
        }
        let parsed = match parse(env.value.as_deref()) {
            Ok(v) => v,
            Err(_) => {
                self.stats.parse_errors += 1;
                if origin == Origin::Refetch {
                    // Never refetch in response to a refetch: that could loop forever.
                    self.refetch_again = false;
                    self.meta.status = Status::Skew;
                    return Action::None;
                }
                let action = self.start_refetch();
                // Why the value is not current, until a good one lands.
                self.meta.status = Status::Skew;
                return action;
            }
        };
        let current = self.meta.sequence;
        let baseline = origin != Origin::Receipt || current.is_none();
        if baseline {
            match current {
                // A baseline never moves the replica back: a refetch answered before a
                // receipt that was applied meanwhile is older than what we hold.
                Some(cur) if env.sequence < cur => self.stats.ignored_stale += 1,
                _ => self.commit(parsed, env),
            }
            if origin == Origin::Refetch {
                if std::mem::take(&mut self.refetch_again) {
                    return self.start_refetch();
                }
                if self.meta.sequence.is_some() {
                    self.meta.status = Status::Ok;
                }
            }
            return Action::None;
        }
        let cur = current.unwrap_or(0);
        if env.sequence <= cur {
            self.stats.ignored_stale += 1;
            return Action::None;
        }
        if env.sequence == cur + 1 {
            self.commit(parsed, env);
            return Action::None;
        }
        self.stats.gaps += 1;
        self.start_refetch()
    }

    /// Asks for a refetch from outside (the receipts' connection was remade).
    pub fn request_refetch(&mut self) -> Action {
        self.start_refetch()
    }

    /// The refetch failed (the source is unreachable): the value may be behind.
    pub fn refetch_failed(&mut self) {
        self.refetching = false;
        self.refetch_again = false;
        self.meta.status = Status::Stale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &str, seq: u64) -> Envelope {
        Envelope {
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            schema_version: "1".into(),
            sequence: seq,
        }
    }

    /// Accepts values that are decimal numbers.
    fn number(v: Option<&[u8]>) -> Result<i64, String> {
        let text = std::str::from_utf8(v.ok_or("nil")?).map_err(|e| e.to_string())?;
        text.parse().map_err(|_| format!("not a number: {text}"))
    }

    fn seeded(seq: u64) -> Reconciler<i64> {
        let mut r = Reconciler::new(true);
        assert_eq!(
            r.ingest(&env("10", seq), Origin::Hydration, number),
            Action::None
        );
        r
    }

    #[test]
    fn starts_stale_and_a_seed_is_accepted() {
        let mut r = Reconciler::<i64>::new(true);
        assert_eq!(r.meta().status, Status::Stale);
        assert_eq!(r.value(), None);
        r.ingest(&env("5", 40), Origin::Hydration, number);
        assert_eq!(r.value(), Some(&5));
        assert_eq!(r.meta().sequence, Some(40));
        assert_eq!(r.meta().status, Status::Ok);
        assert_eq!(r.stats().applied, 1);
    }

    #[test]
    fn the_first_receipt_is_a_baseline() {
        let mut r = Reconciler::<i64>::new(true);
        assert_eq!(
            r.ingest(&env("7", 99), Origin::Receipt, number),
            Action::None
        );
        assert_eq!((r.value(), r.meta().sequence), (Some(&7), Some(99)));
    }

    #[test]
    fn applies_in_order_and_ignores_stale_and_duplicates() {
        let mut r = seeded(3);
        r.ingest(&env("11", 4), Origin::Receipt, number);
        r.ingest(&env("12", 5), Origin::Receipt, number);
        r.ingest(&env("99", 5), Origin::Receipt, number);
        r.ingest(&env("98", 2), Origin::Receipt, number);
        assert_eq!(r.value(), Some(&12));
        assert_eq!(r.meta().sequence, Some(5));
        let s = r.stats();
        assert_eq!(
            (s.applied, s.ignored_stale, s.gaps, s.refetches),
            (3, 2, 0, 0)
        );
        assert_eq!(r.meta().status, Status::Ok);
    }

    #[test]
    fn a_gap_refetches_and_the_refetch_is_the_new_baseline() {
        let mut r = seeded(3);
        assert_eq!(
            r.ingest(&env("50", 6), Origin::Receipt, number),
            Action::Refetch
        );
        assert_eq!(r.value(), Some(&10), "a gapped value is not applied");
        assert_eq!(r.meta().status, Status::Refetching);
        assert_eq!(
            r.ingest(&env("60", 7), Origin::Refetch, number),
            Action::None
        );
        assert_eq!((r.value(), r.meta().sequence), (Some(&60), Some(7)));
        assert_eq!(r.meta().status, Status::Ok);
        let s = r.stats();
        assert_eq!((s.gaps, s.refetches, s.applied), (1, 1, 2));
        // Steady state again.
        r.ingest(&env("61", 8), Origin::Receipt, number);
        assert_eq!(r.value(), Some(&61));
    }

    #[test]
    fn a_bad_value_is_skew_keeps_the_good_one_and_refetches() {
        let mut r = seeded(3);
        assert_eq!(
            r.ingest(&env("oops", 4), Origin::Receipt, number),
            Action::Refetch
        );
        assert_eq!(r.value(), Some(&10));
        assert_eq!(r.meta().status, Status::Skew);
        assert_eq!(r.stats().parse_errors, 1);
        r.ingest(&env("20", 4), Origin::Refetch, number);
        assert_eq!((r.value(), r.meta().status), (Some(&20), Status::Ok));
    }

    #[test]
    fn never_refetches_in_response_to_a_refetch() {
        let mut r = seeded(3);
        assert_eq!(
            r.ingest(&env("50", 9), Origin::Receipt, number),
            Action::Refetch
        );
        assert_eq!(
            r.ingest(&env("bad", 9), Origin::Refetch, number),
            Action::None
        );
        assert_eq!(r.meta().status, Status::Skew);
        assert_eq!(r.value(), Some(&10));
        assert_eq!(r.stats().refetches, 1);
        assert!(!r.is_refetching());
    }

    #[test]
    fn a_bad_seed_is_skew_and_refetches() {
        let mut r = Reconciler::<i64>::new(true);
        assert_eq!(
            r.ingest(&env("x", 1), Origin::Hydration, number),
            Action::Refetch
        );
        assert_eq!(r.meta().status, Status::Skew);
        assert_eq!(r.value(), None);
    }

    #[test]
    fn a_gap_during_a_refetch_refetches_once_more_afterwards() {
        let mut r = seeded(3);
        assert_eq!(
            r.ingest(&env("50", 6), Origin::Receipt, number),
            Action::Refetch
        );
        assert_eq!(
            r.ingest(&env("70", 9), Origin::Receipt, number),
            Action::None
        );
        assert_eq!(r.stats().refetches, 1);
        // The answer predates the second gap: one more refetch.
        assert_eq!(
            r.ingest(&env("60", 6), Origin::Refetch, number),
            Action::Refetch
        );
        assert_eq!(r.stats().refetches, 2);
        assert_eq!(
            r.ingest(&env("70", 9), Origin::Refetch, number),
            Action::None
        );
        assert_eq!((r.value(), r.meta().status), (Some(&70), Status::Ok));
    }

    #[test]
    fn an_older_refetch_answer_does_not_move_the_replica_back() {
        let mut r = seeded(3);
        assert_eq!(
            r.ingest(&env("50", 6), Origin::Receipt, number),
            Action::Refetch
        );
        // Meanwhile nothing in order can apply (current is 3) ... the answer is at 6.
        r.ingest(&env("60", 6), Origin::Refetch, number);
        r.ingest(&env("61", 7), Origin::Receipt, number);
        // A late, older answer (another refetch path) is ignored.
        r.ingest(&env("55", 5), Origin::Refetch, number);
        assert_eq!((r.value(), r.meta().sequence), (Some(&61), Some(7)));
    }

    #[test]
    fn without_recovery_a_gap_leaves_it_stale() {
        let mut r = Reconciler::<i64>::new(false);
        r.ingest(&env("1", 1), Origin::Hydration, number);
        assert_eq!(
            r.ingest(&env("3", 3), Origin::Receipt, number),
            Action::None
        );
        assert_eq!(r.meta().status, Status::Stale);
        assert_eq!(r.stats().refetches, 0);
    }

    #[test]
    fn a_failed_refetch_is_stale() {
        let mut r = seeded(1);
        assert_eq!(
            r.ingest(&env("3", 3), Origin::Receipt, number),
            Action::Refetch
        );
        r.refetch_failed();
        assert_eq!(r.meta().status, Status::Stale);
        assert!(!r.is_refetching());
        // The next gap tries again.
        assert_eq!(
            r.ingest(&env("4", 4), Origin::Receipt, number),
            Action::Refetch
        );
    }
}
