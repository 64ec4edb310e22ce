//! `MemoryInterface<T>`: a single-producer, single-consumer ring of
//! `SharedState` values between two processes (the ring protocol is in
//! `ring.rs`, the side's segment, claim and waiting in `ring_end.rs`).

use crate::format::header::{Layout, ObjectKind, SchemaRef};
use crate::object::ring::Ring;
use crate::object::ring::end::{Consumer, End, Gone, Producer, Role, sealed};
use crate::object::shared_object::sealed::{SegmentOwned, SegmentRef};
use crate::object::shared_object::{self, SharedObject};
use crate::object::state::{Field, SharedState, bytes_of, bytes_of_mut, load_field, load_value, zeroed};
use crate::protocol::cell::{load_range, store_range};
use crate::segment::DEFAULT_OPEN_WAIT;
use crate::segment::error::{CreateError, OpenError, RingError, TryWriteError};
use crate::segment::handle::Handle;
use crate::segment::options::OpenOptions;
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// A ring of `T` in shared memory with one producer and one consumer, in
/// two processes: the seed's `MemoryInterface`, without its faults. A full
/// ring refuses a write and hands the value back (nothing is overwritten),
/// an empty ring returns `None` (never stale data), and a second producer
/// or consumer is refused with [`OpenError::RoleTaken`].
///
/// `R` says which side this end holds; it is a claim checked at attach.
/// Creating or loading as [`Producer`] (the default) gives the writing
/// methods, as [`Consumer`] the reading ones.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{Consumer, MemoryInterface, SharedObject};
///
/// let mut tx = MemoryInterface::<u64>::create_memorybuf(4)?;
/// // In the consumer's process, from the text of `tx.handle()`:
/// let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle())?;
/// tx.write(&7).unwrap();
/// assert_eq!(tx.write_slice(&[8, 9, 10, 11]), 3, "one slot was left");
/// assert_eq!(rx.read(), Some(7));
/// let mut batch = [0; 8];
/// assert_eq!(rx.read_into(&mut batch), 3);
/// assert_eq!(rx.read(), None);
/// # Ok(()) }
/// ```
///
/// # Speed
///
/// `write` and `read` copy one element with relaxed word stores or loads
/// and publish it with one store; each side caches the other's position
/// and loads it only when the cache says full or empty; the positions sit
/// on separate cache lines. A call makes no system call and allocates
/// nothing unless the other side sleeps in a waiting call, which the
/// other side wakes with one `futex` call. `write_slice` and `read_into`
/// move many elements with one publishing store. `write_with` and
/// `read_with` work on the slot in place: for a large element whose
/// reader needs a few fields, or whose writer sets a few, they skip the
/// copy of the whole element.
///
/// # Waiting
///
/// `read_timeout` / `write_timeout` (and the `_blocking` forms) poll, then
/// yield, then sleep on a futex word in the segment. While sleeping they
/// check every 20 ms whether the other side is alive: a dead one is
/// [`RingError::PeerDead`], one that dropped its end [`RingError::Closed`]
/// (a consumer first reads everything published before).
///
/// A side about to sleep and the side that wakes it must not both miss
/// the other's last store. Where the kernel allows it, each process
/// registers once for `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, a
/// sleeper calls it before it sleeps, and `write` and `read` then need no
/// fence of their own; otherwise (or with the environment variable
/// `SHMRS_WAKE_BARRIER=fence`) both sides issue a sequentially consistent
/// fence, on every `write` and `read`.
///
/// # Trust
///
/// The other side's position is checked against the capacity at every
/// load; a value no cooperating peer could store makes this end
/// [`RingError::Corrupt`] for good (see [`MemoryInterface::error`]), and
/// no slot is touched. Element values need no check: every bit pattern is
/// a valid `T`.
pub struct MemoryInterface<T: SharedState, R: Role = Producer> {
    end: End<R>,
    _type: PhantomData<fn(T) -> T>,
}

impl<T: SharedState, R: Role> MemoryInterface<T, R> {
    /// Words per slot.
    const SLOT_WORDS: usize = size_of::<T>().div_ceil(8);
    /// What the header records.
    const LAYOUT: Layout<'static> =
        Layout { fingerprint: T::FINGERPRINT, type_name: T::TYPE_NAME, schema: SchemaRef::Desc(T::SCHEMA) };

    /// Creates a ring of `nr_of_memories` slots under a generated name and
    /// holds its `R` side. Either side may create: the other one opens
    /// with the [`handle`](SharedObject::handle).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Consumer, MemoryInterface, Ring, SharedObject};
    ///
    /// let tx = MemoryInterface::<[f32; 3]>::create_memorybuf(256)?; // the producer side
    /// assert_eq!((tx.capacity(), tx.len()), (256, 0));
    /// // A consumer can create it too, and hand the producer side out.
    /// let rx = MemoryInterface::<u64, Consumer>::create_memorybuf(8)?;
    /// let text = rx.handle().to_string(); // for the producer's process
    /// # let _ = text;
    /// # Ok(()) }
    /// ```
    pub fn create_memorybuf(nr_of_memories: usize) -> Result<Self, CreateError> {
        Self::create(None, nr_of_memories)
    }

    /// Creates a ring of `nr_of_memories` slots under `name` and holds its
    /// `R` side; the other side opens it by name with
    /// [`open`](SharedObject::open). A name whose creator is proven dead is
    /// taken over; a live one's is [`CreateError::AlreadyExists`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Consumer, MemoryInterface, SharedObject};
    /// # let name = format!("shmrs-doc-ring-named-{}", std::process::id());
    /// let mut tx = MemoryInterface::<u64>::create_named(&name, 16)?;
    /// let mut rx = MemoryInterface::<u64, Consumer>::open(&name)?; // another process
    /// tx.write(&1).unwrap();
    /// assert_eq!(rx.read(), Some(1));
    /// # Ok(()) }
    /// ```
    pub fn create_named(name: &str, nr_of_memories: usize) -> Result<Self, CreateError> {
        Self::create(Some(name), nr_of_memories)
    }

