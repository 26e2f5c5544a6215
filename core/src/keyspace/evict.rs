//! `maxmemory`: when the logical data size (`datasize.rs`) passes the limit, keys are evicted
//! before the next command runs, chosen by `maxmemory-policy` as Redis 7.0 chooses them.
//!
//! Candidates are sampled as Redis samples them: `maxmemory-samples` keys picked at random
//! from the store per database (those with a TTL for the `volatile-*` policies), plus the
//! least recently used live keys at the front of each database's cache. The LRU policies
//! evict the candidate idle longest, the LFU ones the one with the lowest decayed counter
//! (Redis's logarithmic counter, `lfu-log-factor`, `lfu-decay-time`), `volatile-ttl` the key
//! whose TTL ends first (read from the expiry index, so exact rather than sampled).
//!
//! Access metadata lives in the cache slots only (`accessed`, and the 3-byte [`Lfu`]), so it
//! stays bounded by the cache budget however large the data set. A key that is not cached
//! was not accessed since the cache's least recently used key was, so it is scored as the
//! coldest: idle longer than any cached key of its database, LFU counter 0. Loaded back, it
//! starts again as a new key does (counter 5, idle 0).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::cache::Lookup;
use super::{event, rand_u64, Keyspace};
use crate::events::class;
use crate::storage::{DbIndex, StoreError};

/// Redis's LFU_INIT_VAL: the counter a new key starts with, so it is not evicted at once.
const LFU_INIT_VAL: u8 = 5;

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Policy {
    /// Refuse commands that may add data (`-OOM`).
    #[default]
    NoEviction,
    /// Any key, least recently used first.
    AllKeysLru,
    /// Any key, least frequently used first.
    AllKeysLfu,
    /// Any key, at random.
    AllKeysRandom,
    /// Keys with a TTL, least recently used first.
    VolatileLru,
    /// Keys with a TTL, least frequently used first.
    VolatileLfu,
    /// Keys with a TTL, at random.
    VolatileRandom,
    /// Keys with a TTL, the one expiring first.
    VolatileTtl,
}

impl Policy {
    /// Parses Redis's name of the policy.
    pub fn from_name(name: &str) -> Option<Policy> {
        Some(match name {
            "noeviction" => Policy::NoEviction,
            "allkeys-lru" => Policy::AllKeysLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => return None,
        })
    }

    /// Whether the policy counts access frequency (OBJECT FREQ answers then).
    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }
}

/// The LFU settings (`lfu-log-factor`, `lfu-decay-time`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LfuParams {
    /// How many hits it takes to raise the counter (logarithmically).
    pub log_factor: u32,
    /// Minutes after which the counter decreases by one; 0: never.
    pub decay_time: u32,
}

/// `maxmemory` and the settings of its policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Eviction {
    /// The limit on the logical data size, bytes; 0: none.
    pub maxmemory: u64,
    /// Which keys go.
    pub policy: Policy,
    /// Keys sampled per database per eviction.
    pub samples: usize,
    /// `maxmemory-eviction-tenacity`: how long one command may spend evicting.
    pub tenacity: u32,
    /// The LFU counter's settings.
    pub lfu: LfuParams,
}

impl Default for Eviction {
    fn default() -> Self {
        Eviction {
            maxmemory: 0,
            policy: Policy::NoEviction,
            samples: 5,
            tenacity: 10,
            lfu: LfuParams {
                log_factor: 10,
                decay_time: 1,
            },
        }
    }
}

impl Eviction {
    pub(super) fn lfu(&self) -> Option<LfuParams> {
        self.policy.is_lfu().then_some(self.lfu)
    }

    /// Redis's evictionTimeLimitUs: 50us per step up to 10, then 15% more per step; 100 has
    /// no limit.
    fn time_limit(&self) -> Duration {
        let us = match self.tenacity {
            t if t <= 10 => 50 * u64::from(t),
            t if t < 100 => (500.0 * 1.15f64.powi(t as i32 - 10)) as u64,
            _ => return Duration::from_secs(3600),
        };
        Duration::from_micros(us.max(1))
    }
}

/// Redis's 24-bit LFU field: a logarithmic access counter and the minute (mod 2^16) it last
/// changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Lfu {
    counter: u8,
    minute: u16,
}

