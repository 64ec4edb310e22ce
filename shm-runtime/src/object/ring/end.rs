//! One side of a ring in a segment, shared by [`MemoryInterface`] (typed
//! elements) and [`ByteRing`] (byte messages): the segment, the side's
//! claim on its role word, its cursor, sticky corruption, waking the other
//! side, and waiting for it. The ring protocol itself is in `ring.rs`.
//!
//! [`MemoryInterface`]: crate::MemoryInterface
//! [`ByteRing`]: crate::ByteRing

use crate::format::header::{Layout, ObjectKind};
use crate::protocol::ring::{self, ConsumerCursor, Corrupt, Geometry, ProducerCursor, Ring, Shape};
use crate::protocol::role::{self, CLOSED, FREE};
use crate::protocol::wake::{self, AWAKE, Barrier};
use crate::segment::error::{CreateError, OpenError, RingError};
use crate::segment::handle::Handle;
use crate::segment::liveness;
use crate::segment::name::SegmentName;
use crate::segment::options::OpenOptions;
use crate::segment::{self, Segment, Spec};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Polls before a waiting call starts yielding the processor.
const SPINS: u32 = 200;
/// Yields before a waiting call sleeps on the futex.
const YIELDS: u32 = 20;
/// Longest single futex sleep: a waiter checks this often whether the
/// other side is still alive.
const SLEEP_SLICE: Duration = Duration::from_millis(20);
/// How long a waiter whose wake barrier failed sleeps between checks
/// (it cannot sleep on the futex then; see `wake::announce_sleep`).
const POLL_SLICE: Duration = Duration::from_millis(1);
/// How often [`End::wait_for_peer`] looks at the other role word.
const ATTACH_POLL: Duration = Duration::from_millis(1);

pub(crate) mod sealed {
    use crate::protocol::ring::{Corrupt, Ring};
    use core::fmt;

    /// What [`Ring`](super::Ring) is written over: the ring type's end.
    /// Private, so that only this crate's rings implement it.
    pub trait HasEnd {
        /// The side the end holds.
        #[doc(hidden)]
        type Side: super::Role;

        /// The end.
        #[doc(hidden)]
        fn end(&self) -> &super::End<Self::Side>;
    }

    /// What a side needs; private, so `Role` is sealed.
    pub trait Sealed {
        type Cursor: fmt::Debug;
        const NAME: &'static str;
        const PEER: &'static str;
        const ROLE_WORD: usize;
        const WAIT_WORD: usize;
        const MODE_WORD: usize;
        const PEER_ROLE_WORD: usize;
        const PEER_WAIT_WORD: usize;
        const PEER_MODE_WORD: usize;
        fn cursor(ring: &Ring<'_>) -> Result<Self::Cursor, Corrupt>;
    }
}

/// The side of a ring an end holds: [`Producer`] or [`Consumer`]. Sealed.
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
    const MODE_WORD: usize = ring::PRODUCER_MODE_WORD;
    const PEER_ROLE_WORD: usize = ring::CONSUMER_ROLE_WORD;
    const PEER_WAIT_WORD: usize = ring::CONSUMER_WAIT_WORD;
    const PEER_MODE_WORD: usize = ring::CONSUMER_MODE_WORD;
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
    const MODE_WORD: usize = ring::CONSUMER_MODE_WORD;
    const PEER_ROLE_WORD: usize = ring::PRODUCER_ROLE_WORD;
    const PEER_WAIT_WORD: usize = ring::PRODUCER_WAIT_WORD;
    const PEER_MODE_WORD: usize = ring::PRODUCER_MODE_WORD;
    fn cursor(ring: &Ring<'_>) -> Result<ConsumerCursor, Corrupt> {
        ring.consumer()
    }
}

/// What the hot paths (`write`, `read`, waking the peer) touch, resolved
/// once at create or open rather than on every call.
struct Hot {
    /// The ring in the segment's payload.
    ring: Ring<'static>,
    /// The other side's wait word.
    peer_wait: &'static AtomicU32,
    /// The other side's mode word.
    peer_mode: &'static AtomicU64,
}

impl Hot {
    /// The hot parts of `R`'s side of the ring in `segment`, of a
    /// `geometry` checked against its words.
    ///
    /// # Safety
    ///
    /// The result points into `segment`'s mapping: it must not be used
    /// once `segment` is dropped or consumed. (`End` keeps both, declares
    /// `hot` first, hands out only borrows of it, and in `cleanup` drops
    /// itself before it unmaps.)
    unsafe fn new<R: Role>(segment: &Segment, geometry: Geometry) -> Self {
        // SAFETY: passed on to our caller (see `# Safety`).
        let payload = unsafe { segment.payload_detached() };
        Self {
            ring: Ring::view(payload.words(), geometry),
            peer_wait: payload.futex_word(R::PEER_WAIT_WORD),
            peer_mode: &payload.words()[R::PEER_MODE_WORD],
        }
    }
}

