//! Whether a user may run a command with its arguments: the command (by name and by the
//! categories of the one command table), its keys (by the table's key positions) and its
//! channels (PUBLISH, SUBSCRIBE, PSUBSCRIBE and their shard forms), in Redis's order.

use bytes::Bytes;

use super::user::{Selector, User};
use crate::engine::table::{flags, Command};
use crate::glob::glob_match;

/// Why a check failed, and what failed it (the argument index for keys and channels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// The command itself.
    Command,
    /// The key at this argument index.
    Key(usize),
    /// The channel at this argument index.
    Channel(usize),
}

impl Denied {
    /// `ACL LOG`'s reason.
    pub fn reason(self) -> &'static str {
        match self {
            Denied::Command => "command",
            Denied::Key(_) => "key",
            Denied::Channel(_) => "channel",
        }
    }

    /// `ACL LOG`'s object: the command's full name, or the key or channel.
    pub fn object(self, cmd: &Command, argv: &[Bytes]) -> String {
        match self {
            Denied::Command => cmd.name.clone(),
            Denied::Key(i) | Denied::Channel(i) => String::from_utf8_lossy(&argv[i]).into_owned(),
        }
    }

    /// The `-NOPERM` error a client gets.
    pub fn noperm(self, cmd: &Command) -> String {
        match self {
            Denied::Command => format!(
                "NOPERM this user has no permissions to run the '{}' command",
                cmd.name
            ),
            Denied::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .into()
            }
            Denied::Channel(_) => {
                "NOPERM this user has no permissions to access one of the channels used as \
                 arguments"
                    .into()
            }
        }
    }

    /// The error of a queued command that EXEC finds no longer allowed.
    pub fn exec_error(self) -> String {
        let reason = match self {
            Denied::Command => "no permission to execute the command or subcommand",
            Denied::Key(_) => "no permission to touch the specified keys",
            Denied::Channel(_) => "no permission to access one of the channels used as arguments",
        };
        format!(
            "NOPERM ACLs rules changed between the moment the transaction was accumulated and \
             the EXEC call. This command is no longer allowed for the following reason: {reason}"
        )
    }

    /// The error `redis.call` raises in a script.
    pub fn script_error(self) -> &'static str {
        match self {
            Denied::Command => {
                "ERR The user executing the script can't run this command or subcommand"
            }
            Denied::Key(_) => {
                "ERR The user executing the script can't access at least one of the keys \
                 mentioned in the command arguments"
            }
            Denied::Channel(_) => {
                "ERR The user executing the script can't publish to the channel mentioned in \
                 the command"
            }
        }
    }

    /// `ACL DRYRUN`'s answer.
    pub fn dryrun(self, cmd: &Command, argv: &[Bytes]) -> String {
        match self {
            Denied::Command => format!(
                "This user has no permissions to run the '{}' command",
                cmd.name
            ),
            Denied::Key(_) => format!(
                "This user has no permissions to access the '{}' key",
                self.object(cmd, argv)
            ),
            Denied::Channel(_) => format!(
                "This user has no permissions to access the '{}' channel",
                self.object(cmd, argv)
            ),
        }
    }
}

/// Checks `argv` (already resolved to `cmd`) against `user`: allowed if the root or any
/// selector allows all of it. Otherwise the most relevant denial is reported, as Redis picks
/// it: a channel over a key over the command, and a later argument over an earlier one.
pub fn check(user: &User, cmd: &Command, argv: &[Bytes]) -> Result<(), Denied> {
    if user.unrestricted {
        return Ok(());
    }
    let mut worst = Denied::Command;
    for selector in std::iter::once(&user.root).chain(&user.selectors) {
        match check_selector(selector, cmd, argv) {
            Ok(()) => return Ok(()),
            Err(denied) => {
                if denied.relevance() > worst.relevance() {
                    worst = denied;
                }
            }
        }
    }
    Err(worst)
}

impl Denied {
    /// Redis's ranking of denials across selectors.
    fn relevance(self) -> (u8, usize) {
        match self {
            Denied::Command => (1, 0),
            Denied::Key(i) => (2, i),
            Denied::Channel(i) => (4, i),
        }
    }
}

fn check_selector(selector: &Selector, cmd: &Command, argv: &[Bytes]) -> Result<(), Denied> {
    if !command_allowed(selector, cmd) {
        return Err(Denied::Command);
    }
    if !selector.allkeys
        && (cmd.first_key > 0 || cmd.numkeys_at > 0 || cmd.has(flags::MOVABLE_KEYS))
    {
        let (first, rest) = super::key_access::key_access(cmd, argv);
        for (n, i) in cmd.key_positions(argv).into_iter().enumerate() {
            let (read, write) = if n == 0 { first } else { rest };
            if !key_allowed(selector, &argv[i], read, write) {
                return Err(Denied::Key(i));
            }
        }
    }
    if !selector.allchannels {
        check_channels(selector, cmd, argv)?;
    }
    Ok(())
}

/// Whether a root or selector that allows `argv` also reads every key (`~*`, or a `*` pattern
/// with read access): SORT's BY and GET read keys no argument names, so Redis allows them only
/// then.
pub fn reads_every_key(user: &User, cmd: &Command, argv: &[Bytes]) -> bool {
    user.unrestricted
        || std::iter::once(&user.root).chain(&user.selectors).any(|s| {
            check_selector(s, cmd, argv).is_ok()
                && (s.allkeys || s.keys.iter().any(|k| k.read && k.pattern == "*"))
        })
}

