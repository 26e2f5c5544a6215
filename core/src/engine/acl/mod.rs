//! Access control as Redis 7: users ([`user`]), the rules that shape them, the check each
//! command passes ([`check`]), the denial log ([`log`]), and where users come from
//! ([`source`]: the TOML file's `[[acl.users]]` or an aclfile).
//!
//! Each client holds an `Arc` of the user it runs as; changing a user swaps in a new value
//! for every client of that user. A user allowed everything (`default` as shipped: `on
//! nopass ~* &* +@all`) has [`User::unrestricted`] set, and the dispatch path then skips the
//! check: one load and one branch per command.

pub mod categories;
pub mod check;
pub mod key_access;
pub mod log;
pub mod source;
pub mod user;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use self::check::Denied;
use self::user::User;
use super::client::ClientState;
use super::table::Command;
use super::Engine;

/// The users, by name, and the denial log.
#[derive(Debug)]
pub struct Acl {
    users: BTreeMap<String, Arc<User>>,
    /// ACL LOG.
    pub log: log::AclLog,
}

impl Default for Acl {
    fn default() -> Self {
        let mut users = BTreeMap::new();
        users.insert("default".to_string(), unrestricted_default());
        Acl {
            users,
            log: log::AclLog::default(),
        }
    }
}

/// The `default` user of a server without ACL configuration, shared by every client created
/// before the executor assigns it its user (and by internal clients).
pub fn unrestricted_default() -> Arc<User> {
    static DEFAULT: OnceLock<Arc<User>> = OnceLock::new();
    Arc::clone(DEFAULT.get_or_init(|| Arc::new(User::default_user())))
}

impl Acl {
    /// A user by name.
    pub fn get(&self, name: &str) -> Option<&Arc<User>> {
        self.users.get(name)
    }

    /// The `default` user (always present).
    pub fn default_user(&self) -> Arc<User> {
        self.users
            .get("default")
            .cloned()
            .unwrap_or_else(unrestricted_default)
    }

    /// Every user, by name.
    pub fn users(&self) -> impl Iterator<Item = &Arc<User>> {
        self.users.values()
    }
}

/// Where a command was checked, as ACL LOG's `context` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Sent by the client.
    Toplevel,
    /// Queued in MULTI and run by EXEC.
    Multi,
    /// `redis.call` in a script.
    Lua,
    /// A plugin's `call`.
    Module,
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
            Context::Module => "module",
        }
    }
}

impl Engine {
    /// `acl-pubsub-default`: whether new users get `allchannels`.
    pub(crate) fn acl_allchannels_default(&self) -> bool {
        self.config.redis_param("acl-pubsub-default").as_deref() == Some("allchannels")
    }

    /// `acllog-max-len`.
    pub(crate) fn acl_log_max_len(&self) -> usize {
        self.config
            .redis_param("acllog-max-len")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(128)
    }

    /// What the command table says of a command (`get`) or subcommand (`config|get`) a rule
    /// names.
    pub(crate) fn acl_command_known(&self, name: &str) -> user::Known {
        let cmd = match name.split_once('|') {
            None => self.commands.get(name.as_bytes()),
            Some((parent, sub)) => self
                .commands
                .get(parent.as_bytes())
                .and_then(|c| c.subcommand(sub.as_bytes())),
        };
        match cmd {
            None => user::Known::Unknown,
            Some(c) if !c.subcommands.is_empty() => user::Known::Container,
            Some(c) => user::Known::Command(c.acl_categories),
        }
    }

    /// Whether new connections must authenticate: the default user is off or has passwords.
    pub(crate) fn auth_required(&self) -> bool {
        let default = self.acl.default_user();
        !(default.enabled && default.nopass)
    }

    /// Gives a new connection its user (`default`) and authentication state.
    pub(crate) fn acl_connect(&self, client: &mut ClientState) {
        client.user = self.acl.default_user();
        client.set_authenticated(!self.auth_required());
    }