    fn create(name: Option<&str>, nr_of_memories: usize) -> Result<Self, CreateError> {
        let end =
            End::create(name, ObjectKind::Ring, Self::LAYOUT, nr_of_memories, Self::SLOT_WORDS, size_of::<T>() as u64)?;
        Ok(Self { end, _type: PhantomData })
    }

    /// Opens the ring `handle` names as its `R` side, waiting up to
    /// [`DEFAULT_OPEN_WAIT`] for its creator to finish setting it up. The
    /// side is a claim: a live process holding it already is
    /// [`OpenError::RoleTaken`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Consumer, Handle, MemoryInterface, OpenError, SharedObject};
    ///
    /// let tx = MemoryInterface::<u64>::create_memorybuf(16)?;
    /// // In the consumer's process, from the handle's text:
    /// let handle: Handle = tx.handle().to_string().parse()?;
    /// let rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&handle)?;
    /// // One consumer at a time.
    /// let second = MemoryInterface::<u64, Consumer>::load_memorybuf(&handle).unwrap_err();
    /// assert!(matches!(second, OpenError::RoleTaken { .. }), "{second}");
    /// # drop(rx);
    /// # Ok(()) }
    /// ```
    pub fn load_memorybuf(handle: &Handle) -> Result<Self, OpenError> {
        Self::load_sharedobject_timeout(handle, DEFAULT_OPEN_WAIT)
    }
}

impl<T: SharedState, R: Role> SharedObject for MemoryInterface<T, R> {
    /// Opens the ring `handle` names as its `R` side if `options` accept
    /// the segment's owner and mode (see [`OpenOptions`]), waiting up to
    /// `options.wait_time()` for its creator. The side is a claim: if a
    /// live process holds it, this is [`OpenError::RoleTaken`]; a dead
    /// holder's claim is taken over.
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        let end = End::open(handle, ObjectKind::Ring, Self::LAYOUT, options, |shape, _| {
            let element = (shape.slot_words == Self::SLOT_WORDS) && shape.element_bytes == size_of::<T>() as u64;
            if element { Ok(()) } else { Err("slot size words disagree with the element type") }
        })?;
        Ok(Self { end, _type: PhantomData })
    }
}

impl<T: SharedState, R: Role> shared_object::sealed::Sealed for MemoryInterface<T, R> {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(self.end.segment())
    }

    fn into_segment(self) -> SegmentOwned {
        SegmentOwned(self.end.into_segment())
    }
}

impl<T: SharedState, R: Role> sealed::HasEnd for MemoryInterface<T, R> {
    type Side = R;

    fn end(&self) -> &End<R> {
        &self.end
    }
}

impl<T: SharedState, R: Role> Ring for MemoryInterface<T, R> {}

impl<T: SharedState> MemoryInterface<T, Producer> {
    /// Whether a `write` would find a free slot now.
    #[inline]
    pub fn can_write(&mut self) -> bool {
        self.end.corrupt.is_none() && self.end.has_free()
    }

    /// Writes `value` into the next slot, without waiting. Nothing is
    /// overwritten: a full ring (or one found corrupt) hands the value back
    /// in [`TryWriteError::Full`]; a ring whose consumer let go, in
    /// [`TryWriteError::Closed`]; a full ring whose consumer died, in
    /// [`TryWriteError::PeerDead`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Consumer, MemoryInterface, SharedObject, TryWriteError};
    ///
    /// let mut tx = MemoryInterface::<u32>::create_memorybuf(2)?;
    /// let mut rx = MemoryInterface::<u32, Consumer>::load_memorybuf(&tx.handle())?;
    /// for item in 0.. {
    ///     match tx.write(&item) {
    ///         Ok(()) => {}
    ///         Err(TryWriteError::Full(back)) => {
    ///             assert_eq!(back, 2, "the value comes back");
    ///             break;
    ///         }
    ///         Err(other) => return Err(other.into()),
    ///     }
    /// }
    /// assert_eq!(rx.read(), Some(0));
    /// # Ok(()) }
    /// ```
    // Always inlined, as `read` is: a one-item call is a few loads, a
    // copy and a store, and whether it is inlined into the caller's loop
    // changes more than its own cost. Between two processes an 8-byte
    // ring runs either full (at the consumer's pace, about 200 M items/s
    // here) or with the consumer at the producer's heels, each item
    // waiting for the producer's cache lines (20-60 M/s); which one
    // depends on which side is faster. Out of line in a caller that LLVM judged too big (the
    // benchmark's producer loop of `[u64; 1]` items), the call was enough
    // to tip a loop from the first to the second (docs/BENCHMARKS.md,
    // "One driver").
    #[expect(clippy::inline_always, reason = "measured: out of line it changed how two processes' loop ran (above)")]
    #[inline(always)]
    pub fn write(&mut self, value: &T) -> Result<(), TryWriteError<T>> {
        if self.end.peer_left() || !self.can_write() {
            return Err(self.refused(value));
        }
        self.put_one(value);
        Ok(())
    }

    /// Copies `value` into the next slot (the caller checked it is free),
    /// publishes it and wakes a sleeping consumer: the one-item form of
    /// [`put_and_publish`](Self::put_and_publish), with no loop and no
    /// offset, small enough to be inlined into `write` (as a call of its
    /// own, the slice form cost 62 instructions an item under callgrind).
    #[expect(clippy::inline_always, reason = "part of an always-inlined one-item call (MemoryInterface::write)")]
    #[inline(always)]
    fn put_one(&mut self, value: &T) {
        let (ring, cursor) = self.end.ring_and_cursor();
        crate::protocol::cell::store_bytes(ring.next_free_slot(cursor), bytes_of(value));
        ring.publish(cursor, 1);
        self.end.notify_peer();
    }

