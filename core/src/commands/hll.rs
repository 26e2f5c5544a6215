//! Redis's HyperLogLog strings, byte for byte: a 16-byte header (`HYLL`, the encoding, three
//! unused bytes, the cached cardinality little-endian with bit 7 of its last byte as "stale"),
//! then 16384 registers of 6 bits, either dense (12288 bytes, LSB-first packing) or sparse
//! (ZERO `00xxxxxx`, XZERO `01xxxxxx yyyyyyyy`, VAL `1vvvvvxx` opcodes). Elements are hashed
//! with MurmurHash64A (seed 0xadc83b19); the estimate is Ertl's improved estimator, as Redis 7
//! computes it. The operations here keep a value exactly as redis-server would leave it, so
//! values travel between the two with GET and SET.

/// Registers' index bits.
const P: u32 = 14;
/// Hash bits left for the run of zeros.
const Q: u32 = 64 - P;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Header length.
pub const HDR: usize = 16;
/// Length of a dense value.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
const REGISTER_MAX: u8 = 63;
const ENC_DENSE: u8 = 0;
const ENC_SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;

/// A value whose registers cannot be read (`-INVALIDOBJ`).
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt;

/// MurmurHash64A, as Redis hashes HLL elements.
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and the length of its run of zeros plus one.
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// A new, empty sparse HLL (what PFADD creates).
pub fn new_sparse() -> Vec<u8> {
    let mut v = header(ENC_SPARSE);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        push_xzero(&mut v, n);
        left -= n;
    }
    v
}

fn header(encoding: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + 2);
    v.extend_from_slice(b"HYLL");
    v.push(encoding);
    v.extend_from_slice(&[0; 11]);
    v
}

/// Whether a string is an HLL Redis accepts (isHLLObjectOrReply).
pub fn is_valid(v: &[u8]) -> bool {
    v.len() >= HDR
        && &v[..4] == b"HYLL"
        && v[4] <= ENC_SPARSE
        && (v[4] != ENC_DENSE || v.len() == DENSE_SIZE)
}

/// The cached cardinality, if it is not marked stale.
pub fn cached(v: &[u8]) -> Option<u64> {
    (v[15] & 0x80 == 0).then(|| u64::from_le_bytes(v[8..16].try_into().unwrap_or([0; 8])))
}

/// Stores a cardinality in the header (which marks it current).
pub fn set_cached(v: &mut [u8], card: u64) {
    v[8..16].copy_from_slice(&card.to_le_bytes());
}

/// Marks the cached cardinality stale.
pub fn invalidate(v: &mut [u8]) {
    v[15] |= 0x80;
}

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let bit = i * 6;
    let (byte, fb) = (bit / 8, bit % 8);
    let b0 = regs[byte] as u16;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX as u16) as u8
}

fn dense_set(regs: &mut [u8], i: usize, val: u8) {
    let bit = i * 6;
    let (byte, fb) = (bit / 8, bit % 8);
    let v = val as u16;
    let mask = (REGISTER_MAX as u16) << fb;
    regs[byte] = (regs[byte] & !(mask as u8)) | (v << fb) as u8;
    if let Some(next) = regs.get_mut(byte + 1) {
        let hi = (mask >> 8) as u8;
        *next = (*next & !hi) | (v >> (8 - fb)) as u8;
    }
}

fn push_xzero(v: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    v.push(0x40 | (l >> 8) as u8);
    v.push((l & 0xff) as u8);
}

fn push_zero_run(v: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        push_xzero(v, len);
    } else {
        v.push((len - 1) as u8);
    }
}

fn val_op(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len as u8 - 1)
}

/// One sparse opcode: (registers it covers, their value, its length in bytes).
fn sparse_op(ops: &[u8], at: usize) -> Option<(usize, u8, usize)> {
    let b = *ops.get(at)?;
    Some(if b & 0xc0 == 0 {
        ((b & 0x3f) as usize + 1, 0, 1)
    } else if b & 0xc0 == 0x40 {
        let lo = *ops.get(at + 1)? as usize;
        ((((b & 0x3f) as usize) << 8 | lo) + 1, 0, 2)
    } else {
        ((b & 3) as usize + 1, ((b >> 2) & 0x1f) + 1, 1)
    })
}

