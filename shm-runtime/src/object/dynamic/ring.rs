//! `DynRing`: the ring of `MemoryInterface<T>` with an item type known at
//! run time. Same segment kind (`ring`), same shape words, same ends
//! (`object/ring/end.rs`), same protocol (`protocol/ring.rs`): only the
//! item's length comes from an [`ItemType`] instead of `size_of::<T>()`.

use crate::format::header::{Layout, ObjectKind, SchemaRef};
use crate::format::schema::Schema;
use crate::object::dynamic::ItemType;
use crate::object::ring::Ring;
use crate::object::ring::end::{Consumer, End, Producer, Role, sealed};
use crate::object::shared_object::sealed::{SegmentOwned, SegmentRef};
use crate::object::shared_object::{self, SharedObject};
use crate::protocol::ring::Shape;
use crate::segment::error::{CreateError, OpenError, RingError, SendError};
use crate::segment::handle::Handle;
use crate::segment::options::OpenOptions;
use crate::segment::{DEFAULT_OPEN_WAIT, Segment};
use core::fmt;
use std::time::{Duration, Instant};

/// A [`MemoryInterface`](crate::MemoryInterface) whose item type is an
/// [`ItemType`]: the same segment and kind, so a
/// `MemoryInterface<Pose, Consumer>` opens a `DynRing` created with
/// `ItemType::of::<Pose>()` (or with a schema built field by field equal
/// to `Pose`'s), and a `DynRing` opens a `MemoryInterface<Pose>`'s ring.
///
/// Items are byte slices of exactly [`ItemType::size`] bytes, in the
/// layout the schema describes (native byte order). Everything else is as
/// for `MemoryInterface`: one producer and one consumer, each a claim; a
/// full ring refuses a write (nothing is overwritten); waits end with
/// [`RingError::Closed`] or [`RingError::PeerDead`]; the methods of
/// [`Ring`] and [`SharedObject`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::dynamic::{DynRing, ItemType};
/// use shm_runtime::{Consumer, Producer, Ring, SharedObject};
///
/// let item = ItemType::of::<[u32; 2]>();
/// let mut tx = DynRing::<Producer>::create(&item, 4)?;
/// // Another process, knowing only the handle: the type comes from the segment.
/// let mut rx = DynRing::<Consumer>::load(&tx.handle(), None, &Default::default())?;
/// assert_eq!(rx.item_type(), &item);
/// tx.write(&[1, 0, 0, 0, 2, 0, 0, 0])?;
/// let mut out = [0u8; 8];
/// assert!(rx.read(&mut out)?);
/// assert_eq!(out, [1, 0, 0, 0, 2, 0, 0, 0]);
/// assert!(!rx.read(&mut out)?, "empty");
/// assert_eq!(rx.capacity(), 4);
/// # Ok(()) }
/// ```
pub struct DynRing<R: Role = Producer> {
    end: End<R>,
    /// The item type; its size matches the ring's element bytes and slot
    /// words (checked at create or open).
    item: ItemType,
}

impl<R: Role> DynRing<R> {
    /// Creates a ring of `capacity` slots of `item` under a generated name
    /// and holds its `R` side; the other side opens it with the
    /// [`handle`](SharedObject::handle).
    ///
    /// # Errors
    ///
    /// As [`MemoryInterface::create_memorybuf`](crate::MemoryInterface::create_memorybuf):
    /// [`CreateError::InvalidCapacity`] for 0 slots,
    /// [`CreateError::SizeOverflow`], [`CreateError::OutOfSpace`], ...
    pub fn create(item: &ItemType, capacity: usize) -> Result<Self, CreateError> {
        Self::create_at(None, item, capacity)
    }

    /// Creates a ring of `capacity` slots of `item` under `name` and holds
    /// its `R` side; the other side opens it by name.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::dynamic::{DynRing, ItemType};
    /// use shm_runtime::{Consumer, MemoryInterface, Producer, SharedObject};
    /// # let name = format!("shmrs-doc-dynring-{}", std::process::id());
    /// let mut tx = DynRing::<Producer>::create_named(&name, &ItemType::of::<u64>(), 16)?;
    /// let mut rx = MemoryInterface::<u64, Consumer>::open(&name)?; // a typed consumer
    /// tx.write(&7u64.to_ne_bytes())?;
    /// assert_eq!(rx.read(), Some(7));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create), and those of a name:
    /// [`CreateError::InvalidName`], [`CreateError::AlreadyExists`].
    pub fn create_named(name: &str, item: &ItemType, capacity: usize) -> Result<Self, CreateError> {
        Self::create_at(Some(name), item, capacity)
    }

