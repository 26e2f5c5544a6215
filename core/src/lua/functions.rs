//! Function libraries (Redis 7 functions): `#!lua name=...` code whose top level registers
//! functions with `redis.register_function`; FUNCTION LOAD, DELETE, FLUSH, DUMP and RESTORE
//! change the set, and the set is kept in the store (so it survives restarts) in the same
//! format DUMP produces.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use mlua::Function;

use super::{api, script_flags, syntax_text, Scripting};

/// Name of the store metadata entry holding the libraries.
pub const STORE_KEY: &str = "function_libraries";

/// DUMP payload: magic, format version, then libraries, then an xxh3 checksum of the rest.
const MAGIC: &[u8; 4] = b"RSFN";
const VERSION: u8 = 1;

/// A registered function.
pub struct FunctionDef {
    /// Its name (what FCALL takes).
    pub name: String,
    /// The library that registered it.
    pub library: String,
    /// The callback.
    pub func: Function,
    /// [`script_flags`].
    pub flags: u32,
    /// The description given at registration.
    pub description: Option<String>,
}

/// A loaded library.
pub struct Library {
    /// `name=` from the shebang line.
    pub name: String,
    /// The code as loaded.
    pub code: Bytes,
    /// Its functions, in registration order.
    pub functions: Vec<Arc<FunctionDef>>,
}

/// Every loaded library and an index of their functions.
#[derive(Default)]
pub struct Libraries {
    libs: BTreeMap<String, Library>,
    /// By [`fold`]ed name: function names are case-insensitive (FCALL myfunc finds MyFunc,
    /// and two libraries cannot register names that differ only in case), as in Redis.
    functions: HashMap<String, Arc<FunctionDef>>,
}

/// The index key of a function name. Names are ASCII letters, digits and underscores.
fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// How FUNCTION RESTORE treats existing libraries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestorePolicy {
    /// Drop them all first.
    Flush,
    /// Keep them; a name collision fails the restore.
    Append,
    /// Keep them; a restored library replaces one of the same name.
    Replace,
}

impl Libraries {
    /// The function called `name`.
    pub fn function(&self, name: &str) -> Option<Arc<FunctionDef>> {
        self.functions.get(&fold(name)).cloned()
    }

    /// Libraries in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Library> {
        self.libs.values()
    }

    /// Number of libraries.
    pub fn library_count(&self) -> usize {
        self.libs.len()
    }

    /// Number of functions.
    pub fn function_count(&self) -> usize {
        self.functions.len()
    }

    /// Whether a library of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.libs.contains_key(name)
    }

    /// Removes a library and its functions.
    pub fn delete(&mut self, name: &str) -> bool {
        match self.libs.remove(name) {
            Some(lib) => {
                for f in &lib.functions {
                    self.functions.remove(&fold(&f.name));
                }
                true
            }
            None => false,
        }
    }

    /// Removes everything.
    pub fn flush(&mut self) {
        self.libs.clear();
        self.functions.clear();
    }

    /// Adds `lib`, replacing a library of the same name if `replace`; fails on a name
    /// collision, with Redis's texts (without `ERR `).
    fn insert(&mut self, lib: Library, replace: bool) -> Result<(), String> {
        if self.libs.contains_key(&lib.name) && !replace {
            return Err(format!("Library '{}' already exists", lib.name));
        }
        for f in &lib.functions {
            if let Some(other) = self.functions.get(&fold(&f.name)) {
                if other.library != lib.name {
                    return Err(format!("Function {} already exists", f.name));
                }
            }
        }
        self.delete(&lib.name);
        for f in &lib.functions {
            self.functions.insert(fold(&f.name), Arc::clone(f));
        }
        self.libs.insert(lib.name.clone(), lib);
        Ok(())
    }

    /// The DUMP payload of every library (also what the store keeps).
    pub fn dump(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(self.libs.len() as u32).to_le_bytes());
        for lib in self.libs.values() {
            out.extend_from_slice(&(lib.code.len() as u32).to_le_bytes());
            out.extend_from_slice(&lib.code);
        }
        let sum = xxhash_rust::xxh3::xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }
}

/// The codes of the libraries in a DUMP payload, if it is well formed.
pub fn parse_dump(payload: &[u8]) -> Option<Vec<Bytes>> {
    let body_len = payload.len().checked_sub(8)?;
    let (body, sum) = payload.split_at(body_len);
    if xxhash_rust::xxh3::xxh3_64(body).to_le_bytes() != sum {
        return None;
    }
    let rest = body.strip_prefix(MAGIC)?;
    let (&version, rest) = rest.split_first()?;
    if version != VERSION {
        return None;
    }
    let (count, mut rest) = take_u32(rest)?;
    let mut codes = Vec::new();
    for _ in 0..count {
        let (len, tail) = take_u32(rest)?;
        let len = len as usize;
        if tail.len() < len {
            return None;
        }
        codes.push(Bytes::copy_from_slice(&tail[..len]));
        rest = &tail[len..];
    }
    rest.is_empty().then_some(codes)
}

fn take_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let (head, tail) = b.split_at_checked(4)?;
    Some((u32::from_le_bytes(head.try_into().ok()?), tail))
}

