//! `MemoryInterface<T>`: a single-producer, single-consumer ring of
//! `SharedState` values between two processes (the ring protocol is in
//! `ring.rs`; this module adds the segment, the roles, and waiting).

use crate::error::{CleanupError, CreateError, Full, OpenError, RingError};
use crate::handle::Handle;
use crate::header::{Layout, ObjectKind};
use crate::name::SegmentName;
use crate::pid;
use crate::ring::{self, ConsumerCursor, Corrupt, ProducerCursor, Ring};
use crate::segment::{self, DEFAULT_OPEN_WAIT, Segment, Spec, process_alive};
use crate::state::{SharedState, bytes_of, bytes_of_mut, zeroed};
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

/// Role word value: nobody holds the role.
const FREE: u64 = 0;
/// Role word value: the holder let go (dropped its end).
const CLOSED: u64 = u64::MAX;
/// Futex word value while a side sleeps waiting for the other.
const SLEEPING: u32 = 1;
/// Polls before a waiting call starts yielding the processor.
const SPINS: u32 = 200;
/// Yields before a waiting call sleeps on the futex.
const YIELDS: u32 = 20;
/// Longest single futex sleep: a waiter checks this often whether the
/// other side is still alive.
const SLEEP_SLICE: Duration = Duration::from_millis(20);

mod sealed {
    use crate::ring::{Corrupt, Ring};
    use core::fmt;

    /// What a side needs; private, so `Role` is sealed.
    pub trait Sealed {
        type Cursor: fmt::Debug;
        const NAME: &'static str;
        const PEER: &'static str;
        const ROLE_WORD: usize;
        const WAIT_WORD: usize;
        const PEER_ROLE_WORD: usize;
        const PEER_WAIT_WORD: usize;
        fn cursor(ring: &Ring<'_>) -> Result<Self::Cursor, Corrupt>;
    }
}

/// The side of a ring a [`MemoryInterface`] holds: [`Producer`] or
/// [`Consumer`]. Sealed.
pub trait Role: sealed::Sealed {}

/// The writing side of a ring (the default).
#[derive(Debug)]
pub enum Producer {}
/// The reading side of a ring.
#[derive(Debug)]
pub enum Consumer {}

impl Role for Producer {}
impl Role for Consumer {}

impl sealed::Sealed for Producer {
    type Cursor = ProducerCursor;
    const NAME: &'static str = "producer";
    const PEER: &'static str = "consumer";
    const ROLE_WORD: usize = ring::PRODUCER_ROLE_WORD;
    const WAIT_WORD: usize = ring::PRODUCER_WAIT_WORD;
    const PEER_ROLE_WORD: usize = ring::CONSUMER_ROLE_WORD;
    const PEER_WAIT_WORD: usize = ring::CONSUMER_WAIT_WORD;
    fn cursor(ring: &Ring<'_>) -> Result<ProducerCursor, Corrupt> {
        ring.producer()
    }
}

impl sealed::Sealed for Consumer {
    type Cursor = ConsumerCursor;
    const NAME: &'static str = "consumer";
    const PEER: &'static str = "producer";
    const ROLE_WORD: usize = ring::CONSUMER_ROLE_WORD;
    const WAIT_WORD: usize = ring::CONSUMER_WAIT_WORD;
    const PEER_ROLE_WORD: usize = ring::PRODUCER_ROLE_WORD;
    const PEER_WAIT_WORD: usize = ring::PRODUCER_WAIT_WORD;
    fn cursor(ring: &Ring<'_>) -> Result<ConsumerCursor, Corrupt> {
        ring.consumer()
    }
}

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
/// use shm_runtime::{Consumer, MemoryInterface};
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
/// move many elements with one publishing store.
///
/// # Waiting
///
/// `read_timeout` / `write_timeout` (and the `_blocking` forms) poll, then
/// yield, then sleep on a futex word in the segment. While sleeping they
/// check every 20 ms whether the other side is alive: a dead one is
/// [`RingError::PeerDead`], one that dropped its end [`RingError::Closed`]
/// (a consumer first reads everything published before).
///
/// # Trust
///
/// The other side's position is checked against the capacity at every
/// load; a value no cooperating peer could store makes this end
/// [`RingError::Corrupt`] for good (see [`MemoryInterface::error`]), and
/// no slot is touched. Element values need no check: every bit pattern is
/// a valid `T`.
pub struct MemoryInterface<T: SharedState, R: Role = Producer> {
    /// `None` only after `cleanup` took it.
    segment: Option<Segment>,
    capacity: u64,
    cursor: R::Cursor,
    /// First corruption found; sticky.
    corrupt: Option<Corrupt>,
    _type: PhantomData<fn(T) -> T>,
}

impl<T: SharedState, R: Role> MemoryInterface<T, R> {
    /// Words per slot.
    const SLOT_WORDS: usize = size_of::<T>().div_ceil(8);
    /// What the header records.
    const LAYOUT: Layout = Layout { fingerprint: T::FINGERPRINT, type_name: T::TYPE_NAME };

