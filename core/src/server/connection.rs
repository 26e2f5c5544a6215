//! One task per connection: read, parse a whole pipeline, hand it to the executor, write the
//! replies. The executor never waits on a socket; this task never touches the keyspace.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::Context;
use crate::engine::busy::{BusyOutcome, BusyPlan};
use crate::engine::client::{ClientShared, ClientState};
use crate::executor::{Request, Response};
use crate::protocol::{ParseLimits, Parser};

/// Commands handed to the executor at most per request, so one client's huge pipeline cannot
/// hold everyone else's replies back.
const MAX_PIPELINE: usize = 1024;

/// Read buffer growth step.
const READ_CHUNK: usize = 16 * 1024;

/// Output buffers larger than this are not kept for reuse.
const KEEP_OUT_CAPACITY: usize = 1 << 20;

/// Decrements the connected-clients count however the task ends.
struct ConnectedGuard(Arc<crate::engine::SharedState>);

impl Drop for ConnectedGuard {
    fn drop(&mut self) {
        self.0.connected_clients.fetch_sub(1, Ordering::AcqRel);
    }
}

fn configure(stream: &TcpStream, keepalive_secs: u64) {
    let _ = stream.set_nodelay(true);
    if keepalive_secs > 0 {
        let sock = socket2::SockRef::from(stream);
        let ka = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(keepalive_secs))
            .with_interval(Duration::from_secs((keepalive_secs / 3).max(1)));
        let _ = sock.set_tcp_keepalive(&ka);
    }
}

/// How long a TLS client may take over its handshake before it is dropped, so that idle
/// sockets cannot hold connection slots.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one connection until it closes, is killed, or the server shuts down; with `tls`,
/// after a TLS handshake.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    ctx: Context,
    tls: Option<Arc<super::tls::Tls>>,
) {
    let guard = ConnectedGuard(Arc::clone(&ctx.shared));
    configure(&stream, ctx.shared.tcp_keepalive.load(Ordering::Relaxed));
    let local = stream.local_addr().unwrap_or(peer);
    match tls {
        None => serve_stream(stream, peer, local, id, ctx, guard).await,
        Some(tls) => {
            let handshake = tls.acceptor().accept(stream);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(stream)) => {
                    ctx.shared.tls_handshakes.fetch_add(1, Ordering::Relaxed);
                    serve_stream(stream, peer, local, id, ctx, guard).await
                }
                Ok(Err(e)) => {
                    ctx.shared
                        .tls_handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    ctx.shared
                        .tls_handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "TLS handshake timed out");
                }
            }
        }
    }
}

