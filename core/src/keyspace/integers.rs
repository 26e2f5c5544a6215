//! The text of small integers as shared, static strings, as Redis shares the integers below
//! 10,000: a counter's new value (INCR, DECR, INCRBY) or an integer set member read back
//! costs no allocation, and its copies (the cache's, the row's, the journal's) no count of
//! a shared buffer.

use bytes::Bytes;

/// Integers from 0 up to this (excluded) are shared.
const SHARED: i64 = 10_000;

/// The decimal text of 0, 1, ..., 9999, one after another.
static DIGITS: [u8; digits_len()] = digits();

const fn digits_len() -> usize {
    // 10 of one digit, 90 of two, 900 of three, 9,000 of four.
    10 + 90 * 2 + 900 * 3 + 9_000 * 4
}

const fn digits() -> [u8; digits_len()] {
    let mut out = [0u8; digits_len()];
    let mut at = 0;
    let mut n = 0u32;
    while n < SHARED as u32 {
        let width = width(n);
        let mut i = 0;
        let mut rest = n;
        while i < width {
            out[at + width - 1 - i] = b'0' + (rest % 10) as u8;
            rest /= 10;
            i += 1;
        }
        at += width;
        n += 1;
    }
    out
}

const fn width(n: u32) -> usize {
    match n {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        _ => 4,
    }
}

/// `n`'s decimal text: shared for 0..=9999, a new string otherwise.
pub(crate) fn integer_text(n: i64) -> Bytes {
    if (0..SHARED).contains(&n) {
        let n = n as u32;
        let width = width(n);
        // Where the numbers of `n`'s width start, and how many of them come before it.
        let (start, first) = match width {
            1 => (0, 0),
            2 => (10, 10),
            3 => (10 + 180, 100),
            _ => (10 + 180 + 2_700, 1_000),
        };
        let at = start + (n - first) as usize * width;
        return Bytes::from_static(&DIGITS[at..at + width]);
    }
    Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_integer_reads_as_its_decimal_text() {
        for n in (-20_000..20_000).chain([i64::MIN, i64::MAX, -1, 0]) {
            assert_eq!(integer_text(n), n.to_string().as_bytes(), "{n}");
        }
    }
}