    /// Creates a ring of `nr_of_memories` slots under a generated name and
    /// holds its `R` side.
    pub fn create_memorybuf(nr_of_memories: usize) -> Result<Self, CreateError> {
        Self::create(None, nr_of_memories)
    }

    /// Creates a ring of `nr_of_memories` slots under `name` and holds its
    /// `R` side.
    pub fn create_named(name: &str, nr_of_memories: usize) -> Result<Self, CreateError> {
        Self::create(Some(name), nr_of_memories)
    }

    fn create(name: Option<&str>, nr_of_memories: usize) -> Result<Self, CreateError> {
        let error_name = || {
            name.map_or_else(|| Ok(SegmentName::unnamed()), |n| SegmentName::new(n).map_err(CreateError::InvalidName))
        };
        let capacity = nr_of_memories as u64;
        if capacity == 0 {
            let reason = "a ring needs at least 1 slot";
            return Err(CreateError::InvalidCapacity { name: error_name()?, capacity: nr_of_memories, reason });
        }
        let size = ring::layout_words(capacity, Self::SLOT_WORDS)
            .and_then(|w| w.checked_mul(8))
            .and_then(|b| u64::try_from(b).ok());
        let Some(payload_size) = size else {
            return Err(CreateError::SizeOverflow { name: error_name()?, capacity: nr_of_memories });
        };
        let spec = Spec {
            kind: ObjectKind::Ring,
            layout: Self::LAYOUT,
            payload_size,
            payload_align: 64,
            capacity: nr_of_memories,
        };
        let me = pid::current();
        let segment = Segment::create(name, &spec, |payload| {
            Ring::init(payload.words(), capacity, Self::SLOT_WORDS, 0);
            payload.words()[R::ROLE_WORD].store(me, Ordering::Relaxed);
        })?;
        let ring = Ring::split(segment.payload().words(), capacity, Self::SLOT_WORDS).expect("made above");
        let cursor = R::cursor(&ring).expect("a fresh ring is consistent");
        Ok(Self { segment: Some(segment), capacity, cursor, corrupt: None, _type: PhantomData })
    }

    /// Opens the ring `handle` names as its `R` side, waiting up to
    /// [`DEFAULT_OPEN_WAIT`] for its creator to finish setting it up.
    pub fn load_memorybuf(handle: &Handle) -> Result<Self, OpenError> {
        Self::load_sharedobject_timeout(handle, DEFAULT_OPEN_WAIT)
    }

    /// Same as [`load_memorybuf`](Self::load_memorybuf).
    pub fn load_sharedobject(handle: &Handle) -> Result<Self, OpenError> {
        Self::load_sharedobject_timeout(handle, DEFAULT_OPEN_WAIT)
    }

    /// Opens the ring `handle` names as its `R` side, waiting up to `wait`
    /// for its creator to finish setting it up. The side is a claim: if a
    /// live process holds it, this is [`OpenError::RoleTaken`]; a dead
    /// holder's claim is taken over.
    pub fn load_sharedobject_timeout(handle: &Handle, wait: Duration) -> Result<Self, OpenError> {
        let segment = Segment::open(handle, ObjectKind::Ring, Self::LAYOUT, None, wait)?;
        let corrupt = |what| OpenError::Corrupt { name: segment.name().clone(), what };
        let words = segment.payload().words();
        let ring = Ring::attach(words, Self::SLOT_WORDS).map_err(corrupt)?;
        let capacity = ring.capacity();
        claim(&words[R::ROLE_WORD], pid::current()).map_err(|holder| OpenError::RoleTaken {
            name: segment.name().clone(),
            role: R::NAME,
            holder,
        })?;
        let Ok(cursor) = R::cursor(&ring) else {
            words[R::ROLE_WORD].store(CLOSED, Ordering::Release);
            return Err(corrupt("read and write positions are further apart than the capacity"));
        };
        Ok(Self { segment: Some(segment), capacity, cursor, corrupt: None, _type: PhantomData })
    }

