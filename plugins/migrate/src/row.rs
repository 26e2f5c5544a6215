//! The run row (SPEC_F's `migration_runs`): a run's options, status, cursor and counters,
//! kept as one hash in the state database and rewritten at every checkpoint, in the same
//! executor step as the keys it accounts for.

use std::collections::BTreeMap;

use crate::options::{Channels, Options, TtlMode};

/// Counters (SPEC_F F.10.1), persisted with the cursor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Keys SCAN returned.
    pub scanned_keys: u64,
    /// Keys written here by the bulk copy.
    pub migrated_keys: u64,
    /// Keys of types Respite does not have.
    pub skipped_keys: u64,
    /// Keys whose copy failed.
    pub error_keys: u64,
    /// Payload bytes written here.
    pub migrated_bytes: u64,
    /// Keys gone between SCAN and fetch (nothing to copy; deleted here).
    pub vanished_keys: u64,
    /// Keys that became dirty (inserted into the registry, or dirty again).
    pub dirty_keys_seen: u64,
    /// Dirty keys copied again.
    pub dirty_keys_applied: u64,
    /// Dirty keys found gone on the source and deleted here.
    pub dirty_keys_deleted: u64,
    /// Tracker disconnects and restarts: events may have been lost in each.
    pub tracker_gaps: u64,
    /// Safety sweeps done.
    pub sweeps: u64,
}

/// A run's row.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    /// Its name.
    pub run_id: String,
    /// The options it was started with.
    pub options: Options,
    /// The database keys are written to here.
    pub dest_db: u32,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms of the last checkpoint.
    pub updated_at: i64,
    /// running | paused | completed | failed | aborted.
    pub status: String,
    /// preflight | bulk | live | cutover | done.
    pub phase: String,
    /// SCAN's cursor: where a resumed bulk copy goes on.
    pub scan_cursor: u64,
    /// Counters.
    pub counters: Counters,
    /// Preflight's estimate (DBSIZE of the source).
    pub keys_estimate: u64,
    /// The source's notify-keyspace-events before the run changed it (empty: unchanged).
    pub notify_before: String,
    /// Types skipped, `type:count` comma-separated.
    pub skipped_types: String,
    /// Whether the source is frozen (CLIENT PAUSE WRITE) by this run.
    pub frozen: bool,
    /// The last error, for status.
    pub last_error: String,
}

impl RunRow {
    /// A new run's row.
    pub fn new(run_id: String, options: Options, dest_db: u32, now: i64) -> RunRow {
        RunRow {
            run_id,
            options,
            dest_db,
            started_at: now,
            updated_at: now,
            status: "running".into(),
            phase: "preflight".into(),
            scan_cursor: 0,
            counters: Counters::default(),
            keys_estimate: 0,
            notify_before: String::new(),
            skipped_types: String::new(),
            frozen: false,
            last_error: String::new(),
        }
    }

