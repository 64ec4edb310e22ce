//! `DynShared`: the value of `Shared<T>` with a type known at run time.
//! Same segment kind (`state`), same two-copy byte cell
//! (`protocol/cell.rs`, through `CellSegment`), same writer lock and
//! change notification: only the value's length comes from an
//! [`ItemType`] instead of `size_of::<T>()`.

use crate::format::header::ObjectKind;
use crate::object::bytes::CellSegment;
use crate::object::dynamic::ItemType;
use crate::object::dynamic::ring::stored_layout;
use crate::object::shared_object::sealed::{self, SegmentOwned, SegmentRef};
use crate::object::shared_object::{SharedObject, debug_handle};
use crate::object::state::read_cell;
use crate::protocol::lock::LOCK_WAIT;
use crate::segment::Segment;
use crate::segment::error::{CreateError, OpenError, ReadError, WriteError};
use crate::segment::handle::Handle;
use crate::segment::liveness;
use crate::segment::name::SegmentName;
use crate::segment::options::OpenOptions;
use core::fmt;
use std::time::Duration;

/// A [`Shared<T>`](crate::Shared) whose type is an [`ItemType`]: the same
/// segment kind, so a `Shared<Pose>` opens a `DynShared` created with
/// `ItemType::of::<Pose>()` (or a schema equal to `Pose`'s) and the
/// reverse.
///
/// Values are byte slices of exactly [`ItemType::size`] bytes. `read`
/// returns a value some `write` produced, never a mix of two; writers in
/// any number of processes take turns through the writer lock, as for
/// `Shared<T>`.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::dynamic::{DynShared, ItemType};
/// use shm_runtime::{Shared, SharedObject};
///
/// let value = DynShared::create(&ItemType::of::<[u16; 2]>(), &[1, 0, 2, 0])?;
/// let typed = Shared::<[u16; 2]>::load_sharedobject(&value.handle())?;
/// assert_eq!(typed.read(), [1, 2]);
/// typed.write(&[3, 4])?;
/// let mut out = [0u8; 4];
/// value.read(&mut out)?;
/// assert_eq!(out, [3, 0, 4, 0]);
/// # Ok(()) }
/// ```
pub struct DynShared {
    inner: CellSegment,
    /// The value's type; its size is the cell's capacity (checked at
    /// create or open).
    item: ItemType,
}

impl DynShared {
    /// Creates a new object of type `item` holding `initial`, under a
    /// generated name.
    ///
    /// # Errors
    ///
    /// [`CreateError::WrongSize`] if `initial` is not [`ItemType::size`]
    /// bytes (no system call is made); as
    /// [`Shared::create_sharedobject`](crate::Shared::create_sharedobject)
    /// otherwise.
    pub fn create(item: &ItemType, initial: &[u8]) -> Result<Self, CreateError> {
        Self::create_at(None, item, initial)
    }

    /// Creates a new object of type `item` holding `initial`, under
    /// `name`.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::dynamic::{DynShared, ItemType};
    /// # let name = format!("shmrs-doc-dynshared-{}", std::process::id());
    /// let limits = DynShared::create_named(&name, &ItemType::of::<u32>(), &10u32.to_ne_bytes())?;
    /// let peer = DynShared::open(&name)?; // the type comes from the segment
    /// assert_eq!(peer.item_type().size(), 4);
    /// # drop(limits);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create), and those of a name
    /// ([`CreateError::InvalidName`], [`CreateError::AlreadyExists`]).
    pub fn create_named(name: &str, item: &ItemType, initial: &[u8]) -> Result<Self, CreateError> {
        Self::create_at(Some(name), item, initial)
    }

    fn create_at(name: Option<&str>, item: &ItemType, initial: &[u8]) -> Result<Self, CreateError> {
        if initial.len() != item.size {
            let name = match name {
                Some(name) => SegmentName::new(name).map_err(CreateError::InvalidName)?,
                None => SegmentName::unnamed(),
            };
            return Err(CreateError::WrongSize { name, len: initial.len(), size: item.size });
        }
        let inner = CellSegment::create_with(name, ObjectKind::State, item.layout(), item.size, initial)?;
        Ok(Self { inner, item: item.clone() })
    }

