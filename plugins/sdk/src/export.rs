//! [`Plugin`] and [`export_plugin!`](crate::export_plugin): how a library becomes a plugin.

use crate::{Error, Registrar};

/// A plugin: `start` registers what it offers, `stop` runs before it is unloaded. The host
/// removes everything registered (commands, subscriptions, timers, INFO section, state)
/// after `stop`.
///
/// A function `fn(&mut Registrar<'_>) -> Result<(), Error>` is a plugin too.
pub trait Plugin: Send + 'static {
    /// Registers the plugin's commands, subscriptions, timers and INFO section. An error
    /// fails the load (`MODULE LOAD` answers it; at start-up the server stops).
    fn start(&mut self, reg: &mut Registrar<'_>) -> Result<(), Error>;

    /// Runs before the plugin's registrations are removed (unload, shutdown).
    fn stop(&mut self) {}
}

impl<F> Plugin for F
where
    F: FnMut(&mut Registrar<'_>) -> Result<(), Error> + Send + 'static,
{
    fn start(&mut self, reg: &mut Registrar<'_>) -> Result<(), Error> {
        self(reg)
    }
}

/// Exports a plugin from a `cdylib` crate: defines the `respite_plugin_entry` symbol the
/// server looks for. `plugin:` takes an expression making the [`Plugin`] (evaluated at each
/// load); `init:` is the same for a start function.
///
/// ```ignore
/// export_plugin!(name: "delayq", version: env!("CARGO_PKG_VERSION"), plugin: DelayQ::default());
/// export_plugin!(name: "ratelimit", version: "1.0.0", init: init);
/// ```
#[macro_export]
macro_rules! export_plugin {
    (name: $name:expr, version: $version:expr, init: $plugin:expr $(,)?) => {
        $crate::export_plugin!(name: $name, version: $version, plugin: $plugin);
    };
    (name: $name:expr, version: $version:expr, plugin: $plugin:expr $(,)?) => {
        /// The entry point the Respite server looks up.
        #[unsafe(no_mangle)]
        pub extern "C" fn respite_plugin_entry() -> *const $crate::abi::PluginDescriptor {
            fn __respite_make() -> ::std::boxed::Box<dyn $crate::Plugin> {
                ::std::boxed::Box::new($plugin)
            }
            unsafe extern "C" fn __respite_init(
                host: *const $crate::abi::HostApi,
                ctx: *mut $crate::abi::HostCtx,
                argc: usize,
                argv: *const $crate::abi::RStr,
            ) -> $crate::abi::Status {
                // SAFETY: the host calls init with valid arguments (see the ABI).
                unsafe { $crate::__private::run_init(host, ctx, argc, argv, $name, __respite_make) }
            }
            unsafe extern "C" fn __respite_deinit(
                _host: *const $crate::abi::HostApi,
                _ctx: *mut $crate::abi::HostCtx,
            ) {
                $crate::__private::run_deinit()
            }
            static DESCRIPTOR: $crate::abi::PluginDescriptor = $crate::abi::PluginDescriptor {
                abi_version: $crate::abi::ABI_VERSION,
                name: $crate::abi::RStr::new($name.as_bytes()),
                version: $crate::abi::RStr::new($version.as_bytes()),
                init: __respite_init,
                deinit: Some(__respite_deinit),
            };
            &DESCRIPTOR
        }
    };
}
