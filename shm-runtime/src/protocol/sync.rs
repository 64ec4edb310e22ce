//! The atomics the cross-process protocols run on: `core`'s, or loom's when
//! the crate is built with `--cfg loom` for the models.
//!
//! Every ordering and fence a model checks goes through [`at`] or
//! [`fence`] with the [`Site`] it stands for. In a normal build both are
//! the identity. In a loom build a model can switch one site off (the
//! ordering becomes `Relaxed`, the fence disappears) to show that the
//! model fails without it: a "mutant". See `cell.rs`, `ring.rs`, `wake.rs`,
//! `notify.rs`, `publication.rs`, `role.rs`, `fragment.rs` and
//! `broadcast.rs` for the
//! models and the list of sites each one catches.

pub(crate) use core::sync::atomic::Ordering;
#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU32, AtomicU64};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64};

/// A place in a protocol whose ordering a loom mutant can weaken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(loom), allow(dead_code, reason = "the sites name call sites; only loom builds compare them"))]
pub(crate) enum Site {
    /// Byte cell writer: `fence(Release)` after marking its copy odd.
    CellWriterFence,
    /// Byte cell writer: `Release` store of the even sequence word.
    CellSeqPublish,
    /// Byte cell reader: `Acquire` load of the sequence word before a copy.
    CellSeqLoad,
    /// Byte cell reader: `fence(Acquire)` before re-checking the sequence.
    CellReaderFence,
    /// Ring producer: `Release` store of the write position (publishes
    /// the slots written before it).
    RingPublish,
    /// Ring consumer: `Acquire` load of the write position.
    RingTailLoad,
    /// Ring producer: `fence(Release)` after loading the read position,
    /// before reusing the slots it frees (for readers that claim nothing).
    RingReuseFence,
    /// Ring reader that claims nothing (`Peek`): `fence(Acquire)` between
    /// copying an item and re-loading the read position.
    RingPeekFence,
    /// Ring sleeper: `fence(SeqCst)` between storing `SLEEPING` and
    /// re-checking the other side's position (`wake.rs`).
    WakeSleeperFence,
    /// Ring waker: `fence(SeqCst)` between storing its position and
    /// loading the sleeper's wait word (`wake.rs`).
    WakeWakerFence,
    /// Change waiter: `fence(SeqCst)` between announcing itself in the
    /// waiters word and re-checking the version (`notify.rs`).
    NotifyWaiterFence,
    /// Change publisher: `fence(SeqCst)` between storing the new version
    /// and loading the waiters word (`notify.rs`).
    NotifyWakerFence,
    /// Writer lock: `Acquire` of the taking compare-exchange.
    LockAcquire,
    /// Writer lock: `Release` store that frees it.
    LockRelease,
    /// Segment creator: `Release` store of the ready state word
    /// (publishes the header and the initial payload).
    HeaderPublish,
    /// Segment opener: `Acquire` load of the state word.
    HeaderStateLoad,
    /// Ring role: `Acquire` of the claiming compare-exchange (sees what
    /// the previous holder did before it let go).
    RoleClaim,
    /// Ring role: `Release` of the compare-exchange that lets it go.
    RoleLetGo,
    /// Ring role: `Acquire` load of the other side's role word by a
    /// waiter (sees what that side published before it let go).
    RolePeerLoad,
    /// Ring role: `SeqCst` fence between letting go and looking at the
    /// other side's word, so that of two ends letting go at once at least
    /// one sees the other gone (and removes the name).
    RoleLastOut,
    /// Broadcast publisher: `Release` store of the write position.
    BcastPublish,
    /// Broadcast subscriber: `Acquire` load of the write position.
    BcastTailLoad,
    /// Broadcast publisher (overwrite): `fence(Release)` after marking a
    /// slot `BUSY`, before its words change.
    BcastSlotWriterFence,
    /// Broadcast subscriber (overwrite): `fence(Acquire)` between copying
    /// an item and re-checking its slot's sequence word.
    BcastSlotReaderFence,
    /// Broadcast publisher (backpressure): `fence(SeqCst)` between
    /// storing its limit and loading the join count.
    BcastRefreshFence,
    /// Broadcast subscriber (backpressure): `fence(SeqCst)` between
    /// joining and loading the publisher's limit.
    BcastJoinFence,
    /// Broadcast publisher (backpressure): `Release` store of its limit.
    BcastLimitStore,
    /// Broadcast subscriber (backpressure): `Acquire` load of the
    /// publisher's limit when it joins.
    BcastLimitLoad,
}

