//! The ring behind `MemoryInterface`: single producer, single consumer,
//! fixed-size slots, over any region of 64-bit atomic words (a segment's
//! payload, or heap words in tests and loom models).
//!
//! Layout (64-bit words, see `FORMAT.md`); each group on its own 64-byte
//! cache line so the two sides do not share lines they write:
//!
//! ```text
//! 0       capacity       slots, fixed at creation
//! 1       slot_words     words per slot, fixed at creation
//! 2       element_bytes  bytes of an element (typed ring) or the largest
//!                        message (byte ring), fixed at creation
//! 8       tail           write position: slots ever written (producer stores)
//! 16      head           read position: slots ever read (consumer stores)
//! 24..26  producer       role word, futex word (producer waits for space),
//!                        mode word (its wake barrier, see `wake.rs`)
//! 32..34  consumer       role word, futex word (consumer waits for data),
//!                        mode word
//! 40 ..   slots          capacity * slot_words words
//! ```
//!
//! Positions are 64-bit counters that only grow, wrapping to 0 at `wrap`,
//! the largest multiple of the capacity a `u64` holds; slot `p % capacity`
//! holds item `p`. (Wrapping at 2^64 would put two items in one slot at
//! the wrap unless the capacity were a power of two: `u64::MAX % 3 == 0`
//! and `0 % 3 == 0`.) The producer copies an item into its
//! slot with relaxed word stores, then publishes it with a `Release` store
//! of `tail`; the consumer loads `tail` with `Acquire`, copies the item
//! out, then frees the slot with a `Release` store of `head`, which the
//! producer loads with `Acquire` before reusing the slot. Each side keeps
//! its own position in local memory (it never re-reads it) and a cached
//! copy of the other's, refreshed only when the cache says full or empty.
//!
//! The other side's position is untrusted: every load is checked (below
//! `wrap`, and `0 <= tail - head <= capacity` in arithmetic modulo `wrap`)
//! before any slot is touched, and a failed check is `Corrupt`.

use crate::protocol::cell::{load_bytes, store_bytes};
use crate::protocol::sync::{self, AtomicU64, Ordering, Site};

pub(crate) use crate::format::layout::ring::{
    CAPACITY_WORD, ELEMENT_BYTES_WORD, HEAD_WORD, SLOT_WORDS_WORD, SLOTS_WORD, TAIL_WORD,
};
/// The role, wait and mode words, for the ends (`object/ring/end.rs`).
#[cfg(not(loom))]
pub(crate) use crate::format::layout::ring::{
    CONSUMER_MODE_WORD, CONSUMER_ROLE_WORD, CONSUMER_WAIT_WORD, PRODUCER_MODE_WORD, PRODUCER_ROLE_WORD,
    PRODUCER_WAIT_WORD,
};

/// Number of words of a ring of `capacity` slots of `slot_words` words, or
/// `None` on overflow.
#[inline]
pub(crate) fn layout_words(capacity: u64, slot_words: usize) -> Option<usize> {
    usize::try_from(capacity).ok()?.checked_mul(slot_words)?.checked_add(SLOTS_WORD)
}

/// What a ring is made of: fixed at creation, stored in words 0 to 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Number of slots.
    pub(crate) capacity: u64,
    /// Words per slot.
    pub(crate) slot_words: usize,
    /// Bytes of an element, or of the largest message.
    pub(crate) element_bytes: u64,
}

/// The other side's position failed its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt {
    /// Which position.
    pub what: &'static str,
    /// The value found.
    pub found: u64,
}

/// Where positions of a ring of `capacity` slots wrap to 0: the largest
/// multiple of the capacity (at least 1) that a `u64` holds.
#[inline]
pub(crate) fn wrap_of(capacity: u64) -> u64 {
    u64::MAX - u64::MAX % capacity
}

/// `position + n` modulo `wrap`, for a position below `wrap` and `n` at
/// most `wrap`.
#[inline]
pub(crate) fn advance(position: u64, n: u64, wrap: u64) -> u64 {
    let room = wrap - position;
    if n < room { position + n } else { n - room }
}

/// `position + 1` modulo `wrap`, for a position below `wrap`: what
/// [`advance`] computes for one, in an increment and a compare (a
/// position below `wrap` is below `u64::MAX`, so the increment does not
/// overflow).
#[inline]
pub(crate) fn advance_one(position: u64, wrap: u64) -> u64 {
    let next = position.wrapping_add(1);
    if next == wrap { 0 } else { next }
}

/// `tail - head` modulo `wrap`, for positions below `wrap`.
#[inline]
pub(crate) fn distance(tail: u64, head: u64, wrap: u64) -> u64 {
    if tail >= head { tail - head } else { wrap - head + tail }
}

/// Items in the ring between read position `head` and write position
/// `tail`, if both are positions (below `wrap`) and that is a possible
/// count (at most `capacity`).
#[inline]
fn occupied_in(tail: u64, head: u64, capacity: u64, wrap: u64) -> Option<u64> {
    if tail >= wrap || head >= wrap {
        return None;
    }
    Some(distance(tail, head, wrap)).filter(|n| *n <= capacity)
}

