//! `cjson`: lua-cjson 2.1.0 as Redis bundles it. Same array detection (keys 1..n, sparse
//! arrays refused past the ratio/safe limits), `%.14g` numbers, `\/` escaping, the
//! permissive number reader (strtod: hex, `+1`, `inf`, `nan` accepted by default), the
//! same error messages and the same depth limits, including the ones the C code hits when
//! the Lua stack is full. The configuration lives with the module, so, as in Redis, a
//! script that changes it changes it for the scripts that follow.

use std::sync::{Arc, Mutex, PoisonError};

use mlua::{Function, LightUserData, Lua, Table, Value};

use super::{
    c_i32, check_integer, check_string, function, number_of, one, Fail, Outcome, Ret,
    LUA_MAX_C_STACK,
};

/// The settings `cjson.encode_*`/`decode_*` read and change.
#[derive(Clone)]
struct Config {
    sparse_convert: i32,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0: refuse NaN and Inf, 1: write them as `nan`/`inf`, 2: write them as `null`.
    encode_invalid_numbers: i32,
    decode_invalid_numbers: i32,
    encode_keep_buffer: i32,
    precision: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: 0,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: 1,
            encode_keep_buffer: 1,
            precision: 14,
        }
    }
}

type Shared = Arc<Mutex<Config>>;

