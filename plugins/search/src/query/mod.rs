//! The query language: [`parser`] (text to a tree) and [`plan`] (tree to SQL).

pub mod parser;
pub mod plan;

pub use parser::{parse, FieldKind, Node, ParseOptions};
pub use plan::{Order, Plan, Planner, Pred};
