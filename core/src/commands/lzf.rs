//! LZF compression as Redis writes it into RDB payloads (its bundled liblzf 3.6, `lzf_c.c` with
//! `HLOG` 16 and `VERY_FAST`), so that DUMP gives redis-server's bytes, and the decompressor
//! RESTORE needs.
//!
//! The format: a control byte below 32 starts a run of `ctrl + 1` literal bytes; otherwise its
//! top three bits are a back-reference length minus 2 (7: one more byte adds to it) and its
//! low five bits with the next byte the distance minus 1 (up to 8 KiB back).
//!
//! The compressor is liblzf's greedy one, reproduced step for step because the bytes are
//! compared, not just the meaning: a hash of the next bytes (a 32-bit rolling value that keeps
//! the four latest bytes, mixed as `VERY_FAST` does) picks one slot of a 65,536-entry table of
//! positions; a slot whose position holds the same three bytes within reach starts a match,
//! extended up to 264 bytes; after a match only its last two positions are hashed. Position 0
//! is never a reference (liblzf tests `ref > in_data`), and the table starts empty (liblzf
//! leaves it uninitialised; on the rare input where a stale slot of an earlier call would
//! have matched, redis-server's bytes depend on that earlier call and cannot be reproduced).

/// Bits of the hash table's index (`HLOG`).
const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
/// Longest literal run.
const MAX_LIT: usize = 1 << 5;
/// Farthest reference distance.
const MAX_OFF: usize = 1 << 13;
/// Longest reference.
const MAX_REF: usize = (1 << 8) + (1 << 3);

fn first(input: &[u8], ip: usize) -> u32 {
    (u32::from(input[ip]) << 8) | u32::from(input[ip + 1])
}

fn next(hval: u32, input: &[u8], ip: usize) -> u32 {
    (hval << 8) | u32::from(input[ip + 2])
}

fn slot(hval: u32) -> usize {
    ((hval >> (3 * 8 - HLOG)).wrapping_sub(hval.wrapping_mul(5))) as usize & (HSIZE - 1)
}

/// Compresses `input` into at most `out_len` bytes, as `lzf_compress` does; `None` when the
/// result would not fit (or the input is empty).
pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let in_end = input.len();
    if in_end == 0 || out_len == 0 {
        return None;
    }
    // Room past `out_len` for the writes liblzf makes before it checks (a run header that
    // is then undone); the result is cut to the real length.
    let mut out = vec![0u8; out_len + 4];
    let mut table = vec![0u32; HSIZE];
    let mut ip = 0usize;
    let mut op = 1usize; // a run starts: its header byte is filled in when it ends
    let mut lit = 0usize;
    // Stops a run of `lit` literals (the header before them; undone when empty).
    let stop_run = |out: &mut Vec<u8>, op: &mut usize, lit: usize| {
        out[*op - lit - 1] = (lit as u8).wrapping_sub(1);
        if lit == 0 {
            *op -= 1;
        }
    };
    if in_end >= 3 {
        let mut hval = first(input, ip);
        while ip < in_end - 2 {
            hval = next(hval, input, ip);
            let h = slot(hval);
            let reference = table[h] as usize;
            table[h] = ip as u32;
            let off = ip.wrapping_sub(reference).wrapping_sub(1);
            if off < MAX_OFF
                && reference > 0
                && input[reference + 2] == input[ip + 2]
                && input[reference] == input[ip]
                && input[reference + 1] == input[ip + 1]
            {
                let mut len = 2usize;
                let maxlen = (in_end - ip - len).min(MAX_REF);
                if op + 3 + 1 >= out_len && op - usize::from(lit == 0) + 3 + 1 >= out_len {
                    return None;
                }
                stop_run(&mut out, &mut op, lit);
                // liblzf first compares 16 bytes unrolled, without the length cap, when more
                // than 16 may match; then byte by byte up to the cap.
                let mut done = false;
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if input[reference + len] != input[ip + len] {
                            done = true;
                            break;
                        }
                    }
                }
                if !done {
                    loop {
                        len += 1;
                        if !(len < maxlen && input[reference + len] == input[ip + len]) {
                            break;
                        }
                    }
                }
                len -= 2; // the stored length: bytes matched minus 2
                ip += 1;
                if len < 7 {
                    out[op] = ((off >> 8) + (len << 5)) as u8;
                    op += 1;
                } else {
                    out[op] = ((off >> 8) + (7 << 5)) as u8;
                    out[op + 1] = (len - 7) as u8;
                    op += 2;
                }
                out[op] = off as u8;
                op += 1;
                lit = 0;
                op += 1; // a new run starts
                ip += len + 1;
                if ip >= in_end - 2 {
                    break;
                }
                // VERY_FAST: the match's last two positions go into the table.
                ip -= 2;
                hval = first(input, ip);
                hval = next(hval, input, ip);
                table[slot(hval)] = ip as u32;
                ip += 1;
                hval = next(hval, input, ip);
                table[slot(hval)] = ip as u32;
                ip += 1;
            } else {
                if op >= out_len {
                    return None;
                }
                lit += 1;
                out[op] = input[ip];
                op += 1;
                ip += 1;
                if lit == MAX_LIT {
                    stop_run(&mut out, &mut op, lit);
                    lit = 0;
                    op += 1;
                }
            }
        }
    }
    if op + 3 > out_len {
        return None;
    }
    while ip < in_end {
        lit += 1;
        out[op] = input[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            stop_run(&mut out, &mut op, lit);
            lit = 0;
            op += 1;
        }
    }
    stop_run(&mut out, &mut op, lit);
    out.truncate(op);
    Some(out)
}

