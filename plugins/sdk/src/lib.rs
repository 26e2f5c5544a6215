//! Write Respite plugins as shared libraries.
//!
//! A plugin is a `cdylib` crate that depends on this crate alone. Its concepts and names are
//! those of the server's built-in plugin API: a [`Plugin`] starts by registering with a
//! [`Registrar`] (commands, key-event subscriptions, timers, an INFO section, state); a
//! command handler gets a [`Ctx`] (its database and client, [`Ctx::call`] to run other
//! commands, [`Ctx::block`] to park the client) and returns a [`Reply`]:
//!
//! ```ignore
//! use respite_plugin_sdk::{export_plugin, Command, Ctx, Error, Flags, Registrar, Reply};
//!
//! fn start(reg: &mut Registrar<'_>) -> Result<(), Error> {
//!     let greeting = String::from_utf8_lossy(reg.args().first().copied().unwrap_or(b"hello")).into_owned();
//!     reg.command(
//!         Command::new("hello.greet", 2, move |_ctx: &mut Ctx<'_>, args: &[&[u8]]| {
//!             Ok(Reply::bulk([greeting.as_bytes(), b" ", args[1]].concat()))
//!         })
//!         .flags(Flags::READONLY | Flags::FAST),
//!     )
//! }
//!
//! export_plugin!(name: "hello", version: "0.1.0", init: start);
//! ```
//!
//! The server loads it with `MODULE LOAD /path/to/libhello.so` or from `[[plugins.load]]` in
//! its configuration. Under the safe API lies [`abi`], a versioned C ABI: only `#[repr(C)]`
//! data and `extern "C"` functions cross the library boundary, and a panic in plugin code is
//! caught on the plugin's side and becomes an error reply (or a log line, in a callback).
//! Plugin code never needs `unsafe`.

#![warn(missing_docs)]

pub mod abi;
mod command;
mod context;
mod export;
mod ffi;
pub mod reply;

pub use abi::class;
pub use command::{Command, Flags, Handler};
pub use context::{
    ClientId, Ctx, EventCallback, Info, InfoCallback, KeyEvent, Level, Registrar, TimerCallback,
    TimerId, Unblock, UnblockCallback,
};
pub use export::Plugin;
pub use reply::Reply;

/// An error returned by plugin code; the client receives it as an error reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with this message. Without an error code of its own (an upper-case first word
    /// such as `WRONGTYPE`), the message gets Redis's generic `ERR` code.
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        let first = message.split(' ').next().unwrap_or("");
        let has_code = message.contains(' ')
            && !first.is_empty()
            && first.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
        if has_code {
            Error(message)
        } else {
            Error(format!("ERR {message}"))
        }
    }

    /// The message sent to the client, code included.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error::new(s)
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error::new(s)
    }
}

#[doc(hidden)]
pub mod __private {
    //! Used by [`export_plugin!`](crate::export_plugin); not part of the API.
    pub use crate::ffi::{run_deinit, run_init};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_get_a_code_when_they_have_none() {
        assert_eq!(Error::new("bad thing").message(), "ERR bad thing");
        assert_eq!(Error::new("WRONGTYPE nope").message(), "WRONGTYPE nope");
        assert_eq!(Error::new("ERR x").message(), "ERR x");
    }

    #[test]
    fn flags_combine_in_constants() {
        const F: Flags = Flags::WRITE.union(Flags::FAST);
        assert!(F.contains(Flags::WRITE) && F.contains(Flags::FAST));
        assert_eq!(Flags::WRITE | Flags::FAST, F);
        assert!(!F.contains(Flags::READONLY));
    }
}
