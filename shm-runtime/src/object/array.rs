//! `SharedArray<T>`: a fixed-length array of `SharedState` values shared
//! between processes (the seed's `SharedMemoryHandlee`), and
//! [`ArrayPart`] / [`SharedArrayPart`]: a sub-range of it handed to a worker
//! process, which may write only there.
//!
//! # Design
//!
//! Every element is its own byte cell (`cell.rs`), the two-copy cell with a
//! writer lock that `Shared<T>` uses, of `size_of::<T>()` bytes. So, per
//! element, exactly what `Shared<T>` promises: a read returns a value some
//! write produced, never a mix of two; `update`s from any number of
//! processes are never lost (they take turns through the element's lock,
//! which a dead holder cannot keep); a writer killed mid-write leaves the
//! last complete value readable. The cell protocol is the loom-checked one
//! in `cell.rs`; this module adds no atomic protocol of its own, only
//! arithmetic that finds element `i`'s cell.
//!
//! Elements are independent: each cell starts on its own 64-byte line and
//! is padded to whole lines, so writers of different elements touch
//! different locks and different lines and never wait for each other.
//!
//! Alternatives, and why not:
//!
//! - One cell for the whole array (`Shared<[T; N]>`): every `set` copies
//!   and republishes all `N` elements, and all writers queue on one lock:
//!   two workers filling their halves wait for each other.
//! - A plain seqlock per element (no second copy): a writer killed
//!   mid-write leaves its element odd and torn for good (docs/RELIABILITY.md,
//!   promise 1).
//! - One lock per group of elements, or cells packed without padding:
//!   less memory, but writers of neighbouring elements contend on a lock
//!   or a cache line.
//!
//! The price is memory: an element takes `64 * ceil((8 + 2 * ceil(s / 8))
//! / 8)` bytes for `s = size_of::<T>()` (128 bytes for a `u64`, 192 for a
//! 64-byte struct). Arrays of small numbers that need neither atomic
//! updates nor crash safety per element are cheaper as one `Shared<[T; N]>`.
//!
//! # Layout (payload of kind `array`, 64-byte aligned)
//!
//! ```text
//! word 0        len           number of elements, fixed at creation
//! word 1        element size  size_of::<T>() in bytes
//! word 2        stride        words per element: layout_words(size) rounded
//!                             up to a multiple of 8
//! words 3..8    reserved      0
//! word 8 + i*stride           element i: a byte cell of capacity
//!                             size_of::<T>() (layout_words(size) words),
//!                             then zero padding to the stride
//! ```
//!
//! # Trust
//!
//! The three prefix words are read once, at open, and checked: element
//! size and stride against the opener's `T`, and `len` against the real
//! mapping size (any disagreement is [`OpenError::Corrupt`]). They are
//! never read again: the length and geometry used afterwards are this
//! process's validated copies, so a peer that scribbles on them later
//! changes nothing. Each element's own words are handled by the cell,
//! which never trusts them either; any bytes are a valid `T`.

use crate::format::header::{Layout, ObjectKind, SchemaRef};
use crate::format::layout::cell::WAITERS_WORD;
use crate::object::notify::{self, Versioned};
use crate::object::shared_object::sealed::{self, SegmentOwned, SegmentRef};
use crate::object::shared_object::{SharedObject, debug_handle};
use crate::object::state::{SharedState, bytes_of, locked_value, read_cell_value, zeroed};
use crate::protocol::cell::{ByteCell, CellError, layout_words};
use crate::protocol::lock::LOCK_WAIT;
use crate::segment::error::{CreateError, OpenError};
use crate::segment::handle::{Handle, InvalidHandle};
use crate::segment::liveness;
use crate::segment::name::SegmentName;
use crate::segment::options::OpenOptions;
use crate::segment::{DEFAULT_OPEN_WAIT, Segment, Spec};
use core::iter::FusedIterator;
use core::marker::PhantomData;
use core::ops::{Bound, Range, RangeBounds};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::format::layout::array::{ELEMENT_SIZE_WORD, LEN_WORD, PREFIX_WORDS, STRIDE_WORD};

/// Where the elements' cells sit, for one element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// Words of one element's cell: `layout_words(size_of::<T>())`.
    cell_words: usize,
    /// Words from one element's cell to the next: `cell_words` rounded up
    /// to whole lines; a multiple of [`LINE_WORDS`](crate::format::layout::array::LINE_WORDS).
    stride: usize,
}

impl Geometry {
    /// The geometry of elements of `size` bytes, or `None` on overflow.
    pub(crate) fn of(size: usize) -> Option<Self> {
        let cell_words = layout_words(size)?;
        let stride = crate::format::layout::array::stride(cell_words)?;
        Some(Self { cell_words, stride })
    }

    /// Payload words of an array of `len` elements, or `None` on overflow.
    fn payload_words(self, len: usize) -> Option<usize> {
        self.stride.checked_mul(len)?.checked_add(PREFIX_WORDS)
    }

    /// The payload word index of element `index`'s waiters word.
    pub(crate) fn waiters_word(self, index: usize) -> usize {
        PREFIX_WORDS + index * self.stride + WAITERS_WORD
    }

    /// The words of element `index`'s cell, exactly `cell_words` of them;
    /// `words` holds `payload_words(len)` words and `index < len`.
    #[inline]
    pub(crate) fn cell_words(self, words: &[AtomicU64], index: usize) -> &[AtomicU64] {
        let start = PREFIX_WORDS + index * self.stride;
        &words[start..start + self.cell_words]
    }
}

/// Creates an array segment of `len` elements of `size` bytes (for
/// `SharedArray<T>` and `DynArray`), element `i` holding `value(i)` (at
/// most `size` bytes).
pub(crate) fn create_segment(
    name: Option<&str>,
    layout: Layout<'_>,
    size: usize,
    len: usize,
    value: impl Fn(usize) -> Vec<u8>,
) -> Result<(Segment, Geometry), CreateError> {
    // The name to report when refusing before any system call.
    let error_name =
        || name.map_or_else(|| Ok(SegmentName::unnamed()), |n| SegmentName::new(n).map_err(CreateError::InvalidName));
    let shape = Geometry::of(size).and_then(|geometry| {
        let bytes = geometry.payload_words(len)?.checked_mul(8)?;
        Some((geometry, u64::try_from(bytes).ok()?))
    });
    let Some((geometry, payload_size)) = shape else {
        return Err(CreateError::SizeOverflow { name: error_name()?, capacity: len });
    };
    let spec = Spec { kind: ObjectKind::Array, layout, payload_size, payload_align: 64, capacity: len };
    let segment = Segment::create(name, &spec, |payload| {
        let words = payload.words();
        // Relaxed: the segment is not published yet; the Release store
        // of the state word in `Header::publish` orders these stores
        // before an opener's Acquire load of it.
        words[LEN_WORD].store(len as u64, Ordering::Relaxed);
        words[ELEMENT_SIZE_WORD].store(size as u64, Ordering::Relaxed);
        words[STRIDE_WORD].store(geometry.stride as u64, Ordering::Relaxed);
        for index in 0..len {
            ByteCell::init(geometry.cell_words(words, index), size, &value(index));
        }
    })?;
    // Asked once here, so that writes can wake waiters without a fence
    // (`object/notify.rs`).
    crate::segment::barrier::this_process();
    Ok((segment, geometry))
}

