//! The byte cell behind `SharedString` and `SharedBytes`: a value of up to
//! `capacity` bytes kept in two alternating copies.
//!
//! Layout (64-bit words, see `FORMAT.md`):
//!
//! ```text
//! 0  lock       pid of the writing process, 0 when free (see `lock`)
//! 1  current    number of the last completed write; its copy is
//!               `slots[current & 1]`
//! 2  capacity   in bytes, fixed at creation
//! 3  waiters    futex word of change waiters (`notify.rs`); the
//!               version they wait on is `current`
//! 4  slot 0     seq, len, ceil(capacity / 8) data words
//! .. slot 1     seq, len, data words
//! ```
//!
//! A writer (holding the lock) fills the copy that `current` does *not*
//! point at, as a seqlock: `seq` odd, `fence(Release)`, relaxed stores of
//! `len` and the data, `seq` even with `Release`; then it points `current`
//! at it. A reader loads `current`, copies that slot seqlock-style and
//! retries if its `seq` moved. A writer killed mid-copy leaves `seq` odd in
//! the copy nobody points at: readers keep returning the last complete
//! value, and the next writer (which takes the dead writer's lock over)
//! rewrites that copy. Every access is atomic, so racing copies are not
//! data races.

use crate::protocol::copy::Bytes;
use crate::protocol::lock::{self, Claimant, LockGuard};
use crate::protocol::sync::{self, AtomicU64, Ordering, Site};
use std::time::{Duration, Instant};

use crate::format::layout::cell::{CAPACITY_WORD, CURRENT_WORD, LOCK_WORD};
pub(crate) use crate::format::layout::cell::{PREFIX_WORDS, SLOT_HEADER_WORDS};
/// Longest a read keeps retrying while writers keep replacing the value.
const READ_BUDGET: Duration = Duration::from_secs(1);

/// Number of payload words for `capacity` bytes, or `None` on overflow.
pub(crate) fn layout_words(capacity: usize) -> Option<usize> {
    let data = capacity.checked_add(7)? / 8;
    data.checked_add(SLOT_HEADER_WORDS)?.checked_mul(2)?.checked_add(PREFIX_WORDS)
}

/// A failed cell operation; the objects add their segment name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CellError {
    TooLarge { len: usize },
    LockTimeout { holder: u64, waited: Duration },
    Corrupt { len: u64 },
    BufferTooSmall { len: usize, buffer: usize },
    Contended,
}

/// One copy of the value.
struct Slot<'a> {
    /// Even when the copy is complete, odd while a writer fills it.
    seq: &'a AtomicU64,
    /// Length in bytes; untrusted (a peer may store anything).
    len: &'a AtomicU64,
    /// `ceil(capacity / 8)` words of data.
    data: &'a [AtomicU64],
}

/// A byte cell over `layout_words(capacity)` atomic words.
pub(crate) struct ByteCell<'a> {
    lock: &'a AtomicU64,
    current: &'a AtomicU64,
    slots: [Slot<'a>; 2],
    /// Validated at attach; never re-read from shared memory.
    capacity: usize,
}

impl<'a> ByteCell<'a> {
    /// Splits `words` into the cell's parts; `None` unless `words` has
    /// exactly `layout_words(capacity)` words.
    pub(crate) fn split(words: &'a [AtomicU64], capacity: usize) -> Option<Self> {
        if Some(words.len()) != layout_words(capacity) {
            return None;
        }
        let (prefix, slots) = words.split_at(PREFIX_WORDS);
        let (a, b) = slots.split_at(slots.len() / 2);
        let slot = |s: &'a [AtomicU64]| Slot { seq: &s[0], len: &s[1], data: &s[SLOT_HEADER_WORDS..] };
        Some(Self { lock: &prefix[LOCK_WORD], current: &prefix[CURRENT_WORD], slots: [slot(a), slot(b)], capacity })
    }

