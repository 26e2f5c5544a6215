//! Uniform random picks from a collection kept one element per row (HRANDFIELD, SRANDMEMBER,
//! SPOP, ZRANDMEMBER on large collections).
//!
//! Rows are ordered by a 62-bit hash of the element, so "the first element after a random
//! position" would favour the elements that follow large gaps (Redis's chi-square tests see
//! it at once). Instead the hash space is cut into buckets holding [`PER_BUCKET`] elements on
//! average; a draw takes a random bucket and, of its `k` elements, one uniformly with
//! probability `k / MAX_TAKEN`. Every element then has the same chance per draw,
//! `1 / (buckets * MAX_TAKEN)`, whatever the gaps; a draw succeeds with probability about
//! `PER_BUCKET / MAX_TAKEN`, so a pick costs about two reads, each of one row (SQLite steps
//! over the rows before it in the bucket's page without reading them out). With 8 and 32
//! it took four: SPOP on a 330,000-member set spent 17% more CPU.

use crate::storage::{CollectionId, Element, Store, StoreError};

/// Positions are below 2^62 (`storage::position`).
const SPACE: u64 = 1 << 62;
/// Elements per bucket on average.
const PER_BUCKET: u64 = 32;
/// A bucket with more elements than this is taken as if it had exactly this many, which is
/// the only bias left: with 32 on average, a bucket holds more than 64 with a probability
/// of 2 * 10^-7 (Poisson), so that a set of a million elements has such a bucket less than
/// once in a hundred, and its few extra elements are picked a little less often.
const MAX_TAKEN: u64 = 64;
/// Draws before giving up and taking the first element (each fails with probability about
/// 1/2, so 200 all fail with a probability below 10^-60).
const MAX_DRAWS: usize = 200;

/// xorshift64: a stream of draws from one seed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// An element of the collection `cid` of `len` elements, uniformly at random (`seed` chooses
/// it); `None` when it has none.
pub(crate) fn uniform_element(
    store: &mut dyn Store,
    cid: CollectionId,
    len: u64,
    seed: u64,
) -> Result<Option<Element>, StoreError> {
    if len > 0 {
        let buckets = (len / PER_BUCKET).max(1);
        let width = SPACE.div_ceil(buckets);
        let mut state = seed | 1;
        for _ in 0..MAX_DRAWS {
            let lo = (next(&mut state) % buckets) * width;
            let hi = lo.saturating_add(width).min(SPACE);
            // The r-th of the bucket's k elements when r < min(k, MAX_TAKEN): SQLite steps
            // over the others without reading them out.
            let r = next(&mut state) % MAX_TAKEN;
            if let Some(found) = store.element_at(cid, lo, hi, r)? {
                return Ok(Some(found));
            }
        }
    }
    // Every draw missed (or the length was stale): the first element, if any.
    let (mut first, _) = store.scan_elements(cid, 0, 1)?;
    Ok(first.pop())
}

/// Pearson's chi-square of `draws` picks counted per cell, over `cells` equally likely
/// cells (the tests of uniform picks).
#[cfg(test)]
pub(super) fn chi_square<'c>(counts: impl Iterator<Item = &'c u64>, draws: u64, cells: u64) -> f64 {
    let expected = draws as f64 / cells as f64;
    counts
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

/// A stream of seeds for the tests' picks (a 64-bit LCG).
#[cfg(test)]
pub(super) fn next_seed(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{SqliteStore, Synchronous};
    use bytes::Bytes;

    #[test]
    fn picks_are_uniform_whatever_the_gaps() {
        let mut store = SqliteStore::open(":memory:", Synchronous::Normal).expect("store");
        let cid = 7;
        let n = 200u64;
        for i in 0..n {
            let sub = Bytes::from(format!("member:{i}"));
            store
                .put_element(
                    cid,
                    &Element {
                        sub,
                        value: Bytes::new(),
                        expire_at: None,
                    },
                )
                .expect("put");
        }
        let mut counts = std::collections::HashMap::new();
        let draws = 40_000u64;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..draws {
            let e = uniform_element(&mut store, cid, n, next_seed(&mut seed))
                .expect("pick")
                .expect("an element");
            *counts.entry(e.sub).or_insert(0u64) += 1;
        }
        assert_eq!(counts.len() as u64, n, "every member was picked");
        // Pearson's chi-square over 200 cells (199 degrees of freedom): about 199 for a
        // uniform pick, far above 300 for the first-after-a-random-position pick.
        let chi = chi_square(counts.values(), draws, n);
        assert!(chi < 300.0, "chi-square {chi}");
    }
}
