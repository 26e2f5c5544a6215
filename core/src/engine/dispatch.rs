//! Dispatch of one command: lookup, arity, authentication, MULTI queueing, the handler, its
//! statistics and events.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::acl::Context as AclContext;
use super::client::ClientState;
use super::ctx::Ctx;
use super::panic_message;
use super::stats::CommandStats;
use super::table::{flags, Command};
use super::Engine;
use crate::protocol::{Protocol, Reply};

impl Engine {
    pub(super) fn stats_for(&mut self, cmd: &Command) -> &mut CommandStats {
        if cmd.stats_index >= self.command_stats.len() {
            self.command_stats
                .resize(cmd.stats_index + 1, CommandStats::default());
        }
        &mut self.command_stats[cmd.stats_index]
    }

    fn count_error(&mut self, reply: &Reply) {
        if let Reply::Error(msg) = reply {
            self.stats.error_replies += 1;
            let code = msg.split(' ').next().unwrap_or("ERR").to_string();
            *self.stats.errors_by_code.entry(code).or_insert(0) += 1;
        }
    }

    fn reject(&mut self, cmd: Option<&Command>, reply: Reply) -> Reply {
        if let Some(cmd) = cmd {
            self.stats_for(cmd).rejected_calls += 1;
        }
        self.count_error(&reply);
        reply
    }