/// [`occupied_in`] for a ring of `capacity` slots (at least 1).
#[inline]
pub(crate) fn occupied(tail: u64, head: u64, capacity: u64) -> Option<u64> {
    occupied_in(tail, head, capacity, wrap_of(capacity))
}

/// The producer's local state.
#[derive(Debug)]
pub struct ProducerCursor {
    /// Our write position (the truth; the shared word is a copy for the
    /// consumer).
    tail: u64,
    /// The consumer's read position when last loaded.
    head_cache: u64,
    /// `head_cache + capacity` (modulo the wrap): the write position at
    /// which the cached read position shows the ring full, kept with
    /// `head_cache` so that [`Ring::has_free`] is one compare.
    full_at: u64,
}

/// The consumer's local state.
#[derive(Debug)]
pub struct ConsumerCursor {
    /// Our read position.
    head: u64,
    /// The producer's write position when last loaded.
    tail_cache: u64,
}

/// A shape (capacity, slot size) checked against a number of words:
/// what [`Ring::split`] checks once, kept so that [`Ring::view`] and
/// [`Ring::view_unchecked`] need not check it again on every call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    capacity: u64,
    /// As [`Ring`]'s.
    mask: u64,
    /// As [`Ring`]'s: [`wrap_of`] the capacity, computed once here (a
    /// division) rather than in every view.
    wrap: u64,
    slot_words: usize,
    /// Number of words of the ring: `layout_words(capacity, slot_words)`,
    /// so at least [`SLOTS_WORD`] + 1.
    words: usize,
}

impl Geometry {
    /// `capacity` slots of `slot_words` words; `None` unless the shape is
    /// usable (at least one slot of at least one word) and takes exactly
    /// `words` words.
    pub(crate) fn new(words: usize, capacity: u64, slot_words: usize) -> Option<Self> {
        if capacity == 0 || slot_words == 0 || Some(words) != layout_words(capacity, slot_words) {
            return None;
        }
        let mask = if capacity.is_power_of_two() { capacity - 1 } else { u64::MAX };
        Some(Self { capacity, mask, wrap: wrap_of(capacity), slot_words, words })
    }
}

/// A ring over words whose shape (capacity, slot size) has been checked.
pub struct Ring<'a> {
    capacity: u64,
    /// `capacity - 1` if the capacity is a power of two (`position & mask`
    /// is then the slot index, without a division), `u64::MAX` otherwise.
    mask: u64,
    /// [`wrap_of`] the capacity: positions range over `0..wrap`.
    wrap: u64,
    slot_words: usize,
    tail: &'a AtomicU64,
    head: &'a AtomicU64,
    slots: &'a [AtomicU64],
}

impl<'a> Ring<'a> {
    /// Splits `words` into the ring's parts; `None` unless `words` has
    /// exactly `layout_words(capacity, slot_words)` words and the shape is
    /// usable (at least one slot of at least one word).
    pub(crate) fn split(words: &'a [AtomicU64], capacity: u64, slot_words: usize) -> Option<Self> {
        Geometry::new(words.len(), capacity, slot_words).map(|geometry| Self::view(words, geometry))
    }

    /// The ring in `words`, of a `geometry` checked against them before.
    ///
    /// # Panics
    ///
    /// If `words` is not the number of words `geometry` was made for.
    #[inline]
    pub(crate) fn view(words: &'a [AtomicU64], geometry: Geometry) -> Self {
        assert_eq!(words.len(), geometry.words, "the geometry was checked against these words");
        let Geometry { capacity, mask, slot_words, .. } = geometry;
        Self {
            capacity,
            mask,
            wrap: wrap_of(capacity),
            slot_words,
            tail: &words[TAIL_WORD],
            head: &words[HEAD_WORD],
            slots: &words[SLOTS_WORD..],
        }
    }

    /// The ring in `words`, of a `geometry` made for their number, checking
    /// nothing: for an owner that made the geometry once, at create or
    /// open, and takes this view on every call (a few register moves once
    /// inlined).
    ///
    /// # Safety
    ///
    /// `geometry` was made for exactly `words.len()` words
    /// ([`Geometry::new`] returned it for that number).
    #[inline]
    pub(crate) unsafe fn view_unchecked(words: &'a [AtomicU64], geometry: Geometry) -> Self {
        debug_assert_eq!(words.len(), geometry.words, "the geometry was made for these words");
        let Geometry { capacity, mask, wrap, slot_words, .. } = geometry;
        // SAFETY: `words.len()` is `geometry.words` (our caller), which is
        // `layout_words(capacity, slot_words)`, at least `SLOTS_WORD`.
        let (positions, slots) = unsafe { words.split_at_unchecked(SLOTS_WORD) };
        // `positions` has the constant `SLOTS_WORD` words, more than
        // `TAIL_WORD` and `HEAD_WORD`: these indices cannot fail, and the
        // optimizer drops their checks. `slots` has the `capacity *
        // slot_words` words `slot` relies on.
        Self { capacity, mask, wrap, slot_words, tail: &positions[TAIL_WORD], head: &positions[HEAD_WORD], slots }
    }