    fn create_at(name: Option<&str>, item: &ItemType, capacity: usize) -> Result<Self, CreateError> {
        // The slot shape `MemoryInterface<T>` has for a `T` of this size.
        let end =
            End::create(name, ObjectKind::Ring, item.layout(), capacity, slot_words(item.size), item.size as u64)?;
        Ok(Self { end, item: item.clone() })
    }

    /// Opens the ring named `name` as its `R` side, with the item type its
    /// segment records (see [`load`](Self::load)), waiting up to
    /// [`DEFAULT_OPEN_WAIT`] for it to appear and be ready.
    ///
    /// # Errors
    ///
    /// As [`SharedObject::open`], and [`OpenError::Corrupt`] for a schema
    /// that disagrees with the ring's slots.
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_by_name(name, None, &OpenOptions::new())
    }

    /// Opens the ring named `name` as its `R` side, expecting items of
    /// `item`: a ring of another type is [`OpenError::LayoutMismatch`],
    /// naming the first field where the two differ.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::dynamic::{DynRing, ItemType};
    /// use shm_runtime::{Consumer, OpenError, Producer};
    /// # let name = format!("shmrs-doc-dynring-as-{}", std::process::id());
    /// let tx = DynRing::<Producer>::create_named(&name, &ItemType::of::<[u32; 2]>(), 4)?;
    /// let refused = DynRing::<Consumer>::open_as(&name, &ItemType::of::<[i32; 2]>()).unwrap_err();
    /// assert!(matches!(refused, OpenError::LayoutMismatch { .. }), "{refused}");
    /// assert!(DynRing::<Consumer>::open_as(&name, &ItemType::of::<[u32; 2]>()).is_ok());
    /// # drop(tx);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and [`OpenError::LayoutMismatch`].
    pub fn open_as(name: &str, item: &ItemType) -> Result<Self, OpenError> {
        Self::open_by_name(name, Some(item), &OpenOptions::new())
    }

    /// Opens the ring named `name` as [`load`](Self::load) opens a handle,
    /// waiting up to `options.wait_time()` in all for it to appear and be
    /// ready.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open) and [`open_as`](Self::open_as).
    pub fn open_by_name(name: &str, expected: Option<&ItemType>, options: &OpenOptions) -> Result<Self, OpenError> {
        let (handle, left) = Segment::handle_by_name(name, options.wait_time())?;
        Self::load(&handle, expected, &options.wait(left))
    }

    /// Opens the ring `handle` names as its `R` side if `options` accept
    /// its owner and mode, waiting up to `options.wait_time()` for its
    /// creator. With `expected`, the ring must hold that type (else
    /// [`OpenError::LayoutMismatch`] naming the differing field); without,
    /// the item type is the segment's own schema, which must be there,
    /// parse, hash to the fingerprint and have the size of the ring's
    /// slots. The side is a claim, as for `MemoryInterface`.
    ///
    /// # Errors
    ///
    /// Those of [`MemoryInterface`](crate::MemoryInterface)'s open
    /// (`NotFound`, `KindMismatch`, `LayoutMismatch`, `RoleTaken`, ...);
    /// [`OpenError::BadSchema`] or [`OpenError::Corrupt`] for a schema
    /// that is bad or disagrees with the slots.
    pub fn load(handle: &Handle, expected: Option<&ItemType>, options: &OpenOptions) -> Result<Self, OpenError> {
        let layout = expected.map_or_else(|| stored_layout(handle), ItemType::layout);
        let end = End::open(handle, ObjectKind::Ring, layout, options, check_shape)?;
        let item = if let Some(item) = expected {
            item.clone()
        } else {
            let segment = end.segment();
            let schema = segment.schema().map_err(|_| corrupt(segment, "the segment's schema is bad"))?;
            ItemType::stored(segment.header().type_name(), schema)
                .map_err(|_| corrupt(segment, "the segment's schema is no item type"))?
        };
        Ok(Self { end, item })
    }

    /// Opens the ring `handle` names as its `R` side with the segment's
    /// own item type, waiting up to [`DEFAULT_OPEN_WAIT`] (the seed's name,
    /// as `MemoryInterface` has it).
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn load_memorybuf(handle: &Handle) -> Result<Self, OpenError> {
        Self::load(handle, None, &OpenOptions::new().wait(DEFAULT_OPEN_WAIT))
    }

    /// The item type.
    #[must_use]
    pub fn item_type(&self) -> &ItemType {
        &self.item
    }

    /// The wrong-size error for a buffer of `len` bytes.
    fn wrong_size(&self, len: usize) -> RingError {
        RingError::WrongSize { name: self.end.name().clone(), len, size: self.item.size }
    }
}

