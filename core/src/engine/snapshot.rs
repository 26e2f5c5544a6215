//! SAVE / BGSAVE state: the background snapshot in progress, one scheduled after it, and what
//! `LASTSAVE` and `INFO persistence` report about the last one.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Instant;

use super::Engine;
use crate::storage::write_snapshot;

/// A background snapshot being written.
struct Running {
    started: Instant,
    /// The keyspace's write count when it started: `rdb_changes_since_last_save` counts from
    /// there once it succeeds.
    changes: u64,
    thread: JoinHandle<Result<u64, String>>,
}

/// Snapshots of the data file, as SAVE and BGSAVE take them.
pub(crate) struct Snapshots {
    running: Option<Running>,
    /// BGSAVE SCHEDULE while one ran: start another when it ends.
    pub(crate) scheduled: bool,
    /// Unix seconds of the last successful snapshot (the start time before the first).
    pub(crate) last_save_unix: i64,
    /// Whether the last background snapshot succeeded.
    pub(crate) last_bgsave_ok: bool,
    /// Seconds the last background snapshot took (-1 before the first).
    pub(crate) last_bgsave_secs: i64,
    /// Successful snapshots since start.
    pub(crate) saves: u64,
    /// Write count at the last successful snapshot.
    pub(crate) changes_at_save: u64,
    /// Unix seconds of the last automatic save attempt.
    pub(crate) last_try_unix: i64,
}

impl Default for Snapshots {
    fn default() -> Self {
        Snapshots {
            running: None,
            scheduled: false,
            last_save_unix: unix_now(),
            last_bgsave_ok: true,
            last_bgsave_secs: -1,
            saves: 0,
            changes_at_save: 0,
            last_try_unix: 0,
        }
    }
}

/// Seconds after a failed automatic save before the next attempt (Redis's
/// CONFIG_BGSAVE_RETRY_DELAY).
const SAVE_RETRY_DELAY_SECS: i64 = 5;

