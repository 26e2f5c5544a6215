//! An engine over an in-memory store for command unit tests that check key events.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::client::{ClientShared, ClientState};
use crate::config::{Config, Synchronous};
use crate::engine::{Engine, SharedState};
use crate::events::class;
use crate::keyspace::Keyspace;
use crate::protocol::Reply;
use crate::storage::SqliteStore;

/// Events as the rig records them: class, name, key.
type Seen = Arc<Mutex<Vec<(u16, &'static str, Bytes)>>>;

/// An engine, a client, and the events every command produced.
pub struct Rig {
    pub engine: Engine,
    pub client: ClientState,
    events: Seen,
}

impl Rig {
    pub fn new() -> Rig {
        let store = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        let keyspace = Keyspace::new(Box::new(store), 16, 1 << 20).unwrap();
        let config = Config::default();
        let shared = Arc::new(SharedState::new(&config));
        let mut engine = Engine::new(keyspace, config, None, shared);
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        engine.events.subscribe(
            class::ALL,
            None,
            Box::new(move |_, batch| {
                let mut sink = sink.lock().unwrap();
                sink.extend(batch.iter().map(|e| (e.class, e.event, e.key.clone())));
            }),
        );
        let addr = "127.0.0.1:1".parse().unwrap();
        let client = ClientState::new(1, addr, addr, true, Arc::new(ClientShared::new(true)));
        Rig {
            engine,
            client,
            events,
        }
    }

    /// Runs a command (words split on spaces); returns its reply and the events it caused as
    /// `event(key)` strings.
    pub fn run(&mut self, words: &str) -> (Reply, Vec<String>) {
        let argv: Vec<Bytes> = words
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let reply = self.engine.execute(&mut self.client, &argv);
        let events = std::mem::take(&mut *self.events.lock().unwrap())
            .into_iter()
            .map(|(_, e, k)| format!("{e}({})", String::from_utf8_lossy(&k)))
            .collect();
        (reply, events)
    }

    /// The events of one command.
    pub fn events(&mut self, words: &str) -> Vec<String> {
        self.run(words).1
    }
}