    /// Writes as many of `values` as there are free slots (in order),
    /// published with one store; returns how many. 0 also if the consumer
    /// let go (see [`peer_state`](Ring::peer_state), or `write`, for why).
    pub fn write_slice(&mut self, values: &[T]) -> usize {
        if self.end.corrupt.is_some() || self.end.peer_left() {
            return 0;
        }
        let free = self.end.free(values.len() as u64).unwrap_or(0);
        let n = usize::try_from(free).map_or(values.len(), |free| free.min(values.len()));
        if n > 0 {
            self.put_and_publish(&values[..n]);
        }
        n
    }

    /// Copies `values` into the next slots (the caller checked they are
    /// free), publishes them and wakes a sleeping consumer.
    #[inline]
    fn put_and_publish(&mut self, values: &[T]) {
        let (ring, cursor) = self.end.ring_and_cursor();
        for (i, value) in values.iter().enumerate() {
            ring.put(cursor, i as u64, bytes_of(value));
        }
        ring.publish(cursor, values.len() as u64);
        self.end.notify_peer();
    }

    /// Fills the next slot in place through `fill`, then publishes it;
    /// `None` (and `fill` is not called) if no slot is free or the
    /// consumer let go.
    ///
    /// The slot is not cleared first: it holds the bytes of the item
    /// written `capacity` items ago, or zeros (every bit pattern is a
    /// valid `T`, so this is stale, never undefined). Set every field the
    /// reader uses, or start with [`SlotMut::clear`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Consumer, MemoryInterface, SharedObject, SharedState};
    ///
    /// #[derive(SharedState, Clone, Copy)]
    /// #[repr(C)]
    /// struct Frame {
    ///     seq: u64,
    ///     pixels: [u8; 4096],
    /// }
    ///
    /// let mut tx = MemoryInterface::<Frame>::create_memorybuf(2)?;
    /// let mut rx = MemoryInterface::<Frame, Consumer>::load_memorybuf(&tx.handle())?;
    /// tx.write_with(|slot| {
    ///     slot.set(|f| f.seq, &1);
    ///     slot.set_bytes(8, &[0xff; 4096]);
    /// })
    /// .expect("a slot is free");
    /// // The consumer looks at one field without copying the pixels.
    /// assert_eq!(rx.read_with(|item| item.get(|f| f.seq)), Some(1));
    /// # Ok(()) }
    /// ```
    pub fn write_with<X>(&mut self, fill: impl FnOnce(&mut SlotMut<'_, T>) -> X) -> Option<X> {
        if self.end.peer_left() || !self.can_write() {
            return None;
        }
        let (ring, cursor) = self.end.ring_and_cursor();
        let result = fill(&mut SlotMut { words: ring.next_free_slot(cursor), _type: PhantomData });
        ring.publish(cursor, 1);
        self.end.notify_peer();
        Some(result)
    }

    /// Writes `value`, waiting up to `timeout` for a free slot. A consumer
    /// that let go (before or while it waits) is [`RingError::Closed`],
    /// one that died while the ring is full [`RingError::PeerDead`].
    pub fn write_timeout(&mut self, value: &T, timeout: Duration) -> Result<(), RingError> {
        self.end.check_peer_left()?;
        self.wait_can_write(timeout)?;
        self.put_one(value);
        Ok(())
    }

    /// Writes `value`, waiting as long as it takes for a free slot (or
    /// until the consumer dies or lets go). The wait spins briefly, then
    /// sleeps on a futex in the segment; see
    /// [`read_blocking`](MemoryInterface::read_blocking) for both sides
    /// together.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Consumer, MemoryInterface, RingError, SharedObject};
    ///
    /// let mut tx = MemoryInterface::<u64>::create_memorybuf(2)?;
    /// let rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle())?;
    /// tx.write_blocking(&1)?;
    /// drop(rx); // nobody will read: the wait ends at once
    /// assert!(matches!(tx.write_blocking(&2), Err(RingError::Closed { .. })));
    /// # Ok(()) }
    /// ```
    pub fn write_blocking(&mut self, value: &T) -> Result<(), RingError> {
        self.end.check_peer_left()?;
        self.end.wait_for(None, |end| end.free(1).map(|n| n > 0))?;
        self.put_one(value);
        Ok(())
    }

    /// Waits up to `timeout` until a slot is free (for `write_with`, or a
    /// batch). A timeout too long for the clock is no deadline.
    pub fn wait_can_write(&mut self, timeout: Duration) -> Result<(), RingError> {
        self.end.wait_for(Instant::now().checked_add(timeout), |end| end.free(1).map(|n| n > 0))
    }

    /// Number of items written so far (the write position, wrapping to 0
    /// at the largest multiple of the capacity that a `u64` holds).
    #[must_use]
    pub fn written(&self) -> u64 {
        crate::protocol::ring::Ring::write_position(&self.end.cursor)
    }
}

impl<T: SharedState> MemoryInterface<T, Consumer> {
    /// Whether a `read` would find an item now.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Consumer, MemoryInterface, SharedObject};
    ///
    /// let mut tx = MemoryInterface::<u64>::create_memorybuf(4)?;
    /// let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle())?;
    /// assert!(!rx.can_read() && tx.can_write());
    /// tx.write(&3).unwrap();
    /// if rx.can_read() {
    ///     assert_eq!(rx.read(), Some(3)); // only this process reads: it is still there
    /// }
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn can_read(&mut self) -> bool {
        self.end.corrupt.is_none() && self.end.has_ready()
    }