    /// The cell in `words`, of `capacity` bytes, checking nothing: for an
    /// owner that checked the number of words once (at create or open, as
    /// [`split`](Self::split) does) and takes this view on every access.
    ///
    /// # Safety
    ///
    /// `words.len()` is `layout_words(capacity)` (which is `Some`).
    #[inline]
    pub(crate) unsafe fn split_unchecked(words: &'a [AtomicU64], capacity: usize) -> Self {
        debug_assert_eq!(Some(words.len()), layout_words(capacity), "the words of a cell of this capacity");
        // No overflow: `layout_words(capacity)`, larger, did not overflow.
        // Every length below comes from the capacity, none from
        // `words.len()`, so a view costs no more than these few additions.
        let slot_words = SLOT_HEADER_WORDS + capacity.div_ceil(8);
        let b_start = PREFIX_WORDS + slot_words;
        // SAFETY: `words` has `PREFIX_WORDS + 2 * slot_words` words (our
        // caller; that is `layout_words(capacity)`): the prefix, slot 0 and
        // slot 1 below are inside it.
        let prefix = unsafe { words.get_unchecked(..PREFIX_WORDS) };
        // SAFETY: as for `prefix`.
        let a = unsafe { words.get_unchecked(PREFIX_WORDS..b_start) };
        // SAFETY: as for `prefix`.
        let b = unsafe { words.get_unchecked(b_start..b_start + slot_words) };
        let slot = |s: &'a [AtomicU64]| {
            // SAFETY: `s` is `a` or `b`, each `slot_words` words, at least
            // `SLOT_HEADER_WORDS`.
            let (header, data) = unsafe { s.split_at_unchecked(SLOT_HEADER_WORDS) };
            // `header` has the constant 2 words (and `prefix` below the
            // constant `PREFIX_WORDS`): these indices cannot fail, and the
            // optimizer drops their checks.
            Slot { seq: &header[0], len: &header[1], data }
        };
        Self { lock: &prefix[0], current: &prefix[1], slots: [slot(a), slot(b)], capacity }
    }

    /// Sets up a fresh (zeroed) cell holding `initial`. Only the creator
    /// calls this, before the segment is published; the publishing Release
    /// store orders these relaxed stores for openers.
    pub(crate) fn init(words: &'a [AtomicU64], capacity: usize, initial: &[u8]) -> Self {
        assert!(initial.len() <= capacity, "initial value longer than the capacity");
        let cell = Self::split(words, capacity).expect("caller sized the payload with layout_words");
        words[CAPACITY_WORD].store(capacity as u64, Ordering::Relaxed);
        cell.slots[0].len.store(initial.len() as u64, Ordering::Relaxed);
        store_bytes(cell.slots[0].data, initial);
        cell
    }

    /// Attaches to a cell another process made, checking its capacity word
    /// against the payload size.
    pub(crate) fn attach(words: &'a [AtomicU64]) -> Result<Self, &'static str> {
        let stored = words.get(CAPACITY_WORD).ok_or("payload too small for a byte cell")?.load(Ordering::Relaxed);
        let capacity = usize::try_from(stored).map_err(|_| "capacity word does not fit this machine")?;
        Self::split(words, capacity).ok_or("capacity word disagrees with the payload size")
    }

    /// Capacity in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The version of the value: the number of the last completed write
    /// (`current`), which every write advances by one. `Acquire`: pairs
    /// with the Release store of `current` in `write_locked`, so a read
    /// after this returns that write's value or a later one. Waiters for a
    /// change compare it (`protocol/notify.rs`).
    #[inline]
    pub(crate) fn version(&self) -> u64 {
        self.current.load(Ordering::Acquire)
    }

    /// Replaces the value with `src`. Nothing changes on error.
    pub(crate) fn write(&self, src: &[u8], me: impl Into<Claimant>, wait: Duration) -> Result<(), CellError> {
        if src.len() > self.capacity {
            return Err(CellError::TooLarge { len: src.len() });
        }
        let guard = self.lock(me, wait)?;
        self.write_locked(&guard, src);
        Ok(())
    }

    /// Takes the writer lock (see `lock`).
    pub(crate) fn lock(&self, me: impl Into<Claimant>, wait: Duration) -> Result<LockGuard<'a>, CellError> {
        lock::acquire(self.lock, me, wait).map_err(|(holder, waited)| CellError::LockTimeout { holder, waited })
    }

    /// Publishes `src` (at most the capacity) as the new value; the caller
    /// holds the writer lock.
    pub(crate) fn write_locked(&self, _guard: &LockGuard<'_>, src: &[u8]) {
        assert!(src.len() <= self.capacity, "caller checked the length");
        // Only lock holders store `current`; the lock's Acquire orders this
        // load after the previous holder's store.
        let next = self.current.load(Ordering::Relaxed).wrapping_add(1);
        let slot = &self.slots[slot_index(next)];
        // Odd, and different from the old value even when a dead writer
        // left it odd.
        let odd = slot.seq.load(Ordering::Relaxed).wrapping_add(1) | 1;
        slot.seq.store(odd, Ordering::Relaxed);
        // Pairs with the reader's `fence(Acquire)` in `read_with`: a reader
        // that sees any store below also sees `odd` when it re-checks.
        sync::fence(Site::CellWriterFence, Ordering::Release);
        slot.len.store(src.len() as u64, Ordering::Relaxed);
        store_bytes(slot.data, src);
        // Pairs with the reader's Acquire load of `seq`.
        slot.seq.store(odd.wrapping_add(1), sync::at(Site::CellSeqPublish, Ordering::Release));
        // Pairs with the reader's Acquire load of `current`. (The fences
        // alone would do: a reader that loads this store synchronizes with
        // the `fence(Release)` above once it passes its own `fence(Acquire)`,
        // so the loom model still passes with both `current` orderings
        // relaxed. They stay, so freshness does not rest on that alone.)
        self.current.store(next, Ordering::Release);
    }

    /// Copies `dst.len()` bytes of the current value, from byte `offset`,
    /// without checking the sequence word: only for a caller that holds
    /// the writer lock (so no cooperating writer changes the current copy)
    /// or that knows the holder is stuck writing the other copy.
    pub(crate) fn copy_current_unchecked<D: Bytes + ?Sized>(&self, offset: usize, dst: &mut D) {
        // Pairs with the Release store of `current` in `write_locked`.
        let slot = &self.slots[slot_index(self.current.load(Ordering::Acquire))];
        load_range(slot.data, offset, dst);
    }

    /// Copies `dst.len()` bytes of the value from byte `offset` (a range
    /// inside the capacity), ignoring the stored length. `None` when
    /// writers kept replacing the value for the whole retry budget (`dst`
    /// then holds nothing of use, and may not have been written at all:
    /// an attempt that finds the copy being written copies nothing).
    pub(crate) fn read_range<D: Bytes + ?Sized>(&self, offset: usize, dst: &mut D, max_attempts: u32) -> Option<()> {
        assert!(offset.checked_add(dst.len()).is_some_and(|end| end <= self.capacity), "range inside the capacity");
        for attempt in 0..max_attempts {
            // Pairs with the Release store of `current` in `write_locked`.
            let current = self.current.load(Ordering::Acquire);
            // Where a reader may stall while writers go on (tests only).
            #[cfg(all(test, not(loom)))]
            tests::stall_after_current();
            let slot = &self.slots[slot_index(current)];
            // Pairs with the Release store of the even `seq`.
            let before = slot.seq.load(sync::at(Site::CellSeqLoad, Ordering::Acquire));
            if before & 1 == 0 {
                load_range(slot.data, offset, dst);
                // Pairs with the writer's `fence(Release)`, as in `read_with`.
                sync::fence(Site::CellReaderFence, Ordering::Acquire);
                // And `current` must still name this copy: see `read_with`.
                if slot.seq.load(Ordering::Relaxed) == before && self.current.load(Ordering::Relaxed) == current {
                    return Some(());
                }
            }
            // No pause after the last attempt: the caller moves on.
            if attempt + 1 == max_attempts {
                break;
            }
            if attempt < 64 {
                sync::spin_loop();
            } else {
                sync::yield_now();
            }
        }
        None
    }

    /// Copies `dst.len()` bytes from `offset` (as [`read_range`]) out of
    /// the last complete value, and always ends, with every byte of `dst`
    /// written (each way out below follows a whole copy):
    ///
    /// 1. `attempts` lock-free seqlock attempts.
    /// 2. If writers kept replacing the value that whole time, take the
    ///    writer lock as `me` (waiting up to `wait`) and copy under it: no
    ///    cooperating writer changes the current copy while the lock is
    ///    held.
    /// 3. If a live process kept the lock for the whole wait, it is busy
    ///    with one write to the other copy: try lock-free again; only if
    ///    that fails too, copy the current slot unchecked. No cooperating
    ///    writer can bring a read here (it would have to hold the lock for
    ///    the whole wait while values keep changing); a hostile peer can,
    ///    and gets bytes that are still a valid value of a type for which
    ///    every bit pattern is valid (`SharedState`).
    ///
    /// [`read_range`]: Self::read_range
    pub(crate) fn read_range_settled<D: Bytes + ?Sized>(
        &self,
        offset: usize,
        dst: &mut D,
        me: impl Into<Claimant>,
        attempts: u32,
        wait: Duration,
    ) {
        if self.read_range(offset, dst, attempts).is_some() {
            return;
        }
        if let Ok(_guard) = self.lock(me, wait) {
            self.copy_current_unchecked(offset, dst);
            return;
        }
        if self.read_range(offset, dst, attempts).is_none() {
            self.copy_current_unchecked(offset, dst);
        }
    }

    /// Copies the value into `dst`, returning its length.
    pub(crate) fn read_into(&self, dst: &mut [u8]) -> Result<usize, CellError> {
        self.read_with(|data, len| {
            let buffer = dst.len();
            let dst = dst.get_mut(..len).ok_or(CellError::BufferTooSmall { len, buffer })?;
            load_bytes(data, dst);
            Ok(())
        })
    }

    /// Replaces the contents of `out` with the value (reusing its
    /// allocation when it is large enough).
    pub(crate) fn read_vec(&self, out: &mut Vec<u8>) -> Result<(), CellError> {
        self.read_with(|data, len| {
            out.resize(len, 0);
            load_bytes(data, &mut out[..]);
            Ok(())
        })
        .map(|_| ())
    }

    /// The reader's side of the protocol: `copy(data, len)` copies one
    /// candidate value out; its result counts only if the copy was not
    /// overwritten meanwhile.
    fn read_with(
        &self,
        mut copy: impl FnMut(&[AtomicU64], usize) -> Result<(), CellError>,
    ) -> Result<usize, CellError> {
        let mut attempts = 0u32;
        let mut started: Option<Instant> = None;
        loop {
            // Pairs with the Release store of `current` in `write`.
            let current = self.current.load(Ordering::Acquire);
            // Where a reader may stall while writers go on (tests only).
            #[cfg(all(test, not(loom)))]
            tests::stall_after_current();
            let slot = &self.slots[slot_index(current)];
            // Pairs with the Release store of the even `seq` in `write`.
            let before = slot.seq.load(sync::at(Site::CellSeqLoad, Ordering::Acquire));
            if before & 1 == 0 {
                let len = slot.len.load(Ordering::Relaxed);
                let outcome = match usize::try_from(len) {
                    Ok(n) if n <= self.capacity => copy(slot.data, n).map(|()| n),
                    _ => Err(CellError::Corrupt { len }),
                };
                // Pairs with the writer's `fence(Release)`: if any load
                // above saw a store of a newer write, the re-check below
                // sees that write's odd `seq`.
                sync::fence(Site::CellReaderFence, Ordering::Acquire);
                // `current` must still name this copy. A reader that loaded
                // `current` and then stalled while the writer published the
                // next write (in the other copy) and filled this one with
                // the write after it can find this copy complete (`seq`
                // even and unchanged) with a value `current` does not name
                // yet; returning it, and then the value `current` does name
                // on the next read, would go back in time (the benchmark's
                // `shm/shared-read-busy` saw it about once in 35 rounds).
                // Relaxed is enough: a reader that saw any store of a
                // later write to this copy is ordered after the writer's
                // store of `current` that moved off it (before that write
                // began), through the Acquire load of `seq` if it saw the
                // new `seq`, through the fences if it saw new data.
                if slot.seq.load(Ordering::Relaxed) == before && self.current.load(Ordering::Relaxed) == current {
                    return outcome;
                }
            }
            attempts += 1;
            if attempts < 64 {
                sync::spin_loop();
            } else {
                if started.get_or_insert_with(Instant::now).elapsed() > READ_BUDGET {
                    return Err(CellError::Contended);
                }
                sync::yield_now();
            }
        }
    }
}

