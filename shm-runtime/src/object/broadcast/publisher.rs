//! `Broadcast<T>`: the publisher's side of a broadcast ring.

use super::error::PublishError;
use super::subscriber::Subscriber;
use super::{BroadcastConfig, POLL_SLICE, SLEEP_SLICE, SPINS, Side, YIELDS, layout, open_segment, slot_words};
use crate::format::header::{Layout, ObjectKind};
use crate::object::shared_object::sealed::{SegmentOwned, SegmentRef};
use crate::object::shared_object::{self, SharedObject};
use crate::object::state::{SharedState, bytes_of};
use crate::protocol::broadcast::{
    self as protocol, MAX_CAPACITY, MAX_SUBSCRIBERS, PUBLISHER_MODE_WORD, PUBLISHER_ROLE_WORD, Policy, PublisherCursor,
    SUBSCRIBER_MODE_WORD, SUBSCRIBER_WAIT_WORD, Shape,
};
use crate::protocol::role::{self, CLOSED, FREE};
use crate::protocol::wake::{self, AWAKE, Barrier};
use crate::segment::error::{CreateError, OpenError, TryWriteError};
use crate::segment::handle::Handle;
use crate::segment::name::SegmentName;
use crate::segment::options::OpenOptions;
use crate::segment::{self, Segment, Spec, liveness};
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// One publisher streaming `T` to up to `max_subscribers` subscriber
/// processes, each with its own read position: the stream form of
/// [`Shared<T>`](crate::Shared). Creating a broadcast makes this process
/// its publisher; other processes (or this one) [`subscribe`] with its
/// handle.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{Broadcast, BroadcastConfig, Policy, SharedObject, Subscriber};
///
/// let mut tx = Broadcast::<u64>::create(&BroadcastConfig::new(4, Policy::Backpressure))?;
/// // In each subscriber's process, from the text of `tx.handle()`:
/// let mut a = Subscriber::<u64>::load_sharedobject(&tx.handle())?;
/// let mut b = tx.subscribe()?;
/// tx.publish(&7).unwrap();
/// assert_eq!(tx.publish_slice(&[8, 9, 10, 11]), 3, "a and b hold one slot each");
/// assert_eq!(a.read()?, Some(7));
/// assert_eq!(b.read()?, Some(7));
/// assert_eq!(tx.publish_slice(&[11]), 1);
/// # Ok(()) }
/// ```
///
/// # Policies
///
/// Under [`Policy::Backpressure`] the publisher never overwrites an item a
/// live subscriber has not read: [`publish`](Self::publish) hands the
/// value back in [`TryWriteError::Full`], the waiting forms wait for the slowest live
/// subscriber. A subscriber that dies stops holding the publisher back
/// within one liveness check of a waiting publisher (20 ms), and
/// [`lost_subscribers`](Self::lost_subscribers) counts it. Under
/// [`Policy::Overwrite`] the publisher never waits; a subscriber that fell
/// a whole ring behind gets [`RecvError::Lagged`](crate::RecvError) with
/// the exact number of items it missed, and continues from the oldest
/// item still there.
///
/// # Speed
///
/// `publish` copies the element with relaxed word stores (marking the
/// slot's sequence word around them) and publishes
/// with one store. Under backpressure it caches the oldest subscriber
/// position and looks at the subscriber table only when the cache says
/// full. No call makes a system call or allocates while no subscriber
/// sleeps; sleeping subscribers are woken all at once with one `futex`
/// call.
///
/// # Trust
///
/// Subscribers' read positions and table entries are written by other
/// processes: a position ahead of the publisher's, or more than a ring
/// behind for two liveness checks, makes that subscriber corrupt (its
/// entry is taken away, see
/// [`corrupt_subscribers`](Self::corrupt_subscribers)); no value makes the
/// publisher overwrite another subscriber's unread items or touch memory
/// outside the ring.
///
/// [`subscribe`]: Self::subscribe
pub struct Broadcast<T: SharedState> {
    end: PublisherEnd,
    _type: PhantomData<fn(T) -> T>,
}

