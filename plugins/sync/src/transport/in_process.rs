//! The in-process transport: one server, delivery by a direct call on the executor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::fanout::Fanout;
use super::{Handler, SyncTransport, Unsubscribe};
use crate::envelope::{Envelope, SyncKey};

/// Subscribers by key, in this process only.
#[derive(Default)]
pub struct InProcessTransport {
    fanout: Arc<Fanout>,
    published: AtomicU64,
    delivered: AtomicU64,
}

impl InProcessTransport {
    /// An empty transport.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SyncTransport for InProcessTransport {
    fn publish(&self, key: &SyncKey, envelope: Arc<Envelope>) {
        self.published.fetch_add(1, Ordering::Relaxed);
        let n = self.fanout.deliver(key, &envelope);
        self.delivered.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn subscribe(&self, key: &SyncKey, handler: Handler) -> Unsubscribe {
        let (id, _) = self.fanout.add(key, handler);
        let fanout = Arc::clone(&self.fanout);
        let key = key.clone();
        Unsubscribe::new(move || {
            fanout.remove(&key, id);
        })
    }

    fn key_count(&self) -> usize {
        self.fanout.key_count()
    }

    fn subscribers(&self, key: &SyncKey) -> usize {
        self.fanout.subscribers(key)
    }

    fn subscription_count(&self) -> usize {
        self.fanout.subscription_count()
    }

    fn info(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "published:{}\r\ndelivered:{}\r\n",
            self.published.load(Ordering::Relaxed),
            self.delivered.load(Ordering::Relaxed)
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;

    use super::*;

    fn key(name: &'static str) -> SyncKey {
        SyncKey {
            db: 0,
            key: Bytes::from_static(name.as_bytes()),
        }
    }

    fn env(k: &SyncKey, seq: u64) -> Arc<Envelope> {
        Arc::new(Envelope::new(
            k,
            Some(b"v".to_vec()),
            "string",
            String::new(),
            seq,
            "me".into(),
        ))
    }

    fn recorder(log: &Arc<Mutex<Vec<(u32, u64)>>>, who: u32) -> Handler {
        let log = Arc::clone(log);
        Arc::new(move |e: &Envelope| log.lock().unwrap().push((who, e.sequence)))
    }

    #[test]
    fn delivers_to_every_subscriber_in_subscription_order() {
        let t = InProcessTransport::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let k = key("user:1");
        let _a = t.subscribe(&k, recorder(&log, 1));
        let _b = t.subscribe(&k, recorder(&log, 2));
        let _c = t.subscribe(&k, recorder(&log, 3));
        t.publish(&k, env(&k, 1));
        t.publish(&k, env(&k, 2));
        assert_eq!(
            *log.lock().unwrap(),
            vec![(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (3, 2)]
        );
    }

    #[test]
    fn only_later_publishes_and_only_that_key() {
        let t = InProcessTransport::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (k, other) = (key("a"), key("b"));
        t.publish(&k, env(&k, 1));
        let _a = t.subscribe(&k, recorder(&log, 1));
        t.publish(&other, env(&other, 7));
        t.publish(&k, env(&k, 2));
        assert_eq!(*log.lock().unwrap(), vec![(1, 2)]);
    }

    #[test]
    fn unsubscribe_is_idempotent_and_drops_empty_keys() {
        let t = InProcessTransport::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let k = key("a");
        let mut a = t.subscribe(&k, recorder(&log, 1));
        let mut b = t.subscribe(&k, recorder(&log, 2));
        assert_eq!((t.key_count(), t.subscription_count()), (1, 2));
        a.call();
        a.call();
        assert_eq!((t.key_count(), t.subscription_count()), (1, 1));
        t.publish(&k, env(&k, 1));
        assert_eq!(*log.lock().unwrap(), vec![(2, 1)]);
        b.call();
        assert_eq!((t.key_count(), t.subscription_count()), (0, 0));
        // A new subscriber after the key was dropped works as the first one did.
        let _c = t.subscribe(&k, recorder(&log, 3));
        b.call();
        t.publish(&k, env(&k, 2));
        assert_eq!(*log.lock().unwrap(), vec![(2, 1), (3, 2)]);
    }

    #[test]
    fn a_handler_may_unsubscribe_itself_during_delivery() {
        let t = Arc::new(InProcessTransport::new());
        let k = key("a");
        let slot: Arc<Mutex<Option<Unsubscribe>>> = Arc::new(Mutex::new(None));
        let count = Arc::new(AtomicU64::new(0));
        let (s, c) = (Arc::clone(&slot), Arc::clone(&count));
        let unsub = t.subscribe(
            &k,
            Arc::new(move |_: &Envelope| {
                c.fetch_add(1, Ordering::Relaxed);
                if let Some(mut u) = s.lock().unwrap().take() {
                    u.call();
                }
            }),
        );
        *slot.lock().unwrap() = Some(unsub);
        t.publish(&k, env(&k, 1));
        t.publish(&k, env(&k, 2));
        assert_eq!(count.load(Ordering::Relaxed), 1);
        assert_eq!(t.key_count(), 0);
    }
}
