//! [`Replica`]: the [`Reconciler`] behind a lock, fed by receipts from any task, with its
//! recovery refetches run on tokio.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::reconciler::{Action, Envelope, Meta, Origin, Reconciler, Stats};

/// A boxed future, for [`SnapshotSource`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a replica reads the authoritative state of its key (SYNC.GET on a server).
pub trait SnapshotSource: Send + Sync + 'static {
    /// The key's current envelope; `None` if the key neither exists nor was ever synced.
    fn fetch(&self) -> BoxFuture<'_, Result<Option<Envelope>, String>>;
}

type Parse<T> = dyn Fn(Option<&[u8]>) -> Result<T, String> + Send + Sync;

struct Shared<T> {
    state: Mutex<Reconciler<T>>,
    parse: Box<Parse<T>>,
    source: Option<Arc<dyn SnapshotSource>>,
    /// True while no refetch is in flight.
    idle: watch::Sender<bool>,
    disposed: AtomicBool,
    on_dispose: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
}

/// A replica of one synced key. Cheap to clone (clones share the replica). Refetches are
/// spawned on the current tokio runtime.
pub struct Replica<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Replica<T> {
    fn clone(&self) -> Self {
        Replica {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// What an envelope of a key that does not exist stands for.
fn absent() -> Envelope {
    Envelope {
        value: None,
        schema_version: String::new(),
        sequence: 0,
    }
}

impl<T: Send + 'static> Replica<T> {
    /// A replica that gates values with `parse` and recovers from `source` (`None`: no
    /// recovery; a gap leaves it `stale`).
    pub fn new(
        parse: impl Fn(Option<&[u8]>) -> Result<T, String> + Send + Sync + 'static,
        source: Option<Arc<dyn SnapshotSource>>,
    ) -> Self {
        let (idle, _) = watch::channel(true);
        Replica {
            shared: Arc::new(Shared {
                state: Mutex::new(Reconciler::new(source.is_some())),
                parse: Box::new(parse),
                source,
                idle,
                disposed: AtomicBool::new(false),
                on_dispose: Mutex::new(Vec::new()),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Reconciler<T>> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `seed` as the baseline (the first SYNC.GET).
    pub fn hydrate(&self, seed: Option<Envelope>) {
        self.ingest(&seed.unwrap_or_else(absent), Origin::Hydration);
    }

    /// A pushed envelope.
    pub fn receive(&self, envelope: &Envelope) {
        self.ingest(envelope, Origin::Receipt);
    }

    /// Refetches now (the receipts' connection was lost and remade: some may be missing).
    pub fn resync(&self) {
        if self.shared.disposed.load(Ordering::Acquire) {
            return;
        }
        let mut st = self.lock();
        if st.request_refetch() == Action::Refetch {
            self.spawn_refetch(&mut st);
        }
    }

    fn ingest(&self, envelope: &Envelope, origin: Origin) {
        if self.shared.disposed.load(Ordering::Acquire) {
            return;
        }
        let mut st = self.lock();
        if st.ingest(envelope, origin, |v| (self.shared.parse)(v)) == Action::Refetch {
            self.spawn_refetch(&mut st);
        }
    }

    /// Starts the refetch the reconciler asked for; called with its lock held, so that the
    /// idle flag follows the reconciler's order of events.
    fn spawn_refetch(&self, _st: &mut MutexGuard<'_, Reconciler<T>>) {
        let Some(source) = self.shared.source.clone() else {
            return;
        };
        self.shared.idle.send_replace(false);
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let answer = source.fetch().await;
                if me.shared.disposed.load(Ordering::Acquire) {
                    break;
                }
                let mut st = me.lock();
                let action = match answer {
                    Ok(env) => st.ingest(&env.unwrap_or_else(absent), Origin::Refetch, |v| {
                        (me.shared.parse)(v)
                    }),
                    Err(e) => {
                        tracing::warn!(error = %e, "sync replica: refetch failed");
                        st.refetch_failed();
                        Action::None
                    }
                };
                if action != Action::Refetch {
                    me.shared.idle.send_replace(!st.is_refetching());
                    break;
                }
            }
            if me.shared.disposed.load(Ordering::Acquire) {
                me.shared.idle.send_replace(true);
            }
        });
    }

    /// Resolves once no recovery refetch is in flight.
    pub async fn when_idle(&self) {
        let mut rx = self.shared.idle.subscribe();
        let _ = rx.wait_for(|idle| *idle).await;
    }

    /// Reconcile state: schema version, sequence, status.
    pub fn meta(&self) -> Meta {
        self.lock().meta().clone()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.lock().stats()
    }

    /// Runs `f` when the replica is disposed (how a source stops its tasks).
    pub fn on_dispose(&self, f: impl FnOnce() + Send + 'static) {
        if self.shared.disposed.load(Ordering::Acquire) {
            f();
            return;
        }
        self.shared
            .on_dispose
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(f));
    }

    /// Stops listening and refetching; later envelopes are ignored. Idempotent.
    pub fn dispose(&self) {
        if self.shared.disposed.swap(true, Ordering::AcqRel) {
            return;
        }
        let hooks = std::mem::take(
            &mut *self
                .shared
                .on_dispose
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for f in hooks {
            f();
        }
        self.shared.idle.send_replace(true);
    }

    /// Whether [`Self::dispose`] was called.
    pub fn is_disposed(&self) -> bool {
        self.shared.disposed.load(Ordering::Acquire)
    }
}

impl<T: Clone + Send + 'static> Replica<T> {
    /// The value applied last (`None` before the first).
    pub fn get(&self) -> Option<T> {
        self.lock().value().cloned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use bytes::Bytes;
    use tokio::sync::Notify;

    use super::*;
    use crate::reconciler::Status;

    /// A source whose answer the test sets, and which can be held back until released.
    struct Fake {
        answer: Mutex<Option<Envelope>>,
        calls: AtomicUsize,
        gate: Notify,
        hold: AtomicBool,
    }

    impl Fake {
        fn new(answer: Envelope) -> Arc<Fake> {
            Arc::new(Fake {
                answer: Mutex::new(Some(answer)),
                calls: AtomicUsize::new(0),
                gate: Notify::new(),
                hold: AtomicBool::new(false),
            })
        }
    }

    impl SnapshotSource for Fake {
        fn fetch(&self) -> BoxFuture<'_, Result<Option<Envelope>, String>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                if self.hold.load(Ordering::SeqCst) {
                    self.gate.notified().await;
                }
                Ok(self.answer.lock().unwrap().clone())
            })
        }
    }

    fn env(v: &str, seq: u64) -> Envelope {
        Envelope {
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            schema_version: "2".into(),
            sequence: seq,
        }
    }

    fn text(v: Option<&[u8]>) -> Result<String, String> {
        let v = v.ok_or("nil")?;
        let s = String::from_utf8(v.to_vec()).map_err(|e| e.to_string())?;
        if s.starts_with('!') {
            return Err("rejected".into());
        }
        Ok(s)
    }

    #[tokio::test]
    async fn a_gap_refetches_and_converges() {
        let fake = Fake::new(env("latest", 9));
        let r = Replica::new(text, Some(fake.clone() as Arc<dyn SnapshotSource>));
        r.hydrate(Some(env("a", 1)));
        r.receive(&env("b", 2));
        r.receive(&env("e", 5));
        r.when_idle().await;
        assert_eq!(r.get().as_deref(), Some("latest"));
        let m = r.meta();
        assert_eq!((m.sequence, m.status), (Some(9), Status::Ok));
        assert_eq!(m.schema_version.as_deref(), Some("2"));
        let s = r.stats();
        assert_eq!((s.applied, s.gaps, s.refetches), (3, 1, 1));
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn when_idle_waits_for_the_refetch() {
        let fake = Fake::new(env("snap", 7));
        fake.hold.store(true, Ordering::SeqCst);
        let r = Replica::new(text, Some(fake.clone() as Arc<dyn SnapshotSource>));
        r.hydrate(Some(env("a", 1)));
        r.receive(&env("x", 3));
        assert_eq!(r.meta().status, Status::Refetching);
        let waiter = tokio::spawn({
            let r = r.clone();
            async move {
                r.when_idle().await;
                r.get()
            }
        });
        // The refetch is held: the waiter cannot have finished.
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        fake.hold.store(false, Ordering::SeqCst);
        fake.gate.notify_one();
        assert_eq!(waiter.await.unwrap().as_deref(), Some("snap"));
    }

    #[tokio::test]
    async fn a_rejected_value_is_skew_then_recovers() {
        let fake = Fake::new(env("good", 4));
        let r = Replica::new(text, Some(fake.clone() as Arc<dyn SnapshotSource>));
        r.hydrate(Some(env("a", 1)));
        r.receive(&env("!bad", 2));
        assert_eq!(r.meta().status, Status::Skew);
        assert_eq!(r.get().as_deref(), Some("a"));
        r.when_idle().await;
        assert_eq!(r.get().as_deref(), Some("good"));
        assert_eq!(r.meta().status, Status::Ok);
        assert_eq!(r.stats().parse_errors, 1);
    }

    #[tokio::test]
    async fn a_rejected_refetch_is_not_refetched_again() {
        let fake = Fake::new(env("!still bad", 4));
        let r = Replica::new(text, Some(fake.clone() as Arc<dyn SnapshotSource>));
        r.hydrate(Some(env("a", 1)));
        r.receive(&env("!bad", 2));
        r.when_idle().await;
        assert_eq!(r.meta().status, Status::Skew);
        assert_eq!(r.get().as_deref(), Some("a"));
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
        assert_eq!(r.stats().parse_errors, 2);
    }

    #[tokio::test]
    async fn dispose_is_idempotent_and_stops_everything() {
        let fake = Fake::new(env("snap", 7));
        let r = Replica::new(text, Some(fake.clone() as Arc<dyn SnapshotSource>));
        let hooks = Arc::new(AtomicUsize::new(0));
        let h = Arc::clone(&hooks);
        r.on_dispose(move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        r.hydrate(Some(env("a", 1)));
        r.dispose();
        r.dispose();
        assert_eq!(hooks.load(Ordering::SeqCst), 1);
        r.receive(&env("b", 2));
        assert_eq!(r.get().as_deref(), Some("a"));
        r.when_idle().await;
        assert!(r.is_disposed());
    }

    #[tokio::test]
    async fn without_a_source_a_gap_is_stale() {
        let r = Replica::new(text, None);
        r.hydrate(Some(env("a", 1)));
        r.receive(&env("c", 3));
        r.when_idle().await;
        assert_eq!(r.meta().status, Status::Stale);
        assert_eq!(r.get().as_deref(), Some("a"));
    }
}
