//! `Subscriber<T>`: one reader of a broadcast ring, with its own read
//! position in the subscriber table.

use super::error::RecvError;
use super::{POLL_SLICE, SLEEP_SLICE, SPINS, Side, YIELDS, open_segment};
use crate::object::ring::PeerState;
use crate::object::ring::memory_interface::SlotRef;
use crate::object::shared_object::sealed::{SegmentOwned, SegmentRef};
use crate::object::shared_object::{self, SharedObject};
use crate::object::state::{SharedState, bytes_of_mut, uninit_bytes_of};
use crate::protocol::broadcast::{
    self as protocol, ENTRY_ACTIVE, ENTRY_WORDS, PUBLISHER_MODE_WORD, PUBLISHER_ROLE_WORD, PUBLISHER_WAIT_WORD, Policy,
    SUBSCRIBER_MODE_WORD, SubscriberCursor, TABLE_WORD,
};
use crate::protocol::ring::Corrupt;
use crate::protocol::role::{self, CLOSED, FREE};
use crate::protocol::wake::{self, AWAKE, Barrier};
use crate::segment::error::OpenError;
use crate::segment::handle::Handle;
use crate::segment::options::OpenOptions;
use crate::segment::{self, Segment, liveness};
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// One subscriber of a [`Broadcast<T>`](crate::Broadcast): reads every
/// item published after it joined (or the last `history` items before),
/// at its own pace, in order. It holds one of the broadcast's
/// `max_subscribers` table entries until it is dropped.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{Broadcast, BroadcastConfig, Policy, RecvError, SharedObject, Subscriber};
///
/// let mut tx = Broadcast::<u32>::create(&BroadcastConfig::new(2, Policy::Overwrite))?;
/// let mut rx = Subscriber::<u32>::load_sharedobject(&tx.handle())?;
/// for k in 0..5 {
///     tx.publish(&k).unwrap(); // never waits: overwrites the oldest
/// }
/// assert_eq!(rx.read(), Err(RecvError::Lagged(3)), "0, 1 and 2 were overwritten");
/// assert_eq!(rx.read()?, Some(3));
/// assert_eq!(rx.read()?, Some(4));
/// assert_eq!(rx.read()?, None);
/// drop(tx);
/// assert!(matches!(rx.read_blocking(), Err(RecvError::Closed { .. })));
/// # Ok(()) }
/// ```
///
/// # Reading
///
/// `read` takes the next item without waiting (`Ok(None)` if there is
/// none), `read_timeout` and `read_blocking` wait for one (poll, yield,
/// then sleep on a futex word the publisher wakes, checking every 20 ms
/// whether the publisher lives), `read_into` takes a batch, `read_with`
/// looks at one in place, and `iter` yields items until the publisher
/// lets go. Once the publisher let go and every item was read, the
/// waiting forms return [`RecvError::Closed`]; if it died,
/// [`RecvError::PeerDead`]. Under [`Policy::Overwrite`] any read may
/// return [`RecvError::Lagged`] with the number of items missed; the next
/// read continues from the oldest item still there. Items are never torn:
/// an item replaced while it was copied is reported missed, never
/// returned.
pub struct Subscriber<T: SharedState> {
    end: SubscriberEnd,
    _type: PhantomData<fn(T) -> T>,
}

impl<T: SharedState> SharedObject for Subscriber<T> {
    /// Opens the broadcast `handle` names as a new subscriber, if
    /// `options` accept the segment's owner and mode. Takes a free table
    /// entry (or one a dead subscriber held); with every entry held by a
    /// live process, fails with [`OpenError::RoleTaken`] (role
    /// `"subscriber"`).
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        let end = SubscriberEnd::join(open_segment::<T>(handle, options)?)?;
        Ok(Self { end, _type: PhantomData })
    }
}

