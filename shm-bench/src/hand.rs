//! The floor's ring: a minimal single-producer, single-consumer ring of
//! `[u64; N]` written by hand over any shared mapping (a bare `shm_open`
//! one, or the `shared_memory` crate's). Copy in, copy out, the two
//! positions on separate cache lines, each side caching the other's
//! position; no checks of what the peer stores (the peer is this same
//! binary), no roles, no waiting: the least a ring can do.
//!
//! Layout: the write position at byte 0, the read position at byte 128,
//! the slots (`capacity`, a power of two) from byte 256. 128 bytes apart,
//! not 64: CPUs that fetch cache lines in adjacent pairs would otherwise
//! make the two positions share a pair.
//!
//! With `SEQ`, each slot begins with a sequence word that the producer
//! stores (`Release`, the item's position + 1) after the item and before
//! the write position, and the consumer that has read all it knew of
//! looks at that word instead of the write position: a new item and its
//! signal then share a cache line, so a round trip moves one line each
//! way, as the atomic ping-pong does, instead of two (the write
//! position's and the slot's). It costs a word a slot.

#![expect(clippy::inline_always, reason = "every send and recv alike (link.rs)")]

use crate::Result;
use crate::link::{Rx, Tx, check, stamp};
use core::sync::atomic::{AtomicU64, Ordering};

/// Byte offset of the read position.
const HEAD_AT: usize = 128;
/// Bytes before the first slot.
const SLOTS_AT: usize = 256;

/// A mapping a ring can live in.
pub trait Region {
    /// Start of the mapping (at least 64-byte aligned).
    fn base(&self) -> *mut u8;
    /// Length in bytes.
    fn size(&self) -> usize;
}

impl Region for crate::raw::RawShm {
    fn base(&self) -> *mut u8 {
        self.ptr()
    }
    fn size(&self) -> usize {
        self.len()
    }
}

/// Bytes a ring of `capacity` slots of `[u64; N]` needs (with a
/// sequence word a slot if `SEQ`).
pub const fn bytes<const N: usize, const SEQ: bool>(capacity: usize) -> usize {
    SLOTS_AT + capacity * (N + SEQ as usize) * 8
}

/// The shared parts of a ring in `M`.
struct Shape<M: Region, const N: usize, const SEQ: bool> {
    region: M,
    capacity: u64,
}

impl<M: Region, const N: usize, const SEQ: bool> Shape<M, N, SEQ> {
    fn new(region: M, capacity: usize) -> Self {
        assert!(capacity.is_power_of_two(), "capacity {capacity} is not a power of two");
        assert!(region.size() >= bytes::<N, SEQ>(capacity), "mapping too small for the ring");
        assert_eq!(region.base() as usize % 64, 0, "mapping not aligned to a cache line");
        Self { region, capacity: capacity as u64 }
    }

    /// The word at byte `offset` (0 or `HEAD_AT`) of the mapping.
    #[expect(clippy::cast_ptr_alignment, reason = "the mapping is 64-byte aligned (checked in `new`)")]
    fn word(&self, offset: usize) -> &AtomicU64 {
        let word = self.region.base().wrapping_add(offset).cast::<AtomicU64>();
        // SAFETY: `offset + 8 <= SLOTS_AT` bytes, inside the mapping
        // (checked in `new`) and 8-byte aligned; the mapping lives as long
        // as `self`, and the two position words are only ever accessed
        // atomically, by either process.
        unsafe { &*word }
    }

    /// The write position.
    fn tail(&self) -> &AtomicU64 {
        self.word(0)
    }

    /// The read position.
    fn head(&self) -> &AtomicU64 {
        self.word(HEAD_AT)
    }

    /// The item of the slot of `position` (after its sequence word if
    /// `SEQ`).
    fn slot(&self, position: u64) -> *mut [u64; N] {
        // Below capacity: the mask keeps it in range.
        let index = usize::try_from(position & (self.capacity - 1)).expect("below capacity");
        let words = N + usize::from(SEQ);
        // In the mapping: SLOTS_AT + (index + 1) * words * 8 <=
        // bytes::<N, SEQ>(capacity) <= its size (checked in `new`).
        self.region.base().wrapping_add(SLOTS_AT + (index * words + usize::from(SEQ)) * 8).cast::<[u64; N]>()
    }