    /// Sets up fresh (zeroed) words as an empty ring of elements of
    /// `element_bytes` whose positions start at `start` (modulo the wrap).
    /// Only the creator calls this, before publishing.
    pub(crate) fn init(words: &'a [AtomicU64], shape: Shape, start: u64) -> Self {
        let ring =
            Self::split(words, shape.capacity, shape.slot_words).expect("caller sized the payload with layout_words");
        words[CAPACITY_WORD].store(shape.capacity, Ordering::Relaxed);
        words[SLOT_WORDS_WORD].store(shape.slot_words as u64, Ordering::Relaxed);
        words[ELEMENT_BYTES_WORD].store(shape.element_bytes, Ordering::Relaxed);
        let start = start % ring.wrap;
        ring.tail.store(start, Ordering::Relaxed);
        ring.head.store(start, Ordering::Relaxed);
        ring
    }

    /// The shape another process stored in `words` (untrusted: only
    /// [`attach`](Self::attach) checks it against the number of words).
    pub(crate) fn stored_shape(words: &[AtomicU64]) -> Result<Shape, &'static str> {
        let stored = |i: usize| words.get(i).map(|w| w.load(Ordering::Relaxed)).ok_or("payload too small for a ring");
        let slot_words = usize::try_from(stored(SLOT_WORDS_WORD)?).map_err(|_| "slot size word is impossible")?;
        Ok(Shape { capacity: stored(CAPACITY_WORD)?, slot_words, element_bytes: stored(ELEMENT_BYTES_WORD)? })
    }

    /// Attaches to a ring another process made, checking its shape words
    /// against the element the opener expects and the number of words
    /// (the form of what `ring_end` does that models, tests and the fuzz
    /// entry points use).
    #[cfg(any(test, loom, fuzzing))]
    pub(crate) fn attach(words: &'a [AtomicU64], slot_words: usize, element_bytes: u64) -> Result<Self, &'static str> {
        let shape = Self::stored_shape(words)?;
        if shape.slot_words != slot_words || shape.element_bytes != element_bytes {
            return Err("slot size words disagree with the element type");
        }
        Self::split(words, shape.capacity, slot_words).ok_or("capacity word disagrees with the payload size")
    }

    /// The words of the slot that holds item `position` (any `u64`: a
    /// position need not have been checked to name a slot in range).
    #[inline]
    fn slot(&self, position: u64) -> &'a [AtomicU64] {
        // Below the capacity whatever `position` is: `position % capacity`
        // is, and for a power of two `position & (capacity - 1)` is the
        // same number.
        let index = if self.mask == u64::MAX { position % self.capacity } else { position & self.mask };
        // No overflow, and `start + slot_words <= capacity * slot_words`:
        // `index < capacity`, and `capacity * slot_words` is the length of
        // `slots`, a `usize` (the invariant every constructor keeps:
        // `view` asserts the geometry's word count, `view_unchecked`'s
        // caller promises it, and `Geometry::new` made that count
        // `layout_words(capacity, slot_words)`).
        #[expect(clippy::cast_possible_truncation, reason = "below the capacity, which fits usize (above)")]
        let start = index as usize * self.slot_words;
        debug_assert!(start + self.slot_words <= self.slots.len(), "slot {index} outside the slots");
        // SAFETY: `start..start + slot_words` is within `slots` (above); a
        // checked index here was a compare and a branch on every item of
        // every write and read, for a bound that cannot fail.
        unsafe { self.slots.get_unchecked(start..start + self.slot_words) }
    }

    /// Loads both positions for a new cursor, checking them.
    fn positions(&self) -> Result<(u64, u64), Corrupt> {
        // Pairs with the Release stores of each position: the slots the
        // other side finished with are visible.
        let tail = self.tail.load(Ordering::Acquire);
        let head = self.head.load(Ordering::Acquire);
        occupied_in(tail, head, self.capacity, self.wrap)
            .map(|_| (tail, head))
            .ok_or(Corrupt { what: "write position", found: tail })
    }

    /// A producer's cursor, starting at the shared write position.
    pub(crate) fn producer(&self) -> Result<ProducerCursor, Corrupt> {
        let (tail, head) = self.positions()?;
        // As in `free`: the slots free at this read position may be reused
        // from now on without another load of it.
        sync::fence(Site::RingReuseFence, Ordering::Release);
        Ok(ProducerCursor { tail, head_cache: head, full_at: advance(head, self.capacity, self.wrap) })
    }

    /// A consumer's cursor, starting at the shared read position.
    pub(crate) fn consumer(&self) -> Result<ConsumerCursor, Corrupt> {
        self.positions().map(|(tail, head)| ConsumerCursor { head, tail_cache: tail })
    }

    /// Current write and read positions, as loaded now (for reports; not
    /// ordered with anything).
    pub(crate) fn snapshot(&self) -> (u64, u64) {
        (self.tail.load(Ordering::Relaxed), self.head.load(Ordering::Relaxed))
    }

    /// Free slots for the producer, loading the consumer's position only
    /// when the cached one leaves fewer than `wanted`.
    #[inline]
    pub(crate) fn free(&self, cursor: &mut ProducerCursor, wanted: u64) -> Result<u64, Corrupt> {
        let cached = self.capacity - distance(cursor.tail, cursor.head_cache, self.wrap);
        if cached >= wanted {
            return Ok(cached);
        }
        // Acquire pairs with the consumer's Release store in `release`:
        // its copies out of the slots it freed are done before we reuse them.
        let head = self.head.load(Ordering::Acquire);
        let used = occupied_in(cursor.tail, head, self.capacity, self.wrap)
            .ok_or(Corrupt { what: "read position", found: head })?;
        // Pairs with the fence(Acquire) in `peek_unread`: a reader that
        // claims nothing and copies a slot we are about to reuse, if it
        // sees any word we store from here on, then sees the read position
        // just loaded (or a later one), and drops the item. Once per
        // refresh of the cached position, not per item; on x86 it emits
        // no instruction.
        sync::fence(Site::RingReuseFence, Ordering::Release);
        cursor.head_cache = head;
        cursor.full_at = advance(head, self.capacity, self.wrap);
        Ok(self.capacity - used)
    }

    /// Whether a slot is free for the producer: [`free`](Self::free) for
    /// one slot, with the cached read position's answer one compare
    /// (`full_at`) rather than a distance on the circle of positions.
    #[inline]
    pub(crate) fn has_free(&self, cursor: &mut ProducerCursor) -> Result<bool, Corrupt> {
        if cursor.tail != cursor.full_at {
            return Ok(true);
        }
        self.free(cursor, 1).map(|n| n > 0)
    }

    /// Whether an item is ready for the consumer: [`available`](Self::available)
    /// for one item, with the cached write position's answer one compare.
    #[inline]
    pub(crate) fn has_ready(&self, cursor: &mut ConsumerCursor) -> Result<bool, Corrupt> {
        if cursor.tail_cache != cursor.head {
            return Ok(true);
        }
        self.available(cursor, 1).map(|n| n > 0)
    }

    /// Items ready for the consumer, loading the producer's position only
    /// when the cached one shows fewer than `wanted`.
    #[inline]
    pub(crate) fn available(&self, cursor: &mut ConsumerCursor, wanted: u64) -> Result<u64, Corrupt> {
        let cached = distance(cursor.tail_cache, cursor.head, self.wrap);
        if cached >= wanted {
            return Ok(cached);
        }
        // The next slot's first line, asked for alongside the write
        // position: when the load below finds a new item, the item's line
        // is already on its way instead of being fetched after it.
        crate::protocol::copy::prefetch(self.slot(cursor.head));
        // Acquire pairs with the producer's Release store in `publish`:
        // the items it published are in their slots.
        let tail = self.tail.load(sync::at(Site::RingTailLoad, Ordering::Acquire));
        let ready = occupied_in(tail, cursor.head, self.capacity, self.wrap)
            .ok_or(Corrupt { what: "write position", found: tail })?;
        cursor.tail_cache = tail;
        Ok(ready)
    }

    /// Copies `item` into the `offset`th free slot. The caller checked
    /// with [`free`](Self::free) that at least `offset + 1` slots are free
    /// and publishes with [`publish`](Self::publish).
    #[inline]
    pub(crate) fn put(&self, cursor: &ProducerCursor, offset: u64, item: &[u8]) {
        store_bytes(self.free_slot(cursor, offset), item);
    }

    /// The words of the `offset`th free slot, for the producer to fill
    /// (same contract as [`put`](Self::put)).
    #[inline]
    pub(crate) fn free_slot(&self, cursor: &ProducerCursor, offset: u64) -> &'a [AtomicU64] {
        self.slot(advance(cursor.tail, offset, self.wrap))
    }

    /// The words of the next free slot: [`free_slot`](Self::free_slot)
    /// at offset 0, without the offset's arithmetic.
    #[inline]
    pub(crate) fn next_free_slot(&self, cursor: &ProducerCursor) -> &'a [AtomicU64] {
        self.slot(cursor.tail)
    }

    /// The words of the oldest ready item: [`ready_slot`](Self::ready_slot)
    /// at offset 0, without the offset's arithmetic.
    #[inline]
    pub(crate) fn next_ready_slot(&self, cursor: &ConsumerCursor) -> &'a [AtomicU64] {
        self.slot(cursor.head)
    }

    /// The words of the `offset`th ready item, for the consumer to copy
    /// out (same contract as [`get`](Self::get)).
    #[inline]
    pub(crate) fn ready_slot(&self, cursor: &ConsumerCursor, offset: u64) -> &'a [AtomicU64] {
        self.slot(advance(cursor.head, offset, self.wrap))
    }

    /// Makes the next `count` slots written with [`put`](Self::put)
    /// visible to the consumer, with one store.
    #[inline]
    pub(crate) fn publish(&self, cursor: &mut ProducerCursor, count: u64) {
        cursor.tail =
            if count == 1 { advance_one(cursor.tail, self.wrap) } else { advance(cursor.tail, count, self.wrap) };
        // Pairs with the consumer's Acquire load in `available`.
        self.tail.store(cursor.tail, sync::at(Site::RingPublish, Ordering::Release));
    }

    /// Copies the `offset`th ready item into `out`. The caller checked
    /// with [`available`](Self::available) that at least `offset + 1` are
    /// ready and frees them with [`release`](Self::release).
    #[inline]
    pub(crate) fn get(&self, cursor: &ConsumerCursor, offset: u64, out: &mut [u8]) {
        load_bytes(self.ready_slot(cursor, offset), out);
    }

    /// Frees the next `count` slots read with [`get`](Self::get) for the
    /// producer, with one store.
    #[inline]
    pub(crate) fn release(&self, cursor: &mut ConsumerCursor, count: u64) {
        cursor.head =
            if count == 1 { advance_one(cursor.head, self.wrap) } else { advance(cursor.head, count, self.wrap) };
        // Pairs with the producer's Acquire load in `free`.
        self.head.store(cursor.head, Ordering::Release);
    }

    /// Drops every item published so far; returns how many.
    pub(crate) fn skip_all(&self, cursor: &mut ConsumerCursor) -> Result<u64, Corrupt> {
        let ready = self.available(cursor, u64::MAX)?;
        self.release(cursor, ready);
        Ok(ready)
    }

    /// The oldest and newest unread items, copied into `oldest` and
    /// `newest` (each `element_bytes` long) by a reader that claims
    /// nothing (`Peek`), each with its position; `None` for an item the
    /// consumer freed while it was copied (the producer may have been
    /// overwriting it: dropped rather than shown torn), or when nothing is
    /// unread. (Positions that do not make sense, say a consumer moving
    /// between the two loads, show as nothing unread: the caller checked
    /// the positions already.)
    pub(crate) fn peek_unread(&self, oldest: &mut [u8], newest: &mut [u8]) -> (Option<u64>, Option<u64>) {
        // Acquire pairs with the producer's Release store in `publish`:
        // the items before it are in their slots.
        let tail = self.tail.load(Ordering::Acquire);
        let head = self.head.load(Ordering::Relaxed);
        if occupied_in(tail, head, self.capacity, self.wrap).unwrap_or(0) == 0 {
            return (None, None);
        }
        let newest_position = tail.checked_sub(1).unwrap_or(self.wrap - 1);
        load_bytes(self.slot(head), oldest);
        load_bytes(self.slot(newest_position), newest);
        // Pairs with the producer's fence(Release) in `free`, after its
        // load of the read position and before it overwrites a slot: if a
        // word copied above is one it stored after that fence, the read
        // position loaded below is the one it saw (or later), so the item
        // shows as freed and is dropped.
        sync::fence(Site::RingPeekFence, Ordering::Acquire);
        let head_now = self.head.load(Ordering::Relaxed);
        let still = occupied_in(tail, head_now, self.capacity, self.wrap).unwrap_or(0);
        ((head_now == head).then_some(head), (still > 0).then_some(newest_position))
    }

    /// Our write position.
    pub(crate) fn write_position(cursor: &ProducerCursor) -> u64 {
        cursor.tail
    }

    /// Our read position.
    pub(crate) fn read_position(cursor: &ConsumerCursor) -> u64 {
        cursor.head
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn heap(capacity: u64, slot_words: usize) -> Vec<AtomicU64> {
        (0..layout_words(capacity, slot_words).unwrap()).map(|_| AtomicU64::new(0)).collect()
    }

    fn shape(capacity: u64, slot_words: usize) -> Shape {
        Shape { capacity, slot_words, element_bytes: slot_words as u64 * 8 }
    }

    fn push(ring: &Ring<'_>, p: &mut ProducerCursor, value: u64) -> bool {
        if ring.free(p, 1).unwrap() == 0 {
            return false;
        }
        ring.put(p, 0, &value.to_ne_bytes());
        ring.publish(p, 1);
        true
    }

    fn pop(ring: &Ring<'_>, c: &mut ConsumerCursor) -> Option<u64> {
        if ring.available(c, 1).unwrap() == 0 {
            return None;
        }
        let mut out = [0u8; 8];
        ring.get(c, 0, &mut out);
        ring.release(c, 1);
        Some(u64::from_ne_bytes(out))
    }

    /// `view_unchecked` over a geometry made for the words is the ring
    /// `split` makes (same shape, same words), and one works with the
    /// other.
    #[test]
    fn view_unchecked_is_split_without_the_checks() {
        for (capacity, slot_words) in [(1, 1), (3, 2), (4, 1), (5, 3)] {
            let words = heap(capacity, slot_words);
            let split = Ring::init(&words, shape(capacity, slot_words), u64::MAX - 2);
            let geometry = Geometry::new(words.len(), capacity, slot_words).unwrap();
            // SAFETY: `geometry` was made for `words.len()` just above.
            let view = unsafe { Ring::view_unchecked(&words, geometry) };
            let numbers = |r: &Ring<'_>| (r.capacity, r.mask, r.wrap, r.slot_words);
            assert_eq!(numbers(&view), numbers(&split));
            assert!(core::ptr::eq(view.tail, split.tail) && core::ptr::eq(view.head, split.head));
            assert!(core::ptr::eq(view.slots, split.slots));
            let (mut p, mut c) = (view.producer().unwrap(), split.consumer().unwrap());
            for value in 0..2 * capacity {
                assert!(push(&view, &mut p, value));
                assert_eq!(pop(&split, &mut c), Some(value));
            }
        }
        assert!(Geometry::new(layout_words(3, 2).unwrap() + 1, 3, 2).is_none(), "made for another length");
    }

    #[test]
    fn fifo_full_and_empty() {
        let words = heap(3, 1);
        let ring = Ring::init(&words, shape(3, 1), 0);
        let (mut p, mut c) = (ring.producer().unwrap(), ring.consumer().unwrap());
        assert_eq!(pop(&ring, &mut c), None, "empty returns nothing, not stale data");
        for v in 1..=3 {
            assert!(push(&ring, &mut p, v));
        }
        assert!(!push(&ring, &mut p, 4), "full refuses, never overwrites");
        assert_eq!(pop(&ring, &mut c), Some(1));
        assert!(push(&ring, &mut p, 4));
        assert_eq!([pop(&ring, &mut c), pop(&ring, &mut c), pop(&ring, &mut c)], [Some(2), Some(3), Some(4)]);
        assert_eq!(pop(&ring, &mut c), None);
    }

    #[test]
    fn e9_positions_wrap_around_u64() {
        let words = heap(4, 1);
        let ring = Ring::init(&words, shape(4, 1), u64::MAX - 5);
        let (mut p, mut c) = (ring.producer().unwrap(), ring.consumer().unwrap());
        let mut next = 0;
        for round in 0..20u64 {
            for _ in 0..=round % 4 {
                assert!(push(&ring, &mut p, round * 10 + next));
                next += 1;
            }
            while let Some(v) = pop(&ring, &mut c) {
                assert_eq!(v % 10 + (v / 10) * 10, v);
            }
            next = 0;
        }
        assert!(Ring::write_position(&p) < 100, "the write position wrapped");
    }

    /// Regression (found by the `ring` fuzz target): positions wrapped at
    /// 2^64, where a capacity that is not a power of two puts items
    /// `u64::MAX` and `0` in the same slot (both `% 3 == 0`), so an item
    /// was overwritten before it was read.
    #[test]
    fn d6_positions_wrap_for_every_capacity() {
        for capacity in 1..=9u64 {
            let wrap = wrap_of(capacity);
            assert_eq!(wrap % capacity, 0);
            assert!(wrap > u64::MAX - capacity);
            for start in [u64::MAX - 2 * capacity, wrap - capacity, wrap - 1, u64::MAX] {
                let words = heap(capacity, 1);
                let ring = Ring::init(&words, shape(capacity, 1), start);
                let (mut p, mut c) = (ring.producer().unwrap(), ring.consumer().unwrap());
                let (mut sent, mut received) = (0u64, 0u64);
                for _ in 0..4 * capacity {
                    while push(&ring, &mut p, sent) {
                        sent += 1;
                    }
                    assert_eq!(sent - received, capacity, "capacity {capacity}, start {start:#x}");
                    let v = pop(&ring, &mut c);
                    assert_eq!(v, Some(received), "capacity {capacity}, start {start:#x}: item lost at the wrap");
                    received += 1;
                }
                while let Some(v) = pop(&ring, &mut c) {
                    assert_eq!(v, received, "capacity {capacity}, start {start:#x}");
                    received += 1;
                }
                assert_eq!(sent, received);
                assert!(Ring::write_position(&p) < 10 * capacity, "capacity {capacity}: the positions did not wrap");
            }
        }
    }

    #[test]
    fn e4_positions_at_or_past_the_wrap_are_corrupt() {
        let words = heap(3, 1);
        let ring = Ring::init(&words, shape(3, 1), 0);
        let mut c = ring.consumer().unwrap();
        // `u64::MAX` is a multiple of 3, so positions wrap there: neither
        // it nor anything above is a position.
        for junk in [wrap_of(3), u64::MAX] {
            words[TAIL_WORD].store(junk, Ordering::Relaxed);
            assert_eq!(ring.available(&mut c, 1), Err(Corrupt { what: "write position", found: junk }));
        }
        assert_eq!(occupied(0, u64::MAX, 3), None);
        assert_eq!(occupied(1, wrap_of(3) - 1, 3), Some(2), "two items across the wrap");
    }

    #[test]
    fn e4_garbage_positions_are_corrupt_not_out_of_bounds() {
        let words = heap(4, 1);
        let ring = Ring::init(&words, shape(4, 1), 0);
        let (mut p, mut c) = (ring.producer().unwrap(), ring.consumer().unwrap());
        // A peer claims 5 items in a 4-slot ring.
        words[TAIL_WORD].store(5, Ordering::Relaxed);
        assert_eq!(ring.available(&mut c, 1), Err(Corrupt { what: "write position", found: 5 }));
        words[TAIL_WORD].store(0, Ordering::Relaxed);
        // A peer moves the read position past the write position.
        assert!(push(&ring, &mut p, 1) && push(&ring, &mut p, 2) && push(&ring, &mut p, 3) && push(&ring, &mut p, 4));
        words[HEAD_WORD].store(9, Ordering::Relaxed);
        assert_eq!(ring.free(&mut p, 1), Err(Corrupt { what: "read position", found: 9 }));
        assert!(ring.consumer().is_err() && ring.producer().is_err());
    }

    #[test]
    fn attach_checks_the_shape() {
        let words = heap(5, 2);
        Ring::init(&words, Shape { capacity: 5, slot_words: 2, element_bytes: 12 }, 0);
        assert_eq!(Ring::attach(&words, 2, 12).unwrap().capacity, 5);
        assert!(Ring::attach(&words, 1, 8).is_err(), "another element size");
        assert!(Ring::attach(&words, 2, 16).is_err(), "same slot, another element size");
        assert_eq!(Ring::stored_shape(&words), Ok(Shape { capacity: 5, slot_words: 2, element_bytes: 12 }));
        words[CAPACITY_WORD].store(6, Ordering::Relaxed);
        assert!(Ring::attach(&words, 2, 12).is_err());
        words[CAPACITY_WORD].store(0, Ordering::Relaxed);
        assert!(Ring::attach(&words, 2, 12).is_err());
        words[CAPACITY_WORD].store(u64::MAX, Ordering::Relaxed);
        assert!(Ring::attach(&words, 2, 12).is_err());
        assert!(Ring::attach(&words[..2], 2, 12).is_err());
    }

    proptest! {
        /// E4/E9: the validator accepts exactly the pairs of positions
        /// with 0..=capacity items between them, wherever they sit on the
        /// circle of `wrap_of(capacity)` positions, and nothing at or past
        /// the wrap.
        #[test]
        fn occupied_accepts_exactly_the_possible_counts(
            head in any::<u64>(),
            n in prop_oneof![0u64..64, any::<u64>()],
            capacity in prop_oneof![1u64..64, 1u64..1 << 40, any::<u64>()],
        ) {
            let wrap = wrap_of(capacity);
            let (head, n) = (head % wrap, n % wrap);
            let tail = advance(head, n, wrap);
            prop_assert!(tail < wrap);
            prop_assert_eq!(u128::from(tail), (u128::from(head) + u128::from(n)) % u128::from(wrap));
            prop_assert_eq!(occupied(tail, head, capacity), (n <= capacity).then_some(n));
            prop_assert_eq!(occupied(wrap + n % (u64::MAX - wrap + 1), head, capacity), None);
        }

        /// Whatever a peer stores into the position words, the other side
        /// gets `Corrupt` or a count within the capacity, and slot
        /// accesses stay in bounds.
        #[test]
        fn scribbled_positions_never_escape(capacity in 1u64..9, start in any::<u64>(), junk in any::<u64>(), which in 0usize..2) {
            let words = heap(capacity, 1);
            let ring = Ring::init(&words, shape(capacity, 1), start);
            let (mut p, mut c) = (ring.producer().unwrap(), ring.consumer().unwrap());
            words[if which == 0 { TAIL_WORD } else { HEAD_WORD }].store(junk, Ordering::Relaxed);
            if let Ok(n) = ring.available(&mut c, 1) {
                prop_assert!(n <= capacity);
                for i in 0..n {
                    let mut out = [0u8; 8];
                    ring.get(&c, i, &mut out);
                }
            }
            if let Ok(n) = ring.free(&mut p, capacity) {
                prop_assert!(n <= capacity);
            }
        }

        /// Any interleaving of pushes and pops keeps FIFO order with
        /// nothing lost, duplicated or overwritten.
        #[test]
        fn any_schedule_is_fifo(capacity in 1u64..6, start in any::<u64>(), ops in prop::collection::vec(any::<bool>(), 0..200)) {
            let words = heap(capacity, 1);
            let ring = Ring::init(&words, shape(capacity, 1), start);
            let (mut p, mut c) = (ring.producer().unwrap(), ring.consumer().unwrap());
            let (mut sent, mut received) = (0u64, 0u64);
            for push_now in ops {
                // The one-compare answers agree with the counts, whatever
                // the cached positions are and wherever the wrap falls.
                prop_assert_eq!(ring.has_free(&mut p).unwrap(), sent - received < capacity);
                prop_assert_eq!(ring.has_ready(&mut c).unwrap(), sent > received);
                if push_now {
                    if push(&ring, &mut p, sent) {
                        sent += 1;
                    } else {
                        prop_assert_eq!(sent - received, capacity);
                    }
                } else if let Some(v) = pop(&ring, &mut c) {
                    prop_assert_eq!(v, received);
                    received += 1;
                } else {
                    prop_assert_eq!(sent, received);
                }
            }
        }
    }
}