impl<T: SharedState> Broadcast<T> {
    /// Creates a broadcast under a generated name and holds its publisher
    /// side.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Broadcast, BroadcastConfig, Policy};
    ///
    /// let tx = Broadcast::<[f32; 3]>::create(&BroadcastConfig::new(64, Policy::Overwrite))?;
    /// assert_eq!((tx.capacity(), tx.policy(), tx.max_subscribers()), (64, Policy::Overwrite, 64));
    /// # Ok(()) }
    /// ```
    pub fn create(config: &BroadcastConfig) -> Result<Self, CreateError> {
        Self::create_in(None, config)
    }

    /// Creates a broadcast under `name` and holds its publisher side;
    /// subscribers may then meet it by name.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Broadcast, BroadcastConfig, Policy, SharedObject, Subscriber};
    /// # let name = format!("shmrs-doc-bcast-{}", std::process::id());
    ///
    /// let mut tx = Broadcast::<u16>::create_named(&name, &BroadcastConfig::new(8, Policy::Backpressure))?;
    /// let mut rx = Subscriber::<u16>::open(&name)?; // another process, by the name alone
    /// tx.publish(&5).unwrap();
    /// assert_eq!(rx.read()?, Some(5));
    /// # Ok(()) }
    /// ```
    pub fn create_named(name: &str, config: &BroadcastConfig) -> Result<Self, CreateError> {
        Self::create_in(Some(name), config)
    }

    fn create_in(name: Option<&str>, config: &BroadcastConfig) -> Result<Self, CreateError> {
        let element = Element {
            kind: ObjectKind::Broadcast,
            layout: layout::<T>(),
            slot_words: slot_words::<T>(),
            bytes: size_of::<T>() as u64,
        };
        Ok(Self { end: PublisherEnd::create(name, config, element)?, _type: PhantomData })
    }

    /// Opens the broadcast `handle` names as a new subscriber (see
    /// [`Subscriber`]); the same as `Subscriber::load_sharedobject`.
    pub fn subscribe(&self) -> Result<Subscriber<T>, OpenError> {
        Subscriber::load_sharedobject(&self.handle())
    }

    /// Whether a `publish` would find room now.
    pub fn can_publish(&mut self) -> bool {
        self.end.free(1) > 0
    }

    /// Publishes `value`. Under backpressure, with no room (a live
    /// subscriber has not read the item in the slot), hands it back in
    /// [`TryWriteError::Full`] (the only error it returns); nothing is
    /// overwritten. Under overwrite, never fails.
    // Always inlined, as `MemoryInterface::write` and `read` are (see
    // there): out of line, the call can change how two processes' loop
    // runs, not only its own cost.
    #[expect(clippy::inline_always, reason = "as MemoryInterface::write (see there)")]
    #[inline(always)]
    pub fn publish(&mut self, value: &T) -> Result<(), TryWriteError<T>> {
        if self.end.publish_one(|ring, cursor| ring.put(cursor, 0, bytes_of(value))) {
            Ok(())
        } else {
            Err(TryWriteError::Full(*value))
        }
    }

    /// Publishes as many of `values` as there is room for (in order, with
    /// one publishing store); returns how many. Under overwrite, all of
    /// them (only the last `capacity` stay in the ring).
    pub fn publish_slice(&mut self, values: &[T]) -> usize {
        let mut done = 0;
        while done < values.len() {
            let free = self.end.free((values.len() - done) as u64);
            let n = usize::try_from(free).map_or(values.len() - done, |free| free.min(values.len() - done));
            if n == 0 {
                break;
            }
            self.end.put_and_publish(&values[done..done + n], put_value::<T>);
            done += n;
        }
        done
    }

    /// Publishes `value`, waiting up to `timeout` for room.
    pub fn publish_timeout(&mut self, value: &T, timeout: Duration) -> Result<(), PublishError> {
        self.wait_can_publish(timeout)?;
        self.end.put_and_publish(core::slice::from_ref(value), put_value::<T>);
        Ok(())
    }

    /// Publishes `value`, waiting as long as it takes for room (dead
    /// subscribers stop holding it back within a liveness check).
    pub fn publish_blocking(&mut self, value: &T) -> Result<(), PublishError> {
        self.end.wait_for_room(None)?;
        self.end.put_and_publish(core::slice::from_ref(value), put_value::<T>);
        Ok(())
    }

