//! Client-side caching (CLIENT TRACKING), as Redis 7.0 does it.
//!
//! - Default mode: the keys a tracking client reads (the key arguments of read-only commands,
//!   taken from the command table's key specs) are remembered in the tracking table, key ->
//!   clients. When such a key changes (a write, its expiry, RENAME), every client that read it
//!   gets one invalidation message and the key leaves the table until it is read again.
//! - BCAST: no table; every key changed under one of the client's prefixes is collected and
//!   sent at the end of the batch, one message per prefix.
//! - OPTIN / OPTOUT: reads are remembered only after (or unless) CLIENT CACHING YES (NO).
//! - NOLOOP: no message about keys the client changed itself.
//! - REDIRECT id: messages go to another connection: as a RESP3 push, or in RESP2 as a
//!   `__redis__:invalidate` message if that connection is subscribed; when it is gone, a RESP3
//!   client gets `tracking-redir-broken`.
//!
//! Messages are `invalidate` pushes with an array of keys, or a null after FLUSHDB/FLUSHALL.
//! The keyspace reports changed keys (see `keyspace::watch`) only while tracking is in use, so
//! clients that do not track pay nothing, and a reading client pays only when it tracks.
//!
//! The table is bounded by `tracking-table-max-keys`: past it, the keys tracked longest ago
//! are dropped with an invalidation, as if they had changed (Redis picks them at random).
//!
//! A message for the connection of the client whose command is running is written after the
//! command's reply, as Redis does.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use bytes::Bytes;
use hashlink::LinkedHashMap;

use super::client::{ClientId, ClientState};
use super::pubsub::PushTarget;
use super::table::{flags, Command};
use super::Engine;
use crate::protocol::{Protocol, Reply};

/// The pub/sub channel RESP2 clients receive invalidations on, through REDIRECT.
pub const INVALIDATE_CHANNEL: &str = "__redis__:invalidate";

/// One client's CLIENT TRACKING mode.
#[derive(Debug, Clone, Default)]
pub struct ClientTracking {
    /// Client the messages go to (0: this one).
    pub redirect: ClientId,
    /// BCAST mode.
    pub bcast: bool,
    /// OPTIN mode.
    pub optin: bool,
    /// OPTOUT mode.
    pub optout: bool,
    /// NOLOOP: no messages about the client's own writes.
    pub noloop: bool,
    /// CLIENT CACHING was given for the next command.
    pub caching: bool,
    /// The redirect client was found gone.
    pub broken_redirect: bool,
    /// BCAST prefixes (the empty prefix when none was given).
    pub prefixes: BTreeSet<Bytes>,
}

/// The options of CLIENT TRACKING ON.
#[derive(Debug, Default)]
pub struct TrackingOptions {
    /// REDIRECT id (0: none).
    pub redirect: ClientId,
    /// BCAST.
    pub bcast: bool,
    /// OPTIN.
    pub optin: bool,
    /// OPTOUT.
    pub optout: bool,
    /// NOLOOP.
    pub noloop: bool,
    /// PREFIX arguments, in order.
    pub prefixes: Vec<Bytes>,
}

/// Clients and changed keys of one BCAST prefix.
#[derive(Default)]
struct Prefix {
    clients: BTreeSet<ClientId>,
    /// Keys changed since the last broadcast, with the client that changed them last (0: none,
    /// as for expiry).
    keys: BTreeMap<Bytes, ClientId>,
}

/// What an invalidation message carries.
enum Payload {
    Keys(Vec<Bytes>),
    /// Every key (FLUSHDB, FLUSHALL).
    All,
}

/// Why a message is sent, which decides who is skipped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// A key of the table changed (or was dropped from the table).
    Key,
    /// A BCAST prefix collected keys.
    Broadcast,
    /// The databases were flushed.
    Flush,
}

/// The tracking table, the BCAST prefixes and the tracking clients.
#[derive(Default)]
pub struct Tracking {
    /// Key -> clients that may cache it, oldest first.
    table: LinkedHashMap<Bytes, Vec<ClientId>, ahash::RandomState>,
    /// Client entries across the table (INFO `tracking_total_items`).
    items: u64,
    prefixes: BTreeMap<Bytes, Prefix>,
    /// Clients with tracking on.
    clients: HashSet<ClientId, ahash::RandomState>,
    /// Set while a client's command runs: changes are handled when it ends.
    in_command: bool,
    /// Messages for the running client's own connection, written after its reply.
    pending: Vec<u8>,
}