/// Parses the `#!lua name=<name>` line: the library name and the code to compile (the line
/// itself left out, its line break kept). Errors are Redis's texts without `ERR `.
pub fn parse_shebang(code: &[u8]) -> Result<(String, &[u8]), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let end = memchr::memchr(b'\n', code).unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[2..end]);
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or_default();
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("Engine '{engine}' not found"));
    }
    let mut name = None;
    for part in parts {
        match part.strip_prefix("name=") {
            Some(n) => name = Some(n.to_string()),
            None => return Err(format!("Invalid metadata value given: {part}")),
        }
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    if !api::valid_name(&name) {
        return Err(
            "Library names can only contain letters, numbers, or underscores(_) and must be at \
             least one character long"
                .into(),
        );
    }
    Ok((name, &code[end..]))
}

impl Scripting {
    /// Compiles and runs a library's code, collecting its functions (not yet installed).
    fn build_library(&self, code: &[u8]) -> Result<Library, String> {
        let (name, body) = parse_shebang(code)?;
        // At load time `redis` offers registration and logging only, as in Redis; the
        // library's functions see the full `redis` once loaded (the field falls through).
        let redis = self.load_time_redis().map_err(|e| api::error_text(&e))?;
        let env = self.child_env(redis).map_err(|e| api::error_text(&e))?;
        let func = self
            .compile_in(body, "@user_function", env.clone())
            .map_err(|e| format!("Error compiling function: {}", syntax_text(&e)))?;
        let registered = self
            .load_library(&func)
            .map_err(|e| format!("Error registering functions: {e}"));
        let _ = env.raw_set("redis", mlua::Value::Nil);
        let registered = registered?;
        if registered.is_empty() {
            return Err("No functions registered".into());
        }
        let functions = registered
            .into_iter()
            .map(|r| {
                Arc::new(FunctionDef {
                    name: r.name,
                    library: name.clone(),
                    func: r.func,
                    flags: r.flags,
                    description: r.description,
                })
            })
            .collect();
        Ok(Library {
            name,
            code: Bytes::copy_from_slice(code),
            functions,
        })
    }

    fn load_time_redis(&self) -> mlua::Result<mlua::Table> {
        let full: mlua::Table = self.lua.globals().raw_get("redis")?;
        let t = self.lua.create_table()?;
        for field in [
            "register_function",
            "log",
            "setresp",
            "REDIS_VERSION",
            "REDIS_VERSION_NUM",
            "LOG_DEBUG",
            "LOG_VERBOSE",
            "LOG_NOTICE",
            "LOG_WARNING",
        ] {
            // `full` is a read-only view: read through it.
            t.raw_set(field, full.get::<mlua::Value>(field)?)?;
        }
        Ok(t)
    }

    /// FUNCTION LOAD: returns the library name; errors are Redis's texts without `ERR `.
    pub fn function_load(&mut self, code: &[u8], replace: bool) -> Result<String, String> {
        if let Ok((name, _)) = parse_shebang(code) {
            // Redis refuses before running any code.
            if self.functions.contains(&name) && !replace {
                return Err(format!("Library '{name}' already exists"));
            }
        }
        let lib = self.build_library(code)?;
        let name = lib.name.clone();
        self.functions.insert(lib, replace)?;
        Ok(name)
    }

    /// FUNCTION RESTORE: all libraries of the payload or none.
    pub fn function_restore(
        &mut self,
        payload: &[u8],
        policy: RestorePolicy,
    ) -> Result<(), String> {
        let codes = parse_dump(payload)
            .ok_or_else(|| "DUMP payload version or checksum are wrong".to_string())?;
        let mut staged = Vec::with_capacity(codes.len());
        for code in &codes {
            staged.push(self.build_library(code)?);
        }
        let mut next = Libraries::default();
        if policy != RestorePolicy::Flush {
            for lib in self.functions.libs.values() {
                next.insert(
                    Library {
                        name: lib.name.clone(),
                        code: lib.code.clone(),
                        functions: lib.functions.clone(),
                    },
                    false,
                )?;
            }
        }
        for lib in staged {
            if policy == RestorePolicy::Append && next.contains(&lib.name) {
                return Err(format!("Library {} already exists", lib.name));
            }
            next.insert(lib, policy == RestorePolicy::Replace)?;
        }
        self.functions = next;
        Ok(())
    }
}

/// Flag names of a function, for FUNCTION LIST.
pub fn flag_names(flags: u32) -> Vec<&'static str> {
    script_flags::NAMES
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|(_, n)| *n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_of_libraries() {
        assert_eq!(
            parse_shebang(b"#!lua name=mylib\nreturn 1").map(|(n, c)| (n, c.to_vec())),
            Ok(("mylib".to_string(), b"\nreturn 1".to_vec()))
        );
        assert_eq!(
            parse_shebang(b"return 1").unwrap_err(),
            "Missing library metadata"
        );
        assert_eq!(
            parse_shebang(b"#!lua\n").unwrap_err(),
            "Library name was not given"
        );
        assert_eq!(
            parse_shebang(b"#!lua name=x foo=bar\n").unwrap_err(),
            "Invalid metadata value given: foo=bar"
        );
        assert_eq!(
            parse_shebang(b"#!js name=x\n").unwrap_err(),
            "Engine 'js' not found"
        );
        assert!(parse_shebang(b"#!lua name=bad-name\n").is_err());
    }

    #[test]
    fn dump_payloads_are_validated() {
        let libs = Libraries::default();
        let empty = libs.dump();
        assert_eq!(parse_dump(&empty), Some(vec![]));
        let mut bad = empty.clone();
        bad[4] = 9;
        assert_eq!(parse_dump(&bad), None);
        assert_eq!(parse_dump(b"garbage"), None);
        assert_eq!(parse_dump(&empty[..empty.len() - 1]), None);
    }
}
