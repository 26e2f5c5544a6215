//! The command table: one row of metadata per command, driving dispatch, arity checks, the
//! `COMMAND` family and (later) ACL categories. Built-in commands are static rows in each
//! command file; plugins add rows of the same shape through [`CommandTable::register`].

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::Ctx;
use crate::protocol::Reply;

/// Command flags, as `COMMAND INFO` names them.
pub mod flags {
    /// May modify the keyspace.
    pub const WRITE: u32 = 1 << 0;
    /// Only reads the keyspace.
    pub const READONLY: u32 = 1 << 1;
    /// May use more memory.
    pub const DENYOOM: u32 = 1 << 2;
    /// Administrative command.
    pub const ADMIN: u32 = 1 << 3;
    /// Pub/Sub related.
    pub const PUBSUB: u32 = 1 << 4;
    /// Not allowed in scripts.
    pub const NOSCRIPT: u32 = 1 << 5;
    /// May block the client.
    pub const BLOCKING: u32 = 1 << 6;
    /// Allowed while loading.
    pub const LOADING: u32 = 1 << 7;
    /// Allowed on a stale replica.
    pub const STALE: u32 = 1 << 8;
    /// Not shown to MONITOR.
    pub const SKIP_MONITOR: u32 = 1 << 9;
    /// Not logged by SLOWLOG.
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    /// O(1) or O(log N).
    pub const FAST: u32 = 1 << 11;
    /// Allowed before authentication.
    pub const NO_AUTH: u32 = 1 << 12;
    /// May replicate even if read-only.
    pub const MAY_REPLICATE: u32 = 1 << 13;
    /// Not allowed inside MULTI.
    pub const NO_MULTI: u32 = 1 << 14;
    /// Allowed while a script is busy.
    pub const ALLOW_BUSY: u32 = 1 << 15;
    /// Key positions cannot be derived from first/last/step.
    pub const MOVABLE_KEYS: u32 = 1 << 16;

    /// Names in the order Redis lists them.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
        (MOVABLE_KEYS, "movablekeys"),
    ];
}

/// A command implementation. Plain functions coerce into it; plugins pass closures.
pub type Handler = Arc<dyn Fn(&mut Ctx<'_>, &[Bytes]) -> Reply + Send + Sync>;

/// Static description of a built-in command (or subcommand).
pub struct CommandSpec {
    /// Lower-case name (`"get"`, or the subcommand's own name such as `"setname"`).
    pub name: &'static str,
    /// Redis arity: N = exactly N arguments including the name, -N = at least N.
    pub arity: i32,
    /// Bitwise OR of [`flags`].
    pub flags: u32,
    /// Position of the first key (0 = no keys).
    pub first_key: i32,
    /// Position of the last key (negative counts from the end).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// Position of a `numkeys` argument followed by that many keys (LMPOP, ZUNION, ...), on
    /// top of any keys first/last/step give; 0 = none.
    pub numkeys_at: i32,
    /// Where the command names elements of its first key's collection (hash fields, set
    /// and sorted-set members), for the executor's prefetch of a pipeline's lookups.
    pub elements: Span,
    /// ACL categories without the `@` (`"string"`, `"fast"`, ...).
    pub categories: &'static [&'static str],
    /// COMMAND DOCS group (`"string"`, `"server"`, `"connection"`, ...).
    pub group: &'static str,
    /// One-line summary for COMMAND DOCS.
    pub summary: &'static str,
    /// Redis version that introduced the command.
    pub since: &'static str,
    /// Complexity note for COMMAND DOCS.
    pub complexity: &'static str,
    /// The implementation; `None` for containers whose subcommands do the work.
    pub handler: Option<HandlerFn>,
    /// Subcommands (`CLIENT ID`, `CONFIG GET`, ...).
    pub subcommands: &'static [CommandSpec],
}

/// Argument positions given as Redis gives a command's keys: the first (0 = none), the last
/// (negative counts from the end), the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// The first position; 0 = none.
    pub first: i32,
    /// The last position; negative counts from the end (-1: the last argument).
    pub last: i32,
    /// The step between positions.
    pub step: i32,
}

impl Span {
    /// No positions.
    pub const NONE: Span = Span {
        first: 0,
        last: 0,
        step: 0,
    };

    /// The positions the span gives for `argc` arguments.
    pub fn positions(self, argc: usize) -> impl Iterator<Item = usize> {
        let last = if self.last < 0 {
            argc as i64 + self.last as i64
        } else {
            self.last as i64
        };
        let (first, last) = if self.first > 0 && self.step > 0 {
            (self.first as i64, last.min(argc as i64 - 1))
        } else {
            (1, 0) // none
        };
        (first..=last)
            .step_by(self.step.max(1) as usize)
            .map(|i| i as usize)
    }
}

