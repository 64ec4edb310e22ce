//! The writer lock: one word holding the pid of the process that writes.
//!
//! Not a process-shared mutex: a holder that dies does not block anyone for
//! good. A waiter that finds the lock held checks whether the holder is
//! alive and takes the lock over from a dead one. Readers of strings and
//! bytes never take it; a `Shared<T>` reader takes it only as a fallback
//! after 1000 lock-free attempts failed (see `Shared::read_bytes`).

use crate::format::identity::pid_of;
use crate::protocol::sync::{self, AtomicU64, Ordering, Site};
use std::time::{Duration, Instant};

/// Lock word value when nobody writes.
pub(crate) const UNLOCKED: u64 = 0;

/// How long a writer waits for a live holder by default.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Holds the lock until dropped.
pub(crate) struct LockGuard<'a> {
    word: &'a AtomicU64,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // Release pairs with the Acquire of the next holder's successful
        // compare-exchange: our stores happen before its loads.
        self.word.store(UNLOCKED, sync::at(Site::LockRelease, Ordering::Release));
    }
}

/// Who takes a writer lock: its identity word (see `FORMAT.md`, "Process
/// identity"), and how to tell whether a holder it finds is alive. The
/// liveness check is the caller's (the segment layer's, through the
/// kernel), so this protocol makes no system call of its own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Claimant {
    /// Stored in the lock word while held.
    pub(crate) identity: u64,
    /// Whether the process a holder's identity names is alive:
    /// `Some(false)` only when proven dead (its lock is then taken over);
    /// `None` (cannot tell) counts as dead too, as a word no live process
    /// could have written.
    pub(crate) alive: fn(u64) -> Option<bool>,
}

/// In tests and the fuzz entry points a bare number is a claimant whose
/// identity is a pid, checked by the kernel's pid check; in loom models
/// every holder counts as alive (the models kill no thread).
#[cfg(any(test, loom, fuzzing))]
impl From<u64> for Claimant {
    fn from(identity: u64) -> Self {
        #[cfg(loom)]
        let alive: fn(u64) -> Option<bool> = |_| Some(true);
        #[cfg(not(loom))]
        let alive: fn(u64) -> Option<bool> = crate::sys::process::alive;
        Self { identity, alive }
    }
}

/// Takes the lock in `word` for `claimant`, waiting up to `wait` while a
/// live process holds it (a dead holder's lock is taken over). On timeout
/// returns the holder's pid.
pub(crate) fn acquire(
    word: &AtomicU64,
    claimant: impl Into<Claimant>,
    wait: Duration,
) -> Result<LockGuard<'_>, (u64, Duration)> {
    let Claimant { identity: me, alive } = claimant.into();
    let mut expected = UNLOCKED;
    let mut spins = 0u32;
    let mut started: Option<Instant> = None;
    loop {
        // Acquire pairs with the Release store in `LockGuard::drop` of the
        // previous holder (or the store that made `expected` stale).
        match word.compare_exchange_weak(
            expected,
            me,
            sync::at(Site::LockAcquire, Ordering::Acquire),
            Ordering::Relaxed,
        ) {
            Ok(_) => return Ok(LockGuard { word }),
            Err(UNLOCKED) => expected = UNLOCKED,
            Err(holder) => {
                expected = UNLOCKED;
                spins += 1;
                if spins < 64 {
                    sync::spin_loop();
                    continue;
                }
                // Slow path: a holder that stays. A dead one (or a word no
                // live process could have written) is taken over by
                // compare-exchanging its exact value.
                if alive(holder) != Some(true) {
                    expected = holder;
                    continue;
                }
                let start = *started.get_or_insert_with(Instant::now);
                let waited = start.elapsed();
                if waited >= wait {
                    return Err((pid_of(holder), waited));
                }
                if spins < 256 {
                    sync::yield_now();
                } else {
                    sync::sleep(Duration::from_micros(100));
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// This process, by pid, with the kernel's pid check.
    fn current_pid() -> Claimant {
        Claimant { identity: u64::from(std::process::id()), alive: crate::sys::process::alive }
    }

    #[test]
    fn lock_excludes_and_releases() {
        let word = AtomicU64::new(UNLOCKED);
        let me = current_pid();
        let guard = acquire(&word, me, LOCK_WAIT).unwrap();
        assert_eq!(word.load(Ordering::Relaxed), me.identity);
        // Held by a live process (us): a second attempt times out.
        let err = acquire(&word, me, Duration::from_millis(20)).err().unwrap();
        assert_eq!(err.0, pid_of(me.identity));
        assert!(err.1 >= Duration::from_millis(20));
        drop(guard);
        assert_eq!(word.load(Ordering::Relaxed), UNLOCKED);
    }

    #[test]
    fn lock_of_dead_or_garbage_holder_is_taken_over() {
        let me = current_pid();
        // Not a pid any process can have.
        let word = AtomicU64::new(u64::MAX);
        drop(acquire(&word, me, Duration::from_millis(20)).unwrap());
        // A child that has exited and been reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = u64::from(child.id());
        child.wait().unwrap();
        let word = AtomicU64::new(dead);
        let guard = acquire(&word, me, Duration::from_millis(20)).unwrap();
        assert_eq!(word.load(Ordering::Relaxed), me.identity);
        drop(guard);
    }

    #[test]
    fn threads_never_overlap_in_the_lock() {
        let word = AtomicU64::new(UNLOCKED);
        let inside = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..2000 {
                        let _g = acquire(&word, current_pid(), LOCK_WAIT).unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::Relaxed), 0);
                        inside.fetch_sub(1, Ordering::Relaxed);
                    }
                });
            }
        });
    }
}