/// Which slot holds write number `n`.
fn slot_index(n: u64) -> usize {
    usize::from(n & 1 == 1)
}

// The payload copies (per word for small payloads, vector moves for
// large ones) live in `copy.rs`; the cell's callers and tests name them
// here as before.
pub(crate) use crate::protocol::copy::{load_bytes, load_range, store_bytes};
// Used by object/ only, which a loom build leaves out.
#[cfg(not(loom))]
pub(crate) use crate::protocol::copy::store_range;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::protocol::lock::LOCK_WAIT;
    use proptest::prelude::*;

    fn heap(capacity: usize) -> Vec<AtomicU64> {
        (0..layout_words(capacity).unwrap()).map(|_| AtomicU64::new(0)).collect()
    }

    fn read(cell: &ByteCell<'_>) -> Result<Vec<u8>, CellError> {
        let mut v = Vec::new();
        cell.read_vec(&mut v).map(|()| v)
    }

    #[test]
    fn b2_layout_overflow_is_none() {
        assert_eq!(layout_words(usize::MAX), None);
        assert_eq!(layout_words(usize::MAX - 6), None);
        assert!(layout_words(usize::MAX / 2).unwrap().checked_mul(8).is_none());
        assert_eq!(layout_words(0), Some(8));
        assert_eq!(layout_words(1), Some(10));
        assert_eq!(layout_words(8), Some(10));
        assert_eq!(layout_words(9), Some(12));
    }

    /// `split_unchecked` over `layout_words(capacity)` words is the cell
    /// `split` makes (the same words for every part, down to the last data
    /// word), and one works with the other.
    #[test]
    fn split_unchecked_is_split_without_the_check() {
        for capacity in [0, 1, 7, 8, 9, 16, 63, 100] {
            let words = heap(capacity);
            let split = ByteCell::init(&words, capacity, &vec![5; capacity]);
            // SAFETY: `heap` made `layout_words(capacity)` words.
            let view = unsafe { ByteCell::split_unchecked(&words, capacity) };
            assert!(core::ptr::eq(view.lock, split.lock) && core::ptr::eq(view.current, split.current));
            for (a, b) in view.slots.iter().zip(&split.slots) {
                assert!(core::ptr::eq(a.seq, b.seq) && core::ptr::eq(a.len, b.len), "capacity {capacity}");
                assert!(core::ptr::eq(a.data, b.data), "capacity {capacity}");
            }
            assert!(core::ptr::eq(view.slots[1].data.last().unwrap_or(view.slots[1].len), words.last().unwrap()));
            assert_eq!(view.capacity(), capacity);
            assert_eq!(read(&view).unwrap(), vec![5; capacity]);
            view.write(&vec![9; capacity], 1, LOCK_WAIT).unwrap();
            assert_eq!(read(&split).unwrap(), vec![9; capacity]);
        }
    }

    #[test]
    fn round_trips_exact_bytes_including_shorter_overwrites() {
        let words = heap(20);
        let cell = ByteCell::init(&words, 20, b"initial");
        assert_eq!(read(&cell).unwrap(), b"initial");
        cell.write(b"a much longer value", 1, LOCK_WAIT).unwrap();
        cell.write(b"ab\0c", 1, LOCK_WAIT).unwrap();
        assert_eq!(read(&cell).unwrap(), b"ab\0c");
        cell.write(b"", 1, LOCK_WAIT).unwrap();
        assert_eq!(read(&cell).unwrap(), b"");
        let mut buf = [0xffu8; 20];
        cell.write(&[7; 20], 1, LOCK_WAIT).unwrap();
        assert_eq!(cell.read_into(&mut buf).unwrap(), 20);
        assert_eq!(buf, [7; 20]);
    }

    #[test]
    fn read_range_copies_any_byte_range() {
        let words = heap(21);
        let value: Vec<u8> = (1..=21).collect();
        let cell = ByteCell::init(&words, 21, &value);
        for offset in 0..21 {
            for len in 0..=21 - offset {
                let mut dst = vec![0u8; len];
                cell.read_range(offset, &mut dst[..], 10).unwrap();
                assert_eq!(dst, value[offset..offset + len]);
                let mut dst = vec![0u8; len];
                cell.copy_current_unchecked(offset, &mut dst[..]);
                assert_eq!(dst, value[offset..offset + len]);
            }
        }
    }

    #[test]
    fn read_range_gives_up_on_a_copy_that_never_settles() {
        let words = heap(8);
        let cell = ByteCell::init(&words, 8, b"abc");
        // A peer leaves the current copy's seq odd for good.
        words[PREFIX_WORDS].store(1, Ordering::Relaxed);
        assert_eq!(cell.read_range(0, &mut [0u8; 3][..], 100), None);
    }

    #[test]
    fn too_large_changes_nothing() {
        let words = heap(4);
        let cell = ByteCell::init(&words, 4, b"keep");
        assert_eq!(cell.write(b"12345", 1, LOCK_WAIT), Err(CellError::TooLarge { len: 5 }));
        assert_eq!(read(&cell).unwrap(), b"keep");
    }

    #[test]
    fn buffer_too_small_is_reported() {
        let words = heap(8);
        let cell = ByteCell::init(&words, 8, b"12345");
        let mut buf = [0u8; 4];
        assert_eq!(cell.read_into(&mut buf), Err(CellError::BufferTooSmall { len: 5, buffer: 4 }));
    }

    #[test]
    fn d5_peer_length_above_capacity_is_corrupt() {
        let words = heap(8);
        let cell = ByteCell::init(&words, 8, b"ok");
        // A peer scribbles a huge length into the published copy.
        words[PREFIX_WORDS + 1].store(u64::MAX, Ordering::Relaxed);
        assert_eq!(read(&cell), Err(CellError::Corrupt { len: u64::MAX }));
        words[PREFIX_WORDS + 1].store(9, Ordering::Relaxed);
        assert_eq!(read(&cell), Err(CellError::Corrupt { len: 9 }));
    }

    #[test]
    fn attach_checks_the_capacity_word() {
        let words = heap(16);
        ByteCell::init(&words, 16, b"");
        assert_eq!(ByteCell::attach(&words).unwrap().capacity(), 16);
        words[2].store(17, Ordering::Relaxed);
        assert!(ByteCell::attach(&words).is_err());
        words[2].store(u64::MAX, Ordering::Relaxed);
        assert!(ByteCell::attach(&words).is_err());
    }

    #[test]
    fn d3_writer_dead_mid_copy_leaves_last_value_and_next_writer_recovers() {
        let words = heap(8);
        let cell = ByteCell::init(&words, 8, b"first");
        cell.write(b"second", 1, LOCK_WAIT).unwrap();
        // Simulate a writer killed mid-copy of write 2 (slot 0): lock held
        // by a pid no process has, seq odd, data half-written.
        let slot0 = PREFIX_WORDS;
        words[0].store(u64::MAX, Ordering::Relaxed);
        words[slot0].fetch_add(1, Ordering::Relaxed);
        words[slot0 + 2].store(u64::from_ne_bytes(*b"garbage!"), Ordering::Relaxed);
        assert_eq!(read(&cell).unwrap(), b"second");
        cell.write(b"third", 1, LOCK_WAIT).unwrap();
        assert_eq!(read(&cell).unwrap(), b"third");
        assert_eq!(words[slot0].load(Ordering::Relaxed) & 1, 0);
    }

    #[test]
    fn d6_sequence_words_near_wrap_stay_consistent() {
        let words = heap(8);
        let cell = ByteCell::init(&words, 8, b"x");
        // `current` even (slot 0, which holds "x"), both seqs just below
        // the wrap.
        words[1].store(u64::MAX - 5, Ordering::Relaxed);
        words[PREFIX_WORDS].store(u64::MAX - 1, Ordering::Relaxed);
        words[PREFIX_WORDS + SLOT_HEADER_WORDS + 1].store(u64::MAX - 1, Ordering::Relaxed);
        assert_eq!(read(&cell).unwrap(), b"x");
        for i in 0..10u8 {
            cell.write(&[i; 3], 1, LOCK_WAIT).unwrap();
            assert_eq!(read(&cell).unwrap(), [i; 3]);
        }
        assert!(words[1].load(Ordering::Relaxed) < 10, "current wrapped");
    }

    #[test]
    fn d1_threads_never_see_a_torn_value() {
        let words = heap(64);
        let cell = ByteCell::init(&words, 64, &[0; 64]);
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..50_000u32 {
                    let len = 1 + (i as usize * 7) % 64;
                    cell.write(&vec![(i % 251) as u8; len], 1, LOCK_WAIT).unwrap();
                }
                done.store(true, Ordering::Relaxed);
            });
            let mut reads = 0u64;
            let mut buf = Vec::new();
            while !done.load(Ordering::Relaxed) || reads < 1000 {
                cell.read_vec(&mut buf).unwrap();
                assert!(buf.iter().all(|b| *b == buf[0]), "torn: {buf:?}");
                reads += 1;
            }
        });
    }

    std::thread_local! {
        /// What [`stall_after_current`] runs once, on this thread.
        static STALL: core::cell::RefCell<Option<Box<dyn FnOnce()>>> = core::cell::RefCell::new(None);
    }

    /// Called by `read_range` between its load of `current` and its load
    /// of that copy's `seq`: runs (once) what a test put in [`STALL`], as
    /// if the reader stalled there while a writer went on.
    pub(super) fn stall_after_current() {
        if let Some(stall) = STALL.with(|s| s.borrow_mut().take()) {
            stall();
        }
    }

    /// A reader that loaded `current` (0) and stalled while the writer
    /// published write 1 (in the other copy) and completed write 2 in the
    /// copy it chose, without yet pointing `current` at it, finds that
    /// copy whole and unchanged. Returning it (2), and then what `current`
    /// names (1) on the next read, would go back in time; it must return
    /// 1 both times. Found across processes by shm-bench's
    /// `shm/shared-read-busy` (a read one value older than the last, about
    /// once in 35 rounds) before the re-check of `current`.
    #[test]
    fn d8_a_copy_completed_before_current_names_it_is_not_returned() {
        let by_range = |cell: &ByteCell<'_>| {
            let mut bytes = [0u8; 8];
            assert!(cell.read_range(0, &mut bytes[..], u32::MAX).is_some());
            u64::from_ne_bytes(bytes)
        };
        let by_vec = |cell: &ByteCell<'_>| u64::from_ne_bytes(read(cell).unwrap().try_into().unwrap());
        for (how, read_one) in [("read_range", &by_range as &dyn Fn(&ByteCell<'_>) -> u64), ("read_vec", &by_vec)] {
            let words = std::sync::Arc::new(heap(8));
            let cell = ByteCell::init(&words, 8, &0u64.to_ne_bytes());
            let writer = std::sync::Arc::clone(&words);
            STALL.with(|s| {
                *s.borrow_mut() = Some(Box::new(move || {
                    let cell = ByteCell::split(&writer, 8).unwrap();
                    cell.write(&1u64.to_ne_bytes(), 1, LOCK_WAIT).unwrap();
                    // Write 2, into copy 0, all but its store of `current`.
                    let (seq, data) = (&writer[PREFIX_WORDS], &writer[PREFIX_WORDS + SLOT_HEADER_WORDS]);
                    let even = seq.load(Ordering::Relaxed);
                    seq.store(even + 1, Ordering::Relaxed);
                    data.store(2, Ordering::Relaxed);
                    seq.store(even + 2, Ordering::Release);
                }));
            });
            let first = read_one(&cell);
            let second = read_one(&cell);
            assert!(second >= first, "{how}: a read went back in time: {second} after {first}");
            assert_eq!(first, 1, "{how}: the value `current` names");
        }
    }

    proptest! {
        /// Whole-word copies and the part word: bytes stored into words
        /// come back exactly, the part word's spare bytes are zero, and
        /// words past the copy are untouched.
        #[test]
        fn store_and_load_bytes_round_trip(src in prop::collection::vec(any::<u8>(), 0..40), spare in 0usize..3) {
            let words: Vec<AtomicU64> = (0..src.len().div_ceil(8) + spare).map(|_| AtomicU64::new(u64::MAX)).collect();
            store_bytes(&words, &src);
            let mut back = vec![0xAA; src.len()];
            load_bytes(&words, &mut back[..]);
            prop_assert_eq!(&back, &src);
            if src.len() % 8 != 0 {
                let last = words[src.len() / 8].load(Ordering::Relaxed).to_ne_bytes();
                prop_assert!(last[src.len() % 8..].iter().all(|b| *b == 0), "zero padding");
            }
            for word in &words[src.len().div_ceil(8)..] {
                prop_assert_eq!(word.load(Ordering::Relaxed), u64::MAX, "a word past the copy changed");
            }
        }

        /// In-place access: storing bytes at any offset changes exactly
        /// those bytes, and loading them back returns them.
        #[test]
        fn store_range_changes_exactly_its_bytes(before in prop::collection::vec(any::<u8>(), 40), offset in 0usize..40, src in prop::collection::vec(any::<u8>(), 0..40)) {
            let src = &src[..src.len().min(40 - offset)];
            let words: Vec<AtomicU64> = (0..5).map(|_| AtomicU64::new(0)).collect();
            store_bytes(&words, &before);
            store_range(&words, offset, src);
            let mut expected = before.clone();
            expected[offset..offset + src.len()].copy_from_slice(src);
            let mut all = vec![0; 40];
            load_bytes(&words, &mut all[..]);
            prop_assert_eq!(&all, &expected);
            let mut back = vec![0; src.len()];
            load_range(&words, offset, &mut back[..]);
            prop_assert_eq!(&back[..], src);
        }

        #[test]
        fn writes_then_read_returns_the_last(values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..8)) {
            let words = heap(40);
            let cell = ByteCell::init(&words, 40, b"");
            for v in &values {
                cell.write(v, 1, LOCK_WAIT).unwrap();
            }
            prop_assert_eq!(read(&cell).unwrap(), values.last().unwrap().clone());
        }

        /// E4/D5: whatever a peer writes into the cell, a read returns a
        /// value within the capacity or an error; never a panic.
        #[test]
        fn d5_scribbled_cell_reads_defined(capacity in 0usize..40, junk in prop::collection::vec(any::<u64>(), 0..20), at in 0usize..20) {
            let words = heap(capacity);
            let cell = ByteCell::init(&words, capacity, b"");
            for (i, j) in junk.iter().enumerate() {
                if let Some(w) = words.get(at + i) {
                    w.store(*j, Ordering::Relaxed);
                }
            }
            // Scribbled sequence words can only make reads retry until
            // the budget; keep them even so the test stays fast.
            for slot in 0..2 {
                let seq = &words[PREFIX_WORDS + slot * (words.len() - PREFIX_WORDS) / 2];
                seq.store(seq.load(Ordering::Relaxed) & !1, Ordering::Relaxed);
            }
            match read(&cell) {
                Ok(v) => prop_assert!(v.len() <= capacity),
                Err(e) => prop_assert!(matches!(e, CellError::Corrupt { .. }), "{:?}", e),
            }
        }
    }
}