/// Checks an opened array segment's prefix words against elements of
/// `size` bytes and the mapping: its length and geometry, read once here
/// and never again.
pub(crate) fn check_geometry(segment: &Segment, size: usize) -> Result<(usize, Geometry), OpenError> {
    let corrupt = |what| OpenError::Corrupt { name: segment.name().clone(), what };
    let words = segment.payload().words();
    if words.len() < PREFIX_WORDS {
        return Err(corrupt("payload too small for an array"));
    }
    // Relaxed: `Segment::open` loaded the state word with Acquire (pairs
    // with the Release store in `Header::publish`), so the creator's
    // stores are visible; later stores by a peer are untrusted anyway.
    let load = |index: usize| words[index].load(Ordering::Relaxed);
    if load(ELEMENT_SIZE_WORD) != size as u64 {
        return Err(corrupt("stored element size differs from the element type's size"));
    }
    let geometry = Geometry::of(size).ok_or_else(|| corrupt("element type too large for an array"))?;
    if load(STRIDE_WORD) != geometry.stride as u64 {
        return Err(corrupt("stored element stride differs from the one the element type needs"));
    }
    let len = usize::try_from(load(LEN_WORD))
        .ok()
        .filter(|len| geometry.payload_words(*len) == Some(words.len()))
        .ok_or_else(|| corrupt("stored length disagrees with the segment size"))?;
    // Asked once here, so that writes can wake waiters without a fence
    // (`object/notify.rs`).
    crate::segment::barrier::this_process();
    Ok((len, geometry))
}

/// A fixed-length array of `T` in shared memory: the seed's
/// `SharedMemoryHandlee` without its faults.
///
/// - Each element is read and written whole: [`get`](Self::get) returns a
///   value some [`set`](Self::set) or [`update`](Self::update) produced,
///   never a mix of two, even while other processes write it or after a
///   writer was killed mid-write.
/// - [`update`](Self::update) holds the element's writer lock while it
///   reads, changes and writes: increments from many processes are never
///   lost.
/// - Elements are independent: writers of different elements never wait
///   for each other (each element has its own lock and cache lines).
/// - A failed `set` (index out of range, lock timeout) changes nothing.
/// - Indices are `usize`: there are no negative indices; index from the
///   end with `len() - k`, or iterate with `iter().rev()`.
///
/// The length is fixed at creation; zero is allowed (an empty array).
/// Another process opens the array from its [`handle`](Self::handle); a
/// worker that should write only a sub-range gets an [`ArrayPart`] (see
/// [`part`](Self::part) and [`SharedArrayPart`]).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{ArrayError, SharedArray, SharedObject, SharedState};
///
/// #[derive(SharedState, Clone, Copy, Debug, Default, PartialEq)]
/// #[repr(C)]
/// struct Record {
///     id: u32,
///     hits: u32,
///     value: f64,
/// }
///
/// let records = SharedArray::<Record>::create_sharedobject(10)?;
/// let text = records.handle().to_string(); // travels to another process
///
/// // In the other process:
/// let peer = SharedArray::<Record>::load_sharedobject(&text.parse()?)?;
/// assert_eq!(peer.len(), 10);
/// peer.set(3, &Record { id: 3, hits: 0, value: 1.5 })?;
/// peer.update(3, |r| r.hits += 1)?;
///
/// assert_eq!(records.get(3), Some(Record { id: 3, hits: 1, value: 1.5 }));
/// assert_eq!(records.get(10), None);
/// assert!(matches!(records.set(10, &Record::default()), Err(ArrayError::IndexOutOfRange { index: 10, len: 10, .. })));
/// let total: u32 = records.iter().map(|r| r.hits).sum();
/// assert_eq!(total, 1);
/// # Ok(()) }
/// ```
///
/// # Speed
///
/// `get` and `set` touch only the element's own cache lines, make no
/// system call and allocate nothing: `get` is a lock-free seqlock read of
/// one copy, `set` takes the element's lock with one compare-exchange,
/// fills the other copy and publishes it.
pub struct SharedArray<T: SharedState> {
    segment: Segment,
    /// Number of elements; checked against the mapping size at open, never
    /// re-read from shared memory.
    len: usize,
    /// `Geometry::of(size_of::<T>())`, made once at create or open (so
    /// `geometry.cell_words` is `layout_words(size_of::<T>())`, which
    /// [`cell`](Self::cell) relies on); the payload holds
    /// `geometry.payload_words(len)` words.
    geometry: Geometry,
    _type: PhantomData<fn() -> T>,
}

impl<T: SharedState> SharedArray<T> {
    /// What the header records: the element type.
    const LAYOUT: Layout<'static> =
        Layout { fingerprint: T::FINGERPRINT, type_name: T::TYPE_NAME, schema: SchemaRef::Desc(T::SCHEMA) };

    /// Creates an array of `len` all-zero elements under a generated name.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedArray, SharedObject};
    ///
    /// let table = SharedArray::<u64>::create_sharedobject(100)?; // 100 zeros
    /// let opened = SharedArray::<u64>::load_sharedobject(&table.handle())?; // another process
    /// table.set(42, &7)?;
    /// assert_eq!(opened.get(42), Some(7));
    /// assert_eq!(opened.get(100), None, "past the end");
    /// # Ok(()) }
    /// ```
    pub fn create_sharedobject(len: usize) -> Result<Self, CreateError> {
        Self::create(None, len, |_| zeroed())
    }

    /// Creates an array of `len` all-zero elements under `name`.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedArray, SharedObject};
    /// # let name = format!("shmrs-doc-array-{}", std::process::id());
    /// let slots = SharedArray::<[f32; 2]>::create_named(&name, 8)?;
    /// slots.set(0, &[1.0, 2.0])?;
    /// assert_eq!(SharedArray::<[f32; 2]>::open(&name)?.get(0), Some([1.0, 2.0]));
    /// # Ok(()) }
    /// ```
    pub fn create_named(name: &str, len: usize) -> Result<Self, CreateError> {
        Self::create(Some(name), len, |_| zeroed())
    }

    /// Creates an array holding a copy of `values` (its length is the
    /// array's), under a generated name.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedArray;
    ///
    /// let primes = SharedArray::create_from_slice(&[2u32, 3, 5, 7])?;
    /// assert_eq!(primes.to_vec(), [2, 3, 5, 7]);
    /// # Ok(()) }
    /// ```
    pub fn create_from_slice(values: &[T]) -> Result<Self, CreateError> {
        Self::create(None, values.len(), |index| values[index])
    }

    /// Creates an array holding a copy of `values` under `name`.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedArray, SharedObject};
    /// # let name = format!("shmrs-doc-array-slice-{}", std::process::id());
    /// let gains = SharedArray::create_named_from_slice(&name, &[0.5f64, 1.0])?;
    /// assert_eq!(SharedArray::<f64>::open(&name)?.get(1), Some(1.0));
    /// # drop(gains);
    /// # Ok(()) }
    /// ```
    pub fn create_named_from_slice(name: &str, values: &[T]) -> Result<Self, CreateError> {
        Self::create(Some(name), values.len(), |index| values[index])
    }

    fn create(name: Option<&str>, len: usize, value: impl Fn(usize) -> T) -> Result<Self, CreateError> {
        let (segment, geometry) =
            create_segment(name, Self::LAYOUT, size_of::<T>(), len, |index| bytes_of(&value(index)).to_vec())?;
        Ok(Self { segment, len, geometry, _type: PhantomData })
    }