/// The handler type of a static row.
pub type HandlerFn = fn(&mut Ctx<'_>, &[Bytes]) -> Reply;

/// The one way to write a row: `CommandSpec::new(name, arity, handler)` (or
/// [`CommandSpec::container`]) followed by the optional parts, each a `const fn` so that the
/// rows stay in `static` tables. [`Command`] has the same methods for rows built at run time.
impl CommandSpec {
    /// A command with its handler: no flags, no keys, no categories, group `generic`, since
    /// `1.0.0`, complexity `O(1)`.
    pub const fn new(name: &'static str, arity: i32, handler: HandlerFn) -> CommandSpec {
        CommandSpec {
            handler: Some(handler),
            ..CommandSpec::container(name, arity)
        }
    }

    /// A command without a handler of its own, whose [`subcommands`](Self::subcommands) do
    /// the work; otherwise as [`new`](Self::new).
    pub const fn container(name: &'static str, arity: i32) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags: 0,
            first_key: 0,
            last_key: 0,
            step: 0,
            numkeys_at: 0,
            elements: Span::NONE,
            categories: &[],
            group: "generic",
            summary: "",
            since: "1.0.0",
            complexity: "O(1)",
            handler: None,
            subcommands: &[],
        }
    }

    /// Sets the [`flags`] (bitwise OR).
    pub const fn flags(mut self, flags: u32) -> CommandSpec {
        self.flags = flags;
        self
    }

    /// Sets the key positions: the first, the last (negative counts from the end), the step.
    pub const fn keys(mut self, first: i32, last: i32, step: i32) -> CommandSpec {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self
    }

    /// Sets the position of a `numkeys` argument followed by that many keys.
    pub const fn numkeys(mut self, at: i32) -> CommandSpec {
        self.numkeys_at = at;
        self
    }

    /// Sets the positions of the elements the command names (see [`Self::elements`]): the
    /// first, the last (negative counts from the end), the step.
    pub const fn elements(mut self, first: i32, last: i32, step: i32) -> CommandSpec {
        self.elements = Span { first, last, step };
        self
    }

    /// Sets the ACL categories, without the `@`.
    pub const fn categories(mut self, categories: &'static [&'static str]) -> CommandSpec {
        self.categories = categories;
        self
    }

    /// Sets the COMMAND DOCS fields: group, summary, the version that introduced the command,
    /// complexity.
    pub const fn doc(
        mut self,
        group: &'static str,
        summary: &'static str,
        since: &'static str,
        complexity: &'static str,
    ) -> CommandSpec {
        self.group = group;
        self.summary = summary;
        self.since = since;
        self.complexity = complexity;
        self
    }

    /// Sets the subcommands (`CLIENT ID`, `CONFIG GET`, ...).
    pub const fn subcommands(mut self, subcommands: &'static [CommandSpec]) -> CommandSpec {
        self.subcommands = subcommands;
        self
    }
}

/// A command in the live table: owned, so that plugins and scripts can add their own.
pub struct Command {
    /// Full lower-case name: `"get"`, or `"client|setname"` for a subcommand.
    pub name: String,
    /// See [`CommandSpec::arity`].
    pub arity: i32,
    /// See [`flags`].
    pub flags: u32,
    /// See [`CommandSpec::first_key`].
    pub first_key: i32,
    /// See [`CommandSpec::last_key`].
    pub last_key: i32,
    /// See [`CommandSpec::step`].
    pub step: i32,
    /// See [`CommandSpec::numkeys_at`].
    pub numkeys_at: i32,
    /// See [`CommandSpec::elements`].
    pub elements: Span,
    /// ACL categories without the `@`.
    pub categories: Vec<String>,
    /// The categories as ACL checks use them: [`Self::categories`] plus those Redis implies
    /// from the flags (`write`, `read`, `admin`+`dangerous`, `pubsub`, `fast` or `slow`,
    /// `blocking`), as a mask of [`acl::categories`](super::acl::categories) bits; kept
    /// current by the builders and by [`CommandTable::register`].
    pub acl_categories: u64,
    /// COMMAND DOCS group.
    pub group: String,
    /// COMMAND DOCS summary.
    pub summary: String,
    /// COMMAND DOCS since.
    pub since: String,
    /// COMMAND DOCS complexity.
    pub complexity: String,
    /// Who provides the command: `None` for the core, the plugin's name otherwise.
    pub provider: Option<String>,
    /// The implementation (absent for containers).
    pub handler: Option<Handler>,
    /// Subcommands by lower-case name, in registration order.
    pub subcommands: Vec<Arc<Command>>,
    /// Slot in the executor's per-command statistics.
    pub stats_index: usize,
}