/// Words per slot for items of `size` bytes: `MemoryInterface<T>`'s
/// `size_of::<T>().div_ceil(8)`.
fn slot_words(size: usize) -> usize {
    size.div_ceil(8)
}

/// The layout an opener without a type of its own expects: the
/// fingerprint the handle announces, the segment's own schema (which the
/// open checks against that fingerprint).
pub(super) fn stored_layout<'a>(handle: &Handle) -> Layout<'a> {
    Layout { fingerprint: handle.fingerprint(), type_name: "the segment's type", schema: SchemaRef::Stored }
}

/// Whether a ring's stored `shape` holds items of `schema`: element bytes
/// its size, slots as many words as `MemoryInterface` gives that size.
fn check_shape(shape: Shape, schema: &Schema) -> Result<(), &'static str> {
    let size = schema.size().ok_or("the schema of a ring's items has no fixed size")?;
    if size != shape.element_bytes {
        return Err("the element size word disagrees with the schema's size");
    }
    let words = usize::try_from(size).ok().map(slot_words);
    if words != Some(shape.slot_words) {
        return Err("the slot size word disagrees with the schema's size");
    }
    Ok(())
}

fn corrupt(segment: &Segment, what: &'static str) -> OpenError {
    OpenError::Corrupt { name: segment.name().clone(), what }
}

impl<R: Role> SharedObject for DynRing<R> {
    /// Opens the ring `handle` names as its `R` side with the segment's
    /// own item type ([`DynRing::load`] without an expected type).
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        Self::load(handle, None, options)
    }
}

impl<R: Role> shared_object::sealed::Sealed for DynRing<R> {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(self.end.segment())
    }

    fn into_segment(self) -> SegmentOwned {
        SegmentOwned(self.end.into_segment())
    }
}

impl<R: Role> sealed::HasEnd for DynRing<R> {
    type Side = R;

    fn end(&self) -> &End<R> {
        &self.end
    }
}

impl<R: Role> Ring for DynRing<R> {}

impl DynRing<Producer> {
    /// Whether a `write` would find a free slot now.
    #[inline]
    pub fn can_write(&mut self) -> bool {
        self.end.corrupt.is_none() && self.end.free(1).is_ok_and(|n| n > 0)
    }

    /// Writes `item` into the next slot, without waiting; nothing is
    /// overwritten.
    ///
    /// # Errors
    ///
    /// [`SendError::WrongSize`] if `item` is not [`ItemType::size`] bytes;
    /// as [`ByteRing::write`](crate::ByteRing::write): [`SendError::Full`]
    /// (or the ring was found corrupt), [`SendError::Closed`] if the
    /// consumer let go, [`SendError::PeerDead`] if the ring is full and
    /// the consumer died. Nothing is written in any case.
    // Always inlined, as `MemoryInterface::write` is (see there).
    #[expect(clippy::inline_always, reason = "as MemoryInterface::write (see there)")]
    #[inline(always)]
    pub fn write(&mut self, item: &[u8]) -> Result<(), SendError> {
        if item.len() != self.item.size {
            return Err(SendError::WrongSize { len: item.len(), size: self.item.size });
        }
        if self.end.peer_left() || !self.can_write() {
            return Err(self.end.send_refused());
        }
        self.put_and_publish(item);
        Ok(())
    }