    /// Opens the object named `name` with the type its segment records,
    /// waiting up to [`DEFAULT_OPEN_WAIT`](crate::DEFAULT_OPEN_WAIT).
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_by_name(name, None, &OpenOptions::new())
    }

    /// Opens the object named `name`, expecting a value of type `item`:
    /// another type is [`OpenError::LayoutMismatch`] naming the first
    /// field where the two differ.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn open_as(name: &str, item: &ItemType) -> Result<Self, OpenError> {
        Self::open_by_name(name, Some(item), &OpenOptions::new())
    }

    /// Opens the object named `name` as [`load`](Self::load) opens a
    /// handle, waiting up to `options.wait_time()` in all.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn open_by_name(name: &str, expected: Option<&ItemType>, options: &OpenOptions) -> Result<Self, OpenError> {
        let (handle, left) = Segment::handle_by_name(name, options.wait_time())?;
        Self::load(&handle, expected, &options.wait(left))
    }

    /// Opens the object `handle` names if `options` accept its owner and
    /// mode, waiting up to `options.wait_time()` for its creator. With
    /// `expected`, the object must hold that type; without, the type is
    /// the segment's own schema, which must parse, hash to the
    /// fingerprint and have the size of the stored value.
    ///
    /// # Errors
    ///
    /// Those of [`Shared<T>`](crate::Shared)'s open (`NotFound`,
    /// `KindMismatch`, `LayoutMismatch`, ...); [`OpenError::BadSchema`] or
    /// [`OpenError::Corrupt`] for a schema that is bad or disagrees with
    /// the stored size.
    pub fn load(handle: &Handle, expected: Option<&ItemType>, options: &OpenOptions) -> Result<Self, OpenError> {
        let layout = expected.map_or_else(|| stored_layout(handle), ItemType::layout);
        let inner = CellSegment::open(handle, ObjectKind::State, layout, options)?;
        let corrupt = |what| OpenError::Corrupt { name: handle.name().clone(), what };
        let item = if let Some(item) = expected {
            item.clone()
        } else {
            let segment = inner.segment();
            let schema = segment.schema().map_err(|_| corrupt("the segment's schema is bad"))?;
            ItemType::stored(segment.header().type_name(), schema)
                .map_err(|_| corrupt("the segment's schema is no item type"))?
        };
        if inner.capacity() != item.size {
            return Err(corrupt("stored size differs from the type's size"));
        }
        Ok(Self { inner, item })
    }

    /// The value's type.
    #[must_use]
    pub fn item_type(&self) -> &ItemType {
        &self.item
    }

    /// Copies the current value into `out`: the bytes of one complete
    /// write, never a mix of two (lock-free; when writers keep replacing
    /// the value, it takes the writer lock, as `Shared<T>::read` does).
    ///
    /// # Errors
    ///
    /// [`ReadError::WrongSize`] if `out` is not [`ItemType::size`] bytes.
    pub fn read(&self, out: &mut [u8]) -> Result<(), ReadError> {
        if out.len() != self.item.size {
            return Err(ReadError::WrongSize { name: self.name().clone(), len: out.len(), size: self.item.size });
        }
        read_cell(&self.inner.cell(), 0, out);
        Ok(())
    }

    /// Replaces the value with `value`.
    ///
    /// # Errors
    ///
    /// [`WriteError::WrongSize`] if `value` is not [`ItemType::size`]
    /// bytes; [`WriteError::LockTimeout`] as for `Shared<T>`.
    pub fn write(&self, value: &[u8]) -> Result<(), WriteError> {
        if value.len() != self.item.size {
            return Err(WriteError::WrongSize { name: self.name().clone(), len: value.len(), size: self.item.size });
        }
        self.inner.write(value)
    }

    /// Reads the value, lets `f` change its bytes, and writes it back,
    /// holding the writer lock throughout (as `Shared<T>::update`): updates
    /// from several processes never overwrite each other.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::dynamic::{DynShared, ItemType};
    /// let counter = DynShared::create(&ItemType::of::<u8>(), &[41])?;
    /// counter.update(|bytes| bytes[0] += 1)?;
    /// let mut out = [0];
    /// counter.read(&mut out)?;
    /// assert_eq!(out, [42]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`WriteError::LockTimeout`].
    pub fn update<X>(&self, f: impl FnOnce(&mut [u8]) -> X) -> Result<X, WriteError> {
        let cell = self.inner.cell();
        let guard = cell.lock(liveness::claimant(), LOCK_WAIT).map_err(|e| self.inner.write_error(e))?;
        let mut value = vec![0u8; self.item.size];
        cell.copy_current_unchecked(0, &mut value[..]);
        let result = f(&mut value);
        cell.write_locked(&guard, &value);
        drop(guard);
        self.inner.published();
        Ok(result)
    }

    /// The version of the value: the number of writes made so far (see
    /// [`Shared::version`](crate::Shared::version)).
    #[must_use]
    pub fn version(&self) -> u64 {
        self.inner.cell().version()
    }

    /// Sleeps until the [version](Self::version) differs from `since`, and
    /// returns the new version; `None` once `timeout` has passed first, as
    /// [`Shared::wait_changed`](crate::Shared::wait_changed).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::dynamic::{DynShared, ItemType};
    /// use std::time::Duration;
    /// let level = DynShared::create(&ItemType::of::<u8>(), &[0])?;
    /// let since = level.version();
    /// assert_eq!(level.wait_changed(since, Duration::ZERO), None);
    /// level.write(&[1])?;
    /// assert_eq!(level.wait_changed(since, Duration::from_secs(1)), Some(since.wrapping_add(1)));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn wait_changed(&self, since: u64, timeout: Duration) -> Option<u64> {
        self.inner.wait_changed(since, timeout)
    }
}

impl SharedObject for DynShared {
    /// Opens the object `handle` names with the segment's own type
    /// ([`DynShared::load`] without an expected type).
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        Self::load(handle, None, options)
    }
}

impl sealed::Sealed for DynShared {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(self.inner.segment())
    }

    fn into_segment(self) -> SegmentOwned {
        SegmentOwned(self.inner.into_segment())
    }
}

impl fmt::Debug for DynShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_handle(self, "DynShared", f)
    }
}
