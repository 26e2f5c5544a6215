//! A token-bucket rate limiter as a Respite plugin.
//!
//! `RATELIMIT.TAKE key capacity refill_per_sec [tokens]` takes `tokens` (default 1) from the
//! bucket at `key`, which holds at most `capacity` tokens and regains `refill_per_sec` tokens
//! per second. The reply is an array:
//!
//! 1. `1` if the tokens were taken, `0` if the bucket had too few;
//! 2. the tokens left (rounded down);
//! 3. milliseconds until the request could succeed (`-1` when it did);
//! 4. milliseconds until the bucket is full again.
//!
//! `RATELIMIT.PEEK key capacity refill_per_sec` answers `[tokens left, ms until full]` without
//! taking any.
//!
//! The bucket is an ordinary string key, `"<tokens>:<unix ms>"`, written with `SET ... PX` so
//! that it expires exactly when it would be full again (a missing key *is* a full bucket, so
//! idle buckets cost no storage). Reads and writes go through `call`, inside the command's
//! atomic step: two clients can never take the same token.

use respite_plugin_sdk::{export_plugin, Command, Ctx, Error, Flags, Level, Registrar, Reply};

/// A bucket's state at a moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Tokens available (fractional: refill is continuous).
    pub tokens: f64,
    /// Unix milliseconds of `tokens`.
    pub at_ms: i64,
}

/// The limits given with each command.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Most tokens a bucket holds.
    pub capacity: f64,
    /// Tokens regained per second.
    pub refill_per_sec: f64,
}

impl Limits {
    /// The bucket at `now_ms`, refilled since its last update.
    pub fn refill(&self, bucket: Option<Bucket>, now_ms: i64) -> f64 {
        match bucket {
            None => self.capacity,
            Some(b) => {
                // A clock that went backwards refills nothing rather than draining.
                let elapsed = (now_ms - b.at_ms).max(0) as f64 / 1000.0;
                (b.tokens + elapsed * self.refill_per_sec).min(self.capacity)
            }
        }
    }

    /// Milliseconds until `tokens` are available again when `have` are (0 if already).
    pub fn wait_ms(&self, have: f64, want: f64) -> i64 {
        if have >= want {
            0
        } else {
            ((want - have) / self.refill_per_sec * 1000.0).ceil() as i64
        }
    }
}

/// Parses the stored `"<tokens>:<unix ms>"`.
pub fn parse_bucket(raw: &[u8]) -> Option<Bucket> {
    let text = std::str::from_utf8(raw).ok()?;
    let (tokens, at) = text.split_once(':')?;
    let tokens: f64 = tokens.parse().ok()?;
    (tokens.is_finite() && tokens >= 0.0).then_some(())?;
    Some(Bucket {
        tokens,
        at_ms: at.parse().ok()?,
    })
}

fn arg_str<'a>(args: &[&'a [u8]], i: usize) -> Result<&'a str, Error> {
    std::str::from_utf8(args[i]).map_err(|_| Error::new("arguments must be UTF-8 numbers"))
}

fn limits(args: &[&[u8]]) -> Result<Limits, Error> {
    let capacity: u64 = arg_str(args, 2)?
        .parse()
        .ok()
        .filter(|&c| c > 0)
        .ok_or_else(|| Error::new("capacity must be a positive integer"))?;
    let refill_per_sec: f64 = arg_str(args, 3)?
        .parse()
        .ok()
        .filter(|r: &f64| r.is_finite() && *r > 0.0)
        .ok_or_else(|| Error::new("refill_per_sec must be a positive number"))?;
    Ok(Limits {
        capacity: capacity as f64,
        refill_per_sec,
    })
}