    fn segment(&self) -> &Segment {
        self.segment.as_ref().expect("only cleanup takes the segment, and it consumes self")
    }

    fn ring(&self) -> Ring<'_> {
        ring_in(self.segment.as_ref(), self.capacity, Self::SLOT_WORDS)
    }

    fn futex(&self, word: usize) -> &AtomicU32 {
        self.segment().payload().futex_word(word)
    }

    fn role_word(&self, word: usize) -> &AtomicU64 {
        &self.segment().payload().words()[word]
    }

    /// The handle another process passes to `load_memorybuf`.
    #[must_use]
    pub fn handle(&self) -> Handle {
        self.segment().handle()
    }

    /// The segment name.
    #[must_use]
    pub fn name(&self) -> &SegmentName {
        self.segment().name()
    }

    /// Whether this end created the ring in this process (and so removes
    /// its name on `cleanup` or drop).
    #[must_use]
    pub fn is_creator(&self) -> bool {
        self.segment().is_creator()
    }

    /// Lets go of this side (the other side sees [`RingError::Closed`]
    /// once it has read everything), removes the name if this end created
    /// it, and unmaps. Dropping does the same but cannot report an error.
    pub fn cleanup(mut self) -> Result<(), CleanupError> {
        self.leave();
        self.segment.take().map_or(Ok(()), Segment::cleanup)
    }

    /// Number of slots.
    #[must_use]
    pub fn capacity(&self) -> usize {
        // Fits: the slots are mapped in this address space.
        usize::try_from(self.capacity).unwrap_or(usize::MAX)
    }

    /// Number of slots (the seed's name for [`capacity`](Self::capacity)).
    #[must_use]
    pub fn get_number_of_memories(&self) -> usize {
        self.capacity()
    }

    /// Size of the whole segment in bytes (header, positions, slots).
    #[must_use]
    pub fn get_size_in_bytes(&self) -> usize {
        crate::header::HEADER_SIZE + self.segment().payload().words().len() * 8
    }