impl<T: SharedState> Subscriber<T> {
    /// Takes the next item; `Ok(None)` if none is ready.
    ///
    /// # Errors
    ///
    /// [`RecvError::Lagged`] (overwrite policy) if items were overwritten
    /// before this subscriber read them; the next read goes on from the
    /// oldest item still there. [`RecvError::Corrupt`] and
    /// [`RecvError::Evicted`] are sticky.
    // Always inlined, as `MemoryInterface::write` and `read` are (see
    // there): out of line, the call can change how two processes' loop
    // runs, not only its own cost.
    #[expect(clippy::inline_always, reason = "as MemoryInterface::write (see there)")]
    #[inline(always)]
    pub fn read(&mut self) -> Result<Option<T>, RecvError> {
        // Built in place: a zeroed value and a copy into it would write
        // every byte twice (a 64 KiB memset per item for large items).
        let mut value = core::mem::MaybeUninit::<T>::uninit();
        let got = self.end.take(|ring, cursor| ring.get(cursor, 0, uninit_bytes_of(&mut value)))?;
        if !got {
            return Ok(None);
        }
        // SAFETY: `take` returned `true`, so `get` returned `true`:
        // it wrote every byte of `value` with a whole item; every bit
        // pattern is a valid `T` (`SharedState` obligation 2).
        Ok(Some(unsafe { value.assume_init() }))
    }

    /// Copies the next item out (the caller waited until one is ready)
    /// and moves past it. (Only this subscriber moves its read position,
    /// so the item is still there; the loop costs nothing.)
    fn take_one(&mut self) -> Result<T, RecvError> {
        loop {
            if let Some(value) = self.read()? {
                return Ok(value);
            }
            self.end.wait_for(None)?;
        }
    }

