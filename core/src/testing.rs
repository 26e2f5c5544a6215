//! An in-process engine for unit tests of commands: an in-memory store, one client, and the
//! key events every command emitted (events have no other view inside the crate).

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::config::{Config, Synchronous};
use crate::engine::client::{ClientShared, ClientState};
use crate::engine::{Engine, SharedState};
use crate::events::{class, KeyEvent};
use crate::keyspace::Keyspace;
use crate::protocol::Reply;
use crate::storage::SqliteStore;

/// An engine over an in-memory store, a client, and the events of every command.
pub struct Rig {
    /// The engine.
    pub engine: Engine,
    /// The client commands run as.
    pub client: ClientState,
    events: Arc<Mutex<Vec<KeyEvent>>>,
}

impl Default for Rig {
    fn default() -> Self {
        Rig::new()
    }
}

impl Rig {
    /// A fresh engine with a subscriber to every event class but `new` and `keymiss`, which
    /// the keyspace emits itself for every created key and every read miss (commands' own
    /// events are what tests look at).
    pub fn new() -> Rig {
        let store = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        let keyspace = Keyspace::new(Box::new(store), 16, 1 << 20).unwrap();
        let config = Config::default();
        let shared = Arc::new(SharedState::new(&config));
        let mut engine = crate::server::new_engine(keyspace, config, None, shared);
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        engine.events.subscribe(
            class::ALL & !class::NEW & !class::KEY_MISS,
            None,
            Box::new(move |_, batch| sink.lock().unwrap().extend_from_slice(batch)),
        );
        let addr = "127.0.0.1:1".parse().unwrap();
        let client = ClientState::new(1, addr, addr, true, Arc::new(ClientShared::new(true)));
        Rig {
            engine,
            client,
            events,
        }
    }

    /// Runs one command given as separate arguments.
    pub fn exec(&mut self, words: &[&str]) -> Reply {
        let argv: Vec<Bytes> = words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        self.engine.execute(&mut self.client, &argv, None).0
    }

    /// Runs a command written as space-separated words; returns its reply and the
    /// (class, event) pairs it emitted.
    pub fn run(&mut self, words: &str) -> (Reply, Vec<(u16, &'static str)>) {
        let words: Vec<&str> = words.split(' ').collect();
        let reply = self.exec(&words);
        let events = self
            .take_events()
            .into_iter()
            .map(|e| (e.class, e.event))
            .collect();
        (reply, events)
    }

    /// The events a command emitted, as `event(key)` strings.
    pub fn events(&mut self, words: &str) -> Vec<String> {
        let words: Vec<&str> = words.split(' ').collect();
        self.exec(&words);
        self.take_events()
            .into_iter()
            .map(|e| format!("{}({})", e.event, String::from_utf8_lossy(&e.key)))
            .collect()
    }

    /// The events emitted since the last call.
    pub fn take_events(&mut self) -> Vec<KeyEvent> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

/// A reproducible stream of pseudo-random draws for randomized tests (xorshift64 from
/// `seed`, which must not be 0): each call returns the next value modulo `n` (0 counts as 1).
pub fn draws(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed;
    move |n| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n.max(1)
    }
}