    /// Number of elements, fixed at creation.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Element `index`'s cell, a view that borrows `self`; `index < len`.
    /// Nothing is checked again but the slice bounds (which, for such an
    /// index, hold: the payload has `geometry.payload_words(len)` words).
    #[inline]
    fn cell(&self, index: usize) -> ByteCell<'_> {
        debug_assert!(index < self.len);
        let words = self.geometry.cell_words(self.segment.payload().words(), index);
        // SAFETY: `cell_words` returns exactly `geometry.cell_words` words,
        // and `geometry` was made by `Geometry::of(size_of::<T>())` (see the
        // field), so they are `layout_words(size_of::<T>())`.
        unsafe { ByteCell::split_unchecked(words, size_of::<T>()) }
    }

    /// Element `index`'s cell, or `IndexOutOfRange`.
    fn checked_cell(&self, index: usize) -> Result<ByteCell<'_>, ArrayError> {
        if index < self.len {
            Ok(self.cell(index))
        } else {
            Err(ArrayError::IndexOutOfRange { name: self.segment.name().clone(), index, len: self.len })
        }
    }

    /// Element `index`; `index < len`.
    fn read(&self, index: usize) -> T {
        read_cell_value(&self.cell(index), 0)
    }

    /// Element `index` (the last complete value written to it), or `None`
    /// if `index >= len()`.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<T> {
        (index < self.len).then(|| self.read(index))
    }

    /// Replaces element `index` with `value`. On error nothing changes:
    /// [`ArrayError::IndexOutOfRange`], or [`ArrayError::LockTimeout`] when
    /// another live process held the element's writer lock for over 2 s.
    pub fn set(&self, index: usize, value: &T) -> Result<(), ArrayError> {
        self.set_waiting(index, value, LOCK_WAIT)
    }

    fn set_waiting(&self, index: usize, value: &T, wait: Duration) -> Result<(), ArrayError> {
        let cell = self.checked_cell(index)?;
        let guard = cell.lock(liveness::claimant(), wait).map_err(|e| self.lock_error(index, e))?;
        cell.write_locked(&guard, bytes_of(value));
        drop(guard);
        notify::published(self.waiters(index));
        Ok(())
    }

    /// Reads element `index`, lets `f` change it, and writes it back,
    /// holding the element's writer lock throughout: updates of one
    /// element from several processes never overwrite each other. Returns
    /// what `f` returns. If `f` panics the element keeps its old value.
    pub fn update<R>(&self, index: usize, f: impl FnOnce(&mut T) -> R) -> Result<R, ArrayError> {
        self.update_waiting(index, f, LOCK_WAIT)
    }

    fn update_waiting<R>(&self, index: usize, f: impl FnOnce(&mut T) -> R, wait: Duration) -> Result<R, ArrayError> {
        let cell = self.checked_cell(index)?;
        let guard = cell.lock(liveness::claimant(), wait).map_err(|e| self.lock_error(index, e))?;
        let mut value = locked_value::<T>(&cell);
        let result = f(&mut value);
        cell.write_locked(&guard, bytes_of(&value));
        drop(guard);
        notify::published(self.waiters(index));
        Ok(result)
    }

    /// Element `index`'s waiters word; `index < len`.
    fn waiters(&self, index: usize) -> &AtomicU32 {
        // The waiters word is accessed only through this view.
        self.segment.payload().futex_word(self.geometry.waiters_word(index))
    }

    /// The version of element `index`: the number of writes made to it so
    /// far (`set`, `update`, `copy_from_slice`; in any process, wrapping),
    /// or `None` if `index >= len()`. Each element has its own. An element
    /// read after this call is that version's or a later one.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedArray;
    /// let slots = SharedArray::<u64>::create_sharedobject(4)?;
    /// let before = slots.version(2).expect("in range");
    /// slots.set(2, &7)?;
    /// assert_eq!(slots.version(2), Some(before.wrapping_add(1)));
    /// assert_eq!(slots.version(4), None);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn version(&self, index: usize) -> Option<u64> {
        (index < self.len).then(|| self.cell(index).version())
    }

    /// Sleeps until the [version](Self::version) of element `index`
    /// differs from `since`, and returns the new version; `Ok(None)` once
    /// `timeout` has passed first (`Duration::MAX` waits for ever, zero only
    /// looks), [`ArrayError::IndexOutOfRange`] if `index >= len()`. Writes to
    /// other elements do not wake it; a write while nobody waits makes no
    /// system call.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedArray, SharedObject};
    /// use std::time::Duration;
    /// let slots = SharedArray::<u64>::create_sharedobject(4)?;
    /// let peer = SharedArray::<u64>::load_sharedobject(&slots.handle())?;
    /// let since = slots.version(1).expect("in range");
    /// let writer = std::thread::spawn(move || peer.set(1, &9).map(drop));
    /// slots.wait_changed(1, since, Duration::from_secs(10))?.expect("a write within 10 s");
    /// assert_eq!(slots.get(1), Some(9));
    /// # writer.join().unwrap()?;
    /// # Ok(()) }
    /// ```
    pub fn wait_changed(&self, index: usize, since: u64, timeout: Duration) -> Result<Option<u64>, ArrayError> {
        self.checked_cell(index)?;
        Ok(notify::wait_changed(&Element { array: self, index }, since, timeout))
    }

    /// The async form of [`wait_changed`](Self::wait_changed) for element
    /// `index`: completes with its new version once it differs from
    /// `since`, without a deadline of its own; `IndexOutOfRange` at once
    /// if `index >= len()`. It needs no particular runtime: while it is
    /// pending, a waiter thread of this process sleeps on the element's
    /// futex word for it. Cancellation-safe: dropping it loses nothing.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedArray, SharedObject};
    /// let slots = SharedArray::<u64>::create_sharedobject(4)?;
    /// let peer = SharedArray::<u64>::load_sharedobject(&slots.handle())?;
    /// let since = slots.version(1).expect("in range");
    /// let writer = std::thread::spawn(move || peer.set(1, &9).map(drop));
    /// smol::block_on(slots.changed(1, since))?;
    /// assert_eq!(slots.get(1), Some(9));
    /// # writer.join().unwrap()?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn changed(
        &self,
        index: usize,
        since: u64,
    ) -> impl core::future::Future<Output = Result<u64, ArrayError>> + Send + '_ {
        let checked = self
            .checked_cell(index)
            .map(|_| crate::object::future::Changed::new(Element { array: self, index }, since));
        async move {
            match checked {
                Ok(changed) => Ok(changed.await),
                Err(e) => Err(e),
            }
        }
    }

    fn lock_error(&self, index: usize, e: CellError) -> ArrayError {
        match e {
            CellError::LockTimeout { holder, waited } => {
                ArrayError::LockTimeout { name: self.segment.name().clone(), index, holder, waited }
            }
            other => unreachable!("taking a cell's lock fails only with LockTimeout, not {other:?}"),
        }
    }

    /// The elements `start..start + count`, or `RangeOutOfBounds` (naming
    /// the range and the length) if they are not all in the array.
    fn span(&self, start: usize, count: usize) -> Result<Range<usize>, ArrayError> {
        let end = start.saturating_add(count);
        if start.checked_add(count).is_some_and(|end| end <= self.len) {
            Ok(start..end)
        } else {
            Err(self.range_error(start, end))
        }
    }

    fn range_error(&self, start: usize, end: usize) -> ArrayError {
        ArrayError::RangeOutOfBounds { name: self.segment.name().clone(), start, end, len: self.len }
    }

    /// Copies elements `start..start + dst.len()` into `dst`, each read
    /// whole (the elements are read one after another, not as one
    /// snapshot of the range). [`ArrayError::RangeOutOfBounds`] if the
    /// range does not fit; `dst` is then untouched.
    pub fn copy_to_slice(&self, start: usize, dst: &mut [T]) -> Result<(), ArrayError> {
        let range = self.span(start, dst.len())?;
        for (index, out) in range.zip(dst) {
            *out = self.read(index);
        }
        Ok(())
    }

    /// Writes `src` to elements `start..start + src.len()`, each written
    /// whole, one after another. [`ArrayError::RangeOutOfBounds`] if the
    /// range does not fit (nothing is written). A
    /// [`ArrayError::LockTimeout`] names the element that could not be
    /// written; the elements before it were written, those after it not.
    pub fn copy_from_slice(&self, start: usize, src: &[T]) -> Result<(), ArrayError> {
        let range = self.span(start, src.len())?;
        for (index, value) in range.zip(src) {
            self.set(index, value)?;
        }
        Ok(())
    }

    /// Every element in order, in a new vector (see [`iter`](Self::iter)).
    #[must_use]
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().collect()
    }

    /// An iterator over the elements in order. Each element is read when
    /// the iterator reaches it, whole; the elements are not one snapshot
    /// of the whole array.
    pub fn iter(&self) -> ArrayIter<'_, T> {
        ArrayIter { array: self, front: 0, back: self.len }
    }

    /// The part `range` of this array, to hand to a worker process: its
    /// text (`Display`) travels to the worker, which opens it with
    /// [`SharedArrayPart::load`] and may then write only inside `range`.
    /// Indices stay absolute: element `i` of the part is element `i` of
    /// the array. [`ArrayError::RangeOutOfBounds`] unless `range` lies
    /// inside `0..len()` (an empty range is allowed).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{ArrayError, SharedArray, SharedArrayPart};
    ///
    /// let array = SharedArray::<u64>::create_sharedobject(10)?;
    /// let text = array.part(5..)?.to_string(); // e.g. an argument of a child
    ///
    /// // In the worker:
    /// let part = SharedArrayPart::<u64>::load(&text)?;
    /// part.set(7, &14)?;
    /// assert!(matches!(part.set(2, &4), Err(ArrayError::IndexOutsidePart { index: 2, .. })));
    ///
    /// assert_eq!(array.get(7), Some(14));
    /// assert_eq!(array.get(2), Some(0));
    /// # Ok(()) }
    /// ```
    pub fn part(&self, range: impl RangeBounds<usize>) -> Result<ArrayPart, ArrayError> {
        let start = match range.start_bound() {
            Bound::Included(&start) => start,
            Bound::Excluded(&start) => start.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&end) => end.saturating_add(1),
            Bound::Excluded(&end) => end,
            Bound::Unbounded => self.len,
        };
        if start <= end && end <= self.len {
            Ok(ArrayPart { handle: self.handle(), start, end })
        } else {
            Err(self.range_error(start, end))
        }
    }
}