/// Reads the bucket at `key` through GET.
fn load(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<Bucket>, Error> {
    match ctx.call(&[&b"GET"[..], key]) {
        Reply::Null => Ok(None),
        Reply::Error(e) => Err(Error::new(e)),
        reply => reply
            .as_bytes()
            .and_then(parse_bucket)
            .map(Some)
            .ok_or_else(|| Error::new("the key does not hold a rate-limit bucket")),
    }
}

fn take(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Result<Reply, Error> {
    if args.len() > 5 {
        return Err(Error::new("syntax error"));
    }
    let limits = limits(args)?;
    let want = match args.get(4) {
        None => 1.0,
        Some(_) => arg_str(args, 4)?
            .parse::<u64>()
            .map_err(|_| Error::new("tokens must be a non-negative integer"))?
            as f64,
    };
    if want > limits.capacity {
        return Err(Error::new("tokens exceeds the bucket's capacity"));
    }
    let key = args[1];
    let now = ctx.now_ms();
    let have = limits.refill(load(ctx, key)?, now);
    if have < want {
        let full_in = limits.wait_ms(have, limits.capacity);
        return Ok(Reply::Array(vec![
            Reply::Integer(0),
            Reply::Integer(have.floor() as i64),
            Reply::Integer(limits.wait_ms(have, want)),
            Reply::Integer(full_in),
        ]));
    }
    let left = have - want;
    let full_in = limits.wait_ms(left, limits.capacity);
    let state = format!("{left}:{now}");
    // Expire when full: a missing key reads as a full bucket, so nothing is lost.
    let ttl = full_in.max(1).to_string();
    let set = ctx.call(&[&b"SET"[..], key, state.as_bytes(), b"PX", ttl.as_bytes()]);
    if let Reply::Error(e) = set {
        return Err(Error::new(e));
    }
    Ok(Reply::Array(vec![
        Reply::Integer(1),
        Reply::Integer(left.floor() as i64),
        Reply::Integer(-1),
        Reply::Integer(full_in),
    ]))
}

fn peek(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Result<Reply, Error> {
    let limits = limits(args)?;
    let now = ctx.now_ms();
    let have = limits.refill(load(ctx, args[1])?, now);
    Ok(Reply::Array(vec![
        Reply::Integer(have.floor() as i64),
        Reply::Integer(limits.wait_ms(have, limits.capacity)),
    ]))
}

fn start(reg: &mut Registrar<'_>) -> Result<(), Error> {
    reg.command(
        Command::new("ratelimit.take", -4, take)
            .flags(Flags::WRITE | Flags::DENYOOM)
            .keys(1, 1, 1)
            .categories("write string")
            .summary("Takes tokens from a token bucket, or says how long to wait."),
    )?;
    reg.command(
        Command::new("ratelimit.peek", 4, peek)
            .flags(Flags::READONLY | Flags::FAST)
            .keys(1, 1, 1)
            .categories("read string fast")
            .summary("Returns the tokens left in a token bucket."),
    )?;
    reg.log(Level::Info, "rate limiter ready");
    Ok(())
}

export_plugin!(name: "ratelimit", version: env!("CARGO_PKG_VERSION"), init: start);

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        capacity: 10.0,
        refill_per_sec: 2.0,
    };

    #[test]
    fn a_missing_bucket_is_full() {
        assert_eq!(L.refill(None, 1_000), 10.0);
    }

    #[test]
    fn buckets_refill_continuously_up_to_capacity() {
        let b = Bucket {
            tokens: 1.0,
            at_ms: 1_000,
        };
        assert_eq!(L.refill(Some(b), 1_500), 2.0);
        assert_eq!(L.refill(Some(b), 100_000), 10.0);
        assert_eq!(L.refill(Some(b), 0), 1.0, "a clock going back adds nothing");
    }

    #[test]
    fn waits_are_rounded_up() {
        assert_eq!(L.wait_ms(0.0, 1.0), 500);
        assert_eq!(L.wait_ms(0.5, 1.0), 250);
        assert_eq!(L.wait_ms(0.0, 0.3), 150);
        assert_eq!(L.wait_ms(3.0, 1.0), 0);
    }

    #[test]
    fn stored_state_is_parsed_strictly() {
        assert_eq!(
            parse_bucket(b"2.5:1700000000000"),
            Some(Bucket {
                tokens: 2.5,
                at_ms: 1_700_000_000_000
            })
        );
        for bad in [&b"2.5"[..], b"x:1", b"1:x", b"-1:5", b"NaN:5", b"\xff:1"] {
            assert_eq!(parse_bucket(bad), None, "{bad:?}");
        }
    }
}