impl Tracking {
    /// Clients with tracking on (INFO `tracking_clients`).
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Keys in the tracking table (INFO `tracking_total_keys`).
    pub fn key_count(&self) -> usize {
        self.table.len()
    }

    /// Client entries across the table (INFO `tracking_total_items`).
    pub fn item_count(&self) -> u64 {
        self.items
    }

    /// BCAST prefixes in use (INFO `tracking_total_prefixes`).
    pub fn prefix_count(&self) -> usize {
        self.prefixes.len()
    }

    /// Whether the keyspace must report changed keys.
    fn in_use(&self) -> bool {
        !self.clients.is_empty() || !self.table.is_empty()
    }

    /// Moves the messages queued for the running client's connection into `out` (after its
    /// reply).
    pub(crate) fn take_pending_into(&mut self, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            out.append(&mut self.pending);
        }
    }

    /// Whether a client's command is running.
    pub(crate) fn in_command(&self) -> bool {
        self.in_command
    }

    /// Marks that a client's command is running (returns the previous mark).
    pub(crate) fn enter_command(&mut self) -> bool {
        std::mem::replace(&mut self.in_command, true)
    }

    /// Restores the mark [`Self::enter_command`] returned.
    pub(crate) fn leave_command(&mut self, previous: bool) {
        self.in_command = previous;
    }
}

/// Whether two prefixes would both cover some key (one starts the other).
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// The error of overlapping prefixes, if any (Redis's checkPrefixCollisionsOrReply).
fn prefix_collision(existing: &BTreeSet<Bytes>, new: &[Bytes]) -> Option<String> {
    let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(old) = existing.iter().find(|old| overlap(old, p)) {
            return Some(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single \
                 client must not overlap.",
                show(p),
                show(old)
            ));
        }
        if let Some(other) = new[i + 1..].iter().find(|o| overlap(p, o)) {
            return Some(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a \
                 single client must not overlap.",
                show(p),
                show(other)
            ));
        }
    }
    None
}

impl Engine {
    /// CLIENT TRACKING ON: checks the options against each other and the client's mode, then
    /// turns tracking on; the error is Redis's text.
    pub(crate) fn enable_tracking(
        &mut self,
        client: &mut ClientState,
        opts: TrackingOptions,
    ) -> Result<(), String> {
        if !opts.bcast && !opts.prefixes.is_empty() {
            return Err("ERR PREFIX option requires BCAST mode to be enabled".into());
        }
        if let Some(t) = &client.tracking {
            if t.bcast != opts.bcast {
                return Err(
                    "ERR You can't switch BCAST mode on/off before disabling tracking \
                            for this client, and then re-enabling it with a different mode."
                        .into(),
                );
            }
        }
        if opts.bcast && (opts.optin || opts.optout) {
            return Err("ERR OPTIN and OPTOUT are not compatible with BCAST".into());
        }
        if opts.optin && opts.optout {
            return Err("ERR You can't specify both OPTIN mode and OPTOUT mode".into());
        }
        if let Some(t) = &client.tracking {
            if (opts.optin && t.optout) || (opts.optout && t.optin) {
                return Err(
                    "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking \
                            for this client, and then re-enabling it with a different mode."
                        .into(),
                );
            }
        }
        let mut state = client.tracking.take().unwrap_or_default();
        if opts.bcast {
            if let Some(e) = prefix_collision(&state.prefixes, &opts.prefixes) {
                client.tracking =
                    Some(state).filter(|_| self.tracking.clients.contains(&client.id));
                return Err(e);
            }
        }
        // Re-enabling keeps the prefixes and the CACHING mark; the other options are replaced.
        state.redirect = opts.redirect;
        state.bcast = opts.bcast;
        state.optin = opts.optin;
        state.optout = opts.optout;
        state.noloop = opts.noloop;
        state.broken_redirect = false;
        if opts.bcast {
            let prefixes = if opts.prefixes.is_empty() {
                vec![Bytes::new()]
            } else {
                opts.prefixes
            };
            for p in prefixes {
                let p = Bytes::copy_from_slice(&p);
                self.tracking
                    .prefixes
                    .entry(p.clone())
                    .or_default()
                    .clients
                    .insert(client.id);
                state.prefixes.insert(p);
            }
        }
        client.tracking = Some(state);
        self.tracking.clients.insert(client.id);
        self.sync_tracking_log();
        Ok(())
    }

