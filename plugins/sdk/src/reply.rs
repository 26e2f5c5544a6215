//! [`Reply`], every RESP3 type, and its C form: a tree of `#[repr(C)]` [`ReplyNode`]s.
//!
//! This file is the one implementation of the tree's encoding ([`with_tree`]) and decoding
//! ([`decode`]): plugins use it through the SDK, and the server's host side calls the same
//! functions, so both ends always agree on the format.

use crate::abi::RStr;

/// A reply, with every RESP3 type. The server downgrades it for RESP2 clients as Redis does
/// (maps become flat arrays, booleans integers, ...).
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Status reply: `+OK`.
    Simple(String),
    /// Error reply including its code: `ERR something went wrong`.
    Error(String),
    /// Integer.
    Integer(i64),
    /// Binary-safe string.
    Bulk(Vec<u8>),
    /// Null (a null bulk string in RESP2).
    Null,
    /// Null array (RESP2's `*-1`, what BLPOP answers on timeout).
    NullArray,
    /// Array.
    Array(Vec<Reply>),
    /// Map of key/value pairs.
    Map(Vec<(Reply, Reply)>),
    /// Set.
    Set(Vec<Reply>),
    /// Double.
    Double(f64),
    /// Boolean.
    Boolean(bool),
    /// Big number, as decimal digits.
    BigNumber(String),
    /// Verbatim string with a three-letter format such as `txt`.
    Verbatim {
        /// Format, e.g. `*b"txt"`.
        format: [u8; 3],
        /// The text.
        text: Vec<u8>,
    },
    /// Out-of-band push (RESP3 `>`; an array in RESP2).
    Push(Vec<Reply>),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    /// A bulk string.
    pub fn bulk(b: impl Into<Vec<u8>>) -> Reply {
        Reply::Bulk(b.into())
    }

    /// An error reply; without a code of its own (an upper-case first word) it gets `ERR`.
    pub fn error(message: impl Into<String>) -> Reply {
        Reply::Error(crate::Error::new(message).message().to_string())
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Whether this is a null or a null array.
    pub fn is_null(&self) -> bool {
        matches!(self, Reply::Null | Reply::NullArray)
    }

    /// The bytes of a bulk, simple or verbatim string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) => Some(b),
            Reply::Simple(s) => Some(s.as_bytes()),
            Reply::Verbatim { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The value of an integer reply, or of a string reply holding an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Reply::Integer(n) => Some(*n),
            other => std::str::from_utf8(other.as_bytes()?).ok()?.parse().ok(),
        }
    }

    /// The items of an array, set or push reply.
    pub fn items(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => Some(v),
            _ => None,
        }
    }
}

impl From<crate::Error> for Reply {
    fn from(e: crate::Error) -> Self {
        Reply::Error(e.message().to_string())
    }
}

/// Kinds of [`ReplyNode`].
pub mod reply_kind {
    /// `+text`.
    pub const SIMPLE: u32 = 1;
    /// `-CODE message`.
    pub const ERROR: u32 = 2;
    /// `:n` (`int`).
    pub const INTEGER: u32 = 3;
    /// Bulk string (`bytes`).
    pub const BULK: u32 = 4;
    /// Null.
    pub const NULL: u32 = 5;
    /// Array of `len` items.
    pub const ARRAY: u32 = 6;
    /// Map: `len` items, alternately key and value (`len` is even).
    pub const MAP: u32 = 7;
    /// Set of `len` items.
    pub const SET: u32 = 8;
    /// Double (`double`).
    pub const DOUBLE: u32 = 9;
    /// Boolean (`int` 0 or 1).
    pub const BOOLEAN: u32 = 10;
    /// Big number: its decimal digits in `bytes`.
    pub const BIG_NUMBER: u32 = 11;
    /// Verbatim string: `format` and `bytes`.
    pub const VERBATIM: u32 = 12;
    /// Null array.
    pub const NULL_ARRAY: u32 = 13;
    /// Push of `len` items.
    pub const PUSH: u32 = 14;
}

