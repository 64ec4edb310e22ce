//! Change notification for the value objects: waiting for a version word
//! in the segment to move, and waking those who wait after a publish. The
//! handshake is `protocol/notify.rs`; this file adds the clock, the
//! slices and the futex calls.

use crate::protocol::notify;
use crate::segment::{self, barrier};
use core::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

/// Polls before a waiting call starts yielding the processor (and checks
/// in the first poll of a `changed()` future).
pub(crate) const SPINS: u32 = 100;
/// Yields before a waiting call sleeps on the futex (and polls of a
/// `changed()` future that yield to the executor before it arms).
pub(crate) const YIELDS: u32 = 10;
/// Longest single futex sleep: a wake-up lost to a peer that scribbled
/// the waiters word, or to a writer of an older version that wakes nobody,
/// costs a waiter at most this.
pub(crate) const SLEEP_SLICE: Duration = Duration::from_millis(50);
/// How long a waiter whose kernel barrier failed sleeps between checks
/// (a registered publisher may have skipped its fence; see
/// `protocol/notify.rs`).
const POLL_SLICE: Duration = Duration::from_millis(1);

/// Where a value object keeps its version and its waiters word.
pub(crate) trait Versioned {
    /// The version: advanced by every publish (`Acquire`: pairs with the
    /// publish's `Release`, so the value read after it is that one or a
    /// later one).
    fn load_version(&self) -> u64;
    /// The futex word waiters sleep on.
    fn waiters(&self) -> &AtomicU32;
}

impl<V: Versioned + ?Sized> Versioned for &V {
    fn load_version(&self) -> u64 {
        (**self).load_version()
    }

    fn waiters(&self) -> &AtomicU32 {
        (**self).waiters()
    }
}

/// Waits until `object`'s version differs from `since`: spins briefly,
/// yields, then sleeps on its waiters word in slices. Returns the version
/// it found, or `None` once `timeout` has passed (`Duration::MAX`, or any
/// wait too long for the clock, is no deadline; zero checks once).
pub(crate) fn wait_changed(object: &impl Versioned, since: u64, timeout: Duration) -> Option<u64> {
    let changed = || Some(object.load_version()).filter(|v| *v != since);
    if let Some(version) = changed() {
        return Some(version);
    }
    let start = Instant::now();
    let deadline = start.checked_add(timeout);
    if timeout.is_zero() {
        return None;
    }
    for round in 0..SPINS + YIELDS {
        if round < SPINS {
            core::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
        if let Some(version) = changed() {
            return Some(version);
        }
    }
    let waiters = object.waiters();
    loop {
        // Pairs with `notify::take_waiters` in `published`: either the
        // re-check below sees the new version, or the publisher sees our
        // flag and wakes us.
        let (expected, barrier_made) = notify::announce(waiters);
        if let Some(version) = changed() {
            return Some(version);
        }
        let mut slice = if barrier_made { SLEEP_SLICE } else { POLL_SLICE };
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            slice = slice.min(left);
        }
        segment::futex_wait(waiters, expected, slice);
    }
}

/// After a publish (the new version stored): wakes whoever waits for a
/// change. No system call unless somebody waits.
#[inline]
pub(crate) fn published(waiters: &AtomicU32) {
    if notify::take_waiters(waiters, barrier::known_registered()) {
        wake(waiters);
    }
}

/// Wakes the waiters: out of line, the path taken only when they sleep.
#[cold]
#[inline(never)]
fn wake(word: &AtomicU32) {
    segment::futex_wake(word);
}

#[cfg(test)]
mod tests {
    use crate::{Shared, SharedArray, SharedBool, SharedBytes, SharedInt, SharedObject, SharedString};
    use core::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    const LONG: Duration = Duration::from_secs(10);