    /// Takes the oldest unread item; `None` if there is none (or the ring
    /// was found corrupt; see [`error`](MemoryInterface::error)). Never
    /// waits: [`read_blocking`](MemoryInterface::read_blocking) and
    /// [`iter`](MemoryInterface::iter) wait for the next item.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Consumer, MemoryInterface, SharedObject};
    ///
    /// let mut tx = MemoryInterface::<[f32; 2]>::create_memorybuf(4)?;
    /// let mut rx = MemoryInterface::<[f32; 2], Consumer>::load_memorybuf(&tx.handle())?;
    /// assert_eq!(rx.read(), None);
    /// tx.write(&[1.0, 0.5]).unwrap();
    /// assert_eq!(rx.read(), Some([1.0, 0.5]));
    /// # Ok(()) }
    /// ```
    // Always inlined: see `write`.
    #[expect(clippy::inline_always, reason = "as `write` (see there)")]
    #[inline(always)]
    pub fn read(&mut self) -> Option<T> {
        if !self.can_read() {
            return None;
        }
        Some(self.take_one())
    }

    /// Copies the next item out (the caller checked it is ready), frees
    /// its slot and wakes a sleeping producer.
    #[expect(clippy::inline_always, reason = "part of an always-inlined one-item call (MemoryInterface::read)")]
    #[inline(always)]
    fn take_one(&mut self) -> T {
        let (ring, cursor) = self.end.ring_and_cursor();
        let value = load_value(ring.next_ready_slot(cursor));
        ring.release(cursor, 1);
        self.end.notify_peer();
        value
    }

    /// Takes up to `out.len()` items into `out` (oldest first), freeing
    /// their slots with one store; returns how many.
    pub fn read_into(&mut self, out: &mut [T]) -> usize {
        if self.end.corrupt.is_some() {
            return 0;
        }
        let ready = self.end.available(out.len() as u64).unwrap_or(0);
        let n = usize::try_from(ready).map_or(out.len(), |ready| ready.min(out.len()));
        if n > 0 {
            self.get_and_release(&mut out[..n]);
        }
        n
    }

    /// Copies the next `out.len()` items out (the caller checked they are
    /// ready), frees their slots and wakes a sleeping producer.
    #[inline]
    fn get_and_release(&mut self, out: &mut [T]) {
        let (ring, cursor) = self.end.ring_and_cursor();
        for (i, value) in out.iter_mut().enumerate() {
            ring.get(cursor, i as u64, bytes_of_mut(value));
        }
        ring.release(cursor, out.len() as u64);
        self.end.notify_peer();
    }

    /// Looks at the oldest unread item in place through `look`, then frees
    /// its slot; `None` (and `look` is not called) if there is none. See
    /// [`write_with`](MemoryInterface::write_with) for an example.
    pub fn read_with<X>(&mut self, look: impl FnOnce(&SlotRef<'_, T>) -> X) -> Option<X> {
        if !self.can_read() {
            return None;
        }
        let (ring, cursor) = self.end.ring_and_cursor();
        let result = look(&SlotRef { words: ring.next_ready_slot(cursor), _type: PhantomData });
        ring.release(cursor, 1);
        self.end.notify_peer();
        Some(result)
    }

    /// Takes the oldest item, waiting up to `timeout` for one; after the
    /// producer let go and everything was read, [`RingError::Closed`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Consumer, MemoryInterface, RingError, SharedObject};
    /// use std::time::Duration;
    ///
    /// let mut tx = MemoryInterface::<u64>::create_memorybuf(4)?;
    /// let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle())?;
    /// tx.write(&5).unwrap();
    /// assert_eq!(rx.read_timeout(Duration::from_millis(100))?, 5);
    /// let nothing = rx.read_timeout(Duration::from_millis(1));
    /// assert!(matches!(nothing, Err(RingError::Timeout { .. })));
    /// # Ok(()) }
    /// ```
    pub fn read_timeout(&mut self, timeout: Duration) -> Result<T, RingError> {
        self.wait_can_read(timeout)?;
        Ok(self.take_one())
    }

    /// Takes the oldest item, waiting as long as it takes (or until the
    /// producer dies or lets go, after everything it wrote was read).
    /// The wait spins briefly, then sleeps on a futex in the segment.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Consumer, MemoryInterface, RingError, SharedObject};
    ///
    /// let mut rx = MemoryInterface::<u64, Consumer>::create_memorybuf(4)?;
    /// let handle = rx.handle();
    /// let producer = std::thread::spawn(move || -> Result<(), shm_runtime::Error> {
    ///     let mut tx = MemoryInterface::<u64>::load_memorybuf(&handle)?;
    ///     for i in 0..10 {
    ///         tx.write_blocking(&i)?;
    ///     }
    ///     Ok(())
    /// });
    /// let mut sum = 0;
    /// loop {
    ///     match rx.read_blocking() {
    ///         Ok(i) => sum += i,
    ///         Err(RingError::Closed { .. }) => break, // the producer let go; all read
    ///         Err(e) => return Err(e.into()),
    ///     }
    /// }
    /// assert_eq!(sum, 45);
    /// producer.join().unwrap()?;
    /// # Ok(()) }
    /// ```
    pub fn read_blocking(&mut self) -> Result<T, RingError> {
        self.end.wait_for(None, |end| end.available(1).map(|n| n > 0))?;
        Ok(self.take_one())
    }

    /// Waits up to `timeout` until an item is ready (for `read_with`, or a
    /// batch). A timeout too long for the clock is no deadline.
    pub fn wait_can_read(&mut self, timeout: Duration) -> Result<(), RingError> {
        self.end.wait_for(Instant::now().checked_add(timeout), |end| end.available(1).map(|n| n > 0))
    }

    /// Drops every unread item; returns how many.
    pub fn reset_read(&mut self) -> Result<u64, RingError> {
        self.end.check()?;
        let (ring, cursor) = self.end.ring_and_cursor();
        let dropped = ring.skip_all(cursor).map_err(|c| self.end.fail(c))?;
        self.end.notify_peer();
        Ok(dropped)
    }

    /// Number of items read so far (the read position, wrapping like the
    /// write position).
    #[must_use]
    pub fn read_count(&self) -> u64 {
        crate::protocol::ring::Ring::read_position(&self.end.cursor)
    }
}

impl<T: SharedState, R: Role> fmt::Debug for MemoryInterface<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryInterface")
            .field("role", &R::NAME)
            .field("type", &T::TYPE_NAME)
            .field("handle", &self.handle().to_string())
            .field("capacity", &self.end.shape.capacity)
            .field("cursor", &self.end.cursor)
            .finish_non_exhaustive()
    }
}