fn lock(cfg: &Shared) -> std::sync::MutexGuard<'_, Config> {
    cfg.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `cjson.null`: a NULL light userdata, as in lua-cjson (equal to any other NULL one).
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// Builds a `cjson` table with its own configuration (`cjson.new()` makes another).
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let cfg: Shared = Arc::new(Mutex::new(Config::default()));
    // The raw `next`, taken now so that later changes to the globals cannot reach it.
    let next: Function = lua.globals().raw_get("next")?;
    let t = lua.create_table()?;
    let c = cfg.clone();
    t.raw_set(
        "encode",
        function(lua, move |lua, a| {
            // A copy: the lock is not held while encoding.
            let cfg = lock(&c).clone();
            encode(lua, &cfg, &next, a)
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "decode",
        function(lua, move |lua, a| {
            let cfg = lock(&c).clone();
            decode(lua, &cfg, a)
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "encode_sparse_array",
        function(lua, move |lua, a| {
            let mut cfg = lock(&c);
            if let Err(e) = too_many(&a, 3) {
                return Ok(Err(e));
            }
            let mut out = Vec::new();
            let Config {
                sparse_convert,
                sparse_ratio,
                sparse_safe,
                ..
            } = &mut *cfg;
            for r in [
                enum_option(lua, &a, 1, sparse_convert, &["off", "on"]),
                integer_option(lua, &a, 2, sparse_ratio, 0, i32::MAX),
                integer_option(lua, &a, 3, sparse_safe, 0, i32::MAX),
            ] {
                match r? {
                    Ok(v) => out.push(v),
                    Err(e) => return Ok(Err(e)),
                }
            }
            Ok(Ok(Ret::Values(out)))
        })?,
    )?;
    type Int = fn(&mut Config) -> &mut i32;
    let ints: [(&str, Int, i32, i32); 3] = [
        ("encode_max_depth", |c| &mut c.encode_max_depth, 1, i32::MAX),
        ("decode_max_depth", |c| &mut c.decode_max_depth, 1, i32::MAX),
        ("encode_number_precision", |c| &mut c.precision, 1, 14),
    ];
    for (name, field, min, max) in ints {
        let c = cfg.clone();
        let f =
            function(lua, move |lua, a| {
                if let Err(e) = too_many(&a, 1) {
                    return Ok(Err(e));
                }
                let mut cfg = lock(&c);
                Ok(integer_option(lua, &a, 1, field(&mut cfg), min, max)?
                    .map(|v| Ret::Values(vec![v])))
            })?;
        t.raw_set(name, f)?;
    }
    type Enum = (
        &'static str,
        fn(&mut Config) -> &mut i32,
        &'static [&'static str],
    );
    let enums: [Enum; 3] = [
        (
            "encode_keep_buffer",
            |c| &mut c.encode_keep_buffer,
            &["off", "on"],
        ),
        (
            "encode_invalid_numbers",
            |c| &mut c.encode_invalid_numbers,
            &["off", "on", "null"],
        ),
        (
            "decode_invalid_numbers",
            |c| &mut c.decode_invalid_numbers,
            &["off", "on"],
        ),
    ];
    for (name, field, options) in enums {
        let c = cfg.clone();
        let f = function(lua, move |lua, a| {
            if let Err(e) = too_many(&a, 1) {
                return Ok(Err(e));
            }
            let mut cfg = lock(&c);
            Ok(enum_option(lua, &a, 1, field(&mut cfg), options)?.map(|v| Ret::Values(vec![v])))
        })?;
        t.raw_set(name, f)?;
    }
    t.raw_set(
        "new",
        function(lua, |lua, _| one(Value::Table(module(lua)?)))?,
    )?;
    t.raw_set("null", null())?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

/// `json_arg_init`: more than `n` arguments is an error on argument `n + 1`.
fn too_many(args: &[Value], n: usize) -> Result<(), Fail> {
    if args.len() > n {
        return Err(Fail::Arg(n as i32 + 1, "found too many arguments".into()));
    }
    Ok(())
}

/// `json_integer_option`: sets the setting when the argument is given, returns it. The
/// range error names argument 1 whatever the argument, as the C code does.
fn integer_option(
    lua: &Lua,
    args: &[Value],
    narg: usize,
    setting: &mut i32,
    min: i32,
    max: i32,
) -> mlua::Result<Result<Value, Fail>> {
    if !matches!(args.get(narg - 1), None | Some(Value::Nil)) {
        let value = match check_integer(lua, args, narg)? {
            Ok(v) => v as i32,
            Err(e) => return Ok(Err(e)),
        };
        if value < min || value > max {
            return Ok(Err(Fail::Arg(
                1,
                format!("expected integer between {min} and {max}"),
            )));
        }
        *setting = value;
    }
    Ok(Ok(Value::Integer(i64::from(*setting))))
}

/// `json_enum_option`: a boolean, or one of `options` by name; returns a boolean for the
/// first two settings and the option's name for the others.
fn enum_option(
    lua: &Lua,
    args: &[Value],
    narg: usize,
    setting: &mut i32,
    options: &[&str],
) -> mlua::Result<Result<Value, Fail>> {
    match args.get(narg - 1) {
        None | Some(Value::Nil) => {}
        Some(Value::Boolean(b)) => *setting = i32::from(*b),
        Some(_) => {
            let s = match check_string(lua, args, narg)? {
                Ok(s) => s,
                Err(e) => return Ok(Err(e)),
            };
            let name = s.as_bytes();
            match options.iter().position(|o| o.as_bytes() == &name[..]) {
                Some(i) => *setting = i as i32,
                None => {
                    let shown = String::from_utf8_lossy(&name).into_owned();
                    return Ok(Err(Fail::Arg(
                        narg as i32,
                        format!("invalid option '{shown}'"),
                    )));
                }
            }
        }
    }
    Ok(Ok(match *setting {
        0 | 1 => Value::Boolean(*setting == 1),
        n => Value::String(lua.create_string(options[n as usize])?),
    }))
}

// ===== Encoding =====

/// A table being written: an array by index, or an object through `next`.
enum Frame {
    Array { len: i64, next: i64 },
    Object { first: bool },
}

impl Frame {
    /// Stack slots the C encoder holds at this level while writing a child.
    fn slots(&self) -> usize {
        match self {
            Frame::Array { .. } => 1,
            Frame::Object { .. } => 2,
        }
    }
}

fn encode_error(what: &Value, reason: &str) -> Fail {
    Fail::Error(format!(
        "Cannot serialise {}: {reason}",
        super::typename(Some(what))
    ))
}

/// Tables nested deeper than this are written by `Encoder::deep`, without recursion.
const RECURSION_LIMIT: usize = 64;

/// `cjson.encode(value)`.
fn encode(lua: &Lua, cfg: &Config, next: &Function, args: Vec<Value>) -> mlua::Result<Outcome> {
    if args.len() != 1 {
        return Ok(Err(Fail::Arg(1, "expected 1 argument".into())));
    }
    let mut enc = Encoder {
        lua,
        cfg,
        next,
        out: Vec::new(),
        fail: None,
    };
    // One stack slot for the argument.
    if let Err(e) = enc.value(&args[0], 0, 1)? {
        return Ok(Err(e));
    }
    one(Value::String(lua.create_string(&enc.out)?))
}

struct Encoder<'a> {
    lua: &'a Lua,
    cfg: &'a Config,
    /// The raw `next`, for `deep`.
    next: &'a Function,
    out: Vec<u8>,
    /// The failure that stopped a `for_each` (which can only stop with an mlua error).
    fail: Option<Fail>,
}

impl Encoder<'_> {
    /// Writes `v`, a value inside `depth` tables; `slots` is the Lua stack top the C
    /// encoder would have at this point (the depth limit it hits when raised high).
    fn value(&mut self, v: &Value, depth: usize, slots: usize) -> mlua::Result<Result<(), Fail>> {
        match v {
            Value::Table(t) => self.table(t, depth + 1, slots),
            v => Ok(append_scalar(&mut self.out, self.cfg, v)),
        }
    }

    fn check_depth(&self, depth: usize, slots: usize) -> Result<(), Fail> {
        if depth > self.cfg.encode_max_depth as usize || slots + 3 > LUA_MAX_C_STACK {
            return Err(Fail::Error(format!(
                "Cannot serialise, excessive nesting ({depth})"
            )));
        }
        Ok(())
    }

    /// Writes table `t` at `depth`, recursively while shallow (the common case, and the
    /// fast one: `for_each` walks an object without a call into Lua per key).
    fn table(&mut self, t: &Table, depth: usize, slots: usize) -> mlua::Result<Result<(), Fail>> {
        if depth > RECURSION_LIMIT {
            return self.deep(t.clone(), depth, slots);
        }
        if let Err(e) = self.check_depth(depth, slots) {
            return Ok(Err(e));
        }
        let len = match array_length(self.cfg, t)? {
            Ok(len) => len,
            Err(e) => return Ok(Err(e)),
        };
        if len > 0 {
            self.out.push(b'[');
            for i in 1..=len {
                if i > 1 {
                    self.out.push(b',');
                }
                let item: Value = t.raw_get(i)?;
                if let Err(e) = self.value(&item, depth, slots + 1)? {
                    return Ok(Err(e));
                }
            }
            self.out.push(b']');
            return Ok(Ok(()));
        }
        self.out.push(b'{');
        let mut first = true;
        let walked = t.for_each(|k: Value, v: Value| {
            if !first {
                self.out.push(b',');
            }
            first = false;
            let step = match self.key(&k) {
                Ok(()) => self.value(&v, depth, slots + 2)?,
                Err(e) => Err(e),
            };
            step.map_err(|e| {
                self.fail = Some(e);
                mlua::Error::RuntimeError(String::new())
            })
        });
        if let Some(e) = self.fail.take() {
            return Ok(Err(e));
        }
        walked?;
        self.out.push(b'}');
        Ok(Ok(()))
    }

    /// An object key: strings as they are, numbers as strings, nothing else.
    fn key(&mut self, k: &Value) -> Result<(), Fail> {
        match k {
            Value::String(s) => {
                append_string(&mut self.out, &s.as_bytes());
                self.out.push(b':');
            }
            Value::Integer(_) | Value::Number(_) => {
                self.out.push(b'"');
                append_number(&mut self.out, self.cfg, k)?;
                self.out.extend_from_slice(b"\":");
            }
            other => return Err(encode_error(other, "table key must be a number or string")),
        }
        Ok(())
    }

    /// Writes table `root` (at `depth`) and everything under it without recursion: nesting
    /// may go to thousands of levels when the depth limit is raised. The tables and keys of
    /// outer levels wait in a Lua table, since mlua can hold only a few thousand references.
    fn deep(&mut self, root: Table, depth: usize, slots: usize) -> mlua::Result<Result<(), Fail>> {
        let base = depth - 1;
        let mut frames: Vec<Frame> = Vec::new();
        let mut chain: Option<Table> = None;
        // The innermost table and, for objects, the key last written.
        let mut cur: Option<Table> = None;
        let mut cur_key = Value::Nil;
        let mut slots = slots;
        let mut pending = Some(Value::Table(root));
        loop {
            if let Some(v) = pending.take() {
                match v {
                    Value::Table(t) => {
                        if let Err(e) = self.check_depth(base + frames.len() + 1, slots) {
                            return Ok(Err(e));
                        }
                        let len = match array_length(self.cfg, &t)? {
                            Ok(len) => len,
                            Err(e) => return Ok(Err(e)),
                        };
                        if let Some(parent) = cur.take() {
                            let c = match &chain {
                                Some(c) => c.clone(),
                                None => {
                                    let c = self.lua.create_table()?;
                                    chain = Some(c.clone());
                                    c
                                }
                            };
                            c.raw_set(frames.len(), parent)?;
                            c.raw_set(-(frames.len() as i64), std::mem::take(&mut cur_key))?;
                        }
                        let frame = if len > 0 {
                            self.out.push(b'[');
                            Frame::Array { len, next: 1 }
                        } else {
                            self.out.push(b'{');
                            Frame::Object { first: true }
                        };
                        slots += frame.slots();
                        frames.push(frame);
                        cur = Some(t);
                    }
                    v => {
                        if let Err(e) = append_scalar(&mut self.out, self.cfg, &v) {
                            return Ok(Err(e));
                        }
                    }
                }
            }
            let (Some(frame), Some(table)) = (frames.last_mut(), cur.as_ref()) else {
                return Ok(Ok(()));
            };
            match frame {
                Frame::Array { len, next } if *next <= *len => {
                    if *next > 1 {
                        self.out.push(b',');
                    }
                    pending = Some(table.raw_get(*next)?);
                    *next += 1;
                    continue;
                }
                Frame::Object { first } => {
                    let (k, v): (Value, Value) = self
                        .next
                        .call((table.clone(), std::mem::take(&mut cur_key)))?;
                    if !k.is_nil() {
                        if !*first {
                            self.out.push(b',');
                        }
                        *first = false;
                        if let Err(e) = self.key(&k) {
                            return Ok(Err(e));
                        }
                        cur_key = k;
                        pending = Some(v);
                        continue;
                    }
                }
                Frame::Array { .. } => {}
            }
            // The innermost table is complete.
            self.out.push(match frame {
                Frame::Array { .. } => b']',
                Frame::Object { .. } => b'}',
            });
            slots -= frame.slots();
            frames.pop();
            cur = None;
            if let (false, Some(c)) = (frames.is_empty(), &chain) {
                cur = Some(c.raw_get(frames.len())?);
                cur_key = c.raw_get(-(frames.len() as i64))?;
            }
        }
    }
}

/// `lua_array_length`: the length when every key is a positive integer (0 for an empty
/// table), -1 (or C's overflowed `int`) for an object, or an error for a sparse array.
fn array_length(cfg: &Config, t: &Table) -> mlua::Result<Result<i64, Fail>> {
    let (mut max, mut items) = (0i32, 0i32);
    let mut object = false;
    let walked = t.for_each(|k: Value, _: Value| match number_of(&k) {
        Some(n) if n != 0.0 && n.floor() == n && n >= 1.0 => {
            // The C code keeps the largest key in an `int`.
            if n > f64::from(max) {
                max = c_i32(n);
            }
            items = items.wrapping_add(1);
            Ok(())
        }
        _ => {
            object = true;
            Err(mlua::Error::RuntimeError(String::new()))
        }
    });
    if object {
        return Ok(Ok(-1));
    }
    walked?;
    if cfg.sparse_ratio > 0 && max > items.wrapping_mul(cfg.sparse_ratio) && max > cfg.sparse_safe {
        if cfg.sparse_convert == 0 {
            return Ok(Err(Fail::Error(
                "Cannot serialise table: excessively sparse array".into(),
            )));
        }
        return Ok(Ok(-1));
    }
    Ok(Ok(i64::from(max)))
}

fn append_scalar(out: &mut Vec<u8>, cfg: &Config, v: &Value) -> Result<(), Fail> {
    match v {
        Value::String(s) => append_string(out, &s.as_bytes()),
        Value::Integer(_) | Value::Number(_) => append_number(out, cfg, v)?,
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        other => return Err(encode_error(other, "type not supported")),
    }
    Ok(())
}

fn append_number(out: &mut Vec<u8>, cfg: &Config, v: &Value) -> Result<(), Fail> {
    let n = number_of(v).unwrap_or(0.0);
    if !n.is_finite() {
        match cfg.encode_invalid_numbers {
            0 => return Err(encode_error(v, "must not be NaN or Inf")),
            1 if n.is_nan() => {
                out.extend_from_slice(b"nan");
                return Ok(());
            }
            1 => {}
            _ => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
        }
    }
    format_g(out, n, cfg.precision.clamp(1, 17) as usize);
    Ok(())
}

/// C's `printf("%.<prec>g", x)`.
pub(crate) fn format_g(out: &mut Vec<u8>, x: f64, prec: usize) {
    if x.is_infinite() {
        out.extend_from_slice(if x < 0.0 { b"-inf" } else { b"inf" });
        return;
    }
    if x.is_nan() {
        out.extend_from_slice(if x.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return;
    }
    if x == 0.0 {
        out.extend_from_slice(if x.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    // Integers with at most `prec` digits print as themselves: the common case, done
    // without formatting machinery.
    if x.fract() == 0.0 && x.abs() < 10f64.powi(prec as i32) {
        out.extend_from_slice(itoa::Buffer::new().format(x as i64).as_bytes());
        return;
    }
    // %g picks the style from the exponent %e would print at this precision.
    let sci = format!("{:.*e}", prec - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        out.extend_from_slice(trim_zeros(mantissa).as_bytes());
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(e.to_string().as_bytes());
    } else {
        let fixed = format!("{:.*}", (prec as i32 - 1 - exp) as usize, x);
        out.extend_from_slice(trim_zeros(&fixed).as_bytes());
    }
}

/// %g drops trailing zeros of the fraction, and the point when nothing is left after it.
fn trim_zeros(s: &str) -> &str {
    if !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.')
}

/// A JSON string, escaped as lua-cjson does (`/` as `\/`, DEL as `\u007f`, bytes >= 0x80
/// as they are).
fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            8 => out.extend_from_slice(b"\\b"),
            9 => out.extend_from_slice(b"\\t"),
            10 => out.extend_from_slice(b"\\n"),
            12 => out.extend_from_slice(b"\\f"),
            13 => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 15)]);
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

// ===== Decoding =====

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ObjBegin => "T_OBJ_BEGIN",
            Kind::ObjEnd => "T_OBJ_END",
            Kind::ArrBegin => "T_ARR_BEGIN",
            Kind::ArrEnd => "T_ARR_END",
            Kind::Str => "T_STRING",
            Kind::Number => "T_NUMBER",
            Kind::Boolean => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Error => "T_ERROR",
        }
    }
}

