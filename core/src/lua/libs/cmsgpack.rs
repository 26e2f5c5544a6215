//! `cmsgpack`: lua-cmsgpack 0.4.0 as Redis bundles it. Byte for byte the same encodings
//! (smallest integer form, float32 when exact, str8/16/32, tables as arrays only when their
//! keys are exactly 1..n, nesting cut to nil at 16 levels) and the same decoder, which
//! rejects bin and ext types and reads uint64 as a signed integer, as Redis's copy does.

use std::ffi::c_int;

use mlua::{ffi, Lua, MultiValue, Table, Value};

use super::{
    c_i64, check_integer, check_string, function, opt_int, Fail, Outcome, Ret, LUA_MAX_C_STACK,
};

/// Tables nested deeper than this are packed as nil (it also stops reference cycles).
const MAX_NESTING: usize = 16;

/// Builds the `cmsgpack` table.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", function(lua, pack)?)?;
    t.raw_set("unpack", function(lua, |lua, a| unpack(lua, &a, 0, 0))?)?;
    t.raw_set("unpack_one", function(lua, unpack_one)?)?;
    t.raw_set("unpack_limit", function(lua, unpack_limit)?)?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

/// `cmsgpack.pack(v1, v2, ...)`: the values' encodings, concatenated.
fn pack(lua: &Lua, args: Vec<Value>) -> mlua::Result<Outcome> {
    if args.is_empty() {
        return Ok(Err(Fail::Arg(0, "MessagePack pack needs input.".into())));
    }
    let mut buf = Vec::new();
    // SAFETY: `encode` only reads values through the Lua C API; the closure owns nothing to
    // drop should growing the stack raise a memory error.
    unsafe {
        lua.exec_raw::<()>(MultiValue::from_vec(args), |state| {
            for i in 1..=ffi::lua_gettop(state) {
                ffi::lua_pushvalue(state, i);
                encode(state, &mut buf, 0);
            }
            ffi::lua_settop(state, 0);
        })?;
    }
    super::one(Value::String(lua.create_string(&buf)?))
}

/// Encodes the value on top of the stack and pops it, as `mp_encode_lua_type` does.
unsafe fn encode(state: *mut ffi::lua_State, buf: &mut Vec<u8>, level: usize) {
    let mut t = ffi::lua_type(state, -1);
    if t == ffi::LUA_TTABLE && level == MAX_NESTING {
        t = ffi::LUA_TNIL;
    }
    match t {
        ffi::LUA_TSTRING => {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(state, -1, &mut len);
            let bytes = if p.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(p.cast::<u8>(), len)
            };
            encode_bytes(buf, bytes);
        }
        ffi::LUA_TBOOLEAN => buf.push(if ffi::lua_toboolean(state, -1) != 0 {
            0xc3
        } else {
            0xc2
        }),
        ffi::LUA_TNUMBER => {
            // Lua 5.1 numbers are doubles: integral ones (that fit an int64) get the
            // smallest integer encoding, the rest a float or a double.
            let n = ffi::lua_tonumber(state, -1);
            if !n.is_infinite() && c_i64(n) as f64 == n {
                encode_int(buf, c_i64(n));
            } else {
                encode_double(buf, n);
            }
        }
        // Room for the key, the value and a copy of the key at each of the 16 levels.
        ffi::LUA_TTABLE if ffi::lua_checkstack(state, 4) != 0 => {
            if is_array(state) {
                let len = ffi::lua_objlen(state, -1);
                encode_len(buf, len as u64, 0x90, 0xdc, 0xdd);
                for i in 1..=len {
                    ffi::lua_rawgeti(state, -1, i as _);
                    encode(state, buf, level + 1);
                }
            } else {
                let mut count = 0u64;
                ffi::lua_pushnil(state);
                while ffi::lua_next(state, -2) != 0 {
                    ffi::lua_pop(state, 1);
                    count += 1;
                }
                encode_len(buf, count, 0x80, 0xde, 0xdf);
                ffi::lua_pushnil(state);
                while ffi::lua_next(state, -2) != 0 {
                    // Stack: table, key, value.
                    ffi::lua_pushvalue(state, -2);
                    encode(state, buf, level + 1);
                    encode(state, buf, level + 1);
                }
            }
        }
        _ => buf.push(0xc0),
    }
    ffi::lua_pop(state, 1);
}

