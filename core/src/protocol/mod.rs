//! RESP2/RESP3 wire protocol: request parsing and reply encoding.

mod parser;
mod reply;

pub use parser::{parse_i64, ParseLimits, Parser};
pub use reply::{format_double, human_double, Protocol, Reply};
