//! SQLite's `synchronous` setting, as the configuration names it.

use serde::{Deserialize, Serialize};

/// SQLite's `PRAGMA synchronous` level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// No fsync: fastest, an OS crash or power loss may corrupt recent commits.
    Off,
    /// With WAL, survives a process crash; a power loss may lose the last commits.
    #[default]
    Normal,
    /// One fsync per group commit: survives power loss.
    Full,
    /// As `full`, plus an fsync of the directory after WAL resets.
    Extra,
}

impl Synchronous {
    /// Every variant, in the order CONFIG error messages list them.
    pub const ALL: [Synchronous; 4] = [
        Synchronous::Off,
        Synchronous::Normal,
        Synchronous::Full,
        Synchronous::Extra,
    ];

    /// The configuration spelling, which is also the SQLite pragma value.
    pub fn as_str(self) -> &'static str {
        match self {
            Synchronous::Off => "off",
            Synchronous::Normal => "normal",
            Synchronous::Full => "full",
            Synchronous::Extra => "extra",
        }
    }
}
