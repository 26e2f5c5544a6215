//! `[plugins.writebehind]`: how often queues are flushed, batch and queue sizes, and the
//! application databases (`[plugins.writebehind.connections.NAME]`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::sql::valid_ident;

/// `[plugins.writebehind]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct WbConfig {
    /// How often pending work is flushed to the application databases, in milliseconds.
    pub flush_interval_ms: u64,
    /// Rows of one table inserted per flush transaction.
    pub insert_batch_size: usize,
    /// Queued rows of one table past which a flush starts at once, before the interval ends.
    pub max_queue_size: usize,
    /// The application databases, by the name the WB.* commands use.
    pub connections: BTreeMap<String, ConnectionConfig>,
}

impl Default for WbConfig {
    fn default() -> Self {
        WbConfig {
            flush_interval_ms: 100,
            insert_batch_size: 500,
            max_queue_size: 10_000,
            connections: BTreeMap::new(),
        }
    }
}

/// `[plugins.writebehind.connections.NAME]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// `sqlite:PATH` or `postgres://user@host:port/db` (also `postgresql://`, or a libpq
    /// key=value string after `postgres:`).
    pub url: String,
    /// The column a scalar `where` names (`WB.GET db posts 42 views` means `id = 42`).
    #[serde(default = "default_primary_key")]
    pub primary_key: String,
}

fn default_primary_key() -> String {
    "id".into()
}

/// Where a connection's database is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetUrl {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server (a tokio-postgres connection string).
    Postgres(String),
}

impl ConnectionConfig {
    /// The database this connection names.
    pub fn target(&self) -> Result<TargetUrl, String> {
        let url = self.url.trim();
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(format!("'{url}' names no file"));
            }
            return Ok(TargetUrl::Sqlite(PathBuf::from(path)));
        }
        let pg = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            url.to_string()
        } else if let Some(rest) = url.strip_prefix("postgres:") {
            rest.to_string()
        } else {
            return Err(format!(
                "'{url}' is neither sqlite:PATH nor postgres://user@host:port/database"
            ));
        };
        pg.parse::<tokio_postgres::Config>()
            .map_err(|e| format!("'{url}' is not a PostgreSQL connection string: {e}"))?;
        Ok(TargetUrl::Postgres(pg))
    }
}

impl WbConfig {
    /// Checks what serde cannot: positive sizes, usable URLs and identifiers.
    pub fn validate(&self) -> Result<(), String> {
        if self.flush_interval_ms == 0 {
            return Err("plugins.writebehind.flush_interval_ms must be at least 1".into());
        }
        if self.insert_batch_size == 0 {
            return Err("plugins.writebehind.insert_batch_size must be at least 1".into());
        }
        if self.max_queue_size == 0 {
            return Err("plugins.writebehind.max_queue_size must be at least 1".into());
        }
        for (name, conn) in &self.connections {
            let at = format!("plugins.writebehind.connections.{name}");
            if name.is_empty() || name.len() > 64 || name.bytes().any(|b| b <= b' ' || b >= 0x7f) {
                return Err(format!(
                    "{at}: a connection name is 1 to 64 printable characters"
                ));
            }
            conn.target().map_err(|e| format!("{at}.url: {e}"))?;
            if !valid_ident(&conn.primary_key) {
                return Err(format!(
                    "{at}.primary_key: '{}' is not a column name (letters, digits, '_')",
                    conn.primary_key
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(url: &str) -> ConnectionConfig {
        ConnectionConfig {
            url: url.into(),
            primary_key: "id".into(),
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            conn("sqlite:/tmp/a.db").target(),
            Ok(TargetUrl::Sqlite("/tmp/a.db".into()))
        );
        assert_eq!(
            conn("sqlite:///tmp/a.db").target(),
            Ok(TargetUrl::Sqlite("/tmp/a.db".into()))
        );
        assert!(matches!(
            conn("postgres://u@127.0.0.1:5432/db").target(),
            Ok(TargetUrl::Postgres(_))
        ));
        assert!(conn("mysql://x").target().is_err());
        assert!(conn("sqlite:").target().is_err());
    }

    #[test]
    fn validation() {
        let mut c = WbConfig::default();
        assert!(c.validate().is_ok());
        c.connections.insert("app".into(), conn("sqlite:a.db"));
        assert!(c.validate().is_ok());
        c.connections.get_mut("app").unwrap().primary_key = "id; drop".into();
        assert!(c.validate().is_err());
        let c = WbConfig {
            insert_batch_size: 0,
            ..WbConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