    /// Whether the run has ended (nothing resumes it).
    pub fn finished(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "aborted")
    }

    /// Adds one skipped key of type `ty` to [`Self::skipped_types`].
    pub fn add_skipped_type(&mut self, ty: &str) {
        let mut map: BTreeMap<String, u64> = self
            .skipped_types
            .split(',')
            .filter_map(|p| p.rsplit_once(':'))
            .filter_map(|(t, n)| Some((t.to_string(), n.parse().ok()?)))
            .collect();
        *map.entry(ty.to_string()).or_default() += 1;
        self.skipped_types = map
            .iter()
            .map(|(t, n)| format!("{t}:{n}"))
            .collect::<Vec<_>>()
            .join(",");
    }

    /// Field-value pairs of the hash.
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        let o = &self.options;
        let c = &self.counters;
        vec![
            ("run_id", self.run_id.clone()),
            ("source_uri", o.source.clone()),
            ("dest_db", self.dest_db.to_string()),
            ("started_at", self.started_at.to_string()),
            ("updated_at", self.updated_at.to_string()),
            ("status", self.status.clone()),
            ("phase", self.phase.clone()),
            ("scan_cursor", self.scan_cursor.to_string()),
            ("scan_count_hint", o.scan_count.to_string()),
            ("batch_keys", o.batch_keys.to_string()),
            ("batch_bytes", o.batch_bytes.to_string()),
            ("max_rps", o.max_rps.to_string()),
            ("max_concurrency", o.max_concurrency.to_string()),
            ("ttl_mode", o.ttl_mode.as_str().into()),
            ("channels", o.channels.as_str().into()),
            (
                "enable_notifications",
                (o.enable_notifications as u8).to_string(),
            ),
            ("config_command", o.config_command.clone()),
            ("track", (o.track as u8).to_string()),
            ("scanned_keys", c.scanned_keys.to_string()),
            ("migrated_keys", c.migrated_keys.to_string()),
            ("skipped_keys", c.skipped_keys.to_string()),
            ("error_keys", c.error_keys.to_string()),
            ("migrated_bytes", c.migrated_bytes.to_string()),
            ("vanished_keys", c.vanished_keys.to_string()),
            ("dirty_keys_seen", c.dirty_keys_seen.to_string()),
            ("dirty_keys_applied", c.dirty_keys_applied.to_string()),
            ("dirty_keys_deleted", c.dirty_keys_deleted.to_string()),
            ("tracker_gaps", c.tracker_gaps.to_string()),
            ("sweeps", c.sweeps.to_string()),
            ("keys_estimate", self.keys_estimate.to_string()),
            ("notify_before", self.notify_before.clone()),
            ("skipped_types", self.skipped_types.clone()),
            ("frozen", (self.frozen as u8).to_string()),
            ("last_error", self.last_error.clone()),
        ]
    }

    /// The row from the hash's fields; `None` when a required field is missing or damaged.
    pub fn from_fields(f: &BTreeMap<String, String>) -> Option<RunRow> {
        let s = |k: &str| f.get(k).cloned().unwrap_or_default();
        let n = |k: &str| f.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let i = |k: &str| f.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let d = Options::default();
        let options = Options {
            source: f.get("source_uri")?.clone(),
            run_id: Some(f.get("run_id")?.clone()),
            scan_count: f.get("scan_count_hint")?.parse().ok()?,
            batch_keys: f.get("batch_keys")?.parse().ok()?,
            batch_bytes: f.get("batch_bytes")?.parse().ok()?,
            max_rps: f.get("max_rps")?.parse().ok()?,
            max_concurrency: f.get("max_concurrency")?.parse().ok()?,
            ttl_mode: TtlMode::parse(&s("ttl_mode")).unwrap_or(d.ttl_mode),
            channels: Channels::parse(&s("channels")).unwrap_or(d.channels),
            enable_notifications: s("enable_notifications") == "1",
            config_command: f.get("config_command").cloned().unwrap_or(d.config_command),
            track: s("track") != "0",
        };
        Some(RunRow {
            run_id: f.get("run_id")?.clone(),
            options,
            dest_db: f.get("dest_db")?.parse().ok()?,
            started_at: i("started_at"),
            updated_at: i("updated_at"),
            status: f.get("status")?.clone(),
            phase: f.get("phase")?.clone(),
            scan_cursor: f.get("scan_cursor")?.parse().ok()?,
            counters: Counters {
                scanned_keys: n("scanned_keys"),
                migrated_keys: n("migrated_keys"),
                skipped_keys: n("skipped_keys"),
                error_keys: n("error_keys"),
                migrated_bytes: n("migrated_bytes"),
                vanished_keys: n("vanished_keys"),
                dirty_keys_seen: n("dirty_keys_seen"),
                dirty_keys_applied: n("dirty_keys_applied"),
                dirty_keys_deleted: n("dirty_keys_deleted"),
                tracker_gaps: n("tracker_gaps"),
                sweeps: n("sweeps"),
            },
            keys_estimate: n("keys_estimate"),
            notify_before: s("notify_before"),
            skipped_types: s("skipped_types"),
            frozen: s("frozen") == "1",
            last_error: s("last_error"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_round_trips() {
        let mut o = Options::parse(&["FROM", "redis://h:1", "TTL-MODE", "drop"]).unwrap();
        o.run_id = Some("r".into());
        let mut row = RunRow::new("r".into(), o, 3, 5);
        row.scan_cursor = 1234;
        row.counters.migrated_keys = 9;
        row.add_skipped_type("ReJSON-RL");
        row.add_skipped_type("ReJSON-RL");
        row.add_skipped_type("MBbloom--");
        assert_eq!(row.skipped_types, "MBbloom--:1,ReJSON-RL:2");
        let map: BTreeMap<String, String> = row
            .to_fields()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(RunRow::from_fields(&map), Some(row));
    }
}
