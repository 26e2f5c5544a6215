//! Writing keys here, as ordinary commands run by an internal client on the destination
//! database: RESTORE ... REPLACE ABSTTL for DUMP payloads, DEL + type-specific writes for a
//! [`Rebuild`], DEL for keys gone on the source. Each runs inside one executor step, so no
//! client ever sees a half-written key.

use bytes::Bytes;
use respite_core::plugin::api::Ctx;

use crate::options::TtlMode;
use crate::source::Rebuild;
use crate::state_keys::call;

/// A key ready to be written here.
#[derive(Debug, Clone)]
pub enum Item {
    /// Gone on the source: delete here.
    Gone,
    /// A DUMP payload and its absolute expiry (0: none).
    Dump {
        /// The payload.
        payload: Vec<u8>,
        /// Unix ms, 0 for none.
        expire_at: i64,
    },
    /// Type-specific writes and the absolute expiry.
    Rebuild {
        /// The commands.
        rebuild: Rebuild,
        /// Unix ms, 0 for none.
        expire_at: i64,
    },
    /// A type Respite does not have.
    Unsupported(String),
    /// Fetching failed.
    Failed(String),
}

/// The absolute expiry for a PTTL read at `read_at` (Unix ms).
pub fn expire_at(pttl: i64, read_at: i64, mode: TtlMode) -> i64 {
    match mode {
        TtlMode::Drop => 0,
        TtlMode::Preserve if pttl > 0 => read_at + pttl,
        // Expiring right now: keep it expiring (a time in the past deletes it here).
        TtlMode::Preserve if pttl == 0 => read_at.max(1),
        TtlMode::Preserve => 0,
    }
}

/// What writing one item did.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// Written, with this many payload bytes.
    Copied(usize),
    /// Deleted here (or already absent).
    Deleted,
    /// Not written: RESTORE refused the payload (the caller may rebuild by type).
    Refused(String),
}

fn b(s: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(s.as_ref())
}

/// Writes `key` (to the context's database).
pub fn write(ctx: &mut Ctx<'_>, key: &[u8], item: &Item) -> Result<Written, String> {
    match item {
        Item::Gone => {
            call(ctx, &[b("DEL"), b(key)])?;
            Ok(Written::Deleted)
        }
        Item::Dump { payload, expire_at } => {
            let r = ctx.call(&[
                b("RESTORE"),
                b(key),
                b(expire_at.to_string()),
                Bytes::from(payload.clone()),
                b("REPLACE"),
                b("ABSTTL"),
            ]);
            match crate::reply::error(&r) {
                Some(e) => Ok(Written::Refused(e)),
                None => {
                    if *expire_at != 0 && *expire_at <= ctx.now() {
                        // Expired on the way: RESTORE deleted it, as the source will.
                        return Ok(Written::Deleted);
                    }
                    Ok(Written::Copied(payload.len()))
                }
            }
        }
        Item::Rebuild { rebuild, expire_at } => {
            call(ctx, &[b("DEL"), b(key)])?;
            for w in &rebuild.writes {
                let argv: Vec<Bytes> = w.iter().map(b).collect();
                if let Err(e) = call(ctx, &argv) {
                    // Leave nothing half-built.
                    call(ctx, &[b("DEL"), b(key)])?;
                    return Err(format!(
                        "rebuilding with {} failed: {e}",
                        String::from_utf8_lossy(&w[0])
                    ));
                }
            }
            if *expire_at != 0 {
                call(ctx, &[b("PEXPIREAT"), b(key), b(expire_at.to_string())])?;
            }
            Ok(Written::Copied(rebuild.size()))
        }
        Item::Unsupported(ty) => Err(format!("type '{ty}' is not supported here")),
        Item::Failed(e) => Err(e.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_become_absolute() {
        assert_eq!(expire_at(-1, 1000, TtlMode::Preserve), 0);
        assert_eq!(expire_at(500, 1000, TtlMode::Preserve), 1500);
        assert_eq!(expire_at(0, 1000, TtlMode::Preserve), 1000);
        assert_eq!(expire_at(500, 1000, TtlMode::Drop), 0);
    }
}