impl<T: SharedState> SharedObject for SharedArray<T> {
    /// Opens the array `handle` names if `options` accept the segment's
    /// owner and mode, waiting up to `options.wait_time()` for its creator
    /// to finish setting it up.
    ///
    /// Besides the checks every open makes (kind, element type
    /// fingerprint, sizes, nonce), the stored element size and stride must
    /// be those of `T` and the stored length must match the mapping size;
    /// otherwise [`OpenError::Corrupt`].
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        let segment = Segment::open(handle, ObjectKind::Array, Self::LAYOUT, None, options)?;
        let (len, geometry) = check_geometry(&segment, size_of::<T>())?;
        Ok(Self { segment, len, geometry, _type: PhantomData })
    }
}

impl<T: SharedState> sealed::Sealed for SharedArray<T> {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(&self.segment)
    }

    fn into_segment(self) -> SegmentOwned {
        SegmentOwned(self.segment)
    }
}

impl<T: SharedState> fmt::Debug for SharedArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_handle(self, "SharedArray<T>", f)
    }
}

/// Iterator over a [`SharedArray`]'s elements; see [`SharedArray::iter`].
pub struct ArrayIter<'a, T: SharedState> {
    array: &'a SharedArray<T>,
    /// Next index from the front; `front <= back <= len`.
    front: usize,
    /// One past the next index from the back.
    back: usize,
}

impl<T: SharedState> Iterator for ArrayIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        (self.front < self.back).then(|| {
            self.front += 1;
            self.array.read(self.front - 1)
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.back - self.front;
        (left, Some(left))
    }
}

impl<T: SharedState> DoubleEndedIterator for ArrayIter<'_, T> {
    fn next_back(&mut self) -> Option<T> {
        (self.front < self.back).then(|| {
            self.back -= 1;
            self.array.read(self.back)
        })
    }
}

impl<T: SharedState> ExactSizeIterator for ArrayIter<'_, T> {}

impl<T: SharedState> FusedIterator for ArrayIter<'_, T> {}

impl<T: SharedState> fmt::Debug for ArrayIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayIter").field("array", self.array.name()).field("left", &(self.front..self.back)).finish()
    }
}

impl<'a, T: SharedState> IntoIterator for &'a SharedArray<T> {
    type Item = T;
    type IntoIter = ArrayIter<'a, T>;

    fn into_iter(self) -> ArrayIter<'a, T> {
        self.iter()
    }
}

/// Why an array operation failed. Nothing changed, except where a variant
/// says otherwise ([`SharedArray::copy_from_slice`]).
///
/// It arises from an index or range outside the array (or, for a
/// [`SharedArrayPart`], outside its part), and from an element's writer
/// lock held too long by another writer:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{ArrayError, SharedArray};
///
/// let table = SharedArray::<u32>::create_sharedobject(4)?;
/// let refused = table.set(4, &1).unwrap_err();
/// assert!(matches!(refused, ArrayError::IndexOutOfRange { index: 4, len: 4, .. }), "{refused}");
/// let mut out = [0; 3];
/// let refused = table.copy_to_slice(2, &mut out).unwrap_err();
/// assert!(matches!(refused, ArrayError::RangeOutOfBounds { .. }), "{refused}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArrayError {
    /// The index is not below the array's length.
    IndexOutOfRange {
        /// The segment.
        name: SegmentName,
        /// The index asked for.
        index: usize,
        /// The array's length.
        len: usize,
    },
    /// A range (of a copy, or of a part) is not inside `0..len`, or ends
    /// before it starts.
    RangeOutOfBounds {
        /// The segment.
        name: SegmentName,
        /// First index of the range.
        start: usize,
        /// One past the last index (`usize::MAX` if that overflowed).
        end: usize,
        /// The array's length.
        len: usize,
    },
    /// A [`SharedArrayPart`] was asked to write an element outside its part.
    IndexOutsidePart {
        /// The segment.
        name: SegmentName,
        /// The index asked for.
        index: usize,
        /// The part this process may write.
        part: Range<usize>,
    },
    /// A [`SharedArrayPart`] was asked to write a range that is not inside
    /// its part.
    RangeOutsidePart {
        /// The segment.
        name: SegmentName,
        /// First index of the range.
        start: usize,
        /// One past the last index (`usize::MAX` if that overflowed).
        end: usize,
        /// The part this process may write.
        part: Range<usize>,
    },
    /// Another writer held the element's writer lock for longer than the
    /// wait and is still alive (stopped, or its pid was reused).
    LockTimeout {
        /// The segment.
        name: SegmentName,
        /// The element.
        index: usize,
        /// Process id in the element's lock word.
        holder: u64,
        /// How long this writer waited.
        waited: Duration,
    },
    /// A buffer is not the size of the element type (or of the whole
    /// array) of a [`DynArray`](crate::dynamic::DynArray); nothing was
    /// read or written.
    WrongSize {
        /// The segment.
        name: SegmentName,
        /// Length of the buffer in bytes.
        len: usize,
        /// The size it must have in bytes.
        size: usize,
    },
}

impl fmt::Display for ArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IndexOutOfRange { name, index, len } => {
                write!(f, "index {index} is out of range for array {name:?} of length {len}")
            }
            Self::RangeOutOfBounds { name, start, end, len } if start > end => {
                write!(f, "range {start}..{end} of array {name:?} (length {len}) ends before it starts")
            }
            Self::RangeOutOfBounds { name, start, end, len } => {
                write!(f, "range {start}..{end} is out of bounds for array {name:?} of length {len}")
            }
            Self::IndexOutsidePart { name, index, part } => write!(
                f,
                "cannot write index {index} of array {name:?}: this process may write only its part {}..{}",
                part.start, part.end
            ),
            Self::RangeOutsidePart { name, start, end, part } => write!(
                f,
                "cannot write range {start}..{end} of array {name:?}: this process may write only its part {}..{}",
                part.start, part.end
            ),
            Self::LockTimeout { name, index, holder, waited } => write!(
                f,
                "cannot write index {index} of array {name:?}: process {holder} held the element's writer lock for \
                 over {waited:?}"
            ),
            Self::WrongSize { name, len, size } => {
                write!(f, "array {name:?}: a buffer of {len} bytes where {size} are needed; nothing was copied")
            }
        }
    }
}

impl std::error::Error for ArrayError {}

