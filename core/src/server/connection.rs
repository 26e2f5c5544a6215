//! One task per connection: read, parse a whole pipeline, hand it to the executor, write the
//! replies. The executor never waits on a socket; this task never touches the keyspace.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::query_buffer::{QueryBuffer, READ_CHUNK};
use super::Context;
use crate::engine::busy::{BusyOutcome, BusyPlan};
use crate::engine::client::{
    ClientShared, ClientState, IoStats, TRIM_IDLE, TRIM_QUERY, TRIM_REPLY,
};
use crate::executor::{Request, Response};
use crate::protocol::{ParseLimits, Parser};

/// Commands handed to the executor at most per request, so one client's huge pipeline cannot
/// hold everyone else's replies back.
const MAX_PIPELINE: usize = 1024;

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

/// The socket's descriptor, for CLIENT LIST's `fd`.
fn raw_fd(stream: &TcpStream) -> i64 {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        i64::from(stream.as_raw_fd())
    }
    #[cfg(not(unix))]
    {
        let _ = stream;
        -1
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
    let fd = raw_fd(&stream);
    let addrs = (peer, local, fd);
    match tls {
        None => serve_stream(stream, addrs, id, ctx, guard).await,
        Some(tls) => {
            let handshake = tls.acceptor().accept(stream);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(stream)) => {
                    ctx.shared.tls_handshakes.fetch_add(1, Ordering::Relaxed);
                    serve_stream(stream, addrs, id, ctx, guard).await
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
    (peer, local, fd): (SocketAddr, SocketAddr, i64),
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
    let mut state = ClientState::new(id, peer, local, authenticated, Arc::clone(&client_shared));
    state.fd = fd;
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
    let io = &client.io;
    let mut q = QueryBuffer::new();
    q.publish(io);
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    io.set_reply_capacity(out.capacity());
    let mut parser = Parser::new();
    let mut seq: u64 = 0;
    loop {
        if client.is_killed() {
            return "killed";
        }
        let trim = io.take_trim();
        if trim != 0 {
            resize_buffers(trim, &mut q, &mut out, io);
        }
        let limits = ParseLimits {
            max_bulk_len: shared.proto_max_bulk_len.load(Ordering::Relaxed),
            authenticated: client.is_authenticated(),
        };
        // While the commands run, the query buffer still counts them (CLIENT LIST's `qbuf`).
        q.publish(io);
        let mut commands: Vec<Vec<Bytes>> = Vec::new();
        let mut protocol_error = None;
        while commands.len() < MAX_PIPELINE {
            match parser.next_command(&mut q.buf, &limits) {
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
        q.parsed();
        let ran = !commands.is_empty();
        if ran {
            seq += 1;
            let mut response =
                match run(ctx, id, client, seq, commands, std::mem::take(&mut out)).await {
                    Ok(response) => response,
                    Err(reason) => return reason,
                };
            // The first response's buffer is the one kept for reuse.
            let mut first_out = None;
            loop {
                if !response.out.is_empty() {
                    if write_reply(stream, &response.out, io).await.is_err() {
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
                response = match parked(stream, ctx, id, client, &mut q, more).await {
                    Ok(response) => response,
                    Err(reason) => return reason,
                };
            }
            out = first_out.unwrap_or_default();
            out.clear();
            if out.capacity() > KEEP_OUT_CAPACITY {
                out = Vec::with_capacity(READ_CHUNK);
            }
            io.set_reply_capacity(out.capacity());
            q.publish(io);
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
        if over_query_buffer_limit(ctx, id, &q) {
            return "query buffer limit";
        }
        q.reserve_for_read(io);
        let buf = &mut q.buf;
        let timeout = shared.timeout.load(Ordering::Relaxed);
        let read = async {
            if timeout > 0 {
                match tokio::time::timeout(Duration::from_secs(timeout), stream.read_buf(buf)).await
                {
                    Ok(r) => r.map(Some),
                    Err(_) => Ok(None),
                }
            } else {
                stream.read_buf(buf).await.map(Some)
            }
        };
        tokio::select! {
            r = read => match r {
                Ok(Some(0)) => return "client closed",
                Ok(Some(n)) => {
                    shared.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    q.read_done(io);
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
    commands: Vec<Vec<Bytes>>,
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
    q: &mut QueryBuffer,
    mut more: oneshot::Receiver<crate::executor::Response>,
) -> Result<crate::executor::Response, &'static str> {
    let shared = &ctx.shared;
    let mut shutdown = ctx.shutdown.clone();
    loop {
        if client.is_killed() {
            return Err("killed");
        }
        if over_query_buffer_limit(ctx, id, q) {
            return Err("query buffer limit");
        }
        q.reserve_for_read(&client.io);
        tokio::select! {
            r = &mut more => return r.map_err(|_| "server shutting down"),
            r = stream.read_buf(&mut q.buf) => match r {
                Ok(0) => return Err("client closed"),
                Ok(n) => {
                    shared.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    q.read_done(&client.io);
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

/// Whether the unparsed bytes passed `client-query-buffer-limit`: then the client is closed
/// (and logged), as Redis does.
fn over_query_buffer_limit(ctx: &Context, id: u64, q: &QueryBuffer) -> bool {
    let limit = ctx.shared.client_query_buffer_limit.load(Ordering::Relaxed);
    if q.buf.len() as u64 <= limit {
        return false;
    }
    tracing::warn!(
        client = id,
        bytes = q.buf.len(),
        limit,
        "closing client that reached max query buffer length"
    );
    true
}

/// Writes a reply, keeping CLIENT LIST's `obl` (the bytes not yet taken by the socket)
/// current while a slow reader holds it back.
async fn write_reply<S: AsyncWrite + Unpin>(
    stream: &mut S,
    data: &[u8],
    io: &IoStats,
) -> std::io::Result<()> {
    io.reply_started(data.len());
    let mut rest = data;
    while !rest.is_empty() {
        let n = stream.write(rest).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        rest = &rest[n..];
        io.reply_left(rest.len());
    }
    Ok(())
}

/// Resizes the buffers as the executor asked (see [`IoStats::take_trim`]): the query buffer
/// as Redis's clients cron does, and a reply buffer more than twice its recent peak.
fn resize_buffers(trim: u8, q: &mut QueryBuffer, out: &mut Vec<u8>, io: &IoStats) {
    if trim & (TRIM_QUERY | TRIM_IDLE) != 0 {
        q.resize(trim & TRIM_IDLE != 0, io);
    }
    if trim & TRIM_REPLY != 0 {
        let (_, peak) = io.reply_buffer();
        let peak = peak as usize;
        if out.capacity() > READ_CHUNK && peak < out.capacity() / 2 {
            *out = Vec::with_capacity(peak.max(READ_CHUNK));
            io.set_reply_capacity(out.capacity());
        }
    }
}
