//! The background scan that indexes the keys an index found at creation (or after FT.ALTER
//! or SWAPDB): a timer runs slices of SCAN on the executor, between commands, so clients are
//! never held up for long; writes meanwhile are indexed by the key events as usual. The
//! cursor is saved with each slice, so a restart resumes where the scan stopped.

use std::time::{Duration, Instant};

use bytes::Bytes;
use respite_core::plugin::api::{Engine, Reply, SqlValue};

use crate::index::{self, Scan};
use crate::State;

/// Keys asked of each SCAN call.
const SCAN_COUNT: &[u8] = b"256";

/// One slice of scanning: runs until the slice's time is spent or no index scans.
pub fn tick(engine: &mut Engine) {
    let slice = engine
        .state::<State>()
        .map(|s| s.config.indexing_slice_ms.max(1))
        .unwrap_or(10);
    run(engine, Some(Duration::from_millis(slice)));
}

/// Scans until done, or for `budget`.
pub fn run(engine: &mut Engine, budget: Option<Duration>) {
    let started = Instant::now();
    loop {
        let next = engine.state::<State>().and_then(|s| {
            s.indexes
                .values()
                .find_map(|i| i.scan.map(|scan| (i.name.clone(), i.id, scan)))
        });
        let Some((name, id, scan)) = next else {
            return;
        };
        step(engine, &name, id, scan);
        if budget.is_some_and(|b| started.elapsed() >= b) {
            return;
        }
    }
}

/// One SCAN call's worth of keys for index `id`.
fn step(engine: &mut Engine, name: &str, id: i64, scan: Scan) {
    let reply = engine.call(
        0,
        &[
            Bytes::from_static(b"SCAN"),
            Bytes::from(scan.cursor.to_string()),
            Bytes::from_static(b"COUNT"),
            Bytes::from_static(SCAN_COUNT),
        ],
    );
    let (cursor, keys) = match reply {
        Reply::Array(mut parts) if parts.len() == 2 => {
            let keys = match parts.pop() {
                Some(Reply::Array(keys)) => keys,
                _ => Vec::new(),
            };
            let cursor = match parts.pop() {
                Some(Reply::Bulk(c)) => std::str::from_utf8(&c)
                    .ok()
                    .and_then(|c| c.parse::<u64>().ok()),
                _ => None,
            };
            (cursor, keys)
        }
        _ => (None, Vec::new()),
    };
    let Some(cursor) = cursor else {
        tracing::error!(index = %name, "search: the scan of existing keys failed; it stops");
        finish(engine, name, id, None);
        return;
    };
    let mut scanned = scan.scanned;
    for key in keys {
        if let Reply::Bulk(key) = key {
            scanned += 1;
            index::sync_key(engine, &key, Some(id));
        }
    }
    let next = (cursor != 0).then_some(Scan {
        cursor,
        scanned,
        total: scan.total.max(scanned),
    });
    finish(engine, name, id, next);
}

fn finish(engine: &mut Engine, name: &str, id: i64, next: Option<Scan>) {
    let result = engine.sql_execute(
        "UPDATE search_indexes SET scan_cursor = ?, scanned = ? WHERE id = ?",
        &[
            next.map_or(SqlValue::Null, |s| SqlValue::Integer(s.cursor as i64)),
            SqlValue::Integer(next.map_or(0, |s| s.scanned as i64)),
            SqlValue::Integer(id),
        ],
    );
    if let Err(e) = result {
        tracing::error!(index = %name, error = %e, "search: saving the scan's progress failed");
    }
    if let Some(index) = engine
        .state_mut::<State>()
        .and_then(|s| s.indexes.get_mut(name))
    {
        index.scan = next;
    }
}
