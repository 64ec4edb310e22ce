//! The self-check: a standalone two-process SPSC loop of 8-byte items,
//! written without the harness's driver (no `Tx`/`Rx`, no item buffer),
//! the shape an outside harness would write. The hand ring's 8 B
//! throughput through the driver must stay within 15% of it; otherwise
//! the driver, not the transport, is what the benchmark measures.
//!
//! Layout (words of a bare mapping): the write position at word 0, the
//! read position at word 16 (128 bytes apart), `CAPACITY` slots from word
//! 32; the item at position `p` holds `p + 1`.

use crate::Result;
use crate::measure::Chunks;
use crate::proc::{Control, Watch};
use core::sync::atomic::{AtomicU64, Ordering};
use shm_runtime::{Consumer, MemoryInterface, Producer, Ring, SharedState};
use std::time::{Duration, Instant};

/// Slots (as the hand ring's 8 B cases).
pub const CAPACITY: usize = 1024;
/// `CAPACITY` as a position.
const CAP: u64 = CAPACITY as u64;
const TAIL: usize = 0;
const HEAD: usize = 16;
const SLOTS: usize = 32;
/// Words of the mapping.
pub const WORDS: usize = SLOTS + CAPACITY;

/// Slot word of position `p`.
fn slot(words: &[AtomicU64], p: u64) -> &AtomicU64 {
    // The mask keeps the index below CAPACITY, inside the mapping.
    &words[SLOTS + usize::try_from(p & (CAP - 1)).expect("masked")]
}

/// Consumer (parent): lets the producer go to `*seq + n` items and takes
/// them, checking each one's number (timed in chunks as the driver's
/// `consume` times them).
pub fn consume(
    words: &[AtomicU64],
    ctl: &Control,
    watch: &mut Watch<'_>,
    seq: &mut u64,
    n: u64,
    chunks: &mut Chunks,
) -> Result<Duration> {
    watch.rearm();
    let (mut head, end) = (*seq, *seq + n);
    let mut tail = head;
    let start = Instant::now();
    let (mut mark, mut mark_at) = (start, head);
    ctl.set_target(end);
    while head < end {
        if head == tail {
            // Acquire pairs with the producer's Release store of TAIL.
            tail = words[TAIL].load(Ordering::Acquire);
            if head == tail {
                watch.idle()?;
                continue;
            }
        }
        let item = slot(words, head).load(Ordering::Relaxed);
        if item != head + 1 {
            return Err(crate::link::Mismatch { expected: head + 1, found: [item; 3] }.into());
        }
        head += 1;
        // Release pairs with the producer's Acquire load of HEAD: the slot
        // is read before it is reused.
        words[HEAD].store(head, Ordering::Release);
        if head - mark_at >= chunks.items {
            let now = Instant::now();
            chunks.record(now - mark, head - mark_at);
            (mark, mark_at) = (now, head);
        }
    }
    *seq = end;
    Ok(start.elapsed())
}

/// Producer (child): writes items up to the parent's target until it stops.
pub fn produce(words: &[AtomicU64], ctl: &Control) {
    let (mut tail, mut head) = (0u64, 0u64);
    while !ctl.stopped() {
        let target = ctl.target();
        while tail < target {
            if tail - head == CAP {
                // Acquire pairs with the consumer's Release store of HEAD.
                head = words[HEAD].load(Ordering::Acquire);
                if tail - head == CAP {
                    if ctl.stopped() {
                        return;
                    }
                    core::hint::spin_loop();
                    continue;
                }
            }
            slot(words, tail).store(tail + 1, Ordering::Relaxed);
            tail += 1;
            // Release pairs with the consumer's Acquire load of TAIL.
            words[TAIL].store(tail, Ordering::Release);
        }
        core::hint::spin_loop();
    }
}

/// An 8-byte item that carries its position's number: `u64` itself, or
/// `[u64; 1]` (the harness's 8 B item type), the two ways a program would
/// type it.
pub trait Numbered: SharedState + Copy {
    /// The item for number `n`.
    fn of(n: u64) -> Self;
    /// Its number.
    fn number(&self) -> u64;
}

impl Numbered for u64 {
    fn of(n: u64) -> Self {
        n
    }
    fn number(&self) -> u64 {
        *self
    }
}

impl Numbered for [u64; 1] {
    fn of(n: u64) -> Self {
        [n]
    }
    fn number(&self) -> u64 {
        self[0]
    }
}

/// Consumer (parent) of [`consume`]'s shape over a `MemoryInterface<T>`
/// of [`CAPACITY`] slots: the same loop with `read` in place of the hand
/// ring's loads and store, so that the ring and the hand ring can be
/// compared without the harness's driver around either.
pub fn consume_ring<T: Numbered>(
    rx: &mut MemoryInterface<T, Consumer>,
    ctl: &Control,
    watch: &mut Watch<'_>,
    seq: &mut u64,
    n: u64,
    chunks: &mut Chunks,
) -> Result<Duration> {
    watch.rearm();
    let (mut head, end) = (*seq, *seq + n);
    let start = Instant::now();
    let (mut mark, mut mark_at) = (start, head);
    ctl.set_target(end);
    while head < end {
        let Some(item) = rx.read() else {
            if let Some(e) = rx.error() {
                return Err(e.into());
            }
            watch.idle()?;
            continue;
        };
        let item = item.number();
        if item != head + 1 {
            return Err(crate::link::Mismatch { expected: head + 1, found: [item; 3] }.into());
        }
        head += 1;
        if head - mark_at >= chunks.items {
            let now = Instant::now();
            chunks.record(now - mark, head - mark_at);
            (mark, mark_at) = (now, head);
        }
    }
    *seq = end;
    Ok(start.elapsed())
}

/// Producer (child) of [`produce`]'s shape over a `MemoryInterface<T>`.
pub fn produce_ring<T: Numbered>(tx: &mut MemoryInterface<T, Producer>, ctl: &Control) {
    let mut tail = 0u64;
    while !ctl.stopped() {
        let target = ctl.target();
        while tail < target {
            if tx.write(&T::of(tail + 1)).is_err() {
                if ctl.stopped() {
                    return;
                }
                core::hint::spin_loop();
                continue;
            }
            tail += 1;
        }
        core::hint::spin_loop();
    }
}
