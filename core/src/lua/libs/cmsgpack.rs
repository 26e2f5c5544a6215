//! `cmsgpack`: lua-cmsgpack 0.4.0 as Redis bundles it. Byte for byte the same encodings
//! (smallest integer form, float32 when exact, str8/16/32, tables as arrays only when their
//! keys are exactly 1..n, nesting cut to nil at 16 levels) and the same decoder, which
//! rejects bin and ext types and reads uint64 as a signed integer, as Redis's copy does.

use mlua::{Lua, Table, Value};

use super::{
    c_i64, check_integer, check_string, function, number_of, opt_int, Fail, Outcome, Ret,
    LUA_MAX_C_STACK,
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
    for v in &args {
        encode(&mut buf, v, 0)?;
    }
    super::one(Value::String(lua.create_string(&buf)?))
}

fn encode(buf: &mut Vec<u8>, v: &Value, level: usize) -> mlua::Result<()> {
    match v {
        Value::String(s) => encode_bytes(buf, &s.as_bytes()),
        Value::Boolean(b) => buf.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(_) | Value::Number(_) => {
            let n = number_of(v).unwrap_or(0.0);
            // Lua 5.1 numbers are doubles: integral ones (that fit an int64) get the
            // smallest integer encoding, the rest a float or a double.
            if !n.is_infinite() && c_i64(n) as f64 == n {
                encode_int(buf, c_i64(n));
            } else {
                encode_double(buf, n);
            }
        }
        Value::Table(t) if level < MAX_NESTING => {
            if is_array(t)? {
                let len = t.raw_len();
                encode_len(buf, len as u64, 0x90, 0xdc, 0xdd);
                for i in 1..=len {
                    let item: Value = t.raw_get(i)?;
                    encode(buf, &item, level + 1)?;
                }
            } else {
                let mut count = 0u64;
                t.for_each(|_: Value, _: Value| {
                    count += 1;
                    Ok(())
                })?;
                encode_len(buf, count, 0x80, 0xde, 0xdf);
                t.for_each(|k: Value, v: Value| {
                    encode(buf, &k, level + 1)?;
                    encode(buf, &v, level + 1)
                })?;
            }
        }
        _ => buf.push(0xc0),
    }
    Ok(())
}

/// True when the keys are exactly the integers 1..n (checked as the C code does: every
/// key a number that is a positive C `int`, and the largest equal to the count).
fn is_array(t: &Table) -> mlua::Result<bool> {
    let (mut count, mut max) = (0i64, 0i64);
    let mut map = false;
    let walked = t.for_each(|k: Value, _: Value| match number_of(&k) {
        Some(n) if n > 0.0 && !n.is_infinite() && f64::from(super::c_i32(n)) == n => {
            max = max.max(n as i64);
            count += 1;
            Ok(())
        }
        _ => {
            map = true;
            // Stops the walk; told apart from a real error by `map`.
            Err(mlua::Error::RuntimeError(String::new()))
        }
    });
    if map {
        return Ok(false);
    }
    walked?;
    Ok(max == count)
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

const STACK_VALUES: &str =
    "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)";
const STACK_ARRAY: &str = "stack overflow (in function mp_decode_to_lua_array)";

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
    let results = lua.create_table()?;
    // Values go after the offset when there is one.
    let first = if decode_all { 1 } else { 2 };
    let mut dec = Decoder {
        lua,
        data: &data,
        pos: offset as usize,
        top: 1,
        chain: None,
    };
    let mut count = 0usize;
    while dec.pos < len && (count as i64) < i64::from(limit) {
        match dec.value()? {
            Ok(v) => results.raw_set(first + count, v)?,
            Err(e) => return Ok(Err(e)),
        }
        count += 1;
        dec.top += 1;
    }
    if decode_all {
        return Ok(Ok(Ret::Packed(results, count)));
    }
    if dec.top + 1 > LUA_MAX_C_STACK {
        return Ok(Err(Fail::Error(
            "stack overflow (in function mp_unpack_full)".into(),
        )));
    }
    let next = if dec.pos == len { -1 } else { dec.pos as i64 };
    results.raw_set(1, next)?;
    Ok(Ok(Ret::Packed(results, count + 1)))
}

/// An open array or map while decoding.
enum Frame {
    Array {
        left: u64,
        index: i64,
    },
    /// `keyed`: the key of the pair being read is decoded and waits for its value.
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

/// An iterative decoder (nesting is bounded by the emulated Lua stack, about 4000 levels,
/// too deep for recursion on a small thread stack). The tables and pending keys of outer
/// levels wait in a Lua table rather than as mlua references, which are limited in number.
struct Decoder<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    pos: usize,
    /// Stack slots the C decoder would be using: its argument and the values decoded so far.
    top: usize,
    chain: Option<Table>,
}