    /// Resolves `argv` to the command (or subcommand) that will run, or the error Redis gives.
    pub(crate) fn resolve(
        &self,
        argv: &[Bytes],
    ) -> Result<Arc<Command>, (Option<Arc<Command>>, Reply)> {
        let Some(cmd) = self.commands.get(&argv[0]) else {
            return Err((None, unknown_command(argv)));
        };
        if cmd.subcommands.is_empty() || argv.len() < 2 {
            if !cmd.arity_ok(argv.len()) {
                return Err((Some(Arc::clone(cmd)), err_arity(&cmd.name)));
            }
            return Ok(Arc::clone(cmd));
        }
        let Some(sub) = cmd.subcommand(&argv[1]) else {
            let msg = format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                &truncate(&argv[1], 128),
                // The name the client used, as Redis: a renamed command's new one.
                String::from_utf8_lossy(&argv[0]).to_ascii_uppercase()
            );
            return Err((Some(Arc::clone(cmd)), Reply::Error(msg.into())));
        };
        if !sub.arity_ok(argv.len()) {
            return Err((Some(Arc::clone(sub)), err_arity(&sub.name)));
        }
        Ok(Arc::clone(sub))
    }

    /// Runs one command for `client` and returns its reply: the top-level entry, which
    /// applies RESP2 subscribed mode and MULTI queueing, then runs the after-command hooks.
    /// Client-side caching invalidations for what the command (and the hooks after it)
    /// changed are sent at its end.
    ///
    /// `started`, when given, is when the command before it in the same pipeline ended (the
    /// second value of that command's call), taken as this one's start: the commands of a
    /// pipeline read the clock once each instead of twice (under SADD at -P 16 the clock
    /// reads were 5% of the executor).
    pub(crate) fn execute(
        &mut self,
        client: &mut ClientState,
        argv: &[Bytes],
        started: Option<Instant>,
    ) -> (Reply, Option<Instant>) {
        self.last_ended = None;
        let outer = self.tracking.enter_command();
        if self.tracking.key_count() > 0 {
            self.limit_tracking_table(client);
        }
        let reply = self.execute_command(client, argv, started);
        if client.tracking.is_some() {
            self.tracking_command_done(client, argv);
        }
        self.tracking.leave_command(outer);
        if !outer {
            self.invalidate_changed(Some(client));
        }
        (reply, self.last_ended.take())
    }

    fn execute_command(
        &mut self,
        client: &mut ClientState,
        argv: &[Bytes],
        started: Option<Instant>,
    ) -> Reply {
        if argv.is_empty() {
            return Reply::error("ERR empty command");
        }
        // One clock reading serves the idle time, the command's duration and nothing else: on
        // small commands clock reads are a visible share of the executor's time.
        let started = started.unwrap_or_else(Instant::now);
        client.last_interaction = started;
        let cmd = match self.resolve(argv) {
            Ok(cmd) => cmd,
            Err((cmd, reply)) => return self.refuse(client, cmd.as_deref(), argv, reply),
        };
        if !client.authenticated && !cmd.has(flags::NO_AUTH) {
            let reply = Reply::error("NOAUTH Authentication required.");
            return self.refuse(client, Some(&cmd), argv, reply);
        }
        if !client.user.unrestricted {
            if let Err(denied) = self.acl_check(client, &cmd, argv, AclContext::Toplevel) {
                let reply = Reply::Error(denied.noperm(&cmd).into());
                return self.refuse(client, Some(&cmd), argv, reply);
            }
        }
        if client.protocol == Protocol::Resp2 && client.subscribed() && !allowed_subscribed(&cmd) {
            let reply = Reply::Error(
                format!(
                    "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / \
                     QUIT / RESET are allowed in this context",
                    cmd.name
                )
                .into(),
            );
            return self.refuse(client, Some(&cmd), argv, reply);
        }
        if client.monitor
            && self.call_flags(&cmd, argv) & (flags::WRITE | flags::READONLY | flags::MAY_REPLICATE)
                != 0
        {
            // Redis counts monitors as replicas, which may not touch the keyspace.
            let reply = Reply::error("ERR Replica can't interact with the keyspace");
            return self.refuse(client, Some(&cmd), argv, reply);
        }
        // As Redis refuses writes (and PING, its clients' health check) while it cannot
        // persist them: an `-MISCONF` error before the command runs.
        if cmd.has(flags::WRITE)
            || cmd.name == "ping"
            || (cmd.name == "exec" && self.queued_may_write(client))
        {
            let refused = if let Some(why) = self.keyspace.store_writes_refused() {
                // The disk is full (or failing): a write would run, fail at its commit and
                // cost a replay of the journal to undo, every client waiting meanwhile.
                Some(format!(
                    "MISCONF Respite cannot write its changes to disk ({why}). Commands that \
                     may modify the data set are disabled until it can; see the log and INFO \
                     persistence"
                ))
            } else {
                // Write-behind's dirty keys are at their limit and flushing them fails: more
                // writes would only grow memory, as Redis's stop-writes-on-bgsave-error says.
                self.keyspace.write_behind_stalled().map(|why| {
                    format!(
                        "MISCONF Respite cannot flush its write-behind changes to disk ({why}). \
                         Commands that may modify the data set are disabled until a flush \
                         succeeds; see the log and INFO persistence"
                    )
                })
            };
            if let Some(msg) = refused {
                return self.refuse(client, Some(&cmd), argv, Reply::Error(msg.into()));
            }
        }
        if self.pause.holding() && self.hold_if_paused(client, &cmd, argv) {
            // The client waits for the pause (or the store's backlog) to end; this reply is
            // dropped.
            return Reply::Null;
        }
        if let Some(reply) = self.check_maxmemory(client, &cmd, argv) {
            return self.refuse(client, Some(&cmd), argv, reply);
        }
        if client.multi.is_some() && !is_transaction_control(&cmd) {
            if cmd.has(flags::NO_MULTI) {
                let reply = Reply::error("ERR Command not allowed inside a transaction");
                return self.refuse(client, Some(&cmd), argv, reply);
            }
            if let Some(multi) = client.multi.as_mut() {
                // An aborted transaction keeps no commands, as Redis does.
                if !multi.aborted {
                    multi.commands.push(argv.to_vec());
                }
            }
            return Reply::Simple("QUEUED".into());
        }
        let reply = self.run_command(client, &cmd, argv, started);
        if client.subscribed() {
            // HELLO may have changed the protocol its pushes are encoded in.
            self.pubsub.set_protocol(client.id, client.protocol);
        }
        self.run_after_command();
        reply
    }

    /// Refuses a command before it runs; inside MULTI the refusal also dooms the transaction
    /// (and an EXEC refused so reports why, as Redis's execCommandAbort does).
    fn refuse(
        &mut self,
        client: &mut ClientState,
        cmd: Option<&Command>,
        argv: &[Bytes],
        reply: Reply,
    ) -> Reply {
        if cmd.is_some_and(|c| c.name == "exec") {
            // Redis's execCommandAbort: whether or not a transaction was open.
            if client.end_multi().is_some() {
                self.keyspace.watches_mut().unwatch_all(client.id);
            }
            let why = match &reply {
                Reply::Error(msg) => msg.strip_prefix("ERR ").unwrap_or(msg).to_string(),
                _ => String::new(),
            };
            let reply =
                Reply::Error(format!("EXECABORT Transaction discarded because of: {why}").into());
            // Redis's execCommandAbort shows the EXEC to the monitors all the same.
            let source = super::monitor::Source::Client(client.addr);
            self.feed_monitors_always("exec", client.db, source, argv);
            return self.reject(cmd, reply);
        }
        client.abort_multi();
        self.reject(cmd, reply)
    }

    /// Runs a command queued by MULTI, at EXEC: resolved again (the table may have changed),
    /// with its statistics and key events as if sent alone, but no hooks.
    pub(crate) fn run_queued(&mut self, client: &mut ClientState, argv: &[Bytes]) -> Reply {
        let started = Instant::now();
        match self.resolve(argv) {
            Ok(cmd) => {
                // The user may have lost the permission since the command was queued.
                if let Err(denied) = self.acl_check(client, &cmd, argv, AclContext::Multi) {
                    let reply = Reply::Error(denied.exec_error().into());
                    return self.reject(Some(&cmd), reply);
                }
                self.run_command(client, &cmd, argv, started)
            }
            Err((cmd, reply)) => self.reject(cmd.as_deref(), reply),
        }
    }

    /// Runs a resolved command's handler, delivers its key events and counts it.
    fn run_command(
        &mut self,
        client: &mut ClientState,
        cmd: &Arc<Command>,
        argv: &[Bytes],
        started: Instant,
    ) -> Reply {
        if client.last_command != cmd.name {
            client.last_command.clear();
            client.last_command.push_str(&cmd.name);
        }
        let Some(handler) = cmd.handler.as_ref() else {
            return self.reject(Some(cmd), err_arity(&cmd.name));
        };
        let no_touch = client.no_touch;
        if no_touch {
            // CLIENT NO-TOUCH: the command's lookups keep access times, except TOUCH's.
            self.keyspace.set_no_touch(cmd.name != "touch");
        }
        let reply = {
            let now = self.clock.ms_at(started);
            let mut ctx = Ctx {
                engine: self,
                client,
                now,
            };
            // A bug in one command (or a plugin's) must cost that client an error, not the
            // server its executor.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&mut ctx, argv)))
            {
                Ok(reply) => reply,
                Err(panic) => {
                    let what = panic_message(&*panic);
                    tracing::error!(command = %cmd.name, panic = %what, "command panicked");
                    Reply::Error(format!("ERR internal error in '{}': {what}", cmd.name).into())
                }
            }
        };
        if no_touch {
            self.keyspace.set_no_touch(false);
        }
        self.publish_events();
        // Invalidations first: a key the command expired is then tracked again if it read it.
        self.invalidate_changed(Some(&mut *client));
        if client.tracking.is_some() {
            self.track_reads(client, cmd, argv);
        }
        if !self.monitors.is_empty() {
            let source = super::monitor::Source::Client(client.addr);
            self.feed_monitors(cmd, client.db, source, argv);
        }
        let ended = Instant::now();
        self.last_ended = Some(ended);
        let elapsed = ended.saturating_duration_since(started);
        let usec = elapsed.as_micros() as u64;
        self.record_latency(cmd, elapsed);
        self.stats.commands_processed += 1;
        // A command that blocked is logged when it is served (see `serve_blocked`), as Redis
        // logs it on unblocking.
        if self.slowlog.wants(usec) && !cmd.has(flags::SKIP_SLOWLOG) && !client.blocked {
            let name = client.name.clone().unwrap_or_default();
            let argv = super::slowlog::redacted(&cmd.name, argv);
            self.slowlog
                .record(&argv, usec, client.addr.to_string(), name);
        }
        let failed = reply.is_error();
        let stats = self.stats_for(cmd);
        stats.calls += 1;
        stats.usec += usec;
        if failed {
            stats.failed_calls += 1;
            self.count_error(&reply);
        }
        reply
    }
}

