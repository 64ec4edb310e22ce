//! One direction of a transport, as the drivers see it: a [`Tx`] sends
//! numbered items, an [`Rx`] receives them and checks each one's number
//! (a wrong one is a [`Mismatch`], a hard error), and the drivers run
//! ping-pong and streams over any pair.
//!
//! Items are `[u64; N]` stamped with their sequence number in the first,
//! middle and last word ([`stamp`], [`check`]): a lost, repeated,
//! reordered or half-copied item fails the check.
//!
//! Every implementation's `send` and `recv` is `#[inline(always)]`, so
//! that each transport's per-item call is compiled the same way into the
//! driver's loops. With `#[inline]` alone LLVM inlined the hand ring's
//! `send` into the producer loop and called the ring's out of line; at
//! 8 B that call decided which way the two processes' loop ran (full at
//! the consumer's pace, or at its heels item by item: see `consume`) and
//! cost the ring 2-3x against the hand ring (docs/BENCHMARKS.md, "One
//! driver").

use crate::measure::Chunks;
use crate::proc::{ChildWatch, Control, Watch};
use crate::{Error, Result};
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// Sends numbered items.
pub trait Tx {
    /// Sends items numbered `*next`, `*next + 1`, ... (at most `max`, at
    /// least 1) as far as there is room, advancing `next`; returns how many
    /// it sent (0 when the transport is full).
    fn send(&mut self, next: &mut u64, max: u64) -> Result<u64>;
}

/// Receives numbered items and checks them.
pub trait Rx {
    /// Receives the items that are ready (at most `max`, at least 1), each
    /// of which must be numbered `*expected` (then `*expected` advances);
    /// returns how many (0 when none is ready).
    fn recv(&mut self, expected: &mut u64, max: u64) -> Result<u64>;
}

/// An item arrived with the wrong number, or torn.
#[derive(Debug)]
pub struct Mismatch {
    /// The number expected.
    pub expected: u64,
    /// The stamps found (first, middle, last word).
    pub found: [u64; 3],
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "verification failed: expected item {}, found stamps {:?}", self.expected, self.found)
    }
}

impl std::error::Error for Mismatch {}

/// Whether `e` is a verification failure.
pub fn is_mismatch(e: &Error) -> bool {
    e.downcast_ref::<Mismatch>().is_some()
}

/// Stamps `item` with `seq`.
#[inline]
pub fn stamp<const N: usize>(item: &mut [u64; N], seq: u64) {
    item[0] = seq;
    item[N / 2] = seq;
    item[N - 1] = seq;
}

/// Checks that `item` carries `expected` in all three stamps.
#[inline]
pub fn check<const N: usize>(item: &[u64; N], expected: u64) -> Result<()> {
    check_words(item[0], item[N / 2], item[N - 1], expected)
}

/// Checks three stamps against `expected`.
#[inline]
pub fn check_words(first: u64, middle: u64, last: u64, expected: u64) -> Result<()> {
    if first == expected && middle == expected && last == expected {
        Ok(())
    } else {
        Err(Mismatch { expected, found: [first, middle, last] }.into())
    }
}

/// A boxed zeroed item (64 KiB items stay off the stack).
pub fn boxed<const N: usize>() -> Box<[u64; N]> {
    vec![0u64; N].into_boxed_slice().try_into().expect("N words")
}

/// Parent side of a ping-pong pass: `n` round trips, numbered from
/// `*seq`; each one sends an item and waits for the echo. With `hist`,
/// each round trip is timed on its own and recorded (in ns).
pub fn ping<T: Tx, R: Rx>(
    tx: &mut T,
    rx: &mut R,
    watch: &mut Watch<'_>,
    seq: &mut u64,
    n: u64,
    mut hist: Option<&mut Histogram<u64>>,
) -> Result<Duration> {
    watch.rearm();
    let (mut next, mut expected) = (*seq, *seq);
    let start = Instant::now();
    for _ in 0..n {
        let t0 = hist.is_some().then(Instant::now);
        while tx.send(&mut next, 1)? == 0 {
            watch.idle()?;
        }
        while rx.recv(&mut expected, 1)? == 0 {
            watch.idle()?;
        }
        if let (Some(t0), Some(h)) = (t0, hist.as_deref_mut()) {
            h.saturating_record(nanos(t0.elapsed()));
        }
    }
    let elapsed = start.elapsed();
    *seq = next;
    Ok(elapsed)
}

/// Child side of a ping-pong: echoes every item until the parent stops.
pub fn echo<T: Tx, R: Rx>(tx: &mut T, rx: &mut R, ctl: &Control) -> Result<()> {
    let mut watch = ChildWatch::new(ctl);
    let (mut next, mut expected) = (1, 1);
    loop {
        while rx.recv(&mut expected, 1)? == 0 {
            watch.idle()?;
        }
        while tx.send(&mut next, 1)? == 0 {
            watch.idle()?;
        }
    }
}