    /// Takes up to `out.len()` items into `out` (oldest first), moving past
    /// them with one store; returns how many (0 if none is ready).
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read). A lag found after some items were copied
    /// returns those items first and the lag on the next call.
    pub fn read_into(&mut self, out: &mut [T]) -> Result<usize, RecvError> {
        let ready = self.end.ready(out.len() as u64)?;
        let n = usize::try_from(ready).map_or(out.len(), |ready| ready.min(out.len()));
        let ring = self.end.side.ring();
        for (i, value) in out[..n].iter_mut().enumerate() {
            if !ring.get(&self.end.cursor, i as u64, bytes_of_mut(value)) {
                if i == 0 {
                    return Err(self.end.overwritten());
                }
                ring.release(&mut self.end.cursor, i as u64);
                ring.skip_overwritten(&mut self.end.cursor);
                self.end.notify_publisher();
                return Ok(i);
            }
        }
        if n > 0 {
            self.end.advance(n as u64);
        }
        Ok(n)
    }
    /// Looks at the next item in place through `look` (copying only the
    /// fields it asks for), then moves past it; `Ok(None)` (and `look` is
    /// not called) if none is ready.
    ///
    /// Under [`Policy::Overwrite`] the publisher may replace the item
    /// while `look` runs: then what `look` returned is dropped and the
    /// call returns [`RecvError::Lagged`] (what `look` saw may mix two
    /// items; do not act on it before the call returns).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Broadcast, BroadcastConfig, Policy, SharedState};
    ///
    /// #[derive(SharedState, Clone, Copy)]
    /// #[repr(C)]
    /// struct Frame {
    ///     seq: u64,
    ///     pixels: [u8; 4096],
    /// }
    ///
    /// let mut tx = Broadcast::<Frame>::create(&BroadcastConfig::new(2, Policy::Backpressure))?;
    /// let mut rx = tx.subscribe()?;
    /// tx.publish(&Frame { seq: 1, pixels: [0; 4096] }).unwrap();
    /// assert_eq!(rx.read_with(|item| item.get(|f| f.seq))?, Some(1));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub fn read_with<X>(&mut self, look: impl FnOnce(&SlotRef<'_, T>) -> X) -> Result<Option<X>, RecvError> {
        if self.end.ready(1)? == 0 {
            return Ok(None);
        }
        let ring = self.end.side.ring();
        let Some((words, check)) = ring.ready_slot(&self.end.cursor, 0) else {
            return Err(self.end.overwritten());
        };
        let result = look(&SlotRef::new(words));
        if !check.still_there() {
            return Err(self.end.overwritten());
        }
        self.end.advance(1);
        Ok(Some(result))
    }

    /// Takes the next item, waiting up to `timeout` for one.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), and [`RecvError::Timeout`],
    /// [`RecvError::Closed`] (the publisher let go and everything was
    /// read) or [`RecvError::PeerDead`] (it died, and everything it
    /// published was read).
    pub fn read_timeout(&mut self, timeout: Duration) -> Result<T, RecvError> {
        self.wait_can_read(timeout)?;
        self.take_one()
    }

    /// Takes the next item, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// As [`read_timeout`](Self::read_timeout), without `Timeout`.
    pub fn read_blocking(&mut self) -> Result<T, RecvError> {
        self.end.wait_for(None)?;
        self.take_one()
    }

    /// Waits up to `timeout` until an item is ready (for `read_with` or a
    /// batch). A timeout too long for the clock is no deadline.
    ///
    /// # Errors
    ///
    /// As [`read_timeout`](Self::read_timeout).
    pub fn wait_can_read(&mut self, timeout: Duration) -> Result<(), RecvError> {
        self.end.wait_for(Instant::now().checked_add(timeout))
    }

    /// Items published and not read yet, as the positions are now (at
    /// most the capacity).
    #[must_use]
    pub fn len(&self) -> usize {
        self.end.len()
    }

    /// Whether no item waits to be read.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every item published so far; returns how many.
    ///
    /// # Errors
    ///
    /// [`RecvError::Corrupt`] or [`RecvError::Evicted`] (sticky).
    pub fn skip_all(&mut self) -> Result<u64, RecvError> {
        self.end.skip_all()
    }

    /// Number of items read or skipped so far: the read position (which
    /// wraps like the publisher's).
    #[must_use]
    pub fn read_count(&self) -> u64 {
        self.end.cursor.position()
    }

    /// The overflow policy.
    #[must_use]
    pub fn policy(&self) -> Policy {
        self.end.side.ring().policy()
    }

    /// Number of slots.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.end.capacity()
    }

    /// Where the publisher is: attached (and alive), let go, or died.
    #[must_use]
    pub fn publisher_state(&self) -> PeerState {
        self.end.publisher_state()
    }
    /// A blocking iterator: yields each item as it comes (`Ok`), a lag as
    /// `Err(RecvError::Lagged(n))` (and goes on), ends (`None`) once the
    /// publisher let go and every item was read; any other error is
    /// yielded once and ends it.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Broadcast, BroadcastConfig, Policy};
    ///
    /// let mut tx = Broadcast::<u64>::create(&BroadcastConfig::new(8, Policy::Backpressure))?;
    /// let mut rx = tx.subscribe()?;
    /// tx.publish_slice(&[1, 2, 3]);
    /// drop(tx);
    /// let got: Result<Vec<u64>, _> = rx.iter().collect();
    /// assert_eq!(got?, [1, 2, 3]);
    /// # Ok(()) }
    /// ```
    pub fn iter(&mut self) -> BroadcastIter<'_, T> {
        BroadcastIter { subscriber: self, done: false }
    }

    /// A non-blocking iterator over what is there now: yields each ready
    /// item (`Ok`) and a lag (`Err(RecvError::Lagged(n))`), and ends when
    /// nothing is ready (or after yielding another error once).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Broadcast, BroadcastConfig, Policy, RecvError};
    ///
    /// let mut tx = Broadcast::<u8>::create(&BroadcastConfig::new(2, Policy::Overwrite))?;
    /// let mut rx = tx.subscribe()?;
    /// tx.publish_slice(&[1, 2, 3]);
    /// let got: Vec<_> = rx.try_iter().collect();
    /// assert_eq!(got, [Err(RecvError::Lagged(1)), Ok(2), Ok(3)]);
    /// # Ok(()) }
    /// ```
    pub fn try_iter(&mut self) -> BroadcastTryIter<'_, T> {
        BroadcastTryIter { subscriber: self, done: false }
    }
}

impl<T: SharedState> shared_object::sealed::Sealed for Subscriber<T> {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(self.end.side.segment())
    }

    fn into_segment(mut self) -> SegmentOwned {
        SegmentOwned(self.end.take_segment())
    }
}