    /// Items written and not yet read, as the positions are now. A pair of
    /// positions no peer could store counts as 0 (see
    /// [`error`](Self::error)).
    #[must_use]
    pub fn len(&self) -> usize {
        let (tail, head) = self.ring().snapshot();
        ring::occupied(tail, head, self.capacity).map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Whether no item waits to be read.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How full the ring is, in percent (0.0 to 100.0).
    #[must_use]
    #[expect(clippy::cast_precision_loss, reason = "a percentage; exact below 2^52 slots")]
    pub fn get_fullness(&self) -> f64 {
        self.len() as f64 * 100.0 / self.capacity as f64
    }

    /// Slot index the consumer reads next (`read position % capacity`).
    #[must_use]
    pub fn get_read_pointer(&self) -> usize {
        self.slot_index(self.ring().snapshot().1)
    }

    /// Slot index the producer writes next (`write position % capacity`).
    #[must_use]
    pub fn get_write_pointer(&self) -> usize {
        self.slot_index(self.ring().snapshot().0)
    }

    fn slot_index(&self, position: u64) -> usize {
        usize::try_from(position % self.capacity).expect("below the capacity")
    }

    /// The corruption this end found, if any; once set, reads return
    /// `None`, writes return [`Full`], and waiting calls this error.
    #[must_use]
    pub fn error(&self) -> Option<RingError> {
        self.corrupt.map(|c| self.corrupt_error(c))
    }

    fn corrupt_error(&self, c: Corrupt) -> RingError {
        RingError::Corrupt { name: self.name().clone(), what: c.what, found: c.found }
    }

    /// Whether the other side is attached and its process alive: `None`
    /// if nobody has attached yet or it let go.
    #[must_use]
    pub fn peer_alive(&self) -> Option<bool> {
        match self.role_word(R::PEER_ROLE_WORD).load(Ordering::Relaxed) {
            FREE | CLOSED => None,
            pid => Some(process_alive(pid) != Some(false)),
        }
    }

    /// Records `c` (sticky) and returns it as an error.
    fn fail(&mut self, c: Corrupt) -> RingError {
        self.corrupt.get_or_insert(c);
        self.corrupt_error(c)
    }

    /// After publishing or freeing slots: wakes the other side if it
    /// sleeps waiting for them.
    fn notify_peer(&self) {
        // SeqCst fence pairs with the one in `wait_for`: either the sleeper
        // sees the position we just stored, or we see its SLEEPING.
        fence(Ordering::SeqCst);
        let word = self.futex(R::PEER_WAIT_WORD);
        if word.load(Ordering::Relaxed) == SLEEPING && word.swap(0, Ordering::Relaxed) == SLEEPING {
            segment::futex_wake(word);
        }
    }

    /// Waits until `ready` says so, or the deadline passes, or the other
    /// side is gone: poll, yield, then sleep on our futex word in slices.
    fn wait_for(
        &mut self,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&mut Self) -> Result<bool, Corrupt>,
    ) -> Result<(), RingError> {
        let start = Instant::now();
        let mut check = |this: &mut Self| ready(this).map_err(|c| this.fail(c));
        for round in 0..SPINS + YIELDS {
            if check(self)? {
                return Ok(());
            }
            if round < SPINS {
                core::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        loop {
            let peer = self.role_word(R::PEER_ROLE_WORD).load(Ordering::Acquire);
            let gone = match peer {
                CLOSED => Some(RingError::Closed { name: self.name().clone(), role: R::PEER }),
                FREE => None,
                pid if process_alive(pid) == Some(false) => {
                    Some(RingError::PeerDead { name: self.name().clone(), role: R::PEER, pid })
                }
                _ => None,
            };
            let word = self.futex(R::WAIT_WORD);
            word.store(SLEEPING, Ordering::Relaxed);
            // Pairs with the fence in the other side's `notify_peer`.
            fence(Ordering::SeqCst);
            if check(self)? {
                self.futex(R::WAIT_WORD).store(0, Ordering::Relaxed);
                return Ok(());
            }
            if let Some(gone) = gone {
                self.futex(R::WAIT_WORD).store(0, Ordering::Relaxed);
                return Err(gone);
            }
            let mut slice = SLEEP_SLICE;
            if let Some(deadline) = deadline {
                let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                    self.futex(R::WAIT_WORD).store(0, Ordering::Relaxed);
                    return Err(RingError::Timeout { name: self.name().clone(), waited: start.elapsed() });
                };
                slice = slice.min(left);
            }
            segment::futex_wait(self.futex(R::WAIT_WORD), SLEEPING, slice);
            self.futex(R::WAIT_WORD).store(0, Ordering::Relaxed);
        }
    }

    /// Marks this side let go (if this process still holds it) and wakes
    /// the other side so it notices.
    fn leave(&mut self) {
        let Some(segment) = &self.segment else { return };
        let words = segment.payload().words();
        // Release pairs with the Acquire load in the other side's
        // `wait_for`: everything we published is visible once it sees
        // CLOSED.
        let _ = words[R::ROLE_WORD].compare_exchange(pid::current(), CLOSED, Ordering::Release, Ordering::Relaxed);
        let peer_wait = segment.payload().futex_word(R::PEER_WAIT_WORD);
        peer_wait.store(0, Ordering::Relaxed);
        segment::futex_wake(peer_wait);
    }
}

impl<T: SharedState> MemoryInterface<T, Producer> {
    /// Whether a `write` would find a free slot now.
    pub fn can_write(&mut self) -> bool {
        self.corrupt.is_none() && self.free(1).is_ok_and(|n| n > 0)
    }

    fn free(&mut self, wanted: u64) -> Result<u64, Corrupt> {
        let ring = ring_in(self.segment.as_ref(), self.capacity, Self::SLOT_WORDS);
        let free = ring.free(&mut self.cursor, wanted);
        if let Err(c) = free {
            self.corrupt.get_or_insert(c);
        }
        free
    }

