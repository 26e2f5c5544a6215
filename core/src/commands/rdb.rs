//! Redis's serialization of one value, as DUMP and RESTORE exchange it (rdb.c, listpack.c,
//! intset.c, crc64.c), pure: a payload is the value's RDB type and body, the RDB version
//! (two bytes, little-endian) and a CRC64 (Jones polynomial, reflected, as Redis's crc64.c)
//! of everything before it.
//!
//! Written as Redis 7.0 writes with its default encodings: RDB version 10; strings with
//! their integer encodings; lists as quicklist 2 nodes of listpacks (8 KB each, as
//! `list-max-listpack-size -2`); sets as an intset (integers only, up to 512) or a plain set;
//! sorted sets and hashes as one listpack up to 128 entries of up to 64 bytes, else their
//! plain forms (binary doubles for scores). Strings and blobs (listpacks, intsets) go through
//! Redis's rdbSaveRawString: integer encodings, and LZF (see `lzf.rs`) for more than 20
//! bytes when `rdbcompression` is yes, so a payload has redis-server's bytes.
//!
//! Read: everything 7.0 and 7.2 write for these types (RDB versions up to 11): integer and
//! LZF-compressed strings, the old plain list and string-scored sorted set, intsets,
//! listpacks (hash, sorted set, 7.2's set) and quicklist 2; and the ziplists (list, quicklist,
//! hash, sorted set) of Redis 6 and older. Not read: zipmaps (Redis 2.4), streams, modules. Every length and offset is
//! checked: a damaged payload is an error, never a panic.

use bytes::Bytes;

/// The RDB version written.
pub const RDB_VERSION: u16 = 10;
/// The highest version read (7.2's).
pub const RDB_VERSION_READ: u16 = 11;

const T_STRING: u8 = 0;
const T_LIST: u8 = 1;
const T_SET: u8 = 2;
const T_ZSET: u8 = 3;
const T_HASH: u8 = 4;
const T_ZSET_2: u8 = 5;
const T_LIST_ZIPLIST: u8 = 10;
const T_SET_INTSET: u8 = 11;
const T_ZSET_ZIPLIST: u8 = 12;
const T_HASH_ZIPLIST: u8 = 13;
const T_LIST_QUICKLIST: u8 = 14;
const T_HASH_LISTPACK: u8 = 16;
const T_ZSET_LISTPACK: u8 = 17;
const T_LIST_QUICKLIST_2: u8 = 18;
const T_SET_LISTPACK: u8 = 20;

const LISTPACK_ENTRIES: usize = 128;
const LISTPACK_VALUE: usize = 64;
const INTSET_ENTRIES: usize = 512;
const QUICKLIST_NODE_BYTES: usize = 8192;

/// A value, as the payload carries it.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// A string.
    String(Bytes),
    /// A list, head first.
    List(Vec<Bytes>),
    /// A set.
    Set(Vec<Bytes>),
    /// A sorted set, in ascending order.
    ZSet(Vec<(Bytes, f64)>),
    /// A hash.
    Hash(Vec<(Bytes, Bytes)>),
}

/// Why a payload was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// Too short, a version above the one read, or a wrong checksum.
    VersionOrChecksum,
    /// The body does not describe a value.
    BadFormat,
}

// ---------------------------------------------------------------------------------------
// CRC64 (Jones, reflected, as Redis's crc64.c).

const fn crc_table() -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u64;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC_TABLE: [u64; 256] = crc_table();