/// The 16384 register values of a valid HLL; `Corrupt` when a sparse value does not cover
/// exactly the registers.
pub fn registers(v: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut out = vec![0u8; REGISTERS];
    let body = &v[HDR..];
    if v[4] == ENC_DENSE {
        for (i, r) in out.iter_mut().enumerate() {
            *r = dense_get(body, i);
        }
        return Ok(out);
    }
    let mut i = 0;
    let mut at = 0;
    while at < body.len() {
        let Some((len, val, oplen)) = sparse_op(body, at) else {
            return Err(Corrupt);
        };
        if i + len > REGISTERS {
            return Err(Corrupt);
        }
        if val > 0 {
            out[i..i + len].fill(val);
        }
        i += len;
        at += oplen;
    }
    if i != REGISTERS {
        return Err(Corrupt);
    }
    Ok(out)
}

/// Converts a sparse value to dense in place (the header, cached cardinality included, is
/// kept); a dense one is left alone.
pub fn to_dense(v: &mut Vec<u8>) -> Result<(), Corrupt> {
    if v[4] == ENC_DENSE {
        return Ok(());
    }
    let regs = registers(v)?;
    let mut dense = Vec::with_capacity(DENSE_SIZE);
    dense.extend_from_slice(&v[..HDR]);
    dense[4] = ENC_DENSE;
    dense.resize(DENSE_SIZE, 0);
    for (i, &r) in regs.iter().enumerate() {
        if r > 0 {
            dense_set(&mut dense[HDR..], i, r);
        }
    }
    *v = dense;
    Ok(())
}