/// Parent side of a stream pass: lets the child send `n` more items
/// (numbered from `*seq`) and receives them, `batch` at a time at most,
/// timing every `chunks.items` items into `chunks`.
///
/// When `rx` has nothing, the consumer looks again after spinning for
/// `gap` (by default 2 ns per slot of the case's ring, at most 2 µs; see
/// `measure::PollGap`), or at once (`gap` zero: the `-eager` cases). The choice
/// decides the regime of an 8-byte ring on a two-core VM: a consumer that
/// looks again at once and is faster than its producer drains the ring and
/// then takes each item as it is published, sharing the producer's
/// position and slot cache lines item by item (10-40 M items/s); one slower
/// than its producer keeps the ring full and runs at its own speed (about
/// 200 M/s). A gap of 1-2 µs lets the producer run ahead by a batch (the
/// ring must hold what it sends in a gap: a fixed 2 µs cost 16-slot rings
/// half their throughput, hence the gap scaled by capacity). A pause in the
/// idle turn alone, or an exponential back-off reset by every item, does
/// not change the regime (docs/BENCHMARKS.md, "One driver").
#[expect(clippy::too_many_arguments, reason = "the pass's state, all needed; a struct would only rename them")]
pub fn consume<R: Rx>(
    rx: &mut R,
    ctl: &Control,
    watch: &mut Watch<'_>,
    seq: &mut u64,
    n: u64,
    batch: u64,
    gap: Duration,
    chunks: &mut Chunks,
) -> Result<Duration> {
    watch.rearm();
    let end = *seq + n;
    let mut expected = *seq;
    let start = Instant::now();
    let (mut mark, mut mark_at) = (start, expected);
    ctl.set_target(end);
    while expected < end {
        let max = batch.min(end - expected);
        if rx.recv(&mut expected, max)? == 0 {
            watch.idle()?;
            if !gap.is_zero() {
                spin_for(gap);
            }
        } else if expected - mark_at >= chunks.items {
            let now = Instant::now();
            chunks.record(now - mark, expected - mark_at);
            (mark, mark_at) = (now, expected);
        }
    }
    let elapsed = start.elapsed();
    *seq = end;
    Ok(elapsed)
}

/// Child side of a stream: sends items up to the parent's target, `batch`
/// at a time at most, until the parent stops.
pub fn produce<T: Tx>(tx: &mut T, ctl: &Control, batch: u64) -> Result<()> {
    let mut watch = ChildWatch::new(ctl);
    let mut next = 1;
    loop {
        let target = ctl.target();
        if next >= target {
            watch.idle()?;
            continue;
        }
        while next < target {
            let max = batch.min(target - next);
            if tx.send(&mut next, max)? == 0 {
                watch.idle()?;
            }
        }
    }
}

/// Spins (with the processor's spin-wait hint) for `gap`.
#[cold]
fn spin_for(gap: Duration) {
    let start = Instant::now();
    while start.elapsed() < gap {
        core::hint::spin_loop();
    }
}