/// Redis's `crc64(crc, data)`.
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    for &b in data {
        crc = CRC_TABLE[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

// ---------------------------------------------------------------------------------------
// Writing.

fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// A canonical decimal integer (what Redis's string2ll accepts and ll2string gives back).
fn canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let v: i64 = text.parse().ok()?;
    (v.to_string().as_bytes() == s).then_some(v)
}

/// rdbSaveRawString: integers that fit 32 bits in their encodings; with `compress` (Redis's
/// `rdbcompression`), strings of more than 20 bytes LZF-compressed when that saves at least
/// four bytes (the output may take at most `len - 4`), as Redis writes them.
fn put_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(v) = canonical_int(s) {
            if let Ok(b) = i8::try_from(v) {
                out.extend_from_slice(&[0xc0, b as u8]);
                return;
            } else if let Ok(h) = i16::try_from(v) {
                out.push(0xc1);
                out.extend_from_slice(&h.to_le_bytes());
                return;
            } else if let Ok(w) = i32::try_from(v) {
                out.push(0xc2);
                out.extend_from_slice(&w.to_le_bytes());
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        if let Some(packed) = super::lzf::compress(s, s.len() - 4) {
            out.push(0xc3); // RDB_ENCVAL << 6 | RDB_ENC_LZF
            put_len(out, packed.len() as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&packed);
            return;
        }
    }
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// One listpack entry (encoding, data, back-length).
fn lp_entry(out: &mut Vec<u8>, s: &[u8]) {
    let start = out.len();
    match canonical_int(s) {
        Some(v) if (0..=127).contains(&v) => out.push(v as u8),
        Some(v) if (-4096..=4095).contains(&v) => {
            let u = if v < 0 { (1i64 << 13) + v } else { v } as u16;
            out.push(0xc0 | (u >> 8) as u8);
            out.push(u as u8);
        }
        Some(v) if i16::try_from(v).is_ok() => {
            out.push(0xf1);
            out.extend_from_slice(&(v as i16).to_le_bytes());
        }
        Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => {
            out.push(0xf2);
            out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        }
        Some(v) if i32::try_from(v).is_ok() => {
            out.push(0xf3);
            out.extend_from_slice(&(v as i32).to_le_bytes());
        }
        Some(v) => {
            out.push(0xf4);
            out.extend_from_slice(&v.to_le_bytes());
        }
        None if s.len() < 64 => {
            out.push(0x80 | s.len() as u8);
            out.extend_from_slice(s);
        }
        None if s.len() < 4096 => {
            out.push(0xe0 | (s.len() >> 8) as u8);
            out.push(s.len() as u8);
            out.extend_from_slice(s);
        }
        None => {
            out.push(0xf0);
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s);
        }
    }
    let l = (out.len() - start) as u64;
    put_backlen(out, l);
}

/// A whole listpack of `items`.
fn listpack<'a>(items: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut lp = vec![0u8; 6];
    let mut n = 0usize;
    for s in items {
        lp_entry(&mut lp, s);
        n += 1;
    }
    lp.push(0xff);
    let total = lp.len() as u32;
    lp[..4].copy_from_slice(&total.to_le_bytes());
    let count = if n < 65535 { n as u16 } else { 65535 };
    lp[4..6].copy_from_slice(&count.to_le_bytes());
    lp
}

/// Redis's d2string: integral values in ±2^52 as integers, others `%.17g`.
fn score_text(v: f64) -> Vec<u8> {
    if v == 0.0 {
        return if v.is_sign_negative() {
            b"-0".to_vec()
        } else {
            b"0".to_vec()
        };
    }
    if v > -4503599627370495.0 && v < 4503599627370496.0 && v == (v as i64) as f64 {
        return (v as i64).to_string().into_bytes();
    }
    crate::protocol::format_double(v).into_bytes()
}