/// Raises register `index` to `count`, as hllSparseSet / hllDenseSet do (promoting a sparse
/// value past `sparse_max` bytes or past the sparse value limit). Returns whether it
/// changed; the caller invalidates the cache.
pub fn set_register(
    v: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max: u64,
) -> Result<bool, Corrupt> {
    if v[4] == ENC_DENSE {
        let regs = &mut v[HDR..];
        if dense_get(regs, index) < count {
            dense_set(regs, index, count);
            return Ok(true);
        }
        return Ok(false);
    }
    if count > VAL_MAX_VALUE {
        return promote(v, index, count);
    }
    // Find the opcode covering `index`.
    let mut first = 0usize;
    let mut at = HDR;
    let mut prev: Option<usize> = None;
    let (span, val, oplen) = loop {
        let Some((span, val, oplen)) = sparse_op(v, at) else {
            return Err(Corrupt);
        };
        if index < first + span {
            break (span, val, oplen);
        }
        prev = Some(at);
        at += oplen;
        first += span;
    };
    let is_val = v[at] & 0x80 != 0;
    if is_val && val >= count {
        return Ok(false);
    }
    if span == 1 && (is_val || oplen == 1) {
        // A single register: rewrite the opcode in place.
        v[at] = val_op(count, 1);
    } else {
        let last = first + span - 1;
        let mut seq = Vec::with_capacity(5);
        if is_val {
            if index != first {
                seq.push(val_op(val, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(val, last - index));
            }
        } else {
            if index != first {
                push_zero_run(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zero_run(&mut seq, last - index);
            }
        }
        let delta = seq.len() as i64 - oplen as i64;
        if delta > 0 && v.len() as u64 + delta as u64 > sparse_max {
            return promote(v, index, count);
        }
        v.splice(at..at + oplen, seq);
    }
    merge_vals(v, prev.unwrap_or(HDR));
    Ok(true)
}

fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(v)?;
    let regs = &mut v[HDR..];
    if dense_get(regs, index) < count {
        dense_set(regs, index, count);
    }
    Ok(true)
}

/// Joins adjacent VAL opcodes of equal value, scanning five opcodes from `from` as Redis
/// does after an update.
fn merge_vals(v: &mut Vec<u8>, from: usize) {
    let mut p = from;
    let mut scan = 5;
    while p < v.len() && scan > 0 {
        scan -= 1;
        let b = v[p];
        if b & 0xc0 == 0x40 {
            p += 2;
            continue;
        }
        if b & 0x80 == 0 {
            p += 1;
            continue;
        }
        if let Some(&n) = v.get(p + 1) {
            if n & 0x80 != 0 {
                let (v1, v2) = ((b >> 2) & 0x1f, (n >> 2) & 0x1f);
                let len = (b & 3) as usize + (n & 3) as usize + 2;
                if v1 == v2 && len <= VAL_MAX_LEN {
                    v[p + 1] = val_op(v1 + 1, len);
                    v.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
}

/// Adds an element; returns whether a register changed.
pub fn add(v: &mut Vec<u8>, element: &[u8], sparse_max: u64) -> Result<bool, Corrupt> {
    let (index, count) = pattern(element);
    set_register(v, index, count, sparse_max)
}

/// Raises `max` to the registers of `v` (hllMerge).
pub fn merge_into(max: &mut [u8], v: &[u8]) -> Result<(), Corrupt> {
    for (m, r) in max.iter_mut().zip(registers(v)?) {
        if r > *m {
            *m = r;
        }
    }
    Ok(())
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate of 16384 register values (Ertl's estimator, as hllCount).
pub fn estimate(registers: &[u8]) -> u64 {
    let mut histo = [0u32; 64];
    for &r in registers {
        histo[(r & 63) as usize] += 1;
    }
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - histo[q + 1] as f64) / m);
    for j in (1..=q).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
    (ALPHA_INF * m * m / z).round() as u64
}

/// The cardinality of a valid HLL value, from its registers.
pub fn count(v: &[u8]) -> Result<u64, Corrupt> {
    Ok(estimate(&registers(v)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_redis_s_bytes() {
        // As redis-server 7.0.15 leaves them: PFADD h a, and PFADD h2 hello world foo then
        // PFCOUNT h2 (which caches 3 in the header).
        let mut v = new_sparse();
        assert!(add(&mut v, b"a", 3000).unwrap());
        invalidate(&mut v);
        assert_eq!(
            v,
            b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80q\xa6\x84NW"
        );
        let mut v = new_sparse();
        for e in ["hello", "world", "foo"] {
            add(&mut v, e.as_bytes(), 3000).unwrap();
        }
        let n = count(&v).unwrap();
        set_cached(&mut v, n);
        assert_eq!(
            v,
            b"HYLL\x01\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00J\xb5\x88Q\xfc\x90GJ\x80[\xfe"
        );
    }

    #[test]
    fn new_value_is_redis_s_empty_hll() {
        let v = new_sparse();
        assert_eq!(v.len(), 18);
        assert_eq!(&v[16..], &[0x7f, 0xff]);
        assert!(is_valid(&v));
        assert_eq!(cached(&v), Some(0));
        assert_eq!(count(&v), Ok(0));
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut s = new_sparse();
        let mut d = new_sparse();
        to_dense(&mut d).unwrap();
        assert_eq!(d.len(), DENSE_SIZE);
        for i in 0..2000u32 {
            let e = i.to_string();
            add(&mut s, e.as_bytes(), 3000).unwrap();
            add(&mut d, e.as_bytes(), 3000).unwrap();
            assert_eq!(registers(&s).unwrap(), registers(&d).unwrap());
        }
        assert_eq!(s[4], ENC_DENSE, "promoted past 3000 bytes");
        let n = count(&d).unwrap();
        assert!((1900..2100).contains(&n), "{n}");
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR];
        for i in 0..REGISTERS {
            dense_set(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8);
        }
    }

    #[test]
    fn corrupted_values_never_panic() {
        // Random bytes over valid values, as Redis's fuzzing test does through SETRANGE:
        // every operation either works or reports Corrupt.
        let mut seed: u64 = 0x1234_5678;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..80 {
            let mut v = new_sparse();
            for i in 0..(rnd() % 3000) {
                add(&mut v, format!("{round}:{i}").as_bytes(), 3000).unwrap();
            }
            for _ in 0..=(rnd() % 5) {
                let at = HDR + (rnd() as usize % (v.len() - HDR));
                v[at] = rnd() as u8;
            }
            let _ = count(&v);
            let mut max = vec![0u8; REGISTERS];
            let _ = merge_into(&mut max, &v);
            let mut w = v.clone();
            let _ = add(&mut w, b"x", 3000);
            let _ = add(&mut w, b"y", 100);
            let _ = to_dense(&mut v);
        }
    }

    #[test]
    fn corrupt_sparse_is_detected() {
        let mut v = new_sparse();
        v.push(0x00);
        assert_eq!(count(&v), Err(Corrupt));
        let mut v = header(ENC_SPARSE);
        v.push(0x7f);
        assert_eq!(registers(&v), Err(Corrupt));
    }
}