/// A part of a [`SharedArray`] (its handle and a range of indices), made
/// by [`SharedArray::part`], to hand to a worker process that may write
/// only there; the worker opens it with [`SharedArrayPart::load`].
///
/// Its text form (`Display`, `FromStr`) fits an argument or an
/// environment variable:
///
/// ```text
/// <start>..<end>@<array handle>
/// ```
///
/// for example `5..10@shm1:array:...`. Like a handle it is a claim:
/// loading checks the handle against the segment and the range against
/// the array's length.
///
/// A part guards against mistakes, not against a hostile process: anyone
/// who can open the segment can open the whole array.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArrayPart {
    handle: Handle,
    /// `start <= end`.
    start: usize,
    end: usize,
}

impl ArrayPart {
    /// The array's handle.
    #[must_use]
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The indices of the part (absolute: indices of the whole array).
    #[must_use]
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

impl fmt::Display for ArrayPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}@{}", self.start, self.end, self.handle)
    }
}

/// Parses a canonical decimal index (digits only, no leading zero).
fn parse_index(field: &str, what: &str) -> Result<usize, String> {
    let canonical =
        !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit()) && (field == "0" || !field.starts_with('0'));
    if !canonical {
        return Err(format!("the {what} of the range must be a decimal number, found {field:?}"));
    }
    field.parse().map_err(|e| format!("the {what} of the range {field:?}: {e}"))
}

fn parse_part(text: &str) -> Result<ArrayPart, String> {
    let (range, handle) = text.split_once('@').ok_or("expected `<start>..<end>@<array handle>`")?;
    let (start, end) = range
        .split_once("..")
        .ok_or_else(|| format!("expected a range `<start>..<end>` before `@`, found {range:?}"))?;
    let (start, end) = (parse_index(start, "start")?, parse_index(end, "end")?);
    if start > end {
        return Err(format!("the range {start}..{end} ends before it starts"));
    }
    let handle: Handle = handle.parse().map_err(|e: InvalidHandle| format!("array handle: {}", e.reason))?;
    if handle.kind() != ObjectKind::Array {
        return Err(format!("the handle is of a `{}`, not of an `array`", handle.kind()));
    }
    Ok(ArrayPart { handle, start, end })
}

impl FromStr for ArrayPart {
    type Err = InvalidPart;

    fn from_str(text: &str) -> Result<Self, InvalidPart> {
        parse_part(text).map_err(|reason| InvalidPart { text: text.chars().take(80).collect(), reason })
    }
}

/// Why a text is not an [`ArrayPart`].
///
/// It arises from parsing a text that is not what `Display` of an
/// [`ArrayPart`] printed (`start..end@handle`):
///
/// ```
/// use shm_runtime::ArrayPart;
///
/// let refused = "3..1@not-a-handle".parse::<ArrayPart>().unwrap_err();
/// assert!(refused.to_string().starts_with("invalid array part"), "{refused}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidPart {
    /// The text, cut to 80 characters.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for InvalidPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid array part {:?}: {}", self.text, self.reason)
    }
}

impl std::error::Error for InvalidPart {}

/// Why [`SharedArrayPart::load`] failed.
///
/// It arises from the part's text, from opening the array (see
/// [`OpenError`]), or from a part that does not fit the array found under
/// the handle (the name now holds a shorter array).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{LoadPartError, SharedArray, SharedArrayPart, SharedObject};
///
/// let table = SharedArray::<u64>::create_sharedobject(8)?;
/// let part = table.part(2..4)?; // for a worker process
/// let worker = SharedArrayPart::<u64>::load_part(&part)?;
/// worker.set(2, &9)?;
/// assert_eq!(table.get(2), Some(9));
/// let gone = part.to_string();
/// drop((worker, table)); // the creator removes the array
/// let now = std::time::Duration::ZERO; // no waiting for a creator
/// let refused = SharedArrayPart::<u64>::load_part_timeout(&gone.parse()?, now).unwrap_err();
/// assert!(matches!(refused, LoadPartError::Open(_)), "{refused}");
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadPartError {
    /// The text is not an [`ArrayPart`].
    Invalid(InvalidPart),
    /// The array could not be opened.
    Open(OpenError),
    /// The part's range does not fit the array found under the handle.
    OutOfBounds {
        /// The segment.
        name: SegmentName,
        /// The part's range.
        part: Range<usize>,
        /// The array's length.
        len: usize,
    },
}

impl fmt::Display for LoadPartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(e) => write!(f, "cannot load array part: {e}"),
            Self::Open(e) => write!(f, "cannot load array part: {e}"),
            Self::OutOfBounds { name, part, len } => write!(
                f,
                "cannot load array part {}..{} of array {name:?}: the array has only {len} elements",
                part.start, part.end
            ),
        }
    }
}

impl std::error::Error for LoadPartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Invalid(e) => Some(e),
            Self::Open(e) => Some(e),
            Self::OutOfBounds { .. } => None,
        }
    }
}

impl From<InvalidPart> for LoadPartError {
    fn from(e: InvalidPart) -> Self {
        Self::Invalid(e)
    }
}

impl From<OpenError> for LoadPartError {
    fn from(e: OpenError) -> Self {
        Self::Open(e)
    }
}

/// A [`SharedArray`] opened for one [`ArrayPart`]: it reads any element
/// but writes (`set`, `update`, `copy_from_slice`) only inside its part;
/// a write outside is refused with [`ArrayError::IndexOutsidePart`] or
/// [`ArrayError::RangeOutsidePart`] and changes nothing. Indices are
/// absolute (indices of the whole array).
///
/// It is an opener: dropping it unmaps, and never removes the array.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{SharedArray, SharedArrayPart};
///
/// let array = SharedArray::<u32>::create_sharedobject(10)?;
/// let halves = [array.part(..5)?, array.part(5..)?];
/// // Each half's text goes to its own worker process, which fills it:
/// for text in halves.map(|part| part.to_string()) {
///     let part = SharedArrayPart::<u32>::load(&text)?;
///     for i in part.range() {
///         part.set(i, &(2 * i as u32))?;
///     }
/// }
/// assert_eq!(array.to_vec(), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
/// # Ok(()) }
/// ```
pub struct SharedArrayPart<T: SharedState> {
    array: SharedArray<T>,
    /// The part; inside `0..array.len()`, checked at load.
    part: Range<usize>,
}

impl<T: SharedState> SharedArrayPart<T> {
    /// Parses `text` (an [`ArrayPart`]'s `Display` form) and opens that
    /// part, waiting up to [`DEFAULT_OPEN_WAIT`] for the array's creator to
    /// finish setting it up.
    pub fn load(text: &str) -> Result<Self, LoadPartError> {
        Self::load_part(&text.parse()?)
    }

    /// Opens `part`, waiting up to [`DEFAULT_OPEN_WAIT`].
    pub fn load_part(part: &ArrayPart) -> Result<Self, LoadPartError> {
        Self::load_part_timeout(part, DEFAULT_OPEN_WAIT)
    }

    /// Opens `part`, waiting up to `wait` for the array's creator to
    /// finish setting it up. The range must fit the array found
    /// ([`LoadPartError::OutOfBounds`] otherwise).
    pub fn load_part_timeout(part: &ArrayPart, wait: Duration) -> Result<Self, LoadPartError> {
        Self::load_part_with(part, &OpenOptions::new().wait(wait))
    }

    /// Opens `part` if `options` accept the segment's owner and mode,
    /// waiting up to `options.wait_time()` for the array's creator. The
    /// range must fit the array found ([`LoadPartError::OutOfBounds`]
    /// otherwise).
    pub fn load_part_with(part: &ArrayPart, options: &OpenOptions) -> Result<Self, LoadPartError> {
        let array = SharedArray::load_sharedobject_with(&part.handle, options)?;
        if part.end > array.len() {
            return Err(LoadPartError::OutOfBounds {
                name: array.name().clone(),
                part: part.range(),
                len: array.len(),
            });
        }
        Ok(Self { array, part: part.range() })
    }

    /// The indices this process may write.
    #[must_use]
    pub fn range(&self) -> Range<usize> {
        self.part.clone()
    }