/// The payload DUMP replies for a value; `compress` is Redis's `rdbcompression`.
pub fn dump(obj: &Object, compress: bool) -> Vec<u8> {
    let mut out = Vec::new();
    match obj {
        Object::String(s) => {
            out.push(T_STRING);
            put_string(&mut out, s, compress);
        }
        Object::List(items) => {
            out.push(T_LIST_QUICKLIST_2);
            let mut nodes: Vec<Vec<&[u8]>> = Vec::new();
            let mut node_bytes = 0usize;
            for item in items {
                let fits = nodes
                    .last()
                    .is_some_and(|_| node_bytes + item.len() + 8 <= QUICKLIST_NODE_BYTES);
                if !fits {
                    nodes.push(Vec::new());
                    node_bytes = 7;
                }
                let node = nodes.last_mut().expect("a node was just pushed");
                node.push(item);
                let mut probe = Vec::new();
                lp_entry(&mut probe, item);
                node_bytes += probe.len();
            }
            put_len(&mut out, nodes.len() as u64);
            for node in nodes {
                put_len(&mut out, 2); // QUICKLIST_NODE_CONTAINER_PACKED
                let lp = listpack(node.into_iter());
                put_string(&mut out, &lp, compress);
            }
        }
        Object::Set(members) => {
            let ints: Option<Vec<i64>> = if members.len() <= INTSET_ENTRIES {
                members.iter().map(|m| canonical_int(m)).collect()
            } else {
                None
            };
            if let Some(mut ints) = ints {
                out.push(T_SET_INTSET);
                ints.sort_unstable();
                let width: usize = if ints.iter().all(|&v| i16::try_from(v).is_ok()) {
                    2
                } else if ints.iter().all(|&v| i32::try_from(v).is_ok()) {
                    4
                } else {
                    8
                };
                let mut blob = Vec::with_capacity(8 + width * ints.len());
                blob.extend_from_slice(&(width as u32).to_le_bytes());
                blob.extend_from_slice(&(ints.len() as u32).to_le_bytes());
                for v in ints {
                    blob.extend_from_slice(&v.to_le_bytes()[..width]);
                }
                put_string(&mut out, &blob, compress);
            } else {
                out.push(T_SET);
                put_len(&mut out, members.len() as u64);
                for m in members {
                    put_string(&mut out, m, compress);
                }
            }
        }
        Object::ZSet(entries) => {
            let small = entries.len() <= LISTPACK_ENTRIES
                && entries.iter().all(|(m, _)| m.len() <= LISTPACK_VALUE);
            if small {
                out.push(T_ZSET_LISTPACK);
                let scores: Vec<Vec<u8>> = entries.iter().map(|(_, s)| score_text(*s)).collect();
                let lp = listpack(
                    entries
                        .iter()
                        .zip(&scores)
                        .flat_map(|((m, _), s)| [&m[..], &s[..]]),
                );
                put_string(&mut out, &lp, compress);
            } else {
                out.push(T_ZSET_2);
                put_len(&mut out, entries.len() as u64);
                for (m, s) in entries.iter().rev() {
                    put_string(&mut out, m, compress);
                    out.extend_from_slice(&s.to_le_bytes());
                }
            }
        }
        Object::Hash(fields) => {
            let small = fields.len() <= LISTPACK_ENTRIES
                && fields
                    .iter()
                    .all(|(f, v)| f.len() <= LISTPACK_VALUE && v.len() <= LISTPACK_VALUE);
            if small {
                out.push(T_HASH_LISTPACK);
                let lp = listpack(fields.iter().flat_map(|(f, v)| [&f[..], &v[..]]));
                put_string(&mut out, &lp, compress);
            } else {
                out.push(T_HASH);
                put_len(&mut out, fields.len() as u64);
                for (f, v) in fields {
                    put_string(&mut out, f, compress);
                    put_string(&mut out, v, compress);
                }
            }
        }
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

// ---------------------------------------------------------------------------------------
// Reading.

type Res<T> = Result<T, LoadError>;
const BAD: LoadError = LoadError::BadFormat;

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

enum Len {
    Plain(u64),
    Int(u8),
    Lzf,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let end = self.at.checked_add(n).ok_or(BAD)?;
        let s = self.data.get(self.at..end).ok_or(BAD)?;
        self.at = end;
        Ok(s)
    }

    fn byte(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }

    fn len_or_enc(&mut self) -> Res<Len> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain(u64::from(b & 0x3f) << 8 | u64::from(self.byte()?)),
            2 => match b {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(
                    self.take(4)?.try_into().map_err(|_| BAD)?,
                ))),
                0x81 => Len::Plain(u64::from_be_bytes(
                    self.take(8)?.try_into().map_err(|_| BAD)?,
                )),
                _ => return Err(BAD),
            },
            _ => match b & 0x3f {
                0..=2 => Len::Int(b & 0x3f),
                3 => Len::Lzf,
                _ => return Err(BAD),
            },
        })
    }

    fn len(&mut self) -> Res<u64> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            _ => Err(BAD),
        }
    }

    /// A count of elements that must each take at least one byte, so a huge count in a
    /// short payload is refused before anything is allocated for it.
    fn count(&mut self) -> Res<usize> {
        let n = self.len()?;
        if n == 0 || n > (self.data.len() - self.at) as u64 {
            return Err(BAD);
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Res<Bytes> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(Bytes::copy_from_slice(
                self.take(usize::try_from(n).map_err(|_| BAD)?)?,
            )),
            Len::Int(0) => Ok(Bytes::from((self.byte()? as i8).to_string())),
            Len::Int(1) => Ok(Bytes::from(
                i16::from_le_bytes(self.take(2)?.try_into().map_err(|_| BAD)?).to_string(),
            )),
            Len::Int(_) => Ok(Bytes::from(
                i32::from_le_bytes(self.take(4)?.try_into().map_err(|_| BAD)?).to_string(),
            )),
            Len::Lzf => {
                let clen = usize::try_from(self.len()?).map_err(|_| BAD)?;
                let len = usize::try_from(self.len()?).map_err(|_| BAD)?;
                let packed = self.take(clen)?;
                super::lzf::decompress(packed, len)
                    .map(Bytes::from)
                    .ok_or(BAD)
            }
        }
    }
}