    /// The sequence word of the slot of `position` (`SEQ` only).
    fn seq(&self, position: u64) -> &AtomicU64 {
        debug_assert!(SEQ, "a ring without sequence words");
        let word = self.slot(position).cast::<AtomicU64>().wrapping_sub(1);
        // SAFETY: with `SEQ` the word before each item is its slot's
        // sequence word, inside the mapping and 8-byte aligned (`slot`);
        // the mapping lives as long as `self`, and both processes only
        // ever access the word atomically.
        unsafe { &*word }
    }
}

/// A local item, placed half a page (2 KiB) away from the slots' offset
/// in a page: `memcpy` of large items (`rep movsb` on this kind of CPU)
/// slows down up to twentyfold when source and destination share their
/// offset in a page, and a heap allocation lands wherever the allocator's
/// history puts it. The floor is the best the copy can do.
struct Local<const N: usize> {
    words: Vec<u64>,
    /// Index of the item's first word in `words`.
    at: usize,
}

impl<const N: usize> Local<N> {
    fn new() -> Self {
        let words = vec![0u64; N + 4096 / 8];
        let want = (SLOTS_AT + 2048) % 4096;
        let at = (want + 4096 - words.as_ptr() as usize % 4096) % 4096 / 8;
        Self { words, at }
    }

    fn item(&mut self) -> &mut [u64; N] {
        (&mut self.words[self.at..self.at + N]).try_into().expect("N words")
    }
}

/// The producer's end.
pub struct HandTx<M: Region, const N: usize, const SEQ: bool = false> {
    shape: Shape<M, N, SEQ>,
    cursor: ProducerCursor,
    item: Local<N>,
}

/// The producer's local positions.
struct ProducerCursor {
    /// Our write position (the shared word is a copy for the consumer).
    tail: u64,
    /// The consumer's read position when last loaded.
    head_cache: u64,
}

/// The consumer's end.
pub struct HandRx<M: Region, const N: usize, const SEQ: bool = false> {
    shape: Shape<M, N, SEQ>,
    cursor: ConsumerCursor,
    item: Local<N>,
}

/// The consumer's local positions.
struct ConsumerCursor {
    /// Our read position.
    head: u64,
    /// The producer's write position when last loaded.
    tail_cache: u64,
}

impl<M: Region, const N: usize, const SEQ: bool> HandTx<M, N, SEQ> {
    /// The producer's end of the ring in `region` (zeroed by its creator).
    pub fn new(region: M, capacity: usize) -> Self {
        let cursor = ProducerCursor { tail: 0, head_cache: 0 };
        Self { shape: Shape::new(region, capacity), cursor, item: Local::new() }
    }
}

impl<M: Region, const N: usize, const SEQ: bool> Shape<M, N, SEQ> {
    /// Copies `item` into the next slot and publishes it; `false` if full.
    #[inline]
    fn push(&self, cursor: &mut ProducerCursor, item: &[u64; N]) -> bool {
        if cursor.tail.wrapping_sub(cursor.head_cache) == self.capacity {
            // Acquire pairs with the consumer's Release store in `pop`: its
            // copy out of the slot we are about to reuse is finished.
            cursor.head_cache = self.head().load(Ordering::Acquire);
            if cursor.tail.wrapping_sub(cursor.head_cache) == self.capacity {
                return false;
            }
        }
        let slot = self.slot(cursor.tail);
        // SAFETY: the slot is inside the mapping (`slot`) and 8-byte
        // aligned; the consumer has released it (the check above), and it
        // will not read it before the Release store below publishes it, so
        // no one else accesses these bytes now.
        unsafe { slot.copy_from_nonoverlapping(item, 1) };
        let position = cursor.tail;
        cursor.tail = cursor.tail.wrapping_add(1);
        if SEQ {
            // Release pairs with the consumer's Acquire load of the
            // sequence in `pop`: the item is written before it is seen.
            self.seq(position).store(cursor.tail, Ordering::Release);
        }
        // Release pairs with the consumer's Acquire load in `pop`: the slot
        // is written before the new position is seen.
        self.tail().store(cursor.tail, Ordering::Release);
        true
    }