    /// Writes as many of the items in `items` (whole items laid end to
    /// end, `items.len()` a multiple of [`ItemType::size`]) as there are
    /// free slots, in order, published with one store; returns how many.
    /// 0 also if the consumer let go or the ring was found corrupt (as
    /// [`MemoryInterface::write_slice`](crate::MemoryInterface::write_slice)).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::dynamic::{DynRing, ItemType};
    /// use shm_runtime::{Consumer, Producer, SharedObject};
    ///
    /// let mut tx = DynRing::<Producer>::create(&ItemType::of::<u16>(), 2)?;
    /// let mut rx = DynRing::<Consumer>::load_memorybuf(&tx.handle())?;
    /// assert_eq!(tx.write_slice(&[1, 0, 2, 0, 3, 0])?, 2, "two slots");
    /// let mut out = [0u8; 8];
    /// assert_eq!(rx.read_into(&mut out)?, 2);
    /// assert_eq!(out[..4], [1, 0, 2, 0]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SendError::WrongSize`] if `items.len()` is not a multiple of the
    /// item size (nothing is written).
    pub fn write_slice(&mut self, items: &[u8]) -> Result<usize, SendError> {
        let size = self.item.size;
        if !items.len().is_multiple_of(size) {
            return Err(SendError::WrongSize { len: items.len(), size });
        }
        if self.end.corrupt.is_some() || self.end.peer_left() {
            return Ok(0);
        }
        let wanted = items.len() / size;
        let free = self.end.free(wanted as u64).unwrap_or(0);
        let n = usize::try_from(free).map_or(wanted, |free| free.min(wanted));
        if n > 0 {
            let (ring, cursor) = self.end.ring_and_cursor();
            for (i, item) in items.chunks_exact(size).take(n).enumerate() {
                ring.put(cursor, i as u64, item);
            }
            ring.publish(cursor, n as u64);
            self.end.notify_peer();
        }
        Ok(n)
    }

    /// Writes `item`, waiting up to `timeout` for a free slot (a timeout
    /// too long for the clock is no deadline).
    ///
    /// # Errors
    ///
    /// [`RingError::WrongSize`]; [`RingError::Timeout`]; a consumer that let
    /// go (before or while it waits) is [`RingError::Closed`], one that
    /// died while the ring is full [`RingError::PeerDead`].
    pub fn write_timeout(&mut self, item: &[u8], timeout: Duration) -> Result<(), RingError> {
        self.write_until(item, Instant::now().checked_add(timeout))
    }

    /// Writes `item`, waiting as long as it takes for a free slot (or
    /// until the consumer dies or lets go).
    ///
    /// # Errors
    ///
    /// As [`write_timeout`](Self::write_timeout), but for the timeout.
    pub fn write_blocking(&mut self, item: &[u8]) -> Result<(), RingError> {
        self.write_until(item, None)
    }

    fn write_until(&mut self, item: &[u8], deadline: Option<Instant>) -> Result<(), RingError> {
        if item.len() != self.item.size {
            return Err(self.wrong_size(item.len()));
        }
        self.end.check_peer_left()?;
        self.end.wait_for(deadline, |end| end.free(1).map(|n| n > 0))?;
        self.put_and_publish(item);
        Ok(())
    }

    /// Copies `item` (of the item size) into the next slot (the caller
    /// checked it is free), publishes it and wakes a sleeping consumer:
    /// `MemoryInterface::write`'s steps with a run-time length.
    #[expect(clippy::inline_always, reason = "part of an always-inlined one-item call (write, read)")]
    #[inline(always)]
    fn put_and_publish(&mut self, item: &[u8]) {
        let (ring, cursor) = self.end.ring_and_cursor();
        ring.put(cursor, 0, item);
        ring.publish(cursor, 1);
        self.end.notify_peer();
    }

    /// Number of items written so far (see
    /// [`MemoryInterface::written`](crate::MemoryInterface::written)).
    #[must_use]
    pub fn written(&self) -> u64 {
        crate::protocol::ring::Ring::write_position(&self.end.cursor)
    }
}

impl DynRing<Consumer> {
    /// Whether a `read` would find an item now.
    #[inline]
    pub fn can_read(&mut self) -> bool {
        self.end.corrupt.is_none() && self.end.available(1).is_ok_and(|n| n > 0)
    }

    /// Takes the oldest unread item into `out`: `Ok(true)`, or `Ok(false)`
    /// if there is none (or the ring was found corrupt; see
    /// [`Ring::error`]). Never waits.
    ///
    /// # Errors
    ///
    /// [`RingError::WrongSize`] if `out` is not [`ItemType::size`] bytes
    /// (nothing is taken).
    // Always inlined, as `MemoryInterface::read` is.
    #[expect(clippy::inline_always, reason = "as MemoryInterface::write (see there)")]
    #[inline(always)]
    pub fn read(&mut self, out: &mut [u8]) -> Result<bool, RingError> {
        if out.len() != self.item.size {
            return Err(self.wrong_size(out.len()));
        }
        if !self.can_read() {
            return Ok(false);
        }
        self.take_one(out);
        Ok(true)
    }