/// The entries of a listpack, checked whole: header, every entry and its back-length, the
/// terminator and the count.
fn read_listpack(lp: &[u8]) -> Res<Vec<Bytes>> {
    if lp.len() < 7 {
        return Err(BAD);
    }
    let total = u32::from_le_bytes(lp[..4].try_into().map_err(|_| BAD)?) as usize;
    let count = u16::from_le_bytes(lp[4..6].try_into().map_err(|_| BAD)?);
    if total != lp.len() || lp[total - 1] != 0xff {
        return Err(BAD);
    }
    let mut r = Reader {
        data: &lp[..total - 1],
        at: 6,
    };
    let mut out = Vec::new();
    while r.at < r.data.len() {
        let start = r.at;
        let b = r.byte()?;
        let int = |v: i64| Bytes::from(v.to_string());
        let item = if b & 0x80 == 0 {
            int(i64::from(b))
        } else if b & 0xc0 == 0x80 {
            Bytes::copy_from_slice(r.take(usize::from(b & 0x3f))?)
        } else if b & 0xe0 == 0xc0 {
            let u = (u16::from(b & 0x1f) << 8) | u16::from(r.byte()?);
            let v = if u >= 1 << 12 {
                i64::from(u) - (1 << 13)
            } else {
                i64::from(u)
            };
            int(v)
        } else if b & 0xf0 == 0xe0 {
            let n = (usize::from(b & 0x0f) << 8) | usize::from(r.byte()?);
            Bytes::copy_from_slice(r.take(n)?)
        } else {
            match b {
                0xf0 => {
                    let n = u32::from_le_bytes(r.take(4)?.try_into().map_err(|_| BAD)?);
                    Bytes::copy_from_slice(r.take(n as usize)?)
                }
                0xf1 => int(i64::from(i16::from_le_bytes(
                    r.take(2)?.try_into().map_err(|_| BAD)?,
                ))),
                0xf2 => {
                    let t = r.take(3)?;
                    let v = i32::from_le_bytes([0, t[0], t[1], t[2]]) >> 8;
                    int(i64::from(v))
                }
                0xf3 => int(i64::from(i32::from_le_bytes(
                    r.take(4)?.try_into().map_err(|_| BAD)?,
                ))),
                0xf4 => int(i64::from_le_bytes(r.take(8)?.try_into().map_err(|_| BAD)?)),
                _ => return Err(BAD),
            }
        };
        // The back-length must give this entry's length.
        let l = (r.at - start) as u64;
        let mut expect = Vec::new();
        put_backlen(&mut expect, l);
        if r.take(expect.len())? != &expect[..] {
            return Err(BAD);
        }
        out.push(item);
    }
    if count != 65535 && usize::from(count) != out.len() {
        return Err(BAD);
    }
    Ok(out)
}

