//! An ACL user and the rules that shape it (`ACL SETUSER`'s modifiers), parsed and described
//! as Redis 7 does: `on`/`off`, passwords (`>p`, `<p`, `#hash`, `!hash`, `nopass`,
//! `resetpass`), commands (`+@cat`, `-@cat`, `+cmd`, `-cmd`, `+cmd|sub`, `allcommands`,
//! `nocommands`), keys (`~p`, `%R~p`, `%W~p`, `%RW~p`, `allkeys`, `resetkeys`), channels
//! (`&p`, `allchannels`, `resetchannels`), `reset`.
//!
//! A user is a value: `ACL SETUSER` applies the rules to a copy and swaps it in, so that a
//! rule that fails changes nothing, and clients hold an `Arc` of the version they run as.

use super::categories;

/// SHA-256 of a password, as `#<hex>` shows it.
pub type PasswordHash = [u8; 32];

/// Hashes a clear-text password.
pub fn hash_password(password: &[u8]) -> PasswordHash {
    use sha2::Digest;
    sha2::Sha256::digest(password).into()
}

/// Lower-case hex of a hash.
pub fn hex(hash: &PasswordHash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(text: &str) -> Option<PasswordHash> {
    if text.len() != 64
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// What a command rule names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `@name`: the category's bit (every bit for `@all`) and its name.
    Category(u64, String),
    /// A command (`get`) or a subcommand (`config|get`), lower case.
    Command(String),
}

/// What the command table says of a name a command rule gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// No such command or subcommand.
    Unknown,
    /// A command with subcommands: a rule for it covers them all.
    Container,
    /// A command or subcommand, with its ACL category mask.
    Command(u64),
}

/// Looks a command (`get`) or subcommand (`config|get`) up.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Known;

/// One `+...` or `-...` command rule, applied in order after the base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRule {
    /// `+` (allow) or `-` (deny).
    pub allow: bool,
    /// What it applies to.
    pub target: Target,
}

/// A key pattern and the access it grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    /// The glob.
    pub pattern: String,
    /// `%R~`.
    pub read: bool,
    /// `%W~`.
    pub write: bool,
}

/// What a user may run and touch: the root permissions of a user, or one of its selectors
/// (`(...)`), each checked on its own: a command runs if the root or any selector allows all
/// of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// The base the command rules start from: `+@all` (true) or `-@all`.
    pub allcommands: bool,
    /// Command rules after the base, in order; the last that matches decides.
    pub command_rules: Vec<CommandRule>,
    /// `allkeys` (`~*`).
    pub allkeys: bool,
    /// Key patterns, when not `allkeys`.
    pub keys: Vec<KeyPattern>,
    /// `allchannels` (`&*`).
    pub allchannels: bool,
    /// Channel patterns, when not `allchannels`.
    pub channels: Vec<String>,
}

/// An ACL user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The name.
    pub name: String,
    /// `on` / `off`.
    pub enabled: bool,
    /// `nopass`: any password authenticates.
    pub nopass: bool,
    /// SHA-256 of each password, in the order added.
    pub passwords: Vec<PasswordHash>,
    /// `sanitize-payload` / `skip-sanitize-payload` (accepted and shown, as Redis does).
    pub sanitize_payload: Option<bool>,
    /// The root permissions.
    pub root: Selector,
    /// Further selectors (`(~k* +get)`), in the order added.
    pub selectors: Vec<Selector>,
    /// Computed: every command, key and channel is allowed, so checks can be skipped.
    pub unrestricted: bool,
}

/// Why a rule was refused: Redis's texts after `Error in ACL SETUSER modifier '...': `.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    /// ENOENT.
    UnknownCommand,
    /// EINVAL.
    Syntax,
    /// EEXIST.
    AfterAllKeys,
    /// EISDIR.
    AfterAllChannels,
    /// ENODEV.
    NoSuchPassword,
    /// EBADMSG.
    BadHash,
}

