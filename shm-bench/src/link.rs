//! One direction of a transport, as the drivers see it: a [`Tx`] sends
//! numbered items, an [`Rx`] receives them and checks each one's number
//! (a wrong one is a [`Mismatch`], a hard error), and the drivers run
//! ping-pong and streams over any pair.
//!
//! Items are `[u64; N]` stamped with their sequence number in the first,
//! middle and last word ([`stamp`], [`check`]): a lost, repeated,
//! reordered or half-copied item fails the check.

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
pub fn consume<R: Rx>(
    rx: &mut R,
    ctl: &Control,
    watch: &mut Watch<'_>,
    seq: &mut u64,
    n: u64,
    batch: u64,
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

/// `d` in whole nanoseconds (saturating).
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
