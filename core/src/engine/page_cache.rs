//! SQLite's page cache, sized between batches: with `storage.page_cache_bytes = 0` it gets its
//! quarter of `cache_max_bytes` and, on loan, what the hot cache leaves unused of the rest.
//! A keyspace of a few large collections keeps little in the hot cache (their headers), while
//! their indexes want every page they can get: adds to a sorted set of a million members ran
//! at half the speed of adds to a small one with the page cache at its quarter.

use super::Engine;

impl Engine {
    /// The page cache's size for the hot cache's present use, or `None` where the operator
    /// fixed it (`page_cache_bytes` > 0).
    fn page_cache_target(&self) -> Option<u64> {
        let storage = &self.config.storage;
        if storage.page_cache_bytes.0 != 0 {
            return None;
        }
        let hot_max = storage.hot_cache_budget();
        let hot_used = self.keyspace.cache_bytes() as u64;
        // Room the hot cache may grow into before the next look (a tenth of a second), so
        // that the two together stay within the budget meanwhile.
        let headroom = hot_max / 8;
        Some(storage.page_cache_budget() + hot_max.saturating_sub(hot_used + headroom))
    }

    /// Resizes the page cache to [`Self::page_cache_target`] by steps of at least 1/32 of
    /// the budget, or to end the loan: a resize waits for the connection, which the row
    /// writer may hold for a chunk, so a hot cache growing a little at a time must not cost
    /// one every tenth of a second. The headroom (an eighth of the hot cache's share, three
    /// steps) covers the growth between two resizes.
    pub(crate) fn balance_page_cache(&mut self) {
        let Some(target) = self.page_cache_target() else {
            return;
        };
        let step = self.config.storage.cache_max_bytes.0 / 32;
        let now = self.page_cache_bytes;
        let floor = self.config.storage.page_cache_budget();
        if target == now || (target.abs_diff(now) < step && target != floor) {
            return;
        }
        match self.keyspace.store_mut().set_page_cache_bytes(target) {
            Ok(()) => self.page_cache_bytes = target,
            Err(e) => tracing::warn!(error = %e, "cannot resize the page cache"),
        }
    }
}
