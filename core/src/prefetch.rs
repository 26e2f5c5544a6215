//! A hint to the CPU to bring a line of memory into its cache ahead of use (a leaf: the
//! keyspace's hot cache and the storage's element tables both fetch lookups ahead).

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