/// Loom model of push and pop (run with the cell's models, see
/// `cell.rs`): a producer pushes three two-word items through a two-slot
/// ring (so it fills and wraps) while the consumer pops them; every item
/// arrives whole, once, in order. Weakening the publishing store or the
/// consumer's load of it must make the model fail. The head side's
/// orderings have no mutant: loom does not model load buffering, the
/// reordering their removal would allow.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::protocol::sync::{assert_mutants_fail, with_mutant};
    use loom::sync::Arc;

    fn item(k: u64) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&k.to_ne_bytes());
        bytes[8..].copy_from_slice(&(!k).to_ne_bytes());
        bytes
    }

    fn push_pop_in_order() {
        loom::model(|| {
            let words: Vec<AtomicU64> = (0..layout_words(2, 2).unwrap()).map(|_| AtomicU64::new(0)).collect();
            Ring::init(&words, Shape { capacity: 2, slot_words: 2, element_bytes: 16 }, 0);
            let words = Arc::new(words);
            let producer = {
                let words = Arc::clone(&words);
                loom::thread::spawn(move || {
                    let ring = Ring::attach(&words, 2, 16).unwrap();
                    let mut p = ring.producer().unwrap();
                    for k in 1..=3 {
                        while ring.free(&mut p, 1).unwrap() == 0 {
                            sync::yield_now();
                        }
                        ring.put(&p, 0, &item(k));
                        ring.publish(&mut p, 1);
                    }
                })
            };
            let ring = Ring::attach(&words, 2, 16).unwrap();
            let mut c = ring.consumer().unwrap();
            for k in 1..=3 {
                while ring.available(&mut c, 1).unwrap() == 0 {
                    sync::yield_now();
                }
                let mut out = [0u8; 16];
                ring.get(&c, 0, &mut out);
                ring.release(&mut c, 1);
                assert_eq!(out, item(k), "item {k} arrived wrong");
            }
            producer.join().unwrap();
        });
    }

    /// A reader that claims nothing (`Peek`) looks at the oldest unread
    /// item while the consumer frees it and the producer reuses its slot:
    /// what it returns is the item of that position, whole, never the
    /// next one's words under the old position.
    fn peek_never_shows_a_reused_slot() {
        peek_while_reused(true);
        peek_while_reused(false);
    }

    fn peek_while_reused(refresh: bool) {
        loom::model(move || {
            let words: Vec<AtomicU64> = (0..layout_words(1, 2).unwrap()).map(|_| AtomicU64::new(0)).collect();
            let ring = Ring::init(&words, Shape { capacity: 1, slot_words: 2, element_bytes: 16 }, 0);
            let mut p = ring.producer().unwrap();
            ring.free(&mut p, 1).unwrap();
            ring.put(&p, 0, &item(1));
            ring.publish(&mut p, 1);
            let words = Arc::new(words);
            let writer = {
                let words = Arc::clone(&words);
                loom::thread::spawn(move || {
                    let ring = Ring::attach(&words, 2, 16).unwrap();
                    let mut c = ring.consumer().unwrap();
                    assert_eq!(ring.available(&mut c, 1).unwrap(), 1);
                    ring.release(&mut c, 1);
                    // The producer from before (its cached read position
                    // shows the ring full, so `free` loads it again) and,
                    // alternately, one attaching now (it loads the read
                    // position in `producer`).
                    let mut fresh = ring.producer().unwrap();
                    let p = if refresh { &mut p } else { &mut fresh };
                    if ring.free(p, 1).unwrap() == 1 {
                        ring.put(p, 0, &item(2));
                    }
                })
            };
            let ring = Ring::attach(&words, 2, 16).unwrap();
            let (mut oldest, mut newest) = ([0u8; 16], [0u8; 16]);
            let (old, new) = ring.peek_unread(&mut oldest, &mut newest);
            if old == Some(0) {
                assert_eq!(oldest, item(1), "the oldest item shown from a reused slot");
            }
            if new == Some(0) {
                assert_eq!(newest, item(1), "the newest item shown from a reused slot");
            }
            writer.join().unwrap();
        });
    }

    #[test]
    fn loom_ring_push_pop_holds() {
        with_mutant(None, push_pop_in_order);
    }

    #[test]
    fn loom_ring_peek_holds() {
        with_mutant(None, peek_never_shows_a_reused_slot);
    }

    #[test]
    fn loom_ring_peek_mutants_fail() {
        assert_mutants_fail(&[
            (Site::RingReuseFence, peek_never_shows_a_reused_slot, "peek_never_shows_a_reused_slot"),
            (Site::RingPeekFence, peek_never_shows_a_reused_slot, "peek_never_shows_a_reused_slot"),
        ]);
    }

    #[test]
    fn loom_ring_mutants_fail() {
        assert_mutants_fail(&[
            (Site::RingPublish, push_pop_in_order, "push_pop_in_order"),
            (Site::RingTailLoad, push_pop_in_order, "push_pop_in_order"),
        ]);
    }
}