/// The ordering to use at `site`: `ordering`.
#[cfg(not(loom))]
#[inline]
pub(crate) fn at(_site: Site, ordering: Ordering) -> Ordering {
    ordering
}

/// A fence of `ordering` at `site`.
#[cfg(not(loom))]
#[inline]
pub(crate) fn fence(_site: Site, ordering: Ordering) {
    core::sync::atomic::fence(ordering);
}

/// A busy-wait hint inside a retry loop.
#[cfg(not(loom))]
#[inline]
pub(crate) fn spin_loop() {
    core::hint::spin_loop();
}

/// Gives up the processor inside a retry loop.
#[cfg(not(loom))]
pub(crate) fn yield_now() {
    std::thread::yield_now();
}

/// Sleeps inside a retry loop that has waited long already.
#[cfg(not(loom))]
pub(crate) fn sleep(duration: std::time::Duration) {
    std::thread::sleep(duration);
}

/// The kernel's global memory barrier (`membarrier(GLOBAL_EXPEDITED)`,
/// through [`crate::sys`]: the one place a protocol reaches the system,
/// switched here like the atomics); `false` if it failed.
#[cfg(not(loom))]
pub(crate) fn global_barrier() -> bool {
    crate::sys::membarrier::global_expedited()
}

#[cfg(loom)]
pub(crate) use self::model::*;

/// The loom build: loom's atomics and fences, and one switchable mutant.
#[cfg(loom)]
mod model {
    use super::{Ordering, Site};
    use std::sync::{Mutex, PoisonError};

    /// The site a running model has switched off, if any.
    static MUTANT: Mutex<Option<Site>> = Mutex::new(None);
    /// Serializes models, since the switch is process-wide and the test
    /// harness runs tests on several threads.
    static MODELS: Mutex<()> = Mutex::new(());

    fn mutant() -> Option<Site> {
        *MUTANT.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` (which runs loom models) with `site` switched off.
    pub(crate) fn with_mutant<R>(site: Option<Site>, f: impl FnOnce() -> R) -> R {
        let _serial = MODELS.lock().unwrap_or_else(PoisonError::into_inner);
        *MUTANT.lock().unwrap_or_else(PoisonError::into_inner) = site;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        *MUTANT.lock().unwrap_or_else(PoisonError::into_inner) = None;
        result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Runs each model with its site weakened and panics naming those that
    /// still passed: a model that cannot see a missing ordering is no
    /// proof that the ordering suffices.
    pub(crate) fn assert_mutants_fail(cases: &[(Site, fn(), &str)]) {
        let survived: Vec<(Site, &str)> = cases
            .iter()
            .filter(|(site, model, _)| !with_mutant(Some(*site), || std::panic::catch_unwind(*model).is_err()))
            .map(|(site, _, name)| (*site, *name))
            .collect();
        assert!(survived.is_empty(), "models pass with these orderings weakened: {survived:?}");
    }

    /// `Relaxed` if `site` is the mutant, `ordering` otherwise.
    pub(crate) fn at(site: Site, ordering: Ordering) -> Ordering {
        if mutant() == Some(site) { Ordering::Relaxed } else { ordering }
    }

    /// Loom's fence, unless `site` is the mutant.
    pub(crate) fn fence(site: Site, ordering: Ordering) {
        if mutant() != Some(site) {
            loom::sync::atomic::fence(ordering);
        }
    }

    /// Lets loom run another thread.
    pub(crate) fn spin_loop() {
        loom::thread::yield_now();
    }

    /// Lets loom run another thread.
    pub(crate) fn yield_now() {
        loom::thread::yield_now();
    }

    /// Lets loom run another thread (models have no clock).
    pub(crate) fn sleep(_duration: std::time::Duration) {
        loom::thread::yield_now();
    }
}