    /// Every value object: a write advances the version by one, a waiter
    /// in another thread (on its own mapping) wakes with the new version,
    /// and a wait with nothing written times out.
    #[test]
    fn every_value_object_wakes_its_waiters() {
        fn check<O: SharedObject + Send + 'static>(
            object: &O,
            version: fn(&O) -> u64,
            wait: fn(&O, u64, Duration) -> Option<u64>,
            write: fn(&O),
        ) {
            let since = version(object);
            assert_eq!(wait(object, since, Duration::ZERO), None);
            let started = Instant::now();
            assert_eq!(wait(object, since, Duration::from_millis(30)), None);
            assert!(started.elapsed() >= Duration::from_millis(30), "timed out early");
            let peer = O::load_sharedobject(&object.handle()).unwrap();
            let waiter = std::thread::spawn(move || {
                let seen = wait(&peer, since, LONG);
                (seen, peer)
            });
            // Long enough for the waiter to be asleep on the futex.
            std::thread::sleep(Duration::from_millis(20));
            write(object);
            let (seen, _peer) = waiter.join().unwrap();
            assert_eq!(seen, Some(since.wrapping_add(1)));
            assert_eq!(version(object), since.wrapping_add(1));
        }
        check(&SharedInt::create_sharedobject(0).unwrap(), SharedInt::version, SharedInt::wait_changed, |o| o.write(1));
        check(&SharedBool::create_sharedobject(false).unwrap(), SharedBool::version, SharedBool::wait_changed, |o| {
            o.write(true);
        });
        check(&SharedString::create_sharedobject(8).unwrap(), SharedString::version, SharedString::wait_changed, |o| {
            o.write("x").unwrap();
        });
        check(&SharedBytes::create_sharedobject(8).unwrap(), SharedBytes::version, SharedBytes::wait_changed, |o| {
            o.write(b"x").unwrap();
        });
        check(&Shared::<u64>::create_sharedobject(&0).unwrap(), Shared::version, Shared::wait_changed, |o| {
            o.update(|v| *v += 1).unwrap();
        });
        check(
            &SharedArray::<u64>::create_sharedobject(3).unwrap(),
            |a| a.version(1).unwrap(),
            |a, since, timeout| a.wait_changed(1, since, timeout).unwrap(),
            |a| a.set(1, &5).unwrap(),
        );
    }

    /// Each `SharedInt` operation that stores counts once; a failed
    /// compare-exchange does not.
    #[test]
    fn int_operations_advance_the_version() {
        let int = SharedInt::create_sharedobject(0).unwrap();
        let v0 = int.version();
        int.write(1);
        assert_eq!(int.fetch_add(1), 1);
        assert_eq!(int.swap(5), 2);
        assert_eq!(int.compare_exchange(5, 6), Ok(5));
        assert_eq!(int.compare_exchange(5, 7), Err(6));
        assert_eq!(int.version(), v0 + 4);
    }

    /// Array elements have their own versions: a write to one wakes no
    /// waiter of another, and an index out of range is an error.
    #[test]
    fn array_elements_are_waited_on_one_by_one() {
        let array = SharedArray::<u32>::create_sharedobject(2).unwrap();
        let since = array.version(0).unwrap();
        array.set(1, &3).unwrap();
        assert_eq!(array.version(0), Some(since));
        assert_eq!(array.wait_changed(0, since, Duration::from_millis(10)).unwrap(), None);
        assert!(array.wait_changed(2, 0, Duration::ZERO).is_err());
    }

    /// Eight waiters on one value, each on its own mapping: one write
    /// wakes them all.
    #[test]
    fn one_write_wakes_every_waiter() {
        let int = SharedInt::create_sharedobject(0).unwrap();
        let since = int.version();
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let peer = SharedInt::load_sharedobject(&int.handle()).unwrap();
                std::thread::spawn(move || peer.wait_changed(since, LONG).map(|v| (v, peer.read())))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30));
        int.write(9);
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), Some((since + 1, 9)));
        }
    }

    /// Hostile peer: a waiters word cleared under a sleeper loses its
    /// wake-up, which then costs at most one sleep slice, never the whole
    /// timeout; a word stuck with the flag set only costs writers a wake
    /// call; a scribbled version is a spurious change, not a hang.
    #[test]
    fn scribbled_words_cost_a_slice_at_most() {
        let int = SharedInt::create_sharedobject(0).unwrap();
        let segment = crate::object::shared_object::sealed::Sealed::segment(&int).0;
        let words = segment.payload().words();
        let waiters = segment.payload().futex_word(crate::format::layout::scalar::WAITERS_WORD);
        let since = int.version();
        let peer = SharedInt::load_sharedobject(&int.handle()).unwrap();
        let waiter = std::thread::spawn(move || {
            let started = Instant::now();
            (peer.wait_changed(since, LONG), started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(30));
        // The scribble: the flag (and count) cleared, then a write that so
        // finds nobody to wake.
        waiters.store(0, Ordering::Relaxed);
        int.write(1);
        let (seen, took) = waiter.join().unwrap();
        assert_eq!(seen, Some(since + 1));
        assert!(took < super::SLEEP_SLICE * 4, "took {took:?}");

        waiters.store(u32::MAX, Ordering::Relaxed);
        for i in 0..100 {
            int.write(i);
        }
        assert_eq!(int.read(), 99);

        let since = int.version();
        words[crate::format::layout::scalar::VERSION_WORD].store(since ^ 0xdead, Ordering::Relaxed);
        assert_eq!(int.wait_changed(since, LONG), Some(since ^ 0xdead));
    }
}
