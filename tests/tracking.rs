//! Client-side caching, black box: CLIENT TRACKING in its modes (default, REDIRECT to a RESP2
//! subscriber or a RESP3 connection, BCAST with prefixes, OPTIN/OPTOUT with CLIENT CACHING,
//! NOLOOP), invalidation on writes, expiry, FLUSHDB/FLUSHALL and the table limit, the
//! `tracking-redir-broken` push, CLIENT TRACKINGINFO / GETREDIR, CLIENT LIST flags and the
//! INFO fields; CLIENT NO-TOUCH and CLIENT KILL MAXAGE.
//!
//! Most scenarios run on Respite and on a real redis-server 7.0.15 side by side, several
//! connections each, and the transcripts (every reply and every push each connection
//! received, in order) must be equal. After each step every connection sends `PING sync`
//! and reads up to its answer, so pushes are collected without waiting on a clock.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::redis_server::RedisServer;
use common::{info_field, wait_until, RawConn, Reply, Server};

/// Generous bound for "happens eventually": a safety net, never a measurement.
const EVENTUALLY: Duration = Duration::from_secs(20);

/// One step of a scenario.
enum Step {
    /// Connection `i` sends the command (`{idN}` is connection N's CLIENT ID); its reply and
    /// every push any connection receives are recorded.
    Cmd(usize, &'static [&'static str]),
    /// As `Cmd`, but the reply is not recorded (HELLO's reply names the server).
    Quiet(usize, &'static [&'static str]),
    /// Connection `i` sends CLIENT REPLY OFF: it answers nothing until CLIENT REPLY ON.
    Mute(usize),
    /// Connection `i` sends QUIT; the step ends once the server has forgotten it.
    Close(usize),
    /// Records INFO's tracking fields.
    Info,
    /// Records `flags=` and `redir=` of connection `i`'s CLIENT INFO.
    Flags(usize),
    /// Lets time pass (for a TTL to run out; never a measurement).
    Sleep(u64),
}

use Step::*;

/// One server's side of a scenario.
struct Side {
    conns: Vec<RawConn>,
    ids: Vec<i64>,
    live: Vec<bool>,
    muted: Vec<bool>,
    admin: RawConn,
    log: Vec<String>,
}

fn is_push(r: &Reply) -> bool {
    match r {
        Reply::Push(_) => true,
        Reply::Array(items) => matches!(items.first(), Some(Reply::Bulk(b)) if b == b"message"),
        _ => false,
    }
}

fn is_sync(r: &Reply) -> bool {
    match r {
        Reply::Bulk(b) => b == b"sync",
        Reply::Array(items) => {
            matches!(items.as_slice(), [Reply::Bulk(p), Reply::Bulk(s)] if p == b"pong" && s == b"sync")
        }
        _ => false,
    }
}

impl Side {
    fn new(addr: SocketAddr, conns: usize) -> Side {
        // Client IDs past a few, so that an ID is not mistaken for a small count.
        for _ in 0..6 {
            let mut c = RawConn::connect(addr);
            c.cmd(&["PING"]);
        }
        let mut side = Side {
            conns: Vec::new(),
            ids: Vec::new(),
            live: vec![true; conns],
            muted: vec![false; conns],
            admin: RawConn::connect(addr),
            log: Vec::new(),
        };
        for _ in 0..conns {
            let mut c = RawConn::connect(addr);
            let Reply::Int(id) = c.cmd(&["CLIENT", "ID"]) else {
                panic!("CLIENT ID");
            };
            side.conns.push(c);
            side.ids.push(id);
        }
        side
    }

    /// The reply with client IDs written as `idN`, so that both servers' transcripts compare.
    fn show(&self, r: &Reply) -> String {
        format!("{:?}", self.named(r))
    }

