//! The Lua host: Redis scripting with Lua 5.1 semantics.

pub mod libs;
