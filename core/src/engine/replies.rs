//! The replies of a batch: what goes back to a connection ([`Response`]) and what the executor
//! holds until the batch commits ([`Pending`]).

use tokio::sync::oneshot;

use super::Engine;

/// The replies to one [`Request::Run`].
pub struct Response {
    /// Encoded replies.
    pub out: Vec<u8>,
    /// Close the connection after writing `out`.
    pub close: bool,
    /// A command of the pipeline blocked: the replies from it on come on this channel, once
    /// the client is released (see [`crate::engine::blocked`]).
    pub more: Option<oneshot::Receiver<Response>>,
}

/// A request's replies, held until the batch commits.
pub(crate) struct Pending {
    pub(crate) reply: oneshot::Sender<Response>,
    pub(crate) response: Response,
    /// Replies encoded, so a failed commit can replace each of them.
    pub(crate) replies: usize,
    pub(crate) wrote: bool,
    pub(crate) protocol: crate::protocol::Protocol,
    /// The client's shared state when pushes may be queued for it during the rest of the
    /// batch; they are appended after its replies when the batch is released.
    pub(crate) pushes: Option<std::sync::Arc<crate::engine::client::ClientShared>>,
}

impl Engine {
    /// Releases the held replies that do not wait for the commit (their requests wrote
    /// nothing): called when a script turns busy, since they would otherwise wait for it.
    pub(crate) fn release_unwritten(&mut self) {
        let engine = self;
        let held = std::mem::take(&mut engine.held_replies);
        for mut p in held {
            if p.wrote {
                engine.held_replies.push(p);
                continue;
            }
            if let Some(shared) = &p.pushes {
                shared.outbox.take_into(&mut p.response.out);
            }
            let _ = p.reply.send(p.response);
        }
    }
}