struct Token {
    kind: Kind,
    /// Where the token starts, or where the error was found.
    index: usize,
    number: f64,
    boolean: bool,
    error: &'static str,
}

/// The tokenizer. The input ends at its first NUL byte, as the C string it is for lua-cjson.
struct Lexer<'a> {
    data: &'a [u8],
    pos: usize,
    decode_invalid_numbers: bool,
    /// The text of the last string token.
    text: Vec<u8>,
}

impl Lexer<'_> {
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn next(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let mut t = Token {
            kind: Kind::End,
            index: self.pos,
            number: 0.0,
            boolean: false,
            error: "",
        };
        let ch = self.at(self.pos);
        let simple = match ch {
            b'{' => Some(Kind::ObjBegin),
            b'}' => Some(Kind::ObjEnd),
            b'[' => Some(Kind::ArrBegin),
            b']' => Some(Kind::ArrEnd),
            b',' => Some(Kind::Comma),
            b':' => Some(Kind::Colon),
            0 => {
                t.kind = Kind::End;
                return t;
            }
            _ => None,
        };
        if let Some(kind) = simple {
            t.kind = kind;
            self.pos += 1;
            return t;
        }
        if !matches!(
            ch,
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'"' | b'+' | b'-' | b'0'..=b'9'
        ) {
            return self.error(t, "invalid token");
        }
        let rest = &self.data[self.pos..];
        if ch == b'"' {
            self.string(t)
        } else if ch == b'-' || ch.is_ascii_digit() {
            if !self.decode_invalid_numbers && self.is_invalid_number() {
                return self.error(t, "invalid number");
            }
            self.number(t)
        } else if rest.starts_with(b"true") {
            t.kind = Kind::Boolean;
            t.boolean = true;
            self.pos += 4;
            t
        } else if rest.starts_with(b"false") {
            t.kind = Kind::Boolean;
            self.pos += 5;
            t
        } else if rest.starts_with(b"null") {
            t.kind = Kind::Null;
            self.pos += 4;
            t
        } else if self.decode_invalid_numbers && self.is_invalid_number() {
            self.number(t)
        } else {
            self.error(t, "invalid token")
        }
    }

    fn error(&self, mut t: Token, msg: &'static str) -> Token {
        t.kind = Kind::Error;
        t.index = self.pos;
        t.error = msg;
        t
    }

    /// Numbers JSON forbids but strtod reads: `+1`, hex, leading zeros, `inf`, `nan`.
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        match self.at(p) {
            b'+' => return true,
            b'-' => p += 1,
            _ => {}
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let word = &self.data[p.min(self.data.len())..];
        let word = &word[..word.len().min(3)];
        word.eq_ignore_ascii_case(b"inf") || word.eq_ignore_ascii_case(b"nan")
    }

    fn number(&mut self, mut t: Token) -> Token {
        // strtod stops at the first byte no number has, the ending NUL included.
        match strtod(&self.data[self.pos..]) {
            Some((n, used)) => {
                t.kind = Kind::Number;
                t.number = n;
                self.pos += used;
                t
            }
            None => self.error(t, "invalid number"),
        }
    }

    fn string(&mut self, mut t: Token) -> Token {
        self.pos += 1;
        self.text.clear();
        loop {
            let ch = self.at(self.pos);
            match ch {
                b'"' => break,
                0 => return self.error(t, "unexpected end of string"),
                b'\\' => {
                    let decoded = match self.at(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 8,
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => 12,
                        b'r' => b'\r',
                        b'u' => {
                            if self.unicode_escape() {
                                continue;
                            }
                            return self.error(t, "invalid unicode escape code");
                        }
                        _ => return self.error(t, "invalid escape code"),
                    };
                    self.text.push(decoded);
                    self.pos += 2;
                }
                c => {
                    self.text.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        t.kind = Kind::Str;
        t
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        (0..4).try_fold(0u32, |acc, i| {
            let d = (self.at(at + i) as char).to_digit(16)?;
            Some(acc << 4 | d)
        })
    }

    /// `\uXXXX` (and a following low surrogate) at `pos`, appended as UTF-8.
    fn unicode_escape(&mut self) -> bool {
        let Some(mut cp) = self.hex4(self.pos + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 || self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.pos + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let Some(c) = char::from_u32(cp) else {
            return false;
        };
        let mut utf8 = [0u8; 4];
        self.text
            .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        self.pos += len;
        true
    }
}

/// C's `strtod` on the start of `s`: the value and how many bytes it read, or `None` when
/// no number starts there. Reads decimal and hex forms, `inf`, `infinity` and `nan(...)`.
pub(crate) fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = 0;
    let negative = match at(0) {
        b'-' => {
            i = 1;
            true
        }
        b'+' => {
            i = 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if negative { -v } else { v };
    let word =
        |w: &[u8], i: usize| s.len() >= i + w.len() && s[i..i + w.len()].eq_ignore_ascii_case(w);
    if word(b"inf", i) {
        let used = if word(b"infinity", i) { i + 8 } else { i + 3 };
        return Some((sign(f64::INFINITY), used));
    }
    if word(b"nan", i) {
        let mut used = i + 3;
        if at(used) == b'(' {
            let mut j = used + 1;
            while at(j).is_ascii_alphanumeric() || at(j) == b'_' {
                j += 1;
            }
            if at(j) == b')' {
                used = j + 1;
            }
        }
        return Some((sign(f64::NAN), used));
    }
    if at(i) == b'0' && at(i + 1) | 0x20 == b'x' {
        if let Some((v, used)) = hex_float(&s[i + 2..]) {
            return Some((sign(v), i + 2 + used));
        }
    }
    let start = i;
    let mut digits = 0;
    while at(i).is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if at(i) == b'.' {
        i += 1;
        while at(i).is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if at(i) | 0x20 == b'e' {
        let mut j = i + 1;
        if matches!(at(j), b'+' | b'-') {
            j += 1;
        }
        if at(j).is_ascii_digit() {
            while at(j).is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    let text = std::str::from_utf8(&s[start..i]).ok()?;
    // Rust does not take "1." with nothing after the point; the value is the same.
    let text = text.strip_suffix('.').unwrap_or(text);
    let v: f64 = text.parse().ok()?;
    Some((sign(v), i))
}

/// The digits of a hex float after `0x`: `h[.h][p[+-]d]`.
fn hex_float(s: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = 0;
    let mut mantissa: u64 = 0;
    let mut exp: i64 = 0;
    let mut digits = 0;
    let mut push = |d: u32, exp: &mut i64, fraction: bool| {
        if mantissa >> 60 == 0 {
            mantissa = mantissa << 4 | u64::from(d);
            if fraction {
                *exp -= 4;
            }
        } else if !fraction {
            // Digits past 64 bits only scale the value.
            *exp += 4;
        }
    };
    while let Some(d) = (at(i) as char).to_digit(16) {
        push(d, &mut exp, false);
        i += 1;
        digits += 1;
    }
    if at(i) == b'.' {
        let mut j = i + 1;
        let mut fraction_digits = 0;
        while let Some(d) = (at(j) as char).to_digit(16) {
            push(d, &mut exp, true);
            j += 1;
            fraction_digits += 1;
        }
        if digits + fraction_digits > 0 {
            i = j;
            digits += fraction_digits;
        }
    }
    if digits == 0 {
        return None;
    }
    if at(i) | 0x20 == b'p' {
        let mut j = i + 1;
        let negative = match at(j) {
            b'-' => {
                j += 1;
                true
            }
            b'+' => {
                j += 1;
                false
            }
            _ => false,
        };
        if at(j).is_ascii_digit() {
            let mut e: i64 = 0;
            while at(j).is_ascii_digit() {
                e = (e * 10 + i64::from(at(j) - b'0')).min(1 << 20);
                j += 1;
            }
            exp += if negative { -e } else { e };
            i = j;
        }
    }
    let mut v = mantissa as f64;
    // Scale in steps that cannot overflow the exponent of powi.
    let mut e = exp.clamp(-4000, 4000) as i32;
    while e != 0 {
        let step = e.clamp(-1000, 1000);
        v *= 2f64.powi(step);
        e -= step;
    }
    Some((v, i))
}

/// An open array or object while decoding.
enum Open {
    Array { index: i64 },
    Object,
}

impl Open {
    /// Stack slots the C decoder holds at this level: the table, and an object's key.
    fn slots(&self) -> usize {
        match self {
            Open::Array { .. } => 1,
            Open::Object => 2,
        }
    }
}

fn parse_error(expected: &str, t: &Token) -> Fail {
    let found = if t.kind == Kind::Error {
        t.error
    } else {
        t.kind.name()
    };
    Fail::Error(format!(
        "Expected {expected} but found {found} at character {}",
        t.index + 1
    ))
}

/// `cjson.decode(text)`. Iterative for the same reasons as `encode`.
fn decode(lua: &Lua, cfg: &Config, args: Vec<Value>) -> mlua::Result<Outcome> {
    if args.len() != 1 {
        return Ok(Err(Fail::Arg(1, "expected 1 argument".into())));
    }
    let s = match check_string(lua, &args, 1)? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let data = s.as_bytes();
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Ok(Err(Fail::Error(
            "JSON parser does not support UTF-16 or UTF-32".into(),
        )));
    }
    let mut lex = Lexer {
        data: &data,
        pos: 0,
        decode_invalid_numbers: cfg.decode_invalid_numbers != 0,
        text: Vec::new(),
    };
    let mut frames: Vec<Open> = Vec::new();
    let mut chain: Option<Table> = None;
    let mut cur: Option<Table> = None;
    let mut cur_key = Value::Nil;
    // The argument's slot plus what the open levels hold.
    let mut slots = 1usize;
    let mut tok = lex.next();
    let result = 'value: loop {
        // `tok` starts a value.
        let mut done = match tok.kind {
            Kind::Str => Value::String(lua.create_string(&lex.text)?),
            Kind::Number => Value::Number(tok.number),
            Kind::Boolean => Value::Boolean(tok.boolean),
            Kind::Null => null(),
            Kind::ArrBegin | Kind::ObjBegin => {
                let open = if tok.kind == Kind::ArrBegin {
                    Open::Array { index: 1 }
                } else {
                    Open::Object
                };
                let depth = frames.len() + 1;
                let need = open.slots() + 1;
                if depth > cfg.decode_max_depth as usize || slots + need > LUA_MAX_C_STACK {
                    return Ok(Err(Fail::Error(format!(
                        "Found too many nested data structures ({depth}) at character {}",
                        lex.pos
                    ))));
                }
                let table = lua.create_table()?;
                if let Some(parent) = cur.take() {
                    let c = match &chain {
                        Some(c) => c.clone(),
                        None => {
                            let c = lua.create_table()?;
                            chain = Some(c.clone());
                            c
                        }
                    };
                    c.raw_set(frames.len(), parent)?;
                    c.raw_set(-(frames.len() as i64), std::mem::take(&mut cur_key))?;
                }
                let is_array = matches!(open, Open::Array { .. });
                slots += open.slots();
                frames.push(open);
                cur = Some(table);
                tok = lex.next();
                let close = if is_array { Kind::ArrEnd } else { Kind::ObjEnd };
                if tok.kind != close {
                    if !is_array {
                        match object_key(lua, &mut lex, &tok)? {
                            Ok((key, next)) => {
                                cur_key = key;
                                tok = next;
                            }
                            Err(e) => return Ok(Err(e)),
                        }
                    }
                    continue 'value;
                }
                // Empty: complete at once.
                slots -= frames.pop().map_or(0, |o| o.slots());
                let done = cur.take().map_or(Value::Nil, Value::Table);
                if let (false, Some(c)) = (frames.is_empty(), &chain) {
                    cur = Some(c.raw_get(frames.len())?);
                    cur_key = c.raw_get(-(frames.len() as i64))?;
                }
                done
            }
            _ => return Ok(Err(parse_error("value", &tok))),
        };
        // Store the value in its container and read what follows it.
        loop {
            let (Some(open), Some(table)) = (frames.last_mut(), cur.clone()) else {
                break 'value done;
            };
            tok = lex.next();
            match open {
                Open::Array { index } => {
                    table.raw_set(*index, done)?;
                    *index += 1;
                    match tok.kind {
                        Kind::Comma => {
                            tok = lex.next();
                            continue 'value;
                        }
                        Kind::ArrEnd => {}
                        _ => return Ok(Err(parse_error("comma or array end", &tok))),
                    }
                }
                Open::Object => {
                    table.raw_set(std::mem::take(&mut cur_key), done)?;
                    match tok.kind {
                        Kind::Comma => {
                            let key_tok = lex.next();
                            match object_key(lua, &mut lex, &key_tok)? {
                                Ok((key, next)) => {
                                    cur_key = key;
                                    tok = next;
                                }
                                Err(e) => return Ok(Err(e)),
                            }
                            continue 'value;
                        }
                        Kind::ObjEnd => {}
                        _ => return Ok(Err(parse_error("comma or object end", &tok))),
                    }
                }
            }
            slots -= frames.pop().map_or(0, |o| o.slots());
            done = Value::Table(table);
            cur = None;
            if let (false, Some(c)) = (frames.is_empty(), &chain) {
                cur = Some(c.raw_get(frames.len())?);
                cur_key = c.raw_get(-(frames.len() as i64))?;
            }
        }
    };
    let tok = lex.next();
    if tok.kind != Kind::End {
        return Ok(Err(parse_error("the end", &tok)));
    }
    one(result)
}

/// An object's `"key" :`, given the token that must be the key; returns the key and the
/// token after the colon, which starts the value.
fn object_key(
    lua: &Lua,
    lex: &mut Lexer<'_>,
    tok: &Token,
) -> mlua::Result<Result<(Value, Token), Fail>> {
    if tok.kind != Kind::Str {
        return Ok(Err(parse_error("object key string", tok)));
    }
    let key = Value::String(lua.create_string(&lex.text)?);
    let colon = lex.next();
    if colon.kind != Kind::Colon {
        return Ok(Err(parse_error("colon", &colon)));
    }
    Ok(Ok((key, lex.next())))
}