impl RuleError {
    /// Redis's description.
    pub fn message(self) -> &'static str {
        match self {
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::AfterAllKeys => {
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and \
                 does not have any effect. Try 'resetkeys' to start with an empty list of \
                 patterns"
            }
            RuleError::AfterAllChannels => {
                "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid \
                 and does not have any effect. Try 'resetchannels' to start with an empty list \
                 of channels"
            }
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            RuleError::BadHash => {
                "The password hash must be exactly 64 characters and contain only lowercase \
                 hexadecimal characters"
            }
        }
    }
}

impl User {
    /// A new user as `ACL SETUSER name` creates it: off, no passwords, no commands, no keys,
    /// and channels as `acl-pubsub-default` says.
    pub fn new(name: &str, allchannels: bool) -> User {
        let mut user = User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            sanitize_payload: None,
            root: Selector::new(allchannels),
            selectors: Vec::new(),
            unrestricted: false,
        };
        user.refresh();
        user
    }

    /// The `default` user of a server without ACL configuration: `on nopass ~* &* +@all`.
    pub fn default_user() -> User {
        let mut user = User::new("default", true);
        user.enabled = true;
        user.nopass = true;
        user.root.allcommands = true;
        user.root.allkeys = true;
        user.refresh();
        user
    }

    /// Recomputes [`Self::unrestricted`].
    fn refresh(&mut self) {
        let r = &self.root;
        self.unrestricted =
            r.allcommands && r.command_rules.is_empty() && r.allkeys && r.allchannels;
    }

    /// Applies the rules in order; on an error returns the rule that failed and why, and the
    /// caller keeps the user it had. `known` says whether a command (`get`) or subcommand
    /// (`config|get`) exists; `allchannels` is what `reset` restores (acl-pubsub-default).
    pub fn apply_all<'r>(
        &mut self,
        rules: impl IntoIterator<Item = &'r str>,
        known: Lookup<'_>,
        allchannels: bool,
    ) -> Result<(), (&'r str, RuleError)> {
        for rule in rules {
            self.apply(rule, known, allchannels)
                .map_err(|e| (rule, e))?;
        }
        Ok(())
    }

    /// Applies one rule (see [`Self::apply_all`]).
    pub fn apply(
        &mut self,
        rule: &str,
        known: Lookup<'_>,
        default_allchannels: bool,
    ) -> Result<(), RuleError> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "sanitize-payload" => self.sanitize_payload = Some(true),
            "skip-sanitize-payload" => self.sanitize_payload = Some(false),
            "clearselectors" => self.selectors.clear(),
            "reset" => {
                let name = std::mem::take(&mut self.name);
                *self = User::new(&name, default_allchannels);
                self.sanitize_payload = Some(true);
            }
            _ => match rule.as_bytes()[0] {
                b'>' => self.add_password(hash_password(&rule.as_bytes()[1..])),
                b'<' => self.remove_password(&hash_password(&rule.as_bytes()[1..]))?,
                b'#' => self.add_password(parse_hex(&rule[1..]).ok_or(RuleError::BadHash)?),
                b'!' => self.remove_password(&parse_hex(&rule[1..]).ok_or(RuleError::BadHash)?)?,
                b'(' if rule.ends_with(')') => {
                    let mut selector = Selector::new(default_allchannels);
                    for inner in rule[1..rule.len() - 1].split_whitespace() {
                        selector.apply(inner, known)?;
                    }
                    self.selectors.push(selector);
                }
                _ => self.root.apply(rule, known)?,
            },
        }
        self.refresh();
        Ok(())
    }

    fn add_password(&mut self, hash: PasswordHash) {
        self.nopass = false;
        if !self.passwords.contains(&hash) {
            self.passwords.push(hash);
        }
    }

    fn remove_password(&mut self, hash: &PasswordHash) -> Result<(), RuleError> {
        let before = self.passwords.len();
        self.passwords.retain(|h| h != hash);
        if self.passwords.len() == before {
            return Err(RuleError::NoSuchPassword);
        }
        self.nopass = false;
        Ok(())
    }

    /// Whether `password` authenticates this user (not whether the user is on).
    pub fn password_ok(&self, password: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let hash = hash_password(password);
        // Compared in full for every stored hash, so timing says nothing about which matched.
        let mut ok = false;
        for h in &self.passwords {
            let diff = h.iter().zip(hash.iter()).fold(0u8, |d, (a, b)| d | (a ^ b));
            ok |= diff == 0;
        }
        ok
    }

    /// The flags `ACL GETUSER` lists.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut out = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            out.push("nopass");
        }
        match self.sanitize_payload {
            Some(true) => out.push("sanitize-payload"),
            Some(false) => out.push("skip-sanitize-payload"),
            None => {}
        }
        out
    }

    /// The user as one `ACL LIST` / aclfile line (`user alice on #... ~* &* +@all`).
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("user {}", self.name)];
        parts.extend(self.flags().iter().map(|f| f.to_string()));
        parts.extend(self.passwords.iter().map(|h| format!("#{}", hex(h))));
        parts.push(self.root.describe());
        for selector in &self.selectors {
            parts.push(format!("({})", selector.describe()));
        }
        parts.join(" ")
    }
}

