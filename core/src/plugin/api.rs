//! The plugin API: everything a built-in plugin may use of the core, and nothing else. A
//! plugin crate names `respite_core::plugin::api` (and the `builtin_plugin!` macro) only; a
//! test over the plugins' sources (`tests/architecture.rs`) fails when one names anything
//! else. Third-party plugins see the same concepts under the same names through
//! `respite-plugin-sdk`'s C ABI.
//!
//! - **Register** ([`Registrar`], in [`Plugin::start`]): commands as rows of the core's own
//!   table ([`CommandSpec`], built with its builder), key-event subscriptions, after-command
//!   hooks, commit hooks ([`Registrar::after_commit`]), client-gone hooks, a pub/sub relay
//!   ([`Registrar::relay_publish`]), timers ([`Registrar::every`]), background tasks ([`Registrar::spawn`]) that hand
//!   work to the executor ([`EngineHandle`]), an INFO section, typed state, and the plugin's
//!   `[plugins.NAME]` section ([`Registrar::config`]). `MODULE UNLOAD` and disabling the
//!   plugin remove all of it. A command's ACL categories ([`CommandSpec::categories`],
//!   [`Command::categories`]) are what `+@category` rules match, with those its flags imply
//!   (`write`, `read`, `admin`, `fast` or else `slow`, ...), so a command declaring none is
//!   still in `@slow` and, by its flags, `@write` or `@read`.
//! - **Run** (a command handler's [`Ctx`]): the calling client ([`Ctx::db`],
//!   [`Ctx::client_id`]), the command's clock, another command ([`Ctx::call`], checked
//!   against the calling client's ACL user as Redis checks a module's call), key events
//!   ([`Ctx::notify`]), parking the client ([`Ctx::block`]), pushing to it later from any
//!   thread ([`Ctx::push_target`]); outside a command, [`with_internal_ctx`] gives a `Ctx`
//!   for an internal client, and [`Engine::call`] runs one command as such a client.
//! - **Work of its own** ([`Engine`], from a task's [`EngineHandle::run`]):
//!   [`Engine::run_internal`] runs commands as an internal client on a database, and
//!   [`Engine::commit_attempts`] tells when the batch holding those writes has been stored.
//! - **Own tables** in the keyspace's SQLite file, written in the same transaction as the
//!   keys ([`Ctx::sql_execute`], [`Ctx::sql_query`], [`Ctx::sql_batch`] and the same on
//!   [`Engine`]): name them with the plugin's prefix (`search_...`); writes must be
//!   deterministic, since the redo journal replays them after a crash.
//! - **Serve later** ([`Engine`]): [`Engine::run_as`] a parked client,
//!   [`Engine::serve_blocked`] / [`Engine::unblock`] it, the plugin's state
//!   ([`Engine::state_mut`]), subscriptions made at run time ([`Engine::subscribe`]).
//! - **Typed keyspace operations** the blocking commands share with their non-blocking forms:
//!   [`list`], [`zset`] and [`stream`].

pub use super::{with_internal_ctx, EngineHandle, Plugin, PluginError, Registrar, Shutdown};
pub use crate::commands::long_double::parse_block_timeout;
pub use crate::commands::{eq_ci, err_syntax};
pub use crate::engine::blocked::{BlockSpec, Unblock, UnblockHook};
pub use crate::engine::client::ClientId;
pub use crate::engine::pubsub::{PublishRelay, PushTarget};
pub use crate::engine::table::{flags, Command, CommandSpec, Handler};
pub use crate::engine::{
    AfterCommandHook, ClientGoneHook, CommitHook, Ctx, Engine, EventHandler, InfoWriter,
    SubscriptionId,
};
pub use crate::events::{class, KeyEvent};
pub use crate::glob::glob_match;
pub use crate::protocol::Protocol;
pub use crate::protocol::Reply;
pub use crate::storage::{DbIndex, SqlValue, StoreError, ValueType};
pub use crate::{builtin_plugin, tri};

/// Unix time in milliseconds, the clock of expiry.
pub fn now_ms() -> i64 {
    crate::keyspace::now_ms()
}

/// List operations, as LPOP, LMPOP and LMOVE run them (events included).
pub mod list {
    pub use crate::commands::list::{lmove_core as lmove, mpop_first, parse_mpop, pop, MPop};
}

/// Sorted-set operations, as ZPOPMIN, ZPOPMAX and ZMPOP run them (events included).
pub mod zset {
    pub use crate::commands::zset::{parse_zmpop, zmpop_reply, zpop_first as pop_first, ZMPop};
}

/// Stream reads, as XREAD and XREADGROUP run them: the command as called (a reply, or what to
/// wait for under BLOCK), and serving a waiter once entries arrive.
pub mod stream {
    pub use crate::commands::stream::{xread_serve, xread_start, ReadStart};
    pub use crate::commands::stream_group::{xreadgroup_serve, xreadgroup_start};
    pub use crate::keyspace::StreamId;
}