/// One side of a ring: what every ring type holds. `pub` (in a module no
/// other crate can name) only because the sealed [`sealed::HasEnd`]
/// returns it.
pub struct End<R: Role> {
    /// Points into `segment`'s mapping; declared first so that it goes
    /// before the mapping does.
    hot: Hot,
    /// `None` only after `cleanup` took it.
    segment: Option<Segment>,
    pub(crate) shape: Shape,
    pub(crate) cursor: R::Cursor,
    /// First corruption found; sticky.
    pub(crate) corrupt: Option<Corrupt>,
    /// This process's half of the wake handshake (also stored in this
    /// side's mode word for the other side).
    barrier: Barrier,
}

impl<R: Role> End<R> {
    /// Creates a ring of `shape` (whose `capacity` came from the caller's
    /// `nr_of_memories`) under `name` or a generated one, and holds its `R`
    /// side.
    pub(crate) fn create(
        name: Option<&str>,
        kind: ObjectKind,
        layout: Layout,
        capacity: usize,
        slot_words: usize,
        element_bytes: u64,
    ) -> Result<Self, CreateError> {
        let error_name = || {
            name.map_or_else(|| Ok(SegmentName::unnamed()), |n| SegmentName::new(n).map_err(CreateError::InvalidName))
        };
        if capacity == 0 {
            let reason = "a ring needs at least 1 slot";
            return Err(CreateError::InvalidCapacity { name: error_name()?, capacity, reason });
        }
        let shape = Shape { capacity: capacity as u64, slot_words, element_bytes };
        let size = ring::layout_words(shape.capacity, slot_words)
            .and_then(|w| w.checked_mul(8))
            .and_then(|b| u64::try_from(b).ok());
        let Some(payload_size) = size else {
            return Err(CreateError::SizeOverflow { name: error_name()?, capacity });
        };
        let spec = Spec { kind, layout, payload_size, payload_align: 64, capacity };
        let me = liveness::me();
        let barrier = segment::barrier::this_process();
        let segment = Segment::create(name, &spec, |payload| {
            Ring::init(payload.words(), shape, 0);
            // Published with the segment (its state word's Release store).
            payload.words()[R::MODE_WORD].store(barrier.mode_word(), Ordering::Relaxed);
            payload.words()[R::ROLE_WORD].store(me, Ordering::Relaxed);
        })?;
        let geometry = Geometry::new(segment.payload().words().len(), shape.capacity, slot_words).expect("made above");
        // SAFETY: the end keeps `segment` with it (see `Hot::new`).
        let hot = unsafe { Hot::new::<R>(&segment, geometry) };
        let cursor = R::cursor(&hot.ring).expect("a fresh ring is consistent");
        Ok(Self { hot, segment: Some(segment), shape, cursor, corrupt: None, barrier })
    }

    /// Opens the ring `handle` names as its `R` side if `options` accept
    /// its owner and mode, waiting up to `options.wait_time()` for its
    /// creator; `check` accepts or refuses the stored shape (before
    /// the words are split by it). The side is a claim: a live holder is
    /// [`OpenError::RoleTaken`]; a dead holder's claim is taken over.
    pub(crate) fn open(
        handle: &Handle,
        kind: ObjectKind,
        layout: Layout,
        options: &OpenOptions,
        check: impl FnOnce(Shape) -> Result<(), &'static str>,
    ) -> Result<Self, OpenError> {
        let segment = Segment::open(handle, kind, layout, None, options)?;
        let corrupt = |what| OpenError::Corrupt { name: segment.name().clone(), what };
        let words = segment.payload().words();
        let shape = Ring::stored_shape(words).map_err(corrupt)?;
        check(shape).map_err(corrupt)?;
        let geometry = Geometry::new(words.len(), shape.capacity, shape.slot_words)
            .ok_or("capacity and slot size words disagree with the payload size")
            .map_err(corrupt)?;
        // SAFETY: the end keeps `segment` with it (see `Hot::new`); on an
        // error both are dropped together.
        let hot = unsafe { Hot::new::<R>(&segment, geometry) };
        let barrier = segment::barrier::this_process();
        let me = liveness::me();
        role::claim(&words[R::ROLE_WORD], me, liveness::alive).map_err(|holder| OpenError::RoleTaken {
            name: segment.name().clone(),
            role: R::NAME,
            holder: liveness::pid_of(holder),
        })?;
        // Ours now; written before this end can sleep. Relaxed: the other
        // side loads it to choose its fence, and a stale value is either
        // 0 (it fences: safe) or a dead holder's (the window `wake.rs`
        // describes).
        words[R::MODE_WORD].store(barrier.mode_word(), Ordering::Relaxed);
        let Ok(cursor) = R::cursor(&hot.ring) else {
            role::let_go(&words[R::ROLE_WORD], me);
            return Err(corrupt("read and write positions are further apart than the capacity"));
        };
        Ok(Self { hot, segment: Some(segment), shape, cursor, corrupt: None, barrier })
    }

