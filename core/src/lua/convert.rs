//! Redis's conversion rules between Lua values and replies, both ways: what a script
//! returns becomes the client's reply; what `redis.call` gets back becomes a Lua value, shaped
//! by the script's protocol (`redis.setresp`).

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use crate::protocol::{format_double, human_double, Protocol, Reply};

/// Deepest table nesting converted to a reply (Redis stops at its Lua stack limit); a
/// self-referencing table would otherwise recurse without end.
const MAX_DEPTH: usize = 200;

/// The reply for a script's return value, as Redis's `luaReplyToRedisReply`: numbers are
/// truncated to integers, `true` is 1 (a boolean with `redis.setresp(3)`), `false` and `nil`
/// are null, a table with `err` / `ok` is an error / status, RESP3 tables (`map`, `set`,
/// `double`, `big_number`, `verbatim_string`) become those types, and any other table is an
/// array that stops at its first nil.
pub fn lua_to_reply(value: &Value, resp: Protocol) -> Reply {
    to_reply(value, resp, 0)
}

fn to_reply(value: &Value, resp: Protocol, depth: usize) -> Reply {
    match value {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) => match (resp, b) {
            (Protocol::Resp2, true) => Reply::Integer(1),
            (Protocol::Resp2, false) => Reply::Null,
            (Protocol::Resp3, b) => Reply::Boolean(*b),
        },
        Value::Integer(n) => Reply::Integer(*n),
        Value::Number(n) => Reply::Integer(number_to_i64(*n)),
        Value::Table(t) => {
            if depth >= MAX_DEPTH {
                return Reply::error("ERR reached lua stack limit");
            }
            table_to_reply(t, resp, depth)
        }
        _ => Reply::Null,
    }
}

/// C's `(long long)` cast of a Lua number, saturating where C would be undefined.
fn number_to_i64(n: f64) -> i64 {
    if n.is_nan() {
        i64::MIN
    } else {
        n as i64
    }
}

fn field(t: &Table, name: &str) -> Value {
    t.raw_get(name).unwrap_or(Value::Nil)
}

fn table_to_reply(t: &Table, resp: Protocol, depth: usize) -> Reply {
    if let Value::String(err) = field(t, "err") {
        return Reply::Error(error_text(&err.as_bytes()).into());
    }
    if let Value::String(ok) = field(t, "ok") {
        return Reply::Simple(single_line(&ok.as_bytes()).into());
    }
    if let Some(n) = match field(t, "double") {
        Value::Number(n) => Some(n),
        Value::Integer(n) => Some(n as f64),
        _ => None,
    } {
        return Reply::Double(n);
    }
    if let Value::String(s) = field(t, "big_number") {
        return Reply::BigNumber(Bytes::copy_from_slice(&s.as_bytes()));
    }
    if let Value::Table(v) = field(t, "verbatim_string") {
        if let (Value::String(format), Value::String(text)) =
            (field(&v, "format"), field(&v, "string"))
        {
            let format = format.as_bytes();
            if format.len() == 3 {
                return Reply::Verbatim {
                    format: [format[0], format[1], format[2]],
                    text: Bytes::copy_from_slice(&text.as_bytes()),
                };
            }
        }
    }
    if let Value::Table(m) = field(t, "map") {
        let mut pairs = Vec::new();
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            pairs.push((to_reply(&k, resp, depth + 1), to_reply(&v, resp, depth + 1)));
        }
        return Reply::Map(pairs);
    }
    if let Value::Table(s) = field(t, "set") {
        let members = s
            .pairs::<Value, Value>()
            .flatten()
            .map(|(k, _)| to_reply(&k, resp, depth + 1))
            .collect();
        return Reply::Set(members);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(to_reply(&v, resp, depth + 1)),
        }
    }
    Reply::Array(items)
}

/// An error text for a reply: Redis removes a leading `-` and sends the rest as is; line
/// breaks become spaces.
fn error_text(b: &[u8]) -> String {
    let b = b.strip_prefix(b"-").unwrap_or(b);
    single_line(b)
}