/// `d` in whole nanoseconds (saturating).
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Parent side of a fan-out stream pass (one publisher, several
/// subscriber processes): lets every subscriber (`ctls`) receive up to
/// `*seq + n`, sends the `n` items through `tx` (`batch` at most a call),
/// timing every `chunks.items` items sent into `chunks`, then waits until
/// every subscriber reports that it has all of them. The time returned
/// runs from the first send to the last report: until the slowest
/// subscriber has every item.
pub fn publish<T: Tx>(
    tx: &mut T,
    ctls: &[Control],
    watches: &mut [Watch<'_>],
    seq: &mut u64,
    n: u64,
    batch: u64,
    chunks: &mut Chunks,
) -> Result<Duration> {
    for watch in watches.iter_mut() {
        watch.rearm();
    }
    let end = *seq + n;
    let mut next = *seq;
    for ctl in ctls {
        ctl.set_target(end);
    }
    let start = Instant::now();
    let (mut mark, mut mark_at) = (start, next);
    while next < end {
        let max = batch.min(end - next);
        if tx.send(&mut next, max)? == 0 {
            idle_all(watches)?;
        } else if next - mark_at >= chunks.items {
            let now = Instant::now();
            chunks.record(now - mark, next - mark_at);
            (mark, mark_at) = (now, next);
        }
    }
    for ctl in ctls {
        while ctl.progress() < end {
            idle_all(watches)?;
        }
    }
    let elapsed = start.elapsed();
    *seq = end;
    Ok(elapsed)
}

/// One turn of a busy wait on several children.
#[inline]
pub fn idle_all(watches: &mut [Watch<'_>]) -> Result<()> {
    watches.iter_mut().try_for_each(Watch::idle)
}

/// Child side of a fan-out stream: receives every item up to the parent's
/// target, reports it (`Control::set_progress`), and again for each new
/// target, until the parent stops. When `rx` has nothing, it looks again
/// after spinning for `gap`, as [`consume`] does (zero for a subscriber
/// that shares its core and yields instead).
pub fn subscribe<R: Rx>(rx: &mut R, ctl: &Control, watch: &mut ChildWatch<'_>, gap: Duration) -> Result<()> {
    let mut expected = 1;
    loop {
        let target = ctl.target();
        if expected >= target {
            watch.idle()?;
            continue;
        }
        while expected < target {
            let max = target - expected;
            if rx.recv(&mut expected, max)? == 0 {
                watch.idle()?;
                if !gap.is_zero() {
                    spin_for(gap);
                }
            }
        }
        ctl.set_progress(expected);
    }
}

/// Receives the echo of each item from several receivers (one per
/// subscriber process): an item counts as received once every receiver
/// has delivered it, checked, in order.
pub struct FanIn<R: Rx> {
    rxs: Vec<R>,
    /// The next number each receiver must deliver.
    next: Vec<u64>,
}

impl<R: Rx> FanIn<R> {
    /// Receives through `rxs`, which all start at item 1.
    pub fn new(rxs: Vec<R>) -> Self {
        let next = vec![1; rxs.len()];
        Self { rxs, next }
    }
}

impl<R: Rx> Rx for FanIn<R> {
    #[inline]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        let mut all = true;
        for (rx, next) in self.rxs.iter_mut().zip(&mut self.next) {
            if *next == *expected {
                rx.recv(next, 1)?;
            }
            all &= *next > *expected;
        }
        if all {
            *expected += 1;
            Ok(1)
        } else {
            Ok(0)
        }
    }
}

/// Parent side of a ping-pong pass with both sides asleep: before each
/// round trip the parent sleeps for `gap` (long past the other side's
/// spinning and yielding, so that it sleeps in the kernel when the item
/// comes), then times the round trip alone. Returns the sum of the `n`
/// round trips (the gaps not counted); with `hist`, records each.
pub fn ping_asleep<T: Tx, R: Rx>(
    tx: &mut T,
    rx: &mut R,
    watch: &mut Watch<'_>,
    seq: &mut u64,
    n: u64,
    gap: Duration,
    mut hist: Option<&mut Histogram<u64>>,
) -> Result<Duration> {
    watch.rearm();
    let (mut next, mut expected) = (*seq, *seq);
    let mut total = Duration::ZERO;
    for _ in 0..n {
        std::thread::sleep(gap);
        let t0 = Instant::now();
        while tx.send(&mut next, 1)? == 0 {
            watch.idle()?;
        }
        while rx.recv(&mut expected, 1)? == 0 {
            watch.idle()?;
        }
        let took = t0.elapsed();
        total += took;
        if let Some(h) = hist.as_deref_mut() {
            h.saturating_record(nanos(took));
        }
    }
    *seq = next;
    Ok(total)
}

/// Child side of a ping-pong, with its own watch (see
/// [`ChildWatch::yielding`], [`ChildWatch::every_turn`]).
pub fn echo_with<T: Tx, R: Rx>(tx: &mut T, rx: &mut R, watch: &mut ChildWatch<'_>) -> Result<()> {
    let (mut next, mut expected) = (1, 1);
    loop {
        while rx.recv(&mut expected, 1)? == 0 {
            watch.idle()?;
        }
        while tx.send(&mut next, 1)? == 0 {
            watch.idle()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Delivers the numbers queued in it, one per call, checked.
    struct Queue(VecDeque<u64>);

    impl Rx for Queue {
        fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
            let Some(found) = self.0.pop_front() else { return Ok(0) };
            if found != *expected {
                return Err(Mismatch { expected: *expected, found: [found; 3] }.into());
            }
            *expected += 1;
            Ok(1)
        }
    }

    #[test]
    fn fan_in_counts_an_item_once_every_receiver_has_it() {
        let mut rx = FanIn::new(vec![Queue(VecDeque::from([1, 2])), Queue(VecDeque::from([1]))]);
        let mut expected = 1;
        assert_eq!(rx.recv(&mut expected, 1).unwrap(), 1, "both have item 1");
        assert_eq!(rx.recv(&mut expected, 1).unwrap(), 0, "the second has no item 2 yet");
        assert_eq!(rx.recv(&mut expected, 1).unwrap(), 0, "the first's item 2 is not taken twice");
        rx.rxs[1].0.push_back(2);
        assert_eq!(rx.recv(&mut expected, 1).unwrap(), 1);
        assert_eq!(expected, 3);
        rx.rxs[0].0.push_back(4);
        let e = rx.recv(&mut expected, 1).unwrap_err();
        assert!(is_mismatch(&e), "a skipped item at one receiver is a verification failure: {e}");
    }
}
