//! Where a synced key's envelope metadata lives: one field per key in the reserved hash
//! [`META_KEY`] of the key's database, `"<sequence> <schema_version>"`. Written with the value
//! in the same command, so both commit together; kept when the key is deleted, so a key
//! written again goes on from its last sequence instead of repeating one. FLUSHDB and
//! FLUSHALL remove the hash with everything else.

use bytes::Bytes;
use respite_core::plugin::api::{Ctx, Reply};

/// The reserved hash holding every synced key's sequence and schema version.
pub const META_KEY: &[u8] = b"__respite:sync";

/// A key's last envelope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// The last sequence published (0: never).
    pub sequence: u64,
    /// The schema version of the last SYNC.SET.
    pub schema_version: String,
}

impl Meta {
    fn parse(raw: &[u8]) -> Option<Meta> {
        let text = std::str::from_utf8(raw).ok()?;
        let (seq, version) = text.split_once(' ').unwrap_or((text, ""));
        Some(Meta {
            sequence: seq.parse().ok()?,
            schema_version: version.to_string(),
        })
    }

    fn render(&self) -> Bytes {
        Bytes::from(format!("{} {}", self.sequence, self.schema_version))
    }
}

/// The metadata of `key` (`None`: never synced); an error reply when the reserved hash was
/// overwritten with something else.
pub fn load(ctx: &mut Ctx<'_>, key: &Bytes) -> Result<Option<Meta>, Reply> {
    match ctx.call(&[
        Bytes::from_static(b"HGET"),
        Bytes::from_static(META_KEY),
        key.clone(),
    ]) {
        Reply::Null => Ok(None),
        Reply::Bulk(raw) => Meta::parse(&raw).map(Some).ok_or_else(|| corrupt(key)),
        Reply::Error(e) => Err(Reply::Error(
            format!(
                "{e} (the reserved key '{}' must stay a hash)",
                String::from_utf8_lossy(META_KEY)
            )
            .into(),
        )),
        _ => Err(corrupt(key)),
    }
}

/// Records `meta` for `key`.
pub fn store(ctx: &mut Ctx<'_>, key: &Bytes, meta: &Meta) -> Result<(), Reply> {
    match ctx.call(&[
        Bytes::from_static(b"HSET"),
        Bytes::from_static(META_KEY),
        key.clone(),
        meta.render(),
    ]) {
        r @ Reply::Error(_) => Err(r),
        _ => Ok(()),
    }
}

/// The metadata of the next change of `key`: its sequence plus one, `version` or the last
/// schema version.
pub fn next(ctx: &mut Ctx<'_>, key: &Bytes, version: Option<String>) -> Result<Meta, Reply> {
    let last = load(ctx, key)?.unwrap_or_default();
    let sequence = last
        .sequence
        .checked_add(1)
        .ok_or_else(|| Reply::error("ERR the key's sync sequence is exhausted"))?;
    Ok(Meta {
        sequence,
        schema_version: version.unwrap_or(last.schema_version),
    })
}

fn corrupt(key: &[u8]) -> Reply {
    Reply::Error(
        format!(
            "ERR the sync metadata of '{}' in '{}' is not '<sequence> <schema_version>'",
            String::from_utf8_lossy(&key[..key.len().min(128)]),
            String::from_utf8_lossy(META_KEY)
        )
        .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_render_round_trip() {
        let m = Meta {
            sequence: 42,
            schema_version: "3.1 beta".into(),
        };
        assert_eq!(Meta::parse(&m.render()), Some(m));
        assert_eq!(
            Meta::parse(b"7"),
            Some(Meta {
                sequence: 7,
                schema_version: String::new()
            })
        );
        assert_eq!(Meta::parse(b"x 1"), None);
        assert_eq!(Meta::parse(b"-1 a"), None);
    }
}