fn single_line(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// The text Redis stores in an error table built from `text` (`luaPushErrorBuff`): a leading
/// `-CODE msg` keeps its code, anything else gets `ERR `; trailing line breaks are trimmed.
pub fn error_table_text(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let (code, msg) = match text.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, msg)) => (code.to_string(), msg.to_string()),
            None => ("ERR".to_string(), rest.to_string()),
        },
        None => ("ERR".to_string(), text.to_string()),
    };
    format!("{code} {}", msg.trim_matches(|c| c == '\r' || c == '\n'))
}

/// A Lua table `{err = text}`.
pub fn error_table(lua: &Lua, text: &str) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set("err", lua.create_string(text)?)?;
    Ok(t)
}

/// The Lua value for a command's reply, as Redis's `redisProtocolToLuaType`: integers are
/// numbers, bulk strings strings, nulls `false` (`nil` in RESP3), statuses `{ok=...}`, errors
/// `{err=...}`, arrays tables; with RESP3, maps `{map=...}`, sets `{set=...}`, doubles
/// `{double=...}`, booleans booleans, big numbers `{big_number=...}` and verbatim strings
/// `{verbatim_string={format=..., string=...}}`. In RESP2 those types take their RESP2 shape.
pub fn reply_to_lua(lua: &Lua, reply: &Reply, resp: Protocol) -> mlua::Result<Value> {
    let resp3 = resp == Protocol::Resp3;
    Ok(match reply {
        Reply::Simple(s) => {
            let t = lua.create_table_with_capacity(0, 1)?;
            t.raw_set("ok", lua.create_string(s.as_bytes())?)?;
            Value::Table(t)
        }
        Reply::Error(e) => {
            let e = e.strip_prefix('-').unwrap_or(e);
            Value::Table(error_table(lua, e)?)
        }
        Reply::Integer(n) => Value::Integer(*n as mlua::Integer),
        Reply::Bulk(b) => Value::String(lua.create_string(&b[..])?),
        Reply::Null | Reply::NullArray if resp3 => Value::Nil,
        Reply::Null | Reply::NullArray => Value::Boolean(false),
        Reply::Array(items) | Reply::Push(items) => array(lua, items, resp)?,
        Reply::Set(items) if resp3 => {
            let set = lua.create_table_with_capacity(0, items.len())?;
            for item in items {
                set.raw_set(reply_to_lua(lua, item, resp)?, true)?;
            }
            wrap(lua, "set", Value::Table(set))?
        }
        Reply::Set(items) => array(lua, items, resp)?,
        Reply::Map(pairs) if resp3 => {
            let map = lua.create_table_with_capacity(0, pairs.len())?;
            for (k, v) in pairs {
                map.raw_set(reply_to_lua(lua, k, resp)?, reply_to_lua(lua, v, resp)?)?;
            }
            wrap(lua, "map", Value::Table(map))?
        }
        Reply::Map(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.iter().enumerate() {
                t.raw_set(2 * i + 1, reply_to_lua(lua, k, resp)?)?;
                t.raw_set(2 * i + 2, reply_to_lua(lua, v, resp)?)?;
            }
            Value::Table(t)
        }
        Reply::Double(d) if resp3 => wrap(lua, "double", Value::Number(*d))?,
        Reply::Double(d) => Value::String(lua.create_string(format_double(*d))?),
        Reply::HumanDouble(d) if resp3 => wrap(lua, "double", Value::Number(*d))?,
        Reply::HumanDouble(d) => Value::String(lua.create_string(human_double(*d))?),
        Reply::Boolean(b) if resp3 => Value::Boolean(*b),
        Reply::Boolean(b) => Value::Integer(*b as mlua::Integer),
        Reply::BigNumber(digits) if resp3 => wrap(
            lua,
            "big_number",
            Value::String(lua.create_string(&digits[..])?),
        )?,
        Reply::BigNumber(digits) => Value::String(lua.create_string(&digits[..])?),
        Reply::Verbatim { format, text } if resp3 => {
            let v = lua.create_table_with_capacity(0, 2)?;
            v.raw_set("format", lua.create_string(&format[..])?)?;
            v.raw_set("string", lua.create_string(&text[..])?)?;
            wrap(lua, "verbatim_string", Value::Table(v))?
        }
        Reply::Verbatim { text, .. } => Value::String(lua.create_string(&text[..])?),
    })
}