    /// Writes `value` into the next slot. A full ring (or one found
    /// corrupt) hands the value back in [`Full`]; nothing is overwritten.
    pub fn write(&mut self, value: &T) -> Result<(), Full<T>> {
        if self.corrupt.is_some() || self.free(1).map_or(true, |n| n == 0) {
            return Err(Full(*value));
        }
        self.put_and_publish(core::slice::from_ref(value));
        Ok(())
    }

    /// Writes as many of `values` as there are free slots (in order),
    /// published with one store; returns how many.
    pub fn write_slice(&mut self, values: &[T]) -> usize {
        if self.corrupt.is_some() {
            return 0;
        }
        let free = self.free(values.len() as u64).unwrap_or(0);
        let n = usize::try_from(free).map_or(values.len(), |free| free.min(values.len()));
        if n > 0 {
            self.put_and_publish(&values[..n]);
        }
        n
    }

    /// Copies `values` into the next slots (the caller checked they are
    /// free), publishes them and wakes a sleeping consumer.
    fn put_and_publish(&mut self, values: &[T]) {
        let ring = ring_in(self.segment.as_ref(), self.capacity, Self::SLOT_WORDS);
        for (i, value) in values.iter().enumerate() {
            ring.put(&self.cursor, i as u64, bytes_of(value));
        }
        ring.publish(&mut self.cursor, values.len() as u64);
        self.notify_peer();
    }

    /// Writes `value`, waiting up to `timeout` for a free slot.
    pub fn write_timeout(&mut self, value: &T, timeout: Duration) -> Result<(), RingError> {
        // A timeout too long to add to the clock is no deadline.
        self.write_until(value, Instant::now().checked_add(timeout))
    }

    /// Writes `value`, waiting as long as it takes for a free slot (or
    /// until the consumer dies or lets go).
    pub fn write_blocking(&mut self, value: &T) -> Result<(), RingError> {
        self.write_until(value, None)
    }

    fn write_until(&mut self, value: &T, deadline: Option<Instant>) -> Result<(), RingError> {
        if let Some(c) = self.corrupt {
            return Err(self.corrupt_error(c));
        }
        self.wait_for(deadline, |this| this.free(1).map(|n| n > 0))?;
        self.put_and_publish(core::slice::from_ref(value));
        Ok(())
    }

    /// Number of items written so far (the write position, wrapping at
    /// 2^64).
    #[must_use]
    pub fn written(&self) -> u64 {
        Ring::write_position(&self.cursor)
    }
}

impl<T: SharedState> MemoryInterface<T, Consumer> {
    /// Whether a `read` would find an item now.
    pub fn can_read(&mut self) -> bool {
        self.corrupt.is_none() && self.available(1).is_ok_and(|n| n > 0)
    }

    fn available(&mut self, wanted: u64) -> Result<u64, Corrupt> {
        let ring = ring_in(self.segment.as_ref(), self.capacity, Self::SLOT_WORDS);
        let available = ring.available(&mut self.cursor, wanted);
        if let Err(c) = available {
            self.corrupt.get_or_insert(c);
        }
        available
    }

    /// Takes the oldest unread item; `None` if there is none (or the ring
    /// was found corrupt; see [`error`](MemoryInterface::error)).
    pub fn read(&mut self) -> Option<T> {
        if self.corrupt.is_some() || self.available(1).map_or(true, |n| n == 0) {
            return None;
        }
        let mut value = zeroed::<T>();
        self.get_and_release(core::slice::from_mut(&mut value));
        Some(value)
    }

    /// Takes up to `out.len()` items into `out` (oldest first), freeing
    /// their slots with one store; returns how many.
    pub fn read_into(&mut self, out: &mut [T]) -> usize {
        if self.corrupt.is_some() {
            return 0;
        }
        let ready = self.available(out.len() as u64).unwrap_or(0);
        let n = usize::try_from(ready).map_or(out.len(), |ready| ready.min(out.len()));
        if n > 0 {
            self.get_and_release(&mut out[..n]);
        }
        n
    }

    /// Copies the next `out.len()` items out (the caller checked they are
    /// ready), frees their slots and wakes a sleeping producer.
    fn get_and_release(&mut self, out: &mut [T]) {
        let ring = ring_in(self.segment.as_ref(), self.capacity, Self::SLOT_WORDS);
        for (i, value) in out.iter_mut().enumerate() {
            ring.get(&self.cursor, i as u64, bytes_of_mut(value));
        }
        ring.release(&mut self.cursor, out.len() as u64);
        self.notify_peer();
    }

