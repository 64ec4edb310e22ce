//! Change notification on a value object: a version word that every
//! publish advances, and a 32-bit futex word on which waiters sleep until
//! the version moves past the one they know.
//!
//! The futex word (the "waiters word") holds a flag and a wake count:
//!
//! ```text
//! bit 0      WAITING: some process sleeps (or is about to) on this word
//! bits 1..32 number of wake-ups, wrapping
//! ```
//!
//! A waiter announces itself with `fetch_or(WAITING)` ([`announce`]), which
//! returns the value it will sleep on, makes a barrier, re-checks the
//! version, and sleeps on the word only while it still holds that value.
//! A publisher stores the new version, makes a barrier, and loads the word
//! ([`take_waiters`]); if the flag is set it replaces the word by the next
//! wake count with the flag clear (compare-exchange `w -> w + 1`, `w`
//! odd) and wakes everyone sleeping on it. That is the store-buffering
//! handshake of `wake.rs` (either the waiter's re-check sees the version,
//! or the publisher sees the flag), with a counter instead of a plain flag
//! because any number of processes may wait on one value: after a wake the
//! word differs from every value a waiter announced before it, so a waiter
//! that announced before the wake and reaches its `futex_wait` only after
//! it does not sleep (the kernel finds another value), even if a later
//! waiter has set the flag again meanwhile. A failed compare-exchange
//! means another publisher has just advanced the count, after its own
//! barrier; it wakes whoever announced before it, and whoever announces
//! after it sees its version (and ours, which came before our load).
//!
//! Barriers: the waiter always makes a `SeqCst` fence and then the kernel's
//! global expedited membarrier (which any process may call); a publisher
//! whose process is registered for those membarriers makes only a compiler
//! fence, any other a `SeqCst` fence (`wake.rs` has the argument). A waiter
//! whose membarrier fails may have missed the publish of a registered
//! process: it sleeps in short slices (polls). Waiters also sleep in
//! bounded slices anyway: a peer may scribble the word (clearing the flag
//! under a sleeper, or setting it for good, which only costs publishers a
//! wake call), and a writer of an older version never wakes.
//!
//! The loom models below check the fence path with one waiter, two waits
//! in one thread, two waiters and two publishers, and that each fence and
//! the wake count are needed.

use crate::protocol::sync::{self, AtomicU32, Ordering, Site};

/// Flag bit of the waiters word: somebody sleeps on it.
pub(crate) const WAITING: u32 = 1;

/// The waiter's half, before it re-checks the version: sets the flag and
/// makes the barrier. Returns the value to sleep on (`futex_wait` with
/// it), and whether the kernel's barrier was made: if not, the caller
/// sleeps only briefly (a registered publisher may skip its fence).
pub(crate) fn announce(word: &AtomicU32) -> (u32, bool) {
    let expected = word.fetch_or(WAITING, Ordering::Relaxed) | WAITING;
    // Pairs with the publisher's fence in `take_waiters`: of the two, the
    // later one's load sees the store before the earlier one.
    sync::fence(Site::NotifyWaiterFence, Ordering::SeqCst);
    (expected, global_membarrier())
}

/// The publisher's half, after it stored the new version: whether
/// somebody waits on `word` (the flag is then cleared and the wake count
/// advanced, and the caller calls `futex_wake` on `word`). `cheap`: this
/// process is registered for global expedited membarriers, which every
/// waiter calls before it sleeps.
#[inline]
pub(crate) fn take_waiters(word: &AtomicU32, cheap: bool) -> bool {
    if cheap {
        // Keeps the version store before the load below in the code the
        // compiler emits; the waiter's membarrier orders them for the CPU.
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
    } else {
        // Pairs with the waiter's fence in `announce`.
        sync::fence(Site::NotifyWakerFence, Ordering::SeqCst);
    }
    let seen = word.load(Ordering::Relaxed);
    seen & WAITING != 0
        && word.compare_exchange(seen, seen.wrapping_add(1), Ordering::Relaxed, Ordering::Relaxed).is_ok()
}