    #[inline]
    pub(crate) fn segment(&self) -> &Segment {
        self.segment.as_ref().expect("only cleanup takes the segment, and it consumes the end")
    }

    /// The ring (its shape was checked at create or open).
    #[inline]
    pub(crate) fn ring(&self) -> &Ring<'_> {
        &self.hot.ring
    }

    /// The ring and this side's cursor, borrowed apart.
    #[inline]
    pub(crate) fn ring_and_cursor(&mut self) -> (&Ring<'_>, &mut R::Cursor) {
        (&self.hot.ring, &mut self.cursor)
    }

    #[inline]
    fn futex(&self, word: usize) -> &AtomicU32 {
        self.segment().payload().futex_word(word)
    }

    #[inline]
    fn word(&self, index: usize) -> &AtomicU64 {
        &self.segment().payload().words()[index]
    }

    pub(crate) fn name(&self) -> &SegmentName {
        self.segment().name()
    }

    /// Lets go of this side and hands the segment over (for `cleanup`).
    pub(crate) fn into_segment(mut self) -> Segment {
        self.leave();
        let segment = self.segment.take();
        // The references in `hot` go before the mapping does.
        drop(self);
        segment.expect("only this takes the segment, and it consumes the end")
    }

    pub(crate) fn capacity(&self) -> usize {
        // Fits: the slots are mapped in this address space.
        usize::try_from(self.shape.capacity).unwrap_or(usize::MAX)
    }

    pub(crate) fn size_in_bytes(&self) -> usize {
        crate::format::header::HEADER_SIZE + self.segment().payload().words().len() * 8
    }

    /// Slots between the positions as they are now; 0 for an impossible
    /// pair.
    pub(crate) fn len(&self) -> usize {
        let (tail, head) = self.ring().snapshot();
        ring::occupied(tail, head, self.shape.capacity).map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Slot index of the write (`true`) or read position.
    pub(crate) fn pointer(&self, write: bool) -> usize {
        let (tail, head) = self.ring().snapshot();
        let position = if write { tail } else { head };
        usize::try_from(position % self.shape.capacity).expect("below the capacity")
    }

    pub(crate) fn error(&self) -> Option<RingError> {
        self.corrupt.map(|c| self.corrupt_error(c))
    }

    pub(crate) fn corrupt_error(&self, c: Corrupt) -> RingError {
        RingError::Corrupt { name: self.name().clone(), what: c.what, found: c.found }
    }

    /// Records `c` (sticky) and returns it as an error.
    pub(crate) fn fail(&mut self, c: Corrupt) -> RingError {
        self.corrupt.get_or_insert(c);
        self.corrupt_error(c)
    }

    /// The sticky corruption as an error, if any.
    #[inline]
    pub(crate) fn check(&self) -> Result<(), RingError> {
        self.corrupt.map_or(Ok(()), |c| Err(self.corrupt_error(c)))
    }

    pub(crate) fn peer_alive(&self) -> Option<bool> {
        match self.word(R::PEER_ROLE_WORD).load(Ordering::Relaxed) {
            FREE | CLOSED => None,
            holder => Some(liveness::alive(holder) != Some(false)),
        }
    }

    /// Waits until the other side has attached (its role word holds a
    /// live process), polling every millisecond.
    pub(crate) fn wait_for_peer(&self, timeout: Duration) -> Result<(), RingError> {
        let start = Instant::now();
        loop {
            // Relaxed: only tells whether the other side is attached;
            // nothing it stored is read because of it.
            match self.word(R::PEER_ROLE_WORD).load(Ordering::Relaxed) {
                FREE => {}
                CLOSED => return Err(RingError::Closed { name: self.name().clone(), role: R::PEER }),
                holder if liveness::alive(holder) == Some(false) => {
                    let pid = liveness::pid_of(holder);
                    return Err(RingError::PeerDead { name: self.name().clone(), role: R::PEER, pid });
                }
                _ => return Ok(()),
            }
            let waited = start.elapsed();
            let Some(left) = timeout.checked_sub(waited).filter(|d| !d.is_zero()) else {
                return Err(RingError::Timeout { name: self.name().clone(), waited });
            };
            std::thread::sleep(ATTACH_POLL.min(left));
        }
    }

    /// After publishing or freeing slots: wakes the other side if it
    /// sleeps waiting for them (the handshake is in `wake.rs`).
    #[inline]
    pub(crate) fn notify_peer(&self) {
        // Relaxed: the peer's mode only chooses our fence (see `open`).
        let peer_mode = self.hot.peer_mode.load(Ordering::Relaxed);
        // The handshake pairs with `wake::announce_sleep` in the other
        // side's `wait_for`: either it sees the position we just stored,
        // or we see its SLEEPING.
        if wake::take_sleeper(self.hot.peer_wait, self.barrier.cheap_wake(peer_mode)) {
            wake_peer(self.hot.peer_wait);
        }
    }

    /// Waits until `ready` says so, or the deadline passes, or the other
    /// side is gone: poll, yield, then sleep on our futex word in slices.
    /// A corruption `ready` reports becomes sticky.
    pub(crate) fn wait_for(
        &mut self,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&mut Self) -> Result<bool, Corrupt>,
    ) -> Result<(), RingError> {
        self.check()?;
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
            // Loaded before the re-check below, which then sees all the
            // other side published before letting go (the loom model is
            // `closing_producer_loses_nothing` in `role.rs`).
            let peer = role::load_peer(self.word(R::PEER_ROLE_WORD));
            let gone = match peer {
                CLOSED => Some(RingError::Closed { name: self.name().clone(), role: R::PEER }),
                FREE => None,
                holder if liveness::alive(holder) == Some(false) => Some(RingError::PeerDead {
                    name: self.name().clone(),
                    role: R::PEER,
                    pid: liveness::pid_of(holder),
                }),
                _ => None,
            };
            // Pairs with `wake::take_sleeper` in the other side's
            // `notify_peer`: either we see its publish below, or it sees
            // our SLEEPING and wakes us.
            let barrier_made = wake::announce_sleep(self.futex(R::WAIT_WORD), self.barrier);
            if check(self)? {
                self.futex(R::WAIT_WORD).store(AWAKE, Ordering::Relaxed);
                return Ok(());
            }
            if let Some(gone) = gone {
                self.futex(R::WAIT_WORD).store(AWAKE, Ordering::Relaxed);
                return Err(gone);
            }
            let mut slice = SLEEP_SLICE;
            if let Some(deadline) = deadline {
                let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                    self.futex(R::WAIT_WORD).store(AWAKE, Ordering::Relaxed);
                    return Err(RingError::Timeout { name: self.name().clone(), waited: start.elapsed() });
                };
                slice = slice.min(left);
            }
            if barrier_made {
                segment::futex_wait(self.futex(R::WAIT_WORD), wake::SLEEPING, slice);
            } else {
                // Without the barrier a publish could go unseen by both
                // sides: poll instead of sleeping until woken.
                std::thread::sleep(slice.min(POLL_SLICE));
            }
            self.futex(R::WAIT_WORD).store(AWAKE, Ordering::Relaxed);
        }
    }

    /// Marks this side let go (if this process still holds it) and wakes
    /// the other side so it notices.
    fn leave(&mut self) {
        let Some(segment) = &self.segment else { return };
        let words = segment.payload().words();
        let me = liveness::me();
        if words[R::ROLE_WORD].load(Ordering::Relaxed) == me {
            // The next holder writes its own; until then the other side
            // fences (a cleared word is always safe).
            words[R::MODE_WORD].store(Barrier::Fence.mode_word(), Ordering::Relaxed);
        }
        // Everything we published (and the cleared mode word) is visible
        // to the other side's `wait_for` once it sees CLOSED, and our
        // position to the next holder of this side.
        role::let_go(&words[R::ROLE_WORD], me);
        let peer_wait = segment.payload().futex_word(R::PEER_WAIT_WORD);
        peer_wait.store(AWAKE, Ordering::Relaxed);
        segment::futex_wake(peer_wait);
    }
}

impl End<Producer> {
    /// Free slots, loading the consumer's position only when the cached
    /// one leaves fewer than `wanted`; a corruption becomes sticky.
    #[inline]
    pub(crate) fn free(&mut self, wanted: u64) -> Result<u64, Corrupt> {
        let (ring, cursor) = self.ring_and_cursor();
        let free = ring.free(cursor, wanted);
        if let Err(c) = free {
            self.corrupt.get_or_insert(c);
        }
        free
    }
}

impl End<Consumer> {
    /// Ready items, loading the producer's position only when the cached
    /// one shows fewer than `wanted`; a corruption becomes sticky.
    #[inline]
    pub(crate) fn available(&mut self, wanted: u64) -> Result<u64, Corrupt> {
        let (ring, cursor) = self.ring_and_cursor();
        let available = ring.available(cursor, wanted);
        if let Err(c) = available {
            self.corrupt.get_or_insert(c);
        }
        available
    }
}

impl<R: Role> Drop for End<R> {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Wakes the other side: out of line, the path taken only when it slept.
#[cold]
#[inline(never)]
fn wake_peer(word: &AtomicU32) {
    segment::futex_wake(word);
}