    /// The part, to hand on (`to_string()` gives its text).
    #[must_use]
    pub fn part(&self) -> ArrayPart {
        ArrayPart { handle: self.array.handle(), start: self.part.start, end: self.part.end }
    }

    /// Length of the whole array.
    #[must_use]
    pub fn array_len(&self) -> usize {
        self.array.len()
    }

    /// The segment name.
    #[must_use]
    pub fn name(&self) -> &SegmentName {
        self.array.name()
    }

    /// Element `index` of the array (any element, in the part or not), or
    /// `None` if `index >= array_len()`.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<T> {
        self.array.get(index)
    }

    /// Copies elements `start..start + dst.len()` (anywhere in the array)
    /// into `dst`; see [`SharedArray::copy_to_slice`].
    pub fn copy_to_slice(&self, start: usize, dst: &mut [T]) -> Result<(), ArrayError> {
        self.array.copy_to_slice(start, dst)
    }

    fn check_index(&self, index: usize) -> Result<(), ArrayError> {
        if self.part.contains(&index) {
            Ok(())
        } else {
            Err(ArrayError::IndexOutsidePart { name: self.name().clone(), index, part: self.range() })
        }
    }

    /// Replaces element `index`, which must be in the part; see
    /// [`SharedArray::set`].
    pub fn set(&self, index: usize, value: &T) -> Result<(), ArrayError> {
        self.check_index(index)?;
        self.array.set(index, value)
    }

    /// Updates element `index`, which must be in the part; see
    /// [`SharedArray::update`].
    pub fn update<R>(&self, index: usize, f: impl FnOnce(&mut T) -> R) -> Result<R, ArrayError> {
        self.check_index(index)?;
        self.array.update(index, f)
    }

    /// Writes `src` to elements `start..start + src.len()`, which must all
    /// be in the part (otherwise nothing is written); see
    /// [`SharedArray::copy_from_slice`].
    pub fn copy_from_slice(&self, start: usize, src: &[T]) -> Result<(), ArrayError> {
        let inside = start.checked_add(src.len()).is_some_and(|end| self.part.start <= start && end <= self.part.end);
        if !inside {
            let end = start.saturating_add(src.len());
            return Err(ArrayError::RangeOutsidePart { name: self.name().clone(), start, end, part: self.range() });
        }
        self.array.copy_from_slice(start, src)
    }
}

/// One element of an array, for waiting on its version; `index < len`.
struct Element<'a, T: SharedState> {
    array: &'a SharedArray<T>,
    index: usize,
}

impl<T: SharedState> Versioned for Element<'_, T> {
    fn load_version(&self) -> u64 {
        self.array.cell(self.index).version()
    }

    fn waiters(&self) -> &AtomicU32 {
        self.array.waiters(self.index)
    }
}

