//! [`Command`]: a command's metadata (the same fields as the server's own command table) and
//! its handler, a closure that may own state.

use crate::abi::flag;
use crate::{Ctx, Error, Reply};

/// A command implementation: `args[0]` is the command name as the client sent it. Plain
/// functions and closures (which may own state) both fit.
pub type Handler = Box<dyn Fn(&mut Ctx<'_>, &[&[u8]]) -> Result<Reply, Error> + Send + Sync>;

/// Command flags, as `COMMAND INFO` shows them. Combine with `|`; being constants, a
/// misspelt flag does not compile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(u64);

impl Flags {
    /// No flags.
    pub const NONE: Flags = Flags(0);
    /// `write`: may modify keys.
    pub const WRITE: Flags = Flags(flag::WRITE);
    /// `readonly`: reads keys only.
    pub const READONLY: Flags = Flags(flag::READONLY);
    /// `denyoom`: refused when memory is over the limit.
    pub const DENYOOM: Flags = Flags(flag::DENYOOM);
    /// `admin`.
    pub const ADMIN: Flags = Flags(flag::ADMIN);
    /// `pubsub`.
    pub const PUBSUB: Flags = Flags(flag::PUBSUB);
    /// `noscript`: not callable from scripts and plugins' `call`.
    pub const NOSCRIPT: Flags = Flags(flag::NOSCRIPT);
    /// `blocking`: may park the client.
    pub const BLOCKING: Flags = Flags(flag::BLOCKING);
    /// `loading`.
    pub const LOADING: Flags = Flags(flag::LOADING);
    /// `stale`.
    pub const STALE: Flags = Flags(flag::STALE);
    /// `skip_monitor`.
    pub const SKIP_MONITOR: Flags = Flags(flag::SKIP_MONITOR);
    /// `skip_slowlog`.
    pub const SKIP_SLOWLOG: Flags = Flags(flag::SKIP_SLOWLOG);
    /// `fast`: constant or logarithmic time.
    pub const FAST: Flags = Flags(flag::FAST);
    /// `no_auth`.
    pub const NO_AUTH: Flags = Flags(flag::NO_AUTH);
    /// `may_replicate`.
    pub const MAY_REPLICATE: Flags = Flags(flag::MAY_REPLICATE);
    /// `no_multi`: refused inside MULTI.
    pub const NO_MULTI: Flags = Flags(flag::NO_MULTI);
    /// `allow_busy`.
    pub const ALLOW_BUSY: Flags = Flags(flag::ALLOW_BUSY);
    /// `movablekeys`.
    pub const MOVABLE_KEYS: Flags = Flags(flag::MOVABLE_KEYS);

    /// The bits of [`crate::abi::flag`].
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Both sets (usable in constants).
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

/// A command to register: the fields of the server's command table (name, arity, flags,
/// key positions, ACL categories, summary) and the handler.
pub struct Command {
    pub(crate) name: String,
    pub(crate) arity: i32,
    pub(crate) flags: Flags,
    pub(crate) first_key: i32,
    pub(crate) last_key: i32,
    pub(crate) step: i32,
    pub(crate) numkeys_at: i32,
    pub(crate) categories: String,
    pub(crate) group: String,
    pub(crate) summary: String,
    pub(crate) since: String,
    pub(crate) complexity: String,
    pub(crate) handler: Handler,
}

impl Command {
    /// A command with Redis arity (`N` = exactly N arguments including the name, `-N` = at
    /// least N), no flags, no keys and no categories. `handler` is a function or a closure.
    pub fn new<F>(name: &str, arity: i32, handler: F) -> Self
    where
        F: Fn(&mut Ctx<'_>, &[&[u8]]) -> Result<Reply, Error> + Send + Sync + 'static,
    {
        Command {
            name: name.to_string(),
            arity,
            flags: Flags::NONE,
            first_key: 0,
            last_key: 0,
            step: 0,
            numkeys_at: 0,
            categories: String::new(),
            group: String::new(),
            summary: String::new(),
            since: String::new(),
            complexity: String::new(),
            handler: Box::new(handler),
        }
    }

    /// Flags: `Flags::WRITE | Flags::DENYOOM | Flags::FAST`.
    pub fn flags(mut self, flags: Flags) -> Self {
        self.flags = flags;
        self
    }

    /// Key positions: first, last (negative counts from the end) and step.
    pub fn keys(mut self, first: i32, last: i32, step: i32) -> Self {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self
    }

    /// Position of a `numkeys` argument followed by that many keys (as ZUNION's), on top of
    /// [`Command::keys`].
    pub fn numkeys_at(mut self, position: i32) -> Self {
        self.numkeys_at = position;
        self
    }

    /// `COMMAND DOCS` group (default `module`).
    pub fn group(mut self, group: &str) -> Self {
        self.group = group.to_string();
        self
    }

    /// Version that introduced the command, for `COMMAND DOCS` (default `1.0.0`).
    pub fn since(mut self, version: &str) -> Self {
        self.since = version.to_string();
        self
    }

    /// Time complexity, for `COMMAND DOCS` (`O(log N)`).
    pub fn complexity(mut self, complexity: &str) -> Self {
        self.complexity = complexity.to_string();
        self
    }

    /// Space-separated ACL categories without `@` (`write string fast`).
    pub fn categories(mut self, categories: &str) -> Self {
        self.categories = categories.to_string();
        self
    }

    /// One-line summary for `COMMAND DOCS`.
    pub fn summary(mut self, summary: &str) -> Self {
        self.summary = summary.to_string();
        self
    }

    /// The command's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command")
            .field("name", &self.name)
            .field("arity", &self.arity)
            .field("flags", &self.flags)
            .field("keys", &(self.first_key, self.last_key, self.step))
            .field("categories", &self.categories)
            .finish_non_exhaustive()
    }
}