    /// Takes up to `out.len() / size` items into `out` (oldest first, laid
    /// end to end), freeing their slots with one store; returns how many.
    /// See [`write_slice`](DynRing::write_slice) for an example.
    ///
    /// # Errors
    ///
    /// [`RingError::WrongSize`] if `out.len()` is not a multiple of the
    /// item size (nothing is taken).
    pub fn read_into(&mut self, out: &mut [u8]) -> Result<usize, RingError> {
        let size = self.item.size;
        if !out.len().is_multiple_of(size) {
            return Err(self.wrong_size(out.len()));
        }
        if self.end.corrupt.is_some() {
            return Ok(0);
        }
        let wanted = out.len() / size;
        let ready = self.end.available(wanted as u64).unwrap_or(0);
        let n = usize::try_from(ready).map_or(wanted, |ready| ready.min(wanted));
        if n > 0 {
            let (ring, cursor) = self.end.ring_and_cursor();
            for (i, item) in out.chunks_exact_mut(size).take(n).enumerate() {
                ring.get(cursor, i as u64, item);
            }
            ring.release(cursor, n as u64);
            self.end.notify_peer();
        }
        Ok(n)
    }

    /// Takes the oldest item into `out`, waiting up to `timeout` for one.
    ///
    /// # Errors
    ///
    /// [`RingError::WrongSize`]; [`RingError::Timeout`]; after the producer
    /// let go and everything was read, [`RingError::Closed`]; after it
    /// died, [`RingError::PeerDead`].
    pub fn read_timeout(&mut self, out: &mut [u8], timeout: Duration) -> Result<(), RingError> {
        self.read_until(out, Instant::now().checked_add(timeout))
    }

    /// Takes the oldest item into `out`, waiting as long as it takes (or
    /// until the producer dies or lets go, after everything it wrote was
    /// read).
    ///
    /// # Errors
    ///
    /// As [`read_timeout`](Self::read_timeout), but for the timeout.
    pub fn read_blocking(&mut self, out: &mut [u8]) -> Result<(), RingError> {
        self.read_until(out, None)
    }

    fn read_until(&mut self, out: &mut [u8], deadline: Option<Instant>) -> Result<(), RingError> {
        if out.len() != self.item.size {
            return Err(self.wrong_size(out.len()));
        }
        self.end.wait_for(deadline, |end| end.available(1).map(|n| n > 0))?;
        self.take_one(out);
        Ok(())
    }

    /// Copies the next item out (the caller checked it is ready and `out`
    /// has the item size), frees its slot and wakes a sleeping producer.
    #[expect(clippy::inline_always, reason = "part of an always-inlined one-item call (write, read)")]
    #[inline(always)]
    fn take_one(&mut self, out: &mut [u8]) {
        let (ring, cursor) = self.end.ring_and_cursor();
        ring.get(cursor, 0, out);
        ring.release(cursor, 1);
        self.end.notify_peer();
    }

    /// Drops every unread item; returns how many.
    ///
    /// # Errors
    ///
    /// [`RingError::Corrupt`] if the ring was (or is now) found corrupt.
    pub fn reset_read(&mut self) -> Result<u64, RingError> {
        self.end.check()?;
        let (ring, cursor) = self.end.ring_and_cursor();
        let dropped = ring.skip_all(cursor).map_err(|c| self.end.fail(c))?;
        self.end.notify_peer();
        Ok(dropped)
    }

    /// Number of items read so far (see
    /// [`MemoryInterface::read_count`](crate::MemoryInterface::read_count)).
    #[must_use]
    pub fn read_count(&self) -> u64 {
        crate::protocol::ring::Ring::read_position(&self.end.cursor)
    }
}

impl<R: Role> fmt::Debug for DynRing<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynRing")
            .field("role", &R::NAME)
            .field("type", &self.item.type_name())
            .field("handle", &self.handle().to_string())
            .field("capacity", &self.end.shape.capacity)
            .field("cursor", &self.end.cursor)
            .finish_non_exhaustive()
    }
}
