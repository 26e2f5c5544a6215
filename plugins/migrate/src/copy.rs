//! Copying keys, shared by bulk, apply-dirty and the sweep: fetch from the source into
//! [`Item`]s, then write them here inside one executor step.

use respite_core::plugin::api::{now_ms, Engine};

use crate::dest::{self, Item, Written};
use crate::options::TtlMode;
use crate::source::{Fetched, Source};

/// Types RESTORE here takes from a redis-server DUMP.
const RESTORABLE: &[&str] = &["string", "list", "set", "zset", "hash"];

/// Fetches `keys` as items: DUMP payloads, or type-specific reads for streams (which
/// RESTORE here does not read).
pub async fn fetch(src: &Source, keys: &[Vec<u8>], mode: TtlMode) -> Result<Vec<Item>, String> {
    let read_at = now_ms();
    let fetched = src.fetch(keys).await?;
    let mut items = Vec::with_capacity(keys.len());
    for (key, f) in keys.iter().zip(fetched) {
        items.push(match f {
            Fetched::Gone => Item::Gone,
            Fetched::Dump { ty, pttl, payload } => {
                let expire_at = dest::expire_at(pttl, read_at, mode);
                if RESTORABLE.contains(&ty.as_str()) {
                    Item::Dump { payload, expire_at }
                } else if ty == "stream" {
                    rebuild(src, key, &ty, expire_at).await?
                } else {
                    Item::Unsupported(ty)
                }
            }
        });
    }
    Ok(items)
}

/// The type-specific form of a key (for streams, and payloads RESTORE refused). A lost
/// connection fails the whole batch (`Err`: retried from the checkpoint); other errors fail
/// the key.
pub async fn rebuild(src: &Source, key: &[u8], ty: &str, expire_at: i64) -> Result<Item, String> {
    match src.read_value(key, ty).await {
        Ok(Some(rebuild)) => Ok(Item::Rebuild { rebuild, expire_at }),
        Ok(None) => Ok(Item::Gone),
        Err(e) if e.starts_with("cannot reach the source") => Err(e),
        Err(e) => Ok(Item::Failed(e)),
    }
}

/// The outcome of writing one item.
#[derive(Debug)]
pub enum Outcome {
    /// Written, with its bytes.
    Copied(usize),
    /// Gone on the source, deleted here.
    Deleted,
    /// RESTORE refused the payload: retry with a rebuild.
    Refused(String),
    /// Of a type Respite does not have.
    Unsupported(String),
    /// Failed.
    Failed(String),
}

/// Writes the items to `db` as one step; each item's outcome in order.
pub fn write_all(engine: &mut Engine, db: u32, items: &[(Vec<u8>, Item)]) -> Vec<Outcome> {
    engine.run_internal(db, |ctx| {
        items
            .iter()
            .map(|(key, item)| match item {
                Item::Unsupported(ty) => Outcome::Unsupported(ty.clone()),
                Item::Failed(e) => Outcome::Failed(e.clone()),
                _ => match dest::write(ctx, key, item) {
                    Ok(Written::Copied(n)) => Outcome::Copied(n),
                    Ok(Written::Deleted) => Outcome::Deleted,
                    Ok(Written::Refused(e)) => Outcome::Refused(e),
                    Err(e) => Outcome::Failed(e),
                },
            })
            .collect()
    })
}
