//! The flags of one EVAL or FCALL invocation, as Redis's `evalGetCommandFlags` and
//! `fcallGetCommandFlags` derive them from the script's flags: what CLIENT PAUSE WRITE and a
//! monitor client's restrictions look at. A script without a shebang line keeps the command's
//! own flags (EVAL may replicate); one with flags writes unless it says `no-writes`.

use bytes::Bytes;

use super::{eval_shebang, script_flags, sha1_hex, Scripting};
use crate::engine::table::{flags, Command};
use crate::engine::Engine;

/// Installs [`call_flags`] in the engine.
pub(super) fn install(engine: &mut Engine) {
    engine.call_flags_hook = Some(call_flags);
}

/// The invocation's flags, or `None` for the command's own.
fn call_flags(engine: &Engine, cmd: &Command, argv: &[Bytes]) -> Option<u32> {
    let script = match cmd.name.as_str() {
        "eval" | "eval_ro" | "evalsha" | "evalsha_ro" | "fcall" | "fcall_ro" => argv.get(1)?,
        _ => return None,
    };
    let host = engine.extensions.get::<Scripting>();
    let script_flags = match cmd.name.as_str() {
        "fcall" | "fcall_ro" => {
            let name = String::from_utf8_lossy(script);
            host?.functions.function(&name)?.flags
        }
        "evalsha" | "evalsha_ro" => {
            if script.len() != 40 {
                return None;
            }
            let sha = String::from_utf8_lossy(script).to_ascii_lowercase();
            host?.script(&sha)?.flags
        }
        _ => match host.and_then(|h| h.script(&sha1_hex(script))) {
            Some(s) => s.flags,
            None => eval_shebang(script).ok()?.0,
        },
    };
    if script_flags & script_flags::EVAL_COMPAT != 0 {
        return None;
    }
    Some(script_to_command_flags(cmd.flags, script_flags))
}

/// Redis's `scriptFlagsToCmdFlags`: a script that declares flags replaces the command's
/// `write`, `denyoom`, `stale` and `may_replicate` with what they imply.
fn script_to_command_flags(mut cmd_flags: u32, script: u32) -> u32 {
    cmd_flags &= !(flags::STALE | flags::DENYOOM | flags::WRITE | flags::MAY_REPLICATE);
    if script & (script_flags::ALLOW_OOM | script_flags::NO_WRITES) == 0 {
        cmd_flags |= flags::DENYOOM;
    }
    if script & script_flags::NO_WRITES == 0 {
        cmd_flags |= flags::WRITE;
    }
    if script & script_flags::ALLOW_STALE != 0 {
        cmd_flags |= flags::STALE;
    }
    cmd_flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_flags_replace_the_commands() {
        let eval = flags::NOSCRIPT | flags::MAY_REPLICATE | flags::STALE;
        let f = script_to_command_flags(eval, script_flags::NO_WRITES);
        assert_eq!(f, flags::NOSCRIPT);
        let f = script_to_command_flags(eval, 0);
        assert_eq!(f, flags::NOSCRIPT | flags::WRITE | flags::DENYOOM);
        let f = script_to_command_flags(eval, script_flags::ALLOW_OOM | script_flags::ALLOW_STALE);
        assert_eq!(f, flags::NOSCRIPT | flags::WRITE | flags::STALE);
    }
}
