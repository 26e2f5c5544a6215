//! `mirror = [...]`: ordinary writes (SET, HSET, DEL, EXPIRE, expiry, ...) to keys matching
//! the patterns publish envelopes, so applications get sync without changing their writes.
//! One envelope per key and command, however many events the command caused; a string's
//! envelope carries its value, another type's a nil value (replicas read it with ordinary
//! commands), a removed key's a nil value of type `none`. The writes of SYNC.SET and
//! SYNC.DEL published their envelopes already and are skipped.

use bytes::Bytes;
use respite_core::plugin::api::{
    class, glob_match, with_internal_ctx, Ctx, Engine, KeyEvent, Registrar, Reply, SubscriptionId,
};

use crate::envelope::{Envelope, SyncKey};
use crate::meta::{self, META_KEY};
use crate::{queue, state};

/// Every event class that reports a change (not `new`, which comes with the write's own
/// event, nor key misses).
const CHANGES: u16 = class::ALL & !(class::NEW | class::KEY_MISS);

/// One subscription for all the patterns (overlapping patterns still give one envelope).
pub fn subscribe(reg: &mut Registrar<'_>) -> SubscriptionId {
    reg.subscribe(CHANGES, None, Box::new(on_events))
}

fn on_events(engine: &mut Engine, events: &[KeyEvent]) {
    let mut changed: Vec<SyncKey> = Vec::new();
    let origin = {
        let Some(st) = state(engine) else {
            return;
        };
        for e in events {
            if &e.key[..] == META_KEY
                || !st
                    .config
                    .mirror
                    .iter()
                    .any(|p| glob_match(p.as_bytes(), &e.key, false))
            {
                continue;
            }
            let key = SyncKey {
                db: e.db,
                key: e.key.clone(),
            };
            if let Some(n) = st.own_writes.get_mut(&key) {
                if *n > 0 {
                    *n -= 1;
                    continue;
                }
            }
            if !changed.contains(&key) {
                changed.push(key);
            }
        }
        st.instance.clone()
    };
    for key in changed {
        match with_internal_ctx(engine, key.db, |ctx| envelope(ctx, &key.key, &origin)) {
            Ok(env) => queue(engine, env, false),
            Err(e) => tracing::warn!(
                key = %String::from_utf8_lossy(&key.key),
                error = ?e,
                "sync: cannot mirror a write"
            ),
        }
    }
}

fn envelope(ctx: &mut Ctx<'_>, key: &Bytes, origin: &str) -> Result<Envelope, Reply> {
    let (value, kind) = crate::commands::current_value(ctx, key)?;
    let meta = meta::next(ctx, key, None)?;
    meta::store(ctx, key, &meta)?;
    let sk = SyncKey {
        db: ctx.db(),
        key: key.clone(),
    };
    Ok(Envelope::new(
        &sk,
        value,
        kind,
        meta.schema_version,
        meta.sequence,
        origin.to_string(),
    ))
}
