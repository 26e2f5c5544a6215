//! When collections move from inline values to element rows: the limits the configuration
//! sets, Redis's `*-max-listpack-*`.

/// When collections move from inline values to element rows (Redis's `*-max-listpack-*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encodings {
    /// Most fields a hash keeps inline.
    pub hash_max_listpack_entries: usize,
    /// Longest field name or value a hash keeps inline.
    pub hash_max_listpack_value: usize,
    /// Most members a sorted set keeps inline.
    pub zset_max_listpack_entries: usize,
    /// Longest member a sorted set keeps inline.
    pub zset_max_listpack_value: usize,
    /// Most items a list keeps inline.
    pub list_max_listpack_entries: usize,
    /// Most bytes (sum of the items) a list keeps inline.
    pub list_max_listpack_bytes: usize,
    /// Most integers a set keeps as an intset.
    pub set_max_intset_entries: usize,
    /// Most members a set keeps inline as a listpack.
    pub set_max_listpack_entries: usize,
    /// Longest member a set keeps inline as a listpack.
    pub set_max_listpack_value: usize,
    /// Entries per stream node (`~` trims whole nodes).
    pub stream_node_max_entries: u64,
    /// Most memory a large set's member index takes (`keyspace/set_index.rs`).
    pub set_index_max_bytes: usize,
}

impl Default for Encodings {
    fn default() -> Self {
        Encodings::from_config(&crate::config::StorageConfig::default())
    }
}

impl Encodings {
    /// The limits the configuration sets.
    pub fn from_config(c: &crate::config::StorageConfig) -> Self {
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        // Redis 7.0's layout keeps no list and no set of strings inline, whatever the
        // listpack limits say (the suite of 7.0 sets list-max-ziplist-size, which is 7.0's
        // quicklist node size, not a limit on inline lists).
        let rows_only = c.collection_layout == crate::config::CollectionLayout::Redis70;
        Encodings {
            hash_max_listpack_entries: size(c.hash_max_listpack_entries),
            hash_max_listpack_value: size(c.hash_max_listpack_value),
            zset_max_listpack_entries: size(c.zset_max_listpack_entries),
            zset_max_listpack_value: size(c.zset_max_listpack_value),
            // Redis's list-max-listpack-size: a positive value counts items, -1 to -5 mean
            // 4 kB to 64 kB of items.
            list_max_listpack_entries: if rows_only {
                0
            } else if c.list_max_listpack_size >= 0 {
                size(c.list_max_listpack_size as u64)
            } else {
                usize::MAX
            },
            list_max_listpack_bytes: if c.list_max_listpack_size >= 0 {
                usize::MAX
            } else {
                4096 << (c.list_max_listpack_size.unsigned_abs().clamp(1, 5) - 1)
            },
            set_max_intset_entries: size(c.set_max_intset_entries),
            set_max_listpack_entries: if rows_only {
                0
            } else {
                size(c.set_max_listpack_entries)
            },
            set_max_listpack_value: size(c.set_max_listpack_value),
            stream_node_max_entries: c.stream_node_max_entries,
            set_index_max_bytes: size(c.set_index_budget()),
        }
    }
}