    fn named(&self, r: &Reply) -> Reply {
        let all = |items: &[Reply]| items.iter().map(|i| self.named(i)).collect();
        match r {
            Reply::Int(n) => match self.ids.iter().position(|id| id == n) {
                Some(k) => Reply::Simple(format!("id{k}")),
                None => Reply::Int(*n),
            },
            Reply::Array(items) => Reply::Array(all(items)),
            Reply::Push(items) => Reply::Push(all(items)),
            Reply::Set(items) => Reply::Set(all(items)),
            Reply::Map(pairs) => Reply::Map(
                pairs
                    .iter()
                    .map(|(k, v)| (self.named(k), self.named(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn args(&self, words: &[&str]) -> Vec<String> {
        words
            .iter()
            .map(|w| {
                let mut w = w.to_string();
                for (n, id) in self.ids.iter().enumerate() {
                    w = w.replace(&format!("{{id{n}}}"), &id.to_string());
                }
                w
            })
            .collect()
    }

    /// Reads connection `i` up to a frame that is not a push, recording the pushes.
    fn read_reply(&mut self, i: usize) -> Reply {
        loop {
            let r = self.conns[i].read_reply();
            if is_push(&r) {
                let shown = self.show(&r);
                self.log.push(format!("c{i} push {shown}"));
            } else {
                return r;
            }
        }
    }

    /// Every live connection that answers reads what was pushed to it so far, but `except`
    /// (the one that just ran a command: a PING would end its CLIENT CACHING or join its
    /// transaction; what follows its reply is read before its next one).
    fn sync(&mut self, except: Option<usize>) {
        for i in 0..self.conns.len() {
            if !self.live[i] || self.muted[i] || except == Some(i) {
                continue;
            }
            self.conns[i].send_cmd(&["PING", "sync"]);
            loop {
                let r = self.conns[i].read_reply();
                if is_sync(&r) {
                    break;
                }
                let shown = self.show(&r);
                self.log.push(format!("c{i} push {shown}"));
            }
        }
    }

    fn run(&mut self, step: &Step) {
        match step {
            Cmd(i, words) | Quiet(i, words) => {
                let args = self.args(words);
                let unmute = words.len() == 3
                    && words[0].eq_ignore_ascii_case("client")
                    && words[1].eq_ignore_ascii_case("reply")
                    && words[2].eq_ignore_ascii_case("on");
                self.conns[*i].send_cmd(&args);
                if self.muted[*i] && !unmute {
                    self.log.push(format!("c{i} {} (muted)", words.join(" ")));
                } else {
                    self.muted[*i] = false;
                    let r = self.read_reply(*i);
                    if matches!(step, Cmd(..)) {
                        let shown = self.show(&r);
                        self.log
                            .push(format!("c{i} {} -> {shown}", words.join(" ")));
                    }
                }
            }
            Mute(i) => {
                self.conns[*i].send_cmd(&["CLIENT", "REPLY", "OFF"]);
                self.muted[*i] = true;
            }
            Close(i) => {
                let r = self.conns[*i].cmd(&["QUIT"]);
                assert_eq!(r, Reply::Simple("OK".into()));
                self.live[*i] = false;
                let id = self.ids[*i].to_string();
                let admin = &mut self.admin;
                wait_until("the closed client to be gone", EVENTUALLY, || {
                    admin.cmd(&["CLIENT", "LIST", "ID", &id]).text().is_empty()
                });
            }
            Info => {
                let info = self.admin.cmd(&["INFO"]).text();
                for f in [
                    "tracking_clients",
                    "tracking_total_keys",
                    "tracking_total_items",
                    "tracking_total_prefixes",
                ] {
                    let v = info_field(&info, f).unwrap_or_else(|| panic!("INFO has no {f}"));
                    self.log.push(format!("{f}:{v}"));
                }
            }
            Flags(i) => {
                let line = self.conns[*i].cmd(&["CLIENT", "INFO"]).text();
                let field = |name: &str| {
                    line.split_whitespace()
                        .find_map(|f| f.strip_prefix(name))
                        .unwrap_or("?")
                        .to_string()
                };
                let mut redir = field("redir=");
                for (n, id) in self.ids.iter().enumerate() {
                    if redir == id.to_string() {
                        redir = format!("id{n}");
                    }
                }
                self.log
                    .push(format!("c{i} flags={} redir={redir}", field("flags=")));
            }
            Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
        }
        match step {
            Sleep(_) => {}
            Cmd(i, _) | Quiet(i, _) | Flags(i) => self.sync(Some(*i)),
            _ => self.sync(None),
        }
    }
}

/// Runs `steps` with `conns` connections on Respite and on redis-server; the transcripts
/// must be equal. Returns Respite's, for further checks.
fn same(conns: usize, steps: &[Step]) -> Vec<String> {
    let respite = Server::start();
    let redis = RedisServer::start();
    let mut ours = Side::new(respite.addr(), conns);
    let mut theirs = Side::new(redis.addr(), conns);
    for (n, step) in steps.iter().enumerate() {
        // Shown with a failure: where the transcript stopped.
        println!("step {n}: {:?}", ours.log.last());
        ours.run(step);
        theirs.run(step);
        assert_eq!(
            ours.log, theirs.log,
            "transcripts differ after step {n} (respite, then redis-server)"
        );
    }
    ours.sync(None);
    theirs.sync(None);
    assert_eq!(ours.log, theirs.log, "transcripts differ at the end");
    ours.log
}

#[test]
fn resp3_default_mode_invalidates_what_was_read() {
    let log = same(
        2,
        &[
            Quiet(0, &["HELLO", "3"]),
            Cmd(0, &["CLIENT", "TRACKING", "on"]),
            Info,
            Flags(0),
            Cmd(1, &["MSET", "a", "1", "b", "2", "c", "3"]),
            Cmd(0, &["GET", "a"]),
            Cmd(0, &["MGET", "b", "c", "missing"]),
            Cmd(0, &["HGET", "h", "f"]),
            Info,
            // Another client's writes: one push per key read, then the key is forgotten.
            Cmd(1, &["SET", "a", "x"]),
            Cmd(1, &["SET", "a", "y"]),
            Cmd(1, &["DEL", "b", "c"]),
            Cmd(1, &["HSET", "h", "f", "v"]),
            Cmd(1, &["SET", "missing", "now"]),
            // The client's own write: the push follows its reply.
            Cmd(0, &["GET", "a"]),
            Cmd(0, &["SET", "a", "z"]),
            // Inside a transaction the pushes follow EXEC's reply.
            Cmd(0, &["MULTI"]),
            Cmd(0, &["GET", "a"]),
            Cmd(0, &["SET", "a", "5"]),
            Cmd(0, &["EXEC"]),
            // Renames, expiry set by EXPIRE and deletion by a write elsewhere.
            Cmd(0, &["GET", "r1"]),
            Cmd(1, &["SET", "r0", "v"]),
            Cmd(1, &["RENAME", "r0", "r1"]),
            Cmd(0, &["LRANGE", "l", "0", "-1"]),
            Cmd(1, &["RPUSH", "l", "1"]),
            Cmd(0, &["GET", "a"]),
            Cmd(1, &["EXPIRE", "a", "100"]),
            // Reads inside a script are tracked for the script's caller.
            Cmd(0, &["EVAL", "return redis.call('get', KEYS[1])", "1", "s"]),
            Cmd(1, &["SET", "s", "1"]),
            // FLUSHDB and FLUSHALL: a null, after the reply for the one that flushed.
            Cmd(0, &["GET", "a"]),
            Cmd(1, &["FLUSHDB"]),
            Cmd(0, &["FLUSHALL"]),
            Info,
            Cmd(0, &["CLIENT", "TRACKINGINFO"]),
            Cmd(0, &["CLIENT", "GETREDIR"]),
            Cmd(0, &["CLIENT", "TRACKING", "off"]),
            Cmd(0, &["GET", "a"]),
            Cmd(1, &["SET", "a", "1"]),
            Cmd(0, &["CLIENT", "TRACKINGINFO"]),
            Cmd(0, &["CLIENT", "GETREDIR"]),
            Info,
            Flags(0),
        ],
    );
    assert!(
        log.iter().any(|l| l.starts_with("c0 push")),
        "no push recorded: {log:#?}"
    );
}

#[test]
fn resp2_redirect_to_a_subscriber_of_the_invalidate_channel() {
    same(
        3,
        &[
            Cmd(1, &["SUBSCRIBE", "__redis__:invalidate"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "REDIRECT", "{id1}"]),
            Flags(0),
            Cmd(0, &["CLIENT", "GETREDIR"]),
            Cmd(0, &["CLIENT", "TRACKINGINFO"]),
            Cmd(0, &["GET", "k"]),
            Cmd(0, &["GET", "j"]),
            Cmd(2, &["SET", "k", "1"]),
            Cmd(0, &["SET", "j", "1"]),
            Cmd(0, &["GET", "k"]),
            Cmd(2, &["FLUSHALL"]),
            // Several clients may redirect to the same connection.
            Cmd(2, &["CLIENT", "TRACKING", "on", "REDIRECT", "{id1}"]),
            Cmd(0, &["GET", "x"]),
            Cmd(2, &["GET", "x"]),
            Cmd(2, &["SET", "x", "2"]),
            Info,
            // RESP2 without a redirect: nothing can be sent, nothing breaks.
            Cmd(2, &["CLIENT", "TRACKING", "off"]),
            Cmd(2, &["CLIENT", "TRACKING", "on"]),
            Cmd(2, &["GET", "y"]),
            Cmd(0, &["SET", "y", "1"]),
            Info,
        ],
    );
}

#[test]
fn resp3_redirect_and_the_broken_redirect_push() {
    same(
        3,
        &[
            Quiet(0, &["HELLO", "3"]),
            Quiet(1, &["HELLO", "3"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "REDIRECT", "{id1}"]),
            Cmd(0, &["GET", "k"]),
            Cmd(2, &["SET", "k", "1"]),
            Cmd(0, &["GET", "k"]),
            Cmd(0, &["SET", "k", "2"]),
            Cmd(0, &["GET", "k"]),
            Close(1),
            Cmd(2, &["SET", "k", "3"]),
            Cmd(0, &["CLIENT", "TRACKINGINFO"]),
            Flags(0),
            Cmd(0, &["GET", "k"]),
            Cmd(2, &["SET", "k", "4"]),
            // Turning tracking on again clears the broken mark.
            Cmd(0, &["CLIENT", "TRACKING", "on"]),
            Cmd(0, &["CLIENT", "TRACKINGINFO"]),
            Flags(0),
        ],
    );
}

#[test]
fn a_resp2_client_redirecting_to_a_resp3_connection() {
    same(
        3,
        &[
            Quiet(1, &["HELLO", "3"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "REDIRECT", "{id1}"]),
            Cmd(0, &["GET", "k"]),
            Cmd(2, &["SET", "k", "1"]),
            Cmd(0, &["GET", "k"]),
            // The null of a flush is the tracking client's (RESP2), as Redis writes it.
            Cmd(2, &["FLUSHALL"]),
            Cmd(0, &["FLUSHDB"]),
        ],
    );
}

#[test]
fn bcast_with_prefixes_and_noloop() {
    same(
        3,
        &[
            Quiet(0, &["HELLO", "3"]),
            Quiet(1, &["HELLO", "3"]),
            Cmd(
                0,
                &[
                    "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a:", "PREFIX", "b:",
                ],
            ),
            Cmd(1, &["CLIENT", "TRACKING", "on", "BCAST", "NOLOOP"]),
            Info,
            Flags(0),
            Cmd(0, &["CLIENT", "TRACKINGINFO"]),
            Cmd(1, &["CLIENT", "TRACKINGINFO"]),
            Cmd(2, &["SET", "a:1", "x"]),
            Cmd(2, &["SET", "c:1", "x"]),
            Cmd(2, &["MSET", "b:2", "1", "a:2", "2", "a:1", "3", "zz", "4"]),
            // NOLOOP leaves out the keys the client changed itself, not the others'.
            Cmd(1, &["SET", "a:9", "own"]),
            Cmd(0, &["SET", "a:8", "theirs"]),
            // BCAST tracks no reads.
            Cmd(0, &["GET", "a:1"]),
            Info,
            // More prefixes on top; overlapping ones are refused.
            Cmd(0, &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "c:"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a"]),
            Cmd(
                0,
                &[
                    "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "d", "PREFIX", "de",
                ],
            ),
            Cmd(0, &["CLIENT", "TRACKINGINFO"]),
            Cmd(2, &["SET", "c:5", "x"]),
            Cmd(2, &["FLUSHALL"]),
            Cmd(0, &["CLIENT", "TRACKING", "off"]),
            Info,
            Cmd(2, &["SET", "a:1", "x"]),
        ],
    );
}

#[test]
fn optin_optout_and_caching() {
    same(
        2,
        &[
            Quiet(0, &["HELLO", "3"]),
            Cmd(0, &["CLIENT", "CACHING", "yes"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "OPTIN"]),
            Cmd(0, &["CLIENT", "CACHING", "no"]),
            Cmd(0, &["CLIENT", "CACHING", "maybe"]),
            Cmd(0, &["GET", "a"]),
            Cmd(0, &["CLIENT", "CACHING", "yes"]),
            Cmd(0, &["CLIENT", "TRACKINGINFO"]),
            Cmd(0, &["GET", "b"]),
            Cmd(0, &["GET", "c"]),
            Cmd(0, &["CLIENT", "TRACKINGINFO"]),
            Cmd(1, &["MSET", "a", "1", "b", "1", "c", "1"]),
            // CACHING YES covers a whole transaction.
            Cmd(0, &["CLIENT", "CACHING", "yes"]),
            Cmd(0, &["MULTI"]),
            Cmd(0, &["GET", "d"]),
            Cmd(0, &["GET", "e"]),
            Cmd(0, &["EXEC"]),
            Cmd(1, &["MSET", "d", "1", "e", "1"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "OPTOUT"]),
            Cmd(0, &["CLIENT", "TRACKING", "off"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "OPTOUT"]),
            Cmd(0, &["CLIENT", "CACHING", "yes"]),
            Cmd(0, &["CLIENT", "CACHING", "no"]),
            Cmd(0, &["GET", "f"]),
            Cmd(0, &["GET", "g"]),
            Cmd(0, &["CLIENT", "TRACKINGINFO"]),
            Cmd(1, &["MSET", "f", "1", "g", "1"]),
        ],
    );
}

#[test]
fn noloop_in_default_mode_and_pushes_with_replies_off() {
    same(
        2,
        &[
            Quiet(0, &["HELLO", "3"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "NOLOOP"]),
            Cmd(0, &["GET", "k"]),
            Cmd(0, &["SET", "k", "1"]),
            Cmd(1, &["SET", "k", "2"]),
            Cmd(0, &["GET", "k"]),
            Cmd(1, &["SET", "k", "3"]),
            Cmd(0, &["CLIENT", "TRACKINGINFO"]),
            // CLIENT REPLY OFF silences replies, not invalidations.
            Cmd(0, &["GET", "k"]),
            Mute(0),
            Cmd(1, &["SET", "k", "4"]),
            Cmd(0, &["CLIENT", "REPLY", "ON"]),
        ],
    );
}

#[test]
fn lazy_expiry_invalidates() {
    same(
        2,
        &[
            Quiet(0, &["HELLO", "3"]),
            Cmd(0, &["CLIENT", "TRACKING", "on"]),
            // Time enough for the read to find the key even on a loaded machine.
            Cmd(1, &["SET", "k", "v", "PX", "500"]),
            Cmd(0, &["GET", "k"]),
            Sleep(1000),
            // Whichever removes the key first (a read here, or the active cycle), the
            // tracking client hears of it once.
            Cmd(1, &["GET", "k"]),
            Cmd(0, &["GET", "k"]),
            Info,
        ],
    );
}

#[test]
fn errors_as_redis_gives_them() {
    same(
        2,
        &[
            Cmd(0, &["CLIENT", "TRACKING"]),
            Cmd(0, &["CLIENT", "TRACKING", "maybe"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "foo"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "REDIRECT"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "REDIRECT", "abc"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "REDIRECT", "999999"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "REDIRECT", "0"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "REDIRECT", "-1"]),
            Cmd(
                0,
                &[
                    "CLIENT", "TRACKING", "on", "REDIRECT", "{id1}", "REDIRECT", "{id1}",
                ],
            ),
            Cmd(0, &["CLIENT", "TRACKING", "on", "PREFIX", "a"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "BCAST", "OPTIN"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "BCAST", "OPTOUT"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"]),
            Cmd(
                0,
                &[
                    "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a",
                ],
            ),
            Cmd(
                0,
                &[
                    "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a", "PREFIX", "b",
                ],
            ),
            Cmd(0, &["CLIENT", "TRACKING", "on"]),
            Cmd(
                0,
                &[
                    "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "b", "PREFIX", "c",
                ],
            ),
            Cmd(0, &["CLIENT", "TRACKING", "off"]),
            Cmd(0, &["CLIENT", "TRACKING", "off", "BCAST"]),
            Cmd(0, &["CLIENT", "CACHING"]),
            Cmd(0, &["CLIENT", "CACHING", "yes"]),
            Cmd(0, &["CLIENT", "GETREDIR", "x"]),
            Cmd(0, &["CLIENT", "TRACKINGINFO", "x"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "REDIRECT", "{id0}"]),
            Cmd(0, &["CLIENT", "GETREDIR"]),
            Flags(0),
            Cmd(0, &["CLIENT", "TRACKING", "on", "OPTIN"]),
            Cmd(0, &["CLIENT", "TRACKING", "on", "OPTOUT"]),
            Cmd(0, &["CLIENT", "TRACKINGINFO"]),
            Cmd(0, &["RESET"]),
            Cmd(0, &["CLIENT", "TRACKINGINFO"]),
            Info,
        ],
    );
}

fn raw_resp3(server: &Server) -> RawConn {
    let mut c = server.raw();
    assert!(matches!(c.cmd(&["HELLO", "3"]), Reply::Map(_)));
    c
}

fn info_num(c: &mut RawConn, field: &str) -> i64 {
    let info = c.cmd(&["INFO"]).text();
    info_field(&info, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO {field}"))
}

#[test]
fn the_table_limit_invalidates_keys_over_it() {
    let server = Server::start();
    let mut admin = server.raw();
    assert_eq!(
        admin.cmd(&["CONFIG", "GET", "tracking-table-max-keys"]),
        Reply::Array(vec![
            Reply::Bulk(b"tracking-table-max-keys".to_vec()),
            Reply::Bulk(b"1000000".to_vec())
        ])
    );
    let mut c = raw_resp3(&server);
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "on"]),
        Reply::Simple("OK".into())
    );
    for k in ["k1", "k2", "k3"] {
        assert_eq!(c.cmd(&["GET", k]), Reply::Null);
    }
    assert_eq!(info_num(&mut admin, "tracking_total_keys"), 3);
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "tracking-table-max-keys", "1"]),
        Reply::Simple("OK".into())
    );
    // The limit applies before the next command: two keys go, each with a push.
    c.send_cmd(&["PING"]);
    let mut invalidated = Vec::new();
    loop {
        match c.read_reply() {
            Reply::Push(items) => {
                assert_eq!(items[0], Reply::Bulk(b"invalidate".to_vec()), "{items:?}");
                let Reply::Array(keys) = &items[1] else {
                    panic!("{items:?}");
                };
                invalidated.extend(keys.iter().cloned());
            }
            Reply::Simple(s) if s == "PONG" => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        invalidated,
        vec![Reply::Bulk(b"k1".to_vec()), Reply::Bulk(b"k2".to_vec())]
    );
    assert_eq!(info_num(&mut admin, "tracking_total_keys"), 1);
    assert_eq!(info_num(&mut admin, "tracking_total_items"), 1);
    // The key left in the table is still invalidated by a write.
    assert_eq!(admin.cmd(&["SET", "k3", "v"]), Reply::Simple("OK".into()));
    assert_eq!(
        c.read_reply(),
        Reply::Push(vec![
            Reply::Bulk(b"invalidate".to_vec()),
            Reply::Array(vec![Reply::Bulk(b"k3".to_vec())])
        ])
    );
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "tracking-table-max-keys", "1k"]),
        Reply::Error(
            "ERR CONFIG SET failed (possibly related to argument 'tracking-table-max-keys') - \
             argument couldn't be parsed into an integer"
                .into()
        )
    );
}

#[test]
fn active_expiry_invalidates_without_any_command() {
    let server = Server::start();
    let mut writer = server.raw();
    let mut c = raw_resp3(&server);
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "on"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        writer.cmd(&["SET", "k", "v", "PX", "500"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Bulk(b"v".to_vec()));
    // Nobody touches the key: the active expiry cycle removes it and says so.
    assert_eq!(
        c.read_reply(),
        Reply::Push(vec![
            Reply::Bulk(b"invalidate".to_vec()),
            Reply::Array(vec![Reply::Bulk(b"k".to_vec())])
        ])
    );
}

#[test]
fn many_tracking_clients_each_hear_of_the_keys_they_read() {
    let server = Server::start();
    let mut writer = server.raw();
    let mut readers: Vec<RawConn> = (0..8).map(|_| raw_resp3(&server)).collect();
    for (i, r) in readers.iter_mut().enumerate() {
        assert_eq!(
            r.cmd(&["CLIENT", "TRACKING", "on"]),
            Reply::Simple("OK".into())
        );
        assert_eq!(r.cmd(&["GET", "shared"]), Reply::Null);
        assert_eq!(r.cmd(&["GET", &format!("own:{i}")]), Reply::Null);
    }
    let mut admin = server.raw();
    assert_eq!(info_num(&mut admin, "tracking_clients"), 8);
    assert_eq!(info_num(&mut admin, "tracking_total_keys"), 9);
    assert_eq!(info_num(&mut admin, "tracking_total_items"), 16);
    assert_eq!(
        writer.cmd(&["MSET", "shared", "1", "own:3", "1"]),
        Reply::Simple("OK".into())
    );
    let push = |k: &str| {
        Reply::Push(vec![
            Reply::Bulk(b"invalidate".to_vec()),
            Reply::Array(vec![Reply::Bulk(k.as_bytes().to_vec())]),
        ])
    };
    let mut seen: HashMap<usize, Vec<Reply>> = HashMap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        r.send_cmd(&["PING", "sync"]);
        loop {
            match r.read_reply() {
                Reply::Bulk(b) if b == b"sync" => break,
                other => seen.entry(i).or_default().push(other),
            }
        }
    }
    for i in 0..8 {
        let mut want = vec![push("shared")];
        if i == 3 {
            want.push(push("own:3"));
        }
        assert_eq!(seen.remove(&i).unwrap_or_default(), want, "reader {i}");
    }
    // A disconnected tracking client is forgotten.
    drop(readers.pop());
    wait_until("the closed reader to be forgotten", EVENTUALLY, || {
        info_num(&mut admin, "tracking_clients") == 7
    });
}

#[test]
fn client_no_touch_keeps_the_access_time() {
    let server = Server::start();
    let mut c = server.raw();
    let mut other = server.raw();
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::Simple("OK".into()));
    let Reply::Bulk(dump) = c.cmd(&["DUMP", "k"]) else {
        panic!("DUMP");
    };
    let restore_idle = |c: &mut RawConn| {
        let args: [&[u8]; 7] = [
            b"RESTORE",
            b"k",
            b"0",
            &dump,
            b"REPLACE",
            b"IDLETIME",
            b"1000",
        ];
        assert_eq!(c.cmd(&args), Reply::Simple("OK".into()));
    };
    let idle = |c: &mut RawConn| match c.cmd(&["OBJECT", "IDLETIME", "k"]) {
        Reply::Int(n) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        c.cmd(&["CLIENT", "NO-TOUCH", "on"]),
        Reply::Simple("OK".into())
    );
    let line = c.cmd(&["CLIENT", "INFO"]).text();
    assert!(line.contains(" flags=T "), "{line}");
    restore_idle(&mut c);
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Bulk(b"v".to_vec()));
    assert_eq!(c.cmd(&["STRLEN", "k"]), Reply::Int(1));
    assert!(idle(&mut c) >= 1000, "a NO-TOUCH read kept the access time");
    // TOUCH is the exception.
    assert_eq!(c.cmd(&["TOUCH", "k"]), Reply::Int(1));
    assert!(idle(&mut c) < 1000);
    // Another client's read touches as usual.
    restore_idle(&mut c);
    assert_eq!(other.cmd(&["GET", "k"]), Reply::Bulk(b"v".to_vec()));
    assert!(idle(&mut c) < 1000);
    assert_eq!(
        c.cmd(&["CLIENT", "NO-TOUCH", "off"]),
        Reply::Simple("OK".into())
    );
    restore_idle(&mut c);
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Bulk(b"v".to_vec()));
    assert!(idle(&mut c) < 1000);
    assert_eq!(
        c.cmd(&["CLIENT", "NO-TOUCH", "maybe"]),
        Reply::Error("ERR syntax error".into())
    );
}