impl Engine {
    /// A command's duration into its histogram and, past the threshold, the latency monitor
    /// (`fast-command` for commands flagged fast, `command` for the others).
    pub(crate) fn record_latency(&mut self, cmd: &Command, elapsed: std::time::Duration) {
        self.latency
            .record_command(cmd.stats_index, elapsed.as_nanos() as u64);
        if self.latency.monitoring() {
            let event = if cmd.has(flags::FAST) {
                "fast-command"
            } else {
                "command"
            };
            let now = crate::keyspace::now_ms() / 1000;
            self.latency.sample(event, elapsed.as_millis() as u64, now);
        }
    }
}

/// Redis's arity error.
pub fn err_arity(name: &str) -> Reply {
    Reply::Error(format!("ERR wrong number of arguments for '{name}' command").into())
}

/// Commands a RESP2 client may send while subscribed.
fn allowed_subscribed(cmd: &Command) -> bool {
    matches!(
        cmd.name.as_str(),
        "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// Commands that act on a transaction rather than being queued in it.
fn is_transaction_control(cmd: &Command) -> bool {
    matches!(
        cmd.name.as_str(),
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

fn truncate(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned()
}

fn unknown_command(argv: &[Bytes]) -> Reply {
    let mut args = String::new();
    for arg in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push('\'');
        args.push_str(&truncate(arg, room));
        args.push_str("' ");
    }
    Reply::Error(
        format!(
            "ERR unknown command '{}', with args beginning with: {}",
            &truncate(&argv[0], 128),
            &args
        )
        .into(),
    )
}
