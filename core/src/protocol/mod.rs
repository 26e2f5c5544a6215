//! RESP2/RESP3 wire protocol: request parsing and reply encoding.

mod parser;
mod reply;

pub use parser::{parse_i64, ParseLimits, Parser, ProtocolError, INLINE_MAX_SIZE};
pub use reply::{format_double, Protocol, Reply};
