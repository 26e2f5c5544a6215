//! The access a command needs to its keys, as Redis 7.0's key specs say: `ACCESS` (the
//! command reads or returns the value) needs `%R`, `INSERT`/`DELETE`/`UPDATE` need `%W`, and a
//! key touched neither way (EXISTS, TYPE, TTL, ...) any pattern that matches it. The command
//! table gives the key positions and the flags (read-only commands read, write commands
//! write); the commands whose key specs say otherwise are listed here, for their first key and
//! the union over the others, from redis-server 7.0.15's COMMAND output.

use bytes::Bytes;

use crate::engine::table::{flags, Command};

/// `(command, first key, other keys)`, each `(read, write)`, where the flags would say
/// otherwise, sorted by name. The first key is the first key spec's (a source or a
/// destination: `COPY src dst`, `ZUNIONSTORE dst ...`), the others the union of the rest.
type Access = (bool, bool);
const EXCEPTIONS: &[(&str, Access, Access)] = &[
    ("bitfield", (true, true), (true, true)),
    ("bitop", (false, true), (true, false)),
    ("blmove", (true, true), (false, true)),
    ("blmpop", (true, true), (true, true)),
    ("blpop", (true, true), (true, true)),
    ("brpop", (true, true), (true, true)),
    ("brpoplpush", (true, true), (false, true)),
    ("bzmpop", (true, true), (true, true)),
    ("bzpopmax", (true, true), (true, true)),
    ("bzpopmin", (true, true), (true, true)),
    ("copy", (true, false), (false, true)),
    ("decr", (true, true), (true, true)),
    ("decrby", (true, true), (true, true)),
    ("exists", (false, false), (false, false)),
    ("georadius", (true, false), (false, true)),
    ("georadiusbymember", (true, false), (false, true)),
    ("geosearchstore", (false, true), (true, false)),
    ("getdel", (true, true), (true, true)),
    ("getex", (true, true), (true, true)),
    ("getset", (true, true), (true, true)),
    ("hexists", (false, false), (false, false)),
    ("hincrby", (true, true), (true, true)),
    ("hincrbyfloat", (true, true), (true, true)),
    ("hlen", (false, false), (false, false)),
    ("hstrlen", (false, false), (false, false)),
    ("incr", (true, true), (true, true)),
    ("incrby", (true, true), (true, true)),
    ("incrbyfloat", (true, true), (true, true)),
    ("llen", (false, false), (false, false)),
    ("lmove", (true, true), (false, true)),
    ("lmpop", (true, true), (true, true)),
    ("lpop", (true, true), (true, true)),
    ("memory|usage", (false, false), (false, false)),
    ("migrate", (true, true), (true, true)),
    ("move", (true, true), (true, true)),
    ("object|encoding", (false, false), (false, false)),
    ("object|freq", (false, false), (false, false)),
    ("object|idletime", (false, false), (false, false)),
    ("object|refcount", (false, false), (false, false)),
    ("pfdebug", (true, false), (true, false)),
    ("pfmerge", (true, true), (true, false)),
    ("rename", (true, true), (false, true)),
    ("renamenx", (true, true), (false, true)),
    ("rpop", (true, true), (true, true)),
    ("rpoplpush", (true, true), (false, true)),
    ("scard", (false, false), (false, false)),
    ("sdiffstore", (false, true), (true, false)),
    ("set", (true, true), (true, true)),
    ("setbit", (true, true), (true, true)),
    ("sinterstore", (false, true), (true, false)),
    ("sismember", (false, false), (false, false)),
    ("smove", (true, true), (false, true)),
    ("sort", (true, false), (false, true)),
    ("spop", (true, true), (true, true)),
    ("spublish", (false, false), (false, false)),
    ("ssubscribe", (false, false), (false, false)),
    ("strlen", (false, false), (false, false)),
    ("sunionstore", (false, true), (true, false)),
    ("sunsubscribe", (false, false), (false, false)),
    ("touch", (false, false), (false, false)),
    ("type", (false, false), (false, false)),
    ("watch", (false, false), (false, false)),
    ("xlen", (false, false), (false, false)),
    ("xreadgroup", (true, false), (true, false)),
    ("zcard", (false, false), (false, false)),
    ("zdiffstore", (false, true), (true, false)),
    ("zincrby", (true, true), (true, true)),
    ("zinterstore", (false, true), (true, false)),
    ("zmpop", (true, true), (true, true)),
    ("zpopmax", (true, true), (true, true)),
    ("zpopmin", (true, true), (true, true)),
    ("zrangestore", (false, true), (true, false)),
    ("zunionstore", (false, true), (true, false)),
];

/// The permissions the keys of `cmd` need: `(read, write)` for the first key and for the
/// others; neither means any pattern that matches.
pub fn key_access(cmd: &Command, argv: &[Bytes]) -> (Access, Access) {
    if cmd.name == "set" {
        // Variable flags: only SET ... GET reads the old value.
        let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
        return ((get, true), (get, true));
    }
    if let Ok(i) = EXCEPTIONS.binary_search_by(|(name, _, _)| (*name).cmp(cmd.name.as_str())) {
        let (_, first, rest) = EXCEPTIONS[i];
        return (first, rest);
    }
    let access = if cmd.has(flags::READONLY) {
        (true, false)
    } else if cmd.has(flags::WRITE) {
        (false, true)
    } else {
        (true, true)
    };
    (access, access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_are_sorted() {
        assert!(EXCEPTIONS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
