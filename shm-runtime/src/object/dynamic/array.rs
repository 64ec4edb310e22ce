//! `DynArray`: the array of `SharedArray<T>` with an element type known at
//! run time. Same segment kind (`array`), same geometry (one two-copy cell
//! per element on lines of its own, `object/array.rs`), same cell
//! protocol: only the element's length comes from an [`ItemType`].

use crate::format::header::ObjectKind;
use crate::object::array::{ArrayError, Geometry, check_geometry, create_segment};
use crate::object::dynamic::ItemType;
use crate::object::dynamic::ring::stored_layout;
use crate::object::notify::{self, Versioned};
use crate::object::shared_object::sealed::{self, SegmentOwned, SegmentRef};
use crate::object::shared_object::{SharedObject, debug_handle};
use crate::object::state::read_cell;
use crate::protocol::cell::{ByteCell, CellError};
use crate::protocol::lock::LOCK_WAIT;
use crate::segment::Segment;
use crate::segment::error::{CreateError, OpenError};
use crate::segment::handle::Handle;
use crate::segment::liveness;
use crate::segment::name::SegmentName;
use crate::segment::options::OpenOptions;
use core::fmt;
use core::sync::atomic::AtomicU32;
use std::time::Duration;

/// A [`SharedArray<T>`](crate::SharedArray) whose element type is an
/// [`ItemType`]: the same segment kind, so a `SharedArray<Pose>` opens a
/// `DynArray` created with `ItemType::of::<Pose>()` (or a schema equal to
/// `Pose`'s) and the reverse.
///
/// Elements are byte slices of exactly [`ItemType::size`] bytes. Each is
/// read and written whole, never a mix of two writes, as in
/// `SharedArray<T>`; writers of one element take turns through its lock.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::dynamic::{DynArray, ItemType};
/// use shm_runtime::{SharedArray, SharedObject};
///
/// let table = DynArray::create(&ItemType::of::<u32>(), 3)?;
/// table.set(1, &7u32.to_ne_bytes())?;
/// let typed = SharedArray::<u32>::load_sharedobject(&table.handle())?;
/// assert_eq!(typed.to_vec(), [0, 7, 0]);
/// let mut all = vec![0u8; 12];
/// table.copy_to(&mut all)?; // every element, each read whole
/// assert_eq!(all[4..8], 7u32.to_ne_bytes());
/// # Ok(()) }
/// ```
pub struct DynArray {
    segment: Segment,
    /// Number of elements; checked against the mapping size at create or
    /// open, never re-read from shared memory.
    len: usize,
    /// `Geometry::of(item.size())`, made at create or open; the payload
    /// holds `geometry.payload_words(len)` words.
    geometry: Geometry,
    item: ItemType,
}

impl DynArray {
    /// Creates an array of `len` all-zero elements of `item`, under a
    /// generated name.
    ///
    /// # Errors
    ///
    /// As [`SharedArray::create_sharedobject`](crate::SharedArray::create_sharedobject).
    pub fn create(item: &ItemType, len: usize) -> Result<Self, CreateError> {
        Self::create_at(None, item, len, &[])
    }

    /// Creates an array of `len` all-zero elements of `item`, under `name`.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create), and those of a name.
    pub fn create_named(name: &str, item: &ItemType, len: usize) -> Result<Self, CreateError> {
        Self::create_at(Some(name), item, len, &[])
    }

    /// Creates an array holding the elements laid end to end in `elements`
    /// (its length over the item size is the array's), under `name` or a
    /// generated one.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::dynamic::{DynArray, ItemType};
    /// let pairs = DynArray::create_from_bytes(None, &ItemType::of::<[u8; 2]>(), &[1, 2, 3, 4])?;
    /// assert_eq!(pairs.len(), 2);
    /// let mut second = [0; 2];
    /// pairs.get(1, &mut second)?;
    /// assert_eq!(second, [3, 4]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`CreateError::WrongSize`] if `elements.len()` is not a multiple of
    /// the item size; as [`create`](Self::create) otherwise.
    pub fn create_from_bytes(name: Option<&str>, item: &ItemType, elements: &[u8]) -> Result<Self, CreateError> {
        if !elements.len().is_multiple_of(item.size) {
            let name = name.map_or_else(|| Ok(SegmentName::unnamed()), SegmentName::new);
            let name = name.map_err(CreateError::InvalidName)?;
            return Err(CreateError::WrongSize { name, len: elements.len(), size: item.size });
        }
        Self::create_at(name, item, elements.len() / item.size, elements)
    }

    /// `elements` is empty (zeros) or `len` elements laid end to end.
    fn create_at(name: Option<&str>, item: &ItemType, len: usize, elements: &[u8]) -> Result<Self, CreateError> {
        let size = item.size;
        let element =
            |index: usize| elements.get(index * size..(index + 1) * size).map_or_else(|| vec![0; size], <[u8]>::to_vec);
        let (segment, geometry) = create_segment(name, item.layout(), size, len, element)?;
        Ok(Self { segment, len, geometry, item: item.clone() })
    }

