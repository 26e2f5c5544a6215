//! `client-output-buffer-limit`: its three classes and Redis's text form.

/// One class of `client-output-buffer-limit`: hard bytes, soft bytes, soft seconds (0 = none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BufferLimit {
    /// Disconnect at once past this many bytes.
    pub hard: u64,
    /// Disconnect when past this many bytes for `soft_secs` seconds in a row.
    pub soft: u64,
    /// See `soft`.
    pub soft_secs: u64,
}

/// The three classes of `client-output-buffer-limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferLimits {
    /// Clients without subscriptions.
    pub normal: BufferLimit,
    /// Replicas (kept for CONFIG GET; Respite has no replicas).
    pub replica: BufferLimit,
    /// Clients subscribed to a channel, pattern or shard channel.
    pub pubsub: BufferLimit,
}

impl Default for BufferLimits {
    fn default() -> Self {
        BufferLimits {
            normal: BufferLimit::default(),
            replica: BufferLimit {
                hard: 256 << 20,
                soft: 64 << 20,
                soft_secs: 60,
            },
            pubsub: BufferLimit {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_secs: 60,
            },
        }
    }
}

impl BufferLimits {
    /// Parses Redis's syntax (`<class> <hard> <soft> <seconds>` repeated; classes `normal`,
    /// `replica` or `slave`, `pubsub`; sizes as `32mb`) over `self`: classes not named keep
    /// their limits, as CONFIG SET does.
    pub fn parse_over(mut self, text: &str) -> Result<Self, String> {
        let words: Vec<&str> = text.split_ascii_whitespace().collect();
        if words.is_empty() || words.len() % 4 != 0 {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        for group in words.chunks(4) {
            let size = |w: &str| {
                crate::config::ByteSize::parse(w.as_bytes())
                    .map(|b| b.0)
                    .filter(|&n| n <= i64::MAX as u64)
                    .ok_or_else(|| {
                        "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                            .to_string()
                    })
            };
            let limit = BufferLimit {
                hard: size(group[1])?,
                soft: size(group[2])?,
                soft_secs: group[3]
                    .parse::<u64>()
                    .ok()
                    .filter(|&n| n <= i32::MAX as u64)
                    .ok_or_else(|| {
                        "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                            .to_string()
                    })?,
            };
            match group[0].to_ascii_lowercase().as_str() {
                "normal" => self.normal = limit,
                "replica" | "slave" => self.replica = limit,
                "pubsub" => self.pubsub = limit,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            }
        }
        Ok(self)
    }

    /// Redis's CONFIG GET form: `normal 0 0 0 slave 268435456 67108864 60 pubsub ...`.
    pub fn to_redis_string(&self) -> String {
        let f =
            |name: &str, l: &BufferLimit| format!("{name} {} {} {}", l.hard, l.soft, l.soft_secs);
        format!(
            "{} {} {}",
            f("normal", &self.normal),
            f("slave", &self.replica),
            f("pubsub", &self.pubsub)
        )
    }
}