/// `save`'s value as (seconds, changes) pairs; CONFIG SET validated it already.
fn parse_save_points(text: &str) -> Vec<(i64, u64)> {
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    words
        .chunks_exact(2)
        .filter_map(|pair| Some((pair[0].parse().ok()?, pair[1].parse().ok()?)))
        .collect()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Snapshots {
    /// Whether a background snapshot is being written.
    pub(crate) fn in_progress(&self) -> bool {
        self.running.is_some()
    }

    /// Seconds the running background snapshot has taken so far (-1 when none runs).
    pub(crate) fn current_secs(&self) -> i64 {
        self.running
            .as_ref()
            .map_or(-1, |r| r.started.elapsed().as_secs() as i64)
    }

    /// Writes a snapshot now, on the calling thread (SAVE).
    pub(crate) fn save(
        &mut self,
        source: &str,
        target: PathBuf,
        changes: u64,
    ) -> Result<u64, String> {
        let size = write_snapshot(source, &target).map_err(|e| e.to_string())?;
        self.succeeded(changes);
        Ok(size)
    }

    /// Starts writing a snapshot on a thread of its own (BGSAVE).
    pub(crate) fn start(&mut self, source: String, target: PathBuf, changes: u64) {
        let thread = std::thread::Builder::new()
            .name("respite-bgsave".into())
            .spawn(move || write_snapshot(&source, &target).map_err(|e| e.to_string()));
        match thread {
            Ok(thread) => {
                self.running = Some(Running {
                    started: Instant::now(),
                    changes,
                    thread,
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start the background save thread");
                self.last_bgsave_ok = false;
            }
        }
    }

    /// Collects a finished background snapshot; returns whether one was scheduled to follow.
    pub(crate) fn poll(&mut self) -> bool {
        let finished = self
            .running
            .as_ref()
            .is_some_and(|r| r.thread.is_finished());
        if !finished {
            return false;
        }
        let run = self.running.take().expect("checked above");
        self.last_bgsave_secs = run.started.elapsed().as_secs() as i64;
        match run.thread.join() {
            Ok(Ok(size)) => {
                tracing::info!(bytes = size, "background saving terminated with success");
                self.last_bgsave_ok = true;
                self.succeeded(run.changes);
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "background saving failed");
                self.last_bgsave_ok = false;
            }
            Err(_) => {
                tracing::error!("background saving panicked");
                self.last_bgsave_ok = false;
            }
        }
        std::mem::take(&mut self.scheduled)
    }

    fn succeeded(&mut self, changes: u64) {
        self.last_save_unix = unix_now();
        self.saves += 1;
        self.changes_at_save = changes;
    }
}

impl Engine {
    /// Where a snapshot goes (`dir`/`dbfilename`) and what it copies (the data file), after
    /// making every write so far part of the file's committed state.
    fn prepare_snapshot(&mut self) -> Result<(String, PathBuf, u64), String> {
        let source = self.config.storage.path.clone();
        if source == ":memory:" {
            return Err("ERR snapshots need a data file, and storage.path is :memory:".into());
        }
        let dir = self.config.redis_param("dir").unwrap_or_default();
        let file = self
            .config
            .redis_param("dbfilename")
            .unwrap_or_else(|| "dump.rdb".into());
        let target = PathBuf::from(dir).join(file);
        let same = match (
            std::fs::canonicalize(&source),
            target.parent().map(std::fs::canonicalize),
        ) {
            (Ok(src), Some(Ok(parent))) => target
                .file_name()
                .is_some_and(|name| parent.join(name) == src),
            _ => false,
        };
        if same {
            return Err(
                "ERR dir/dbfilename name the data file itself; choose another dbfilename".into(),
            );
        }
        // The batch so far into the journal, the journal into the file: the snapshot then
        // holds every write acknowledged, or about to be, before this command.
        self.flush_keyspace().map_err(|e| format!("ERR {e}"))?;
        self.keyspace
            .store_mut()
            .merge(true)
            .map_err(|e| format!("ERR {e}"))?;
        Ok((source, target, self.keyspace.write_count()))
    }

    /// SAVE: writes a snapshot before replying.
    pub(crate) fn save_snapshot(&mut self) -> Result<(), String> {
        if self.snapshots.in_progress() {
            return Err("ERR Background save already in progress".into());
        }
        let (source, target, changes) = self.prepare_snapshot()?;
        self.snapshots
            .save(&source, target, changes)
            .map(drop)
            .map_err(|e| format!("ERR {e}"))
    }

    /// BGSAVE: starts a snapshot in the background.
    pub(crate) fn start_bgsave(&mut self) -> Result<(), String> {
        let (source, target, changes) = self.prepare_snapshot()?;
        self.snapshots.start(source, target, changes);
        Ok(())
    }

    /// Redis's automatic save points (`save "3600 1 300 100"`): starts a background snapshot
    /// once some point's seconds have passed since the last save with at least its number of
    /// changes; after a failed one, waits 5 seconds before trying again, as Redis does.
    pub(crate) fn bgsave_at_save_points(&mut self) {
        if self.snapshots.in_progress() || self.config.storage.path == ":memory:" {
            return;
        }
        let Some(points) = self.config.redis_param("save") else {
            return;
        };
        let points = parse_save_points(&points);
        if points.is_empty() {
            return;
        }
        let changes = self.changes_since_save();
        let now = unix_now();
        let since = now - self.snapshots.last_save_unix;
        let retry_ok = self.snapshots.last_bgsave_ok
            || now - self.snapshots.last_try_unix >= SAVE_RETRY_DELAY_SECS;
        if retry_ok
            && points
                .iter()
                .any(|&(secs, min)| changes >= min && since >= secs)
        {
            self.snapshots.last_try_unix = now;
            tracing::info!(changes, seconds = since, "save point reached: saving");
            if let Err(e) = self.start_bgsave() {
                self.snapshots.last_bgsave_ok = false;
                tracing::error!(error = %e, "the automatic background save did not start");
            }
        }
    }

    /// Writes since the last successful snapshot (`rdb_changes_since_last_save`).
    pub(crate) fn changes_since_save(&self) -> u64 {
        self.keyspace
            .write_count()
            .saturating_sub(self.snapshots.changes_at_save)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_save_points;

    #[test]
    fn save_points_parse_as_pairs() {
        assert_eq!(
            parse_save_points("3600 1 300 100"),
            vec![(3600, 1), (300, 100)]
        );
        assert!(parse_save_points("").is_empty());
    }
}