/// True when the keys of the table on top are exactly the integers 1..n (checked as the C
/// code does: every key a number that is a positive C `int`, the largest equal to the
/// count).
unsafe fn is_array(state: *mut ffi::lua_State) -> bool {
    let (mut count, mut max) = (0i64, 0i64);
    ffi::lua_pushnil(state);
    while ffi::lua_next(state, -2) != 0 {
        ffi::lua_pop(state, 1);
        let n = ffi::lua_tonumber(state, -1);
        if ffi::lua_type(state, -1) != ffi::LUA_TNUMBER
            || n <= 0.0
            || n.is_infinite()
            || f64::from(super::c_i32(n)) != n
        {
            ffi::lua_pop(state, 1);
            return false;
        }
        max = max.max(n as i64);
        count += 1;
    }
    max == count
}

fn encode_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        buf.push(0xa0 | len as u8);
    } else if len <= 0xff {
        buf.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        buf.push(0xda);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdb);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
    buf.extend_from_slice(s);
}

fn encode_double(buf: &mut Vec<u8>, d: f64) {
    let f = d as f32;
    if f64::from(f) == d {
        buf.push(0xca);
        buf.extend_from_slice(&f.to_be_bytes());
    } else {
        buf.push(0xcb);
        buf.extend_from_slice(&d.to_be_bytes());
    }
}

