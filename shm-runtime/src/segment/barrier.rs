//! Which half of the ring wake handshake this process makes
//! ([`crate::protocol::wake`]): registered for global expedited
//! membarriers, or plain fences.

use crate::protocol::wake::Barrier;
use crate::sys::{membarrier, pid};
use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// What [`this_process`] last found, for [`known_registered`]: the pid
/// that asked shifted left by one, and bit 0 set when it is registered
/// for global expedited membarriers; 0 before any asking.
static KNOWN: AtomicU64 = AtomicU64::new(0);

/// Environment variable that, set to `fence`, makes this process use
/// [`Barrier::Fence`] even where membarrier works (for comparisons).
pub(crate) const BARRIER_ENV: &str = "SHMRS_WAKE_BARRIER";

/// This process's barrier: [`Barrier::Membarrier`] once it registered for
/// global expedited membarriers (asked once per process, then cached),
/// [`Barrier::Fence`] where the kernel lacks them or refuses them (or
/// [`BARRIER_ENV`] says `fence`).
pub(crate) fn this_process() -> Barrier {
    /// The pid that asked, and the answer: a forked child asks again.
    static CACHE: Mutex<Option<(u64, Barrier)>> = Mutex::new(None);
    let pid = pid::current();
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    match *cache {
        Some((asked, barrier)) if asked == pid => barrier,
        _ => {
            let fence_asked = std::env::var_os(BARRIER_ENV).is_some_and(|v| v == "fence");
            let barrier = if !fence_asked && membarrier::register_global_expedited() {
                Barrier::Membarrier
            } else {
                Barrier::Fence
            };
            *cache = Some((pid, barrier));
            // Relaxed: a hint for `known_registered`, which falls back to
            // the fence (always correct) when it reads anything else.
            KNOWN.store(pid << 1 | u64::from(barrier == Barrier::Membarrier), Ordering::Relaxed);
            barrier
        }
    }
}

/// Whether this process is known to be registered for global expedited
/// membarriers: [`this_process`] has said so, in this process (not in a
/// parent before a `fork`). For hot paths: one load and the cached pid, no
/// lock and no system call; `false` (use the fence) until something in
/// this process has asked.
#[inline]
pub(crate) fn known_registered() -> bool {
    // Relaxed: see the store in `this_process`.
    let known = KNOWN.load(Ordering::Relaxed);
    known & 1 == 1 && known >> 1 == pid::current()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::sync::AtomicU32;
    use crate::protocol::wake::{AWAKE, announce_sleep, take_sleeper};

    #[test]
    fn this_processs_barrier_takes_a_sleeper_once() {
        let word = AtomicU32::new(AWAKE);
        let barrier = this_process();
        assert_eq!(barrier, this_process(), "cached");
        assert_eq!(known_registered(), barrier == Barrier::Membarrier);
        assert!(announce_sleep(&word, barrier));
        assert!(take_sleeper(&word, barrier.cheap_wake(barrier.mode_word())));
        assert!(!take_sleeper(&word, false), "the first take reset the word");
    }
}