    /// Opens the array named `name` with the element type its segment
    /// records, waiting up to [`DEFAULT_OPEN_WAIT`](crate::DEFAULT_OPEN_WAIT).
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_by_name(name, None, &OpenOptions::new())
    }

    /// Opens the array named `name`, expecting elements of `item`: another
    /// type is [`OpenError::LayoutMismatch`] naming the first field where
    /// the two differ.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn open_as(name: &str, item: &ItemType) -> Result<Self, OpenError> {
        Self::open_by_name(name, Some(item), &OpenOptions::new())
    }

    /// Opens the array named `name` as [`load`](Self::load) opens a
    /// handle, waiting up to `options.wait_time()` in all.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn open_by_name(name: &str, expected: Option<&ItemType>, options: &OpenOptions) -> Result<Self, OpenError> {
        let (handle, left) = Segment::handle_by_name(name, options.wait_time())?;
        Self::load(&handle, expected, &options.wait(left))
    }

    /// Opens the array `handle` names if `options` accept its owner and
    /// mode, waiting up to `options.wait_time()` for its creator. With
    /// `expected`, the elements must be of that type; without, the type is
    /// the segment's own schema, which must parse, hash to the fingerprint
    /// and have the stored element size.
    ///
    /// # Errors
    ///
    /// Those of [`SharedArray<T>`](crate::SharedArray)'s open;
    /// [`OpenError::BadSchema`] or [`OpenError::Corrupt`] for a schema that
    /// is bad or disagrees with the stored element size.
    pub fn load(handle: &Handle, expected: Option<&ItemType>, options: &OpenOptions) -> Result<Self, OpenError> {
        let layout = expected.map_or_else(|| stored_layout(handle), ItemType::layout);
        let segment = Segment::open(handle, ObjectKind::Array, layout, None, options)?;
        let corrupt = |what| OpenError::Corrupt { name: handle.name().clone(), what };
        let item = if let Some(item) = expected {
            item.clone()
        } else {
            let schema = segment.schema().map_err(|_| corrupt("the segment's schema is bad"))?;
            ItemType::stored(segment.header().type_name(), schema)
                .map_err(|_| corrupt("the segment's schema is no item type"))?
        };
        // The stored element size and stride against the item's size.
        let (len, geometry) = check_geometry(&segment, item.size)?;
        Ok(Self { segment, len, geometry, item })
    }

    /// The element type.
    #[must_use]
    pub fn item_type(&self) -> &ItemType {
        &self.item
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
    fn cell(&self, index: usize) -> ByteCell<'_> {
        debug_assert!(index < self.len);
        let words = self.geometry.cell_words(self.segment.payload().words(), index);
        // SAFETY: `cell_words` returns exactly `geometry.cell_words` words,
        // and `geometry` was made by `Geometry::of(self.item.size)` (see
        // the field: `create_segment` and `check_geometry` make it so), so
        // they are `layout_words(self.item.size)`.
        unsafe { ByteCell::split_unchecked(words, self.item.size) }
    }

    /// Element `index`'s cell, after checking the index and that a buffer
    /// of `len` bytes is one element.
    fn checked_cell(&self, index: usize, len: usize) -> Result<ByteCell<'_>, ArrayError> {
        let name = || self.segment.name().clone();
        if index >= self.len {
            return Err(ArrayError::IndexOutOfRange { name: name(), index, len: self.len });
        }
        if len != self.item.size {
            return Err(ArrayError::WrongSize { name: name(), len, size: self.item.size });
        }
        Ok(self.cell(index))
    }

    /// Copies element `index` (the last complete value written to it)
    /// into `out`.
    ///
    /// # Errors
    ///
    /// [`ArrayError::IndexOutOfRange`]; [`ArrayError::WrongSize`] if `out`
    /// is not [`ItemType::size`] bytes.
    pub fn get(&self, index: usize, out: &mut [u8]) -> Result<(), ArrayError> {
        let cell = self.checked_cell(index, out.len())?;
        read_cell(&cell, 0, out);
        Ok(())
    }

    /// Replaces element `index` with `value`; on error nothing changes.
    ///
    /// # Errors
    ///
    /// [`ArrayError::IndexOutOfRange`]; [`ArrayError::WrongSize`];
    /// [`ArrayError::LockTimeout`] as for `SharedArray::set`.
    pub fn set(&self, index: usize, value: &[u8]) -> Result<(), ArrayError> {
        let cell = self.checked_cell(index, value.len())?;
        let guard = cell.lock(liveness::claimant(), LOCK_WAIT).map_err(|e| self.lock_error(index, e))?;
        cell.write_locked(&guard, value);
        drop(guard);
        self.published(index);
        Ok(())
    }

    /// Reads element `index`, lets `f` change its bytes, and writes it back,
    /// holding the element's writer lock throughout (as
    /// `SharedArray::update`).
    ///
    /// # Errors
    ///
    /// [`ArrayError::IndexOutOfRange`]; [`ArrayError::LockTimeout`].
    pub fn update<X>(&self, index: usize, f: impl FnOnce(&mut [u8]) -> X) -> Result<X, ArrayError> {
        let cell = self.checked_cell(index, self.item.size)?;
        let guard = cell.lock(liveness::claimant(), LOCK_WAIT).map_err(|e| self.lock_error(index, e))?;
        let mut value = vec![0; self.item.size];
        cell.copy_current_unchecked(0, &mut value[..]);
        let result = f(&mut value);
        cell.write_locked(&guard, &value);
        drop(guard);
        self.published(index);
        Ok(result)
    }

    /// After a write of element `index`: wakes whoever waits for it to
    /// change.
    fn published(&self, index: usize) {
        notify::published(self.waiters(index));
    }

    /// Element `index`'s waiters word; `index < len`.
    fn waiters(&self, index: usize) -> &AtomicU32 {
        debug_assert!(index < self.len);
        // The waiters word is accessed only through this view.
        self.segment.payload().futex_word(self.geometry.waiters_word(index))
    }

    fn lock_error(&self, index: usize, e: CellError) -> ArrayError {
        match e {
            CellError::LockTimeout { holder, waited } => {
                ArrayError::LockTimeout { name: self.segment.name().clone(), index, holder, waited }
            }
            other => unreachable!("taking a cell's lock fails only with LockTimeout, not {other:?}"),
        }
    }

    /// Copies every element, in order and each whole, into `out` (laid end
    /// to end: a structured array's bytes).
    ///
    /// # Errors
    ///
    /// [`ArrayError::WrongSize`] if `out` is not `len() * size` bytes.
    pub fn copy_to(&self, out: &mut [u8]) -> Result<(), ArrayError> {
        let size = self.item.size;
        if Some(out.len()) != self.len.checked_mul(size) {
            let name = self.segment.name().clone();
            return Err(ArrayError::WrongSize { name, len: out.len(), size: self.len.saturating_mul(size) });
        }
        for (index, element) in out.chunks_exact_mut(size).enumerate() {
            read_cell(&self.cell(index), 0, element);
        }
        Ok(())
    }

    /// The version of element `index`: the number of writes made to it so
    /// far (`set`, `update`; in any process, through a `DynArray` or a
    /// `SharedArray<T>`, wrapping), or `None` if `index >= len()`. Each
    /// element has its own. An element read after this call is that
    /// version's or a later one.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::dynamic::{DynArray, ItemType};
    /// let slots = DynArray::create(&ItemType::of::<u64>(), 4)?;
    /// let before = slots.version(2).expect("in range");
    /// slots.set(2, &7u64.to_ne_bytes())?;
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
    /// looks). The wait of
    /// [`SharedArray::wait_changed`](crate::SharedArray::wait_changed), on
    /// the same words: writes through either kind of handle wake it, writes
    /// to other elements do not, and a write while nobody waits makes no
    /// system call.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::dynamic::{DynArray, ItemType};
    /// use shm_runtime::{SharedArray, SharedObject};
    /// use std::time::Duration;
    /// let slots = DynArray::create(&ItemType::of::<u64>(), 4)?;
    /// let peer = SharedArray::<u64>::load_sharedobject(&slots.handle())?;
    /// let since = slots.version(1).expect("in range");
    /// let writer = std::thread::spawn(move || peer.set(1, &9).map(drop));
    /// slots.wait_changed(1, since, Duration::from_secs(10))?.expect("a write within 10 s");
    /// let mut value = [0; 8];
    /// slots.get(1, &mut value)?;
    /// assert_eq!(u64::from_ne_bytes(value), 9);
    /// # writer.join().unwrap()?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ArrayError::IndexOutOfRange`] if `index >= len()`.
    pub fn wait_changed(&self, index: usize, since: u64, timeout: Duration) -> Result<Option<u64>, ArrayError> {
        if index >= self.len {
            return Err(ArrayError::IndexOutOfRange { name: self.segment.name().clone(), index, len: self.len });
        }
        Ok(notify::wait_changed(&Element { array: self, index }, since, timeout))
    }
}

/// One element of a `DynArray`, for waiting on its version; `index < len`.
struct Element<'a> {
    array: &'a DynArray,
    index: usize,
}

impl Versioned for Element<'_> {
    fn load_version(&self) -> u64 {
        self.array.cell(self.index).version()
    }

    fn waiters(&self) -> &AtomicU32 {
        self.array.waiters(self.index)
    }
}

impl SharedObject for DynArray {
    /// Opens the array `handle` names with the segment's own element type
    /// ([`DynArray::load`] without an expected type).
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        Self::load(handle, None, options)
    }
}

impl sealed::Sealed for DynArray {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(&self.segment)
    }

    fn into_segment(self) -> SegmentOwned {
        SegmentOwned(self.segment)
    }
}

impl fmt::Debug for DynArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_handle(self, "DynArray", f)
    }
}