/// Whether the selector allows the command, whatever its arguments. Commands that need no
/// authentication (AUTH, HELLO, QUIT, ...) are always allowed, as in Redis.
pub fn command_allowed(selector: &Selector, cmd: &Command) -> bool {
    if cmd.has(flags::NO_AUTH) {
        return true;
    }
    selector.allows(&cmd.name, cmd.acl_categories)
}

fn key_allowed(user: &Selector, key: &[u8], read: bool, write: bool) -> bool {
    user.keys.iter().any(|k| {
        (k.read || !read) && (k.write || !write) && glob_match(k.pattern.as_bytes(), key, false)
    })
}

fn check_channels(user: &Selector, cmd: &Command, argv: &[Bytes]) -> Result<(), Denied> {
    let (from, literal) = match cmd.name.as_str() {
        "publish" | "spublish" => {
            let ok = argv.len() < 2 || channel_allowed(user, &argv[1], false);
            return if ok { Ok(()) } else { Err(Denied::Channel(1)) };
        }
        "subscribe" | "ssubscribe" => (1, false),
        "psubscribe" => (1, true),
        _ => return Ok(()),
    };
    for (i, channel) in argv.iter().enumerate().skip(from) {
        if !channel_allowed(user, channel, literal) {
            return Err(Denied::Channel(i));
        }
    }
    Ok(())
}

/// A channel is allowed if a pattern matches it; a pattern (PSUBSCRIBE) only if it is one of
/// the user's patterns, literally.
fn channel_allowed(user: &Selector, channel: &[u8], literal: bool) -> bool {
    user.allchannels
        || user.channels.iter().any(|p| {
            if literal {
                p.as_bytes() == channel
            } else {
                glob_match(p.as_bytes(), channel, false)
            }
        })
}

/// Whether a subscription (`literal` for a pattern) stays allowed for the user: some selector
/// allows all channels or has a pattern that matches it. A client subscribed to anything else
/// is disconnected when its user changes, as Redis does.
pub fn subscription_allowed(user: &User, channel: &[u8], literal: bool) -> bool {
    std::iter::once(&user.root)
        .chain(&user.selectors)
        .any(|s| channel_allowed(s, channel, literal))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::acl::user::Known;
    use crate::protocol::Reply;

    fn command(name: &str, fl: u32, cats: &[&str], keys: (i32, i32, i32)) -> Command {
        let handler: crate::engine::table::Handler = Arc::new(|_, _| Reply::Null);
        Command::new(name, -1, handler)
            .flags(fl)
            .categories(cats.iter().copied())
            .keys(keys.0, keys.1, keys.2)
    }

    fn user(rules: &str) -> User {
        let known = |name: &str| match name {
            "get" | "set" | "xread" => Known::Command(0),
            _ => Known::Unknown,
        };
        let mut u = User::new("u", false);
        let words: Vec<&str> = rules.split_whitespace().collect();
        let rules = super::super::user::merge_selectors(&words).unwrap();
        u.apply_all(rules.iter().map(String::as_str), &known, false)
            .unwrap();
        u
    }

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn commands_keys_and_channels() {
        let get = command("get", flags::READONLY, &["read", "string"], (1, 1, 1));
        let set = command("set", flags::WRITE, &["write", "string"], (1, 1, 1));
        let publish = command("publish", flags::PUBSUB, &["pubsub"], (0, 0, 0));
        let u = user("+@read %R~r* %W~w* &ch*");
        assert_eq!(check(&u, &get, &argv(&["get", "r1"])), Ok(()));
        assert_eq!(check(&u, &get, &argv(&["get", "w1"])), Err(Denied::Key(1)));
        assert_eq!(
            check(&u, &set, &argv(&["set", "w1", "v"])),
            Err(Denied::Command)
        );
        let u = user("+@all %W~w* &ch*");
        assert_eq!(check(&u, &set, &argv(&["set", "w1", "v"])), Ok(()));
        assert_eq!(
            check(&u, &set, &argv(&["set", "w1", "v", "GET"])),
            Err(Denied::Key(1))
        );
        assert_eq!(check(&u, &publish, &argv(&["publish", "ch1", "m"])), Ok(()));
        assert_eq!(
            check(&u, &publish, &argv(&["publish", "x", "m"])),
            Err(Denied::Channel(1))
        );
    }

    #[test]
    fn selectors_report_the_most_relevant_denial() {
        let get = command("get", flags::READONLY, &["read"], (1, 1, 1));
        let set = command("set", flags::WRITE, &["write"], (1, 1, 1));
        let u = user("~a* +get (~b* +set)");
        assert_eq!(check(&u, &set, &argv(&["set", "b", "1"])), Ok(()));
        // The root refuses the command, the selector the key: the key is reported.
        assert_eq!(
            check(&u, &set, &argv(&["set", "a", "1"])),
            Err(Denied::Key(1))
        );
        assert_eq!(check(&u, &get, &argv(&["get", "b"])), Err(Denied::Key(1)));
    }

    #[test]
    fn movable_keys_the_table_cannot_place() {
        let xread = command(
            "xread",
            flags::READONLY | flags::MOVABLE_KEYS,
            &[],
            (0, 0, 0),
        );
        let args = argv(&["xread", "COUNT", "1", "STREAMS", "s1", "s2", "0", "0"]);
        assert_eq!(xread.key_positions(&args), vec![4, 5]);
        let u = user("+xread %R~s1");
        assert_eq!(check(&u, &xread, &args), Err(Denied::Key(5)));
    }
}