    /// Checks a resolved command for the client's user; a denial is logged and returned.
    pub(crate) fn acl_check(
        &mut self,
        client: &ClientState,
        cmd: &Command,
        argv: &[Bytes],
        context: Context,
    ) -> Result<(), Denied> {
        if client.user.unrestricted {
            return Ok(());
        }
        check::check(&client.user, cmd, argv).inspect_err(|denied| {
            // A command refused while a transaction is queued is logged as `multi`.
            let context = match context {
                Context::Toplevel if client.multi.is_some() => Context::Multi,
                other => other,
            };
            let entry = log::Entry {
                count: 1,
                reason: denied.reason(),
                context: context.name(),
                object: denied.object(cmd, argv),
                username: client.user.name.clone(),
                updated_ms: crate::keyspace::now_ms(),
                client_info: client.info_line(
                    std::time::Instant::now(),
                    crate::engine::client::argv_mem(argv),
                ),
            };
            let max = self.acl_log_max_len();
            self.acl.log.record(entry, max);
        })
    }

    /// AUTH / HELLO AUTH: switches the client to `username` if the password is right and
    /// the user is on; a failure is logged (reason `auth`, object the command as sent).
    pub(crate) fn acl_authenticate(
        &mut self,
        client: &mut ClientState,
        command: &[u8],
        username: &[u8],
        password: &[u8],
    ) -> bool {
        let name = String::from_utf8_lossy(username);
        let user = self
            .acl
            .get(&name)
            .filter(|u| u.enabled && u.password_ok(password))
            .cloned();
        match user {
            Some(user) => {
                client.user = user;
                client.set_authenticated(true);
                true
            }
            None => {
                let entry = log::Entry {
                    count: 1,
                    reason: "auth",
                    context: if client.multi.is_some() {
                        Context::Multi.name()
                    } else {
                        Context::Toplevel.name()
                    },
                    object: String::from_utf8_lossy(command).into_owned(),
                    username: name.into_owned(),
                    updated_ms: crate::keyspace::now_ms(),
                    client_info: client.info_line(std::time::Instant::now(), 0),
                };
                let max = self.acl_log_max_len();
                self.acl.log.record(entry, max);
                false
            }
        }
    }

    /// Stores a new or changed user: every client of that user (`current` included) runs as
    /// the new version from its next command on.
    pub(crate) fn acl_store(&mut self, current: &mut ClientState, user: User) {
        let user = Arc::new(user);
        let name = user.name.clone();
        let current_id = current.id;
        let pubsub = &self.pubsub;
        for client in self
            .clients
            .values_mut()
            .map(|c| &mut **c)
            .chain(std::iter::once(&mut *current))
        {
            if client.user.name != name {
                continue;
            }
            client.user = Arc::clone(&user);
            // Subscriptions the user may no longer have cost the client its connection.
            let lost = client.subscribed()
                && pubsub.any_subscription(client.id, |kind, channel| {
                    let literal = kind == super::pubsub::Kind::Pattern;
                    !check::subscription_allowed(&user, channel, literal)
                });
            if lost && client.id == current_id {
                client.close_after_reply = true;
            } else if lost {
                client.shared.kill();
            }
        }
        self.acl.users.insert(name, user);
        self.acl_sync_auth();
    }

    /// Deletes a user and disconnects its clients (`current` after its reply); false if there
    /// was no such user.
    pub(crate) fn acl_delete(&mut self, current: &mut ClientState, name: &str) -> bool {
        if self.acl.users.remove(name).is_none() {
            return false;
        }
        self.disconnect_users(current, |n| n == name);
        true
    }

    /// Replaces every user (ACL LOAD, start-up): clients whose user is gone or changed are
    /// disconnected, except the default user's; the others keep going. A source without `default` gets
    /// the `default` of a server without ACLs, with `requirepass` applied.
    pub(crate) fn acl_replace(&mut self, current: &mut ClientState, users: Vec<User>) {
        let mut next: BTreeMap<String, Arc<User>> = BTreeMap::new();
        for user in users {
            let keep = self
                .acl
                .users
                .get(&user.name)
                .filter(|old| ***old == user)
                .cloned();
            next.insert(user.name.clone(), keep.unwrap_or_else(|| Arc::new(user)));
        }
        if !next.contains_key("default") {
            let mut default = User::default_user();
            apply_requirepass(&mut default, &self.config.server.requirepass);
            next.insert("default".into(), Arc::new(default));
        }
        // The default user's clients stay, as in Redis, and run as its new version.
        let gone: Vec<String> = self
            .acl
            .users
            .iter()
            .filter(|(name, _)| *name != "default")
            .filter(|(name, old)| next.get(*name).is_none_or(|new| !Arc::ptr_eq(old, new)))
            .map(|(name, _)| name.clone())
            .collect();
        self.acl.users = next;
        self.disconnect_users(current, |n| gone.iter().any(|g| g == n));
        let default = self.acl.default_user();
        for client in self
            .clients
            .values_mut()
            .map(|c| &mut **c)
            .chain(std::iter::once(&mut *current))
        {
            if client.user.name == "default" {
                client.user = Arc::clone(&default);
            }
        }
        self.acl_sync_auth();
    }

