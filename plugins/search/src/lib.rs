//! The `search` plugin: RediSearch's FT.* commands over hashes, on SQLite FTS5.
//!
//! Written against the plugin API alone ([`respite_core::plugin::api`]). An index
//! ([`FT.CREATE`](create)) covers the hashes of database 0 whose keys start with its prefixes.
//! Its entries live in the keyspace's own SQLite file ([`tables`]): an FTS5 table for the
//! TEXT fields, ordinary indexed tables for NUMERIC and TAG values. They are written through
//! the plugin SQL of the API, inside the transaction of the write that caused them: while any
//! index exists the plugin listens to key events ([`on_events`]) and, after each command,
//! re-reads every touched key and rewrites its entries, so a search sees exactly the data of
//! that moment and a crash loses both or neither. Keys that existed before the index are
//! indexed by a timer in slices ([`indexer`]), as RediSearch scans in the background
//! (`FT.INFO` shows `indexing` and `percent_indexed`).
//!
//! Queries ([`query`]) are parsed into a tree and translated to one FTS5 `MATCH` (ranked by
//! bm25 with the fields' weights) plus SQL predicates for ranges, tags and what FTS5 cannot
//! express.
//!
//! Started by `[plugins] enabled = [..., "search"]`; `[plugins.search]` holds its settings.

mod aggregate;
mod alias;
mod commands;
mod create;
mod document;
mod dropindex;
mod explain;
mod expr;
mod ftconfig;
mod index;
mod indexer;
mod info;
pub mod query;
mod reply;
pub mod schema;
mod search;
mod suggest;
mod tables;
mod tagvals;

use std::collections::BTreeMap;

use respite_core::plugin::api::{
    class, Engine, KeyEvent, Plugin, PluginError, Registrar, SubscriptionId,
};
use serde::{Deserialize, Serialize};

use index::Index;

/// The plugin's name in `plugins.enabled` and `[plugins.search]`.
pub const NAME: &str = "search";

/// What happens when a query runs past `timeout_ms` (RediSearch's ON_TIMEOUT).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    /// Reply with the results loaded so far.
    Return,
    /// Reply with an error.
    Fail,
}

/// `[plugins.search]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Time a query may take, in milliseconds (0: no limit); `FT.CONFIG SET TIMEOUT`.
    pub timeout_ms: u64,
    /// What a query past the limit answers; `FT.CONFIG SET ON_TIMEOUT`.
    pub on_timeout: OnTimeout,
    /// Most results FT.SEARCH's LIMIT may ask for; `FT.CONFIG SET MAXSEARCHRESULTS`.
    pub max_search_results: u64,
    /// Most documents FT.AGGREGATE reads; `FT.CONFIG SET MAXAGGREGATERESULTS`.
    pub max_aggregate_results: u64,
    /// Query dialect when a query names none; `FT.CONFIG SET DEFAULT_DIALECT`.
    pub default_dialect: u32,
    /// Milliseconds of each slice of the background scan that indexes existing keys.
    pub indexing_slice_ms: u64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            timeout_ms: 500,
            on_timeout: OnTimeout::Return,
            max_search_results: 1_000_000,
            max_aggregate_results: 1_000_000,
            default_dialect: 1,
            indexing_slice_ms: 10,
        }
    }
}

respite_core::plugin::api::builtin_plugin! {
    name: NAME,
    version: env!("CARGO_PKG_VERSION"),
    config: SearchConfig,
    create: || Box::new(Search),
}

/// The plugin instance (its state lives in the engine's plugin registry).
struct Search;

/// What the commands, the event handler and the indexer share, on the executor.
pub(crate) struct State {
    /// Indexes by name.
    pub indexes: BTreeMap<String, Index>,
    /// FT.ALIASADD's names, to index names.
    pub aliases: BTreeMap<String, String>,
    /// Settings (FT.CONFIG SET changes them).
    pub config: SearchConfig,
    /// The key-event subscription, held while any index exists.
    subscription: Option<SubscriptionId>,
    /// Whether a timer scans existing keys (false outside a running server: FT.CREATE then
    /// indexes them at once).
    pub background: bool,
}

/// Every key event that may change a hash or replace it with something else: all classes but
/// key misses, new-key notices and module events, plus FLUSHDB and SWAPDB.
const EVENTS: u16 = (class::ALL & !(class::KEY_MISS | class::NEW | class::MODULE))
    | class::DB_FLUSHED
    | class::DB_SWAPPED;

impl State {
    /// The index `name` names, directly or through an alias.
    pub fn resolve(&self, name: &str) -> Option<&Index> {
        self.indexes
            .get(name)
            .or_else(|| self.indexes.get(self.aliases.get(name)?))
    }
}

impl Plugin for Search {
    fn start(&mut self, reg: &mut Registrar<'_>) -> Result<(), PluginError> {
        let config: SearchConfig = reg.config()?;
        let fail = |e: String| PluginError::Failed {
            plugin: NAME.into(),
            message: e,
        };
        reg.commands(commands::COMMANDS)?;
        let slice = std::time::Duration::from_millis(config.indexing_slice_ms.max(1));
        let background = reg.executor().is_some();
        if background {
            reg.every("indexer", slice, indexer::tick)?;
        }
        let indexes = index::load(reg.engine()).map_err(|e| fail(e.to_string()))?;
        let aliases = alias::load(reg.engine()).map_err(|e| fail(e.to_string()))?;
        reg.set_state(State {
            indexes,
            aliases,
            config,
            subscription: None,
            background,
        });
        sync_subscription(reg.engine());
        Ok(())
    }

    fn stop(&mut self, engine: &mut Engine) {
        if let Some(id) = engine
            .state_mut::<State>()
            .and_then(|s| s.subscription.take())
        {
            engine.unsubscribe(id);
        }
    }
}

/// Listens to key events while any index exists, and only then: writes cost nothing extra
/// without an index.
pub(crate) fn sync_subscription(engine: &mut Engine) {
    let Some(st) = engine.state_mut::<State>() else {
        return;
    };
    match (st.indexes.is_empty(), st.subscription.is_some()) {
        (false, false) => {
            let id = engine.subscribe(EVENTS, None, Box::new(on_events));
            if let Some(st) = engine.state_mut::<State>() {
                st.subscription = Some(id);
            }
        }
        (true, true) => {
            if let Some(id) = st.subscription.take() {
                engine.unsubscribe(id);
            }
        }
        _ => {}
    }
}

/// Key events of a command: every touched key of database 0 that an index covers is re-read
/// and re-indexed (or removed); FLUSHDB empties the indexes, SWAPDB re-scans them.
fn on_events(engine: &mut Engine, events: &[KeyEvent]) {
    let mut keys: Vec<bytes::Bytes> = Vec::new();
    let mut seen: std::collections::HashSet<bytes::Bytes> = std::collections::HashSet::new();
    for e in events.iter().filter(|e| e.db == 0) {
        match e.class {
            class::DB_FLUSHED => {
                keys.clear();
                seen.clear();
                index::clear_all(engine, false);
            }
            class::DB_SWAPPED => {
                keys.clear();
                seen.clear();
                index::clear_all(engine, true);
            }
            _ => {
                let covered = engine
                    .state::<State>()
                    .is_some_and(|st| st.indexes.values().any(|i| i.def.matches(&e.key)));
                if covered && seen.insert(e.key.clone()) {
                    keys.push(e.key.clone());
                }
            }
        }
    }
    for key in keys {
        index::sync_key(engine, &key, None);
    }
}