impl Command {
    /// A command built at run time (plugins, scripts), with owned metadata: no flags, no
    /// keys, no categories, group `module`. Complete it with the methods named as
    /// [`CommandSpec`]'s before registering; [`CommandTable::register`] assigns the
    /// statistics slots.
    pub fn new(name: impl Into<String>, arity: i32, handler: Handler) -> Command {
        Command::with_handler(name.into(), arity, Some(handler))
    }

    fn with_handler(name: String, arity: i32, handler: Option<Handler>) -> Command {
        Command {
            name,
            arity,
            flags: 0,
            first_key: 0,
            last_key: 0,
            step: 0,
            numkeys_at: 0,
            elements: Span::NONE,
            categories: Vec::new(),
            acl_categories: 0,
            group: "module".into(),
            summary: String::new(),
            since: "1.0.0".into(),
            complexity: String::new(),
            provider: None,
            handler,
            subcommands: Vec::new(),
            stats_index: usize::MAX,
        }
    }

    /// The live form of a static row, named `name` (`"client|setname"` for a subcommand),
    /// without its subcommands, provider or statistics slot.
    pub fn from_spec(spec: &CommandSpec, name: String) -> Command {
        let handler = spec.handler.map(|f| Arc::new(f) as Handler);
        Command::with_handler(name, spec.arity, handler)
            .flags(spec.flags)
            .keys(spec.first_key, spec.last_key, spec.step)
            .numkeys(spec.numkeys_at)
            .elements(spec.elements.first, spec.elements.last, spec.elements.step)
            .categories(spec.categories.iter().copied())
            .doc(spec.group, spec.summary, spec.since, spec.complexity)
    }

    /// See [`CommandSpec::flags`].
    pub fn flags(mut self, flags: u32) -> Command {
        self.flags = flags;
        self.acl_categories = self.implied_acl_categories();
        self
    }

    /// See [`CommandSpec::keys`].
    pub fn keys(mut self, first: i32, last: i32, step: i32) -> Command {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self
    }

    /// See [`CommandSpec::numkeys`].
    pub fn numkeys(mut self, at: i32) -> Command {
        self.numkeys_at = at;
        self
    }

    /// See [`CommandSpec::elements`].
    pub fn elements(mut self, first: i32, last: i32, step: i32) -> Command {
        self.elements = Span { first, last, step };
        self
    }

    /// See [`CommandSpec::categories`].
    pub fn categories<S: Into<String>>(
        mut self,
        categories: impl IntoIterator<Item = S>,
    ) -> Command {
        self.categories = categories.into_iter().map(Into::into).collect();
        self.acl_categories = self.implied_acl_categories();
        self
    }

    /// The ACL category mask of the declared categories and the flags (see
    /// [`Self::acl_categories`]): a command registered without categories (a plugin's, a
    /// script's) still falls in `@write`, `@read`, `@slow`, ... by its flags, as in Redis.
    pub fn implied_acl_categories(&self) -> u64 {
        use super::acl::categories::{bit, mask};
        let cat = |name| bit(name).unwrap_or(0);
        let mut m = mask(&self.categories);
        for (flag, name) in [
            (flags::WRITE, "write"),
            (flags::READONLY, "read"),
            (flags::ADMIN, "admin"),
            (flags::ADMIN, "dangerous"),
            (flags::PUBSUB, "pubsub"),
            (flags::FAST, "fast"),
            (flags::BLOCKING, "blocking"),
        ] {
            if self.has(flag) {
                m |= cat(name);
            }
        }
        if m & cat("fast") == 0 {
            m |= cat("slow");
        }
        m
    }

    /// See [`CommandSpec::doc`].
    pub fn doc(
        mut self,
        group: impl Into<String>,
        summary: impl Into<String>,
        since: impl Into<String>,
        complexity: impl Into<String>,
    ) -> Command {
        self.group = group.into();
        self.summary = summary.into();
        self.since = since.into();
        self.complexity = complexity.into();
        self
    }