    /// Takes the oldest item, waiting up to `timeout` for one.
    pub fn read_timeout(&mut self, timeout: Duration) -> Result<T, RingError> {
        // A timeout too long to add to the clock is no deadline.
        self.read_until(Instant::now().checked_add(timeout))
    }

    /// Takes the oldest item, waiting as long as it takes (or until the
    /// producer dies or lets go, after everything it wrote was read).
    pub fn read_blocking(&mut self) -> Result<T, RingError> {
        self.read_until(None)
    }

    fn read_until(&mut self, deadline: Option<Instant>) -> Result<T, RingError> {
        if let Some(c) = self.corrupt {
            return Err(self.corrupt_error(c));
        }
        self.wait_for(deadline, |this| this.available(1).map(|n| n > 0))?;
        let mut value = zeroed::<T>();
        self.get_and_release(core::slice::from_mut(&mut value));
        Ok(value)
    }

    /// Drops every unread item; returns how many.
    pub fn reset_read(&mut self) -> Result<u64, RingError> {
        if let Some(c) = self.corrupt {
            return Err(self.corrupt_error(c));
        }
        let ring = ring_in(self.segment.as_ref(), self.capacity, Self::SLOT_WORDS);
        let dropped = ring.skip_all(&mut self.cursor).map_err(|c| self.fail(c))?;
        self.notify_peer();
        Ok(dropped)
    }

    /// Number of items read so far (the read position, wrapping at 2^64).
    #[must_use]
    pub fn read_count(&self) -> u64 {
        Ring::read_position(&self.cursor)
    }
}

impl<T: SharedState, R: Role> Drop for MemoryInterface<T, R> {
    fn drop(&mut self) {
        self.leave();
    }
}

impl<T: SharedState, R: Role> fmt::Debug for MemoryInterface<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("MemoryInterface");
        s.field("role", &R::NAME).field("type", &T::TYPE_NAME);
        if let Some(segment) = &self.segment {
            s.field("handle", &segment.handle().to_string());
        }
        s.field("capacity", &self.capacity).field("cursor", &self.cursor).finish_non_exhaustive()
    }
}

/// The ring in `segment`, whose shape was checked at create or attach.
fn ring_in(segment: Option<&Segment>, capacity: u64, slot_words: usize) -> Ring<'_> {
    let words = segment.expect("only cleanup takes the segment, and it consumes self").payload().words();
    Ring::split(words, capacity, slot_words).expect("shape checked at create or attach")
}

/// Claims a role word for `pid`: free, let go, or held by a dead process
/// (whose claim is taken over). Otherwise returns the live holder.
fn claim(word: &AtomicU64, pid: u64) -> Result<(), u64> {
    loop {
        let holder = word.load(Ordering::Acquire);
        let takeable = holder == FREE || holder == CLOSED || process_alive(holder) == Some(false);
        if !takeable {
            return Err(holder);
        }
        // Acquire pairs with the previous holder's Release in `leave`.
        if word.compare_exchange(holder, pid, Ordering::Acquire, Ordering::Acquire).is_ok() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Shared;

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
        let me = pid::current();
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
        rx.segment().payload().words()[8].store(100, Ordering::Relaxed);
        assert_eq!(rx.read(), None);
        let err = rx.error().unwrap();
        assert!(matches!(err, RingError::Corrupt { what: "write position", found: 100, .. }), "{err}");
        // Sticky, even once the word looks sane again.
        rx.segment().payload().words()[8].store(1, Ordering::Relaxed);
        assert_eq!(rx.read(), None);
        assert!(matches!(rx.read_timeout(Duration::from_millis(1)), Err(RingError::Corrupt { .. })));
        assert!(matches!(rx.reset_read(), Err(RingError::Corrupt { .. })));
        assert_eq!(rx.len(), 1, "len reads the positions as they are now");
        // The producer's side sees a read position behind by more than the
        // capacity.
        tx.segment().payload().words()[16].store(u64::MAX - 10, Ordering::Relaxed);
        for i in 0..3 {
            let _ = tx.write(&[i, i]);
        }
        assert!(tx.write(&[0, 0]).is_err());
        assert!(matches!(tx.error(), Some(RingError::Corrupt { what: "read position", .. })));
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
}