/// A subscriber's side whatever the element: the segment, the claim on a
/// table entry, sticky errors, readiness, waiting and waking, and
/// leaving. `Subscriber<T>` and the byte and run-time-typed forms wrap it.
pub(crate) struct SubscriberEnd {
    pub(crate) side: Side,
    pub(crate) cursor: SubscriberCursor,
    sticky: Sticky,
}

/// What stops a subscriber for good.
#[derive(Default)]
struct Sticky {
    /// First corruption found.
    corrupt: Option<Corrupt>,
    /// The publisher took our entry away.
    evicted: bool,
}

impl Sticky {
    /// Whether either happened.
    #[inline]
    fn is_some(&self) -> bool {
        self.evicted || self.corrupt.is_some()
    }
}

impl SubscriberEnd {
    /// Takes a free table entry of an opened broadcast (or one a dead
    /// subscriber held) and joins.
    pub(crate) fn join(side: Side) -> Result<Self, OpenError> {
        let ring = side.ring();
        let me = liveness::me();
        // Free entries first (no liveness check), then dead holders'.
        let entry = (0..ring.entries())
            .find(|&e| role::claim(ring.entry_role(e), me, |_| Some(true)).is_ok())
            .or_else(|| (0..ring.entries()).find(|&e| role::claim(ring.entry_role(e), me, liveness::alive).is_ok()));
        let Some(entry) = entry else {
            let holder = liveness::pid_of(ring.entry_role(0).load(Ordering::Relaxed));
            return Err(OpenError::RoleTaken { name: side.name().clone(), role: "subscriber", holder });
        };
        if side.barrier == Barrier::Fence {
            // Sticky: from now on the publisher fences before it looks for
            // sleepers (see `wake.rs`).
            side.word(SUBSCRIBER_MODE_WORD).store(Barrier::Fence.mode_word(), Ordering::Relaxed);
        }
        let Ok(cursor) = ring.join(entry, me) else {
            role::let_go(ring.entry_role(entry), me);
            return Err(OpenError::Corrupt { name: side.name().clone(), what: "write position is impossible" });
        };
        Ok(Self { side, cursor, sticky: Sticky::default() })
    }

    /// The sticky state as an error, if any.
    fn check(&self) -> Result<(), RecvError> {
        if let Some(c) = self.sticky.corrupt {
            return Err(RecvError::Corrupt { name: self.side.name().clone(), what: c.what, found: c.found });
        }
        if self.sticky.evicted {
            return Err(RecvError::Evicted { name: self.side.name().clone() });
        }
        Ok(())
    }

    /// Records `found` as corrupt (sticky) and returns it as an error.
    #[cold]
    pub(crate) fn found_corrupt(&mut self, found: Corrupt) -> RecvError {
        self.sticky.corrupt = Some(found);
        RecvError::Corrupt { name: self.side.name().clone(), what: found.what, found: found.found }
    }

    /// Items ready, loading the write position only when the cached one
    /// shows fewer than `wanted`; a lag found on the way is returned first.
    #[inline]
    pub(crate) fn ready(&mut self, wanted: u64) -> Result<u64, RecvError> {
        let ring = self.side.ring();
        Self::ready_in(ring, &self.side, &mut self.cursor, &mut self.sticky, wanted)
    }

    /// [`ready`](Self::ready) in a view of the ring the caller took (one
    /// view for a whole read).
    #[expect(clippy::inline_always, reason = "part of an always-inlined one-item call (Subscriber::read)")]
    #[inline(always)]
    fn ready_in(
        ring: &protocol::Broadcast<'_>,
        side: &Side,
        cursor: &mut SubscriberCursor,
        sticky: &mut Sticky,
        wanted: u64,
    ) -> Result<u64, RecvError> {
        // One load of our own entry's line (which we write anyway): an
        // evicted subscriber stops at once rather than read items the
        // publisher no longer keeps for it.
        if sticky.is_some() || !ring.still_held(cursor) {
            return Err(Self::stopped(side, sticky));
        }
        let ready = match ring.available(cursor, wanted) {
            Ok(ready) => ready,
            Err(c) => return Err(Self::found_in(ring, side, cursor, sticky, c)),
        };
        // Only a skip in `available` sets it (overwrite): a load and a
        // test on the read path, the store only when there is a lag.
        if cursor.has_lagged() {
            return Err(RecvError::Lagged(cursor.take_lagged()));
        }
        Ok(ready)
    }