fn array(lua: &Lua, items: &[Reply], resp: Protocol) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, reply_to_lua(lua, item, resp)?)?;
    }
    Ok(Value::Table(t))
}

fn wrap(lua: &Lua, name: &str, value: Value) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(name, value)?;
    Ok(Value::Table(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(lua: &Lua, code: &str, resp: Protocol) -> Reply {
        let v: Value = lua.load(code).eval().expect("valid Lua");
        lua_to_reply(&v, resp)
    }

    #[test]
    fn script_values_become_replies() {
        let lua = Lua::new();
        let r2 = Protocol::Resp2;
        assert_eq!(eval(&lua, "return 3.99", r2), Reply::Integer(3));
        assert_eq!(eval(&lua, "return -3.99", r2), Reply::Integer(-3));
        assert_eq!(eval(&lua, "return true", r2), Reply::Integer(1));
        assert_eq!(eval(&lua, "return false", r2), Reply::Null);
        assert_eq!(eval(&lua, "return nil", r2), Reply::Null);
        assert_eq!(
            eval(&lua, "return {1, 'x', nil, 4}", r2),
            Reply::Array(vec![Reply::Integer(1), Reply::bulk("x")])
        );
        assert_eq!(
            eval(&lua, "return {err='-MY oops\\n'}", r2),
            Reply::error("MY oops ")
        );
        assert_eq!(
            eval(&lua, "return {ok='fine'}", r2),
            Reply::Simple("fine".into())
        );
        assert_eq!(eval(&lua, "return {double=1.5}", r2), Reply::Double(1.5));
        assert_eq!(
            eval(&lua, "return true", Protocol::Resp3),
            Reply::Boolean(true)
        );
        let t: Value = lua
            .load("local t = {} t[1] = t return t")
            .eval()
            .expect("valid");
        // A self-referencing table ends in an error element instead of recursing forever.
        let mut r = lua_to_reply(&t, r2);
        let mut depth = 0;
        while let Reply::Array(mut items) = r {
            r = items.remove(0);
            depth += 1;
        }
        assert_eq!(depth, MAX_DEPTH);
        assert!(r.is_error());
    }

    #[test]
    fn replies_become_lua_values() {
        let lua = Lua::new();
        let map = Reply::Map(vec![(Reply::bulk("a"), Reply::Double(0.5))]);
        let v2 = reply_to_lua(&lua, &map, Protocol::Resp2).expect("converts");
        let Value::Table(t) = v2 else { panic!("table") };
        assert_eq!(t.raw_get::<String>(2).expect("field"), "0.5");
        let v3 = reply_to_lua(&lua, &map, Protocol::Resp3).expect("converts");
        let Value::Table(t) = v3 else { panic!("table") };
        let inner: Table = t.raw_get("map").expect("map");
        let d: Table = inner.raw_get("a").expect("double");
        assert_eq!(d.raw_get::<f64>("double").expect("n"), 0.5);
        assert_eq!(
            reply_to_lua(&lua, &Reply::Null, Protocol::Resp2).expect("converts"),
            Value::Boolean(false)
        );
        assert_eq!(error_table_text(b"-WRONGTYPE bad\r\n"), "WRONGTYPE bad");
        assert_eq!(error_table_text(b"-Oops"), "ERR Oops");
        assert_eq!(error_table_text(b"plain"), "ERR plain");
    }
}