/// Decompresses exactly `len` bytes; `None` when the input is damaged or does not give
/// `len` bytes.
pub fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    // A compressed byte expands to at most a few hundred: refuse absurd lengths up front.
    if len == 0 || len > input.len().saturating_mul(300).saturating_add(64) {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            let lit = input.get(i..i + n)?;
            if out.len() + n > len {
                return None;
            }
            out.extend_from_slice(lit);
            i += n;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                n += *input.get(i)? as usize;
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            if back > out.len() || out.len() + n + 2 > len {
                return None;
            }
            let from = out.len() - back;
            for k in 0..n + 2 {
                let b = out[from + k];
                out.push(b);
            }
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(input: &[u8]) {
        let packed = compress(input, input.len() + 64).expect("fits");
        assert_eq!(decompress(&packed, input.len()).as_deref(), Some(input));
    }

    #[test]
    fn compressed_data_decompresses_to_the_input() {
        round_trip(b"a");
        round_trip(b"ab");
        round_trip(b"abc");
        round_trip(&[b'a'; 1000]);
        round_trip(b"hello hello hello hello world world world");
        let mut x: u64 = 1;
        let noise: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 7) as u8 + b'a'
            })
            .collect();
        round_trip(&noise);
        // Literal runs of exactly 32 and references of every length class.
        let mut mixed = Vec::new();
        for i in 0..300u32 {
            mixed.extend_from_slice(&i.to_le_bytes());
            mixed.extend(std::iter::repeat_n(b'z', (i % 40) as usize));
        }
        round_trip(&mixed);
    }

    #[test]
    fn incompressible_input_or_no_room_is_none() {
        assert_eq!(compress(b"", 10), None);
        let noise: Vec<u8> = (0..100u32).map(|i| (i * 151 % 251) as u8).collect();
        assert_eq!(compress(&noise, noise.len() - 4), None);
    }

    #[test]
    fn damaged_input_is_refused() {
        assert_eq!(
            decompress(&[0x00, b'a', 0xe0, 0x00, 0x00], 10),
            Some(vec![b'a'; 10])
        );
        assert_eq!(decompress(&[0x00, b'a', 0xe0, 0x00, 0x00], 11), None);
        assert_eq!(decompress(&[0x20, 0x05], 10), None);
        assert_eq!(decompress(&[0x05, b'a'], 6), None);
    }
}
