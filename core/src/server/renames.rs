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
        // Disabling a command this server does not have (DEBUG, say, in a hardening list
        // written for Redis) already holds; renaming one could never work.
        if new.is_none() && engine.commands.get(old.as_bytes()).is_none() {
            tracing::warn!(command = %old, "commands.disable names a command this server does not have");
            continue;
        }
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