enum Step {
    Done(Value),
    Open(Frame),
}

impl Decoder<'_> {
    fn need(&self, n: usize) -> Result<(), Fail> {
        if self.data.len() - self.pos < n {
            Err(Fail::Error("Missing bytes in input.".into()))
        } else {
            Ok(())
        }
    }

    fn be(&self, at: usize, n: usize) -> u64 {
        self.data[at..at + n]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    }

    /// Reads the header of the next value: a finished scalar, or an array or map to fill.
    fn step(&mut self) -> mlua::Result<Result<Step, Fail>> {
        if let Err(e) = self.need(1) {
            return Ok(Err(e));
        }
        let p = self.pos;
        let tag = self.data[p];
        macro_rules! take {
            ($n:expr) => {{
                if let Err(e) = self.need($n) {
                    return Ok(Err(e));
                }
                self.pos += $n;
            }};
        }
        let num = |n: f64| Ok(Ok(Step::Done(Value::Number(n))));
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
                Ok(Ok(Step::Done(Value::Nil)))
            }
            0xc2 | 0xc3 => {
                take!(1);
                Ok(Ok(Step::Done(Value::Boolean(tag == 0xc3))))
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
                let s = self.lua.create_string(&self.data[p + hdr..p + hdr + l])?;
                Ok(Ok(Step::Done(Value::String(s))))
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
                Ok(Ok(Step::Open(Frame::Array { left, index: 1 })))
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
                Ok(Ok(Step::Open(Frame::Map { left, keyed: false })))
            }
            _ => Ok(Err(Fail::Error("Bad data format in input.".into()))),
        }
    }

    /// Decodes one complete value.
    fn value(&mut self) -> mlua::Result<Result<Value, Fail>> {
        let mut frames: Vec<Frame> = Vec::new();
        // The innermost open table and its pending key; outer ones wait in `chain`.
        let mut cur: Option<Table> = None;
        let mut cur_key = Value::Nil;
        // Sum of `Frame::slots` over `frames`, kept up to date.
        let mut slots = 0usize;
        loop {
            // Every value the C decoder starts checks for one more stack slot.
            if self.top + slots + 1 > LUA_MAX_C_STACK {
                return Ok(Err(Fail::Error(STACK_VALUES.into())));
            }
            let mut done = match self.step()? {
                Err(e) => return Ok(Err(e)),
                Ok(Step::Done(v)) => v,
                Ok(Step::Open(frame)) => {
                    let table = self.lua.create_table()?;
                    if matches!(frame, Frame::Array { .. })
                        && self.top + slots + 2 > LUA_MAX_C_STACK
                    {
                        return Ok(Err(Fail::Error(STACK_ARRAY.into())));
                    }
                    if frame.left() == 0 {
                        Value::Table(table)
                    } else {
                        if let Some(parent) = cur.take() {
                            let chain = self.chain()?;
                            chain.raw_set(frames.len(), parent)?;
                            chain.raw_set(-(frames.len() as i64), std::mem::take(&mut cur_key))?;
                        }
                        cur = Some(table);
                        slots += frame.slots();
                        frames.push(frame);
                        continue;
                    }
                }
            };
            // Attach the value to its parent, closing every level it completes.
            loop {
                let (Some(frame), Some(table)) = (frames.last_mut(), cur.clone()) else {
                    return Ok(Ok(done));
                };
                match frame {
                    Frame::Array { left, index } => {
                        table.raw_set(*index, done)?;
                        *index += 1;
                        *left -= 1;
                    }
                    Frame::Map { left, keyed } => {
                        if !*keyed {
                            *keyed = true;
                            slots += 1;
                            cur_key = done;
                            break;
                        }
                        *keyed = false;
                        slots -= 1;
                        match std::mem::take(&mut cur_key) {
                            Value::Nil => return Ok(Err(Fail::Raw("table index is nil".into()))),
                            Value::Number(n) if n.is_nan() => {
                                return Ok(Err(Fail::Raw("table index is NaN".into())))
                            }
                            k => table.raw_set(k, done)?,
                        }
                        *left -= 1;
                    }
                }
                if frame.left() > 0 {
                    break;
                }
                slots -= frame.slots();
                frames.pop();
                done = Value::Table(table);
                cur = None;
                if let (false, Some(chain)) = (frames.is_empty(), &self.chain) {
                    cur = Some(chain.raw_get(frames.len())?);
                    cur_key = chain.raw_get(-(frames.len() as i64))?;
                }
            }
        }
    }

    /// The Lua table that keeps the outer levels, made on first use.
    fn chain(&mut self) -> mlua::Result<Table> {
        if let Some(c) = &self.chain {
            return Ok(c.clone());
        }
        let c = self.lua.create_table()?;
        self.chain = Some(c.clone());
        Ok(c)
    }
}
