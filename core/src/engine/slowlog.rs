//! The slow log: commands that ran for at least `slowlog-log-slower-than` microseconds, the
//! newest first, at most `slowlog-max-len` of them, with Redis's trimming of long argument
//! lists and long arguments (SLOWLOG GET shows them; `commands/slowlog.rs`).

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// Arguments kept per entry (the last one says how many more there were).
const MAX_ARGS: usize = 32;
/// Bytes kept per argument.
const MAX_ARG_LEN: usize = 128;

/// One logged command.
#[derive(Clone, Debug)]
pub struct SlowEntry {
    /// Unique, increasing id.
    pub id: u64,
    /// Unix time in seconds when it ran.
    pub time: u64,
    /// How long it ran, in microseconds.
    pub duration_us: u64,
    /// Its arguments, trimmed as Redis trims them.
    pub argv: Vec<Bytes>,
    /// The client's address (`ip:port`).
    pub addr: String,
    /// The client's name (empty without CLIENT SETNAME).
    pub name: Bytes,
}

/// The log and its two settings.
#[derive(Debug)]
pub struct SlowLog {
    entries: VecDeque<SlowEntry>,
    next_id: u64,
    /// Microseconds from which a command is logged; negative: never.
    slower_than: i64,
    max_len: usize,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            entries: VecDeque::new(),
            next_id: 0,
            slower_than: 10_000,
            max_len: 128,
        }
    }
}

impl SlowLog {
    /// Applies `slowlog-log-slower-than` and `slowlog-max-len`, dropping the oldest entries
    /// past the new length.
    pub fn configure(&mut self, slower_than: i64, max_len: usize) {
        self.slower_than = slower_than;
        self.max_len = max_len;
        self.entries.truncate(max_len);
    }

    /// Whether a command that ran `duration_us` belongs in the log.
    pub fn wants(&self, duration_us: u64) -> bool {
        self.slower_than >= 0 && duration_us >= self.slower_than as u64
    }

    /// Logs a command (the caller checked [`Self::wants`]).
    pub fn record(&mut self, argv: &[Bytes], duration_us: u64, addr: String, name: Bytes) {
        let id = self.next_id;
        self.next_id += 1;
        let keep = argv.len().min(MAX_ARGS);
        let mut args: Vec<Bytes> = Vec::with_capacity(keep);
        for (i, arg) in argv.iter().enumerate().take(keep) {
            if i == MAX_ARGS - 1 && argv.len() > MAX_ARGS {
                args.push(Bytes::from(format!(
                    "... ({} more arguments)",
                    argv.len() - MAX_ARGS + 1
                )));
            } else if arg.len() > MAX_ARG_LEN {
                let mut s = arg[..MAX_ARG_LEN].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", arg.len() - MAX_ARG_LEN).as_bytes(),
                );
                args.push(Bytes::from(s));
            } else {
                args.push(arg.clone());
            }
        }
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.entries.push_front(SlowEntry {
            id,
            time,
            duration_us,
            argv: args,
            addr,
            name,
        });
        self.entries.truncate(self.max_len);
    }

    /// The newest `count` entries (all of them for `None`).
    pub fn newest(&self, count: Option<usize>) -> impl Iterator<Item = &SlowEntry> {
        self.entries.iter().take(count.unwrap_or(usize::MAX))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Empties the log (ids go on increasing).
    pub fn reset(&mut self) {
        self.entries.clear();
    }
}

