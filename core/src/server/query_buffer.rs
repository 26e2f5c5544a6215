//! A connection's query buffer: the bytes read from the socket and not yet parsed, its size
//! as CLIENT LIST reports it (`qbuf`, `qbuf-free`), and Redis's resizing of it: an idle
//! client's buffer is freed, and one grown for a large request shrinks back once the
//! requests are small again.

use bytes::BytesMut;

use crate::engine::client::IoStats;

/// Read buffer growth step (Redis's PROTO_IOBUF_LEN).
pub(super) const READ_CHUNK: usize = 16 * 1024;

/// A buffer larger than this shrinks back when its recent peak is under half of it (Redis's
/// PROTO_RESIZE_THRESHOLD).
const RESIZE_THRESHOLD: usize = 32 * 1024;

/// Resizing is only worth it when at least this much of the buffer is unused.
const MIN_WASTE: usize = 4 * 1024;

/// The query buffer and what is known of its allocation.
pub(super) struct QueryBuffer {
    /// The unparsed bytes; the parser splits commands off its front.
    pub buf: BytesMut,
    /// Bytes of the allocation the buffer lives in. The parser's splits leave the buffer a
    /// view of the allocation's tail (the commands split off keep the rest alive while they
    /// run), so [`BytesMut::capacity`] alone under-reports it; the buffer is only ever
    /// replaced by a new allocation of a known size.
    alloc: usize,
    /// Where the buffer's room ends: it moves when the parser reserves room for a big bulk
    /// itself (then the buffer may live in a new allocation).
    end: usize,
    /// The most bytes the buffer held since the last resize check.
    peak: usize,
}

impl QueryBuffer {
    /// A buffer of [`READ_CHUNK`] bytes, as a new connection reads into.
    pub fn new() -> Self {
        Self::of(BytesMut::with_capacity(READ_CHUNK))
    }

    fn of(buf: BytesMut) -> Self {
        QueryBuffer {
            alloc: buf.capacity(),
            end: end_of(&buf),
            buf,
            peak: 0,
        }
    }

    /// Takes note of room reserved by others (the parser for a big bulk, a read into a freed
    /// buffer): the buffer's view then starts over, at least as large as what it can hold.
    pub fn parsed(&mut self) {
        let end = end_of(&self.buf);
        if end != self.end {
            self.end = end;
            self.alloc = self.buf.capacity();
        }
    }

    /// Makes room for the next read: a new buffer with the unparsed bytes, of a read's size
    /// more, or twice the size when they fill most of it (a large request arriving).
    /// An idle client's freed buffer stays freed until data arrives: the read then takes
    /// what it needs (a few bytes), and the buffer grows to a read's size after it.
    pub fn reserve_for_read(&mut self, io: &IoStats) {
        let len = self.buf.len();
        if self.buf.capacity() - len >= READ_CHUNK / 4 || (self.alloc == 0 && len == 0) {
            return;
        }
        let target = if len > self.alloc / 2 {
            (self.alloc * 2).max(len + READ_CHUNK)
        } else {
            len + READ_CHUNK
        };
        let mut fresh = BytesMut::with_capacity(target);
        fresh.extend_from_slice(&self.buf);
        *self = QueryBuffer {
            peak: self.peak,
            ..Self::of(fresh)
        };
        self.publish(io);
    }

    /// Records a read, and publishes the buffer's size for CLIENT LIST.
    pub fn read_done(&mut self, io: &IoStats) {
        self.parsed();
        self.peak = self.peak.max(self.buf.len());
        self.publish(io);
    }

    /// Publishes the buffer's size for CLIENT LIST: `len` bytes count as in the buffer
    /// (while a pipeline runs, the commands it was parsed from still do, as in Redis).
    pub fn publish_len(&self, io: &IoStats, len: usize) {
        io.set_query_buffer(len, self.alloc.max(len));
    }

    /// [`Self::publish_len`] with what the buffer holds now.
    pub fn publish(&self, io: &IoStats) {
        self.publish_len(io, self.buf.len());
    }

    /// Redis's clientsCronResizeQueryBuffer, when the executor asks for it (see
    /// [`IoStats::take_trim`]): an idle client's empty buffer is freed; a buffer larger than
    /// the resize threshold and more than twice its recent peak shrinks to that peak (the
    /// next read grows it to a read's size again). The peak starts over either way.
    pub fn resize(&mut self, idle: bool, io: &IoStats) {
        let len = self.buf.len();
        if self.alloc.saturating_sub(len) > MIN_WASTE {
            if idle && len == 0 {
                *self = Self::of(BytesMut::new());
            } else if self.alloc > RESIZE_THRESHOLD && self.alloc / 2 > self.peak {
                let mut smaller = BytesMut::with_capacity(self.peak.max(len).max(READ_CHUNK));
                smaller.extend_from_slice(&self.buf);
                *self = Self::of(smaller);
            }
        }
        self.peak = len;
        self.publish(io);
    }
}

/// The address where the buffer's room ends.
fn end_of(buf: &BytesMut) -> usize {
    buf.as_ptr() as usize + buf.capacity()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_allocation_and_resize_as_redis() {
        let io = IoStats::default();
        let mut q = QueryBuffer::new();
        q.publish(&io);
        assert_eq!(io.query_buffer(), (0, READ_CHUNK as u64));
        // A command read and split off still leaves the allocation to the buffer.
        q.buf.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        q.read_done(&io);
        let _ = q.buf.split_to(q.buf.len());
        q.publish(&io);
        assert_eq!(io.query_buffer(), (0, READ_CHUNK as u64));
        // A large request grows it.
        while q.alloc <= RESIZE_THRESHOLD * 4 {
            q.reserve_for_read(&io);
            let room = q.buf.capacity() - q.buf.len();
            q.buf.extend_from_slice(&vec![b'x'; room]);
            q.read_done(&io);
        }
        let big = q.alloc;
        assert!(big > RESIZE_THRESHOLD * 4, "{big}");
        let _ = q.buf.split_to(q.buf.len());
        // The first check after it sees the peak: no shrink; the next one does.
        q.resize(false, &io);
        assert_eq!(q.alloc, big);
        q.buf.extend_from_slice(b"small");
        q.read_done(&io);
        q.resize(false, &io);
        assert!(q.alloc >= READ_CHUNK && q.alloc < big, "{}", q.alloc);
        assert_eq!(&q.buf[..], b"small", "pending bytes survive a resize");
        // Idle with pending bytes: kept; empty: freed.
        q.resize(true, &io);
        assert!(q.alloc > 0);
        let _ = q.buf.split_to(q.buf.len());
        q.resize(true, &io);
        assert_eq!(io.query_buffer(), (0, 0));
        q.reserve_for_read(&io);
        assert_eq!(
            io.query_buffer(),
            (0, 0),
            "still freed while nothing arrives"
        );
        q.buf.extend_from_slice(b"PING\r\n");
        q.read_done(&io);
        assert!(io.query_buffer().1 >= 6);
        let _ = q.buf.split_to(6);
        q.reserve_for_read(&io);
        assert_eq!(io.query_buffer(), (0, (READ_CHUNK) as u64));
    }
}