    /// Whether the command has the given flag(s).
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Whether `argc` arguments (name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Finds a subcommand by name, case-insensitively.
    pub fn subcommand(&self, name: &[u8]) -> Option<&Arc<Command>> {
        self.subcommands.iter().find(|c| {
            let short = c.name.rsplit('|').next().unwrap_or(&c.name);
            short.as_bytes().eq_ignore_ascii_case(name)
        })
    }

    /// Positions of the key arguments in `argv`: first/last/step, then the keys counted by a
    /// `numkeys` argument (none when it is not a valid count), then the keys of movable-key
    /// commands that neither can give (XREAD's streams, SORT's and GEORADIUS's STORE
    /// destinations), as Redis 7.0's COMMAND GETKEYS finds them.
    pub fn key_positions(&self, argv: &[Bytes]) -> Vec<usize> {
        let mut out = self.spec_key_positions(argv);
        let eq = |a: &Bytes, s: &str| a.eq_ignore_ascii_case(s.as_bytes());
        match self.name.as_str() {
            "xread" | "xreadgroup" => {
                if let Some(at) = argv.iter().position(|a| eq(a, "streams")) {
                    let rest = argv.len() - at - 1;
                    out.extend(at + 1..at + 1 + rest / 2);
                }
            }
            "sort" => {
                // As SORT itself: LIMIT's, GET's and BY's arguments are skipped, and only the
                // last STORE counts.
                let mut store = None;
                let mut i = 2;
                while i < argv.len() {
                    if eq(&argv[i], "limit") {
                        i += 2;
                    } else if eq(&argv[i], "get") || eq(&argv[i], "by") {
                        i += 1;
                    } else if eq(&argv[i], "store") && i + 1 < argv.len() {
                        store = Some(i + 1);
                    }
                    i += 1;
                }
                out.extend(store);
            }
            "georadius" | "georadiusbymember" => {
                // Redis 7.0's key specs: the first STORE, then the first STOREDIST, each
                // searched after the fixed arguments.
                let from = if self.name == "georadius" { 6 } else { 5 };
                let after = |word: &str| {
                    (from..argv.len().saturating_sub(1))
                        .find(|&i| eq(&argv[i], word))
                        .map(|i| i + 1)
                };
                out.extend(after("store"));
                out.extend(after("storedist"));
            }
            _ => {}
        }
        out
    }

    /// The key positions the spec's first/last/step give for `argc` arguments (not those
    /// after a `numkeys`).
    pub fn step_key_positions(&self, argc: usize) -> impl Iterator<Item = usize> {
        Span {
            first: self.first_key,
            last: self.last_key,
            step: self.step,
        }
        .positions(argc)
    }

    /// The key positions the command's spec gives: first/last/step and `numkeys`.
    fn spec_key_positions(&self, argv: &[Bytes]) -> Vec<usize> {
        let argc = argv.len();
        let mut out: Vec<usize> = self.step_key_positions(argc).collect();
        if self.numkeys_at > 0 {
            let at = self.numkeys_at as usize;
            let n = argv
                .get(at)
                .and_then(|a| crate::protocol::parse_i64(a))
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0);
            out.extend((at + 1..at + 1 + n).take_while(|&i| i < argc));
        }
        out
    }
}

/// Errors from registering a command.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// A command of that name already exists.
    #[error("command '{0}' is already registered")]
    Duplicate(String),
    /// The name is empty or has characters a command name cannot have.
    #[error("invalid command name '{0}'")]
    InvalidName(String),
}

/// Every command the server knows, by lower-case name.
#[derive(Default)]
pub struct CommandTable {
    by_name: HashMap<Box<[u8]>, Arc<Command>, ahash::RandomState>,
    count: usize,
}

/// Longest command name looked up without allocating.
const MAX_NAME: usize = 64;

impl CommandTable {
    /// A table of the rows of `groups` (built-in commands have no provider).
    pub fn from_groups(groups: &[&[CommandSpec]]) -> Self {
        let mut table = CommandTable::default();
        for spec in groups.iter().flat_map(|group| group.iter()) {
            if let Err(e) = table.register_spec(spec, None) {
                // Built-in names are fixed at compile time; a clash is a programming error
                // that the unit tests catch.
                tracing::error!(error = %e, "built-in command table");
            }
        }
        table
    }

    /// Adds a command described by a static spec.
    pub fn register_spec(
        &mut self,
        spec: &CommandSpec,
        provider: Option<&str>,
    ) -> Result<Arc<Command>, RegisterError> {
        let cmd = self.build(spec, None, provider);
        self.register(cmd)
    }