/// One RESP3 value; aggregates point to their items.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ReplyNode {
    /// One of [`reply_kind`].
    pub kind: u32,
    /// Integer and boolean value.
    pub int: i64,
    /// Double value.
    pub double: f64,
    /// Text of simple, error, bulk, big number and verbatim replies.
    pub bytes: RStr,
    /// Verbatim format (`txt`, `mkd`).
    pub format: [u8; 3],
    /// Items of aggregates.
    pub items: *const ReplyNode,
    /// Number of items.
    pub len: usize,
}

impl ReplyNode {
    /// A node of `kind` with every other field empty.
    pub const fn empty(kind: u32) -> Self {
        ReplyNode {
            kind,
            int: 0,
            double: 0.0,
            bytes: RStr {
                ptr: core::ptr::null(),
                len: 0,
            },
            format: [0; 3],
            items: core::ptr::null(),
            len: 0,
        }
    }
}

/// Builds the node tree of `reply` (borrowing its strings) and hands its root to `f`; the
/// tree lives until `f` returns.
pub fn with_tree<R>(reply: &Reply, f: impl FnOnce(&ReplyNode) -> R) -> R {
    // Children live in `arena` until `f` returns; moving a Vec into the arena does not move
    // its items, so the pointers stay valid.
    let mut arena: Vec<Vec<ReplyNode>> = Vec::new();
    let root = encode(reply, &mut arena);
    f(&root)
}

fn encode(reply: &Reply, arena: &mut Vec<Vec<ReplyNode>>) -> ReplyNode {
    fn with_bytes(kind: u32, b: &[u8]) -> ReplyNode {
        ReplyNode {
            bytes: RStr::new(b),
            ..ReplyNode::empty(kind)
        }
    }
    fn aggregate(kind: u32, items: Vec<ReplyNode>, arena: &mut Vec<Vec<ReplyNode>>) -> ReplyNode {
        let node = ReplyNode {
            items: items.as_ptr(),
            len: items.len(),
            ..ReplyNode::empty(kind)
        };
        arena.push(items);
        node
    }
    let list = |kind, v: &[Reply], arena: &mut Vec<Vec<ReplyNode>>| {
        let items = v.iter().map(|r| encode(r, arena)).collect();
        aggregate(kind, items, arena)
    };
    match reply {
        Reply::Simple(s) => with_bytes(reply_kind::SIMPLE, s.as_bytes()),
        Reply::Error(s) => with_bytes(reply_kind::ERROR, s.as_bytes()),
        Reply::Integer(n) => ReplyNode {
            int: *n,
            ..ReplyNode::empty(reply_kind::INTEGER)
        },
        Reply::Bulk(b) => with_bytes(reply_kind::BULK, b),
        Reply::Null => ReplyNode::empty(reply_kind::NULL),
        Reply::NullArray => ReplyNode::empty(reply_kind::NULL_ARRAY),
        Reply::Array(v) => list(reply_kind::ARRAY, v, arena),
        Reply::Set(v) => list(reply_kind::SET, v, arena),
        Reply::Push(v) => list(reply_kind::PUSH, v, arena),
        Reply::Map(pairs) => {
            let mut items = Vec::with_capacity(pairs.len() * 2);
            for (k, v) in pairs {
                items.push(encode(k, arena));
                items.push(encode(v, arena));
            }
            aggregate(reply_kind::MAP, items, arena)
        }
        Reply::Double(d) => ReplyNode {
            double: *d,
            ..ReplyNode::empty(reply_kind::DOUBLE)
        },
        Reply::Boolean(b) => ReplyNode {
            int: i64::from(*b),
            ..ReplyNode::empty(reply_kind::BOOLEAN)
        },
        Reply::BigNumber(s) => with_bytes(reply_kind::BIG_NUMBER, s.as_bytes()),
        Reply::Verbatim { format, text } => ReplyNode {
            format: *format,
            ..with_bytes(reply_kind::VERBATIM, text)
        },
    }
}

/// Deepest tree accepted; deeper ones are cut off with an error item (a broken peer must not
/// overflow the stack).
pub const MAX_DEPTH: usize = 128;

/// Copies a node tree into an owned reply, checking it: a malformed node (unknown kind, odd
/// map, too deep, missing) becomes an error reply, and CR or LF in a status or error line
/// become spaces (the wire cannot carry them there).
///
/// # Safety
/// `node` must be null or point to a valid tree for the duration of the call.
pub unsafe fn decode(node: *const ReplyNode) -> Reply {
    // SAFETY: guaranteed by the caller.
    unsafe { decode_at(node, 0) }
}