async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    id: u64,
    ctx: Context,
    _guard: ConnectedGuard,
) {
    if super::protected::refuses(&ctx.shared, &peer) {
        let _ = stream.write_all(super::protected::DENIED).await;
        let _ = stream.shutdown().await;
        tracing::debug!(%peer, "refused by protected mode");
        return;
    }
    let authenticated = !ctx.shared.auth_required.load(Ordering::Acquire);
    let client_shared = Arc::new(ClientShared::new(authenticated));
    let state = ClientState::new(id, peer, local, authenticated, Arc::clone(&client_shared));
    if ctx
        .executor
        .send(Request::Connect(Box::new(state)))
        .is_err()
    {
        return;
    }
    ctx.shared.scripts.connect(id, Arc::clone(&client_shared));
    let reason = session(&mut stream, &ctx, id, &client_shared).await;
    ctx.shared.scripts.disconnect(id);
    tracing::debug!(client = id, %peer, reason, "connection closed");
    let _ = ctx.executor.send(Request::Disconnect(id));
    let _ = stream.shutdown().await;
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    ctx: &Context,
    id: u64,
    client: &ClientShared,
) -> &'static str {
    let shared = &ctx.shared;
    let mut shutdown = ctx.shutdown.clone();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut parser = Parser::new();
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut seq: u64 = 0;
    loop {
        if client.is_killed() {
            return "killed";
        }
        let limits = ParseLimits {
            max_bulk_len: shared.proto_max_bulk_len.load(Ordering::Relaxed),
            authenticated: client.is_authenticated(),
        };
        // The query buffer as the commands are taken from it (CLIENT LIST's `qbuf`).
        let qbuf = buf.len();
        let mut commands: Vec<Vec<Bytes>> = Vec::new();
        let mut protocol_error = None;
        while commands.len() < MAX_PIPELINE {
            match parser.next_command(&mut buf, &limits) {
                Ok(Some(argv)) => commands.push(argv),
                Ok(None) => break,
                Err(e) => {
                    protocol_error = Some(e);
                    break;
                }
            }
            // AUTH changes the limits for what follows, so stop at it.
            if commands.last().is_some_and(|a| {
                a[0].eq_ignore_ascii_case(b"auth") || a[0].eq_ignore_ascii_case(b"hello")
            }) {
                break;
            }
        }
        let ran = !commands.is_empty();
        if ran {
            seq += 1;
            let mut response = match run(
                ctx,
                id,
                client,
                seq,
                (commands, qbuf),
                std::mem::take(&mut out),
            )
            .await
            {
                Ok(response) => response,
                Err(reason) => return reason,
            };
            // The first response's buffer is the one kept for reuse.
            let mut first_out = None;
            loop {
                if !response.out.is_empty() {
                    if stream.write_all(&response.out).await.is_err() {
                        return "write error";
                    }
                    shared
                        .net_output_bytes
                        .fetch_add(response.out.len() as u64, Ordering::Relaxed);
                }
                if response.close {
                    return "closed by command";
                }
                let more = response.more.take();
                if first_out.is_none() {
                    first_out = Some(std::mem::take(&mut response.out));
                }
                let Some(more) = more else {
                    break;
                };
                response = match parked(stream, ctx, id, client, &mut buf, more).await {
                    Ok(response) => response,
                    Err(reason) => return reason,
                };
            }
            out = first_out.unwrap_or_default();
            out.clear();
            if out.capacity() > KEEP_OUT_CAPACITY {
                out = Vec::with_capacity(READ_CHUNK);
            }
        }
        if let Some(e) = protocol_error {
            let msg = format!("-ERR {e}\r\n");
            let _ = stream.write_all(msg.as_bytes()).await;
            tracing::debug!(client = id, error = %e, "protocol error");
            return "protocol error";
        }
        if ran {
            // More complete commands may be buffered already.
            continue;
        }
        // Between requests, write the pushes (pub/sub messages) queued for this client. While
        // a request is in flight they stay queued: the executor moves them in with the replies,
        // so the two keep their order.
        if client.outbox.has_data() {
            let data = client.outbox.take();
            let n = data.len();
            if n > 0 {
                // A subscriber that does not read blocks here; the executor disconnects it
                // once its output buffer limit is reached.
                tokio::select! {
                    r = stream.write_all(&data) => if r.is_err() {
                        client.outbox.written(n);
                        return "write error";
                    },
                    _ = client.killed() => {
                        client.outbox.written(n);
                        return "killed";
                    }
                    _ = shutdown.changed() => {
                        client.outbox.written(n);
                        return "server shutting down";
                    }
                }
                client.outbox.written(n);
                shared
                    .net_output_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
            continue;
        }
        if buf.len() as u64 > shared.client_query_buffer_limit.load(Ordering::Relaxed) {
            tracing::warn!(
                client = id,
                "closing client that reached max query buffer length"
            );
            return "query buffer limit";
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        let timeout = shared.timeout.load(Ordering::Relaxed);
        let read = async {
            if timeout > 0 {
                match tokio::time::timeout(Duration::from_secs(timeout), stream.read_buf(&mut buf))
                    .await
                {
                    Ok(r) => r.map(Some),
                    Err(_) => Ok(None),
                }
            } else {
                stream.read_buf(&mut buf).await.map(Some)
            }
        };
        tokio::select! {
            r = read => match r {
                Ok(Some(0)) => return "client closed",
                Ok(Some(n)) => {
                    shared.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
                Ok(None) => return "idle timeout",
                Err(_) => return "read error",
            },
            _ = client.killed() => return "killed",
            _ = shutdown.changed() => return "server shutting down",
            _ = client.outbox.ready() => {}
        }
    }
}

/// Hands a pipeline to the executor and waits for its replies. While a script runs past
/// `busy-reply-threshold` the executor cannot answer, so the connection answers for it
/// (`-BUSY`, SCRIPT KILL, FUNCTION KILL), taking back a request the executor has not started.
async fn run(
    ctx: &Context,
    id: u64,
    client: &ClientShared,
    seq: u64,
    (commands, qbuf): (Vec<Vec<Bytes>>, usize),
    out: Vec<u8>,
) -> Result<Response, &'static str> {
    let gate = &ctx.shared.scripts;
    client.offer(seq);
    if gate.is_busy() && client.withdraw(seq) {
        let plan = BusyPlan::of(&commands);
        return answer_busy(ctx, id, client, seq, &plan, out).await;
    }
    // Only needed if a script turns busy while this request waits; built lazily would be
    // too late (the commands move to the executor).
    let plan = BusyPlan::of(&commands);
    let (reply_tx, mut reply_rx) = oneshot::channel();
    let request = Request::Run {
        id,
        seq,
        commands,
        qbuf,
        out,
        reply: reply_tx,
    };
    if ctx.executor.send(request).is_err() {
        return Err("server shutting down");
    }
    loop {
        tokio::select! {
            r = &mut reply_rx => return r.map_err(|_| "server shutting down"),
            _ = client.busy_woken() => {
                if gate.is_busy() && client.withdraw(seq) {
                    // The buffer went with the request; the executor drops it.
                    return answer_busy(ctx, id, client, seq, &plan, Vec::new()).await;
                }
            }
        }
    }
}

/// Waits while a command of the client's pipeline is blocked (see [`crate::engine::blocked`]) for the
/// replies from it on. Meanwhile the socket is still read, so that a disconnect is noticed at
/// once (and the client's waiters dropped); what the client sends is kept for after.
async fn parked<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    ctx: &Context,
    id: u64,
    client: &ClientShared,
    buf: &mut BytesMut,
    mut more: oneshot::Receiver<crate::executor::Response>,
) -> Result<crate::executor::Response, &'static str> {
    let shared = &ctx.shared;
    let mut shutdown = ctx.shutdown.clone();
    loop {
        if client.is_killed() {
            return Err("killed");
        }
        if buf.len() as u64 > shared.client_query_buffer_limit.load(Ordering::Relaxed) {
            tracing::warn!(
                client = id,
                "closing client that reached max query buffer length"
            );
            return Err("query buffer limit");
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        tokio::select! {
            r = &mut more => return r.map_err(|_| "server shutting down"),
            r = stream.read_buf(buf) => match r {
                Ok(0) => return Err("client closed"),
                Ok(n) => {
                    shared.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(_) => return Err("read error"),
            },
            _ = client.killed() => return Err("killed"),
            _ = shutdown.changed() => return Err("server shutting down"),
            _ = client.outbox.ready() => {
                // Pushes (RESP3 pub/sub) are not held back by a blocked command.
                let data = client.outbox.take();
                let n = data.len();
                let written = stream.write_all(&data).await;
                client.outbox.written(n);
                if written.is_err() {
                    return Err("write error");
                }
                shared.net_output_bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
}

/// Answers a withdrawn request while a script is busy; SHUTDOWN NOSAVE goes on to the
/// executor once it has stopped the script.
async fn answer_busy(
    ctx: &Context,
    id: u64,
    client: &ClientShared,
    seq: u64,
    plan: &BusyPlan,
    mut out: Vec<u8>,
) -> Result<Response, &'static str> {
    match ctx.shared.scripts.answer(plan, client, &mut out) {
        BusyOutcome::Answered => Ok(Response {
            out,
            close: false,
            more: None,
        }),
        BusyOutcome::Close => Ok(Response {
            out,
            close: true,
            more: None,
        }),
        BusyOutcome::Shutdown => {
            let next = seq + 1;
            client.offer(next);
            let (reply_tx, reply_rx) = oneshot::channel();
            let request = Request::Run {
                id,
                seq: next,
                commands: vec![vec![
                    Bytes::from_static(b"SHUTDOWN"),
                    Bytes::from_static(b"NOSAVE"),
                ]],
                qbuf: 0,
                out,
                reply: reply_tx,
            };
            if ctx.executor.send(request).is_err() {
                return Err("server shutting down");
            }
            reply_rx.await.map_err(|_| "server shutting down")
        }
    }
}