/// The slot [`MemoryInterface::write_with`] fills in place: its fields or
/// bytes are stored straight into shared memory (with word-sized atomic
/// stores, like every write).
pub struct SlotMut<'a, T> {
    words: &'a [AtomicU64],
    _type: PhantomData<fn(T) -> T>,
}

impl<T: SharedState> SlotMut<'_, T> {
    /// Stores `value` in the field `pick` chooses (see
    /// [`Shared::write_field`](crate::Shared::write_field)).
    pub fn set<F: SharedState>(&mut self, pick: impl FnOnce(T::Fields) -> Field<T, F>, value: &F) {
        store_range(self.words, pick(T::FIELDS).offset(), bytes_of(value));
    }

    /// The field `pick` chooses, as the slot holds it now.
    pub fn get<F: SharedState>(&self, pick: impl FnOnce(T::Fields) -> Field<T, F>) -> F {
        load_field(self.words, pick(T::FIELDS).offset())
    }

    /// Stores `bytes` at byte `offset` of the element.
    ///
    /// # Panics
    ///
    /// If `offset + bytes.len()` is past the end of `T`.
    pub fn set_bytes(&mut self, offset: usize, bytes: &[u8]) {
        check_range::<T>(offset, bytes.len());
        store_range(self.words, offset, bytes);
    }

    /// Stores a whole `value` (the same copy [`MemoryInterface::write`]
    /// makes).
    pub fn write(&mut self, value: &T) {
        store_range(self.words, 0, bytes_of(value));
    }

    /// Sets every byte of the element to zero.
    pub fn clear(&mut self) {
        self.write(&zeroed());
    }
}

/// The item [`MemoryInterface::read_with`] looks at in place: fields or
/// bytes are copied out of shared memory only as asked (with word-sized
/// atomic loads).
pub struct SlotRef<'a, T> {
    words: &'a [AtomicU64],
    _type: PhantomData<fn(T) -> T>,
}

impl<'a, T: SharedState> SlotRef<'a, T> {
    /// The item in `words` (for the broadcast's in-place read).
    pub(crate) fn new(words: &'a [AtomicU64]) -> Self {
        Self { words, _type: PhantomData }
    }

    /// The field `pick` chooses (see
    /// [`Shared::read_field`](crate::Shared::read_field)).
    pub fn get<F: SharedState>(&self, pick: impl FnOnce(T::Fields) -> Field<T, F>) -> F {
        load_field(self.words, pick(T::FIELDS).offset())
    }

    /// Copies `out.len()` bytes from byte `offset` of the element.
    ///
    /// # Panics
    ///
    /// If `offset + out.len()` is past the end of `T`.
    pub fn read_bytes(&self, offset: usize, out: &mut [u8]) {
        check_range::<T>(offset, out.len());
        load_range(self.words, offset, out);
    }

    /// The whole element (the same copy [`MemoryInterface::read`] makes).
    pub fn read(&self) -> T {
        load_value(self.words)
    }
}

impl<T: SharedState> fmt::Debug for SlotMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotMut").field("type", &T::TYPE_NAME).finish_non_exhaustive()
    }
}

impl<T: SharedState> fmt::Debug for SlotRef<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotRef").field("type", &T::TYPE_NAME).finish_non_exhaustive()
    }
}

impl<T: SharedState> MemoryInterface<T, Producer> {
    /// The error of a `write` that wrote nothing, out of line: the refused
    /// path copies the value back and looks for the consumer, the hot path
    /// carries neither.
    #[cold]
    #[inline(never)]
    fn refused(&mut self, value: &T) -> TryWriteError<T> {
        let value = *value;
        match self.end.why_refused() {
            None => TryWriteError::Full(value),
            Some(Gone::LetGo) => TryWriteError::Closed { value, name: self.end.name().clone() },
            Some(Gone::Died { pid }) => TryWriteError::PeerDead { value, name: self.end.name().clone(), pid },
        }
    }
}