unsafe fn decode_at(node: *const ReplyNode, depth: usize) -> Reply {
    if node.is_null() {
        return Reply::Error("ERR reply is missing".into());
    }
    if depth > MAX_DEPTH {
        return Reply::Error("ERR reply is nested too deeply".into());
    }
    // SAFETY: guaranteed by the caller.
    let n = unsafe { &*node };
    // SAFETY: the node's bytes and items are valid with it.
    let bytes = || unsafe { n.bytes.as_bytes() }.to_vec();
    let text = || String::from_utf8_lossy(&bytes()).into_owned();
    let line = || text().replace(['\r', '\n'], " ");
    let items = || -> Vec<Reply> {
        // SAFETY: `len` valid items.
        unsafe { crate::ffi::slice(n.items, n.len) }
            .iter()
            .map(|item| unsafe { decode_at(item, depth + 1) })
            .collect()
    };
    match n.kind {
        reply_kind::SIMPLE => Reply::Simple(line()),
        reply_kind::ERROR => {
            let msg = line();
            Reply::Error(if msg.is_empty() { "ERR".into() } else { msg })
        }
        reply_kind::INTEGER => Reply::Integer(n.int),
        reply_kind::BULK => Reply::Bulk(bytes()),
        reply_kind::NULL => Reply::Null,
        reply_kind::NULL_ARRAY => Reply::NullArray,
        reply_kind::ARRAY => Reply::Array(items()),
        reply_kind::SET => Reply::Set(items()),
        reply_kind::PUSH => Reply::Push(items()),
        reply_kind::MAP if n.len % 2 == 0 => {
            let mut all = items().into_iter();
            let mut pairs = Vec::with_capacity(n.len / 2);
            while let (Some(k), Some(v)) = (all.next(), all.next()) {
                pairs.push((k, v));
            }
            Reply::Map(pairs)
        }
        reply_kind::MAP => Reply::Error("ERR reply: a map needs an even number of items".into()),
        reply_kind::DOUBLE => Reply::Double(n.double),
        reply_kind::BOOLEAN => Reply::Boolean(n.int != 0),
        reply_kind::BIG_NUMBER => Reply::BigNumber(text()),
        reply_kind::VERBATIM => Reply::Verbatim {
            format: n.format,
            text: bytes(),
        },
        other => Reply::Error(format!("ERR reply of unknown kind {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_survive_a_round_trip_through_the_abi() {
        let reply = Reply::Array(vec![
            Reply::ok(),
            Reply::Error("ERR bad".into()),
            Reply::Integer(-7),
            Reply::bulk(&b"\x00bin"[..]),
            Reply::Null,
            Reply::NullArray,
            Reply::Map(vec![(
                Reply::bulk("k"),
                Reply::Set(vec![Reply::Integer(1)]),
            )]),
            Reply::Double(1.5),
            Reply::Boolean(true),
            Reply::BigNumber("123456789012345678901234567890".into()),
            Reply::Verbatim {
                format: *b"txt",
                text: b"hi".to_vec(),
            },
            Reply::Push(vec![Reply::bulk("p")]),
        ]);
        let back = with_tree(&reply, |node| unsafe { decode(node) });
        assert_eq!(back, reply);
    }

    #[test]
    fn malformed_trees_become_errors() {
        let item = ReplyNode::empty(reply_kind::INTEGER);
        let odd_map = ReplyNode {
            items: &item,
            len: 1,
            ..ReplyNode::empty(reply_kind::MAP)
        };
        assert!(unsafe { decode(&odd_map) }.is_error());
        assert!(unsafe { decode(&ReplyNode::empty(99)) }.is_error());
        assert!(unsafe { decode(std::ptr::null()) }.is_error());
        let crlf = ReplyNode {
            bytes: RStr::new(b"ERR a\r\nb"),
            ..ReplyNode::empty(reply_kind::ERROR)
        };
        assert_eq!(unsafe { decode(&crlf) }, Reply::Error("ERR a  b".into()));
    }
}
