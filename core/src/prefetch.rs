//! A hint to the CPU to bring a line of memory into its cache ahead of use (a leaf: the
//! keyspace's hot cache, the row writer's queue and the storage's element tables all fetch
//! lookups ahead).

/// Asks the CPU to bring the cache line at `at` into its cache, without waiting for it.
pub(crate) fn prefetch<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(at.cast(), std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Asks for every line of the `(K, V)` pair whose key is at `key`, without reading any. A
/// linked hash map keeps each entry so, in a node of its own, and hands the closure of a
/// probe (`raw_entry().from_hash`) the key it found: a probe whose closure asks for the
/// pair and answers "no match" waits only for the table, so the probes for many keys put
/// all their nodes on their way at once, and the lookups proper that follow find them.
pub(crate) fn prefetch_pair<K, V>(key: &K) {
    let base = (key as *const K)
        .cast::<u8>()
        .wrapping_sub(std::mem::offset_of!((K, V), 0));
    let size = std::mem::size_of::<(K, V)>();
    let mut at = 0;
    while at < size {
        prefetch(base.wrapping_add(at));
        at += 64;
    }
    prefetch(base.wrapping_add(size.saturating_sub(1)));
}
