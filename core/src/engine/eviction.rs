//! `maxmemory` at the engine: the settings read from the Redis parameters, and the step of
//! Redis's processCommand that evicts keys before a command runs and refuses commands that
//! may add data (`denyoom`) with `-OOM` when nothing more can be evicted.

use bytes::Bytes;

use super::client::ClientState;
use super::table::{flags, Command};
use super::Engine;
use crate::keyspace::evict::{Evicted, Eviction, LfuParams, Policy};
use crate::keyspace::now_ms;
use crate::protocol::Reply;

/// Redis's shared.oomerr.
pub(crate) const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

impl Engine {
    /// Applies `maxmemory`, `maxmemory-policy`, `maxmemory-samples`,
    /// `maxmemory-eviction-tenacity`, `lfu-log-factor` and `lfu-decay-time` (at start and on
    /// CONFIG SET, effective from the next command).
    pub(crate) fn apply_eviction_config(&mut self) {
        let param = |name: &str| self.config.redis_param(name).unwrap_or_default();
        let number = |name: &str| param(name).parse::<u64>().unwrap_or(0);
        let eviction = Eviction {
            maxmemory: number("maxmemory"),
            policy: Policy::from_name(&param("maxmemory-policy")).unwrap_or_default(),
            samples: usize::try_from(number("maxmemory-samples"))
                .unwrap_or(5)
                .max(1),
            tenacity: u32::try_from(number("maxmemory-eviction-tenacity")).unwrap_or(10),
            lfu: LfuParams {
                log_factor: u32::try_from(number("lfu-log-factor")).unwrap_or(u32::MAX),
                decay_time: u32::try_from(number("lfu-decay-time")).unwrap_or(u32::MAX),
            },
        };
        self.keyspace.set_eviction(eviction);
    }

    /// Evicts keys while over `maxmemory`; logs a storage failure (the command then runs).
    pub(crate) fn evict_now(&mut self) -> Evicted {
        let outcome = match self.keyspace.perform_evictions(now_ms()) {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, "eviction failed");
                Evicted::Ok
            }
        };
        if self.keyspace.has_events() {
            self.publish_events();
        }
        outcome
    }

    /// Redis's maxmemory step before a command: evicts what the policy allows, then refuses
    /// the command if it may add data and the data size is still over the limit. Inside
    /// MULTI every command but the transaction's own controls is refused then (queueing
    /// costs memory), and EXEC is if a queued command is `denyoom`.
    pub(crate) fn check_maxmemory(
        &mut self,
        client: &ClientState,
        cmd: &Command,
        argv: &[Bytes],
    ) -> Option<Reply> {
        if self.keyspace.eviction().maxmemory == 0 {
            self.oom_before_command = false;
            return None;
        }
        let out_of_memory = self.evict_now() == Evicted::Fail;
        self.oom_before_command = out_of_memory;
        if !out_of_memory {
            return None;
        }
        let in_multi = client.multi.is_some();
        let deny = self.call_flags(cmd, argv) & flags::DENYOOM != 0
            || (in_multi
                && !matches!(
                    cmd.name.as_str(),
                    "exec" | "discard" | "multi" | "watch" | "unwatch" | "quit" | "reset"
                ))
            || (cmd.name == "exec" && self.queued_denyoom(client));
        deny.then(|| Reply::error(OOM_ERROR))
    }

    /// Whether a command of the client's transaction may add data.
    fn queued_denyoom(&self, client: &ClientState) -> bool {
        let Some(multi) = client.multi.as_ref() else {
            return false;
        };
        multi.commands.iter().any(|argv| {
            self.resolve(argv)
                .is_ok_and(|cmd| self.call_flags(&cmd, argv) & flags::DENYOOM != 0)
        })
    }

    /// Whether the data size was over `maxmemory` with nothing left to evict when the
    /// current command started: a script's first write of a `denyoom` command is refused
    /// then, as Redis's scriptVerifyOOM does.
    pub(crate) fn oom_before_command(&self) -> bool {
        self.oom_before_command
    }
}