    fn build(
        &mut self,
        spec: &CommandSpec,
        parent: Option<&str>,
        provider: Option<&str>,
    ) -> Command {
        let name = match parent {
            Some(p) => format!("{p}|{}", spec.name),
            None => spec.name.to_string(),
        };
        let stats_index = self.count;
        self.count += 1;
        let subcommands = spec
            .subcommands
            .iter()
            .map(|s| Arc::new(self.build(s, Some(spec.name), provider)))
            .collect();
        Command {
            provider: provider.map(str::to_string),
            subcommands,
            stats_index,
            ..Command::from_spec(spec, name)
        }
    }

    /// Adds a fully built command (plugins, scripts). Its statistics slot is assigned here.
    pub fn register(&mut self, mut cmd: Command) -> Result<Arc<Command>, RegisterError> {
        let valid = !cmd.name.is_empty()
            && cmd.name.len() <= MAX_NAME
            && cmd
                .name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'|' && !b.is_ascii_uppercase());
        if !valid {
            return Err(RegisterError::InvalidName(cmd.name));
        }
        if self.by_name.contains_key(cmd.name.as_bytes()) {
            return Err(RegisterError::Duplicate(cmd.name));
        }
        if cmd.stats_index == usize::MAX {
            cmd.stats_index = self.count;
            self.count += 1;
        }
        // Fields may have been set directly, after the builders ran.
        cmd.acl_categories = cmd.implied_acl_categories();
        for sub in cmd.subcommands.iter_mut() {
            if let Some(sub) = Arc::get_mut(sub) {
                sub.acl_categories = sub.implied_acl_categories();
            }
            // Just built by the caller, so not shared yet.
            if let Some(sub) = Arc::get_mut(sub).filter(|s| s.stats_index == usize::MAX) {
                sub.stats_index = self.count;
                self.count += 1;
            }
        }
        let cmd = Arc::new(cmd);
        self.by_name
            .insert(cmd.name.as_bytes().into(), Arc::clone(&cmd));
        Ok(cmd)
    }

    /// Renames a command as Redis's `rename-command` does: it is found under `new` only (and
    /// keeps its own name in COMMAND's replies and error texts); `None` disables it.
    pub fn rename(&mut self, old: &str, new: Option<&str>) -> Result<(), String> {
        let old = old.to_ascii_lowercase();
        if let Some(new) = new {
            if self.get(new.as_bytes()).is_some() {
                return Err(format!(
                    "cannot rename '{old}' to '{new}': that name is taken"
                ));
            }
        }
        let Some(cmd) = self.by_name.remove(old.as_bytes()) else {
            return Err(format!("no such command '{old}'"));
        };
        if let Some(new) = new {
            self.by_name
                .insert(new.to_ascii_lowercase().into_bytes().into(), cmd);
        }
        Ok(())
    }

    /// Removes a command (plugin unload); returns it if it existed.
    pub fn unregister(&mut self, name: &str) -> Option<Arc<Command>> {
        self.by_name.remove(name.as_bytes())
    }

    /// Looks up a command by name, case-insensitively, without allocating.
    pub fn get(&self, name: &[u8]) -> Option<&Arc<Command>> {
        if name.len() > MAX_NAME {
            return None;
        }
        let mut buf = [0u8; MAX_NAME];
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&*lower)
    }

    /// Number of top-level commands.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Every top-level command, sorted by name.
    pub fn iter_sorted(&self) -> Vec<&Arc<Command>> {
        let mut all: Vec<_> = self.by_name.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Number of statistics slots handed out (commands and subcommands, ever registered).
    pub fn stats_slots(&self) -> usize {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler() -> Handler {
        Arc::new(|_: &mut crate::engine::Ctx<'_>, _: &[Bytes]| crate::protocol::Reply::Null)
    }

    #[test]
    fn step_key_positions_follow_first_last_and_step() {
        let positions = |first, last, step, argc| {
            Command::new("x", -1, handler())
                .keys(first, last, step)
                .step_key_positions(argc)
                .collect::<Vec<_>>()
        };
        assert_eq!(positions(1, 1, 1, 2), [1]); // GET k
        assert_eq!(positions(1, 1, 1, 3), [1]); // SET k v
        assert_eq!(positions(1, -1, 2, 7), [1, 3, 5]); // MSET k v k v k v
        assert_eq!(positions(1, -1, 1, 4), [1, 2, 3]); // DEL a b c
        assert_eq!(positions(2, 3, 1, 3), [2]); // cut short by argc
        assert_eq!(positions(0, 0, 0, 3), Vec::<usize>::new()); // no keys
        assert_eq!(positions(1, 1, 1, 1), Vec::<usize>::new()); // no arguments
    }
}
