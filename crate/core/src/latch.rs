//! A one-shot latch: set once, wakes every waiter, stays set.
//!
//! Waiters are either async tasks (a [`Waker`]) or callbacks (how the napi
//! binding resolves a JS promise on whichever thread waits). A latch that
//! will never be set (its owner is going away) is *abandoned*: every waiter
//! is woken with [`Woken::Abandoned`], so that nothing waits for ever.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

type Callback = Box<dyn FnOnce(Woken) + Send>;

/// Why a waiter was woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The latch was set.
    Set,
    /// The latch was abandoned: it will never be set.
    Abandoned,
}

enum Waiter {
    Task(Waker),
    Callback(Callback),
}

#[derive(Default)]
struct Waiters {
    next_id: u64,
    list: Vec<(u64, Waiter)>,
    /// Set by [`Latch::abandon`] (under the lock).
    abandoned: bool,
}

/// A one-shot latch.
#[derive(Default)]
pub struct Latch {
    set: AtomicBool,
    waiters: Mutex<Waiters>,
}

/// What [`Latch::subscribe`] did with the callback.
#[derive(Debug, PartialEq, Eq)]
pub enum Subscription {
    /// The latch was already set (or abandoned): the callback was called
    /// before returning.
    Done,
    /// The callback waits under this id (see [`Latch::unsubscribe`]).
    Waiting(u64),
}

/// Wakes the waiters taken from the list (outside the lock).
fn wake_all(list: Vec<(u64, Waiter)>, woken: Woken) {
    for (_, waiter) in list {
        match waiter {
            Waiter::Task(waker) => waker.wake(),
            Waiter::Callback(cb) => cb(woken),
        }
    }
}

impl Latch {
    /// A latch that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        // A waiter's callback never runs under the lock, so the lock cannot
        // be poisoned by one; recover the data if it ever is.
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the latch is set.
    // Ordering: Acquire, pairs with the Release in `set`: a thread that sees
    // the latch set also sees what the setter did before setting it (the
    // synced page file).
    #[inline]
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Sets the latch and wakes every waiter. Returns `false` (and does
    /// nothing) if it was already set.
    pub fn set(&self) -> bool {
        let list = {
            let mut w = self.lock();
            // Ordering: Release (under the lock) pairs with the Acquire in
            // `is_set`; the lock orders it against `subscribe`.
            if self.set.swap(true, Ordering::AcqRel) {
                return false;
            }
            std::mem::take(&mut w.list)
        };
        wake_all(list, Woken::Set);
        true
    }

    /// Abandons the latch: it will never be set. Wakes every waiter with
    /// [`Woken::Abandoned`] (and later subscribers at once). Does nothing
    /// (returns `false`) if the latch is set or already abandoned.
    pub fn abandon(&self) -> bool {
        let list = {
            let mut w = self.lock();
            // Ordering: Relaxed under the lock (see `subscribe`).
            if w.abandoned || self.set.load(Ordering::Relaxed) {
                return false;
            }
            w.abandoned = true;
            std::mem::take(&mut w.list)
        };
        wake_all(list, Woken::Abandoned);
        true
    }

    /// Whether [`Latch::abandon`] was called (and the latch was not set).
    pub fn is_abandoned(&self) -> bool {
        self.lock().abandoned
    }

    /// Calls `cb` once the latch is set (with [`Woken::Set`]) or abandoned
    /// (with [`Woken::Abandoned`]): now if it already is, otherwise on the
    /// thread that sets or abandons it.
    pub fn subscribe(&self, cb: impl FnOnce(Woken) + Send + 'static) -> Subscription {
        let woken = {
            let mut w = self.lock();
            // Ordering: Relaxed is enough under the lock: `set` flips the
            // flag while holding it.
            if self.set.load(Ordering::Relaxed) {
                Woken::Set
            } else if w.abandoned {
                Woken::Abandoned
            } else {
                let id = w.next_id;
                w.next_id += 1;
                w.list.push((id, Waiter::Callback(Box::new(cb))));
                return Subscription::Waiting(id);
            }
        };
        cb(woken);
        Subscription::Done
    }

    /// Removes a waiter that has not been woken. Returns whether it was
    /// still waiting (its callback is dropped uncalled).
    pub fn unsubscribe(&self, id: u64) -> bool {
        let removed = {
            let mut w = self.lock();
            let pos = w.list.iter().position(|(i, _)| *i == id);
            pos.map(|p| w.list.swap_remove(p))
        };
        removed.is_some()
    }

    /// Number of waiters not yet woken.
    pub fn waiters(&self) -> usize {
        self.lock().list.len()
    }

    /// Resolves once the latch is set.
    pub fn wait(&self) -> LatchWait<'_> {
        LatchWait {
            latch: self,
            id: None,
        }
    }
}