    /// Waits up to `timeout` until there is room for one item. A timeout
    /// too long for the clock is no deadline.
    pub fn wait_can_publish(&mut self, timeout: Duration) -> Result<(), PublishError> {
        self.end.wait_for_room(Instant::now().checked_add(timeout))
    }

    /// Number of slots.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.end.capacity()
    }

    /// The overflow policy.
    #[must_use]
    pub fn policy(&self) -> Policy {
        self.end.side.ring().policy()
    }

    /// Number of subscriber table entries: the most subscribers at a time.
    #[must_use]
    pub fn max_subscribers(&self) -> usize {
        self.end.side.ring().entries()
    }

    /// Number of items published so far (the write position, wrapping to
    /// 0 at the largest multiple of the capacity a `u64` holds).
    #[must_use]
    pub fn published(&self) -> u64 {
        self.end.published()
    }

    /// Number of table entries held by a process now (live or not yet
    /// found dead).
    #[must_use]
    pub fn subscriber_count(&self) -> usize {
        self.end.subscriber_count()
    }

    /// Each active subscriber's process id and lag (items published it has
    /// not read yet), as the table shows them now (a position that makes
    /// no sense shows as `u64::MAX`).
    #[must_use]
    pub fn subscriber_lags(&self) -> Vec<(u64, u64)> {
        self.end.subscriber_lags()
    }

    /// Subscribers found dead while they held this publisher back (their
    /// entries were freed).
    #[must_use]
    pub fn lost_subscribers(&self) -> u64 {
        self.end.cursor.lost
    }

    /// Subscribers whose read position or entry made no sense (their
    /// entries were taken away; they get
    /// [`RecvError::Evicted`](crate::RecvError::Evicted)).
    #[must_use]
    pub fn corrupt_subscribers(&self) -> u64 {
        self.end.cursor.corrupt
    }
}

impl<T: SharedState> SharedObject for Broadcast<T> {
    /// Opens the broadcast `handle` names as its publisher (a successor of
    /// a dead publisher continues where it stopped) if `options` accept
    /// the segment's owner and mode. A live publisher is
    /// [`OpenError::RoleTaken`]. To read, open a [`Subscriber`] instead.
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        let end = PublisherEnd::claim(open_segment::<T>(handle, options)?)?;
        Ok(Self { end, _type: PhantomData })
    }
}

impl<T: SharedState> shared_object::sealed::Sealed for Broadcast<T> {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(self.end.side.segment())
    }

    fn into_segment(mut self) -> SegmentOwned {
        SegmentOwned(self.end.take_segment())
    }
}

/// Copies `value` into the `offset`th free slot.
#[inline]
fn put_value<T: SharedState>(ring: &protocol::Broadcast<'_>, cursor: &PublisherCursor, offset: u64, value: &T) {
    ring.put(cursor, offset, bytes_of(value));
}

/// What a publisher's end is made for: the segment's kind and layout,
/// and the words and bytes of one slot's element.
#[derive(Clone, Copy)]
pub(crate) struct Element<'a> {
    pub(crate) kind: ObjectKind,
    pub(crate) layout: Layout<'a>,
    pub(crate) slot_words: usize,
    pub(crate) bytes: u64,
}

/// The publisher's side whatever the element: the segment, the claim on
/// the publisher's role word, room, waiting and waking, and leaving.
/// `Broadcast<T>` and the byte and run-time-typed forms wrap it.
pub(crate) struct PublisherEnd {
    pub(crate) side: Side,
    pub(crate) cursor: PublisherCursor,
    /// When the subscribers' liveness was last checked (see `sweep`).
    last_sweep: Instant,
    /// `publish` calls that found no room so far (see `refused`).
    refusals: u32,
}

