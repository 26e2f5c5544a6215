//! Preflight (SPEC_F F.9 step 0): what the source holds and whether it can be migrated and
//! tracked: key count, a type sample, unsupported types, notify-keyspace-events, CONFIG.

use std::collections::BTreeMap;

use crate::options::{Channels, Options};
use crate::source::{self, Source};

/// Keys whose type preflight samples.
const SAMPLE: usize = 500;

/// Event classes tracking needs (besides the channel letter): generic, string, list, set,
/// hash, sorted set, expired, stream (`A` covers them).
const NEEDED: &str = "g$lshzxt";

/// What preflight found.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// DBSIZE of the source database.
    pub keys: u64,
    /// Types in the sample, with counts.
    pub types: BTreeMap<String, u64>,
    /// Sampled types Respite does not have.
    pub unsupported: Vec<String>,
    /// notify-keyspace-events, or `None` when CONFIG could not be used.
    pub notify: Option<String>,
    /// Why CONFIG failed, if it did.
    pub config_error: Option<String>,
    /// The flags tracking lacks (empty: enough).
    pub notify_missing: String,
    /// Suggested MAX-CONCURRENCY.
    pub concurrency: u32,
    /// Suggested SCAN-COUNT.
    pub scan_count: u32,
}

/// Letters of `have` missing for `channels` tracking.
pub fn missing_flags(have: &str, channels: Channels) -> String {
    let mut missing = String::new();
    if !have.contains(channels.letter()) {
        missing.push(channels.letter());
    }
    if !have.contains('A') {
        for c in NEEDED.chars() {
            if !have.contains(c) {
                missing.push(c);
            }
        }
    }
    missing
}

/// The flags to set: `have` plus what is missing.
pub fn with_flags(have: &str, channels: Channels) -> String {
    format!("{have}{}", missing_flags(have, channels))
}

/// Looks at the source.
pub async fn run(src: &Source, o: &Options) -> Result<Report, String> {
    let mut r = Report::default();
    let db = src.query(&redis::cmd("DBSIZE")).await?;
    r.keys = source::int(&db).unwrap_or(0) as u64;
    let mut cursor = 0;
    let mut sampled = Vec::new();
    while sampled.len() < SAMPLE {
        let (next, keys) = src.scan(cursor, 100).await?;
        sampled.extend(keys);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    sampled.truncate(SAMPLE);
    if !sampled.is_empty() {
        let mut pipe = redis::pipe();
        for k in &sampled {
            pipe.cmd("TYPE").arg(k);
        }
        let mut c = src.conn.clone();
        let types: Vec<String> = pipe
            .query_async(&mut c)
            .await
            .map_err(|e| source::describe(&src.url, &e))?;
        for t in types {
            if t == "none" {
                continue;
            }
            if !["string", "list", "set", "zset", "hash", "stream"].contains(&t.as_str())
                && !r.unsupported.contains(&t)
            {
                r.unsupported.push(t.clone());
            }
            *r.types.entry(t).or_default() += 1;
        }
    }
    match src
        .query(
            redis::cmd(&o.config_command)
                .arg("GET")
                .arg("notify-keyspace-events"),
        )
        .await
    {
        Ok(v) => {
            let pairs = source::pairs(&v);
            match pairs.first().and_then(|(_, v)| source::text(v)) {
                Some(flags) => {
                    r.notify_missing = missing_flags(&flags, o.channels);
                    r.notify = Some(flags);
                }
                None => r.config_error = Some("CONFIG GET returned nothing".into()),
            }
        }
        Err(e) => {
            r.config_error = Some(format!(
                "{e} (a renamed CONFIG can be named with CONFIG-COMMAND / --config-command)"
            ))
        }
    }
    r.concurrency = if r.keys > 1_000_000 { 8 } else { 4 };
    r.scan_count = 1000;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_flags() {
        assert_eq!(missing_flags("", Channels::KeyEvent), "Eg$lshzxt");
        assert_eq!(missing_flags("AE", Channels::KeyEvent), "");
        assert_eq!(missing_flags("AK", Channels::KeyEvent), "E");
        assert_eq!(missing_flags("Eg$", Channels::KeyEvent), "lshzxt");
        assert_eq!(with_flags("K", Channels::KeySpace), "Kg$lshzxt");
    }
}