    /// CLIENT TRACKING OFF (and RESET): the client's entries in the table go lazily, as in
    /// Redis; its prefixes go now.
    pub(crate) fn disable_tracking(&mut self, client: &mut ClientState) {
        if let Some(t) = client.tracking.take() {
            for p in t.prefixes {
                self.leave_prefix(&p, client.id);
            }
        }
        self.tracking.clients.remove(&client.id);
        self.sync_tracking_log();
    }

    /// Forgets a client that disconnected.
    pub(crate) fn tracking_client_gone(&mut self, id: ClientId) {
        if self.tracking.clients.remove(&id) {
            let prefixes: Vec<Bytes> = self.tracking.prefixes.keys().cloned().collect();
            for p in prefixes {
                self.leave_prefix(&p, id);
            }
            self.sync_tracking_log();
        }
    }

    fn leave_prefix(&mut self, prefix: &Bytes, id: ClientId) {
        if let Some(p) = self.tracking.prefixes.get_mut(prefix) {
            p.clients.remove(&id);
            if p.clients.is_empty() {
                self.tracking.prefixes.remove(prefix);
            }
        }
    }

    /// Turns the keyspace's log of changed keys on while tracking is in use.
    fn sync_tracking_log(&mut self) {
        let on = self.tracking.in_use();
        if self.keyspace.watches().logs_changes() != on {
            self.keyspace.watches_mut().set_log_changes(on);
        }
    }

    /// Remembers the keys a read-only command of a tracking client read (Redis's
    /// trackingRememberKeys). Costs one branch for a client that does not track.
    pub(crate) fn track_reads(&mut self, client: &ClientState, cmd: &Command, argv: &[Bytes]) {
        let Some(t) = &client.tracking else {
            return;
        };
        if t.bcast
            || !cmd.has(flags::READONLY)
            || cmd.has(flags::PUBSUB)
            || matches!(cmd.name.as_str(), "eval_ro" | "evalsha_ro" | "fcall_ro")
        {
            return;
        }
        if (t.optin && !t.caching) || (t.optout && t.caching) {
            return;
        }
        for pos in cmd.key_positions(argv) {
            let key = &argv[pos];
            let ids = match self.tracking.table.get_mut(key) {
                Some(ids) => ids,
                None => {
                    // A copy: the argument is a slice of the connection's read buffer, which
                    // the table must not keep alive.
                    let owned = Bytes::copy_from_slice(key);
                    self.tracking.table.insert(owned, Vec::new());
                    self.tracking.table.get_mut(key).expect("just inserted")
                }
            };
            if !ids.contains(&client.id) {
                ids.push(client.id);
                self.tracking.items += 1;
            }
        }
        self.sync_tracking_log();
    }

