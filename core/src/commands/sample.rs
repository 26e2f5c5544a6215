//! Random picks from a collection, shared by HRANDFIELD, SRANDMEMBER, SPOP and ZRANDMEMBER.
//!
//! A large collection (element rows) answers single random picks with uniform probes
//! (`keyspace::pick`); reading all of it is cheaper once a good share is wanted, and is the
//! only way for an inline one.

use std::collections::HashSet;
use std::hash::Hash;

use crate::keyspace::rand_u64;
use crate::storage::{Store, StoreError};

/// Picks are made by random probes below this share of a large collection's size; above it,
/// reading everything at once is cheaper and gives uniform picks.
const READ_ALL_FACTOR: u64 = 3;

/// What a collection offers for random picks.
pub trait Sampled {
    /// What a pick returns.
    type Item: Clone;
    /// Number of elements.
    fn count(&self) -> u64;
    /// Whether the elements live in rows (probing is only worth it then).
    fn in_rows(&self) -> bool;
    /// One element at random, picked with `seed`.
    fn probe(&self, store: &mut dyn Store, seed: u64) -> Result<Option<Self::Item>, StoreError>;
    /// Every element.
    fn everything(&self, store: &mut dyn Store) -> Result<Vec<Self::Item>, StoreError>;
}

fn probing_pays(c: &impl Sampled, n: u64) -> bool {
    c.in_rows() && n.saturating_mul(READ_ALL_FACTOR) <= c.count()
}

/// `n` elements picked independently (they may repeat), as a negative count asks.
pub fn repeated<C: Sampled>(
    c: &C,
    store: &mut dyn Store,
    n: u64,
) -> Result<Vec<C::Item>, StoreError> {
    if !probing_pays(c, n) {
        let all = c.everything(store)?;
        if all.is_empty() {
            return Ok(Vec::new());
        }
        return Ok((0..n)
            .map(|_| all[(rand_u64() % all.len() as u64) as usize].clone())
            .collect());
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        if let Some(e) = c.probe(store, rand_u64())? {
            out.push(e);
        }
    }
    Ok(out)
}

/// `count` distinct elements (all of them when there are no more), as a positive count asks;
/// `key` tells elements apart.
pub fn distinct<C: Sampled, K: Eq + Hash>(
    c: &C,
    store: &mut dyn Store,
    count: u64,
    key: impl Fn(&C::Item) -> K,
) -> Result<Vec<C::Item>, StoreError> {
    if count >= c.count() {
        return c.everything(store);
    }
    if probing_pays(c, count) {
        // Probes are uniform picks with replacement: a bounded number of them may still not
        // find `count` distinct ones; the rest then come from a full read.
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(count as usize);
        let mut probes = count * 16 + 64;
        while (out.len() as u64) < count && probes > 0 {
            probes -= 1;
            if let Some(e) = c.probe(store, rand_u64())? {
                if seen.insert(key(&e)) {
                    out.push(e);
                }
            }
        }
        if out.len() as u64 == count {
            return Ok(out);
        }
    }
    // Partial Fisher-Yates over every element: the first `count` are a uniform sample.
    let mut all = c.everything(store)?;
    let count = (count as usize).min(all.len());
    for i in 0..count {
        let j = i + (rand_u64() % (all.len() - i) as u64) as usize;
        all.swap(i, j);
    }
    all.truncate(count);
    Ok(all)
}