    /// The error of a subscriber found stopped: the sticky one, or, if
    /// none, evicted (its role word was found not its own), then sticky.
    #[cold]
    #[inline(never)]
    fn stopped(side: &Side, sticky: &mut Sticky) -> RecvError {
        if let Some(c) = sticky.corrupt {
            return RecvError::Corrupt { name: side.name().clone(), what: c.what, found: c.found };
        }
        sticky.evicted = true;
        RecvError::Evicted { name: side.name().clone() }
    }

    /// The error for a write position found impossible.
    #[cold]
    #[inline(never)]
    fn found_in(
        ring: &protocol::Broadcast<'_>,
        side: &Side,
        cursor: &SubscriberCursor,
        sticky: &mut Sticky,
        found: Corrupt,
    ) -> RecvError {
        // An evicted subscriber the publisher lapped finds the write
        // position too far ahead: it was evicted, not the publisher
        // corrupt.
        if !ring.still_held(cursor) {
            sticky.evicted = true;
            return RecvError::Evicted { name: side.name().clone() };
        }
        sticky.corrupt = Some(found);
        RecvError::Corrupt { name: side.name().clone(), what: found.what, found: found.found }
    }

    /// Reads the next item with `copy` (given the ring and our cursor;
    /// `false` if the item was overwritten while it copied) if one is
    /// ready, and moves past it: `Ok(false)` if none is ready. One view of
    /// the ring for the whole read.
    // The body of the always-inlined one-item call (see there).
    #[expect(clippy::inline_always, reason = "the body of an always-inlined one-item call")]
    #[inline(always)]
    pub(crate) fn take(
        &mut self,
        copy: impl FnOnce(&protocol::Broadcast<'_>, &SubscriberCursor) -> bool,
    ) -> Result<bool, RecvError> {
        let ring = self.side.ring();
        if Self::ready_in(ring, &self.side, &mut self.cursor, &mut self.sticky, 1)? == 0 {
            return Ok(false);
        }
        if !copy(ring, &self.cursor) {
            return Err(self.overwritten());
        }
        ring.release(&mut self.cursor, 1);
        self.notify_publisher();
        Ok(true)
    }

    /// Moves past the next `count` items read, with one store, and wakes
    /// the publisher if it waits for room.
    #[inline]
    pub(crate) fn advance(&mut self, count: u64) {
        self.side.ring().release(&mut self.cursor, count);
        self.notify_publisher();
    }

    /// The next item was overwritten: skips to the oldest still there.
    #[cold]
    pub(crate) fn overwritten(&mut self) -> RecvError {
        self.side.ring().skip_overwritten(&mut self.cursor);
        RecvError::Lagged(self.cursor.take_lagged())
    }
    /// Poll, yield, then sleep on the subscribers' shared futex word in
    /// slices, checking the publisher between them.
    pub(crate) fn wait_for(&mut self, deadline: Option<Instant>) -> Result<(), RecvError> {
        let start = Instant::now();
        for round in 0..SPINS + YIELDS {
            if self.ready(1)? > 0 {
                return Ok(());
            }
            if round < SPINS {
                core::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        loop {
            // Loaded before the re-check below, which then sees all the
            // publisher published before letting go (as `End::wait_for`).
            let gone = match role::load_peer(self.side.word(PUBLISHER_ROLE_WORD)) {
                CLOSED => Some(RecvError::Closed { name: self.side.name().clone() }),
                FREE => None,
                holder if liveness::alive(holder) == Some(false) => {
                    Some(RecvError::PeerDead { name: self.side.name().clone(), pid: liveness::pid_of(holder) })
                }
                _ => None,
            };
            // Pairs with `wake::take_sleeper` in the publisher's
            // `notify_subscribers`. The word is shared by every subscriber:
            // only the publisher resets it, so no subscriber clears
            // another's SLEEPING.
            let barrier_made = wake::announce_sleep(self.side.subscriber_wait(), self.side.barrier);
            if self.ready(1)? > 0 {
                return Ok(());
            }
            if let Some(gone) = gone {
                return Err(gone);
            }
            let mut slice = SLEEP_SLICE;
            if let Some(deadline) = deadline {
                let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                    return Err(RecvError::Timeout { name: self.side.name().clone(), waited: start.elapsed() });
                };
                slice = slice.min(left);
            }
            if barrier_made {
                segment::futex_wait(self.side.subscriber_wait(), wake::SLEEPING, slice);
            } else {
                std::thread::sleep(slice.min(POLL_SLICE));
            }
        }
    }

    /// After moving on (backpressure): wakes the publisher if it sleeps
    /// waiting for room.
    #[inline]
    pub(crate) fn notify_publisher(&self) {
        if self.side.policy() == Policy::Overwrite {
            return;
        }
        // Relaxed: the publisher's mode only chooses our fence.
        let mode = self.side.word(PUBLISHER_MODE_WORD).load(Ordering::Relaxed);
        let word = self.side.publisher_wait();
        if wake::take_sleeper(word, self.side.barrier.cheap_wake(mode)) {
            segment::futex_wake(word);
        }
    }

    pub(crate) fn len(&self) -> usize {
        let ring = self.side.ring();
        let behind = ring.tail_now().wrapping_sub(self.cursor.position());
        usize::try_from(behind.min(ring.capacity())).unwrap_or(usize::MAX)
    }

    pub(crate) fn capacity(&self) -> usize {
        usize::try_from(self.side.ring().capacity()).unwrap_or(usize::MAX)
    }

    pub(crate) fn skip_all(&mut self) -> Result<u64, RecvError> {
        self.check()?;
        let ring = self.side.ring();
        let skipped = ring.skip_all(&mut self.cursor).map_err(|c| self.found_corrupt(c))?;
        self.cursor.take_lagged();
        self.notify_publisher();
        Ok(skipped)
    }

    pub(crate) fn publisher_state(&self) -> PeerState {
        match role::load_peer(self.side.word(PUBLISHER_ROLE_WORD)) {
            FREE => PeerState::NotAttached,
            CLOSED => PeerState::LetGo,
            holder => {
                let pid = liveness::pid_of(holder);
                match liveness::alive(holder) {
                    Some(false) => PeerState::Died { pid },
                    _ => PeerState::Attached { pid },
                }
            }
        }
    }

    /// Leaves and hands the segment over.
    pub(crate) fn take_segment(&mut self) -> Segment {
        self.leave();
        self.side.segment.take().expect("only this takes the segment, and it consumes the end")
    }

    /// Lets go of the table entry (if still ours), wakes the publisher
    /// (it may wait for us), and removes the name if this was the last
    /// end: the publisher gone and no other live subscriber.
    fn leave(&mut self) {
        let Some(segment) = &self.side.segment else { return };
        let payload = segment.payload();
        let words = payload.words();
        let me = self.cursor.me;
        let entry = TABLE_WORD + self.cursor.entry * ENTRY_WORDS;
        // Relaxed: the publisher reads the cursor only of an entry whose
        // active word is its role word; the let-go below changes that.
        if self.side.ring().still_held(&self.cursor) {
            words[entry + ENTRY_ACTIVE].store(0, Ordering::Relaxed);
        }
        let held = role::let_go(&words[entry], me);
        let publisher_wait = payload.futex_word(PUBLISHER_WAIT_WORD);
        publisher_wait.store(AWAKE, Ordering::Relaxed);
        segment::futex_wake(publisher_wait);
        if !held {
            return;
        }
        // Pairs with the same fence in the publisher's and the other
        // subscribers' `leave`: of two ends leaving at once, at least one
        // sees the other gone.
        core::sync::atomic::fence(Ordering::SeqCst);
        let gone = |holder: u64| matches!(holder, FREE | CLOSED) || liveness::alive(holder) == Some(false);
        let publisher_gone = match role::load_peer(&words[PUBLISHER_ROLE_WORD]) {
            FREE => false,
            holder => gone(holder),
        };
        let ring = self.side.ring();
        let others = (0..ring.entries()).any(|e| !gone(ring.entry_role(e).load(Ordering::Relaxed)));
        if let Some(segment) = self.side.segment.as_mut().filter(|_| publisher_gone && !others) {
            segment.remove_name_when_done();
        }
    }
}

impl Drop for SubscriberEnd {
    fn drop(&mut self) {
        self.leave();
    }
}

impl<T: SharedState> fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("type", &T::TYPE_NAME)
            .field("handle", &self.handle().to_string())
            .field("entry", &self.end.cursor.entry)
            .field("read_count", &self.read_count())
            .finish_non_exhaustive()
    }
}