    /// Copies the oldest item into `out` and frees its slot; `false` if
    /// empty.
    #[inline]
    fn pop(&self, cursor: &mut ConsumerCursor, out: &mut [u64; N]) -> bool {
        if SEQ && cursor.head == cursor.tail_cache {
            // Acquire pairs with the producer's Release store of the
            // sequence in `push`: the item is in its slot. (The producer
            // stores the position + 1; a slot not yet written this lap
            // holds the last lap's, or 0.)
            if self.seq(cursor.head).load(Ordering::Acquire) != cursor.head.wrapping_add(1) {
                return false;
            }
            cursor.tail_cache = cursor.head.wrapping_add(1);
        }
        if cursor.head == cursor.tail_cache {
            // The next slot's line, asked for alongside the write position
            // (as shm's ring does: a floor does what the best ring does).
            // SAFETY: `_mm_prefetch` needs SSE, part of x86_64; it never
            // faults and reads nothing into the program's state.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                    self.slot(cursor.head).cast::<i8>().cast_const(),
                );
            }
            // Acquire pairs with the producer's Release store in `push`:
            // the items up to the loaded position are in their slots.
            cursor.tail_cache = self.tail().load(Ordering::Acquire);
            if cursor.head == cursor.tail_cache {
                return false;
            }
        }
        let slot = self.slot(cursor.head);
        // SAFETY: the slot is inside the mapping and aligned; the producer
        // published it (the check above) and will not write it again
        // before the Release store below frees it.
        unsafe { out.as_mut_ptr().copy_from_nonoverlapping(slot.cast::<u64>(), N) };
        cursor.head = cursor.head.wrapping_add(1);
        // Release pairs with the producer's Acquire load in `push`: our
        // copy out is done before the slot is reused.
        self.head().store(cursor.head, Ordering::Release);
        true
    }
}

impl<M: Region, const N: usize, const SEQ: bool> HandRx<M, N, SEQ> {
    /// The consumer's end of the ring in `region`.
    pub fn new(region: M, capacity: usize) -> Self {
        let cursor = ConsumerCursor { head: 0, tail_cache: 0 };
        Self { shape: Shape::new(region, capacity), cursor, item: Local::new() }
    }
}

impl<M: Region, const N: usize, const SEQ: bool> Tx for HandTx<M, N, SEQ> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        let item = self.item.item();
        stamp(item, *next);
        let sent = self.shape.push(&mut self.cursor, item);
        *next += u64::from(sent);
        Ok(u64::from(sent))
    }
}

impl<M: Region, const N: usize, const SEQ: bool> Rx for HandRx<M, N, SEQ> {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        let item = self.item.item();
        let got = self.shape.pop(&mut self.cursor, item);
        if got {
            check(item, *expected)?;
        }
        *expected += u64::from(got);
        Ok(u64::from(got))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::{RawShm, unique_name};

    fn fifo_full_empty_and_verification<const SEQ: bool>() {
        let name = unique_name("hand-test");
        let a = RawShm::create(&name, bytes::<4, SEQ>(4)).unwrap();
        let b = RawShm::open(&name, bytes::<4, SEQ>(4)).unwrap();
        let (mut tx, mut rx) = (HandTx::<_, 4, SEQ>::new(a, 4), HandRx::<_, 4, SEQ>::new(b, 4));
        let (mut next, mut expected) = (1, 1);
        assert_eq!(rx.recv(&mut expected, 1).unwrap(), 0);
        // Three laps of the 4 slots (a slot's sequence word from the last
        // lap must not pass for this one's), full at each turn.
        for _ in 0..3 {
            for _ in 0..4 {
                assert_eq!(tx.send(&mut next, 1).unwrap(), 1);
            }
            assert_eq!(tx.send(&mut next, 1).unwrap(), 0, "full");
            for _ in 0..4 {
                assert_eq!(rx.recv(&mut expected, 1).unwrap(), 1);
            }
            assert_eq!(rx.recv(&mut expected, 1).unwrap(), 0, "empty");
        }
        assert_eq!(tx.send(&mut next, 1).unwrap(), 1);
        let mut skipped = expected + 1;
        assert!(crate::link::is_mismatch(&rx.recv(&mut skipped, 1).unwrap_err()), "a wrong number is caught");
    }

    #[test]
    fn fifo_full_empty_and_verification_with_positions() {
        fifo_full_empty_and_verification::<false>();
    }

    #[test]
    fn fifo_full_empty_and_verification_with_slot_sequences() {
        fifo_full_empty_and_verification::<true>();
    }
}
