//! The wake handshake of the rings: a side about to sleep on its futex
//! word, and the other side, which has just published (or freed) slots
//! and must wake it.
//!
//! The sleeper stores `SLEEPING` in its wait word (S), then re-checks the
//! other side's position (L) and sleeps only if nothing came. The waker
//! stores its position (P), then loads the sleeper's wait word (W) and
//! wakes it only if it reads `SLEEPING`. That is the store-buffering
//! (Dekker) pattern: unless something orders each side's store before its
//! load, both loads can miss both stores (each store still in its CPU's
//! store buffer), and the sleeper sleeps on a publish nobody wakes it for
//! (until its next liveness slice, 20 ms later).
//!
//! Two ways to order them, chosen per process ([`Barrier`]):
//!
//! - [`Barrier::Fence`], always correct: a `SeqCst` fence between S and L
//!   and another between P and W. Either fence comes first in their single
//!   total order; the load after the later one sees the store before the
//!   earlier one. The waker pays a full fence on every publish: on every
//!   single `write` and `read`.
//! - [`Barrier::Membarrier`], asymmetric: the sleeper, between S and L,
//!   calls `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, which makes the
//!   kernel run a full memory barrier on every CPU that is running a
//!   thread of a process registered with
//!   `MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED` (a thread that is not
//!   running passed a context switch, itself a full barrier), with full
//!   barriers at the call's entry and exit. The waker then needs only the
//!   compiler to keep P before W (`compiler_fence`); the CPU may still
//!   reorder them. Correctness, when the waker's process is registered:
//!   let B be the point of the waker's instruction stream where the
//!   kernel's barrier ran. S was visible to all CPUs before the kernel
//!   sent that barrier (the entry barrier). If B is before P, W comes after
//!   B and reads `SLEEPING`: the waker wakes the sleeper. If B is after P,
//!   P was visible before the call returned, and L (after the exit
//!   barrier) sees it: the sleeper does not sleep. The expensive half runs
//!   once per sleep, after the sleeper has already spun and yielded.
//!
//! The waker may use the cheap half only when the sleeper will call
//! `membarrier`, and the sleeper's call helps only when the waker's
//! process is registered. So each side records in the ring (its mode
//! word) whether its process is registered, which also means it calls
//! `membarrier` before it sleeps, and the waker uses the compiler fence
//! only when both its own process and the peer's are registered;
//! otherwise it fences. A sleeper whose `membarrier` call fails (it should
//! not, once registered) does not sleep on the futex but polls.
//!
//! One window remains: a process that is not registered (a sandbox that
//! refuses `membarrier`) taking over the role of a dead registered one
//! stores its mode word after its claim, and a waker that loaded the old
//! word just before may skip its fence for one publish. Such a lost
//! wake-up costs the sleeper one liveness slice (20 ms), never a hang: it
//! re-checks after every slice.
//!
//! The loom model (`loom_models` below) checks the fence path, and that each
//! of its two fences is needed. The membarrier path cannot be modelled:
//! loom has no operation that runs a fence in another thread at a point
//! of that thread's choosing (the kernel's barrier); a model of it is the
//! fence path again (the model shows that the compiler fence alone, with
//! the sleeper's fence, loses wake-ups).

use crate::protocol::sync::{self, AtomicU32, Ordering, Site};

/// Wait word value while its side is awake.
pub(crate) const AWAKE: u32 = 0;
/// Wait word value while its side sleeps waiting for the other.
pub(crate) const SLEEPING: u32 = 1;

/// Mode word value: the side's process is registered for
/// `MEMBARRIER_CMD_GLOBAL_EXPEDITED` and calls it before it sleeps. Any
/// other value (0 in a fresh ring) means [`Barrier::Fence`].
const MODE_MEMBARRIER: u64 = 1;

/// How a process orders its halves of the handshake (see the module
/// comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Barrier {
    /// A `SeqCst` fence on each side.
    Fence,
    /// This process is registered for global expedited membarriers: it
    /// calls one before it sleeps, and wakes a peer that does the same
    /// with only a compiler fence.
    Membarrier,
}

impl Barrier {
    /// What a side stores in its mode word.
    pub(crate) fn mode_word(self) -> u64 {
        match self {
            Self::Fence => 0,
            Self::Membarrier => MODE_MEMBARRIER,
        }
    }

    /// Whether a waker of this barrier may wake a peer whose mode word
    /// holds `peer_mode` with only a compiler fence.
    #[inline]
    pub(crate) fn cheap_wake(self, peer_mode: u64) -> bool {
        self == Self::Membarrier && peer_mode == MODE_MEMBARRIER
    }
}

/// The sleeper's half, before it re-checks the other side's position:
/// stores `SLEEPING` in its wait `word` and makes the barrier. Returns
/// `false` if the barrier could not be made: then the caller must not
/// sleep on the futex (it may poll).
pub(crate) fn announce_sleep(word: &AtomicU32, barrier: Barrier) -> bool {
    word.store(SLEEPING, Ordering::Relaxed);
    match barrier {
        Barrier::Fence => {
            // Pairs with the waker's fence in `take_sleeper`: of the two,
            // the later one's load sees the store before the earlier one.
            sync::fence(Site::WakeSleeperFence, Ordering::SeqCst);
            true
        }
        Barrier::Membarrier => global_membarrier(),
    }
}

