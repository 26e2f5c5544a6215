//! What plugins reach of the store and the command table outside a client's command: SQL on
//! their own tables in the keyspace's transaction ([`Engine::sql_execute`]), and commands run
//! as an internal client ([`Engine::call`]) from event handlers and timers.

use bytes::Bytes;

use super::client::ClientState;
use super::{Ctx, Engine};
use crate::keyspace::now_ms;
use crate::protocol::Reply;
use crate::storage::{DbIndex, SqlValue, StoreError};

/// The client [`Engine::call`] runs commands as, kept between calls.
struct InternalClient(Box<ClientState>);

impl Engine {
    /// Runs one write statement on the plugin's own tables (named with its prefix), in the
    /// keyspace's open transaction: it commits with the batch's key writes, atomically, and
    /// the command's reply waits for that commit. Must be deterministic (no `random()`, no
    /// clock): the store may replay it after a crash.
    pub fn sql_execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<usize, StoreError> {
        let changed = self.keyspace.store_mut().sql_execute(sql, params)?;
        self.keyspace.note_store_write();
        Ok(changed)
    }

    /// Runs one read statement on the plugin's own tables; it sees the open transaction.
    pub fn sql_query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        self.keyspace.store_mut().sql_query(sql, params)
    }

    /// Runs parameterless DDL (`CREATE TABLE IF NOT EXISTS`, `CREATE VIRTUAL TABLE`, `DROP
    /// TABLE`) in the open transaction.
    pub fn sql_batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.keyspace.store_mut().sql_batch(sql)?;
        self.keyspace.note_store_write();
        Ok(())
    }

    /// Runs a command in database `db` as an internal client (authenticated, RESP2, in no
    /// transaction), inside the running atomic step: how an event handler or a timer reads
    /// the keys it is told about. Commands flagged `noscript` are refused, as by
    /// [`Ctx::call`].
    pub fn call(&mut self, db: DbIndex, argv: &[Bytes]) -> Reply {
        let mut client = match self.extensions.remove::<InternalClient>() {
            Some(c) => c.0,
            None => Box::new(ClientState::internal(db)),
        };
        client.db = db;
        let reply = Ctx {
            engine: &mut *self,
            client: &mut client,
            now: now_ms(),
        }
        .call(argv);
        self.extensions.insert(InternalClient(client));
        reply
    }
}

impl Ctx<'_> {
    /// [`Engine::sql_execute`] for a command handler.
    pub fn sql_execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<usize, StoreError> {
        self.engine.sql_execute(sql, params)
    }

    /// [`Engine::sql_query`] for a command handler.
    pub fn sql_query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        self.engine.sql_query(sql, params)
    }

    /// [`Engine::sql_batch`] for a command handler.
    pub fn sql_batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.engine.sql_batch(sql)
    }

    /// Whether the calling client speaks RESP3 (`HELLO 3`), for replies whose shape differs
    /// (maps where RESP2 has flat arrays of a different layout).
    pub fn resp3(&self) -> bool {
        self.client.protocol == crate::protocol::Protocol::Resp3
    }
}