fn minutes(now_ms: i64) -> u16 {
    ((now_ms / 60_000) & 0xffff) as u16
}

impl Lfu {
    pub(super) fn new(now: i64) -> Lfu {
        Lfu {
            counter: LFU_INIT_VAL,
            minute: minutes(now),
        }
    }

    pub(super) fn with_counter(counter: u8, now: i64) -> Lfu {
        Lfu {
            counter,
            minute: minutes(now),
        }
    }

    /// The counter after its decay (Redis's LFUDecrAndReturn): one less per `decay_time`
    /// minutes since it last changed.
    pub(super) fn decayed(&self, now: i64, params: &LfuParams) -> u8 {
        if params.decay_time == 0 {
            return self.counter;
        }
        let elapsed = minutes(now).wrapping_sub(self.minute) as u32;
        let periods = elapsed / params.decay_time;
        self.counter.saturating_sub(periods.min(255) as u8)
    }

    /// An access (Redis's updateLFU): decay, then a logarithmic increment.
    pub(super) fn touch(&mut self, now: i64, params: &LfuParams) {
        let mut counter = self.decayed(now, params);
        if counter < 255 {
            let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
            let p = 1.0 / (base * f64::from(params.log_factor) + 1.0);
            let r = (rand_u64() >> 11) as f64 / (1u64 << 53) as f64;
            if r < p {
                counter += 1;
            }
        }
        self.counter = counter;
        self.minute = minutes(now);
    }
}

/// What [`Keyspace::perform_evictions`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evicted {
    /// Under the limit (or no limit, or eviction paused).
    Ok,
    /// Still over, but keys are being freed: the time budget ran out (the cron carries on).
    Running,
    /// Over the limit and nothing can be evicted (noeviction, or no key fits the policy).
    Fail,
}

/// Candidates kept between picks (Redis's EVPOOL_SIZE).
const POOL_SIZE: usize = 16;

/// A key that may be evicted, and how good a victim it is (higher: evicted first).
pub(super) struct Candidate {
    db: DbIndex,
    key: Bytes,
    score: u64,
}

impl Keyspace {
    /// Applies `maxmemory` and its policy's settings; effective from the next command.
    pub fn set_eviction(&mut self, eviction: Eviction) {
        self.eviction = eviction;
        self.evict_pool.clear();
    }

    /// `maxmemory` and its policy.
    pub fn eviction(&self) -> &Eviction {
        &self.eviction
    }

    /// Whether the logical data size is over `maxmemory`.
    pub fn over_maxmemory(&self) -> bool {
        self.eviction.maxmemory > 0 && self.used_data_bytes() > self.eviction.maxmemory
    }

    /// A key's LFU counter (OBJECT FREQ), if the key exists; without touching it.
    pub fn freq(&mut self, db: DbIndex, key: &[u8], now: i64) -> Result<Option<u8>, StoreError> {
        let params = self.eviction.lfu;
        let found = self.parts().slot(db, key, now, Lookup::LoadNoTouch)?;
        Ok(found
            .slot
            .entry
            .is_some()
            .then(|| found.slot.freq.decayed(now, &params)))
    }

    /// Evicts keys until the data size is under `maxmemory` (Redis's performEvictions), for
    /// at most the time `maxmemory-eviction-tenacity` allows. Evicted keys report `evicted`
    /// events and invalidate client-side caches. Eviction waits while CLIENT PAUSE holds
    /// expiry back.
    pub fn perform_evictions(&mut self, now: i64) -> Result<Evicted, StoreError> {
        if !self.over_maxmemory() || self.expiry_paused {
            return Ok(Evicted::Ok);
        }
        if self.eviction.policy == Policy::NoEviction {
            return Ok(Evicted::Fail);
        }
        let started = Instant::now();
        let limit = self.eviction.time_limit();
        let (mut tries, mut misses) = (0u64, 0u32);
        let result = loop {
            if !self.over_maxmemory() {
                break Evicted::Ok;
            }
            let Some(victim) = self.pick_victim(now)? else {
                break Evicted::Fail;
            };
            if self.evict_key(victim.db, &victim.key, now)? {
                misses = 0;
            } else {
                // The store listed a key that is gone by now; give up past a few in a row
                // rather than spin.
                misses += 1;
                if misses > 32 {
                    break Evicted::Fail;
                }
            }
            tries += 1;
            // The clock is read every 16 keys, as Redis does.
            if tries % 16 == 0 && started.elapsed() > limit {
                break if self.over_maxmemory() {
                    Evicted::Running
                } else {
                    Evicted::Ok
                };
            }
        };
        self.stats.eviction_us += started.elapsed().as_micros() as u64;
        Ok(result)
    }

