//! `cjson`: lua-cjson 2.1.0 as Redis bundles it. Same array detection (keys 1..n, sparse
//! arrays refused past the ratio/safe limits), `%.14g` numbers, `\/` escaping, the
//! permissive number reader (strtod: hex, `+1`, `inf`, `nan` accepted by default), the
//! same error messages and the same depth limits, including the ones the C code hits when
//! the Lua stack is full. The configuration lives with the module, so, as in Redis, a
//! script that changes it changes it for the scripts that follow.

use std::ffi::c_int;
use std::sync::{Arc, Mutex, PoisonError};

use mlua::{ffi, LightUserData, Lua, Table, Value};

use super::{c_i32, check_integer, check_string, function, one, Fail, Outcome, Ret};

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
    let t = lua.create_table()?;
    let c = cfg.clone();
    t.raw_set(
        "encode",
        function(lua, move |lua, a| {
            // A copy: the lock is not held while encoding.
            let cfg = lock(&c).clone();
            encode(lua, &cfg, a)
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

/// A table being written: an array by index, or an object by `lua_next`.
enum Frame {
    Array { len: i64, next: i64 },
    Object { first: bool },
}

/// `cjson.encode(value)`.
fn encode(lua: &Lua, cfg: &Config, args: Vec<Value>) -> mlua::Result<Outcome> {
    if args.len() != 1 {
        return Ok(Err(Fail::Arg(1, "expected 1 argument".into())));
    }
    let mut out = Vec::new();
    let mut frames = Vec::new();
    let mut fail = None;
    let root = args.into_iter().next().unwrap_or(Value::Nil);
    // SAFETY: `encode_raw` reads the value through the Lua C API without raising errors
    // (a failed stack growth may raise a memory error: the closure owns nothing to drop).
    unsafe {
        lua.exec_raw::<()>(root, |state| {
            encode_raw(state, cfg, &mut out, &mut frames, &mut fail);
            ffi::lua_settop(state, 0);
        })?;
    }
    if let Some(e) = fail {
        return Ok(Err(e));
    }
    one(Value::String(lua.create_string(&out)?))
}

/// lua-cjson's encoder, on the Lua stack as the C code uses it (with the value at index 1):
/// tables stay on the stack while written, objects with their current key, so
/// `lua_checkstack` stops deep nesting exactly where it stops the C library. Iterative,
/// since that can be thousands of levels. Does not raise Lua errors: failures go to `fail`.
unsafe fn encode_raw(
    state: *mut ffi::lua_State,
    cfg: &Config,
    out: &mut Vec<u8>,
    frames: &mut Vec<Frame>,
    fail: &mut Option<Fail>,
) {
    let mut pending = true;
    loop {
        if pending {
            pending = false;
            if ffi::lua_type(state, -1) == ffi::LUA_TTABLE {
                let depth = frames.len() + 1;
                if depth > cfg.encode_max_depth as usize || ffi::lua_checkstack(state, 3) == 0 {
                    *fail = Some(Fail::Error(format!(
                        "Cannot serialise, excessive nesting ({depth})"
                    )));
                    return;
                }
                let len = match array_length(state, cfg) {
                    Ok(len) => len,
                    Err(e) => {
                        *fail = Some(e);
                        return;
                    }
                };
                if len > 0 {
                    out.push(b'[');
                    frames.push(Frame::Array { len, next: 1 });
                } else {
                    out.push(b'{');
                    frames.push(Frame::Object { first: true });
                    ffi::lua_pushnil(state);
                }
            } else {
                if let Err(e) = append_scalar(state, -1, out, cfg) {
                    *fail = Some(e);
                    return;
                }
                ffi::lua_pop(state, 1);
            }
        }
        let Some(frame) = frames.last_mut() else {
            return;
        };
        match frame {
            Frame::Array { len, next } if *next <= *len => {
                if *next > 1 {
                    out.push(b',');
                }
                ffi::lua_rawgeti(state, -1, *next as _);
                *next += 1;
                pending = true;
                continue;
            }
            Frame::Array { .. } => out.push(b']'),
            // Stack: table, key.
            Frame::Object { first } => {
                if ffi::lua_next(state, -2) != 0 {
                    // Stack: table, key, value.
                    if !*first {
                        out.push(b',');
                    }
                    *first = false;
                    if let Err(e) = append_key(state, out, cfg) {
                        *fail = Some(e);
                        return;
                    }
                    pending = true;
                    continue;
                }
                out.push(b'}');
            }
        }
        // The table on top is complete.
        frames.pop();
        ffi::lua_pop(state, 1);
    }
}

fn encode_error(typename: &str, reason: &str) -> Fail {
    Fail::Error(format!("Cannot serialise {typename}: {reason}"))
}

unsafe fn typename_at(state: *mut ffi::lua_State, idx: c_int) -> String {
    let name = ffi::lua_typename(state, ffi::lua_type(state, idx));
    std::ffi::CStr::from_ptr(name)
        .to_string_lossy()
        .into_owned()
}

unsafe fn bytes_at<'a>(state: *mut ffi::lua_State, idx: c_int) -> &'a [u8] {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(state, idx, &mut len);
    if p.is_null() {
        return &[];
    }
    std::slice::from_raw_parts(p.cast::<u8>(), len)
}

/// The key at -2 of an object being written: strings as they are, numbers as strings.
unsafe fn append_key(
    state: *mut ffi::lua_State,
    out: &mut Vec<u8>,
    cfg: &Config,
) -> Result<(), Fail> {
    match ffi::lua_type(state, -2) {
        ffi::LUA_TSTRING => {
            append_string(out, bytes_at(state, -2));
            out.push(b':');
        }
        ffi::LUA_TNUMBER => {
            out.push(b'"');
            append_number(out, cfg, ffi::lua_tonumber(state, -2))?;
            out.extend_from_slice(b"\":");
        }
        _ => {
            return Err(encode_error(
                &typename_at(state, -2),
                "table key must be a number or string",
            ))
        }
    }
    Ok(())
}

/// `lua_array_length` for the table on top: the length when every key is a positive
/// integer (0 for an empty table), -1 (or C's overflowed `int`) for an object, or an error
/// for a sparse array.
unsafe fn array_length(state: *mut ffi::lua_State, cfg: &Config) -> Result<i64, Fail> {
    let (mut max, mut items) = (0i32, 0i32);
    ffi::lua_pushnil(state);
    while ffi::lua_next(state, -2) != 0 {
        if ffi::lua_type(state, -2) == ffi::LUA_TNUMBER {
            let k = ffi::lua_tonumber(state, -2);
            if k != 0.0 && k.floor() == k && k >= 1.0 {
                // The C code keeps the largest key in an `int`.
                if k > f64::from(max) {
                    max = c_i32(k);
                }
                items = items.wrapping_add(1);
                ffi::lua_pop(state, 1);
                continue;
            }
        }
        ffi::lua_pop(state, 2);
        return Ok(-1);
    }
    if cfg.sparse_ratio > 0 && max > items.wrapping_mul(cfg.sparse_ratio) && max > cfg.sparse_safe {
        if cfg.sparse_convert == 0 {
            return Err(encode_error("table", "excessively sparse array"));
        }
        return Ok(-1);
    }
    Ok(i64::from(max))
}

unsafe fn append_scalar(
    state: *mut ffi::lua_State,
    idx: c_int,
    out: &mut Vec<u8>,
    cfg: &Config,
) -> Result<(), Fail> {
    match ffi::lua_type(state, idx) {
        ffi::LUA_TSTRING => append_string(out, bytes_at(state, idx)),
        ffi::LUA_TNUMBER => append_number(out, cfg, ffi::lua_tonumber(state, idx))?,
        ffi::LUA_TBOOLEAN if ffi::lua_toboolean(state, idx) != 0 => out.extend_from_slice(b"true"),
        ffi::LUA_TBOOLEAN => out.extend_from_slice(b"false"),
        ffi::LUA_TNIL => out.extend_from_slice(b"null"),
        ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(state, idx).is_null() => {
            out.extend_from_slice(b"null")
        }
        _ => return Err(encode_error(&typename_at(state, idx), "type not supported")),
    }
    Ok(())
}

fn append_number(out: &mut Vec<u8>, cfg: &Config, n: f64) -> Result<(), Fail> {
    if !n.is_finite() {
        match cfg.encode_invalid_numbers {
            0 => return Err(encode_error("number", "must not be NaN or Inf")),
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

/// `cjson.decode(text)`.
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
    let mut frames = Vec::new();
    let mut fail = None;
    // SAFETY: `decode_raw` owns nothing that needs dropping, so a memory error raised by
    // the Lua API while it builds tables unwinds nothing but Lua's own pcall.
    let value = unsafe {
        lua.exec_raw::<Value>(s.clone(), |state| {
            if !decode_raw(state, cfg, &mut lex, &mut frames, &mut fail) {
                ffi::lua_settop(state, 0);
            }
        })?
    };
    match fail {
        Some(e) => Ok(Err(e)),
        None => one(value),
    }
}

/// lua-cjson's parser building the result on the Lua stack as the C code does (text at
/// index 1; open tables, and an object's key, stay on the stack while their contents are
/// read), so `lua_checkstack` stops deep nesting exactly where it stops the C library.
/// Iterative, since that can be thousands of levels. Leaves the result alone on the
/// stack, or returns false with the reason in `fail`.
unsafe fn decode_raw(
    state: *mut ffi::lua_State,
    cfg: &Config,
    lex: &mut Lexer<'_>,
    frames: &mut Vec<Open>,
    fail: &mut Option<Fail>,
) -> bool {
    let mut tok = lex.next();
    'value: loop {
        // `tok` starts a value: push it.
        match tok.kind {
            Kind::Str => push_bytes(state, &lex.text),
            Kind::Number => ffi::lua_pushnumber(state, tok.number),
            Kind::Boolean => ffi::lua_pushboolean(state, c_int::from(tok.boolean)),
            Kind::Null => ffi::lua_pushlightuserdata(state, std::ptr::null_mut()),
            Kind::ArrBegin | Kind::ObjBegin => {
                let is_array = tok.kind == Kind::ArrBegin;
                let depth = frames.len() + 1;
                let need = if is_array { 2 } else { 3 };
                if depth > cfg.decode_max_depth as usize || ffi::lua_checkstack(state, need) == 0 {
                    *fail = Some(Fail::Error(format!(
                        "Found too many nested data structures ({depth}) at character {}",
                        lex.pos
                    )));
                    return false;
                }
                ffi::lua_newtable(state);
                tok = lex.next();
                if is_array {
                    if tok.kind != Kind::ArrEnd {
                        frames.push(Open::Array { index: 1 });
                        continue 'value;
                    }
                } else if tok.kind != Kind::ObjEnd {
                    frames.push(Open::Object);
                    match object_key(state, lex, &tok) {
                        Ok(next) => tok = next,
                        Err(e) => {
                            *fail = Some(e);
                            return false;
                        }
                    }
                    continue 'value;
                }
                // An empty table is complete at once.
            }
            _ => {
                *fail = Some(parse_error("value", &tok));
                return false;
            }
        }
        // A complete value is on top: store it and read what follows it.
        loop {
            let Some(open) = frames.last_mut() else {
                break 'value;
            };
            tok = lex.next();
            match open {
                Open::Array { index } => {
                    ffi::lua_rawseti(state, -2, *index as _);
                    *index += 1;
                    match tok.kind {
                        Kind::Comma => {
                            tok = lex.next();
                            continue 'value;
                        }
                        Kind::ArrEnd => {}
                        _ => {
                            *fail = Some(parse_error("comma or array end", &tok));
                            return false;
                        }
                    }
                }
                Open::Object => {
                    // Stack: table, key, value.
                    ffi::lua_rawset(state, -3);
                    match tok.kind {
                        Kind::Comma => {
                            let key = lex.next();
                            match object_key(state, lex, &key) {
                                Ok(next) => tok = next,
                                Err(e) => {
                                    *fail = Some(e);
                                    return false;
                                }
                            }
                            continue 'value;
                        }
                        Kind::ObjEnd => {}
                        _ => {
                            *fail = Some(parse_error("comma or object end", &tok));
                            return false;
                        }
                    }
                }
            }
            // The table on top is complete.
            frames.pop();
        }
    }
    let tok = lex.next();
    if tok.kind != Kind::End {
        *fail = Some(parse_error("the end", &tok));
        return false;
    }
    // Drop the text, leaving the result.
    ffi::lua_remove(state, 1);
    true
}

unsafe fn push_bytes(state: *mut ffi::lua_State, bytes: &[u8]) {
    ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
}

/// An object's `"key" :`, given the token that must be the key: pushes the key and returns
/// the token after the colon, which starts the value.
unsafe fn object_key(
    state: *mut ffi::lua_State,
    lex: &mut Lexer<'_>,
    tok: &Token,
) -> Result<Token, Fail> {
    if tok.kind != Kind::Str {
        return Err(parse_error("object key string", tok));
    }
    push_bytes(state, &lex.text);
    let colon = lex.next();
    if colon.kind != Kind::Colon {
        return Err(parse_error("colon", &colon));
    }
    Ok(lex.next())
}