/// lpEncodeBacklen: an entry's length, read backwards.
fn put_backlen(out: &mut Vec<u8>, l: u64) {
    if l <= 127 {
        out.push(l as u8);
    } else if l < 16383 {
        out.extend_from_slice(&[(l >> 7) as u8, (l & 127) as u8 | 128]);
    } else if l < 2_097_151 {
        out.extend_from_slice(&[
            (l >> 14) as u8,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    } else if l < 268_435_455 {
        out.extend_from_slice(&[
            (l >> 21) as u8,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    } else {
        out.extend_from_slice(&[
            (l >> 28) as u8,
            ((l >> 21) & 127) as u8 | 128,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    }
}

/// The entries of a ziplist (what Redis 6 and older wrote; RDB 9 and below), checked whole.
fn read_ziplist(zl: &[u8]) -> Res<Vec<Bytes>> {
    if zl.len() < 11 {
        return Err(BAD);
    }
    let total = u32::from_le_bytes(zl[..4].try_into().map_err(|_| BAD)?) as usize;
    let count = u16::from_le_bytes(zl[8..10].try_into().map_err(|_| BAD)?);
    if total != zl.len() || zl[total - 1] != 0xff {
        return Err(BAD);
    }
    let mut r = Reader {
        data: &zl[..total - 1],
        at: 10,
    };
    let mut out = Vec::new();
    let mut prev_len = 0usize;
    while r.at < r.data.len() {
        let start = r.at;
        let p = r.byte()?;
        let prev = if p < 254 {
            usize::from(p)
        } else if p == 254 {
            u32::from_le_bytes(r.take(4)?.try_into().map_err(|_| BAD)?) as usize
        } else {
            return Err(BAD);
        };
        if prev != prev_len {
            return Err(BAD);
        }
        let e = r.byte()?;
        let int = |v: i64| Bytes::from(v.to_string());
        let item = match e >> 6 {
            0 => Bytes::copy_from_slice(r.take(usize::from(e & 0x3f))?),
            1 => {
                let n = (usize::from(e & 0x3f) << 8) | usize::from(r.byte()?);
                Bytes::copy_from_slice(r.take(n)?)
            }
            2 if e == 0x80 => {
                let n = u32::from_be_bytes(r.take(4)?.try_into().map_err(|_| BAD)?) as usize;
                Bytes::copy_from_slice(r.take(n)?)
            }
            2 => return Err(BAD),
            _ => match e {
                0xc0 => int(i64::from(i16::from_le_bytes(
                    r.take(2)?.try_into().map_err(|_| BAD)?,
                ))),
                0xd0 => int(i64::from(i32::from_le_bytes(
                    r.take(4)?.try_into().map_err(|_| BAD)?,
                ))),
                0xe0 => int(i64::from_le_bytes(r.take(8)?.try_into().map_err(|_| BAD)?)),
                0xf0 => {
                    let t = r.take(3)?;
                    int(i64::from(i32::from_le_bytes([0, t[0], t[1], t[2]]) >> 8))
                }
                0xfe => int(i64::from(r.byte()? as i8)),
                0xf1..=0xfd => int(i64::from(e & 0x0f) - 1),
                _ => return Err(BAD),
            },
        };
        prev_len = r.at - start;
        out.push(item);
    }
    if count != u16::MAX && usize::from(count) != out.len() {
        return Err(BAD);
    }
    Ok(out)
}

fn read_intset(blob: &[u8]) -> Res<Vec<Bytes>> {
    if blob.len() < 8 {
        return Err(BAD);
    }
    let width = u32::from_le_bytes(blob[..4].try_into().map_err(|_| BAD)?) as usize;
    let n = u32::from_le_bytes(blob[4..8].try_into().map_err(|_| BAD)?) as usize;
    if !matches!(width, 2 | 4 | 8) || n == 0 || blob.len() != 8 + width.checked_mul(n).ok_or(BAD)? {
        return Err(BAD);
    }
    let mut prev: Option<i64> = None;
    let mut out = Vec::with_capacity(n);
    for chunk in blob[8..].chunks_exact(width) {
        let v = match width {
            2 => i64::from(i16::from_le_bytes([chunk[0], chunk[1]])),
            4 => i64::from(i32::from_le_bytes(chunk.try_into().map_err(|_| BAD)?)),
            _ => i64::from_le_bytes(chunk.try_into().map_err(|_| BAD)?),
        };
        // Strictly ascending: sorted and no duplicates.
        if prev.is_some_and(|p| p >= v) {
            return Err(BAD);
        }
        prev = Some(v);
        out.push(Bytes::from(v.to_string()));
    }
    Ok(out)
}

fn parse_score(text: &[u8]) -> Res<f64> {
    let v = super::long_double::parse_f64_lenient(text).ok_or(BAD)?;
    if v.is_nan() {
        return Err(BAD);
    }
    Ok(v)
}

fn no_duplicates(items: impl Iterator<Item = Bytes>) -> Res<()> {
    let mut seen = std::collections::HashSet::new();
    for i in items {
        if !seen.insert(i) {
            return Err(BAD);
        }
    }
    Ok(())
}

fn pairs(items: Vec<Bytes>) -> Res<Vec<(Bytes, Bytes)>> {
    if items.is_empty() || items.len() % 2 != 0 {
        return Err(BAD);
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Ok(out)
}

fn read_object(r: &mut Reader<'_>) -> Res<Object> {
    let t = r.byte()?;
    let obj = match t {
        T_STRING => Object::String(r.string()?),
        T_LIST => {
            let n = r.count()?;
            Object::List((0..n).map(|_| r.string()).collect::<Res<_>>()?)
        }
        T_LIST_QUICKLIST_2 => {
            let nodes = r.count()?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                let container = r.len()?;
                let blob = r.string()?;
                match container {
                    1 => items.push(blob),
                    2 => {
                        let entries = read_listpack(&blob)?;
                        if entries.is_empty() {
                            return Err(BAD);
                        }
                        items.extend(entries);
                    }
                    _ => return Err(BAD),
                }
            }
            Object::List(items)
        }
        T_LIST_ZIPLIST => {
            let items = read_ziplist(&r.string()?)?;
            if items.is_empty() {
                return Err(BAD);
            }
            Object::List(items)
        }
        T_LIST_QUICKLIST => {
            let nodes = r.count()?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                let entries = read_ziplist(&r.string()?)?;
                if entries.is_empty() {
                    return Err(BAD);
                }
                items.extend(entries);
            }
            Object::List(items)
        }
        T_SET => {
            let n = r.count()?;
            let members: Vec<Bytes> = (0..n).map(|_| r.string()).collect::<Res<_>>()?;
            no_duplicates(members.iter().cloned())?;
            Object::Set(members)
        }
        T_SET_INTSET => Object::Set(read_intset(&r.string()?)?),
        T_SET_LISTPACK => {
            let members = read_listpack(&r.string()?)?;
            if members.is_empty() {
                return Err(BAD);
            }
            no_duplicates(members.iter().cloned())?;
            Object::Set(members)
        }
        T_ZSET | T_ZSET_2 => {
            let n = r.count()?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let member = r.string()?;
                let score = if t == T_ZSET_2 {
                    f64::from_le_bytes(r.take(8)?.try_into().map_err(|_| BAD)?)
                } else {
                    match r.byte()? {
                        253 => return Err(BAD),
                        254 => f64::INFINITY,
                        255 => f64::NEG_INFINITY,
                        l => parse_score(r.take(usize::from(l))?)?,
                    }
                };
                if score.is_nan() {
                    return Err(BAD);
                }
                entries.push((member, score));
            }
            no_duplicates(entries.iter().map(|(m, _)| m.clone()))?;
            Object::ZSet(entries)
        }
        T_ZSET_LISTPACK | T_ZSET_ZIPLIST => {
            let blob = r.string()?;
            let items = if t == T_ZSET_LISTPACK {
                read_listpack(&blob)?
            } else {
                read_ziplist(&blob)?
            };
            let entries = pairs(items)?
                .into_iter()
                .map(|(m, s)| Ok((m, parse_score(&s)?)))
                .collect::<Res<Vec<_>>>()?;
            no_duplicates(entries.iter().map(|(m, _)| m.clone()))?;
            Object::ZSet(entries)
        }
        T_HASH => {
            let n = r.count()?;
            let mut fields = Vec::with_capacity(n);
            for _ in 0..n {
                fields.push((r.string()?, r.string()?));
            }
            no_duplicates(fields.iter().map(|(f, _)| f.clone()))?;
            Object::Hash(fields)
        }
        T_HASH_LISTPACK | T_HASH_ZIPLIST => {
            let blob = r.string()?;
            let fields = pairs(if t == T_HASH_LISTPACK {
                read_listpack(&blob)?
            } else {
                read_ziplist(&blob)?
            })?;
            no_duplicates(fields.iter().map(|(f, _)| f.clone()))?;
            Object::Hash(fields)
        }
        _ => return Err(BAD),
    };
    Ok(obj)
}

/// Checks a payload's version and checksum (verifyDumpPayload).
pub fn verify(payload: &[u8]) -> Res<&[u8]> {
    if payload.len() < 10 {
        return Err(LoadError::VersionOrChecksum);
    }
    let body_end = payload.len() - 10;
    let footer = &payload[body_end..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION_READ {
        return Err(LoadError::VersionOrChecksum);
    }
    let crc = crc64(0, &payload[..payload.len() - 8]);
    if crc.to_le_bytes() != footer[2..] {
        return Err(LoadError::VersionOrChecksum);
    }
    Ok(&payload[..body_end])
}

/// The value a RESTORE payload carries.
pub fn restore(payload: &[u8]) -> Res<Object> {
    let body = verify(payload)?;
    let mut r = Reader { data: body, at: 0 };
    read_object(&mut r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn crc64_is_redis_jones() {
        // crc64.c's own test vector.
        assert_eq!(crc64(0, b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn strings_as_redis_dumps_them() {
        // redis-server 7.0.15: SET k 1 / SET k hello, then DUMP k.
        assert_eq!(
            dump(&Object::String(b("1")), true),
            b"\x00\xc0\x01\x0a\x00\x26\x78\xe7\xb6\xd1\x01\x11\xfc".to_vec()
        );
    }

    #[test]
    fn every_type_round_trips() {
        let long = "x".repeat(100);
        let many: Vec<Bytes> = (0..1000)
            .map(|i| Bytes::from(format!("item-{i}")))
            .collect();
        let objects = vec![
            Object::String(b("hello")),
            Object::String(b("-123456")),
            Object::String(b("12345678901234")),
            Object::String(Bytes::from(long.clone())),
            Object::List(vec![b("a"), b("1"), b("-5000"), b("70000"), b(&long)]),
            Object::List(many.clone()),
            Object::Set(vec![b("1"), b("-2"), b("300000")]),
            Object::Set(vec![b("a"), b("1")]),
            Object::ZSet(vec![(b("a"), -1.5), (b("b"), 2.0), (b("c"), f64::INFINITY)]),
            Object::ZSet(
                many.iter()
                    .enumerate()
                    .map(|(i, m)| (m.clone(), i as f64 * 0.5))
                    .collect(),
            ),
            Object::Hash(vec![(b("f"), b("v")), (b("n"), b("42"))]),
            Object::Hash(
                many.iter()
                    .map(|m| (m.clone(), Bytes::from(long.clone())))
                    .collect(),
            ),
        ];
        for (obj, compress) in objects
            .iter()
            .flat_map(|o| [(o.clone(), false), (o.clone(), true)])
        {
            let payload = dump(&obj, compress);
            let back = restore(&payload).unwrap();
            match (&obj, &back) {
                (Object::Set(a), Object::Set(b)) => {
                    let mut a = a.clone();
                    let mut b = b.clone();
                    a.sort();
                    b.sort();
                    assert_eq!(a, b);
                }
                (Object::ZSet(a), Object::ZSet(b)) => {
                    let mut b = b.clone();
                    b.sort_by(|x, y| x.1.total_cmp(&y.1));
                    assert_eq!(a, &b);
                }
                _ => assert_eq!(obj, back),
            }
        }
    }

    #[test]
    fn ziplists_of_redis_6_are_read() {
        // A ziplist of "a", 7 (immediate), -300 (int16), as Redis 6 writes for RPUSH.
        let mut zl = vec![0u8; 10];
        zl.extend_from_slice(&[0x00, 0x01, b'a']); // prevlen 0, 1-byte string
        zl.extend_from_slice(&[0x03, 0xf8]); // prevlen 3, immediate 7
        zl.extend_from_slice(&[0x02, 0xc0]); // prevlen 2, int16
        zl.extend_from_slice(&(-300i16).to_le_bytes());
        zl.push(0xff);
        let total = zl.len() as u32;
        zl[..4].copy_from_slice(&total.to_le_bytes());
        zl[4..8].copy_from_slice(&13u32.to_le_bytes());
        zl[8..10].copy_from_slice(&3u16.to_le_bytes());
        let mut p = vec![T_LIST_QUICKLIST, 1, zl.len() as u8];
        p.extend_from_slice(&zl);
        p.extend_from_slice(&9u16.to_le_bytes());
        let crc = crc64(0, &p);
        p.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            restore(&p),
            Ok(Object::List(vec![b("a"), b("7"), b("-300")]))
        );
    }

    #[test]
    fn lzf_literal_and_backref() {
        // "aaaaaaaaaa": literal 'a', then a back-reference of 9 bytes at distance 1.
        let packed = [0x00, b'a', 0xe0, 0x00, 0x00];
        assert_eq!(
            super::super::lzf::decompress(&packed, 10).unwrap(),
            b"aaaaaaaaaa"
        );
        assert!(super::super::lzf::decompress(&packed, 11).is_none());
        assert!(super::super::lzf::decompress(&[0x20, 0x05], 10).is_none());
    }

    #[test]
    fn damaged_payloads_are_errors() {
        let payload = dump(&Object::List(vec![b("a"), b("b")]), true);
        for cut in 0..payload.len() {
            assert!(restore(&payload[..cut]).is_err());
        }
        let mut bad = payload.clone();
        bad[3] ^= 1;
        assert_eq!(restore(&bad), Err(LoadError::VersionOrChecksum));
        // Every single-byte change with a recomputed checksum: an error or a value, never a
        // panic.
        for i in 0..payload.len() - 10 {
            for v in [0u8, 1, 0x3f, 0x40, 0x7f, 0x80, 0xc3, 0xff] {
                let mut p = payload.clone();
                p[i] = v;
                let n = p.len();
                let crc = crc64(0, &p[..n - 8]);
                p[n - 8..].copy_from_slice(&crc.to_le_bytes());
                let _ = restore(&p);
            }
        }
    }
}