impl PublisherEnd {
    /// Creates a broadcast of `element` under `name` (generated if
    /// `None`) and holds its publisher role.
    pub(crate) fn create(
        name: Option<&str>,
        config: &BroadcastConfig,
        element: Element<'_>,
    ) -> Result<Self, CreateError> {
        let error_name = || {
            name.map_or_else(|| Ok(SegmentName::unnamed()), |n| SegmentName::new(n).map_err(CreateError::InvalidName))
        };
        let capacity = config.capacity;
        if capacity == 0 || capacity as u64 > MAX_CAPACITY {
            let reason = "a broadcast needs 1 to 2^32 slots";
            return Err(CreateError::InvalidCapacity { name: error_name()?, capacity, reason });
        }
        if !(1..=MAX_SUBSCRIBERS).contains(&config.max_subscribers) {
            let reason = "a broadcast admits 1 to 4096 subscribers";
            return Err(CreateError::InvalidCapacity { name: error_name()?, capacity: config.max_subscribers, reason });
        }
        let shape = Shape {
            capacity: capacity as u64,
            slot_words: element.slot_words,
            element_bytes: element.bytes,
            max_subscribers: config.max_subscribers,
            policy: config.policy,
            history: config.history.min(capacity) as u64,
        };
        let size = protocol::layout_words(shape.capacity, shape.slot_words, shape.max_subscribers)
            .and_then(|w| w.checked_mul(8))
            .and_then(|b| u64::try_from(b).ok());
        let Some(payload_size) = size else {
            return Err(CreateError::SizeOverflow { name: error_name()?, capacity });
        };
        let spec = Spec { kind: element.kind, layout: element.layout, payload_size, payload_align: 64, capacity };
        let me = liveness::me();
        let barrier = segment::barrier::this_process();
        let segment = Segment::create(name, &spec, |payload| {
            let words = payload.words();
            protocol::Broadcast::init(words, shape, 0);
            // Published with the segment (its state word's Release store).
            words[PUBLISHER_MODE_WORD].store(barrier.mode_word(), Ordering::Relaxed);
            words[SUBSCRIBER_MODE_WORD].store(Barrier::Membarrier.mode_word(), Ordering::Relaxed);
            words[PUBLISHER_ROLE_WORD].store(me, Ordering::Relaxed);
        })?;
        let ring = protocol::Broadcast::split(segment.payload().words(), shape).expect("made above");
        let (geometry, cursor) = (ring.geometry(), ring.publisher().expect("a fresh broadcast is consistent"));
        Ok(Self { side: Side::new(segment, geometry, barrier), cursor, last_sweep: Instant::now(), refusals: 0 })
    }

    /// Claims the publisher's role of an opened broadcast (a successor of
    /// a dead publisher continues where it stopped).
    pub(crate) fn claim(side: Side) -> Result<Self, OpenError> {
        let me = liveness::me();
        let words = side.segment().payload().words();
        role::claim(&words[PUBLISHER_ROLE_WORD], me, liveness::alive).map_err(|holder| OpenError::RoleTaken {
            name: side.name().clone(),
            role: "publisher",
            holder: liveness::pid_of(holder),
        })?;
        words[PUBLISHER_MODE_WORD].store(side.barrier.mode_word(), Ordering::Relaxed);
        let Ok(cursor) = side.ring().publisher() else {
            role::let_go(&words[PUBLISHER_ROLE_WORD], me);
            return Err(OpenError::Corrupt { name: side.name().clone(), what: "write position is impossible" });
        };
        Ok(Self { side, cursor, last_sweep: Instant::now(), refusals: 0 })
    }

    /// Free slots: under backpressure, how many items may be published
    /// before the slowest live subscriber reads; under overwrite, always
    /// the capacity.
    #[inline]
    pub(crate) fn free(&mut self, wanted: u64) -> u64 {
        let ring = self.side.ring();
        let free = ring.free(&mut self.cursor, wanted);
        if free > 0 { free } else { Self::sweep(ring, &mut self.cursor, &mut self.last_sweep) }
    }

    /// With no room: at most once a liveness slice, frees the entries of
    /// dead subscribers and lets go of corrupt ones, then looks again.
    /// (So a caller that only ever calls `publish` and retries is not held
    /// back by a dead subscriber for longer than the waiting forms are.)
    #[cold]
    #[inline(never)]
    fn sweep(ring: &protocol::Broadcast<'_>, cursor: &mut PublisherCursor, last_sweep: &mut Instant) -> u64 {
        if last_sweep.elapsed() < SLEEP_SLICE {
            return 0;
        }
        *last_sweep = Instant::now();
        ring.sweep(cursor, liveness::alive);
        ring.free(cursor, 1)
    }