/// Blocking iterator over a subscriber's items, made by
/// [`Subscriber::iter`] or `&mut subscriber` in a `for` loop.
#[derive(Debug)]
pub struct BroadcastIter<'a, T: SharedState> {
    subscriber: &'a mut Subscriber<T>,
    done: bool,
}

impl<T: SharedState> Iterator for BroadcastIter<'_, T> {
    type Item = Result<T, RecvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.subscriber.read_blocking() {
            Ok(item) => Some(Ok(item)),
            Err(lag @ RecvError::Lagged(_)) => Some(Err(lag)),
            Err(RecvError::Closed { .. }) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Non-blocking iterator over the items ready now, made by
/// [`Subscriber::try_iter`].
#[derive(Debug)]
pub struct BroadcastTryIter<'a, T: SharedState> {
    subscriber: &'a mut Subscriber<T>,
    done: bool,
}

impl<T: SharedState> Iterator for BroadcastTryIter<'_, T> {
    type Item = Result<T, RecvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.subscriber.read() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(lag @ RecvError::Lagged(_)) => Some(Err(lag)),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[expect(
    clippy::into_iter_without_iter,
    reason = "reading takes items out, so the method is `iter(&mut self)`, not `iter_mut`"
)]
impl<'a, T: SharedState> IntoIterator for &'a mut Subscriber<T> {
    type Item = Result<T, RecvError>;
    type IntoIter = BroadcastIter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Broadcast, BroadcastConfig, PublishError, TryWriteError};

    /// Subscribers and the publisher move between threads.
    const _: () = {
        const fn send_sync<S: Send + Sync>() {}
        send_sync::<Subscriber<u64>>();
        send_sync::<Broadcast<u64>>();
    };

    #[test]
    fn every_subscriber_gets_every_item_in_order() {
        for policy in [Policy::Backpressure, Policy::Overwrite] {
            const ITEMS: u64 = 10_000;
            let mut tx = Broadcast::<[u64; 3]>::create(&BroadcastConfig::new(16, policy)).unwrap();
            let readers: Vec<_> = (0..3)
                .map(|_| {
                    let mut rx = tx.subscribe().unwrap();
                    std::thread::spawn(move || {
                        let (mut seen, mut missed, mut next) = (0u64, 0u64, 0u64);
                        loop {
                            match rx.read_blocking() {
                                Ok([k, a, b]) => {
                                    assert_eq!([a, b], [!k, k.wrapping_mul(3)], "torn item");
                                    assert!(k >= next, "out of order");
                                    next = k + 1;
                                    seen += 1;
                                }
                                Err(RecvError::Lagged(n)) => missed += n,
                                Err(RecvError::Closed { .. }) => break,
                                Err(e) => panic!("{e}"),
                            }
                        }
                        (seen, missed)
                    })
                })
                .collect();
            for k in 0..ITEMS {
                tx.publish_blocking(&[k, !k, k.wrapping_mul(3)]).unwrap();
            }
            drop(tx);
            for reader in readers {
                let (seen, missed) = reader.join().unwrap();
                assert_eq!(seen + missed, ITEMS, "{policy:?}");
                if policy == Policy::Backpressure {
                    assert_eq!(missed, 0);
                }
            }
        }
    }

    #[test]
    fn the_last_end_out_removes_the_name() {
        let tx = Broadcast::<u64>::create(&BroadcastConfig::new(4, Policy::Backpressure)).unwrap();
        let path = std::path::Path::new("/dev/shm").join(tx.name().as_str());
        let (a, b) = (tx.subscribe().unwrap(), tx.subscribe().unwrap());
        assert_eq!(tx.subscriber_count(), 2);
        drop(tx);
        assert!(path.exists(), "subscribers still need it");
        drop(a);
        assert!(path.exists());
        drop(b);
        assert!(!path.exists(), "the last subscriber removed it");
        let tx = Broadcast::<u64>::create(&BroadcastConfig::new(4, Policy::Overwrite)).unwrap();
        let path = std::path::Path::new("/dev/shm").join(tx.name().as_str());
        drop(tx.subscribe().unwrap());
        drop(tx);
        assert!(!path.exists(), "nobody left");
    }

    #[test]
    fn batches_and_looks_in_place_report_lags_exactly() {
        let mut tx = Broadcast::<u64>::create(&BroadcastConfig::new(4, Policy::Overwrite)).unwrap();
        let mut rx = tx.subscribe().unwrap();
        assert_eq!(tx.publish_slice(&[0, 1, 2, 3, 4, 5]), 6, "overwriting takes everything");
        let mut out = [0; 8];
        assert_eq!(rx.read_into(&mut out), Err(RecvError::Lagged(2)));
        assert_eq!(rx.read_into(&mut out), Ok(4));
        assert_eq!(out[..4], [2, 3, 4, 5]);
        tx.publish(&6).unwrap();
        // The item looked at is replaced while `look` runs: its result is
        // dropped and the lag reported.
        let looked = rx.read_with(|_| {
            tx.publish_slice(&[7, 8, 9, 10]);
            "seen"
        });
        assert_eq!(looked, Err(RecvError::Lagged(1)), "item 6 was overwritten during the look");
        let bytes = |slot: &SlotRef<'_, u64>| {
            let mut b = [0u8; 8];
            slot.read_bytes(0, &mut b);
            u64::from_ne_bytes(b)
        };
        assert_eq!(rx.read_with(bytes), Ok(Some(7)));
        assert_eq!((rx.read(), rx.read(), rx.read(), rx.read()), (Ok(Some(8)), Ok(Some(9)), Ok(Some(10)), Ok(None)));
        assert_eq!(rx.read_count(), 11);
        let umbrella = crate::Error::from(RecvError::Lagged(3));
        assert_eq!(umbrella.to_string(), RecvError::Lagged(3).to_string());
    }

    #[test]
    fn backpressure_hands_the_value_back_and_times_out() {
        let mut tx = Broadcast::<u64>::create(&BroadcastConfig::new(2, Policy::Backpressure)).unwrap();
        let mut rx = tx.subscribe().unwrap();
        assert_eq!(tx.publish_slice(&[1, 2, 3]), 2);
        assert_eq!(tx.publish(&3).map_err(TryWriteError::into_inner), Err(3));
        let err = tx.publish_timeout(&3, Duration::from_millis(30)).unwrap_err();
        assert!(matches!(err, PublishError::Timeout { .. }), "{err}");
        assert_eq!(rx.read(), Ok(Some(1)));
        tx.publish_timeout(&3, Duration::from_millis(30)).unwrap();
        assert_eq!(tx.subscriber_lags().len(), 1);
        assert_eq!(tx.subscriber_lags()[0].1, 2);
        drop(rx);
        assert_eq!(tx.publish_slice(&[4, 5, 6]), 3, "nobody holds it back any more");
        let err = tx.subscribe().unwrap().read_timeout(Duration::from_millis(30)).unwrap_err();
        assert!(matches!(err, RecvError::Timeout { .. }), "{err}");
    }

    #[test]
    fn a_full_table_refuses_and_a_freed_entry_is_taken() {
        let tx = Broadcast::<u8>::create(&BroadcastConfig::new(4, Policy::Overwrite).max_subscribers(2)).unwrap();
        let a = tx.subscribe().unwrap();
        let _b = tx.subscribe().unwrap();
        let err = tx.subscribe().unwrap_err();
        assert!(matches!(err, OpenError::RoleTaken { role: "subscriber", .. }), "{err}");
        drop(a);
        tx.subscribe().unwrap();
    }
}
