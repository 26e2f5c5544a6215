//! The dirty-key registry's rules (SPEC_F F.5.2, F.6): one record per source key that changed
//! since the run began tracking, with when it was first and last seen, how many events, the
//! last event, and its state. Pure: [`crate::state_keys`] stores the records.

/// Where a registered key stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Changed on the source since it was last copied: apply-dirty will copy (or delete) it.
    Dirty,
    /// Copied after its last event.
    Applied,
    /// Gone on the source, and deleted here.
    Deleted,
    /// Of a type Respite does not have.
    Skipped,
    /// Copying it failed (see the error log); the next event or sweep retries it.
    Error,
}

impl KeyState {
    /// Its name in the record.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Dirty => "dirty",
            KeyState::Applied => "applied",
            KeyState::Deleted => "deleted",
            KeyState::Skipped => "skipped",
            KeyState::Error => "error",
        }
    }

    fn parse(s: &str) -> Option<KeyState> {
        Some(match s {
            "dirty" => KeyState::Dirty,
            "applied" => KeyState::Applied,
            "deleted" => KeyState::Deleted,
            "skipped" => KeyState::Skipped,
            "error" => KeyState::Error,
            _ => return None,
        })
    }
}

/// One key's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Unix ms of the first event.
    pub first_seen: i64,
    /// Unix ms of the last event.
    pub last_seen: i64,
    /// Events seen.
    pub events: u64,
    /// The last event's name (`set`, `hset`, `del`, `expired`, ...).
    pub last_event: String,
    /// Where it stands.
    pub state: KeyState,
}

/// Events after which the key no longer exists on the source.
pub fn is_deletion(event: &str) -> bool {
    matches!(
        event,
        "del" | "expired" | "evicted" | "rename_from" | "move_from"
    )
}

/// Events that say nothing about a key's value or TTL (the `n` class, key misses): no work.
pub fn is_ignored(event: &str) -> bool {
    matches!(event, "new" | "keymiss")
}

/// What the record of a key becomes after `event` at `now` (SPEC_F F.5.2): inserted dirty if
/// new; else last seen, count and event updated and the key dirty again, whatever it was
/// (applied, skipped, error, and deleted when written again), except that a deletion of a
/// key already deleted here leaves it deleted: there is nothing more to do for it. Returns
/// the record and whether the key became dirty (it was not dirty before).
pub fn note(existing: Option<Entry>, event: &str, now: i64) -> (Entry, bool) {
    match existing {
        None => (
            Entry {
                first_seen: now,
                last_seen: now,
                events: 1,
                last_event: event.to_string(),
                state: KeyState::Dirty,
            },
            true,
        ),
        Some(mut e) => {
            e.last_seen = now.max(e.last_seen);
            e.events += 1;
            e.last_event = event.to_string();
            let was = e.state;
            if !(was == KeyState::Deleted && is_deletion(event)) {
                e.state = KeyState::Dirty;
            }
            let became = was != KeyState::Dirty && e.state == KeyState::Dirty;
            (e, became)
        }
    }
}

impl Entry {
    /// The stored form: `first,last,events,state,event`.
    pub fn encode(&self) -> String {
        format!(
            "{},{},{},{},{}",
            self.first_seen,
            self.last_seen,
            self.events,
            self.state.as_str(),
            self.last_event
        )
    }

    /// Parses [`Entry::encode`]'s form.
    pub fn decode(b: &[u8]) -> Option<Entry> {
        let s = std::str::from_utf8(b).ok()?;
        let mut p = s.splitn(5, ',');
        Some(Entry {
            first_seen: p.next()?.parse().ok()?,
            last_seen: p.next()?.parse().ok()?,
            events: p.next()?.parse().ok()?,
            state: KeyState::parse(p.next()?)?,
            last_event: p.next()?.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_event_inserts_a_dirty_record() {
        let (e, became) = note(None, "set", 10);
        assert!(became);
        assert_eq!((e.first_seen, e.last_seen, e.events), (10, 10, 1));
        assert_eq!((e.last_event.as_str(), e.state), ("set", KeyState::Dirty));
    }

    #[test]
    fn later_events_update_and_redirty() {
        let (e, _) = note(None, "set", 10);
        let (e, became) = note(Some(e), "hset", 20);
        assert!(!became, "already dirty");
        assert_eq!((e.first_seen, e.last_seen, e.events), (10, 20, 2));
        let applied = Entry {
            state: KeyState::Applied,
            ..e
        };
        let (e, became) = note(Some(applied), "expire", 30);
        assert!(became);
        assert_eq!(e.state, KeyState::Dirty);
        assert_eq!(e.last_event, "expire");
    }

    #[test]
    fn a_deleted_key_is_dirty_again_on_a_write_only() {
        let (e, _) = note(None, "set", 1);
        let deleted = Entry {
            state: KeyState::Deleted,
            ..e
        };
        let (same, became) = note(Some(deleted.clone()), "expired", 2);
        assert!(!became);
        assert_eq!(same.state, KeyState::Deleted);
        assert_eq!(same.events, 2);
        let (again, became) = note(Some(deleted), "lpush", 3);
        assert!(became);
        assert_eq!(again.state, KeyState::Dirty);
        // A deletion event of a key copied here must be applied (deleted here).
        let applied = Entry {
            state: KeyState::Applied,
            ..again
        };
        assert_eq!(note(Some(applied), "del", 4).0.state, KeyState::Dirty);
    }

    #[test]
    fn records_round_trip() {
        let e = Entry {
            first_seen: 1,
            last_seen: 2,
            events: 3,
            last_event: "rename_to".into(),
            state: KeyState::Error,
        };
        assert_eq!(Entry::decode(e.encode().as_bytes()), Some(e));
        assert_eq!(Entry::decode(b"x"), None);
    }
}