    /// Clears the CLIENT CACHING mark after a command, as Redis does (not inside MULTI, and
    /// not after a CLIENT subcommand, CLIENT CACHING itself included).
    pub(crate) fn tracking_command_done(&mut self, client: &mut ClientState, argv: &[Bytes]) {
        if let Some(t) = client.tracking.as_mut() {
            let client_cmd = argv
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case(b"client"));
            if t.caching && client.multi.is_none() && !client_cmd {
                t.caching = false;
            }
        }
    }

    /// Sends the invalidations for the keys the keyspace reported changed. `current` is the
    /// client whose command ran (NOLOOP, and messages for its own connection follow its
    /// reply); `None` for work outside commands (active expiry, plugins' jobs).
    pub(crate) fn invalidate_changed(&mut self, mut current: Option<&mut ClientState>) {
        if !self.keyspace.watches().has_changed() {
            return;
        }
        let changed = self.keyspace.watches_mut().take_changed();
        let current_id = current.as_ref().map_or(0, |c| c.id);
        for (key, expired) in changed {
            if !self.tracking.prefixes.is_empty() {
                // Expiry is nobody's change: NOLOOP clients hear of it too.
                let by = if expired { 0 } else { current_id };
                for (p, state) in self.tracking.prefixes.iter_mut() {
                    if key.starts_with(p) {
                        state.keys.insert(key.clone(), by);
                    }
                }
            }
            self.invalidate_key(&mut current, key, true);
        }
        self.sync_tracking_log();
    }

    /// Drops `key` from the table and tells the clients that read it.
    fn invalidate_key(&mut self, current: &mut Option<&mut ClientState>, key: Bytes, defer: bool) {
        let Some(ids) = self.tracking.table.remove(&key) else {
            return;
        };
        self.tracking.items -= ids.len() as u64;
        let payload = Payload::Keys(vec![key]);
        for id in ids {
            self.deliver(current, id, Cause::Key, &payload, defer);
        }
    }

    /// FLUSHDB / FLUSHALL: every tracking client is told that every key changed, and the
    /// table is emptied (keys are tracked by name, whatever their database, as in Redis).
    pub(crate) fn invalidate_all(&mut self, current: &mut ClientState) {
        let mut current = Some(current);
        let mut ids: Vec<ClientId> = self.tracking.clients.iter().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.deliver(&mut current, id, Cause::Flush, &Payload::All, true);
        }
        self.tracking.table.clear();
        self.tracking.items = 0;
        self.sync_tracking_log();
    }

    /// Drops the keys tracked longest ago while the table holds more than
    /// `tracking-table-max-keys` (0: no limit), telling their clients. Runs before a command,
    /// as Redis's trackingLimitUsedSlots.
    pub(crate) fn limit_tracking_table(&mut self, current: &mut ClientState) {
        let max = self.config.server.tracking_table_max_keys;
        if max == 0 || self.tracking.table.len() as u64 <= max {
            return;
        }
        let mut current = Some(current);
        while self.tracking.table.len() as u64 > max {
            let Some(key) = self.tracking.table.keys().next().cloned() else {
                break;
            };
            self.invalidate_key(&mut current, key, false);
        }
        self.sync_tracking_log();
    }

    /// Sends the keys each BCAST prefix collected (once per batch, as Redis does before
    /// sleeping).
    pub(crate) fn broadcast_tracking(&mut self) {
        if self.tracking.prefixes.is_empty() {
            return;
        }
        let mut sends: Vec<(ClientId, Payload)> = Vec::new();
        for state in self.tracking.prefixes.values_mut() {
            if state.keys.is_empty() {
                continue;
            }
            let keys = std::mem::take(&mut state.keys);
            for &id in &state.clients {
                let noloop = self
                    .clients
                    .get(&id)
                    .and_then(|c| c.tracking.as_ref())
                    .is_some_and(|t| t.noloop);
                let list: Vec<Bytes> = keys
                    .iter()
                    .filter(|(_, by)| !noloop || **by != id)
                    .map(|(k, _)| k.clone())
                    .collect();
                if !list.is_empty() {
                    sends.push((id, Payload::Keys(list)));
                }
            }
        }
        for (id, payload) in sends {
            self.deliver(&mut None, id, Cause::Broadcast, &payload, false);
        }
    }

    /// Sends one message about `target`'s cache to the connection that receives them.
    fn deliver(
        &mut self,
        current: &mut Option<&mut ClientState>,
        target: ClientId,
        cause: Cause,
        payload: &Payload,
        defer: bool,
    ) {
        let current_id = current.as_ref().map_or(0, |c| c.id);
        let (redirect, target_protocol) = {
            let t = if target == current_id {
                current.as_deref()
            } else {
                self.clients.get(&target).map(|c| &**c)
            };
            let Some(t) = t else {
                return;
            };
            let Some(tr) = &t.tracking else {
                return;
            };
            if cause == Cause::Key && (tr.bcast || (tr.noloop && target == current_id)) {
                return;
            }
            (tr.redirect, t.protocol)
        };
        let dest_id = if redirect != 0 { redirect } else { target };
        let dest = if dest_id == current_id {
            current.as_deref()
        } else {
            self.clients.get(&dest_id).map(|c| &**c)
        };
        let Some(dest) = dest else {
            // The redirect client is gone: say so to a RESP3 client on its own connection.
            let t = if target == current_id {
                current.as_deref_mut()
            } else {
                self.clients.get_mut(&target).map(|c| &mut **c)
            };
            if let Some(t) = t {
                if let Some(tr) = t.tracking.as_mut() {
                    tr.broken_redirect = true;
                }
                if target_protocol == Protocol::Resp3 {
                    let msg = Reply::Push(vec![
                        Reply::bulk(Bytes::from_static(b"tracking-redir-broken")),
                        Reply::Integer(redirect as i64),
                    ]);
                    let mut out = Vec::with_capacity(48);
                    msg.encode(Protocol::Resp3, &mut out);
                    if target == current_id && defer {
                        self.tracking.pending.extend_from_slice(&out);
                    } else {
                        t.shared.outbox.push(&out);
                    }
                }
            }
            return;
        };
        let body = match payload {
            Payload::Keys(keys) => Reply::Array(keys.iter().cloned().map(Reply::Bulk).collect()),
            Payload::All => Reply::Null,
        };
        let msg = if dest.protocol == Protocol::Resp3 {
            Reply::Push(vec![Reply::bulk(Bytes::from_static(b"invalidate")), body])
        } else if redirect != 0 && dest.subscribed() {
            Reply::Push(vec![
                Reply::bulk(Bytes::from_static(b"message")),
                Reply::bulk(Bytes::from_static(INVALIDATE_CHANNEL.as_bytes())),
                body,
            ])
        } else {
            // RESP2 has no pushes on a connection that is not subscribed.
            return;
        };
        let mut out = Vec::with_capacity(64);
        msg.encode(dest.protocol, &mut out);
        if matches!(payload, Payload::All)
            && target_protocol == Protocol::Resp2
            && dest.protocol == Protocol::Resp3
        {
            // Redis writes the tracking client's null: a RESP2 one (still valid RESP3). The
            // other way round it would write a RESP3 null to a RESP2 connection, which RESP2
            // clients cannot parse, so that case keeps the receiver's.
            out.truncate(out.len() - b"_\r\n".len());
            out.extend_from_slice(b"$-1\r\n");
        }
        if dest_id == current_id && defer {
            self.tracking.pending.extend_from_slice(&out);
        } else if dest.subscribed() {
            // A subscriber is held to the pub/sub output buffer limit, as its messages are.
            PushTarget::new(dest, &self.pubsub.limits).push_encoded(&out);
        } else {
            dest.shared.outbox.push(&out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn prefixes_overlap_when_one_starts_the_other() {
        assert!(overlap(b"a", b"ab"));
        assert!(overlap(b"ab", b"a"));
        assert!(overlap(b"", b"x"));
        assert!(!overlap(b"ab", b"ac"));
    }

    #[test]
    fn collisions_name_the_prefixes_as_redis_does() {
        let existing: BTreeSet<Bytes> = [b("foo")].into_iter().collect();
        assert_eq!(
            prefix_collision(&existing, &[b("fo")]).unwrap(),
            "ERR Prefix 'fo' overlaps with an existing prefix 'foo'. Prefixes for a single \
             client must not overlap."
        );
        assert_eq!(
            prefix_collision(&BTreeSet::new(), &[b("a"), b("ab")]).unwrap(),
            "ERR Prefix 'a' overlaps with another provided prefix 'ab'. Prefixes for a single \
             client must not overlap."
        );
        assert!(prefix_collision(&existing, &[b("bar"), b("baz")]).is_none());
    }

    #[test]
    fn bcast_noloop_hears_of_an_expiry_its_own_read_caused() {
        let mut rig = crate::testing::Rig::new();
        assert!(matches!(rig.exec(&["HELLO", "3"]), Reply::Map(_)));
        let on = rig.exec(&["CLIENT", "TRACKING", "on", "BCAST", "NOLOOP"]);
        assert_eq!(on, Reply::ok());
        rig.exec(&["SET", "own", "v"]);
        rig.exec(&["SET", "gone", "v", "PX", "1"]);
        std::thread::sleep(std::time::Duration::from_millis(5));
        // The read finds the key expired: nobody's change, so NOLOOP does not hide it.
        assert_eq!(rig.exec(&["GET", "gone"]), Reply::Null);
        let shared = std::sync::Arc::clone(&rig.client.shared);
        let id = rig.client.id;
        let client = std::mem::replace(&mut rig.client, ClientState::internal(0));
        rig.engine.clients.insert(id, Box::new(client));
        rig.engine.broadcast_tracking();
        assert_eq!(
            shared.outbox.take(),
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$4\r\ngone\r\n".to_vec()
        );
    }
}