    /// Removes one key as eviction does; false if it was gone (or expired on the way).
    fn evict_key(&mut self, db: DbIndex, key: &[u8], now: i64) -> Result<bool, StoreError> {
        let volatile = self.eviction.policy.volatile();
        let mut found = self.parts().slot(db, key, now, Lookup::LoadNoTouch)?;
        match &found.slot.entry {
            None => return Ok(false),
            // Picked with a TTL that PERSIST or a SET has removed since.
            Some(e) if volatile && e.expire_at.is_none() => return Ok(false),
            Some(_) => {}
        }
        *found.cache_bytes -= found.size();
        *found.data -= found.data_size();
        found.discard()?;
        // Nobody's change: client-side caching's NOLOOP clients hear of it too.
        found.mark_dirty_as(true);
        found.bump_version();
        let e = event(db, class::EVICTED, "evicted", found.key);
        found.events.push(e);
        self.stats.evicted += 1;
        Ok(true)
    }

    /// The best victim by the policy. As Redis does, the best candidates seen so far stay in
    /// a pool of [`POOL_SIZE`] (rescored at each pick, so a key read meanwhile loses its
    /// place), and each pick adds a fresh sample: the least recently used live keys of the
    /// cache (cheap) and one key drawn at random from the store per database (an index
    /// probe), so the store's colder keys enter the pool over the picks.
    fn pick_victim(&mut self, now: i64) -> Result<Option<Candidate>, StoreError> {
        if self.write_behind.is_none() {
            // The store then lists the batch's new keys too.
            self.flush_pending()?;
        }
        let policy = self.eviction.policy;
        if policy == Policy::VolatileTtl {
            // The expiry index gives the keys in TTL order: the pool holds the next ones.
            if self.evict_pool.is_empty() {
                let mut next = self.soonest_expiring(POOL_SIZE)?;
                next.reverse();
                self.evict_pool = next;
            }
            return Ok(self.evict_pool.pop());
        }
        let random = matches!(policy, Policy::AllKeysRandom | Policy::VolatileRandom);
        let samples = self.eviction.samples.max(1);
        let mut candidates = std::mem::take(&mut self.evict_pool);
        for c in &mut candidates {
            c.score = self.score(c.db, &c.key, now);
        }
        for db in 0..self.dbs.len() as DbIndex {
            let pdb = self.phys[db as usize];
            if self.data.bytes[pdb as usize] <= 0 {
                continue;
            }
            if !random {
                self.sample_cache_front(db, samples, now, &mut candidates);
            }
            // Keys without a TTL are skipped by the volatile policies: a few more draws.
            let draws = if policy.volatile() { samples } else { 1 };
            for _ in 0..draws {
                let Some(k) = self.store.random_key(pdb, rand_u64())? else {
                    break;
                };
                if policy.volatile() && k.expire_at.is_none() {
                    continue;
                }
                let score = self.score(db, &k.key, now);
                candidates.push(Candidate {
                    db,
                    key: k.key,
                    score,
                });
                break;
            }
        }
        if candidates.is_empty() && policy.volatile() {
            // Few keys have a TTL: the expiry index lists some directly.
            candidates = self.soonest_expiring(samples * 4)?;
            for c in &mut candidates {
                c.score = self.score(c.db, &c.key, now);
            }
        }
        if random {
            if candidates.is_empty() {
                return Ok(None);
            }
            let i = (rand_u64() % candidates.len() as u64) as usize;
            return Ok(Some(candidates.swap_remove(i)));
        }
        candidates.sort_by(|a, b| a.score.cmp(&b.score).then_with(|| a.key.cmp(&b.key)));
        candidates.dedup_by(|a, b| a.db == b.db && a.key == b.key);
        let best = candidates.pop();
        let keep = candidates.len().saturating_sub(POOL_SIZE - 1);
        candidates.drain(..keep);
        self.evict_pool = candidates;
        Ok(best)
    }