#[test]
fn client_kill_maxage_kills_clients_at_least_that_old() {
    let server = Server::start();
    let mut c = server.raw();
    let mut old = server.raw();
    assert_eq!(old.cmd(&["PING"]), Reply::Simple("PONG".into()));
    assert_eq!(
        c.cmd(&["CLIENT", "KILL", "MAXAGE", "abc"]),
        Reply::Error("ERR maxage is not an integer or out of range".into())
    );
    assert_eq!(
        c.cmd(&["CLIENT", "KILL", "MAXAGE", "100000"]),
        Reply::Int(0)
    );
    // Ages count in whole seconds: let the clients pass two.
    std::thread::sleep(Duration::from_millis(2100));
    let mut young = server.raw();
    assert_eq!(young.cmd(&["PING"]), Reply::Simple("PONG".into()));
    // The caller is old enough too, but SKIPME is on by default.
    assert_eq!(c.cmd(&["CLIENT", "KILL", "MAXAGE", "2"]), Reply::Int(1));
    assert!(old.try_read_reply().map(|r| r.is_none()).unwrap_or(true));
    assert_eq!(young.cmd(&["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn a_redis_crate_client_gets_invalidations_through_a_resp2_redirect() {
    use redis::Commands;
    let server = Server::start();
    let mut listener = server.conn();
    let listener_id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut listener).unwrap();
    let mut pubsub = listener.as_pubsub();
    pubsub.subscribe("__redis__:invalidate").unwrap();

    let mut cache = server.conn();
    let _: () = redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("on")
        .arg("REDIRECT")
        .arg(listener_id)
        .query(&mut cache)
        .unwrap();
    let redir: i64 = redis::cmd("CLIENT")
        .arg("GETREDIR")
        .query(&mut cache)
        .unwrap();
    assert_eq!(redir, listener_id);
    let _: () = cache.set("user:1", "ann").unwrap();
    let cached: String = cache.get("user:1").unwrap();
    assert_eq!(cached, "ann");

    let mut writer = server.conn();
    let _: () = writer.set("user:1", "bob").unwrap();
    let msg = pubsub.get_message().unwrap();
    assert_eq!(msg.get_channel_name(), "__redis__:invalidate");
    let keys: Vec<String> = msg.get_payload().unwrap();
    assert_eq!(keys, vec!["user:1".to_string()]);

    let _: () = redis::cmd("FLUSHALL").query(&mut writer).unwrap();
    let msg = pubsub.get_message().unwrap();
    assert_eq!(msg.get_payload::<Option<Vec<String>>>().unwrap(), None);
}
