//! FT.SUGADD, FT.SUGGET, FT.SUGDEL and FT.SUGLEN: auto-complete dictionaries, one per name,
//! in `search_suggestions`. Prefixes match case-insensitively (entries keep their spelling);
//! FUZZY also accepts prefixes one edit away (Levenshtein distance 1), as RediSearch does.
//!
//! The dictionaries live in the plugin's table, not in the keyspace: `EXISTS` and `DEL` do
//! not see them (RediSearch keeps them as module-type keys).

use bytes::Bytes;
use respite_core::plugin::api::{Ctx, Reply, SqlValue};

use crate::reply::{err, err_store, fmt_num, is, text, uint};
use crate::tables;

fn key(b: &Bytes) -> SqlValue {
    SqlValue::Blob(b.to_vec())
}

fn len(ctx: &mut Ctx<'_>, k: &Bytes) -> Result<i64, Reply> {
    ctx.sql_query(
        "SELECT count(*) FROM search_suggestions WHERE key = ?",
        &[key(k)],
    )
    .map(|rows| tables::int(rows.first().and_then(|r| r.first())))
    .map_err(|e| err_store(&e))
}

/// `FT.SUGADD key string score [INCR] [PAYLOAD payload]`: the dictionary's size after.
pub fn ft_sugadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let string = text(&argv[2]);
    let Some(score) = std::str::from_utf8(&argv[3])
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite())
    else {
        return err("ERR invalid score");
    };
    let mut incr = false;
    let mut payload = SqlValue::Null;
    let mut i = 4;
    while i < argv.len() {
        if is(&argv[i], "INCR") {
            incr = true;
            i += 1;
        } else if is(&argv[i], "PAYLOAD") && i + 1 < argv.len() {
            payload = SqlValue::Blob(argv[i + 1].to_vec());
            i += 2;
        } else {
            return err("ERR syntax error");
        }
    }
    let sql = if incr {
        "INSERT INTO search_suggestions (key, norm, string, score, payload) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (key, norm) DO UPDATE SET score = score + excluded.score,
             payload = coalesce(excluded.payload, payload)"
    } else {
        "INSERT INTO search_suggestions (key, norm, string, score, payload) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (key, norm) DO UPDATE SET string = excluded.string, score = excluded.score,
             payload = coalesce(excluded.payload, payload)"
    };
    let params = [
        key(&argv[1]),
        SqlValue::Text(string.to_lowercase()),
        SqlValue::Text(string),
        SqlValue::Real(score),
        payload,
    ];
    if let Err(e) = ctx.sql_execute(sql, &params) {
        return err_store(&e);
    }
    match len(ctx, &argv[1]) {
        Ok(n) => Reply::Integer(n),
        Err(e) => e,
    }
}

/// Whether some prefix of `s` is at most one edit away from `p`.
fn fuzzy_prefix(p: &[char], s: &[char]) -> bool {
    // Edit distance between p and each prefix of s: the last row of the DP table.
    let mut prev: Vec<usize> = (0..=s.len()).collect();
    for (i, pc) in p.iter().enumerate() {
        let mut cur = vec![i + 1; s.len() + 1];
        for (j, sc) in s.iter().enumerate() {
            let cost = usize::from(pc != sc);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev.iter().any(|d| *d <= 1)
}

/// `FT.SUGGET key prefix [FUZZY] [WITHSCORES] [WITHPAYLOADS] [MAX n]`: best scores first.
pub fn ft_sugget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let prefix = text(&argv[2]).to_lowercase();
    let (mut fuzzy, mut withscores, mut withpayloads, mut max) = (false, false, false, 5u64);
    let mut i = 3;
    while i < argv.len() {
        let a = &argv[i];
        if is(a, "FUZZY") {
            fuzzy = true;
        } else if is(a, "WITHSCORES") {
            withscores = true;
        } else if is(a, "WITHPAYLOADS") {
            withpayloads = true;
        } else if is(a, "MAX") {
            match uint(argv.get(i + 1)) {
                Some(n) => max = n,
                None => return err("ERR syntax error"),
            }
            i += 1;
        } else {
            return err("ERR syntax error");
        }
        i += 1;
    }
    let rows = if fuzzy {
        ctx.sql_query("SELECT string, score, payload, norm FROM search_suggestions WHERE key = ? ORDER BY score DESC, norm", &[key(&argv[1])])
    } else {
        ctx.sql_query(
            "SELECT string, score, payload, norm FROM search_suggestions WHERE key = ? AND norm >= ? AND norm < ? ORDER BY score DESC, norm LIMIT ?",
            &[key(&argv[1]), SqlValue::Text(prefix.clone()), SqlValue::Text(format!("{prefix}\u{10FFFF}")), SqlValue::Integer(max.min(i64::MAX as u64) as i64)],
        )
    };
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return err_store(&e),
    };
    let p: Vec<char> = prefix.chars().collect();
    let mut out = Vec::new();
    for row in rows
        .iter()
        .filter(|r| {
            !fuzzy || {
                let norm = String::from_utf8_lossy(&tables::bytes(r.get(3))).into_owned();
                fuzzy_prefix(&p, &norm.chars().collect::<Vec<_>>())
            }
        })
        .take(max as usize)
    {
        out.push(Reply::Bulk(tables::bytes(row.first())));
        if withscores {
            let score = match row.get(1) {
                Some(SqlValue::Real(s)) => *s,
                Some(SqlValue::Integer(s)) => *s as f64,
                _ => 0.0,
            };
            out.push(Reply::Bulk(Bytes::from(fmt_num(score))));
        }
        if withpayloads {
            out.push(match row.get(2) {
                Some(SqlValue::Blob(b)) => Reply::Bulk(Bytes::copy_from_slice(b)),
                _ => Reply::Null,
            });
        }
    }
    Reply::Array(out)
}

/// `FT.SUGDEL key string`: 1 if it was there.
pub fn ft_sugdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match ctx.sql_execute(
        "DELETE FROM search_suggestions WHERE key = ? AND norm = ?",
        &[key(&argv[1]), SqlValue::Text(text(&argv[2]).to_lowercase())],
    ) {
        Ok(n) => Reply::Integer(n as i64),
        Err(e) => err_store(&e),
    }
}

/// `FT.SUGLEN key`.
pub fn ft_suglen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match len(ctx, &argv[1]) {
        Ok(n) => Reply::Integer(n),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::fuzzy_prefix;

    fn f(p: &str, s: &str) -> bool {
        fuzzy_prefix(
            &p.chars().collect::<Vec<_>>(),
            &s.chars().collect::<Vec<_>>(),
        )
    }

    #[test]
    fn one_edit_away_prefixes() {
        assert!(f("hel", "hello"));
        assert!(f("hwl", "hello"));
        assert!(f("hell", "help"));
        assert!(f("helo", "hello"));
        assert!(!f("xyz", "hello"));
    }
}