/// Panics unless bytes `offset .. offset + len` lie inside a `T`.
fn check_range<T>(offset: usize, len: usize) {
    let size = size_of::<T>();
    assert!(
        offset.checked_add(len).is_some_and(|end| end <= size),
        "bytes {offset}..{offset}+{len} are outside the {size}-byte element"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CreateError, Shared};
    use core::sync::atomic::Ordering;

    type Tx = MemoryInterface<[u64; 2], Producer>;
    type Rx = MemoryInterface<[u64; 2], Consumer>;

    fn pair(n: usize) -> (Tx, Rx) {
        let tx = Tx::create_memorybuf(n).unwrap();
        let rx = Rx::load_memorybuf(&tx.handle()).unwrap();
        (tx, rx)
    }

    #[test]
    fn e2_e3_seed_methods_full_and_empty() {
        let (mut tx, mut rx) = pair(3);
        assert_eq!(tx.get_number_of_memories(), 3);
        assert_eq!(tx.get_size_in_bytes(), 128 + (40 + 3 * 2) * 8);
        assert!(!rx.can_read());
        assert_eq!(rx.read(), None, "empty gives nothing, not stale data");
        for i in 0..3 {
            assert!(tx.can_write());
            tx.write(&[i, !i]).unwrap();
        }
        assert!(!tx.can_write());
        assert_eq!(tx.write(&[9, 9]).unwrap_err().into_inner(), [9, 9], "the value comes back");
        assert!((rx.get_fullness() - 100.0).abs() < 1e-9);
        assert_eq!((rx.get_read_pointer(), rx.get_write_pointer()), (0, 0));
        assert_eq!(rx.read(), Some([0, !0]), "nothing was overwritten");
        assert_eq!((rx.get_read_pointer(), rx.len()), (1, 2));
        tx.write(&[3, !3]).unwrap();
        let mut out = [[0; 2]; 5];
        assert_eq!(rx.read_into(&mut out), 3);
        assert_eq!(out[..3], [[1, !1], [2, !2], [3, !3]]);
        assert!(rx.is_empty());
        assert_eq!((tx.written(), rx.read_count()), (4, 4));
    }

    #[test]
    fn batches_publish_what_fits_and_reset_drops_unread() {
        let (mut tx, mut rx) = pair(4);
        let items: Vec<[u64; 2]> = (0..6).map(|i| [i, i]).collect();
        assert_eq!(tx.write_slice(&items), 4);
        assert_eq!(tx.write_slice(&items[4..]), 0);
        assert_eq!(rx.read(), Some([0, 0]));
        assert_eq!(tx.write_slice(&items[4..]), 1);
        assert_eq!(rx.reset_read().unwrap(), 4);
        assert_eq!(rx.read(), None);
        assert_eq!(tx.write_slice(&items), 4, "all slots free again");
    }

    #[test]
    fn e7_second_side_is_role_taken_until_the_first_lets_go() {
        let (tx, rx) = pair(2);
        let err = Rx::load_memorybuf(&tx.handle()).unwrap_err();
        let me = crate::sys::pid::current();
        assert!(matches!(&err, OpenError::RoleTaken { role: "consumer", holder, .. } if *holder == me), "{err}");
        let err = Tx::load_memorybuf(&tx.handle()).unwrap_err();
        assert!(matches!(&err, OpenError::RoleTaken { role: "producer", .. }), "{err}");
        assert!(err.to_string().contains("as producer"), "{err}");
        drop(rx);
        let rx = Rx::load_memorybuf(&tx.handle()).unwrap();
        assert_eq!(rx.peer_alive(), Some(true));
    }

    #[test]
    fn e8_other_types_and_kinds_are_refused() {
        let (tx, _rx) = pair(2);
        let err = MemoryInterface::<[u32; 4], Consumer>::load_memorybuf(&tx.handle()).unwrap_err();
        assert!(matches!(err, OpenError::LayoutMismatch { .. }), "{err}");
        let err = Shared::<[u64; 2]>::load_sharedobject(&tx.handle()).unwrap_err();
        assert!(matches!(err, OpenError::KindMismatch { .. }), "{err}");
        let state = Shared::<[u64; 2]>::create_zeroed().unwrap();
        let err = Rx::load_memorybuf(&state.handle()).unwrap_err();
        assert!(matches!(err, OpenError::KindMismatch { .. }), "{err}");
        assert!(matches!(Tx::create_memorybuf(0), Err(CreateError::InvalidCapacity { .. })));
        assert!(matches!(Tx::create_memorybuf(usize::MAX), Err(CreateError::SizeOverflow { .. })));
    }

    #[test]
    fn waiting_read_wakes_on_a_write_and_times_out_when_nothing_comes() {
        let (mut tx, mut rx) = pair(2);
        // A timeout too long for the clock is no deadline (not a panic).
        tx.write(&[7, 7]).unwrap();
        assert_eq!(rx.read_timeout(Duration::MAX).unwrap(), [7, 7]);
        let asked = Duration::from_millis(100);
        let start = Instant::now();
        let err = rx.read_timeout(asked).unwrap_err();
        let waited = start.elapsed();
        assert!(matches!(err, RingError::Timeout { .. }), "{err}");
        assert!(waited >= asked && waited < asked + Duration::from_secs(1), "{waited:?}");
        std::thread::scope(|s| {
            let reader = s.spawn(move || {
                let value = rx.read_blocking().unwrap();
                (value, Instant::now())
            });
            // Long enough for the reader to be asleep on the futex.
            std::thread::sleep(Duration::from_millis(100));
            let sent = Instant::now();
            tx.write(&[5, 6]).unwrap();
            let (value, woke) = reader.join().unwrap();
            assert_eq!(value, [5, 6]);
            assert!(woke.duration_since(sent) < Duration::from_millis(500), "woke after {:?}", woke - sent);
        });
    }

    #[test]
    fn waiting_write_wakes_when_a_slot_frees() {
        let (mut tx, mut rx) = pair(1);
        tx.write_timeout(&[1, 1], Duration::MAX).unwrap();
        let err = tx.write_timeout(&[2, 2], Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, RingError::Timeout { .. }), "{err}");
        std::thread::scope(|s| {
            let writer = s.spawn(move || tx.write_blocking(&[2, 2]));
            std::thread::sleep(Duration::from_millis(100));
            assert_eq!(rx.read(), Some([1, 1]));
            writer.join().unwrap().unwrap();
            assert_eq!(rx.read_timeout(Duration::from_secs(5)).unwrap(), [2, 2]);
        });
    }

    #[test]
    fn a_consumer_drains_then_sees_closed() {
        let (mut tx, mut rx) = pair(4);
        tx.write_slice(&[[1, 1], [2, 2]]);
        drop(tx);
        assert_eq!(rx.read_blocking().unwrap(), [1, 1]);
        assert_eq!(rx.read_blocking().unwrap(), [2, 2]);
        let err = rx.read_blocking().unwrap_err();
        assert!(matches!(err, RingError::Closed { role: "producer", .. }), "{err}");
        assert_eq!(rx.peer_alive(), None);
    }

    #[test]
    fn e4_scribbled_positions_make_the_end_corrupt_for_good() {
        let (mut tx, mut rx) = pair(4);
        tx.write(&[1, 1]).unwrap();
        // A peer stores a write position 100 items ahead of the read one.
        rx.end.segment().payload().words()[8].store(100, Ordering::Relaxed);
        assert_eq!(rx.read(), None);
        let err = rx.error().unwrap();
        assert!(matches!(err, RingError::Corrupt { what: "write position", found: 100, .. }), "{err}");
        // Sticky, even once the word looks sane again.
        rx.end.segment().payload().words()[8].store(1, Ordering::Relaxed);
        assert_eq!(rx.read(), None);
        assert!(matches!(rx.read_timeout(Duration::from_millis(1)), Err(RingError::Corrupt { .. })));
        assert!(matches!(rx.reset_read(), Err(RingError::Corrupt { .. })));
        assert_eq!(rx.len(), 1, "len reads the positions as they are now");
        // The producer's side sees a read position behind by more than the
        // capacity.
        tx.end.segment().payload().words()[16].store(u64::MAX - 10, Ordering::Relaxed);
        for i in 0..3 {
            let _ = tx.write(&[i, i]);
        }
        assert!(tx.write(&[0, 0]).is_err());
        assert!(matches!(tx.error(), Some(RingError::Corrupt { what: "read position", .. })));
    }

    #[test]
    fn in_place_access_writes_and_reads_the_slot_itself() {
        let (mut tx, mut rx) = pair(2);
        assert_eq!(rx.read_with(|_| unreachable!("nothing to look at")), None);
        tx.write_with(|slot| slot.write(&[1, 2])).unwrap();
        // Bytes 4..12 straddle the two words: a partial store on each.
        tx.write_with(|slot| {
            slot.clear();
            slot.set_bytes(4, &[9; 8]);
        })
        .unwrap();
        assert!(tx.write_with(|_| unreachable!("the ring is full")).is_none());
        assert_eq!(rx.read_with(|item| -> [u64; 2] { item.read() }), Some([1, 2]));
        let mut bytes = [0; 16];
        assert_eq!(rx.read_with(|item| item.read_bytes(0, &mut bytes)), Some(()));
        assert_eq!(bytes, [0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 0, 0, 0, 0]);
        assert!(rx.is_empty(), "read_with frees the slot");
        assert_eq!((tx.written(), rx.read_count()), (2, 2));
    }

    #[test]
    #[should_panic(expected = "outside the 16-byte element")]
    fn in_place_bytes_past_the_element_panic() {
        let (mut tx, _rx) = pair(2);
        tx.write_with(|slot| slot.set_bytes(10, &[0; 7]));
    }

    #[test]
    fn waiting_for_the_peer_and_for_room() {
        let tx = Tx::create_memorybuf(1).unwrap();
        let err = tx.wait_for_peer(Duration::from_millis(20)).unwrap_err();
        assert!(matches!(err, RingError::Timeout { .. }), "{err}");
        let mut rx = Rx::load_memorybuf(&tx.handle()).unwrap();
        tx.wait_for_peer(Duration::ZERO).unwrap();
        let mut tx = tx;
        tx.wait_can_write(Duration::ZERO).unwrap();
        tx.write(&[1, 1]).unwrap();
        assert!(matches!(tx.wait_can_write(Duration::from_millis(10)), Err(RingError::Timeout { .. })));
        rx.wait_can_read(Duration::ZERO).unwrap();
        assert_eq!(rx.read(), Some([1, 1]));
        drop(tx);
        assert!(matches!(rx.wait_for_peer(Duration::ZERO), Err(RingError::Closed { .. })));
    }

    #[test]
    fn cleanup_removes_the_name_and_closes_the_side() {
        let (tx, mut rx) = pair(2);
        let path = std::path::Path::new("/dev/shm").join(tx.name().as_str());
        assert!(path.exists());
        tx.cleanup().unwrap();
        assert!(!path.exists());
        assert!(matches!(rx.read_timeout(Duration::from_secs(5)), Err(RingError::Closed { .. })));
    }

    /// H9 within one process: a producer that wrote and let go before its
    /// consumer attached leaves the ring for it; the consumer reads every
    /// item, then `Closed`, and removes the name when it goes. A producer
    /// that leaves nothing behind and never had a consumer removes it.
    #[test]
    fn h9_a_producer_that_leaves_before_its_consumer_came_loses_nothing() {
        let mut tx = Tx::create_memorybuf(16).unwrap();
        let handle = tx.handle();
        let path = std::path::Path::new("/dev/shm").join(handle.name().as_str());
        for i in 0..10 {
            tx.write(&[i, i]).unwrap();
        }
        drop(tx);
        assert!(path.exists(), "ten items unread: the name stays");
        let mut rx = Rx::load_memorybuf(&handle).unwrap();
        let items: Vec<[u64; 2]> = rx.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(items, (0..10).map(|i| [i, i]).collect::<Vec<_>>());
        drop(rx);
        assert!(!path.exists(), "the consumer, last out, removed it");

        let empty = Tx::create_memorybuf(2).unwrap();
        let path = std::path::Path::new("/dev/shm").join(empty.name().as_str());
        drop(empty);
        assert!(!path.exists(), "nothing for anyone: removed at once");
    }
}