/// `argv` with its secrets replaced by `(redacted)`, as Redis logs them: AUTH's arguments,
/// HELLO's AUTH credentials, the values of CONFIG SET requirepass / masterauth, and all of
/// ACL SETUSER's arguments after the subcommand.
pub fn redacted(command: &str, argv: &[Bytes]) -> Vec<Bytes> {
    let secret = || Bytes::from_static(b"(redacted)");
    let mut out = argv.to_vec();
    match command {
        "auth" => out.iter_mut().skip(1).for_each(|a| *a = secret()),
        "acl|setuser" => out.iter_mut().skip(2).for_each(|a| *a = secret()),
        "hello" => {
            // Options as HELLO parses them after the protocol version: AUTH takes two
            // arguments, SETNAME one (whose value may itself be the word "auth").
            let mut i = 2;
            while i < out.len() {
                if out[i].eq_ignore_ascii_case(b"auth") {
                    out.iter_mut()
                        .skip(i + 1)
                        .take(2)
                        .for_each(|a| *a = secret());
                    i += 3;
                } else if out[i].eq_ignore_ascii_case(b"setname") {
                    i += 2;
                } else {
                    break;
                }
            }
        }
        "config|set" => {
            let mut i = 2;
            while i + 1 < out.len() {
                let name = &out[i];
                if name.eq_ignore_ascii_case(b"requirepass")
                    || name.eq_ignore_ascii_case(b"masterauth")
                {
                    out[i + 1] = secret();
                }
                i += 2;
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter().map(|a| Bytes::from(a.to_string())).collect()
    }

    #[test]
    fn long_argument_lists_and_arguments_are_trimmed_as_redis_does() {
        let mut log = SlowLog::default();
        let many: Vec<String> = (0..33).map(|i| i.to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        log.record(&args(&many), 1, String::new(), Bytes::new());
        let e = log.newest(None).next().unwrap();
        assert_eq!(e.argv.len(), 32);
        assert_eq!(&e.argv[31][..], b"... (2 more arguments)");
        assert_eq!(&e.argv[30][..], b"30");
        let long = "A".repeat(129);
        log.record(
            &args(&["sadd", "set", &long]),
            1,
            String::new(),
            Bytes::new(),
        );
        let e = log.newest(Some(1)).next().unwrap();
        assert_eq!(
            e.argv[2],
            Bytes::from(format!("{}... (1 more bytes)", "A".repeat(128)))
        );
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redacted("hello", &args(&["HELLO", "3", "SETNAME", "auth"])),
            args(&["HELLO", "3", "SETNAME", "auth"])
        );
        assert_eq!(
            redacted(
                "hello",
                &args(&["HELLO", "3", "SETNAME", "auth", "AUTH", "u", "p"])
            ),
            args(&[
                "HELLO",
                "3",
                "SETNAME",
                "auth",
                "AUTH",
                "(redacted)",
                "(redacted)"
            ])
        );
        assert_eq!(
            redacted("auth", &args(&["AUTH", "user", "pass"])),
            args(&["AUTH", "(redacted)", "(redacted)"])
        );
        assert_eq!(
            redacted(
                "hello",
                &args(&["HELLO", "3", "auth", "u", "p", "SETNAME", "n"])
            ),
            args(&[
                "HELLO",
                "3",
                "auth",
                "(redacted)",
                "(redacted)",
                "SETNAME",
                "n"
            ])
        );
        assert_eq!(
            redacted(
                "config|set",
                &args(&["CONFIG", "SET", "requirepass", "x", "maxclients", "5"])
            ),
            args(&[
                "CONFIG",
                "SET",
                "requirepass",
                "(redacted)",
                "maxclients",
                "5"
            ])
        );
    }

    #[test]
    fn the_log_keeps_the_newest_and_can_be_disabled() {
        let mut log = SlowLog::default();
        log.configure(0, 2);
        assert!(log.wants(0));
        for i in 0..3u64 {
            log.record(&args(&["x"]), i, String::new(), Bytes::new());
        }
        let ids: Vec<u64> = log.newest(None).map(|e| e.id).collect();
        assert_eq!(ids, [2, 1]);
        log.configure(-1, 2);
        assert!(!log.wants(u64::MAX));
        log.reset();
        assert_eq!(log.len(), 0);
    }

    #[test]
    fn acl_setuser_rules_are_redacted() {
        assert_eq!(
            redacted("acl|setuser", &args(&["ACL", "SETUSER", "u", ">pw"])),
            args(&["ACL", "SETUSER", "(redacted)", "(redacted)"])
        );
    }
}
