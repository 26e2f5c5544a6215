//! The ACL categories of Redis 7, as bits: a command's categories are a mask computed once
//! when it enters the command table (see `Command::acl_categories`), so that checking a
//! `+@category` rule costs one AND.

/// Category names, in the order `ACL CAT` lists them; bit `i` is `NAMES[i]`.
pub const NAMES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Every category (`@all`).
pub const ALL: u64 = (1 << NAMES.len()) - 1;

/// The bit of a category, by name (case-insensitive); `all` is every bit.
pub fn bit(name: &str) -> Option<u64> {
    if name.eq_ignore_ascii_case("all") {
        return Some(ALL);
    }
    NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

/// The mask of a list of names; names that are not categories are ignored.
pub fn mask<S: AsRef<str>>(names: &[S]) -> u64 {
    names
        .iter()
        .filter_map(|n| bit(n.as_ref()))
        .filter(|&b| b != ALL)
        .fold(0, |m, b| m | b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits() {
        assert_eq!(bit("keyspace"), Some(1));
        assert_eq!(bit("READ"), Some(2));
        assert_eq!(bit("all"), Some(ALL));
        assert_eq!(bit("nosuch"), None);
        assert_eq!(mask(&["read", "fast", "bogus"]), 2 | (1 << 14));
    }
}