impl<T: SharedState> fmt::Debug for SharedArrayPart<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedArrayPart").field("part", &self.part().to_string()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::state::Shared;
    use proptest::prelude::*;

    /// Arrays and parts can be shared between threads and moved to them.
    const _: () = {
        const fn send_sync<S: Send + Sync>() {}
        send_sync::<SharedArray<u64>>();
        send_sync::<SharedArrayPart<u64>>();
        send_sync::<ArrayPart>();
    };

    /// A 24-byte element: its words differ, so a torn or shifted copy shows.
    type Triple = [u64; 3];

    fn triple(i: u64) -> Triple {
        [i, i ^ 0x5555, i.wrapping_mul(7)]
    }

    /// Each element's cell is a view taken on every access from the
    /// geometry resolved at create or open, and it is the cell
    /// `ByteCell::split` finds there (for element sizes on and off the
    /// word, on and off the line); the mapping does not move when the
    /// array does: moved into a box and to other threads, the creator and
    /// an opener still read and update the same elements.
    #[test]
    fn element_views_resolved_once_survive_moves() {
        fn same_as_split<T: SharedState>(array: &SharedArray<T>) {
            let words = array.segment.payload().words();
            for index in 0..array.len() {
                let cell = array.cell(index);
                let words = array.geometry.cell_words(words, index);
                let split = ByteCell::split(words, size_of::<T>()).unwrap();
                assert_eq!(cell.capacity(), split.capacity());
                let guard = split.lock(liveness::claimant(), LOCK_WAIT).unwrap();
                assert!(cell.lock(liveness::claimant(), Duration::ZERO).is_err(), "the same lock word");
                drop(guard);
            }
        }
        same_as_split(&SharedArray::<u8>::create_sharedobject(3).unwrap());
        same_as_split(&SharedArray::<Triple>::create_sharedobject(3).unwrap());
        same_as_split(&SharedArray::<[u64; 8]>::create_sharedobject(2).unwrap());
        same_as_split(&SharedArray::<[u8; 13]>::create_sharedobject(2).unwrap());

        let array = Box::new(SharedArray::<u64>::create_from_slice(&[1, 2, 3]).unwrap());
        let peer = vec![SharedArray::<u64>::load_sharedobject(&array.handle()).unwrap()];
        let (array, peer) = std::thread::scope(|s| {
            let array = s.spawn(move || {
                (0..100).for_each(|_| array.update(1, |v| *v += 1).unwrap());
                array
            });
            let peer = s.spawn(move || {
                (0..100).for_each(|_| peer[0].update(1, |v| *v += 1).unwrap());
                peer
            });
            (array.join().unwrap(), peer.join().unwrap())
        });
        assert_eq!(peer[0].to_vec(), [1, 202, 3]);
        same_as_split(&peer[0]);
        array.cleanup().unwrap();
        assert_eq!(peer[0].get(1), Some(202), "removing the name leaves the mapping");
    }

    #[test]
    fn create_load_get_set_update_round_trip() {
        let array = SharedArray::<Triple>::create_sharedobject(5).unwrap();
        assert!(array.is_creator());
        assert_eq!((array.len(), array.is_empty()), (5, false));
        assert_eq!(array.handle().kind(), ObjectKind::Array);
        assert!(array.handle().to_string().starts_with("shm1:array:"));
        assert!(array.iter().all(|v| v == [0; 3]), "created zeroed");

        let peer = SharedArray::<Triple>::load_sharedobject(&array.handle()).unwrap();
        assert!(!peer.is_creator());
        assert_eq!(peer.len(), 5);
        for i in 0..5 {
            peer.set(i, &triple(i as u64 + 1)).unwrap();
        }
        assert_eq!(array.to_vec(), (1..=5).map(triple).collect::<Vec<_>>());
        let old = array.update(2, |v| core::mem::replace(v, triple(99))).unwrap();
        assert_eq!(old, triple(3));
        assert_eq!(peer.get(2), Some(triple(99)));
        assert_eq!(peer.get(1), Some(triple(2)), "a neighbour is untouched");
        assert_eq!(peer.get(3), Some(triple(4)), "a neighbour is untouched");
    }

    #[test]
    fn create_from_slice_and_named() {
        let values: Vec<Triple> = (0..7).map(triple).collect();
        let array = SharedArray::create_from_slice(&values).unwrap();
        assert_eq!(array.to_vec(), values);

        let name = format!("shmrs-array-unit-{}", std::process::id());
        let named = SharedArray::<u16>::create_named_from_slice(&name, &[1, 2, 3]).unwrap();
        assert_eq!(named.name().as_str(), name);
        assert!(matches!(
            SharedArray::<u16>::create_named(&name, 3),
            Err(CreateError::AlreadyExists { name: n, .. }) if n.as_str() == name
        ));
        assert_eq!(named.to_vec(), [1, 2, 3]);
        named.cleanup().unwrap();
        let zeroed = SharedArray::<u16>::create_named(&name, 2).unwrap();
        assert_eq!(zeroed.to_vec(), [0, 0]);
    }

    #[test]
    fn out_of_range_is_refused_and_changes_nothing() {
        let array = SharedArray::<u32>::create_from_slice(&[10, 20, 30]).unwrap();
        assert_eq!(array.get(3), None);
        assert_eq!(array.get(usize::MAX), None);
        let err = array.set(3, &1).unwrap_err();
        assert_eq!(err, ArrayError::IndexOutOfRange { name: array.name().clone(), index: 3, len: 3 });
        let text = err.to_string();
        assert!(
            text.contains("index 3") && text.contains("length 3") && text.contains(array.name().as_str()),
            "{text}"
        );
        let mut called = false;
        let err = array.update(usize::MAX, |_| called = true).unwrap_err();
        assert!(matches!(err, ArrayError::IndexOutOfRange { index: usize::MAX, len: 3, .. }), "{err}");
        assert!(!called, "update ran its closure for an index out of range");
        assert_eq!(array.to_vec(), [10, 20, 30]);
    }

    #[test]
    fn empty_array_is_allowed_and_has_nothing_to_index() {
        let array = SharedArray::<u64>::create_sharedobject(0).unwrap();
        assert!(array.is_empty());
        assert_eq!(array.len(), 0);
        assert_eq!(array.get(0), None);
        assert!(matches!(array.set(0, &1), Err(ArrayError::IndexOutOfRange { index: 0, len: 0, .. })));
        assert_eq!(array.iter().next(), None);
        array.copy_to_slice(0, &mut []).unwrap();
        assert!(matches!(
            array.copy_from_slice(0, &[1]),
            Err(ArrayError::RangeOutOfBounds { start: 0, end: 1, len: 0, .. })
        ));
        let peer = SharedArray::<u64>::load_sharedobject(&array.handle()).unwrap();
        assert!(peer.is_empty());
        assert_eq!(peer.handle().payload_size(), 64, "an empty array is its prefix line");
        let empty: Vec<u64> = SharedArray::create_from_slice(&[]).unwrap().to_vec();
        assert!(empty.is_empty());
    }

    #[test]
    fn iter_goes_in_order_from_both_ends() {
        let array = SharedArray::<i16>::create_from_slice(&[-3, -2, -1, 0, 1]).unwrap();
        let mut iter = array.iter();
        assert_eq!(iter.len(), 5);
        assert_eq!((iter.next(), iter.next_back()), (Some(-3), Some(1)));
        assert_eq!(iter.len(), 3);
        assert_eq!(iter.collect::<Vec<_>>(), [-2, -1, 0]);
        assert_eq!(array.iter().rev().collect::<Vec<_>>(), [1, 0, -1, -2, -3]);
        assert_eq!((&array).into_iter().map(i32::from).sum::<i32>(), -5);
        let mut done = array.iter();
        done.by_ref().for_each(drop);
        assert_eq!((done.next(), done.next_back()), (None, None));
    }

    #[test]
    fn ranges_copy_in_and_out_and_name_the_range_when_out_of_bounds() {
        let array = SharedArray::<u32>::create_sharedobject(6).unwrap();
        array.copy_from_slice(2, &[7, 8, 9]).unwrap();
        assert_eq!(array.to_vec(), [0, 0, 7, 8, 9, 0]);
        let mut out = [0u32; 4];
        array.copy_to_slice(1, &mut out).unwrap();
        assert_eq!(out, [0, 7, 8, 9]);
        array.copy_from_slice(6, &[]).unwrap();

        let err = array.copy_from_slice(4, &[1, 2, 3]).unwrap_err();
        assert_eq!(err, ArrayError::RangeOutOfBounds { name: array.name().clone(), start: 4, end: 7, len: 6 });
        assert!(
            err.to_string().contains("range 4..7 is out of bounds") && err.to_string().contains("length 6"),
            "{err}"
        );
        assert_eq!(array.to_vec(), [0, 0, 7, 8, 9, 0], "a refused copy wrote nothing");
        let mut out = [5u32; 2];
        let err = array.copy_to_slice(usize::MAX, &mut out).unwrap_err();
        assert!(
            matches!(err, ArrayError::RangeOutOfBounds { start: usize::MAX, end: usize::MAX, len: 6, .. }),
            "{err}"
        );
        assert_eq!(out, [5, 5], "a refused copy left the buffer alone");
    }

    #[test]
    fn parts_write_only_inside_and_their_text_round_trips() {
        let array = SharedArray::<u64>::create_sharedobject(10).unwrap();
        let part = array.part(3..6).unwrap();
        assert_eq!(part.range(), 3..6);
        let text = part.to_string();
        assert_eq!(text, format!("3..6@{}", array.handle()));
        assert_eq!(text.parse::<ArrayPart>().unwrap(), part);

        let worker = SharedArrayPart::<u64>::load(&text).unwrap();
        assert_eq!((worker.range(), worker.array_len()), (3..6, 10));
        assert_eq!(worker.part(), part);
        worker.set(3, &30).unwrap();
        worker.update(5, |v| *v = 50).unwrap();
        worker.copy_from_slice(4, &[40]).unwrap();
        for index in [2, 6, 0, 9, 10, usize::MAX] {
            let err = worker.set(index, &1).unwrap_err();
            assert_eq!(err, ArrayError::IndexOutsidePart { name: array.name().clone(), index, part: 3..6 });
            assert!(worker.update(index, |v| *v = 1).is_err());
        }
        let err = worker.set(6, &1).unwrap_err().to_string();
        assert!(err.contains("index 6") && err.contains("part 3..6"), "{err}");
        for (start, len) in [(2, 2), (5, 2), (0, 10), (usize::MAX, 1)] {
            let err = worker.copy_from_slice(start, &vec![1; len]).unwrap_err();
            assert!(
                matches!(err, ArrayError::RangeOutsidePart { start: s, part: Range { start: 3, end: 6 }, .. } if s == start),
                "{err}"
            );
        }
        // Reads are not limited to the part.
        assert_eq!(worker.get(0), Some(0));
        assert_eq!(worker.get(10), None);
        assert_eq!(array.to_vec(), [0, 0, 0, 30, 40, 50, 0, 0, 0, 0]);
    }

    #[test]
    fn part_bounds_are_checked() {
        let array = SharedArray::<u8>::create_sharedobject(4).unwrap();
        assert_eq!(array.part(..).unwrap().range(), 0..4);
        assert_eq!(array.part(1..=3).unwrap().range(), 1..4);
        assert_eq!(array.part(4..).unwrap().range(), 4..4, "an empty part at the end");
        for (start, end) in [(0, 5), (5, 5), (3, 2)] {
            let err = array.part(start..end).unwrap_err();
            assert_eq!(err, ArrayError::RangeOutOfBounds { name: array.name().clone(), start, end, len: 4 });
            let why = if start > end { "ends before it starts" } else { "is out of bounds" };
            assert!(err.to_string().contains(why), "{err}");
        }
        assert!(matches!(array.part(..=usize::MAX), Err(ArrayError::RangeOutOfBounds { end: usize::MAX, .. })));

        // A part text edited to reach past the end parses, but loading it
        // checks the range against the array found.
        let mut text = array.part(0..4).unwrap().to_string();
        text = text.replacen("0..4@", "0..5@", 1);
        let err = SharedArrayPart::<u8>::load(&text).unwrap_err();
        assert!(matches!(&err, LoadPartError::OutOfBounds { part, len: 4, .. } if *part == (0..5)), "{err}");
        assert!(err.to_string().contains("only 4 elements"), "{err}");
    }

    #[test]
    fn garbled_part_text_names_what_is_wrong() {
        let array = SharedArray::<u8>::create_sharedobject(4).unwrap();
        let handle = array.handle().to_string();
        let int = crate::object::int::SharedInt::create_sharedobject(0).unwrap();
        let cases = [
            (handle.clone(), "expected `<start>..<end>@"),
            (format!("1-2@{handle}"), "expected a range"),
            (format!("01..2@{handle}"), "start of the range must be a decimal"),
            (format!("1..+2@{handle}"), "end of the range must be a decimal"),
            (format!("3..2@{handle}"), "ends before it starts"),
            (format!("0..99999999999999999999999@{handle}"), "end of the range"),
            ("0..1@shm1:array:nonsense".to_owned(), "array handle:"),
            (format!("0..1@{}", int.handle()), "not of an `array`"),
        ];
        for (text, expected) in cases {
            let err = text.parse::<ArrayPart>().unwrap_err();
            assert!(err.reason.contains(expected), "{text:?}: {err}");
            assert!(err.to_string().starts_with("invalid array part"), "{err}");
            let err = SharedArrayPart::<u8>::load(&text).unwrap_err();
            assert!(matches!(err, LoadPartError::Invalid(_)), "{err}");
        }
    }

    #[test]
    fn c1_other_element_type_is_layout_mismatch() {
        let array = SharedArray::<u32>::create_sharedobject(4).unwrap();
        let err = SharedArray::<i32>::load_sharedobject(&array.handle()).unwrap_err();
        assert!(
            matches!(&err, OpenError::LayoutMismatch { expected, found, expected_type: "i32", found_type: Some(t), .. }
                if *expected == i32::FINGERPRINT && *found == u32::FINGERPRINT && t == "u32"),
            "{err}"
        );
        let part = array.part(..).unwrap().to_string();
        let err = SharedArrayPart::<[u16; 2]>::load(&part).unwrap_err();
        assert!(matches!(err, LoadPartError::Open(OpenError::LayoutMismatch { .. })), "{err}");
    }

    #[test]
    fn other_kinds_are_kind_mismatch_both_ways() {
        let array = SharedArray::<u64>::create_sharedobject(2).unwrap();
        let err = Shared::<u64>::load_sharedobject(&array.handle()).unwrap_err();
        assert!(matches!(err, OpenError::KindMismatch { expected: ObjectKind::State, found: 7, .. }), "{err}");
        let single = Shared::<u64>::create_sharedobject(&5).unwrap();
        let err = SharedArray::<u64>::load_sharedobject(&single.handle()).unwrap_err();
        assert!(matches!(err, OpenError::KindMismatch { expected: ObjectKind::Array, found: 5, .. }), "{err}");
        assert!(err.to_string().contains("as `array`"), "{err}");
    }

    /// Stores `value` in prefix word `word` of `array`'s segment, as a
    /// buggy or hostile peer could.
    fn scribble(array: &SharedArray<u64>, word: usize, value: u64) {
        array.segment.payload().words()[word].store(value, Ordering::Relaxed);
    }

    #[test]
    fn stored_length_size_or_stride_that_disagree_are_corrupt() {
        for (word, bad, what) in [
            (LEN_WORD, 4, "stored length"),
            (LEN_WORD, 2, "stored length"),
            (LEN_WORD, u64::MAX, "stored length"),
            (ELEMENT_SIZE_WORD, 16, "element size"),
            (STRIDE_WORD, 8, "stride"),
        ] {
            let array = SharedArray::<u64>::create_sharedobject(3).unwrap();
            scribble(&array, word, bad);
            let err = SharedArray::<u64>::load_sharedobject(&array.handle()).unwrap_err();
            assert!(
                matches!(&err, OpenError::Corrupt { what: w, .. } if w.contains(what)),
                "word {word} = {bad}: {err}"
            );
            // The creator keeps its own validated length.
            assert_eq!(array.len(), 3);
            array.set(2, &1).unwrap();
            assert_eq!(array.get(2), Some(1));
        }
    }

    #[test]
    fn elements_sit_on_their_own_lines_in_the_documented_layout() {
        let geometry = Geometry::of(8).unwrap();
        assert_eq!(geometry, Geometry { cell_words: 10, stride: 16 });
        assert_eq!(Geometry::of(64).unwrap(), Geometry { cell_words: 24, stride: 24 });
        assert_eq!(Geometry::of(1).unwrap(), Geometry { cell_words: 10, stride: 16 });
        assert_eq!(Geometry::of(usize::MAX), None);
        assert_eq!(geometry.payload_words(usize::MAX), None);
        assert!(matches!(
            SharedArray::<u64>::create_sharedobject(usize::MAX / 16),
            Err(CreateError::SizeOverflow { capacity, .. }) if capacity == usize::MAX / 16
        ));

        let array = SharedArray::<u64>::create_from_slice(&[0x1111, 0x2222]).unwrap();
        let words = array.segment.payload().words();
        let word = |i: usize| words[i].load(Ordering::Relaxed);
        assert_eq!(words.len(), 8 + 2 * 16);
        assert_eq!([word(0), word(1), word(2)], [2, 8, 16]);
        // Element 1's cell starts at word 8 + 16: capacity word 2 of the
        // cell holds 8, slot 0's data word (cell word 6) the value.
        assert_eq!(word(8 + 16 + 2), 8);
        assert_eq!(word(8 + 16 + 6), 0x2222);
        assert_eq!(word(8 + 6), 0x1111);
        assert_eq!(words.as_ptr().addr() % 64, 0, "the payload is line aligned");
    }

    #[test]
    fn a_held_element_lock_times_out_with_a_clear_error_and_changes_nothing() {
        let array = SharedArray::<u64>::create_from_slice(&[1, 2]).unwrap();
        let cell = array.cell(0);
        let guard = cell.lock(liveness::claimant(), LOCK_WAIT).unwrap();
        let wait = Duration::from_millis(20);
        let err = array.set_waiting(0, &9, wait).unwrap_err();
        assert!(
            matches!(err, ArrayError::LockTimeout { index: 0, holder, waited, .. } if holder == crate::sys::pid::current() && waited >= wait),
            "{err}"
        );
        assert!(err.to_string().contains("index 0") && err.to_string().contains("writer lock"), "{err}");
        assert!(array.update_waiting(0, |v| *v = 9, wait).is_err());
        // The other element does not wait for element 0's lock.
        array.set_waiting(1, &20, wait).unwrap();
        drop(guard);
        assert_eq!(array.to_vec(), [1, 20]);
    }

    #[test]
    fn threads_never_see_a_torn_element_and_never_lose_an_update() {
        const ROUNDS: u64 = 3000;
        let array = SharedArray::<[u64; 4]>::create_sharedobject(3).unwrap();
        let peer = SharedArray::<[u64; 4]>::load_sharedobject(&array.handle()).unwrap();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for round in 0..ROUNDS {
                        let index = usize::try_from(round % 3).unwrap();
                        peer.update(index, |v| *v = [v[0] + 1; 4]).unwrap();
                    }
                });
            }
            let mut reads = 0u64;
            while array.iter().map(|v| v[0]).sum::<u64>() < 2 * ROUNDS || reads < 100 {
                for v in &array {
                    assert!(v.iter().all(|w| *w == v[0]), "torn: {v:?}");
                }
                reads += 1;
            }
        });
        assert_eq!(array.to_vec(), [[2 * ROUNDS / 3; 4]; 3]);
    }

    fn any_part() -> impl Strategy<Value = ArrayPart> {
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<usize>(), any::<usize>(), "[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,254}")
            .prop_map(|(fingerprint, size, nonce, a, b, name)| {
                let name = SegmentName::new(&name).unwrap();
                let handle = Handle::new(name, ObjectKind::Array, fingerprint, size, nonce);
                ArrayPart { handle, start: a.min(b), end: a.max(b) }
            })
    }

    proptest! {
        #[test]
        fn part_text_round_trips(part in any_part()) {
            prop_assert_eq!(part.to_string().parse::<ArrayPart>().unwrap(), part);
        }

        /// Only canonical text parses: whatever parses prints back as the
        /// same text, so two texts never name one part.
        #[test]
        fn part_text_is_refused_or_exact(part in any_part(), at in any::<prop::sample::Index>(), c in any::<char>()) {
            let mut chars: Vec<char> = part.to_string().chars().collect();
            let i = at.index(chars.len());
            chars[i] = c;
            let tampered: String = chars.into_iter().collect();
            if let Ok(parsed) = tampered.parse::<ArrayPart>() {
                prop_assert_eq!(parsed.to_string(), tampered);
            }
        }
    }
}