impl Selector {
    /// No commands, no keys, and channels as `acl-pubsub-default` says.
    pub fn new(allchannels: bool) -> Selector {
        Selector {
            allcommands: false,
            command_rules: Vec::new(),
            allkeys: false,
            keys: Vec::new(),
            allchannels,
            channels: Vec::new(),
        }
    }

    /// Applies a command, key or channel rule; anything else is a syntax error.
    pub fn apply(&mut self, rule: &str, known: Lookup<'_>) -> Result<(), RuleError> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_str() {
            "allkeys" => self.set_allkeys(),
            "resetkeys" => {
                self.allkeys = false;
                self.keys.clear();
            }
            "allchannels" => self.set_allchannels(),
            "resetchannels" => {
                self.allchannels = false;
                self.channels.clear();
            }
            "allcommands" | "+@all" => {
                self.allcommands = true;
                self.command_rules.clear();
            }
            "nocommands" | "-@all" => {
                self.allcommands = false;
                self.command_rules.clear();
            }
            _ => self.apply_prefixed(rule, &lower, known)?,
        }
        Ok(())
    }

    fn apply_prefixed(
        &mut self,
        rule: &str,
        lower: &str,
        known: Lookup<'_>,
    ) -> Result<(), RuleError> {
        match rule.as_bytes().first() {
            Some(b'~') => self.add_key(&rule[1..], true, true)?,
            Some(b'%') => {
                let Some((perms, pattern)) = rule[1..].split_once('~') else {
                    return Err(RuleError::Syntax);
                };
                let (mut read, mut write) = (false, false);
                for c in perms.bytes() {
                    match c.to_ascii_uppercase() {
                        b'R' => read = true,
                        b'W' => write = true,
                        _ => return Err(RuleError::Syntax),
                    }
                }
                if !read && !write {
                    return Err(RuleError::Syntax);
                }
                self.add_key(pattern, read, write)?;
            }
            Some(b'&') => {
                let pattern = &rule[1..];
                if pattern == "*" {
                    self.set_allchannels();
                } else if self.allchannels {
                    return Err(RuleError::AfterAllChannels);
                } else if !self.channels.iter().any(|c| c == pattern) {
                    self.channels.push(pattern.to_string());
                }
            }
            Some(&sign @ (b'+' | b'-')) => {
                let allow = sign == b'+';
                let name = &lower[1..];
                if let Some(category) = name.strip_prefix('@') {
                    let bit = categories::bit(category).ok_or(RuleError::UnknownCommand)?;
                    self.command_rules.push(CommandRule {
                        allow,
                        target: Target::Category(bit, category.to_string()),
                    });
                } else {
                    let info = if name.is_empty() {
                        Known::Unknown
                    } else {
                        known(name)
                    };
                    if info == Known::Unknown {
                        return Err(RuleError::UnknownCommand);
                    }
                    // A rule for a command replaces earlier ones for it and its subcommands.
                    let sub_prefix = format!("{name}|");
                    self.command_rules.retain(|r| match &r.target {
                        Target::Command(c) => c != name && !c.starts_with(&sub_prefix),
                        Target::Category(..) => true,
                    });
                    // A rule that changes nothing is not kept: Redis applies rules to a
                    // bitmap at once, and its description shows only what they changed.
                    if let Known::Command(categories) = info {
                        if self.allows(name, categories) == allow {
                            return Ok(());
                        }
                    }
                    self.command_rules.push(CommandRule {
                        allow,
                        target: Target::Command(name.to_string()),
                    });
                }
            }
            _ => return Err(RuleError::Syntax),
        }
        Ok(())
    }

    fn set_allkeys(&mut self) {
        self.allkeys = true;
        self.keys.clear();
    }

    fn set_allchannels(&mut self) {
        self.allchannels = true;
        self.channels.clear();
    }

    fn add_key(&mut self, pattern: &str, read: bool, write: bool) -> Result<(), RuleError> {
        if self.allkeys {
            return Err(RuleError::AfterAllKeys);
        }
        if pattern == "*" && read && write {
            self.set_allkeys();
            return Ok(());
        }
        match self.keys.iter_mut().find(|k| k.pattern == pattern) {
            Some(k) => {
                k.read |= read;
                k.write |= write;
            }
            None => self.keys.push(KeyPattern {
                pattern: pattern.to_string(),
                read,
                write,
            }),
        }
        Ok(())
    }

    /// Whether the command or subcommand `name` (full name, `config|get`) with these ACL
    /// categories is allowed: the base, then every rule that names it, its parent or one of
    /// its categories, the last deciding.
    pub fn allows(&self, name: &str, categories: u64) -> bool {
        let mut allowed = self.allcommands;
        for rule in &self.command_rules {
            let matches = match &rule.target {
                Target::Category(bit, _) => categories & bit != 0,
                Target::Command(c) => {
                    name == c
                        || (name.len() > c.len()
                            && name.starts_with(c.as_str())
                            && name.as_bytes()[c.len()] == b'|')
                }
            };
            if matches {
                allowed = rule.allow;
            }
        }
        allowed
    }

    /// The command rules as `ACL GETUSER` and `ACL LIST` show them (`+@all -debug`).
    pub fn describe_commands(&self) -> String {
        let mut out = String::from(if self.allcommands { "+@all" } else { "-@all" });
        for rule in &self.command_rules {
            out.push(' ');
            out.push(if rule.allow { '+' } else { '-' });
            match &rule.target {
                Target::Category(_, name) => {
                    out.push('@');
                    out.push_str(name);
                }
                Target::Command(name) => out.push_str(name),
            }
        }
        out
    }

    /// The key patterns as `ACL GETUSER` shows them (`~k* %R~r*`), empty when none.
    pub fn describe_keys(&self) -> String {
        if self.allkeys {
            return "~*".into();
        }
        let parts: Vec<String> = self
            .keys
            .iter()
            .map(|k| match (k.read, k.write) {
                (true, true) => format!("~{}", k.pattern),
                (true, false) => format!("%R~{}", k.pattern),
                _ => format!("%W~{}", k.pattern),
            })
            .collect();
        parts.join(" ")
    }

    /// The channel patterns as `ACL GETUSER` shows them (`&ch*`), empty when none.
    pub fn describe_channels(&self) -> String {
        if self.allchannels {
            return "&*".into();
        }
        let parts: Vec<String> = self.channels.iter().map(|c| format!("&{c}")).collect();
        parts.join(" ")
    }

    /// Keys, channels and commands as `ACL LIST` shows them (`~k* resetchannels -@all +get`).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let keys = self.describe_keys();
        if !keys.is_empty() {
            parts.push(keys);
        }
        if !self.allchannels {
            parts.push("resetchannels".into());
        }
        let channels = self.describe_channels();
        if !channels.is_empty() {
            parts.push(channels);
        }
        parts.push(self.describe_commands());
        parts.join(" ")
    }
}

