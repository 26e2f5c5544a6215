//! Expected values recorded from redis-server 7.0.15 (`EVAL "return ..." 0`).

use mlua::{Lua, Value};

fn lua() -> Lua {
    let lua = Lua::new();
    super::load(&lua).expect("load");
    lua
}

/// Runs `code` as a chunk and returns its first result as a string.
fn eval(lua: &Lua, code: &str) -> String {
    match lua.load(code).eval::<Value>() {
        Ok(Value::String(s)) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
        Ok(other) => format!("{other:?}"),
        Err(e) => panic!("{code}: {e}"),
    }
}

#[test]
fn smoke() {
    let lua = lua();
    assert_eq!(eval(&lua, "return cjson.encode({1,2,{a=1}})"), "[1,2,{\"a\":1}]");
}
