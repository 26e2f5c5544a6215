//! `[commands]`: renames and disables commands once every command is registered (the core's,
//! the plugins', the Lua files'), as Redis applies `rename-command` at start-up.

use crate::config::CommandsConfig;
use crate::engine::Engine;

/// Applies `[commands] rename` and `disable` to the engine's command table; the error names
/// the setting that cannot be applied.
pub(super) fn apply(engine: &mut Engine, config: &CommandsConfig) -> Result<(), String> {
    let changes = config
        .changes()
        .map_err(|(key, message)| format!("{key}: {message}"))?;
    for (old, new) in changes {
        engine
            .commands
            .rename(&old, new.as_deref())
            .map_err(|e| match &new {
                Some(_) => format!("commands.rename: {e}"),
                None => format!("commands.disable: {e}"),
            })?;
        match new {
            Some(new) => tracing::info!(command = %old, to = %new, "command renamed"),
            None => tracing::info!(command = %old, "command disabled"),
        }
    }
    Ok(())
}