/// The future of [`Latch::wait`]: ready once the latch is set or
/// abandoned (ask [`Latch::is_set`] which).
pub struct LatchWait<'a> {
    latch: &'a Latch,
    id: Option<u64>,
}

impl Future for LatchWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.latch.is_set() {
            return Poll::Ready(());
        }
        let mut w = self.latch.lock();
        // Ordering: Relaxed under the lock (see `subscribe`).
        if self.latch.set.load(Ordering::Relaxed) || w.abandoned {
            return Poll::Ready(());
        }
        match self.id {
            Some(id) => {
                if let Some((_, slot)) = w.list.iter_mut().find(|(i, _)| *i == id) {
                    *slot = Waiter::Task(cx.waker().clone());
                }
            }
            None => {
                let id = w.next_id;
                w.next_id += 1;
                w.list.push((id, Waiter::Task(cx.waker().clone())));
                drop(w);
                self.id = Some(id);
            }
        }
        Poll::Pending
    }
}

impl Drop for LatchWait<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.latch.unsubscribe(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn latch_set_wakes_callbacks_once() {
        let latch = Latch::new();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        assert!(matches!(
            latch.subscribe(move |w| {
                assert_eq!(w, Woken::Set);
                h.fetch_add(1, Ordering::SeqCst);
            }),
            Subscription::Waiting(_)
        ));
        assert_eq!(latch.waiters(), 1);
        assert!(latch.set());
        assert!(!latch.set());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let h = hits.clone();
        assert_eq!(
            latch.subscribe(move |w| {
                assert_eq!(w, Woken::Set);
                h.fetch_add(1, Ordering::SeqCst);
            }),
            Subscription::Done
        );
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert_eq!(latch.waiters(), 0);
    }

    #[test]
    fn latch_unsubscribe_drops_callback() {
        let latch = Latch::new();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let Subscription::Waiting(id) = latch.subscribe(move |_| {
            h.fetch_add(1, Ordering::SeqCst);
        }) else {
            panic!("latch not set yet")
        };
        assert!(latch.unsubscribe(id));
        assert!(!latch.unsubscribe(id));
        latch.set();
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn latch_abandon_wakes_waiters_once_and_never_after_set() {
        let latch = Latch::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        assert!(matches!(
            latch.subscribe(move |w| s.lock().unwrap().push(w)),
            Subscription::Waiting(_)
        ));
        assert!(latch.abandon());
        assert!(!latch.abandon());
        assert!(latch.is_abandoned() && !latch.is_set());
        assert_eq!(latch.waiters(), 0);
        // A late subscriber learns at once.
        let s = seen.clone();
        assert_eq!(
            latch.subscribe(move |w| s.lock().unwrap().push(w)),
            Subscription::Done
        );
        assert_eq!(*seen.lock().unwrap(), vec![Woken::Abandoned; 2]);
        block_on(latch.wait());

        // Once set, abandoning does nothing.
        let set = Latch::new();
        assert!(set.set());
        assert!(!set.abandon());
        assert!(!set.is_abandoned());
    }

    #[test]
    fn latch_abandon_wakes_a_pending_future() {
        let latch = Arc::new(Latch::new());
        let l = latch.clone();
        let waiter = std::thread::spawn(move || {
            block_on(l.wait());
            l.is_set()
        });
        while latch.waiters() == 0 {
            std::thread::yield_now();
        }
        latch.abandon();
        assert!(!waiter.join().unwrap());
    }

    #[test]
    fn latch_wait_across_threads() {
        let latch = Arc::new(Latch::new());
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let l = latch.clone();
                std::thread::spawn(move || block_on(l.wait()))
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(20));
        latch.set();
        for w in waiters {
            w.join().unwrap();
        }
        block_on(latch.wait());
        assert_eq!(latch.waiters(), 0);
    }

    #[test]
    fn latch_wait_dropped_unsubscribes() {
        let latch = Latch::new();
        {
            let mut f = Box::pin(latch.wait());
            let waker = Waker::from(Arc::new(Flag(AtomicBool::new(false))));
            assert!(f
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            assert_eq!(latch.waiters(), 1);
        }
        assert_eq!(latch.waiters(), 0);
    }
}