/// The `async` feature: waiting for an item or a free slot in a task.
#[cfg(feature = "async")]
mod asynchronous {
    use super::{Consumer, MemoryInterface, Producer, SharedState};
    use crate::segment::error::RingError;
    use crate::segment::waiter::Registration;
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll};

    impl<T: SharedState> MemoryInterface<T, Consumer> {
        fn poll_read(&mut self, cx: &mut Context<'_>, registration: &mut Registration) -> Poll<Result<T, RingError>> {
            self.end
                .poll_wait(cx, registration, |end| end.available(1).map(|n| n > 0))
                .map(|ready| ready.map(|()| self.take_one()))
        }

        /// Takes the oldest item, waiting in the task as long as it takes:
        /// the async form of [`read_blocking`](Self::read_blocking), for any
        /// runtime (while it is pending, a waiter thread of this process
        /// sleeps on the ring's futex word for it). [`RingError::Closed`] or
        /// [`RingError::PeerDead`] once the producer let go or died and
        /// everything it published was read.
        ///
        /// Cancellation-safe: an item is taken from the ring only in the poll
        /// that returns it, so dropping the future loses no item.
        ///
        /// ```
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// use shm_runtime::{Consumer, MemoryInterface, SharedObject};
        /// let mut tx = MemoryInterface::<u64>::create_memorybuf(4)?;
        /// let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle())?;
        /// let producer = std::thread::spawn(move || tx.write_blocking(&7).map(|()| tx));
        /// assert_eq!(smol::block_on(rx.read_async())?, 7);
        /// # drop(producer.join().unwrap()?);
        /// # Ok(()) }
        /// ```
        #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
        pub fn read_async(&mut self) -> impl Future<Output = Result<T, RingError>> + Send + '_ {
            let mut registration = Registration::default();
            core::future::poll_fn(move |cx| self.poll_read(cx, &mut registration))
        }

        /// The items as a [`Stream`](futures_core::Stream): each is
        /// `Ok(item)` as [`read_async`](Self::read_async) returns it; the
        /// stream ends once the producer let go and everything it published
        /// was read, and yields an error (then ends) if the producer died or
        /// the ring is corrupt. Cancellation-safe as `read_async`.
        ///
        /// ```
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// use shm_runtime::{Consumer, MemoryInterface, SharedObject};
        /// let mut tx = MemoryInterface::<u64>::create_memorybuf(4)?;
        /// let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle())?;
        /// let producer = std::thread::spawn(move || {
        ///     for i in 0..10 {
        ///         tx.write_blocking(&i)?;
        ///     }
        ///     Ok::<_, shm_runtime::RingError>(()) // dropping `tx` ends the stream
        /// });
        /// let mut items = rx.stream();
        /// let sum = smol::block_on(async {
        ///     let mut sum = 0;
        ///     while let Some(item) = smol::stream::StreamExt::next(&mut items).await {
        ///         sum += item?;
        ///     }
        ///     Ok::<_, shm_runtime::RingError>(sum)
        /// })?;
        /// assert_eq!(sum, 45);
        /// # producer.join().unwrap()?;
        /// # Ok(()) }
        /// ```
        #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
        pub fn stream(&mut self) -> ItemStream<'_, T> {
            ItemStream { ring: Some(self), registration: Registration::default() }
        }
    }

    impl<T: SharedState> MemoryInterface<T, Producer> {
        /// Writes `value`, waiting in the task as long as it takes for a free
        /// slot: the async form of [`write_blocking`](Self::write_blocking),
        /// for any runtime. [`RingError::Closed`] or [`RingError::PeerDead`]
        /// if the consumer let go or died while the ring was full.
        ///
        /// Cancellation-safe: `value` is copied into the ring only in the
        /// poll that completes, so a dropped future wrote nothing.
        ///
        /// ```
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// use shm_runtime::{Consumer, MemoryInterface, SharedObject};
        /// let mut tx = MemoryInterface::<u64>::create_memorybuf(1)?;
        /// let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle())?;
        /// tx.write(&1).unwrap();
        /// let consumer = std::thread::spawn(move || rx.read_blocking().map(|first| (first, rx)));
        /// smol::block_on(tx.write_async(&2))?; // waits until the consumer took 1
        /// let (first, mut rx) = consumer.join().unwrap()?;
        /// assert_eq!((first, rx.read()), (1, Some(2)));
        /// # Ok(()) }
        /// ```
        #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
        pub fn write_async<'a>(&'a mut self, value: &'a T) -> impl Future<Output = Result<(), RingError>> + Send + 'a {
            let mut registration = Registration::default();
            core::future::poll_fn(move |cx| {
                self.end
                    .poll_wait(cx, &mut registration, |end| end.free(1).map(|n| n > 0))
                    .map(|ready| ready.map(|()| self.put_one(value)))
            })
        }
    }

    /// The items of a [`MemoryInterface`] consumer as a
    /// [`Stream`](futures_core::Stream): see [`MemoryInterface::stream`].
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    #[must_use = "streams do nothing unless polled"]
    pub struct ItemStream<'a, T: SharedState> {
        /// `None` once the stream has ended.
        ring: Option<&'a mut MemoryInterface<T, Consumer>>,
        registration: Registration,
    }

    impl<T: SharedState> futures_core::Stream for ItemStream<'_, T> {
        type Item = Result<T, RingError>;

        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            let this = self.get_mut();
            let Some(ring) = this.ring.as_deref_mut() else { return Poll::Ready(None) };
            match ring.poll_read(cx, &mut this.registration) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(item)) => Poll::Ready(Some(Ok(item))),
                Poll::Ready(Err(RingError::Closed { .. })) => {
                    this.ring = None;
                    Poll::Ready(None)
                }
                Poll::Ready(Err(e)) => {
                    this.ring = None;
                    Poll::Ready(Some(Err(e)))
                }
            }
        }
    }

    impl<T: SharedState> futures_core::FusedStream for ItemStream<'_, T> {
        fn is_terminated(&self) -> bool {
            self.ring.is_none()
        }
    }

    impl<T: SharedState> core::fmt::Debug for ItemStream<'_, T> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("ItemStream").field("ended", &self.ring.is_none()).finish_non_exhaustive()
        }
    }
}

#[cfg(feature = "async")]
pub use asynchronous::ItemStream;
