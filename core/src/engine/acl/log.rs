//! `ACL LOG`: recent denials (commands, keys, channels, failed AUTH), newest first; a denial
//! like one logged less than a minute ago counts on that entry, as in Redis.

use std::collections::VecDeque;

/// Entries of the same denial closer than this merge (Redis's ACL_LOG_GROUPING_MAX_TIME_DELTA).
const GROUPING_MS: i64 = 60_000;

/// One entry.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Denials merged into this entry.
    pub count: u64,
    /// `command`, `key`, `channel` or `auth`.
    pub reason: &'static str,
    /// `toplevel`, `multi`, `lua` or `module`.
    pub context: &'static str,
    /// The command, key, channel, or `AUTH`.
    pub object: String,
    /// The user.
    pub username: String,
    /// Unix milliseconds of the latest denial.
    pub updated_ms: i64,
    /// CLIENT INFO's line for the client, at the latest denial.
    pub client_info: String,
}

/// The log.
#[derive(Debug, Default)]
pub struct AclLog {
    entries: VecDeque<Entry>,
    /// Denials ever recorded (INFO's `acl_access_denied_*` counters).
    pub denied_auth: u64,
    /// Command denials.
    pub denied_cmd: u64,
    /// Key denials.
    pub denied_key: u64,
    /// Channel denials.
    pub denied_channel: u64,
}

impl AclLog {
    /// Records a denial, keeping at most `max_len` entries.
    pub fn record(&mut self, entry: Entry, max_len: usize) {
        match entry.reason {
            "auth" => self.denied_auth += 1,
            "command" => self.denied_cmd += 1,
            "key" => self.denied_key += 1,
            _ => self.denied_channel += 1,
        }
        let same = self.entries.iter().position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.object == entry.object
                && e.username == entry.username
                && entry.updated_ms - e.updated_ms < GROUPING_MS
        });
        // A repeated denial moves its entry to the head, as the newest.
        let entry = match same.and_then(|i| self.entries.remove(i)) {
            Some(mut same) => {
                same.count += 1;
                same.updated_ms = entry.updated_ms;
                same.client_info = entry.client_info;
                same
            }
            None => entry,
        };
        self.entries.push_front(entry);
        self.entries.truncate(max_len);
    }

    /// The newest `count` entries.
    pub fn newest(&self, count: usize) -> impl Iterator<Item = &Entry> {
        self.entries.iter().take(count)
    }

    /// Empties the log (`ACL LOG RESET`).
    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// Drops entries past a lowered `acllog-max-len`.
    pub fn trim(&mut self, max_len: usize) {
        self.entries.truncate(max_len);
    }
}