    /// The live keys at the front (least recently used end) of a database's cache.
    fn sample_cache_front(
        &mut self,
        db: DbIndex,
        samples: usize,
        now: i64,
        out: &mut Vec<Candidate>,
    ) {
        let volatile = self.eviction.policy.volatile();
        let lfu = self.eviction.lfu();
        // Keys read since the hand last passed them leave the front first.
        self.dbs[db as usize].pass_referenced(samples * 8);
        let live = self.dbs[db as usize]
            .map
            .iter()
            .take(samples * 8)
            .filter(|(_, s)| {
                s.entry
                    .as_ref()
                    .is_some_and(|e| !volatile || e.expire_at.is_some())
            })
            .take(samples);
        for (key, slot) in live {
            let score = match &lfu {
                Some(p) => 255 - u64::from(slot.freq.decayed(now, p)),
                None => (now - slot.accessed).max(0) as u64,
            };
            out.push(Candidate {
                db,
                key: key.to_bytes(),
                score,
            });
        }
    }

    /// How good a victim a key is: its idle time (LRU) or 255 less its counter (LFU); a key
    /// not in the cache is colder than every cached one.
    fn score(&self, db: DbIndex, key: &[u8], now: i64) -> u64 {
        let cache = &self.dbs[db as usize].map;
        let lfu = self.eviction.lfu();
        match cache.get(key) {
            Some(slot) => match &lfu {
                Some(p) => 255 - u64::from(slot.freq.decayed(now, p)),
                None => (now - slot.accessed).max(0) as u64,
            },
            None => match lfu {
                Some(_) => 255,
                None => {
                    let oldest = cache.front().map_or(0, |(_, s)| s.accessed);
                    (now - oldest).max(0) as u64 + 1
                }
            },
        }
    }

    /// Up to `n` keys with a TTL, the soonest to expire first (any database).
    fn soonest_expiring(&mut self, n: usize) -> Result<Vec<Candidate>, StoreError> {
        let keys = self.store.expired_keys(i64::MAX, n)?;
        Ok(keys
            .into_iter()
            .filter_map(|(pdb, key)| {
                let db = self.phys.iter().position(|&p| p == pdb)? as DbIndex;
                Some(Candidate { db, key, score: 0 })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: LfuParams = LfuParams {
        log_factor: 10,
        decay_time: 1,
    };

    #[test]
    fn the_lfu_counter_grows_logarithmically_and_decays_by_the_minute() {
        let now = 1_000_000_000;
        let mut lfu = Lfu::new(now);
        assert_eq!(lfu.decayed(now, &PARAMS), LFU_INIT_VAL);
        lfu.touch(now, &PARAMS);
        assert_eq!(
            lfu.counter,
            LFU_INIT_VAL + 1,
            "certain at the initial value"
        );
        for _ in 0..100_000 {
            lfu.touch(now, &PARAMS);
        }
        // Redis's table for lfu-log-factor 10: about 18 after 100 hits, 142 after 100k.
        assert!((60..=255).contains(&lfu.counter), "{}", lfu.counter);
        let later = now + 3 * 60_000;
        assert_eq!(lfu.decayed(later, &PARAMS), lfu.counter - 3);
        let never = LfuParams {
            decay_time: 0,
            ..PARAMS
        };
        assert_eq!(lfu.decayed(later + 600 * 60_000, &never), lfu.counter);
        assert_eq!(Lfu::with_counter(2, now).decayed(later, &PARAMS), 0);
    }

    #[test]
    fn tenacity_sets_redis_time_limits() {
        let limit = |tenacity| {
            Eviction {
                tenacity,
                ..Eviction::default()
            }
            .time_limit()
        };
        assert_eq!(limit(10), Duration::from_micros(500));
        assert_eq!(limit(1), Duration::from_micros(50));
        assert_eq!(limit(20), Duration::from_micros(2022));
        assert!(limit(100) >= Duration::from_secs(60));
    }

    #[test]
    fn policies_by_redis_names() {
        assert_eq!(Policy::from_name("volatile-ttl"), Some(Policy::VolatileTtl));
        assert!(Policy::from_name("allkeys-lfu").is_some_and(Policy::is_lfu));
        assert!(!Policy::VolatileLru.is_lfu() && Policy::VolatileLru.volatile());
        assert_eq!(Policy::from_name("sometimes"), None);
    }
}