/// Joins the arguments of a selector split across several (`(~k*`, `+get)`) into one, as
/// Redis does; the error is Redis's, for an unclosed one.
pub fn merge_selectors<S: AsRef<str>>(args: &[S]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut open: Option<String> = None;
    for arg in args {
        let arg = arg.as_ref();
        match open.as_mut() {
            Some(acc) => {
                acc.push(' ');
                acc.push_str(arg);
                if arg.ends_with(')') {
                    out.extend(open.take());
                }
            }
            None if arg.starts_with('(') && !arg.ends_with(')') => open = Some(arg.to_string()),
            None => out.push(arg.to_string()),
        }
    }
    match open {
        Some(acc) => {
            let first = acc.split(' ').next().unwrap_or_default().to_string();
            Err(format!(
                "ERR Unmatched parenthesis in acl selector starting at '{first}'."
            ))
        }
        None => Ok(out),
    }
}

/// Whether a name may be a user name (no spaces or NUL, as Redis).
pub fn valid_name(name: &[u8]) -> bool {
    !name.iter().any(|&b| b == b' ' || b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(name: &str) -> Known {
        let bit = |n| categories::bit(n).unwrap_or(0);
        match name {
            "get" => Known::Command(bit("read") | bit("string") | bit("fast")),
            "set" => Known::Command(bit("write") | bit("string") | bit("slow")),
            "debug" | "config|get" => Known::Command(bit("admin") | bit("slow")),
            "config" => Known::Container,
            _ => Known::Unknown,
        }
    }

    fn user(rules: &str) -> Result<User, (String, RuleError)> {
        let mut u = User::new("u", false);
        let words: Vec<&str> = rules.split_whitespace().collect();
        let rules = merge_selectors(&words).map_err(|e| (e, RuleError::Syntax))?;
        u.apply_all(rules.iter().map(String::as_str), &known, false)
            .map_err(|(r, e)| (r.to_string(), e))?;
        Ok(u)
    }

    #[test]
    fn sha256_of_passwords() {
        assert_eq!(
            hex(&hash_password(b"pw")),
            "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"
        );
    }

    #[test]
    fn describes_as_redis() {
        assert_eq!(
            user("on >pw ~k* %W~w* %R~r* &ch* +@read +set")
                .unwrap()
                .describe(),
            "user u on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 \
             ~k* %W~w* %R~r* resetchannels &ch* -@all +@read +set"
        );
        assert_eq!(
            user("").unwrap().describe(),
            "user u off resetchannels -@all"
        );
        assert_eq!(
            user("reset").unwrap().describe(),
            "user u off sanitize-payload resetchannels -@all"
        );
        assert_eq!(
            user("on nopass allkeys allchannels allcommands -debug")
                .unwrap()
                .describe(),
            "user u on nopass ~* &* +@all -debug"
        );
        assert_eq!(
            User::default_user().describe(),
            "user default on nopass ~* &* +@all"
        );
        assert!(User::default_user().unrestricted);
        assert!(
            !user("on nopass allkeys allchannels allcommands -debug")
                .unwrap()
                .unrestricted
        );
    }

    #[test]
    fn passwords() {
        let u = user(">x >y <x").unwrap();
        assert!(u.password_ok(b"y") && !u.password_ok(b"x"));
        assert_eq!(u.passwords.len(), 1);
        let u = user("nopass").unwrap();
        assert!(u.password_ok(b"anything"));
        let u = user("nopass >a").unwrap();
        assert!(!u.nopass && u.password_ok(b"a") && !u.password_ok(b"b"));
        let hash = hex(&hash_password(b"h"));
        let u = user(&format!("#{hash}")).unwrap();
        assert!(u.password_ok(b"h"));
        assert!(user(&format!("#{hash} !{hash}"))
            .unwrap()
            .passwords
            .is_empty());
        assert_eq!(user("<nope").unwrap_err().1, RuleError::NoSuchPassword);
        assert_eq!(user("#abc").unwrap_err().1, RuleError::BadHash);
        assert_eq!(
            user(&format!("#{}", hash.to_uppercase())).unwrap_err().1,
            RuleError::BadHash
        );
        assert!(user(">a resetpass").unwrap().passwords.is_empty());
    }

    #[test]
    fn errors() {
        assert_eq!(
            user("+nosuch").unwrap_err(),
            ("+nosuch".into(), RuleError::UnknownCommand)
        );
        assert_eq!(user("+@nosuch").unwrap_err().1, RuleError::UnknownCommand);
        assert_eq!(user("bogus").unwrap_err().1, RuleError::Syntax);
        assert_eq!(user("allkeys ~x").unwrap_err().1, RuleError::AfterAllKeys);
        assert_eq!(user("&* &x").unwrap_err().1, RuleError::AfterAllChannels);
        assert_eq!(user("%X~a").unwrap_err().1, RuleError::Syntax);
        assert_eq!(
            user("+config|nosuch").unwrap_err().1,
            RuleError::UnknownCommand
        );
    }

    #[test]
    fn command_rules_replace_earlier_ones() {
        let u = user("+config|get -config +get -get +@read").unwrap();
        assert_eq!(u.root.describe_commands(), "-@all -config +@read");
        // Rules that change nothing are dropped, as in Redis's description.
        let u = user("+@read -get +get -config|get +set").unwrap();
        assert_eq!(u.root.describe_commands(), "-@all +@read +set");
        let u = user("+@all -@read +get").unwrap();
        assert_eq!(u.root.describe_commands(), "+@all -@read +get");
        let u = user("+get allcommands").unwrap();
        assert_eq!(u.root.describe_commands(), "+@all");
        let u = user("+GET").unwrap();
        assert_eq!(u.root.describe_commands(), "-@all +get");
    }

    #[test]
    fn selectors() {
        let u = user("on nopass ~a* +get (~b* +set &x) (%R~c* +@read +debug)").unwrap();
        assert_eq!(
            u.describe(),
            "user u on nopass ~a* resetchannels -@all +get (~b* resetchannels &x -@all +set) \
             (%R~c* resetchannels -@all +@read +debug)"
        );
        assert_eq!(u.selectors.len(), 2);
        assert!(user("clearselectors").unwrap().selectors.is_empty());
        assert!(user("(+get) clearselectors").unwrap().selectors.is_empty());
        assert!(user("(+get) reset").unwrap().selectors.is_empty());
        assert_eq!(
            user("()").unwrap().describe(),
            "user u off resetchannels -@all (resetchannels -@all)"
        );
        assert_eq!(
            user("(>pw)").unwrap_err(),
            ("(>pw)".into(), RuleError::Syntax)
        );
        assert_eq!(user("(on)").unwrap_err().1, RuleError::Syntax);
        assert_eq!(user("(+nosuch)").unwrap_err().1, RuleError::UnknownCommand);
        assert_eq!(
            merge_selectors(&["(~x", "+get"]).unwrap_err(),
            "ERR Unmatched parenthesis in acl selector starting at '(~x'."
        );
        assert_eq!(
            merge_selectors(&["on", "(~x", "+get)", "(+set)"]).unwrap(),
            ["on", "(~x +get)", "(+set)"]
        );
    }

    #[test]
    fn key_and_channel_patterns() {
        let u = user("%RW~a %R~b %W~b ~*x resetkeys ~c").unwrap();
        assert_eq!(u.root.describe_keys(), "~c");
        let u = user("%R~b %W~b").unwrap();
        assert_eq!(u.root.describe_keys(), "~b");
        assert!(user("~*").unwrap().root.allkeys);
        assert!(!user("%R~*").unwrap().root.allkeys);
        let u = user("&a &b &a").unwrap();
        assert_eq!(u.root.describe_channels(), "&a &b");
        assert!(user("&a allchannels").unwrap().root.allchannels);
        assert!(!user("allchannels resetchannels").unwrap().root.allchannels);
    }
}