/// The waker's half, after it stored its position: whether the peer
/// sleeps on its wait `word` (which it then resets, so one publish wakes
/// it once). The caller then calls `futex_wake` on `word`. `cheap`: the
/// peer calls `membarrier` before it sleeps and this process is
/// registered ([`Barrier::cheap_wake`]).
#[inline]
pub(crate) fn take_sleeper(word: &AtomicU32, cheap: bool) -> bool {
    if cheap {
        // Keeps the position store before the load below in the code the
        // compiler emits; the sleeper's `membarrier` orders them for the
        // CPU (module comment).
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
    } else {
        // Pairs with the sleeper's fence in `announce_sleep`.
        sync::fence(Site::WakeWakerFence, Ordering::SeqCst);
    }
    word.load(Ordering::Relaxed) == SLEEPING && word.swap(AWAKE, Ordering::Relaxed) == SLEEPING
}

/// `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`; `false` if it failed.
#[cfg(not(loom))]
fn global_membarrier() -> bool {
    sync::global_barrier()
}

/// Loom cannot run the kernel's barrier in the other thread; the caller's
/// own part of it is a `SeqCst` fence.
#[cfg(loom)]
fn global_membarrier() -> bool {
    sync::fence(Site::WakeSleeperFence, Ordering::SeqCst);
    true
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn only_two_registered_sides_skip_the_fence() {
        assert!(Barrier::Membarrier.cheap_wake(Barrier::Membarrier.mode_word()));
        assert!(!Barrier::Membarrier.cheap_wake(Barrier::Fence.mode_word()));
        assert!(!Barrier::Fence.cheap_wake(Barrier::Membarrier.mode_word()));
        assert!(!Barrier::Membarrier.cheap_wake(0xdead), "garbage is the fence");
    }

    #[test]
    fn a_sleeper_is_taken_once() {
        let word = AtomicU32::new(AWAKE);
        for barrier in [Barrier::Fence, Barrier::Membarrier] {
            word.store(AWAKE, Ordering::Relaxed);
            // A process not registered for membarrier may get `false` from
            // the kernel's barrier: then it must not sleep.
            if !announce_sleep(&word, barrier) {
                assert_eq!(barrier, Barrier::Membarrier);
                continue;
            }
            assert!(take_sleeper(&word, barrier.cheap_wake(barrier.mode_word())));
            assert!(!take_sleeper(&word, false), "the first take reset the word");
        }
    }
}

/// Loom model of the handshake (run with the other models, see `cell.rs`):
/// a consumer waits for one item the way `End::wait_for` does (re-check,
/// announce, re-check, futex wait), while the producer publishes it and
/// wakes the consumer the way `End::notify_peer` does. The futex is
/// modelled by a mutex and a condition variable (the kernel compares the
/// word under its bucket lock), with no timeout: a lost wake-up is a
/// deadlock, which loom reports. Each fence switched off, and the waker's
/// compiler-fence half without a kernel barrier, must lose a wake-up.
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

    /// One publish and one wait; `cheap` is the waker's half.
    fn wake_up_is_never_lost(cheap: bool) {
        loom::model(move || {
            let tail = Arc::new(AtomicU64::new(0));
            let futex = Arc::new(Futex { word: AtomicU32::new(AWAKE), queue: Mutex::new(()), woken: Condvar::new() });
            let producer = {
                let (tail, futex) = (Arc::clone(&tail), Arc::clone(&futex));
                loom::thread::spawn(move || {
                    tail.store(1, Ordering::Release);
                    if take_sleeper(&futex.word, cheap) {
                        futex.wake();
                    }
                })
            };
            while tail.load(Ordering::Acquire) == 0 {
                assert!(announce_sleep(&futex.word, Barrier::Fence));
                if tail.load(Ordering::Acquire) != 0 {
                    futex.word.store(AWAKE, Ordering::Relaxed);
                    break;
                }
                futex.wait(SLEEPING);
                futex.word.store(AWAKE, Ordering::Relaxed);
            }
            producer.join().unwrap();
        });
    }

    #[test]
    fn loom_wake_handshake_holds() {
        with_mutant(None, || wake_up_is_never_lost(false));
    }

    #[test]
    fn loom_wake_handshake_mutants_fail() {
        for site in [Site::WakeSleeperFence, Site::WakeWakerFence] {
            let failed = with_mutant(Some(site), || std::panic::catch_unwind(|| wake_up_is_never_lost(false)).is_err());
            assert!(failed, "the wake model passes with {site:?} switched off");
        }
        let failed = with_mutant(None, || std::panic::catch_unwind(|| wake_up_is_never_lost(true)).is_err());
        assert!(failed, "the wake model passes with the waker's compiler fence and no kernel barrier");
    }
}