    /// `requirepass` changed (CONFIG SET): the default user's passwords become it, or
    /// `nopass` when empty, as Redis does.
    pub(crate) fn acl_requirepass_changed(&mut self) {
        let mut default = (*self.acl.default_user()).clone();
        apply_requirepass(&mut default, &self.config.server.requirepass);
        let default = Arc::new(default);
        for client in self.clients.values_mut() {
            if client.user.name == "default" {
                client.user = Arc::clone(&default);
            }
        }
        self.acl.users.insert("default".into(), default);
        self.acl_sync_auth();
    }

    fn disconnect_users(&mut self, current: &mut ClientState, gone: impl Fn(&str) -> bool) {
        for client in self.clients.values_mut() {
            if client.id != 0 && gone(&client.user.name) {
                client.shared.kill();
            }
        }
        if current.id != 0 && gone(&current.user.name) {
            current.close_after_reply = true;
        }
    }

    /// Tells new connections whether they must authenticate.
    fn acl_sync_auth(&self) {
        self.shared
            .auth_required
            .store(self.auth_required(), Ordering::Release);
    }

    /// Loads the users of the configuration at start-up: `[[acl.users]]` or the aclfile (not
    /// both), then `requirepass` for a `default` they do not define.
    pub fn load_acl(&mut self) -> Result<(), String> {
        let aclfile = self.config.redis_param("aclfile").unwrap_or_default();
        if !aclfile.is_empty() && !self.config.acl.users.is_empty() {
            return Err(
                "users are defined both in [[acl.users]] and in the aclfile; use one of them"
                    .into(),
            );
        }
        let users = if aclfile.is_empty() {
            let allchannels = self.acl_allchannels_default();
            let mut users = Vec::new();
            for u in &self.config.acl.users {
                let user = source::toml_user(
                    &u.name,
                    &u.rules,
                    &|n| self.acl_command_known(n),
                    allchannels,
                )
                .map_err(|e| format!("acl.users: {e}"))?;
                if users.iter().any(|x: &User| x.name == user.name) {
                    return Err(format!("acl.users: user '{}' is defined twice", user.name));
                }
                users.push(user);
            }
            users
        } else {
            self.read_aclfile(&aclfile, true)?
        };
        let mut internal = ClientState::internal(0);
        self.acl_replace(&mut internal, users);
        Ok(())
    }

    /// Reads and parses the aclfile; at start-up (`missing_ok`) a missing file is an empty
    /// one, which the first ACL SAVE creates.
    pub(crate) fn read_aclfile(&self, path: &str, missing_ok: bool) -> Result<Vec<User>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if missing_ok && e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("Error loading ACLs, opening file '{path}': {e}")),
        };
        let allchannels = self.acl_allchannels_default();
        source::parse_aclfile(path, &text, &|n| self.acl_command_known(n), allchannels)
    }
}

/// Sets a user's passwords to `requirepass`: `resetpass >pass`, or `nopass` when empty.
fn apply_requirepass(user: &mut User, requirepass: &str) {
    let rules: &[&str] = if requirepass.is_empty() {
        &["nopass"]
    } else {
        &["resetpass"]
    };
    let _ = user.apply_all(rules.iter().copied(), &|_| user::Known::Unknown, true);
    if !requirepass.is_empty() {
        let rule = format!(">{requirepass}");
        let _ = user.apply(&rule, &|_| user::Known::Unknown, true);
    }
}