    /// A `publish` found no room: every 64th time, a `sweep` (itself at
    /// most once a liveness slice), so that a caller retrying `publish`
    /// in a tight loop reads the clock once per 64 tries rather than on
    /// every one, and a dead subscriber still stops holding it back within
    /// a slice and 64 tries.
    #[cold]
    #[inline(never)]
    fn refused(
        ring: &protocol::Broadcast<'_>,
        cursor: &mut PublisherCursor,
        last_sweep: &mut Instant,
        refusals: &mut u32,
    ) -> u64 {
        let look = refusals.is_multiple_of(64);
        *refusals = refusals.wrapping_add(1);
        if look { Self::sweep(ring, cursor, last_sweep) } else { 0 }
    }

    /// Publishes one item, which `put` copies into the next slot (given
    /// the ring and our cursor), if there is room, and wakes sleeping
    /// subscribers; `false` (nothing published) if there is none. One view
    /// of the ring for the whole publish.
    // The body of the always-inlined one-item call (see there).
    #[expect(clippy::inline_always, reason = "the body of an always-inlined one-item call")]
    #[inline(always)]
    pub(crate) fn publish_one(&mut self, put: impl FnOnce(&protocol::Broadcast<'_>, &PublisherCursor)) -> bool {
        let ring = self.side.ring();
        if ring.free(&mut self.cursor, 1) == 0
            && Self::refused(ring, &mut self.cursor, &mut self.last_sweep, &mut self.refusals) == 0
        {
            return false;
        }
        put(ring, &self.cursor);
        ring.publish(&mut self.cursor, 1);
        self.notify_subscribers();
        true
    }

    /// Copies `items` into the next slots with `put` (the caller checked
    /// there is room), publishes them with one store and wakes sleeping
    /// subscribers.
    #[inline]
    pub(crate) fn put_and_publish<I>(
        &mut self,
        items: &[I],
        put: impl Fn(&protocol::Broadcast<'_>, &PublisherCursor, u64, &I),
    ) {
        let ring = self.side.ring();
        for (i, item) in items.iter().enumerate() {
            put(ring, &self.cursor, i as u64, item);
        }
        ring.publish(&mut self.cursor, items.len() as u64);
        self.notify_subscribers();
    }

    /// Polls, yields, then sleeps on the publisher's futex word in slices;
    /// each look for room after a slice also checks the subscribers'
    /// liveness (`sweep`).
    pub(crate) fn wait_for_room(&mut self, deadline: Option<Instant>) -> Result<(), PublishError> {
        let start = Instant::now();
        for round in 0..SPINS + YIELDS {
            if self.free(1) > 0 {
                return Ok(());
            }
            if round < SPINS {
                core::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        loop {
            // Pairs with `wake::take_sleeper` in a subscriber's
            // `notify_publisher`: either we see its new position below, or
            // it sees our SLEEPING and wakes us.
            let barrier_made = wake::announce_sleep(self.side.publisher_wait(), self.side.barrier);
            if self.free(1) > 0 {
                self.side.publisher_wait().store(AWAKE, Ordering::Relaxed);
                return Ok(());
            }
            let mut slice = SLEEP_SLICE;
            if let Some(deadline) = deadline {
                let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                    self.side.publisher_wait().store(AWAKE, Ordering::Relaxed);
                    return Err(PublishError::Timeout { name: self.side.name().clone(), waited: start.elapsed() });
                };
                slice = slice.min(left);
            }
            if barrier_made {
                segment::futex_wait(self.side.publisher_wait(), wake::SLEEPING, slice);
            } else {
                std::thread::sleep(slice.min(POLL_SLICE));
            }
            self.side.publisher_wait().store(AWAKE, Ordering::Relaxed);
        }
    }

    /// After publishing: wakes the subscribers if any sleeps (all of them,
    /// with one `futex` call; see `wake.rs` for the handshake).
    #[inline]
    fn notify_subscribers(&self) {
        // Relaxed: the shared mode only chooses our fence; it is 0 (fence)
        // for good once a subscriber that fences has joined.
        let mode = self.side.word(SUBSCRIBER_MODE_WORD).load(Ordering::Relaxed);
        let word = self.side.subscriber_wait();
        if wake::take_sleeper(word, self.side.barrier.cheap_wake(mode)) {
            wake_all(word);
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        usize::try_from(self.side.ring().capacity()).unwrap_or(usize::MAX)
    }

    pub(crate) fn published(&self) -> u64 {
        protocol::Broadcast::write_position(&self.cursor)
    }

    pub(crate) fn subscriber_count(&self) -> usize {
        let ring = self.side.ring();
        (0..ring.entries()).filter(|&e| !matches!(ring.entry_role(e).load(Ordering::Relaxed), FREE | CLOSED)).count()
    }

    pub(crate) fn subscriber_lags(&self) -> Vec<(u64, u64)> {
        let ring = self.side.ring();
        let tail = self.published();
        ring.cursors_now()
            .map(|(_, holder, position)| {
                let lag = tail.wrapping_sub(position);
                (liveness::pid_of(holder), if lag > ring.capacity() { u64::MAX } else { lag })
            })
            .collect()
    }

    /// Leaves as an explicit `cleanup` does and hands the segment over.
    pub(crate) fn take_segment(&mut self) -> Segment {
        self.leave(true);
        self.side.segment.take().expect("only this takes the segment, and it consumes the end")
    }

    /// Lets go of the publisher's role (if this process still holds it),
    /// wakes the subscribers so they notice, and decides whether this end
    /// removes the name: when no live subscriber holds an entry, or on an
    /// explicit `cleanup` by the creator.
    fn leave(&mut self, explicit: bool) {
        let Some(segment) = &self.side.segment else { return };
        let payload = segment.payload();
        let words = payload.words();
        let me = liveness::me();
        // Relaxed: our own word, which only a process that found us dead
        // changes.
        if words[PUBLISHER_ROLE_WORD].load(Ordering::Relaxed) == me {
            words[PUBLISHER_MODE_WORD].store(Barrier::Fence.mode_word(), Ordering::Relaxed);
        }
        // Release: a subscriber that sees us let go sees all we published.
        let held = role::let_go(&words[PUBLISHER_ROLE_WORD], me);
        let sleepers = payload.futex_word(SUBSCRIBER_WAIT_WORD);
        sleepers.store(AWAKE, Ordering::Relaxed);
        segment::futex_wake(sleepers);
        if !held {
            return;
        }
        // Pairs with the same fence in a leaving subscriber: of the two,
        // at least one sees the other gone.
        core::sync::atomic::fence(Ordering::SeqCst);
        let ring = self.side.ring();
        let anyone = (0..ring.entries()).any(|e| match ring.entry_role(e).load(Ordering::Relaxed) {
            FREE | CLOSED => false,
            holder => liveness::alive(holder) != Some(false),
        });
        let Some(segment) = &mut self.side.segment else { return };
        if !anyone || (explicit && segment.is_creator()) {
            segment.remove_name_when_done();
        } else {
            segment.keep_name();
        }
    }
}

impl Drop for PublisherEnd {
    fn drop(&mut self) {
        self.leave(false);
    }
}

impl<T: SharedState> fmt::Debug for Broadcast<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcast")
            .field("type", &T::TYPE_NAME)
            .field("handle", &self.handle().to_string())
            .field("policy", &self.policy())
            .field("capacity", &self.capacity())
            .field("published", &self.published())
            .finish_non_exhaustive()
    }
}

/// Wakes every sleeping subscriber: out of line, the path taken only when
/// one slept.
#[cold]
#[inline(never)]
fn wake_all(word: &AtomicU32) {
    segment::futex_wake(word);
}

#[cfg(test)]
mod tests {
    use crate::{Broadcast, BroadcastConfig, Policy};
    use std::time::Instant;

    /// The publish path's cost per item, nobody subscribed (so nothing
    /// but the path itself is measured). Ignored: a measurement, run with
    /// `cargo test --release -p shm-runtime --lib publish_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement"]
    fn publish_cost() {
        const ITEMS: u64 = 20_000_000;
        for policy in [Policy::Backpressure, Policy::Overwrite] {
            let mut tx = Broadcast::<u64>::create(&BroadcastConfig::new(1024, policy)).unwrap();
            let mut best = f64::MAX;
            for _ in 0..5 {
                let start = Instant::now();
                for k in 0..ITEMS {
                    tx.publish(&k).unwrap();
                }
                best = best.min(start.elapsed().as_secs_f64() * 1e9 / f64::from(u32::try_from(ITEMS).unwrap()));
            }
            eprintln!("{policy:?}: {best:.2} ns per 8-byte publish (best of 5)");
        }
    }
}