fn encode_int(buf: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            buf.push(n as u8);
        } else if n <= 0xff {
            buf.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            buf.push(0xcd);
            buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            buf.push(0xce);
            buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            buf.push(0xcf);
            buf.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        buf.push(n as i8 as u8);
    } else if n >= -128 {
        buf.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        buf.push(0xd1);
        buf.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        buf.push(0xd2);
        buf.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

/// Array and map headers: the fix form up to 15, then 16 and 32 bits.
fn encode_len(buf: &mut Vec<u8>, n: u64, fix: u8, b16: u8, b32: u8) {
    if n <= 15 {
        buf.push(fix | n as u8);
    } else if n <= 0xffff {
        buf.push(b16);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        buf.push(b32);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// `cmsgpack.unpack_one(s [, offset])`: the next offset (-1 at the end) and one value.
fn unpack_one(lua: &Lua, args: Vec<Value>) -> mlua::Result<Outcome> {
    let offset = match opt_int(lua, &args, 2, 0)? {
        Ok(o) => o,
        Err(e) => return Ok(Err(e)),
    };
    unpack(lua, &args[..args.len().min(1)], 1, offset)
}

/// `cmsgpack.unpack_limit(s, limit [, offset])`: the next offset and up to `limit` values.
fn unpack_limit(lua: &Lua, args: Vec<Value>) -> mlua::Result<Outcome> {
    let limit = match check_integer(lua, &args, 2)? {
        Ok(l) => l as i32,
        Err(e) => return Ok(Err(e)),
    };
    let offset = match opt_int(lua, &args, 3, 0)? {
        Ok(o) => o,
        Err(e) => return Ok(Err(e)),
    };
    unpack(lua, &args[..args.len().min(1)], limit, offset)
}

/// `mp_unpack_full`: `limit` and `offset` both 0 means every value and no offset, as in C
/// (so `unpack_limit(s, 0)` returns them all).
fn unpack(lua: &Lua, args: &[Value], limit: i32, offset: i32) -> mlua::Result<Outcome> {
    let s = match check_string(lua, args, 1)? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let data = s.as_bytes();
    let len = data.len();
    if offset < 0 || limit < 0 {
        return Ok(Err(Fail::Error(format!(
            "Invalid request to unpack with offset of {offset} and limit of {}.",
            len as i32
        ))));
    }
    if offset as usize > len {
        return Ok(Err(Fail::Error(format!(
            "Start offset {offset} greater than input length {}.",
            len as i32
        ))));
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all { i32::MAX } else { limit };
    let mut dec = Decoder {
        data: &data,
        pos: offset as usize,
        frames: Vec::new(),
        fail: None,
    };
    let mut count = 0usize;
    // SAFETY: `Decoder::value` owns nothing that needs dropping, so a memory error raised
    // by the Lua API while it builds tables unwinds nothing but Lua's own pcall.
    let results = unsafe {
        lua.exec_raw::<Option<Table>>((), |state| {
            // The values go to a table rather than the stack: there may be thousands.
            ffi::lua_createtable(state, 0, 0);
            // Values go after the offset when there is one.
            let first = if decode_all { 1 } else { 2 };
            while dec.pos < len && (count as i64) < i64::from(limit) {
                // The C decoder holds its argument and every value decoded so far.
                if !dec.value(state, 1 + count) {
                    ffi::lua_settop(state, 0);
                    return;
                }
                ffi::lua_rawseti(state, -2, (first + count) as _);
                count += 1;
            }
        })?
    };
    if let Some(e) = dec.fail {
        return Ok(Err(e));
    }
    let Some(results) = results else {
        return Ok(Ok(Ret::Packed(lua.create_table()?, 0)));
    };
    if decode_all {
        return Ok(Ok(Ret::Packed(results, count)));
    }
    if 1 + count + 1 > LUA_MAX_C_STACK {
        return Ok(Err(Fail::Error(
            "stack overflow (in function mp_unpack_full)".into(),
        )));
    }
    let next = if dec.pos == len { -1 } else { dec.pos as i64 };
    results.raw_set(1, next)?;
    Ok(Ok(Ret::Packed(results, count + 1)))
}

const STACK_VALUES: &str =
    "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)";
const STACK_ARRAY: &str = "stack overflow (in function mp_decode_to_lua_array)";

/// An open array or map while decoding.
enum Frame {
    Array {
        left: u64,
        index: i64,
    },
    /// `keyed`: the key of the pair being read is on the stack, waiting for its value.
    Map {
        left: u64,
        keyed: bool,
    },
}

impl Frame {
    fn left(&self) -> u64 {
        match self {
            Frame::Array { left, .. } | Frame::Map { left, .. } => *left,
        }
    }

    /// Stack slots the C decoder holds for this level while reading a child: an array's
    /// table and element index, a map's table (and its key while reading the value).
    fn slots(&self) -> usize {
        match self {
            Frame::Array { .. } => 2,
            Frame::Map { keyed, .. } => 1 + usize::from(*keyed),
        }
    }
}

/// The decoder: iterative, because nesting goes to about 4000 levels. Open tables (and a
/// map's pending key) wait on the Lua stack; the limits are those of the C decoder's
/// stack, which holds a little more per level, so they are counted (`Frame::slots`).
struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    frames: Vec<Frame>,
    fail: Option<Fail>,
}

/// What a header announces.
enum Item {
    Nil,
    Boolean(bool),
    Number(f64),
    /// Bytes `start..end` of the input.
    Str(usize, usize),
    Open(Frame),
}

impl Decoder<'_> {
    fn missing(&mut self, n: usize) -> bool {
        if self.data.len() - self.pos < n {
            self.fail = Some(Fail::Error("Missing bytes in input.".into()));
            return true;
        }
        false
    }

    fn be(&self, at: usize, n: usize) -> u64 {
        self.data[at..at + n]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    }

    /// Reads the header of the next value (and a scalar's body).
    fn item(&mut self) -> Option<Item> {
        if self.missing(1) {
            return None;
        }
        let p = self.pos;
        let tag = self.data[p];
        macro_rules! take {
            ($n:expr) => {{
                if self.missing($n) {
                    return None;
                }
                self.pos += $n;
            }};
        }
        let num = |n: f64| Some(Item::Number(n));
        match tag {
            0x00..=0x7f => {
                take!(1);
                num(f64::from(tag))
            }
            0xe0..=0xff => {
                take!(1);
                num(f64::from(tag as i8))
            }
            0xcc..=0xce => {
                let n = 1 << (tag - 0xcc);
                take!(1 + n);
                num(self.be(p + 1, n) as f64)
            }
            // uint64 goes through lua_pushinteger in Redis's build: it is read as signed.
            0xcf | 0xd3 => {
                take!(9);
                num(self.be(p + 1, 8) as i64 as f64)
            }
            0xd0 => {
                take!(2);
                num(f64::from(self.data[p + 1] as i8))
            }
            0xd1 => {
                take!(3);
                num(f64::from(self.be(p + 1, 2) as u16 as i16))
            }
            0xd2 => {
                take!(5);
                num(f64::from(self.be(p + 1, 4) as u32 as i32))
            }
            0xca => {
                take!(5);
                num(f64::from(f32::from_bits(self.be(p + 1, 4) as u32)))
            }
            0xcb => {
                take!(9);
                num(f64::from_bits(self.be(p + 1, 8)))
            }
            0xc0 => {
                take!(1);
                Some(Item::Nil)
            }
            0xc2 | 0xc3 => {
                take!(1);
                Some(Item::Boolean(tag == 0xc3))
            }
            0xa0..=0xbf | 0xd9 | 0xda | 0xdb => {
                let (hdr, n) = match tag {
                    0xd9 => (2, 1),
                    0xda => (3, 2),
                    0xdb => (5, 4),
                    _ => (1, 0),
                };
                take!(hdr);
                let l = if n == 0 {
                    usize::from(tag & 0x1f)
                } else {
                    self.be(p + 1, n) as usize
                };
                // The C code asks for header and body together.
                self.pos = p;
                take!(hdr + l);
                Some(Item::Str(p + hdr, p + hdr + l))
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                let left = if tag <= 0x9f {
                    take!(1);
                    u64::from(tag & 0x0f)
                } else {
                    let n = if tag == 0xdc { 2 } else { 4 };
                    take!(1 + n);
                    self.be(p + 1, n)
                };
                Some(Item::Open(Frame::Array { left, index: 1 }))
            }
            0x80..=0x8f | 0xde | 0xdf => {
                let left = if tag <= 0x8f {
                    take!(1);
                    u64::from(tag & 0x0f)
                } else {
                    let n = if tag == 0xde { 2 } else { 4 };
                    take!(1 + n);
                    self.be(p + 1, n)
                };
                Some(Item::Open(Frame::Map { left, keyed: false }))
            }
            _ => {
                self.fail = Some(Fail::Error("Bad data format in input.".into()));
                None
            }
        }
    }

    /// Decodes one complete value and pushes it; `top` is the C decoder's stack top before
    /// it. Returns false with the reason in `fail`.
    unsafe fn value(&mut self, state: *mut ffi::lua_State, top: usize) -> bool {
        // Sum of `Frame::slots` over `frames`, kept up to date.
        let mut slots = 0usize;
        loop {
            // Every value the C decoder starts checks for one more stack slot.
            if top + slots + 1 > LUA_MAX_C_STACK {
                self.fail = Some(Fail::Error(STACK_VALUES.into()));
                return false;
            }
            // Room for the value (the emulated check above is the stricter one).
            if ffi::lua_checkstack(state, 1) == 0 {
                self.fail = Some(Fail::Error(STACK_VALUES.into()));
                return false;
            }
            match self.item() {
                None => return false,
                Some(Item::Nil) => ffi::lua_pushnil(state),
                Some(Item::Boolean(b)) => ffi::lua_pushboolean(state, c_int::from(b)),
                Some(Item::Number(n)) => ffi::lua_pushnumber(state, n),
                Some(Item::Str(a, b)) => {
                    let bytes = &self.data[a..b];
                    ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
                }
                Some(Item::Open(frame)) => {
                    if matches!(frame, Frame::Array { .. }) && top + slots + 2 > LUA_MAX_C_STACK {
                        self.fail = Some(Fail::Error(STACK_ARRAY.into()));
                        return false;
                    }
                    ffi::lua_createtable(state, 0, 0);
                    if frame.left() > 0 {
                        slots += frame.slots();
                        self.frames.push(frame);
                        continue;
                    }
                }
            }
            // A complete value is on top: store it, closing every level it completes.
            loop {
                let Some(frame) = self.frames.last_mut() else {
                    return true;
                };
                match frame {
                    Frame::Array { left, index } => {
                        // Stack: table, value.
                        ffi::lua_rawseti(state, -2, *index as _);
                        *index += 1;
                        *left -= 1;
                    }
                    Frame::Map { left, keyed } => {
                        if !*keyed {
                            *keyed = true;
                            slots += 1;
                            break;
                        }
                        // Stack: table, key, value.
                        *keyed = false;
                        slots -= 1;
                        match ffi::lua_type(state, -2) {
                            ffi::LUA_TNIL => {
                                self.fail = Some(Fail::Raw("table index is nil".into()));
                                return false;
                            }
                            ffi::LUA_TNUMBER if ffi::lua_tonumber(state, -2).is_nan() => {
                                self.fail = Some(Fail::Raw("table index is NaN".into()));
                                return false;
                            }
                            _ => ffi::lua_rawset(state, -3),
                        }
                        *left -= 1;
                    }
                }
                if frame.left() > 0 {
                    break;
                }
                slots -= frame.slots();
                self.frames.pop();
            }
        }
    }
}
