//! Byte strings kept inline when short: the keys of the large in-memory maps (the hot cache,
//! the row writer's queue, the element cache).
//!
//! Those maps are linked hash maps: a lookup loads the table's control group, the bucket, the
//! node, and then, to compare, the key's bytes, each load waiting for the one before. With
//! a `Bytes` key the bytes are an allocation of their own, a fourth miss under a large key set;
//! a short key kept in the node is compared where it lies. Most keys and members are short
//! (`user:1000:name`, `element:000000012345`): up to [`INLINE`] bytes need no allocation, and a
//! copy is a copy of 32 bytes, not the count of a shared header.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;

/// Longest string kept inline: what fits beside the length in the room of a `Bytes`.
pub(crate) const INLINE: usize = 23;

/// A byte string, inline up to [`INLINE`] bytes, shared beyond.
#[derive(Clone)]
pub enum ShortBytes {
    /// The first `len` bytes of `bytes`.
    Inline { len: u8, bytes: [u8; INLINE] },
    /// A longer string.
    Shared(Bytes),
}

impl ShortBytes {
    /// A copy of `b`: inline when it fits, else one allocation.
    pub(crate) fn copy_from_slice(b: &[u8]) -> Self {
        match Self::inline(b) {
            Some(s) => s,
            None => ShortBytes::Shared(Bytes::copy_from_slice(b)),
        }
    }

    fn inline(b: &[u8]) -> Option<Self> {
        if b.len() > INLINE {
            return None;
        }
        let mut bytes = [0; INLINE];
        bytes[..b.len()].copy_from_slice(b);
        Some(ShortBytes::Inline {
            len: b.len() as u8,
            bytes,
        })
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            ShortBytes::Inline { len, bytes } => &bytes[..*len as usize],
            ShortBytes::Shared(b) => b,
        }
    }

    /// A copy for another owner: inline, or as [`share_or_copy`](super::share_or_copy)
    /// gives it beyond (a copy up to 64 bytes, a shared reference past).
    pub(crate) fn share_or_copy(&self) -> ShortBytes {
        match self {
            ShortBytes::Inline { .. } => self.clone(),
            ShortBytes::Shared(b) => ShortBytes::Shared(super::share_or_copy(b)),
        }
    }

    /// The string as `Bytes` for another owner: a copy when inline, as
    /// [`share_or_copy`](super::share_or_copy) gives it beyond.
    pub(crate) fn to_bytes(&self) -> Bytes {
        match self {
            ShortBytes::Inline { .. } => Bytes::copy_from_slice(self.as_slice()),
            ShortBytes::Shared(b) => super::share_or_copy(b),
        }
    }
}

/// Memory a string of `len` bytes takes outside its `ShortBytes`: none inline; beyond, its
/// bytes, the allocator's rounding (16) and the header that counts its shares once it is
/// cloned (32).
pub(crate) fn apart(len: usize) -> usize {
    if len <= INLINE {
        0
    } else {
        len + 16 + 32
    }
}

impl Default for ShortBytes {
    fn default() -> Self {
        ShortBytes::Inline {
            len: 0,
            bytes: [0; INLINE],
        }
    }
}

impl From<Bytes> for ShortBytes {
    /// Inline when short (the `Bytes`, and what it shares, are let go), kept as is beyond.
    fn from(b: Bytes) -> Self {
        match Self::inline(&b) {
            Some(s) => s,
            None => ShortBytes::Shared(b),
        }
    }
}

impl From<&[u8]> for ShortBytes {
    fn from(b: &[u8]) -> Self {
        Self::copy_from_slice(b)
    }
}

impl Deref for ShortBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for ShortBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// Maps keyed by `ShortBytes` are looked up by `&[u8]`: hash and equality are the slice's.
impl Borrow<[u8]> for ShortBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Hash for ShortBytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl PartialEq for ShortBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for ShortBytes {}

impl PartialOrd for ShortBytes {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// By bytes, as SQLite's BLOB order (and `Bytes`'s).
impl Ord for ShortBytes {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl PartialEq<[u8]> for ShortBytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl std::fmt::Debug for ShortBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&Bytes::copy_from_slice(self.as_slice()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn takes_the_room_of_a_bytes() {
        assert_eq!(
            std::mem::size_of::<ShortBytes>(),
            std::mem::size_of::<Bytes>()
        );
    }

    #[test]
    fn short_strings_are_inline_and_long_ones_shared() {
        for len in [0, 1, INLINE - 1, INLINE, INLINE + 1, 100] {
            let data: Vec<u8> = (0..len as u8).collect();
            let s = ShortBytes::copy_from_slice(&data);
            assert_eq!(&s[..], &data[..]);
            assert_eq!(matches!(s, ShortBytes::Inline { .. }), len <= INLINE);
            let from = ShortBytes::from(Bytes::from(data.clone()));
            assert_eq!(matches!(from, ShortBytes::Inline { .. }), len <= INLINE);
            assert!(from == s);
            assert_eq!(s.to_bytes(), Bytes::from(data.clone()));
            assert_eq!(s.clone().as_slice(), &data[..]);
        }
    }

    #[test]
    fn a_map_finds_its_keys_by_slice_and_tells_lengths_apart() {
        let mut map: HashMap<ShortBytes, usize, ahash::RandomState> = HashMap::default();
        let keys: Vec<Vec<u8>> = (0..60).map(|n| vec![b'k'; n]).collect();
        for (i, k) in keys.iter().enumerate() {
            map.insert(ShortBytes::copy_from_slice(k), i);
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(map.get(&k[..]), Some(&i));
        }
        // A short key whose padding is zeros is not the same key as one with the zeros.
        let mut m: HashMap<ShortBytes, u8, ahash::RandomState> = HashMap::default();
        m.insert(ShortBytes::copy_from_slice(b"a"), 1);
        m.insert(ShortBytes::copy_from_slice(b"a\0"), 2);
        assert_eq!(m.get(&b"a"[..]), Some(&1));
        assert_eq!(m.get(&b"a\0"[..]), Some(&2));
        assert_eq!(m.get(&b"a\0\0"[..]), None);
    }
}