/// Loom models of the byte cell (D2), run by
/// `RUSTFLAGS="--cfg loom" cargo test -p shm-runtime --release --lib loom`:
/// loom runs every interleaving of the threads, and every value a relaxed
/// load may legally return, on heap words. Each model is also run with one
/// ordering weakened (see `sync::Site`) and must then fail, so a model
/// that cannot see a missing fence does not pass for a proof. Two
/// Release/Acquire pairs order a reader after the write it returns: the
/// one on `current` and the one on the copy's `seq`. Since reads re-check
/// `current` after the copy (D8), either pair alone is enough, so
/// weakening one of them leaves the models passing, rightly: neither has
/// a mutant here, and both stay, each the other's backup. The fences have
/// mutants that must fail.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::protocol::lock::LOCK_WAIT;
    use crate::protocol::sync::{assert_mutants_fail, with_mutant};
    use loom::sync::Arc;

    const CAPACITY: usize = 16;

    /// Write `k`'s value: the byte `k`, 16 times for even `k` and 9 times
    /// for odd ones, so lengths change from write to write too.
    fn value(k: u8) -> Vec<u8> {
        vec![k; if k.is_multiple_of(2) { 16 } else { 9 }]
    }

    /// The write number `read` came from; panics if it is a mix.
    fn whole(read: &[u8]) -> u8 {
        let k = read[0];
        assert_eq!(read, value(k), "torn read");
        k
    }

    /// A cell holding write 0's value.
    fn cell_words() -> Arc<Vec<AtomicU64>> {
        let words: Vec<AtomicU64> = (0..layout_words(CAPACITY).unwrap()).map(|_| AtomicU64::new(0)).collect();
        ByteCell::init(&words, CAPACITY, &value(0));
        Arc::new(words)
    }

    /// A thread that makes writes 1 and 2 (the second reuses the copy a
    /// reader that started before write 1 is in).
    fn spawn_writes_1_and_2(words: &Arc<Vec<AtomicU64>>) -> loom::thread::JoinHandle<()> {
        let words = Arc::clone(words);
        loom::thread::spawn(move || {
            let cell = ByteCell::split(&words, CAPACITY).unwrap();
            cell.write(&value(1), 1, LOCK_WAIT).unwrap();
            cell.write(&value(2), 1, LOCK_WAIT).unwrap();
        })
    }

    /// A writer makes writes 1 and 2 (the second reuses the copy the
    /// reader may be in) while the reader reads twice: each read is whole,
    /// and the second is not older than the first.
    fn reader_sees_whole_values_in_order() {
        loom::model(|| {
            let words = cell_words();
            let writer = spawn_writes_1_and_2(&words);
            let cell = ByteCell::split(&words, CAPACITY).unwrap();
            let mut out = Vec::new();
            cell.read_vec(&mut out).unwrap();
            let first = whole(&out);
            cell.read_vec(&mut out).unwrap();
            assert!(whole(&out) >= first, "a later read went back in time");
            writer.join().unwrap();
        });
    }

    /// As above with `read_range`, the path `Shared<T>::read` takes.
    fn range_reader_sees_whole_values() {
        loom::model(|| {
            let words = cell_words();
            let writer = spawn_writes_1_and_2(&words);
            let cell = ByteCell::split(&words, CAPACITY).unwrap();
            let mut out = [0u8; 9];
            cell.read_range(0, &mut out[..], u32::MAX).unwrap();
            assert!(out.iter().all(|b| *b == out[0]), "torn read: {out:?}");
            writer.join().unwrap();
        });
    }

    /// As above, but the reader makes a single lock-free attempt before it
    /// falls back to the writer lock (as `Shared<T>::read` does after 1000
    /// failed ones), so every interleaving where that attempt meets a
    /// write in progress takes the locked path: the copy is whole either
    /// way. (The wait is unbounded: a cooperating writer never holds the
    /// lock long, and the models have no clock.)
    fn fallback_reader_sees_whole_values() {
        loom::model(|| {
            let words = cell_words();
            let writer = spawn_writes_1_and_2(&words);
            let cell = ByteCell::split(&words, CAPACITY).unwrap();
            let mut out = [0u8; 9];
            cell.read_range_settled(0, &mut out[..], 3, 1, Duration::MAX);
            assert!(out.iter().all(|b| *b == out[0]), "torn read: {out:?}");
            writer.join().unwrap();
        });
    }

    /// Two writers each add 1 to a counter under the lock (what
    /// `Shared::update` does): neither increment is lost.
    fn locked_updates_are_never_lost() {
        loom::model(|| {
            let words: Vec<AtomicU64> = (0..layout_words(8).unwrap()).map(|_| AtomicU64::new(0)).collect();
            ByteCell::init(&words, 8, &0u64.to_ne_bytes());
            let words = Arc::new(words);
            let add_one = |words: Arc<Vec<AtomicU64>>, pid: u64| {
                move || {
                    let cell = ByteCell::split(&words, 8).unwrap();
                    let guard = cell.lock(pid, LOCK_WAIT).unwrap();
                    let mut bytes = [0u8; 8];
                    cell.copy_current_unchecked(0, &mut bytes[..]);
                    cell.write_locked(&guard, &(u64::from_ne_bytes(bytes) + 1).to_ne_bytes());
                }
            };
            let other = loom::thread::spawn(add_one(Arc::clone(&words), 2));
            add_one(Arc::clone(&words), 1)();
            other.join().unwrap();
            let cell = ByteCell::split(&words, 8).unwrap();
            let mut bytes = [0u8; 8];
            cell.read_range(0, &mut bytes[..], u32::MAX).unwrap();
            assert_eq!(u64::from_ne_bytes(bytes), 2, "an update was lost");
        });
    }

    #[test]
    fn loom_d2_cell_protocol_holds() {
        with_mutant(None, || {
            reader_sees_whole_values_in_order();
            range_reader_sees_whole_values();
            fallback_reader_sees_whole_values();
            locked_updates_are_never_lost();
        });
    }

    #[test]
    fn loom_d2_cell_mutants_fail() {
        let reader = reader_sees_whole_values_in_order as fn();
        let updates = locked_updates_are_never_lost as fn();
        assert_mutants_fail(&[
            (Site::CellWriterFence, reader, "reader_sees_whole_values_in_order"),
            (Site::CellReaderFence, reader, "reader_sees_whole_values_in_order"),
            (Site::LockAcquire, updates, "locked_updates_are_never_lost"),
            (Site::LockRelease, updates, "locked_updates_are_never_lost"),
            // The lock's Release has no mutant here: the writer's
            // `fence(Release)` comes before its unlock, so a reader whose
            // Acquire takes the lock from that unlock sees every earlier
            // write whole, and `current` pointing at one of them or at the
            // last.
            (Site::LockAcquire, fallback_reader_sees_whole_values, "fallback_reader_sees_whole_values"),
        ]);
    }
}
