//! Configuration errors: each names where the bad value came from, its key and what was expected.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A configuration that cannot be loaded, validated or written back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An explicitly requested configuration file does not exist.
    #[error("configuration file {} does not exist", .path.display())]
    NotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// The configuration file exists but could not be read.
    #[error("cannot read configuration file {}: {source}", .path.display())]
    Read {
        /// The path as given.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: io::Error,
    },
    /// The configuration file is not valid TOML.
    #[error("TOML file {}: invalid TOML at line {line}, column {column}: {message}", .path.display())]
    Syntax {
        /// The path as given.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the TOML parser expected.
        message: String,
    },
    /// One or more keys are unknown, of the wrong type or hold impossible values.
    #[error("{}", ProblemList(.problems))]
    Invalid {
        /// Every problem found, in key order.
        problems: Vec<Problem>,
    },
    /// CONFIG REWRITE could not write the file.
    #[error("cannot write configuration file {}: {source}", .path.display())]
    Write {
        /// The file being rewritten.
        path: PathBuf,
        /// Why writing failed.
        #[source]
        source: io::Error,
    },
}

/// One bad key: where it came from, its dotted path and what was expected instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The source that set the value (`TOML file config/respite.toml`,
    /// `environment variable RESPITE_SERVER__PORT`, `command-line flag --port`), when known.
    pub origin: Option<String>,
    /// The key path, e.g. `server.port`.
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl Problem {
    /// A problem with no known origin yet (validation of an in-memory configuration).
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            origin: None,
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(origin) = &self.origin {
            write!(f, "{origin}: ")?;
        }
        write!(f, "{}: {}", self.key, self.message)
    }
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "invalid configuration: {p}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// The problems of an `Invalid` error (empty for the other kinds).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems } => problems,
            _ => &[],
        }
    }
}