/// `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`; `false` if it failed.
#[cfg(not(loom))]
fn global_membarrier() -> bool {
    sync::global_barrier()
}

/// Loom cannot run the kernel's barrier in other threads; the caller's
/// own part of it is the fence `announce` made already.
#[cfg(loom)]
fn global_membarrier() -> bool {
    true
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_publish_takes_the_waiters_once_and_advances_the_count() {
        let word = AtomicU32::new(0);
        assert!(!take_waiters(&word, false), "nobody waits");
        let (expected, _) = announce(&word);
        assert_eq!(expected, 1);
        let (again, _) = announce(&word);
        assert_eq!(again, 1, "a second waiter sleeps on the same value");
        assert!(take_waiters(&word, false));
        assert_eq!(word.load(Ordering::Relaxed), 2, "flag clear, one wake counted");
        assert!(!take_waiters(&word, true), "taken once");
        assert_eq!(announce(&word).0, 3, "a later waiter sleeps on a new value");
    }

    #[test]
    fn the_count_wraps() {
        let word = AtomicU32::new(u32::MAX);
        assert!(take_waiters(&word, false));
        assert_eq!(word.load(Ordering::Relaxed), 0);
    }
}

/// Loom model of the handshake (run with the other models, see `cell.rs`):
/// waiters wait for the version to move the way `wait_changed` does (check,
/// announce, re-check, futex wait, repeat) while publishers advance it and
/// wake them the way the objects' writes do. The futex is a mutex and a
/// condition variable (the kernel compares the word under its bucket
/// lock), with no timeout: a lost wake-up is a deadlock, which loom
/// reports. Each fence switched off, the publisher's compiler-fence half
/// without a kernel barrier, and a plain flag in place of the wake count,
/// must lose a wake-up.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::protocol::sync::{AtomicU64, with_mutant};
    use loom::sync::{Arc, Condvar, Mutex};

    /// A futex word and the kernel's wait queue for it.
    struct Futex {
        word: AtomicU32,
        queue: Mutex<()>,
        woken: Condvar,
    }

    impl Futex {
        fn new() -> Self {
            Self { word: AtomicU32::new(0), queue: Mutex::new(()), woken: Condvar::new() }
        }

        fn wait(&self, expected: u32) {
            let guard = self.queue.lock().unwrap();
            if self.word.load(Ordering::Relaxed) == expected {
                drop(self.woken.wait(guard).unwrap());
            }
        }

        fn wake(&self) {
            let _guard = self.queue.lock().unwrap();
            self.woken.notify_all();
        }
    }

    /// How the publisher takes the waiters.
    #[derive(Clone, Copy)]
    enum Take {
        /// `take_waiters` with its fence.
        Fenced,
        /// `take_waiters` with only the compiler fence.
        Cheap,
        /// A plain flag: swap the word to 0 (what `wake.rs` does for its
        /// single sleeper), so a waiter that announced before a wake and
        /// one that announced after it sleep on the same value.
        PlainFlag,
    }

    fn take(word: &AtomicU32, how: Take) -> bool {
        match how {
            Take::Fenced => take_waiters(word, false),
            Take::Cheap => take_waiters(word, true),
            Take::PlainFlag => {
                sync::fence(Site::NotifyWakerFence, Ordering::SeqCst);
                word.load(Ordering::Relaxed) & WAITING != 0 && word.swap(0, Ordering::Relaxed) & WAITING != 0
            }
        }
    }

    /// `wait_changed` without clock: returns the version it saw.
    fn wait_changed(version: &AtomicU64, futex: &Futex, since: u64) -> u64 {
        loop {
            // Pairs with the publisher's Release increment.
            let seen = version.load(Ordering::Acquire);
            if seen != since {
                return seen;
            }
            let (expected, barrier_made) = announce(&futex.word);
            assert!(barrier_made);
            let seen = version.load(Ordering::Acquire);
            if seen != since {
                return seen;
            }
            futex.wait(expected);
        }
    }

    fn publish(version: &AtomicU64, futex: &Futex, how: Take) {
        version.fetch_add(1, Ordering::Release);
        if take(&futex.word, how) {
            futex.wake();
        }
    }

    /// One waiter, one publish (two threads, every interleaving): the
    /// waiter wakes.
    fn waiter_wakes(how: Take) {
        loom::model(move || {
            let version = Arc::new(AtomicU64::new(0));
            let futex = Arc::new(Futex::new());
            let publisher = {
                let (version, futex) = (Arc::clone(&version), Arc::clone(&futex));
                loom::thread::spawn(move || publish(&version, &futex, how))
            };
            assert_eq!(wait_changed(&version, &futex, 0), 1);
            publisher.join().unwrap();
        });
    }

    /// Runs a model of three threads with at most two preemptions: every
    /// interleaving of three threads is more than the models can afford,
    /// and the lost wake-ups these models look for need no more (the two
    /// fences are checked exhaustively by `waiter_wakes`).
    fn bounded(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(2);
        builder.check(f);
    }

    /// Two waiters, one publish: both wake (a waiter that announced
    /// before the wake and reaches its sleep after it must not sleep on a
    /// word that the other waiter's later announcement made look
    /// unchanged).
    fn two_waiters_both_wake(how: Take) {
        bounded(move || {
            let version = Arc::new(AtomicU64::new(0));
            let futex = Arc::new(Futex::new());
            let other = {
                let (version, futex) = (Arc::clone(&version), Arc::clone(&futex));
                loom::thread::spawn(move || assert_eq!(wait_changed(&version, &futex, 0), 1))
            };
            let publisher = {
                let (version, futex) = (Arc::clone(&version), Arc::clone(&futex));
                loom::thread::spawn(move || publish(&version, &futex, how))
            };
            assert_eq!(wait_changed(&version, &futex, 0), 1);
            other.join().unwrap();
            publisher.join().unwrap();
        });
    }

    /// Two waits in flight in one thread (as two threads of one process
    /// may have), against one publish, in every interleaving: both
    /// announce before either sleeps, and each would sleep if its re-check
    /// found nothing. The waits sleep only once the publisher is done, so
    /// no wake-up is still to come: a wait that would sleep on the value
    /// it announced, the word unchanged, would sleep for ever. With a
    /// plain flag, the publisher can take the first announcement, the
    /// second set the flag again (and see the publish), and the first
    /// then finds the word unchanged; the wake count makes it differ.
    fn two_waits_in_one_thread(how: Take) {
        loom::model(move || {
            let version = Arc::new(AtomicU64::new(0));
            let futex = Arc::new(Futex::new());
            let publisher = {
                let (version, futex) = (Arc::clone(&version), Arc::clone(&futex));
                loom::thread::spawn(move || publish(&version, &futex, how))
            };
            let (first, _) = announce(&futex.word);
            let first_saw = version.load(Ordering::Acquire) != 0;
            let (second, _) = announce(&futex.word);
            let second_saw = version.load(Ordering::Acquire) != 0;
            publisher.join().unwrap();
            for (expected, saw) in [(first, first_saw), (second, second_saw)] {
                let word = futex.word.load(Ordering::Relaxed);
                assert!(saw || word != expected, "a wait would sleep on {expected} with no wake-up to come");
            }
        });
    }

    /// Two publishers, one waiter that waits until both have published:
    /// a publisher whose compare-exchange fails (the other took the
    /// waiters) loses nothing.
    fn two_publishers_wake_the_waiter(how: Take) {
        bounded(move || {
            let version = Arc::new(AtomicU64::new(0));
            let futex = Arc::new(Futex::new());
            let publishers: Vec<_> = (0..2)
                .map(|_| {
                    let (version, futex) = (Arc::clone(&version), Arc::clone(&futex));
                    loom::thread::spawn(move || publish(&version, &futex, how))
                })
                .collect();
            let mut seen = 0;
            while seen < 2 {
                seen = wait_changed(&version, &futex, seen);
            }
            for publisher in publishers {
                publisher.join().unwrap();
            }
        });
    }

    #[test]
    fn loom_notify_handshake_holds() {
        with_mutant(None, || {
            waiter_wakes(Take::Fenced);
            two_waits_in_one_thread(Take::Fenced);
            two_waiters_both_wake(Take::Fenced);
            two_publishers_wake_the_waiter(Take::Fenced);
        });
    }

    #[test]
    fn loom_notify_handshake_mutants_fail() {
        let fails = |site: Option<Site>, model: fn(Take), how: Take| {
            with_mutant(site, || std::panic::catch_unwind(|| model(how)).is_err())
        };
        for site in [Site::NotifyWaiterFence, Site::NotifyWakerFence] {
            assert!(fails(Some(site), waiter_wakes, Take::Fenced), "passes with {site:?} switched off");
        }
        assert!(fails(None, waiter_wakes, Take::Cheap), "passes with the compiler fence and no kernel barrier");
        assert!(fails(None, two_waits_in_one_thread, Take::PlainFlag), "passes with a plain flag for the wake count");
    }

    /// The async path (`segment/waiter.rs`, `object/future.rs`): a future
    /// polled once on one thread (announce, re-check, register its word,
    /// ring the doorbell), a publisher, and the waiter thread, which reads
    /// the doorbell, then the registry, sleeps on the doorbell and the
    /// registered word at once (`futex_waitv`), and on waking polls the
    /// future of a changed word again (its waker, run inline here). The
    /// waiter thread's sleep panics if it would last for ever: nothing
    /// woke it and the other two threads are done. The two ways to get
    /// the order wrong must lose a wake-up: ringing the doorbell before
    /// registering, and the thread reading the registry before the
    /// doorbell; and so must the publisher without its fence.
    mod waiter_thread {
        use super::*;
        use loom::sync::atomic::AtomicUsize;

        /// Word ids for the kernel model.
        const DOORBELL: usize = 0;
        const WAITERS: usize = 1;

        struct World {
            version: AtomicU64,
            waiters: AtomicU32,
            doorbell: AtomicU32,
            /// The registry: the value the future armed its word with,
            /// and whether the future has completed (so the model ends).
            registry: Mutex<(Option<u32>, bool)>,
            /// The kernel's wait queue for the one sleeper (the waiter
            /// thread): the words it sleeps on, and whether a wake came.
            kernel: Mutex<(Vec<usize>, bool)>,
            /// Threads other than the waiter thread that are done.
            finished: AtomicUsize,
        }

        #[derive(Clone, Copy, PartialEq, Eq)]
        pub(super) enum Order {
            Right,
            /// The future rings the doorbell before it registers.
            BellFirst,
            /// The thread reads the registry before the doorbell.
            RegistryFirst,
        }

        impl World {
            fn word(&self, id: usize) -> &AtomicU32 {
                if id == DOORBELL { &self.doorbell } else { &self.waiters }
            }

            /// `futex_waitv`: sleeps unless a word differs from its value,
            /// until a wake of one of them.
            fn wait_any(&self, words: &[(usize, u32)]) {
                {
                    let mut kernel = self.kernel.lock().unwrap();
                    if words.iter().any(|(id, expected)| self.word(*id).load(Ordering::Relaxed) != *expected) {
                        return;
                    }
                    *kernel = (words.iter().map(|(id, _)| *id).collect(), false);
                }
                loop {
                    {
                        let mut kernel = self.kernel.lock().unwrap();
                        if kernel.1 {
                            kernel.0.clear();
                            return;
                        }
                        // Pairs with the Release increments: what the
                        // others did, their wakes included, is visible.
                        assert!(
                            self.finished.load(Ordering::Acquire) < 2,
                            "lost wake-up: the waiter thread sleeps for ever"
                        );
                    }
                    loom::thread::yield_now();
                }
            }

            /// `futex_wake` on word `id`.
            fn wake(&self, id: usize) {
                let mut kernel = self.kernel.lock().unwrap();
                if kernel.0.contains(&id) {
                    kernel.1 = true;
                }
            }

            fn ring(&self) {
                self.doorbell.fetch_add(1, Ordering::Relaxed);
                self.wake(DOORBELL);
            }

            /// One poll of `changed(0)`: whether it is ready (then it
            /// marks the registry done).
            fn poll(&self, order: Order) -> bool {
                let ready = || {
                    self.registry.lock().unwrap().1 = true;
                    true
                };
                if self.version.load(Ordering::Acquire) != 0 {
                    return ready();
                }
                let (expected, _) = announce(&self.waiters);
                if self.version.load(Ordering::Acquire) != 0 {
                    return ready();
                }
                if order == Order::BellFirst {
                    self.ring();
                    self.registry.lock().unwrap().0 = Some(expected);
                } else {
                    self.registry.lock().unwrap().0 = Some(expected);
                    self.ring();
                }
                false
            }

            fn publish(&self) {
                self.version.fetch_add(1, Ordering::Release);
                if take_waiters(&self.waiters, false) {
                    self.wake(WAITERS);
                }
            }
        }

        pub(super) fn future_wakes(order: Order) {
            bounded(move || {
                let world = Arc::new(World {
                    version: AtomicU64::new(0),
                    waiters: AtomicU32::new(0),
                    doorbell: AtomicU32::new(0),
                    registry: Mutex::new((None, false)),
                    kernel: Mutex::new((Vec::new(), false)),
                    finished: AtomicUsize::new(0),
                });
                let first_poll = {
                    let world = Arc::clone(&world);
                    loom::thread::spawn(move || {
                        if world.poll(order) {
                            world.ring();
                        }
                        world.finished.fetch_add(1, Ordering::Release);
                    })
                };
                let publisher = {
                    let world = Arc::clone(&world);
                    loom::thread::spawn(move || {
                        world.publish();
                        world.finished.fetch_add(1, Ordering::Release);
                    })
                };
                // The waiter thread.
                loop {
                    let (bell, (armed, done)) = if order == Order::RegistryFirst {
                        let registry = *world.registry.lock().unwrap();
                        (world.doorbell.load(Ordering::Relaxed), registry)
                    } else {
                        let bell = world.doorbell.load(Ordering::Relaxed);
                        (bell, *world.registry.lock().unwrap())
                    };
                    if done {
                        break;
                    }
                    let mut words = vec![(DOORBELL, bell)];
                    words.extend(armed.map(|expected| (WAITERS, expected)));
                    world.wait_any(&words);
                    // A changed armed word: take it, run its waker.
                    let taken = {
                        let mut registry = world.registry.lock().unwrap();
                        match registry.0 {
                            Some(expected) if world.waiters.load(Ordering::Relaxed) != expected => {
                                registry.0 = None;
                                true
                            }
                            _ => false,
                        }
                    };
                    if taken && world.poll(order) {
                        break;
                    }
                }
                first_poll.join().unwrap();
                publisher.join().unwrap();
            });
        }
    }

    #[test]
    fn loom_waiter_thread_holds() {
        with_mutant(None, || waiter_thread::future_wakes(waiter_thread::Order::Right));
    }

    #[test]
    fn loom_waiter_thread_mutants_fail() {
        use waiter_thread::Order;
        for order in [Order::BellFirst, Order::RegistryFirst] {
            let failed = with_mutant(None, || std::panic::catch_unwind(|| waiter_thread::future_wakes(order)).is_err());
            assert!(failed, "the waiter-thread model passes with the registration out of order");
        }
        let failed = with_mutant(Some(Site::NotifyWakerFence), || {
            std::panic::catch_unwind(|| waiter_thread::future_wakes(Order::Right)).is_err()
        });
        assert!(failed, "the waiter-thread model passes without the publisher's fence");
    }
}
